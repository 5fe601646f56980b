/*
 * perplexity.c — perplexity and KL-divergence with llama-perplexity's
 * methodology:
 *   - the text is tokenized once (BOS first when the vocabulary adds one)
 *     and cut into floor(n_tokens / n_ctx) chunks of n_ctx tokens;
 *   - every chunk is evaluated from an empty cache with its first token
 *     replaced by BOS;
 *   - only positions first = n_ctx/2 .. n_ctx-2 are scored, each predicting
 *     the next token: nll = -ln softmax(logits)[next];
 *   - PPL = exp(mean nll), uncertainty = PPL * sqrt(var(nll) / (count-1)).
 * KL-divergence: a base run stores the tokens as evaluated (each chunk's
 * first token already replaced by BOS, so a compare run needs no vocabulary)
 * and, per scored token, the full log-softmax
 * as 24-bit fixed point (step 2^-16) plus the nll and argmax
 * (docs/kld-format.md); a compare run evaluates the same tokens and reports
 * llama-perplexity's statistics.
 */
#include "model_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define KLD_MAGIC "QTKLOGP1"
#define KLD_VERSION 1u
#define KLD_HEADER 32

typedef struct ppl_acc {
    double nll, nll2, nll_base, nll_base2, nll_nll_base;
    double kld, kld2, dp, dp2, dp4;
    int64_t same_top, count;
    float *kld_values, *dp_values;  /* per scored token (compare mode) */
} ppl_acc;

/* (mean, uncertainty of the mean) as llama-perplexity computes them. */
static void mean_unc(double sum, double sum2, int64_t count, double *mean, double *unc) {
    if (count < 1) {
        *mean = *unc = 0;
        return;
    }
    double f = sum / (double)count, df = sum2 / (double)count - f * f;
    *mean = f;
    *unc = df > 0 && count > 10 ? sqrt(df / (double)(count - 1)) : 0.0;
}

static double covariance(double a, double b, double ab, int64_t count) {
    if (count < 10) return 0.0;
    double c = (double)count;
    return (ab / c - (a / c) * (b / c)) / (c - 1);
}

/* Linear interpolation between order statistics (sorted values). */
static double percentile(const float *v, int64_t n, double frac) {
    if (frac <= 0) return v[0];
    if (frac >= 1) return v[n - 1];
    double p = frac * (double)(n - 1);
    int64_t ip = (int64_t)p;
    p -= (double)ip;
    return (1 - p) * v[ip] + p * v[QTK_MIN(ip + 1, n - 1)];
}

