/*
 * attention.h — the KV cache and causal softmax attention, below the
 * forward pass (llama.c says WHAT attends to what; this file says how).
 * Not public.
 */
#ifndef QTK_ATTENTION_H
#define QTK_ATTENTION_H

#include "model_internal.h"

/* Keys and values of every cached position, per layer:
 * [n_layer][n_ctx][n_head_kv * head_dim]. */
typedef struct qtk_kv_cache {
    int64_t n_layer, n_ctx, n_kv;      /* n_kv = n_head_kv * head_dim */
    float *k, *v;
} qtk_kv_cache;

qtk_status qtk_kv_cache_init(qtk_kv_cache *kv, int64_t n_layer, int64_t n_ctx, int64_t n_kv, qtk_error *err);
void qtk_kv_cache_free(qtk_kv_cache *kv);

/* Stores n_tok keys/values (rows of n_kv floats) of layer l at positions
 * pos0 .. pos0+n_tok-1. */
void qtk_kv_store(qtk_kv_cache *kv, int64_t l, int64_t pos0, const float *k, const float *v, int64_t n_tok);

/* How one layer attends. */
typedef struct qtk_attn_params {
    int64_t n_head, n_head_kv, head_dim;
    float scale;        /* multiplies q.k before the softmax, usually 1/sqrt(head_dim) */
    int64_t window;     /* > 0: a query at p sees keys p-window+1 .. p (sliding window); 0: all */
    float softcap;      /* > 0: scores become softcap*tanh(score/softcap); 0: none */
} qtk_attn_params;

/* out[t] = softmax over the visible cached positions of (scale * q[t].k) . v
 * for the n_tok queries q (rows of n_head*head_dim floats) at positions
 * n_past .. n_past+n_tok-1 of layer l; query head h reads KV head
 * h / (n_head / n_head_kv). Runs on e's pool. Scratch lives in the
 * attention workspace (grown on demand). */
typedef struct qtk_attn_ws {
    float *buf;
    size_t cap;         /* floats */
} qtk_attn_ws;

qtk_status qtk_attention(qtk_exec *e, qtk_attn_ws *ws, const qtk_kv_cache *kv, int64_t l, const qtk_attn_params *p,
                         const float *q, int64_t n_tok, int64_t n_past, float *out, qtk_error *err);
void qtk_attn_ws_free(qtk_attn_ws *ws);

#endif
