/*
 * panel.h — int8 row-interleaved weight panels for batched products
 * (SPEED.md §3.5–§3.6; issue #13).
 *
 * For a batch of activation columns, a thread converts R weight rows at a
 * time into a panel (R = 8; 16 for the AVX-512 kernel's 512-bit registers):
 * per block of B weights (B = 32), one float scale per row and the R rows'
 * int8 values interleaved in groups of 4 consecutive weights (bytes 0–3 =
 * row 0, k0..k3; bytes 4–7 = row 1, k0..k3; ...), so one 4·R-byte load
 * holds 4 weights of all R rows and one multiply-add against 4 broadcast
 * activation bytes adds into R row lanes. The panel is
 * then multiplied with every column: the type's own unpacking runs once
 * per weight per batch instead of once per weight per column tile.
 *
 * Conversion: a type with an exact int8 form per 32 weights (value =
 * d · q, |q| ≤ 127: Q4_0, Q5_0, Q6_0, Q8_0, IQ4_NL, IQ4_XS, IQ2_KS, IQ3_KS,
 * IQ4_KS, IQ4_KSS, IQ5_KS, ...) is copied exactly
 * through its to_int8 routine; any other type is decoded with its to_float
 * (to_float_dot) and re-quantized per 32 weights to d = max|v|/127,
 * q = round(v/d): an added rounding error of at most d/2 per weight
 * (docs/engine.md gives the measured size next to each type's own error).
 *
 * Activations: any format made of blocks with a scale and int8 values per
 * 32 (Q8_0, Q8_2) or per 256 with per-16 sums (Q8_K); a tile of columns is
 * described once (qtk_panel_act) with the scale and the int8 sum of each
 * column's 32-blocks, which the unsigned-offset kernels (VNNI) need.
 */
#ifndef QTK_PANEL_H
#define QTK_PANEL_H

#include "types_internal.h"

#define QTK_PANEL_MAX_R 16     /* rows per panel group: 8, or 16 (AVX-512) */
#define QTK_PANEL_B 32         /* weights per panel block         */
#define QTK_PANEL_MAX_COLS 8   /* columns per kernel call         */

/* Bytes of one block of a panel of R rows: R float scales, R·32 values. */
static inline size_t qtk_panel_block_bytes(int R) { return (size_t)R * (sizeof(float) + QTK_PANEL_B); }

/* Bytes of one converted group of R rows of n weights. */
static inline size_t qtk_panel_bytes(int64_t n, int R) {
    return (size_t)(n / QTK_PANEL_B) * qtk_panel_block_bytes(R);
}

/* A tile of up to 8 activation columns, per 32-block: the int8 values, the
 * float scale and the exact int sum of the values. */
typedef struct qtk_panel_act {
    const int8_t *qs[QTK_PANEL_MAX_COLS];  /* column c's first block's values     */
    size_t block_stride;                   /* bytes between 32-blocks within a group of 8 */
    size_t super_stride;                   /* bytes from one group of 8 blocks to the next */
    const float *d;                        /* [c * n_blocks + b]                  */
    const int32_t *sum;                    /* [c * n_blocks + b]                  */
    int n_cols;
} qtk_panel_act;

/* out[c * out_stride + r] = Σ_b d_w[r][b] · d_y[c][b] · Σ_k q_w[r][b][k] · q_y[c][b][k]
 * for r < nr, c < act->n_cols; the panel holds n/32 blocks of the level's R rows. `unsigned_w`
 * panels (VNNI kernels) store q + 128. */
typedef void (*qtk_panel_gemm_fn)(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out,
                                  size_t out_stride, int nr);

/* Panel kernels of one ISA level. */
/* d[b] = max|v_b|/127 and q_b = round(v_b/d[b]) (nearest, ties to even;
 * |q| ≤ 127) for every 32-block b of one row of n values: the conversion's
 * re-quantization, identical at every level. */
typedef void (*qtk_panel_quant_fn)(const float *v, int64_t n, float *d, int8_t *q);

/* Interleaves the scales d[r * n/32 + b] and int8 values q[r * n + k] of a
 * level's R rows (row-major, as the per-row step wrote them) into the panel
 * layout, adding 128 for unsigned_w levels; NULL: a row at a time in C. */
typedef void (*qtk_panel_pack_fn)(int64_t n, const float *d, const int8_t *q, uint8_t *panel);

typedef struct qtk_panel_kernels {
    qtk_panel_gemm_fn gemm;
    qtk_panel_quant_fn quant;
    bool unsigned_w;           /* panel values stored as q + 128 */
    int rows;                  /* R: rows per panel (8 or 16)     */
    int64_t (*peak)(int64_t iters, int seed, int32_t *sink);
    qtk_isa isa;
    qtk_panel_pack_fn pack;
} qtk_panel_kernels;

