/*
 * type_table.c — the type-traits table: one row per ggml type id. Everything
 * that depends on a type (sizes, names, kernels) is looked up here; nothing
 * else in qtk switches on a type id.
 */
#include "types_internal.h"
#include "../core/threadpool.h"
#include "grids.h"
#include "kquants.h"
#include "iquants.h"
#include "legacy1.h"
#include "iq_mainline.h"
#include "iqk.h"
#include "iqk_ks.h"
#include "trellis.h"
#include "float_dot.h"
#include "panel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef QTK_HAVE_AVX2
#define AVX2(fn) fn
#else
#define AVX2(fn) NULL
#endif
#ifdef QTK_HAVE_AVX512
#define AVX512(fn) fn
#else
#define AVX512(fn) NULL
#endif
#ifdef QTK_HAVE_NEON
#define NEON(fn) fn
#else
#define NEON(fn) NULL
#endif
#ifdef QTK_HAVE_NEON_DOT
#define NEON_DOT(fn) fn
#else
#define NEON_DOT(fn) NULL
#endif

/* Activation quantizers with an AVX2 version (used on AVX-512 CPUs too). */
#define ACT_AVX2(t) {NULL, AVX2(qtk_##t##_from_float_avx2), AVX2(qtk_##t##_from_float_avx2), NULL}
/* Dot kernels of a type `t` implemented for every ISA level. */
#define DOTS_ALL(t) {qtk_##t##_vec_dot_scalar, AVX2(qtk_##t##_vec_dot_avx2), \
                     AVX512(qtk_##t##_vec_dot_avx512), NEON(qtk_##t##_vec_dot_neon), \
                     NEON_DOT(qtk_##t##_vec_dot_neondot)}
#define NO_DOTS {NULL, NULL, NULL, NULL, NULL}
/* Panel conversion steps with an AVX-512 form (panel_conv_avx512.c). */
#define TO_INT8_AVX512(t) {NULL, NULL, AVX512(qtk_##t##_to_int8_avx512), NULL}
/* Multi-column kernels where a level has one (the engine tiles vec_dot elsewhere). */
#define MUL_MAT_AVX512(t) {NULL, NULL, AVX512(qtk_##t##_mul_mat_avx512), NULL}
#define MUL_MAT_X86(t) {NULL, AVX2(qtk_##t##_mul_mat_avx2), AVX512(qtk_##t##_mul_mat_avx512), NULL}
/* Measured panel crossovers (qtk_type_traits.panel_min_cols) per level (0 where that level is
   not compiled in, like its kernels). x86: timed with `qtk bench types --crossover` on Zen 4
   (BENCHMARKS.md session 11). NEON and NEON dotprod: no AArch64 hardware here, so counted
   instead of timed — the widths from which the panels execute fewer guest instructions than
   the type's own kernels under qemu-aarch64 (scripts/qemu_count/crossover.sh, XO_ISA=neon and
   neondot; BENCHMARKS.md session 27, after the NEON kernels' inline fp16 scales and SIMD
   re-quantization).
   The same count on the AVX2 kernels gave 0.7-2x the timed AVX2 crossovers (6x for Q4_K),
   mostly above them, so these are conservative; re-time them on AArch64 hardware. */
#ifdef QTK_HAVE_AVX2
#define PANEL_AVX2(n) n
#else
#define PANEL_AVX2(n) 0
#endif
#ifdef QTK_HAVE_AVX512
#define PANEL_AVX512(n) n
#else
#define PANEL_AVX512(n) 0
#endif
#ifdef QTK_HAVE_NEON
#define PANEL_NEON(n) n
#else
#define PANEL_NEON(n) 0
#endif
#ifdef QTK_HAVE_NEON_DOT
#define PANEL_NEON_DOT(n) n
#else
#define PANEL_NEON_DOT(n) 0
#endif
#define PANEL(avx2, avx512, neon, neondot) \
    {0, PANEL_AVX2(avx2), PANEL_AVX512(avx512), PANEL_NEON(neon), PANEL_NEON_DOT(neondot)}
/* F32/F16/BF16 rows (float_dot*.c): scalar, AVX2, NEON; AVX-512 falls back to AVX2, NEON dotprod
   to NEON. */
#define FLOAT_DOTS(t) {qtk_##t##_vec_dot_scalar, AVX2(qtk_##t##_vec_dot_avx2), NULL, NEON(qtk_##t##_vec_dot_neon)}
/* F16/BF16: also AVX-512 (float_dot_avx512.c), with a tiled mul_mat for batches. */
#define FLOAT16_DOTS(t) {qtk_##t##_vec_dot_scalar, AVX2(qtk_##t##_vec_dot_avx2), AVX512(qtk_##t##_vec_dot_avx512), \
                         NEON(qtk_##t##_vec_dot_neon)}

/* Geometry-only rows: known ids whose data qtk can size and skip (all mainline ids). */
#define GEOM(ID, NAME, BLK, SIZE, META, Q)                                           \
    [ID] = {.id = ID, .name = NAME, .block_size = BLK, .type_size = SIZE, .row_meta_size = META, \
     .is_quantized = Q, .file_type = true, .ecosystems = QTK_ECO_BOTH, .vec_dot_type = ID,   \
     .vec_dot = NO_DOTS}
/* Integer and f64 data rows: sized, never quantized, never a recipe result. */
#define INT_ROW(ID, NAME, SIZE)                                                        \
    [ID] = {.id = ID, .name = NAME, .block_size = 1, .type_size = SIZE, .file_type = true, \
     .is_integer = true, .ecosystems = QTK_ECO_BOTH, .vec_dot_type = ID, .vec_dot = NO_DOTS}
/* Interleaved (repacked) variants: sized like their base type, refused on use. */
#define INTERLEAVED(ID, NAME, BASE, ROWS, BLK, SIZE, META)                                        \
    [ID] = {.id = ID, .name = NAME, .block_size = BLK, .type_size = SIZE, .row_meta_size = META, \
     .is_quantized = true, .file_type = true, .interleaved = true,                        \
     .interleave_base = BASE, .interleave_rows = ROWS,                        \
     .ecosystems = QTK_ECO_IK_LLAMA, .vec_dot_type = ID,                                  \
     .vec_dot = NO_DOTS}

/* Mainline lattice i-quants (iq_mainline*.c): Q8_K activations, to_int8 where exact per 32. */
#define IQM_ROW(ID, t, SIZE, INT8, REQ, PLAN_REQ, PANEL)                                                               \
    [ID] = {.id = ID, .name = #t, .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = SIZE,               \
     .is_quantized = true, .file_type = true, .requires_imatrix = REQ, .vec_dot_type = QTK_TYPE_Q8_K,      \
     .to_float = qtk_##t##_to_float, .to_int8 = INT8, .quantize = qtk_##t##_quantize,                      \
     .quantize_effort = qtk_##t##_quantize_effort, .vec_dot = DOTS_ALL(t),                                 \
     .plan_requires_imatrix = PLAN_REQ, .block_fallback = QTK_TYPE_IQ4_NL, .panel_min_cols = PANEL}

/* Indexed by type id (designated initializers); rows without a name are unknown ids. */
static const qtk_type_traits type_table[QTK_TYPE_ID_LIMIT] = {
    /* ---- float and integer types ---- */
    [QTK_TYPE_F32] = {.id = QTK_TYPE_F32, .name = "f32", .ecosystems = QTK_ECO_BOTH, .block_size = 1, .type_size = 4, .file_type = true,
     .vec_dot_type = QTK_TYPE_F32, .to_float = qtk_f32_to_float, .quantize = qtk_f32_quantize,
     .from_float = qtk_f32_from_float, .vec_dot = FLOAT_DOTS(f32)},
    [QTK_TYPE_F16] = {.id = QTK_TYPE_F16, .name = "f16", .ecosystems = QTK_ECO_BOTH, .block_size = 1, .type_size = 2, .file_type = true,
     .vec_dot_type = QTK_TYPE_F16, .to_float = qtk_f16_to_float, .quantize = qtk_f16_quantize,
     .from_float = qtk_f16_from_float, .from_float_isa = ACT_AVX2(f16), .vec_dot = FLOAT16_DOTS(f16),
     .mul_mat = MUL_MAT_AVX512(f16)},
    [QTK_TYPE_BF16] = {.id = QTK_TYPE_BF16, .name = "bf16", .ecosystems = QTK_ECO_BOTH, .block_size = 1, .type_size = 2, .file_type = true,
     .vec_dot_type = QTK_TYPE_BF16, .to_float = qtk_bf16_to_float, .quantize = qtk_bf16_quantize,
     .from_float = qtk_bf16_from_float, .vec_dot = FLOAT16_DOTS(bf16), .mul_mat = MUL_MAT_AVX512(bf16)},
    INT_ROW(QTK_TYPE_I8, "i8", 1),
    INT_ROW(QTK_TYPE_I16, "i16", 2),
    INT_ROW(QTK_TYPE_I32, "i32", 4),
    INT_ROW(QTK_TYPE_I64, "i64", 8),
    INT_ROW(QTK_TYPE_F64, "f64", 8),

    /* ---- legacy 32-weight blocks ---- */
    [QTK_TYPE_Q4_0] = {.id = QTK_TYPE_Q4_0, .name = "q4_0", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 18, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q4_0_to_float, .to_int8 = qtk_q4_0_to_int8,
     .quantize = qtk_q4_0_quantize, .quantize_effort = qtk_q4_0_quantize_effort, .from_float = qtk_q4_0_from_float,
     .vec_dot = DOTS_ALL(q4_0), .panel_min_cols = PANEL(48, 24, 16, 12), .mul_mat = MUL_MAT_X86(q4_0)},
    [QTK_TYPE_Q4_1] = {.id = QTK_TYPE_Q4_1, .name = "q4_1", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 20, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q4_1_to_float,
     .quantize = qtk_q4_1_quantize, .quantize_effort = qtk_q4_1_quantize_effort, .from_float = qtk_q4_1_from_float, .vec_dot = DOTS_ALL(q4_1), .panel_min_cols = PANEL(24, 24, 16, 16),
     .mul_mat = MUL_MAT_AVX512(q4_1)},
    [QTK_TYPE_Q5_0] = {.id = QTK_TYPE_Q5_0, .name = "q5_0", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 22, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q5_0_to_float, .to_int8 = qtk_q5_0_to_int8,
     .quantize = qtk_q5_0_quantize, .quantize_effort = qtk_q5_0_quantize_effort, .from_float = qtk_q5_0_from_float,
     .vec_dot = DOTS_ALL(q5_0), .panel_min_cols = PANEL(48, 48, 16, 12), .mul_mat = MUL_MAT_X86(q5_0)},
    [QTK_TYPE_Q5_1] = {.id = QTK_TYPE_Q5_1, .name = "q5_1", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 24, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q5_1_to_float,
     .quantize = qtk_q5_1_quantize, .quantize_effort = qtk_q5_1_quantize_effort, .from_float = qtk_q5_1_from_float, .vec_dot = DOTS_ALL(q5_1), .panel_min_cols = PANEL(32, 32, 16, 16),
     .mul_mat = MUL_MAT_AVX512(q5_1)},
    [QTK_TYPE_Q6_0] = {.id = QTK_TYPE_Q6_0, .name = "q6_0", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 32, .type_size = 26, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q6_0_to_float, .to_int8 = qtk_q6_0_to_int8,
     .quantize = qtk_q6_0_quantize, .quantize_effort = qtk_q6_0_quantize_effort, .from_float = qtk_q6_0_from_float,
     .vec_dot = DOTS_ALL(q6_0), .panel_min_cols = PANEL(96, 64, 32, 32), .mul_mat = MUL_MAT_X86(q6_0)},
    [QTK_TYPE_Q8_0] = {.id = QTK_TYPE_Q8_0, .name = "q8_0", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 34, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q8_0_to_float, .to_int8 = qtk_q8_0_to_int8,
     .quantize = qtk_q8_0_quantize, .from_float = qtk_q8_0_from_float, .from_float_isa = ACT_AVX2(q8_0),
     .vec_dot = DOTS_ALL(q8_0), .panel_min_cols = PANEL(12, 12, 8, 4), .mul_mat = MUL_MAT_X86(q8_0)},
    GEOM(QTK_TYPE_Q8_1, "q8_1", 32, 36, 0, true),
    [QTK_TYPE_IQ4_NL] = {.id = QTK_TYPE_IQ4_NL, .name = "iq4_nl", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 18, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq4_nl_to_float, .to_int8 = qtk_iq4_nl_to_int8,
     .quantize = qtk_iq4_nl_quantize, .quantize_effort = qtk_iq4_nl_quantize_effort, .from_float = qtk_iq4_nl_from_float, .vec_dot = DOTS_ALL(iq4_nl), .panel_min_cols = PANEL(12, 48, 12, 8),
     .mul_mat = MUL_MAT_AVX512(iq4_nl)},

    /* ---- microscaling: E8M0 exponent + E2M1 codes per 32 (legacy1.c) ---- */
    [QTK_TYPE_MXFP4] = {.id = QTK_TYPE_MXFP4, .name = "mxfp4", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 17, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_mxfp4_to_float, .to_int8 = qtk_mxfp4_to_int8,
     .quantize = qtk_mxfp4_quantize, .quantize_effort = qtk_mxfp4_quantize_effort, .from_float = qtk_mxfp4_from_float, .vec_dot = DOTS_ALL(mxfp4), .panel_min_cols = PANEL(12, 48, 16, 12),
     .mul_mat = MUL_MAT_AVX512(mxfp4)},

    /* ---- k-quants (256-weight super-blocks) ---- */
    [QTK_TYPE_Q2_K] = {.id = QTK_TYPE_Q2_K, .block_fallback = QTK_TYPE_IQ4_NL, .name = "q2_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 84, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_q2_K_to_float,
     .quantize = qtk_q2_K_quantize, .quantize_effort = qtk_q2_K_quantize_effort, .from_float = qtk_q2_K_from_float,
     .vec_dot = DOTS_ALL(q2_K), .panel_min_cols = PANEL(24, 64, 12, 12), .mul_mat = MUL_MAT_AVX512(q2_K)},
    [QTK_TYPE_Q3_K] = {.id = QTK_TYPE_Q3_K, .block_fallback = QTK_TYPE_IQ4_NL, .name = "q3_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 110, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_q3_K_to_float,
     .quantize = qtk_q3_K_quantize, .quantize_effort = qtk_q3_K_quantize_effort, .from_float = qtk_q3_K_from_float,
     .vec_dot = DOTS_ALL(q3_K), .panel_min_cols = PANEL(24, 96, 8, 8), .mul_mat = MUL_MAT_AVX512(q3_K)},
    [QTK_TYPE_Q4_K] = {.id = QTK_TYPE_Q4_K, .block_fallback = QTK_TYPE_Q5_0, .name = "q4_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 144, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q4_K_to_float,
     .quantize = qtk_q4_K_quantize, .quantize_effort = qtk_q4_K_quantize_effort, .from_float = qtk_q4_K_from_float,
     .vec_dot = DOTS_ALL(q4_K), .panel_min_cols = PANEL(48, 24, 8, 8), .mul_mat = MUL_MAT_X86(q4_K), .to_int8_isa = TO_INT8_AVX512(q4_K)},
    [QTK_TYPE_Q5_K] = {.id = QTK_TYPE_Q5_K, .block_fallback = QTK_TYPE_Q6_0, .name = "q5_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 176, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q5_K_to_float,
     .quantize = qtk_q5_K_quantize, .quantize_effort = qtk_q5_K_quantize_effort, .from_float = qtk_q5_K_from_float,
     .vec_dot = DOTS_ALL(q5_K), .panel_min_cols = PANEL(48, 16, 8, 8), .mul_mat = MUL_MAT_X86(q5_K), .to_int8_isa = TO_INT8_AVX512(q5_K)},
    [QTK_TYPE_Q6_K] = {.id = QTK_TYPE_Q6_K, .block_fallback = QTK_TYPE_Q8_0, .name = "q6_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 210, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q6_K_to_float,
     .quantize = qtk_q6_K_quantize, .quantize_effort = qtk_q6_K_quantize_effort, .from_float = qtk_q6_K_from_float,
     .vec_dot = DOTS_ALL(q6_K), .panel_min_cols = PANEL(48, 24, 16, 16), .mul_mat = MUL_MAT_X86(q6_K), .to_int8_isa = TO_INT8_AVX512(q6_K)},
    [QTK_TYPE_Q8_K] = {.id = QTK_TYPE_Q8_K, .name = "q8_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 296, .is_quantized = true,
     .file_type = false, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_q8_K_to_float,
     .from_float = qtk_q8_K_from_float, .from_float_isa = ACT_AVX2(q8_K), .vec_dot = NO_DOTS},
    /* qtk's per-32 activations of Q4_K/Q5_K (q8_2.c; ik's id of its Q8_2 family) */
    [QTK_TYPE_Q8_2] = {.id = QTK_TYPE_Q8_2, .name = "q8_2", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 32, .type_size = 36, .is_quantized = true,
     .file_type = false, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q8_2_to_float,
     .from_float = qtk_q8_2_from_float, .from_float_isa = ACT_AVX2(q8_2), .vec_dot = NO_DOTS},

    /* ---- mainline i-quants ---- */
    IQM_ROW(QTK_TYPE_IQ2_XXS, iq2_xxs, 66, qtk_iq2_xxs_to_int8, true, true, PANEL(8, 2, 4, 4)),
    IQM_ROW(QTK_TYPE_IQ2_XS, iq2_xs, 74, NULL, true, true, PANEL(16, 8, 8, 8)),
    IQM_ROW(QTK_TYPE_IQ3_XXS, iq3_xxs, 98, qtk_iq3_xxs_to_int8, false, false, PANEL(4, 2, 4, 4)),
    IQM_ROW(QTK_TYPE_IQ1_S, iq1_s, 50, qtk_iq1_s_to_int8, true, true, PANEL(12, 4, 8, 8)),
    IQM_ROW(QTK_TYPE_IQ3_S, iq3_s, 110, qtk_iq3_s_to_int8, false, false, PANEL(4, 2, 2, 2)),
    IQM_ROW(QTK_TYPE_IQ2_S, iq2_s, 82, NULL, false, true, PANEL(16, 8, 8, 8)),
    IQM_ROW(QTK_TYPE_IQ1_M, iq1_m, 56, NULL, false, true, PANEL(32, 8, 8, 8)),
    [QTK_TYPE_IQ4_XS] = {.id = QTK_TYPE_IQ4_XS, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq4_xs", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 136, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_xs_to_float, .to_int8 = qtk_iq4_xs_to_int8,
     .quantize = qtk_iq4_xs_quantize, .quantize_effort = qtk_iq4_xs_quantize_effort, .from_float = qtk_iq4_xs_from_float, .vec_dot = DOTS_ALL(iq4_xs), .panel_min_cols = PANEL(48, 48, 24, 16),
     .mul_mat = MUL_MAT_X86(iq4_xs)},

    /* ---- iqk: super-block scale, 16-weight sub-blocks ---- */
    [QTK_TYPE_IQ2_K] = {.id = QTK_TYPE_IQ2_K, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq2_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 76, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq2_k_to_float,
     .quantize = qtk_iq2_k_quantize, .quantize_effort = qtk_iq2_k_quantize_effort, .from_float = qtk_iq2_k_from_float,
     .vec_dot = DOTS_ALL(iq2_k), .panel_min_cols = PANEL(32, 128, 32, 24), .mul_mat = MUL_MAT_AVX512(iq2_k)},
    [QTK_TYPE_IQ3_K] = {.id = QTK_TYPE_IQ3_K, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq3_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 110, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq3_k_to_float,
     .quantize = qtk_iq3_k_quantize, .quantize_effort = qtk_iq3_k_quantize_effort, .from_float = qtk_iq3_k_from_float,
     .vec_dot = DOTS_ALL(iq3_k), .panel_min_cols = PANEL(24, 128, 24, 16), .mul_mat = MUL_MAT_AVX512(iq3_k)},
    [QTK_TYPE_IQ4_K] = {.id = QTK_TYPE_IQ4_K, .block_fallback = QTK_TYPE_Q5_0, .name = "iq4_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 144, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_k_to_float,
     .quantize = qtk_iq4_k_quantize, .quantize_effort = qtk_iq4_k_quantize_effort, .from_float = qtk_iq4_k_from_float,
     .vec_dot = DOTS_ALL(iq4_k), .panel_min_cols = PANEL(24, 128, 32, 24), .mul_mat = MUL_MAT_AVX512(iq4_k)},
    [QTK_TYPE_IQ5_K] = {.id = QTK_TYPE_IQ5_K, .block_fallback = QTK_TYPE_Q6_0, .name = "iq5_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 176, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq5_k_to_float,
     .quantize = qtk_iq5_k_quantize, .quantize_effort = qtk_iq5_k_quantize_effort, .from_float = qtk_iq5_k_from_float,
     .vec_dot = DOTS_ALL(iq5_k), .panel_min_cols = PANEL(24, 128, 24, 24), .mul_mat = MUL_MAT_AVX512(iq5_k)},
    [QTK_TYPE_IQ6_K] = {.id = QTK_TYPE_IQ6_K, .block_fallback = QTK_TYPE_Q8_0, .name = "iq6_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 212, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq6_k_to_float,
     .to_float_dot = qtk_iq6_k_to_float_table,
     .quantize = qtk_iq6_k_quantize, .quantize_effort = qtk_iq6_k_quantize_effort, .from_float = qtk_iq6_k_from_float,
     .vec_dot = DOTS_ALL(iq6_k), .panel_min_cols = PANEL(16, 96, 16, 24), .mul_mat = MUL_MAT_AVX512(iq6_k)},

    /* ---- iqk: per-row scale (row header), 32-weight sub-blocks ---- */
    [QTK_TYPE_IQ2_KS] = {.id = QTK_TYPE_IQ2_KS, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq2_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 70, .row_meta_size = 2,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq2_ks_to_float, .to_int8 = qtk_iq2_ks_to_int8,
     .quantize = qtk_iq2_ks_quantize, .quantize_effort = qtk_iq2_ks_quantize_effort, .from_float = qtk_iq2_ks_from_float,
     .vec_dot = DOTS_ALL(iq2_ks), .panel_min_cols = PANEL(48, 96, 12, 24), .mul_mat = MUL_MAT_AVX512(iq2_ks)},
    [QTK_TYPE_IQ3_KS] = {.id = QTK_TYPE_IQ3_KS, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq3_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 102, .row_meta_size = 2,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq3_ks_to_float, .to_int8 = qtk_iq3_ks_to_int8,
     .quantize = qtk_iq3_ks_quantize, .quantize_effort = qtk_iq3_ks_quantize_effort, .from_float = qtk_iq3_ks_from_float,
     .vec_dot = DOTS_ALL(iq3_ks), .panel_min_cols = PANEL(32, 96, 8, 8), .mul_mat = MUL_MAT_AVX512(iq3_ks)},
    [QTK_TYPE_IQ2_KL] = {.id = QTK_TYPE_IQ2_KL, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq2_kl", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 86, .row_meta_size = 2,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq2_kl_to_float, .to_int8 = qtk_iq2_kl_to_int8,
     .quantize = qtk_iq2_kl_quantize, .quantize_effort = qtk_iq2_kl_quantize_effort, .from_float = qtk_iq2_kl_from_float,
     .vec_dot = DOTS_ALL(iq2_kl), .panel_min_cols = PANEL(32, 96, 8, 16), .mul_mat = MUL_MAT_AVX512(iq2_kl)},
    [QTK_TYPE_IQ4_KS] = {.id = QTK_TYPE_IQ4_KS, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq4_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 136, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_ks_to_float, .to_int8 = qtk_iq4_ks_to_int8,
     .quantize = qtk_iq4_ks_quantize, .quantize_effort = qtk_iq4_ks_quantize_effort, .from_float = qtk_iq4_ks_from_float,
     .vec_dot = DOTS_ALL(iq4_ks), .panel_min_cols = PANEL(24, 48, 32, 16), .mul_mat = MUL_MAT_AVX512(iq4_ks)},
    [QTK_TYPE_IQ4_KSS] = {.id = QTK_TYPE_IQ4_KSS, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq4_kss", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 128, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_kss_to_float, .to_int8 = qtk_iq4_kss_to_int8,
     .quantize = qtk_iq4_kss_quantize, .quantize_effort = qtk_iq4_kss_quantize_effort, .from_float = qtk_iq4_kss_from_float,
     .vec_dot = DOTS_ALL(iq4_kss), .panel_min_cols = PANEL(16, 12, 32, 16), .mul_mat = MUL_MAT_AVX512(iq4_kss),
     .to_int8_isa = TO_INT8_AVX512(iq4_kss)},
    [QTK_TYPE_IQ5_KS] = {.id = QTK_TYPE_IQ5_KS, .block_fallback = QTK_TYPE_Q5_0, .name = "iq5_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 168, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq5_ks_to_float, .to_int8 = qtk_iq5_ks_to_int8,
     .quantize = qtk_iq5_ks_quantize, .quantize_effort = qtk_iq5_ks_quantize_effort, .from_float = qtk_iq5_ks_from_float,
     .vec_dot = DOTS_ALL(iq5_ks), .panel_min_cols = PANEL(24, 96, 12, 12), .mul_mat = MUL_MAT_AVX512(iq5_ks)},

    /* ---- trellis (KT) types, f32 row header ---- */
    [QTK_TYPE_IQ1_KT] = {.id = QTK_TYPE_IQ1_KT, .block_fallback = QTK_TYPE_IQ4_NL, .plan_requires_imatrix = true, .name = "iq1_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 56, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq1_kt_to_float,
     .to_float_dot = qtk_iq1_kt_to_float_dot, .to_int8 = qtk_iq1_kt_to_int8, .to_int8_isa = TO_INT8_AVX512(iq1_kt), .quantize = qtk_iq1_kt_quantize, .quantize_effort = qtk_iq1_kt_quantize_effort,
     .from_float = qtk_iq1_kt_from_float, .vec_dot = DOTS_ALL(iq1_kt), .mul_mat = MUL_MAT_X86(iq1_kt), .panel_min_cols = PANEL(16, 8, 2, 2)},
    [QTK_TYPE_IQ2_KT] = {.id = QTK_TYPE_IQ2_KT, .block_fallback = QTK_TYPE_IQ4_NL, .plan_requires_imatrix = true, .name = "iq2_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 68, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq2_kt_to_float,
     .to_float_dot = qtk_iq2_kt_to_float_dot, .to_int8 = qtk_iq2_kt_to_int8, .to_int8_isa = TO_INT8_AVX512(iq2_kt), .quantize = qtk_iq2_kt_quantize, .quantize_effort = qtk_iq2_kt_quantize_effort,
     .from_float = qtk_iq2_kt_from_float, .vec_dot = DOTS_ALL(iq2_kt), .mul_mat = MUL_MAT_X86(iq2_kt), .panel_min_cols = PANEL(24, 8, 4, 2)},
    [QTK_TYPE_IQ3_KT] = {.id = QTK_TYPE_IQ3_KT, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq3_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 100, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq3_kt_to_float,
     .to_float_dot = qtk_iq3_kt_to_float_dot, .to_int8 = qtk_iq3_kt_to_int8, .to_int8_isa = TO_INT8_AVX512(iq3_kt), .quantize = qtk_iq3_kt_quantize, .quantize_effort = qtk_iq3_kt_quantize_effort,
     .from_float = qtk_iq3_kt_from_float, .vec_dot = DOTS_ALL(iq3_kt), .mul_mat = MUL_MAT_X86(iq3_kt), .panel_min_cols = PANEL(12, 4, 4, 4)},
    [QTK_TYPE_IQ4_KT] = {.id = QTK_TYPE_IQ4_KT, .block_fallback = QTK_TYPE_IQ4_NL, .name = "iq4_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 128, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq4_kt_to_float,
     .to_float_dot = qtk_iq4_kt_to_float_dot, .to_int8 = qtk_iq4_kt_to_int8, .to_int8_isa = TO_INT8_AVX512(iq4_kt), .quantize = qtk_iq4_kt_quantize, .quantize_effort = qtk_iq4_kt_quantize_effort,
     .from_float = qtk_iq4_kt_from_float, .vec_dot = DOTS_ALL(iq4_kt), .mul_mat = MUL_MAT_X86(iq4_kt), .panel_min_cols = PANEL(12, 8, 2, 2)},

    /* ---- row-interleaved variants (FORMATS §6): recognised, refused ---- */
    INTERLEAVED(202, "q4_0_r8", QTK_TYPE_Q4_0, 8, 32, 18, 0),
    INTERLEAVED(206, "q5_0_r4", QTK_TYPE_Q5_0, 4, 32, 22, 0),
    INTERLEAVED(208, "q8_0_r8", QTK_TYPE_Q8_0, 8, 32, 34, 0),
    INTERLEAVED(210, "q2_k_r4", QTK_TYPE_Q2_K, 4, 256, 84, 0),
    INTERLEAVED(211, "q3_k_r4", QTK_TYPE_Q3_K, 4, 256, 110, 0),
    INTERLEAVED(212, "q4_k_r4", QTK_TYPE_Q4_K, 4, 256, 144, 0),
    INTERLEAVED(213, "q5_k_r4", QTK_TYPE_Q5_K, 4, 256, 176, 0),
    INTERLEAVED(214, "q6_k_r4", QTK_TYPE_Q6_K, 4, 256, 210, 0),
    INTERLEAVED(216, "iq2_xxs_r4", QTK_TYPE_IQ2_XXS, 4, 256, 66, 0),
    INTERLEAVED(217, "iq2_xs_r4", QTK_TYPE_IQ2_XS, 4, 256, 74, 0),
    INTERLEAVED(218, "iq3_xxs_r4", QTK_TYPE_IQ3_XXS, 4, 256, 98, 0),
    INTERLEAVED(220, "iq4_nl_r4", QTK_TYPE_IQ4_NL, 4, 32, 18, 0),
    INTERLEAVED(221, "iq3_s_r4", QTK_TYPE_IQ3_S, 4, 256, 110, 0),
    INTERLEAVED(222, "iq2_s_r4", QTK_TYPE_IQ2_S, 4, 256, 82, 0),
    INTERLEAVED(223, "iq4_xs_r8", QTK_TYPE_IQ4_XS, 8, 256, 136, 0),
    INTERLEAVED(230, "bf16_r16", QTK_TYPE_BF16, 16, 1, 2, 0),
    INTERLEAVED(233, "q6_0_r4", QTK_TYPE_Q6_0, 4, 32, 26, 0),
    INTERLEAVED(337, "iq2_k_r4", QTK_TYPE_IQ2_K, 4, 256, 76, 0),
    INTERLEAVED(338, "iq3_k_r4", QTK_TYPE_IQ3_K, 4, 256, 110, 0),
    INTERLEAVED(339, "iq4_k_r4", QTK_TYPE_IQ4_K, 4, 256, 144, 0),
    INTERLEAVED(340, "iq5_k_r4", QTK_TYPE_IQ5_K, 4, 256, 176, 0),
    INTERLEAVED(344, "iq4_ks_r4", QTK_TYPE_IQ4_KS, 4, 256, 136, 4),
    INTERLEAVED(352, "iq5_ks_r4", QTK_TYPE_IQ5_KS, 4, 256, 168, 4),
};

const qtk_type_traits *qtk_type_get(int t) {
    if (t < 0 || t >= QTK_TYPE_ID_LIMIT || !type_table[t].name) return NULL;
    return &type_table[t];
}

int qtk_type_count(void) {
    int n = 0;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) n += type_table[t].name != NULL;
    return n;
}

/* The i-th known type in id order. */
const qtk_type_traits *qtk_type_at(int i) {
    if (i < 0) return NULL;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++)
        if (type_table[t].name && i-- == 0) return &type_table[t];
    return NULL;
}

int qtk_type_base(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr && tr->interleaved ? (int)tr->interleave_base : t;
}

int qtk_type_interleave(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr && tr->interleaved ? tr->interleave_rows : 1;
}

int qtk_type_block_fallback(int t) {
    const qtk_type_traits *tr = qtk_type_get(qtk_type_base(t));
    return tr && tr->block_fallback != QTK_TYPE_F32 ? (int)tr->block_fallback : -1;
}

bool qtk_type_is_mainline(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr && (tr->ecosystems & QTK_ECO_LLAMA_CPP) != 0;
}

int qtk_type_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++)
        if (type_table[t].name && qtk_strcasecmp(type_table[t].name, name) == 0) return t;
    return -1;
}

