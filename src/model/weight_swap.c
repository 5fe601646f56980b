/*
 * weight_swap.c — qtk_model_swap_tensor (weight_swap.h): the planner's KLD
 * probes evaluate the model with one tensor replaced by its quantized copy.
 */
#include "weight_swap.h"
#include "model_internal.h"

#include <string.h>

/* Sets one view w (expert e of n_expert, or a dense weight) to (type, base). */
static qtk_status set_view(qtk_weight *w, int type, const void *base, qtk_error *err) {
    size_t rs = qtk_row_size(type, w->n_in);
    if (rs == 0) return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "tensor %s: no row size for type %s", w->name, qtk_type_name(type));
    qtk_weight nw = *w;
    nw.type = (qtk_type)type;
    nw.row_size = rs;
    nw.data = (const uint8_t *)base + (w->expert >= 0 ? (size_t)w->expert * (size_t)w->n_out * rs : 0);
    qtk_status st = qtk_weight_bind(&nw, err);
    if (st == QTK_OK) *w = nw;
    return st;
}

/* Applies (type, data) to every view named `name`; returns the number changed. */
static qtk_status apply(qtk_model *m, const char *name, int type, const void *data, int *n_views, qtk_error *err) {
    *n_views = 0;
    qtk_weight *single[2] = {&m->tok_embd, &m->output};
    for (int k = 0; k < 2; k++)
        if (single[k]->name && !strcmp(single[k]->name, name)) {
            qtk_status st = set_view(single[k], type, data, err);
            if (st != QTK_OK) return st;
            (*n_views)++;
        }
    for (int64_t l = 0; l < m->info.n_layer; l++) {
        qtk_layer *L = &m->layers[l];
        qtk_weight *ws[8] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down, &L->router};
        for (int k = 0; k < 8; k++)
            if (ws[k]->name && ws[k]->data && !strcmp(ws[k]->name, name)) {
                qtk_status st = set_view(ws[k], type, data, err);
                if (st != QTK_OK) return st;
                (*n_views)++;
            }
        qtk_weight *ex[3] = {L->gate_exps, L->up_exps, L->down_exps};
        for (int k = 0; k < 3; k++) {
            if (!ex[k] || !ex[k][0].name || strcmp(ex[k][0].name, name)) continue;
            for (int64_t e = 0; e < m->info.n_expert; e++) {
                qtk_status st = set_view(&ex[k][e], type, data, err);
                if (st != QTK_OK) return st;
                (*n_views)++;
            }
        }
    }
    return QTK_OK;
}

qtk_status qtk_model_swap_tensor(qtk_model *m, const char *name, int type, const void *data, qtk_error *err) {
    if (!m || !name) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "swap tensor: NULL argument");
    int64_t i = qtk_gguf_find_tensor(m->gguf, name);
    if (i < 0) return qtk_set_error(err, QTK_ERR_NOT_FOUND, "%s: no tensor %s", qtk_gguf_path(m->gguf), name);
    const qtk_tensor_info *t = qtk_gguf_tensor(m->gguf, i);
    int n = 0;
    qtk_status st = data ? apply(m, name, type, data, &n, err) : apply(m, name, (int)t->type, t->data, &n, err);
    if (st != QTK_OK) {
        if (data) {
            qtk_error e2;
            apply(m, name, (int)t->type, t->data, &n, &e2); /* the file's data binds: it did at load */
        }
        return st;
    }
    if (n == 0)
        return qtk_set_error(err, QTK_ERR_NOT_FOUND, "%s: tensor %s is not a matrix the engine multiplies with",
                             qtk_gguf_path(m->gguf), name);
    return QTK_OK;
}
