/*
 * test_imatrix_collect.c — `qtk imatrix` / qtk_imatrix_collect on the
 * tiny-llama fixture (skipped without ../shared):
 *  1. The bar of issue #14: `qtk imatrix -m tiny-llama-f32.gguf -f calib.txt
 *     -c 256` reproduces fixtures/imatrix.dat (the reference's llama-imatrix
 *     with that command): the same 42 entry names, ncall 139 each, chunk
 *     count 139, values within 1e-4 relative (achieved 3.05e-5, x86-64; see
 *     docs/imatrix.md). Under QTK_TEST_QUICK=1 (sanitizers, emulators) only a
 *     4-chunk run and its structure: aarch64 was not measured against the
 *     fixture (under qemu 4 chunks take minutes); its 4-chunk file differs
 *     from x86-64's by up to 1.2e-4 in blk.4.attn_output (attention kernels
 *     rounding differently), less elsewhere, and averages down over more chunks.
 *  2. --in-file: a 2-chunk and a 6-chunk file (unequal, so the weighting by
 *     counts matters) combine to the 8-chunk file of the same text, in both
 *     formats and across formats, within float rounding (1e-6; achieved
 *     ~2e-7); counts and chunk counts exact.
 *  3. Both output formats load back through qtk_imatrix_load with the same
 *     values, counts, chunk count and dataset.
 *  4. Refusals: output == an input (in-file, model, text; other spellings
 *     too) exits 2 and leaves the input intact; usage errors exit 2 with the
 *     hint; --process-output adds output.weight; --save-frequency writes
 *     OUT.at_N; the running PPL line and llama-imatrix's final line.
 *  5. The library: the progress callback's error stops the run; a short text
 *     and a bad n_ctx are refused; merging files of another shape is refused.
 *  6. MoE (fixtures/arch/qwen3moe.gguf): expert tensors per expert, counts
 *     per expert adding up to tokens x experts used; a legacy file splits
 *     back into experts when merged with the model given.
 */
#include "testlib.h"
#include "core/qtk_internal.h"

#include <math.h>

static char *g_f32, *g_calib, *g_ref;

static bool quick_mode(void) { return tl_quick(); }

static qtk_imatrix *load(const char *path) {
    qtk_imatrix *im = NULL;
    qtk_error err;
    CHECK(qtk_imatrix_load(path, &im, &err) == QTK_OK, "load %s: %s", path, err.msg);
    return im;
}

/* Runs `qtk imatrix ARGS`; returns the exit code, output in *log (malloc'ed). */
static int run(const char *args, char **log) {
    char *out = tl_tmp_path("test_imatrix_collect_log.txt");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "imatrix %s", args);
    int rc = tl_run_qtk(cmd, out);
    if (log) *log = tl_read_text(out);
    remove(out);
    free(out);
    return rc;
}

/* Largest relative difference of the values of two imatrix files; checks
 * they hold the same names with the same sizes and counts (count_tol
 * relative; < 0: counts not compared). */
static double compare(const qtk_imatrix *a, const qtk_imatrix *b, double count_tol, const char *what) {
    double worst = 0.0;
    CHECK(qtk_imatrix_count(a) == qtk_imatrix_count(b), "%s: %lld vs %lld entries", what,
          (long long)qtk_imatrix_count(a), (long long)qtk_imatrix_count(b));
    for (int64_t i = 0; i < qtk_imatrix_count(a); i++) {
        const qtk_imatrix_entry *ea = qtk_imatrix_at(a, i), *eb = qtk_imatrix_find(b, ea->name);
        CHECK(eb != NULL, "%s: entry %s missing", what, ea->name);
        if (!eb) continue;
        CHECK(ea->nval == eb->nval && ea->n_mat == eb->n_mat, "%s: %s has %lld/%lld values", what, ea->name,
              (long long)ea->nval, (long long)eb->nval);
        if (ea->nval != eb->nval || ea->n_mat != eb->n_mat) continue;
        for (int64_t m = 0; m < ea->n_mat && count_tol >= 0; m++)
            CHECK(fabs((double)ea->counts[m] - (double)eb->counts[m]) <= count_tol * fabs((double)ea->counts[m]),
                  "%s: %s count %g vs %g", what, ea->name, (double)ea->counts[m], (double)eb->counts[m]);
        for (int64_t j = 0; j < ea->nval; j++) {
            double x = ea->values[j], y = eb->values[j];
            double r = fabs(x - y) / fmax(fabs(x), 1e-30);
            if (r > worst) worst = r;
        }
    }
    return worst;
}

