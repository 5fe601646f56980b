/*
 * attention.h — the KV cache and causal softmax attention, below the
 * forward pass (llama.c says WHAT attends to what; this file says how).
 * Not public.
 */
#ifndef QTK_ATTENTION_H
#define QTK_ATTENTION_H

#include "model_internal.h"

/* Keys per block of the online softmax (attention.c): scores are computed
 * for one block of keys at a time, never for a whole context row. */
#define QTK_ATTN_BLOCK 64

/* Keys and values of every cached position, per layer and KV head:
 * [n_layer][n_head_kv][n_ctx][head_dim] elements of type_k / type_v
 * (QTK_TYPE_F16, rounded to nearest even, or QTK_TYPE_F32). */
typedef struct qtk_kv_cache {
    int64_t n_layer, n_ctx, n_head_kv, head_dim;
    qtk_type type_k, type_v;
    void *k, *v;
} qtk_kv_cache;

/* Fails with QTK_ERR_INVALID_ARG for a type other than F16/F32, with
 * QTK_ERR_NOMEM when the cache does not fit in memory. */
qtk_status qtk_kv_cache_init(qtk_kv_cache *kv, int64_t n_layer, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim,
                             qtk_type type_k, qtk_type type_v, qtk_error *err);
void qtk_kv_cache_free(qtk_kv_cache *kv);
/* Whether t can be the element type of a KV cache (F16, F32). */
bool qtk_kv_type_ok(int t);

/* Stores n_tok keys/values (rows of n_head_kv*head_dim floats, heads one
 * after the other) of layer l at positions pos0 .. pos0+n_tok-1. */
void qtk_kv_store(qtk_kv_cache *kv, int64_t l, int64_t pos0, const float *k, const float *v, int64_t n_tok);

/* How one layer attends. */
typedef struct qtk_attn_params {
    int64_t n_head, n_head_kv, head_dim;
    float scale;        /* multiplies q.k before the softmax, usually 1/sqrt(head_dim) */
    int64_t window;     /* > 0: a query at p sees keys p-window+1 .. p (sliding window); 0: all */
    float softcap;      /* > 0: scores become softcap*tanh(score/softcap); 0: none */
} qtk_attn_params;

/* Per-thread scratch of qtk_attention (grown on demand, reused). */
typedef struct qtk_attn_ws {
    float *buf;
    size_t cap;         /* floats */
} qtk_attn_ws;

/* out[t] = softmax over the visible cached positions of (scale * q[t].k) . v
 * for the n_tok queries q (rows of n_head*head_dim floats) at positions
 * n_past .. n_past+n_tok-1 of layer l; query head h reads KV head
 * h / (n_head / n_head_kv). The query heads sharing a KV head (and, when
 * they are few, several tokens) go through that head's keys and values
 * together, QTK_ATTN_BLOCK keys at a time with a running maximum and sum
 * (online softmax), so scratch is O(block), not O(context). Runs on e's
 * pool; each output row is computed by one thread in an order that depends
 * on neither the thread count nor the batch split (bit-identical results). */
qtk_status qtk_attention(qtk_exec *e, qtk_attn_ws *ws, const qtk_kv_cache *kv, int64_t l, const qtk_attn_params *p,
                         const float *q, int64_t n_tok, int64_t n_past, float *out, qtk_error *err);
void qtk_attn_ws_free(qtk_attn_ws *ws);

#endif
