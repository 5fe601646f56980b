/*
 * imatrix.c — importance matrices: reading the two file formats llama.cpp and
 * ik_llama.cpp write (legacy binary .dat, GGUF with *.in_sum2 / *.counts
 * tensors), and an accumulator with writers for both.
 *
 * Both readers produce the same thing: per tensor, normalised importances
 * (sum of squared activations divided by the number of calls / tokens) and
 * per-matrix counts. A matrix without data (count 0) gets uniform 1.0 values,
 * which is what the reference's quantize does for such matrices.
 * Everything read from a file is checked before it is used to size memory.
 */
#include "../core/qtk_internal.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IM_SUFFIX_SUM2 ".in_sum2"
#define IM_SUFFIX_COUNTS ".counts"

struct qtk_imatrix {
    qtk_imatrix_format format;
    qtk_imatrix_entry *e;
    int64_t n;
    const qtk_imatrix_entry **sorted;  /* entries sorted by name, for lookups */
    int64_t chunk_count;    /* -1 when not recorded */
    int64_t chunk_size;     /* -1 when not recorded */
    char **datasets;
    int64_t n_datasets;
};

/* ---- shared helpers -------------------------------------------------------- */

static void entry_free(qtk_imatrix_entry *e) {
    free((void *)e->name);
    free((void *)e->values);
    free((void *)e->counts);
}

void qtk_imatrix_free(qtk_imatrix *im) {
    if (!im) return;
    for (int64_t i = 0; i < im->n; i++) entry_free(&im->e[i]);
    free(im->e);
    free(im->sorted);
    for (int64_t i = 0; i < im->n_datasets; i++) free(im->datasets[i]);
    free(im->datasets);
    free(im);
}

/* Orders entry pointers by name. */
static int cmp_entry_name(const void *a, const void *b) {
    const qtk_imatrix_entry *ea = *(const qtk_imatrix_entry *const *)a, *eb = *(const qtk_imatrix_entry *const *)b;
    return strcmp(ea->name, eb->name);
}

/* Builds the sorted index and rejects duplicate names. */
static qtk_status build_index(qtk_imatrix *im, const char *path, qtk_error *err) {
    im->sorted = (const qtk_imatrix_entry **)malloc((size_t)(im->n ? im->n : 1) * sizeof *im->sorted);
    if (!im->sorted) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < im->n; i++) im->sorted[i] = &im->e[i];
    qsort(im->sorted, (size_t)im->n, sizeof *im->sorted, cmp_entry_name);
    for (int64_t i = 1; i < im->n; i++)
        if (strcmp(im->sorted[i - 1]->name, im->sorted[i]->name) == 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: duplicate entry '%.200s'", path, im->sorted[i]->name);
    return QTK_OK;
}

/* Appends a zeroed entry slot, growing the array geometrically. */
static qtk_imatrix_entry *push_entry(qtk_imatrix *im, int64_t *cap) {
    if (im->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        qtk_imatrix_entry *e = (qtk_imatrix_entry *)realloc(im->e, (size_t)nc * sizeof *e);
        if (!e) return NULL;
        im->e = e;
        *cap = nc;
    }
    qtk_imatrix_entry *e = &im->e[im->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static bool value_ok(float v) { return isfinite(v) && v >= 0.0f; }

/* ---- legacy .dat reader ---------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    size_t size, off;
} cursor;

static size_t left(const cursor *c) { return c->size - c->off; }

/* Little-endian int32 at the cursor; false when fewer than 4 bytes remain. */
static bool rd_i32(cursor *c, int32_t *out) {
    if (left(c) < 4) return false;
    const unsigned char *b = c->p + c->off;
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    memcpy(out, &u, sizeof u);
    c->off += 4;
    return true;
}

/* Little-endian float from 4 bytes (unaligned-safe). */
static float ld_f32le(const unsigned char *b) {
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Parses one legacy entry into e (name, values / ncall, counts). */
static qtk_status legacy_entry(cursor *c, const char *path, int64_t idx, qtk_imatrix_entry *e,
                               qtk_error *err) {
    int32_t name_len, ncall, nval;
    size_t at = c->off;
    if (!rd_i32(c, &name_len))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry %lld: truncated name length at offset %zu",
                             path, (long long)idx, at);
    if (name_len <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry %lld: name length %d is not positive (offset %zu)",
                             path, (long long)idx, (int)name_len, at);
    if ((size_t)name_len > left(c))
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: entry %lld: name length %d exceeds the %zu bytes left (truncated file?)", path,
                             (long long)idx, (int)name_len, left(c));
    const char *raw = (const char *)(c->p + c->off);
    if (memchr(raw, '\0', (size_t)name_len))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry %lld: name contains a NUL byte", path,
                             (long long)idx);
    char *name = (char *)malloc((size_t)name_len + 1);
    if (!name) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    memcpy(name, raw, (size_t)name_len);
    name[name_len] = '\0';
    e->name = name;
    c->off += (size_t)name_len;

    if (!rd_i32(c, &ncall) || !rd_i32(c, &nval))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry %lld ('%.200s'): truncated ncall/nval", path,
                             (long long)idx, name);
    if (ncall < 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry %lld ('%.200s'): negative ncall %d", path,
                             (long long)idx, name, (int)ncall);
    if (nval <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry %lld ('%.200s'): nval %d is not positive", path,
                             (long long)idx, name, (int)nval);
    if ((size_t)nval > left(c) / 4)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: entry %lld ('%.200s'): nval %d needs %llu bytes, only %zu left (truncated file?)",
                             path, (long long)idx, name, (int)nval, (unsigned long long)nval * 4u, left(c));

    float *v = (float *)malloc((size_t)nval * sizeof *v);
    float *cnt = (float *)malloc(sizeof *cnt);
    if (!v || !cnt) {
        free(v);
        free(cnt);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory for entry '%.200s'", path, name);
    }
    e->values = v;
    e->counts = cnt;
    const unsigned char *src = c->p + c->off;
    for (int32_t j = 0; j < nval; j++) {
        float x = ld_f32le(src + 4 * (size_t)j);
        if (!value_ok(x))
            return qtk_set_error(err, QTK_ERR_NUMERIC, "%s: entry %lld ('%.200s'): value %d is %g (must be finite and >= 0)",
                                 path, (long long)idx, name, (int)j, (double)x);
        /* no data at all: uniform weights, the same rule as a GGUF count of 0 */
        v[j] = ncall > 0 ? x / (float)ncall : 1.0f;
    }
    c->off += (size_t)nval * 4;
    *cnt = (float)ncall;
    e->n_per_row = nval;
    e->n_mat = 1;
    e->nval = nval;
    e->ncall = ncall;
    return QTK_OK;
}