/* 1. the fixture's imatrix.dat */
static void test_reference(void) {
    char *out = tl_tmp_path("test_imatrix_collect_ref.dat");
    char args[4096];
    const int64_t chunks = quick_mode() ? 4 : 139;
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" -c 256 -t 2 -o \"%s\"%s", g_f32, g_calib, out,
             quick_mode() ? " --chunks 4" : "");
    char *log = NULL;
    double t0 = qtk_time_now();
    int rc = run(args, &log);
    CHECK(rc == 0, "qtk imatrix exit %d:\n%s", rc, log ? log : "");
    if (rc == 0) {
        CHECK(log && strstr(log, "[1]") && strstr(log, ",[2]") && strstr(log, "Final estimate: PPL = "),
              "running PPL / final line missing:\n%s", log ? log : "");
        CHECK(log && strstr(log, "seconds per pass - ETA"), "no ETA line");
        qtk_imatrix *ref = load(g_ref), *got = load(out);
        if (ref && got) {
            CHECK(qtk_imatrix_get_format(got) == QTK_IMATRIX_LEGACY, "default .dat name: legacy format");
            CHECK(qtk_imatrix_count(ref) == 42 && qtk_imatrix_count(got) == 42, "entries %lld (reference %lld)",
                  (long long)qtk_imatrix_count(got), (long long)qtk_imatrix_count(ref));
            CHECK(qtk_imatrix_chunks(got) == chunks, "chunk count %lld, expected %lld",
                  (long long)qtk_imatrix_chunks(got), (long long)chunks);
            CHECK(qtk_imatrix_n_datasets(got) == 1 && strstr(qtk_imatrix_dataset(got, 0), "calib.txt"), "dataset");
            CHECK(!qtk_imatrix_find(got, "output.weight") && !qtk_imatrix_find(got, "token_embd.weight"),
                  "output.weight / token_embd.weight collected");
            for (int64_t i = 0; i < qtk_imatrix_count(got); i++) {
                const qtk_imatrix_entry *e = qtk_imatrix_at(got, i);
                CHECK(e->ncall == chunks, "%s: ncall %lld", e->name, (long long)e->ncall);
            }
            if (!quick_mode()) {
                CHECK(qtk_imatrix_chunks(ref) == 139, "reference chunk count %lld", (long long)qtk_imatrix_chunks(ref));
                /* counts are ncall (139) in both: exact */
                double worst = compare(ref, got, 0.0, "vs reference");
                /* the bar: 1e-4. Achieved 3.05e-5 (x86-64, blk.4.attn_output.weight: activations of the
                 * attention, summed in another order, round differently in the float running sums);
                 * with double sums it is 1.0e-4, the reference's own float rounding (docs/imatrix.md) */
                CHECK(worst <= 1e-4, "largest relative difference %.3g > 1e-4", worst);
                printf("  vs fixtures/imatrix.dat: 42 entries, ncall 139, largest relative difference %.3g (%.1f s)\n",
                       worst, qtk_time_now() - t0);
            }
        }
        qtk_imatrix_free(ref);
        qtk_imatrix_free(got);
    }
    free(log);
    remove(out);
    free(out);
}

