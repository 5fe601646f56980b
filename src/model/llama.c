/*
 * llama.c — the forward pass of LLaMA-family models (llama, qwen2, qwen3,
 * gemma3), in the spirit of llama2.c: one straightforward function per
 * step, F32 activations, matrix products through matmul.c (the type table).
 *
 * Per layer, for a batch of n tokens at positions n_past .. n_past+n-1:
 *   h = x + Wo · attention(rope(Wq·rms(x)), rope(Wk·rms(x)), Wv·rms(x))
 *   x = h + Wdown · (silu(Wgate·rms(h)) * (Wup·rms(h)))
 * then logits = Wout · rms(x). Keys and values of every position are kept
 * in the KV cache so later batches attend to earlier ones (causal mask);
 * attention.c holds the cache and the attention kernel.
 * Variations: qwen2 adds biases to q, k, v; qwen3 and gemma3 RMS-normalize
 * each head of q and k before rope; gemma3 scales the embeddings by
 * sqrt(n_embd), normalizes each block's output before adding it
 * (h = x + rms(Wo·attention(...)), x = h + rms(Wdown·(...))), uses
 * gelu_tanh instead of silu, and has sliding-window layers (their own rope
 * base), optionally soft-capped scores and logits. Mixture-of-experts
 * models (Mixtral = llama with experts, qwen3moe = qwen3 attention) replace
 * the FFN by moe_ffn: the n_expert_used experts the router scores highest,
 * weighted (moe.c routes the tokens and groups them by expert).
 * ggml layout: a matrix has n_out rows of n_in weights; y[r] = row r · x.
 */
#include "attention.h"
#include "moe.h"
#include "../types/attn_kernels.h"

#include <math.h>
#include <stdlib.h>

struct qtk_context {
    const qtk_model *m;
    int64_t n_ctx, n_past;
    qtk_exec ex;                 /* thread pool + converted activations  */
    qtk_kv_cache kv;
    qtk_attn_ws attn_ws;         /* attention scratch                    */
    qtk_moe_ws moe;              /* mixture-of-experts scratch           */
    float *rope_cos, *rope_sin;  /* [n_ctx][n_rot/2]                     */
    float *rope_cos_swa, *rope_sin_swa;  /* sliding layers' table (gemma3), else NULL */
    int64_t cap;                 /* tokens the batch buffers below hold  */
    float *x, *xn, *q, *k, *v, *att, *tmp, *gate, *up;
};

static void free_batch_buffers(qtk_context *c) {
    float **bufs[] = {&c->x, &c->xn, &c->q, &c->k, &c->v, &c->att, &c->tmp, &c->gate, &c->up};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        qtk_free_aligned(*bufs[i]);
        *bufs[i] = NULL;
    }
    c->cap = 0;
}

/* Makes the per-batch buffers hold n tokens. */
static qtk_status reserve_batch(qtk_context *c, int64_t n, qtk_error *err) {
    if (n <= c->cap) return QTK_OK;
    const qtk_model_info *in = &c->m->info;
    free_batch_buffers(c);
    const int64_t nq = in->n_head * in->head_dim, nkv = in->n_head_kv * in->head_dim;
    const int64_t wide = QTK_MAX(QTK_MAX(in->n_embd, nq), in->n_ff);
    size_t f = sizeof(float) * (size_t)n;
    c->x = (float *)qtk_malloc_aligned(f * (size_t)in->n_embd);
    c->xn = (float *)qtk_malloc_aligned(f * (size_t)wide);
    c->q = (float *)qtk_malloc_aligned(f * (size_t)nq);
    c->k = (float *)qtk_malloc_aligned(f * (size_t)nkv);
    c->v = (float *)qtk_malloc_aligned(f * (size_t)nkv);
    c->att = (float *)qtk_malloc_aligned(f * (size_t)nq);
    c->tmp = (float *)qtk_malloc_aligned(f * (size_t)in->n_embd);
    c->gate = (float *)qtk_malloc_aligned(f * (size_t)in->n_ff);
    c->up = (float *)qtk_malloc_aligned(f * (size_t)in->n_ff);
    if (!c->x || !c->xn || !c->q || !c->k || !c->v || !c->att || !c->tmp || !c->gate || !c->up) {
        free_batch_buffers(c);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (batch of %lld tokens)", (long long)n);
    }
    c->cap = n;
    return QTK_OK;
}

