/*
 * model_internal.h — structures shared by the model files: the loaded
 * model (model_load.c), the matrix product (matmul.c), the forward pass
 * (llama.c) and perplexity (perplexity.c). Not public.
 */
#ifndef QTK_MODEL_INTERNAL_H
#define QTK_MODEL_INTERNAL_H

#include "../core/qtk_internal.h"

/* A weight matrix in ggml layout: n_out rows of n_in weights, in the file
 * mapping (rows may be unaligned). */
typedef struct qtk_weight {
    const char *name;
    const void *data;
    qtk_type type;
    int64_t n_in, n_out;
    size_t row_size;
} qtk_weight;

typedef struct qtk_layer {
    float *attn_norm, *ffn_norm;        /* owned F32 copies               */
    float *bq, *bk, *bv;                /* qwen2 biases, else NULL        */
    qtk_weight wq, wk, wv, wo, w_gate, w_up, w_down;
} qtk_layer;

struct qtk_model {
    qtk_gguf *gguf;
    qtk_model_info info;
    char arch[32];
    qtk_weight tok_embd, output;
    float *output_norm;
    float *rope_freq_factors;           /* n_rot/2 divisors of theta, or NULL */
    qtk_layer *layers;
};

/* Scratch of one matrix product (grown on demand, reused between calls). */
typedef struct qtk_mm_scratch {
    void *buf;
    size_t cap;
} qtk_mm_scratch;

/* y[t][r] = W row r · x[t] for t < n_tok, r < n_out (x rows of n_in floats,
 * y rows of n_out floats). Activations are converted once to the weight
 * type's vec_dot_type (F32 weights: used as they are); rows are split over
 * n_threads. */
qtk_status qtk_matmul(const qtk_weight *w, const float *x, int64_t n_tok, float *y, int n_threads,
                      qtk_mm_scratch *scratch, qtk_error *err);

/* Whether the weight type can be multiplied (has a dot product and its
 * activation format a converter); fills err naming the tensor if not. */
qtk_status qtk_matmul_check(const qtk_weight *w, qtk_error *err);

/* Dequantizes row `row` of w into dst (n_in floats). */
void qtk_weight_row_to_float(const qtk_weight *w, int64_t row, float *dst);

#endif
