/*
 * iq_grids.h — lookup tables of the mainline i-quants (FORMATS-MAINLINE-IQ
 * §0.3), defined in the generated iq_grids.c (scripts/gen_iq_grids.py).
 * Byte k of an entry (bits 8k..8k+7) is weight k of its group.
 */
#ifndef QTK_IQ_GRIDS_H
#define QTK_IQ_GRIDS_H

#include <stdint.h>

extern const uint64_t qtk_iq2xxs_grid[256];  /* magnitudes 8, 25, 43 of 8 weights */
extern const uint64_t qtk_iq2xs_grid[512];
extern const uint64_t qtk_iq2s_grid[1024];
extern const uint32_t qtk_iq3xxs_grid[256];  /* magnitudes 4 … 62 of 4 weights */
extern const uint32_t qtk_iq3s_grid[512];    /* magnitudes 1 … 15 of 4 weights */
extern const uint64_t qtk_iq1s_grid[2048];   /* signed bytes −1, 0, +1 of 8 weights */
extern const uint8_t qtk_ksigns_iq2xs[128];  /* i | parity(i) << 7 */
extern const uint64_t qtk_iq2_signs64[128];  /* ksigns entry i as bytes 0xFF (negative) / 0x00 */
extern const uint64_t qtk_sign_bytes64[256]; /* bit j of i set -> byte j = 0xFF, else 0x00 */

#endif