/* cos and sin of theta(p, i) = p * freq_scale * base^(-2i/n_rot) / factor[i]
 * (factors may be NULL) for n_ctx positions, n_rot/2 pairs; in double. */
static void rope_table(float *cs, float *sn, int64_t n_ctx, int64_t n_rot, double base, double freq_scale,
                       const float *factors) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        double inv_freq = pow(base, -2.0 * (double)i / (double)n_rot) * freq_scale;
        if (factors) inv_freq /= (double)factors[i];
        for (int64_t p = 0; p < n_ctx; p++) {
            double theta = (double)p * inv_freq;
            cs[p * half + i] = (float)cos(theta);
            sn[p * half + i] = (float)sin(theta);
        }
    }
}

qtk_status qtk_context_create(const qtk_model *m, int64_t n_ctx, int n_threads, qtk_context **out,
                              qtk_error *err) {
    if (!m || !out || n_ctx <= 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_context_create: bad argument");
    *out = NULL;
    if (n_threads < 1) n_threads = qtk_cpu_count();
    if (n_threads > 256) n_threads = 256;
    const qtk_model_info *in = &m->info;
    qtk_context *c = (qtk_context *)calloc(1, sizeof *c);
    if (!c) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = n_ctx;
    c->ex.n_gen = c->ex.n_batch = n_threads;
    if (qtk_pool_create(n_threads, &c->ex.pool, err) != QTK_OK) {
        qtk_context_free(c);
        return QTK_ERR_NOMEM;
    }
    if (qtk_kv_cache_init(&c->kv, in->n_layer, n_ctx, in->n_head_kv, in->head_dim, QTK_TYPE_F16, QTK_TYPE_F16, err) !=
        QTK_OK) {
        qtk_context_free(c);
        return QTK_ERR_NOMEM;
    }
    const int64_t half = in->n_rot / 2;
    const bool swa = m->swa_pattern > 0;
    c->rope_cos = (float *)malloc((size_t)(n_ctx * half) * sizeof(float));
    c->rope_sin = (float *)malloc((size_t)(n_ctx * half) * sizeof(float));
    if (swa) {
        c->rope_cos_swa = (float *)malloc((size_t)(n_ctx * half) * sizeof(float));
        c->rope_sin_swa = (float *)malloc((size_t)(n_ctx * half) * sizeof(float));
    }
    if (!c->rope_cos || !c->rope_sin || (swa && (!c->rope_cos_swa || !c->rope_sin_swa))) {
        qtk_context_free(c);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (rope tables of %lld positions)", (long long)n_ctx);
    }
    rope_table(c->rope_cos, c->rope_sin, n_ctx, in->n_rot, in->rope_freq_base, in->rope_freq_scale,
               m->rope_freq_factors);
    if (swa) rope_table(c->rope_cos_swa, c->rope_sin_swa, n_ctx, in->n_rot, m->rope_freq_base_swa, 1.0, NULL);
    *out = c;
    return QTK_OK;
}

void qtk_context_free(qtk_context *c) {
    if (!c) return;
    free_batch_buffers(c);
    qtk_kv_cache_free(&c->kv);
    qtk_attn_ws_free(&c->attn_ws);
    qtk_moe_ws_free(&c->moe);
    qtk_free_aligned(c->ex.act_buf);
    qtk_free_aligned(c->ex.panel_buf);
    qtk_pool_free(c->ex.pool);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->rope_cos_swa);
    free(c->rope_sin_swa);
    free(c);
}