/* 2 + 3: halves combined == whole; both formats load back alike */
static void test_combine(void) {
    char *a = tl_tmp_path("test_imatrix_collect_a.gguf"), *b = tl_tmp_path("test_imatrix_collect_b.dat");
    char *w = tl_tmp_path("test_imatrix_collect_w.gguf"), *wd = tl_tmp_path("test_imatrix_collect_w.dat");
    char *ab = tl_tmp_path("test_imatrix_collect_ab.gguf"), *abd = tl_tmp_path("test_imatrix_collect_ab.dat");
    char *ad = tl_tmp_path("test_imatrix_collect_a.dat");
    char args[8192];
    const char *common = "-c 256 -t 2 --no-ppl --double-sums";
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" %s --chunks 2 -o \"%s\"", g_f32, g_calib, common, a);
    CHECK(run(args, NULL) == 0, "first part");
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" %s --chunk 2 --chunks 6 -o \"%s\"", g_f32, g_calib, common, b);
    CHECK(run(args, NULL) == 0, "second part");
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" %s --chunks 8 -o \"%s\"", g_f32, g_calib, common, w);
    CHECK(run(args, NULL) == 0, "whole");
    /* the same data in the other format */
    snprintf(args, sizeof args, "--in-file \"%s\" -o \"%s\"", w, wd);
    CHECK(run(args, NULL) == 0, "convert to .dat");
    snprintf(args, sizeof args, "--in-file \"%s\" --output-format dat -o \"%s\"", a, ad);
    CHECK(run(args, NULL) == 0, "convert a to .dat");
    /* GGUF + legacy (a legacy file counts ncall x -c tokens) */
    snprintf(args, sizeof args, "--in-file \"%s\" --in-file \"%s\" -c 256 -o \"%s\"", a, b, ab);
    CHECK(run(args, NULL) == 0, "combine gguf + dat");
    snprintf(args, sizeof args, "--in-file \"%s\" --in-file \"%s\" -c 256 -o \"%s\"", ad, b, abd);
    CHECK(run(args, NULL) == 0, "combine dat + dat");

    qtk_imatrix *iw = load(w), *iwd = load(wd), *iab = load(ab), *iabd = load(abd), *ia = load(a), *ib = load(b);
    if (iw && iwd && iab && iabd && ia && ib) {
        /* 3. formats and what they record */
        CHECK(qtk_imatrix_get_format(iw) == QTK_IMATRIX_GGUF && qtk_imatrix_get_format(iwd) == QTK_IMATRIX_LEGACY,
              "formats chosen by the name");
        CHECK(qtk_imatrix_count(iw) == 42, "whole: %lld entries", (long long)qtk_imatrix_count(iw));
        CHECK(qtk_imatrix_chunks(iw) == 8 && qtk_imatrix_chunk_size(iw) == 256 && qtk_imatrix_chunks(iwd) == 8,
              "chunks %lld/%lld, size %lld", (long long)qtk_imatrix_chunks(iw), (long long)qtk_imatrix_chunks(iwd),
              (long long)qtk_imatrix_chunk_size(iw));
        CHECK(qtk_imatrix_n_datasets(iw) == 1 && strstr(qtk_imatrix_dataset(iw, 0), "calib.txt") &&
                  qtk_imatrix_n_datasets(iwd) == 1 && strstr(qtk_imatrix_dataset(iwd, 0), "calib.txt"),
              "datasets recorded");
        const qtk_imatrix_entry *e = qtk_imatrix_find(iw, "blk.0.ffn_down.weight");
        CHECK(e && e->n_per_row == 768 && e->n_mat == 1 && e->counts[0] == 8 * 256.0f, "GGUF entry: tokens as counts");
        const qtk_imatrix_entry *ed = qtk_imatrix_find(iwd, "blk.0.ffn_down.weight");
        CHECK(ed && ed->ncall == 8, "legacy ncall %lld (chunks)", ed ? (long long)ed->ncall : -1LL);
        double r_fmt = compare(iw, iwd, -1, "gguf vs dat");  /* counts: tokens vs calls, checked above */
        CHECK(r_fmt <= 1e-6, "the two formats of one collection differ by %.3g (float rounding: <= 1e-6)", r_fmt);
        /* 2. combined halves == whole */
        CHECK(qtk_imatrix_chunks(iab) == 8 && qtk_imatrix_chunks(iabd) == 8, "combined chunk counts %lld/%lld",
              (long long)qtk_imatrix_chunks(iab), (long long)qtk_imatrix_chunks(iabd));
        double r1 = compare(iw, iab, 0.0, "gguf+dat vs whole");
        double r2 = compare(iwd, iabd, 0.0, "dat+dat vs whole");
        /* achieved ~2e-7 (sums stored as float, divided, multiplied back); 1e-6 */
        CHECK(r1 <= 1e-6 && r2 <= 1e-6, "combined vs whole: %.3g / %.3g (> 1e-6)", r1, r2);
        /* the parts differ from the whole (else the test proves nothing) */
        double r_part = compare(ia, iw, -1, "part vs whole");
        CHECK(r_part > 1e-3, "a part equals the whole (%.3g)", r_part);
        printf("  combine 2 + 6 chunks == 8 chunks: %.3g (gguf+dat), %.3g (dat+dat); formats %.3g apart\n", r1, r2,
               r_fmt);
    }
    qtk_imatrix_free(iw);
    qtk_imatrix_free(iwd);
    qtk_imatrix_free(iab);
    qtk_imatrix_free(iabd);
    qtk_imatrix_free(ia);
    qtk_imatrix_free(ib);

    /* 4. output == input refused, input left as it was */
    size_t na = 0, na2 = 0;
    unsigned char *before = tl_read_file(a, &na);
    char *log = NULL;
    snprintf(args, sizeof args, "--in-file \"%s\" --in-file \"%s\" -c 256 -o \"%s\"", a, b, b);
    int rc = run(args, &log);
    CHECK(rc == 2 && log && strstr(log, "same file"), "output == --in-file: exit %d\n%s", rc, log ? log : "");
    free(log);
    char *dotted = (char *)malloc(strlen(a) + 8);
    const char *slash = strrchr(a, '/');
    if (dotted && slash) {
        /* the same file under another spelling: DIR/./NAME */
        snprintf(dotted, strlen(a) + 8, "%.*s/./%s", (int)(slash - a), a, slash + 1);
        snprintf(args, sizeof args, "--in-file \"%s\" -o \"%s\"", a, dotted);
        rc = run(args, &log);
        CHECK(rc == 2, "output == input (other spelling %s): exit %d\n%s", dotted, rc, log ? log : "");
        free(log);
    }
    free(dotted);
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" -o \"%s\"", g_f32, g_calib, g_f32);
    rc = run(args, &log);
    CHECK(rc == 2, "output == model: exit %d\n%s", rc, log ? log : "");
    free(log);
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" -o \"%s\"", g_f32, g_calib, g_calib);
    CHECK(run(args, NULL) == 2, "output == text");
    unsigned char *after = tl_read_file(a, &na2);
    CHECK(before && after && na == na2 && memcmp(before, after, na) == 0, "input changed by a refused run");
    free(before);
    free(after);

    remove(a), remove(b), remove(w), remove(wd), remove(ab), remove(abd), remove(ad);
    free(a), free(b), free(w), free(wd), free(ab), free(abd), free(ad);
}

