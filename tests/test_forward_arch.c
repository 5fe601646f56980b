/*
 * test_forward_arch.c — the forward pass on the paths the fixture does not
 * reach: architecture qwen2 (q/k/v biases, NEOX rope), llama with linear
 * rope scaling, llama3 rope scaling from metadata, and a rope_freqs.weight
 * tensor; qwen3 (per-head q/k RMS norm before rope) and gemma3 (embeddings
 * scaled by sqrt(n_embd), q/k norms, post-norms of both blocks, GELU-tanh,
 * sliding-window layers with their own rope base, optional score and
 * logit soft-caps); llama with experts (Mixtral) and qwen3moe (router,
 * top-k experts by softmax, renormalized weights; expert width unlike the
 * dense feed_forward_length); then the qwen2 model with quantized matrices
 * (Q8_0, IQ4_KS).
 *
 * Each model is built in memory from the test RNG, written with
 * qtk_gguf_writer to the test temp dir, loaded with qtk_model_load and run
 * with qtk_decode over a 12-token prompt in two batches (5 + 7, so the
 * second batch attends to the KV cache). The logits are compared with a
 * double-precision reference written below from the model definition
 * (full causal attention over the whole prompt, no cache), reading the
 * same weights. Needs no ../shared data, so it always runs.
 *
 * To show each comparison can fail, the reference is also run with the
 * feature under test switched off (normal instead of NEOX rope, no rope
 * scaling, ...) and that must differ from qtk by far more than the
 * tolerance.
 */
#include "testlib.h"

#include <math.h>

#define N_PROMPT 12
#define N_FIRST 5          /* first batch; the rest is the second batch */
#define TOL 1e-4           /* max |diff| / max |logit| per position      */
#define PI 3.14159265358979323846

enum { SCALE_NONE, SCALE_LINEAR, SCALE_LLAMA3, SCALE_FREQS_TENSOR };

typedef struct cfg {
    const char *name, *arch;
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab;
    double eps, freq_base;
    int scaling;
    double factor, low_freq, high_freq;  /* linear: factor; llama3: all + orig */
    int64_t orig_ctx;
    bool tied;                           /* no output.weight: logits use token_embd */
    int64_t window;                      /* gemma3: attention.sliding_window */
    double attn_softcap, final_softcap;  /* gemma3: soft-cap keys, 0: absent */
    int64_t n_expert, n_expert_used, n_ff_exp;  /* mixture of experts; 0: dense */
} cfg;

typedef struct layer_w {
    float *attn_norm, *ffn_norm, *wq, *wk, *wv, *wo, *wg, *wu, *wd, *bq, *bk, *bv;
    float *qn, *kn, *post_attn, *post_ffn;   /* qwen3/gemma3 q/k norms [hd]; gemma3 post-norms [E] */
    float *router, *ge, *ue, *de;   /* MoE (instead of wg/wu/wd): router [n_expert][E], experts
                                       gate/up [n_expert][n_ff_exp][E], down [n_expert][E][n_ff_exp] */
} layer_w;

/* A model's weights as F32 arrays in ggml layout (matrix: n_out rows of n_in). */
typedef struct model_w {
    const cfg *c;
    float *tok, *out, *out_norm, *rope_freqs;
    layer_w *L;
} model_w;

/* One tensor of the file: name, shape, F32 data (never NULL). */
typedef struct tensor_ref {
    char name[64];
    int64_t ne0, ne1;    /* ne1 == 0: 1-D */
    int64_t ne2;         /* experts of a 3-D tensor, else 1 */
    float *data;
} tensor_ref;

static int64_t head_dim(const cfg *c) { return c->n_embd / c->n_head; }

static bool is_arch(const cfg *c, const char *a) { return strcmp(c->arch, a) == 0; }
static bool has_qk_norm(const cfg *c) { return is_arch(c, "qwen3") || is_arch(c, "qwen3moe") || is_arch(c, "gemma3"); }
static bool uses_neox(const cfg *c) { return is_arch(c, "qwen2") || has_qk_norm(c); }

static float *alloc_f(int64_t n) { return (float *)calloc((size_t)n, sizeof(float)); }

static float *rand_mat(tl_rng *r, int64_t n, double scale) {
    float *p = alloc_f(n);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(scale * tl_rng_normal(r));
    return p;
}

static float *rand_norm(tl_rng *r, int64_t n) {
    float *p = alloc_f(n);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(1.0 + 0.2 * tl_rng_normal(r));
    return p;
}

/* Random weights of unit-scale activations: matrices N(0, 1/n_in). */
static void model_random(model_w *m, const cfg *c, uint64_t seed) {
    tl_rng r;
    tl_rng_seed(&r, seed);
    const int64_t E = c->n_embd, hd = head_dim(c), nq = c->n_head * hd, nkv = c->n_head_kv * hd;
    memset(m, 0, sizeof *m);
    m->c = c;
    m->tok = rand_mat(&r, c->n_vocab * E, 1.0);
    m->out = c->tied ? NULL : rand_mat(&r, c->n_vocab * E, 1.0 / sqrt((double)E));
    m->out_norm = rand_norm(&r, E);
    if (c->scaling == SCALE_FREQS_TENSOR) {
        m->rope_freqs = alloc_f(hd / 2);
        for (int64_t i = 0; i < hd / 2; i++) m->rope_freqs[i] = 1.0f + 7.0f * tl_rng_uniform(&r);
    }
    m->L = (layer_w *)calloc((size_t)c->n_layer, sizeof(layer_w));
    const bool bias = strcmp(c->arch, "qwen2") == 0;
    for (int64_t l = 0; l < c->n_layer; l++) {
        layer_w *L = &m->L[l];
        L->attn_norm = rand_norm(&r, E);
        L->ffn_norm = rand_norm(&r, E);
        L->wq = rand_mat(&r, nq * E, 1.0 / sqrt((double)E));
        L->wk = rand_mat(&r, nkv * E, 1.0 / sqrt((double)E));
        L->wv = rand_mat(&r, nkv * E, 1.0 / sqrt((double)E));
        L->wo = rand_mat(&r, E * nq, 1.0 / sqrt((double)nq));
        L->wg = rand_mat(&r, c->n_ff * E, 1.0 / sqrt((double)E));
        L->wu = rand_mat(&r, c->n_ff * E, 1.0 / sqrt((double)E));
        L->wd = rand_mat(&r, E * c->n_ff, 1.0 / sqrt((double)c->n_ff));
        if (bias) {
            L->bq = rand_mat(&r, nq, 0.5);
            L->bk = rand_mat(&r, nkv, 0.5);
            L->bv = rand_mat(&r, nkv, 0.5);
        }
        if (has_qk_norm(c)) {
            /* about 2: sharper attention than unnormalized q/k (RMS ~1), so the norm shows */
            L->qn = rand_norm(&r, hd);
            L->kn = rand_norm(&r, hd);
            for (int64_t i = 0; i < hd; i++) L->qn[i] *= 2.0f;
        }
        if (is_arch(c, "gemma3")) {
            L->post_attn = rand_norm(&r, E);
            L->post_ffn = rand_norm(&r, E);
        }
        if (c->n_expert > 0) {  /* experts replace the dense FFN */
            const int64_t X = c->n_expert, FX = c->n_ff_exp;
            free(L->wg);
            free(L->wu);
            free(L->wd);
            L->wg = L->wu = L->wd = NULL;
            L->router = rand_mat(&r, X * E, 2.0 / sqrt((double)E));  /* logits ~N(0, 4): clear choices */
            L->ge = rand_mat(&r, X * FX * E, 1.0 / sqrt((double)E));
            L->ue = rand_mat(&r, X * FX * E, 1.0 / sqrt((double)E));
            L->de = rand_mat(&r, X * E * FX, 1.0 / sqrt((double)FX));
        }
    }
}