qtk_status qtk_context_set_threads(qtk_context *c, int n_gen, int n_batch, qtk_error *err) {
    if (!c) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_context_set_threads: context is NULL");
    if (n_gen < 1) n_gen = qtk_cpu_count();
    if (n_batch < 1) n_batch = qtk_cpu_count();
    n_gen = QTK_MIN(n_gen, 256);
    n_batch = QTK_MIN(n_batch, 256);
    const int need = QTK_MAX(n_gen, n_batch);
    if (need != qtk_pool_size(c->ex.pool)) {
        /* Workers are created here, never per operation. */
        qtk_pool *p = NULL;
        qtk_status st = qtk_pool_create(need, &p, err);
        if (st != QTK_OK) return st;
        qtk_pool_free(c->ex.pool);
        c->ex.pool = p;
    }
    c->ex.n_gen = QTK_MIN(n_gen, qtk_pool_size(c->ex.pool));
    c->ex.n_batch = QTK_MIN(n_batch, qtk_pool_size(c->ex.pool));
    return QTK_OK;
}

void qtk_context_set_observer(qtk_context *c,
                              void (*fn)(void *ud, const struct qtk_weight *w, const float *x, int64_t n_tok),
                              void *ud) {
    if (!c) return;
    c->ex.observe = fn;
    c->ex.observe_ud = ud;
}

qtk_status qtk_context_set_kv_type(qtk_context *c, qtk_type type_k, qtk_type type_v, qtk_error *err) {
    if (!c) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_context_set_kv_type: context is NULL");
    if (!qtk_kv_type_ok((int)type_k) || !qtk_kv_type_ok((int)type_v))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "KV cache type must be f16 or f32 (got %s / %s)",
                             qtk_type_name((int)type_k), qtk_type_name((int)type_v));
    if (c->n_past > 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "qtk_context_set_kv_type: %lld positions are cached (call it before decoding or after "
                             "qtk_context_reset)", (long long)c->n_past);
    if (type_k == c->kv.type_k && type_v == c->kv.type_v) return QTK_OK;
    qtk_kv_cache kv;  /* the new cache first: on failure the old one stays */
    const qtk_model_info *in = &c->m->info;
    qtk_status st = qtk_kv_cache_init(&kv, in->n_layer, c->n_ctx, in->n_head_kv, in->head_dim, type_k, type_v, err);
    if (st != QTK_OK) return st;
    qtk_kv_cache_free(&c->kv);
    c->kv = kv;
    return QTK_OK;
}

void qtk_context_reset(qtk_context *c) {
    if (c) c->n_past = 0;
}

int64_t qtk_context_n_past(const qtk_context *c) { return c ? c->n_past : 0; }

/* ---- the steps ------------------------------------------------------------ */

/* out = x / sqrt(mean(x^2) + eps) * w, one row of n values. */
static void rmsnorm(float *out, const float *x, const float *w, int64_t n, double eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* Each of the n_rows rows of n values (the heads of q or k): rmsnorm with
 * the same weights w (qwen3, gemma3: attn_q_norm / attn_k_norm). */
static void head_norm(float *x, const float *w, int64_t n_rows, int64_t n, double eps) {
    if (!w) return;
    for (int64_t r = 0; r < n_rows; r++) rmsnorm(x + r * n, x + r * n, w, n, eps);
}

/* Whether layer l attends through a sliding window (gemma3). */
static bool layer_slides(const qtk_model *m, int64_t l) {
    return m->swa_pattern > 0 && (l + 1) % m->swa_pattern != 0;
}

/* Rotates the first n_rot dims of each head of one token's vector, with the
 * sliding layers' table when `sliding`.
 * Normal mode pairs (2i, 2i+1); NEOX mode pairs (i, i + n_rot/2). */
static void rope(const qtk_context *c, float *vec, int64_t n_heads, int64_t pos, bool sliding) {
    const qtk_model_info *in = &c->m->info;
    const int64_t half = in->n_rot / 2;
    const float *cs = (sliding ? c->rope_cos_swa : c->rope_cos) + pos * half;
    const float *sn = (sliding ? c->rope_sin_swa : c->rope_sin) + pos * half;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = vec + h * in->head_dim;
        for (int64_t i = 0; i < half; i++) {
            const int64_t a = in->rope_neox ? i : 2 * i, b = in->rope_neox ? i + half : 2 * i + 1;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs[i] - x1 * sn[i];
            v[b] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

static void add_bias(float *y, const float *b, int64_t n_tok, int64_t n) {
    if (!b) return;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < n; i++) y[t * n + i] += b[i];
}

/* GeGLU: gate[i] = gelu(gate[i]) * up[i], gelu in its tanh form
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as ggml_gelu. */
static void geglu(float *gate, const float *up, int64_t n) {
    const float k = 0.79788456080286535588f;  /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i];
        gate[i] = 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x))) * up[i];
    }
}

