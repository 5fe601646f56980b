/*
 * weight_swap.h — replaces the data of one weight tensor of a loaded model in
 * memory, for the KLD probes of the planner (issue #15, PLANNER.md §4.3 stage
 * C: one tensor quantized, everything else as in the file). Not public.
 */
#ifndef QTK_WEIGHT_SWAP_H
#define QTK_WEIGHT_SWAP_H

#include "core/qtk_internal.h"

/* Points every matrix view of the tensor `name` (dense weight, each expert of
 * a 3-D tensor, the output matrix when embeddings are tied) at `data` of type
 * `type` (the whole tensor in file layout, kept alive by the caller while the
 * model uses it) and re-binds the kernels. data NULL restores the file's
 * tensor. Fails with QTK_ERR_NOT_FOUND when no matrix of the model has that
 * name (e.g. a norm), QTK_ERR_UNSUPPORTED when the engine has no kernel for
 * the type; on failure every view keeps (or gets back) the file's data. */
qtk_status qtk_model_swap_tensor(qtk_model *m, const char *name, int type, const void *data, qtk_error *err);

#endif