/* 4. usage errors, --process-output, --save-frequency */
static void test_cli_misc(void) {
    char args[8192];
    char *log = NULL;
    int rc = run("-m only-a-model.gguf", &log);
    CHECK(rc == 2 && log && strstr(log, "see 'qtk help imatrix'"), "missing -f: exit %d\n%s", rc, log ? log : "");
    free(log);
    CHECK(run("--bogus", NULL) == 2, "unknown option");
    CHECK(run("", NULL) == 2, "no arguments");
    CHECK(run("--in-file x.dat --output-format xyz", NULL) == 2, "bad --output-format");
    CHECK(run("-m a.gguf -f t.txt -c 0", NULL) == 2, "-c 0");
    CHECK(run("-m a.gguf -f t.txt --chunks x", NULL) == 2, "--chunks x");
    rc = run("--help", &log);
    CHECK(rc == 0 && log && strstr(log, "--in-file") && strstr(log, "--process-output"), "--help");
    free(log);
    /* a missing input is a failure (1), not a usage error */
    char *missing = tl_tmp_path("test_imatrix_collect_missing.dat"), *o = tl_tmp_path("test_imatrix_collect_o.dat");
    snprintf(args, sizeof args, "--in-file \"%s\" -o \"%s\"", missing, o);
    rc = run(args, &log);
    CHECK(rc == 1 && log && strstr(log, "test_imatrix_collect_missing.dat") && !tl_file_exists(o),
          "missing --in-file: exit %d\n%s", rc, log ? log : "");
    free(log);

    /* --process-output: output.weight is collected over every token of the chunk;
     * --save-frequency 2 leaves OUT.at_2 with 2 chunks */
    char *g = tl_tmp_path("test_imatrix_collect_po.gguf");
    snprintf(args, sizeof args, "-m \"%s\" -f \"%s\" -c 256 -t 2 --chunks 3 --process-output --save-frequency 2 -o \"%s\"",
             g_f32, g_calib, g);
    rc = run(args, &log);
    CHECK(rc == 0, "--process-output run: exit %d\n%s", rc, log ? log : "");
    free(log);
    qtk_imatrix *im = rc == 0 ? load(g) : NULL;
    if (im) {
        const qtk_imatrix_entry *e = qtk_imatrix_find(im, "output.weight");
        CHECK(e && e->n_per_row == 256 && e->counts[0] == 3 * 256.0f, "output.weight entry: %s",
              e ? "wrong shape/count" : "missing");
        CHECK(qtk_imatrix_count(im) == 43, "%lld entries with output.weight", (long long)qtk_imatrix_count(im));
    }
    qtk_imatrix_free(im);
    size_t n = strlen(g) + 16;
    char *at = (char *)malloc(n);
    snprintf(at, n, "%s.at_2", g);
    im = tl_file_exists(at) ? load(at) : NULL;
    CHECK(im && qtk_imatrix_chunks(im) == 2, "--save-frequency 2: %s", im ? "wrong chunk count" : "no OUT.at_2");
    qtk_imatrix_free(im);
    remove(at);
    remove(g);
    free(at);
    free(g);
    free(missing);
    free(o);
}