/* Soft-capping: each of the n values becomes cap * tanh(v / cap) (cap > 0). */
static void softcap(float *v, int64_t n, float cap) {
    if (!(cap > 0)) return;
    for (int64_t i = 0; i < n; i++) v[i] = cap * tanhf(v[i] / cap);
}

/* The FFN's gated activation: GeGLU (gemma3) or SwiGLU. */
static void ffn_act(const qtk_model *m, float *gate, const float *up, int64_t n) {
    if (m->ffn_gelu) geglu(gate, up, n);
    else qtk_swiglu_best()(n, gate, up);  /* silu(gate) * up, vectorised (types/attn_kernels.h) */
}

/* ---- element-wise steps over the tokens of a batch, on the pool ---------- */

/* Every token's row is computed alone, so the thread split never changes a
 * result; a batch's rows are spread over the batch threads. */
typedef struct rows_job rows_job;
typedef void (*rows_fn)(const rows_job *j, int64_t t0, int64_t t1);
struct rows_job {
    rows_fn fn;                  /* the step, for tokens [t0, t1)           */
    const qtk_context *c;
    float *out, *in;             /* rows of `width` floats                  */
    const float *w, *aux;        /* step inputs (see the callers)           */
    int64_t width;
};

static void rows_range(void *p, int64_t t0, int64_t t1, int ti) {
    const rows_job *j = (const rows_job *)p;
    (void)ti;
    j->fn(j, t0, t1);
}

static void for_rows(qtk_context *c, int64_t n, rows_job *j) {
    qtk_pool_for_shares(c->ex.pool, n >= 4 ? qtk_exec_threads(&c->ex, n) : 1, n, 1, rows_range, j);
}

/* out[t] = rms(in[t]) * w */
static void norm_rows(const rows_job *j, int64_t t0, int64_t t1) {
    const double eps = j->c->m->info.norm_eps;
    for (int64_t t = t0; t < t1; t++) rmsnorm(j->out + t * j->width, j->in + t * j->width, j->w, j->width, eps);
}

/* out[t] += post_norm(in[t]) (in[t] itself when the model has no post-norm w) */
static void residual_rows(const rows_job *j, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
        float *y = j->in + t * j->width, *x = j->out + t * j->width;
        if (j->w) rmsnorm(y, y, j->w, j->width, j->c->m->info.norm_eps);
        for (int64_t i = 0; i < j->width; i++) x[i] += y[i];
    }
}

/* out[t] = act(out[t]) * aux[t] (the FFN's gated activation) */
static void act_rows(const rows_job *j, int64_t t0, int64_t t1) {
    ffn_act(j->c->m, j->out + t0 * j->width, j->aux + t0 * j->width, (t1 - t0) * j->width);
}

static void rmsnorm_batch(qtk_context *c, float *out, float *x, const float *w, int64_t n) {
    rows_job j = {.fn = norm_rows, .c = c, .out = out, .in = x, .w = w, .width = c->m->info.n_embd};
    for_rows(c, n, &j);
}

/* x += block output y (gemma3: rms(y) * post_norm first); y is overwritten. */
static void residual_batch(qtk_context *c, float *x, float *y, const float *post_norm_w, int64_t n) {
    rows_job j = {.fn = residual_rows, .c = c, .out = x, .in = y, .w = post_norm_w, .width = c->m->info.n_embd};
    for_rows(c, n, &j);
}

