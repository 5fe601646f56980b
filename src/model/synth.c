/*
 * synth.c — synthetic LLaMA-architecture models for demos, tests and speed
 * work: an F16 GGUF with the tensor layout and metadata of a real llama.cpp
 * model, a SentencePiece-style (BPE) vocabulary, and weights drawn from
 * distributions shaped like trained weights (docs/synth.md has the numbers
 * and the reasons).
 *
 * Determinism: the file is a pure function of (shape, seed) on every
 * platform. All randomness comes from our own integer generators; each row
 * of each tensor has its own generator seeded from (seed, tensor, row), so
 * neither chunking nor threading can change a byte. Floating point is used
 * only through operations IEEE 754 rounds exactly (+, *, /, sqrt, int->double,
 * double->float) and never as a product feeding an addition, so no compiler
 * can fuse it into an FMA; no libm transcendental (log, exp, pow, cos) is
 * called anywhere. This holds where FLT_EVAL_METHOD is 0 (every 64-bit
 * target, and MSVC x86 with SSE2); a 32-bit x87 build may differ in the last
 * bit of a few values.
 */
#include "../core/qtk_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

/* ------------------------------------------------------------------------ */
/* Shapes                                                                    */
/* ------------------------------------------------------------------------ */

static const qtk_synth_shape shapes[] = {
    /* name    n_embd  n_ff  layers heads kv  vocab  ctx */
    {"tiny", 256, 768, 4, 4, 2, 1024, 512},
    {"small", 512, 1536, 8, 8, 2, 4096, 2048},
    {"1b", 2048, 5632, 16, 32, 4, 32000, 4096},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

int qtk_synth_shape_count(void) { return N_SHAPES; }

const qtk_synth_shape *qtk_synth_shape_at(int i) { return i >= 0 && i < N_SHAPES ? &shapes[i] : NULL; }

const qtk_synth_shape *qtk_synth_shape_get(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < N_SHAPES; i++)
        if (qtk_strcasecmp(shapes[i].name, name) == 0) return &shapes[i];
    return NULL;
}

int64_t qtk_synth_n_params(const qtk_synth_shape *s) {
    if (!s) return 0;
    int64_t head_dim = s->n_embd / s->n_head, kv = head_dim * s->n_head_kv;
    int64_t layer = 2 * s->n_embd                       /* attn_norm, ffn_norm */
                    + 2 * s->n_embd * s->n_embd         /* attn_q, attn_output */
                    + 2 * s->n_embd * kv                /* attn_k, attn_v      */
                    + 3 * s->n_embd * s->n_ff;          /* gate, up, down      */
    return 2 * s->n_embd * s->n_vocab + s->n_embd + s->n_layer * layer;
}

/* ------------------------------------------------------------------------ */
/* Random numbers (integer only)                                             */
/* ------------------------------------------------------------------------ */

/* splitmix64 step: used to expand seeds into generator states. */
static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* xoshiro256** state: one per row, so rows are independent streams. */
typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* Stream (domain, a, b) of the model seeded with `seed`: the hash chain makes
 * nearby (a, b) pairs unrelated. */
