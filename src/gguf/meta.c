/*
 * meta.c — the ordered GGUF key/value list (qtk_meta) and value helpers:
 * validation, deep copy, free. Shared by the reader and the writer.
 */
#include "gguf_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const vtype_names[QTK_GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};

static const unsigned char vtype_min_size[QTK_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

const char *qtk_gguf_vtype_name(qtk_gguf_vtype t) {
    return ((unsigned)t < QTK_GGUF_VTYPE_COUNT) ? vtype_names[t] : "?";
}

size_t qtk_gguf_vtype_min_size(uint32_t t) { return t < QTK_GGUF_VTYPE_COUNT ? vtype_min_size[t] : 0; }

float qtk_gguf_f32_round(double x) {
    if (x > FLT_MAX) return INFINITY;  /* beyond float range: inf, not UB */
    if (x < -FLT_MAX) return -INFINITY;
    return (float)x;
}

void qtk_gguf_value_free(qtk_gguf_value *v) {
    if (!v) return;
    if (v->type == QTK_GGUF_STRING) {
        free(v->v.str.ptr);
    } else if (v->type == QTK_GGUF_ARRAY) {
        if (v->v.arr.items)
            for (uint64_t i = 0; i < v->v.arr.n; i++) qtk_gguf_value_free(&v->v.arr.items[i]);
        free(v->v.arr.items);
    }
    memset(&v->v, 0, sizeof v->v);
}

/* Range check of an integer scalar against its declared width. */
static bool int_fits(const qtk_gguf_value *v) {
    switch (v->type) {
    case QTK_GGUF_UINT8: return v->v.u64 <= UINT8_MAX;
    case QTK_GGUF_UINT16: return v->v.u64 <= UINT16_MAX;
    case QTK_GGUF_UINT32: return v->v.u64 <= UINT32_MAX;
    case QTK_GGUF_INT8: return v->v.i64 >= INT8_MIN && v->v.i64 <= INT8_MAX;
    case QTK_GGUF_INT16: return v->v.i64 >= INT16_MIN && v->v.i64 <= INT16_MAX;
    case QTK_GGUF_INT32: return v->v.i64 >= INT32_MIN && v->v.i64 <= INT32_MAX;
    default: return true;
    }
}

qtk_status qtk_gguf_value_check(const qtk_gguf_value *v, int depth, const char *what, qtk_error *err) {
    if ((unsigned)v->type >= QTK_GGUF_VTYPE_COUNT)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: unknown value type %d", what, (int)v->type);
    if (v->type == QTK_GGUF_BOOL && v->v.u64 > 1)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: bool value %llu is not 0 or 1", what,
                             (unsigned long long)v->v.u64);
    if (!int_fits(v))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: value does not fit type %s", what,
                             qtk_gguf_vtype_name(v->type));
    if (v->type == QTK_GGUF_STRING && v->v.str.len > 0 && !v->v.str.ptr)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: string of length %llu has no data", what,
                             (unsigned long long)v->v.str.len);
    if (v->type != QTK_GGUF_ARRAY) return QTK_OK;
    if (depth >= QTK_GGUF_MAX_DEPTH)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: arrays nested deeper than %d levels", what,
                             QTK_GGUF_MAX_DEPTH);
    if ((unsigned)v->v.arr.elem_type >= QTK_GGUF_VTYPE_COUNT)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: unknown array element type %d", what,
                             (int)v->v.arr.elem_type);
    if (v->v.arr.n > 0 && !v->v.arr.items)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: array of %llu items has no items", what,
                             (unsigned long long)v->v.arr.n);
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        const qtk_gguf_value *it = &v->v.arr.items[i];
        if (it->type != v->v.arr.elem_type)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: array item %llu has type %s, the array holds %s",
                                 what, (unsigned long long)i, qtk_gguf_vtype_name(it->type),
                                 qtk_gguf_vtype_name(v->v.arr.elem_type));
        qtk_status st = qtk_gguf_value_check(it, depth + 1, what, err);
        if (st != QTK_OK) return st;
    }
    return QTK_OK;
}

/* Deep copy of an already checked value; false on allocation failure
 * (dst then holds nothing that needs freeing). */