/* gate = act(gate) * up over n rows of `width`. */
static void ffn_act_batch(qtk_context *c, float *gate, const float *up, int64_t n, int64_t width) {
    rows_job j = {.fn = act_rows, .c = c, .out = gate, .aux = up, .width = width};
    for_rows(c, n, &j);
}

/* Dense FFN of the n normalized rows c->xn into c->tmp:
 * Wdown · (act(Wgate·xn) * (Wup·xn)). */
static qtk_status dense_ffn(qtk_context *c, const qtk_layer *L, int64_t n, qtk_error *err) {
    const qtk_weight *gate_up[2] = {&L->w_gate, &L->w_up};
    float *gate_up_out[2] = {c->gate, c->up};
    qtk_status st = qtk_matmul_many(&c->ex, 2, gate_up, gate_up_out, c->xn, n, err);
    if (st != QTK_OK) return st;
    ffn_act_batch(c, c->gate, c->up, n, c->m->info.n_ff);
    return qtk_matmul(&c->ex, &L->w_down, c->gate, n, c->tmp, err);
}

/* Mixture-of-experts FFN of the n normalized rows c->xn into c->tmp. The
 * router ffn_gate_inp scores the experts of each token; the token goes
 * through the n_expert_used best, and their outputs are added with the
 * softmax of the router logits renormalized over the chosen experts:
 *   tmp = sum over chosen e of w_e · Wdown_e · (act(Wgate_e·xn) * (Wup_e·xn)).
 * Tokens are grouped by expert (moe.c), so each expert's matrices run once,
 * over the rows of its own tokens; experts no token chose are skipped. */
static qtk_status moe_ffn(qtk_context *c, const qtk_layer *L, int64_t n, qtk_error *err) {
    const qtk_model_info *in = &c->m->info;
    const int64_t E = in->n_embd, F = in->n_ff_exp;
    qtk_moe_ws *ws = &c->moe;
    qtk_status st = qtk_moe_ws_reserve(ws, n, E, F, (int)in->n_expert, (int)in->n_expert_used, err);
    if (st != QTK_OK) return st;
    if ((st = qtk_matmul(&c->ex, &L->router, c->xn, n, ws->logits, err)) != QTK_OK) return st;
    qtk_moe_route(ws, n, c->m->moe_norm_w);
    memset(c->tmp, 0, (size_t)(n * E) * sizeof(float));
    for (int e = 0; e < (int)in->n_expert; e++) {
        const int64_t ne = qtk_moe_gather(ws, e, c->xn, E, ws->x);  /* rows of the tokens routed to e */
        if (ne == 0) continue;
        const qtk_weight *gate_up[2] = {&L->gate_exps[e], &L->up_exps[e]};
        float *gate_up_out[2] = {ws->gate, ws->up};
        if ((st = qtk_matmul_many(&c->ex, 2, gate_up, gate_up_out, ws->x, ne, err)) != QTK_OK) return st;
        ffn_act_batch(c, ws->gate, ws->up, ne, F);
        if ((st = qtk_matmul(&c->ex, &L->down_exps[e], ws->gate, ne, ws->y, err)) != QTK_OK) return st;
        qtk_moe_scatter_add(ws, e, ws->y, E, c->tmp);  /* tmp[t] += w(t, e) * y */
    }
    return QTK_OK;
}

