/*
 * gen_corpus.c — writes the small seed files of fuzz/corpus/ with qtk's own
 * writer: usage `gen_corpus DIR`. Seeds cover every value type, nested and
 * empty arrays, several tensor types/shapes and a custom alignment.
 */
#include "qtk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const qtk_error *err) {
    fprintf(stderr, "gen_corpus: %s\n", err->msg);
    return 1;
}

/* Declares tensors and streams a deterministic byte pattern into them. */
static int write_seed(const char *dir, const char *file, qtk_meta *meta, int n, const char *const *names,
                      const qtk_type *types, const int *n_dims, const int64_t (*ne)[4]) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return fail(&err);
    if (meta && qtk_meta_copy(qtk_gguf_writer_meta(w), meta, &err) != QTK_OK) goto bad;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (qtk_gguf_writer_add_tensor(w, names[i], types[i], n_dims[i], ne[i], &err) != QTK_OK) goto bad;
        total += qtk_row_size(types[i], ne[i][0]) * (size_t)(ne[i][1] * ne[i][2] * ne[i][3]);
    }
    for (size_t i = 0; i < total; i++) {
        unsigned char b = (unsigned char)(i * 131 + 7);
        if (qtk_gguf_writer_write(w, &b, 1, &err) != QTK_OK) goto bad;
    }
    if (qtk_gguf_writer_finish(w, &err) != QTK_OK) return fail(&err);
    return 0;
bad:
    qtk_gguf_writer_abort(w);
    return fail(&err);
}

static qtk_gguf_value scalar(qtk_gguf_vtype t, uint64_t u) {
    qtk_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = t;
    v.v.u64 = u;
    return v;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    qtk_error err;
    qtk_meta m = {NULL, 0, 0};
    int rc = 0;

    /* 1: a miniature llama-like file */
    qtk_meta_set_str(&m, "general.architecture", "llama", &err);
    qtk_meta_set_u32(&m, "llama.block_count", 1, &err);
    qtk_meta_set_f32(&m, "llama.rope.freq_base", 10000.0f, &err);
    qtk_meta_set_bool(&m, "tokenizer.ggml.add_bos_token", true, &err);
    {
        qtk_gguf_value toks[3], arr;
        const char *s[3] = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++) {
            memset(&toks[i], 0, sizeof toks[i]);
            toks[i].type = QTK_GGUF_STRING;
            toks[i].v.str.ptr = (char *)s[i];
            toks[i].v.str.len = strlen(s[i]);
        }
        memset(&arr, 0, sizeof arr);
        arr.type = QTK_GGUF_ARRAY;
        arr.v.arr.elem_type = QTK_GGUF_STRING;
        arr.v.arr.n = 3;
        arr.v.arr.items = toks;
        qtk_meta_set(&m, "tokenizer.ggml.tokens", &arr, &err);
    }
    {
        static const char *const names[3] = {"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.ffn_up.weight"};
        static const qtk_type types[3] = {QTK_TYPE_F16, QTK_TYPE_F32, QTK_TYPE_Q8_0};
        static const int nd[3] = {2, 1, 2};
        static const int64_t ne[3][4] = {{8, 3, 1, 1}, {8, 1, 1, 1}, {32, 2, 1, 1}};
        rc |= write_seed(dir, "llama_tiny.gguf", &m, 3, names, types, nd, ne);
    }
    qtk_meta_clear(&m);

    /* 2: every scalar type, nested and empty arrays, no tensors */
    {
        static const qtk_gguf_vtype ts[] = {QTK_GGUF_UINT8, QTK_GGUF_INT8,  QTK_GGUF_UINT16, QTK_GGUF_INT16,
                                            QTK_GGUF_UINT32, QTK_GGUF_INT32, QTK_GGUF_FLOAT32, QTK_GGUF_BOOL,
                                            QTK_GGUF_UINT64, QTK_GGUF_INT64, QTK_GGUF_FLOAT64};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            char key[32];
            snprintf(key, sizeof key, "k.%s", qtk_gguf_vtype_name(ts[i]));
            qtk_gguf_value v = scalar(ts[i], 1);
            if (ts[i] == QTK_GGUF_FLOAT32 || ts[i] == QTK_GGUF_FLOAT64) v.v.f64 = -0.5;
            qtk_meta_set(&m, key, &v, &err);
        }
        qtk_gguf_value inner[2], outer, empty;
        qtk_gguf_value i32s[2] = {scalar(QTK_GGUF_INT32, 1), scalar(QTK_GGUF_INT32, 2)};
        for (int i = 0; i < 2; i++) {
            memset(&inner[i], 0, sizeof inner[i]);
            inner[i].type = QTK_GGUF_ARRAY;
            inner[i].v.arr.elem_type = QTK_GGUF_INT32;
            inner[i].v.arr.n = (uint64_t)(2 - i);
            inner[i].v.arr.items = i == 0 ? i32s : NULL;
        }
        memset(&outer, 0, sizeof outer);
        outer.type = QTK_GGUF_ARRAY;
        outer.v.arr.elem_type = QTK_GGUF_ARRAY;
        outer.v.arr.n = 2;
        outer.v.arr.items = inner;
        qtk_meta_set(&m, "k.nested", &outer, &err);
        memset(&empty, 0, sizeof empty);
        empty.type = QTK_GGUF_ARRAY;
        empty.v.arr.elem_type = QTK_GGUF_STRING;
        qtk_meta_set(&m, "k.empty", &empty, &err);
        qtk_meta_set_str(&m, "k.str", "", &err);
        rc |= write_seed(dir, "all_types.gguf", &m, 0, NULL, NULL, NULL, NULL);
    }
    qtk_meta_clear(&m);

    /* 3: alignment 64, a 3-D q4_0 tensor and a row-header type */
    qtk_meta_set_u32(&m, "general.alignment", 64, &err);
    {
        static const char *const names[2] = {"cube", "ks"};
        static const qtk_type types[2] = {QTK_TYPE_Q4_0, QTK_TYPE_IQ4_KS};
        static const int nd[2] = {3, 2};
        static const int64_t ne[2][4] = {{32, 2, 2, 1}, {256, 1, 1, 1}};
        rc |= write_seed(dir, "align64.gguf", &m, 2, names, types, nd, ne);
    }
    qtk_meta_clear(&m);

    /* 4: empty file */
    rc |= write_seed(dir, "empty.gguf", NULL, 0, NULL, NULL, NULL, NULL);
    return rc;
}
