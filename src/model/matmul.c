/*
 * matmul.c — weight matrix × activation batch through the type table.
 *
 * As llama.cpp does: the activations are converted ONCE per product to the
 * weight type's vec_dot_type with that type's from_float (Q8_0, Q8_K, F16,
 * ...; F32 weights use the F32 activations unchanged, so F32 models are
 * computed in exact F32 arithmetic), then every (row, token) pair is one
 * call of the best vec_dot kernel of the weight type. Rows are split in
 * contiguous ranges over the threads; each thread walks its range in panels
 * of 16 rows so a panel stays in L1/L2 while all tokens pass over it.
 */
#include "model_internal.h"

#include <stdlib.h>

#define PANEL_ROWS 16

typedef struct mm_job {
    const qtk_weight *w;
    qtk_vec_dot_fn dot;
    const qtk_type_traits *vt;
    const float *x;          /* F32 input rows                      */
    uint8_t *act;            /* converted rows (NULL: use x itself)  */
    size_t act_row;          /* bytes per converted row              */
    int64_t n_tok;
    float *y;
} mm_job;

/* Converts activation rows [begin, end) to the vec_dot_type. */
static void convert_range(void *p, int64_t begin, int64_t end, int ti) {
    mm_job *j = (mm_job *)p;
    (void)ti;
    for (int64_t t = begin; t < end; t++)
        j->vt->from_float(j->x + t * j->w->n_in, j->act + (size_t)t * j->act_row, j->w->n_in);
}

/* Output rows [begin, end) for every token. */
static void rows_range(void *p, int64_t begin, int64_t end, int ti) {
    mm_job *j = (mm_job *)p;
    (void)ti;
    const qtk_weight *w = j->w;
    const uint8_t *wd = (const uint8_t *)w->data;
    for (int64_t r0 = begin; r0 < end; r0 += PANEL_ROWS) {
        int64_t r1 = QTK_MIN(end, r0 + PANEL_ROWS);
        for (int64_t t = 0; t < j->n_tok; t++) {
            const void *a = j->act ? (const void *)(j->act + (size_t)t * j->act_row)
                                   : (const void *)(j->x + t * w->n_in);
            float *yt = j->y + t * w->n_out;
            for (int64_t r = r0; r < r1; r++) j->dot(w->n_in, &yt[r], wd + (size_t)r * w->row_size, a);
        }
    }
}

qtk_status qtk_matmul_check(const qtk_weight *w, qtk_error *err) {
    const qtk_type_traits *tr = qtk_type_get((int)w->type);
    if (!tr || tr->interleaved || !qtk_vec_dot_best((int)w->type))
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "tensor %s: type %s has no dot product in qtk", w->name,
                             qtk_type_name((int)w->type));
    const qtk_type_traits *vt = qtk_type_get((int)tr->vec_dot_type);
    if (!vt || !vt->from_float)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "tensor %s: activation format %s of type %s has no converter",
                             w->name, qtk_type_name((int)tr->vec_dot_type), tr->name);
    if (w->n_in % tr->block_size != 0 || w->n_in % vt->block_size != 0 || w->row_size == 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "tensor %s: row length %lld is not a multiple of the block size of %s",
                             w->name, (long long)w->n_in, tr->name);
    return QTK_OK;
}

qtk_status qtk_matmul(const qtk_weight *w, const float *x, int64_t n_tok, float *y, int n_threads,
                      qtk_mm_scratch *scratch, qtk_error *err) {
    qtk_status st = qtk_matmul_check(w, err);
    if (st != QTK_OK) return st;
    if (n_tok <= 0) return QTK_OK;
    const qtk_type_traits *tr = qtk_type_get((int)w->type);
    mm_job j = {.w = w, .dot = qtk_vec_dot_best((int)w->type), .vt = qtk_type_get((int)tr->vec_dot_type),
                .x = x, .n_tok = n_tok, .y = y};
    if (tr->vec_dot_type != QTK_TYPE_F32) {
        j.act_row = qtk_row_size((int)tr->vec_dot_type, w->n_in);
        size_t need = j.act_row * (size_t)n_tok;
        if (need > scratch->cap) {
            qtk_free_aligned(scratch->buf);
            scratch->buf = qtk_malloc_aligned(need);
            scratch->cap = scratch->buf ? need : 0;
            if (!scratch->buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (matmul scratch)");
        }
        j.act = (uint8_t *)scratch->buf;
        qtk_parallel_for(n_tok >= 8 ? n_threads : 1, n_tok, convert_range, &j);
    }
    /* Small products are not worth waking threads for. */
    int nt = (w->n_out * w->n_in * n_tok < 65536) ? 1 : n_threads;
    qtk_parallel_for(nt, w->n_out, rows_range, &j);
    return QTK_OK;
}

void qtk_weight_row_to_float(const qtk_weight *w, int64_t row, float *dst) {
    const qtk_type_traits *tr = qtk_type_get((int)w->type);
    tr->to_float((const uint8_t *)w->data + (size_t)row * w->row_size, dst, w->n_in);
}
