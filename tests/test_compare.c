/*
 * test_compare.c — weight-space comparison (qtk_compare_models and `qtk
 * compare`) on two small GGUF files written by the test: identical files give
 * 0, known perturbations give the relative RMSE computed here from the same
 * decoded values, mismatched/missing tensors are reported and kept out of
 * the totals, imatrix weights change the value exactly as the formula says,
 * and the thread count does not change a bit of the result.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testlib.h"

#include <math.h>
#ifndef _WIN32
#include <sys/wait.h>
#endif

#define NQ 256 /* attn_q: [NQ, RQ], F32 in ref, F16 in quant */
#define RQ 4
#define ND 64  /* ffn_down: [ND, RD], F32 in ref, Q8_0 in quant */
#define RD 8
#define N_HOT 16 /* columns of attn_q that get the big perturbation */

typedef struct tdef {
    const char *name;
    int type, n_dims;
    int64_t ne0, ne1;
    const void *data;
} tdef;

static size_t tensor_bytes(const tdef *t) { return qtk_row_size(t->type, t->ne0) * (size_t)t->ne1; }

/* Writes a GGUF with the given tensors (data already in their types). */
static int write_gguf(const char *path, const tdef *t, int n) {
    qtk_error err;
    qtk_gguf_writer *w;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return -1;
    qtk_meta_set_str(qtk_gguf_writer_meta(w), "general.architecture", "llama", &err);
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (qtk_gguf_writer_add_tensor(w, t[i].name, (qtk_type)t[i].type, t[i].n_dims, ne, &err) != QTK_OK) {
            qtk_gguf_writer_abort(w);
            return -1;
        }
    }
    for (int i = 0; i < n; i++)
        if (qtk_gguf_writer_write(w, t[i].data, tensor_bytes(&t[i]), &err) != QTK_OK) {
            qtk_gguf_writer_abort(w);
            return -1;
        }
    return qtk_gguf_writer_finish(w, &err) == QTK_OK ? 0 : -1;
}

/* sum w (x-y)^2 and sum w x^2 over rows x rows of n, w per column (NULL = 1). */
static void sums(const float *x, const float *y, int64_t n, int64_t rows, const double *w, double *e, double *s) {
    *e = *s = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        double er = 0.0, sr = 0.0;
        for (int64_t c = 0; c < n; c++) {
            double xv = x[r * n + c], d = (double)x[r * n + c] - (double)y[r * n + c], wc = w ? w[c] : 1.0;
            er += wc * d * d;
            sr += wc * xv * xv;
        }
        *e += er;
        *s += sr;
    }
}

static int close_rel(double a, double b) { return fabs(a - b) <= 1e-12 * fabs(b) + 1e-300; }

static const qtk_compare_tensor *find(const qtk_compare_result *r, const char *name) {
    for (int64_t i = 0; i < r->n; i++)
        if (!strcmp(r->tensors[i].name, name)) return &r->tensors[i];
    return NULL;
}

static const qtk_compare_class *find_class(const qtk_compare_result *r, const char *name) {
    for (int64_t i = 0; i < r->n_classes; i++)
        if (!strcmp(r->classes[i].name, name)) return &r->classes[i];
    return NULL;
}


/* Value after "total relative RMSE: " in a CLI output file, or -1. */
static double cli_total(const char *path) {
    size_t n = 0;
    unsigned char *d = tl_read_file(path, &n);
    if (!d) return -1.0;
    char *s = (char *)realloc(d, n + 1);
    if (!s) {
        free(d);
        return -1.0;
    }
    s[n] = '\0';
    const char *key = "total relative RMSE: ";
    char *p = strstr(s, key);
    double v = p ? atof(p + strlen(key)) : -1.0;
    free(s);
    return v;
}