static void rng_init(rng *r, uint64_t seed, uint64_t domain, uint64_t a, uint64_t b) {
    uint64_t x = seed;
    uint64_t h = splitmix(&x);
    x = h ^ (domain * 0xD1B54A32D192ED03ull);
    h = splitmix(&x);
    x = h ^ (a * 0xAEF17502108EF2D9ull);
    h = splitmix(&x);
    x = h ^ (b * 0xF39CC0605CEDC835ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
}

/* Streams of the generator (the `domain` argument of rng_init). */
enum { DOM_MODEL = 1, DOM_TENSOR = 2, DOM_ROW = 3, DOM_CHI = 4, DOM_VOCAB = 5 };

/* Irwin-Hall sum of four 16-bit uniforms, centred: an integer with a bell
 * shaped (piecewise cubic) density, mean 0, variance exactly
 * IH_VAR = (65536^2 - 1) / 3, range +-131070 (3.46 sigma). */
#define IH_VAR 1431655765ll
#define IH_SD_INT 37837 /* round(sqrt(IH_VAR)) */
static int32_t ih_of(uint64_t x) {
    return (int32_t)(x & 0xffff) + (int32_t)((x >> 16) & 0xffff) + (int32_t)((x >> 32) & 0xffff) +
           (int32_t)(x >> 48) - 131070;
}

/* round(sd * N(0,1)) with N approximated by the Irwin-Hall variate. */
static int32_t gauss_int(rng *r, int32_t sd) {
    int64_t p = (int64_t)ih_of(rng_next(r)) * sd;
    int64_t half = IH_SD_INT / 2;
    return (int32_t)(p >= 0 ? (p + half) / IH_SD_INT : -((-p + half) / IH_SD_INT));
}

/* Uniform integer in [0, n) (n small: the modulo bias is below 2^-40). */
static uint32_t rng_below(rng *r, uint32_t n) { return (uint32_t)(rng_next(r) % n); }

/* ------------------------------------------------------------------------ */
/* Deterministic powers of two: 2^(q/64)                                     */
/* ------------------------------------------------------------------------ */

/* pow2_64[j] = 2^(j/64), built from sqrt (correctly rounded everywhere) and
 * products, so the table is bit-identical on every IEEE platform. */
static void pow2_table(double t[64]) {
    double r = 2.0;
    for (int i = 0; i < 6; i++) r = sqrt(r); /* 2^(1/64) */
    t[0] = 1.0;
    for (int j = 1; j < 64; j++) t[j] = t[j - 1] * r;
}

/* 2^(q/64) for an integer q: table entry times an exact power of two. */
static double pow2_q64(const double t[64], int32_t q) {
    int32_t e = q >= 0 ? q / 64 : -((-q + 63) / 64);
    double v = t[q - e * 64];
    for (; e > 0; e--) v *= 2.0;
    for (; e < 0; e++) v *= 0.5;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Weight statistics per tensor kind (see docs/synth.md)                     */
/* ------------------------------------------------------------------------ */

typedef enum kind {
    K_TOKEN_EMBD,
    K_ATTN_NORM,
    K_Q,
    K_K,
    K_V,
    K_O,
    K_FFN_NORM,
    K_GATE,
    K_UP,
    K_DOWN,
    K_OUT_NORM,
    K_OUTPUT
} kind;

typedef struct kind_info {
    const char *suffix;  /* name after "blk.N." (or the full name)                 */
    int gain8;           /* element RMS = gain8/8 / sqrt(n_in) before depth factor */
    int nu;              /* Student-t degrees of freedom of the elements           */
    int row_sd64;        /* sd of log2(row scale), in 1/64 octave                  */
    int head_sd64;       /* sd of log2(per-head scale) for q/k, else 0             */
    int residual;        /* reads the residual stream: shared outlier channels     */
    int extra_base;      /* per-matrix extra outlier columns: base + n_in/per      */
    int extra_per;
    int extra_lo4, extra_hi4; /* their amplitude range, in quarters                */
    int norm_mu4;        /* norm weights: mean, in quarters                         */
} kind_info;

static const kind_info kinds[] = {
    /* suffix              gain nu row head res  extra: base per  lo4 hi4  mu4 */
    [K_TOKEN_EMBD] = {"token_embd.weight", 7, 12, 19, 0, 1, 0, 1024, 6, 12, 0},
    [K_ATTN_NORM] = {"attn_norm.weight", 0, 0, 8, 0, 0, 0, 0, 0, 0, 4},
    [K_Q] = {"attn_q.weight", 8, 8, 13, 16, 1, 1, 1024, 6, 12, 0},
    [K_K] = {"attn_k.weight", 8, 8, 13, 16, 1, 1, 1024, 6, 12, 0},
    [K_V] = {"attn_v.weight", 5, 10, 16, 0, 1, 1, 1024, 6, 12, 0},
    [K_O] = {"attn_output.weight", 5, 10, 13, 0, 0, 2, 512, 6, 14, 0},
    [K_FFN_NORM] = {"ffn_norm.weight", 0, 0, 8, 0, 0, 0, 0, 0, 0, 4},
    [K_GATE] = {"ffn_gate.weight", 7, 12, 13, 0, 1, 1, 1024, 6, 12, 0},
    [K_UP] = {"ffn_up.weight", 6, 12, 13, 0, 1, 1, 1024, 6, 12, 0},
    [K_DOWN] = {"ffn_down.weight", 6, 8, 10, 0, 0, 2, 1024, 8, 16, 0},
    [K_OUT_NORM] = {"output_norm.weight", 0, 0, 6, 0, 0, 0, 0, 0, 0, 5},
    [K_OUTPUT] = {"output.weight", 10, 8, 32, 0, 1, 0, 1024, 6, 12, 0},
};

#define MAX_NU 16
#define CHI_BITS 14
#define CHI_N (1 << CHI_BITS)
#define MAX_RES 16

/* One planned tensor of the output. */
typedef struct plan_tensor {
    char name[64];
    kind k;
    int layer;      /* -1 outside the blocks */
    int64_t n_in;   /* ne[0] */
    int64_t n_rows; /* ne[1] (1 for norms) */
} plan_tensor;

typedef struct synth {
    const qtk_synth_shape *sh;
    uint64_t seed;
    double pow2[64];
    double *chi[MAX_NU + 1];  /* per nu: CHI_N draws of sqrt(nu / chi2_nu) */
    int n_res;                /* shared residual-stream outlier channels   */
    int32_t res_col[MAX_RES];
    int32_t res_amp4[MAX_RES];
    plan_tensor *t;
    int n_t;
    int64_t n_vocab_normal_first; /* id of the first normal (word piece) token */
} synth;

/* Table of sqrt(nu / (chi2_nu)) draws: multiplying a Gaussian by a uniformly
 * chosen entry gives a Student-t-like variate (a Gaussian scale mixture). */
static qtk_status chi_table(synth *s, int nu, qtk_error *err) {
    if (s->chi[nu]) return QTK_OK;
    double *tab = (double *)malloc(CHI_N * sizeof(double));
    if (!tab) return qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
    rng r;
    rng_init(&r, s->seed, DOM_CHI, (uint64_t)nu, 0);
    double num = (double)((int64_t)nu * IH_VAR);
    for (int i = 0; i < CHI_N; i++) {
        int64_t sum = 0;
        for (int j = 0; j < nu; j++) {
            int64_t z = ih_of(rng_next(&r));
            sum += z * z;
        }
        if (sum < 1) sum = 1;
        tab[i] = sqrt(num / (double)sum);
    }
    s->chi[nu] = tab;
    return QTK_OK;
}

/* Depth profile of matrix scales: 1.5 at layer 0 falling quadratically to
 * 1.0 at the last layer, as the exact ratio num/den. */
static void depth_factor(const synth *s, int layer, int64_t *num, int64_t *den) {
    int64_t L1 = s->sh->n_layer - 1;
    if (layer < 0 || L1 < 1) {
        *num = *den = 1;
        return;
    }
    int64_t d = L1 - layer;
    *num = 2 * L1 * L1 + d * d;
    *den = 2 * L1 * L1;
}

/* Per-tensor generation state. */
typedef struct tensor_gen {
    const synth *s;
    const plan_tensor *pt;
    int64_t index;        /* tensor index: part of every row's stream */
    double c;             /* element scale before row/column factors */
    double *colf;         /* n_in column factors (outlier channels)  */
    double *headf;        /* per-head factors (q/k) or NULL          */
    int64_t head_dim;
    const double *chi;    /* scale-mixture table or NULL for norms  */
    int64_t r0;           /* first row of the current chunk          */
    unsigned char *out;   /* chunk buffer                            */
} tensor_gen;

/* Marks `count` distinct random columns of colf (not already != 1): the
 * first with amplitude hi4/4, the others lo4/4 .. hi4/4 in quarter steps. */
static void pick_outliers(rng *r, double *colf, int64_t n_in, int count, int lo4, int hi4) {
    for (int i = 0; i < count && i < n_in / 4; i++) {
        int64_t c;
        do c = (int64_t)rng_below(r, (uint32_t)n_in);
        while (colf[c] != 1.0);
        int amp4 = i == 0 ? hi4 : lo4 + (int)rng_below(r, (uint32_t)(hi4 - lo4 + 1));
        colf[c] = (double)amp4 / 4.0;
    }
}

/* Prepares scales, outlier columns and head factors of one tensor. */
static qtk_status tensor_prepare(synth *s, tensor_gen *g, int64_t index, qtk_error *err) {
    const plan_tensor *pt = &s->t[index];
    const kind_info *ki = &kinds[pt->k];
    memset(g, 0, sizeof *g);
    g->s = s;
    g->pt = pt;
    g->index = index;
    if (ki->gain8 == 0) return QTK_OK; /* a norm vector: no per-tensor state */
    qtk_status st = chi_table(s, ki->nu, err);
    if (st != QTK_OK) return st;
    g->chi = s->chi[ki->nu];

    /* c = gain * depth / sqrt(n_in) * sqrt((nu-2)/nu) / sd(IH): the last two
     * factors make the t-like variate unit-variance. */
    int64_t dn, dd;
    depth_factor(s, pt->layer, &dn, &dd);
    double c = sqrt((double)(ki->nu - 2) / (double)((int64_t)ki->nu * pt->n_in * IH_VAR));
    c = c * (double)((int64_t)ki->gain8 * dn);
    c = c / (double)(8 * dd);
    g->c = c;

    g->colf = (double *)malloc((size_t)pt->n_in * sizeof(double));
    if (!g->colf) return qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
    for (int64_t i = 0; i < pt->n_in; i++) g->colf[i] = 1.0;
    rng r;
    rng_init(&r, s->seed, DOM_TENSOR, (uint64_t)index, 0);
    if (ki->residual) {
        /* the shared channels, with a per-matrix jitter of 14/16 .. 18/16;
         * the embedding carries them at half strength */
        for (int i = 0; i < s->n_res; i++) {
            int jit = 14 + (int)rng_below(&r, 5);
            double a = (double)(s->res_amp4[i] * jit) / 64.0;
            if (pt->k == K_TOKEN_EMBD) a = a * 0.5;
            g->colf[s->res_col[i]] = a;
        }
    }
    int extra = ki->extra_base + (int)(pt->n_in / ki->extra_per);
    pick_outliers(&r, g->colf, pt->n_in, extra, ki->extra_lo4, ki->extra_hi4);

    if (ki->head_sd64 > 0) {
        g->head_dim = s->sh->n_embd / s->sh->n_head;
        int64_t nh = pt->n_rows / g->head_dim;
        g->headf = (double *)malloc((size_t)nh * sizeof(double));
        if (!g->headf) return qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
        for (int64_t h = 0; h < nh; h++) g->headf[h] = pow2_q64(s->pow2, gauss_int(&r, ki->head_sd64));
    }
    return QTK_OK;
}

static void tensor_release(tensor_gen *g) {
    free(g->colf);
    free(g->headf);
    g->colf = g->headf = NULL;
}

/* Stores a half as two little-endian bytes. */
static void put_f16(unsigned char *p, double v) {
    uint16_t h = qtk_fp32_to_fp16((float)v);
    p[0] = (unsigned char)(h & 0xff);
    p[1] = (unsigned char)(h >> 8);
}

/* Row scale of token embeddings by token id: control/byte tokens are rarely
 * seen in training and stay small (x0.5); word pieces go from x1.15 for the
 * most frequent (first) to x0.85 for the rarest (last). */
static double embd_trend(const synth *s, int64_t id) {
    int64_t first = s->n_vocab_normal_first, n = s->sh->n_vocab - first;
    if (id < first || n <= 0) return 0.5;
    int64_t r = id - first;
    return (double)(23 * n - 6 * r) / (double)(20 * n);
}

/* Generates rows [r0+begin, r0+end) of a matrix into the chunk buffer. */
static void gen_matrix_rows(void *ctx, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const tensor_gen *g = (const tensor_gen *)ctx;
    const synth *s = g->s;
    const plan_tensor *pt = g->pt;
    const kind_info *ki = &kinds[pt->k];
    const int64_t n = pt->n_in;
    const double *chi = g->chi, *colf = g->colf;
    for (int64_t i = begin; i < end; i++) {
        int64_t row = g->r0 + i;
        rng r;
        rng_init(&r, s->seed, DOM_ROW, (uint64_t)g->index, (uint64_t)row);
        double rf = g->c * pow2_q64(s->pow2, gauss_int(&r, ki->row_sd64));
        if (g->headf) rf = rf * g->headf[row / g->head_dim];
        if (pt->k == K_TOKEN_EMBD) rf = rf * embd_trend(s, row);
        unsigned char *o = g->out + (size_t)(i * n) * 2;
        for (int64_t c = 0; c < n; c += 4) {
            uint64_t idx = rng_next(&r);
            for (int k = 0; k < 4 && c + k < n; k++) {
                int32_t z = ih_of(rng_next(&r));
                double t = (double)z * chi[(idx >> (16 * k)) & (CHI_N - 1)];
                put_f16(o + 2 * (c + k), t * (rf * colf[c + k]));
            }
        }
    }
}

/* Norm weights (F32): mean mu4/4 with a log-normal spread per channel. */
static void gen_norm(const synth *s, int64_t index, unsigned char *out) {
    const plan_tensor *pt = &s->t[index];
    const kind_info *ki = &kinds[pt->k];
    rng r;
    rng_init(&r, s->seed, DOM_ROW, (uint64_t)index, 0);
    double mu = (double)ki->norm_mu4 / 4.0;
    for (int64_t i = 0; i < pt->n_in; i++) {
        float f = (float)(mu * pow2_q64(s->pow2, gauss_int(&r, ki->row_sd64)));
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        for (int k = 0; k < 4; k++) out[4 * i + k] = (unsigned char)(b >> (8 * k));
    }
}

/* ------------------------------------------------------------------------ */
/* Vocabulary                                                                */
/* ------------------------------------------------------------------------ */

#define SPM_SPACE "\xE2\x96\x81" /* U+2581, SentencePiece's word-start mark */

/* Single characters: the base of every merge chain; stored last (lowest
 * scores), as SentencePiece BPE models do. */
static const char *const alphabet[] = {
    SPM_SPACE, "e", "t", "a", "o", "i", "n", "s", "r", "h", "l", "d", "c", "u", "m", "f", "p", "g",
    "w", "y", "b", ",", ".", "v", "k", "T", "I", "S", "A", "-", "C", "0", "1", "M", "x", "P", "2",
    "B", "\"", "'", "H", "W", "D", "R", "E", "(", ")", "F", "L", "N", "G", "O", "9", "3", "j", "5",
    "4", "8", "6", "7", ":", "J", "U", "K", "z", "q", "V", "Y", "/", ";", "?", "!", "=", "_", "*",
    "+", "[", "]", "Q", "X", "Z", "&", "%", "$", "#", "@", "<", ">", "{", "}", "|", "\\", "~", "^",
    "`", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xE2\x80\x99", "\xE2\x80\x94", "\xE2\x80\x93", "\xC3\xA9",
    "\xE2\x80\xA6"};
#define N_ALPHA ((int)(sizeof alphabet / sizeof alphabet[0]))

/* Seed pieces, most frequent first; "_" stands for the word-start mark. */
static const char *const seed_pieces[] = {
    "_t", "_a", "he", "in", "_the", "re", "_o", "_s", "er", "on", "at", "_c", "is", "nd", "_b", "_w",
    "or", "es", "_f", "it", "ed", "_p", "en", "ing", "_d", "_of", "_m", "al", "_to", "_in", "an",
    "ou", "le", "ar", "ic", "_n", "_and", "ion", "_th", "_h", "ro", "as", "_l", "_e", "ent", "st",
    "_re", "_is", "om", "ll", "ct", "il", "_g", "ve", "_that", "_for", "ation", "ly", "_I", "ut",
    "et", "id", "ot", "ow", "ce", "_be", "_T", "_y", "ers", "_on", "ch", "im", "am", "_it", "ig",
    "_A", "ur", "_was", "ver", "_S", "ad", "_with", "_as", "ith", "us", "ir", "el", "_you", "ter",
    "ay", "_he", "_st", "ol", "_an", "ul", "_C", "_con", "_are", "_at", "ent", "_we", "_or", "ill",
    "_com", "_this", "ment", "_by", "_from", "_not", "_have", "ess", "_pro", "_his", "_but", "_they",
    "_The", "_In", "_It", "_He", "_This", "_We", "_And", "_But", "_A", "_They", "_She", "_There",
    "_which", "_one", "_all", "_were", "_her", "_she", "_there", "_their", "_been", "_has", "_will",
    "_more", "_if", "_no", "_when", "_would", "_so", "_what", "_out", "_up", "_said", "_can",
    "_its", "_about", "_into", "_them", "_than", "_only", "_other", "_new", "_some", "_time",
    "_could", "_these", "_two", "_may", "_first", "_then", "_do", "_any", "_like", "_my", "_now",
    "_over", "_such", "_our", "_man", "_me", "_even", "_most", "_made", "_after", "_also", "_did",
    "_many", "_before", "_must", "_through", "_back", "_years", "_where", "_much", "_your", "_way",
    "_well", "_down", "_should", "_because", "_each", "_just", "_those", "_people", "_how", "_too",
    "_little", "_state", "_good", "_very", "_make", "_world", "_still", "_own", "_see", "_men",
    "_work", "_long", "_get", "_here", "_between", "_both", "_life", "_being", "_under", "_never",
    "_day", "_same", "_another", "_know", "_while", "_last", "_might", "_us", "_great", "_old",
    "_year", "_off", "_come", "_since", "_against", "_go", "_came", "_right", "_used", "_take",
    "_three", "_system", "_number", "_part", "_found", "_place", "_water", "_small", "_however",
    "_without", "_again", "_home", "_house", "_called", "_school", "_city", "_group", "_high",
    "_during", "_around", "_family", "_government", "_later", "_early", "_known", "_country",
    "tion", "ations", "ness", "able", "ive", "ous", "ity", "ical", "ally", "ful", "less", "ism",
    "ist", "ize", "ure", "age", "ary", "ory", "ial", "ance", "ence", "ings", "ions", "ents",
    "ted", "ting", "ded", "ding", "est", "ies", "ant", "_un", "_dis", "_de", "_ex", "_pre",
    "_inter", "_trans", "_sub", "_over", "_1", "_2", "_3", "_4", "_5", "_10", "_19", "_20", "00",
    "000", "_200", "_201", "_199", "_(", "_\"", ".\"", ",\"", "'s", "_-", "..", "...", "),", ").",
    "_[", "_=", "_'"};
#define N_SEED_PIECES ((int)(sizeof seed_pieces / sizeof seed_pieces[0]))

/* Syllable parts for the generated word pieces, commonest first. */
static const char *const onsets[] = {
    "", "t", "s", "r", "n", "l", "d", "m", "c", "p", "b", "h", "f", "g", "w", "v", "k", "st", "th",
    "tr", "pr", "ch", "sh", "br", "cr", "pl", "gr", "fr", "cl", "bl", "sp", "dr", "fl", "sc", "gl",
    "sl", "sm", "sn", "sk", "str", "sw", "wh", "j", "y", "z"};
static const char *const nuclei[] = {"a", "e", "i", "o", "u", "ea", "ou", "ai", "ee", "io", "ie", "oo", "oa", "y"};
static const char *const codas[] = {
    "", "n", "r", "s", "t", "l", "nd", "st", "nt", "ng", "m", "d", "ck", "rt", "ll", "ss", "ct",
    "p", "k", "ld", "rn", "rm", "rk", "mp", "nk", "ft", "lt", "sh", "th", "x", "b", "g"};
#define N_ONSETS ((int)(sizeof onsets / sizeof onsets[0]))
#define N_NUCLEI ((int)(sizeof nuclei / sizeof nuclei[0]))
#define N_CODAS ((int)(sizeof codas / sizeof codas[0]))

#define MAX_PIECE 48

typedef struct vocab {
    char **tok;
    int64_t n, cap;       /* pieces added so far / room                       */
    int64_t *ht;          /* open-addressing set of token indices (-1 empty) */
    size_t ht_mask;
} vocab;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* Index of the piece s[0..n) or -1. */
static int64_t vocab_find(const vocab *v, const char *s, size_t n) {
    size_t i = (size_t)fnv1a(s, n) & v->ht_mask;
    while (v->ht[i] >= 0) {
        const char *t = v->tok[v->ht[i]];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return v->ht[i];
        i = (i + 1) & v->ht_mask;
    }
    return -1;
}

/* Appends s[0..n) (caller checked it is new and there is room). */
static qtk_status vocab_push(vocab *v, const char *s, size_t n, qtk_error *err) {
    char *p = (char *)malloc(n + 1);
    if (!p) return qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
    memcpy(p, s, n);
    p[n] = '\0';
    size_t i = (size_t)fnv1a(s, n) & v->ht_mask;
    while (v->ht[i] >= 0) i = (i + 1) & v->ht_mask;
    v->ht[i] = v->n;
    v->tok[v->n++] = p;
    return QTK_OK;
}

static void vocab_free(vocab *v) {
    if (v->tok)
        for (int64_t i = 0; i < v->n; i++) free(v->tok[i]);
    free(v->tok);
    free(v->ht);
    memset(v, 0, sizeof *v);
}

/* Length of the UTF-8 sequence starting with byte c. */
static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* Adds piece s and, before it, every shorter prefix that is missing, so each
 * piece is the merge of an existing piece and one character (reachable by
 * the BPE merges of a SentencePiece tokenizer). Stops when `limit` is hit. */
static qtk_status vocab_add_chain(vocab *v, const char *s, int64_t limit, qtk_error *err) {
    size_t n = strlen(s), k = 0;
    while (k < n && v->n < limit) {
        k += utf8_len((unsigned char)s[k]);
        if (k > n) break;
        if (vocab_find(v, s, k) >= 0) continue;
        qtk_status st = vocab_push(v, s, k, err);
        if (st != QTK_OK) return st;
    }
    return QTK_OK;
}

/* Copies a seed piece with "_" replaced by the word-start mark. */
static void expand_marks(const char *src, char *dst, size_t cap) {
    size_t o = 0;
    for (; *src && o + 4 < cap; src++) {
        if (*src == '_') {
            memcpy(dst + o, SPM_SPACE, 3);
            o += 3;
        } else {
            dst[o++] = *src;
        }
    }
    dst[o] = '\0';
}

/* Appends `part` to buf (bounded). */
static void cat_bounded(char *buf, size_t cap, const char *part) {
    size_t a = strlen(buf), b = strlen(part);
    if (a + b + 1 > cap) return;
    memcpy(buf + a, part, b + 1);
}

/* An index in [0, n) skewed towards small values (commoner parts). */
static int skewed(rng *r, int n) {
    int a = (int)rng_below(r, (uint32_t)n), b = (int)rng_below(r, (uint32_t)n);
    return a < b ? a : b;
}

/* Builds the whole vocabulary: <unk> <s> </s>, 256 byte pieces, merged word
 * pieces (seed list, then generated syllable words), then the single
 * characters. Depends only on n_vocab, not on the seed. */
static qtk_status vocab_build(vocab *v, int64_t n_vocab, int64_t *first_normal, qtk_error *err) {
    memset(v, 0, sizeof *v);
    if (n_vocab < 3 + 256 + N_ALPHA + 16)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "synth: vocabulary of %lld is too small", (long long)n_vocab);
    size_t hcap = 1;
    while (hcap < (size_t)n_vocab * 2 + (size_t)N_ALPHA) hcap <<= 1;
    v->tok = (char **)calloc((size_t)n_vocab + N_ALPHA, sizeof(char *));
    v->ht = (int64_t *)malloc(hcap * sizeof(int64_t));
    if (!v->tok || !v->ht) {
        vocab_free(v);
        return qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
    }
    v->cap = n_vocab + N_ALPHA;
    v->ht_mask = hcap - 1;
    for (size_t i = 0; i < hcap; i++) v->ht[i] = -1;

    qtk_status st = QTK_OK;
    static const char *const specials[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3 && st == QTK_OK; i++) st = vocab_push(v, specials[i], strlen(specials[i]), err);
    for (int b = 0; b < 256 && st == QTK_OK; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        st = vocab_push(v, buf, strlen(buf), err);
    }
    *first_normal = v->n;
    /* The alphabet goes in now so chains never add single characters as
     * merges; it is moved to the end once the merges are complete. */
    int64_t alpha_at = v->n;
    for (int i = 0; i < N_ALPHA && st == QTK_OK; i++) st = vocab_push(v, alphabet[i], strlen(alphabet[i]), err);
    int64_t limit = n_vocab; /* merges end where the alphabet's final slots begin */

    char buf[MAX_PIECE + 8];
    for (int i = 0; i < N_SEED_PIECES && st == QTK_OK && v->n < limit; i++) {
        expand_marks(seed_pieces[i], buf, sizeof buf);
        st = vocab_add_chain(v, buf, limit, err);
    }
    rng r;
    rng_init(&r, 0x5EEDC0DEull, DOM_VOCAB, (uint64_t)n_vocab, 0);
    int64_t attempts = 0;
    while (st == QTK_OK && v->n < limit) {
        if (++attempts > 200 * n_vocab) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "synth: cannot generate %lld distinct pieces",
                               (long long)n_vocab);
            break;
        }
        /* 60 % word starts ("_" + 1..3 syllables, 1 in 8 capitalised),
         * 40 % continuations (1..2 syllables). Each syllable after the
         * first is merged onto the piece before it, as BPE would. */
        uint32_t roll = rng_below(&r, 10);
        bool start = rng_below(&r, 10) < 6;
        int nsyl = start ? (roll < 5 ? 1 : roll < 9 ? 2 : 3) : (roll < 7 ? 1 : 2);
        bool cap = start && rng_below(&r, 8) == 0;
        buf[0] = '\0';
        if (start) cat_bounded(buf, sizeof buf, SPM_SPACE);
        for (int k = 0; k < nsyl && st == QTK_OK; k++) {
            char syl[16] = {0};
            cat_bounded(syl, sizeof syl, onsets[skewed(&r, N_ONSETS)]);
            cat_bounded(syl, sizeof syl, nuclei[skewed(&r, N_NUCLEI)]);
            cat_bounded(syl, sizeof syl, codas[skewed(&r, N_CODAS)]);
            if (cap && k == 0 && syl[0] >= 'a' && syl[0] <= 'z') syl[0] = (char)(syl[0] - 'a' + 'A');
            if (k > 0) st = vocab_add_chain(v, syl, limit, err); /* the right half of the merge */
            cat_bounded(buf, sizeof buf, syl);
            if (st != QTK_OK || v->n >= limit) break;
            if (k == 0)
                st = vocab_add_chain(v, buf, limit, err);
            else if (vocab_find(v, buf, strlen(buf)) < 0)
                st = vocab_push(v, buf, strlen(buf), err);
        }
    }
    if (st != QTK_OK) {
        vocab_free(v);
        return st;
    }
    /* move the alphabet from [alpha_at, alpha_at + N_ALPHA) to the end */
    char *tmp[N_ALPHA];
    memcpy(tmp, v->tok + alpha_at, sizeof tmp);
    memmove(v->tok + alpha_at, v->tok + alpha_at + N_ALPHA, (size_t)(v->n - alpha_at - N_ALPHA) * sizeof(char *));
    memcpy(v->tok + v->n - N_ALPHA, tmp, sizeof tmp);
    return QTK_OK;
}

