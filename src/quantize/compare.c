/*
 * compare.c — weight-space error of a quantized model against its source
 * (`qtk compare`): per tensor and in total, the relative RMSE of the decoded
 * weights, optionally weighted by the importance matrix columns.
 */
#include "core/qtk_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Work shared by the threads comparing one tensor; every row's sums land in
 * their own slot so the totals do not depend on the thread count. */
typedef struct cmp_job {
    const qtk_tensor_info *a, *b;
    const qtk_type_traits *ta, *tb;
    size_t rsa, rsb;          /* row sizes in bytes                        */
    int64_t n_per_row, rows_per_mat;
    const qtk_imatrix *im;    /* NULL: unweighted                          */
    double *w_norm;           /* n_mat * n_per_row normalised weights or NULL */
    double *row_err, *row_ref; /* per row: sum w (x-y)^2, sum w x^2           */
    int64_t *row_bad;         /* per row: non-finite values in x or y       */
    float *scratch;           /* 2 * n_per_row floats per thread           */
} cmp_job;

static void cmp_rows(void *ctx, int64_t begin, int64_t end, int thread_index) {
    cmp_job *j = (cmp_job *)ctx;
    int64_t n = j->n_per_row;
    float *x = j->scratch + (size_t)thread_index * 2 * (size_t)n, *y = x + n;
    const uint8_t *pa = (const uint8_t *)j->a->data, *pb = (const uint8_t *)j->b->data;
    for (int64_t r = begin; r < end; r++) {
        j->ta->to_float(pa + (size_t)r * j->rsa, x, n);
        j->tb->to_float(pb + (size_t)r * j->rsb, y, n);
        const double *w = j->w_norm ? j->w_norm + (size_t)(r / j->rows_per_mat) * (size_t)n : NULL;
        double e = 0.0, s = 0.0;
        int64_t bad = 0;
        for (int64_t c = 0; c < n; c++) {
            double xv = x[c], d = (double)x[c] - (double)y[c];
            if (!isfinite(x[c]) || !isfinite(y[c])) {
                bad++;
                continue;
            }
            double wc = w ? w[c] : 1.0;
            e += wc * d * d;
            s += wc * xv * xv;
        }
        j->row_err[r] = e;
        j->row_ref[r] = s;
        j->row_bad[r] = bad;
    }
}

/* Tensor class of a name: without "blk.N." and ".weight" ("attn_q", "output"). */
static void class_of(const char *name, char *buf, size_t n) {
    const char *s = name;
    if (!strncmp(s, "blk.", 4)) {
        const char *d = strchr(s + 4, '.');
        if (d) s = d + 1;
    }
    snprintf(buf, n, "%s", s);
    size_t l = strlen(buf);
    if (l > 7 && !strcmp(buf + l - 7, ".weight")) buf[l - 7] = '\0';
}

/* sqrt(err / ref), 0 for 0/0 and +inf when a nonzero error meets a zero reference. */
static double rel_rmse(double e, double s) {
    if (s > 0.0) return sqrt(e / s);
    return e > 0.0 ? INFINITY : 0.0;
}

/* Copies the imatrix rows of a tensor, scaled to mean 1 per matrix, so that
 * tensor sums with and without weights stay on the same scale in the totals
 * (a tensor's own relative RMSE does not change with the scale). Returns
 * false when the imatrix has no usable entry (then the tensor is unweighted). */
static bool load_weights(const qtk_imatrix *im, const qtk_tensor_info *t, double *dst) {
    int64_t n = t->ne[0], n_mat = t->ne[2] * t->ne[3];
    for (int64_t m = 0; m < n_mat; m++) {
        const float *w = qtk_imatrix_for(im, t->name, n, n_mat, m);
        if (!w) return false;
        double sum = 0.0;
        for (int64_t c = 0; c < n; c++) sum += w[c];
        double *d = dst + (size_t)m * (size_t)n;
        for (int64_t c = 0; c < n; c++) d[c] = sum > 0.0 ? (double)w[c] * (double)n / sum : 1.0;
    }
    return true;
}

