/*
 * fuzz_kld.c — libFuzzer target for the KL-divergence base file reader
 * (`qtk perplexity --kl-divergence-base FILE --kl-divergence`,
 * docs/kld-format.md). A tiny LLaMA model (n_vocab 16, made once per
 * process) is compared with each input as its base file: the run must either
 * fail with a message naming the file, or succeed with finite statistics
 * (PPL, KLD, same top) over exactly n_chunk * n_scored tokens. A header claiming more tokens than
 * the file holds must not allocate what it claims (-rss_limit_mb catches it).
 * Both formats are read (detected from the magic): llama.cpp's `_logits_` file
 * and qtk's `QTKLOGP1` file; qtk_kld_base_read_info, the model-free reader,
 * must agree with the compare run on whether the file is acceptable.
 * LLVMFuzzerInitialize writes valid base files of both formats (1 and 3
 * chunks, -c 4 and 8) into the corpus directory as seeds.
 */
#include "fuzz_common.h"

static qtk_model *g_model;
static char g_input[512];

static void write_seed_base(const char *dir, const char *name, int64_t n_ctx, int64_t n_chunk, qtk_kld_format fmt) {
    char path[512];
    fz_scratch_path(path, sizeof path, "kld-seed", "kld");
    int32_t tok[64];
    for (int i = 0; i < 64; i++) tok[i] = (int32_t)((i * 7 + 3) % FZ_VOCAB);
    qtk_ppl_params p = {.n_ctx = n_ctx, .n_threads = 1, .n_chunks = n_chunk, .kld_base = path, .kld_format = fmt};
    qtk_ppl_stats s;
    qtk_error err;
    if (qtk_perplexity(g_model, NULL, tok, 64, &p, NULL, NULL, &s, &err) != QTK_OK) abort();
    size_t n = 0;
    unsigned char *d = fz_read(path, &n);
    remove(path);
    fz_seed(dir, name, d, n);
    free(d);
}

/* the scratch input file does not outlive the process (when libFuzzer exits normally) */
static void remove_input(void) { remove(g_input); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char path[512];
    fz_scratch_path(path, sizeof path, "kld-model", "gguf");
    fz_tiny_model(path);
    qtk_error err;
    if (qtk_model_load(path, &g_model, &err) != QTK_OK) {
        fprintf(stderr, "fuzz_kld: tiny model: %s\n", err.msg);
        abort();
    }
    remove(path); /* the mapping stays valid on POSIX */
    fz_scratch_path(g_input, sizeof g_input, "kld-input", "kld");
    atexit(remove_input);
    const char *dir = fz_corpus_dir(*argc, *argv);
    write_seed_base(dir, "seed-c4-1chunk.kld", 4, 1, QTK_KLD_FORMAT_QTK);
    write_seed_base(dir, "seed-c8-3chunks.kld", 8, 3, QTK_KLD_FORMAT_QTK);
    write_seed_base(dir, "seed-llama-c4-1chunk.kld", 4, 1, QTK_KLD_FORMAT_LLAMA);
    write_seed_base(dir, "seed-llama-c8-3chunks.kld", 8, 3, QTK_KLD_FORMAT_LLAMA);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(g_input, data, size);
    qtk_ppl_params p = {.n_threads = 1, .n_chunks = -1, .kld_base = g_input, .kld = true};
    qtk_ppl_stats s;
    qtk_error err;
    memset(&err, 0, sizeof err);
    qtk_status st = qtk_perplexity(g_model, NULL, NULL, 0, &p, NULL, NULL, &s, &err);
    /* the model-free reader: refuses what the compare run refuses for the file's own
     * reasons (the compare run also refuses a vocabulary other than the model's) */
    qtk_kld_base_info in;
    qtk_error ierr;
    memset(&ierr, 0, sizeof ierr);
    const qtk_status ist = qtk_kld_base_read_info(g_input, true, &in, &ierr);
    if (ist != QTK_OK && (ierr.msg[0] == '\0' || strstr(ierr.msg, g_input) == NULL)) {
        fprintf(stderr, "fuzz_kld: info error without the file name: %s\n", ierr.msg);
        abort();
    }
    if ((st == QTK_OK && ist != QTK_OK) || (ist == QTK_OK && in.n_vocab == FZ_VOCAB && st != QTK_OK) ||
        (ist == QTK_OK && !(in.ppl > 0))) {
        fprintf(stderr, "fuzz_kld: compare %d (%s) but info %d (%s), info PPL %g\n", st, err.msg, ist, ierr.msg, in.ppl);
        abort();
    }
    if (st != QTK_OK) {
        if (err.msg[0] == '\0' || strstr(err.msg, g_input) == NULL) {
            fprintf(stderr, "fuzz_kld: error without the file name: %s\n", err.msg);
            abort();
        }
        return 0;
    }
    /* accepted: the header's geometry, finite statistics */
    const bool llama = size >= 8 && memcmp(data, "_logits_", 8) == 0;
    if (size < (llama ? 20u : 32u) || s.n_chunks < 1 || s.n_scored < 1) abort();
    const uint8_t *nc = data + (llama ? 8 : 12);
    const int64_t n_ctx = (int64_t)nc[0] | (int64_t)nc[1] << 8 | (int64_t)nc[2] << 16 | (int64_t)nc[3] << 24;
    if (s.n_scored != s.n_chunks * (n_ctx - 1 - n_ctx / 2)) abort();
    /* (PPL(base) is the file's own nll values: an nll past the 24-bit clamp (ln p < -256) is
     * taken as stored, so it may overflow exp; everything computed here must be finite) */
    if (!isfinite(s.ppl) || !isfinite(s.kld) || s.same_top < 0 || s.same_top > 1) {
        fprintf(stderr, "fuzz_kld: accepted with PPL %g, PPL(base) %g, KLD %g, same top %g\n", s.ppl, s.ppl_base,
                s.kld, s.same_top);
        abort();
    }
    return 0;
}
