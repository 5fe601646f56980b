/*
 * test_ppl_faults.c — perplexity on bad models and bad inputs (issue 11), on
 * a synthetic model written here (`qtk synth --shape tiny`, no ../shared
 * needed):
 *  1. a NaN weight (and an Inf norm weight): qtk_perplexity fails with
 *     QTK_ERR_NUMERIC naming chunk 1 and the first scored position, writes
 *     no KLD base file; the CLI exits 1 with that message;
 *  2. a model without a vocabulary (tokenizer.* keys stripped) against the
 *     qtk-format base file of the same weights with a vocabulary: KLD exactly 0, 100 %
 *     same top token, same PPL (the base file holds the tokens as
 *     evaluated, BOS first in every chunk);
 *  3. `-f` with binary bytes: a warning naming the file and the byte offset;
 *     valid UTF-8 text: no warning;
 *  4. `--chunks -1` evaluates every chunk (llama-perplexity semantics),
 *     `--chunks 0` is a usage error (exit 2);
 *  5. corrupt qtk-format base files (token ids outside the vocabulary, a header
 *     claiming 2^32-1 chunks, a NaN nll, a bad top token) are refused with
 *     a message naming the file (cases found by fuzz/fuzz_kld.c; the
 *     llama.cpp format: test_kld_format.c).
 */
#include "testlib.h"

#include <math.h>

#define NCTX 16

static char *g_model, *g_nan, *g_inf, *g_novocab, *g_text, *g_bin;

/* Copies the GGUF at src to dst: without tokenizer.* keys when strip_vocab,
 * with element 0 of tensor `poison` (F16 or F32) set to `value`. */
static int copy_model(const char *src, const char *dst, int strip_vocab, const char *poison, float value) {
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_open(src, &g, &err) != QTK_OK) return 0;
    if (qtk_gguf_writer_open(dst, &w, &err) != QTK_OK) {
        qtk_gguf_close(g);
        return 0;
    }
    qtk_meta *m = qtk_gguf_writer_meta(w);
    int ok = qtk_meta_copy(m, qtk_gguf_meta(g), &err) == QTK_OK;
    if (strip_vocab) {
        static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                           "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
                                           "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                                           "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                                           "tokenizer.ggml.pre", "tokenizer.ggml.merges"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) qtk_meta_remove(m, keys[i]);
    }
    for (int64_t i = 0; ok && i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        ok = qtk_gguf_writer_add_tensor(w, t->name, (qtk_type)t->type, t->n_dims, t->ne, &err) == QTK_OK;
    }
    int poisoned = poison == NULL;
    for (int64_t i = 0; ok && i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        size_t n = qtk_row_size(t->type, t->ne[0]) * (size_t)qtk_tensor_nrows(t);
        unsigned char *d = (unsigned char *)malloc(n);
        ok = d != NULL;
        if (ok) {
            memcpy(d, t->data, n);
            if (poison && !strcmp(t->name, poison)) {
                if (t->type == QTK_TYPE_F32) {
                    memcpy(d, &value, 4);
                    poisoned = 1;
                } else if (t->type == QTK_TYPE_F16) {
                    uint16_t h = qtk_fp32_to_fp16(value);
                    memcpy(d, &h, 2);
                    poisoned = 1;
                }
            }
            ok = qtk_gguf_writer_write(w, d, n, &err) == QTK_OK;
        }
        free(d);
    }
    qtk_gguf_close(g);
    if (!ok || !poisoned) {
        qtk_gguf_writer_abort(w);
        return 0;
    }
    return qtk_gguf_writer_finish(w, &err) == QTK_OK;
}

static qtk_model *load(const char *path) {
    qtk_model *m = NULL;
    qtk_error err;
    CHECK(qtk_model_load(path, &m, &err) == QTK_OK, "%s: %s", path, err.msg);
    return m;
}

/* n random tokens in [3, n_vocab): never BOS (1), so a missing BOS replacement shows. */
static int32_t *random_tokens(int64_t n, int64_t n_vocab) {
    tl_rng r;
    tl_rng_seed(&r, 11);
    int32_t *t = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; t && i < n; i++) t[i] = 3 + (int32_t)(tl_rng_u64(&r) % (unsigned long long)(n_vocab - 3));
    return t;
}