/* Parses a whole legacy file: entries, then optional chunk count + dataset. */
static qtk_status load_legacy(const unsigned char *data, size_t size, const char *path, qtk_imatrix *im,
                              qtk_error *err) {
    cursor c = {data, size, 0};
    int32_t n_entries;
    if (!rd_i32(&c, &n_entries))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: too short for an imatrix file (%zu bytes)", path, size);
    if (n_entries <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry count %d is not positive", path, (int)n_entries);
    /* smallest entry: name length + 1 name byte + ncall + nval + one value */
    if ((size_t)n_entries > left(&c) / 17)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: claims %d entries but only %zu bytes follow (truncated or not an imatrix file)",
                             path, (int)n_entries, left(&c));
    im->e = (qtk_imatrix_entry *)calloc((size_t)n_entries, sizeof *im->e);
    if (!im->e) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    for (int32_t i = 0; i < n_entries; i++) {
        im->n = (int64_t)i + 1; /* so a partly filled entry is freed too */
        qtk_status st = legacy_entry(&c, path, i, &im->e[i], err);
        if (st != QTK_OK) return st;
    }

    size_t rest = left(&c);
    if (rest == 0) return QTK_OK;
    int32_t last_call, len;
    if (!rd_i32(&c, &last_call))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %zu stray bytes after the last entry (truncated chunk count)",
                             path, rest);
    if (last_call < 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: negative chunk count %d", path, (int)last_call);
    im->chunk_count = last_call;
    if (left(&c) == 0) return QTK_OK;
    if (!rd_i32(&c, &len))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated dataset name length after the chunk count", path);
    if (len < 0 || (size_t)len > left(&c))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: dataset name length %d does not fit the %zu bytes left",
                             path, (int)len, left(&c));
    if (len > 0) {
        char *ds = (char *)malloc((size_t)len + 1);
        im->datasets = (char **)malloc(sizeof *im->datasets);
        if (!ds || !im->datasets) {
            free(ds);
            return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
        }
        memcpy(ds, c.p + c.off, (size_t)len);
        ds[len] = '\0';
        im->datasets[0] = ds;
        im->n_datasets = 1;
        c.off += (size_t)len;
    }
    if (left(&c) != 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %zu unexpected bytes after the dataset name", path, left(&c));
    return QTK_OK;
}

/* ---- GGUF reader ---------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Copies s[0..n) into a new NUL-terminated string. */
static char *dup_n(const char *s, size_t n) {
    char *p = (char *)malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Reads an optional non-negative integer key into *out (left alone if absent). */
static qtk_status meta_count(const qtk_meta *m, const char *key, const char *path, int64_t *out, qtk_error *err) {
    if (!qtk_meta_get(m, key)) return QTK_OK;
    int64_t v;
    if (!qtk_meta_get_int(m, key, &v))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: key '%s' is not an integer", path, key);
    if (v < 0) return qtk_set_error(err, QTK_ERR_FORMAT, "%s: key '%s' is negative (%lld)", path, key, (long long)v);
    *out = v;
    return QTK_OK;
}

/* Metadata of a GGUF imatrix: type check, chunk info, dataset names. */
static qtk_status gguf_meta(const qtk_gguf *g, const char *path, qtk_imatrix *im, qtk_error *err) {
    const qtk_meta *m = qtk_gguf_meta(g);
    const qtk_gguf_value *t = qtk_meta_get(m, "general.type");
    if (t) {
        if (t->type != QTK_GGUF_STRING)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: key 'general.type' is not a string", path);
        if (strcmp(t->v.str.ptr, "imatrix") != 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: general.type is '%.100s', not 'imatrix' (a model file?)",
                                 path, t->v.str.ptr);
    }
    qtk_status st = meta_count(m, "imatrix.chunk_count", path, &im->chunk_count, err);
    if (st == QTK_OK) st = meta_count(m, "imatrix.chunk_size", path, &im->chunk_size, err);
    if (st != QTK_OK) return st;
    const qtk_gguf_value *ds = qtk_meta_get(m, "imatrix.datasets");
    if (!ds) return QTK_OK;
    if (ds->type != QTK_GGUF_ARRAY || ds->v.arr.elem_type != QTK_GGUF_STRING)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: key 'imatrix.datasets' is not an array of strings", path);
    if (ds->v.arr.n == 0) return QTK_OK;
    /* the reader already bounded n by the file size */
    im->datasets = (char **)calloc((size_t)ds->v.arr.n, sizeof *im->datasets);
    if (!im->datasets) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < ds->v.arr.n; i++) {
        const qtk_gguf_value *s = &ds->v.arr.items[i];
        im->datasets[i] = dup_n(s->v.str.ptr, (size_t)s->v.str.len);
        if (!im->datasets[i]) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
        im->n_datasets = (int64_t)i + 1;
    }
    return QTK_OK;
}