/* Adds one tensor's sums to its class (creating the class on first use). */
static qtk_status add_to_class(qtk_compare_result *res, const qtk_compare_tensor *t, qtk_error *err) {
    char c[64];
    class_of(t->name, c, sizeof c);
    int64_t k = 0;
    while (k < res->n_classes && strcmp(res->classes[k].name, c) != 0) k++;
    if (k == res->n_classes) {
        qtk_compare_class *nc = (qtk_compare_class *)realloc(res->classes, (size_t)(k + 1) * sizeof *nc);
        if (!nc) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        res->classes = nc;
        memset(&nc[k], 0, sizeof nc[k]);
        snprintf(nc[k].name, sizeof nc[k].name, "%s", c);
        res->n_classes++;
    }
    qtk_compare_class *cl = &res->classes[k];
    cl->tensors++;
    cl->params += t->n_elements;
    cl->err2 += t->err2;
    cl->ref2 += t->ref2;
    cl->rel_rmse = rel_rmse(cl->err2, cl->ref2);
    return QTK_OK;
}

static bool same_shape(const qtk_tensor_info *a, const qtk_tensor_info *b) {
    for (int d = 0; d < QTK_MAX_DIMS; d++)
        if (a->ne[d] != b->ne[d]) return false;
    return true;
}

/* Compares one tensor present in both files with the same shape. */
static qtk_status compare_tensor(const qtk_tensor_info *a, const qtk_tensor_info *b, const qtk_imatrix *im,
                                 int nthreads, qtk_compare_tensor *out, qtk_error *err) {
    const qtk_type_traits *ta = qtk_type_get(a->type), *tb = qtk_type_get(b->type);
    if (!ta || !ta->to_float || ta->interleaved || !tb || !tb->to_float || tb->interleaved) {
        out->status = QTK_COMPARE_NO_DECODER;
        return QTK_OK;
    }
    int64_t n = a->ne[0], nrows = qtk_tensor_nrows(a), n_mat = a->ne[2] * a->ne[3];
    cmp_job j;
    memset(&j, 0, sizeof j);
    j.a = a;
    j.b = b;
    j.ta = ta;
    j.tb = tb;
    j.rsa = qtk_row_size(a->type, n);
    j.rsb = qtk_row_size(b->type, n);
    j.n_per_row = n;
    j.rows_per_mat = a->ne[1];
    if (j.rsa == 0 || j.rsb == 0 || n <= 0 || nrows <= 0) {
        out->status = QTK_COMPARE_NO_DECODER;
        return QTK_OK;
    }
    qtk_status s = QTK_OK;
    if (im && qtk_imatrix_for(im, a->name, n, n_mat, 0)) {
        j.w_norm = (double *)malloc((size_t)n_mat * (size_t)n * sizeof(double));
        if (!j.w_norm) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory comparing '%s'", a->name);
        if (!load_weights(im, a, j.w_norm)) {
            free(j.w_norm);
            j.w_norm = NULL;
        }
    }
    if (nthreads > nrows) nthreads = (int)nrows;
    j.row_err = (double *)malloc((size_t)nrows * sizeof(double));
    j.row_ref = (double *)malloc((size_t)nrows * sizeof(double));
    j.row_bad = (int64_t *)malloc((size_t)nrows * sizeof(int64_t));
    j.scratch = (float *)malloc((size_t)nthreads * 2 * (size_t)n * sizeof(float));
    if (!j.row_err || !j.row_ref || !j.row_bad || !j.scratch) {
        s = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory comparing '%s'", a->name);
        goto done;
    }
    qtk_parallel_for(nthreads, nrows, cmp_rows, &j);
    for (int64_t r = 0; r < nrows; r++) {
        out->err2 += j.row_err[r];
        out->ref2 += j.row_ref[r];
        out->n_nonfinite += j.row_bad[r];
    }
    out->weighted = j.w_norm != NULL;
    out->status = out->n_nonfinite ? QTK_COMPARE_NONFINITE : QTK_COMPARE_OK;
    out->rel_rmse = out->n_nonfinite ? NAN : rel_rmse(out->err2, out->ref2);
done:
    free(j.w_norm);
    free(j.row_err);
    free(j.row_ref);
    free(j.row_bad);
    free(j.scratch);
    return s;
}

