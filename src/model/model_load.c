/*
 * model_load.c — GGUF file -> qtk_model. Matrices stay where the GGUF
 * reader put the file (a read-only mapping, or a private copy on huge pages
 * when that pays: qtk_load_mode); only the small norm/bias vectors are
 * converted to owned F32 arrays (they may be unaligned or F16 in the file).
 */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>

/* Integer hyper-parameter `<arch>.<key>`; missing and required -> error. */
static qtk_status get_hp(const qtk_model *m, const char *key, bool required, int64_t def, int64_t *out,
                         qtk_error *err) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->arch, key);
    const qtk_meta *meta = qtk_gguf_meta(m->gguf);
    if (qtk_meta_get_int(meta, full, out)) return QTK_OK;
    if (required)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: metadata key %s is missing", qtk_gguf_path(m->gguf), full);
    *out = def;
    return QTK_OK;
}

static double get_hp_float(const qtk_model *m, const char *key, double def) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->arch, key);
    double v;
    return qtk_meta_get_float(qtk_gguf_meta(m->gguf), full, &v) ? v : def;
}

static const char *get_hp_str(const qtk_model *m, const char *key) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->arch, key);
    return qtk_meta_get_str(qtk_gguf_meta(m->gguf), full);
}

/* Finds tensor `name` and checks its 2-D shape [n_in, n_out]. */
static qtk_status find_matrix(qtk_model *m, const char *name, int64_t n_in, int64_t n_out, qtk_weight *w,
                              qtk_error *err) {
    int64_t i = qtk_gguf_find_tensor(m->gguf, name);
    if (i < 0)
        return qtk_set_error(err, QTK_ERR_NOT_FOUND, "%s: tensor %s is missing (architecture %s)",
                             qtk_gguf_path(m->gguf), name, m->arch);
    const qtk_tensor_info *t = qtk_gguf_tensor(m->gguf, i);
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                             qtk_gguf_path(m->gguf), name, (long long)t->ne[0], (long long)t->ne[1],
                             (long long)t->ne[2], (long long)t->ne[3], (long long)n_in, (long long)n_out);
    w->name = t->name;
    w->expert = -1;
    w->n_expert = 0;
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_size = qtk_row_size((int)t->type, n_in);
    return QTK_OK;
}

/* Finds the 3-D expert tensor `name` [n_in, n_out, n_expert] and makes
 * views[e] the matrix of expert e (its n_out rows, bound to the kernels):
 * each view carries the tensor's name, `expert` = e and `n_expert`. */
static qtk_status find_experts(qtk_model *m, const char *name, int64_t n_in, int64_t n_out, qtk_weight *views,
                               qtk_error *err) {
    const int64_t ne = m->info.n_expert;
    int64_t i = qtk_gguf_find_tensor(m->gguf, name);
    if (i < 0)
        return qtk_set_error(err, QTK_ERR_NOT_FOUND, "%s: tensor %s is missing (architecture %s with %lld experts)",
                             qtk_gguf_path(m->gguf), name, m->arch, (long long)ne);
    const qtk_tensor_info *t = qtk_gguf_tensor(m->gguf, i);
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != ne || t->ne[3] != 1)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld]",
                             qtk_gguf_path(m->gguf), name, (long long)t->ne[0], (long long)t->ne[1],
                             (long long)t->ne[2], (long long)t->ne[3], (long long)n_in, (long long)n_out,
                             (long long)ne);
    const size_t row_size = qtk_row_size((int)t->type, n_in);
    for (int64_t e = 0; e < ne; e++) {
        qtk_weight *w = &views[e];
        w->name = t->name;
        w->expert = (int)e;
        w->n_expert = (int)ne;
        w->data = (const uint8_t *)t->data + (size_t)e * (size_t)n_out * row_size;
        w->type = t->type;
        w->n_in = n_in;
        w->n_out = n_out;
        w->row_size = row_size;
        qtk_status st = qtk_weight_bind(w, err);
        if (st != QTK_OK) return st;
    }
    return QTK_OK;
}

/* The FFN of layer l: dense ffn_{gate,up,down}, or (n_expert > 0) the
 * router ffn_gate_inp and the expert tensors ffn_{gate,up,down}_exps. */
