/*
 * plan.c — applies a recipe to a model: which tensors are quantized at all
 * (MIXES §2), the layer index each rule sees (§4), first-match rules, the
 * block-size fallback and forced types (§3), and the per-tensor sizes.
 */
#include "quantize_internal.h"

#include <ctype.h>
#include <stdlib.h>

/* Model facts the rules test (general.architecture and <arch>.* keys). */
typedef struct model_facts {
    char arch[64];
    const char *size;
    int64_t n_layer, heads, heads_kv, experts, vocab, gqa, n_attn_wv;
    bool tied;
} model_facts;

/* Integer key, or the first element of an integer array key (per-layer
 * head counts); false when absent. */
static bool meta_int_or_first(const qtk_meta *m, const char *key, int64_t *v) {
    if (qtk_meta_get_int(m, key, v)) return true;
    const qtk_gguf_value *val = qtk_meta_get(m, key);
    if (!val || val->type != QTK_GGUF_ARRAY || val->v.arr.n == 0) return false;
    const qtk_gguf_value *e = &val->v.arr.items[0];
    switch (e->type) {
    case QTK_GGUF_UINT8: case QTK_GGUF_UINT16: case QTK_GGUF_UINT32: case QTK_GGUF_UINT64:
        *v = (int64_t)e->v.u64;
        return true;
    case QTK_GGUF_INT8: case QTK_GGUF_INT16: case QTK_GGUF_INT32: case QTK_GGUF_INT64:
        *v = e->v.i64;
        return true;
    default: return false;
    }
}

/* N of a "blk.N." name prefix, or -1. */
static int64_t blk_index(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    int64_t v = 0;
    int nd = 0;
    while (isdigit((unsigned char)*p) && nd < 9) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    return nd > 0 && *p == '.' ? v : -1;
}

/* Size class as llama.cpp's loader assigns it for the LLaMA architecture
 * (the only one whose classes include 8B and 70B): 32 layers with a vocabulary
 * of at least 40000 (and not Granite's 49152) or 36 layers = 8B; 80 layers
 * with fewer KV heads than heads = 70B; 8-expert models are 8x7B/8x22B. */
static const char *size_class(const model_facts *f) {
    if (strcmp(f->arch, "llama") != 0 || f->experts == 8) return "other";
    if (f->n_layer == 32) return f->vocab == 49152 || f->vocab < 40000 ? "other" : "8B";
    if (f->n_layer == 36) return "8B";
    if (f->n_layer == 80) return f->heads == f->heads_kv ? "other" : "70B";
    return "other";
}

static void read_facts(const qtk_gguf *g, model_facts *f) {
    const qtk_meta *m = qtk_gguf_meta(g);
    memset(f, 0, sizeof *f);
    const char *arch = qtk_meta_get_str(m, "general.architecture");
    snprintf(f->arch, sizeof f->arch, "%s", arch ? arch : "");
    char key[160];
    snprintf(key, sizeof key, "%s.block_count", f->arch);
    if (!qtk_meta_get_int(m, key, &f->n_layer)) {
        f->n_layer = 0;
        for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++)
            f->n_layer = QTK_MAX(f->n_layer, blk_index(qtk_gguf_tensor(g, i)->name) + 1);
    }
    snprintf(key, sizeof key, "%s.attention.head_count", f->arch);
    if (!meta_int_or_first(m, key, &f->heads)) f->heads = 0;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", f->arch);
    if (!meta_int_or_first(m, key, &f->heads_kv)) f->heads_kv = f->heads;
    snprintf(key, sizeof key, "%s.expert_count", f->arch);
    if (!qtk_meta_get_int(m, key, &f->experts)) f->experts = 0;
    const qtk_gguf_value *tok = qtk_meta_get(m, "tokenizer.ggml.tokens");
    if (tok && tok->type == QTK_GGUF_ARRAY) {
        f->vocab = (int64_t)tok->v.arr.n;
    } else {
        snprintf(key, sizeof key, "%s.vocab_size", f->arch);
        if (!qtk_meta_get_int(m, key, &f->vocab)) f->vocab = 0;
    }
    f->gqa = f->heads_kv > 0 ? f->heads / f->heads_kv : 0;
    f->tied = qtk_gguf_find_tensor(g, "output.weight") < 0;
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const char *n = qtk_gguf_tensor(g, i)->name;
        if (strstr(n, "attn_v.weight") || strstr(n, "attn_qkv.weight")) f->n_attn_wv++;
    }
    f->size = size_class(f);
}

