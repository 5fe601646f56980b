/*
 * moe.c — routing and grouping of a mixture-of-experts FFN (see moe.h).
 *
 * Routing follows llama.cpp's build_moe_ffn with softmax gating: the
 * probabilities are the softmax of the router logits over ALL experts, the
 * n_used largest are kept, and (norm_w) divided by their sum — the same as a
 * softmax over the chosen logits alone (Mixtral's formulation). Grouping is
 * a counting sort of the (token, slot) pairs by expert, so an expert's
 * tokens stay in ascending order.
 */
#include "moe.h"

#include <math.h>
#include <stdlib.h>

void qtk_moe_ws_free(qtk_moe_ws *ws) {
    float **fs[] = {&ws->logits, &ws->w, &ws->x, &ws->gate, &ws->up, &ws->y};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        qtk_free_aligned(*fs[i]);
        *fs[i] = NULL;
    }
    free(ws->sel);
    free(ws->start);
    free(ws->order);
    memset(ws, 0, sizeof *ws);
}

qtk_status qtk_moe_ws_reserve(qtk_moe_ws *ws, int64_t n_tok, int64_t n_embd, int64_t n_ff_exp, int n_expert,
                              int n_used, qtk_error *err) {
    if (n_tok <= ws->cap_tok && n_embd <= ws->cap_embd && n_ff_exp <= ws->cap_ff && n_expert <= ws->cap_expert &&
        n_used <= ws->cap_used) {
        ws->n_expert = n_expert;
        ws->n_used = n_used;
        return QTK_OK;
    }
    qtk_moe_ws_free(ws);
    const size_t t = (size_t)n_tok, f = sizeof(float);
    ws->logits = (float *)qtk_malloc_aligned(t * (size_t)n_expert * f);
    ws->w = (float *)qtk_malloc_aligned(t * (size_t)n_used * f);
    ws->x = (float *)qtk_malloc_aligned(t * (size_t)n_embd * f);
    ws->gate = (float *)qtk_malloc_aligned(t * (size_t)n_ff_exp * f);
    ws->up = (float *)qtk_malloc_aligned(t * (size_t)n_ff_exp * f);
    ws->y = (float *)qtk_malloc_aligned(t * (size_t)n_embd * f);
    ws->sel = (int32_t *)malloc(t * (size_t)n_used * sizeof(int32_t));
    ws->start = (int64_t *)malloc(((size_t)n_expert + 1) * sizeof(int64_t));
    ws->order = (int64_t *)malloc(t * (size_t)n_used * sizeof(int64_t));
    if (!ws->logits || !ws->w || !ws->x || !ws->gate || !ws->up || !ws->y || !ws->sel || !ws->start || !ws->order) {
        qtk_moe_ws_free(ws);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (mixture-of-experts scratch, %lld tokens)",
                             (long long)n_tok);
    }
    ws->cap_tok = n_tok;
    ws->cap_embd = n_embd;
    ws->cap_ff = n_ff_exp;
    ws->cap_expert = n_expert;
    ws->cap_used = n_used;
    ws->n_expert = n_expert;
    ws->n_used = n_used;
    return QTK_OK;
}

void qtk_moe_route(qtk_moe_ws *ws, int64_t n_tok, bool norm_w) {
    const int ne = ws->n_expert, k = ws->n_used;
    ws->n_tok = n_tok;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *lg = ws->logits + t * ne;
        int32_t *sel = ws->sel + t * k;
        float *w = ws->w + t * k;
        /* top k by insertion: sel[0..k) holds the best so far, best first */
        int n_sel = 0;
        for (int e = 0; e < ne; e++) {
            int pos = n_sel;
            while (pos > 0 && lg[e] > lg[sel[pos - 1]]) pos--;
            if (pos >= k) continue;
            for (int i = QTK_MIN(n_sel, k - 1); i > pos; i--) sel[i] = sel[i - 1];
            sel[pos] = (int32_t)e;
            if (n_sel < k) n_sel++;
        }
        /* softmax: p_e = exp(l_e - max) / sum over all experts */
        const double mx = (double)lg[sel[0]];
        double sum_all = 0.0, sum_sel = 0.0;
        for (int e = 0; e < ne; e++) sum_all += exp((double)lg[e] - mx);
        for (int j = 0; j < k; j++) sum_sel += exp((double)lg[sel[j]] - mx);
        const double denom = norm_w ? sum_sel : sum_all;
        for (int j = 0; j < k; j++) w[j] = (float)(exp((double)lg[sel[j]] - mx) / denom);
    }
    /* counting sort of the entries t*k + j by expert */
    for (int e = 0; e <= ne; e++) ws->start[e] = 0;
    for (int64_t i = 0; i < n_tok * k; i++) ws->start[ws->sel[i] + 1]++;
    for (int e = 0; e < ne; e++) ws->start[e + 1] += ws->start[e];
    int64_t *fill = ws->start;  /* advanced while filling, then restored */
    for (int64_t i = 0; i < n_tok * k; i++) ws->order[fill[ws->sel[i]]++] = i;
    for (int e = ne; e > 0; e--) ws->start[e] = ws->start[e - 1];
    ws->start[0] = 0;
}

int64_t qtk_moe_gather(const qtk_moe_ws *ws, int e, const float *x, int64_t n, float *dst) {
    const int64_t cnt = qtk_moe_count(ws, e);
    const int64_t *ord = ws->order + ws->start[e];
    for (int64_t i = 0; i < cnt; i++) {
        const int64_t t = ord[i] / ws->n_used;
        memcpy(dst + i * n, x + t * n, (size_t)n * sizeof(float));
    }
    return cnt;
}

void qtk_moe_scatter_add(const qtk_moe_ws *ws, int e, const float *y, int64_t n, float *out) {
    const int64_t cnt = qtk_moe_count(ws, e);
    const int64_t *ord = ws->order + ws->start[e];
    for (int64_t i = 0; i < cnt; i++) {
        const int64_t t = ord[i] / ws->n_used;
        const float w = ws->w[ord[i]];
        float *o = out + t * n;
        const float *yi = y + i * n;
        for (int64_t c = 0; c < n; c++) o[c] += w * yi[c];
    }
}