static void model_free(model_w *m) {
    free(m->tok);
    free(m->out);
    free(m->out_norm);
    free(m->rope_freqs);
    for (int64_t l = 0; m->L && l < m->c->n_layer; l++) {
        layer_w *L = &m->L[l];
        float *ps[] = {L->attn_norm, L->ffn_norm, L->wq, L->wk, L->wv, L->wo, L->wg, L->wu, L->wd, L->bq, L->bk, L->bv,
                       L->qn, L->kn, L->post_attn, L->post_ffn, L->router, L->ge, L->ue, L->de};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    }
    free(m->L);
}

static void add_ref(tensor_ref *t, int *n, const char *name, int64_t ne0, int64_t ne1, float *data) {
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    t[*n].ne0 = ne0;
    t[*n].ne1 = ne1;
    t[*n].ne2 = 1;
    t[*n].data = data;
    (*n)++;
}

/* Every tensor of the model with its GGUF name (names as model_load.c reads them). */
static int model_tensors(const model_w *m, tensor_ref *t) {
    const cfg *c = m->c;
    const int64_t E = c->n_embd, hd = head_dim(c), nq = c->n_head * hd, nkv = c->n_head_kv * hd;
    int n = 0;
    char nm[64];
    add_ref(t, &n, "token_embd.weight", E, c->n_vocab, m->tok);
    add_ref(t, &n, "output_norm.weight", E, 0, m->out_norm);
    if (m->out) add_ref(t, &n, "output.weight", E, c->n_vocab, m->out);
    if (m->rope_freqs) add_ref(t, &n, "rope_freqs.weight", hd / 2, 0, m->rope_freqs);
    for (int64_t l = 0; l < c->n_layer; l++) {
        const layer_w *L = &m->L[l];
#define ADD(s, a, b, p) (snprintf(nm, sizeof nm, "blk.%d." s, (int)l), add_ref(t, &n, nm, a, b, p))
        ADD("attn_norm.weight", E, 0, L->attn_norm);
        ADD("attn_q.weight", E, nq, L->wq);
        ADD("attn_k.weight", E, nkv, L->wk);
        ADD("attn_v.weight", E, nkv, L->wv);
        if (L->bq) {
            ADD("attn_q.bias", nq, 0, L->bq);
            ADD("attn_k.bias", nkv, 0, L->bk);
            ADD("attn_v.bias", nkv, 0, L->bv);
        }
        ADD("attn_output.weight", nq, E, L->wo);
        if (L->qn) {
            ADD("attn_q_norm.weight", hd, 0, L->qn);
            ADD("attn_k_norm.weight", hd, 0, L->kn);
        }
        if (L->post_attn) ADD("post_attention_norm.weight", E, 0, L->post_attn);
        ADD("ffn_norm.weight", E, 0, L->ffn_norm);
        if (L->router) {  /* MoE: router and 3-D expert tensors [n_in, n_out, n_expert] */
            ADD("ffn_gate_inp.weight", E, c->n_expert, L->router);
            ADD("ffn_gate_exps.weight", E, c->n_ff_exp, L->ge);
            t[n - 1].ne2 = c->n_expert;
            ADD("ffn_up_exps.weight", E, c->n_ff_exp, L->ue);
            t[n - 1].ne2 = c->n_expert;
            ADD("ffn_down_exps.weight", c->n_ff_exp, E, L->de);
            t[n - 1].ne2 = c->n_expert;
        } else {
            ADD("ffn_gate.weight", E, c->n_ff, L->wg);
            ADD("ffn_up.weight", E, c->n_ff, L->wu);
            ADD("ffn_down.weight", c->n_ff, E, L->wd);
        }
        if (L->post_ffn) ADD("post_ffw_norm.weight", E, 0, L->post_ffn);
#undef ADD
    }
    return n;
}

#define MAX_TENSORS 128

/* Writes the model to path with every matrix stored as `mtype` (1-D tensors
 * and the MoE router stay F32, as llama-quantize keeps them). With mtype != F32 the matrices of the in-memory model are
 * replaced by their dequantized values, so the reference sees exactly the
 * weights qtk multiplies with. Returns 0 on success. */
static int write_model(const model_w *m, const char *path, qtk_type mtype) {
    const cfg *c = m->c;
    tensor_ref t[MAX_TENSORS];
    int nt = model_tensors(m, t);
    void *bytes[MAX_TENSORS] = {0};
    size_t nbytes[MAX_TENSORS] = {0};
    qtk_error err = {0};
    int rc = -1;
    for (int i = 0; i < nt; i++) {
        const bool mat = t[i].ne1 > 0 && !strstr(t[i].name, "ffn_gate_inp");
        const int64_t rows = t[i].ne1 > 0 ? t[i].ne1 * t[i].ne2 : 1;
        const qtk_type ty = mat ? mtype : QTK_TYPE_F32;
        nbytes[i] = qtk_row_size(ty, t[i].ne0) * (size_t)rows;
        bytes[i] = malloc(nbytes[i]);
        if (!bytes[i] || nbytes[i] == 0) goto done;
        if (ty == QTK_TYPE_F32) {
            memcpy(bytes[i], t[i].data, nbytes[i]);
        } else {
            if (qtk_quantize_rows(ty, t[i].data, bytes[i], rows, t[i].ne0, NULL, &err) != QTK_OK ||
                qtk_dequantize_rows(ty, bytes[i], t[i].data, rows, t[i].ne0, &err) != QTK_OK) {
                fprintf(stderr, "%s: %s\n", t[i].name, err.msg);
                goto done;
            }
        }
    }
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) goto done;
    qtk_meta *meta = qtk_gguf_writer_meta(w);
    char key[128];
    qtk_status st = qtk_meta_set_str(meta, "general.architecture", c->arch, &err);
