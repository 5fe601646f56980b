/*
 * gguf_read.c — strict GGUF v2/v3 reader over a read-only mapping (or a
 * caller's memory image). Every count read from the file is bounded by the
 * bytes that remain before anything is allocated from it, so a hostile file
 * costs at most a small multiple of its own size in memory.
 */
#include "gguf_internal.h"

#include <stdlib.h>
#include <string.h>

struct qtk_gguf {
    char *path;
    qtk_mapping map;          /* zeroed for memory images */
    const uint8_t *base;
    size_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    qtk_meta meta;
    qtk_tensor_info *tensors;
    int64_t n_tensors;
    /* split models (qtk_gguf_open of a first part): parts[1..n_parts-1]
     * are the other parts (their tensors moved into this handle), parts[0]
     * is unused; tensor_part[i] = part holding tensor i; total_size = bytes
     * of all parts. n_parts = 0/1 and tensor_part = NULL otherwise. */
    struct qtk_gguf **parts;
    int n_parts;
    int *tensor_part;
    uint64_t total_size;
};

/* Parsing cursor; `name` prefixes every message. */
typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
    const char *name;
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->pos; }

/* Reads n little-endian bytes (n <= 8) as an unsigned integer; false at EOF. */
static bool rd_uint(cursor *c, size_t n, uint64_t *out) {
    if (remaining(c) < n) return false;
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | c->p[c->pos + i];
    c->pos += n;
    *out = v;
    return true;
}

static bool rd_u32(cursor *c, uint32_t *out) {
    uint64_t v;
    if (!rd_uint(c, 4, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

static bool rd_u64(cursor *c, uint64_t *out) { return rd_uint(c, 8, out); }

/* Reads a GGUF string into a fresh NUL-terminated buffer. `no_nul` rejects
 * embedded NULs (keys and tensor names). `what` describes the string. */
static qtk_status rd_string(cursor *c, const char *what, bool no_nul, char **out, uint64_t *len_out,
                            qtk_error *err) {
    uint64_t len;
    unsigned long long at = c->pos;
    if (!rd_u64(c, &len))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: file truncated at offset %llu (string length)",
                             c->name, what, at);
    if (len > remaining(c))
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: %s: string length %llu at offset %llu exceeds the %llu bytes left in the file",
                             c->name, what, (unsigned long long)len, at, (unsigned long long)remaining(c));
    const uint8_t *src = c->p + c->pos;
    if (no_nul && len > 0 && memchr(src, 0, (size_t)len))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: name contains a NUL byte (offset %llu)", c->name,
                             what, at);
    char *s = (char *)malloc((size_t)len + 1);
    if (!s) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: %s: out of memory", c->name, what);
    if (len) memcpy(s, src, (size_t)len);
    s[len] = '\0';
    c->pos += (size_t)len;
    *out = s;
    if (len_out) *len_out = len;
    return QTK_OK;
}

/* Parses one value of type t (already read) into *out; depth = number of
 * arrays enclosing it. On failure *out holds nothing to free. */
