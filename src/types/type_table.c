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

#include <math.h>
#include <stdlib.h>

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

/* Dot kernels of a type `t` implemented for every ISA level. */
#define DOTS_ALL(t) {qtk_##t##_vec_dot_scalar, AVX2(qtk_##t##_vec_dot_avx2), \
                     AVX512(qtk_##t##_vec_dot_avx512), NEON(qtk_##t##_vec_dot_neon)}
#define NO_DOTS {NULL, NULL, NULL, NULL}
/* Multi-column kernels where a level has one (the engine tiles vec_dot elsewhere). */
#define MUL_MAT_AVX512(t) {NULL, NULL, AVX512(qtk_##t##_mul_mat_avx512), NULL}
#define MUL_MAT_X86(t) {NULL, AVX2(qtk_##t##_mul_mat_avx2), AVX512(qtk_##t##_mul_mat_avx512), NULL}
/* F32/F16/BF16 rows (float_dot*.c): scalar + AVX2; wider ISAs fall back to AVX2. */
#define FLOAT_DOTS(t) {qtk_##t##_vec_dot_scalar, AVX2(qtk_##t##_vec_dot_avx2), NULL, NULL}

/* Geometry-only rows: known ids whose data qtk can size and skip (all mainline ids). */
#define GEOM(ID, NAME, BLK, SIZE, META, Q)                                           \
    {.id = ID, .name = NAME, .block_size = BLK, .type_size = SIZE, .row_meta_size = META, \
     .is_quantized = Q, .file_type = true, .ecosystems = QTK_ECO_BOTH, .vec_dot_type = ID,   \
     .vec_dot = NO_DOTS}
/* Interleaved (repacked) variants: sized like their base type, refused on use. */
#define INTERLEAVED(ID, NAME, BLK, SIZE, META)                                        \
    {.id = ID, .name = NAME, .block_size = BLK, .type_size = SIZE, .row_meta_size = META, \
     .is_quantized = true, .file_type = true, .interleaved = true,                        \
     .ecosystems = QTK_ECO_IK_LLAMA, .vec_dot_type = ID,                                  \
     .vec_dot = NO_DOTS}

/* Mainline lattice i-quants (iq_mainline*.c): Q8_K activations, to_int8 where exact per 32. */
#define IQM_ROW(ID, t, SIZE, INT8, QUANT, REQ)                                                        \
    {.id = ID, .name = #t, .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = SIZE,               \
     .is_quantized = true, .file_type = true, .requires_imatrix = REQ, .vec_dot_type = QTK_TYPE_Q8_K,      \
     .to_float = qtk_##t##_to_float, .to_int8 = INT8, .quantize = QUANT, .vec_dot = DOTS_ALL(t)}

static const qtk_type_traits type_table[] = {
    /* ---- float and integer types ---- */
    {.id = QTK_TYPE_F32, .name = "f32", .ecosystems = QTK_ECO_BOTH, .block_size = 1, .type_size = 4, .file_type = true,
     .vec_dot_type = QTK_TYPE_F32, .to_float = qtk_f32_to_float, .quantize = qtk_f32_quantize,
     .from_float = qtk_f32_from_float, .vec_dot = FLOAT_DOTS(f32)},
    {.id = QTK_TYPE_F16, .name = "f16", .ecosystems = QTK_ECO_BOTH, .block_size = 1, .type_size = 2, .file_type = true,
     .vec_dot_type = QTK_TYPE_F16, .to_float = qtk_f16_to_float, .quantize = qtk_f16_quantize,
     .from_float = qtk_f16_from_float, .vec_dot = FLOAT_DOTS(f16)},
    {.id = QTK_TYPE_BF16, .name = "bf16", .ecosystems = QTK_ECO_BOTH, .block_size = 1, .type_size = 2, .file_type = true,
     .vec_dot_type = QTK_TYPE_BF16, .to_float = qtk_bf16_to_float, .quantize = qtk_bf16_quantize,
     .from_float = qtk_bf16_from_float, .vec_dot = FLOAT_DOTS(bf16)},
    GEOM(QTK_TYPE_I8, "i8", 1, 1, 0, false),
    GEOM(QTK_TYPE_I16, "i16", 1, 2, 0, false),
    GEOM(QTK_TYPE_I32, "i32", 1, 4, 0, false),
    GEOM(QTK_TYPE_I64, "i64", 1, 8, 0, false),
    GEOM(QTK_TYPE_F64, "f64", 1, 8, 0, false),

    /* ---- legacy 32-weight blocks ---- */
    {.id = QTK_TYPE_Q4_0, .name = "q4_0", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 18, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q4_0_to_float, .to_int8 = qtk_q4_0_to_int8,
     .quantize = qtk_q4_0_quantize, .from_float = qtk_q4_0_from_float,
     .vec_dot = DOTS_ALL(q4_0), .mul_mat = MUL_MAT_X86(q4_0)},
    {.id = QTK_TYPE_Q4_1, .name = "q4_1", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 20, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q4_1_to_float,
     .quantize = qtk_q4_1_quantize, .from_float = qtk_q4_1_from_float, .vec_dot = DOTS_ALL(q4_1)},
    {.id = QTK_TYPE_Q5_0, .name = "q5_0", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 22, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q5_0_to_float, .to_int8 = qtk_q5_0_to_int8,
     .quantize = qtk_q5_0_quantize, .from_float = qtk_q5_0_from_float,
     .vec_dot = DOTS_ALL(q5_0), .mul_mat = MUL_MAT_X86(q5_0)},
    {.id = QTK_TYPE_Q5_1, .name = "q5_1", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 24, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q5_1_to_float,
     .quantize = qtk_q5_1_quantize, .from_float = qtk_q5_1_from_float, .vec_dot = DOTS_ALL(q5_1)},
    {.id = QTK_TYPE_Q6_0, .name = "q6_0", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 32, .type_size = 26, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q6_0_to_float, .to_int8 = qtk_q6_0_to_int8,
     .quantize = qtk_q6_0_quantize, .from_float = qtk_q6_0_from_float,
     .vec_dot = DOTS_ALL(q6_0), .mul_mat = MUL_MAT_X86(q6_0)},
    {.id = QTK_TYPE_Q8_0, .name = "q8_0", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 34, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q8_0_to_float, .to_int8 = qtk_q8_0_to_int8,
     .quantize = qtk_q8_0_quantize, .from_float = qtk_q8_0_from_float,
     .vec_dot = DOTS_ALL(q8_0), .mul_mat = MUL_MAT_X86(q8_0)},
    GEOM(QTK_TYPE_Q8_1, "q8_1", 32, 36, 0, true),
    {.id = QTK_TYPE_IQ4_NL, .name = "iq4_nl", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 18, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq4_nl_to_float, .to_int8 = qtk_iq4_nl_to_int8,
     .quantize = qtk_iq4_nl_quantize, .from_float = qtk_iq4_nl_from_float, .vec_dot = DOTS_ALL(iq4_nl)},

    /* ---- microscaling: E8M0 exponent + E2M1 codes per 32 (legacy1.c) ---- */
    {.id = QTK_TYPE_MXFP4, .name = "mxfp4", .ecosystems = QTK_ECO_BOTH, .block_size = 32, .type_size = 17, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_mxfp4_to_float, .to_int8 = qtk_mxfp4_to_int8,
     .quantize = qtk_mxfp4_quantize, .from_float = qtk_mxfp4_from_float, .vec_dot = DOTS_ALL(mxfp4)},

    /* ---- k-quants (256-weight super-blocks) ---- */
    {.id = QTK_TYPE_Q2_K, .name = "q2_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 84, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_q2_K_to_float,
     .quantize = qtk_q2_K_quantize, .from_float = qtk_q2_K_from_float,
     .vec_dot = DOTS_ALL(q2_K)},
    {.id = QTK_TYPE_Q3_K, .name = "q3_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 110, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_q3_K_to_float,
     .quantize = qtk_q3_K_quantize, .from_float = qtk_q3_K_from_float,
     .vec_dot = DOTS_ALL(q3_K)},
    {.id = QTK_TYPE_Q4_K, .name = "q4_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 144, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q4_K_to_float,
     .quantize = qtk_q4_K_quantize, .from_float = qtk_q4_K_from_float,
     .vec_dot = DOTS_ALL(q4_K), .mul_mat = MUL_MAT_AVX512(q4_K)},
    {.id = QTK_TYPE_Q5_K, .name = "q5_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 176, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q5_K_to_float,
     .quantize = qtk_q5_K_quantize, .from_float = qtk_q5_K_from_float,
     .vec_dot = DOTS_ALL(q5_K), .mul_mat = MUL_MAT_AVX512(q5_K)},
    {.id = QTK_TYPE_Q6_K, .name = "q6_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 210, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_q6_K_to_float,
     .quantize = qtk_q6_K_quantize, .from_float = qtk_q6_K_from_float,
     .vec_dot = DOTS_ALL(q6_K), .mul_mat = MUL_MAT_AVX512(q6_K)},
    {.id = QTK_TYPE_Q8_K, .name = "q8_K", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 296, .is_quantized = true,
     .file_type = false, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_q8_K_to_float,
     .from_float = qtk_q8_K_from_float, .vec_dot = NO_DOTS},
    /* qtk's per-32 activations of Q4_K/Q5_K (q8_2.c; ik's id of its Q8_2 family) */
    {.id = QTK_TYPE_Q8_2, .name = "q8_2", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 32, .type_size = 36, .is_quantized = true,
     .file_type = false, .vec_dot_type = QTK_TYPE_Q8_2, .to_float = qtk_q8_2_to_float,
     .from_float = qtk_q8_2_from_float, .vec_dot = NO_DOTS},

    /* ---- mainline i-quants ---- */
    IQM_ROW(QTK_TYPE_IQ2_XXS, iq2_xxs, 66, qtk_iq2_xxs_to_int8, qtk_iq2_xxs_quantize, true),
    IQM_ROW(QTK_TYPE_IQ2_XS, iq2_xs, 74, NULL, qtk_iq2_xs_quantize, true),
    IQM_ROW(QTK_TYPE_IQ3_XXS, iq3_xxs, 98, qtk_iq3_xxs_to_int8, qtk_iq3_xxs_quantize, false),
    IQM_ROW(QTK_TYPE_IQ1_S, iq1_s, 50, qtk_iq1_s_to_int8, qtk_iq1_s_quantize, true),
    IQM_ROW(QTK_TYPE_IQ3_S, iq3_s, 110, qtk_iq3_s_to_int8, qtk_iq3_s_quantize, false),
    IQM_ROW(QTK_TYPE_IQ2_S, iq2_s, 82, NULL, qtk_iq2_s_quantize, false),
    IQM_ROW(QTK_TYPE_IQ1_M, iq1_m, 56, NULL, qtk_iq1_m_quantize, false),
    {.id = QTK_TYPE_IQ4_XS, .name = "iq4_xs", .ecosystems = QTK_ECO_BOTH, .block_size = 256, .type_size = 136, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_xs_to_float,
     .quantize = qtk_iq4_xs_quantize, .from_float = qtk_iq4_xs_from_float, .vec_dot = DOTS_ALL(iq4_xs)},

    /* ---- iqk: super-block scale, 16-weight sub-blocks ---- */
    {.id = QTK_TYPE_IQ2_K, .name = "iq2_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 76, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq2_k_to_float,
     .quantize = qtk_iq2_k_quantize, .from_float = qtk_iq2_k_from_float,
     .vec_dot = DOTS_ALL(iq2_k)},
    {.id = QTK_TYPE_IQ3_K, .name = "iq3_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 110, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq3_k_to_float,
     .quantize = qtk_iq3_k_quantize, .from_float = qtk_iq3_k_from_float,
     .vec_dot = DOTS_ALL(iq3_k)},
    {.id = QTK_TYPE_IQ4_K, .name = "iq4_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 144, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_k_to_float,
     .quantize = qtk_iq4_k_quantize, .from_float = qtk_iq4_k_from_float,
     .vec_dot = DOTS_ALL(iq4_k)},
    {.id = QTK_TYPE_IQ5_K, .name = "iq5_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 176, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq5_k_to_float,
     .quantize = qtk_iq5_k_quantize, .from_float = qtk_iq5_k_from_float,
     .vec_dot = DOTS_ALL(iq5_k)},
    {.id = QTK_TYPE_IQ6_K, .name = "iq6_k", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 212, .is_quantized = true,
     .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq6_k_to_float,
     .to_float_dot = qtk_iq6_k_to_float_table,
     .quantize = qtk_iq6_k_quantize, .from_float = qtk_iq6_k_from_float,
     .vec_dot = DOTS_ALL(iq6_k)},

    /* ---- iqk: per-row scale (row header), 32-weight sub-blocks ---- */
    {.id = QTK_TYPE_IQ2_KS, .name = "iq2_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 70, .row_meta_size = 2,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq2_ks_to_float,
     .quantize = qtk_iq2_ks_quantize, .from_float = qtk_iq2_ks_from_float,
     .vec_dot = DOTS_ALL(iq2_ks)},
    {.id = QTK_TYPE_IQ3_KS, .name = "iq3_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 102, .row_meta_size = 2,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq3_ks_to_float,
     .quantize = qtk_iq3_ks_quantize, .from_float = qtk_iq3_ks_from_float,
     .vec_dot = DOTS_ALL(iq3_ks)},
    {.id = QTK_TYPE_IQ2_KL, .name = "iq2_kl", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 86, .row_meta_size = 2,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq2_kl_to_float,
     .quantize = qtk_iq2_kl_quantize, .from_float = qtk_iq2_kl_from_float,
     .vec_dot = DOTS_ALL(iq2_kl)},
    {.id = QTK_TYPE_IQ4_KS, .name = "iq4_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 136, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_ks_to_float,
     .quantize = qtk_iq4_ks_quantize, .from_float = qtk_iq4_ks_from_float,
     .vec_dot = DOTS_ALL(iq4_ks)},
    {.id = QTK_TYPE_IQ4_KSS, .name = "iq4_kss", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 128, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq4_kss_to_float,
     .quantize = qtk_iq4_kss_quantize, .from_float = qtk_iq4_kss_from_float,
     .vec_dot = DOTS_ALL(iq4_kss), .mul_mat = MUL_MAT_AVX512(iq4_kss)},
    {.id = QTK_TYPE_IQ5_KS, .name = "iq5_ks", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 168, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_K, .to_float = qtk_iq5_ks_to_float,
     .quantize = qtk_iq5_ks_quantize, .from_float = qtk_iq5_ks_from_float,
     .vec_dot = DOTS_ALL(iq5_ks)},

    /* ---- trellis (KT) types, f32 row header ---- */
    {.id = QTK_TYPE_IQ1_KT, .name = "iq1_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 56, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq1_kt_to_float,
     .to_float_dot = qtk_iq1_kt_to_float_dot, .to_int8 = qtk_iq1_kt_to_int8, .quantize = qtk_iq1_kt_quantize,
     .from_float = qtk_iq1_kt_from_float, .vec_dot = DOTS_ALL(iq1_kt)},
    {.id = QTK_TYPE_IQ2_KT, .name = "iq2_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 68, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq2_kt_to_float,
     .to_float_dot = qtk_iq2_kt_to_float_dot, .to_int8 = qtk_iq2_kt_to_int8, .quantize = qtk_iq2_kt_quantize,
     .from_float = qtk_iq2_kt_from_float, .vec_dot = DOTS_ALL(iq2_kt)},
    {.id = QTK_TYPE_IQ3_KT, .name = "iq3_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 100, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq3_kt_to_float,
     .to_float_dot = qtk_iq3_kt_to_float_dot, .to_int8 = qtk_iq3_kt_to_int8, .quantize = qtk_iq3_kt_quantize,
     .from_float = qtk_iq3_kt_from_float, .vec_dot = DOTS_ALL(iq3_kt)},
    {.id = QTK_TYPE_IQ4_KT, .name = "iq4_kt", .ecosystems = QTK_ECO_IK_LLAMA, .block_size = 256, .type_size = 128, .row_meta_size = 4,
     .is_quantized = true, .file_type = true, .vec_dot_type = QTK_TYPE_Q8_0, .to_float = qtk_iq4_kt_to_float,
     .to_float_dot = qtk_iq4_kt_to_float_dot, .to_int8 = qtk_iq4_kt_to_int8, .quantize = qtk_iq4_kt_quantize,
     .from_float = qtk_iq4_kt_from_float, .vec_dot = DOTS_ALL(iq4_kt)},

    /* ---- row-interleaved variants (FORMATS §6): recognised, refused ---- */
    INTERLEAVED(202, "q4_0_r8", 32, 18, 0),
    INTERLEAVED(206, "q5_0_r4", 32, 22, 0),
    INTERLEAVED(208, "q8_0_r8", 32, 34, 0),
    INTERLEAVED(210, "q2_k_r4", 256, 84, 0),
    INTERLEAVED(211, "q3_k_r4", 256, 110, 0),
    INTERLEAVED(212, "q4_k_r4", 256, 144, 0),
    INTERLEAVED(213, "q5_k_r4", 256, 176, 0),
    INTERLEAVED(214, "q6_k_r4", 256, 210, 0),
    INTERLEAVED(216, "iq2_xxs_r4", 256, 66, 0),
    INTERLEAVED(217, "iq2_xs_r4", 256, 74, 0),
    INTERLEAVED(218, "iq3_xxs_r4", 256, 98, 0),
    INTERLEAVED(220, "iq4_nl_r4", 32, 18, 0),
    INTERLEAVED(221, "iq3_s_r4", 256, 110, 0),
    INTERLEAVED(222, "iq2_s_r4", 256, 82, 0),
    INTERLEAVED(223, "iq4_xs_r8", 256, 136, 0),
    INTERLEAVED(230, "bf16_r16", 1, 2, 0),
    INTERLEAVED(233, "q6_0_r4", 32, 26, 0),
    INTERLEAVED(337, "iq2_k_r4", 256, 76, 0),
    INTERLEAVED(338, "iq3_k_r4", 256, 110, 0),
    INTERLEAVED(339, "iq4_k_r4", 256, 144, 0),
    INTERLEAVED(340, "iq5_k_r4", 256, 176, 0),
    INTERLEAVED(344, "iq4_ks_r4", 256, 136, 4),
    INTERLEAVED(352, "iq5_ks_r4", 256, 168, 4),
};

#define N_TYPES ((int)(sizeof type_table / sizeof type_table[0]))

static const qtk_type_traits *by_id[QTK_TYPE_ID_LIMIT];
static qtk_once by_id_once = QTK_ONCE_INIT;

static void build_index(void) {
    for (int i = 0; i < N_TYPES; i++) by_id[type_table[i].id] = &type_table[i];
}

const qtk_type_traits *qtk_type_get(int t) {
    if (t < 0 || t >= QTK_TYPE_ID_LIMIT) return NULL;
    /* Synchronised one-time build: a plain "ready" flag would be a data race. */
    qtk_call_once(&by_id_once, build_index);
    return by_id[t];
}

int qtk_type_count(void) { return N_TYPES; }

const qtk_type_traits *qtk_type_at(int i) { return (i >= 0 && i < N_TYPES) ? &type_table[i] : NULL; }

int qtk_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_TYPES; i++)
        if (qtk_strcasecmp(type_table[i].name, name) == 0) return (int)type_table[i].id;
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

qtk_status qtk_quantize_rows(int t, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                             const float *imatrix, qtk_error *err) {
    const qtk_type_traits *tr = qtk_type_get(t);
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
    size_t got = tr->quantize(src, dst, nrows, n_per_row, imatrix);
    if (got != want)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "type %s: quantizer wrote %llu bytes, expected %llu",
                             tr->name, (unsigned long long)got, (unsigned long long)want);
    return QTK_OK;
}