static bool value_copy(qtk_gguf_value *dst, const qtk_gguf_value *src) {
    *dst = *src;
    if (src->type == QTK_GGUF_FLOAT32) {
        /* stored as f32 in files: round now so a set value equals its read-back */
        dst->v.f64 = (double)qtk_gguf_f32_round(src->v.f64);
    } else if (src->type == QTK_GGUF_STRING) {
        uint64_t len = src->v.str.len;
        if (len >= SIZE_MAX) return false;
        char *p = (char *)malloc((size_t)len + 1);
        if (!p) return false;
        if (len) memcpy(p, src->v.str.ptr, (size_t)len);
        p[len] = '\0';
        dst->v.str.ptr = p;
    } else if (src->type == QTK_GGUF_ARRAY) {
        uint64_t n = src->v.arr.n;
        dst->v.arr.items = NULL;
        if (n == 0) return true;
        if (n > SIZE_MAX / sizeof(qtk_gguf_value)) return false;
        qtk_gguf_value *items = (qtk_gguf_value *)calloc((size_t)n, sizeof *items);
        if (!items) return false;
        for (uint64_t i = 0; i < n; i++) {
            if (!value_copy(&items[i], &src->v.arr.items[i])) {
                for (uint64_t j = 0; j < i; j++) qtk_gguf_value_free(&items[j]);
                free(items);
                return false;
            }
        }
        dst->v.arr.items = items;
    }
    return true;
}

void qtk_meta_clear(qtk_meta *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) {
        free(m->kv[i].key);
        qtk_gguf_value_free(&m->kv[i].value);
    }
    free(m->kv);
    m->kv = NULL;
    m->n = m->cap = 0;
}

int64_t qtk_meta_find(const qtk_meta *m, const char *key) {
    if (!m || !key) return -1;
    for (int64_t i = 0; i < m->n; i++)
        if (strcmp(m->kv[i].key, key) == 0) return i;
    return -1;
}

const qtk_gguf_value *qtk_meta_get(const qtk_meta *m, const char *key) {
    int64_t i = qtk_meta_find(m, key);
    return i < 0 ? NULL : &m->kv[i].value;
}

/* Makes room for one more pair; false on allocation failure. */
static bool meta_reserve(qtk_meta *m, int64_t need) {
    if (need <= m->cap) return true;
    int64_t cap = m->cap ? m->cap : 16;
    while (cap < need) cap *= 2;
    if ((uint64_t)cap > SIZE_MAX / sizeof(qtk_gguf_kv)) return false;
    qtk_gguf_kv *kv = (qtk_gguf_kv *)realloc(m->kv, (size_t)cap * sizeof *kv);
    if (!kv) return false;
    m->kv = kv;
    m->cap = cap;
    return true;
}

qtk_status qtk_meta_append_owned(qtk_meta *m, char *key, const qtk_gguf_value *val) {
    if (!meta_reserve(m, m->n + 1)) return QTK_ERR_NOMEM;
    m->kv[m->n].key = key;
    m->kv[m->n].value = *val;
    m->n++;
    return QTK_OK;
}

qtk_status qtk_meta_set(qtk_meta *m, const char *key, const qtk_gguf_value *val, qtk_error *err) {
    if (!m || !key || !val) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_meta_set: NULL argument");
    char what[160];
    snprintf(what, sizeof what, "key '%.120s'", key);
    qtk_status st = qtk_gguf_value_check(val, 0, what, err);
    if (st != QTK_OK) return st;
    qtk_gguf_value copy;
    if (!value_copy(&copy, val))
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory copying the value", what);
    int64_t i = qtk_meta_find(m, key);
    if (i >= 0) {
        qtk_gguf_value_free(&m->kv[i].value);
        m->kv[i].value = copy;
        return QTK_OK;
    }
    char *k = qtk_strdup(key);
    if (!k || qtk_meta_append_owned(m, k, &copy) != QTK_OK) {
        free(k);
        qtk_gguf_value_free(&copy);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", what);
    }
    return QTK_OK;
}

qtk_status qtk_meta_set_u32(qtk_meta *m, const char *key, uint32_t v, qtk_error *err) {
    qtk_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_UINT32;
    val.v.u64 = v;
    return qtk_meta_set(m, key, &val, err);
}

qtk_status qtk_meta_set_i32(qtk_meta *m, const char *key, int32_t v, qtk_error *err) {
    qtk_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_INT32;
    val.v.i64 = v;
    return qtk_meta_set(m, key, &val, err);
}