#define KEY(s) (snprintf(key, sizeof key, "%s." s, c->arch), key)
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("context_length"), 4096, &err);
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("embedding_length"), (uint32_t)c->n_embd, &err);
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("block_count"), (uint32_t)c->n_layer, &err);
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("feed_forward_length"), (uint32_t)c->n_ff, &err);
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("attention.head_count"), (uint32_t)c->n_head, &err);
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv, &err);
    if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("rope.dimension_count"), (uint32_t)head_dim(c), &err);
    if (st == QTK_OK) st = qtk_meta_set_f32(meta, KEY("attention.layer_norm_rms_epsilon"), (float)c->eps, &err);
    if (st == QTK_OK) st = qtk_meta_set_f32(meta, KEY("rope.freq_base"), (float)c->freq_base, &err);
    if (st == QTK_OK && c->scaling == SCALE_LINEAR) {
        st = qtk_meta_set_str(meta, KEY("rope.scaling.type"), "linear", &err);
        if (st == QTK_OK) st = qtk_meta_set_f32(meta, KEY("rope.scaling.factor"), (float)c->factor, &err);
    }
    if (st == QTK_OK && c->scaling == SCALE_LLAMA3) {
        st = qtk_meta_set_str(meta, KEY("rope.scaling.type"), "llama3", &err);
        if (st == QTK_OK) st = qtk_meta_set_f32(meta, KEY("rope.scaling.factor"), (float)c->factor, &err);
        if (st == QTK_OK)
            st = qtk_meta_set_u32(meta, KEY("rope.scaling.original_context_length"), (uint32_t)c->orig_ctx, &err);
        if (st == QTK_OK) st = qtk_meta_set_f32(meta, KEY("rope.scaling.low_freq_factor"), (float)c->low_freq, &err);
        if (st == QTK_OK)
            st = qtk_meta_set_f32(meta, KEY("rope.scaling.high_freq_factor"), (float)c->high_freq, &err);
    }
    if (st == QTK_OK && c->window > 0)
        st = qtk_meta_set_u32(meta, KEY("attention.sliding_window"), (uint32_t)c->window, &err);
    if (st == QTK_OK && c->attn_softcap > 0)
        st = qtk_meta_set_f32(meta, KEY("attn_logit_softcapping"), (float)c->attn_softcap, &err);
    if (st == QTK_OK && c->final_softcap > 0)
        st = qtk_meta_set_f32(meta, KEY("final_logit_softcapping"), (float)c->final_softcap, &err);
    if (st == QTK_OK && c->n_expert > 0) {
        st = qtk_meta_set_u32(meta, KEY("expert_count"), (uint32_t)c->n_expert, &err);
        if (st == QTK_OK) st = qtk_meta_set_u32(meta, KEY("expert_used_count"), (uint32_t)c->n_expert_used, &err);
        if (st == QTK_OK)
            st = qtk_meta_set_u32(meta, KEY("expert_feed_forward_length"), (uint32_t)c->n_ff_exp, &err);
    }
#undef KEY
    for (int i = 0; i < nt && st == QTK_OK; i++) {
        const bool mat = t[i].ne1 > 0 && !strstr(t[i].name, "ffn_gate_inp");
        int64_t ne[3] = {t[i].ne0, t[i].ne1, t[i].ne2};
        const int n_dims = t[i].ne2 > 1 ? 3 : t[i].ne1 > 0 ? 2 : 1;
        st = qtk_gguf_writer_add_tensor(w, t[i].name, mat ? mtype : QTK_TYPE_F32, n_dims, ne, &err);
    }
    for (int i = 0; i < nt && st == QTK_OK; i++) st = qtk_gguf_writer_write(w, bytes[i], nbytes[i], &err);
    if (st == QTK_OK) {
        st = qtk_gguf_writer_finish(w, &err);
    } else {
        qtk_gguf_writer_abort(w);
    }
    if (st == QTK_OK) rc = 0;
done:
    if (rc != 0) fprintf(stderr, "write_model %s: %s\n", path, err.msg);
    for (int i = 0; i < nt; i++) free(bytes[i]);
    return rc;
}

/* ---- the reference ---------------------------------------------------------- */

/* How the reference applies rope (the test's own reading of the spec). */
typedef struct rope_ref {
    bool neox;               /* pairs (i, i + hd/2) instead of (2i, 2i+1) */
    double inv_freq[256];    /* angle per position of pair i              */
} rope_ref;

/* Frequencies base^(-2i/hd), then the scaling the config asks for (unless
 * `plain`): linear divides every frequency by the factor; llama3 keeps high
 * frequencies (wavelength < orig/high), divides low ones (wavelength >
 * orig/low) by the factor and blends linearly in between; a rope_freqs
 * tensor divides frequency i by its entry i. Counts the llama3 branches. */
static rope_ref make_rope(const model_w *m, bool plain, int branches[3]) {
    const cfg *c = m->c;
    rope_ref r;
    const int64_t hd = head_dim(c);
    r.neox = uses_neox(c);
    if (branches) branches[0] = branches[1] = branches[2] = 0;
    for (int64_t i = 0; i < hd / 2; i++) {
        double f = pow(c->freq_base, -2.0 * (double)i / (double)hd);
        if (!plain && c->scaling == SCALE_LINEAR) f /= c->factor;
        if (!plain && c->scaling == SCALE_FREQS_TENSOR) f /= (double)m->rope_freqs[i];
        if (!plain && c->scaling == SCALE_LLAMA3) {
            const double wavelen = 2.0 * PI / f;
            const double hi_wl = (double)c->orig_ctx / c->high_freq, lo_wl = (double)c->orig_ctx / c->low_freq;
            int b;
            if (wavelen < hi_wl) {
                b = 0;
            } else if (wavelen > lo_wl) {
                f = f / c->factor;
                b = 1;
            } else {
                const double smooth = ((double)c->orig_ctx / wavelen - c->low_freq) / (c->high_freq - c->low_freq);
                f = (1.0 - smooth) * f / c->factor + smooth * f;
                b = 2;
            }
            if (branches) branches[b]++;
        }
        r.inv_freq[i] = f;
    }
    return r;
}

