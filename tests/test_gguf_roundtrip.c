/*
 * test_gguf_roundtrip.c — metadata of every value type and tensors of
 * several types/shapes go through the streaming writer and come back
 * identical through the reader; a second write of what was read gives a
 * byte-identical file; custom alignment is honoured; no OUT.tmp remains.
 */
#include "testlib.h"

#include <math.h>
#include <stdint.h>

/* ---- value builders (test-owned memory, freed with qtk_gguf_value_free) ---- */

static qtk_gguf_value vu(qtk_gguf_vtype t, uint64_t x) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = t;
    v.v.u64 = x;
    return v;
}

static qtk_gguf_value vi(qtk_gguf_vtype t, int64_t x) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = t;
    v.v.i64 = x;
    return v;
}

static qtk_gguf_value vf(qtk_gguf_vtype t, double x) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = t;
    v.v.f64 = x;
    return v;
}

static qtk_gguf_value vs(const char *s, uint64_t len) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = QTK_GGUF_STRING;
    v.v.str.ptr = (char *)malloc((size_t)len + 1);
    memcpy(v.v.str.ptr, s, (size_t)len);
    v.v.str.ptr[len] = '\0';
    v.v.str.len = len;
    return v;
}

/* Array of n items copied from `items` (ownership of their contents moves). */
static qtk_gguf_value va(qtk_gguf_vtype et, uint64_t n, const qtk_gguf_value *items) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = QTK_GGUF_ARRAY;
    v.v.arr.elem_type = et;
    v.v.arr.n = n;
    if (n) {
        v.v.arr.items = (qtk_gguf_value *)malloc((size_t)n * sizeof *items);
        memcpy(v.v.arr.items, items, (size_t)n * sizeof *items);
    }
    return v;
}

static void set(qtk_meta *m, const char *key, qtk_gguf_value v) {
    qtk_error err;
    qtk_status st = qtk_meta_set(m, key, &v, &err);
    CHECK(st == QTK_OK, "meta_set %s: %s", key, err.msg);
    qtk_gguf_value_free(&v);
}

