/* iquants_neon.c compiled with the dot-product extension: QTK_ISA_NEON_DOT (neon_level.h). */
#define QTK_NEON_DOT_BUILD
#include "iquants_neon.c"