int main(void) {
    qtk_error err;
    tl_rng rng;
    tl_rng_seed(&rng, 7);

    /* reference weights; attn_q values are F16-representable so only the perturbation differs */
    static float xq[NQ * RQ], yq[NQ * RQ], xd[ND * RD], yd[ND * RD], norm[NQ], sa[64 * 4], only_r[32], only_q[32];
    static uint16_t hq[NQ * RQ];
    static uint8_t qd[ND / 32 * 34 * RD];
    for (int i = 0; i < NQ * RQ; i++) xq[i] = qtk_fp16_to_fp32(qtk_fp32_to_fp16(0.05f * tl_rng_normal(&rng)));
    for (int i = 0; i < ND * RD; i++) xd[i] = 0.1f * tl_rng_normal(&rng);
    for (int i = 0; i < NQ; i++) norm[i] = 1.0f + 0.1f * tl_rng_normal(&rng);
    for (int i = 0; i < 64 * 4; i++) sa[i] = tl_rng_normal(&rng);
    for (int i = 0; i < 32; i++) only_r[i] = only_q[i] = (float)i;

    /* known perturbation of attn_q: +0.02 on the hot columns, -0.002 elsewhere, stored as F16 */
    for (int r = 0; r < RQ; r++)
        for (int c = 0; c < NQ; c++) {
            int i = r * NQ + c;
            hq[i] = qtk_fp32_to_fp16(xq[i] + (c < N_HOT ? 0.02f : -0.002f));
            yq[i] = qtk_fp16_to_fp32(hq[i]);
        }
    CHECK(qtk_quantize_rows(QTK_TYPE_Q8_0, xd, qd, RD, ND, NULL, &err) == QTK_OK, "q8_0: %s", err.msg);
    CHECK(qtk_dequantize_rows(QTK_TYPE_Q8_0, qd, yd, RD, ND, &err) == QTK_OK, "q8_0 decode: %s", err.msg);

    const tdef ref_t[] = {
        {"blk.0.attn_norm.weight", QTK_TYPE_F32, 1, NQ, 1, norm},
        {"blk.0.attn_q.weight", QTK_TYPE_F32, 2, NQ, RQ, xq},
        {"blk.0.ffn_down.weight", QTK_TYPE_F32, 2, ND, RD, xd},
        {"shape.weight", QTK_TYPE_F32, 2, 64, 4, sa},
        {"only_ref.weight", QTK_TYPE_F32, 1, 32, 1, only_r},
    };
    const tdef quant_t[] = {
        {"blk.0.attn_norm.weight", QTK_TYPE_F32, 1, NQ, 1, norm},
        {"blk.0.attn_q.weight", QTK_TYPE_F16, 2, NQ, RQ, hq},
        {"blk.0.ffn_down.weight", QTK_TYPE_Q8_0, 2, ND, RD, qd},
        {"shape.weight", QTK_TYPE_F32, 2, 32, 8, sa},
        {"only_quant.weight", QTK_TYPE_F32, 1, 32, 1, only_q},
    };
    char *ref_path = tl_tmp_path("compare_ref.gguf"), *quant_path = tl_tmp_path("compare_quant.gguf");
    char *im_path = tl_tmp_path("compare_imatrix.dat");
    CHECK(write_gguf(ref_path, ref_t, 5) == 0, "write %s", ref_path);
    CHECK(write_gguf(quant_path, quant_t, 5) == 0, "write %s", quant_path);

    qtk_gguf *ref = NULL, *quant = NULL;
    qtk_imatrix *im = NULL;
    if (qtk_gguf_open(ref_path, &ref, &err) != QTK_OK || qtk_gguf_open(quant_path, &quant, &err) != QTK_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }

    /* identical files: every tensor compared, error exactly 0, nothing quantized */
    {
        qtk_compare_result *r = NULL;
        CHECK(qtk_compare_models(ref, ref, NULL, 2, &r, &err) == QTK_OK, "%s", err.msg);
        if (r) {
            CHECK(r->n == 5, "n = %lld", (long long)r->n);
            for (int64_t i = 0; i < r->n; i++) {
                CHECK(r->tensors[i].status == QTK_COMPARE_OK, "%s: %s", r->tensors[i].name,
                      qtk_compare_status_name(r->tensors[i].status));
                CHECK(r->tensors[i].err2 == 0.0 && r->tensors[i].rel_rmse == 0.0, "%s: %g", r->tensors[i].name,
                      r->tensors[i].rel_rmse);
                CHECK(!r->tensors[i].quantized, "%s counted as quantized", r->tensors[i].name);
            }
            CHECK(r->n_quantized == 0 && r->rel_rmse == 0.0 && r->n_unmatched == 0, "totals %lld %g",
                  (long long)r->n_quantized, r->rel_rmse);
        }
        qtk_compare_result_free(r);
    }

    double eq, sq, ed, sd;
    sums(xq, yq, NQ, RQ, NULL, &eq, &sq);
    sums(xd, yd, ND, RD, NULL, &ed, &sd);
    double unweighted_q = sqrt(eq / sq);

    /* perturbed file, unweighted */
    {
        qtk_compare_result *r = NULL;
        CHECK(qtk_compare_models(ref, quant, NULL, 1, &r, &err) == QTK_OK, "%s", err.msg);
        if (r) {
            const qtk_compare_tensor *q = find(r, "blk.0.attn_q.weight"), *d = find(r, "blk.0.ffn_down.weight");
            const qtk_compare_tensor *nm = find(r, "blk.0.attn_norm.weight"), *sh = find(r, "shape.weight");
            const qtk_compare_tensor *o1 = find(r, "only_ref.weight"), *o2 = find(r, "only_quant.weight");
            CHECK(q && d && nm && sh && o1 && o2, "missing entries");
            if (q && d && nm && sh && o1 && o2) {
                CHECK(q->status == QTK_COMPARE_OK && q->quantized && !q->weighted, "attn_q flags");
                CHECK(q->ref_type == QTK_TYPE_F32 && q->quant_type == QTK_TYPE_F16, "attn_q types");
                CHECK(close_rel(q->rel_rmse, unweighted_q), "attn_q %.17g expected %.17g", q->rel_rmse, unweighted_q);
                CHECK(unweighted_q > 0.01, "perturbation too small to test: %g", unweighted_q);
                CHECK(close_rel(d->rel_rmse, sqrt(ed / sd)), "ffn_down %.17g expected %.17g", d->rel_rmse, sqrt(ed / sd));
                CHECK(d->rel_rmse > 0.0, "q8_0 gave no error");
                CHECK(nm->status == QTK_COMPARE_OK && !nm->quantized && nm->rel_rmse == 0.0, "norm");
                CHECK(sh->status == QTK_COMPARE_SHAPE_MISMATCH && !sh->quantized, "shape: %s",
                      qtk_compare_status_name(sh->status));
                CHECK(o1->status == QTK_COMPARE_ONLY_REF && o1->quant_type == -1, "only_ref");
                CHECK(o2->status == QTK_COMPARE_ONLY_QUANT && o2->ref_type == -1, "only_quant");
            }
            CHECK(r->n == 6, "n = %lld", (long long)r->n);
            CHECK(r->n_unmatched == 3, "unmatched %lld", (long long)r->n_unmatched);
            CHECK(r->n_quantized == 2 && r->params_quantized == NQ * RQ + ND * RD, "quantized %lld",
                  (long long)r->n_quantized);
            double tot = sqrt((eq + ed) / (sq + sd));
            CHECK(close_rel(r->rel_rmse, tot), "total %.17g expected %.17g", r->rel_rmse, tot);
            const qtk_compare_class *cq = find_class(r, "attn_q"), *cd = find_class(r, "ffn_down");
            CHECK(r->n_classes == 2 && cq && cd, "classes %lld", (long long)r->n_classes);
            if (cq && cd) {
                CHECK(cq->tensors == 1 && close_rel(cq->rel_rmse, unweighted_q), "class attn_q %g", cq->rel_rmse);
                CHECK(cd->params == ND * RD && close_rel(cd->rel_rmse, sqrt(ed / sd)), "class ffn_down %g", cd->rel_rmse);
            }

            /* the thread count changes nothing */
            qtk_compare_result *r3 = NULL;
            CHECK(qtk_compare_models(ref, quant, NULL, 3, &r3, &err) == QTK_OK, "%s", err.msg);
            if (r3) {
                CHECK(r3->rel_rmse == r->rel_rmse, "threads: %.17g vs %.17g", r3->rel_rmse, r->rel_rmse);
                for (int64_t i = 0; i < r->n && i < r3->n; i++)
                    CHECK(r3->tensors[i].err2 == r->tensors[i].err2 && r3->tensors[i].ref2 == r->tensors[i].ref2,
                          "threads: %s", r->tensors[i].name);
            }
            qtk_compare_result_free(r3);
        }
        qtk_compare_result_free(r);
    }

    /* imatrix with an entry for attn_q only: hot columns 9x as important */
    {
        qtk_imatrix_acc *acc = NULL;
        int64_t idx = -1;
        float act[NQ];
        for (int c = 0; c < NQ; c++) act[c] = c < N_HOT ? 3.0f : 1.0f;
        CHECK(qtk_imatrix_acc_create(&acc, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_imatrix_acc_tensor(acc, "blk.0.attn_q.weight", NQ, 1, &idx, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_imatrix_acc_add(acc, idx, 0, act, 1, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_imatrix_save_dat(im_path, acc, &err) == QTK_OK, "%s", err.msg);
        qtk_imatrix_acc_free(acc);
        CHECK(qtk_imatrix_load(im_path, &im, &err) == QTK_OK, "load imatrix: %s", err.msg);
    }
    if (im) {
        const float *v = qtk_imatrix_for(im, "blk.0.attn_q.weight", NQ, 1, 0);
        CHECK(v != NULL, "imatrix entry");
        if (v) {
            double w[NQ], mean = 0.0;
            for (int c = 0; c < NQ; c++) mean += v[c];
            mean /= NQ;
            for (int c = 0; c < NQ; c++) w[c] = v[c] / mean;
            double ewq, swq;
            sums(xq, yq, NQ, RQ, w, &ewq, &swq);
            double weighted_q = sqrt(ewq / swq);
            qtk_compare_result *r = NULL;
            CHECK(qtk_compare_models(ref, quant, im, 2, &r, &err) == QTK_OK, "%s", err.msg);
            if (r) {
                const qtk_compare_tensor *q = find(r, "blk.0.attn_q.weight"), *d = find(r, "blk.0.ffn_down.weight");
                if (q && d) {
                    CHECK(q->weighted && !d->weighted, "weighted flags %d %d", q->weighted, d->weighted);
                    CHECK(close_rel(q->rel_rmse, weighted_q), "weighted attn_q %.17g expected %.17g", q->rel_rmse,
                          weighted_q);
                    /* the big errors sit on the important columns: weighting must raise the value */
                    CHECK(q->rel_rmse > 1.5 * unweighted_q, "weighted %g vs unweighted %g", q->rel_rmse, unweighted_q);
                    CHECK(close_rel(d->rel_rmse, sqrt(ed / sd)), "ffn_down changed by an imatrix it is not in");
                }
                double tot = sqrt((ewq + ed) / (swq + sd));
                CHECK(close_rel(r->rel_rmse, tot), "weighted total %.17g expected %.17g", r->rel_rmse, tot);
            }
            qtk_compare_result_free(r);
        }
    }

    /* the command line prints the same total */
    const char *bin = getenv("QTK_BIN");
    if (bin && tl_qtk_available()) {
        char *out = tl_tmp_path("compare_out.txt");
        char args[2048];
        snprintf(args, sizeof args, "compare \"%s\" \"%s\" -t 2", ref_path, quant_path);
        int rc = tl_run_qtk(args, out);
        if (rc != -1) {
            CHECK(rc == 0, "qtk compare exit %d", rc);
            double v = cli_total(out);
            double tot = sqrt((eq + ed) / (sq + sd));
            CHECK(fabs(v - tot) <= 1e-6, "cli total %g expected %g", v, tot);
            snprintf(args, sizeof args, "compare \"%s\" \"%s\" --imatrix \"%s\"", ref_path, quant_path, im_path);
            CHECK(tl_run_qtk(args, out) == 0, "qtk compare --imatrix");
            CHECK(cli_total(out) > tot, "cli weighted total %g", cli_total(out));
            /* two unrelated models (every tensor a shape mismatch): nothing was measured, so no
             * "total 0.000000" success but exit 1 and a message saying why */
            const tdef other_t[] = {
                {"blk.0.attn_norm.weight", QTK_TYPE_F32, 2, NQ / 2, 2, norm},
                {"blk.0.attn_q.weight", QTK_TYPE_F32, 2, NQ / 2, RQ * 2, xq},
                {"blk.0.ffn_down.weight", QTK_TYPE_F32, 2, ND / 2, RD * 2, xd},
                {"shape.weight", QTK_TYPE_F32, 2, 32, 8, sa},
                {"only_ref.weight", QTK_TYPE_F32, 2, 16, 2, only_r},
            };
            char *other_path = tl_tmp_path("compare_other.gguf");
            CHECK(write_gguf(other_path, other_t, 5) == 0, "write %s", other_path);
            snprintf(args, sizeof args, "compare \"%s\" \"%s\"", ref_path, other_path);
            CHECK(tl_run_qtk(args, out) == 1, "compare of unrelated models must fail");
            CHECK(tl_file_contains(out, "no tensor could be compared") && tl_file_contains(out, "5 shape mismatches"),
                  "unrelated models: no clear message");
            snprintf(args, sizeof args, "compare \"%s\" \"%s\" --json", ref_path, other_path);
            CHECK(tl_run_qtk(args, out) == 1, "compare --json of unrelated models must fail");
            /* one comparable tensor is enough to succeed */
            snprintf(args, sizeof args, "compare \"%s\" \"%s\"", ref_path, quant_path);
            CHECK(tl_run_qtk(args, out) == 0 && !tl_file_contains(out, "no tensor could be compared"),
                  "partial overlap must succeed");
            remove(other_path);
            free(other_path);
            snprintf(args, sizeof args, "compare \"%s\"", ref_path);
            CHECK(tl_run_qtk(args, out) == 2, "missing argument must be a usage error");
            snprintf(args, sizeof args, "compare \"%s\" \"%s.missing\"", ref_path, quant_path);
            CHECK(tl_run_qtk(args, out) == 1, "missing file must fail");
        }
        free(out);
    }

    qtk_imatrix_free(im);
    qtk_gguf_close(quant);
    qtk_gguf_close(ref);
    free(ref_path);
    free(quant_path);
    free(im_path);
    return tl_finish("test_compare");
}