/* Every value type, extremes, empty and nested containers. */
static void build_meta(qtk_meta *m) {
    qtk_error err;
    CHECK(qtk_meta_set_str(m, "general.architecture", "llama", &err) == QTK_OK, "%s", err.msg);
    set(m, "t.u8", vu(QTK_GGUF_UINT8, 255));
    set(m, "t.i8", vi(QTK_GGUF_INT8, -128));
    set(m, "t.u16", vu(QTK_GGUF_UINT16, 65535));
    set(m, "t.i16", vi(QTK_GGUF_INT16, -32768));
    set(m, "t.u32", vu(QTK_GGUF_UINT32, UINT32_MAX));
    set(m, "t.i32", vi(QTK_GGUF_INT32, INT32_MIN));
    set(m, "t.f32", vf(QTK_GGUF_FLOAT32, 3.25));
    set(m, "t.f32.negzero", vf(QTK_GGUF_FLOAT32, -0.0));
    set(m, "t.f32.tiny", vf(QTK_GGUF_FLOAT32, (double)1.4e-45f));
    set(m, "t.bool.true", vu(QTK_GGUF_BOOL, 1));
    set(m, "t.bool.false", vu(QTK_GGUF_BOOL, 0));
    set(m, "t.str", vs("hello, gguf", 11));
    set(m, "t.str.empty", vs("", 0));
    set(m, "t.str.nul", vs("a\0b\0", 4));
    set(m, "t.u64.max", vu(QTK_GGUF_UINT64, UINT64_MAX));
    set(m, "t.u64.zero", vu(QTK_GGUF_UINT64, 0));
    set(m, "t.i64.min", vi(QTK_GGUF_INT64, INT64_MIN));
    set(m, "t.i64.max", vi(QTK_GGUF_INT64, INT64_MAX));
    set(m, "t.f64.negzero", vf(QTK_GGUF_FLOAT64, -0.0));
    set(m, "t.f64.big", vf(QTK_GGUF_FLOAT64, 1e300));
    set(m, "t.f64.denorm", vf(QTK_GGUF_FLOAT64, 4.9e-324));
    {
        qtk_gguf_value it[4] = {vs("x", 1), vs("", 0), vs("y\0z", 3), vs("token with spaces", 17)};
        set(m, "t.arr.str", va(QTK_GGUF_STRING, 4, it));
    }
    {
        qtk_gguf_value it[3] = {vu(QTK_GGUF_UINT8, 0), vu(QTK_GGUF_UINT8, 7), vu(QTK_GGUF_UINT8, 255)};
        set(m, "t.arr.u8", va(QTK_GGUF_UINT8, 3, it));
    }
    {
        qtk_gguf_value it[2] = {vi(QTK_GGUF_INT16, -5), vi(QTK_GGUF_INT16, 32767)};
        set(m, "t.arr.i16", va(QTK_GGUF_INT16, 2, it));
    }
    {
        qtk_gguf_value it[3] = {vf(QTK_GGUF_FLOAT32, -0.0), vf(QTK_GGUF_FLOAT32, 1.5), vf(QTK_GGUF_FLOAT32, -1e30)};
        set(m, "t.arr.f32", va(QTK_GGUF_FLOAT32, 3, it));
    }
    {
        qtk_gguf_value it[3] = {vu(QTK_GGUF_BOOL, 1), vu(QTK_GGUF_BOOL, 0), vu(QTK_GGUF_BOOL, 1)};
        set(m, "t.arr.bool", va(QTK_GGUF_BOOL, 3, it));
    }
    {
        qtk_gguf_value it[2] = {vu(QTK_GGUF_UINT64, UINT64_MAX), vu(QTK_GGUF_UINT64, 1)};
        set(m, "t.arr.u64", va(QTK_GGUF_UINT64, 2, it));
    }
    {
        qtk_gguf_value it[2] = {vi(QTK_GGUF_INT64, INT64_MIN), vi(QTK_GGUF_INT64, -1)};
        set(m, "t.arr.i64", va(QTK_GGUF_INT64, 2, it));
    }
    {
        qtk_gguf_value it[2] = {vf(QTK_GGUF_FLOAT64, -0.0), vf(QTK_GGUF_FLOAT64, 2.5e-310)};
        set(m, "t.arr.f64", va(QTK_GGUF_FLOAT64, 2, it));
    }
    {
        qtk_gguf_value it[2] = {vi(QTK_GGUF_INT8, 127), vi(QTK_GGUF_INT8, -1)};
        set(m, "t.arr.i8", va(QTK_GGUF_INT8, 2, it));
    }
    {
        qtk_gguf_value it[2] = {vu(QTK_GGUF_UINT16, 1), vu(QTK_GGUF_UINT16, 65535)};
        set(m, "t.arr.u16", va(QTK_GGUF_UINT16, 2, it));
        qtk_gguf_value jt[2] = {vi(QTK_GGUF_INT32, INT32_MAX), vi(QTK_GGUF_INT32, INT32_MIN)};
        set(m, "t.arr.i32", va(QTK_GGUF_INT32, 2, jt));
        qtk_gguf_value kt[1] = {vu(QTK_GGUF_UINT32, 4000000000u)};
        set(m, "t.arr.u32", va(QTK_GGUF_UINT32, 1, kt));
    }
    set(m, "t.arr.empty", va(QTK_GGUF_UINT32, 0, NULL));
    set(m, "t.arr.empty_of_arrays", va(QTK_GGUF_ARRAY, 0, NULL));
    {
        /* [[1, 2], [], [3]] of i32 */
        qtk_gguf_value a0[2] = {vi(QTK_GGUF_INT32, 1), vi(QTK_GGUF_INT32, 2)};
        qtk_gguf_value a2[1] = {vi(QTK_GGUF_INT32, 3)};
        qtk_gguf_value outer[3] = {va(QTK_GGUF_INT32, 2, a0), va(QTK_GGUF_INT32, 0, NULL), va(QTK_GGUF_INT32, 1, a2)};
        set(m, "t.arr.nested", va(QTK_GGUF_ARRAY, 3, outer));
    }
    {
        /* [[["p", "q"]], [[]]] of strings, three levels */
        qtk_gguf_value s2[2] = {vs("p", 1), vs("q\0", 2)};
        qtk_gguf_value l1a[1] = {va(QTK_GGUF_STRING, 2, s2)};
        qtk_gguf_value l1b[1] = {va(QTK_GGUF_STRING, 0, NULL)};
        qtk_gguf_value outer[2] = {va(QTK_GGUF_ARRAY, 1, l1a), va(QTK_GGUF_ARRAY, 1, l1b)};
        set(m, "t.arr.nested3", va(QTK_GGUF_ARRAY, 2, outer));
    }
}