/* y = W x + b (W: n_out rows of n_in; b may be NULL). */
static void ref_matvec(double *y, const float *W, const float *b, const double *x, int64_t n_in, int64_t n_out) {
    for (int64_t o = 0; o < n_out; o++) {
        double s = b ? (double)b[o] : 0.0;
        for (int64_t i = 0; i < n_in; i++) s += (double)W[o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void ref_rmsnorm(double *y, const double *x, const float *w, int64_t n, double eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    const double k = 1.0 / sqrt(ss / (double)n + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * k * (double)w[i];
}

/* Rotates each head of vec (n_heads heads of hd values) for position pos. */
static void ref_rope(double *vec, int64_t n_heads, int64_t hd, int64_t pos, const rope_ref *r) {
    for (int64_t h = 0; h < n_heads; h++) {
        double *v = vec + h * hd;
        for (int64_t i = 0; i < hd / 2; i++) {
            const int64_t a = r->neox ? i : 2 * i, b = r->neox ? i + hd / 2 : 2 * i + 1;
            const double th = (double)pos * r->inv_freq[i], x0 = v[a], x1 = v[b];
            v[a] = x0 * cos(th) - x1 * sin(th);
            v[b] = x0 * sin(th) + x1 * cos(th);
        }
    }
}

/* Which features of the config the reference applies; each can be switched
 * off to show that the comparison sees it. */
typedef struct ref_opts {
    bool bias, qk_norm, post_norm, gelu, embd_scale, softcap;
    bool moe_renorm;           /* MoE: chosen weights renormalized to sum 1 (else plain softmax) */
    bool moe_best;             /* MoE: the n_expert_used best experts (else the worst: a negated router) */
    int64_t window;            /* window of the sliding layers (gemma3), 0: full attention */
    const rope_ref *rope_swa;  /* rope of the sliding layers, NULL: the same as the others */
} ref_opts;

/* Every feature of the config (the sliding layers' rope is set by the caller). */
static ref_opts all_opts(const cfg *c) {
    const bool g = is_arch(c, "gemma3");
    ref_opts o = {.bias = true, .qk_norm = true, .post_norm = true, .gelu = g, .embd_scale = g, .softcap = true,
                  .moe_renorm = true, .moe_best = true, .window = c->window, .rope_swa = NULL};
    return o;
}

/* g[i] = act(g[i]) * u[i]: silu, or gelu in its tanh form. */
static void ref_glu(double *g, const double *u, int64_t n, bool gelu) {
    for (int64_t i = 0; i < n; i++) {
        const double a = g[i];
        g[i] = gelu ? 0.5 * a * (1.0 + tanh(sqrt(2.0 / PI) * (a + 0.044715 * a * a * a))) * u[i]
                    : a / (1.0 + exp(-a)) * u[i];
    }
}

/* Mixture-of-experts FFN of one normalized row xn into out (E values):
 * p = softmax(router · xn) over all experts; the n_expert_used largest
 * (o->moe_best; else the smallest), weights p_e / sum of the chosen p
 * (o->moe_renorm; else p_e); out = sum w_e · down_e(act(gate_e xn) * up_e xn).
 * g, u: scratch of n_ff_exp. */
static void ref_moe(const cfg *c, const layer_w *L, const ref_opts *o, const double *xn, double *g, double *u,
                    double *out) {
    const int64_t E = c->n_embd, X = c->n_expert, FX = c->n_ff_exp;
    double lg[64], pr[64], y[512], mx = -1e300, sum = 0.0;
    bool chosen[64] = {false};
    ref_matvec(lg, L->router, NULL, xn, E, X);
    for (int64_t e = 0; e < X; e++) mx = lg[e] > mx ? lg[e] : mx;
    for (int64_t e = 0; e < X; e++) sum += (pr[e] = exp(lg[e] - mx));
    for (int64_t e = 0; e < X; e++) pr[e] /= sum;
    double sum_chosen = 0.0;
    for (int64_t j = 0; j < c->n_expert_used; j++) {
        int64_t best = -1;
        for (int64_t e = 0; e < X; e++)
            if (!chosen[e] && (best < 0 || (o->moe_best ? pr[e] > pr[best] : pr[e] < pr[best]))) best = e;
        chosen[best] = true;
        sum_chosen += pr[best];
    }
    for (int64_t i = 0; i < E; i++) out[i] = 0.0;
    for (int64_t e = 0; e < X; e++) {
        if (!chosen[e]) continue;
        ref_matvec(g, L->ge + e * FX * E, NULL, xn, E, FX);
        ref_matvec(u, L->ue + e * FX * E, NULL, xn, E, FX);
        ref_glu(g, u, FX, o->gelu);
        ref_matvec(y, L->de + e * E * FX, NULL, g, FX, E);
        const double w = o->moe_renorm ? pr[e] / sum_chosen : pr[e];
        for (int64_t i = 0; i < E; i++) out[i] += w * y[i];
    }
}

/* c * tanh(x / c) when c > 0. */
static double ref_cap(double x, double c) { return c > 0 ? c * tanh(x / c) : x; }

/* Logits of every position of tok[0..n) (n * n_vocab doubles), computing
 * the whole prompt at once with causal attention. Per layer:
 *   h = x + post(Wo · attn(rope(qnorm(Wq·rms(x) + bq)), rope(knorm(...)), Wv·rms(x) + bv))
 *   x = h + post(Wdown · (act(Wgate·rms(h)) * Wup·rms(h)))
 * with post() the gemma3 post-norm (else identity), act silu or gelu_tanh;
 * gemma3 layer l slides when (l+1) % 6 != 0 (keys t-window+1 .. t, rope
 * o->rope_swa) and the embeddings are scaled by sqrt(n_embd). */
static void ref_forward(const model_w *m, const rope_ref *rr, const ref_opts *o, const int32_t *tok, int64_t n,
                        double *logits) {
    const cfg *c = m->c;
    const int64_t E = c->n_embd, F = c->n_ff, hd = head_dim(c), nq = c->n_head * hd, nkv = c->n_head_kv * hd;
    const int64_t group = c->n_head / c->n_head_kv, FW = F > c->n_ff_exp ? F : c->n_ff_exp;
    double *x = (double *)calloc((size_t)(n * E), sizeof(double));
    double *xn = (double *)calloc((size_t)E, sizeof(double));
    double *q = (double *)calloc((size_t)(n * nq), sizeof(double));
    double *k = (double *)calloc((size_t)(n * nkv), sizeof(double));
    double *v = (double *)calloc((size_t)(n * nkv), sizeof(double));
    double *att = (double *)calloc((size_t)nq, sizeof(double));
    double *tmp = (double *)calloc((size_t)E, sizeof(double));
    double *g = (double *)calloc((size_t)FW, sizeof(double));
    double *u = (double *)calloc((size_t)FW, sizeof(double));
    double *p = (double *)calloc((size_t)n, sizeof(double));
    const double escale = o->embd_scale ? sqrt((double)E) : 1.0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < E; i++) x[t * E + i] = (double)m->tok[(int64_t)tok[t] * E + i] * escale;
    for (int64_t l = 0; l < c->n_layer; l++) {
        const layer_w *L = &m->L[l];
        const bool sliding = is_arch(c, "gemma3") && (l + 1) % 6 != 0;
        const rope_ref *rl = sliding && o->rope_swa ? o->rope_swa : rr;
        const int64_t win = sliding ? o->window : 0;
        for (int64_t t = 0; t < n; t++) {
            ref_rmsnorm(xn, x + t * E, L->attn_norm, E, c->eps);
            ref_matvec(q + t * nq, L->wq, o->bias ? L->bq : NULL, xn, E, nq);
            ref_matvec(k + t * nkv, L->wk, o->bias ? L->bk : NULL, xn, E, nkv);
            ref_matvec(v + t * nkv, L->wv, o->bias ? L->bv : NULL, xn, E, nkv);
            if (o->qk_norm && L->qn) {
                for (int64_t h = 0; h < c->n_head; h++)
                    ref_rmsnorm(q + t * nq + h * hd, q + t * nq + h * hd, L->qn, hd, c->eps);
                for (int64_t h = 0; h < c->n_head_kv; h++)
                    ref_rmsnorm(k + t * nkv + h * hd, k + t * nkv + h * hd, L->kn, hd, c->eps);
            }
            ref_rope(q + t * nq, c->n_head, hd, t, rl);
            ref_rope(k + t * nkv, c->n_head_kv, hd, t, rl);
        }
        /* attention reads k/v of all earlier positions: finish the projections first */
        double *xnew = (double *)calloc((size_t)(n * E), sizeof(double));
        for (int64_t t = 0; t < n; t++) {
            for (int64_t h = 0; h < c->n_head; h++) {
                const int64_t kvh = h / group;
                const int64_t s0 = win > 0 && t - win + 1 > 0 ? t - win + 1 : 0;
                double mx = -1e300, sum = 0.0;
                for (int64_t s = s0; s <= t; s++) {
                    double d = 0.0;
                    for (int64_t i = 0; i < hd; i++) d += q[t * nq + h * hd + i] * k[s * nkv + kvh * hd + i];
                    p[s] = ref_cap(d / sqrt((double)hd), o->softcap ? c->attn_softcap : 0);
                    if (p[s] > mx) mx = p[s];
                }
                for (int64_t s = s0; s <= t; s++) sum += (p[s] = exp(p[s] - mx));
                for (int64_t i = 0; i < hd; i++) {
                    double acc = 0.0;
                    for (int64_t s = s0; s <= t; s++) acc += p[s] / sum * v[s * nkv + kvh * hd + i];
                    att[h * hd + i] = acc;
                }
            }
            ref_matvec(tmp, L->wo, NULL, att, nq, E);
            if (o->post_norm && L->post_attn) ref_rmsnorm(tmp, tmp, L->post_attn, E, c->eps);
            double *xt = xnew + t * E;
            for (int64_t i = 0; i < E; i++) xt[i] = x[t * E + i] + tmp[i];
            ref_rmsnorm(xn, xt, L->ffn_norm, E, c->eps);
            if (L->router) {
                ref_moe(c, L, o, xn, g, u, tmp);
            } else {
                ref_matvec(g, L->wg, NULL, xn, E, F);
                ref_matvec(u, L->wu, NULL, xn, E, F);
                ref_glu(g, u, F, o->gelu);
                ref_matvec(tmp, L->wd, NULL, g, F, E);
            }
            if (o->post_norm && L->post_ffn) ref_rmsnorm(tmp, tmp, L->post_ffn, E, c->eps);
            for (int64_t i = 0; i < E; i++) xt[i] += tmp[i];
        }
        memcpy(x, xnew, (size_t)(n * E) * sizeof(double));
        free(xnew);
    }
    const float *wout = m->out ? m->out : m->tok;
    for (int64_t t = 0; t < n; t++) {
        ref_rmsnorm(xn, x + t * E, m->out_norm, E, c->eps);
        ref_matvec(logits + t * c->n_vocab, wout, NULL, xn, E, c->n_vocab);
        if (o->softcap)
            for (int64_t i = 0; i < c->n_vocab; i++)
                logits[t * c->n_vocab + i] = ref_cap(logits[t * c->n_vocab + i], c->final_softcap);
    }
    free(x);
    free(xn);
    free(q);
    free(k);
    free(v);
    free(att);
    free(tmp);
    free(g);
    free(u);
    free(p);
}

/* ---- running qtk -------------------------------------------------------------- */

/* Loads path and decodes the prompt in two batches into logits
 * (N_PROMPT * n_vocab floats). Checks the loaded hyper-parameters against
 * the config. Returns 0 on success. */
static int qtk_logits(const char *path, const cfg *c, const int32_t *tok, float *logits) {
    qtk_error err = {0};
    qtk_model *m = NULL;
    qtk_context *ctx = NULL;
    int rc = -1;
    if (qtk_model_load(path, &m, &err) != QTK_OK) goto done;
    const qtk_model_info *in = qtk_model_get_info(m);
    CHECK(strcmp(in->arch, c->arch) == 0, "%s: arch %s", c->name, in->arch);
    CHECK(in->n_vocab == c->n_vocab && in->n_embd == c->n_embd && in->n_layer == c->n_layer &&
              in->n_head == c->n_head && in->n_head_kv == c->n_head_kv && in->n_ff == c->n_ff &&
              in->head_dim == head_dim(c) && in->n_rot == head_dim(c) && in->n_expert == c->n_expert &&
              in->n_expert_used == c->n_expert_used && in->n_ff_exp == c->n_ff_exp,
          "%s: hyper-parameters read back wrong", c->name);
    CHECK(in->rope_neox == uses_neox(c), "%s: rope_neox %d", c->name, (int)in->rope_neox);
    CHECK(fabs(in->norm_eps - c->eps) <= 1e-6 * c->eps, "%s: eps %g", c->name, in->norm_eps);
    CHECK(fabs(in->rope_freq_base - c->freq_base) <= 1e-6 * c->freq_base, "%s: freq base %g", c->name,
          in->rope_freq_base);
    if (qtk_context_create(m, 16, 2, &ctx, &err) != QTK_OK) goto done;
    /* F32 keys and values: the reference is exact; the F16 cache's rounding is tested elsewhere */
    if (qtk_context_set_kv_type(ctx, QTK_TYPE_F32, QTK_TYPE_F32, &err) != QTK_OK) goto done;
    if (qtk_decode(ctx, tok, N_FIRST, 0, logits, &err) != QTK_OK) goto done;
    CHECK(qtk_context_n_past(ctx) == N_FIRST, "%s: n_past %lld", c->name, (long long)qtk_context_n_past(ctx));
    if (qtk_decode(ctx, tok + N_FIRST, N_PROMPT - N_FIRST, 0, logits + N_FIRST * c->n_vocab, &err) != QTK_OK)
        goto done;
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "%s (%s): %s\n", c->name, path, err.msg);
    qtk_context_free(ctx);
    qtk_model_free(m);
    return rc;
}

/* Worst over positions of max |a - b| / max |b| (b the reference). */
static double rel_err(const float *a, const double *b, int64_t n_vocab) {
    double worst = 0.0;
    for (int64_t t = 0; t < N_PROMPT; t++) {
        double md = 0.0, mb = 0.0;
        for (int64_t i = 0; i < n_vocab; i++) {
            if (!isfinite(a[t * n_vocab + i])) return INFINITY;  /* NaN/Inf: a failure */
            const double d = fabs((double)a[t * n_vocab + i] - b[t * n_vocab + i]);
            if (d > md) md = d;
            if (fabs(b[t * n_vocab + i]) > mb) mb = fabs(b[t * n_vocab + i]);
        }
        const double r = mb > 0 ? md / mb : md;
        if (r > worst) worst = r;
    }
    return worst;
}

static void random_prompt(int32_t *tok, int64_t n_vocab, uint64_t seed) {
    tl_rng r;
    tl_rng_seed(&r, seed);
    for (int i = 0; i < N_PROMPT; i++) tok[i] = (int32_t)(tl_rng_u64(&r) % (uint64_t)n_vocab);
}

/* One architecture case: qtk vs reference within TOL, and the reference
 * without the feature under test (plain rope / normal pairing / no biases)
 * far from qtk. */
static void run_case(const cfg *c, uint64_t seed) {
    model_w m;
    model_random(&m, c, seed);
    int32_t tok[N_PROMPT];
    random_prompt(tok, c->n_vocab, seed + 1);
    char file[96];
    snprintf(file, sizeof file, "forward_arch_%s.gguf", c->name);
    char *path = tl_tmp_path(file);
    float *lq = (float *)calloc((size_t)(N_PROMPT * c->n_vocab), sizeof(float));
    double *lr = (double *)calloc((size_t)(N_PROMPT * c->n_vocab), sizeof(double));
    int branches[3];
    CHECK(write_model(&m, path, QTK_TYPE_F32) == 0, "%s: write", c->name);
    if (qtk_logits(path, c, tok, lq) == 0) {
        rope_ref rr = make_rope(&m, false, branches);
        /* gemma3's sliding layers: rope base 10000, no scaling */
        cfg cs = *c;
        cs.freq_base = 10000.0;
        cs.scaling = SCALE_NONE;
        model_w ms = m;
        ms.c = &cs;
        rope_ref rr_swa = make_rope(&ms, true, NULL);
        ref_opts o = all_opts(c);
        if (is_arch(c, "gemma3")) o.rope_swa = &rr_swa;
        ref_forward(&m, &rr, &o, tok, N_PROMPT, lr);
        const double e = rel_err(lq, lr, c->n_vocab);
        printf("%-14s qtk vs reference: %.3g (limit %.0e)\n", c->name, e, TOL);
        CHECK(e < TOL, "%s: relative error %g", c->name, e);
        if (c->scaling == SCALE_LLAMA3)
            CHECK(branches[0] > 0 && branches[1] > 0 && branches[2] > 0,
                  "%s: config must reach all llama3 branches (%d %d %d)", c->name, branches[0], branches[1],
                  branches[2]);
        /* the same reference with the feature under test switched off */
        rope_ref alt = make_rope(&m, c->scaling != SCALE_NONE, NULL), alt_swa = rr_swa;
        const char *what = "unscaled rope";
        if (c->scaling == SCALE_NONE) {
            alt.neox = !alt.neox;
            alt_swa.neox = !alt_swa.neox;
            what = "normal-pair rope";
        }
        ref_opts oa = o;
        if (o.rope_swa) oa.rope_swa = &alt_swa;
        ref_forward(&m, &alt, &oa, tok, N_PROMPT, lr);
        const double ea = rel_err(lq, lr, c->n_vocab);
        printf("%-14s qtk vs reference with %s: %.3g\n", c->name, what, ea);
        CHECK(ea > 100 * TOL, "%s: the test cannot tell %s apart (%g)", c->name, what, ea);
        if (c->scaling == SCALE_LLAMA3) {
            /* llama3 is not plain linear scaling by the same factor */
            cfg lin = *c;
            lin.scaling = SCALE_LINEAR;
            model_w ml = m;
            ml.c = &lin;
            alt = make_rope(&ml, false, NULL);
            ref_forward(&m, &alt, &o, tok, N_PROMPT, lr);
            const double el = rel_err(lq, lr, c->n_vocab);
            printf("%-14s qtk vs reference with linear scaling: %.3g\n", c->name, el);
            CHECK(el > 100 * TOL, "%s: the test cannot tell llama3 from linear scaling (%g)", c->name, el);
        }
        rr = make_rope(&m, false, NULL);
        /* each architecture feature switched off in turn */
        struct {
            bool applies;
            const char *what;
            ref_opts o;
        } offs[10];
        int n_off = 0;
        const bool g = is_arch(c, "gemma3");
#define OFF(cond, name, field, value)          \
    do {                                       \
        offs[n_off].applies = (cond);          \
        offs[n_off].what = (name);             \
        offs[n_off].o = o;                     \
        offs[n_off].o.field = (value);         \
        n_off++;                               \
    } while (0)
        OFF(m.L[0].bq != NULL, "biases", bias, false);
        OFF(m.L[0].qn != NULL, "q/k norms", qk_norm, false);
        OFF(g, "post-norms", post_norm, false);
        OFF(g, "GELU (SiLU instead)", gelu, false);
        OFF(g, "embedding scale", embd_scale, false);
        OFF(g, "sliding window", window, 0);
        OFF(g, "sliding layers' rope base", rope_swa, NULL);
        OFF(c->attn_softcap > 0 || c->final_softcap > 0, "soft-caps", softcap, false);
        OFF(c->n_expert > 0, "renormalized expert weights", moe_renorm, false);
        OFF(c->n_expert > 0, "the best experts (the worst instead)", moe_best, false);
#undef OFF
        for (int i = 0; i < n_off; i++) {
            if (!offs[i].applies) continue;
            ref_forward(&m, &rr, &offs[i].o, tok, N_PROMPT, lr);
            const double eb = rel_err(lq, lr, c->n_vocab);
            printf("%-14s qtk vs reference without %s: %.3g\n", c->name, offs[i].what, eb);
            CHECK(eb > 100 * TOL, "%s: the test cannot tell the %s apart (%g)", c->name, offs[i].what, eb);
        }
    } else {
        CHECK(0, "%s: qtk failed", c->name);
    }
    remove(path);
    free(path);
    free(lq);
    free(lr);
    model_free(&m);
}

/* Relative RMS error of a matrix's quantization: sqrt(sum (q-x)^2 / sum x^2). */
static double weight_rmse(const float *x, const float *q, int64_t n) {
    double e = 0.0, s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
        s += (double)x[i] * x[i];
    }
    return sqrt(e / s);
}

static bool all_finite(const float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return false;
    return true;
}

/* (d) qwen2 with quantized matrices. Two comparisons per type:
 * - against the reference run on the DEQUANTIZED weights: what remains is
 *   only qtk's quantization of the activations (Q8_0 for Q8_0 weights,
 *   Q8_K for IQ4_KS), about 8 bits, i.e. ~0.5 % relative per product;
 * - against qtk's own F32 logits: the whole effect of quantizing. */
static void run_quant(const cfg *c, uint64_t seed) {
    const int64_t nl = N_PROMPT * c->n_vocab;
    int32_t tok[N_PROMPT];
    random_prompt(tok, c->n_vocab, seed + 1);
    float *l32 = (float *)calloc((size_t)nl, sizeof(float)), *lq = (float *)calloc((size_t)nl, sizeof(float));
    double *lr = (double *)calloc((size_t)nl, sizeof(double));
    char *path = tl_tmp_path("forward_arch_quant.gguf");
    model_w m;
    model_random(&m, c, seed);
    CHECK(write_model(&m, path, QTK_TYPE_F32) == 0, "quant: write F32");
    int ok = qtk_logits(path, c, tok, l32) == 0;
    CHECK(ok, "quant: F32 run");
    if (ok) {
        rope_ref rr = make_rope(&m, false, NULL);
        const ref_opts o = all_opts(c);
        ref_forward(&m, &rr, &o, tok, N_PROMPT, lr);
        const double e = rel_err(l32, lr, c->n_vocab);
        printf("%-14s F32 qtk vs reference: %.3g (limit %.0e)\n", c->name, e, TOL);
        CHECK(e < TOL, "quant F32: relative error %g", e);
    }
    /* Bounds. Activation-only (vs the dequantized reference): 8-bit
     * activations (step amax/127 per block of 32 or 256) err by ~0.5-0.6 %
     * per product; through the 2 layers the logits' error is ~3.5 times
     * the per-product error (measured below with the weight errors:
     * IQ4_KS weights at 7.4 % rel-RMSE give ~25 % in the logits), so
     * ~2-3 % is expected (seen 1.4-3.0 % over 4 seeds); bound 5e-2.
     * Against F32 logits, the weight error on top: Q8_0 (0.54 %) -> ~2-3 %
     * (seen <= 2.7 %), bound 5e-2; IQ4_KS (7.4 %) -> ~25 % (seen <= 26 %),
     * bound 0.4 — a smoke test; the weight rel-RMSE is bounded too, so a
     * broken quantizer cannot hide behind it. */
    struct {
        qtk_type type;
        double wr_bound, act_bound, f32_bound;
    } qs[] = {{QTK_TYPE_Q8_0, 0.01, 5e-2, 5e-2}, {QTK_TYPE_IQ4_KS, 0.1, 5e-2, 0.4}};
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
        const char *tn = qtk_type_name(qs[qi].type);
        model_w mq;
        model_random(&mq, c, seed);  /* same weights; matrices become dequantized in write_model */
        if (write_model(&mq, path, qs[qi].type) != 0 || qtk_logits(path, c, tok, lq) != 0) {
            CHECK(0, "quant %s: write or run failed", tn);
            model_free(&mq);
            continue;
        }
        const double wr = weight_rmse(m.L[0].wg, mq.L[0].wg, c->n_ff * c->n_embd);
        CHECK(wr < qs[qi].wr_bound, "quant %s: weight rel-RMSE %g", tn, wr);
        CHECK(all_finite(lq, nl), "quant %s: non-finite logits", tn);
        rope_ref rr = make_rope(&mq, false, NULL);
        const ref_opts o = all_opts(c);
        ref_forward(&mq, &rr, &o, tok, N_PROMPT, lr);
        const double ea = rel_err(lq, lr, c->n_vocab);
        double ef = 0.0;
        for (int64_t t = 0; t < N_PROMPT; t++) {
            double md = 0.0, mb = 0.0;
            for (int64_t i = 0; i < c->n_vocab; i++) {
                const double d = fabs((double)lq[t * c->n_vocab + i] - l32[t * c->n_vocab + i]);
                if (!(d <= md)) md = d;
                if (fabs(l32[t * c->n_vocab + i]) > mb) mb = fabs(l32[t * c->n_vocab + i]);
            }
            if (!(md / mb <= ef)) ef = md / mb;
        }
        printf("%-14s %-7s weight rel-RMSE %.3g; vs reference on dequantized weights %.3g (limit %.0e); "
               "vs F32 logits %.3g (limit %.0e)\n",
               c->name, tn, wr, ea, qs[qi].act_bound, ef, qs[qi].f32_bound);
        CHECK(ea < qs[qi].act_bound, "quant %s: vs dequantized reference %g", tn, ea);
        CHECK(ef < qs[qi].f32_bound, "quant %s: vs F32 logits %g", tn, ef);
        CHECK(ef > 1e-6, "quant %s: logits identical to F32 (were the matrices quantized?)", tn);
        model_free(&mq);
    }
    remove(path);
    free(path);
    free(l32);
    free(lq);
    free(lr);
    model_free(&m);
}

