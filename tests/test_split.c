/*
 * test_split.c — split GGUF models (llama.cpp gguf-split layout): a model
 * split by the test into PREFIX-0000k-of-00003.gguf parts with the library
 * writer must read as the one unsplit model everywhere a model is read
 * (reader, model loader + forward pass, inspect, compare, dequantize,
 * quantize); quantize --keep-split must write one output part per input part
 * with gguf-split's split.* keys that reads back as the same model; broken
 * splits (a part missing, from another model, opened at part 2, misnamed)
 * fail with a message naming the file, and a failed --keep-split run leaves
 * no part behind.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testlib.h"

#include <math.h>
#ifdef _WIN32
#include <direct.h>
#define tl_mkdir(p) _mkdir(p)
#define tl_rmdir(p) _rmdir(p)
#else
#include <sys/stat.h>
#include <unistd.h>
#define tl_mkdir(p) mkdir(p, 0755)
#define tl_rmdir(p) rmdir(p)
#endif

#define NPARTS 3

/* ---- helpers ------------------------------------------------------------------ */

static bool value_equal(const qtk_gguf_value *a, const qtk_gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case QTK_GGUF_STRING:
        return a->v.str.len == b->v.str.len && memcmp(a->v.str.ptr, b->v.str.ptr, (size_t)a->v.str.len) == 0;
    case QTK_GGUF_ARRAY:
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n) return false;
        for (uint64_t i = 0; i < a->v.arr.n; i++)
            if (!value_equal(&a->v.arr.items[i], &b->v.arr.items[i])) return false;
        return true;
    case QTK_GGUF_FLOAT32:
    case QTK_GGUF_FLOAT64: return memcmp(&a->v.f64, &b->v.f64, sizeof a->v.f64) == 0;
    default: return a->v.u64 == b->v.u64;
    }
}

/* Same keys in the same order with equal values. */
static bool meta_equal(const qtk_meta *a, const qtk_meta *b, char *why, size_t n) {
    if (a->n != b->n) {
        snprintf(why, n, "%lld vs %lld keys", (long long)a->n, (long long)b->n);
        return false;
    }
    for (int64_t i = 0; i < a->n; i++)
        if (strcmp(a->kv[i].key, b->kv[i].key) != 0 || !value_equal(&a->kv[i].value, &b->kv[i].value)) {
            snprintf(why, n, "key #%lld: '%s' vs '%s'", (long long)i, a->kv[i].key, b->kv[i].key);
            return false;
        }
    return true;
}

/* Same tensors (name, type, shape, bytes, data) in the same order. */
static bool tensors_equal(const qtk_gguf *a, const qtk_gguf *b, char *why, size_t n) {
    if (qtk_gguf_n_tensors(a) != qtk_gguf_n_tensors(b)) {
        snprintf(why, n, "%lld vs %lld tensors", (long long)qtk_gguf_n_tensors(a), (long long)qtk_gguf_n_tensors(b));
        return false;
    }
    for (int64_t i = 0; i < qtk_gguf_n_tensors(a); i++) {
        const qtk_tensor_info *x = qtk_gguf_tensor(a, i), *y = qtk_gguf_tensor(b, i);
        if (strcmp(x->name, y->name) != 0 || x->type != y->type || x->n_dims != y->n_dims ||
            memcmp(x->ne, y->ne, sizeof x->ne) != 0 || x->nbytes != y->nbytes ||
            memcmp(x->data, y->data, (size_t)x->nbytes) != 0) {
            snprintf(why, n, "tensor #%lld '%s' vs '%s' differs", (long long)i, x->name, y->name);
            return false;
        }
    }
    return true;
}

static void set_u16(qtk_meta *m, const char *key, int v) {
    qtk_gguf_value val;
    qtk_error err;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_UINT16;
    val.v.u64 = (uint64_t)v;
    qtk_meta_set(m, key, &val, &err);
}

/* Writes `src` as gguf-split does: part k holds tensors [bounds[k], bounds[k+1]);
 * part 0 the metadata; every part split.no/count/tensors.count. `tensors_count`
 * < 0: the true count. `dup`: part 1 also holds tensor 0 (a broken split).
 * Returns 0 on success. */
static int write_split(const char *src, const char *prefix, int nparts, const int64_t *bounds, int64_t tensors_count,
                       bool dup) {
    qtk_error err;
    qtk_gguf *g = NULL;
    if (qtk_gguf_open(src, &g, &err) != QTK_OK) {
        fprintf(stderr, "write_split: %s\n", err.msg);
        return -1;
    }
    if (tensors_count < 0) tensors_count = qtk_gguf_n_tensors(g);
    int rc = 0;
    for (int k = 0; k < nparts && rc == 0; k++) {
        char path[1024];
        qtk_split_path(path, sizeof path, prefix, k, nparts);
        qtk_gguf_writer *w = NULL;
        if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) {
            rc = -1;
            break;
        }
        qtk_meta *m = qtk_gguf_writer_meta(w);
        if (k == 0) qtk_meta_copy(m, qtk_gguf_meta(g), &err);
        set_u16(m, QTK_KV_SPLIT_NO, k);
        set_u16(m, QTK_KV_SPLIT_COUNT, nparts);
        qtk_meta_set_i32(m, QTK_KV_SPLIT_TENSORS_COUNT, (int32_t)tensors_count, &err);
        int64_t b0 = bounds[k], b1 = bounds[k + 1];
        bool extra = dup && k == 1;
        if (extra) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, 0);
            if (qtk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err) != QTK_OK) rc = -1;
        }
        for (int64_t i = b0; i < b1 && rc == 0; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            if (qtk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err) != QTK_OK) rc = -1;
        }
        if (extra && rc == 0) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, 0);
            if (qtk_gguf_writer_write(w, t->data, (size_t)t->nbytes, &err) != QTK_OK) rc = -1;
        }
        for (int64_t i = b0; i < b1 && rc == 0; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            if (qtk_gguf_writer_write(w, t->data, (size_t)t->nbytes, &err) != QTK_OK) rc = -1;
        }
        if (rc == 0 && qtk_gguf_writer_finish(w, &err) != QTK_OK) rc = -1;
        if (rc != 0) fprintf(stderr, "write_split %s: %s\n", path, err.msg);
    }
    qtk_gguf_close(g);
    return rc;
}

