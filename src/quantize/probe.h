/*
 * probe.h — stage C of the planner's cost (PLANNER.md §4.3): KLD probes
 * through qtk's own engine calibrate the error-to-cost scale α of every
 * tensor (docs/planner.md, "KLD probes"). qtk_measure_probe (qtk.h) runs
 * them; the pieces below are separate so tests can check them without a
 * model. Library code: never prints.
 */
#ifndef QTK_PROBE_H
#define QTK_PROBE_H

#include "quantize/measure_table.h"

/* The candidate of t the α probe uses: the one of type probe_type, else the
 * smallest (index 0). -1 for a pinned tensor (never probed). */
int qtk_probe_cand_for(const qtk_measure_tensor *t, int probe_type);

/* Which tensors of tab get probes: per class, every tensor when the class
 * has at most n_layers tensors (or n_layers <= 0), else n_layers of them
 * spread over depth: positions round(k·(N−1)/(n_layers−1)) of the class's
 * tensors in layer order, k = 0..n_layers−1 (first and last included).
 * Pinned tensors never. sel[i] is set for table tensor i. */
void qtk_probe_select(const qtk_measure_table *tab, int n_layers, bool *sel);

/* Sets every non-pinned tensor's α from the probes in the table:
 * α = ΔKLD / eps_abs at its probe candidate (qtk_probe_cand_for), alpha_src
 * "probe"; a ΔKLD ≤ 0 counts as floor_frac × the smallest positive α of the
 * class (a probe lost in noise); tensors without a usable probe get α
 * interpolated linearly in ln α over the layer index between the nearest
 * probed tensors of their class (constant beyond the first/last probed
 * layer), alpha_src "interp". Fails naming the class when a class has
 * unprobed tensors and no probed one. */
qtk_status qtk_probe_calibrate(qtk_measure_table *tab, int probe_type, qtk_error *err);

#endif