/* Puts tokenizer.ggml.* keys into m. */
static qtk_status vocab_meta(qtk_meta *m, const vocab *v, int64_t first_normal, qtk_error *err) {
    qtk_status st = QTK_OK;
    qtk_gguf_value toks, scores, types;
    memset(&toks, 0, sizeof toks);
    memset(&scores, 0, sizeof scores);
    memset(&types, 0, sizeof types);
    toks.type = scores.type = types.type = QTK_GGUF_ARRAY;
    toks.v.arr.elem_type = QTK_GGUF_STRING;
    scores.v.arr.elem_type = QTK_GGUF_FLOAT32;
    types.v.arr.elem_type = QTK_GGUF_INT32;
    toks.v.arr.n = scores.v.arr.n = types.v.arr.n = (uint64_t)v->n;
    toks.v.arr.items = (qtk_gguf_value *)calloc((size_t)v->n, sizeof(qtk_gguf_value));
    scores.v.arr.items = (qtk_gguf_value *)calloc((size_t)v->n, sizeof(qtk_gguf_value));
    types.v.arr.items = (qtk_gguf_value *)calloc((size_t)v->n, sizeof(qtk_gguf_value));
    if (!toks.v.arr.items || !scores.v.arr.items || !types.v.arr.items) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < v->n; i++) {
        qtk_gguf_value *t = &toks.v.arr.items[i], *s = &scores.v.arr.items[i], *y = &types.v.arr.items[i];
        t->type = QTK_GGUF_STRING;
        t->v.str.ptr = v->tok[i]; /* borrowed: qtk_meta_set copies */
        t->v.str.len = strlen(v->tok[i]);
        s->type = QTK_GGUF_FLOAT32;
        s->v.f64 = i < first_normal ? 0.0 : (double)(first_normal - i); /* merge rank */
        y->type = QTK_GGUF_INT32;
        y->v.i64 = i == 0 ? 2 : i < 3 ? 3 : i < first_normal ? 6 : 1; /* unknown, control, byte, normal */
    }
    st = qtk_meta_set_str(m, "tokenizer.ggml.model", "llama", err);
    if (st == QTK_OK) st = qtk_meta_set(m, "tokenizer.ggml.tokens", &toks, err);
    if (st == QTK_OK) st = qtk_meta_set(m, "tokenizer.ggml.scores", &scores, err);
    if (st == QTK_OK) st = qtk_meta_set(m, "tokenizer.ggml.token_type", &types, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "tokenizer.ggml.bos_token_id", 1, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "tokenizer.ggml.eos_token_id", 2, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "tokenizer.ggml.unknown_token_id", 0, err);
    if (st == QTK_OK) st = qtk_meta_set_bool(m, "tokenizer.ggml.add_bos_token", true, err);
    if (st == QTK_OK) st = qtk_meta_set_bool(m, "tokenizer.ggml.add_eos_token", false, err);