/* Load errors of the new architectures name the file's missing piece. */
static void run_load_errors(const cfg *qwen3, const cfg *gemma3) {
    char *path = tl_tmp_path("forward_arch_bad.gguf");
    qtk_model *mod = NULL;
    qtk_error err = {0};
    model_w m;
    model_random(&m, qwen3, 1);
    free(m.L[1].qn);
    m.L[1].qn = NULL;  /* qwen3 without blk.1.attn_q_norm.weight */
    if (write_model(&m, path, QTK_TYPE_F32) == 0) {
        const qtk_status st = qtk_model_load(path, &mod, &err);
        CHECK(st == QTK_ERR_NOT_FOUND && mod == NULL && strstr(err.msg, "blk.1.attn_q_norm.weight") &&
                  strstr(err.msg, "qwen3"),
              "qwen3 without a q norm: status %d, '%s'", (int)st, err.msg);
    } else {
        CHECK(0, "write qwen3 without q norm");
    }
    model_free(&m);
    cfg nowin = *gemma3;
    nowin.window = 0;  /* gemma3 without attention.sliding_window */
    model_random(&m, &nowin, 2);
    if (write_model(&m, path, QTK_TYPE_F32) == 0) {
        const qtk_status st = qtk_model_load(path, &mod, &err);
        CHECK(st == QTK_ERR_FORMAT && mod == NULL && strstr(err.msg, "gemma3.attention.sliding_window"),
              "gemma3 without a window: status %d, '%s'", (int)st, err.msg);
    } else {
        CHECK(0, "write gemma3 without window");
    }
    model_free(&m);
    remove(path);
    free(path);
}