/* Builds one entry from its in_sum2 tensor s and counts tensor c. */
static qtk_status gguf_entry(const char *path, const char *name, const qtk_tensor_info *s,
                             const qtk_tensor_info *c, qtk_imatrix_entry *e, qtk_error *err) {
    if (s->type != QTK_TYPE_F32 || c->type != QTK_TYPE_F32)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry '%.200s': in_sum2/counts have types %s/%s, expected f32/f32",
                             path, name, qtk_type_name(s->type), qtk_type_name(c->type));
    if (s->ne[2] != 1 || s->ne[3] != 1)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry '%.200s': in_sum2 has more than 2 dimensions", path, name);
    int64_t n_per_row = s->ne[0], n_mat = s->ne[1];
    if (c->ne[0] != 1 || c->ne[1] != n_mat || c->ne[2] != 1 || c->ne[3] != 1)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: entry '%.200s': counts shape [%lld, %lld, %lld, %lld] does not match in_sum2 [%lld, %lld] (expected [1, %lld])",
                             path, name, (long long)c->ne[0], (long long)c->ne[1], (long long)c->ne[2],
                             (long long)c->ne[3], (long long)n_per_row, (long long)n_mat, (long long)n_mat);
    /* both sizes were checked against the mapped file by the GGUF reader */
    size_t nval = (size_t)n_per_row * (size_t)n_mat;
    e->name = qtk_strdup(name);
    float *v = (float *)malloc(nval * sizeof *v);
    float *cnt = (float *)malloc((size_t)n_mat * sizeof *cnt);
    e->values = v;
    e->counts = cnt;
    if (!e->name || !v || !cnt) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory for entry '%.200s'", path, name);
    const unsigned char *sd = (const unsigned char *)s->data, *cd = (const unsigned char *)c->data;
    float max_count = 0.0f;
    for (int64_t m = 0; m < n_mat; m++) {
        float count;
        memcpy(&count, cd + 4 * (size_t)m, sizeof count);
        if (!value_ok(count))
            return qtk_set_error(err, QTK_ERR_NUMERIC, "%s: entry '%.200s': count of matrix %lld is %g (must be finite and >= 0)",
                                 path, name, (long long)m, (double)count);
        cnt[m] = count;
        if (count > max_count) max_count = count;
        for (int64_t j = 0; j < n_per_row; j++) {
            size_t k = (size_t)m * (size_t)n_per_row + (size_t)j;
            float x;
            memcpy(&x, sd + 4 * k, sizeof x);
            if (!value_ok(x))
                return qtk_set_error(err, QTK_ERR_NUMERIC,
                                     "%s: entry '%.200s': in_sum2 of matrix %lld, column %lld is %g (must be finite and >= 0)",
                                     path, name, (long long)m, (long long)j, (double)x);
            v[k] = count > 0.0f ? x / count : 1.0f;
            if (!isfinite(v[k])) /* a tiny count (a denormal) overflows the quotient */
                return qtk_set_error(err, QTK_ERR_NUMERIC,
                                     "%s: entry '%.200s': in_sum2 / count of matrix %lld, column %lld is %g / %g: "
                                     "not finite",
                                     path, name, (long long)m, (long long)j, (double)x, (double)count);
        }
    }
    e->n_per_row = n_per_row;
    e->n_mat = n_mat;
    e->nval = (int64_t)nval;
    e->ncall = max_count < 9.0e18f ? (int64_t)max_count : INT64_MAX;
    return QTK_OK;
}

/* Parses an opened GGUF imatrix: pairs every *.in_sum2 with its *.counts. */
static qtk_status load_gguf(const qtk_gguf *g, const char *path, qtk_imatrix *im, qtk_error *err) {
    qtk_status st = gguf_meta(g, path, im, err);
    if (st != QTK_OK) return st;
    int64_t nt = qtk_gguf_n_tensors(g), cap = 0;
    size_t ls = strlen(IM_SUFFIX_SUM2), lc = strlen(IM_SUFFIX_COUNTS);
    char buf[512];
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        size_t n = strlen(t->name);
        if (ends_with(t->name, IM_SUFFIX_COUNTS)) {
            /* a counts tensor must have its sums: otherwise data went missing */
            if (n - lc + ls >= sizeof buf)
                return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor name '%.200s...' too long", path, t->name);
            memcpy(buf, t->name, n - lc);
            memcpy(buf + n - lc, IM_SUFFIX_SUM2, ls + 1);
            if (qtk_gguf_find_tensor(g, buf) < 0)
                return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry '%.*s': '%s' has no matching '%s' tensor", path,
                                     (int)QTK_MIN(n - lc, 200), t->name, IM_SUFFIX_COUNTS, IM_SUFFIX_SUM2);
            continue;
        }
        if (!ends_with(t->name, IM_SUFFIX_SUM2)) continue; /* other statistics: not ours */
        size_t nb = n - ls;
        if (nb == 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor '%s' has an empty entry name", path, t->name);
        if (nb + lc >= sizeof buf)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor name '%.200s...' too long", path, t->name);
        memcpy(buf, t->name, nb);
        buf[nb] = '\0';
        memcpy(buf + nb, IM_SUFFIX_COUNTS, lc + 1);
        int64_t ci = qtk_gguf_find_tensor(g, buf);
        buf[nb] = '\0';
        if (ci < 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: entry '%.200s': '%s' tensor without '%s'", path, buf,
                                 IM_SUFFIX_SUM2, IM_SUFFIX_COUNTS);
        qtk_imatrix_entry *e = push_entry(im, &cap);
        if (!e) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
        st = gguf_entry(path, buf, t, qtk_gguf_tensor(g, ci), e, err);
        if (st != QTK_OK) return st;
    }
    if (im->n == 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: GGUF file holds no '*%s' tensors (not an imatrix?)", path,
                             IM_SUFFIX_SUM2);
    return QTK_OK;
}