static void remove_split(const char *prefix, int nparts) {
    for (int k = 0; k < nparts; k++) {
        char path[1024];
        qtk_split_path(path, sizeof path, prefix, k, nparts);
        remove(path);
    }
}

static char *part_path(const char *prefix, int k, int n) {
    char *p = (char *)malloc(strlen(prefix) + 32);
    qtk_split_path(p, strlen(prefix) + 32, prefix, k, n);
    return p;
}

/* Quantizes `in` (any path qtk_gguf_open takes) with a preset through the library. */
static qtk_status quantize_lib(const char *in, const char *out, const char *preset, bool keep_split, qtk_error *err) {
    qtk_gguf *g = NULL;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    qtk_status s = qtk_gguf_open(in, &g, err);
    if (s == QTK_OK) s = qtk_recipe_from_preset(preset, NULL, &r, err);
    if (s == QTK_OK) s = qtk_plan_make(g, r, NULL, false, &p, err);
    if (s == QTK_OK) {
        qtk_quantize_params qp;
        qtk_quantize_params_init(&qp);
        qp.nthreads = 2;
        qp.recipe = r;
        qp.keep_split = keep_split;
        s = qtk_quantize_model(g, p, out, &qp, err);
    }
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_gguf_close(g);
    return s;
}

/* Whether any file whose name starts with `stem` is in the test temp dir
 * (a leftover temp file or part). Checks the names we know instead of
 * listing the directory (portable): OUT-0000k-of-0000n.gguf and *.tmp. */
static bool any_part_exists(const char *prefix, int n) {
    for (int k = 0; k < n; k++) {
        char *p = part_path(prefix, k, n);
        bool e = tl_file_exists(p);
        free(p);
        if (e) return true;
    }
    return false;
}

/* ---- the tests -------------------------------------------------------------------- */

/* Part names as llama_split_path / llama_split_prefix / llama-quantize make them. */
static void test_names(void) {
    char b[64];
    CHECK(qtk_split_path(b, sizeof b, "d/m", 1, 3) == 23 && !strcmp(b, "d/m-00002-of-00003.gguf"), "split_path: %s", b);
    CHECK(qtk_split_path(b, 23, "d/m", 1, 3) == -1, "split_path must not truncate");
    CHECK(qtk_split_path(b, sizeof b, "m", 3, 3) == -1 && qtk_split_path(b, sizeof b, "m", 0, 0) == -1 &&
              qtk_split_path(b, sizeof b, "m", -1, 3) == -1,
          "split_path: invalid numbers");
    CHECK(qtk_split_prefix(b, sizeof b, "d/m-00002-of-00003.gguf", 1, 3) == 3 && !strcmp(b, "d/m"), "prefix: %s", b);
    CHECK(qtk_split_prefix(b, sizeof b, "d/m-00002-of-00003.gguf", 0, 3) == -1 &&
              qtk_split_prefix(b, sizeof b, "d/m-00002-of-00003.gguf", 1, 4) == -1 &&
              qtk_split_prefix(b, sizeof b, "d/m-00002-of-00003.gguf.bak", 1, 3) == -1,
          "prefix of another part / count / suffix");
    CHECK(qtk_split_prefix(b, 3, "d/m-00002-of-00003.gguf", 1, 3) == -1, "prefix must not truncate");
    CHECK(qtk_split_out_path(b, sizeof b, "q.gguf", 0, 2) > 0 && !strcmp(b, "q-00001-of-00002.gguf"), "out: %s", b);
    CHECK(qtk_split_out_path(b, sizeof b, "q.bin", 1, 2) > 0 && !strcmp(b, "q.bin-00002-of-00002.gguf"), "out: %s", b);
    CHECK(qtk_split_out_path(b, sizeof b, "q", 0, 1) > 0 && !strcmp(b, "q-00001-of-00001.gguf"), "out: %s", b);
}

static int64_t g_bounds[NPARTS + 1];