done:
    free(toks.v.arr.items);
    free(scores.v.arr.items);
    free(types.v.arr.items);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                 */
/* ------------------------------------------------------------------------ */

/* Lists the tensors in llama.cpp's order with their shapes. */
static qtk_status plan_build(synth *s, qtk_error *err) {
    const qtk_synth_shape *sh = s->sh;
    int n = 3 + 9 * (int)sh->n_layer;
    s->t = (plan_tensor *)calloc((size_t)n, sizeof *s->t);
    if (!s->t) return qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
    int64_t kv = sh->n_embd / sh->n_head * sh->n_head_kv;
    int i = 0;
#define PLAN(K, L, NIN, NROWS)                                                                          \
    do {                                                                                               \
        plan_tensor *p = &s->t[i++];                                                                   \
        p->k = (K);                                                                                    \
        p->layer = (L);                                                                                \
        p->n_in = (NIN);                                                                               \
        p->n_rows = (NROWS);                                                                           \
        if ((L) >= 0)                                                                                  \
            snprintf(p->name, sizeof p->name, "blk.%d.%s", (L), kinds[K].suffix);                      \
        else                                                                                           \
            snprintf(p->name, sizeof p->name, "%s", kinds[K].suffix);                                  \
    } while (0)
    PLAN(K_TOKEN_EMBD, -1, sh->n_embd, sh->n_vocab);
    for (int l = 0; l < (int)sh->n_layer; l++) {
        PLAN(K_ATTN_NORM, l, sh->n_embd, 1);
        PLAN(K_Q, l, sh->n_embd, sh->n_embd);
        PLAN(K_K, l, sh->n_embd, kv);
        PLAN(K_V, l, sh->n_embd, kv);
        PLAN(K_O, l, sh->n_embd, sh->n_embd);
        PLAN(K_FFN_NORM, l, sh->n_embd, 1);
        PLAN(K_GATE, l, sh->n_embd, sh->n_ff);
        PLAN(K_UP, l, sh->n_embd, sh->n_ff);
        PLAN(K_DOWN, l, sh->n_ff, sh->n_embd);
    }
    PLAN(K_OUT_NORM, -1, sh->n_embd, 1);
    PLAN(K_OUTPUT, -1, sh->n_embd, sh->n_vocab);
#undef PLAN
    s->n_t = i;
    return QTK_OK;
}