static qtk_status load_ffn(qtk_model *m, int64_t l, qtk_layer *L, qtk_error *err) {
    const qtk_model_info *in = &m->info;
    char name[96];
    qtk_status st;
#define NAME(s) (snprintf(name, sizeof name, "blk.%lld." s, (long long)l), name)
    if (in->n_expert == 0) {
        if (qtk_gguf_find_tensor(m->gguf, NAME("ffn_gate_inp.weight")) >= 0)
            return qtk_set_error(err, QTK_ERR_FORMAT,
                                 "%s: tensor %s is a mixture-of-experts router, but %s.expert_count is missing",
                                 qtk_gguf_path(m->gguf), name, m->arch);
        if ((st = find_matrix(m, NAME("ffn_gate.weight"), in->n_embd, in->n_ff, &L->w_gate, err)) != QTK_OK ||
            (st = find_matrix(m, NAME("ffn_up.weight"), in->n_embd, in->n_ff, &L->w_up, err)) != QTK_OK ||
            (st = find_matrix(m, NAME("ffn_down.weight"), in->n_ff, in->n_embd, &L->w_down, err)) != QTK_OK)
            return st;
        return QTK_OK;
    }
    const int64_t F = in->n_ff_exp;
    L->gate_exps = (qtk_weight *)calloc(3 * (size_t)in->n_expert, sizeof(qtk_weight));
    if (!L->gate_exps) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    L->up_exps = L->gate_exps + in->n_expert;
    L->down_exps = L->up_exps + in->n_expert;
    if ((st = find_matrix(m, NAME("ffn_gate_inp.weight"), in->n_embd, in->n_expert, &L->router, err)) != QTK_OK ||
        (st = qtk_weight_bind(&L->router, err)) != QTK_OK ||
        (st = find_experts(m, NAME("ffn_gate_exps.weight"), in->n_embd, F, L->gate_exps, err)) != QTK_OK ||
        (st = find_experts(m, NAME("ffn_up_exps.weight"), in->n_embd, F, L->up_exps, err)) != QTK_OK ||
        (st = find_experts(m, NAME("ffn_down_exps.weight"), F, in->n_embd, L->down_exps, err)) != QTK_OK)
        return st;
#undef NAME
    return QTK_OK;
}

/* Copies a 1-D tensor of n values to an owned F32 array; a missing
 * optional tensor gives *out = NULL. */
static qtk_status load_vector(qtk_model *m, const char *name, int64_t n, bool required, float **out,
                              qtk_error *err) {
    *out = NULL;
    int64_t i = qtk_gguf_find_tensor(m->gguf, name);
    if (i < 0) {
        if (!required) return QTK_OK;
        return qtk_set_error(err, QTK_ERR_NOT_FOUND, "%s: tensor %s is missing (architecture %s)",
                             qtk_gguf_path(m->gguf), name, m->arch);
    }
    const qtk_tensor_info *t = qtk_gguf_tensor(m->gguf, i);
    if (qtk_tensor_nelements(t) != n || t->ne[0] != n)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tensor %s has %lld elements, expected %lld",
                             qtk_gguf_path(m->gguf), name, (long long)qtk_tensor_nelements(t), (long long)n);
    float *v = (float *)malloc((size_t)n * sizeof(float));
    if (!v) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory loading %s", name);
    qtk_status st = qtk_dequantize_rows((int)t->type, t->data, v, 1, n, err);
    if (st != QTK_OK) {
        free(v);
        return st;
    }
    *out = v;
    return QTK_OK;
}

/* Per-frequency divisors of llama3-style rope scaling, from metadata. */
static qtk_status llama3_factors(qtk_model *m, double factor, qtk_error *err) {
    const qtk_model_info *in = &m->info;
    double lo = get_hp_float(m, "rope.scaling.low_freq_factor", 1.0);
    double hi = get_hp_float(m, "rope.scaling.high_freq_factor", 4.0);
    int64_t orig;
    qtk_status st = get_hp(m, "rope.scaling.original_context_length", false, 8192, &orig, err);
    if (st != QTK_OK) return st;
    if (!(hi > lo) || factor <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "llama3 rope scaling: bad factors (low %g, high %g, factor %g)",
                             lo, hi, factor);
    int64_t nf = in->n_rot / 2;
    m->rope_freq_factors = (float *)malloc((size_t)nf * sizeof(float));
    if (!m->rope_freq_factors) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    const double pi = 3.14159265358979323846;
    double lo_wavelen = (double)orig / lo, hi_wavelen = (double)orig / hi;
    for (int64_t i = 0; i < nf; i++) {
        double freq = pow(in->rope_freq_base, -2.0 * (double)i / (double)in->n_rot);
        double wavelen = 2 * pi / freq, div;
        if (wavelen < hi_wavelen) div = 1.0;
        else if (wavelen > lo_wavelen) div = factor;
        else {
            double smooth = ((double)orig / wavelen - lo) / (hi - lo);
            div = 1.0 / ((1 - smooth) / factor + smooth);
        }
        m->rope_freq_factors[i] = (float)div;
    }
    return QTK_OK;
}