static qtk_status stop_at_2(void *user, const qtk_imatrix_progress *p, qtk_error *err) {
    int *calls = (int *)user;
    (*calls)++;
    if (p->chunk == 2) return qtk_set_error(err, QTK_ERR_IO, "stop here");
    return QTK_OK;
}

/* 5. the library */
static void test_library(void) {
    qtk_model *m = NULL;
    qtk_vocab *v = NULL;
    qtk_error err;
    CHECK(qtk_model_load(g_f32, &m, &err) == QTK_OK, "model: %s", err.msg);
    if (!m) return;
    CHECK(qtk_vocab_load(qtk_model_gguf(m), &v, &err) == QTK_OK, "vocab: %s", err.msg);
    char *text = tl_read_text(g_calib);
    int32_t *tok = NULL;
    int64_t nt = 0;
    CHECK(text && qtk_tokenize(v, text, strlen(text), true, &tok, &nt, &err) == QTK_OK, "tokenize");
    qtk_imatrix_acc *acc = NULL;
    CHECK(qtk_imatrix_acc_create(&acc, &err) == QTK_OK, "acc");
    qtk_imatrix_params p;
    qtk_imatrix_params_default(&p);
    p.n_ctx = 256;
    p.n_threads = 2;
    p.n_chunks = 5;
    int calls = 0;
    qtk_imatrix_progress res;
    qtk_status st = qtk_imatrix_collect(m, v, tok, nt, &p, acc, stop_at_2, &calls, &res, &err);
    CHECK(st == QTK_ERR_IO && calls == 2 && strstr(err.msg, "stop here"), "callback error: status %d, %d calls, %s",
          (int)st, calls, err.msg);
    CHECK(qtk_imatrix_acc_chunks(acc) == 2, "chunks recorded when stopped: %lld", (long long)qtk_imatrix_acc_chunks(acc));
    CHECK(qtk_imatrix_collect(m, v, tok, 511, &p, acc, NULL, NULL, &res, &err) == QTK_ERR_INVALID_ARG &&
              strstr(err.msg, "at least 512 tokens"),
          "short text: %s", err.msg);
    p.n_ctx = 2;
    CHECK(qtk_imatrix_collect(m, v, tok, nt, &p, acc, NULL, NULL, &res, &err) == QTK_ERR_INVALID_ARG, "n_ctx 2");
    p.n_ctx = 256;
    p.first_chunk = nt / 256 - 1;
    CHECK(qtk_imatrix_collect(m, v, tok, nt, &p, acc, NULL, NULL, &res, &err) == QTK_ERR_INVALID_ARG &&
              strstr(err.msg, "not enough tokens left"),
          "--chunk past the end: %s", err.msg);
    /* a finished run: PPL of the scored halves, tokens counted */
    p.first_chunk = 0;
    p.n_chunks = 2;
    qtk_imatrix_acc *acc2 = NULL;
    CHECK(qtk_imatrix_acc_create(&acc2, &err) == QTK_OK, "acc2");
    st = qtk_imatrix_collect(m, v, tok, nt, &p, acc2, NULL, NULL, &res, &err);
    CHECK(st == QTK_OK && res.chunk == 2 && res.n_tokens == 512 && res.n_scored == 2 * 127 && res.ppl > 1 &&
              res.ppl < 1000 && qtk_imatrix_acc_count(acc2) == 42,
          "2 chunks: status %d, %lld chunks, %lld scored, PPL %g, %lld tensors", (int)st, (long long)res.chunk,
          (long long)res.n_scored, res.ppl, (long long)qtk_imatrix_acc_count(acc2));
    /* merging a file whose entry has another shape is refused, adding nothing */
    char *path = tl_tmp_path("test_imatrix_collect_lib.dat");
    CHECK(qtk_imatrix_save_dat(path, acc2, &err) == QTK_OK, "save: %s", err.msg);
    qtk_imatrix *im = load(path);
    qtk_imatrix_acc *acc3 = NULL;
    int64_t idx;
    CHECK(qtk_imatrix_acc_create(&acc3, &err) == QTK_OK &&
              qtk_imatrix_acc_tensor(acc3, "blk.3.ffn_down.weight", 256, 3, &idx, &err) == QTK_OK,
          "acc3");
    if (im && acc3) {
        CHECK(qtk_imatrix_acc_merge(acc3, im, 256, NULL, &err) == QTK_ERR_INVALID_ARG &&
                  strstr(err.msg, "blk.3.ffn_down.weight"),
              "shape conflict: %s", err.msg);
        CHECK(qtk_imatrix_acc_count(acc3) == 1 && qtk_imatrix_acc_chunks(acc3) == 0, "a refused merge added data");
    }
    qtk_imatrix_free(im);
    remove(path);
    free(path);
    qtk_imatrix_acc_free(acc);
    qtk_imatrix_acc_free(acc2);
    qtk_imatrix_acc_free(acc3);
    free(tok);
    free(text);
    qtk_vocab_free(v);
    qtk_model_free(m);
}

