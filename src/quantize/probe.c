/*
 * probe.c — KLD probes (PLANNER.md §4.3 stage C; docs/planner.md "KLD
 * probes"): per selected tensor, the tensor alone is quantized with the
 * production quantizer and the imatrix while every other tensor keeps the
 * source model's data, the model is evaluated with qtk's engine on a text,
 * and the mean KL divergence against the unmodified model's logits (the same
 * engine, the same chunks) is that (tensor, type)'s ΔKLD. α = ΔKLD / eps_abs
 * at the probe type calibrates the table's error term; with every candidate
 * probed the ΔKLDs themselves are an additive cost (`qtk plan --cost kld`).
 */
#include "quantize/probe.h"
#include "model/weight_swap.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- selection and calibration (no model needed) ------------------------------ */

int qtk_probe_cand_for(const qtk_measure_tensor *t, int probe_type) {
    if (t->pinned || t->n_cand < 1) return -1;
    for (int c = 0; c < t->n_cand; c++)
        if (t->cand[c].type == probe_type) return c;
    return 0;
}

/* Indices (into tab->t) of the non-pinned tensors of class cls, in layer order
 * (table order among equal layers); returns the count. */
static int64_t class_members(const qtk_measure_table *tab, const char *cls, int64_t *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < tab->n; i++)
        if (!tab->t[i].pinned && !strcmp(tab->t[i].cls, cls)) out[n++] = i;
    /* insertion sort by layer (stable) */
    for (int64_t a = 1; a < n; a++) {
        int64_t v = out[a], b = a;
        while (b > 0 && tab->t[out[b - 1]].layer > tab->t[v].layer) {
            out[b] = out[b - 1];
            b--;
        }
        out[b] = v;
    }
    return n;
}

/* First table index of each class (so every class is handled once). */
static bool first_of_class(const qtk_measure_table *tab, int64_t i) {
    for (int64_t j = 0; j < i; j++)
        if (!tab->t[j].pinned && !strcmp(tab->t[j].cls, tab->t[i].cls)) return false;
    return !tab->t[i].pinned;
}

void qtk_probe_select(const qtk_measure_table *tab, int n_layers, bool *sel) {
    for (int64_t i = 0; i < tab->n; i++) sel[i] = false;
    int64_t *mem = (int64_t *)malloc((size_t)(tab->n > 0 ? tab->n : 1) * sizeof *mem);
    if (!mem) {
        for (int64_t i = 0; i < tab->n; i++) sel[i] = !tab->t[i].pinned; /* out of memory: probe everything */
        return;
    }
    for (int64_t i = 0; i < tab->n; i++) {
        if (!first_of_class(tab, i)) continue;
        int64_t n = class_members(tab, tab->t[i].cls, mem);
        if (n_layers <= 0 || n <= n_layers || n_layers == 1) {
            for (int64_t k = 0; k < (n_layers == 1 && n > 1 ? 1 : n); k++) sel[mem[k]] = true;
            continue;
        }
        for (int k = 0; k < n_layers; k++) {
            int64_t pos = (int64_t)floor((double)k * (double)(n - 1) / (double)(n_layers - 1) + 0.5);
            sel[mem[pos]] = true;
        }
    }
    free(mem);
}