/* Mixture-of-experts hyper-parameters, as llama.cpp reads them:
 * <arch>.expert_count (absent or 0: dense), expert_used_count, the expert
 * width expert_feed_forward_length (else feed_forward_length, as for
 * Mixtral); softmax gating only; the chosen experts' weights renormalised
 * (llama and qwen3moe always; expert_weights_norm when the file says). */
static qtk_status load_moe_hparams(qtk_model *m, qtk_error *err) {
    qtk_model_info *in = &m->info;
    const char *path = qtk_gguf_path(m->gguf);
    qtk_status st;
    if ((st = get_hp(m, "expert_count", false, 0, &in->n_expert, err)) != QTK_OK) return st;
    if (in->n_expert == 0) return QTK_OK;
    int64_t ff = 0, gating = 1, norm_w = 1, shared = 0;
    if ((st = get_hp(m, "expert_used_count", true, 0, &in->n_expert_used, err)) != QTK_OK ||
        (st = get_hp(m, "feed_forward_length", false, 0, &ff, err)) != QTK_OK ||
        (st = get_hp(m, "expert_feed_forward_length", ff <= 0, ff, &in->n_ff_exp, err)) != QTK_OK ||
        (st = get_hp(m, "expert_gating_func", false, 1, &gating, err)) != QTK_OK ||
        (st = get_hp(m, "expert_weights_norm", false, 1, &norm_w, err)) != QTK_OK ||
        (st = get_hp(m, "expert_shared_count", false, 0, &shared, err)) != QTK_OK)
        return st;
    if (in->n_expert < 0 || in->n_expert > 4096 || in->n_expert_used < 1 || in->n_expert_used > in->n_expert ||
        in->n_ff_exp <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: inconsistent mixture-of-experts hyper-parameters (%s.expert_count %lld, "
                             "expert_used_count %lld, expert width %lld)",
                             path, m->arch, (long long)in->n_expert, (long long)in->n_expert_used,
                             (long long)in->n_ff_exp);
    if (gating != 1)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                             "%s: %s.expert_gating_func %lld is not supported (only 1, softmax)", path, m->arch,
                             (long long)gating);
    if (shared != 0)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                             "%s: shared experts (%s.expert_shared_count %lld) are not supported", path, m->arch,
                             (long long)shared);
    m->moe_norm_w = norm_w != 0;
    return QTK_OK;
}