qtk_status qtk_meta_set_f32(qtk_meta *m, const char *key, float v, qtk_error *err) {
    qtk_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_FLOAT32;
    val.v.f64 = v;
    return qtk_meta_set(m, key, &val, err);
}

qtk_status qtk_meta_set_bool(qtk_meta *m, const char *key, bool v, qtk_error *err) {
    qtk_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_BOOL;
    val.v.u64 = v ? 1 : 0;
    return qtk_meta_set(m, key, &val, err);
}

qtk_status qtk_meta_set_str(qtk_meta *m, const char *key, const char *s, qtk_error *err) {
    if (!s) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "key '%.120s': NULL string", key ? key : "");
    qtk_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_STRING;
    val.v.str.ptr = (char *)s;  /* only read: qtk_meta_set copies it */
    val.v.str.len = strlen(s);
    return qtk_meta_set(m, key, &val, err);
}

void qtk_meta_remove(qtk_meta *m, const char *key) {
    int64_t i = qtk_meta_find(m, key);
    if (i < 0) return;
    free(m->kv[i].key);
    qtk_gguf_value_free(&m->kv[i].value);
    memmove(&m->kv[i], &m->kv[i + 1], (size_t)(m->n - i - 1) * sizeof m->kv[0]);
    m->n--;
}

qtk_status qtk_meta_copy(qtk_meta *dst, const qtk_meta *src, qtk_error *err) {
    if (!dst || !src) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_meta_copy: NULL argument");
    if (dst->n != 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_meta_copy: destination is not empty");
    /* Built in a temporary list so a failure leaves dst untouched. Source
     * keys are unique already, so plain appends keep this linear. */
    qtk_meta tmp = {NULL, 0, 0};
    if (!meta_reserve(&tmp, src->n)) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory copying metadata");
    for (int64_t i = 0; i < src->n; i++) {
        char what[160];
        snprintf(what, sizeof what, "key '%.120s'", src->kv[i].key);
        qtk_status st = qtk_gguf_value_check(&src->kv[i].value, 0, what, err);
        if (st != QTK_OK) {
            qtk_meta_clear(&tmp);
            return st;
        }
        qtk_gguf_value copy;
        char *k = qtk_strdup(src->kv[i].key);
        if (!k || !value_copy(&copy, &src->kv[i].value)) {
            free(k);
            qtk_meta_clear(&tmp);
            return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory copying metadata", what);
        }
        qtk_meta_append_owned(&tmp, k, &copy);  /* capacity reserved above */
    }
    qtk_meta_clear(dst);
    *dst = tmp;
    return QTK_OK;
}

bool qtk_meta_get_int(const qtk_meta *m, const char *key, int64_t *out) {
    const qtk_gguf_value *v = qtk_meta_get(m, key);
    if (!v) return false;
    switch (v->type) {
    case QTK_GGUF_UINT8:
    case QTK_GGUF_UINT16:
    case QTK_GGUF_UINT32:
    case QTK_GGUF_UINT64:
    case QTK_GGUF_BOOL:
        if (v->v.u64 > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v->v.u64;
        return true;
    case QTK_GGUF_INT8:
    case QTK_GGUF_INT16:
    case QTK_GGUF_INT32:
    case QTK_GGUF_INT64:
        *out = v->v.i64;
        return true;
    default:
        return false;
    }
}

bool qtk_meta_get_float(const qtk_meta *m, const char *key, double *out) {
    const qtk_gguf_value *v = qtk_meta_get(m, key);
    if (!v) return false;
    switch (v->type) {
    case QTK_GGUF_FLOAT32:
    case QTK_GGUF_FLOAT64: *out = v->v.f64; return true;
    case QTK_GGUF_UINT8:
    case QTK_GGUF_UINT16:
    case QTK_GGUF_UINT32:
    case QTK_GGUF_UINT64: *out = (double)v->v.u64; return true;
    case QTK_GGUF_INT8:
    case QTK_GGUF_INT16:
    case QTK_GGUF_INT32:
    case QTK_GGUF_INT64: *out = (double)v->v.i64; return true;
    default: return false;
    }
}

const char *qtk_meta_get_str(const qtk_meta *m, const char *key) {
    const qtk_gguf_value *v = qtk_meta_get(m, key);
    return (v && v->type == QTK_GGUF_STRING) ? v->v.str.ptr : NULL;
}
