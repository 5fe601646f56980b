/*
 * measure.c — the measure pass of the automatic planner (issue #15,
 * PLANNER.md §4.2): for every candidate tensor and candidate type, quantize
 * a deterministic sample of whole rows with the production quantizer and
 * the imatrix, dequantize, and record the weighted squared error; exact
 * bytes for the whole tensor. Which tensors are candidates and which type a
 * candidate becomes after the block-size fallback come from qtk_plan_make
 * itself (a "default TYPE" recipe per candidate type), so the measurement
 * sees exactly what `qtk quantize` would do.
 *
 * Determinism: rows are chosen from the tensor name alone, each row's error
 * is computed by whichever thread and then summed in row order, so the
 * table's bytes do not depend on the thread count or on resumption.
 */
#include "measure_table.h"
#include "quantize_internal.h"
#include "core/sha256.h"
#include "core/threadpool.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define SAMPLE_TARGET ((int64_t)1 << 20) /* weights per tensor */
#define SAMPLE_MIN 256
#define SAMPLE_MAX 4096
#define SAMPLE_ALL 512                  /* tensors with at most this many rows: all rows */
#define SAMPLE_EXPERT_MIN 8
#define SAMPLE_DESC "rows=256..4096,target=1048576,all<=512,expert_min=8,offset=fnv1a(name,matrix)"
#define CHUNK_ROWS 32                   /* rows per quantizer call in the workers */

void qtk_measure_params_init(qtk_measure_params *p) {
    memset(p, 0, sizeof *p);
    p->nthreads = 1;
    p->shard_index = p->shard_count = 1;
    p->checkpoint_seconds = 60.0;
}

/* A type that can be a candidate: a file type this build quantizes, not a
 * row-interleaved variant (same size as its base type). */
static bool candidate_type_ok(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr && tr->quantize && tr->file_type && !tr->interleaved;
}

int qtk_measure_default_types(int *types, int max) {
    int n = 0;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
        const qtk_type_traits *tr = qtk_type_get(t);
        if (!tr || !tr->is_quantized || !candidate_type_ok(t)) continue;
        if (types && n < max) types[n] = t;
        n++;
    }
    return n;
}

/* ---- hashes ---------------------------------------------------------------- */

static void put_le(qtk_sha256 *s, uint64_t v, int n) {
    unsigned char b[8];
    for (int i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
    qtk_sha256_update(s, b, (size_t)n);
}

qtk_status qtk_measure_model_hash(const qtk_gguf *g, char hex[65], qtk_error *err) {
    if (!g || !hex) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "model hash: NULL argument");
    qtk_sha256 s;
    qtk_sha256_init(&s);
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        qtk_sha256_update(&s, t->name, strlen(t->name) + 1);
        put_le(&s, (uint64_t)t->type, 4);
        put_le(&s, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(&s, (uint64_t)t->ne[d], 8);
        put_le(&s, t->nbytes, 8);
        /* the mapping is read in order, page by page: a model larger than RAM streams */
        const unsigned char *p = (const unsigned char *)t->data;
        for (uint64_t off = 0; off < t->nbytes;) {
            size_t k = t->nbytes - off < ((uint64_t)1 << 24) ? (size_t)(t->nbytes - off) : (size_t)1 << 24;
            qtk_sha256_update(&s, p + off, k);
            off += k;
        }
    }
    qtk_sha256_final_hex(&s, hex);
    return QTK_OK;
}

qtk_status qtk_measure_file_hash(const char *path, char hex[65], qtk_error *err) {
    if (!path || !hex) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "file hash: NULL argument");
    FILE *f = qtk_fopen(path, "rb");
    if (!f) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = (unsigned char *)malloc((size_t)1 << 20);
    if (!buf) {
        fclose(f);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    }
    qtk_sha256 s;
    qtk_sha256_init(&s);
    size_t n;
    while ((n = fread(buf, 1, (size_t)1 << 20, f)) > 0) qtk_sha256_update(&s, buf, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    free(buf);
    if (bad) return qtk_set_error(err, QTK_ERR_IO, "%s: read error", path);
    qtk_sha256_final_hex(&s, hex);
    return QTK_OK;
}

/* ---- tensor classes -------------------------------------------------------- */

