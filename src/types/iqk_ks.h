/* iqk_ks.h — kernels of IQ2_KS, IQ3_KS, IQ4_KS, IQ5_KS, IQ4_KSS, IQ2_KL (iqk_ks.c + iqk_ks_<isa>.c). */
#ifndef QTK_IQK_KS_H
#define QTK_IQK_KS_H

#include "types_internal.h"

#endif
