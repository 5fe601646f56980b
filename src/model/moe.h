/*
 * moe.h — the bookkeeping of a mixture-of-experts FFN, below the forward
 * pass (llama.c's moe_ffn says WHAT is computed; this file routes tokens to
 * experts and groups them by expert). Not public.
 */
#ifndef QTK_MOE_H
#define QTK_MOE_H

#include "model_internal.h"

/* Scratch of one MoE step over n_tok tokens, grown on demand and reused. */
typedef struct qtk_moe_ws {
    int64_t n_tok;
    int n_expert, n_used;
    float *logits;      /* [n_tok][n_expert] router outputs                        */
    int32_t *sel;       /* [n_tok][n_used] chosen experts, best first                */
    float *w;           /* [n_tok][n_used] their weights                             */
    int64_t *start;     /* [n_expert + 1]: expert e owns entries start[e] .. start[e+1) of order */
    int64_t *order;     /* [n_tok * n_used] entries t*n_used + j, grouped by expert, tokens ascending */
    float *x;           /* [n_tok][n_embd]   rows gathered for one expert            */
    float *gate, *up;   /* [n_tok][n_ff_exp]                                         */
    float *y;           /* [n_tok][n_embd]   one expert's outputs                    */
    int64_t cap_tok, cap_embd, cap_ff, cap_expert, cap_used;
} qtk_moe_ws;

/* Makes the workspace hold n_tok tokens of a model with these sizes. */
qtk_status qtk_moe_ws_reserve(qtk_moe_ws *ws, int64_t n_tok, int64_t n_embd, int64_t n_ff_exp, int n_expert,
                              int n_used, qtk_error *err);
void qtk_moe_ws_free(qtk_moe_ws *ws);

/* Routes the n_tok tokens whose router logits are in ws->logits: softmax
 * over all n_expert logits, the n_used largest probabilities (ties: lower
 * expert first), renormalised to sum 1 when norm_w; then groups the
 * (token, expert) pairs by expert. */
void qtk_moe_route(qtk_moe_ws *ws, int64_t n_tok, bool norm_w);

/* Tokens routed to expert e. */
static inline int64_t qtk_moe_count(const qtk_moe_ws *ws, int e) { return ws->start[e + 1] - ws->start[e]; }

/* Copies the rows (n floats each) of x of the tokens routed to expert e,
 * in token order, to dst; returns how many. */
int64_t qtk_moe_gather(const qtk_moe_ws *ws, int e, const float *x, int64_t n, float *dst);

/* out[t] += w(t, e) * y[i] for the i-th token t routed to expert e (rows of
 * n floats, y in the order qtk_moe_gather wrote). */
void qtk_moe_scatter_add(const qtk_moe_ws *ws, int e, const float *y, int64_t n, float *out);

#endif
