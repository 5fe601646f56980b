/*
 * attention.c — KV cache and causal softmax attention (see attention.h).
 *
 * Work item = (tile of tokens, KV head, chunk of the query heads that share
 * it): its rows are those (token, query head) pairs, at most
 * QTK_ATTN_MAX_ROWS of them, and they go through the KV head's keys and
 * values once, one block of QTK_ATTN_BLOCK keys at a time (blocks at
 * multiples of QTK_ATTN_BLOCK, so a row sees the same blocks whatever tile
 * it is in). Per block and row, flash-attention style:
 *   s_j   = scale * q.k_j            (softcap: softcap * tanh(s_j / softcap))
 *   m'    = max(m, max_j s_j)        over the keys the row may see
 *   p_j   = exp(s_j - m')            (0 for keys it may not see)
 *   l     = l * exp(m - m') + sum_j p_j
 *   o     = o * exp(m - m') + sum_j p_j v_j
 * and at the end out = o / l. The dot products, the weighted sums, the
 * scaling/max and the exponentials are the ISA kernels of
 * src/types/attn_kernels*.c (F32 accumulation; F16 keys/values widened
 * exactly; a polynomial exp on the SIMD levels). Scores of one block and row group live in
 * the thread's slice of the workspace; o accumulates in the output row.
 * Keys a row may not see but another row of its item may (the causal tail
 * of a tile, a sliding window's start) enter its sums with weight 0, which
 * changes no bit; positions no row of the item sees are never read.
 */
#include "attention.h"

#include "../types/attn_kernels.h"

#include <math.h>
#include <stdlib.h>

bool qtk_kv_type_ok(int t) { return t == QTK_TYPE_F16 || t == QTK_TYPE_F32; }

static size_t elem_size(qtk_type t) { return t == QTK_TYPE_F16 ? 2 : 4; }

qtk_status qtk_kv_cache_init(qtk_kv_cache *kv, int64_t n_layer, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim,
                             qtk_type type_k, qtk_type type_v, qtk_error *err) {
    memset(kv, 0, sizeof *kv);
    if (!qtk_kv_type_ok((int)type_k) || !qtk_kv_type_ok((int)type_v))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "KV cache type must be f16 or f32 (got %s / %s)",
                             qtk_type_name((int)type_k), qtk_type_name((int)type_v));
    const size_t n = (size_t)n_layer * (size_t)n_head_kv * (size_t)n_ctx * (size_t)head_dim;
    kv->k = qtk_malloc_aligned(n * elem_size(type_k));
    kv->v = qtk_malloc_aligned(n * elem_size(type_v));
    if (!kv->k || !kv->v) {
        qtk_kv_cache_free(kv);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (KV cache of %lld positions)", (long long)n_ctx);
    }
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->n_head_kv = n_head_kv;
    kv->head_dim = head_dim;
    kv->type_k = type_k;
    kv->type_v = type_v;
    return QTK_OK;
}

void qtk_kv_cache_free(qtk_kv_cache *kv) {
    qtk_free_aligned(kv->k);
    qtk_free_aligned(kv->v);
    memset(kv, 0, sizeof *kv);
}

/* Start of the rows of layer l, KV head g (row = one position). */
static void *head_rows(const qtk_kv_cache *kv, void *base, qtk_type t, int64_t l, int64_t g) {
    const size_t row = (size_t)kv->head_dim * elem_size(t);
    return (uint8_t *)base + (size_t)((l * kv->n_head_kv + g) * kv->n_ctx) * row;
}

static void store_rows(const qtk_kv_cache *kv, void *base, qtk_type t, int64_t l, int64_t pos0, const float *x,
                       int64_t n_tok) {
    const int64_t hd = kv->head_dim, nkv = kv->n_head_kv * hd;
    const qtk_from_float_fn to_f16 = qtk_from_float_best(QTK_TYPE_F16); /* qtk_fp32_to_fp16's bits */
    for (int64_t g = 0; g < kv->n_head_kv; g++) {
        uint8_t *dst = (uint8_t *)head_rows(kv, base, t, l, g) + (size_t)(pos0 * hd) * elem_size(t);
        for (int64_t i = 0; i < n_tok; i++) {
            const float *src = x + i * nkv + g * hd;
            if (t == QTK_TYPE_F16) {
                to_f16(src, (uint16_t *)(void *)dst + i * hd, hd);
            } else {
                memcpy((float *)(void *)dst + i * hd, src, (size_t)hd * sizeof(float));
            }
        }
    }
}