/* ---- loading: format detection ------------------------------------------------------- */

qtk_status qtk_imatrix_load(const char *path, qtk_imatrix **out, qtk_error *err) {
    if (!path || !out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_load: NULL argument");
    *out = NULL;
    qtk_imatrix *im = (qtk_imatrix *)calloc(1, sizeof *im);
    if (!im) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    im->chunk_count = -1;
    im->chunk_size = -1;

    qtk_mapping map;
    memset(&map, 0, sizeof map);
    qtk_status st = qtk_map_file(path, &map, err);
    if (st != QTK_OK) {
        free(im);
        return st;
    }
    const unsigned char *data = (const unsigned char *)map.data;
    if (map.size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        im->format = QTK_IMATRIX_GGUF;
        qtk_gguf *g = NULL;
        st = qtk_gguf_open_memory(map.data, map.size, path, &g, err);
        if (st == QTK_OK) st = load_gguf(g, path, im, err);
        qtk_gguf_close(g);
    } else {
        im->format = QTK_IMATRIX_LEGACY;
        st = load_legacy(data, map.size, path, im, err);
    }
    qtk_unmap_file(&map);
    if (st == QTK_OK) st = build_index(im, path, err);
    if (st != QTK_OK) {
        qtk_imatrix_free(im);
        return st;
    }
    qtk_clear_error(err);
    *out = im;
    return QTK_OK;
}

/* ---- queries ------------------------------------------------------------------------- */

qtk_imatrix_format qtk_imatrix_get_format(const qtk_imatrix *im) { return im ? im->format : QTK_IMATRIX_LEGACY; }

int64_t qtk_imatrix_count(const qtk_imatrix *im) { return im ? im->n : 0; }

const qtk_imatrix_entry *qtk_imatrix_at(const qtk_imatrix *im, int64_t i) {
    return im && i >= 0 && i < im->n ? &im->e[i] : NULL;
}

const qtk_imatrix_entry *qtk_imatrix_find(const qtk_imatrix *im, const char *tensor_name) {
    if (!im || !tensor_name) return NULL;
    int64_t lo = 0, hi = im->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(im->sorted[mid]->name, tensor_name);
        if (c == 0) return im->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const float *qtk_imatrix_for(const qtk_imatrix *im, const char *tensor_name, int64_t n_per_row, int64_t n_mat,
                             int64_t mat) {
    const qtk_imatrix_entry *e = qtk_imatrix_find(im, tensor_name);
    if (!e || n_per_row <= 0 || n_mat <= 0 || mat < 0 || mat >= n_mat) return NULL;
    if (n_mat > INT64_MAX / n_per_row || e->nval != n_per_row * n_mat) return NULL;
    /* GGUF records the row length; legacy only the total, so only the total is checkable */
    if (im->format == QTK_IMATRIX_GGUF && e->n_per_row != n_per_row) return NULL;
    return e->values + mat * n_per_row;
}

int64_t qtk_imatrix_chunks(const qtk_imatrix *im) { return im ? im->chunk_count : -1; }
int64_t qtk_imatrix_chunk_size(const qtk_imatrix *im) { return im ? im->chunk_size : -1; }
int64_t qtk_imatrix_n_datasets(const qtk_imatrix *im) { return im ? im->n_datasets : 0; }

const char *qtk_imatrix_dataset(const qtk_imatrix *im, int64_t i) {
    return im && i >= 0 && i < im->n_datasets ? im->datasets[i] : NULL;
}

/* ---- accumulator ----------------------------------------------------------------------- */

typedef struct {
    char *name;
    int64_t n_per_row, n_mat;
    double *sum2;     /* n_per_row * n_mat */
    int64_t *counts;  /* n_mat */
} acc_tensor;

struct qtk_imatrix_acc {
    acc_tensor *t;
    int64_t n, cap;
    int64_t chunk_count, chunk_size;  /* 0 = not set */
    char **datasets;
    int64_t n_datasets;
    bool f32_sums;                    /* float running sums, as llama-imatrix */
};

qtk_status qtk_imatrix_acc_create(qtk_imatrix_acc **out, qtk_error *err) {
    if (!out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_acc_create: NULL argument");
    *out = (qtk_imatrix_acc *)calloc(1, sizeof **out);
    return *out ? QTK_OK : qtk_set_error(err, QTK_ERR_NOMEM, "imatrix accumulator: out of memory");
}

void qtk_imatrix_acc_free(qtk_imatrix_acc *acc) {
    if (!acc) return;
    for (int64_t i = 0; i < acc->n; i++) {
        free(acc->t[i].name);
        free(acc->t[i].sum2);
        free(acc->t[i].counts);
    }
    free(acc->t);
    for (int64_t i = 0; i < acc->n_datasets; i++) free(acc->datasets[i]);
    free(acc->datasets);
    free(acc);
}

int64_t qtk_imatrix_acc_count(const qtk_imatrix_acc *acc) { return acc ? acc->n : 0; }

qtk_status qtk_imatrix_acc_tensor(qtk_imatrix_acc *acc, const char *name, int64_t n_per_row, int64_t n_mat,
                                  int64_t *index, qtk_error *err) {
    if (!acc || !name || !index) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_acc_tensor: NULL argument");
    if (!*name) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix accumulator: empty tensor name");
    if (n_per_row <= 0 || n_mat <= 0 || n_mat > INT64_MAX / n_per_row ||
        (uint64_t)(n_per_row * n_mat) > SIZE_MAX / sizeof(double))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix accumulator: tensor '%.200s': bad shape [%lld, %lld]",
                             name, (long long)n_per_row, (long long)n_mat);
    for (int64_t i = 0; i < acc->n; i++) {
        if (strcmp(acc->t[i].name, name) != 0) continue;
        if (acc->t[i].n_per_row != n_per_row || acc->t[i].n_mat != n_mat)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "imatrix accumulator: tensor '%.200s' is [%lld, %lld], now asked as [%lld, %lld]", name,
                                 (long long)acc->t[i].n_per_row, (long long)acc->t[i].n_mat, (long long)n_per_row,
                                 (long long)n_mat);
        *index = i;
        return QTK_OK;
    }
    if (acc->n == acc->cap) {
        int64_t nc = acc->cap ? acc->cap * 2 : 64;
        acc_tensor *t = (acc_tensor *)realloc(acc->t, (size_t)nc * sizeof *t);
        if (!t) return qtk_set_error(err, QTK_ERR_NOMEM, "imatrix accumulator: out of memory");
        acc->t = t;
        acc->cap = nc;
    }
    acc_tensor *t = &acc->t[acc->n];
    t->name = qtk_strdup(name);
    t->sum2 = (double *)calloc((size_t)(n_per_row * n_mat), sizeof *t->sum2);
    t->counts = (int64_t *)calloc((size_t)n_mat, sizeof *t->counts);
    if (!t->name || !t->sum2 || !t->counts) {
        free(t->name);
        free(t->sum2);
        free(t->counts);
        return qtk_set_error(err, QTK_ERR_NOMEM, "imatrix accumulator: out of memory for tensor '%.200s'", name);
    }
    t->n_per_row = n_per_row;
    t->n_mat = n_mat;
    *index = acc->n++;
    return QTK_OK;
}

qtk_status qtk_imatrix_acc_add(qtk_imatrix_acc *acc, int64_t index, int64_t mat, const float *x, int64_t n_rows,
                               qtk_error *err) {
    if (!acc || (!x && n_rows > 0)) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_acc_add: NULL argument");
    if (index < 0 || index >= acc->n)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix accumulator: no tensor with index %lld", (long long)index);
    acc_tensor *t = &acc->t[index];
    if (mat < 0 || mat >= t->n_mat || n_rows < 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix accumulator: tensor '%.200s': matrix %lld of %lld, %lld rows",
                             t->name, (long long)mat, (long long)t->n_mat, (long long)n_rows);
    const int64_t n = t->n_per_row;
    /* check first so a bad batch leaves the sums untouched */
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t j = 0; j < n; j++)
            if (!isfinite(x[r * n + j]))
                return qtk_set_error(err, QTK_ERR_NUMERIC,
                                     "imatrix accumulator: tensor '%.200s': activation row %lld, column %lld is %g",
                                     t->name, (long long)r, (long long)j, (double)x[r * n + j]);
    double *s = t->sum2 + mat * n;
    if (acc->f32_sums) {
        /* the reference's arithmetic: x*x in float added to a float running sum */
        for (int64_t r = 0; r < n_rows; r++) {
            const float *row = x + r * n;
            for (int64_t j = 0; j < n; j++) {
                const float sq = row[j] * row[j];
                s[j] = (double)((float)s[j] + sq);
            }
        }
    } else {
        for (int64_t r = 0; r < n_rows; r++) {
            const float *row = x + r * n;
            for (int64_t j = 0; j < n; j++) s[j] += (double)row[j] * (double)row[j];
        }
    }
    t->counts[mat] += n_rows;
    return QTK_OK;
}