/* Chooses the residual-stream outlier channels shared by every matrix that
 * reads the (normalised) residual: 2 + n_embd/512 of them, 2x .. 4x. */
static void pick_residual(synth *s) {
    rng r;
    rng_init(&r, s->seed, DOM_MODEL, 0, 0);
    s->n_res = 2 + (int)(s->sh->n_embd / 512);
    if (s->n_res > MAX_RES) s->n_res = MAX_RES;
    for (int i = 0; i < s->n_res; i++) {
        int32_t c;
        bool dup;
        do {
            c = (int32_t)rng_below(&r, (uint32_t)s->sh->n_embd);
            dup = false;
            for (int j = 0; j < i; j++) dup = dup || s->res_col[j] == c;
        } while (dup);
        s->res_col[i] = c;
        /* the first is the strongest (4.00), the others 2.00 .. 4.00 */
        s->res_amp4[i] = i == 0 ? 16 : 8 + (int32_t)rng_below(&r, 9);
    }
}

static qtk_status put_hparams(qtk_meta *m, const qtk_synth_shape *sh, uint64_t seed, qtk_error *err) {
    char name[64];
    snprintf(name, sizeof name, "qtk-synth-%s", sh->name);
    int64_t head_dim = sh->n_embd / sh->n_head;
    qtk_status st = qtk_meta_set_str(m, "general.architecture", "llama", err);
    if (st == QTK_OK) st = qtk_meta_set_str(m, "general.name", name, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "general.file_type", 1, err); /* mostly F16 */
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "general.alignment", QTK_GGUF_DEFAULT_ALIGNMENT, err);
    if (st == QTK_OK) st = qtk_meta_set_str(m, "qtk.synth.shape", sh->name, err);
    if (st == QTK_OK) {
        qtk_gguf_value v;
        memset(&v, 0, sizeof v);
        v.type = QTK_GGUF_UINT64;
        v.v.u64 = seed;
        st = qtk_meta_set(m, "qtk.synth.seed", &v, err);
    }
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.context_length", (uint32_t)sh->n_ctx, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.embedding_length", (uint32_t)sh->n_embd, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.block_count", (uint32_t)sh->n_layer, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.feed_forward_length", (uint32_t)sh->n_ff, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.attention.head_count", (uint32_t)sh->n_head, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.attention.head_count_kv", (uint32_t)sh->n_head_kv, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.rope.dimension_count", (uint32_t)head_dim, err);
    if (st == QTK_OK) st = qtk_meta_set_f32(m, "llama.rope.freq_base", 10000.0f, err);
    if (st == QTK_OK) st = qtk_meta_set_f32(m, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err);
    if (st == QTK_OK) st = qtk_meta_set_u32(m, "llama.vocab_size", (uint32_t)sh->n_vocab, err);
    return st;
}

