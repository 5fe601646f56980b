/* iqk.h — kernels of IQ2_K, IQ3_K, IQ4_K, IQ5_K, IQ6_K (iqk.c + iqk_<isa>.c). */
#ifndef QTK_IQK_H
#define QTK_IQK_H

#include "types_internal.h"

#endif