qtk_status qtk_imatrix_acc_set_chunks(qtk_imatrix_acc *acc, int64_t chunk_count, int64_t chunk_size, qtk_error *err) {
    if (!acc) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_acc_set_chunks: NULL argument");
    /* both formats store these as 32-bit fields */
    if (chunk_count < 0 || chunk_size < 0 || chunk_count > INT32_MAX || chunk_size > INT32_MAX)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix accumulator: chunk count %lld / size %lld out of range",
                             (long long)chunk_count, (long long)chunk_size);
    acc->chunk_count = chunk_count;
    acc->chunk_size = chunk_size;
    return QTK_OK;
}

qtk_status qtk_imatrix_acc_add_dataset(qtk_imatrix_acc *acc, const char *name, qtk_error *err) {
    if (!acc || !name) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_acc_add_dataset: NULL argument");
    if (strlen(name) > INT32_MAX)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix accumulator: dataset name too long");
    char **d = (char **)realloc(acc->datasets, (size_t)(acc->n_datasets + 1) * sizeof *d);
    if (!d) return qtk_set_error(err, QTK_ERR_NOMEM, "imatrix accumulator: out of memory");
    acc->datasets = d;
    d[acc->n_datasets] = qtk_strdup(name);
    if (!d[acc->n_datasets]) return qtk_set_error(err, QTK_ERR_NOMEM, "imatrix accumulator: out of memory");
    acc->n_datasets++;
    return QTK_OK;
}

void qtk_imatrix_acc_set_f32_sums(qtk_imatrix_acc *acc, bool on) {
    if (acc) acc->f32_sums = on;
}

int64_t qtk_imatrix_acc_chunks(const qtk_imatrix_acc *acc) { return acc ? acc->chunk_count : 0; }
int64_t qtk_imatrix_acc_chunk_size(const qtk_imatrix_acc *acc) { return acc ? acc->chunk_size : 0; }

/* Index of tensor `name` in acc, or -1. */
static int64_t acc_find(const qtk_imatrix_acc *acc, const char *name) {
    for (int64_t i = 0; i < acc->n; i++)
        if (strcmp(acc->t[i].name, name) == 0) return i;
    return -1;
}

