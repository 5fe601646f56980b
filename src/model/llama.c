/*
 * llama.c — the forward pass of LLaMA-family models (llama, qwen2), in the
 * spirit of llama2.c: one straightforward function per step, F32
 * activations, matrix products through matmul.c (the type table).
 *
 * Per layer, for a batch of n tokens at positions n_past .. n_past+n-1:
 *   h = x + Wo · attention(rope(Wq·rms(x)), rope(Wk·rms(x)), Wv·rms(x))
 *   x = h + Wdown · (silu(Wgate·rms(h)) * (Wup·rms(h)))
 * then logits = Wout · rms(x). Keys and values of every position are kept
 * in the KV cache so later batches attend to earlier ones (causal mask);
 * attention.c holds the cache and the attention kernel.
 * ggml layout: a matrix has n_out rows of n_in weights; y[r] = row r · x.
 */
#include "attention.h"

#include <math.h>
#include <stdlib.h>

struct qtk_context {
    const qtk_model *m;
    int64_t n_ctx, n_past;
    qtk_exec ex;                 /* thread pool + converted activations  */
    qtk_kv_cache kv;
    qtk_attn_ws attn_ws;         /* attention scratch                    */
    float *rope_cos, *rope_sin;  /* [n_ctx][n_rot/2]                     */
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
    if (qtk_kv_cache_init(&c->kv, in->n_layer, n_ctx, in->n_head_kv * in->head_dim, err) != QTK_OK) {
        qtk_context_free(c);
        return QTK_ERR_NOMEM;
    }
    const int64_t half = in->n_rot / 2;
    c->rope_cos = (float *)malloc((size_t)(n_ctx * half) * sizeof(float));
    c->rope_sin = (float *)malloc((size_t)(n_ctx * half) * sizeof(float));
    if (!c->rope_cos || !c->rope_sin) {
        qtk_context_free(c);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (rope tables of %lld positions)", (long long)n_ctx);
    }
    /* theta(p, i) = p * freq_scale * base^(-2i/n_rot) / freq_factor[i], in double */
    for (int64_t i = 0; i < half; i++) {
        double inv_freq = pow(in->rope_freq_base, -2.0 * (double)i / (double)in->n_rot) * in->rope_freq_scale;
        if (m->rope_freq_factors) inv_freq /= (double)m->rope_freq_factors[i];
        for (int64_t p = 0; p < n_ctx; p++) {
            double theta = (double)p * inv_freq;
            c->rope_cos[p * half + i] = (float)cos(theta);
            c->rope_sin[p * half + i] = (float)sin(theta);
        }
    }
    *out = c;
    return QTK_OK;
}

void qtk_context_free(qtk_context *c) {
    if (!c) return;
    free_batch_buffers(c);
    qtk_kv_cache_free(&c->kv);
    qtk_attn_ws_free(&c->attn_ws);
    qtk_free_aligned(c->ex.act_buf);
    qtk_pool_free(c->ex.pool);
    free(c->rope_cos);
    free(c->rope_sin);
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

/* Rotates the first n_rot dims of each head of one token's vector.
 * Normal mode pairs (2i, 2i+1); NEOX mode pairs (i, i + n_rot/2). */
static void rope(const qtk_context *c, float *vec, int64_t n_heads, int64_t pos) {
    const qtk_model_info *in = &c->m->info;
    const int64_t half = in->n_rot / 2;
    const float *cs = c->rope_cos + pos * half, *sn = c->rope_sin + pos * half;
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

static qtk_status layer_forward(qtk_context *c, int64_t l, int64_t n, qtk_error *err) {
    const qtk_model *m = c->m;
    const qtk_model_info *in = &m->info;
    const qtk_layer *L = &m->layers[l];
    const int64_t E = in->n_embd, nq = in->n_head * in->head_dim, nkv = in->n_head_kv * in->head_dim;
    qtk_status st;

    for (int64_t t = 0; t < n; t++) rmsnorm(c->xn + t * E, c->x + t * E, L->attn_norm, E, in->norm_eps);
    const qtk_weight *qkv[3] = {&L->wq, &L->wk, &L->wv};
    float *qkv_out[3] = {c->q, c->k, c->v};
    if ((st = qtk_matmul_many(&c->ex, 3, qkv, qkv_out, c->xn, n, err)) != QTK_OK) return st;
    add_bias(c->q, L->bq, n, nq);
    add_bias(c->k, L->bk, n, nkv);
    add_bias(c->v, L->bv, n, nkv);
    for (int64_t t = 0; t < n; t++) {
        const int64_t pos = c->n_past + t;
        rope(c, c->q + t * nq, in->n_head, pos);
        rope(c, c->k + t * nkv, in->n_head_kv, pos);
    }
    qtk_kv_store(&c->kv, l, c->n_past, c->k, c->v, n);
    const qtk_attn_params ap = {.n_head = in->n_head, .n_head_kv = in->n_head_kv, .head_dim = in->head_dim,
                                .scale = 1.0f / sqrtf((float)in->head_dim)};
    if ((st = qtk_attention(&c->ex, &c->attn_ws, &c->kv, l, &ap, c->q, n, c->n_past, c->att, err)) != QTK_OK)
        return st;
    if ((st = qtk_matmul(&c->ex, &L->wo, c->att, n, c->tmp, err)) != QTK_OK) return st;
    for (int64_t i = 0; i < n * E; i++) c->x[i] += c->tmp[i];

    for (int64_t t = 0; t < n; t++) rmsnorm(c->xn + t * E, c->x + t * E, L->ffn_norm, E, in->norm_eps);
    const qtk_weight *gate_up[2] = {&L->w_gate, &L->w_up};
    float *gate_up_out[2] = {c->gate, c->up};
    if ((st = qtk_matmul_many(&c->ex, 2, gate_up, gate_up_out, c->xn, n, err)) != QTK_OK) return st;
    for (int64_t i = 0; i < n * in->n_ff; i++) {
        const float g = c->gate[i];
        c->gate[i] = g / (1.0f + expf(-g)) * c->up[i];  /* SwiGLU: silu(gate) * up */
    }
    if ((st = qtk_matmul(&c->ex, &L->w_down, c->gate, n, c->tmp, err)) != QTK_OK) return st;
    for (int64_t i = 0; i < n * E; i++) c->x[i] += c->tmp[i];
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
    for (int64_t l = 0; l < in->n_layer; l++)
        if ((st = layer_forward(c, l, n, err)) != QTK_OK) return st;
    c->n_past += n;
    if (logits && first_logit < n) {
        const int64_t nout = n - first_logit;
        for (int64_t t = 0; t < nout; t++)
            rmsnorm(c->xn + t * E, c->x + (first_logit + t) * E, m->output_norm, E, in->norm_eps);
        if ((st = qtk_matmul(&c->ex, &m->output, c->xn, nout, logits, err)) != QTK_OK) return st;
    }
    return QTK_OK;
}
