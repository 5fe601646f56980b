/*
 * gguf_write.c — streaming, atomic GGUF v3 writer. Output goes to a unique
 * PATH.tmp.XXXXXX beside PATH (exclusive create, removed on SIGINT/SIGTERM/
 * SIGHUP when the program installed qtk_install_signal_cleanup) and is renamed
 * over PATH only after every declared byte was written and synced; any failure
 * removes the temp file and leaves PATH as it was. PATH must not be one of the
 * files currently open as inputs (qtk_check_not_input).
 * Tensor data is never buffered here beyond stdio's own buffer.
 */
#if !defined(_WIN32) && !defined(_FILE_OFFSET_BITS)
#define _FILE_OFFSET_BITS 64  /* >2 GiB outputs on 32-bit POSIX hosts */
#endif
#include "gguf_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct wtensor {
    char *name;
    int type;
    int n_dims;
    int64_t ne[QTK_MAX_DIMS];
    uint64_t offset, nbytes;
} wtensor;

struct qtk_gguf_writer {
    char *path, *tmp;
    FILE *f;
    qtk_meta meta;
    wtensor *t;
    int64_t n, cap;
    bool header_done;
    bool failed;            /* tmp already removed; every later call fails */
    qtk_error first_err;    /* what made it fail, repeated by finish */
    uint64_t alignment;
    uint64_t pos;           /* bytes written to the file so far */
    int64_t cur;            /* tensor being filled */
    uint64_t cur_done;      /* bytes of it written */
    int io_errno;           /* errno of the first failed stdio call, or 0 */
    bool sizing;            /* no file: the header is only counted (qtk_gguf_writer_open_sizer) */
    uint64_t header_bytes;  /* header size before its padding, once written */
};

static const unsigned char zeros[4096];

/* Closes and deletes the temp file, remembers and returns the error. */
static qtk_status writer_fail(qtk_gguf_writer *w, qtk_error *err, qtk_status code, const char *fmt, ...)
    QTK_PRINTF(4, 5);
static qtk_status writer_fail(qtk_gguf_writer *w, qtk_error *err, qtk_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    w->first_err.code = code;
    vsnprintf(w->first_err.msg, sizeof w->first_err.msg, fmt, ap);
    va_end(ap);
    qtk_tmpfile_discard(w->f, w->tmp);
    w->f = NULL;
    w->failed = true;
    if (err) *err = w->first_err;
    return code;
}

/* I/O failure of the temp file with the saved errno text. */
static qtk_status writer_io_fail(qtk_gguf_writer *w, qtk_error *err, const char *doing) {
    int e = w->io_errno ? w->io_errno : errno;
    return writer_fail(w, err, QTK_ERR_IO, "%s: %s %s failed: %s", w->path, doing, w->tmp,
                       e ? strerror(e) : "unknown error");
}

/* Sticky raw write: after the first failure nothing more is written. */
static void put(qtk_gguf_writer *w, const void *p, size_t n) {
    if (w->io_errno || n == 0) return;
    if (w->sizing) {
        w->pos += n;
        return;
    }
    errno = 0;
    if (fwrite(p, 1, n, w->f) != n) {
        w->io_errno = errno ? errno : EIO;
        return;
    }
    w->pos += n;
}

static void put_le(qtk_gguf_writer *w, uint64_t v, size_t n) {
    unsigned char b[8];
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, n);
}

static void put_zeros(qtk_gguf_writer *w, uint64_t n) {
    while (n > 0 && !w->io_errno) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        put(w, zeros, k);
        n -= k;
    }
}

static void put_string(qtk_gguf_writer *w, const char *s, uint64_t len) {
    put_le(w, len, 8);
    if (len) put(w, s, (size_t)len);
}

/* Serializes a checked value without its type tag (arrays recurse). */
static void put_value(qtk_gguf_writer *w, const qtk_gguf_value *v) {
    switch (v->type) {
    case QTK_GGUF_STRING: put_string(w, v->v.str.ptr, v->v.str.len); break;
    case QTK_GGUF_ARRAY:
        put_le(w, (uint64_t)v->v.arr.elem_type, 4);
        put_le(w, v->v.arr.n, 8);
        for (uint64_t i = 0; i < v->v.arr.n && !w->io_errno; i++) put_value(w, &v->v.arr.items[i]);
        break;
    case QTK_GGUF_FLOAT32: {
        float f = qtk_gguf_f32_round(v->v.f64);
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        put_le(w, b, 4);
        break;
    }
    case QTK_GGUF_FLOAT64: {
        uint64_t b;
        memcpy(&b, &v->v.f64, sizeof b);
        put_le(w, b, 8);
        break;
    }
    case QTK_GGUF_INT8:
    case QTK_GGUF_INT16:
    case QTK_GGUF_INT32:
    case QTK_GGUF_INT64:
        put_le(w, (uint64_t)v->v.i64, qtk_gguf_vtype_min_size(v->type));
        break;
    default: put_le(w, v->v.u64, qtk_gguf_vtype_min_size(v->type)); break;
    }
}