static double median(const float *v, int64_t n) {
    return n % 2 == 0 ? 0.5 * ((double)v[n / 2] + (double)v[n / 2 - 1]) : (double)v[n / 2];
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void fill_stats(const ppl_acc *a, bool kld_mode, bool final, qtk_ppl_stats *s) {
    double lp, lpu;
    /* plain PPL: "Final estimate" formula */
    lp = a->nll / (double)a->count;
    double var = a->nll2 / (double)a->count - lp * lp;
    s->n_scored = a->count;
    s->ppl = exp(lp);
    s->ppl_unc = var > 0 && a->count > 1 ? sqrt(var / (double)(a->count - 1)) * s->ppl : 0.0;
    if (!kld_mode) return;
    mean_unc(a->nll, a->nll2, a->count, &lp, &lpu);
    s->ppl = exp(lp);
    s->ppl_unc = s->ppl * lpu;
    double lb, lbu;
    mean_unc(a->nll_base, a->nll_base2, a->count, &lb, &lbu);
    s->ppl_base = exp(lb);
    s->ppl_base_unc = s->ppl_base * lbu;
    double cov = covariance(a->nll, a->nll_base, a->nll_nll_base, a->count);
    s->log_ppl_cor = lpu > 0 && lbu > 0 ? cov / (lpu * lbu) : 0.0;
    s->log_ppl_ratio = lp - lb;
    double r2 = lpu * lpu + lbu * lbu - 2.0 * cov;
    s->log_ppl_ratio_unc = r2 > 0 ? sqrt(r2) : 0.0;
    s->ppl_ratio = exp(s->log_ppl_ratio);
    s->ppl_ratio_unc = s->ppl_ratio * s->log_ppl_ratio_unc;
    double pcov = s->ppl * s->ppl_base * cov;
    s->ppl_diff = s->ppl - s->ppl_base;
    double d2 = s->ppl_unc * s->ppl_unc + s->ppl_base_unc * s->ppl_base_unc - 2.0 * pcov;
    s->ppl_diff_unc = d2 > 0 ? sqrt(d2) : 0.0;
    mean_unc(a->kld, a->kld2, a->count, &s->kld, &s->kld_unc);
    mean_unc(a->dp, a->dp2, a->count, &s->dp_mean, &s->dp_mean_unc);
    double mse, mse_unc;
    mean_unc(a->dp2, a->dp4, a->count, &mse, &mse_unc);
    s->dp_rms = sqrt(mse);
    s->dp_rms_unc = s->dp_rms > 0 ? 0.5 / s->dp_rms * mse_unc : 0.0;
    s->same_top = (double)a->same_top / (double)a->count;
    s->same_top_unc = a->count > 1 ? sqrt(s->same_top * (1 - s->same_top) / (double)(a->count - 1)) : 0.0;
    if (!final || a->count < 1) return;
    float *k = a->kld_values, *d = a->dp_values;
    int64_t n = a->count;
    qsort(k, (size_t)n, sizeof(float), cmp_float);
    qsort(d, (size_t)n, sizeof(float), cmp_float);
    s->kld_max = k[n - 1];
    s->kld_999 = percentile(k, n, 0.999);
    s->kld_99 = percentile(k, n, 0.99);
    s->kld_95 = percentile(k, n, 0.95);
    s->kld_90 = percentile(k, n, 0.90);
    s->kld_median = median(k, n);
    s->kld_10 = percentile(k, n, 0.10);
    s->kld_05 = percentile(k, n, 0.05);
    s->kld_01 = percentile(k, n, 0.01);
    s->kld_001 = percentile(k, n, 0.001);
    s->kld_min = k[0];
    s->dp_max = d[n - 1];
    s->dp_999 = percentile(d, n, 0.999);
    s->dp_99 = percentile(d, n, 0.99);
    s->dp_95 = percentile(d, n, 0.95);
    s->dp_90 = percentile(d, n, 0.90);
    s->dp_75 = percentile(d, n, 0.75);
    s->dp_median = median(d, n);
    s->dp_25 = percentile(d, n, 0.25);
    s->dp_10 = percentile(d, n, 0.10);
    s->dp_05 = percentile(d, n, 0.05);
    s->dp_01 = percentile(d, n, 0.01);
    s->dp_001 = percentile(d, n, 0.001);
    s->dp_min = d[0];
    s->has_percentiles = true;
}

/* ln-sum-exp pieces of one logit row: max, index of the first max, ln sum exp(l - max).
 * Returns false (and computes nothing) when a logit is NaN or +-Inf. */
static bool softmax_norm(const float *l, int64_t n, float *mx, int32_t *imax, double *lse) {
    float m = l[0];
    int32_t im = 0;
    bool finite = isfinite(l[0]);
    for (int64_t i = 1; i < n; i++) {
        finite &= isfinite(l[i]) != 0;
        if (l[i] > m) {
            m = l[i];
            im = (int32_t)i;
        }
    }
    if (!finite) return false;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += expf(l[i] - m);
    *mx = m;
    *imax = im;
    *lse = log(s);
    return true;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_f32(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}
static float get_f32(const uint8_t *p) {
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A log-probability as 24-bit fixed point: q = round(-lp * 2^16), clamped
 * to 2^24 - 1 (lp = -256, p = 6.6e-112). Step 1.5e-5: the rounding noise of
 * per-token KLD stays near 1e-6, below what quantized models show. */
#define LP_SCALE 65536.0
#define LP_MAX 16777215u
static uint32_t lp_encode(double lp) {
    double q = -lp * LP_SCALE + 0.5;
    if (!(q > 0)) return 0;
    return q >= (double)LP_MAX ? LP_MAX : (uint32_t)q;
}
static double lp_decode(uint32_t q) { return -(double)q / LP_SCALE; }

typedef struct ppl_run {
    const qtk_model *m;
    const qtk_ppl_params *p;
    qtk_context *ctx;
    int64_t n_ctx, n_batch, first, n_scored, n_vocab;
    int32_t bos;          /* -1: no BOS replacement */
    float *logits;        /* (n_ctx - first) rows   */
    double decode_seconds;
    int64_t decoded;
} ppl_run;

/* Evaluates one chunk; logits of positions first .. n_ctx-1 land in r->logits. */
static qtk_status eval_chunk(ppl_run *r, const int32_t *chunk, qtk_error *err) {
    qtk_context_reset(r->ctx);
    int32_t *buf = (int32_t *)malloc((size_t)r->n_batch * sizeof(int32_t));
    if (!buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    double t0 = qtk_time_now();
    qtk_status st = QTK_OK;
    for (int64_t b0 = 0; b0 < r->n_ctx && st == QTK_OK; b0 += r->n_batch) {
        int64_t n = QTK_MIN(r->n_batch, r->n_ctx - b0);
        memcpy(buf, chunk + b0, (size_t)n * sizeof(int32_t));
        if (b0 == 0 && r->bos >= 0) buf[0] = r->bos;
        int64_t fl = QTK_MAX(0, r->first - b0);
        float *out = fl < n ? r->logits + (b0 + fl - r->first) * r->n_vocab : NULL;
        st = qtk_decode(r->ctx, buf, n, QTK_MIN(fl, n), out, err);
    }
    r->decode_seconds += qtk_time_now() - t0;
    r->decoded += r->n_ctx;
    free(buf);
    return st;
}

qtk_status qtk_perplexity(const qtk_model *m, const qtk_vocab *v, const int32_t *tokens, int64_t n_tokens,
                          const qtk_ppl_params *p, qtk_ppl_progress_fn progress, void *user,
                          qtk_ppl_stats *result, qtk_error *err) {
    if (!m || !p || !result) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_perplexity: NULL argument");
    memset(result, 0, sizeof *result);
    const bool compare = p->kld;
    if (compare && !p->kld_base)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "--kl-divergence needs --kl-divergence-base FILE");
    ppl_run r = {.m = m, .p = p, .n_vocab = m->info.n_vocab};
    /* BOS as llama.cpp: from the vocabulary, else from the metadata */
    if (v) {
        r.bos = qtk_vocab_adds_bos(v) ? qtk_vocab_bos(v) : -1;
    } else {
        const qtk_meta *meta = qtk_gguf_meta(m->gguf);
        const char *tm = qtk_meta_get_str(meta, "tokenizer.ggml.model");
        int64_t x = -1, add = tm && strcmp(tm, "llama") == 0;
        qtk_meta_get_int(meta, "tokenizer.ggml.add_bos_token", &add);
        r.bos = add && qtk_meta_get_int(meta, "tokenizer.ggml.bos_token_id", &x) ? (int32_t)x : -1;
    }

    FILE *f = NULL;
    char *base_tmp = NULL; /* base file being written: a unique KLD_BASE.tmp.XXXXXX */
    int32_t *file_tokens = NULL;
    uint8_t *rec = NULL;
    ppl_acc acc = {0};
    qtk_status st = QTK_OK;
    int64_t n_chunk;
    const size_t rec_size = 8 + 3 * (size_t)r.n_vocab;
    if (compare) {
        f = qtk_fopen(p->kld_base, "rb");
        if (!f) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", p->kld_base, strerror(errno));
        uint8_t h[KLD_HEADER];
        if (fread(h, 1, KLD_HEADER, f) != KLD_HEADER || memcmp(h, KLD_MAGIC, 8) != 0 || get_u32(h + 8) != KLD_VERSION) {
            fclose(f);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: not a qtk log-probability file (magic %s, version %u)",
                                 p->kld_base, KLD_MAGIC, KLD_VERSION);
        }
        r.n_ctx = get_u32(h + 12);
        int64_t fv = get_u32(h + 16);
        n_chunk = get_u32(h + 20);
        r.first = get_u32(h + 24);
        r.n_scored = get_u32(h + 28);
        if (fv != r.n_vocab || r.n_ctx < 4 || r.first != r.n_ctx / 2 || r.n_scored != r.n_ctx - 1 - r.first ||
            n_chunk < 1) {
            fclose(f);
            return qtk_set_error(err, QTK_ERR_FORMAT,
                                 "%s: header does not fit this model (n_vocab %lld vs %lld, n_ctx %lld)", p->kld_base,
                                 (long long)fv, (long long)r.n_vocab, (long long)r.n_ctx);
        }
        /* read piecewise, growing the buffer as tokens arrive: a header claiming 2^32 chunks
         * must meet the end of the file, not allocate what it claims */
        const uint64_t nt64 = (uint64_t)n_chunk * (uint64_t)r.n_ctx;
        size_t nt = 0, cap = 0;
        bool tok_ok = nt64 <= SIZE_MAX / 8;
        while (tok_ok && nt < nt64) {
            uint8_t tb[4096];
            size_t want = (size_t)QTK_MIN(nt64 - nt, (uint64_t)(sizeof tb / 4));
            if (nt + want > cap) {
                size_t nc = QTK_MAX(cap * 2, (size_t)4096);
                if ((uint64_t)nc > nt64) nc = (size_t)nt64;
                int32_t *nb = (int32_t *)realloc(file_tokens, nc * sizeof(int32_t));
                if (!nb) {
                    free(file_tokens);
                    fclose(f);
                    return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory for %llu tokens", p->kld_base,
                                         (unsigned long long)nc);
                }
                file_tokens = nb;
                cap = nc;
            }
            if (fread(tb, 4, want, f) != want) tok_ok = false;
            for (size_t i = 0; tok_ok && i < want; i++) file_tokens[nt + i] = (int32_t)get_u32(tb + 4 * i);
            for (size_t i = 0; tok_ok && i < want; i++)
                if (file_tokens[nt + i] < 0 || file_tokens[nt + i] >= r.n_vocab) {
                    const uint64_t at = nt + i;
                    const long id = (long)file_tokens[at];
                    free(file_tokens);
                    fclose(f);
                    return qtk_set_error(err, QTK_ERR_FORMAT,
                                         "%s: token %llu (chunk %llu) has id %ld, outside the vocabulary (%lld)",
                                         p->kld_base, (unsigned long long)at,
                                         (unsigned long long)(at / (uint64_t)r.n_ctx) + 1, id, (long long)r.n_vocab);
                }
            if (tok_ok) nt += want;
        }
        if (nt != nt64) {
            free(file_tokens);
            fclose(f);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated token list (%llu of %llu tokens)", p->kld_base,
                                 (unsigned long long)nt, (unsigned long long)nt64);
        }
        tokens = file_tokens;
        n_tokens = (int64_t)nt;
        if (p->n_chunks >= 0 && p->n_chunks < n_chunk) n_chunk = p->n_chunks;
    } else {
        r.n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
        if (r.n_ctx < 4)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "n_ctx %lld is too small (>= 4)", (long long)r.n_ctx);
        r.first = r.n_ctx / 2;
        r.n_scored = r.n_ctx - 1 - r.first;
        if (!tokens || n_tokens < 2 * r.n_ctx)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "you need at least %lld tokens to evaluate perplexity with a context of %lld (the "
                                 "text has %lld)",
                                 (long long)(2 * r.n_ctx), (long long)r.n_ctx, (long long)n_tokens);
        n_chunk = n_tokens / r.n_ctx;
        if (p->n_chunks >= 0 && p->n_chunks < n_chunk) n_chunk = p->n_chunks;
    }
    if (n_chunk < 1) {
        if (f) fclose(f);
        free(file_tokens);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "no chunk to evaluate");
    }
    r.n_batch = p->n_batch > 0 ? QTK_MIN(p->n_batch, r.n_ctx) : r.n_ctx;

    st = qtk_context_create(m, r.n_ctx, p->n_threads, &r.ctx, err);
    r.logits = (float *)malloc((size_t)(r.n_ctx - r.first) * (size_t)r.n_vocab * sizeof(float));
    rec = (uint8_t *)malloc(rec_size * (size_t)r.n_scored);
    if (compare) {
        acc.kld_values = (float *)malloc((size_t)(n_chunk * r.n_scored) * sizeof(float));
        acc.dp_values = (float *)malloc((size_t)(n_chunk * r.n_scored) * sizeof(float));
    }
    if (st == QTK_OK && (!r.logits || !rec || (compare && (!acc.kld_values || !acc.dp_values))))
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    if (st == QTK_OK && !compare && p->kld_base) {
        /* written beside it and renamed over it only when complete (removed on
         * failure and on SIGINT/SIGTERM/SIGHUP); never over the model itself */
        st = qtk_tmpfile_create(p->kld_base, &f, &base_tmp, err);
        if (st == QTK_OK) {
            uint8_t h[KLD_HEADER];
            memcpy(h, KLD_MAGIC, 8);
            put_u32(h + 8, KLD_VERSION);
            put_u32(h + 12, (uint32_t)r.n_ctx);
            put_u32(h + 16, (uint32_t)r.n_vocab);
            put_u32(h + 20, (uint32_t)n_chunk);
            put_u32(h + 24, (uint32_t)r.first);
            put_u32(h + 28, (uint32_t)r.n_scored);
            bool ok = fwrite(h, 1, KLD_HEADER, f) == KLD_HEADER;
            for (int64_t i = 0; ok && i < n_chunk * r.n_ctx; i++) {
                /* the tokens as evaluated (BOS first in every chunk): a compare run evaluates
                 * exactly these, even with a model that has no vocabulary to name its BOS */
                uint8_t b[4];
                put_u32(b, (uint32_t)(i % r.n_ctx == 0 && r.bos >= 0 ? r.bos : tokens[i]));
                ok = fwrite(b, 1, 4, f) == 4;
            }
            if (!ok) st = qtk_set_error(err, QTK_ERR_IO, "%s: write failed", p->kld_base);
        }
    }

    qtk_ppl_stats s = {0};
    s.n_chunks = n_chunk;
    for (int64_t c = 0; c < n_chunk && st == QTK_OK; c++) {
        const int32_t *chunk = tokens + c * r.n_ctx;
        if (compare && fread(rec, rec_size, (size_t)r.n_scored, f) != (size_t)r.n_scored) {
            st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated at chunk %lld", p->kld_base, (long long)c + 1);
            break;
        }
        double t0 = qtk_time_now();
        if ((st = eval_chunk(&r, chunk, err)) != QTK_OK) break;
        if (c == 0) s.seconds_first_chunk = qtk_time_now() - t0;
        for (int64_t j = 0; j < r.n_scored && st == QTK_OK; j++) {
            const float *l = r.logits + j * r.n_vocab;
            const int32_t next = chunk[r.first + j + 1];
            float mx;
            int32_t imax;
            double lse;
            if (!softmax_norm(l, r.n_vocab, &mx, &imax, &lse)) {
                /* a NaN PPL (or a NaN base file) helps nobody: stop at the first bad row */
                st = qtk_set_error(err, QTK_ERR_NUMERIC,
                                   "%s: non-finite logits (NaN or Inf) at chunk %lld, token position %lld of %lld: "
                                   "the model's weights or activations are not finite",
                                   qtk_gguf_path(m->gguf), (long long)c + 1, (long long)(r.first + j),
                                   (long long)r.n_ctx);
                break;
            }
            const float nll = (float)((double)mx + lse - (double)l[next]);
            acc.nll += nll;
            acc.nll2 += (double)nll * nll;
            acc.count++;
            uint8_t *rp = rec + (size_t)j * rec_size;
            if (!compare && !f) continue;
            if (!compare) {  /* base file record */
                put_f32(rp, nll);
                put_u32(rp + 4, (uint32_t)imax);
                for (int64_t i = 0; i < r.n_vocab; i++) {
                    uint32_t q = lp_encode((double)l[i] - mx - lse);
                    rp[8 + 3 * i] = (uint8_t)q;
                    rp[9 + 3 * i] = (uint8_t)(q >> 8);
                    rp[10 + 3 * i] = (uint8_t)(q >> 16);
                }
                continue;
            }
            const float nll_base = get_f32(rp);
            const int32_t top_base = (int32_t)get_u32(rp + 4);
            /* the stored nll is -ln p(next) of the stored distribution: they agree to the
             * fixed-point step (or the entry is clamped), else the record is corrupt */
            const uint8_t *qn = rp + 8 + 3 * (size_t)next;
            const uint32_t q_next = (uint32_t)qn[0] | (uint32_t)qn[1] << 8 | (uint32_t)qn[2] << 16;
            const bool nll_fits = q_next >= LP_MAX ? nll_base >= (float)(-lp_decode(LP_MAX) - 1e-3)
                                                   : fabs((double)nll_base + lp_decode(q_next)) <= 1e-4 + 1e-6 * nll_base;
            if (!(nll_base >= 0.0f && nll_base < INFINITY) || !nll_fits || top_base < 0 || top_base >= r.n_vocab) {
                st = qtk_set_error(err, QTK_ERR_FORMAT,
                                   "%s: corrupt record at chunk %lld, position %lld (nll %g, top token %ld)",
                                   p->kld_base, (long long)c + 1, (long long)(r.first + j), (double)nll_base,
                                   (long)top_base);
                break;
            }
            acc.nll_base += nll_base;
            acc.nll_base2 += (double)nll_base * nll_base;
            acc.nll_nll_base += (double)nll * nll_base;
            /* both distributions through the same fixed-point rounding:
             * identical models give exactly 0 */
            double kl = 0.0;
            for (int64_t i = 0; i < r.n_vocab; i++) {
                const uint8_t *e = rp + 8 + 3 * i;
                uint32_t qb = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16;
                uint32_t qq = lp_encode((double)l[i] - mx - lse);
                if (qb != qq) kl += exp(lp_decode(qb)) * (lp_decode(qb) - lp_decode(qq));
            }
            acc.kld += kl;
            acc.kld2 += kl * kl;
            acc.same_top += imax == top_base;
            const double dp = exp(-(double)nll) - exp(-(double)nll_base);
            acc.dp += dp;
            acc.dp2 += dp * dp;
            acc.dp4 += dp * dp * dp * dp;
            acc.kld_values[acc.count - 1] = (float)kl;
            acc.dp_values[acc.count - 1] = (float)dp;
        }
        if (st != QTK_OK) break;
        if (!compare && f && fwrite(rec, rec_size, (size_t)r.n_scored, f) != (size_t)r.n_scored) {
            st = qtk_set_error(err, QTK_ERR_IO, "%s: write failed", p->kld_base);
            break;
        }
        s.chunk = c + 1;
        s.tokens_per_second = r.decode_seconds > 0 ? (double)r.decoded / r.decode_seconds : 0.0;
        fill_stats(&acc, compare, false, &s);
        if (progress) progress(user, &s);
    }
    if (st == QTK_OK) {
        fill_stats(&acc, compare, true, &s);
        *result = s;
    }
    if (base_tmp) {
        if (st == QTK_OK && qtk_fsync_file(f) != 0)
            st = qtk_set_error(err, QTK_ERR_IO, "%s: writing %s failed: %s", p->kld_base, base_tmp, strerror(errno));
        FILE *bf = f;
        f = NULL;
        if (st == QTK_OK && fclose(bf) != 0)
            st = qtk_set_error(err, QTK_ERR_IO, "%s: closing %s failed: %s", p->kld_base, base_tmp, strerror(errno));
        else if (st != QTK_OK)
            fclose(bf);
        if (st == QTK_OK && qtk_tmpfile_commit(base_tmp, p->kld_base) != 0)
            st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot rename %s over it: %s", p->kld_base, base_tmp,
                               strerror(errno));
        if (st != QTK_OK) qtk_tmpfile_discard(NULL, base_tmp);
        free(base_tmp);
    }
    if (f) fclose(f);
    qtk_context_free(r.ctx);
    free(r.logits);
    free(rec);
    free(acc.kld_values);
    free(acc.dp_values);
    free(file_tokens);
    return st;
}