static qtk_status rd_value(cursor *c, uint32_t t, int depth, const char *what, qtk_gguf_value *out,
                           qtk_error *err) {
    memset(out, 0, sizeof *out);
    unsigned long long at = c->pos;
    if (t >= QTK_GGUF_VTYPE_COUNT)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: unknown value type %u", c->name, what, t);
    out->type = (qtk_gguf_vtype)t;
    if (t == QTK_GGUF_STRING) return rd_string(c, what, false, &out->v.str.ptr, &out->v.str.len, err);
    if (t != QTK_GGUF_ARRAY) {
        size_t n = qtk_gguf_vtype_min_size(t);
        uint64_t raw;
        if (!rd_uint(c, n, &raw))
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: file truncated at offset %llu (%s value)", c->name,
                                 what, at, qtk_gguf_vtype_name(out->type));
        switch (out->type) {
        case QTK_GGUF_INT8: out->v.i64 = (int8_t)(uint8_t)raw; break;
        case QTK_GGUF_INT16: out->v.i64 = (int16_t)(uint16_t)raw; break;
        case QTK_GGUF_INT32: out->v.i64 = (int32_t)(uint32_t)raw; break;
        case QTK_GGUF_INT64: out->v.i64 = (int64_t)raw; break;
        case QTK_GGUF_FLOAT32: {
            uint32_t b = (uint32_t)raw;
            float f;
            memcpy(&f, &b, sizeof f);
            out->v.f64 = f;
            break;
        }
        case QTK_GGUF_FLOAT64: memcpy(&out->v.f64, &raw, sizeof raw); break;
        case QTK_GGUF_BOOL:
            if (raw > 1)
                return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: invalid bool value %llu at offset %llu", c->name,
                                     what, (unsigned long long)raw, at);
            out->v.u64 = raw;
            break;
        default: out->v.u64 = raw; break;
        }
        return QTK_OK;
    }
    /* array */
    if (depth >= QTK_GGUF_MAX_DEPTH)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: arrays nested deeper than %d levels (offset %llu)",
                             c->name, what, QTK_GGUF_MAX_DEPTH, at);
    uint32_t et;
    uint64_t n;
    if (!rd_u32(c, &et) || !rd_u64(c, &n))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: file truncated at offset %llu (array header)", c->name,
                             what, at);
    if (et >= QTK_GGUF_VTYPE_COUNT)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: unknown array element type %u", c->name, what, et);
    out->v.arr.elem_type = (qtk_gguf_vtype)et;
    if (n > remaining(c) / qtk_gguf_vtype_min_size(et))
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: %s: array of %llu %s values cannot fit in the %llu bytes left in the file",
                             c->name, what, (unsigned long long)n, qtk_gguf_vtype_name((qtk_gguf_vtype)et),
                             (unsigned long long)remaining(c));
    if (n == 0) return QTK_OK;
    qtk_gguf_value *items = (qtk_gguf_value *)calloc((size_t)n, sizeof *items);
    if (!items) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: %s: out of memory", c->name, what);
    out->v.arr.items = items;
    for (uint64_t i = 0; i < n; i++) {
        qtk_status st = rd_value(c, et, depth + 1, what, &items[i], err);
        if (st != QTK_OK) {
            out->v.arr.n = i;  /* free only what was filled */
            qtk_gguf_value_free(out);
            return st;
        }
    }
    out->v.arr.n = n;
    return QTK_OK;
}

/* ---- tensor geometry ------------------------------------------------------ */

qtk_status qtk_gguf_tensor_size(int type, int n_dims, const int64_t *ne, const char *what, uint64_t *nbytes,
                                qtk_error *err) {
    const qtk_type_traits *tr = qtk_type_get(type);
    if (!tr) return qtk_set_error(err, QTK_ERR_FORMAT, "%s: unknown tensor type id %d", what, type);
    if (!tr->file_type)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: type %s cannot be stored in a model file", what, tr->name);
    if (n_dims < 1 || n_dims > QTK_MAX_DIMS)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %d dimensions (must be 1..%d)", what, n_dims, QTK_MAX_DIMS);
    int64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: dimension %d is %lld (must be positive)", what, d,
                                 (long long)ne[d]);
        if (nel > INT64_MAX / ne[d])
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: element count overflows (dimension %d = %lld)", what, d,
                                 (long long)ne[d]);
        nel *= ne[d];
    }
    if (ne[0] % tr->block_size != 0)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: row length %lld is not a multiple of the %s block size %lld", what,
                             (long long)ne[0], tr->name, (long long)tr->block_size);
    uint64_t blocks = (uint64_t)(ne[0] / tr->block_size);
    uint64_t nrows = (uint64_t)(nel / ne[0]);
    uint64_t limit = (uint64_t)INT64_MAX;
    if (blocks > (limit - tr->row_meta_size) / tr->type_size)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: row size overflows", what);
    uint64_t row = tr->row_meta_size + blocks * tr->type_size;
    if (nrows > limit / row) return qtk_set_error(err, QTK_ERR_FORMAT, "%s: byte size overflows", what);
    *nbytes = row * nrows;
    return QTK_OK;
}

int64_t qtk_tensor_nelements(const qtk_tensor_info *t) {
    int64_t n = 1;
    for (int d = 0; d < QTK_MAX_DIMS; d++) n *= t->ne[d];
    return n;
}