void qtk_kv_store(qtk_kv_cache *kv, int64_t l, int64_t pos0, const float *k, const float *v, int64_t n_tok) {
    store_rows(kv, kv->k, kv->type_k, l, pos0, k, n_tok);
    store_rows(kv, kv->v, kv->type_v, l, pos0, v, n_tok);
}

void qtk_attn_ws_free(qtk_attn_ws *ws) {
    qtk_free_aligned(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

/* Floats of scratch per thread: one block of scores per row. */
#define ATTN_WS_PER_THREAD ((size_t)QTK_ATTN_MAX_ROWS * QTK_ATTN_BLOCK)

typedef struct attn_job {
    const qtk_kv_cache *kv;
    const qtk_attn_params *p;
    int64_t l, n_tok, n_past;
    int64_t group;               /* query heads per KV head                   */
    int64_t hc, n_hc;            /* query heads per item, chunks of the group */
    int64_t tq, n_tiles;         /* tokens per item, tiles of the batch       */
    const float *q;
    float *out, *scratch;        /* scratch: [thread][ATTN_WS_PER_THREAD]     */
    qtk_attn_qk_fn qk;
    qtk_attn_pv_fn pv;
    qtk_attn_scale_max_fn scale_max;
    qtk_attn_exp_sum_fn exp_sum;
} attn_job;

/* Scores of row r in block [b0, b0+nk) -> probabilities, updating the row's
 * running maximum *m and sum *l; returns the factor exp(m_old - m_new) its
 * accumulated output must be multiplied by. Keys outside [lo, hi) get 0. */
static float softmax_block(const attn_job *jb, float *s, int64_t nk, int64_t b0, int64_t lo, int64_t hi, float *m,
                           float *l) {
    const qtk_attn_params *p = jb->p;
    const int64_t a = QTK_MAX(lo - b0, 0), z = QTK_MIN(hi - b0, nk);
    if (a >= z) {  /* nothing visible in this block */
        for (int64_t j = 0; j < nk; j++) s[j] = 0.0f;
        return 1.0f;
    }
    float mb = -INFINITY;
    if (p->softcap > 0) {
        for (int64_t j = a; j < z; j++) {
            const float x = p->softcap * tanhf(s[j] * p->scale / p->softcap);
            s[j] = x;
            if (x > mb) mb = x;
        }
    } else {
        mb = jb->scale_max(z - a, s + a, p->scale);
    }
    const float mn = *m > mb ? *m : mb;
    const float alpha = expf(*m - mn);  /* first visible block: m = -inf, alpha = 0 */
    for (int64_t j = 0; j < a; j++) s[j] = 0.0f;
    const float sum = jb->exp_sum(z - a, s + a, mn);
    for (int64_t j = z; j < nk; j++) s[j] = 0.0f;
    *l = *l * alpha + sum;
    *m = mn;
    return alpha;
}

static void attn_item(const attn_job *j, int64_t item, float *sc) {
    const qtk_attn_params *p = j->p;
    const qtk_kv_cache *kv = j->kv;
    const int64_t hd = p->head_dim, nq = p->n_head * hd;
    const int64_t per_tile = p->n_head_kv * j->n_hc;
    const int64_t tile = j->n_tiles - 1 - item / per_tile;  /* the longest rows first */
    const int64_t g = (item % per_tile) / j->n_hc, hcix = item % j->n_hc;
    const int64_t h0 = g * j->group + hcix * j->hc, h1 = QTK_MIN(h0 + j->hc, (g + 1) * j->group);
    const int64_t t0 = tile * j->tq, t1 = QTK_MIN(t0 + j->tq, j->n_tok);

    const float *qr[QTK_ATTN_MAX_ROWS];
    float *orow[QTK_ATTN_MAX_ROWS];
    float m[QTK_ATTN_MAX_ROWS], lsum[QTK_ATTN_MAX_ROWS];
    int64_t lo[QTK_ATTN_MAX_ROWS], hi[QTK_ATTN_MAX_ROWS];
    int nr = 0;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t pos = j->n_past + t;
        for (int64_t h = h0; h < h1; h++, nr++) {
            qr[nr] = j->q + t * nq + h * hd;
            orow[nr] = j->out + t * nq + h * hd;
            memset(orow[nr], 0, (size_t)hd * sizeof(float));
            m[nr] = -INFINITY;
            lsum[nr] = 0.0f;
            lo[nr] = p->window > 0 ? QTK_MAX(0, pos - p->window + 1) : 0;
            hi[nr] = pos + 1;
        }
    }
    const uint8_t *kb = (const uint8_t *)head_rows(kv, kv->k, kv->type_k, j->l, g);
    const uint8_t *vb = (const uint8_t *)head_rows(kv, kv->v, kv->type_v, j->l, g);
    const size_t krow = (size_t)hd * elem_size(kv->type_k), vrow = (size_t)hd * elem_size(kv->type_v);
    const int64_t kmin = lo[0], kmax = hi[nr - 1];  /* rows run over tokens in order */
    for (int64_t b0 = kmin / QTK_ATTN_BLOCK * QTK_ATTN_BLOCK; b0 < kmax; b0 += QTK_ATTN_BLOCK) {
        const int64_t nk = QTK_MIN(QTK_ATTN_BLOCK, kmax - b0);
        /* keys before kmin (sliding window) are seen by no row: not read at all */
        const int64_t off = QTK_MAX(0, kmin - b0);
        j->qk(hd, nr, qr, nk - off, kb + (size_t)(b0 + off) * krow, sc + off, QTK_ATTN_BLOCK);
        for (int r = 0; r < nr; r++) {
            const float alpha = softmax_block(j, sc + r * QTK_ATTN_BLOCK, nk, b0, lo[r], hi[r], &m[r], &lsum[r]);
            if (alpha != 1.0f)
                for (int64_t d = 0; d < hd; d++) orow[r][d] *= alpha;
        }
        j->pv(hd, nr, sc + off, QTK_ATTN_BLOCK, nk - off, vb + (size_t)(b0 + off) * vrow, orow);
    }
    for (int r = 0; r < nr; r++) {
        const float inv = 1.0f / lsum[r];
        for (int64_t d = 0; d < hd; d++) orow[r][d] *= inv;
    }
}

static void attention_range(void *arg, int64_t begin, int64_t end, int ti) {
    const attn_job *j = (const attn_job *)arg;
    float *sc = j->scratch + (size_t)ti * ATTN_WS_PER_THREAD;
    for (int64_t item = begin; item < end; item++) attn_item(j, item, sc);
}

qtk_status qtk_attention(qtk_exec *e, qtk_attn_ws *ws, const qtk_kv_cache *kv, int64_t l, const qtk_attn_params *p,
                         const float *q, int64_t n_tok, int64_t n_past, float *out, qtk_error *err) {
    if (n_tok <= 0) return QTK_OK;
    if (p->n_head_kv != kv->n_head_kv || p->head_dim != kv->head_dim || p->n_head_kv <= 0 ||
        p->n_head % p->n_head_kv != 0 || l < 0 || l >= kv->n_layer || n_past < 0 || n_past + n_tok > kv->n_ctx)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "attention: %lld/%lld heads of %lld, layer %lld, positions %lld..%lld do not fit the "
                             "KV cache (%lld heads of %lld, %lld layers, %lld positions)",
                             (long long)p->n_head, (long long)p->n_head_kv, (long long)p->head_dim, (long long)l,
                             (long long)n_past, (long long)(n_past + n_tok - 1), (long long)kv->n_head_kv,
                             (long long)kv->head_dim, (long long)kv->n_layer, (long long)kv->n_ctx);
    const int nt = qtk_pool_size(e->pool);
    const size_t need = (size_t)nt * ATTN_WS_PER_THREAD;
    ws->buf = (float *)qtk_grow_aligned(ws->buf, &ws->cap, need, sizeof(float));
    if (!ws->buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (attention scores)");
    attn_job j = {.kv = kv, .p = p, .l = l, .n_tok = n_tok, .n_past = n_past, .q = q, .out = out,
                  .scratch = ws->buf, .qk = qtk_attn_qk_best((int)kv->type_k), .pv = qtk_attn_pv_best((int)kv->type_v),
                  .scale_max = qtk_attn_scale_max_best(), .exp_sum = qtk_attn_exp_sum_best()};
    j.group = p->n_head / p->n_head_kv;
    j.n_hc = (j.group + QTK_ATTN_MAX_ROWS - 1) / QTK_ATTN_MAX_ROWS;
    j.hc = (j.group + j.n_hc - 1) / j.n_hc;
    j.tq = QTK_MAX(1, QTK_ATTN_MAX_ROWS / j.hc);
    j.n_tiles = (n_tok + j.tq - 1) / j.tq;
    const int64_t items = j.n_tiles * p->n_head_kv * j.n_hc;
    qtk_pool_for_dynamic(e->pool, qtk_exec_threads(e, n_tok), items, 1, attention_range, &j);
    return QTK_OK;
}
