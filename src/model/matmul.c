/*
 * matmul.c — weight matrices × an activation batch, on the context's pool.
 *
 * As llama.cpp does, the activations are converted ONCE to the weight type's
 * vec_dot_type (Q8_0, Q8_K, Q8_2, F16, ...; F32 weights use the F32
 * activations unchanged, so F32 models are computed in exact F32 arithmetic) —
 * once per input, not per weight: q/k/v (and gate/up) read one converted copy.
 * The products of all weights reading that input then run in ONE dispatch: the
 * concatenated output rows are split in contiguous ranges (multiples of
 * ROW_ALIGN rows) over the threads, so each thread streams one region of
 * weight memory, and a thread done with its range takes the end of the largest
 * unfinished one (qtk_pool_for_shares: on a shared host one core ran the same
 * rows 15-20 % slower than the other and its partner waited that long at every
 * product; a batch through panels is instead handed out in chunks of
 * PANEL_ROWS rows from a shared counter, so a thread that falls behind takes
 * fewer chunks; every row's result is the same whichever thread computes it).
 * A thread walks its range in panels of PANEL_ROWS rows and runs every column
 * tile over a panel while it sits in cache, through the type's multi-column
 * kernel (mul_mat) when it has one and through vec_dot calls otherwise; one
 * token's range goes to mul_mat in one call (no tile to keep in cache; the
 * kernel's per-call set-up once). From PANEL_MIN_COLS columns on (a batch), a
 * thread instead converts PANEL_ROWS rows at a time to int8 panels
 * (types/panel.h) and multiplies them with every column through the one panel
 * kernel of its ISA.
 */
#include "model_internal.h"
#include "../types/panel.h"

#include <stdlib.h>

#define PANEL_ROWS 64
#define ROW_ALIGN 16
#define MAX_TILE_COLS 8
#define MAX_WEIGHTS 8
/* Columns from which the panel path runs when the type table has no measured
 * crossover for the type's ISA (qtk_type_traits.panel_min_cols). The conversion (the type's
 * to_float, then re-quantization) costs about as much as 25-40 columns of
 * the type's own kernel, so the crossover (measured on Zen 4, AVX-512, one
 * thread, 1024 x 4096 weights; BENCHMARKS.md) lies at 24-48 columns for the
 * types that multiply through vec_dot and at 48-64+ for those with a
 * tiled mul_mat kernel. */
#define PANEL_MIN_COLS 32
#define PANEL_MIN_COLS_TILED 64

int qtk_exec_threads(const qtk_exec *e, int64_t n_tok) { return n_tok > 1 ? e->n_batch : e->n_gen; }

qtk_status qtk_weight_bind(qtk_weight *w, qtk_error *err) {
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
    w->traits = tr;
    w->act = vt;
    w->act_row_size = tr->vec_dot_type == QTK_TYPE_F32 ? (size_t)w->n_in * sizeof(float)
                                                        : qtk_row_size((int)tr->vec_dot_type, w->n_in);
    w->dot = qtk_vec_dot_best((int)w->type);
    w->mul_mat = qtk_mul_mat_best((int)w->type);
    w->panel_min_cols = 0;
    if (qtk_panel_act_supported(tr->vec_dot_type) && tr->to_float && w->n_in % QTK_PANEL_B == 0) {
        /* the type's measured crossover for the ISA its kernels run on, else the defaults */
        const int isa = qtk_kernel_isa((int)w->type);
        const int measured = isa >= 0 ? tr->panel_min_cols[isa] : 0;
        w->panel_min_cols = measured == QTK_PANEL_NEVER ? INT64_MAX
                            : measured                  ? measured
                            : w->mul_mat                ? PANEL_MIN_COLS_TILED
                                                        : PANEL_MIN_COLS;
    }
    return QTK_OK;
}

/* One product of the dispatch: a weight, its converted input, its output. */
typedef struct mm_part {
    const qtk_weight *w;
    const uint8_t *act;          /* n_tok rows of w->act_row_size bytes */
    const float *act_d;          /* panel path: per-32-block scales and sums of */
    const int32_t *act_sum;      /* the activations, [token][n_in/32]           */
    float *y;
    int64_t row0;                /* first row of this weight in the concatenation */
} mm_part;