qtk_status qtk_probe_calibrate(qtk_measure_table *tab, int probe_type, qtk_error *err) {
    const double floor_frac = 0.1;
    int64_t *mem = (int64_t *)malloc((size_t)(tab->n > 0 ? tab->n : 1) * sizeof *mem);
    double *la = (double *)malloc((size_t)(tab->n > 0 ? tab->n : 1) * sizeof *la);
    bool *ok = (bool *)malloc((size_t)(tab->n > 0 ? tab->n : 1) * sizeof *ok);
    if (!mem || !la || !ok) {
        free(mem);
        free(la);
        free(ok);
        return qtk_set_error(err, QTK_ERR_NOMEM, "probe calibration: out of memory");
    }
    qtk_status st = QTK_OK;
    for (int64_t i = 0; i < tab->n && st == QTK_OK; i++) {
        if (!first_of_class(tab, i)) continue;
        int64_t n = class_members(tab, tab->t[i].cls, mem);
        double min_pos = INFINITY;
        int64_t n_ok = 0;
        for (int64_t k = 0; k < n; k++) {
            const qtk_measure_tensor *t = &tab->t[mem[k]];
            int c = qtk_probe_cand_for(t, probe_type);
            const qtk_measure_cand *q = c >= 0 ? &t->cand[c] : NULL;
            ok[k] = q && q->has_dkld && q->eps_abs > 0;
            la[k] = ok[k] ? q->dkld / q->eps_abs : 0;
            if (ok[k]) n_ok++;
            if (ok[k] && la[k] > 0 && la[k] < min_pos) min_pos = la[k];
        }
        if (n_ok == 0) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "probe calibration: class %s has no probed tensor (probe '%s' "
                               "first)", tab->t[i].cls, tab->t[mem[0]].name);
            break;
        }
        if (!isfinite(min_pos)) min_pos = 1e-30; /* every probe of the class was lost in noise */
        for (int64_t k = 0; k < n; k++) {
            qtk_measure_tensor *t = &tab->t[mem[k]];
            t->alpha = ok[k] ? exp(log(la[k] > 0 ? la[k] : floor_frac * min_pos)) : 1.0;
            snprintf(t->alpha_src, sizeof t->alpha_src, ok[k] ? "probe" : "interp");
        }
        /* the others: ln α interpolated over depth between the probed tensors
         * qtk_measure_interp_neighbors picks (the class's ends left out when an
         * interior one was probed) */
        for (int64_t k = 0; k < n; k++) {
            if (ok[k]) continue;
            qtk_measure_tensor *t = &tab->t[mem[k]];
            const qtk_measure_tensor *lo = NULL, *hi = NULL;
            double w_lo = 0;
            qtk_measure_interp_neighbors(tab, mem[k], &lo, &hi, &w_lo);
            t->alpha = exp(w_lo * (lo ? log(lo->alpha) : 0) + (1.0 - w_lo) * (hi ? log(hi->alpha) : 0));
        }
    }
    free(mem);
    free(la);
    free(ok);
    if (st == QTK_OK) qtk_measure_table_link_interp(tab);
    return st;
}

/* ---- the probe pass ---------------------------------------------------------------- */

/* x as the table's %.9g text reads back. */
static double round9(double x) {
    char b[64];
    snprintf(b, sizeof b, "%.9g", x);
    return strtod(b, NULL);
}

/* Probed besides the probe type by default: spread over 3.4-6.6 bpw and all
 * loadable by stock llama.cpp, so --compat mainline plans get per-type α too
 * (docs/planner.md: without iq3_s the IQ4_XS-size mainline plan was 0.86x
 * the preset, with it 0.77x). */
static const int k_default_extra[] = {QTK_TYPE_IQ3_S, QTK_TYPE_Q4_K, QTK_TYPE_Q6_K};

void qtk_probe_params_init(qtk_probe_params *p) {
    memset(p, 0, sizeof *p);
    p->extra_types = k_default_extra;
    p->n_extra = (int)(sizeof k_default_extra / sizeof k_default_extra[0]);
    p->n_ctx = 512;
    p->n_chunks = 32;
    p->n_threads = 1;
    p->probe_type = QTK_TYPE_IQ2_KS;
    p->n_layers = 5;
}

typedef struct quant_job {
    int type;
    const float *x;
    uint8_t *q;
    int64_t n, rows;
    size_t rs;
    const float *imat;
    qtk_status *st;
    qtk_error *err;
} quant_job;

#define PROBE_ROWS 16

