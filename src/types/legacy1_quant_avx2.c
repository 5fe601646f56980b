/*
 * legacy1_quant_avx2.c — legacy1_quant.c compiled a second time with AVX2 + FMA code
 * generation (issue #17), as kquants_quant_avx2.c does for the K-quants: the Q4_1/Q5_1
 * default search and the MXFP4 code scan are plain loops over 8-lane arrays the
 * compiler vectorises, 4 floats wide at the x86-64 baseline, 8 here. Same C, same
 * order, no contraction into FMA (ISO C mode: -ffp-contract=off for gcc; the file
 * turns FP_CONTRACT off for clang; MSVC does not contract under /fp:precise), so the
 * bytes do not depend on the ISA (test_effort compares them with
 * qtk_set_max_isa(scalar)). Every external name gets the suffix _qavx2; only the
 * quantize entries are called from outside (legacy1.h).
 */
#define L1_AVX2_COPY 1
#define qtk_q4_1_quantize qtk_q4_1_quantize_qavx2
#define qtk_q4_1_quantize_effort qtk_q4_1_quantize_effort_qavx2
#define qtk_q4_1_from_float qtk_q4_1_from_float_qavx2
#define qtk_q5_1_quantize qtk_q5_1_quantize_qavx2
#define qtk_q5_1_quantize_effort qtk_q5_1_quantize_effort_qavx2
#define qtk_q5_1_from_float qtk_q5_1_from_float_qavx2
#define qtk_mxfp4_quantize qtk_mxfp4_quantize_qavx2
#define qtk_mxfp4_quantize_effort qtk_mxfp4_quantize_effort_qavx2
#define qtk_mxfp4_from_float qtk_mxfp4_from_float_qavx2
#include "legacy1_quant.c"