/* Reader: the split model equals the unsplit one; layout accessors; raw parts. */
static void test_read(const char *whole, const char *prefix) {
    qtk_error err;
    qtk_gguf *a = NULL, *b = NULL;
    char *p1 = part_path(prefix, 0, NPARTS), *p2 = part_path(prefix, 1, NPARTS), *p3 = part_path(prefix, 2, NPARTS);
    CHECK(qtk_gguf_open(whole, &a, &err) == QTK_OK, "open whole: %s", err.msg);
    CHECK(qtk_gguf_open(p1, &b, &err) == QTK_OK, "open split: %s", err.msg);
    if (a && b) {
        char why[256] = "";
        CHECK(tensors_equal(a, b, why, sizeof why), "split vs whole tensors: %s", why);
        CHECK(meta_equal(qtk_gguf_meta(a), qtk_gguf_meta(b), why, sizeof why), "split vs whole metadata: %s", why);
        CHECK(qtk_meta_get(qtk_gguf_meta(b), QTK_KV_SPLIT_COUNT) == NULL && qtk_meta_get(qtk_gguf_meta(b), QTK_KV_SPLIT_NO) == NULL &&
                  qtk_meta_get(qtk_gguf_meta(b), QTK_KV_SPLIT_TENSORS_COUNT) == NULL,
              "split.* keys must not be model metadata");
        CHECK(qtk_gguf_n_parts(a) == 1 && qtk_gguf_n_parts(b) == NPARTS, "parts %d / %d", qtk_gguf_n_parts(a),
              qtk_gguf_n_parts(b));
        uint64_t sum = 0;
        for (int k = 0; k < NPARTS; k++) {
            char *pk = part_path(prefix, k, NPARTS);
            size_t sz = 0;
            unsigned char *d = tl_read_file(pk, &sz);
            free(d);
            CHECK(qtk_gguf_part_path(b, k) && !strcmp(qtk_gguf_part_path(b, k), pk), "part %d path %s", k,
                  qtk_gguf_part_path(b, k) ? qtk_gguf_part_path(b, k) : "(null)");
            CHECK(qtk_gguf_part_size(b, k) == sz, "part %d size %llu vs %zu", k,
                  (unsigned long long)qtk_gguf_part_size(b, k), sz);
            sum += sz;
            free(pk);
        }
        CHECK(qtk_gguf_part_path(b, NPARTS) == NULL && qtk_gguf_tensor_part(b, qtk_gguf_n_tensors(b)) == -1,
              "out-of-range part / tensor");
        CHECK(qtk_gguf_file_size(b) == sum, "file size %llu = sum of parts %llu",
              (unsigned long long)qtk_gguf_file_size(b), (unsigned long long)sum);
        int bad = 0;
        for (int64_t i = 0; i < qtk_gguf_n_tensors(b); i++) {
            int want = i < g_bounds[1] ? 0 : i < g_bounds[2] ? 1 : 2;
            if (qtk_gguf_tensor_part(b, i) != want || qtk_gguf_tensor_part(a, i) != 0) bad++;
        }
        CHECK(bad == 0, "%d tensors in the wrong part", bad);
    }
    qtk_gguf_close(a);
    qtk_gguf_close(b);

    /* a part opened as one file: its own tensors and the split.* keys */
    qtk_gguf *r = NULL;
    CHECK(qtk_gguf_open_part(p2, &r, &err) == QTK_OK, "open_part: %s", err.msg);
    if (r) {
        int64_t v = -1;
        CHECK(qtk_gguf_n_tensors(r) == g_bounds[2] - g_bounds[1], "part 2 alone: %lld tensors",
              (long long)qtk_gguf_n_tensors(r));
        CHECK(qtk_meta_get_int(qtk_gguf_meta(r), QTK_KV_SPLIT_NO, &v) && v == 1, "part 2 split.no %lld", (long long)v);
        CHECK(qtk_gguf_n_parts(r) == 1, "a part alone is one file");
        qtk_gguf_close(r);
    }
    /* opening part 2 or 3 as a model names the first part */
    qtk_gguf *x = NULL;
    CHECK(qtk_gguf_open(p2, &x, &err) != QTK_OK && x == NULL, "opening part 2 must fail");
    CHECK(strstr(err.msg, "part 2 of 3") && strstr(err.msg, p1), "message: %s", err.msg);
    CHECK(qtk_gguf_open(p3, &x, &err) != QTK_OK && strstr(err.msg, "part 3 of 3") && strstr(err.msg, p1),
          "part 3: %s", err.msg);
    free(p1);
    free(p2);
    free(p3);
}

/* Closes a handle a broken split should not have produced (keeps one
 * failure from cascading into the next case). */
static void drop(qtk_gguf **x) {
    qtk_gguf_close(*x);
    *x = NULL;
}