/* The kernels the dispatcher picks on this CPU (never NULL: scalar exists). */
const qtk_panel_kernels *qtk_panel_best(void);
/* The kernels of one level, or NULL when not compiled in (tests). */
const qtk_panel_kernels *qtk_panel_level(qtk_isa isa);

/* Converts nr ≤ k->rows rows (row r at w + r*stride, n weights of type tr;
 * the rows from nr on are zero) to a panel for kernels k. tmp: qtk_panel_tmp_bytes(n)
 * bytes of scratch. */
static inline size_t qtk_panel_tmp_bytes(int64_t n) {
    /* one decoded row, then the scales and int8 values of every row of a panel */
    return (size_t)n * sizeof(float) + QTK_PANEL_MAX_R * ((size_t)n + (size_t)(n / QTK_PANEL_B) * sizeof(float));
}
void qtk_panel_convert(const qtk_panel_kernels *k, const qtk_type_traits *tr, const uint8_t *w, size_t stride, int nr,
                       int64_t n, uint8_t *panel, float *tmp);

/* Whether activations of format act_type can feed a panel (Q8_0, Q8_2, Q8_K). */
bool qtk_panel_act_supported(qtk_type act_type);

/* Fills the per-32-block scales d and int8 sums of n_cols columns (column c
 * at a + c*a_stride, format act_type, n values): d/sum[c * n/32 + b]. */
void qtk_panel_act_scan(qtk_type act_type, const uint8_t *a, size_t a_stride, int64_t n_cols, int64_t n, float *d,
                        int32_t *sum);
/* Describes n_cols ≤ 8 columns whose scales and sums were scanned into d/sum
 * (pointing at the tile's first column). */
void qtk_panel_act_describe(qtk_type act_type, const uint8_t *a, size_t a_stride, int n_cols, const float *d,
                            const int32_t *sum, qtk_panel_act *act);
/* Both: scan, then describe. Fills the per-block scales and sums of n_cols ≤ 8 columns (column c at
 * a + c*a_stride, format act_type, n values) into d/sum (n_cols * n/32
 * each) and describes the tile in *act. */
void qtk_panel_act_prepare(qtk_type act_type, const uint8_t *a, size_t a_stride, int n_cols, int64_t n, float *d,
                           int32_t *sum, qtk_panel_act *act);

/* Runs a register-resident loop of the level's int8 multiply-add
 * instruction (vpdpbusd, maddubs, sdot; scalar: int multiply-adds) and
 * returns the number of int8 multiply-adds it did; `seed` keeps the
 * compiler from removing it. The int8 peak of SPEED.md §1.4, for
 * `qtk bench types`. */
int64_t qtk_panel_peak_loop(int64_t iters, int seed, int32_t *sink);

/* Per-ISA kernels (panel_<isa>.c). */
void qtk_panel_gemm_scalar(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                           int nr);
void qtk_panel_gemm_avx2(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                         int nr);
void qtk_panel_gemm_avx512(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                           int nr);
void qtk_panel_gemm_neon(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                         int nr);
void qtk_panel_gemm_neondot(int64_t n, const uint8_t *panel, const qtk_panel_act *act, float *out, size_t out_stride,
                            int nr);
/* AVX-512 forms of the per-row conversion step (panel_conv_avx512.c; the
 * table's to_int8_isa entries): the same bytes as the scalar step. */
void qtk_q4_K_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q);
void qtk_q5_K_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q);
void qtk_q6_K_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q);
void qtk_iq4_kss_to_int8_avx512(const void *row, int64_t n, float *d, int8_t *q);
void qtk_panel_pack_avx512(int64_t n, const float *d, const int8_t *q, uint8_t *panel);
void qtk_panel_quant_scalar(const float *v, int64_t n, float *d, int8_t *q);
void qtk_panel_quant_avx2(const float *v, int64_t n, float *d, int8_t *q);
void qtk_panel_quant_avx512(const float *v, int64_t n, float *d, int8_t *q);
void qtk_panel_quant_neon(const float *v, int64_t n, float *d, int8_t *q); /* both AArch64 levels */
int64_t qtk_panel_peak_avx2(int64_t iters, int seed, int32_t *sink);
int64_t qtk_panel_peak_avx512(int64_t iters, int seed, int32_t *sink);
int64_t qtk_panel_peak_neon(int64_t iters, int seed, int32_t *sink);
int64_t qtk_panel_peak_neondot(int64_t iters, int seed, int32_t *sink);

#endif