const char *qtk_type_name(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr ? tr->name : "?";
}

size_t qtk_row_size(int t, int64_t n_per_row) {
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!tr || n_per_row < 0 || n_per_row % tr->block_size != 0) return 0;
    return tr->row_meta_size + (size_t)(n_per_row / tr->block_size) * tr->type_size;
}

double qtk_type_bpw(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr ? 8.0 * (double)tr->type_size / (double)tr->block_size : 0.0;
}

qtk_status qtk_dequantize_rows(int t, const void *src, float *dst, int64_t nrows, int64_t n_per_row,
                               qtk_error *err) {
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!tr) return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "unknown type id %d", t);
    if (tr->interleaved)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                             "type %s is a row-interleaved (repacked) variant, which qtk does not "
                             "decode; use the file it was repacked from",
                             tr->name);
    if (!tr->to_float)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "type %s: decoding is not implemented", tr->name);
    size_t rs = qtk_row_size(t, n_per_row);
    if (rs == 0 && n_per_row != 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "type %s: row length %lld is not a multiple of the block size %lld",
                             tr->name, (long long)n_per_row, (long long)tr->block_size);
    const uint8_t *p = (const uint8_t *)src;
    for (int64_t r = 0; r < nrows; r++) tr->to_float(p + (size_t)r * rs, dst + r * n_per_row, n_per_row);
    return QTK_OK;
}