static void quant_worker(void *ctx, int64_t begin, int64_t end, int ti) {
    quant_job *j = (quant_job *)ctx;
    for (int64_t b = begin; b < end; b++) {
        int64_t r0 = b * PROBE_ROWS, nr = QTK_MIN((int64_t)PROBE_ROWS, j->rows - r0);
        qtk_error e;
        qtk_status s = qtk_quantize_rows(j->type, j->x + r0 * j->n, j->q + (size_t)r0 * j->rs, nr, j->n, j->imat, &e);
        if (s != QTK_OK && j->st[ti] == QTK_OK) {
            j->st[ti] = s;
            j->err[ti] = e;
        }
    }
}

/* The whole tensor t (F32 rows x, nmat matrices of rows_per_mat rows)
 * quantized to type into q, with the imatrix of each matrix. */
static qtk_status quantize_tensor(const qtk_tensor_info *t, const float *x, int type, const qtk_quantize_params *qp,
                                  int nthreads, uint8_t *q, qtk_error *err) {
    int64_t n = t->ne[0], rpm = t->ne[1], nmat = t->ne[2] * t->ne[3];
    size_t rs = qtk_row_size(type, n);
    qtk_status st[256];
    qtk_error er[256];
    if (nthreads > 256) nthreads = 256;
    for (int64_t m = 0; m < nmat; m++) {
        for (int k = 0; k < nthreads; k++) st[k] = QTK_OK;
        quant_job j = {type, x + m * rpm * n, q + (size_t)(m * rpm) * rs, n, rpm, rs, qtk_quantize_imatrix_for(qp, t, m),
                       st, er};
        qtk_parallel_for(nthreads, (rpm + PROBE_ROWS - 1) / PROBE_ROWS, quant_worker, &j);
        for (int k = 0; k < nthreads; k++)
            if (st[k] != QTK_OK)
                return qtk_set_error(err, st[k], "probe: tensor '%s' -> %s: %s", t->name, qtk_type_name(type), er[k].msg);
    }
    return QTK_OK;
}

static char *read_file(const char *path, size_t *size, qtk_error *err) {
    FILE *f = qtk_fopen(path, "rb");
    if (!f) {
        qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = (char *)malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = (char *)realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        qtk_set_error(err, buf ? QTK_ERR_IO : QTK_ERR_NOMEM, "%s: %s", path, buf ? "read error" : "out of memory");
        return NULL;
    }
    *size = n;
    return buf;
}