/* Broken splits: each fails naming the file and the reason. */
static void test_errors(const char *whole, const char *prefix) {
    qtk_error err;
    qtk_gguf *x = NULL;
    char *p1 = part_path(prefix, 0, NPARTS), *p2 = part_path(prefix, 1, NPARTS), *p3 = part_path(prefix, 2, NPARTS);
    char *keep = tl_tmp_path("test_split_keep.gguf");

    /* part 3 missing */
    CHECK(rename(p3, keep) == 0, "rename");
    CHECK(qtk_gguf_open(p1, &x, &err) != QTK_OK && x == NULL, "missing part must fail");
    drop(&x);
    CHECK(strstr(err.msg, p3) && strstr(err.msg, "part 3 of 3"), "missing part message: %s", err.msg);
    CHECK(rename(keep, p3) == 0, "rename back");

    /* part 3 copied over part 2: wrong split.no */
    size_t n2 = 0, n3 = 0;
    unsigned char *d2 = tl_read_file(p2, &n2), *d3 = tl_read_file(p3, &n3);
    CHECK(d2 && d3, "read parts");
    if (d2 && d3) {
        tl_write_file(p2, d3, n3);
        CHECK(qtk_gguf_open(p1, &x, &err) != QTK_OK, "swapped part must fail");
        drop(&x);
        CHECK(strstr(err.msg, p2) && strstr(err.msg, "split.no is 2"), "swapped part message: %s", err.msg);
        tl_write_file(p2, d2, n2);
    }
    free(d2);
    free(d3);

    /* part 2 of another model (another split of a smaller model) */
    {
        char *other = tl_tmp_path("test_split_other.gguf"), *oprefix = tl_tmp_path("test_split_other");
        qtk_gguf *g = NULL;
        int64_t ob[NPARTS + 1];
        /* the first 7 tensors of the whole model make the other model */
        CHECK(qtk_gguf_open(whole, &g, &err) == QTK_OK, "%s", err.msg);
        qtk_gguf_writer *w = NULL;
        CHECK(qtk_gguf_writer_open(other, &w, &err) == QTK_OK, "%s", err.msg);
        if (g && w) {
            qtk_meta_copy(qtk_gguf_writer_meta(w), qtk_gguf_meta(g), &err);
            for (int64_t i = 0; i < 7; i++) {
                const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
                qtk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err);
            }
            for (int64_t i = 0; i < 7; i++)
                qtk_gguf_writer_write(w, qtk_gguf_tensor(g, i)->data, (size_t)qtk_gguf_tensor(g, i)->nbytes, &err);
            CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "%s", err.msg);
        }
        qtk_gguf_close(g);
        ob[0] = 0, ob[1] = 2, ob[2] = 5, ob[3] = 7;
        CHECK(write_split(other, oprefix, NPARTS, ob, -1, false) == 0, "other split");
        char *op2 = part_path(oprefix, 1, NPARTS);
        unsigned char *o2 = tl_read_file(op2, &n2);
        d2 = tl_read_file(p2, &n3);
        if (o2 && d2) {
            tl_write_file(p2, o2, n2);
            CHECK(qtk_gguf_open(p1, &x, &err) != QTK_OK, "part of another model must fail");
            drop(&x);
            CHECK(strstr(err.msg, p2) && strstr(err.msg, "different models"), "other model message: %s", err.msg);
            tl_write_file(p2, d2, n3);
        }
        free(o2);
        free(d2);
        free(op2);
        remove_split(oprefix, NPARTS);
        remove(other);
        free(other);
        free(oprefix);
    }

    /* the first part renamed: the other parts cannot be found */
    CHECK(rename(p1, keep) == 0, "rename first");
    CHECK(qtk_gguf_open(keep, &x, &err) != QTK_OK, "misnamed first part must fail");
    drop(&x);
    CHECK(strstr(err.msg, keep) && strstr(err.msg, "-00001-of-00003.gguf"), "misnamed message: %s", err.msg);
    CHECK(rename(keep, p1) == 0, "rename first back");

    /* consistent keys but a wrong total / a tensor in two parts */
    {
        char *bprefix = tl_tmp_path("test_split_bad");
        char *b1 = part_path(bprefix, 0, NPARTS);
        CHECK(write_split(whole, bprefix, NPARTS, g_bounds, g_bounds[NPARTS] + 1, false) == 0, "bad-count split");
        CHECK(qtk_gguf_open(b1, &x, &err) != QTK_OK && strstr(err.msg, "split.tensors.count") && strstr(err.msg, b1),
              "wrong total: %s", err.msg);
        drop(&x);
        CHECK(write_split(whole, bprefix, NPARTS, g_bounds, g_bounds[NPARTS] + 1, true) == 0, "dup split");
        CHECK(qtk_gguf_open(b1, &x, &err) != QTK_OK && strstr(err.msg, "in part 1 and in part 2"), "duplicate: %s",
              err.msg);
        drop(&x);
        remove_split(bprefix, NPARTS);
        free(b1);
        free(bprefix);
    }
    /* the untouched split still opens (the restores worked) */
    CHECK(qtk_gguf_open(p1, &x, &err) == QTK_OK, "restored split: %s", err.msg);
    qtk_gguf_close(x);
    free(keep);
    free(p1);
    free(p2);
    free(p3);
}

