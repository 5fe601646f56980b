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
 * KL-divergence (docs/kld-format.md): a base run stores the tokens and, per
 * scored token, the full log-softmax, in llama.cpp's `_logits_` format (the
 * default: original tokens, u16 per entry with a per-record affine scale over
 * 24 nats) or qtk's `QTKLOGP1` format (tokens as evaluated, 24-bit fixed point
 * with step 2^-16, plus the exact nll and argmax); a compare run detects the
 * format from the magic, evaluates the same tokens and reports
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

/* ---- llama.cpp's `_logits_` file (llama-perplexity --kl-divergence-base) ----
 * Header: magic, i32 n_ctx, i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk * n_ctx]
 * (the original tokens: BOS replaces each chunk's first token at evaluation).
 * Per chunk, per scored position, nv = 2*ceil(n_vocab/2) + 4 uint16: f32 scale,
 * f32 min_log_prob, n_vocab uint16 q (ln p(i) = min_log_prob + scale*q[i]),
 * padding. Written as ik_llama.cpp does it (range max_logit - 24 .. max_logit,
 * q rounded to nearest, ties to even, in f32); read from any writer's range. */
#define LLAMA_MAGIC "_logits_"
#define LLAMA_HEADER 20
#define LLAMA_RANGE 24.0f
/* A row whose range reaches this many nats was clamped by its writer (ik: 24,
 * llama.cpp: 16): its q == 0 entries sit at the floor, below which the true
 * value lies, and are left out of the KLD (llama.cpp's reader drops ln p <= -16). */
#define LLAMA_CLAMPED 15.99
/* Largest |ln sum p| of a decoded record: rounding leaves ~1e-4, the floor
 * entries of a 16-nat, 256k-vocabulary record up to 0.03. */
#define LLAMA_MAX_LOGSUM 0.25

static size_t llama_nv(int64_t n_vocab) { return 2 * (size_t)((n_vocab + 1) / 2) + 4; }

static size_t rec_size_of(qtk_kld_format fmt, int64_t n_vocab) {
    return fmt == QTK_KLD_FORMAT_QTK ? 8 + 3 * (size_t)n_vocab : 2 * llama_nv(n_vocab);
}

/* One llama record from F32 logits (mx, lse from softmax_norm). */
static void llama_rec_encode(const float *l, int64_t n, float mx, double lse_d, uint8_t *rp) {
    float mn = l[0];
    for (int64_t i = 1; i < n; i++) mn = l[i] < mn ? l[i] : mn;
    const float min_logit = mn > mx - LLAMA_RANGE ? mn : mx - LLAMA_RANGE;
    const float lse = (float)lse_d;
    const float min_lp = min_logit - mx - lse;
    const float scale = (mx - min_logit) / 65535.0f;
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    put_f32(rp, scale);
    put_f32(rp + 4, min_lp);
    uint8_t *q = rp + 8;
    for (int64_t i = 0; i < n; i++) {
        uint32_t v = 0;
        if (scale > 0 && l[i] > min_logit) {
            const float x = rintf(inv * (l[i] - min_logit)); /* nearest, ties to even */
            v = x >= 65535.0f ? 65535u : (uint32_t)x;
        }
        q[2 * i] = (uint8_t)v;
        q[2 * i + 1] = (uint8_t)(v >> 8);
    }
    memset(q + 2 * n, 0, 2 * (llama_nv(n) - 4 - (size_t)n));
}

/* Decodes one llama record into normalized base log-probabilities lp[] (entries
 * at the floor of a clamped row: -INFINITY, left out of the KLD). nll: -lp[next]
 * of the normalized distribution; nll_raw: llama.cpp's -(min_log_prob +
 * scale*q[next]); top: the first largest q. Returns NULL, or why the record is
 * corrupt (written into why). */