/* Appends a zeroed entry named `name` to res->tensors. */
static qtk_compare_tensor *push_tensor(qtk_compare_result *res, const char *name, qtk_error *err) {
    qtk_compare_tensor *t = &res->tensors[res->n];
    memset(t, 0, sizeof *t);
    t->name = qtk_strdup(name);
    if (!t->name) {
        qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    res->n++;
    t->ref_type = t->quant_type = -1;
    return t;
}

qtk_status qtk_compare_models(const qtk_gguf *ref, const qtk_gguf *quant, const qtk_imatrix *im, int nthreads,
                              qtk_compare_result **out, qtk_error *err) {
    if (!ref || !quant || !out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_compare_models: NULL argument");
    *out = NULL;
    if (nthreads < 1) nthreads = qtk_cpu_count();
    if (nthreads > 256) nthreads = 256;
    int64_t na = qtk_gguf_n_tensors(ref), nb = qtk_gguf_n_tensors(quant);
    qtk_compare_result *res = (qtk_compare_result *)calloc(1, sizeof *res);
    if (res) res->tensors = (qtk_compare_tensor *)calloc((size_t)(na + nb + 1), sizeof *res->tensors);
    if (!res || !res->tensors) {
        free(res);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    qtk_status s = QTK_OK;
    /* reference order first, then tensors only the quantized file has */
    for (int64_t i = 0; i < na && s == QTK_OK; i++) {
        const qtk_tensor_info *a = qtk_gguf_tensor(ref, i);
        qtk_compare_tensor *t = push_tensor(res, a->name, err);
        if (!t) {
            s = QTK_ERR_NOMEM;
            break;
        }
        t->ref_type = a->type;
        t->n_elements = qtk_tensor_nelements(a);
        int64_t k = qtk_gguf_find_tensor(quant, a->name);
        if (k < 0) {
            t->status = QTK_COMPARE_ONLY_REF;
            res->n_unmatched++;
            continue;
        }
        const qtk_tensor_info *b = qtk_gguf_tensor(quant, k);
        t->quant_type = b->type;
        if (!same_shape(a, b)) {
            t->status = QTK_COMPARE_SHAPE_MISMATCH;
            res->n_unmatched++;
            continue;
        }
        s = compare_tensor(a, b, im, nthreads, t, err);
        if (s != QTK_OK) break;
        if (t->status == QTK_COMPARE_NO_DECODER) {
            res->n_unmatched++;
        } else if (t->status == QTK_COMPARE_NONFINITE) {
            res->n_nonfinite++;
        } else if (a->type != b->type) {
            t->quantized = true;
            res->n_quantized++;
            res->params_quantized += t->n_elements;
            res->err2 += t->err2;
            res->ref2 += t->ref2;
            s = add_to_class(res, t, err);
        }
    }
    for (int64_t i = 0; i < nb && s == QTK_OK; i++) {
        const qtk_tensor_info *b = qtk_gguf_tensor(quant, i);
        if (qtk_gguf_find_tensor(ref, b->name) >= 0) continue;
        qtk_compare_tensor *t = push_tensor(res, b->name, err);
        if (!t) {
            s = QTK_ERR_NOMEM;
            break;
        }
        t->quant_type = b->type;
        t->n_elements = qtk_tensor_nelements(b);
        t->status = QTK_COMPARE_ONLY_QUANT;
        res->n_unmatched++;
    }
    if (s != QTK_OK) {
        qtk_compare_result_free(res);
        return s;
    }
    res->rel_rmse = rel_rmse(res->err2, res->ref2);
    *out = res;
    return QTK_OK;
}

void qtk_compare_result_free(qtk_compare_result *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n; i++) free(r->tensors[i].name);
    free(r->tensors);
    free(r->classes);
    free(r);
}

const char *qtk_compare_status_name(qtk_compare_status s) {
    switch (s) {
    case QTK_COMPARE_OK: return "ok";
    case QTK_COMPARE_SHAPE_MISMATCH: return "shape mismatch";
    case QTK_COMPARE_ONLY_REF: return "only in reference";
    case QTK_COMPARE_ONLY_QUANT: return "only in quantized";
    case QTK_COMPARE_NO_DECODER: return "cannot decode";
    case QTK_COMPARE_NONFINITE: return "non-finite values";
    }
    return "?";
}
