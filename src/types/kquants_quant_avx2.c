/*
 * kquants_quant_avx2.c — kquants.c compiled a second time with AVX2 + FMA code
 * generation, for its quantizers (issue #17): their searches are written as plain
 * loops the compiler vectorises, 4 floats wide at the x86-64 baseline, 8 here
 * (Q3_K and Q6_K quantize ~30 % faster, Q2_K/Q4_K/Q5_K ~5 %). The same C in the same
 * order, without contraction into FMA (ISO C mode: -ffp-contract=off for gcc; kquants.c
 * turns FP_CONTRACT off for clang; MSVC does not contract under /fp:precise), so every
 * float is the baseline's and the bytes do not depend on the ISA (test_effort compares
 * them with qtk_set_max_isa(scalar)). kquants.c's qtk_qN_K_quantize_effort calls the
 * copies below when AVX2 is available and allowed. Every external name of kquants.c
 * gets the suffix _qavx2 in this copy so the two do not collide; only the
 * quantize_effort entries are called from outside (kquants.h).
 */
#define KQ_AVX2_COPY 1
#define qtk_q2_K_from_float qtk_q2_K_from_float_qavx2
#define qtk_q2_K_quantize qtk_q2_K_quantize_qavx2
#define qtk_q2_K_quantize_effort qtk_q2_K_quantize_effort_qavx2
#define qtk_q2_K_to_float qtk_q2_K_to_float_qavx2
#define qtk_q2_K_vec_dot_scalar qtk_q2_K_vec_dot_scalar_qavx2
#define qtk_q3_K_from_float qtk_q3_K_from_float_qavx2
#define qtk_q3_K_quantize qtk_q3_K_quantize_qavx2
#define qtk_q3_K_quantize_effort qtk_q3_K_quantize_effort_qavx2
#define qtk_q3_K_to_float qtk_q3_K_to_float_qavx2
#define qtk_q3_K_vec_dot_scalar qtk_q3_K_vec_dot_scalar_qavx2
#define qtk_q4_K_from_float qtk_q4_K_from_float_qavx2
#define qtk_q4_K_quantize qtk_q4_K_quantize_qavx2
#define qtk_q4_K_quantize_effort qtk_q4_K_quantize_effort_qavx2
#define qtk_q4_K_to_float qtk_q4_K_to_float_qavx2
#define qtk_q4_K_vec_dot_scalar qtk_q4_K_vec_dot_scalar_qavx2
#define qtk_q5_K_from_float qtk_q5_K_from_float_qavx2
#define qtk_q5_K_quantize qtk_q5_K_quantize_qavx2
#define qtk_q5_K_quantize_effort qtk_q5_K_quantize_effort_qavx2
#define qtk_q5_K_to_float qtk_q5_K_to_float_qavx2
#define qtk_q5_K_vec_dot_scalar qtk_q5_K_vec_dot_scalar_qavx2
#define qtk_q6_K_from_float qtk_q6_K_from_float_qavx2
#define qtk_q6_K_quantize qtk_q6_K_quantize_qavx2
#define qtk_q6_K_quantize_effort qtk_q6_K_quantize_effort_qavx2
#define qtk_q6_K_to_float qtk_q6_K_to_float_qavx2
#define qtk_q6_K_vec_dot_scalar qtk_q6_K_vec_dot_scalar_qavx2
#include "kquants.c"