/* Why a tensor is never quantized (MIXES §2), or NULL when it may be. The
 * MoE router is reported separately: only a force rule can quantize it. */
static const char *not_quantizable(const qtk_tensor_info *t) {
    const char *n = t->name;
    size_t l = strlen(n);
    const qtk_type_traits *ttr = qtk_type_get(t->type);
    if (ttr && ttr->is_integer) return "integer/f64 tensor";
    if (l < 6 || strcmp(n + l - 6, "weight") != 0) return "name does not end in 'weight'";
    int dims = 0;
    for (int d = 0; d < QTK_MAX_DIMS; d++)
        if (t->ne[d] > 1) dims = d + 1;
    if (dims < 2) return "1-D tensor";
    if (strstr(n, "_norm.weight")) return "normalization weights";
    if (!strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight")) return "position/token-type embedding";
    if (strstr(n, "ssm_conv1d.weight") || strstr(n, "ssm_x.weight") || strstr(n, "ssm_dt.weight"))
        return "Mamba SSM tensor";
    if (strstr(n, "attn_rel_b.weight")) return "relative attention bias";
    return NULL;
}

/* Policy rule, not a type fact: stock llama-quantize's tensor_type_fallback
 * for --compat mainline (only mainline types, Q2_K/Q3_K to q4_0 and Q5_K to
 * q5_1); -1 = none. One of the two switches on type ids outside the traits
 * table (the other is presets.c's attn_v_bump); qtk's own fallback is the
 * table's block_fallback field. */
static int policy_llama_quantize_fallback(int t) {
    switch (t) {
    case QTK_TYPE_IQ1_S: case QTK_TYPE_IQ1_M: case QTK_TYPE_IQ2_XXS: case QTK_TYPE_IQ2_XS: case QTK_TYPE_IQ2_S:
    case QTK_TYPE_IQ3_XXS: case QTK_TYPE_IQ3_S: case QTK_TYPE_IQ4_XS:
        return QTK_TYPE_IQ4_NL;
    case QTK_TYPE_Q2_K: case QTK_TYPE_Q3_K: return QTK_TYPE_Q4_0;
    case QTK_TYPE_Q4_K: return QTK_TYPE_Q5_0;
    case QTK_TYPE_Q5_K: return QTK_TYPE_Q5_1;
    case QTK_TYPE_Q6_K: return QTK_TYPE_Q8_0;
    default: return -1;
    }
}

/* The type a rule's type t becomes on rows of ne0 weights (block-size
 * fallback as in qtk_plan_make; f16 when not even that fits). */
int qtk_fallback_type(int t, int64_t ne0, bool mainline) {
    const qtk_type_traits *tr = qtk_type_get(t);
    int fb = mainline ? policy_llama_quantize_fallback(t) : qtk_type_block_fallback(t);
    if (tr && tr->block_size == 256 && ne0 % 256 != 0 && fb >= 0) {
        t = fb;
        tr = qtk_type_get(t);
    }
    if (tr && tr->block_size > 0 && ne0 % tr->block_size != 0) t = QTK_TYPE_F16;
    return t;
}

/* Per-tensor state a rule is matched against. */
typedef struct tensor_ctx {
    const char *name;
    int64_t layer, n;          /* default layer index and count              */
    const int64_t *seq;        /* per line: position among the pattern's matches, -1 */
    int64_t n_layer;
    qtk_cond_env env;
} tensor_ctx;

static bool rule_matches(const qtk_recipe_rule *rule, int64_t line, const tensor_ctx *c) {
    if (!qtk_regex_search(rule->re, c->name)) return false;
    if (rule->has_layers) {
        int64_t i = rule->layers.seq ? c->seq[line] : c->layer;
        int64_t n = rule->layers.seq ? c->n_layer : c->n;
        if (i < 0 || !qtk_layer_spec_match(&rule->layers, i, n)) return false;
    }
    return qtk_cond_eval(rule->cond, &c->env);
}

/* First matching rule among the force (or non-force) rules; -1 if none. */
static int64_t first_match(const qtk_recipe *r, bool force, const tensor_ctx *c) {
    for (int64_t k = 0; k < r->n; k++) {
        const qtk_recipe_line *ln = &r->lines[k];
        if (ln->kind == QTK_LINE_RULE && ln->rule.force == force && rule_matches(&ln->rule, k, c)) return k;
    }
    return -1;
}

/* Writes "origin:line: rule" (or the rule's source) into buf. */
static void rule_reason(const qtk_recipe *r, const qtk_recipe_rule *rule, char *buf, size_t n) {
    char *t = qtk_recipe_rule_text(rule);
    if (rule->source) snprintf(buf, n, "%s: %s", rule->source, t ? t : rule->pattern);
    else snprintf(buf, n, "%s:%d: %s", r->origin, rule->line, t ? t : rule->pattern);
    free(t);
}

/* Copies s into the item's reason, marking truncation with "...". */
static void set_reason(qtk_plan_item *it, const char *s) {
    size_t cap = sizeof it->reason, l = strlen(s);
    if (l < cap) {
        memcpy(it->reason, s, l + 1);
    } else {
        memcpy(it->reason, s, cap - 4);
        memcpy(it->reason + cap - 4, "...", 4);
    }
}

void qtk_plan_free(qtk_plan *p) {
    if (!p) return;
    free(p->items);
    free(p);
}

qtk_status qtk_plan_make(const qtk_gguf *model, const qtk_recipe *r, const qtk_imatrix *im, bool allow_requantize,
                         qtk_plan **out, qtk_error *err) {
    *out = NULL;
    if (!model || !r) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "plan: NULL model or recipe");
    model_facts f;
    read_facts(model, &f);
    int64_t nt = qtk_gguf_n_tensors(model);
    qtk_plan *p = (qtk_plan *)calloc(1, sizeof *p);
    qtk_plan_item *items = (qtk_plan_item *)calloc((size_t)(nt > 0 ? nt : 1), sizeof *items);
    int64_t *seq_count = (int64_t *)calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(int64_t));
    int64_t *seq = (int64_t *)calloc((size_t)(r->n > 0 ? r->n : 1), sizeof(int64_t));
    if (!p || !items || !seq_count || !seq) {
        free(p);
        free(items);
        free(seq_count);
        free(seq);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    p->items = items;
    p->n = nt;
    p->file_type = qtk_recipe_file_type(r);
    int64_t c_attn_v = 0, c_down = 0, c_gate = 0, c_up = 0;
    qtk_status st = QTK_OK;
    char buf[600], rb[400];

    for (int64_t i = 0; i < nt && st == QTK_OK; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(model, i);
        qtk_plan_item *it = &items[i];
        it->tensor = i;
        it->type = (int)t->type;
        it->layer = -1;
        it->bytes = t->nbytes;
        /* a usable entry: present and of the tensor's size */
        it->has_imatrix = im && qtk_imatrix_for(im, t->name, t->ne[0], t->ne[2] * t->ne[3], 0);
        p->total_params += qtk_tensor_nelements(t);

        tensor_ctx c;
        memset(&c, 0, sizeof c);
        c.name = t->name;
        c.seq = seq;
        c.n_layer = f.n_layer;
        c.env.arch = f.arch;
        c.env.size = f.size;
        c.env.gqa = f.gqa;
        c.env.experts = f.experts;
        c.env.vocab = f.vocab;
        c.env.layers = f.n_layer;
        c.env.heads = f.heads;
        c.env.heads_kv = f.heads_kv;
        c.env.cols = t->ne[0];
        c.env.rows = t->ne[1];
        c.env.tied = f.tied;
        c.env.imatrix = im != NULL;
        c.layer = blk_index(t->name);
        c.n = f.n_layer;

        const char *why = not_quantizable(t);
        bool router = !why && strstr(t->name, "ffn_gate_inp.weight") != NULL;
        if (router) {
            /* the router is quantized only when a forced type names it */
            for (int64_t k = 0; k < r->n; k++) seq[k] = -1;
            int64_t fm = first_match(r, true, &c);
            if (fm < 0 || r->lines[fm].rule.result < 0) why = "MoE router (ffn_gate_inp)";
        }
        if (why) {
            snprintf(buf, sizeof buf, "not quantized: %s", why);
            set_reason(it, buf);
            continue;
        }

        /* the layer index the reference uses (MIXES §4) */
        if (strstr(t->name, "attn_v.weight")) {
            c.layer = c_attn_v++;
            c.n = f.n_attn_wv;
        } else if (!router && (strstr(t->name, "ffn_down") || strstr(t->name, "ffn_gate") || strstr(t->name, "ffn_up"))) {
            int64_t *cnt = strstr(t->name, "ffn_down") ? &c_down : strstr(t->name, "ffn_gate") ? &c_gate : &c_up;
            int64_t k = (*cnt)++;
            if (f.experts <= 1) c.layer = k;
        }
        it->layer = c.layer;
        for (int64_t k = 0; k < r->n; k++) {
            const qtk_recipe_line *ln = &r->lines[k];
            seq[k] = -1;
            if (ln->kind == QTK_LINE_RULE && ln->rule.has_layers && ln->rule.layers.seq && !router &&
                qtk_regex_search(ln->rule.re, t->name))
                seq[k] = seq_count[k]++;
        }

        int dflt = r->default_type;
        int nt_type = dflt;
        snprintf(buf, sizeof buf, "%s: default %s", r->origin,
                 dflt == QTK_RESULT_COPY ? "copy" : qtk_type_name(dflt));
        int64_t m = first_match(r, false, &c);
        if (m >= 0) {
            const qtk_recipe_rule *rule = &r->lines[m].rule;
            nt_type = rule->result == QTK_RESULT_KEEP ? dflt : rule->result;
            rule_reason(r, rule, buf, sizeof buf);
        }
        if (nt_type != QTK_RESULT_COPY) {
            const qtk_type_traits *tr = qtk_type_get(nt_type);
            int fb = r->mainline ? policy_llama_quantize_fallback(nt_type) : qtk_type_block_fallback(nt_type);
            if (tr && tr->block_size == 256 && t->ne[0] % 256 != 0 && fb >= 0) {
                snprintf(rb, sizeof rb, "; row %lld not a multiple of 256: %s -> %s", (long long)t->ne[0],
                         qtk_type_name(nt_type), qtk_type_name(fb));
                strncat(buf, rb, sizeof buf - strlen(buf) - 1);
                nt_type = fb;
                tr = qtk_type_get(nt_type);
            }
            if (tr && t->ne[0] % tr->block_size != 0) {
                snprintf(rb, sizeof rb, "; row %lld not a multiple of %lld: %s -> f16", (long long)t->ne[0],
                         (long long)tr->block_size, qtk_type_name(nt_type));
                strncat(buf, rb, sizeof buf - strlen(buf) - 1);
                nt_type = QTK_TYPE_F16;
            }
            if (!strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "per_layer_token_embd.weight"))
                nt_type = qtk_type_base(nt_type);
        }
        int64_t fm = first_match(r, true, &c);
        if (fm >= 0) {
            const qtk_recipe_rule *rule = &r->lines[fm].rule;
            nt_type = rule->result == QTK_RESULT_KEEP ? dflt : rule->result;
            rule_reason(r, rule, buf, sizeof buf);
            const qtk_type_traits *tr = nt_type >= 0 ? qtk_type_get(nt_type) : NULL;
            if (tr && t->ne[0] % tr->block_size != 0) {
                st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                   "tensor '%s': row length %lld is not a multiple of the block size %lld of the "
                                   "forced type %s (%s)",
                                   t->name, (long long)t->ne[0], (long long)tr->block_size, tr->name, buf);
                break;
            }
        }
        if (nt_type >= 0 && t->ne[1] % qtk_type_interleave(nt_type) != 0) nt_type = qtk_type_base(nt_type);

        if (nt_type == QTK_RESULT_COPY || nt_type == (int)t->type) {
            snprintf(rb, sizeof rb, "copied (%s): %s", nt_type == QTK_RESULT_COPY ? "copy" : "same type", buf);
            set_reason(it, rb);
            continue;
        }
        const qtk_type_traits *src = qtk_type_get(t->type);
        if (src && src->is_quantized && !allow_requantize) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "tensor '%s' is already quantized (%s); requantizing it to %s loses quality -- "
                               "use --allow-requantize to do it anyway",
                               t->name, src->name, qtk_type_name(nt_type));
            break;
        }
        if (r->requires[qtk_type_base(nt_type)] && !it->has_imatrix && strcmp(t->name, "token_embd.weight") != 0 &&
            strcmp(t->name, "output.weight") != 0) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "tensor '%s': %s needs an importance matrix entry for this tensor (%s); give "
                               "--imatrix with an entry for it, choose another type, or --ignore-imatrix-rules",
                               t->name, qtk_type_name(nt_type),
                               !im ? "no --imatrix given"
                                   : qtk_imatrix_find(im, t->name) ? "the imatrix's entry does not fit the tensor"
                                                                   : "the imatrix has none");
            break;
        }
        if (r->mainline) {
            const qtk_type_traits *tr = qtk_type_get(nt_type);
            if (!tr || !(tr->ecosystems & QTK_ECO_LLAMA_CPP)) {
                st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                   "tensor '%s': --compat mainline: %s is an ik_llama.cpp-only type, which stock "
                                   "llama.cpp cannot load (%s)",
                                   t->name, qtk_type_name(nt_type), buf);
                break;
            }
        }
        it->type = nt_type;
        it->quantize = true;
        it->bytes = (uint64_t)qtk_row_size(nt_type, t->ne[0]) * (uint64_t)qtk_tensor_nrows(t);
        set_reason(it, buf);
        p->n_quantized++;
    }
    free(seq_count);
    free(seq);
    if (st != QTK_OK) {
        qtk_plan_free(p);
        return st;
    }
    for (int64_t i = 0; i < nt; i++) {
        p->total_bytes += items[i].bytes;
        p->total_bytes_padded += (items[i].bytes + QTK_GGUF_DEFAULT_ALIGNMENT - 1) / QTK_GGUF_DEFAULT_ALIGNMENT *
                                 QTK_GGUF_DEFAULT_ALIGNMENT;
    }
    *out = p;
    return QTK_OK;
}