int64_t qtk_tensor_nrows(const qtk_tensor_info *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* ---- duplicate detection ------------------------------------------------------ */

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Returns a name that occurs twice among names[0..n), or NULL. *nomem is
 * set when the scratch array could not be allocated. */
static const char *find_duplicate(const char **names, int64_t n, bool *nomem) {
    *nomem = false;
    if (n < 2) return NULL;
    const char **s = (const char **)malloc((size_t)n * sizeof *s);
    if (!s) {
        *nomem = true;
        return NULL;
    }
    memcpy(s, names, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_str_ptr);
    const char *dup = NULL;
    for (int64_t i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) dup = s[i];
    free(s);
    return dup;
}

static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t oa = ((const qtk_tensor_info *const *)a)[0]->offset;
    uint64_t ob = ((const qtk_tensor_info *const *)b)[0]->offset;
    return oa < ob ? -1 : oa > ob;
}

/* ---- the parser --------------------------------------------------------------- */

static qtk_status parse_kvs(cursor *c, qtk_gguf *g, uint64_t n_kv, qtk_error *err) {
    /* smallest pair: u64 key length + u32 type + 1-byte value */
    if (n_kv > remaining(c) / 13)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: n_kv = %llu key/value pairs cannot fit in the %llu bytes left in the file", c->name,
                             (unsigned long long)n_kv, (unsigned long long)remaining(c));
    for (uint64_t i = 0; i < n_kv; i++) {
        char what[220];
        snprintf(what, sizeof what, "key #%llu", (unsigned long long)i);
        char *key = NULL;
        qtk_status st = rd_string(c, what, true, &key, NULL, err);
        if (st != QTK_OK) return st;
        snprintf(what, sizeof what, "key '%.160s'", key);
        uint32_t t;
        qtk_gguf_value val;
        if (!rd_u32(c, &t)) {
            free(key);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s: file truncated at offset %llu (value type)", c->name,
                                 what, (unsigned long long)c->pos);
        }
        st = rd_value(c, t, 0, what, &val, err);
        if (st != QTK_OK) {
            free(key);
            return st;
        }
        if (qtk_meta_append_owned(&g->meta, key, &val) != QTK_OK) {
            free(key);
            qtk_gguf_value_free(&val);
            return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory reading metadata", c->name);
        }
    }
    const char **keys = (const char **)malloc((size_t)(g->meta.n ? g->meta.n : 1) * sizeof *keys);
    if (!keys) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", c->name);
    for (int64_t i = 0; i < g->meta.n; i++) keys[i] = g->meta.kv[i].key;
    bool nomem;
    const char *dup = find_duplicate(keys, g->meta.n, &nomem);
    free(keys);
    if (nomem) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", c->name);
    if (dup) return qtk_set_error(err, QTK_ERR_FORMAT, "%s: duplicate key '%.200s'", c->name, dup);

    g->alignment = QTK_GGUF_DEFAULT_ALIGNMENT;
    const qtk_gguf_value *al = qtk_meta_get(&g->meta, "general.alignment");
    if (al) {
        if (al->type != QTK_GGUF_UINT32)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected u32",
                                 c->name, qtk_gguf_vtype_name(al->type));
        if (al->v.u64 == 0 || (al->v.u64 & (al->v.u64 - 1)) != 0)
            return qtk_set_error(err, QTK_ERR_FORMAT,
                                 "%s: key 'general.alignment': %llu is not a nonzero power of two", c->name,
                                 (unsigned long long)al->v.u64);
        g->alignment = al->v.u64;
    }
    return QTK_OK;
}

