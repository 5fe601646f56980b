/* kquants.h — kernels of Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (kquants.c + kquants_<isa>.c). */
#ifndef QTK_KQUANTS_H
#define QTK_KQUANTS_H

#include "types_internal.h"

#endif