/* N of a "blk.N." prefix, or -1. */
static int64_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    int64_t v = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 9) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    return nd > 0 && *p == '.' ? v : -1;
}

/* Class of a tensor name (planner-spec): the name without "blk.N." and
 * ".weight" when it is one of the known classes, else "other". */
static void class_of(const char *name, char *cls, size_t n) {
    static const char *const known[] = {"token_embd",    "output",        "attn_q",         "attn_k",
                                        "attn_v",        "attn_qkv",      "attn_output",    "ffn_gate",
                                        "ffn_up",        "ffn_down",      "ffn_gate_exps",  "ffn_up_exps",
                                        "ffn_down_exps", "ffn_gate_shexp", "ffn_up_shexp",  "ffn_down_shexp"};
    const char *core = name;
    if (layer_of(name) >= 0) core = strchr(name + 4, '.') + 1;
    size_t l = strlen(core);
    if (l > 7 && !strcmp(core + l - 7, ".weight")) l -= 7;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (strlen(known[k]) == l && !strncmp(core, known[k], l)) {
            snprintf(cls, n, "%s", known[k]);
            return;
        }
    snprintf(cls, n, "other");
}

/* ---- row sampling ---------------------------------------------------------- */

/* Rows sampled per matrix (PLANNER §4.2 item 2). */
static int64_t sample_per_mat(int64_t n_per_row, int64_t rows_per_mat, int64_t nmat) {
    if (rows_per_mat * nmat <= SAMPLE_ALL) return rows_per_mat;
    int64_t s = SAMPLE_TARGET / n_per_row;
    s = s < SAMPLE_MIN ? SAMPLE_MIN : s > SAMPLE_MAX ? SAMPLE_MAX : s;
    if (nmat > 1) {
        s = (s + nmat - 1) / nmat;
        if (s < SAMPLE_EXPERT_MIN) s = SAMPLE_EXPERT_MIN;
    }
    return s < rows_per_mat ? s : rows_per_mat;
}

/* Offset of the even stride in matrix m: from the tensor name only. */
static uint64_t row_offset(const char *name, int64_t m, int64_t rows_per_mat) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    h ^= (uint64_t)m * 0x9E3779B97F4A7C15ull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h % (uint64_t)rows_per_mat;
}

/* ---- the per-tensor measurement -------------------------------------------- */

typedef struct cand_in {
    int type;
    uint64_t bytes;
    size_t row_size;
} cand_in;

typedef struct tensor_job {
    const qtk_tensor_info *t;
    int64_t n, s_mat, S;       /* row length, rows per matrix sampled, total sampled */
    const float *x;            /* S sampled rows, F32 */
    const float *const *imat;  /* per matrix: quantizer weights (NULL: none) */
    const float *const *v;     /* per matrix: measurement weights (imatrix, or ones) */
    const cand_in *cand;
    int n_cand;
    int64_t n_items, chunks_per_mat, nmat;
    double *a;                 /* [n_cand * S]: Σ v e² per row */
    qtk_atomic_int next;
    void **qbuf;               /* per thread */
    float **ybuf;
    qtk_status *st;            /* per thread: first failure */
    int64_t *bad_item;
    qtk_error *err;
} tensor_job;

static void item_worker(void *ctx, int64_t begin, int64_t end, int ti) {
    (void)begin;
    (void)end;
    tensor_job *j = (tensor_job *)ctx;
    for (;;) {
        int64_t it = qtk_atomic_add(&j->next, 1);
        if (it >= j->n_items) break;
        int c = (int)(it / (j->nmat * j->chunks_per_mat));
        int64_t rem = it % (j->nmat * j->chunks_per_mat);
        int64_t m = rem / j->chunks_per_mat, k = rem % j->chunks_per_mat;
        int64_t r0 = m * j->s_mat + k * CHUNK_ROWS;
        int64_t nr = QTK_MIN((int64_t)CHUNK_ROWS, j->s_mat - k * CHUNK_ROWS);
        int64_t n = j->n;
        qtk_error e;
        qtk_status s = qtk_quantize_rows(j->cand[c].type, j->x + r0 * n, j->qbuf[ti], nr, n, j->imat[m], &e);
        if (s == QTK_OK) s = qtk_dequantize_rows(j->cand[c].type, j->qbuf[ti], j->ybuf[ti], nr, n, &e);
        if (s != QTK_OK) {
            if (j->st[ti] == QTK_OK || it < j->bad_item[ti]) {
                j->st[ti] = s;
                j->bad_item[ti] = it;
                j->err[ti] = e;
            }
            continue;
        }
        const float *v = j->v[m];
        for (int64_t r = 0; r < nr; r++) {
            const float *w = j->x + (r0 + r) * n, *y = j->ybuf[ti] + r * n;
            double acc = 0;
            for (int64_t q = 0; q < n; q++) {
                double d = (double)y[q] - (double)w[q];
                acc += (double)v[q] * d * d;
            }
            j->a[(int64_t)c * j->S + r0 + r] = acc;
        }
    }
}