static qtk_status load_hparams(qtk_model *m, qtk_error *err) {
    qtk_model_info *in = &m->info;
    qtk_status st;
    if ((st = get_hp(m, "embedding_length", true, 0, &in->n_embd, err)) != QTK_OK) return st;
    if ((st = get_hp(m, "block_count", true, 0, &in->n_layer, err)) != QTK_OK) return st;
    if ((st = load_moe_hparams(m, err)) != QTK_OK) return st;
    /* MoE files may omit the dense width: it is then the expert width */
    if ((st = get_hp(m, "feed_forward_length", in->n_expert == 0, in->n_ff_exp, &in->n_ff, err)) != QTK_OK)
        return st;
    if ((st = get_hp(m, "attention.head_count", true, 0, &in->n_head, err)) != QTK_OK) return st;
    if ((st = get_hp(m, "attention.head_count_kv", false, in->n_head, &in->n_head_kv, err)) != QTK_OK) return st;
    if ((st = get_hp(m, "context_length", false, 2048, &in->n_ctx_train, err)) != QTK_OK) return st;
    if (in->n_embd <= 0 || in->n_layer <= 0 || in->n_ff <= 0 || in->n_head <= 0 || in->n_head_kv <= 0 ||
        in->n_head % in->n_head_kv != 0 || in->n_embd % in->n_head != 0 || in->n_layer > 4096)
        return qtk_set_error(err, QTK_ERR_FORMAT,
                             "%s: inconsistent hyper-parameters (n_embd %lld, n_layer %lld, n_head %lld, "
                             "n_head_kv %lld)",
                             qtk_gguf_path(m->gguf), (long long)in->n_embd, (long long)in->n_layer,
                             (long long)in->n_head, (long long)in->n_head_kv);
    if ((st = get_hp(m, "attention.key_length", false, in->n_embd / in->n_head, &in->head_dim, err)) != QTK_OK)
        return st;
    if ((st = get_hp(m, "rope.dimension_count", false, in->head_dim, &in->n_rot, err)) != QTK_OK) return st;
    if (in->head_dim <= 0 || in->n_rot <= 0 || in->n_rot > in->head_dim || in->n_rot % 2)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: bad head size %lld / rope dimension %lld",
                             qtk_gguf_path(m->gguf), (long long)in->head_dim, (long long)in->n_rot);
    in->norm_eps = get_hp_float(m, "attention.layer_norm_rms_epsilon", 1e-5);
    in->rope_freq_base = get_hp_float(m, "rope.freq_base", 10000.0);
    in->rope_freq_scale = 1.0;
    in->rope_neox = strcmp(m->arch, "qwen2") == 0 || strcmp(m->arch, "qwen3") == 0 || strcmp(m->arch, "gemma3") == 0 ||
                    strcmp(m->arch, "qwen3moe") == 0;

    const char *stype = get_hp_str(m, "rope.scaling.type");
    double factor = get_hp_float(m, "rope.scaling.factor", 0.0);
    double scale_linear = get_hp_float(m, "rope.scale_linear", 0.0);
    if (!stype && scale_linear > 0) {
        in->rope_freq_scale = 1.0 / scale_linear;
    } else if (stype && strcmp(stype, "none") != 0) {
        if (strcmp(stype, "linear") == 0) {
            if (factor > 0) in->rope_freq_scale = 1.0 / factor;
        } else if (strcmp(stype, "llama3") == 0) {
            if ((st = llama3_factors(m, factor > 0 ? factor : 8.0, err)) != QTK_OK) return st;
        } else {
            return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "%s: rope scaling type '%s' is not supported",
                                 qtk_gguf_path(m->gguf), stype);
        }
    }
    return QTK_OK;
}

/* What sets an architecture apart beyond the tensors: embedding and
 * attention scales, the FFN activation, sliding-window layers, soft-caps
 * (as llama.cpp's loader sets them). */
static qtk_status load_traits(qtk_model *m, qtk_error *err) {
    const qtk_model_info *in = &m->info;
    m->embd_scale = 1.0f;
    m->attn_scale = (float)(1.0 / sqrt((double)in->head_dim));
    if (strcmp(m->arch, "gemma3") != 0) return QTK_OK;
    m->embd_scale = sqrtf((float)in->n_embd);
    m->ffn_gelu = true;
    /* Gemma 3 27B (62 layers) scales by query_pre_attn_scalar = n_embd/n_head, the others by head_dim */
    if (in->n_layer == 62) m->attn_scale = (float)(1.0 / sqrt((double)(in->n_embd / in->n_head)));
    qtk_status st = get_hp(m, "attention.sliding_window", true, 0, &m->swa_window, err);
    if (st != QTK_OK) return st;
    if (m->swa_window <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: gemma3.attention.sliding_window is %lld, expected > 0",
                             qtk_gguf_path(m->gguf), (long long)m->swa_window);
    m->swa_pattern = 6;              /* layer l is global when (l+1) % 6 == 0, else it slides */
    m->rope_freq_base_swa = 10000.0; /* sliding layers: base 10000, scale 1 (not in the file) */
    m->attn_softcap = (float)get_hp_float(m, "attn_logit_softcapping", 0.0);
    m->final_softcap = (float)get_hp_float(m, "final_logit_softcapping", 0.0);
    if (m->attn_softcap < 0 || m->final_softcap < 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: negative soft-capping (attention %g, final %g)",
                             qtk_gguf_path(m->gguf), (double)m->attn_softcap, (double)m->final_softcap);
    return QTK_OK;
}

