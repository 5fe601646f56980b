/*
 * iq_mainline_avx512.c — the AVX-512 level of the mainline i-quants' dot
 * products (× Q8_K). On CPUs with VBMI every type goes to
 * iq_mainline_avx512vbmi.c (grid lookups as register permutes); on those
 * without it (Skylake-X, Cascade Lake) to the AVX2 kernels, whose word
 * kernels load the grid entries straight into vector registers (and which
 * time gathers against them at first use): on Zen 4 1.3–2.3× the octet-word
 * AVX-512 kernel this file had (signed words built in general registers,
 * then vpdpbusd), which was therefore removed.
 */
#include "iq_mainline.h"

#define IQM_VBMI_DISPATCH(t, BYTES, DBITS, WORD, MUL16, F)                                         \
    void qtk_##t##_vec_dot_avx512(int64_t n, float *s, const void *vx, const void *vy) {           \
        if (qtk_cpu()->avx512vbmi)                                                                 \
            qtk_##t##_vec_dot_avx512vbmi(n, s, vx, vy);                                            \
        else                                                                                       \
            qtk_##t##_vec_dot_avx2(n, s, vx, vy);                                                  \
    }

IQM_TYPES(IQM_VBMI_DISPATCH)
