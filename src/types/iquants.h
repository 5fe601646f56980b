/* iquants.h — kernels of IQ4_NL, IQ4_XS (iquants.c + iquants_<isa>.c). */
#ifndef QTK_IQUANTS_H
#define QTK_IQUANTS_H

#include "types_internal.h"

#endif