static qtk_status load_tensors(qtk_model *m, qtk_error *err) {
    qtk_model_info *in = &m->info;
    qtk_status st;
    int64_t it = qtk_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (it < 0)
        return qtk_set_error(err, QTK_ERR_NOT_FOUND, "%s: tensor token_embd.weight is missing",
                             qtk_gguf_path(m->gguf));
    in->n_vocab = qtk_gguf_tensor(m->gguf, it)->ne[1];
    if ((st = find_matrix(m, "token_embd.weight", in->n_embd, in->n_vocab, &m->tok_embd, err)) != QTK_OK)
        return st;
    if (!qtk_type_get((int)m->tok_embd.type) || !qtk_type_get((int)m->tok_embd.type)->to_float)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "token_embd.weight: type %s cannot be decoded",
                             qtk_type_name((int)m->tok_embd.type));
    if ((st = load_vector(m, "output_norm.weight", in->n_embd, true, &m->output_norm, err)) != QTK_OK) return st;
    if (qtk_gguf_find_tensor(m->gguf, "output.weight") >= 0) {
        if ((st = find_matrix(m, "output.weight", in->n_embd, in->n_vocab, &m->output, err)) != QTK_OK) return st;
    } else {
        m->output = m->tok_embd;  /* tied embeddings */
    }
    if ((st = qtk_weight_bind(&m->output, err)) != QTK_OK) return st;

    int64_t irf = qtk_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (irf >= 0) {
        free(m->rope_freq_factors);
        if ((st = load_vector(m, "rope_freqs.weight", in->n_rot / 2, true, &m->rope_freq_factors, err)) != QTK_OK)
            return st;
    }

    m->layers = (qtk_layer *)calloc((size_t)in->n_layer, sizeof(qtk_layer));
    if (!m->layers) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    const int64_t nq = in->n_head * in->head_dim, nkv = in->n_head_kv * in->head_dim;
    const bool biases = strcmp(m->arch, "qwen2") == 0;
    for (int64_t l = 0; l < in->n_layer; l++) {
        qtk_layer *L = &m->layers[l];
        char name[96];
#define NAME(s) (snprintf(name, sizeof name, "blk.%lld." s, (long long)l), name)
        if ((st = load_vector(m, NAME("attn_norm.weight"), in->n_embd, true, &L->attn_norm, err)) != QTK_OK ||
            (st = load_vector(m, NAME("ffn_norm.weight"), in->n_embd, true, &L->ffn_norm, err)) != QTK_OK ||
            (st = find_matrix(m, NAME("attn_q.weight"), in->n_embd, nq, &L->wq, err)) != QTK_OK ||
            (st = find_matrix(m, NAME("attn_k.weight"), in->n_embd, nkv, &L->wk, err)) != QTK_OK ||
            (st = find_matrix(m, NAME("attn_v.weight"), in->n_embd, nkv, &L->wv, err)) != QTK_OK ||
            (st = find_matrix(m, NAME("attn_output.weight"), nq, in->n_embd, &L->wo, err)) != QTK_OK ||
            (st = load_ffn(m, l, L, err)) != QTK_OK)
            return st;
        if (biases) {
            if ((st = load_vector(m, NAME("attn_q.bias"), nq, true, &L->bq, err)) != QTK_OK ||
                (st = load_vector(m, NAME("attn_k.bias"), nkv, true, &L->bk, err)) != QTK_OK ||
                (st = load_vector(m, NAME("attn_v.bias"), nkv, true, &L->bv, err)) != QTK_OK)
                return st;
        }
        if (strcmp(m->arch, "qwen3") == 0 || strcmp(m->arch, "qwen3moe") == 0 || strcmp(m->arch, "gemma3") == 0) {
            if ((st = load_vector(m, NAME("attn_q_norm.weight"), in->head_dim, true, &L->q_norm, err)) != QTK_OK ||
                (st = load_vector(m, NAME("attn_k_norm.weight"), in->head_dim, true, &L->k_norm, err)) != QTK_OK)
                return st;
        }
        if (strcmp(m->arch, "gemma3") == 0) {
            if ((st = load_vector(m, NAME("post_attention_norm.weight"), in->n_embd, true, &L->attn_post_norm,
                                  err)) != QTK_OK ||
                (st = load_vector(m, NAME("post_ffw_norm.weight"), in->n_embd, true, &L->ffn_post_norm, err)) !=
                    QTK_OK)
                return st;
        }
#undef NAME
        qtk_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
            if (ws[k]->name && (st = qtk_weight_bind(ws[k], err)) != QTK_OK) return st;  /* MoE: no dense FFN */
    }
    for (int64_t i = 0; i < qtk_gguf_n_tensors(m->gguf); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(m->gguf, i);
        in->n_params += qtk_tensor_nelements(t);
        in->n_bytes += t->nbytes;
    }
    return QTK_OK;
}