/* 6. MoE (qwen3moe fixture): expert tensors per expert, with per-expert counts
 * that add up to tokens x experts used; a legacy file of it splits back into
 * experts when merged with the model at hand. */
static void test_moe(void) {
    char *path = tl_shared_path("fixtures/arch/qwen3moe.gguf");
    if (!path) {
        printf("  MoE not tested (fixtures/arch/qwen3moe.gguf not found)\n");
        return;
    }
    qtk_model *m = NULL;
    qtk_vocab *v = NULL;
    qtk_error err;
    CHECK(qtk_model_load(path, &m, &err) == QTK_OK, "qwen3moe: %s", err.msg);
    free(path);
    if (!m) return;
    int64_t n_used = 0;
    CHECK(qtk_meta_get_int(qtk_gguf_meta(qtk_model_gguf(m)), "qwen3moe.expert_used_count", &n_used) && n_used > 0,
          "expert_used_count");
    CHECK(qtk_vocab_load(qtk_model_gguf(m), &v, &err) == QTK_OK, "vocab: %s", err.msg);
    char *text = tl_read_text(g_calib);
    int32_t *tok = NULL;
    int64_t nt = 0;
    CHECK(text && qtk_tokenize(v, text, strlen(text), true, &tok, &nt, &err) == QTK_OK, "tokenize");
    qtk_imatrix_acc *acc = NULL, *acc2 = NULL;
    CHECK(qtk_imatrix_acc_create(&acc, &err) == QTK_OK && qtk_imatrix_acc_create(&acc2, &err) == QTK_OK, "acc");
    qtk_imatrix_params p;
    qtk_imatrix_params_default(&p);
    p.n_ctx = 256;
    p.n_threads = 2;
    p.n_chunks = 2;
    p.compute_ppl = false;
    qtk_imatrix_progress res;
    char *g = tl_tmp_path("test_imatrix_collect_moe.gguf"), *d = tl_tmp_path("test_imatrix_collect_moe.dat");
    CHECK(qtk_imatrix_collect(m, v, tok, nt, &p, acc, NULL, NULL, &res, &err) == QTK_OK, "collect: %s", err.msg);
    CHECK(qtk_imatrix_save_gguf(g, acc, &err) == QTK_OK && qtk_imatrix_save_dat(d, acc, &err) == QTK_OK, "save: %s",
          err.msg);
    qtk_imatrix *im = load(g), *imd = load(d);
    for (int l = 0; im && l < 6; l++) {
        char n1[64], n2[64], n3[64], n4[64];
        snprintf(n1, sizeof n1, "blk.%d.ffn_gate_exps.weight", l);
        snprintf(n2, sizeof n2, "blk.%d.ffn_up_exps.weight", l);
        snprintf(n3, sizeof n3, "blk.%d.ffn_down_exps.weight", l);
        snprintf(n4, sizeof n4, "blk.%d.ffn_gate_inp.weight", l);
        const qtk_imatrix_entry *eg = qtk_imatrix_find(im, n1), *eu = qtk_imatrix_find(im, n2);
        const qtk_imatrix_entry *ed = qtk_imatrix_find(im, n3), *er = qtk_imatrix_find(im, n4);
        CHECK(eg && eu && ed && er, "layer %d: expert/router entries missing", l);
        if (!eg || !eu || !ed || !er) continue;
        CHECK(eg->n_per_row == 256 && eg->n_mat == 4 && ed->n_per_row == 768 && ed->n_mat == 4,
              "layer %d: expert shapes [%lld, %lld] / [%lld, %lld]", l, (long long)eg->n_per_row,
              (long long)eg->n_mat, (long long)ed->n_per_row, (long long)ed->n_mat);
        CHECK(er->n_mat == 1 && er->counts[0] == 512.0f, "layer %d: router count %g", l, (double)er->counts[0]);
        double total = 0;
        for (int64_t e = 0; e < eg->n_mat && eg->n_mat == 4 && ed->n_mat == 4; e++) {
            total += eg->counts[e];
            CHECK(eg->counts[e] == eu->counts[e] && eg->counts[e] == ed->counts[e],
                  "layer %d expert %lld: counts gate %g up %g down %g", l, (long long)e, (double)eg->counts[e],
                  (double)eu->counts[e], (double)ed->counts[e]);
        }
        CHECK(total == 512.0 * (double)n_used, "layer %d: expert counts add up to %g, not 512 x %lld", l, total,
              (long long)n_used);
    }
    if (imd) {
        /* legacy: the split is not stored; merged with the model's shapes it comes back */
        CHECK(qtk_imatrix_acc_merge(acc2, imd, 256, qtk_model_gguf(m), &err) == QTK_OK, "merge: %s", err.msg);
        int64_t idx;
        CHECK(qtk_imatrix_acc_tensor(acc2, "blk.0.ffn_down_exps.weight", 768, 4, &idx, &err) == QTK_OK,
              "legacy expert entry not split into 4 experts: %s", err.msg);
        CHECK(qtk_imatrix_acc_chunks(acc2) == 2, "merged chunks %lld", (long long)qtk_imatrix_acc_chunks(acc2));
    }
    qtk_imatrix_free(im);
    qtk_imatrix_free(imd);
    remove(g), remove(d);
    free(g), free(d);
    qtk_imatrix_acc_free(acc);
    qtk_imatrix_acc_free(acc2);
    free(tok);
    free(text);
    qtk_vocab_free(v);
    qtk_model_free(m);
}

int main(void) {
    g_f32 = tl_shared_path("fixtures/tiny-llama-f32.gguf");
    g_calib = tl_shared_path("fixtures/calib.txt");
    g_ref = tl_shared_path("fixtures/imatrix.dat");
    if (!g_f32 || !g_calib || !g_ref) {
        free(g_f32), free(g_calib), free(g_ref);
        return tl_skip("test_imatrix_collect", "fixtures (tiny-llama-f32.gguf, calib.txt, imatrix.dat) not found");
    }
    test_library();
    test_moe();
    if (tl_qtk_available()) {
        test_cli_misc();
        test_combine();
        test_reference();
    } else {
        printf("  CLI not tested (QTK_BIN unset or not runnable here)\n");
    }
    free(g_f32), free(g_calib), free(g_ref);
    return tl_finish("test_imatrix_collect");
}
