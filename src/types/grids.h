/*
 * grids.h — the non-linear value grids shared by the IQ4_NL/IQ4_XS and iqk
 * families (FORMATS.md §0.3). Each iqk grid is a base table followed by its
 * shifted table, selected per sub-block by a flag bit.
 */
#ifndef QTK_GRIDS_H
#define QTK_GRIDS_H

#include <stdint.h>

extern const int8_t qtk_iq4nl_values[32];   /* [0..15] base (kvalues_iq4nl), [16..31] = base + 4 */
extern const int8_t qtk_iq2nl_values[8];    /* [0..3] base, [4..7] shifted */
extern const int8_t qtk_iq3nl_values[16];   /* [0..7] base, [8..15] shifted */
extern const int8_t qtk_iq5nl_values[64];   /* [0..31] base, [32..63] = base + 2 */
extern const int8_t qtk_iq6nl_values[128];  /* [0..63] base, [64..127] = base + 1 */
extern const int8_t qtk_iq2kl_grid[32][2];  /* IQ2_KL pair grid: (first, second) */

#endif