static qtk_status parse_tensor_infos(cursor *c, qtk_gguf *g, uint64_t n_t, qtk_error *err) {
    /* smallest info: u64 name length + u32 n_dims + one u64 dim + u32 type + u64 offset */
    if (n_t > remaining(c) / 32)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: n_tensors = %llu tensor infos cannot fit in the %llu bytes left in the file", c->name,
                             (unsigned long long)n_t, (unsigned long long)remaining(c));
    if (n_t == 0) return QTK_OK;
    g->tensors = (qtk_tensor_info *)calloc((size_t)n_t, sizeof *g->tensors);
    if (!g->tensors) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", c->name);
    for (uint64_t i = 0; i < n_t; i++) {
        qtk_tensor_info *t = &g->tensors[i];
        char what[220];
        snprintf(what, sizeof what, "tensor #%llu", (unsigned long long)i);
        qtk_status st = rd_string(c, what, true, &t->name, NULL, err);
        if (st != QTK_OK) return st;
        g->n_tensors = (int64_t)i + 1;  /* from here on, close() frees the name */
        snprintf(what, sizeof what, "%s: tensor '%.160s'", c->name, t->name);
        uint32_t nd, type;
        if (!rd_u32(c, &nd))
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: file truncated at offset %llu (n_dims)", what, (unsigned long long)c->pos);
        if (nd < 1 || nd > QTK_MAX_DIMS)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %u dimensions (must be 1..%d)", what, nd, QTK_MAX_DIMS);
        t->n_dims = (int)nd;
        for (int d = 0; d < QTK_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            if (!rd_u64(c, &v))
                return qtk_set_error(err, QTK_ERR_FORMAT, "%s: file truncated at offset %llu (dimension %u)", what,
                                     (unsigned long long)c->pos, d);
            if (v == 0 || v > (uint64_t)INT64_MAX)
                return qtk_set_error(err, QTK_ERR_FORMAT, "%s: dimension %u is %lld (must be positive)", what, d,
                                     (long long)v);
            t->ne[d] = (int64_t)v;
        }
        if (!rd_u32(c, &type) || !rd_u64(c, &t->offset))
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: file truncated at offset %llu (type/offset)", what,
                                 (unsigned long long)c->pos);
        if (type >= QTK_TYPE_ID_LIMIT)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: unknown tensor type id %u", what, type);
        t->type = (qtk_type)type;
        st = qtk_gguf_tensor_size((int)type, t->n_dims, t->ne, what, &t->nbytes, err);
        if (st != QTK_OK) return st;
    }
    return QTK_OK;
}

/* Data section placement, alignment, bounds and overlap of every tensor. */
static qtk_status check_tensor_data(const char *name, qtk_gguf *g, qtk_error *err) {
    int64_t n = g->n_tensors;
    uint64_t data_size = g->size > g->data_offset ? g->size - g->data_offset : 0;
    if (n > 0 && g->data_offset > g->size)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: data section would start at %llu, past the end of the file (%llu bytes)",
                             name, (unsigned long long)g->data_offset, (unsigned long long)g->size);
    for (int64_t i = 0; i < n; i++) {
        qtk_tensor_info *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor '%.160s': offset %llu is not a multiple of the alignment %llu",
                                 name, t->name, (unsigned long long)t->offset, (unsigned long long)g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return qtk_set_error(err, QTK_ERR_FORMAT,
                                 "%s: tensor '%.160s': data at offset %llu (%llu bytes) extends past the end of the data "
                                 "section (%llu bytes)",
                                 name, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                                 (unsigned long long)data_size);
        t->data = g->base + g->data_offset + t->offset;
    }
    if (n < 2) return QTK_OK;
    const qtk_tensor_info **order = (const qtk_tensor_info **)malloc((size_t)n * sizeof *order);
    const char **names = (const char **)malloc((size_t)n * sizeof *names);
    if (!order || !names) {
        free(order);
        free(names);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", name);
    }
    for (int64_t i = 0; i < n; i++) {
        order[i] = &g->tensors[i];
        names[i] = g->tensors[i].name;
    }
    bool nomem;
    const char *dup = find_duplicate(names, n, &nomem);
    free(names);
    qtk_status st = QTK_OK;
    if (nomem)
        st = qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", name);
    else if (dup)
        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: duplicate tensor name '%.200s'", name, dup);
    if (st == QTK_OK) {
        qsort(order, (size_t)n, sizeof *order, cmp_tensor_offset);
        for (int64_t i = 1; i < n; i++) {
            const qtk_tensor_info *a = order[i - 1], *b = order[i];
            if (a->offset + a->nbytes > b->offset) {  /* no overflow: both end inside the file */
                st = qtk_set_error(err, QTK_ERR_FORMAT,
                                   "%s: tensor '%.120s' (offset %llu, %llu bytes) overlaps tensor '%.120s' (offset %llu)",
                                   name, a->name, (unsigned long long)a->offset, (unsigned long long)a->nbytes, b->name,
                                   (unsigned long long)b->offset);
                break;
            }
        }
    }
    free(order);
    return st;
}

/* Nothing may follow the last tensor's data except its alignment padding
 * (llama.cpp's and qtk's writers pad after every tensor; files without
 * tensors may end right after the header). Extra bytes are what an
 * interleaved or botched write leaves: the header and the size disagree. */