/* ---- deep comparison --------------------------------------------------------- */

static int value_eq(const qtk_gguf_value *a, const qtk_gguf_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case QTK_GGUF_STRING:
        return a->v.str.len == b->v.str.len && memcmp(a->v.str.ptr, b->v.str.ptr, (size_t)a->v.str.len) == 0 &&
               a->v.str.ptr[a->v.str.len] == '\0' && b->v.str.ptr[b->v.str.len] == '\0';
    case QTK_GGUF_ARRAY:
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n) return 0;
        for (uint64_t i = 0; i < a->v.arr.n; i++)
            if (!value_eq(&a->v.arr.items[i], &b->v.arr.items[i])) return 0;
        return 1;
    case QTK_GGUF_FLOAT32:
    case QTK_GGUF_FLOAT64: return memcmp(&a->v.f64, &b->v.f64, sizeof(double)) == 0;  /* keeps -0.0 */
    case QTK_GGUF_INT8:
    case QTK_GGUF_INT16:
    case QTK_GGUF_INT32:
    case QTK_GGUF_INT64: return a->v.i64 == b->v.i64;
    default: return a->v.u64 == b->v.u64;
    }
}

static void check_meta_equal(const qtk_meta *a, const qtk_meta *b, const char *ctx) {
    CHECK(a->n == b->n, "%s: %lld vs %lld keys", ctx, (long long)a->n, (long long)b->n);
    for (int64_t i = 0; i < a->n && i < b->n; i++) {
        CHECK(strcmp(a->kv[i].key, b->kv[i].key) == 0, "%s: key %lld: '%s' vs '%s'", ctx, (long long)i,
              a->kv[i].key, b->kv[i].key);
        CHECK(value_eq(&a->kv[i].value, &b->kv[i].value), "%s: value of '%s' differs", ctx, a->kv[i].key);
    }
}

/* ---- tensors ---------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    qtk_type type;
    int n_dims;
    int64_t ne[4];
} spec;

static const spec specs[] = {
    {"vec.f32", QTK_TYPE_F32, 1, {7, 1, 1, 1}},
    {"mat.f16", QTK_TYPE_F16, 2, {5, 3, 1, 1}},
    {"cube.q8_0", QTK_TYPE_Q8_0, 3, {64, 3, 2, 1}},
    {"mat.q4_0", QTK_TYPE_Q4_0, 2, {32, 5, 1, 1}},
    {"mat.iq4_ks", QTK_TYPE_IQ4_KS, 2, {256, 3, 1, 1}},
    {"t4.bf16", QTK_TYPE_BF16, 4, {3, 2, 2, 2}},
    {"one.f32", QTK_TYPE_F32, 1, {1, 1, 1, 1}},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

static size_t spec_bytes(const spec *s) {
    return qtk_row_size(s->type, s->ne[0]) * (size_t)(s->ne[1] * s->ne[2] * s->ne[3]);
}

/* Writes meta + all specs to path with data streamed in odd chunk sizes. */
static int write_file(const char *path, const qtk_meta *meta, const unsigned char *data, size_t total) {
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) {
        CHECK(0, "writer_open: %s", err.msg);
        return -1;
    }
    CHECK(qtk_meta_copy(qtk_gguf_writer_meta(w), meta, &err) == QTK_OK, "meta_copy: %s", err.msg);
    for (int i = 0; i < N_SPECS; i++)
        CHECK(qtk_gguf_writer_add_tensor(w, specs[i].name, specs[i].type, specs[i].n_dims, specs[i].ne, &err) == QTK_OK,
              "add_tensor %s: %s", specs[i].name, err.msg);
    static const size_t chunks[] = {1, 3, 7, 13, 101, 5, 333, 2, 64, 17};
    size_t pos = 0;
    int ci = 0;
    while (pos < total) {
        size_t k = chunks[ci++ % 10];
        if (k > total - pos) k = total - pos;
        if (qtk_gguf_writer_write(w, data + pos, k, &err) != QTK_OK) {
            CHECK(0, "writer_write: %s", err.msg);
            return -1;
        }
        pos += k;
    }
    CHECK(tl_temp_files(path) == 1, "%s.tmp.XXXXXX should exist while writing", path);
    qtk_status st = qtk_gguf_writer_finish(w, &err);
    CHECK(st == QTK_OK, "finish: %s", err.msg);
    CHECK(tl_temp_files(path) == 0, "%s.tmp.* left behind after finish", path);
    return st == QTK_OK ? 0 : -1;
}

