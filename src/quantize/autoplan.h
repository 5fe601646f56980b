/*
 * autoplan.h — the automatic planner of issue #15 (PLANNER.md §4.4): from a
 * measurement table (measure_table.h) and a size or bpw target, one type per
 * tensor minimising the predicted cost, with rules, floors, harmonised expert
 * groups, the equal-slope walk, the fill step, the polish and safety checks; emits the
 * result as a qtk recipe and as a --custom-q list. Library code: returns
 * qtk_status + qtk_error, never prints. docs/planner.md, section "Planner".
 */
#ifndef QTK_AUTOPLAN_H
#define QTK_AUTOPLAN_H

#include "quantize/measure_table.h"

/* qtk_autoplan_cost_model, qtk_autoplan_compat, qtk_autoplan_bound, qtk_autoplan_opts,
 * qtk_autoplan_result, QTK_AUTOPLAN_LOW_BPW, qtk_autoplan_cost_name, qtk_autoplan_cost_from_name,
 * qtk_autoplan_default_cost, qtk_autoplan_opts_init, qtk_autoplan_solve,
 * qtk_autoplan_result_free, qtk_autoplan_cand_cost and qtk_autoplan_check_model are in
 * qtk.h's experimental part (the CLI uses them). */

/* The cost model (stage A, planner-spec.md): the predicted cost of candidate
 * c of tensor t; `tied` = the model has no output.weight (token_embd is the
 * output matrix). The one place to change for stage B/C. */
double qtk_autoplan_cost(const qtk_measure_tensor *t, const qtk_measure_cand *c, bool tied);
/* The same for a plan whose average target is below 2.2 bpw when low_bpw:
 * ffn_down classes then get the error factor 1 + 2^(3 - b) (b = the
 * candidate's nominal bpw) instead of the multiplier 6 (PR 15550). */
double qtk_autoplan_cost_at(const qtk_measure_tensor *t, const qtk_measure_cand *c, bool tied, bool low_bpw);
/* The same with the error term of cost_model (qtk_autoplan_cost_model). */
double qtk_autoplan_cost_ex(const qtk_measure_tensor *t, const qtk_measure_cand *c, bool tied, bool low_bpw,
                            int cost_model);
/* The class multiplier of the cost model (1 for unknown classes). */
double qtk_autoplan_class_multiplier(const char *cls, bool tied);

/* qtk_parse_size and qtk_autoplan_for_model are public (qtk.h). */

#endif