static qtk_status check_trailing(const char *name, const qtk_gguf *g, qtk_error *err) {
    uint64_t data_end = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const qtk_tensor_info *t = &g->tensors[i];
        if (t->offset + t->nbytes > data_end) data_end = t->offset + t->nbytes; /* both inside the file */
    }
    uint64_t a = g->alignment;
    uint64_t end = g->data_offset + (data_end + a - 1) / a * a;
    if (g->size <= end) return QTK_OK;
    return qtk_set_error(err, QTK_ERR_FORMAT,
                         "%s: %llu trailing bytes after the end of the tensor data (which ends at offset %llu with "
                         "its padding; the file has %llu bytes): not a complete GGUF file as written",
                         name, (unsigned long long)(g->size - end), (unsigned long long)end,
                         (unsigned long long)g->size);
}

static qtk_status parse(qtk_gguf *g, const char *name, qtk_error *err) {
    cursor c = {g->base, g->size, 0, name};
    if (g->size < 4 || memcmp(g->base, QTK_GGUF_MAGIC, 4) != 0) {
        if (g->size < 4)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: not a GGUF file (only %llu bytes)", name, (unsigned long long)g->size);
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: not a GGUF file (magic bytes %02x %02x %02x %02x, expected 'GGUF')",
                             name, g->base[0], g->base[1], g->base[2], g->base[3]);
    }
    c.pos = 4;
    if (!rd_u32(&c, &g->version))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: file truncated in the header (version)", name);
    if (g->version == 1) return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "%s: GGUF v1 not supported", name);
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xFFFFu) == 0)
            return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                                 "%s: big-endian GGUF is not supported (version field 0x%08x)", name, g->version);
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "%s: unsupported GGUF version %u", name, g->version);
    }
    uint64_t n_t, n_kv;
    if (!rd_u64(&c, &n_t) || !rd_u64(&c, &n_kv))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: file truncated in the header (%llu bytes, need 24)", name, (unsigned long long)g->size);
    qtk_status st = parse_kvs(&c, g, n_kv, err);
    if (st != QTK_OK) return st;
    st = parse_tensor_infos(&c, g, n_t, err);
    if (st != QTK_OK) return st;
    uint64_t end = c.pos;
    g->data_offset = (end + g->alignment - 1) / g->alignment * g->alignment;
    st = check_tensor_data(name, g, err);
    if (st != QTK_OK) return st;
    return check_trailing(name, g, err);
}

/* Builds a handle over [data, data+size) and parses it; on failure frees it. */
static qtk_status open_image(qtk_gguf *g, const char *name, qtk_gguf **out, qtk_error *err) {
    g->path = qtk_strdup(name);
    if (!g->path) {
        qtk_gguf_close(g);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", name);
    }
    qtk_status st = parse(g, name, err);
    if (st != QTK_OK) {
        qtk_gguf_close(g);
        return st;
    }
    *out = g;
    qtk_clear_error(err);
    return QTK_OK;
}

qtk_status qtk_gguf_open_memory(const void *data, size_t size, const char *name, qtk_gguf **out, qtk_error *err) {
    if (!out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_open_memory: NULL output");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: NULL data", name);
    static const uint8_t empty[1] = {0};
    qtk_gguf *g = (qtk_gguf *)calloc(1, sizeof *g);
    if (!g) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", name);
    g->base = data ? (const uint8_t *)data : empty;
    g->size = size;
    return open_image(g, name, out, err);
}

/* One file exactly as stored (no split handling), mapped or read. */
static qtk_status open_part(const char *path, bool in_memory, qtk_gguf **out, qtk_error *err) {
    if (!out || !path) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_open_part: NULL argument");
    *out = NULL;
    qtk_gguf *g = (qtk_gguf *)calloc(1, sizeof *g);
    if (!g) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    qtk_status st = in_memory ? qtk_read_file(path, &g->map, err) : qtk_map_file(path, &g->map, err);
    if (st != QTK_OK) {
        free(g);
        return st;
    }
    static const uint8_t empty[1] = {0};
    g->base = g->map.data ? (const uint8_t *)g->map.data : empty;
    g->size = g->map.size;
    return open_image(g, path, out, err);
}