static const char *llama_rec_decode(const uint8_t *rp, int64_t n, int32_t next, double *lp, double *nll,
                                    double *nll_raw, int32_t *top, char *why, size_t why_n) {
    const float scale = get_f32(rp), min_lp = get_f32(rp + 4);
    if (!(scale >= 0.0f && scale <= 1.0f) || !(min_lp >= -1e6f && min_lp <= 1e-3f)) {
        snprintf(why, why_n, "scale %g, min_log_prob %g (want scale in [0, 1], min_log_prob in [-1e6, 0])",
                 (double)scale, (double)min_lp);
        return why;
    }
    const uint8_t *q = rp + 8;
    const bool clamped = (double)scale * 65535.0 >= LLAMA_CLAMPED;
    uint32_t qmax = 0;
    int32_t im = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint32_t v = (uint32_t)q[2 * i] | (uint32_t)q[2 * i + 1] << 8;
        if (v > qmax) {
            qmax = v;
            im = (int32_t)i;
        }
        lp[i] = clamped && v == 0 ? -INFINITY : (double)min_lp + (double)scale * (double)v;
    }
    if (clamped && qmax == 0) {
        snprintf(why, why_n, "every entry at the floor (scale %g)", (double)scale);
        return why;
    }
    const double lmax = (double)min_lp + (double)scale * (double)qmax;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += exp(lp[i] - lmax);
    const double ls = lmax + log(sum);
    if (!(fabs(ls) <= LLAMA_MAX_LOGSUM)) {
        snprintf(why, why_n, "its probabilities sum to %g, not 1", exp(ls));
        return why;
    }
    for (int64_t i = 0; i < n; i++) lp[i] -= ls;
    const uint32_t qn = (uint32_t)q[2 * next] | (uint32_t)q[2 * next + 1] << 8;
    const double raw = (double)min_lp + (double)scale * (double)qn;
    *nll_raw = -raw;
    *nll = -(raw - ls);
    *top = im;
    return NULL;
}

/* The stored nll of a qtk record is -ln p(next) of the stored distribution: they
 * agree to the fixed-point step (or the entry is clamped), else the record is corrupt. */
static bool qtk_rec_valid(const uint8_t *rp, int64_t n_vocab, int32_t next, float *nll_base, int32_t *top_base) {
    *nll_base = get_f32(rp);
    *top_base = (int32_t)get_u32(rp + 4);
    const uint8_t *qn = rp + 8 + 3 * (size_t)next;
    const uint32_t q_next = (uint32_t)qn[0] | (uint32_t)qn[1] << 8 | (uint32_t)qn[2] << 16;
    const float nb = *nll_base;
    const bool nll_fits = q_next >= LP_MAX ? nb >= (float)(-lp_decode(LP_MAX) - 1e-3)
                                           : fabs((double)nb + lp_decode(q_next)) <= 1e-4 + 1e-6 * nb;
    return nb >= 0.0f && nb < INFINITY && nll_fits && *top_base >= 0 && *top_base < n_vocab;
}

/* A base file opened for reading, positioned at its first record. */
typedef struct kld_base {
    FILE *f;
    const char *path;
    qtk_kld_format fmt;
    int64_t n_ctx, n_vocab, n_chunk, first, n_scored;
    size_t rec_size;
    int32_t *tokens; /* n_chunk * n_ctx */
} kld_base;

static void kld_base_close(kld_base *b) {
    if (b->f) fclose(b->f);
    free(b->tokens);
    b->f = NULL;
    b->tokens = NULL;
}

/* Opens either format (told apart by the magic) and checks the header against
 * want_vocab (< 0: any), the file size against the header (records of the first
 * use_chunks chunks present, < 0: all of them and nothing after) and every token
 * id; reads the tokens. */