static void check_file(const char *path, const qtk_meta *meta, const unsigned char *data, uint64_t align) {
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_status st = qtk_gguf_open(path, &g, &err);
    CHECK(st == QTK_OK, "open %s: %s", path, err.msg);
    if (st != QTK_OK) return;
    CHECK(qtk_gguf_version(g) == 3, "version %u", qtk_gguf_version(g));
    CHECK(qtk_gguf_alignment(g) == align, "alignment %llu, want %llu", (unsigned long long)qtk_gguf_alignment(g),
          (unsigned long long)align);
    CHECK(qtk_gguf_data_offset(g) % align == 0, "data offset %llu", (unsigned long long)qtk_gguf_data_offset(g));
    CHECK(strcmp(qtk_gguf_path(g), path) == 0, "path");
    check_meta_equal(meta, qtk_gguf_meta(g), path);
    CHECK(qtk_gguf_n_tensors(g) == N_SPECS, "%lld tensors", (long long)qtk_gguf_n_tensors(g));
    uint64_t expect_off = 0;
    size_t dpos = 0;
    for (int i = 0; i < N_SPECS && i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        const spec *s = &specs[i];
        size_t nb = spec_bytes(s);
        CHECK(strcmp(t->name, s->name) == 0, "tensor %d name %s", i, t->name);
        CHECK(qtk_gguf_find_tensor(g, s->name) == i, "find %s", s->name);
        CHECK(t->type == s->type, "%s type %d", s->name, (int)t->type);
        CHECK(t->n_dims == s->n_dims, "%s n_dims %d", s->name, t->n_dims);
        for (int d = 0; d < 4; d++) CHECK(t->ne[d] == s->ne[d], "%s ne[%d] = %lld", s->name, d, (long long)t->ne[d]);
        CHECK(t->nbytes == nb, "%s nbytes %llu want %zu", s->name, (unsigned long long)t->nbytes, nb);
        CHECK(t->offset == expect_off, "%s offset %llu want %llu", s->name, (unsigned long long)t->offset,
              (unsigned long long)expect_off);
        CHECK(t->offset % align == 0, "%s offset misaligned", s->name);
        CHECK(qtk_tensor_nelements(t) == s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3], "%s nelements", s->name);
        CHECK(qtk_tensor_nrows(t) == s->ne[1] * s->ne[2] * s->ne[3], "%s nrows", s->name);
        CHECK(memcmp(t->data, data + dpos, nb) == 0, "%s data differs", s->name);
        CHECK((const unsigned char *)t->data ==
                  (const unsigned char *)qtk_gguf_tensor(g, 0)->data + t->offset,
              "%s data pointer", s->name);
        dpos += nb;
        expect_off += (nb + align - 1) / align * align;
    }
    CHECK(qtk_gguf_find_tensor(g, "nope") == -1, "find missing");
    CHECK(qtk_gguf_tensor(g, N_SPECS) == NULL && qtk_gguf_tensor(g, -1) == NULL, "tensor out of range");
    /* trailing padding after the last tensor, nothing else */
    CHECK(qtk_gguf_file_size(g) == qtk_gguf_data_offset(g) + expect_off, "file size %llu want %llu",
          (unsigned long long)qtk_gguf_file_size(g), (unsigned long long)(qtk_gguf_data_offset(g) + expect_off));
    size_t fsz = 0;
    unsigned char *bytes = tl_read_file(path, &fsz);
    CHECK(bytes && fsz == qtk_gguf_file_size(g), "on-disk size %zu", fsz);
    /* padding bytes are zero */
    if (bytes && fsz == qtk_gguf_file_size(g)) {
        uint64_t zero_ok = 1, base = qtk_gguf_data_offset(g);
        for (int i = 0; i < N_SPECS; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            uint64_t end = (i + 1 < N_SPECS) ? qtk_gguf_tensor(g, i + 1)->offset : expect_off;
            for (uint64_t o = t->offset + t->nbytes; o < end; o++)
                if (bytes[base + o] != 0) zero_ok = 0;
        }
        CHECK(zero_ok, "padding bytes not zero");
    }
    free(bytes);
    qtk_gguf_close(g);
}