static int cmp_cand(const void *x, const void *y) {
    const qtk_measure_cand *a = (const qtk_measure_cand *)x, *b = (const qtk_measure_cand *)y;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? -1 : 1;
    return a->type < b->type ? -1 : a->type > b->type;
}

/* Measures one tensor into out (name, class, ... and its candidates). */
static qtk_status measure_tensor(const qtk_gguf *g, int64_t idx, const qtk_quantize_params *qp, const cand_in *cand,
                                 int n_cand, int nthreads, qtk_measure_tensor *out, int64_t *rows_out, qtk_error *err) {
    const qtk_tensor_info *t = qtk_gguf_tensor(g, idx);
    int64_t n = t->ne[0], rows_per_mat = t->ne[1], nmat = t->ne[2] * t->ne[3], R = rows_per_mat * nmat;
    int64_t s_mat = sample_per_mat(n, rows_per_mat, nmat), S = s_mat * nmat;
    size_t in_rs = qtk_row_size(t->type, n), max_rs = 0;
    for (int c = 0; c < n_cand; c++) max_rs = QTK_MAX(max_rs, cand[c].row_size);
    qtk_status st = QTK_OK;
    tensor_job j;
    memset(&j, 0, sizeof j);
    float *x = (float *)malloc((size_t)(S * n) * sizeof(float));
    float *ones = (float *)malloc((size_t)n * sizeof(float));
    const float **imat = (const float **)calloc((size_t)nmat, sizeof *imat);
    const float **v = (const float **)calloc((size_t)nmat, sizeof *v);
    double *a = (double *)malloc((size_t)(S * n_cand > 0 ? S * n_cand : 1) * sizeof(double));
    double *b = (double *)malloc((size_t)S * sizeof(double));
    j.qbuf = (void **)calloc((size_t)nthreads, sizeof *j.qbuf);
    j.ybuf = (float **)calloc((size_t)nthreads, sizeof *j.ybuf);
    j.st = (qtk_status *)calloc((size_t)nthreads, sizeof *j.st);
    j.bad_item = (int64_t *)calloc((size_t)nthreads, sizeof *j.bad_item);
    j.err = (qtk_error *)calloc((size_t)nthreads, sizeof *j.err);
    bool oom = !x || !ones || !imat || !v || !a || !b || !j.qbuf || !j.ybuf || !j.st || !j.bad_item || !j.err;
    for (int k = 0; k < nthreads && !oom; k++) {
        j.qbuf[k] = malloc((size_t)CHUNK_ROWS * max_rs);
        j.ybuf[k] = (float *)malloc((size_t)(CHUNK_ROWS * n) * sizeof(float));
        oom = !j.qbuf[k] || !j.ybuf[k];
    }
    if (oom) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "tensor '%s': out of memory for %lld sampled rows of %lld", t->name,
                           (long long)S, (long long)n);
        goto done;
    }
    for (int64_t q = 0; q < n; q++) ones[q] = 1.0f;
    /* the sampled rows, decoded; energies Σ v w² */
    for (int64_t m = 0; m < nmat && st == QTK_OK; m++) {
        imat[m] = qtk_quantize_imatrix_for(qp, t, m);
        v[m] = imat[m] ? imat[m] : ones;
        uint64_t off = row_offset(t->name, m, rows_per_mat);
        for (int64_t k = 0; k < s_mat && st == QTK_OK; k++) {
            int64_t row = m * rows_per_mat + (int64_t)(((uint64_t)k * (uint64_t)rows_per_mat + off) / (uint64_t)s_mat);
            float *dst = x + (m * s_mat + k) * n;
            st = qtk_dequantize_rows(t->type, (const uint8_t *)t->data + (size_t)row * in_rs, dst, 1, n, err);
            double e = 0;
            for (int64_t q = 0; q < n && st == QTK_OK; q++) {
                if (!isfinite(dst[q])) {
                    st = qtk_set_error(err, QTK_ERR_NUMERIC, "%s: tensor '%s': row %lld, column %lld: %s",
                                       qtk_gguf_path(g), t->name, (long long)row, (long long)q,
                                       isnan(dst[q]) ? "NaN" : "Inf");
                    break;
                }
                e += (double)v[m][q] * (double)dst[q] * (double)dst[q];
            }
            b[m * s_mat + k] = e;
        }
    }
    if (st != QTK_OK) goto done;
    j.t = t;
    j.n = n;
    j.s_mat = s_mat;
    j.S = S;
    j.x = x;
    j.imat = imat;
    j.v = v;
    j.cand = cand;
    j.n_cand = n_cand;
    j.nmat = nmat;
    j.chunks_per_mat = (s_mat + CHUNK_ROWS - 1) / CHUNK_ROWS;
    j.n_items = (int64_t)n_cand * nmat * j.chunks_per_mat;
    j.a = a;
    qtk_atomic_store(&j.next, 0);
    for (int k = 0; k < nthreads; k++) j.st[k] = QTK_OK;
    qtk_parallel_for(nthreads, nthreads, item_worker, &j);
    {
        int bad = -1;
        for (int k = 0; k < nthreads; k++)
            if (j.st[k] != QTK_OK && (bad < 0 || j.bad_item[k] < j.bad_item[bad])) bad = k;
        if (bad >= 0) {
            int c = (int)(j.bad_item[bad] / (nmat * j.chunks_per_mat));
            st = qtk_set_error(err, j.st[bad], "%s: tensor '%s' (%s -> %s): %s", qtk_gguf_path(g), t->name,
                               qtk_type_name(t->type), qtk_type_name(cand[c].type), j.err[bad].msg);
            goto done;
        }
    }
    /* sums in row order: the same bytes for any thread count */
    memset(out, 0, sizeof *out);
    out->name = qtk_strdup(t->name);
    out->cand = (qtk_measure_cand *)calloc((size_t)n_cand, sizeof *out->cand);
    class_of(t->name, out->cls, sizeof out->cls);
    out->layer = layer_of(t->name);
    if (!strcmp(out->cls, "ffn_up_exps") || !strcmp(out->cls, "ffn_gate_exps")) {
        char grp[64];
        snprintf(grp, sizeof grp, "blk.%lld.ffn_upgate_exps", (long long)out->layer);
        out->group = qtk_strdup(grp);
        if (!out->group) oom = true;
    }
    if (!out->name || !out->cand || oom) {
        qtk_measure_tensor_clear(out);
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        goto done;
    }
    out->idx = idx;
    out->ne[0] = n;
    out->ne[1] = rows_per_mat;
    out->ne[2] = nmat;
    out->alpha = 1.0;
    snprintf(out->alpha_src, sizeof out->alpha_src, "prior");
    out->n_cand = n_cand;
    double scale = (double)R / (double)S, sum_b = 0;
    for (int64_t r = 0; r < S; r++) sum_b += b[r];
    for (int c = 0; c < n_cand; c++) {
        const double *ac = a + (int64_t)c * S;
        double sum = 0, rel = 0;
        for (int64_t r = 0; r < S; r++) {
            sum += ac[r];
            if (b[r] > 0) rel += ac[r] / b[r];
        }
        double mean = sum / (double)S, var = 0;
        for (int64_t r = 0; r < S; r++) var += (ac[r] - mean) * (ac[r] - mean);
        qtk_measure_cand *q = &out->cand[c];
        q->type = cand[c].type;
        q->bytes = cand[c].bytes;
        q->rows = S;
        q->eps_abs = scale * sum;
        q->e_out = scale * sum_b;
        q->eps_rel = rel / (double)S;
        /* standard error of R·mean over a sample without replacement */
        q->eps_abs_se = S > 1 && S < R ? (double)R * sqrt(var / (double)(S - 1) / (double)S * (1.0 - (double)S / (double)R)) : 0.0;
    }
    qsort(out->cand, (size_t)n_cand, sizeof *out->cand, cmp_cand);
    *rows_out = S;
