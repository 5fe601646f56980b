/*
 * measure_table.h — the measurement table of the automatic planner (issue
 * #15, PLANNER.md §4.1): per tensor and candidate type, exact bytes and the
 * measured error terms. Written by the measure pass (measure.c), read by the
 * planner (autoplan.c); measure_table.c is the only code that knows the TSV
 * form (docs/planner.md).
 */
#ifndef QTK_MEASURE_TABLE_H
#define QTK_MEASURE_TABLE_H

#include "core/qtk_internal.h"

/* Version 1: no probe columns. Version 2 (written only when a table holds
 * KLD probes, stage C of PLANNER §4.3): + columns dkld, dkld_se and the
 * header key #probe. Both are read. */
#define QTK_MEASURE_FORMAT_VERSION 2
#define QTK_MEASURE_METRIC "wmse-1"

/* One candidate type of one tensor. */
typedef struct qtk_measure_cand {
    int type;             /* after block-size fallback                          */
    uint64_t bytes;       /* data bytes of the whole tensor in this type         */
    int64_t rows;         /* rows sampled                                        */
    double eps_abs;       /* Σ v·e² over sampled rows × R/S                      */
    double eps_abs_se;    /* its standard error (per-row spread)                 */
    double e_out;         /* Σ v·w² over sampled rows × R/S                      */
    double eps_rel;       /* mean over sampled rows of Σv·e² / Σv·w²             */
    bool has_dkld;        /* a KLD probe measured this (tensor, type)            */
    double dkld, dkld_se; /* its ΔKLD vs the unquantized model and standard error */
    /* Derived, not in the file (qtk_measure_table_link_interp): for a tensor
     * whose α is interpolated over depth, the α of this type relative to the
     * tensor's α, taken from the probed tensors of its class around it; 0 when
     * there is none (the tensor's α then holds for every candidate). */
    double interp_ratio;
} qtk_measure_cand;

/* One candidate tensor. */
typedef struct qtk_measure_tensor {
    char *name;
    int64_t idx;          /* index in the model, file order                     */
    char cls[24];         /* class: "ffn_down", "attn_v", ... (planner-spec)   */
    int64_t layer;        /* -1 when none                                       */
    int64_t ne[3];        /* ne0 (row length), ne1 (rows), ne2 (experts, 1)     */
    bool pinned;          /* a rule fixes the type: exactly one candidate       */
    char *group;          /* harmonisation group id, NULL when none             */
    double alpha;         /* error-to-cost scale (1 when not calibrated)        */
    char alpha_src[8];    /* "prior", "probe", "interp" (over depth), "user"    */
    int n_cand;
    qtk_measure_cand *cand; /* increasing bytes                                  */
} qtk_measure_tensor;

typedef struct qtk_measure_table {
    int version;
    char metric[32];
    char *model_name;
    char model_hash[65];   /* SHA-256 hex                                        */
    char imatrix_hash[65]; /* SHA-256 hex, or "-"                                */
    int n_types;
    int *types;            /* candidate types asked for                          */
    uint64_t alignment;
    int64_t n_elements_all;
    uint64_t fixed_bytes;  /* non-candidate tensors' data, each padded           */
    uint64_t header_bytes; /* output header with an empty quantize.recipe        */
    int64_t n_tensors_model; /* candidate tensors of the whole model            */
    int shard_index, shard_count; /* 1-based I of N; 1/1 when not sharded        */
    char *sample;          /* sampling rule description                          */
    char *probe;           /* KLD probe settings (#probe), NULL when none         */
    int64_t n;             /* tensors in this table                              */
    qtk_measure_tensor *t;
} qtk_measure_table;

/* Tensors of the model's n_tensors_model candidates that shard I/N holds:
 * candidate k (0-based, file order) belongs to shard (k % N) + 1. */
int64_t qtk_measure_shard_size(int64_t n_tensors_model, int shard_index, int shard_count);

/* Parses a table held in memory (text[0..len)); `origin` (a file name)
 * prefixes every message as "origin:line: reason". */
qtk_status qtk_measure_table_parse(const char *text, size_t len, const char *origin, qtk_measure_table **out,
                                   qtk_error *err);
/* The TSV form of t (malloc'ed, NUL-terminated, *len without the NUL):
 * deterministic, reals with %.9g. Fails naming the field that cannot be
 * written (a TAB or newline in a name, a non-finite value, ...). */
qtk_status qtk_measure_table_format(const qtk_measure_table *t, char **text, size_t *len, qtk_error *err);
/* Checks that b was made from the same model, imatrix, metric, types,
 * sampling and output layout as a (header fields except #model and #shard);
 * messages name both origins and the differing field. */
qtk_status qtk_measure_table_same_source(const qtk_measure_table *a, const char *origin_a,
                                         const qtk_measure_table *b, const char *origin_b, qtk_error *err);
/* α of candidate c from its own tensor's probes at several types
 * (--probe-extra): α_k = ΔKLD_k / eps_abs_k at each probe whose ΔKLD is
 * significant (> 2 se); with two or more such points, ln α interpolated
 * linearly in ln eps_abs between them (constant beyond the outermost).
 * Returns t->alpha when the tensor has fewer than two significant probes. */
double qtk_measure_cand_probe_alpha(const qtk_measure_tensor *t, const qtk_measure_cand *c);
/* The probed tensors (alpha_src "probe") an interpolated α of tensor i comes
 * from: the nearest ones of its class (pinned tensors aside) before and after
 * it in depth, NULL where there is none, and lo's weight in the log-linear
 * interpolation over the layer index (1 - w_lo for hi; one side only: that
 * side's weight is 1). The class's first and last layers are left out when a
 * tensor between them was probed: the ends are the outliers of a model's
 * sensitivity (on the fixture, layer 0's attn_output α is 1,600x the other
 * layers'), and a ramp from them misprices every layer in between. */
void qtk_measure_interp_neighbors(const qtk_measure_table *tab, int64_t i, const qtk_measure_tensor **lo,
                                  const qtk_measure_tensor **hi, double *w_lo);
/* Sets every candidate's interp_ratio: for a tensor with alpha_src "interp",
 * the per-type α ratio (qtk_measure_cand_probe_alpha / α) of the probed
 * tensors qtk_measure_interp_neighbors picks, ln-interpolated over the layer
 * index like α itself; 0 elsewhere. Run by parse, merge and the probe calibration, so a
 * loaded table always carries it. */
void qtk_measure_table_link_interp(qtk_measure_table *tab);
/* An empty table (no header fields set, no tensors); NULL when out of memory. */
qtk_measure_table *qtk_measure_table_new(void);
/* Frees the contents of one tensor entry (not the entry itself). */
void qtk_measure_tensor_clear(qtk_measure_tensor *t);

#endif
