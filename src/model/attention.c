/*
 * attention.c — KV cache and causal softmax attention (see attention.h).
 *
 * The work is split over (token, query head) items on the pool; each
 * thread keeps its scores in its own slice of the workspace.
 */
#include "attention.h"

#include <math.h>
#include <stdlib.h>

qtk_status qtk_kv_cache_init(qtk_kv_cache *kv, int64_t n_layer, int64_t n_ctx, int64_t n_kv, qtk_error *err) {
    memset(kv, 0, sizeof *kv);
    const size_t bytes = (size_t)n_layer * (size_t)n_ctx * (size_t)n_kv * sizeof(float);
    kv->k = (float *)qtk_malloc_aligned(bytes);
    kv->v = (float *)qtk_malloc_aligned(bytes);
    if (!kv->k || !kv->v) {
        qtk_kv_cache_free(kv);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (KV cache of %lld positions)", (long long)n_ctx);
    }
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->n_kv = n_kv;
    return QTK_OK;
}

void qtk_kv_cache_free(qtk_kv_cache *kv) {
    qtk_free_aligned(kv->k);
    qtk_free_aligned(kv->v);
    memset(kv, 0, sizeof *kv);
}

void qtk_kv_store(qtk_kv_cache *kv, int64_t l, int64_t pos0, const float *k, const float *v, int64_t n_tok) {
    const size_t off = (size_t)(l * kv->n_ctx + pos0) * (size_t)kv->n_kv;
    memcpy(kv->k + off, k, (size_t)(n_tok * kv->n_kv) * sizeof(float));
    memcpy(kv->v + off, v, (size_t)(n_tok * kv->n_kv) * sizeof(float));
}

void qtk_attn_ws_free(qtk_attn_ws *ws) {
    qtk_free_aligned(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

typedef struct attn_job {
    const qtk_kv_cache *kv;
    const qtk_attn_params *p;
    int64_t l, n_past;
    const float *q;
    float *out, *scores;         /* scores: [thread][n_ctx] */
    qtk_vec_dot_fn dot;
} attn_job;

/* Items (token t, query head h), item = t*n_head + h. */
static void attention_range(void *arg, int64_t begin, int64_t end, int ti) {
    const attn_job *j = (const attn_job *)arg;
    const qtk_attn_params *p = j->p;
    const int64_t hd = p->head_dim, nq = p->n_head * hd, nkv = j->kv->n_kv;
    const int64_t group = p->n_head / p->n_head_kv;
    const float *kc = j->kv->k + j->l * j->kv->n_ctx * nkv, *vc = j->kv->v + j->l * j->kv->n_ctx * nkv;
    float *sc = j->scores + (int64_t)ti * j->kv->n_ctx;
    for (int64_t item = begin; item < end; item++) {
        const int64_t t = item / p->n_head, h = item % p->n_head, g = h / group;
        const int64_t pos = j->n_past + t;
        const int64_t s0 = p->window > 0 ? QTK_MAX(0, pos - p->window + 1) : 0;
        const float *q = j->q + t * nq + h * hd;
        float mx = -INFINITY;
        for (int64_t s = s0; s <= pos; s++) {
            float d;
            j->dot(hd, &d, q, kc + s * nkv + g * hd);
            d *= p->scale;
            if (p->softcap > 0) d = p->softcap * tanhf(d / p->softcap);
            sc[s] = d;
            if (d > mx) mx = d;
        }
        float sum = 0.0f;
        for (int64_t s = s0; s <= pos; s++) {
            sc[s] = expf(sc[s] - mx);
            sum += sc[s];
        }
        const float inv = 1.0f / sum;
        float *o = j->out + t * nq + h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = 0.0f;
        for (int64_t s = s0; s <= pos; s++) {
            const float w = sc[s] * inv;
            const float *v = vc + s * nkv + g * hd;
            for (int64_t d = 0; d < hd; d++) o[d] += w * v[d];
        }
    }
}

qtk_status qtk_attention(qtk_exec *e, qtk_attn_ws *ws, const qtk_kv_cache *kv, int64_t l, const qtk_attn_params *p,
                         const float *q, int64_t n_tok, int64_t n_past, float *out, qtk_error *err) {
    const int nt = qtk_pool_size(e->pool);
    const size_t need = (size_t)nt * (size_t)kv->n_ctx;
    if (need > ws->cap) {
        qtk_free_aligned(ws->buf);
        ws->buf = (float *)qtk_malloc_aligned(need * sizeof(float));
        ws->cap = ws->buf ? need : 0;
        if (!ws->buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (attention scores)");
    }
    attn_job j = {.kv = kv, .p = p, .l = l, .n_past = n_past, .q = q, .out = out, .scores = ws->buf,
                  .dot = qtk_vec_dot_best(QTK_TYPE_F32)};
    const int64_t items = n_tok * p->n_head;
    qtk_pool_for(e->pool, items >= 4 ? qtk_exec_threads(e, n_tok) : 1, items, 1, attention_range, &j);
    return QTK_OK;
}
