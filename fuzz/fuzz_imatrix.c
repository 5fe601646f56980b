/*
 * fuzz_imatrix.c — libFuzzer target for the imatrix loader (llama.cpp's
 * legacy .dat and GGUF imatrix files, docs/imatrix.md). Each input is
 * written to a scratch file and loaded: it must either be refused with a
 * message naming the file, or load into entries that keep the loader's
 * promises (unique names found by qtk_imatrix_find, n_per_row * n_mat =
 * nval, values finite and >= 0, qtk_imatrix_for giving every matrix).
 * LLVMFuzzerInitialize writes a small file of each format into the corpus
 * directory as seeds (qtk's own writers).
 */
#include "fuzz_common.h"

static char g_input[512];

static void write_seeds(const char *dir) {
    qtk_imatrix_acc *acc = NULL;
    qtk_error err;
    if (qtk_imatrix_acc_create(&acc, &err) != QTK_OK) abort();
    static const struct {
        const char *name;
        int64_t n_per_row, n_mat;
    } t[] = {{"blk.0.attn_q.weight", 8, 1}, {"blk.0.ffn_down.weight", 16, 1}, {"blk.0.ffn_up_exps.weight", 4, 3}};
    float x[2 * 16];
    for (int i = 0; i < 2 * 16; i++) x[i] = 0.25f * (float)(i % 7) - 0.5f;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t idx = -1;
        if (qtk_imatrix_acc_tensor(acc, t[i].name, t[i].n_per_row, t[i].n_mat, &idx, &err) != QTK_OK) abort();
        for (int64_t m = 0; m < t[i].n_mat; m++)
            if (qtk_imatrix_acc_add(acc, idx, m, x, 2, &err) != QTK_OK) abort();
    }
    if (qtk_imatrix_acc_set_chunks(acc, 3, 64, &err) != QTK_OK || qtk_imatrix_acc_add_dataset(acc, "calib.txt", &err) != QTK_OK)
        abort();
    char path[512];
    size_t n = 0;
    unsigned char *d;
    fz_scratch_path(path, sizeof path, "imatrix-seed", "dat");
    if (qtk_imatrix_save_dat(path, acc, &err) != QTK_OK) abort();
    d = fz_read(path, &n);
    fz_seed(dir, "seed.dat", d, n);
    free(d);
    remove(path);
    fz_scratch_path(path, sizeof path, "imatrix-seed", "gguf");
    if (qtk_imatrix_save_gguf(path, acc, &err) != QTK_OK) abort();
    d = fz_read(path, &n);
    fz_seed(dir, "seed.gguf", d, n);
    free(d);
    remove(path);
    qtk_imatrix_acc_free(acc);
}

/* the scratch input file does not outlive the process (when libFuzzer exits normally) */
static void remove_input(void) { remove(g_input); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_scratch_path(g_input, sizeof g_input, "imatrix-input", "dat");
    atexit(remove_input);
    write_seeds(fz_corpus_dir(*argc, *argv));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(g_input, data, size);
    qtk_imatrix *im = NULL;
    qtk_error err;
    memset(&err, 0, sizeof err);
    if (qtk_imatrix_load(g_input, &im, &err) != QTK_OK) {
        if (im != NULL || strstr(err.msg, g_input) == NULL) {
            fprintf(stderr, "fuzz_imatrix: error without the file name: %s\n", err.msg);
            abort();
        }
        return 0;
    }
    const int64_t n = qtk_imatrix_count(im);
    for (int64_t i = 0; i < n; i++) {
        const qtk_imatrix_entry *e = qtk_imatrix_at(im, i);
        if (!e || !e->name || qtk_imatrix_find(im, e->name) != e) abort();
        if (e->n_per_row < 1 || e->n_mat < 1 || e->n_per_row * e->n_mat != e->nval) abort();
        for (int64_t k = 0; k < e->nval; k++)
            if (!isfinite(e->values[k]) || e->values[k] < 0) abort();
        for (int64_t m = 0; m < e->n_mat; m++) {
            if (!isfinite(e->counts[m]) || e->counts[m] < 0) abort();
            const float *w = qtk_imatrix_for(im, e->name, e->n_per_row, e->n_mat, m);
            if (w != e->values + m * e->n_per_row) abort();
        }
    }
    (void)qtk_imatrix_chunks(im);
    for (int64_t i = 0; i < qtk_imatrix_n_datasets(im); i++)
        if (!qtk_imatrix_dataset(im, i)) abort();
    qtk_imatrix_free(im);
    return 0;
}