qtk_status qtk_plan_check_types(const qtk_plan *plan, const qtk_recipe *r, qtk_error *err) {
    if (!plan) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "plan: NULL");
    /* per type id: tensors the plan quantizes to it although the table has no quantizer */
    int64_t *count = (int64_t *)calloc(QTK_TYPE_ID_LIMIT, sizeof *count);
    if (!count) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    int n_missing = 0;
    for (int64_t i = 0; i < plan->n; i++) {
        const qtk_plan_item *it = &plan->items[i];
        if (!it->quantize || it->type < 0 || it->type >= QTK_TYPE_ID_LIMIT) continue;
        const qtk_type_traits *tr = qtk_type_get(it->type);
        if (tr && tr->quantize && !tr->interleaved && tr->file_type) continue;
        if (count[it->type]++ == 0) n_missing++;
    }
    if (!n_missing) {
        free(count);
        return QTK_OK;
    }
    char list[QTK_ERROR_MSG_MAX];
    size_t u = 0;
    list[0] = '\0';
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
        if (!count[t]) continue;
        int w = snprintf(list + u, sizeof list - u, "%s%s (%lld tensor%s)", u ? ", " : "", qtk_type_name(t),
                         (long long)count[t], count[t] == 1 ? "" : "s");
        if (w < 0 || (size_t)w >= sizeof list - u) break;
        u += (size_t)w;
    }
    free(count);
    return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                         "%s needs %s, which this version of qtk cannot quantize yet; choose another preset or "
                         "type, or a rule that avoids %s",
                         r && r->origin ? r->origin : "the plan", list, n_missing == 1 ? "it" : "them");
}