/* Shape an entry is merged as: GGUF as recorded; legacy [nval, 1], or the
 * experts of a 3-D model tensor whose size it fits. */
static void merge_shape(const qtk_imatrix *im, const qtk_imatrix_entry *e, const qtk_gguf *model, int64_t *n_per_row,
                        int64_t *n_mat) {
    *n_per_row = e->n_per_row;
    *n_mat = e->n_mat;
    if (im->format != QTK_IMATRIX_LEGACY || !model) return;
    int64_t ti = qtk_gguf_find_tensor(model, e->name);
    if (ti < 0) return;
    const qtk_tensor_info *t = qtk_gguf_tensor(model, ti);
    if (t->ne[2] > 1 && t->ne[3] == 1 && t->ne[0] > 0 && t->ne[2] <= INT64_MAX / t->ne[0] &&
        t->ne[0] * t->ne[2] == e->nval) {
        *n_per_row = t->ne[0];
        *n_mat = t->ne[2];
    }
}

/* Tokens matrix m of entry e stands for (see qtk_imatrix_acc_merge). */
static int64_t merge_count(const qtk_imatrix *im, const qtk_imatrix_entry *e, int64_t m, int64_t legacy_chunk_size) {
    if (im->format == QTK_IMATRIX_LEGACY) return e->ncall * legacy_chunk_size;
    double c = (double)e->counts[m];
    return c < 9.0e18 ? (int64_t)llround(c) : INT64_MAX;
}

qtk_status qtk_imatrix_acc_merge(qtk_imatrix_acc *acc, const qtk_imatrix *im, int64_t legacy_chunk_size,
                                 const qtk_gguf *model, qtk_error *err) {
    if (!acc || !im) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_acc_merge: NULL argument");
    if (legacy_chunk_size <= 0 || legacy_chunk_size > INT32_MAX)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix merge: chunk size %lld out of range",
                             (long long)legacy_chunk_size);
    /* pass 1: every shape fits what is there, and the totals stay in range, before anything changes */
    int64_t max_c = 0;
    for (int64_t i = 0; i < im->n; i++) {
        const qtk_imatrix_entry *e = &im->e[i];
        int64_t npr, nm;
        merge_shape(im, e, model, &npr, &nm);
        if (im->format == QTK_IMATRIX_LEGACY && e->ncall > INT64_MAX / legacy_chunk_size / 4)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix merge: entry '%.200s': ncall %lld too large", e->name,
                                 (long long)e->ncall);
        int64_t k = acc_find(acc, e->name);
        if (k >= 0 && (acc->t[k].n_per_row != npr || acc->t[k].n_mat != nm))
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "imatrix merge: entry '%.200s' is [%lld, %lld] here but [%lld, %lld] in the data so far "
                                 "(files of different models?)",
                                 e->name, (long long)npr, (long long)nm, (long long)acc->t[k].n_per_row,
                                 (long long)acc->t[k].n_mat);
        for (int64_t m = 0; m < e->n_mat; m++) {
            int64_t c = merge_count(im, e, m, legacy_chunk_size);
            if (k >= 0 && c > INT64_MAX / 4 - acc->t[k].counts[m < nm ? m : 0])
                return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix merge: entry '%.200s': counts overflow", e->name);
            max_c = QTK_MAX(max_c, c);
        }
    }
    int64_t cs = im->chunk_size > 0 ? im->chunk_size : legacy_chunk_size;
    int64_t chunks = im->chunk_count >= 0 ? im->chunk_count : max_c / cs;
    if (chunks > INT32_MAX - acc->chunk_count)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "imatrix merge: chunk count %lld + %lld out of range",
                             (long long)acc->chunk_count, (long long)chunks);
    /* pass 2: add */
    for (int64_t i = 0; i < im->n; i++) {
        const qtk_imatrix_entry *e = &im->e[i];
        int64_t npr, nm, k;
        merge_shape(im, e, model, &npr, &nm);
        qtk_status st = qtk_imatrix_acc_tensor(acc, e->name, npr, nm, &k, err);
        if (st != QTK_OK) return st;
        acc_tensor *t = &acc->t[k];
        /* a legacy entry split into experts: the one count applies to every expert */
        int64_t c0 = merge_count(im, e, 0, legacy_chunk_size);
        for (int64_t m = 0; m < nm; m++) {
            int64_t c = nm == e->n_mat ? merge_count(im, e, m, legacy_chunk_size) : c0;
            if (c <= 0) continue;
            const float *v = e->values + m * npr;
            double *s = t->sum2 + m * npr;
            for (int64_t j = 0; j < npr; j++) s[j] += (double)v[j] * (double)c;
            t->counts[m] += c;
        }
    }
    for (int64_t i = 0; i < im->n_datasets; i++) {
        qtk_status st = qtk_imatrix_acc_add_dataset(acc, im->datasets[i], err);
        if (st != QTK_OK) return st;
    }
    acc->chunk_count += chunks;
    if (acc->chunk_size == 0) acc->chunk_size = cs;
    return QTK_OK;
}

/* ---- writers ------------------------------------------------------------------------- */

static int64_t max_count(const acc_tensor *t) {
    int64_t m = 0;
    for (int64_t i = 0; i < t->n_mat; i++) m = QTK_MAX(m, t->counts[i]);
    return m;
}

/* Orders tensor pointers by name. */
static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const acc_tensor *const *)a)->name, (*(const acc_tensor *const *)b)->name);
}

/* The tensors that got data, sorted by name (deterministic files); *n_out =
 * their number. NULL on allocation failure. */