const char *qtk_effort_name(int effort) {
    switch (effort) {
    case QTK_EFFORT_FAST: return "fast";
    case QTK_EFFORT_DEFAULT: return "default";
    case QTK_EFFORT_MAX: return "max";
    default: return NULL;
    }
}

int qtk_effort_from_name(const char *name) {
    for (int e = 0; e <= QTK_EFFORT_MAX; e++)
        if (name && strcmp(name, qtk_effort_name(e)) == 0) return e;
    return -1;
}

qtk_status qtk_quantize_rows(int t, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                             const float *imatrix, qtk_error *err) {
    return qtk_quantize_rows_effort(t, src, dst, nrows, n_per_row, imatrix, QTK_EFFORT_DEFAULT, err);
}

qtk_status qtk_quantize_rows_effort(int t, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                                    const float *imatrix, int effort, qtk_error *err) {
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!qtk_effort_name(effort)) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "unknown effort level %d", effort);
    if (!tr) return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "unknown type id %d", t);
    if (!tr->quantize || tr->interleaved || !tr->file_type)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "type %s: quantization is not implemented", tr->name);
    if (qtk_row_size(t, n_per_row) == 0 || n_per_row == 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "type %s: row length %lld is not a positive multiple of the block size %lld",
                             tr->name, (long long)n_per_row, (long long)tr->block_size);
    if (tr->requires_imatrix && !imatrix)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "type %s requires an importance matrix (--imatrix)", tr->name);
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * n_per_row;
        for (int64_t j = 0; j < n_per_row; j++)
            if (!isfinite(x[j]))
                return qtk_set_error(err, QTK_ERR_NUMERIC, "row %lld, column %lld: value is %s",
                                     (long long)r, (long long)j, isnan(x[j]) ? "NaN" : "infinite");
    }
    if (imatrix)
        for (int64_t j = 0; j < n_per_row; j++)
            if (!isfinite(imatrix[j]) || imatrix[j] < 0)
                return qtk_set_error(err, QTK_ERR_NUMERIC,
                                     "importance weight of column %lld is %g (must be finite and >= 0)",
                                     (long long)j, (double)imatrix[j]);
    size_t want = qtk_row_size(t, n_per_row) * (size_t)nrows;
    size_t got = tr->quantize_effort ? tr->quantize_effort(src, dst, nrows, n_per_row, imatrix, effort)
                                     : tr->quantize(src, dst, nrows, n_per_row, imatrix);
    if (got != want)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "type %s: quantizer wrote %llu bytes, expected %llu",
                             tr->name, (unsigned long long)got, (unsigned long long)want);
    return QTK_OK;
}