done:
    if (j.qbuf)
        for (int k = 0; k < nthreads; k++) free(j.qbuf[k]);
    if (j.ybuf)
        for (int k = 0; k < nthreads; k++) free(j.ybuf[k]);
    free(j.qbuf);
    free(j.ybuf);
    free(j.st);
    free(j.bad_item);
    free(j.err);
    free(x);
    free(ones);
    free((void *)imat);
    free((void *)v);
    free(a);
    free(b);
    return st;
}

/* ---- the pass ---------------------------------------------------------------- */

/* Per candidate tensor of the model: its candidates after the fallback. */
typedef struct cand_tensor {
    int64_t idx;
    int n_cand;
    cand_in *cand;
} cand_tensor;

static int cmp_int(const void *x, const void *y) {
    int a = *(const int *)x, b = *(const int *)y;
    return a < b ? -1 : a > b;
}

/* Whether every matrix of t has importance weights. */
static bool has_all_imatrix(const qtk_quantize_params *qp, const qtk_tensor_info *t) {
    for (int64_t m = 0; m < t->ne[2] * t->ne[3]; m++)
        if (!qtk_quantize_imatrix_for(qp, t, m)) return false;
    return true;
}

/* The candidate tensors and their candidate types (one qtk_plan per type). */
static qtk_status find_candidates(const qtk_gguf *g, const qtk_quantize_params *qp, const int *types, int n_types,
                                  cand_tensor **out, int64_t *n_out, qtk_plan **hplan_out, qtk_error *err) {
    int64_t nt = qtk_gguf_n_tensors(g);
    *out = NULL;
    *n_out = 0;
    *hplan_out = NULL;
    cand_tensor *ct = (cand_tensor *)calloc((size_t)(nt > 0 ? nt : 1), sizeof *ct);
    if (!ct) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < nt; i++) ct[i].idx = i;
    qtk_status st = QTK_OK;
    qtk_plan *hplan = NULL;
    for (int k = 0; k < n_types && st == QTK_OK; k++) {
        char text[96];
        snprintf(text, sizeof text, "default %s\n", qtk_type_name(types[k]));
        qtk_recipe *r = NULL;
        qtk_plan *plan = NULL;
        if ((st = qtk_recipe_parse(text, "qtk measure", &r, err)) != QTK_OK) break;
        /* the imatrix requirement is applied below, per tensor, as a skip */
        bool *req = (bool *)malloc(QTK_TYPE_ID_LIMIT * sizeof(bool));
        if (!req) {
            qtk_recipe_free(r);
            st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(req, r->requires, QTK_TYPE_ID_LIMIT * sizeof(bool));
        memset(r->requires, 0, QTK_TYPE_ID_LIMIT * sizeof(bool));
        st = qtk_plan_make(g, r, qp->imatrix, true, &plan, err);
        qtk_recipe_free(r);
        for (int64_t i = 0; i < nt && st == QTK_OK; i++) {
            const qtk_plan_item *it = &plan->items[i];
            if (!it->quantize) continue;
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            const qtk_type_traits *tr = qtk_type_get(it->type);
            bool exempt = !strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "output.weight");
            bool need = (tr && tr->requires_imatrix) || (req[qtk_type_base(it->type)] && !exempt);
            if (need && !has_all_imatrix(qp, t)) continue;
            bool dup = false;
            for (int c = 0; c < ct[i].n_cand; c++) dup |= ct[i].cand[c].type == it->type;
            if (dup) continue;
            cand_in *nc = (cand_in *)realloc(ct[i].cand, (size_t)(ct[i].n_cand + 1) * sizeof *nc);
            if (!nc) {
                st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
                break;
            }
            ct[i].cand = nc;
            nc[ct[i].n_cand].type = it->type;
            nc[ct[i].n_cand].bytes = it->bytes;
            nc[ct[i].n_cand].row_size = qtk_row_size(it->type, t->ne[0]);
            ct[i].n_cand++;
        }
        free(req);
        if (st == QTK_OK && !hplan) hplan = plan;
        else qtk_plan_free(plan);
    }
    if (st != QTK_OK) {
        for (int64_t i = 0; i < nt; i++) free(ct[i].cand);
        free(ct);
        qtk_plan_free(hplan);
        return st;
    }
    /* the plan of the header: every candidate tensor quantized (to its first candidate) */
    for (int64_t i = 0; i < nt; i++) {
        qtk_plan_item *it = &hplan->items[i];
        if (ct[i].n_cand > 0) {
            it->quantize = true;
            it->type = ct[i].cand[0].type;
            it->bytes = ct[i].cand[0].bytes;
        } else if (it->quantize) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            it->quantize = false;
            it->type = (int)t->type;
            it->bytes = t->nbytes;
        }
    }
    if (hplan->file_type < 0) hplan->file_type = 0; /* a recipe's plan records general.file_type */
    int64_t m = 0;
    for (int64_t i = 0; i < nt; i++)
        if (ct[i].n_cand > 0) ct[m++] = ct[i];
    *out = ct;
    *n_out = m;
    *hplan_out = hplan;
    return QTK_OK;
}