typedef struct mm_job {
    mm_part parts[MAX_WEIGHTS];
    int n_parts;
    int64_t n_tok;
    /* panel path: per-thread scratch and the kernels */
    uint8_t *scratch;
    size_t scratch_per_thread;
    const qtk_panel_kernels *pk;
    /* conversion step */
    const float *x;
    const qtk_type_traits *conv_vt[MAX_WEIGHTS];
    qtk_from_float_fn conv_fn[MAX_WEIGHTS];   /* conv_vt's fastest from_float */
    uint8_t *conv_dst[MAX_WEIGHTS];
    float *conv_d[MAX_WEIGHTS];          /* scans for the panel path, or NULL */
    int32_t *conv_sum[MAX_WEIGHTS];
    int64_t n_in;
    int n_conv;
} mm_job;

/* Rows [r0, r1) of one weight for every token. */
static void product_rows(const mm_part *p, int64_t n_tok, int64_t r0, int64_t r1) {
    const qtk_weight *w = p->w;
    const uint8_t *wd = (const uint8_t *)w->data;
    const size_t ar = w->act_row_size;
    /* Balanced column tiles: 9 columns run as 5 + 4, not 8 + 1. */
    const int64_t n_tiles = (n_tok + MAX_TILE_COLS - 1) / MAX_TILE_COLS;
    if (n_tok == 1 && w->mul_mat) {
        w->mul_mat(w->n_in, wd + (size_t)r0 * w->row_size, w->row_size, p->act, ar, p->y + r0, (size_t)w->n_out,
                   r1 - r0, 1);
        return;
    }
    for (int64_t a = r0; a < r1; a += PANEL_ROWS) {
        const int64_t b = QTK_MIN(r1, a + PANEL_ROWS);
        for (int64_t tile = 0, c0 = 0; tile < n_tiles; tile++) {
            const int64_t c1 = n_tok * (tile + 1) / n_tiles;
            if (w->mul_mat) {
                w->mul_mat(w->n_in, wd + (size_t)a * w->row_size, w->row_size, p->act + (size_t)c0 * ar, ar,
                           p->y + c0 * w->n_out + a, (size_t)w->n_out, b - a, c1 - c0);
            } else {
                for (int64_t c = c0; c < c1; c++) {
                    const uint8_t *act = p->act + (size_t)c * ar;
                    float *yc = p->y + c * w->n_out;
                    for (int64_t r = a; r < b; r++) w->dot(w->n_in, &yc[r], wd + (size_t)r * w->row_size, act);
                }
            }
            c0 = c1;
        }
    }
}

static bool use_panels(const qtk_weight *w, int64_t n_tok) {
    return w->panel_min_cols > 0 && n_tok >= w->panel_min_cols;
}

/* Scratch one thread needs for the panel path of weights reading n values. */
static size_t panel_scratch_bytes(int64_t n) {
    return (PANEL_ROWS / 8) * qtk_panel_bytes(n, 8)         /* panels (any R) */
           + qtk_panel_tmp_bytes(n);                        /* decoded row */
}

/* Rows [r0, r1) of one weight for every token, through int8 panels: each
 * PANEL_ROWS rows are converted once, then multiplied with every column. */
