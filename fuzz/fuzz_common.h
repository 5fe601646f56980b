/*
 * fuzz_common.h — helpers shared by the file-reader fuzz targets
 * (fuzz_imatrix, fuzz_kld, fuzz_recipe): a per-process scratch file for the
 * readers that take a path, seed files written into the corpus directory by
 * LLVMFuzzerInitialize (so the targets need no checked-in seeds), and a tiny
 * LLaMA model (n_vocab 16) for the readers that need one.
 * POSIX only, like libFuzzer itself.
 */
#ifndef QTK_FUZZ_COMMON_H
#define QTK_FUZZ_COMMON_H

#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "qtk.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A path unique to this process under $TMPDIR, else /dev/shm (a RAM file system: writing
 * and mapping each input there is ~4x faster than on a disk-backed /tmp), else /tmp:
 * "<dir>/qtk-fuzz-<tag>-<pid>.<ext>". */
static inline void fz_scratch_path(char *buf, size_t n, const char *tag, const char *ext) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(buf, n, "%s/qtk-fuzz-%s-%ld.%s", dir, tag, (long)getpid(), ext);
}

/* Writes data to path; aborts on failure (the harness, not the code under test, broke). */
static inline void fz_write(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
}

/* The corpus directory libFuzzer was given (the first argument not starting with '-'), or NULL. */
static inline const char *fz_corpus_dir(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] != '-' && stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) return argv[i];
    }
    return NULL;
}

/* Writes seed `name` into the corpus directory (if there is one and it lacks the file). */
static inline void fz_seed(const char *dir, const char *name, const void *data, size_t size) {
    char path[4096];
    if (!dir) return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) == 0) return;
    fz_write(path, data, size);
}

/* Reads a whole file (malloc'ed); aborts on failure. */
static inline unsigned char *fz_read(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = (unsigned char *)malloc(cap);
    for (;;) {
        if (!b) abort();
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        b = (unsigned char *)realloc(b, cap);
    }
    fclose(f);
    *size = n;
    return b;
}

/* A 1-layer LLaMA model with F32 weights: n_vocab 16, n_embd 32, 2 heads, n_ff 64. */
#define FZ_VOCAB 16
#define FZ_EMBD 32
#define FZ_FF 64
static inline void fz_tiny_model(const char *path) {
    static const struct {
        const char *name;
        int n_dims;
        int64_t ne0, ne1;
    } t[] = {
        {"token_embd.weight", 2, FZ_EMBD, FZ_VOCAB},    {"output_norm.weight", 1, FZ_EMBD, 1},
        {"output.weight", 2, FZ_EMBD, FZ_VOCAB},        {"blk.0.attn_norm.weight", 1, FZ_EMBD, 1},
        {"blk.0.attn_q.weight", 2, FZ_EMBD, FZ_EMBD},   {"blk.0.attn_k.weight", 2, FZ_EMBD, FZ_EMBD},
        {"blk.0.attn_v.weight", 2, FZ_EMBD, FZ_EMBD},   {"blk.0.attn_output.weight", 2, FZ_EMBD, FZ_EMBD},
        {"blk.0.ffn_norm.weight", 1, FZ_EMBD, 1},       {"blk.0.ffn_gate.weight", 2, FZ_EMBD, FZ_FF},
        {"blk.0.ffn_up.weight", 2, FZ_EMBD, FZ_FF},     {"blk.0.ffn_down.weight", 2, FZ_FF, FZ_EMBD},
    };
    const int nt = (int)(sizeof t / sizeof t[0]);
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) abort();
    qtk_meta *m = qtk_gguf_writer_meta(w);
    if (qtk_meta_set_str(m, "general.architecture", "llama", &err) != QTK_OK ||
        qtk_meta_set_u32(m, "llama.embedding_length", FZ_EMBD, &err) != QTK_OK ||
        qtk_meta_set_u32(m, "llama.block_count", 1, &err) != QTK_OK ||
        qtk_meta_set_u32(m, "llama.feed_forward_length", FZ_FF, &err) != QTK_OK ||
        qtk_meta_set_u32(m, "llama.attention.head_count", 2, &err) != QTK_OK ||
        qtk_meta_set_u32(m, "llama.context_length", 64, &err) != QTK_OK)
        abort();
    for (int i = 0; i < nt; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (qtk_gguf_writer_add_tensor(w, t[i].name, QTK_TYPE_F32, t[i].n_dims, ne, &err) != QTK_OK) abort();
    }
    for (int i = 0; i < nt; i++) {
        size_t n = (size_t)(t[i].ne0 * t[i].ne1);
        float *d = (float *)malloc(n * sizeof(float));
        if (!d) abort();
        for (size_t k = 0; k < n; k++)
            d[k] = t[i].n_dims == 1 ? 1.0f : 0.3f * (float)sin(0.7 * (double)k + 1.3 * (double)i);
        if (qtk_gguf_writer_write(w, d, n * sizeof(float), &err) != QTK_OK) abort();
        free(d);
    }
    if (qtk_gguf_writer_finish(w, &err) != QTK_OK) abort();
}

#endif