#define CHUNK_VALUES ((int64_t)1 << 22) /* values generated per write: 8 MiB of F16 */

qtk_status qtk_synth_write(const char *path, const char *shape, uint64_t seed, int n_threads,
                           qtk_synth_progress_fn progress, void *ud, qtk_error *err) {
    if (!path || !shape) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_synth_write: NULL argument");
    const qtk_synth_shape *sh = qtk_synth_shape_get(shape);
    if (!sh) {
        char names[128] = "";
        for (int i = 0; i < N_SHAPES; i++) {
            if (i) cat_bounded(names, sizeof names, ", ");
            cat_bounded(names, sizeof names, shapes[i].name);
        }
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "unknown shape '%.64s' (known: %s)", shape, names);
    }
    if (n_threads <= 0) n_threads = qtk_cpu_count();
    if (n_threads > 64) n_threads = 64;

    synth s;
    memset(&s, 0, sizeof s);
    s.sh = sh;
    s.seed = seed;
    pow2_table(s.pow2);
    pick_residual(&s);

    vocab v;
    memset(&v, 0, sizeof v);
    qtk_gguf_writer *w = NULL;
    unsigned char *buf = NULL;
    tensor_gen g;
    memset(&g, 0, sizeof g);
    qtk_status st = plan_build(&s, err);
    if (st == QTK_OK) st = vocab_build(&v, sh->n_vocab, &s.n_vocab_normal_first, err);
    if (st == QTK_OK) st = qtk_gguf_writer_open(path, &w, err);
    if (st == QTK_OK) st = put_hparams(qtk_gguf_writer_meta(w), sh, seed, err);
    if (st == QTK_OK) st = vocab_meta(qtk_gguf_writer_meta(w), &v, s.n_vocab_normal_first, err);
    vocab_free(&v);
    for (int i = 0; i < s.n_t && st == QTK_OK; i++) {
        const plan_tensor *pt = &s.t[i];
        int64_t ne[2] = {pt->n_in, pt->n_rows};
        bool norm = kinds[pt->k].gain8 == 0;
        st = qtk_gguf_writer_add_tensor(w, pt->name, norm ? QTK_TYPE_F32 : QTK_TYPE_F16, norm ? 1 : 2, ne, err);
    }
    if (st == QTK_OK) {
        buf = (unsigned char *)malloc((size_t)CHUNK_VALUES * 2); /* rows of <= CHUNK_VALUES values, norms */
        if (!buf) st = qtk_set_error(err, QTK_ERR_NOMEM, "synth: out of memory");
    }
    int64_t total = qtk_synth_n_params(sh), done = 0;
    for (int i = 0; i < s.n_t && st == QTK_OK; i++) {
        const plan_tensor *pt = &s.t[i];
        if (kinds[pt->k].gain8 == 0) {
            gen_norm(&s, i, buf);
            st = qtk_gguf_writer_write(w, buf, (size_t)pt->n_in * 4, err);
            done += pt->n_in;
            if (st == QTK_OK && progress) progress(ud, pt->name, done, total);
            continue;
        }
        st = tensor_prepare(&s, &g, i, err);
        int64_t rows_per_chunk = CHUNK_VALUES / pt->n_in;
        if (rows_per_chunk < 1) rows_per_chunk = 1;
        for (int64_t r0 = 0; r0 < pt->n_rows && st == QTK_OK; r0 += rows_per_chunk) {
            int64_t nr = QTK_MIN(rows_per_chunk, pt->n_rows - r0);
            g.r0 = r0;
            g.out = buf;
            qtk_parallel_for(n_threads, nr, gen_matrix_rows, &g);
            st = qtk_gguf_writer_write(w, buf, (size_t)(nr * pt->n_in) * 2, err);
            done += nr * pt->n_in;
            if (st == QTK_OK && progress) progress(ud, pt->name, done, total);
        }
        tensor_release(&g);
    }
    free(buf);
    free(s.t);
    for (int nu = 0; nu <= MAX_NU; nu++) free(s.chi[nu]);
    if (!w) return st;
    if (st != QTK_OK) {
        qtk_gguf_writer_abort(w);
        return st;
    }
    return qtk_gguf_writer_finish(w, err);
}
