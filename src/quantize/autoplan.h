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

/* The error term of the cost (PLANNER §4.3): stage A, m·α·R·eps_rel (PR
 * 15550's working point, the default); or the absolute form of stages B/C,
 * m·α·eps_abs, for tables whose α a calibration filled (with α = 1 it is the
 * imatrix-weighted squared output error itself). */
typedef enum qtk_autoplan_cost_model {
    QTK_AUTOPLAN_COST_REL = 0,
    QTK_AUTOPLAN_COST_ABS = 1
} qtk_autoplan_cost_model;

typedef enum qtk_autoplan_compat {
    QTK_AUTOPLAN_COMPAT_ANY = 0,      /* every type of the table                    */
    QTK_AUTOPLAN_COMPAT_MAINLINE = 1, /* only types stock llama.cpp loads           */
    QTK_AUTOPLAN_COMPAT_IK = 2        /* only types ik_llama.cpp loads              */
} qtk_autoplan_compat;

/* --min CLASS=TYPE / --max CLASS=TYPE: no tensor of the class below / above
 * the size TYPE (after its block-size fallback) has for that tensor. */
typedef struct qtk_autoplan_bound {
    char cls[24];
    int type;
    bool is_max;
} qtk_autoplan_bound;

typedef struct qtk_autoplan_opts {
    uint64_t target_size;       /* whole output file in bytes; 0 = not given        */
    double target_bpw;          /* bits per weight as llama.cpp prints; 0 = not given */
    int compat;                 /* qtk_autoplan_compat                              */
    const int *allow;           /* --allow: allowed type ids (NULL = all)            */
    int n_allow;
    const qtk_autoplan_bound *bounds;
    int n_bounds;
    bool harmonize_experts;     /* one item per layer for ffn_up_exps + ffn_gate_exps */
    bool no_fill;               /* stop at the first step that does not fit          */
    bool no_polish;             /* skip the polish (single swaps, pair moves) after the fill */
    bool starvation;            /* safety check (c), starvation (optional, PLANNER §4.4 8c) */
    int cost_model;             /* qtk_autoplan_cost_model; 0 = stage A (eps_rel)   */
    bool no_default_floors;     /* drop the default token_embd/output floors         */
    double class_spread;        /* safety (a): max bpw below the class median;
                                   0 = default 2.0, < 0 = check disabled            */
    const char *comment;        /* one line written as a comment into the recipe (the
                                   command line); NULL = none. Must not hold '\n'.   */
} qtk_autoplan_opts;

/* Zeroes opts (no target, all types, fill on, defaults for the rest). */
void qtk_autoplan_opts_init(qtk_autoplan_opts *o);

typedef struct qtk_autoplan_result {
    int64_t n;                  /* = table->n                                        */
    int *type;                  /* chosen type per table tensor                      */
    int *cand;                  /* index into table->t[i].cand                      */
    double *cost;               /* predicted cost per tensor (cost model)            */
    double total_cost;          /* Σ cost                                            */
    uint64_t data_bytes;        /* Σ chosen bytes (unpadded)                         */
    uint64_t data_bytes_padded; /* Σ chosen bytes, each padded to the alignment      */
    uint64_t file_size;         /* exact size of the file `qtk quantize --recipe` writes */
    double bpw;                 /* (fixed_bytes + data_bytes)·8 / n_elements_all     */
    double lambda;              /* λ*: efficiency of the first step that did not fit
                                   (0 when every item reached its last candidate)   */
    bool size_mode;             /* budget counts padded bytes (--target-size)        */
    uint64_t budget;            /* bytes available to the items                     */
    uint64_t used;              /* bytes the items use (same counting as budget)    */
    uint64_t first_misfit;      /* Δbytes of the first step that did not fit (0: none) */
    uint64_t min_next_step;     /* smallest Δbytes of a step not taken (0: none)     */
    uint64_t recipe_reserve;    /* recipe bytes reserved in the budget (upper bound) */
    uint64_t min_size, max_size;/* reachable file sizes (--target-size semantics)    */
    double min_bpw, max_bpw;    /* reachable bpw                                     */
    int64_t n_items, n_steps, n_taken, n_fill;
    int64_t n_polish;           /* moves the polish made                             */
    double polish_gain;         /* predicted cost the polish removed                 */
    bool low_bpw;               /* target below 2.2 bpw: ffn_down variants of PR 15550 */
    int n_safety;               /* tensors whose floor the safety checks raised      */
    char *recipe;               /* recipe text (canonical: qtk_recipe_text of itself) */
    char *custom_q;             /* "^re$=type,..." for ik --custom-q / llama-quantize */
    char notes[512];            /* safety messages, "" when none                     */
} qtk_autoplan_result;

/* Solves. Fails with QTK_ERR_INVALID_ARG when no target or both are given,
 * when a rule leaves a tensor no candidate, or when the target is out of
 * reach (the message states the smallest and largest reachable sizes);
 * QTK_ERR_FORMAT for unusable table values (naming the tensor). */
qtk_status qtk_autoplan_solve(const qtk_measure_table *tab, const qtk_autoplan_opts *o,
                              qtk_autoplan_result **out, qtk_error *err);
void qtk_autoplan_result_free(qtk_autoplan_result *r);

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
/* Average bpw below which the low-bpw variants apply. */
#define QTK_AUTOPLAN_LOW_BPW 2.2
/* The class multiplier of the cost model (1 for unknown classes). */
double qtk_autoplan_class_multiplier(const char *cls, bool tied);

/* qtk_parse_size and qtk_autoplan_for_model are public (qtk.h). */

/* Checks that a table belongs to a model: same tensor count, and every
 * table tensor's index, name and shape match the model's (the SHA-256
 * hashes are compared by the caller when it has them). Errors name the
 * table origin, the model and the first difference. */
qtk_status qtk_autoplan_check_model(const qtk_measure_table *tab, const char *table_path, const qtk_gguf *model,
                                    const char *model_path, qtk_error *err);

#endif