static qtk_status kld_base_open(const char *path, int64_t want_vocab, int64_t use_chunks, kld_base *b,
                                qtk_error *err) {
    memset(b, 0, sizeof *b);
    b->path = path;
    b->f = qtk_fopen(path, "rb");
    if (!b->f) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t h[KLD_HEADER];
    const size_t got = fread(h, 1, 8, b->f);
    int64_t fv, hdr;
    const char *what;
    if (got == 8 && memcmp(h, KLD_MAGIC, 8) == 0) {
        what = "qtk log-probability file";
        b->fmt = QTK_KLD_FORMAT_QTK;
        hdr = KLD_HEADER;
        if (fread(h + 8, 1, KLD_HEADER - 8, b->f) != KLD_HEADER - 8) {
            kld_base_close(b);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated header (%s)", path, what);
        }
        if (get_u32(h + 8) != KLD_VERSION) {
            const unsigned ver = get_u32(h + 8);
            kld_base_close(b);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %s version %u (this build reads version %u)", path, what,
                                 ver, KLD_VERSION);
        }
        b->n_ctx = get_u32(h + 12);
        fv = get_u32(h + 16);
        b->n_chunk = get_u32(h + 20);
        b->first = get_u32(h + 24);
        b->n_scored = get_u32(h + 28);
    } else if (got == 8 && memcmp(h, LLAMA_MAGIC, 8) == 0) {
        what = "llama.cpp logits file";
        b->fmt = QTK_KLD_FORMAT_LLAMA;
        hdr = LLAMA_HEADER;
        if (fread(h + 8, 1, LLAMA_HEADER - 8, b->f) != LLAMA_HEADER - 8) {
            kld_base_close(b);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated header (%s)", path, what);
        }
        b->n_ctx = (int32_t)get_u32(h + 8);
        fv = (int32_t)get_u32(h + 12);
        b->n_chunk = (int32_t)get_u32(h + 16);
        b->first = b->n_ctx / 2;
        b->n_scored = b->n_ctx - 1 - b->first;
    } else {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: not a KL-divergence base file (%s): the magic is neither `%s` (llama.cpp) nor "
                             "`%s` (qtk)",
                             path, got < 8 ? "shorter than its magic" : "unknown magic", LLAMA_MAGIC, KLD_MAGIC);
    }
    b->n_vocab = fv;
    const char *bad = NULL;
    if (b->n_ctx < 4) bad = "n_ctx below 4";
    else if (b->first != b->n_ctx / 2 || b->n_scored != b->n_ctx - 1 - b->first) bad = "scored positions not n_ctx/2 .. n_ctx-2";
    else if (fv < 1) bad = "n_vocab below 1";
    else if (b->n_chunk < 1) bad = "no chunk";
    if (bad) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: bad header (%s): n_ctx %lld, n_vocab %lld, %lld chunks (%s)",
                             path, what, (long long)b->n_ctx, (long long)fv, (long long)b->n_chunk, bad);
    }
    if (want_vocab >= 0 && fv != want_vocab) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: n_vocab %lld does not match the model's %lld (a base file of another model?)", path,
                             (long long)fv, (long long)want_vocab);
    }
    b->rec_size = rec_size_of(b->fmt, fv);
    /* the size the header describes, checked before anything is allocated or evaluated */
    const double dsize = (double)hdr + 4.0 * (double)b->n_chunk * (double)b->n_ctx +
                         (double)b->n_chunk * (double)b->n_scored * (double)b->rec_size;
    if (dsize > 4e18) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: the header claims %lld chunks of %lld tokens, n_vocab %lld: more than any file holds",
                             path, (long long)b->n_chunk, (long long)b->n_ctx, (long long)fv);
    }
    const int64_t n_use = use_chunks >= 0 && use_chunks < b->n_chunk ? use_chunks : b->n_chunk;
    const int64_t data = hdr + 4 * b->n_chunk * b->n_ctx;
    const int64_t need = data + n_use * b->n_scored * (int64_t)b->rec_size;
    const int64_t full = data + b->n_chunk * b->n_scored * (int64_t)b->rec_size;
    if (qtk_fseek64(b->f, need - 1) != 0 || fgetc(b->f) == EOF) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: truncated: its header (%s, %lld chunks of %lld tokens, n_vocab %lld) describes "
                             "%lld bytes%s",
                             path, what, (long long)b->n_chunk, (long long)b->n_ctx, (long long)fv, (long long)full,
                             n_use < b->n_chunk ? " (fewer chunks would need less)" : "");
    }
    if (n_use == b->n_chunk && fgetc(b->f) != EOF) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: longer than its header (%s, %lld chunks of %lld tokens, n_vocab %lld) describes "
                             "(%lld bytes): a different layout?",
                             path, what, (long long)b->n_chunk, (long long)b->n_ctx, (long long)fv, (long long)full);
    }
    if (qtk_fseek64(b->f, hdr) != 0) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
    const size_t nt = (size_t)(b->n_chunk * b->n_ctx);
    b->tokens = (int32_t *)malloc(nt * sizeof(int32_t));
    if (!b->tokens) {
        kld_base_close(b);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory for %zu tokens", path, nt);
    }
    for (size_t done = 0; done < nt;) {
        uint8_t tb[4096];
        const size_t want = QTK_MIN(nt - done, sizeof tb / 4);
        if (fread(tb, 4, want, b->f) != want) {
            kld_base_close(b);
            return qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated token list (%zu of %zu tokens)", path, done, nt);
        }
        for (size_t i = 0; i < want; i++) {
            const int32_t t = (int32_t)get_u32(tb + 4 * i);
            if (t < 0 || t >= fv) {
                const size_t at = done + i;
                kld_base_close(b);
                return qtk_set_error(err, QTK_ERR_FORMAT,
                                     "%s: token %zu (chunk %lld) has id %ld, outside the vocabulary (%lld)", path, at,
                                     (long long)(at / (size_t)b->n_ctx) + 1, (long)t, (long long)fv);
            }
            b->tokens[done + i] = t;
        }
        done += want;
    }
    return QTK_OK;
}