static void product_rows_panel(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1, uint8_t *scratch) {
    const qtk_weight *w = p->w;
    const int64_t n = w->n_in, n_tok = j->n_tok, nb = n / QTK_PANEL_B;
    const uint8_t *wd = (const uint8_t *)w->data;
    const int R = j->pk->rows;
    const size_t pbytes = qtk_panel_bytes(n, R), ar = w->act_row_size;
    uint8_t *panels = scratch;
    float *tmp = (float *)(scratch + (PANEL_ROWS / R) * pbytes);
    const int64_t n_tiles = (n_tok + QTK_PANEL_MAX_COLS - 1) / QTK_PANEL_MAX_COLS;
    for (int64_t a = r0; a < r1; a += PANEL_ROWS) {
        const int64_t b = QTK_MIN(r1, a + PANEL_ROWS);
        const int groups = (int)((b - a + R - 1) / R);
        for (int g = 0; g < groups; g++) {
            const int64_t ga = a + (int64_t)g * R;
            qtk_panel_convert(j->pk, w->traits, wd + (size_t)ga * w->row_size, w->row_size,
                              (int)QTK_MIN(R, b - ga), n, panels + (size_t)g * pbytes, tmp);
        }
        for (int64_t tile = 0, c0 = 0; tile < n_tiles; tile++) {
            const int64_t c1 = n_tok * (tile + 1) / n_tiles;
            qtk_panel_act act;
            qtk_panel_act_describe(w->act->id, p->act + (size_t)c0 * ar, ar, (int)(c1 - c0), p->act_d + c0 * nb,
                                   p->act_sum + c0 * nb, &act);
            for (int g = 0; g < groups; g++) {
                const int64_t ga = a + (int64_t)g * R;
                j->pk->gemm(n, panels + (size_t)g * pbytes, &act, p->y + c0 * w->n_out + ga, (size_t)w->n_out,
                            (int)QTK_MIN(R, b - ga));
            }
            c0 = c1;
        }
    }
}

/* Rows [begin, end) of the concatenated outputs of all parts. */
static void products_range(void *arg, int64_t begin, int64_t end, int ti) {
    const mm_job *j = (const mm_job *)arg;
    for (int i = 0; i < j->n_parts; i++) {
        const mm_part *p = &j->parts[i];
        const int64_t lo = QTK_MAX(begin, p->row0), hi = QTK_MIN(end, p->row0 + p->w->n_out);
        if (lo >= hi) continue;
        if (use_panels(p->w, j->n_tok))
            product_rows_panel(j, p, lo - p->row0, hi - p->row0, j->scratch + (size_t)ti * j->scratch_per_thread);
        else
            product_rows(p, j->n_tok, lo - p->row0, hi - p->row0);
    }
}

/* Converts input rows [begin, end) to every activation format needed. */
static void convert_range(void *arg, int64_t begin, int64_t end, int ti) {
    const mm_job *j = (const mm_job *)arg;
    (void)ti;
    for (int k = 0; k < j->n_conv; k++) {
        const size_t ar = qtk_row_size((int)j->conv_vt[k]->id, j->n_in);
        for (int64_t t = begin; t < end; t++)
            j->conv_fn[k](j->x + t * j->n_in, j->conv_dst[k] + (size_t)t * ar, j->n_in);
        if (j->conv_d[k]) {
            const int64_t nb = j->n_in / QTK_PANEL_B;
            qtk_panel_act_scan(j->conv_vt[k]->id, j->conv_dst[k] + (size_t)begin * ar, ar, end - begin, j->n_in,
                               j->conv_d[k] + begin * nb, j->conv_sum[k] + begin * nb);
        }
    }
}