static qtk_status layer_forward(qtk_context *c, int64_t l, int64_t n, qtk_error *err) {
    const qtk_model *m = c->m;
    const qtk_model_info *in = &m->info;
    const qtk_layer *L = &m->layers[l];
    const int64_t nq = in->n_head * in->head_dim, nkv = in->n_head_kv * in->head_dim;
    qtk_status st;

    rmsnorm_batch(c, c->xn, c->x, L->attn_norm, n);
    const qtk_weight *qkv[3] = {&L->wq, &L->wk, &L->wv};
    float *qkv_out[3] = {c->q, c->k, c->v};
    if ((st = qtk_matmul_many(&c->ex, 3, qkv, qkv_out, c->xn, n, err)) != QTK_OK) return st;
    add_bias(c->q, L->bq, n, nq);
    add_bias(c->k, L->bk, n, nkv);
    add_bias(c->v, L->bv, n, nkv);
    head_norm(c->q, L->q_norm, n * in->n_head, in->head_dim, in->norm_eps);
    head_norm(c->k, L->k_norm, n * in->n_head_kv, in->head_dim, in->norm_eps);
    const bool sliding = layer_slides(m, l);
    for (int64_t t = 0; t < n; t++) {
        const int64_t pos = c->n_past + t;
        rope(c, c->q + t * nq, in->n_head, pos, sliding);
        rope(c, c->k + t * nkv, in->n_head_kv, pos, sliding);
    }
    qtk_kv_store(&c->kv, l, c->n_past, c->k, c->v, n);
    const qtk_attn_params ap = {.n_head = in->n_head, .n_head_kv = in->n_head_kv, .head_dim = in->head_dim,
                                .scale = m->attn_scale, .window = sliding ? m->swa_window : 0,
                                .softcap = m->attn_softcap};
    if ((st = qtk_attention(&c->ex, &c->attn_ws, &c->kv, l, &ap, c->q, n, c->n_past, c->att, err)) != QTK_OK)
        return st;
    if ((st = qtk_matmul(&c->ex, &L->wo, c->att, n, c->tmp, err)) != QTK_OK) return st;
    residual_batch(c, c->x, c->tmp, L->attn_post_norm, n);

    rmsnorm_batch(c, c->xn, c->x, L->ffn_norm, n);
    st = L->router.data ? moe_ffn(c, L, n, err) : dense_ffn(c, L, n, err);
    if (st != QTK_OK) return st;
    residual_batch(c, c->x, c->tmp, L->ffn_post_norm, n);
    return QTK_OK;
}

qtk_status qtk_decode(qtk_context *c, const int32_t *tokens, int64_t n, int64_t first_logit, float *logits,
                      qtk_error *err) {
    if (!c || (!tokens && n > 0) || n < 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_decode: bad argument");
    if (n == 0) return QTK_OK;
    const qtk_model *m = c->m;
    const qtk_model_info *in = &m->info;
    if (c->n_past + n > c->n_ctx)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_decode: %lld cached + %lld new tokens exceed the context of %lld",
                             (long long)c->n_past, (long long)n, (long long)c->n_ctx);
    if (first_logit < 0 || first_logit > n)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_decode: first_logit %lld outside 0..%lld",
                             (long long)first_logit, (long long)n);
    for (int64_t t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= in->n_vocab)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_decode: token id %d at %lld outside the vocabulary (%lld)",
                                 (int)tokens[t], (long long)t, (long long)in->n_vocab);
    qtk_status st = reserve_batch(c, n, err);
    if (st != QTK_OK) return st;
    const int64_t E = in->n_embd;
    for (int64_t t = 0; t < n; t++) qtk_weight_row_to_float(&m->tok_embd, tokens[t], c->x + t * E);
    if (m->embd_scale != 1.0f)
        for (int64_t i = 0; i < n * E; i++) c->x[i] *= m->embd_scale;
    for (int64_t l = 0; l < in->n_layer; l++)
        if ((st = layer_forward(c, l, n, err)) != QTK_OK) return st;
    c->n_past += n;
    if (logits && first_logit < n) {
        const int64_t nout = n - first_logit;
        for (int64_t t = 0; t < nout; t++)
            rmsnorm(c->xn + t * E, c->x + (first_logit + t) * E, m->output_norm, E, in->norm_eps);
        if ((st = qtk_matmul(&c->ex, &m->output, c->xn, nout, logits, err)) != QTK_OK) return st;
        softcap(logits, nout * in->n_vocab, m->final_softcap);
    }
    return QTK_OK;
}