static const acc_tensor **tensors_to_save(const qtk_imatrix_acc *acc, int64_t *n_out) {
    const acc_tensor **list = (const acc_tensor **)malloc((size_t)(acc->n ? acc->n : 1) * sizeof *list);
    if (!list) return NULL;
    int64_t n = 0;
    for (int64_t i = 0; i < acc->n; i++)
        if (max_count(&acc->t[i]) > 0) list[n++] = &acc->t[i];
    qsort(list, (size_t)n, sizeof *list, cmp_tensor_name);
    *n_out = n;
    return list;
}

/* Little-endian int32 into b. */
static void st_i32(unsigned char *b, int32_t v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    b[0] = (unsigned char)u;
    b[1] = (unsigned char)(u >> 8);
    b[2] = (unsigned char)(u >> 16);
    b[3] = (unsigned char)(u >> 24);
}

/* Little-endian float into b. */
static void st_f32(unsigned char *b, float f) {
    int32_t v;
    memcpy(&v, &f, sizeof v);
    st_i32(b, v);
}

typedef struct {
    FILE *f;
    bool bad;
} wfile;

static void wbytes(wfile *w, const void *p, size_t n) {
    if (!w->bad && n && fwrite(p, 1, n, w->f) != n) w->bad = true;
}

static void wi32(wfile *w, int32_t v) {
    unsigned char b[4];
    st_i32(b, v);
    wbytes(w, b, 4);
}

/* Cleanup of a failed legacy save: closes and removes the temp file (if
 * any) and frees the work buffers; the caller has set the error. */
static void dat_fail(FILE *f, char *tmp, const acc_tensor **list, float *buf) {
    if (f || tmp) qtk_tmpfile_discard(f, tmp);
    free(tmp);
    free((void *)list);
    free(buf);
}

qtk_status qtk_imatrix_save_dat(const char *path, const qtk_imatrix_acc *acc, qtk_error *err) {
    if (!path || !acc) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_save_dat: NULL argument");
    int64_t n = 0;
    const acc_tensor **idx = tensors_to_save(acc, &n);
    if (!idx) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    if (n == 0) {
        free((void *)idx);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: no tensor received any activations; nothing to save", path);
    }
    if (n > INT32_MAX) {
        free((void *)idx);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: too many entries for the legacy format", path);
    }
    /* validate everything the 32-bit fields must hold before creating anything */
    int64_t max_nval = 0;
    for (int64_t k = 0; k < n; k++) {
        const acc_tensor *t = idx[k];
        int64_t nval = t->n_per_row * t->n_mat;
        if (nval > INT32_MAX || strlen(t->name) > INT32_MAX) {
            free((void *)idx);
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: tensor '%.200s' is too large for the legacy format", path,
                                 t->name);
        }
        max_nval = QTK_MAX(max_nval, nval);
    }
    char *tmp = NULL;
    float *buf = (float *)malloc((size_t)max_nval * sizeof *buf);
    unsigned char *bytes = (unsigned char *)buf;
    if (!buf) {
        dat_fail(NULL, NULL, idx, buf);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    }
    /* a unique PATH.tmp.XXXXXX, removed on failure and on SIGINT/SIGTERM/SIGHUP */
    wfile w = {NULL, false};
    qtk_status cst = qtk_tmpfile_create(path, &w.f, &tmp, err);
    if (cst != QTK_OK) {
        dat_fail(NULL, NULL, idx, buf);
        return cst;
    }

    wi32(&w, (int32_t)n);
    for (int64_t k = 0; k < n && !w.bad; k++) {
        const acc_tensor *t = idx[k];
        int64_t nval = t->n_per_row * t->n_mat, mc = max_count(t);
        /* ncall as the reference's writer defines it: chunks seen by the busiest matrix */
        int64_t ncall = acc->chunk_size > 0 ? (mc + acc->chunk_size - 1) / acc->chunk_size : mc;
        if (ncall < 1) ncall = 1;
        if (ncall > INT32_MAX) {
            qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: tensor '%.200s': ncall %lld does not fit the legacy format", path,
                          t->name, (long long)ncall);
            dat_fail(w.f, tmp, idx, buf);
            return QTK_ERR_INVALID_ARG;
        }
        for (int64_t m = 0; m < t->n_mat; m++) {
            for (int64_t j = 0; j < t->n_per_row; j++) {
                int64_t q = m * t->n_per_row + j;
                /* a matrix without data is written as uniform importance 1 */
                double v = t->counts[m] > 0 ? t->sum2[q] / (double)t->counts[m] * (double)ncall : (double)ncall;
                if (!(v <= (double)FLT_MAX)) {
                    qtk_set_error(err, QTK_ERR_NUMERIC, "%s: tensor '%.200s': value %lld overflows float", path, t->name,
                                  (long long)q);
                    dat_fail(w.f, tmp, idx, buf);
                    return QTK_ERR_NUMERIC;
                }
                st_f32(bytes + 4 * (size_t)q, (float)v);
            }
        }
        size_t nl = strlen(t->name);
        wi32(&w, (int32_t)nl);
        wbytes(&w, t->name, nl);
        wi32(&w, (int32_t)ncall);
        wi32(&w, (int32_t)nval);
        wbytes(&w, bytes, (size_t)nval * 4);
    }
    /* trailer as ik_llama.cpp writes it: chunk count and the (first) dataset name */
    const char *ds = acc->n_datasets > 0 ? acc->datasets[0] : "";
    wi32(&w, (int32_t)acc->chunk_count);
    wi32(&w, (int32_t)strlen(ds));
    wbytes(&w, ds, strlen(ds));

    int e = 0;
    if (!w.bad) {
        errno = 0;
        if (qtk_fsync_file(w.f) != 0) w.bad = true;
    }
    if (w.bad) {
        e = errno;
        qtk_set_error(err, QTK_ERR_IO, "%s: writing %s failed: %s", path, tmp, e ? strerror(e) : "unknown error");
        dat_fail(w.f, tmp, idx, buf);
        return QTK_ERR_IO;
    }
    errno = 0;
    if (fclose(w.f) != 0) {
        e = errno;
        qtk_set_error(err, QTK_ERR_IO, "%s: closing %s failed: %s", path, tmp, e ? strerror(e) : "unknown error");
        dat_fail(NULL, tmp, idx, buf);
        return QTK_ERR_IO;
    }
    errno = 0;
    if (qtk_tmpfile_commit(tmp, path) != 0) {
        e = errno;
        qtk_set_error(err, QTK_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, e ? strerror(e) : "unknown error");
        dat_fail(NULL, tmp, idx, buf);
        return QTK_ERR_IO;
    }
    free(tmp);
    free((void *)idx);
    free(buf);
    qtk_clear_error(err);
    return QTK_OK;
}