static void test_nonfinite(const char *path, const char *what) {
    qtk_model *m = load(path);
    qtk_model *ok_m = load(g_model);
    if (!m || !ok_m) goto done;
    {
        const int64_t nv = qtk_model_get_info(m)->n_vocab;
        int32_t *tok = random_tokens(3 * NCTX, nv);
        char *base = tl_tmp_path("test_ppl_faults_nan.kld");
        remove(base);
        qtk_ppl_params p = {.n_ctx = NCTX, .n_threads = 2, .n_chunks = -1, .kld_base = base};
        qtk_ppl_stats s;
        qtk_error err;
        qtk_status st = qtk_perplexity(m, NULL, tok, 3 * NCTX, &p, NULL, NULL, &s, &err);
        CHECK(st == QTK_ERR_NUMERIC, "%s: status %d (%s), PPL %g", what, st, st ? err.msg : "ok", s.ppl);
        if (st != QTK_OK) {
            char want[64];
            snprintf(want, sizeof want, "chunk 1, token position %d of %d", NCTX / 2, NCTX);
            CHECK(strstr(err.msg, want) && strstr(err.msg, "non-finite"), "%s: message '%s' lacks '%s'", what,
                  err.msg, want);
        }
        CHECK(!tl_file_exists(base), "%s: a KLD base file was written", what);
        /* a compare run against a good base fails the same way */
        qtk_ppl_params pb = p;
        CHECK(qtk_perplexity(ok_m, NULL, tok, 3 * NCTX, &pb, NULL, NULL, &s, &err) == QTK_OK, "good base: %s",
              err.msg);
        pb.kld = true;
        st = qtk_perplexity(m, NULL, NULL, 0, &pb, NULL, NULL, &s, &err);
        CHECK(st == QTK_ERR_NUMERIC && strstr(err.msg, "chunk 1,"), "%s vs good base: status %d (%s)", what, st,
              st ? err.msg : "ok");
        remove(base);
        free(base);
        free(tok);
    }
done:
    qtk_model_free(m);
    qtk_model_free(ok_m);
}

static void test_novocab(void) {
    qtk_model *m = load(g_model), *nv_m = load(g_novocab);
    qtk_gguf *g = NULL;
    qtk_vocab *v = NULL;
    qtk_error err;
    char *base = tl_tmp_path("test_ppl_faults_novocab.kld");
    if (!m || !nv_m) goto done;
    CHECK(qtk_gguf_open(g_model, &g, &err) == QTK_OK && qtk_vocab_load(g, &v, &err) == QTK_OK, "vocab: %s",
          err.msg);
    if (!v) goto done;
    CHECK(qtk_vocab_adds_bos(v) && qtk_vocab_bos(v) == 1, "synth vocabulary: BOS 1 added");
    {
        const int64_t n = 4 * NCTX;
        int32_t *tok = random_tokens(n, qtk_model_get_info(m)->n_vocab);
        tok[0] = 1; /* as tokenized: BOS first */
        qtk_ppl_params p = {.n_ctx = NCTX, .n_threads = 2, .n_chunks = -1, .kld_base = base,
                            .kld_format = QTK_KLD_FORMAT_QTK};
        qtk_ppl_stats s0, s;
        CHECK(qtk_perplexity(m, v, tok, n, &p, NULL, NULL, &s0, &err) == QTK_OK, "base: %s", err.msg);
        CHECK(s0.n_chunks == 4, "base chunks %lld", (long long)s0.n_chunks);
        p.kld = true;
        /* the same weights without a vocabulary: BOS comes from the base file's tokens */
        CHECK(qtk_perplexity(nv_m, NULL, NULL, 0, &p, NULL, NULL, &s, &err) == QTK_OK, "no-vocab compare: %s",
              err.msg);
        CHECK(s.n_scored == 4 * (NCTX - 1 - NCTX / 2), "scored %lld", (long long)s.n_scored);
        CHECK(s.kld == 0.0 && s.kld_max == 0.0, "no-vocab model vs its own base: KLD mean %g max %g", s.kld,
              s.kld_max);
        CHECK(s.same_top == 1.0 && s.ppl == s0.ppl, "no-vocab: same top %.6f, PPL %.9g vs %.9g", s.same_top, s.ppl,
              s0.ppl);
        /* with the vocabulary it is the same */
        CHECK(qtk_perplexity(m, v, NULL, 0, &p, NULL, NULL, &s, &err) == QTK_OK && s.kld == 0.0,
              "vocab compare: KLD %g", s.kld);
        /* the no-vocab model without BOS replacement is a different evaluation: the test can fail */
        qtk_ppl_params q = {.n_ctx = NCTX, .n_threads = 2, .n_chunks = -1};
        CHECK(qtk_perplexity(nv_m, NULL, tok, n, &q, NULL, NULL, &s, &err) == QTK_OK && s.ppl != s0.ppl,
              "no-vocab model on raw tokens: PPL %.9g equals the BOS-replaced %.9g", s.ppl, s0.ppl);
        free(tok);
    }
done:
    remove(base);
    free(base);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
    qtk_model_free(m);
    qtk_model_free(nv_m);
}