qtk_status qtk_gguf_open_part(const char *path, qtk_gguf **out, qtk_error *err) {
    return open_part(path, false, out, err);
}

void qtk_gguf_close(qtk_gguf *g) {
    if (!g) return;
    if (g->parts)
        for (int k = 1; k < g->n_parts; k++) qtk_gguf_close(g->parts[k]);
    free(g->parts);
    free(g->tensor_part);
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    qtk_meta_clear(&g->meta);
    qtk_unmap_file(&g->map);
    free(g->path);
    free(g);
}

uint32_t qtk_gguf_version(const qtk_gguf *g) { return g->version; }
uint64_t qtk_gguf_alignment(const qtk_gguf *g) { return g->alignment; }
uint64_t qtk_gguf_data_offset(const qtk_gguf *g) { return g->data_offset; }
uint64_t qtk_gguf_file_size(const qtk_gguf *g) { return g->n_parts > 1 ? g->total_size : g->size; }
const char *qtk_gguf_path(const qtk_gguf *g) { return g->path; }
const qtk_meta *qtk_gguf_meta(const qtk_gguf *g) { return &g->meta; }
int64_t qtk_gguf_n_tensors(const qtk_gguf *g) { return g->n_tensors; }

const qtk_tensor_info *qtk_gguf_tensor(const qtk_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

int64_t qtk_gguf_find_tensor(const qtk_gguf *g, const char *name) {
    if (!name) return -1;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return i;
    return -1;
}

/* ---- split models (llama.cpp gguf-split) ----------------------------------- */

int qtk_split_path(char *buf, size_t size, const char *prefix, int split_no, int split_count) {
    if (!buf || !prefix || split_count < 1 || split_count > QTK_SPLIT_MAX || split_no < 0 || split_no >= split_count)
        return -1;
    int n = snprintf(buf, size, "%s-%05d-of-%05d.gguf", prefix, split_no + 1, split_count);
    return n >= 0 && (size_t)n < size ? n : -1;
}

int qtk_split_prefix(char *buf, size_t size, const char *path, int split_no, int split_count) {
    if (!buf || !path || split_count < 1 || split_count > QTK_SPLIT_MAX || split_no < 0 || split_no >= split_count)
        return -1;
    char suffix[48];
    snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", split_no + 1, split_count);
    size_t lp = strlen(path), ls = strlen(suffix);
    if (lp < ls || strcmp(path + lp - ls, suffix) != 0) return -1;
    size_t n = lp - ls;
    if (n >= size || n > (size_t)INT32_MAX) return -1;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return (int)n;
}

/* Integer value of a split.* key: 1 = found (in [lo, hi]), 0 = absent,
 * -1 = not an integer or out of range. */
static int split_key(const qtk_meta *m, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const qtk_gguf_value *v = qtk_meta_get(m, key);
    if (!v) return 0;
    int64_t x;
    switch (v->type) {
    case QTK_GGUF_UINT8: case QTK_GGUF_UINT16: case QTK_GGUF_UINT32: case QTK_GGUF_UINT64:
        if (v->v.u64 > (uint64_t)INT64_MAX) return -1;
        x = (int64_t)v->v.u64;
        break;
    case QTK_GGUF_INT8: case QTK_GGUF_INT16: case QTK_GGUF_INT32: case QTK_GGUF_INT64: x = v->v.i64; break;
    default: return -1;
    }
    if (x < lo || x > hi) return -1;
    *out = x;
    return 1;
}

static void strip_split_keys(qtk_meta *m) {
    qtk_meta_remove(m, QTK_KV_SPLIT_NO);
    qtk_meta_remove(m, QTK_KV_SPLIT_COUNT);
    qtk_meta_remove(m, QTK_KV_SPLIT_TENSORS_COUNT);
}

/* Checks the split.* keys of part k (1-based number k+1) against the first part's. */
static qtk_status check_part_keys(const qtk_gguf *sub, const char *first, int k, int64_t count, int64_t ntot,
                                  qtk_error *err) {
    int64_t v = 0;
    int r = split_key(&sub->meta, QTK_KV_SPLIT_NO, 0, QTK_SPLIT_MAX, &v);
    if (r <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: key '%s' is %s (expected %d: part %d of %lld of %s)", sub->path,
                             QTK_KV_SPLIT_NO, r == 0 ? "missing" : "not an integer 0..65535", k, k + 1,
                             (long long)count, first);
    if (v != k)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: split.no is %lld (part %lld), expected %d: the file is not part %d of %lld of %s",
                             sub->path, (long long)v, (long long)v + 1, k, k + 1, (long long)count, first);
    r = split_key(&sub->meta, QTK_KV_SPLIT_COUNT, 0, QTK_SPLIT_MAX, &v);
    if (r <= 0 || v != count)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: split.count is %s%lld, but %s says the model has %lld parts: the parts come from "
                             "different splits",
                             sub->path, r <= 0 ? "missing/invalid " : "", r <= 0 ? 0LL : (long long)v, first,
                             (long long)count);
    r = split_key(&sub->meta, QTK_KV_SPLIT_TENSORS_COUNT, 0, INT32_MAX, &v);
    if (r <= 0 || v != ntot)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: split.tensors.count is %s%lld, but %s says %lld: the parts come from different "
                             "models",
                             sub->path, r <= 0 ? "missing/invalid " : "", r <= 0 ? 0LL : (long long)v, first,
                             (long long)ntot);
    return QTK_OK;
}