/* Sets imatrix.datasets to the accumulator's names (an empty array if none). */
static qtk_status set_datasets(qtk_meta *m, const qtk_imatrix_acc *acc, qtk_error *err) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = QTK_GGUF_ARRAY;
    v.v.arr.elem_type = QTK_GGUF_STRING;
    v.v.arr.n = (uint64_t)acc->n_datasets;
    qtk_gguf_value *items = NULL;
    if (acc->n_datasets > 0) {
        items = (qtk_gguf_value *)calloc((size_t)acc->n_datasets, sizeof *items);
        if (!items) return qtk_set_error(err, QTK_ERR_NOMEM, "imatrix: out of memory");
        for (int64_t i = 0; i < acc->n_datasets; i++) {
            items[i].type = QTK_GGUF_STRING;
            items[i].v.str.ptr = acc->datasets[i]; /* borrowed: qtk_meta_set copies */
            items[i].v.str.len = strlen(acc->datasets[i]);
        }
    }
    v.v.arr.items = items;
    qtk_status st = qtk_meta_set(m, "imatrix.datasets", &v, err);
    free(items);
    return st;
}

qtk_status qtk_imatrix_save_gguf(const char *path, const qtk_imatrix_acc *acc, qtk_error *err) {
    if (!path || !acc) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_save_gguf: NULL argument");
    int64_t n = 0;
    const acc_tensor **idx = tensors_to_save(acc, &n);
    if (!idx) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    if (n == 0) {
        free((void *)idx);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: no tensor received any activations; nothing to save", path);
    }
    int64_t max_nval = 0;
    for (int64_t k = 0; k < n; k++) max_nval = QTK_MAX(max_nval, idx[k]->n_per_row * idx[k]->n_mat);
    float *buf = (float *)malloc((size_t)max_nval * sizeof *buf);
    char *name = NULL;
    qtk_gguf_writer *w = NULL;
    qtk_status st = buf ? QTK_OK : qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    if (st == QTK_OK) st = qtk_gguf_writer_open(path, &w, err);
    if (st == QTK_OK) {
        qtk_meta *m = qtk_gguf_writer_meta(w);
        st = qtk_meta_set_str(m, "general.type", "imatrix", err);
        if (st == QTK_OK) st = set_datasets(m, acc, err);
        if (st == QTK_OK) st = qtk_meta_set_u32(m, "imatrix.chunk_count", (uint32_t)acc->chunk_count, err);
        if (st == QTK_OK) st = qtk_meta_set_u32(m, "imatrix.chunk_size", (uint32_t)acc->chunk_size, err);
    }
    /* declare every tensor first (the header lists them all), then stream data */
    for (int64_t k = 0; k < n && st == QTK_OK; k++) {
        const acc_tensor *t = idx[k];
        size_t nl = strlen(t->name);
        free(name);
        name = (char *)malloc(nl + sizeof IM_SUFFIX_SUM2);
        if (!name) {
            st = qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        /* trailing unit dimensions are dropped, as ggml-written files do */
        int nd = t->n_mat > 1 ? 2 : 1;
        int64_t ne_s[2] = {t->n_per_row, t->n_mat}, ne_c[2] = {1, t->n_mat};
        memcpy(name, t->name, nl);
        memcpy(name + nl, IM_SUFFIX_SUM2, sizeof IM_SUFFIX_SUM2);
        st = qtk_gguf_writer_add_tensor(w, name, QTK_TYPE_F32, nd, ne_s, err);
        memcpy(name + nl, IM_SUFFIX_COUNTS, sizeof IM_SUFFIX_COUNTS);
        if (st == QTK_OK) st = qtk_gguf_writer_add_tensor(w, name, QTK_TYPE_F32, nd, ne_c, err);
    }
    for (int64_t k = 0; k < n && st == QTK_OK; k++) {
        const acc_tensor *t = idx[k];
        int64_t nval = t->n_per_row * t->n_mat;
        for (int64_t q = 0; q < nval; q++) {
            if (!(t->sum2[q] <= (double)FLT_MAX)) {
                st = qtk_set_error(err, QTK_ERR_NUMERIC, "%s: tensor '%.200s': sum %lld overflows float", path, t->name,
                                   (long long)q);
                break;
            }
            buf[q] = (float)t->sum2[q];
        }
        if (st == QTK_OK) st = qtk_gguf_writer_write(w, buf, (size_t)nval * sizeof *buf, err);
        for (int64_t m = 0; m < t->n_mat && st == QTK_OK; m++) buf[m] = (float)t->counts[m];
        if (st == QTK_OK) st = qtk_gguf_writer_write(w, buf, (size_t)t->n_mat * sizeof *buf, err);
    }
    free(name);
    free(buf);
    free((void *)idx);
    if (!w) return st;
    if (st != QTK_OK) {
        qtk_gguf_writer_abort(w);
        return st;
    }
    return qtk_gguf_writer_finish(w, err);
}