/* gguf-split --no-tensor-first-split: part 1 holds only the metadata. */
static void test_empty_first_part(const char *whole) {
    qtk_error err;
    char *prefix = tl_tmp_path("test_split_meta_only"), *out = tl_tmp_path("test_split_meta_only_q.gguf");
    char *oprefix = tl_tmp_path("test_split_meta_only_q");
    int64_t b[NPARTS + 1] = {0, 0, g_bounds[2], g_bounds[3]};
    CHECK(write_split(whole, prefix, NPARTS, b, -1, false) == 0, "metadata-only first part");
    char *p1 = part_path(prefix, 0, NPARTS), *o1 = part_path(oprefix, 0, NPARTS);
    qtk_gguf *a = NULL, *s = NULL;
    CHECK(qtk_gguf_open(whole, &a, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_open(p1, &s, &err) == QTK_OK, "open: %s", err.msg);
    if (a && s) {
        char why[256] = "";
        CHECK(tensors_equal(a, s, why, sizeof why), "metadata-only first part: %s", why);
        CHECK(qtk_gguf_tensor_part(s, 0) == 1, "first tensor in part 2");
    }
    qtk_gguf_close(s);
    s = NULL;
    CHECK(quantize_lib(p1, out, "Q8_0", true, &err) == QTK_OK, "keep-split: %s", err.msg);
    qtk_gguf *r = NULL;
    CHECK(qtk_gguf_open_part(o1, &r, &err) == QTK_OK && qtk_gguf_n_tensors(r) == 0 &&
              qtk_meta_get(qtk_gguf_meta(r), "general.architecture") != NULL,
          "output part 1: metadata, no tensors");
    qtk_gguf_close(r);
    r = NULL;
    CHECK(qtk_gguf_open(o1, &r, &err) == QTK_OK && qtk_gguf_n_tensors(r) == g_bounds[3], "keep-split output: %s",
          err.msg);
    qtk_gguf_close(r);
    qtk_gguf_close(a);
    remove_split(prefix, NPARTS);
    remove_split(oprefix, NPARTS);
    free(p1);
    free(o1);
    free(prefix);
    free(out);
    free(oprefix);
}

/* The model loader and a forward pass see the same model, whether the
 * weights are mapped or read into memory (mode_a for the whole file,
 * mode_b for the split one). */
static void test_forward(const char *whole, const char *prefix, qtk_load_mode mode_a, qtk_load_mode mode_b) {
    qtk_error err;
    qtk_model *ma = NULL, *mb = NULL;
    qtk_context *ca = NULL, *cb = NULL;
    char *p1 = part_path(prefix, 0, NPARTS);
    CHECK(qtk_model_load_ex(whole, mode_a, &ma, &err) == QTK_OK, "load whole (mode %d): %s", (int)mode_a, err.msg);
    CHECK(qtk_model_load_ex(p1, mode_b, &mb, &err) == QTK_OK, "load split (mode %d): %s", (int)mode_b, err.msg);
    if (ma && mode_a != QTK_LOAD_AUTO)
        CHECK(qtk_model_get_info(ma)->mapped == (mode_a == QTK_LOAD_MMAP), "whole: mapped = %d in mode %d",
              (int)qtk_model_get_info(ma)->mapped, (int)mode_a);
    if (mb && mode_b != QTK_LOAD_AUTO)
        CHECK(qtk_model_get_info(mb)->mapped == (mode_b == QTK_LOAD_MMAP), "split: mapped = %d in mode %d",
              (int)qtk_model_get_info(mb)->mapped, (int)mode_b);
    if (ma && mb) {
        int32_t nv = qtk_model_get_info(ma)->n_vocab;
        CHECK(qtk_context_create(ma, 64, 1, &ca, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_context_create(mb, 64, 1, &cb, &err) == QTK_OK, "%s", err.msg);
        int32_t toks[8] = {1, 17, 300, 5, 999, 42, 7, 128};
        float *la = (float *)malloc(sizeof(float) * 8 * (size_t)nv), *lb = (float *)malloc(sizeof(float) * 8 * (size_t)nv);
        if (ca && cb && la && lb) {
            CHECK(qtk_decode(ca, toks, 8, 0, la, &err) == QTK_OK, "decode whole: %s", err.msg);
            CHECK(qtk_decode(cb, toks, 8, 0, lb, &err) == QTK_OK, "decode split: %s", err.msg);
            /* the same weights in the same order: bit-identical logits */
            CHECK(memcmp(la, lb, sizeof(float) * 8 * (size_t)nv) == 0, "logits differ");
            double s = 0;
            for (int64_t i = 0; i < 8 * (int64_t)nv; i++) s += fabs(la[i]);
            CHECK(s > 0 && s == s, "logits are non-trivial (sum |l| = %g)", s);
        }
        free(la);
        free(lb);
    }
    qtk_context_free(ca);
    qtk_context_free(cb);
    qtk_model_free(ma);
    qtk_model_free(mb);
    free(p1);
}

/* Bad load modes and unreadable files fail with the file named. */
static void test_load_mode_errors(const char *whole) {
    qtk_error err;
    qtk_model *m = (qtk_model *)&err; /* must be reset to NULL on failure */
    qtk_status st = qtk_model_load_ex(whole, (qtk_load_mode)7, &m, &err);
    CHECK(st == QTK_ERR_INVALID_ARG && m == NULL && strstr(err.msg, "load mode 7"), "mode 7: %d '%s'", (int)st,
          err.msg);
    char *missing = tl_tmp_path("test_split_no_such_file.gguf");
    remove(missing);
    st = qtk_model_load_ex(missing, QTK_LOAD_READ, &m, &err);
    CHECK(st == QTK_ERR_IO && m == NULL && strstr(err.msg, "test_split_no_such_file.gguf") &&
              strstr(err.msg, "cannot open"),
          "missing file, READ: %d '%s'", (int)st, err.msg);
    /* a copy cut inside its tensor data: the reader refuses it in both modes */
    char *cut = tl_tmp_path("test_split_cut.gguf");
    FILE *in = fopen(whole, "rb"), *out = fopen(cut, "wb");
    long n = 0;
    if (in && out && fseek(in, 0, SEEK_END) == 0 && (n = ftell(in)) > 4096 && fseek(in, 0, SEEK_SET) == 0) {
        char buf[4096];
        long left = n - 1000;
        while (left > 0) {
            size_t k = fread(buf, 1, (size_t)(left < 4096 ? left : 4096), in);
            if (k == 0 || fwrite(buf, 1, k, out) != k) break;
            left -= (long)k;
        }
    }
    if (in) fclose(in);
    if (out) fclose(out);
    for (int mode = QTK_LOAD_MMAP; mode <= QTK_LOAD_READ; mode++) {
        st = qtk_model_load_ex(cut, (qtk_load_mode)mode, &m, &err);
        CHECK(st != QTK_OK && m == NULL && strstr(err.msg, "test_split_cut.gguf"), "cut file, mode %d: %d '%s'", mode,
              (int)st, err.msg);
    }
    remove(cut);
    free(cut);
    free(missing);
}

/* quantize of the split model = quantize of the whole model; --keep-split
 * writes the same tensors in the input's layout with gguf-split's keys. */
static void test_quantize(const char *whole, const char *prefix) {
    qtk_error err;
    char *p1 = part_path(prefix, 0, NPARTS);
    char *qa = tl_tmp_path("test_split_qa.gguf"), *qb = tl_tmp_path("test_split_qb.gguf");
    char *ks = tl_tmp_path("test_split_ks.gguf"), *ks_prefix = tl_tmp_path("test_split_ks");
    remove(qa);
    remove(qb);
    CHECK(quantize_lib(whole, qa, "Q4_K_M", false, &err) == QTK_OK, "quantize whole: %s", err.msg);
    CHECK(quantize_lib(p1, qb, "Q4_K_M", false, &err) == QTK_OK, "quantize split: %s", err.msg);
    qtk_gguf *a = NULL, *b = NULL;
    CHECK(qtk_gguf_open(qa, &a, &err) == QTK_OK && qtk_gguf_open(qb, &b, &err) == QTK_OK, "open outputs: %s", err.msg);
    if (a && b) {
        char why[256] = "";
        CHECK(tensors_equal(a, b, why, sizeof why), "quantized split vs whole: %s", why);
        CHECK(meta_equal(qtk_gguf_meta(a), qtk_gguf_meta(b), why, sizeof why), "quantized metadata: %s", why);
        CHECK(qtk_gguf_n_parts(b) == 1, "no --keep-split: one file");
        int nq = 0;
        for (int64_t i = 0; i < qtk_gguf_n_tensors(b); i++) nq += qtk_gguf_tensor(b, i)->type != QTK_TYPE_F16 &&
                                                            qtk_gguf_tensor(b, i)->type != QTK_TYPE_F32;
        CHECK(nq > 10, "only %d tensors quantized", nq);
    }
    qtk_gguf_close(b);
    b = NULL;
    CHECK(tl_files_equal(qa, qb), "single-file outputs of split and whole input differ");
    /* the raw single output has no split.* keys */
    CHECK(qtk_gguf_open_part(qb, &b, &err) == QTK_OK && !qtk_meta_get(qtk_gguf_meta(b), QTK_KV_SPLIT_COUNT),
          "single output carries split.count");
    qtk_gguf_close(b);
    b = NULL;

    /* --keep-split */
    remove_split(ks_prefix, NPARTS);
    CHECK(quantize_lib(p1, ks, "Q4_K_M", true, &err) == QTK_OK, "keep-split: %s", err.msg);
    CHECK(!tl_file_exists(ks), "--keep-split must not write OUT itself");
    int64_t nt = a ? qtk_gguf_n_tensors(a) : 0;
    for (int k = 0; k < NPARTS; k++) {
        char *pk = part_path(ks_prefix, k, NPARTS);
        char buf[1024];
        CHECK(qtk_split_out_path(buf, sizeof buf, ks, k, NPARTS) > 0 && !strcmp(buf, pk), "out path %s vs %s", buf, pk);
        qtk_gguf *r = NULL;
        CHECK(qtk_gguf_open_part(pk, &r, &err) == QTK_OK, "part %d: %s", k, err.msg);
        if (r && a) {
            const qtk_meta *m = qtk_gguf_meta(r);
            const qtk_gguf_value *vn = qtk_meta_get(m, QTK_KV_SPLIT_NO), *vc = qtk_meta_get(m, QTK_KV_SPLIT_COUNT),
                                 *vt = qtk_meta_get(m, QTK_KV_SPLIT_TENSORS_COUNT);
            CHECK(vn && vn->type == QTK_GGUF_UINT16 && vn->v.u64 == (uint64_t)k, "part %d split.no", k);
            CHECK(vc && vc->type == QTK_GGUF_UINT16 && vc->v.u64 == NPARTS, "part %d split.count", k);
            CHECK(vt && vt->type == QTK_GGUF_INT32 && vt->v.i64 == nt, "part %d split.tensors.count", k);
            /* the same tensors as the input part, in order */
            int64_t want = g_bounds[k + 1] - g_bounds[k];
            CHECK(qtk_gguf_n_tensors(r) == want, "part %d: %lld tensors, want %lld", k,
                  (long long)qtk_gguf_n_tensors(r), (long long)want);
            int bad = 0;
            for (int64_t i = 0; i < qtk_gguf_n_tensors(r) && i < want; i++)
                if (strcmp(qtk_gguf_tensor(r, i)->name, qtk_gguf_tensor(a, g_bounds[k] + i)->name) != 0) bad++;
            CHECK(bad == 0, "part %d: %d tensors out of place", k, bad);
            if (k > 0)
                CHECK(m->n == 3, "part %d has %lld keys (only split.* expected)", k, (long long)m->n);
            else
                CHECK(m->n == qtk_gguf_meta(a)->n + 3, "part 1 has %lld keys, want %lld + 3", (long long)m->n,
                      (long long)qtk_gguf_meta(a)->n);
        }
        qtk_gguf_close(r);
        free(pk);
    }
    /* read back as one model: the same as the single-file output */
    {
        char *k1 = part_path(ks_prefix, 0, NPARTS);
        qtk_gguf *r = NULL;
        CHECK(qtk_gguf_open(k1, &r, &err) == QTK_OK, "keep-split output: %s", err.msg);
        if (r && a) {
            char why[256] = "";
            CHECK(qtk_gguf_n_parts(r) == NPARTS, "parts %d", qtk_gguf_n_parts(r));
            CHECK(tensors_equal(a, r, why, sizeof why), "keep-split vs single: %s", why);
            CHECK(meta_equal(qtk_gguf_meta(a), qtk_gguf_meta(r), why, sizeof why), "keep-split metadata: %s", why);
        }
        qtk_gguf_close(r);
        free(k1);
    }
    remove_split(ks_prefix, NPARTS);

    /* --keep-split of an unsplit input: OUT-00001-of-00001.gguf as llama-quantize, no split.* keys */
    {
        char *one = part_path(ks_prefix, 0, 1);
        CHECK(quantize_lib(whole, ks, "Q4_K_M", true, &err) == QTK_OK, "keep-split unsplit: %s", err.msg);
        CHECK(tl_files_equal(one, qa), "%s differs from the plain output", one);
        remove(one);
        free(one);
    }

    /* a part that cannot be renamed into place (a directory there): no part is left */
    {
        char *k3 = part_path(ks_prefix, 2, NPARTS);
        CHECK(tl_mkdir(k3) == 0, "mkdir %s", k3);
        qtk_status s = quantize_lib(p1, ks, "Q8_0", true, &err);
        CHECK(s != QTK_OK, "keep-split over a directory must fail");
        tl_rmdir(k3);
        CHECK(!any_part_exists(ks_prefix, NPARTS), "a failed --keep-split left parts behind");
        free(k3);
    }
    /* --keep-split onto the input's own names (OUT = PREFIX.gguf): refused, the input untouched */
    {
        char *same = (char *)malloc(strlen(prefix) + 8);
        sprintf(same, "%s.gguf", prefix);
        size_t n1 = 0;
        unsigned char *before = tl_read_file(p1, &n1);
        qtk_status s = quantize_lib(p1, same, "Q8_0", true, &err);
        CHECK(s != QTK_OK && strstr(err.msg, "same file"), "keep-split over its own input: %s",
              s == QTK_OK ? "succeeded" : err.msg);
        size_t n2 = 0;
        unsigned char *after = tl_read_file(p1, &n2);
        CHECK(before && after && n1 == n2 && memcmp(before, after, n1) == 0, "the input part was changed");
        free(before);
        free(after);
        free(same);
    }
    qtk_gguf_close(a);
    remove(qa);
    remove(qb);
    free(qa);
    free(qb);
    free(ks);
    free(ks_prefix);
    free(p1);
}

/* A NaN in the last part: quantize fails naming it, nothing is written. */
static void test_keep_split_nan(const char *prefix) {
    qtk_error err;
    char *p1 = part_path(prefix, 0, NPARTS), *p3 = part_path(prefix, 2, NPARTS);
    char *ks = tl_tmp_path("test_split_nan.gguf"), *ks_prefix = tl_tmp_path("test_split_nan");
    size_t n = 0;
    unsigned char *d = tl_read_file(p3, &n);
    qtk_gguf *g = NULL;
    CHECK(d && qtk_gguf_open_part(p3, &g, &err) == QTK_OK, "read part 3");
    if (d && g) {
        /* last F16 matrix of part 3: NaN in its first element */
        const qtk_tensor_info *t = NULL;
        for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++)
            if (qtk_gguf_tensor(g, i)->type == QTK_TYPE_F16 && qtk_gguf_tensor(g, i)->n_dims == 2) t = qtk_gguf_tensor(g, i);
        CHECK(t != NULL, "part 3 has an F16 matrix");
        if (t) {
            size_t off = (size_t)(qtk_gguf_data_offset(g) + t->offset);
            char name[128];
            snprintf(name, sizeof name, "%s", t->name);
            qtk_gguf_close(g);
            g = NULL;
            unsigned char *m = (unsigned char *)malloc(n);
            memcpy(m, d, n);
            m[off] = 0x00;
            m[off + 1] = 0x7e; /* F16 quiet NaN */
            tl_write_file(p3, m, n);
            free(m);
            remove_split(ks_prefix, NPARTS);
            CHECK(quantize_lib(p1, ks, "Q8_0", true, &err) != QTK_OK, "NaN must fail");
            CHECK(strstr(err.msg, name) && strstr(err.msg, "NaN") && strstr(err.msg, p3), "NaN message: %s", err.msg);
            CHECK(!any_part_exists(ks_prefix, NPARTS), "a failed --keep-split left parts behind");
            tl_write_file(p3, d, n);
        }
    }
    qtk_gguf_close(g);
    free(d);
    free(p1);
    free(p3);
    free(ks);
    free(ks_prefix);
}

/* The command line: inspect, compare, dequantize, quantize --keep-split. */
static void test_cli(const char *whole, const char *prefix) {
    if (!tl_qtk_available()) {
        printf("  (qtk binary not available: CLI checks skipped)\n");
        return;
    }
    char *p1 = part_path(prefix, 0, NPARTS), *p2 = part_path(prefix, 1, NPARTS);
    char *log = tl_tmp_path("test_split_cli.log");
    char *da = tl_tmp_path("test_split_deq_a.gguf"), *db = tl_tmp_path("test_split_deq_b.gguf");
    char *ks = tl_tmp_path("test_split_cli_ks.gguf"), *ks_prefix = tl_tmp_path("test_split_cli_ks");
    char cmd[4096];

    snprintf(cmd, sizeof cmd, "inspect \"%s\"", p1);
    CHECK(tl_run_qtk(cmd, log) == 0, "inspect split");
    CHECK(tl_file_contains(log, "split:") && tl_file_contains(log, p2), "inspect names the parts");
    char want[64];
    snprintf(want, sizeof want, "tensors (%lld)", (long long)g_bounds[NPARTS]);
    CHECK(tl_file_contains(log, want), "inspect shows all %lld tensors", (long long)g_bounds[NPARTS]);
    snprintf(cmd, sizeof cmd, "inspect \"%s\"", p2);
    CHECK(tl_run_qtk(cmd, log) == 1 && tl_file_contains(log, "part 2 of 3") && tl_file_contains(log, p1),
          "inspect of part 2 must fail naming part 1");

    snprintf(cmd, sizeof cmd, "compare \"%s\" \"%s\"", whole, p1);
    CHECK(tl_run_qtk(cmd, log) == 0 && tl_file_contains(log, "total relative RMSE: 0.000000"), "compare whole vs split");

    /* perplexity: the same final estimate from the split and the whole model */
    {
        char *txt = tl_tmp_path("test_split_text.txt"), *log2 = tl_tmp_path("test_split_cli2.log");
        const char *s = "The quick brown fox jumps over the lazy dog while the small cat sleeps in the warm sun. ";
        char buf[4096] = "";
        for (int i = 0; i < 40 && strlen(buf) + strlen(s) < sizeof buf; i++) strcat(buf, s);
        tl_write_file(txt, buf, strlen(buf));
        snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c 64 --chunks 2 -t 2", whole, txt);
        CHECK(tl_run_qtk(cmd, log) == 0, "perplexity whole");
        snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c 64 --chunks 2 -t 2", p1, txt);
        CHECK(tl_run_qtk(cmd, log2) == 0, "perplexity split");
        char *ta = tl_read_text(log), *tb = tl_read_text(log2);
        const char *fa = ta ? strstr(ta, "Final estimate") : NULL, *fb = tb ? strstr(tb, "Final estimate") : NULL;
        CHECK(fa && fb, "no final estimate");
        if (fa && fb) {
            size_t la = strcspn(fa, "\n"), lb = strcspn(fb, "\n");
            CHECK(la == lb && memcmp(fa, fb, la) == 0, "PPL differs: '%.*s' vs '%.*s'", (int)la, fa, (int)lb, fb);
        }
        free(ta);
        free(tb);
        remove(txt);
        remove(log2);
        free(txt);
        free(log2);
    }

    remove(da);
    remove(db);
    snprintf(cmd, sizeof cmd, "dequantize -q \"%s\" \"%s\"", whole, da);
    CHECK(tl_run_qtk(cmd, log) == 0, "dequantize whole");
    snprintf(cmd, sizeof cmd, "dequantize -q \"%s\" \"%s\"", p1, db);
    CHECK(tl_run_qtk(cmd, log) == 0, "dequantize split");
    CHECK(tl_files_equal(da, db), "dequantized split and whole differ");

    remove_split(ks_prefix, NPARTS);
    snprintf(cmd, sizeof cmd, "quantize -q --keep-split \"%s\" \"%s\" Q8_0 2", p1, ks);
    CHECK(tl_run_qtk(cmd, log) == 0, "quantize --keep-split");
    for (int k = 0; k < NPARTS; k++) {
        char *pk = part_path(ks_prefix, k, NPARTS);
        CHECK(tl_file_exists(pk), "missing output part %s", pk);
        free(pk);
    }
    CHECK(!tl_file_exists(ks), "OUT itself must not be written with --keep-split");
    {
        char *k1 = part_path(ks_prefix, 0, NPARTS);
        snprintf(cmd, sizeof cmd, "inspect \"%s\"", k1);
        CHECK(tl_run_qtk(cmd, log) == 0 && tl_file_contains(log, "q8_0"), "inspect keep-split output");
        /* compare: the split Q8_0 output against the split source = the single-file Q8_0 output against the whole */
        char *single = tl_tmp_path("test_split_cli_single.gguf"), *log2 = tl_tmp_path("test_split_cli3.log");
        snprintf(cmd, sizeof cmd, "quantize -q \"%s\" \"%s\" Q8_0 2", whole, single);
        CHECK(tl_run_qtk(cmd, log2) == 0, "quantize single");
        snprintf(cmd, sizeof cmd, "compare \"%s\" \"%s\"", whole, single);
        CHECK(tl_run_qtk(cmd, log2) == 0, "compare single");
        snprintf(cmd, sizeof cmd, "compare \"%s\" \"%s\"", p1, k1);
        CHECK(tl_run_qtk(cmd, log) == 0, "compare split vs keep-split output");
        char *ta = tl_read_text(log), *tb = tl_read_text(log2);
        const char *fa = ta ? strstr(ta, "total relative RMSE") : NULL, *fb = tb ? strstr(tb, "total relative RMSE") : NULL;
        CHECK(fa && fb && strcmp(fa, fb) == 0 && !strstr(fa, "RMSE: 0.000000"), "compare totals differ: '%s' vs '%s'",
              fa ? fa : "(none)", fb ? fb : "(none)");
        free(ta);
        free(tb);
        remove(single);
        remove(log2);
        free(single);
        free(log2);
        free(k1);
    }
    remove_split(ks_prefix, NPARTS);
    snprintf(cmd, sizeof cmd, "quantize -q --keep-split \"%s\" \"%s\" Q8_0 2", p2, ks);
    CHECK(tl_run_qtk(cmd, log) == 1 && tl_file_contains(log, "part 2 of 3"), "quantize from part 2 must fail");
    CHECK(!any_part_exists(ks_prefix, NPARTS), "failed run wrote parts");

    remove(da);
    remove(db);
    remove(log);
    free(p1);
    free(p2);
    free(log);
    free(da);
    free(db);
    free(ks);
    free(ks_prefix);
}

int main(void) {
    char *whole = tl_tmp_path("test_split_whole.gguf"), *prefix = tl_tmp_path("test_split_model");
    qtk_error err;
    test_names();
    int ok = qtk_synth_write(whole, "tiny", 11, 2, NULL, NULL, &err) == QTK_OK;
    CHECK(ok, "synth: %s", err.msg);
    if (ok) {
        qtk_gguf *g = NULL;
        CHECK(qtk_gguf_open(whole, &g, &err) == QTK_OK, "%s", err.msg);
        int64_t nt = g ? qtk_gguf_n_tensors(g) : 0;
        qtk_gguf_close(g);
        /* uneven parts: 5 tensors, then the middle, then the rest */
        g_bounds[0] = 0;
        g_bounds[1] = 5;
        g_bounds[2] = nt / 2 + 3;
        g_bounds[3] = nt;
        CHECK(nt > 12, "tiny model has %lld tensors", (long long)nt);
        ok = nt > 12 && write_split(whole, prefix, NPARTS, g_bounds, -1, false) == 0;
        CHECK(ok, "write split");
    }
    if (ok) {
        test_read(whole, prefix);
        test_errors(whole, prefix);
        test_empty_first_part(whole);
        test_forward(whole, prefix, QTK_LOAD_MMAP, QTK_LOAD_READ);
        test_forward(whole, prefix, QTK_LOAD_READ, QTK_LOAD_AUTO);
        test_load_mode_errors(whole);
        test_quantize(whole, prefix);
        test_keep_split_nan(prefix);
        test_cli(whole, prefix);
    }
    remove_split(prefix, NPARTS);
    remove(whole);
    free(whole);
    free(prefix);
    return tl_finish("test_split");
}
