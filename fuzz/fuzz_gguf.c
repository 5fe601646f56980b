/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader. Any input must either
 * be refused with a message naming the file, or parse into a handle whose
 * metadata and tensor data can be walked completely; ASan/UBSan catch the
 * rest. Touching the first and last byte of every tensor proves the reader's
 * bounds checks keep data pointers inside the image.
 */
#include "qtk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

/* Reads every byte a value owns (strings) and every item (arrays). */
static void walk_value(const qtk_gguf_value *v) {
    switch (v->type) {
    case QTK_GGUF_STRING:
        sink += v->v.str.len;
        for (uint64_t i = 0; i <= v->v.str.len; i++) sink += (unsigned char)v->v.str.ptr[i];
        break;
    case QTK_GGUF_ARRAY:
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            if (v->v.arr.items[i].type != v->v.arr.elem_type) abort();
            walk_value(&v->v.arr.items[i]);
        }
        break;
    case QTK_GGUF_BOOL:
        if (v->v.u64 > 1) abort();
        sink += v->v.u64;
        break;
    default: sink += v->v.u64; break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char name[] = "fuzz-input.gguf";
    qtk_gguf *g = NULL;
    qtk_error err;
    memset(&err, 0, sizeof err);
    if (qtk_gguf_open_memory(data, size, name, &g, &err) != QTK_OK) {
        if (g != NULL || err.msg[0] == '\0' || strstr(err.msg, name) == NULL) abort();
        return 0;
    }
    const qtk_meta *m = qtk_gguf_meta(g);
    for (int64_t i = 0; i < m->n; i++) {
        sink += strlen(m->kv[i].key);
        walk_value(&m->kv[i].value);
        if (qtk_meta_find(m, m->kv[i].key) != i) abort();  /* keys are unique */
    }
    int64_t iv;
    double fv;
    (void)qtk_meta_get_int(m, "general.alignment", &iv);
    (void)qtk_meta_get_float(m, "general.alignment", &fv);
    qtk_meta copy = {NULL, 0, 0};
    if (qtk_meta_copy(&copy, m, &err) != QTK_OK || copy.n != m->n) abort();
    qtk_meta_clear(&copy);

    uint64_t align = qtk_gguf_alignment(g), doff = qtk_gguf_data_offset(g);
    if (align == 0 || (align & (align - 1)) != 0 || doff % align != 0) abort();
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        const qtk_type_traits *tr = qtk_type_get(t->type);
        if (!tr || !tr->file_type || t->nbytes == 0 || t->offset % align != 0) abort();
        if (t->nbytes != qtk_row_size(t->type, t->ne[0]) * (uint64_t)qtk_tensor_nrows(t)) abort();
        if (qtk_tensor_nelements(t) <= 0) abort();
        const uint8_t *p = (const uint8_t *)t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        sink += p[0] + p[t->nbytes - 1];
        if (qtk_gguf_find_tensor(g, t->name) != i) abort();  /* names are unique */
    }
    qtk_gguf_close(g);
    return 0;
}
