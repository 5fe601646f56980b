/*
 * test_fuzz_found.c — inputs the fuzz targets found (fuzz/README.md), kept
 * as regression cases:
 *  1. fuzz_recipe: recipe text whose last line ends in '\r' without '\n'
 *     made qtk_recipe_parse loop forever (the '\r' was stripped from the
 *     line before the cursor moved past it); it must parse, and give the same
 *     recipe as the text with "\r\n";
 *  2. fuzz_imatrix: a GGUF imatrix whose count is a denormal float loaded
 *     with in_sum2 / count = +Inf as an importance (the loader promises
 *     finite values); it must be refused naming the file and the entry.
 * (The KLD base reader's cases are in test_ppl_faults.c.)
 */
#include "testlib.h"

#include <math.h>

static void test_recipe_cr(void) {
    static const char *const texts[] = {"default q8_0\r", "default q8_0\r\nattn_v = q6_K\r", "default q8_0\n\r",
                                        "default q8_0\r\r"};
    qtk_error err;
    qtk_recipe *ref = NULL;
    CHECK(qtk_recipe_parse("default q8_0\r\nattn_v = q6_K\r\n", "crlf.recipe", &ref, &err) == QTK_OK, "crlf: %s",
          err.msg);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        qtk_recipe *r = NULL;
        qtk_status st = qtk_recipe_parse(texts[i], "cr.recipe", &r, &err);
        CHECK(st == QTK_OK, "text %zu: %s", i, st ? err.msg : "");
        if (st == QTK_OK) CHECK(qtk_recipe_default_type(r) == QTK_TYPE_Q8_0, "text %zu: default type", i);
        if (i == 1 && r && ref) {
            char *a = qtk_recipe_text(r), *b = qtk_recipe_text(ref);
            CHECK(a && b && !strcmp(a, b), "'\\r' at the end vs '\\r\\n': %s / %s", a ? a : "", b ? b : "");
            free(a);
            free(b);
        }
        qtk_recipe_free(r);
    }
    qtk_recipe_free(ref);
}

static void test_imatrix_denormal_count(void) {
    char *path = tl_tmp_path("test_fuzz_found.imatrix.gguf");
    qtk_error err;
    qtk_imatrix_acc *acc = NULL;
    int64_t idx = -1;
    const float x[4] = {0.5f, 1.0f, 2.0f, 0.25f};
    CHECK(qtk_imatrix_acc_create(&acc, &err) == QTK_OK, "acc: %s", err.msg);
    if (!acc) goto done;
    CHECK(qtk_imatrix_acc_tensor(acc, "blk.0.attn_q.weight", 4, 1, &idx, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_acc_add(acc, idx, 0, x, 1, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_save_gguf(path, acc, &err) == QTK_OK, "save: %s", err.msg);
    qtk_imatrix_acc_free(acc);
    {
        /* the unmodified file loads */
        qtk_imatrix *im = NULL;
        CHECK(qtk_imatrix_load(path, &im, &err) == QTK_OK, "load: %s", err.msg);
        qtk_imatrix_free(im);
        /* patch the count (1.0) to the smallest denormal */
        qtk_gguf *g = NULL;
        size_t size = 0, off = 0;
        int found = 0;
        if (qtk_gguf_open(path, &g, &err) == QTK_OK) {
            int64_t t = qtk_gguf_find_tensor(g, "blk.0.attn_q.weight.counts");
            if (t >= 0) {
                off = (size_t)(qtk_gguf_data_offset(g) + qtk_gguf_tensor(g, t)->offset);
                found = 1;
            }
            qtk_gguf_close(g);
        }
        CHECK(found, "no counts tensor in %s", path);
        unsigned char *d = tl_read_file(path, &size);
        if (!found || !d || off + 4 > size) {
            free(d);
            goto done;
        }
        const uint32_t denormal = 1; /* 1.4e-45 */
        float f;
        memcpy(&f, d + off, 4);
        CHECK(f == 1.0f, "count read %g", (double)f);
        d[off] = (unsigned char)denormal;
        d[off + 1] = d[off + 2] = d[off + 3] = 0;
        CHECK(tl_write_file(path, d, size) == 0, "rewrite");
        free(d);
        qtk_status st = qtk_imatrix_load(path, &im, &err);
        CHECK(st == QTK_ERR_NUMERIC && strstr(err.msg, "test_fuzz_found.imatrix.gguf") &&
                  strstr(err.msg, "blk.0.attn_q.weight"),
              "denormal count: status %d, %s", st, st ? err.msg : "loaded");
        qtk_imatrix_free(im);
    }
done:
    remove(path);
    free(path);
}

int main(void) {
    test_recipe_cr();
    test_imatrix_denormal_count();
    return tl_finish("test_fuzz_found");
}
