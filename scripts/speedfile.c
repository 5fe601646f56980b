/*
 * speedfile.c — a model file for speed measurements only: every 2-D weight of
 * IN (but the norms and other 1-D tensors, kept as they are) stored as TYPE,
 * with the first K rows of each matrix really quantized and then repeated
 * to fill the matrix. The file has the same tensors, types, sizes and layout
 * as `qtk quantize --pure IN OUT TYPE` writes, so `qtk bench` reads the same
 * bytes through the same kernels; only its values repeat every K rows, so its
 * logits mean nothing. It exists because a full quantization of the 835 M
 * parameter 1B model takes 10-60 minutes for the slowest searches (trellis,
 * 1-2 bit lattice types) on the project's 2-core machine.
 *
 * Not part of the product. Build against a built tree:
 *   cc -O2 -std=c11 -Iinclude scripts/speedfile.c build/lib/libqtk.a -lm -lpthread -o speedfile
 *   ./speedfile 1b.gguf 1b-iq2_kt.gguf iq2_kt [K=256]
 */
#include "qtk.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const qtk_error *err) {
    fprintf(stderr, "speedfile: %s: %s\n", what, err ? err->msg : "out of memory");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: speedfile IN.gguf OUT.gguf TYPE [K]\n");
        return 2;
    }
    const int type = qtk_type_from_name(argv[3]);
    const int64_t k_rows = argc > 4 ? atoll(argv[4]) : 256;
    if (type < 0 || k_rows < 1) {
        fprintf(stderr, "speedfile: unknown type '%s' or bad K\n", argv[3]);
        return 2;
    }
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_open(argv[1], &g, &err) != QTK_OK) return fail(argv[1], &err);
    if (qtk_gguf_writer_open(argv[2], &w, &err) != QTK_OK) return fail(argv[2], &err);
    if (qtk_meta_copy(qtk_gguf_writer_meta(w), qtk_gguf_meta(g), &err) != QTK_OK) return fail("metadata", &err);
    char upper[32];
    snprintf(upper, sizeof upper, "%s", argv[3]);
    for (char *c = upper; *c; c++) *c = (char)toupper((unsigned char)*c);
    const int ftype = qtk_preset_ftype(upper);
    if (ftype >= 0 && qtk_meta_set_u32(qtk_gguf_writer_meta(w), "general.file_type", (uint32_t)ftype, &err) != QTK_OK)
        return fail("metadata", &err);
    const int64_t n = qtk_gguf_n_tensors(g);
    int *types = (int *)malloc((size_t)n * sizeof(int));
    if (!types) return fail("tensors", NULL);
    for (int64_t i = 0; i < n; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        const bool matrix = t->n_dims >= 2 && qtk_row_size(type, t->ne[0]) > 0;
        types[i] = matrix ? type : (int)t->type;
        if (qtk_gguf_writer_add_tensor(w, t->name, (qtk_type)types[i], (int)t->n_dims, t->ne, &err) != QTK_OK)
            return fail(t->name, &err);
    }
    for (int64_t i = 0; i < n; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        if (types[i] == (int)t->type) {
            if (qtk_gguf_writer_write(w, t->data, t->nbytes, &err) != QTK_OK) return fail(t->name, &err);
            continue;
        }
        const int64_t rows = qtk_tensor_nrows(t), cols = t->ne[0], k = rows < k_rows ? rows : k_rows;
        const size_t rs = qtk_row_size(type, cols);
        float *x = (float *)malloc((size_t)(k * cols) * sizeof(float));
        float *ones = (float *)malloc((size_t)cols * sizeof(float)); /* a flat importance matrix: the types that require one refuse NULL */
        void *q = malloc(rs * (size_t)k);
        if (!x || !ones || !q) return fail(t->name, NULL);
        for (int64_t j = 0; j < cols; j++) ones[j] = 1.0f;
        if (qtk_dequantize_rows((int)t->type, t->data, x, k, cols, &err) != QTK_OK ||
            qtk_quantize_rows(type, x, q, k, cols, ones, &err) != QTK_OK)
            return fail(t->name, &err);
        for (int64_t r = 0; r < rows; r += k) {
            const int64_t m = rows - r < k ? rows - r : k;
            if (qtk_gguf_writer_write(w, q, rs * (size_t)m, &err) != QTK_OK) return fail(t->name, &err);
        }
        free(x);
        free(ones);
        free(q);
        fprintf(stderr, "\r%s: %lld/%lld tensors", argv[2], (long long)(i + 1), (long long)n);
    }
    fprintf(stderr, "\n");
    free(types);
    if (qtk_gguf_writer_finish(w, &err) != QTK_OK) return fail(argv[2], &err);
    qtk_gguf_close(g);
    return 0;
}