qtk_status qtk_measure_probe(const char *table_path, const qtk_probe_params *p, qtk_error *err) {
    if (!table_path || !p || !p->model_path || !p->text_path)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "probe: table, model and text are required");
    if (p->n_ctx < 8 || p->n_chunks == 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "probe: context %lld / chunks %lld unusable", (long long)p->n_ctx,
                             (long long)p->n_chunks);
    const qtk_type_traits *ptr = qtk_type_get(p->probe_type);
    if (!ptr || !ptr->name) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "probe: unknown probe type %d", p->probe_type);
    int nthreads = p->n_threads < 1 ? 1 : p->n_threads > 256 ? 256 : p->n_threads;
    double t_start = qtk_time_now();
    qtk_measure_table *tab = NULL;
    qtk_model *m = NULL;
    qtk_vocab *v = NULL;
    qtk_imatrix *im = NULL;
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    char *text = NULL, *base = NULL;
    bool *sel = NULL;
    float *x = NULL;
    uint8_t *q = NULL;
    qtk_quantize_params qp;
    qtk_quantize_params_init(&qp);
    char hex[65], ihex[65] = "-", thex[65];
    qtk_status st;
    if ((st = qtk_measure_table_load(table_path, &tab, err)) != QTK_OK) return st;
    if ((st = qtk_measure_table_check_complete(tab, table_path, err)) != QTK_OK) goto done;
    if ((st = qtk_model_load(p->model_path, &m, err)) != QTK_OK) goto done;
    const qtk_gguf *g = qtk_model_gguf(m);
    if ((st = qtk_measure_model_hash(g, hex, err)) != QTK_OK) goto done;
    if (p->imatrix_path && (st = qtk_measure_file_hash(p->imatrix_path, ihex, err)) != QTK_OK) goto done;
    if ((st = qtk_measure_table_check_source(tab, table_path, hex, ihex, err)) != QTK_OK) goto done;
    if ((st = qtk_measure_file_hash(p->text_path, thex, err)) != QTK_OK) goto done;
    if (p->imatrix_path) {
        if ((st = qtk_imatrix_load(p->imatrix_path, &im, err)) != QTK_OK) goto done;
        qp.imatrix = im;
        qp.imatrix_path = p->imatrix_path;
    }
    if ((st = qtk_vocab_load(g, &v, err)) != QTK_OK) goto done;
    {
        size_t size = 0;
        if (!(text = read_file(p->text_path, &size, err))) {
            st = err ? err->code : QTK_ERR_IO;
            goto done;
        }
        if ((st = qtk_tokenize(v, text, size, true, &tokens, &n_tokens, err)) != QTK_OK) goto done;
    }
    int64_t n_chunks = n_tokens / p->n_ctx;
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    if (n_chunks < 1) {
        st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: %lld tokens, fewer than one chunk of %lld", p->text_path,
                           (long long)n_tokens, (long long)p->n_ctx);
        goto done;
    }
    {
        /* the settings the ΔKLDs depend on; other settings discard the table's probes */
        char desc[256];
        snprintf(desc, sizeof desc, "ref=source ctx=%lld chunks=%lld text=%.16s alpha_type=%s", (long long)p->n_ctx,
                 (long long)n_chunks, thex, ptr->name);
        if (!tab->probe || strcmp(tab->probe, desc)) {
            for (int64_t i = 0; i < tab->n; i++) {
                for (int c = 0; c < tab->t[i].n_cand; c++) tab->t[i].cand[c].has_dkld = false;
                tab->t[i].alpha = 1.0;
                snprintf(tab->t[i].alpha_src, sizeof tab->t[i].alpha_src, "prior");
            }
            free(tab->probe);
            if (!(tab->probe = qtk_strdup(desc))) {
                st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
    }
    /* what to probe */
    sel = (bool *)calloc((size_t)tab->n, sizeof *sel);
    if (!sel) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        goto done;
    }
    qtk_probe_select(tab, p->n_layers, sel);
    int64_t total = 0, done_n = 0, pending = 0;
    for (int64_t i = 0; i < tab->n; i++)
        for (int c = 0; sel[i] && c < tab->t[i].n_cand; c++) {
            bool want = c == qtk_probe_cand_for(&tab->t[i], p->probe_type) || p->all_types;
            for (int k = 0; k < p->n_extra && !want; k++) want = tab->t[i].cand[c].type == p->extra_types[k];
            if (!want) continue;
            total++;
            if (!tab->t[i].cand[c].has_dkld) pending++;
        }
    if (p->progress) {
        qtk_probe_progress pr;
        memset(&pr, 0, sizeof pr);
        pr.total = total;
        pr.skipped = total - pending;
        pr.type = -1;
        pr.elapsed = qtk_time_now() - t_start;
        p->progress(p->progress_ud, &pr);
    }
    if (pending > 0) {
        /* the unmodified model's log-probabilities, once */
        FILE *bf = NULL;
        char *bp = NULL;
        size_t ln = strlen(table_path) + 16;
        char *final = (char *)malloc(ln);
        if (!final) {
            st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            goto done;
        }
        snprintf(final, ln, "%s.probe-base", table_path);
        st = qtk_tmpfile_create(final, &bf, &bp, err);
        free(final);
        if (st != QTK_OK) goto done;
        fclose(bf);
        base = bp;
        qtk_ppl_params pp = {.n_ctx = p->n_ctx, .n_batch = 0, .n_threads = nthreads, .n_chunks = n_chunks};
        pp.kld_base = base;
        pp.kld = false;
        pp.kld_format = QTK_KLD_FORMAT_QTK;
        qtk_ppl_stats s;
        if ((st = qtk_perplexity(m, v, tokens, n_tokens, &pp, NULL, NULL, &s, err)) != QTK_OK) goto done;
    }
    for (int64_t i = 0; i < tab->n && pending > 0; i++) {
        qtk_measure_tensor *t = &tab->t[i];
        if (!sel[i]) continue;
        int64_t ti = qtk_gguf_find_tensor(g, t->name);
        const qtk_tensor_info *info = ti >= 0 ? qtk_gguf_tensor(g, ti) : NULL;
        if (!info || info->ne[0] != t->ne[0]) {
            st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor '%s' of the table is missing or has another shape",
                               p->model_path, t->name);
            goto done;
        }
        int64_t rows = info->ne[1] * info->ne[2] * info->ne[3], n = info->ne[0];
        bool loaded = false;
        for (int c = 0; c < t->n_cand; c++) {
            qtk_measure_cand *cd = &t->cand[c];
            bool want = c == qtk_probe_cand_for(t, p->probe_type) || p->all_types;
            for (int k = 0; k < p->n_extra && !want; k++) want = cd->type == p->extra_types[k];
            if (!want) continue;
            done_n++;
            if (cd->has_dkld) continue;
            double t0 = qtk_time_now();
            if (!loaded) {
                free(x);
                x = (float *)malloc((size_t)(rows * n) * sizeof(float));
                if (!x) {
                    st = qtk_set_error(err, QTK_ERR_NOMEM, "probe: tensor '%s': out of memory", t->name);
                    goto done;
                }
                if ((st = qtk_dequantize_rows(info->type, info->data, x, rows, n, err)) != QTK_OK) goto done;
                loaded = true;
            }
            size_t rs = qtk_row_size(cd->type, n);
            free(q);
            q = (uint8_t *)malloc((size_t)rows * rs);
            if (!q) {
                st = qtk_set_error(err, QTK_ERR_NOMEM, "probe: tensor '%s': out of memory", t->name);
                goto done;
            }
            if ((st = quantize_tensor(info, x, cd->type, &qp, nthreads, q, err)) != QTK_OK) goto done;
            if ((st = qtk_model_swap_tensor(m, t->name, cd->type, q, err)) != QTK_OK) goto done;
            qtk_ppl_params pp = {.n_ctx = p->n_ctx, .n_batch = 0, .n_threads = nthreads, .n_chunks = n_chunks};
            pp.kld_base = base;
            pp.kld = true;
            qtk_ppl_stats s;
            st = qtk_perplexity(m, v, NULL, 0, &pp, NULL, NULL, &s, err);
            qtk_error e2;
            qtk_status rs2 = qtk_model_swap_tensor(m, t->name, 0, NULL, &e2);
            if (st != QTK_OK) goto done;
            if (rs2 != QTK_OK) {
                *err = e2;
                st = rs2;
                goto done;
            }
            cd->has_dkld = true;
            cd->dkld = round9(s.kld); /* as the table stores it: a rerun computes the same α */
            cd->dkld_se = round9(s.kld_unc);
            if (p->progress) {
                qtk_probe_progress pr;
                memset(&pr, 0, sizeof pr);
                pr.done = done_n;
                pr.total = total;
                pr.skipped = total - pending;
                pr.tensor = t->name;
                pr.type = cd->type;
                pr.dkld = s.kld;
                pr.dkld_se = s.kld_unc;
                pr.ratio = cd->eps_abs > 0 ? s.kld / cd->eps_abs : 0;
                pr.elapsed = qtk_time_now() - t_start;
                pr.seconds = qtk_time_now() - t0;
                p->progress(p->progress_ud, &pr);
            }
        }
        if (loaded && (st = qtk_measure_table_save(tab, table_path, err)) != QTK_OK) goto done; /* resumable */
    }
    if ((st = qtk_probe_calibrate(tab, p->probe_type, err)) != QTK_OK) goto done;
    st = qtk_measure_table_save(tab, table_path, err);
done:
    if (base) qtk_tmpfile_discard(NULL, base);
    free(base);
    free(x);
    free(q);
    free(sel);
    free(text);
    free(tokens);
    qtk_vocab_free(v);
    qtk_imatrix_free(im);
    qtk_model_free(m);
    qtk_measure_table_free(tab);
    return st;
}