qtk_status qtk_kld_base_read_info(const char *path, bool scan, qtk_kld_base_info *info, qtk_error *err) {
    if (!path || !info) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_kld_base_read_info: NULL argument");
    memset(info, 0, sizeof *info);
    kld_base b;
    qtk_status st = kld_base_open(path, -1, -1, &b, err);
    if (st != QTK_OK) return st;
    info->format = b.fmt;
    info->n_ctx = b.n_ctx;
    info->n_vocab = b.n_vocab;
    info->n_chunk = b.n_chunk;
    info->n_scored = b.n_scored;
    if (scan) {
        uint8_t *rec = (uint8_t *)malloc(b.rec_size);
        double *lp = (double *)malloc((size_t)b.n_vocab * sizeof(double));
        double sum = 0.0;
        char why[160];
        if (!rec || !lp) st = qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
        for (int64_t c = 0; c < b.n_chunk && st == QTK_OK; c++)
            for (int64_t j = 0; j < b.n_scored && st == QTK_OK; j++) {
                const int32_t next = b.tokens[c * b.n_ctx + b.first + j + 1];
                if (fread(rec, 1, b.rec_size, b.f) != b.rec_size) {
                    st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: truncated at chunk %lld", path, (long long)c + 1);
                    break;
                }
                if (b.fmt == QTK_KLD_FORMAT_QTK) {
                    float nb;
                    int32_t top;
                    if (!qtk_rec_valid(rec, b.n_vocab, next, &nb, &top))
                        st = qtk_set_error(err, QTK_ERR_FORMAT,
                                           "%s: corrupt record at chunk %lld, position %lld (nll %g, top token %ld)",
                                           path, (long long)c + 1, (long long)(b.first + j), (double)nb, (long)top);
                    sum += nb;
                } else {
                    double nll, raw;
                    int32_t top;
                    if (llama_rec_decode(rec, b.n_vocab, next, lp, &nll, &raw, &top, why, sizeof why))
                        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: corrupt record at chunk %lld, position %lld: %s",
                                           path, (long long)c + 1, (long long)(b.first + j), why);
                    sum += raw;
                }
                info->n_records++;
            }
        if (st == QTK_OK) info->ppl = exp(sum / (double)info->n_records);
        free(rec);
        free(lp);
    }
    kld_base_close(&b);
    return st;
}

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
    kld_base kb = {0};     /* base file being read */
    uint8_t *rec = NULL;
    double *lpb = NULL;    /* decoded base log-probabilities (llama.cpp file) */
    ppl_acc acc = {0};
    qtk_status st = QTK_OK;
    int64_t n_chunk;
    const qtk_kld_format wfmt = p->kld_format == QTK_KLD_FORMAT_QTK ? QTK_KLD_FORMAT_QTK : QTK_KLD_FORMAT_LLAMA;
    size_t rec_size = rec_size_of(wfmt, r.n_vocab);
    if (compare) {
        st = kld_base_open(p->kld_base, r.n_vocab, p->n_chunks, &kb, err);
        if (st != QTK_OK) return st;
        f = kb.f;
        kb.f = NULL; /* closed below with f */
        r.n_ctx = kb.n_ctx;
        r.first = kb.first;
        r.n_scored = kb.n_scored;
        n_chunk = kb.n_chunk;
        rec_size = kb.rec_size;
        tokens = kb.tokens;
        n_tokens = kb.n_chunk * kb.n_ctx;
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
        kld_base_close(&kb);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "no chunk to evaluate");
    }
    r.n_batch = p->n_batch > 0 ? QTK_MIN(p->n_batch, r.n_ctx) : r.n_ctx;

    st = qtk_context_create(m, r.n_ctx, p->n_threads, &r.ctx, err);
    if (st == QTK_OK)
        st = qtk_context_set_kv_type(r.ctx, p->kv_f32_k ? QTK_TYPE_F32 : QTK_TYPE_F16,
                                     p->kv_f32_v ? QTK_TYPE_F32 : QTK_TYPE_F16, err);
    r.logits = (float *)malloc((size_t)(r.n_ctx - r.first) * (size_t)r.n_vocab * sizeof(float));
    rec = (uint8_t *)malloc(rec_size * (size_t)r.n_scored);
    if (compare) {
        lpb = (double *)malloc(2 * (size_t)r.n_vocab * sizeof(double));
        acc.kld_values = (float *)malloc((size_t)(n_chunk * r.n_scored) * sizeof(float));
        acc.dp_values = (float *)malloc((size_t)(n_chunk * r.n_scored) * sizeof(float));
    }
    if (st == QTK_OK && (!r.logits || !rec || (compare && (!acc.kld_values || !acc.dp_values || !lpb))))
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    if (st == QTK_OK && !compare && p->kld_base) {
        /* written beside it and renamed over it only when complete (removed on
         * failure and on SIGINT/SIGTERM/SIGHUP); never over the model itself */
        st = qtk_tmpfile_create(p->kld_base, &f, &base_tmp, err);
        if (st == QTK_OK && wfmt == QTK_KLD_FORMAT_LLAMA) {
            /* llama-perplexity's header: the original tokens (BOS replaces the first
             * token of each chunk when the file is read, as when it was written) */
            uint8_t h[LLAMA_HEADER];
            memcpy(h, LLAMA_MAGIC, 8);
            put_u32(h + 8, (uint32_t)r.n_ctx);
            put_u32(h + 12, (uint32_t)r.n_vocab);
            put_u32(h + 16, (uint32_t)n_chunk);
            bool ok = fwrite(h, 1, LLAMA_HEADER, f) == LLAMA_HEADER;
            for (int64_t i = 0; ok && i < n_chunk * r.n_ctx; i++) {
                uint8_t b[4];
                put_u32(b, (uint32_t)tokens[i]);
                ok = fwrite(b, 1, 4, f) == 4;
            }
            if (!ok) st = qtk_set_error(err, QTK_ERR_IO, "%s: write failed", p->kld_base);
        } else if (st == QTK_OK) {
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
            if (!compare && wfmt == QTK_KLD_FORMAT_LLAMA) {
                llama_rec_encode(l, r.n_vocab, mx, lse, rp);
                continue;
            }
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
            double nll_base, kl = 0.0;
            int32_t top_base;
            if (kb.fmt == QTK_KLD_FORMAT_QTK) {
                float nb;
                if (!qtk_rec_valid(rp, r.n_vocab, next, &nb, &top_base)) {
                    st = qtk_set_error(err, QTK_ERR_FORMAT,
                                       "%s: corrupt record at chunk %lld, position %lld (nll %g, top token %ld)",
                                       p->kld_base, (long long)c + 1, (long long)(r.first + j), (double)nb,
                                       (long)top_base);
                    break;
                }
                nll_base = nb;
                /* both distributions through the same fixed-point rounding, each
                 * renormalized (which removes the first-order effect of the rounding,
                 * ~2e-6 per token): identical models give exactly 0 */
                double *lpq = lpb + r.n_vocab, sb = 0.0, sq = 0.0;
                for (int64_t i = 0; i < r.n_vocab; i++) {
                    const uint8_t *e = rp + 8 + 3 * i;
                    lpb[i] = lp_decode((uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16);
                    lpq[i] = lp_decode(lp_encode((double)l[i] - mx - lse));
                    sb += exp(lpb[i]);
                    sq += exp(lpq[i]);
                }
                const double lb = log(sb), lq = log(sq);
                for (int64_t i = 0; i < r.n_vocab; i++)
                    kl += exp(lpb[i] - lb) * ((lpb[i] - lb) - (lpq[i] - lq));
            } else {
                /* llama.cpp's file: the base distribution decoded and renormalized (which
                 * removes the first-order effect of the 16-bit rounding), entries at a
                 * clamped floor left out; the model's own log-probabilities exact */
                char why[160];
                double raw;
                if (llama_rec_decode(rp, r.n_vocab, next, lpb, &nll_base, &raw, &top_base, why, sizeof why)) {
                    st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: corrupt record at chunk %lld, position %lld: %s",
                                       p->kld_base, (long long)c + 1, (long long)(r.first + j), why);
                    break;
                }
                /* ln sum exp with exp in double: expf's rounding would move ln q by ~1e-8 */
                double se = 0.0;
                for (int64_t i = 0; i < r.n_vocab; i++) se += exp((double)l[i] - (double)mx);
                const double norm = (double)mx + log(se);
                for (int64_t i = 0; i < r.n_vocab; i++)
                    if (lpb[i] > -INFINITY) kl += exp(lpb[i]) * (lpb[i] - ((double)l[i] - norm));
            }
            acc.nll_base += nll_base;
            acc.nll_base2 += nll_base * nll_base;
            acc.nll_nll_base += (double)nll * nll_base;
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
    free(lpb);
    kld_base_close(&kb);
    return st;
}