qtk_status qtk_matmul_many(qtk_exec *e, int nw, const qtk_weight *const *w, float *const *y, const float *x,
                           int64_t n_tok, qtk_error *err) {
    if (nw < 1 || nw > MAX_WEIGHTS)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_matmul_many: %d weights (1..%d)", nw, MAX_WEIGHTS);
    if (n_tok <= 0) return QTK_OK;
    if (e->observe)
        for (int i = 0; i < nw; i++) e->observe(e->observe_ud, w[i], x, n_tok);
    mm_job j;
    memset(&j, 0, sizeof j);
    j.n_tok = n_tok;
    j.x = x;
    j.n_in = w[0]->n_in;
    /* One converted copy per distinct activation format, laid out back to back. */
    size_t need = 0, offs[MAX_WEIGHTS] = {0}, scan_offs[MAX_WEIGHTS] = {0};
    for (int i = 0; i < nw; i++) {
        if (!w[i]->traits)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "tensor %s: kernels not resolved", w[i]->name);
        if (w[i]->n_in != j.n_in)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_matmul_many: %s reads %lld values, %s %lld", w[i]->name,
                                 (long long)w[i]->n_in, w[0]->name, (long long)j.n_in);
        if (w[i]->act->id == QTK_TYPE_F32) continue;
        int k = 0;
        while (k < j.n_conv && j.conv_vt[k] != w[i]->act) k++;
        if (k == j.n_conv) {
            j.conv_fn[j.n_conv] = qtk_from_float_best((int)w[i]->act->id);
            j.conv_vt[j.n_conv++] = w[i]->act;
            offs[k] = need;
            need += (w[i]->act_row_size * (size_t)n_tok + 63) & ~(size_t)63;
        }
        if (use_panels(w[i], n_tok) && !scan_offs[k]) {
            scan_offs[k] = need;
            need += (size_t)(n_tok * (j.n_in / QTK_PANEL_B)) * (sizeof(float) + sizeof(int32_t));
            need = (need + 63) & ~(size_t)63;
        }
    }
    e->act_buf = qtk_grow_aligned(e->act_buf, &e->act_cap, need, 1);
    if (!e->act_buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (converted activations, %zu bytes)", need);
    for (int k = 0; k < j.n_conv; k++) {
        j.conv_dst[k] = (uint8_t *)e->act_buf + offs[k];
        if (scan_offs[k]) {
            j.conv_d[k] = (float *)((uint8_t *)e->act_buf + scan_offs[k]);
            j.conv_sum[k] = (int32_t *)(j.conv_d[k] + n_tok * (j.n_in / QTK_PANEL_B));
        }
    }
    int64_t rows = 0;
    for (int i = 0; i < nw; i++) {
        mm_part *p = &j.parts[i];
        p->w = w[i];
        p->y = y[i];
        p->row0 = rows;
        rows += w[i]->n_out;
        if (w[i]->act->id == QTK_TYPE_F32) {
            p->act = (const uint8_t *)x;
        } else {
            int k = 0;
            while (j.conv_vt[k] != w[i]->act) k++;
            p->act = j.conv_dst[k];
            p->act_d = j.conv_d[k];
            p->act_sum = j.conv_sum[k];
        }
    }
    j.n_parts = nw;
    const int nt = qtk_exec_threads(e, n_tok);
    bool panels = false;
    for (int i = 0; i < nw; i++) panels |= use_panels(w[i], n_tok);
    if (panels) {
        j.pk = qtk_panel_best();
        j.scratch_per_thread = (panel_scratch_bytes(j.n_in) + 63) & ~(size_t)63;
        const size_t total = j.scratch_per_thread * (size_t)qtk_pool_size(e->pool);
        e->panel_buf = qtk_grow_aligned(e->panel_buf, &e->panel_cap, total, 1);
        if (!e->panel_buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (weight panels, %zu bytes)", total);
        j.scratch = (uint8_t *)e->panel_buf;
    }
    if (j.n_conv > 0) qtk_pool_for_shares(e->pool, n_tok >= 8 ? nt : 1, n_tok, 1, convert_range, &j);
    /* Small products are not worth waking threads for. */
    const int nt_mm = (rows * j.n_in * n_tok < 65536) ? 1 : nt;
    if (panels)  /* a batch: chunks of PANEL_ROWS rows claimed from a counter, so uneven loads balance */
        qtk_pool_for_dynamic(e->pool, nt_mm, rows, PANEL_ROWS, products_range, &j);
    else
        qtk_pool_for_shares(e->pool, nt_mm, rows, ROW_ALIGN, products_range, &j);
    return QTK_OK;
}

qtk_status qtk_matmul(qtk_exec *e, const qtk_weight *w, const float *x, int64_t n_tok, float *y, qtk_error *err) {
    return qtk_matmul_many(e, 1, &w, &y, x, n_tok, err);
}

void qtk_weight_row_to_float(const qtk_weight *w, int64_t row, float *dst) {
    const qtk_type_traits *tr = qtk_type_get((int)w->type);
    tr->to_float((const uint8_t *)w->data + (size_t)row * w->row_size, dst, w->n_in);
}