/* Corrupt base files: refused with a message naming the file, nothing huge allocated. */
static void test_base_reader(void) {
    qtk_model *m = load(g_model);
    char *base = tl_tmp_path("test_ppl_faults_reader.kld"), *bad = tl_tmp_path("test_ppl_faults_bad.kld");
    unsigned char *d = NULL;
    size_t size = 0;
    if (!m) goto done;
    {
        const int64_t n = 2 * NCTX, nv = qtk_model_get_info(m)->n_vocab;
        int32_t *tok = random_tokens(n, nv);
        qtk_ppl_params p = {.n_ctx = NCTX, .n_threads = 2, .n_chunks = -1, .kld_base = base,
                            .kld_format = QTK_KLD_FORMAT_QTK};
        qtk_ppl_stats s;
        qtk_error err;
        CHECK(qtk_perplexity(m, NULL, tok, n, &p, NULL, NULL, &s, &err) == QTK_OK, "base: %s", err.msg);
        free(tok);
        d = tl_read_file(base, &size);
        const size_t rec0 = 32 + 4 * (size_t)n; /* first record: f32 nll, i32 top, 3 * n_vocab bytes */
        CHECK(d && size == rec0 + 2 * (NCTX - 1 - NCTX / 2) * (8 + 3 * (size_t)nv), "base file size %zu", size);
        if (!d || size < rec0 + 8) goto done;
        p.kld = true;
        p.kld_base = bad;
        struct {
            const char *what, *want;
            size_t at;
            uint32_t value;
        } cases[] = {
            {"token id past the vocabulary", "outside the vocabulary", 32 + 4 * 3, (uint32_t)nv},
            {"negative token id", "outside the vocabulary", 32 + 4 * (NCTX + 1), 0xFFFFFFFFu},
            /* the records then read as token ids: whichever check trips first, no 64 GiB allocation */
            {"2^32-1 chunks claimed", "chunk", 20, 0xFFFFFFFFu},
            {"NaN nll in a record", "corrupt record at chunk 1, position 8", rec0, 0x7FC00000u},
            /* finite, but not -ln p(next) of the stored distribution (PPL(base) would be inf) */
            {"nll 1e30 in a record", "corrupt record at chunk 1, position 8", rec0, 0x7149F2CAu},
            {"nll 0 in a record", "corrupt record at chunk 1, position 8", rec0, 0u},
            {"top token past the vocabulary", "corrupt record at chunk 1", rec0 + 4, (uint32_t)nv},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            unsigned char *c = (unsigned char *)malloc(size);
            if (!c) break;
            memcpy(c, d, size);
            for (int k = 0; k < 4; k++) c[cases[i].at + (size_t)k] = (unsigned char)(cases[i].value >> (8 * k));
            CHECK(tl_write_file(bad, c, size) == 0, "write %s", bad);
            free(c);
            qtk_status st = qtk_perplexity(m, NULL, NULL, 0, &p, NULL, NULL, &s, &err);
            CHECK(st == QTK_ERR_FORMAT && strstr(err.msg, "test_ppl_faults_bad.kld") && strstr(err.msg, cases[i].want),
                  "%s: status %d, '%s' (want '%s')", cases[i].what, st, st ? err.msg : "accepted", cases[i].want);
        }
    }
done:
    free(d);
    remove(base);
    remove(bad);
    free(base);
    free(bad);
    qtk_model_free(m);
}