static const char *base_name(const char *path) {
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\') b = p + 1;
    return b;
}

/* Saves the tensors measured so far (slots with filled[k]) in idx order. */
static qtk_status save_partial(const qtk_measure_table *hdr, const qtk_measure_tensor *slots, const bool *filled,
                               int64_t n, const char *path, qtk_error *err) {
    qtk_measure_table view = *hdr;
    view.t = (qtk_measure_tensor *)malloc((size_t)(n > 0 ? n : 1) * sizeof *view.t);
    if (!view.t) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    view.n = 0;
    for (int64_t k = 0; k < n; k++)
        if (filled[k]) view.t[view.n++] = slots[k];
    qtk_status s = qtk_measure_table_save(&view, path, err);
    free(view.t);
    return s;
}

static bool file_exists(const char *path) {
    FILE *f = qtk_fopen(path, "rb");
    if (!f) return false;
    fclose(f);
    return true;
}

qtk_status qtk_measure_model(const qtk_gguf *g, const qtk_measure_params *p, const char *out_path, qtk_error *err) {
    if (!g || !p || !out_path) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure: NULL argument");
    if (p->shard_count < 1 || p->shard_index < 1 || p->shard_index > p->shard_count)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure: shard %d/%d is not I/N with 1 <= I <= N",
                             p->shard_index, p->shard_count);
    int nthreads = p->nthreads < 1 ? 1 : p->nthreads > 256 ? 256 : p->nthreads;
    double t_start = qtk_time_now();

    /* candidate types: sorted, unique, each one this build can quantize */
    int n_types = p->types ? p->n_types : qtk_measure_default_types(NULL, 0);
    if (n_types < 1) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure: no candidate types");
    int *types = (int *)malloc((size_t)n_types * sizeof(int));
    if (!types) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    if (p->types) memcpy(types, p->types, (size_t)n_types * sizeof(int));
    else qtk_measure_default_types(types, n_types);
    qsort(types, (size_t)n_types, sizeof(int), cmp_int);
    int nu = 0;
    for (int k = 0; k < n_types; k++) {
        const qtk_type_traits *tr = qtk_type_get(types[k]);
        if (!candidate_type_ok(types[k])) {
            qtk_status s = qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure: %s cannot be a candidate type: %s",
                                         qtk_type_name(types[k]),
                                         !tr                ? "unknown type"
                                         : tr->interleaved ? "row-interleaved types have their base type's size"
                                                           : "this build cannot quantize it");
            free(types);
            return s;
        }
        if (nu == 0 || types[nu - 1] != types[k]) types[nu++] = types[k];
    }
    n_types = nu;

    qtk_status st = QTK_OK;
    qtk_imatrix *im = NULL;
    qtk_quantize_params qp;
    qtk_quantize_params_init(&qp);
    cand_tensor *ct = NULL;
    int64_t n_ct = 0;
    qtk_plan *hplan = NULL;
    qtk_measure_table *hdr = NULL, *old = NULL;
    qtk_measure_tensor *slots = NULL;
    bool *filled = NULL;
    int64_t *shard_pos = NULL;
    int64_t n_slots = 0;

    if (p->imatrix_path) {
        if ((st = qtk_imatrix_load(p->imatrix_path, &im, err)) != QTK_OK) goto done;
        qp.imatrix = im;
        qp.imatrix_path = p->imatrix_path;
    }
    if ((st = find_candidates(g, &qp, types, n_types, &ct, &n_ct, &hplan, err)) != QTK_OK) goto done;
    /* everything qtk quantize checks first (an imatrix of another model, undecodable sources, ...) */
    if ((st = qtk_quantize_check(g, hplan, &qp, err)) != QTK_OK) goto done;

    hdr = qtk_measure_table_new();
    if (!hdr) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        goto done;
    }
    hdr->model_name = qtk_strdup(base_name(qtk_gguf_path(g)));
    hdr->sample = qtk_strdup(SAMPLE_DESC);
    hdr->types = types;
    hdr->n_types = n_types;
    types = NULL;
    if (!hdr->model_name || !hdr->sample) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = qtk_quantize_header_size(g, hplan, &qp, "", &hdr->header_bytes, &hdr->alignment, err)) != QTK_OK) goto done;
    {
        int64_t nt = qtk_gguf_n_tensors(g), k = 0;
        for (int64_t i = 0; i < nt; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            hdr->n_elements_all += qtk_tensor_nelements(t);
            if (k < n_ct && ct[k].idx == i) {
                k++;
                continue;
            }
            hdr->fixed_bytes += (t->nbytes + hdr->alignment - 1) / hdr->alignment * hdr->alignment;
        }
    }
    hdr->n_tensors_model = n_ct;
    hdr->shard_index = p->shard_index;
    hdr->shard_count = p->shard_count;
    if (p->imatrix_path) {
        if ((st = qtk_measure_file_hash(p->imatrix_path, hdr->imatrix_hash, err)) != QTK_OK) goto done;
    } else {
        snprintf(hdr->imatrix_hash, sizeof hdr->imatrix_hash, "-");
    }
    if ((st = qtk_measure_model_hash(g, hdr->model_hash, err)) != QTK_OK) goto done;

    /* this shard's tensors: candidate k belongs to shard (k % N) + 1 */
    n_slots = qtk_measure_shard_size(n_ct, p->shard_index, p->shard_count);
    slots = (qtk_measure_tensor *)calloc((size_t)(n_slots > 0 ? n_slots : 1), sizeof *slots);
    filled = (bool *)calloc((size_t)(n_slots > 0 ? n_slots : 1), sizeof *filled);
    shard_pos = (int64_t *)malloc((size_t)(n_slots > 0 ? n_slots : 1) * sizeof *shard_pos);
    if (!slots || !filled || !shard_pos) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t k = 0; k < n_slots; k++) shard_pos[k] = p->shard_index - 1 + k * p->shard_count;

    /* resume: keep what an existing table of the same measurement holds */
    if (file_exists(out_path)) {
        qtk_error e;
        if (qtk_measure_table_load(out_path, &old, &e) != QTK_OK) {
            st = qtk_set_error(err, e.code == QTK_ERR_IO ? QTK_ERR_IO : QTK_ERR_INVALID_ARG,
                               "%s exists and is not a measurement table this run can continue (%s); not overwriting "
                               "it: remove it or choose another output",
                               out_path, e.msg);
            goto done;
        }
        if ((st = qtk_measure_table_same_source(old, out_path, hdr, "this run", err)) != QTK_OK) goto done;
        if (old->shard_index != hdr->shard_index || old->shard_count != hdr->shard_count) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "%s holds shard %d/%d, this run measures shard %d/%d; not overwriting it", out_path,
                               old->shard_index, old->shard_count, hdr->shard_index, hdr->shard_count);
            goto done;
        }
        /* KLD probes of the table (stage C) stay: the tensors below keep their columns */
        if (old->probe && !hdr->probe) {
            hdr->probe = old->probe;
            old->probe = NULL;
        }
        int64_t k = 0;
        for (int64_t i = 0; i < old->n; i++) {
            qtk_measure_tensor *o = &old->t[i];
            while (k < n_slots && ct[shard_pos[k]].idx < o->idx) k++;
            const cand_tensor *c = k < n_slots ? &ct[shard_pos[k]] : NULL;
            bool same = c && c->idx == o->idx && !strcmp(o->name, qtk_gguf_tensor(g, c->idx)->name) &&
                        o->n_cand == c->n_cand;
            for (int q = 0; same && q < c->n_cand; q++) {
                const qtk_measure_cand *oc = NULL;
                for (int r = 0; r < o->n_cand; r++)
                    if (o->cand[r].type == c->cand[q].type) oc = &o->cand[r];
                same = oc && oc->bytes == c->cand[q].bytes;
            }
            if (!same) {
                st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                   "%s: tensor '%s' (idx %lld) is not a candidate tensor of this shard with the "
                                   "candidate types and sizes this run sees; not overwriting it",
                                   out_path, o->name, (long long)o->idx);
                goto done;
            }
            slots[k] = *o;
            memset(o, 0, sizeof *o);
            filled[k] = true;
        }
    }

    {
        int64_t todo = 0, skipped = 0;
        double work_total = 0, work_done = 0;
        for (int64_t k = 0; k < n_slots; k++) {
            const cand_tensor *c = &ct[shard_pos[k]];
            const qtk_tensor_info *t = qtk_gguf_tensor(g, c->idx);
            if (filled[k]) {
                skipped++;
                continue;
            }
            todo++;
            work_total += (double)sample_per_mat(t->ne[0], t->ne[1], t->ne[2] * t->ne[3]) * (double)(t->ne[2] * t->ne[3]) *
                          (double)t->ne[0] * c->n_cand;
        }
        qtk_measure_progress pr;
        memset(&pr, 0, sizeof pr);
        pr.total = todo;
        pr.skipped = skipped;
        pr.work_total = work_total;
        pr.elapsed = qtk_time_now() - t_start;
        if (p->progress) p->progress(p->progress_ud, &pr);
        double last_save = qtk_time_now();
        for (int64_t k = 0; k < n_slots; k++) {
            if (filled[k]) continue;
            const cand_tensor *c = &ct[shard_pos[k]];
            const qtk_tensor_info *t = qtk_gguf_tensor(g, c->idx);
            double t0 = qtk_time_now();
            int64_t rows = 0;
            if ((st = measure_tensor(g, c->idx, &qp, c->cand, c->n_cand, nthreads, &slots[k], &rows, err)) != QTK_OK)
                break;
            filled[k] = true;
            pr.done++;
            pr.tensor = t->name;
            pr.n_cand = c->n_cand;
            pr.rows = rows;
            pr.rows_total = qtk_tensor_nrows(t);
            work_done += (double)rows * (double)t->ne[0] * c->n_cand;
            pr.work_done = work_done;
            pr.seconds = qtk_time_now() - t0;
            pr.elapsed = qtk_time_now() - t_start;
            if (p->progress) p->progress(p->progress_ud, &pr);
            if (p->checkpoint_seconds >= 0 && pr.done < todo && qtk_time_now() - last_save >= p->checkpoint_seconds) {
                if ((st = save_partial(hdr, slots, filled, n_slots, out_path, err)) != QTK_OK) break;
                last_save = qtk_time_now();
            }
        }
        /* on failure the tensors measured so far are kept for a rerun */
        if (st != QTK_OK) {
            if (pr.done > 0) {
                qtk_error e2;
                save_partial(hdr, slots, filled, n_slots, out_path, &e2);
            }
            goto done;
        }
    }
    st = save_partial(hdr, slots, filled, n_slots, out_path, err);

done:
    if (slots)
        for (int64_t k = 0; k < n_slots; k++) qtk_measure_tensor_clear(&slots[k]);
    free(slots);
    free(filled);
    free(shard_pos);
    qtk_measure_table_free(old);
    qtk_measure_table_free(hdr);
    if (ct)
        for (int64_t i = 0; i < n_ct; i++) free(ct[i].cand);
    free(ct);
    qtk_plan_free(hplan);
    qtk_imatrix_free(im);
    free(types);
    return st;
}