/* Architectures the engine runs (general.architecture). */
static const char *const k_archs[] = {"llama", "qwen2", "qwen3", "qwen3moe", "gemma3"};

static bool arch_supported(const char *arch) {
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (strcmp(arch, k_archs[i]) == 0) return true;
    return false;
}

/* Opens the GGUF file(s) of `path` as `mode` says; *mapped tells the result. */
static qtk_status open_weights(const char *path, qtk_load_mode mode, qtk_gguf **g, bool *mapped, qtk_error *err) {
    *mapped = mode != QTK_LOAD_READ;
    qtk_status st = qtk_gguf_open_mode(path, !*mapped, g, err);
    if (st != QTK_OK || mode != QTK_LOAD_AUTO || !qtk_read_file_pays(qtk_gguf_file_size(*g))) return st;
    /* the mapped header gave the size of the whole model (all split parts):
     * read it in; should that fail (memory taken meanwhile), keep the mapping */
    qtk_gguf *copy = NULL;
    qtk_error e;
    if (qtk_gguf_open_mode(path, true, &copy, &e) != QTK_OK) return QTK_OK;
    qtk_gguf_close(*g);
    *g = copy;
    *mapped = false;
    return QTK_OK;
}

qtk_status qtk_model_load(const char *path, qtk_model **out, qtk_error *err) {
    return qtk_model_load_ex(path, QTK_LOAD_AUTO, out, err);
}

qtk_status qtk_model_load_ex(const char *path, qtk_load_mode mode, qtk_model **out, qtk_error *err) {
    if (!out || !path) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_model_load: NULL argument");
    *out = NULL;
    if (mode != QTK_LOAD_AUTO && mode != QTK_LOAD_MMAP && mode != QTK_LOAD_READ)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: invalid load mode %d", path, (int)mode);
    qtk_model *m = (qtk_model *)calloc(1, sizeof *m);
    if (!m) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    bool mapped;
    qtk_status st = open_weights(path, mode, &m->gguf, &mapped, err);
    if (st != QTK_OK) {
        free(m);
        return st;
    }
    const char *arch = qtk_meta_get_str(qtk_gguf_meta(m->gguf), "general.architecture");
    if (!arch) {
        st = qtk_set_error(err, QTK_ERR_FORMAT, "%s: general.architecture is missing", path);
    } else if (!arch_supported(arch)) {
        char list[256] = "";
        for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", k_archs[i]);
        st = qtk_set_error(err, QTK_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: %s)", path,
                           arch, list);
    } else {
        snprintf(m->arch, sizeof m->arch, "%s", arch);
        m->info.arch = m->arch;
        st = load_hparams(m, err);
        m->info.mapped = mapped;
        if (st == QTK_OK) st = load_traits(m, err);
        if (st == QTK_OK) st = load_tensors(m, err);
    }
    if (st != QTK_OK) {
        qtk_model_free(m);
        return st;
    }
    *out = m;
    return QTK_OK;
}

void qtk_model_free(qtk_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int64_t l = 0; l < m->info.n_layer; l++) {
            qtk_layer *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            free(L->bq);
            free(L->bk);
            free(L->bv);
            free(L->gate_exps);  /* up_exps and down_exps live in the same array */
            free(L->q_norm);
            free(L->k_norm);
            free(L->attn_post_norm);
            free(L->ffn_post_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freq_factors);
    qtk_gguf_close(m->gguf);
    free(m);
}

const qtk_model_info *qtk_model_get_info(const qtk_model *m) { return m ? &m->info : NULL; }

const qtk_gguf *qtk_model_gguf(const qtk_model *m) { return m ? m->gguf : NULL; }