/* Opens the other parts of the split model whose first part g is and moves
 * their tensors into g. On failure g is unchanged apart from g->parts (freed
 * by close). */
static qtk_status open_split(qtk_gguf *g, int count, int64_t ntot, bool in_memory, qtk_error *err) {
    const char *first = g->path;
    size_t cap = strlen(first) + 1;
    char *prefix = (char *)malloc(cap), *pp = (char *)malloc(cap + 32);
    if (!prefix || !pp) {
        free(prefix);
        free(pp);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", first);
    }
    qtk_status st = QTK_OK;
    if (qtk_split_prefix(prefix, cap, first, 0, count) < 0) {
        st = qtk_set_error(err, QTK_ERR_FORMAT,
                           "%s: first part of a %d-part split model (split.count = %d), but the name does not end in "
                           "-00001-of-%05d.gguf, so the other parts cannot be found (gguf-split names them "
                           "PREFIX-NNNNN-of-%05d.gguf)",
                           first, count, count, count, count);
        goto done;
    }
    g->parts = (qtk_gguf **)calloc((size_t)count, sizeof *g->parts);
    if (!g->parts) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", first);
        goto done;
    }
    g->n_parts = count;
    int64_t total = g->n_tensors;
    uint64_t total_size = g->size;
    for (int k = 1; k < count; k++) {
        qtk_split_path(pp, cap + 32, prefix, k, count);
        qtk_error e;
        if ((st = open_part(pp, in_memory, &g->parts[k], &e)) != QTK_OK) {
            st = qtk_set_error(err, st, "%s: part %d of %d of this split model cannot be read: %s", first, k + 1, count,
                               e.msg);
            goto done;
        }
        if ((st = check_part_keys(g->parts[k], first, k, count, ntot, err)) != QTK_OK) goto done;
        total += g->parts[k]->n_tensors;
        total_size += g->parts[k]->size;
    }
    if (total != ntot) {
        st = qtk_set_error(err, QTK_ERR_FORMAT,
                           "%s: corrupted split model: split.tensors.count is %lld but the %d parts hold %lld tensors",
                           first, (long long)ntot, count, (long long)total);
        goto done;
    }
    /* merge: tensors of part 1, then part 2, ... (data stays in each part's mapping) */
    qtk_tensor_info *all = total ? (qtk_tensor_info *)calloc((size_t)total, sizeof *all) : NULL;
    int *tp = (int *)malloc((size_t)(total ? total : 1) * sizeof *tp);
    const char **names = (const char **)malloc((size_t)(total ? total : 1) * sizeof *names);
    if ((total && !all) || !tp || !names) {
        free(all);
        free(tp);
        free(names);
        st = qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", first);
        goto done;
    }
    int64_t n = 0;
    for (int k = 0; k < count; k++) {
        const qtk_gguf *src = k ? g->parts[k] : g;
        for (int64_t i = 0; i < src->n_tensors; i++, n++) {
            all[n] = src->tensors[i];
            tp[n] = k;
            names[n] = all[n].name;
        }
    }
    bool nomem;
    const char *dup = find_duplicate(names, total, &nomem);
    free(names);
    if (nomem || dup) {
        int pa = -1, pb = -1;
        for (int64_t i = 0; dup && i < total; i++)
            if (strcmp(all[i].name, dup) == 0) {
                if (pa < 0) pa = tp[i];
                else pb = tp[i];
            }
        if (nomem)
            st = qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", first);
        else
            st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor '%.160s' is in part %d and in part %d of the split model",
                               first, dup, pa + 1, pb + 1);
        free(all);
        free(tp);
        goto done;
    }
    /* ownership of the names moves to g */
    free(g->tensors);
    g->tensors = all;
    g->n_tensors = total;
    for (int k = 1; k < count; k++) {
        free(g->parts[k]->tensors);
        g->parts[k]->tensors = NULL;
        g->parts[k]->n_tensors = 0;
    }
    g->tensor_part = tp;
    g->total_size = total_size;