qtk_status qtk_gguf_writer_open(const char *path, qtk_gguf_writer **out, qtk_error *err) {
    if (!path || !out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_writer_open: NULL argument");
    *out = NULL;
    qtk_gguf_writer *w = (qtk_gguf_writer *)calloc(1, sizeof *w);
    char *p = qtk_strdup(path);
    if (!w || !p) {
        free(w);
        free(p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    }
    w->path = p;
    qtk_status st = qtk_tmpfile_create(path, &w->f, &w->tmp, err);
    if (st != QTK_OK) {
        free(w->path);
        free(w);
        return st;
    }
    w->alignment = QTK_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    qtk_clear_error(err);
    return QTK_OK;
}

static qtk_status write_header(qtk_gguf_writer *w, qtk_error *err);

qtk_status qtk_gguf_writer_open_sizer(qtk_gguf_writer **out, qtk_error *err) {
    if (!out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_writer_open_sizer: NULL argument");
    *out = NULL;
    qtk_gguf_writer *w = (qtk_gguf_writer *)calloc(1, sizeof *w);
    char *p = qtk_strdup("(header size)");
    if (!w || !p) {
        free(w);
        free(p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    w->path = p;
    w->sizing = true;
    w->alignment = QTK_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return QTK_OK;
}

qtk_status qtk_gguf_writer_header_size(qtk_gguf_writer *w, uint64_t *bytes, uint64_t *alignment, qtk_error *err) {
    if (!w || !bytes) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_writer_header_size: NULL argument");
    if (w->failed) return qtk_set_error(err, w->first_err.code, "%s", w->first_err.msg);
    if (!w->header_done) {
        qtk_status st = write_header(w, err);
        if (st != QTK_OK) return st;
    }
    *bytes = w->header_bytes;
    if (alignment) *alignment = w->alignment;
    return QTK_OK;
}

qtk_meta *qtk_gguf_writer_meta(qtk_gguf_writer *w) { return w ? &w->meta : NULL; }

qtk_status qtk_gguf_writer_add_tensor(qtk_gguf_writer *w, const char *name, qtk_type type, int n_dims,
                                      const int64_t *ne, qtk_error *err) {
    if (!w || !name || !ne) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_writer_add_tensor: NULL argument");
    char what[240];
    snprintf(what, sizeof what, "%s: tensor '%.160s'", w->path, name);
    if (w->failed) return qtk_set_error(err, w->first_err.code, "%s", w->first_err.msg);
    if (w->header_done)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: declared after tensor data was written", what);
    for (int64_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: declared twice", what);
    uint64_t nbytes;
    qtk_error e;
    if (qtk_gguf_tensor_size((int)type, n_dims, ne, what, &nbytes, &e) != QTK_OK)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s", e.msg);
    if (w->n == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 64;
        wtensor *t = (wtensor *)realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", what);
        w->t = t;
        w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = qtk_strdup(name);
    if (!t->name) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", what);
    t->type = (int)type;
    t->n_dims = n_dims;
    for (int d = 0; d < QTK_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = nbytes;
    w->n++;
    return QTK_OK;
}

/* Validates the metadata, lays out the data section and writes everything
 * up to the first tensor's data. */
static qtk_status write_header(qtk_gguf_writer *w, qtk_error *err) {
    qtk_error e;
    for (int64_t i = 0; i < w->meta.n; i++) {
        char what[240];
        snprintf(what, sizeof what, "%s: key '%.160s'", w->path, w->meta.kv[i].key);
        if (qtk_gguf_value_check(&w->meta.kv[i].value, 0, what, &e) != QTK_OK)
            return writer_fail(w, err, QTK_ERR_INVALID_ARG, "%s", e.msg);
    }
    const qtk_gguf_value *al = qtk_meta_get(&w->meta, "general.alignment");
    if (al) {
        if (al->type != QTK_GGUF_UINT32 || al->v.u64 == 0 || (al->v.u64 & (al->v.u64 - 1)) != 0)
            return writer_fail(w, err, QTK_ERR_INVALID_ARG,
                               "%s: key 'general.alignment' must be a u32 nonzero power of two", w->path);
        w->alignment = al->v.u64;
    }
    uint64_t off = 0, a = w->alignment;
    for (int64_t i = 0; i < w->n; i++) {
        w->t[i].offset = off;
        uint64_t padded = (w->t[i].nbytes + a - 1) / a * a;  /* nbytes <= INT64_MAX: no overflow */
        if (padded > (uint64_t)INT64_MAX - off)
            return writer_fail(w, err, QTK_ERR_INVALID_ARG, "%s: total tensor data exceeds 2^63 bytes", w->path);
        off += padded;
    }
    put(w, QTK_GGUF_MAGIC, 4);
    put_le(w, QTK_GGUF_WRITE_VERSION, 4);
    put_le(w, (uint64_t)w->n, 8);
    put_le(w, (uint64_t)w->meta.n, 8);
    for (int64_t i = 0; i < w->meta.n && !w->io_errno; i++) {
        const qtk_gguf_kv *kv = &w->meta.kv[i];
        put_string(w, kv->key, strlen(kv->key));
        put_le(w, (uint64_t)kv->value.type, 4);
        put_value(w, &kv->value);
    }
    for (int64_t i = 0; i < w->n && !w->io_errno; i++) {
        const wtensor *t = &w->t[i];
        put_string(w, t->name, strlen(t->name));
        put_le(w, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(w, (uint64_t)t->ne[d], 8);
        put_le(w, (uint64_t)t->type, 4);
        put_le(w, t->offset, 8);
    }
    w->header_bytes = w->pos;
    put_zeros(w, (a - w->pos % a) % a);
    w->header_done = true;
    if (w->io_errno) return writer_io_fail(w, err, "writing the header of");
    return QTK_OK;
}

qtk_status qtk_gguf_writer_write(qtk_gguf_writer *w, const void *data, size_t size, qtk_error *err) {
    if (!w || (!data && size)) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_writer_write: NULL argument");
    if (w->failed) return qtk_set_error(err, w->first_err.code, "%s", w->first_err.msg);
    if (!w->header_done) {
        qtk_status st = write_header(w, err);
        if (st != QTK_OK) return st;
    }
    const unsigned char *p = (const unsigned char *)data;
    while (size > 0) {
        if (w->cur >= w->n)
            return writer_fail(w, err, QTK_ERR_INVALID_ARG, "%s: %llu bytes written beyond the last declared tensor",
                               w->path, (unsigned long long)size);
        wtensor *t = &w->t[w->cur];
        uint64_t left = t->nbytes - w->cur_done;
        size_t k = left < size ? (size_t)left : size;
        put(w, p, k);
        p += k;
        size -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            put_zeros(w, (w->alignment - t->nbytes % w->alignment) % w->alignment);
            w->cur++;
            w->cur_done = 0;
        }
        if (w->io_errno) return writer_io_fail(w, err, "writing");
    }
    return QTK_OK;
}

/* Frees everything; the temp file must be closed or removed already. */
static void writer_free(qtk_gguf_writer *w) {
    for (int64_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    qtk_meta_clear(&w->meta);
    free(w->path);
    free(w->tmp);
    free(w);
}

qtk_status qtk_gguf_writer_finish(qtk_gguf_writer *w, qtk_error *err) {
    if (!w) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_gguf_writer_finish: NULL writer");
    qtk_status st = QTK_OK;
    if (w->failed || w->sizing) {
        st = w->sizing ? qtk_set_error(err, QTK_ERR_INVALID_ARG, "a header-size writer has no file to finish")
                       : qtk_set_error(err, w->first_err.code, "%s", w->first_err.msg);
        writer_free(w);
        return st;
    }
    if (!w->header_done) st = write_header(w, err);
    if (st == QTK_OK && w->cur < w->n) {
        const wtensor *t = &w->t[w->cur];
        st = writer_fail(w, err, QTK_ERR_INVALID_ARG,
                         "%s: incomplete output: tensor '%.160s' got %llu of %llu bytes (%lld of %lld tensors complete)",
                         w->path, t->name, (unsigned long long)w->cur_done, (unsigned long long)t->nbytes,
                         (long long)w->cur, (long long)w->n);
    }
    if (st == QTK_OK) {
        errno = 0;
        if (qtk_fsync_file(w->f) != 0) {
            w->io_errno = errno ? errno : EIO;
            st = writer_io_fail(w, err, "flushing");
        }
    }
    if (st == QTK_OK) {
        FILE *f = w->f;
        w->f = NULL;
        errno = 0;
        if (fclose(f) != 0) {
            w->io_errno = errno ? errno : EIO;
            st = writer_io_fail(w, err, "closing");
        }
    }
    if (st == QTK_OK) {
        errno = 0;
        if (qtk_tmpfile_commit(w->tmp, w->path) != 0) {
            int e = errno;
            st = writer_fail(w, err, QTK_ERR_IO, "%s: cannot rename %s over it: %s", w->path, w->tmp,
                             e ? strerror(e) : "unknown error");
        }
    }
    if (st == QTK_OK) qtk_clear_error(err);
    writer_free(w);
    return st;
}

void qtk_gguf_writer_abort(qtk_gguf_writer *w) {
    if (!w) return;
    if (!w->failed) qtk_tmpfile_discard(w->f, w->tmp);
    else if (w->f) fclose(w->f);
    w->f = NULL;
    writer_free(w);
}