int main(void) {
    /*                name        arch     E   L  H  KV  FF  vocab eps   base     scaling     factor lo hi orig tied
     *                                 window attn_softcap final_softcap n_expert n_expert_used n_ff_exp */
    static const cfg qwen2 = {"qwen2", "qwen2", 64, 2, 4, 2, 128, 97, 1e-6, 1000000.0, SCALE_NONE, 0, 0, 0, 0, false,
                              0, 0, 0, 0, 0, 0};
    static const cfg qwen2_lowbase = {"qwen2_base100", "qwen2", 64, 2, 4, 2, 128, 97, 1e-6, 100.0, SCALE_NONE,
                                      0, 0, 0, 0, true, 0, 0, 0, 0, 0, 0};
    static const cfg linear = {"llama_linear", "llama", 64, 2, 4, 2, 128, 97, 1e-5, 10000.0, SCALE_LINEAR,
                               4.0, 0, 0, 0, false, 0, 0, 0, 0, 0, 0};
    static const cfg llama3 = {"llama_llama3", "llama", 64, 2, 4, 2, 128, 97, 1e-5, 10000.0, SCALE_LLAMA3,
                               8.0, 1.5, 6.0, 96, true, 0, 0, 0, 0, 0, 0};
    static const cfg freqs = {"llama_freqs", "llama", 64, 2, 4, 2, 128, 97, 1e-5, 10000.0, SCALE_FREQS_TENSOR,
                              0, 0, 0, 0, false, 0, 0, 0, 0, 0, 0};
    /* rows of 256 for IQ4_KS: E, n_head*head_dim and n_ff multiples of 256 */
    static const cfg qwen2_q = {"qwen2_256", "qwen2", 256, 2, 4, 2, 512, 97, 1e-6, 10000.0, SCALE_NONE,
                                0, 0, 0, 0, false, 0, 0, 0, 0, 0, 0};
    run_case(&qwen2, 101);
    run_case(&qwen2_lowbase, 202);
    run_case(&linear, 303);
    run_case(&llama3, 404);
    run_case(&freqs, 505);
    /* qwen3: q/k norms. gemma3: 6 layers (5 sliding with window 4, then 1
     * global), so the 5 + 7 prompt crosses the window in the cache; tied
     * output (the unscaled token_embd); once with both soft-caps set. */
    static const cfg qwen3 = {"qwen3", "qwen3", 64, 2, 4, 2, 128, 97, 1e-6, 1000000.0, SCALE_NONE, 0, 0, 0, 0, false,
                              0, 0, 0, 0, 0, 0};
    static const cfg gemma3 = {"gemma3", "gemma3", 64, 6, 4, 2, 128, 97, 1e-6, 1000000.0, SCALE_NONE,
                               0, 0, 0, 0, true, 4, 0, 0, 0, 0, 0};
    static const cfg gemma3_cap = {"gemma3_softcap", "gemma3", 64, 6, 4, 2, 128, 97, 1e-6, 1000000.0, SCALE_NONE,
                                   0, 0, 0, 0, false, 4, 1.5, 2.0, 0, 0, 0};
    run_case(&qwen3, 707);
    run_case(&gemma3, 808);
    run_case(&gemma3_cap, 909);
    /* Mixtral-like (llama with 4 experts, 2 used) and qwen3moe (6 experts, 3 used); the expert
     * width differs from the dense feed_forward_length, as in Qwen3-30B-A3B */
    static const cfg mixtral = {"llama_moe", "llama", 64, 2, 4, 2, 128, 97, 1e-5, 10000.0, SCALE_NONE,
                                0, 0, 0, 0, false, 0, 0, 0, 4, 2, 96};
    static const cfg qwen3moe = {"qwen3moe", "qwen3moe", 64, 2, 4, 2, 256, 97, 1e-6, 1000000.0, SCALE_NONE,
                                 0, 0, 0, 0, true, 0, 0, 0, 6, 3, 64};
    run_case(&mixtral, 1010);
    run_case(&qwen3moe, 1111);
    run_load_errors(&qwen3, &gemma3);
    run_quant(&qwen2_q, 606);
    return tl_finish("test_forward_arch");
}
