/*
 * autoplan_api.c — read access to measurement tables and the per-candidate
 * cost for programs (qtk.h, experimental part: qtk plan and qtk sweep use
 * them instead of the table's internal layout, measure_table.h).
 */
#include "quantize/autoplan.h"

#include <math.h>

void qtk_measure_table_get_info(const qtk_measure_table *t, qtk_measure_table_info *info) {
    info->model_name = t->model_name ? t->model_name : "";
    info->metric = t->metric;
    info->model_hash = t->model_hash;
    info->imatrix_hash = t->imatrix_hash;
    info->alignment = t->alignment;
    info->fixed_bytes = t->fixed_bytes;
    info->header_bytes = t->header_bytes;
    info->n_elements_all = t->n_elements_all;
    info->n = t->n;
}

bool qtk_measure_table_tensor(const qtk_measure_table *t, int64_t i, qtk_measure_tensor_info *info) {
    if (!t || i < 0 || i >= t->n) return false;
    const qtk_measure_tensor *x = &t->t[i];
    info->name = x->name;
    info->cls = x->cls;
    info->idx = x->idx;
    info->layer = x->layer;
    info->ne[0] = x->ne[0];
    info->ne[1] = x->ne[1];
    info->ne[2] = x->ne[2] > 0 ? x->ne[2] : 1;
    info->n_cand = x->n_cand;
    return true;
}

bool qtk_measure_table_cand(const qtk_measure_table *t, int64_t i, int c, qtk_measure_cand_info *info) {
    if (!t || i < 0 || i >= t->n || c < 0 || c >= t->t[i].n_cand) return false;
    const qtk_measure_cand *x = &t->t[i].cand[c];
    info->type = x->type;
    info->bytes = x->bytes;
    info->eps_rel = x->eps_rel;
    info->eps_abs = x->eps_abs;
    return true;
}

void qtk_measure_table_set_header_bytes(qtk_measure_table *t, uint64_t header_bytes) {
    if (t) t->header_bytes = header_bytes;
}

double qtk_autoplan_cand_cost(const qtk_measure_table *tab, int64_t i, int c, bool tied, bool low_bpw,
                              int cost_model) {
    if (!tab || i < 0 || i >= tab->n || c < 0 || c >= tab->t[i].n_cand) return NAN;
    const qtk_measure_tensor *t = &tab->t[i];
    return qtk_autoplan_cost_ex(t, &t->cand[c], tied, low_bpw, cost_model);
}