done:
    free(prefix);
    free(pp);
    return st;
}

qtk_status qtk_gguf_open(const char *path, qtk_gguf **out, qtk_error *err) {
    return qtk_gguf_open_mode(path, false, out, err);
}

qtk_status qtk_gguf_open_mode(const char *path, bool in_memory, qtk_gguf **out, qtk_error *err) {
    if (!out || !path) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_open: NULL argument");
    *out = NULL;
    qtk_gguf *g = NULL;
    qtk_status st = open_part(path, in_memory, &g, err);
    if (st != QTK_OK) return st;
    int64_t count = 0, no = 0, ntot = 0;
    int rc = split_key(&g->meta, QTK_KV_SPLIT_COUNT, 0, QTK_SPLIT_MAX, &count);
    int rn = split_key(&g->meta, QTK_KV_SPLIT_NO, 0, QTK_SPLIT_MAX, &no);
    if (rc < 0)
        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: key '%s' is not an integer 0..65535", path, QTK_KV_SPLIT_COUNT);
    else if (count > 1 && rn < 0)
        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: key '%s' is not an integer 0..65535", path, QTK_KV_SPLIT_NO);
    else if (count > 1 && no >= count)
        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: split.no %lld is not below split.count %lld", path, (long long)no,
                           (long long)count);
    else if (count > 1 && no > 0) {
        size_t cap = strlen(path) + 1;
        char *prefix = (char *)malloc(cap), *fp = (char *)malloc(cap + 32);
        if (prefix && fp && qtk_split_prefix(prefix, cap, path, (int)no, (int)count) >= 0 &&
            qtk_split_path(fp, cap + 32, prefix, 0, (int)count) >= 0)
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "%s is part %lld of %lld of a split model; open %s (the first part) to read the whole "
                               "model",
                               path, (long long)no + 1, (long long)count, fp);
        else
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "%s is part %lld of %lld of a split model; open its first part (...-00001-of-%05lld.gguf) "
                               "to read the whole model",
                               path, (long long)no + 1, (long long)count, (long long)count);
        free(prefix);
        free(fp);
    } else if (count > 1 && split_key(&g->meta, QTK_KV_SPLIT_TENSORS_COUNT, 0, INT32_MAX, &ntot) <= 0)
        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: split model (split.count = %lld) without a valid '%s' key", path,
                           (long long)count, QTK_KV_SPLIT_TENSORS_COUNT);
    else if (count > 1)
        st = open_split(g, (int)count, ntot, in_memory, err);
    if (st != QTK_OK) {
        qtk_gguf_close(g);
        return st;
    }
    /* the split.* keys describe the file layout, not the model */
    strip_split_keys(&g->meta);
    *out = g;
    qtk_clear_error(err);
    return QTK_OK;
}

int qtk_gguf_n_parts(const qtk_gguf *g) { return g->n_parts > 1 ? g->n_parts : 1; }

const char *qtk_gguf_part_path(const qtk_gguf *g, int part) {
    if (part == 0) return g->path;
    return part > 0 && part < g->n_parts ? g->parts[part]->path : NULL;
}

uint64_t qtk_gguf_part_size(const qtk_gguf *g, int part) {
    if (part == 0) return g->size;
    return part > 0 && part < g->n_parts ? g->parts[part]->size : 0;
}

int qtk_gguf_tensor_part(const qtk_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_tensors) return -1;
    return g->tensor_part ? g->tensor_part[i] : 0;
}
