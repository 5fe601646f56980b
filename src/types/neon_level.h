/*
 * neon_level.h — which of the two AArch64 levels a NEON dot-kernel file is
 * being compiled for. Each `<family>_neon.c` holding dot kernels compiles
 * twice: as itself for QTK_ISA_NEON (Armv8.0 Advanced SIMD: 8x8->16-bit
 * vmull_s8 products and pairwise adds), and through `<family>_neondot.c`,
 * built with -march=armv8.2-a+dotprod, for QTK_ISA_NEON_DOT (sdot). The
 * kernels choose between the two forms with `#if __ARM_FEATURE_DOTPROD`;
 * which level runs is decided at run time (qtk_cpu()->neon_dotprod), so one
 * binary uses sdot where the CPU has it and still runs where it does not.
 *
 * NEON_FN(name) gives a file's external names its build's suffix:
 * name_neon or name_neondot (declared side by side in the family headers).
 */
#ifndef QTK_NEON_LEVEL_H
#define QTK_NEON_LEVEL_H

#ifdef QTK_NEON_DOT_BUILD
#if !defined(__ARM_FEATURE_DOTPROD)
#error "the _neondot.c files need the dot-product extension (-march=armv8.2-a+dotprod)"
#endif
#define NEON_FN(name) name##_neondot
#else
#define NEON_FN(name) name##_neon
#endif

#endif