static void test_cli(void) {
    if (!tl_qtk_available()) {
        printf("  CLI not tested (QTK_BIN unset or not runnable here)\n");
        return;
    }
    char *out = tl_tmp_path("test_ppl_faults_out.txt"), *base = tl_tmp_path("test_ppl_faults_cli.kld");
    char cmd[4096];
    remove(base);
    /* 1. NaN model through the CLI */
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d -t 2 --kl-divergence-base \"%s\"", g_nan, g_text,
             NCTX, base);
    CHECK(tl_run_qtk(cmd, out) == 1, "NaN model: exit code");
    CHECK(tl_file_contains(out, "non-finite logits") && tl_file_contains(out, "chunk 1,") &&
              !tl_file_contains(out, "Final estimate"),
          "NaN model: CLI output lacks the error or prints a PPL");
    CHECK(!tl_file_exists(base), "NaN model: CLI left a base file");
    /* 3. binary input: a warning with file name and offset; text: none */
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d -t 2 --chunks 1", g_model, g_bin, NCTX);
    CHECK(tl_run_qtk(cmd, out) == 0, "binary text: exit code");
    CHECK(tl_file_contains(out, "is not valid UTF-8") && tl_file_contains(out, "at offset 4)") &&
              tl_file_contains(out, "test_ppl_faults_bin.txt"),
          "binary -f: no warning naming file and offset");
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d -t 2 --chunks 1", g_model, g_text, NCTX);
    CHECK(tl_run_qtk(cmd, out) == 0 && !tl_file_contains(out, "UTF-8"), "valid text: exit code or spurious warning");
    /* 4. --chunks -1 = all */
    char *o = NULL;
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d -t 2 --chunks -1", g_model, g_text, NCTX);
    CHECK(tl_run_qtk(cmd, out) == 0, "--chunks -1: exit code");
    o = tl_read_text(out);
    if (o) {
        /* all chunks: the same count as without --chunks */
        const char *c = strstr(o, "calculating perplexity over ");
        long n_all = c ? atol(c + strlen("calculating perplexity over ")) : -1;
        CHECK(n_all >= 3, "--chunks -1: %ld chunks", n_all);
        char last[32], past[32];
        snprintf(last, sizeof last, "[%ld]", n_all);
        snprintf(past, sizeof past, "[%ld]", n_all + 1);
        CHECK(strstr(o, last) && !strstr(o, past) && strstr(o, "Final estimate"), "--chunks -1 output:\n%s", o);
        free(o);
        snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d -t 2", g_model, g_text, NCTX);
        CHECK(tl_run_qtk(cmd, out) == 0, "default chunks: exit code");
        o = tl_read_text(out);
        c = o ? strstr(o, "calculating perplexity over ") : NULL;
        CHECK(c && atol(c + strlen("calculating perplexity over ")) == n_all, "default vs --chunks -1");
        free(o);
    } else {
        CHECK(0, "no output");
    }
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d --chunks 0", g_model, g_text, NCTX);
    CHECK(tl_run_qtk(cmd, out) == 2, "--chunks 0 must be a usage error");
    snprintf(cmd, sizeof cmd, "perplexity -m \"%s\" -f \"%s\" -c %d --chunks -2", g_model, g_text, NCTX);
    CHECK(tl_run_qtk(cmd, out) == 2, "--chunks -2 must be a usage error");
    remove(base);
    remove(out);
    free(base);
    free(out);
}

int main(void) {
    qtk_error err;
    g_model = tl_tmp_path("test_ppl_faults.gguf");
    g_nan = tl_tmp_path("test_ppl_faults_nan.gguf");
    g_inf = tl_tmp_path("test_ppl_faults_inf.gguf");
    g_novocab = tl_tmp_path("test_ppl_faults_novocab.gguf");
    g_text = tl_tmp_path("test_ppl_faults_text.txt");
    g_bin = tl_tmp_path("test_ppl_faults_bin.txt");
    CHECK(qtk_synth_write(g_model, "tiny", 5, 2, NULL, NULL, &err) == QTK_OK, "synth: %s", err.msg);
    CHECK(copy_model(g_model, g_nan, 0, "blk.0.attn_q.weight", NAN), "NaN copy");
    CHECK(copy_model(g_model, g_inf, 0, "blk.1.ffn_norm.weight", INFINITY), "Inf copy");
    CHECK(copy_model(g_model, g_novocab, 1, NULL, 0.0f), "no-vocab copy");
    {
        /* a text of a few hundred tokens; and one with a binary header */
        static const char words[] = "the quick brown fox jumps over the lazy dog and then rests in the shade. ";
        size_t nw = strlen(words);
        char *t = (char *)malloc(nw * 12);
        for (int i = 0; t && i < 12; i++) memcpy(t + (size_t)i * nw, words, nw);
        CHECK(t && tl_write_file(g_text, t, nw * 12) == 0, "write text");
        /* "GGUF", then 0xC0 at offset 4 (a byte never valid in UTF-8), then NUL */
        if (t) memcpy(t, "GGUF\xc0\x00\xff\xfe", 8);
        CHECK(t && tl_write_file(g_bin, t, nw * 12) == 0, "write binary");
        free(t);
    }
    qtk_model *probe = NULL;
    CHECK(qtk_model_load(g_novocab, &probe, &err) == QTK_OK, "no-vocab model loads: %s", err.msg);
    qtk_model_free(probe);
    if (tl_failures == 0) {
        test_nonfinite(g_nan, "NaN weight");
        test_nonfinite(g_inf, "Inf norm weight");
        test_novocab();
        test_base_reader();
        test_cli();
    }
    const char *files[] = {g_model, g_nan, g_inf, g_novocab, g_text, g_bin};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        remove(files[i]);
        free((void *)files[i]);
    }
    return tl_finish("test_ppl_faults");
}