/* Kernel dispatch lives with the table: core only answers "which ISA level of this
   mask may run" (qtk_isa_pick) and never looks at the traits. */
/* The ISA level whose vec_dot kernel the dispatcher picks for traits tr. */
static int best_level(const qtk_type_traits *tr) {
    unsigned mask = 0;
    for (int isa = 0; isa < QTK_ISA_COUNT; isa++)
        if (tr->vec_dot[isa]) mask |= 1u << isa;
    return qtk_isa_pick(mask);
}

qtk_mul_mat_fn qtk_mul_mat_best(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!tr) return NULL;
    int isa = best_level(tr);
    return isa >= 0 ? tr->mul_mat[isa] : NULL;
}

int qtk_kernel_isa(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr ? best_level(tr) : -1;
}

qtk_from_float_fn qtk_from_float_best(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!tr) return NULL;
    unsigned mask = 1u << QTK_ISA_SCALAR;
    for (int isa = 0; isa < QTK_ISA_COUNT; isa++)
        if (tr->from_float_isa[isa]) mask |= 1u << isa;
    const int isa = qtk_isa_pick(mask);
    return isa >= 0 && tr->from_float_isa[isa] ? tr->from_float_isa[isa] : tr->from_float;
}

qtk_vec_dot_fn qtk_vec_dot_best(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!tr) return NULL;
    int isa = best_level(tr);
    return isa >= 0 ? tr->vec_dot[isa] : NULL;
}
