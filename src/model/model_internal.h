/*
 * model_internal.h — structures shared by the model files: the loaded
 * model (model_load.c), the matrix product (matmul.c), the forward pass
 * (llama.c) and perplexity (perplexity.c). Not public.
 */
#ifndef QTK_MODEL_INTERNAL_H
#define QTK_MODEL_INTERNAL_H

#include "../core/qtk_internal.h"
#include "../core/threadpool.h"

/* A weight matrix in ggml layout: n_out rows of n_in weights, in the file
 * mapping (rows may be unaligned). The kernels are resolved once, when the
 * model is loaded (qtk_weight_bind), not on every product. */
typedef struct qtk_weight {
    const char *name;
    int expert, n_expert;              /* view of expert `expert` of a 3-D tensor of
                                          n_expert experts; dense: -1, 0 */
    const void *data;
    qtk_type type;
    int64_t n_in, n_out;
    size_t row_size;
    const qtk_type_traits *traits;     /* of type                           */
    const qtk_type_traits *act;        /* of the activation format (vec_dot_type) */
    size_t act_row_size;               /* bytes of one converted activation row  */
    qtk_vec_dot_fn dot;                /* best vec_dot on this CPU               */
    qtk_mul_mat_fn mul_mat;            /* its multi-column kernel, or NULL       */
    int64_t panel_min_cols;            /* batches of this many columns run through
                                          int8 panels (matmul.c); 0 = the type has
                                          none, INT64_MAX = never faster here   */
} qtk_weight;

typedef struct qtk_layer {
    float *attn_norm, *ffn_norm;        /* owned F32 copies               */
    float *bq, *bk, *bv;                /* qwen2 biases, else NULL        */
    float *q_norm, *k_norm;             /* qwen3, gemma3: per-head RMS norm weights of q and k
                                           (head_dim values), else NULL */
    float *attn_post_norm, *ffn_post_norm; /* gemma3: RMS norm of each block's output
                                              before the residual add, else NULL */
    qtk_weight wq, wk, wv, wo, w_gate, w_up, w_down;
    /* Mixture of experts (n_expert > 0): the router ffn_gate_inp (n_expert
     * rows) and per-expert views of ffn_{gate,up,down}_exps (n_expert
     * each, one array owned here); dense layers: router.data NULL. */
    qtk_weight router;
    qtk_weight *gate_exps, *up_exps, *down_exps;
} qtk_layer;

struct qtk_model {
    qtk_gguf *gguf;
    qtk_model_info info;
    char arch[32];
    qtk_weight tok_embd, output;
    float *output_norm;
    float *rope_freq_factors;           /* n_rot/2 divisors of theta, or NULL */
    bool moe_norm_w;                    /* MoE: renormalise the chosen experts' weights to sum 1 */
    /* Architecture traits, set by the loader (llama/qwen2: 1, false, 0...). */
    float embd_scale;                   /* multiplies the token embeddings (gemma3: sqrt(n_embd)) */
    float attn_scale;                   /* multiplies q.k (usually 1/sqrt(head_dim))              */
    bool ffn_gelu;                      /* FFN gelu_tanh(gate)*up instead of silu(gate)*up        */
    int64_t swa_window, swa_pattern;    /* layer l slides (window swa_window) when swa_pattern > 0
                                           and (l+1) % swa_pattern != 0 (gemma3: pattern 6)       */
    double rope_freq_base_swa;          /* rope base of the sliding layers (gemma3: 10000, scale 1) */
    float attn_softcap, final_softcap;  /* > 0: c*tanh(x/c) on the scores / the logits; 0: none   */
    qtk_layer *layers;
};

/* Where products run: the context's persistent thread pool, its thread
 * counts for one-token and batch steps, and the buffer converted
 * activations live in (grown on demand, reused). */
typedef struct qtk_exec {
    struct qtk_pool *pool;
    int n_gen, n_batch;                /* threads for n_tok == 1 / n_tok > 1 */
    void *act_buf;
    size_t act_cap;
    void *panel_buf;                   /* per-thread panel scratch (matmul.c)   */
    size_t panel_cap;
    /* When set, called (on the calling thread) with the F32 input of every
     * product before it runs: imatrix collection. x holds n_tok rows of
     * w->n_in floats. */
    void (*observe)(void *ud, const struct qtk_weight *w, const float *x, int64_t n_tok);
    void *observe_ud;
} qtk_exec;

/* Sets the observer of every product the context runs (fn NULL: none);
 * imatrix collection (imatrix_collect.c). */
void qtk_context_set_observer(qtk_context *c,
                              void (*fn)(void *ud, const struct qtk_weight *w, const float *x, int64_t n_tok),
                              void *ud);

/* Threads a step over n_tok tokens uses. */
int qtk_exec_threads(const qtk_exec *e, int64_t n_tok);

/* Checks that the weight type can be multiplied (a dot product, an
 * activation converter, whole blocks per row) and resolves its kernels;
 * fills err naming the tensor if not. */
qtk_status qtk_weight_bind(qtk_weight *w, qtk_error *err);

/* y_i[t][r] = W_i row r · x[t] for the nw weights that read the same input
 * x (n_tok rows of n_in floats; y_i rows of W_i->n_out floats). The input is
 * converted once per activation format and all products run in one
 * dispatch over the pool, rows split in contiguous ranges. F32 weights use x
 * unchanged (exact F32 arithmetic). */
qtk_status qtk_matmul_many(qtk_exec *e, int nw, const qtk_weight *const *w, float *const *y, const float *x,
                           int64_t n_tok, qtk_error *err);
/* The same for one weight. */
qtk_status qtk_matmul(qtk_exec *e, const qtk_weight *w, const float *x, int64_t n_tok, float *y, qtk_error *err);

/* Dequantizes row `row` of w into dst (n_in floats). */
void qtk_weight_row_to_float(const qtk_weight *w, int64_t row, float *dst);

#endif