/* Reads path and re-writes it tensor by tensor to path2; both must match. */
static void rewrite_identical(const char *path, const char *path2) {
    qtk_error err;
    qtk_gguf *g = NULL;
    if (qtk_gguf_open(path, &g, &err) != QTK_OK) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    qtk_gguf_writer *w = NULL;
    CHECK(qtk_gguf_writer_open(path2, &w, &err) == QTK_OK, "open2: %s", err.msg);
    if (!w) {
        qtk_gguf_close(g);
        return;
    }
    CHECK(qtk_meta_copy(qtk_gguf_writer_meta(w), qtk_gguf_meta(g), &err) == QTK_OK, "copy: %s", err.msg);
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        CHECK(qtk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err) == QTK_OK, "add: %s", err.msg);
    }
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        CHECK(qtk_gguf_writer_write(w, t->data, (size_t)t->nbytes, &err) == QTK_OK, "write: %s", err.msg);
    }
    CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "finish: %s", err.msg);
    qtk_gguf_close(g);
    size_t n1 = 0, n2 = 0;
    unsigned char *a = tl_read_file(path, &n1), *b = tl_read_file(path2, &n2);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "rewrite not byte-identical (%zu vs %zu bytes)", n1, n2);
    free(a);
    free(b);
}

/* The metadata helpers beyond set/copy. */
static void test_meta_api(void) {
    qtk_meta m = {NULL, 0, 0};
    qtk_error err;
    CHECK(qtk_meta_set_u32(&m, "a", 7, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_meta_set_i32(&m, "b", -9, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_meta_set_f32(&m, "c", 0.5f, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_meta_set_bool(&m, "d", true, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_meta_set_str(&m, "e", "txt", &err) == QTK_OK, "%s", err.msg);
    int64_t iv = 0;
    double fv = 0;
    CHECK(qtk_meta_get_int(&m, "a", &iv) && iv == 7, "get_int a");
    CHECK(qtk_meta_get_int(&m, "b", &iv) && iv == -9, "get_int b");
    CHECK(qtk_meta_get_int(&m, "d", &iv) && iv == 1, "get_int bool");
    CHECK(!qtk_meta_get_int(&m, "c", &iv), "get_int float must fail");
    CHECK(!qtk_meta_get_int(&m, "zz", &iv), "get_int missing");
    CHECK(qtk_meta_get_float(&m, "c", &fv) && fv == 0.5, "get_float c");
    CHECK(qtk_meta_get_float(&m, "b", &fv) && fv == -9.0, "get_float int");
    CHECK(!qtk_meta_get_float(&m, "e", &fv), "get_float str must fail");
    CHECK(qtk_meta_get_str(&m, "e") && strcmp(qtk_meta_get_str(&m, "e"), "txt") == 0, "get_str");
    CHECK(qtk_meta_get_str(&m, "a") == NULL, "get_str of u32");
    CHECK(qtk_meta_set_u32(&m, "a", 8, &err) == QTK_OK && m.n == 5, "replace keeps count");
    CHECK(qtk_meta_find(&m, "a") == 0 && qtk_meta_get_int(&m, "a", &iv) && iv == 8, "replace in place");
    qtk_meta_remove(&m, "b");
    CHECK(m.n == 4 && qtk_meta_find(&m, "b") == -1 && qtk_meta_find(&m, "c") == 1, "remove keeps order");
    qtk_meta_remove(&m, "not-there");
    CHECK(m.n == 4, "remove missing");
    /* invalid values are refused and leave the list as it was */
    qtk_gguf_value bad = vu(QTK_GGUF_BOOL, 2);
    CHECK(qtk_meta_set(&m, "bad", &bad, &err) != QTK_OK && strstr(err.msg, "bad"), "bool 2 accepted: %s", err.msg);
    bad = vu(QTK_GGUF_UINT8, 256);
    CHECK(qtk_meta_set(&m, "bad", &bad, &err) != QTK_OK, "u8 256 accepted");
    bad = vi(QTK_GGUF_INT16, 40000);
    CHECK(qtk_meta_set(&m, "bad", &bad, &err) != QTK_OK, "i16 40000 accepted");
    qtk_gguf_value mixed[2] = {vu(QTK_GGUF_UINT8, 1), vu(QTK_GGUF_UINT16, 1)};
    bad = va(QTK_GGUF_UINT8, 2, mixed);
    CHECK(qtk_meta_set(&m, "bad", &bad, &err) != QTK_OK, "mixed array accepted");
    qtk_gguf_value_free(&bad);
    CHECK(m.n == 4 && qtk_meta_find(&m, "bad") == -1, "failed set changed the list");
    qtk_meta cp = {NULL, 0, 0};
    CHECK(qtk_meta_copy(&cp, &m, &err) == QTK_OK, "copy: %s", err.msg);
    check_meta_equal(&m, &cp, "copy");
    CHECK(qtk_meta_copy(&cp, &m, &err) != QTK_OK, "copy into non-empty list must fail");
    CHECK(strcmp(qtk_gguf_vtype_name(QTK_GGUF_ARRAY), "arr") == 0 &&
              strcmp(qtk_gguf_vtype_name(QTK_GGUF_UINT32), "u32") == 0,
          "vtype names");
    qtk_meta_clear(&cp);
    qtk_meta_clear(&m);
    CHECK(m.n == 0 && m.kv == NULL, "clear");
}

int main(void) {
    test_meta_api();

    qtk_meta meta = {NULL, 0, 0};
    build_meta(&meta);

    size_t total = 0;
    for (int i = 0; i < N_SPECS; i++) total += spec_bytes(&specs[i]);
    unsigned char *data = (unsigned char *)malloc(total);
    tl_rng rng;
    tl_rng_seed(&rng, 1234);
    for (size_t i = 0; i < total; i++) data[i] = (unsigned char)(tl_rng_u64(&rng) >> 56);

    char *p1 = tl_tmp_path("gguf_roundtrip_a.gguf");
    char *p2 = tl_tmp_path("gguf_roundtrip_b.gguf");
    char *p3 = tl_tmp_path("gguf_roundtrip_c.gguf");
    char *p4 = tl_tmp_path("gguf_roundtrip_d.gguf");

    /* default alignment */
    if (write_file(p1, &meta, data, total) == 0) {
        check_file(p1, &meta, data, 32);
        rewrite_identical(p1, p2);
    }
    /* custom alignment 64 */
    qtk_error err;
    CHECK(qtk_meta_set_u32(&meta, "general.alignment", 64, &err) == QTK_OK, "%s", err.msg);
    if (write_file(p3, &meta, data, total) == 0) {
        check_file(p3, &meta, data, 64);
        rewrite_identical(p3, p4);
    }
    /* writing over an existing file replaces it */
    CHECK(qtk_meta_set_u32(&meta, "general.alignment", 128, &err) == QTK_OK, "%s", err.msg);
    if (write_file(p3, &meta, data, total) == 0) check_file(p3, &meta, data, 128);

    /* a file with no tensors and no metadata */
    qtk_gguf_writer *w = NULL;
    CHECK(qtk_gguf_writer_open(p4, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "%s", err.msg);
    qtk_gguf *g = NULL;
    CHECK(qtk_gguf_open(p4, &g, &err) == QTK_OK, "empty: %s", err.msg);
    if (g) {
        CHECK(qtk_gguf_n_tensors(g) == 0 && qtk_gguf_meta(g)->n == 0, "empty file contents");
        CHECK(qtk_gguf_file_size(g) == 32, "empty file size %llu", (unsigned long long)qtk_gguf_file_size(g));
        qtk_gguf_close(g);
    }

    qtk_meta_clear(&meta);
    free(data);
    remove(p1);
    remove(p2);
    remove(p3);
    remove(p4);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
    return tl_finish("test_gguf_roundtrip");
}
