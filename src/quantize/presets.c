/*
 * presets.c — the built-in presets (llama_ftype values) written as recipe
 * text. Each preset's rules are the reference's decision chain for that
 * preset (MIXES §5–§6) with every test that depends only on the preset
 * resolved here, and every test that depends on the model (GQA factor,
 * experts, vocabulary, size class, imatrix, tied embeddings, layer counters)
 * left as a rule condition or layer selector. The text is then parsed by
 * qtk_recipe_parse like any recipe file: one mechanism, not two.
 */
#include "quantize_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>

typedef enum preset_id {
    P_F32, P_F16, P_BF16, P_Q4_0, P_Q4_1, P_Q5_0, P_Q5_1, P_Q6_0, P_Q8_0,
    P_Q2_K, P_Q2_K_S, P_Q3_K_M, P_Q3_K_S, P_Q3_K_L, P_Q4_K_M, P_Q4_K_S, P_Q5_K_M, P_Q5_K_S, P_Q6_K,
    P_IQ2_XXS, P_IQ2_XS, P_IQ2_S, P_IQ2_M, P_IQ1_S, P_IQ1_M, P_IQ3_XXS, P_IQ3_S, P_IQ3_XS, P_IQ3_M,
    P_IQ4_NL, P_IQ4_XS,
    P_IQ2_K, P_IQ3_K, P_IQ4_K, P_IQ5_K, P_IQ6_K, P_IQ4_KS, P_IQ3_KL, P_IQ2_KS, P_IQ4_KSS, P_IQ5_KS,
    P_IQ2_KT, P_IQ3_KT, P_IQ4_KT, P_IQ3_KS, P_IQ2_KL, P_IQ1_KT,
    P_MXFP4, P_MXFP4_MOE, P_MIX40, P_MIX41
} preset_id;

typedef struct preset {
    const char *name;
    int ftype;
    int type;
    preset_id id;
    const char *alias;  /* second accepted name, or NULL */
    const char *desc;
} preset;

/* Order matters twice: a file_type number maps to the first preset with it,
 * and a recipe without file_type gets the first preset of its default type. */
static const preset presets[] = {
    {"F32", 0, QTK_TYPE_F32, P_F32, NULL, "32-bit float (no quantization)"},
    {"F16", 1, QTK_TYPE_F16, P_F16, NULL, "16-bit float"},
    {"BF16", 32, QTK_TYPE_BF16, P_BF16, NULL, "bfloat16"},
    {"Q4_0", 2, QTK_TYPE_Q4_0, P_Q4_0, NULL, "4.5 bpw legacy"},
    {"Q4_1", 3, QTK_TYPE_Q4_1, P_Q4_1, NULL, "5.0 bpw legacy"},
    {"Q5_0", 8, QTK_TYPE_Q5_0, P_Q5_0, NULL, "5.5 bpw legacy"},
    {"Q5_1", 9, QTK_TYPE_Q5_1, P_Q5_1, NULL, "6.0 bpw legacy"},
    {"Q6_0", 135, QTK_TYPE_Q6_0, P_Q6_0, NULL, "6.5 bpw legacy-style"},
    {"Q8_0", 7, QTK_TYPE_Q8_0, P_Q8_0, NULL, "8.5 bpw"},
    {"Q2_K", 10, QTK_TYPE_Q2_K, P_Q2_K, NULL, "k-quant mix around q2_K"},
    {"Q2_K_S", 21, QTK_TYPE_Q2_K, P_Q2_K_S, NULL, "smaller q2_K mix (needs an imatrix)"},
    {"Q3_K_M", 12, QTK_TYPE_Q3_K, P_Q3_K_M, "Q3_K", "k-quant mix around q3_K, medium"},
    {"Q3_K_S", 11, QTK_TYPE_Q3_K, P_Q3_K_S, NULL, "q3_K, small"},
    {"Q3_K_L", 13, QTK_TYPE_Q3_K, P_Q3_K_L, NULL, "q3_K mix, large"},
    {"Q4_K_M", 15, QTK_TYPE_Q4_K, P_Q4_K_M, "Q4_K", "k-quant mix around q4_K, medium"},
    {"Q4_K_S", 14, QTK_TYPE_Q4_K, P_Q4_K_S, NULL, "q4_K mix, small"},
    {"Q5_K_M", 17, QTK_TYPE_Q5_K, P_Q5_K_M, "Q5_K", "k-quant mix around q5_K, medium"},
    {"Q5_K_S", 16, QTK_TYPE_Q5_K, P_Q5_K_S, NULL, "q5_K mix, small"},
    {"Q6_K", 18, QTK_TYPE_Q6_K, P_Q6_K, NULL, "6.56 bpw"},
    {"IQ2_XXS", 19, QTK_TYPE_IQ2_XXS, P_IQ2_XXS, NULL, "2.06 bpw (needs an imatrix)"},
    {"IQ2_XS", 20, QTK_TYPE_IQ2_XS, P_IQ2_XS, NULL, "2.31 bpw (needs an imatrix)"},
    {"IQ2_S", 28, QTK_TYPE_IQ2_XS, P_IQ2_S, NULL, "2.5 bpw mix"},
    {"IQ2_M", 29, QTK_TYPE_IQ2_S, P_IQ2_M, NULL, "2.7 bpw mix"},
    {"IQ1_S", 24, QTK_TYPE_IQ1_S, P_IQ1_S, NULL, "1.56 bpw (needs an imatrix)"},
    {"IQ1_M", 31, QTK_TYPE_IQ1_M, P_IQ1_M, NULL, "1.75 bpw (needs an imatrix)"},
    {"IQ3_XXS", 23, QTK_TYPE_IQ3_XXS, P_IQ3_XXS, NULL, "3.06 bpw"},
    {"IQ3_S", 26, QTK_TYPE_IQ3_S, P_IQ3_S, NULL, "3.44 bpw"},
    {"IQ3_XS", 22, QTK_TYPE_IQ3_S, P_IQ3_XS, NULL, "3.3 bpw mix"},
    {"IQ3_M", 27, QTK_TYPE_IQ3_S, P_IQ3_M, NULL, "3.66 bpw mix"},
    {"IQ4_NL", 25, QTK_TYPE_IQ4_NL, P_IQ4_NL, NULL, "4.50 bpw non-linear"},
    {"IQ4_XS", 30, QTK_TYPE_IQ4_XS, P_IQ4_XS, NULL, "4.25 bpw non-linear"},
    {"IQ2_K", 138, QTK_TYPE_IQ2_K, P_IQ2_K, NULL, "2.375 bpw"},
    {"IQ3_K", 139, QTK_TYPE_IQ3_K, P_IQ3_K, NULL, "3.44 bpw"},
    {"IQ4_K", 140, QTK_TYPE_IQ4_K, P_IQ4_K, NULL, "4.5 bpw"},
    {"IQ5_K", 141, QTK_TYPE_IQ5_K, P_IQ5_K, NULL, "5.5 bpw"},
    {"IQ6_K", 142, QTK_TYPE_IQ6_K, P_IQ6_K, NULL, "6.625 bpw"},
    {"IQ4_KS", 145, QTK_TYPE_IQ4_KS, P_IQ4_KS, NULL, "4.25 bpw"},
    {"IQ3_KL", 146, QTK_TYPE_IQ3_K, P_IQ3_KL, NULL, "~4 bpw mix around iq3_k"},
    {"IQ2_KS", 147, QTK_TYPE_IQ2_KS, P_IQ2_KS, NULL, "2.1875 bpw"},
    {"IQ4_KSS", 148, QTK_TYPE_IQ4_KSS, P_IQ4_KSS, NULL, "4.0 bpw"},
    {"IQ5_KS", 150, QTK_TYPE_IQ5_KS, P_IQ5_KS, NULL, "5.25 bpw"},
    {"IQ2_KT", 151, QTK_TYPE_IQ2_KT, P_IQ2_KT, NULL, "2.125 bpw trellis"},
    {"IQ3_KT", 152, QTK_TYPE_IQ3_KT, P_IQ3_KT, NULL, "3.125 bpw trellis"},
    {"IQ4_KT", 153, QTK_TYPE_IQ4_KT, P_IQ4_KT, NULL, "4.0 bpw trellis"},
    {"IQ3_KS", 154, QTK_TYPE_IQ3_KS, P_IQ3_KS, NULL, "3.19 bpw"},
    {"IQ2_KL", 155, QTK_TYPE_IQ2_KL, P_IQ2_KL, NULL, "2.69 bpw"},
    {"IQ1_KT", 156, QTK_TYPE_IQ1_KT, P_IQ1_KT, NULL, "1.75 bpw trellis"},
    {"MXFP4", 38, QTK_TYPE_MXFP4, P_MXFP4, NULL, "4.25 bpw microscaling FP4 (ik_llama.cpp: every matrix)"},
    {"MXFP4_MOE", 38, QTK_TYPE_MXFP4, P_MXFP4_MOE, NULL,
     "llama.cpp's MXFP4 mix: expert tensors mxfp4, all other matrices q8_0"},
    {"IQ4_MIX40", 139, QTK_TYPE_IQ3_K, P_MIX40, NULL, "discussion #82 mix A, ~4.0 bpw (iq3_k/iq4_k/iq5_k)"},
    {"IQ4_MIX41", 139, QTK_TYPE_IQ3_K, P_MIX41, NULL, "discussion #82 mix B, ~4.09 bpw (mix A + iq4_xs ffn_gate)"},
};
#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

static const char *preset_name_list[N_PRESETS + 1];

const char *const *qtk_preset_names(int *n) {
    for (int i = 0; i < N_PRESETS; i++) preset_name_list[i] = presets[i].name;
    preset_name_list[N_PRESETS] = NULL;
    if (n) *n = N_PRESETS;
    return preset_name_list;
}

const char *qtk_preset_description(const char *name) {
    for (int i = 0; i < N_PRESETS; i++)
        if (!qtk_strcasecmp(presets[i].name, name)) return presets[i].desc;
    return NULL;
}

/* The preset called name (case-insensitive, aliases too) or with that ftype number. */
static const preset *find_preset(const char *name) {
    if (!name || !*name) return NULL;
    for (int i = 0; i < N_PRESETS; i++)
        if (!qtk_strcasecmp(presets[i].name, name) || (presets[i].alias && !qtk_strcasecmp(presets[i].alias, name)))
            return &presets[i];
    bool digits = true;
    for (const char *c = name; *c; c++) digits = digits && isdigit((unsigned char)*c);
    if (digits && strlen(name) < 6) {
        int v = atoi(name);
        for (int i = 0; i < N_PRESETS; i++)
            if (presets[i].ftype == v) return &presets[i];
    }
    return NULL;
}

int qtk_preset_ftype_from_name(const char *name) {
    const preset *p = find_preset(name);
    if (p) return p->ftype;
    bool digits = name && *name;
    for (const char *c = name; digits && *c; c++) digits = isdigit((unsigned char)*c);
    return digits && strlen(name) < 6 ? atoi(name) : -1;
}

const char *qtk_preset_canonical_name(const char *name) {
    const preset *p = find_preset(name);
    if (!p) return NULL;
    if (!qtk_strcasecmp(p->name, name)) return p->name;
    /* an alias, or a number: llama-quantize lists the alias (Q4_K) before Q4_K_M */
    return p->alias ? p->alias : p->name;
}

int qtk_preset_ftype(const char *name) {
    const preset *p = find_preset(name);
    return p ? p->ftype : -1;
}

int qtk_preset_missing_types(const char *name, int *types, int max, bool *base_missing) {
    const preset *p = find_preset(name);
    if (base_missing) *base_missing = false;
    if (!p) return -1;
    qtk_recipe *r = NULL;
    qtk_error err;
    if (qtk_recipe_from_preset(p->name, NULL, &r, &err) != QTK_OK) return -1;
    int n = 0;
    for (int64_t k = -1; k < r->n; k++) {
        int t = k < 0 ? r->default_type : r->lines[k].kind == QTK_LINE_RULE ? r->lines[k].rule.result : -1;
        const qtk_type_traits *tr = t >= 0 ? qtk_type_get(t) : NULL;
        if (!tr || (tr->quantize && !tr->interleaved) || !tr->is_quantized) continue;
        bool seen = false;
        for (int j = 0; j < n && j < max; j++) seen = seen || types[j] == t;
        if (seen) continue;
        if (k < 0 && base_missing) *base_missing = true;
        if (n < max) types[n] = t;
        n++;
    }
    qtk_recipe_free(r);
    return n;
}

int qtk_preset_ftype_for_type(int t) {
    for (int i = 0; i < N_PRESETS; i++)
        if (presets[i].type == t) return presets[i].ftype;
    return -1;
}

void qtk_quant_overrides_init(qtk_quant_overrides *o) {
    memset(o, 0, sizeof *o);
    o->output_tensor_type = o->token_embedding_type = -1;
    o->attn_q_type = o->attn_k_type = o->attn_v_type = o->attn_qkv_type = o->attn_output_type = -1;
    o->ffn_gate_type = o->ffn_down_type = o->ffn_up_type = -1;
    o->ffn_gate_inp_type = -1;
}

/* ---- text generation ------------------------------------------------------------- */

typedef struct gen {
    char *p;
    size_t n, cap;
    bool oom;
} gen;

static void out(gen *g, const char *fmt, ...) QTK_PRINTF(2, 3);
static void out(gen *g, const char *fmt, ...) {
    if (g->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(g->p ? g->p + g->n : NULL, g->p ? g->cap - g->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            g->oom = true;
            return;
        }
        if (g->p && g->n + (size_t)w < g->cap) {
            g->n += (size_t)w;
            return;
        }
        size_t nc = (g->cap + (size_t)w + 1) * 2;
        char *q = (char *)realloc(g->p, nc);
        if (!q) {
            g->oom = true;
            return;
        }
        g->p = q;
        g->cap = nc;
    }
}

static const char *tn(int t) { return qtk_type_name(t); }

static bool in_set(preset_id id, const preset_id *set, int n) {
    for (int i = 0; i < n; i++)
        if (set[i] == id) return true;
    return false;
}
#define IN(id, ...) in_set(id, (const preset_id[]){__VA_ARGS__}, (int)(sizeof((const preset_id[]){__VA_ARGS__}) / sizeof(preset_id)))

/* Policy rule, not a type fact: llama-quantize's g >= 4 "one level up" table
 * of the attn_v chain (MIXES §6.2 step 5), or -1. One of the two switches on
 * type ids outside the traits table (the other is plan.c's
 * policy_llama_quantize_fallback). */
static int policy_attn_v_bump(int t) {
    switch (t) {
    case QTK_TYPE_Q2_K: case QTK_TYPE_IQ3_XXS: return QTK_TYPE_IQ3_S;
    case QTK_TYPE_Q3_K: case QTK_TYPE_IQ3_S: return QTK_TYPE_Q4_K;
    case QTK_TYPE_IQ3_K: return QTK_TYPE_IQ4_K;
    case QTK_TYPE_IQ3_KS: case QTK_TYPE_IQ2_KL: return QTK_TYPE_IQ4_KS;
    case QTK_TYPE_Q4_K: case QTK_TYPE_IQ4_XS: case QTK_TYPE_IQ4_NL: return QTK_TYPE_Q5_K;
    case QTK_TYPE_IQ4_K: case QTK_TYPE_IQ4_KS: return QTK_TYPE_IQ5_K;
    case QTK_TYPE_Q5_K: return QTK_TYPE_Q6_K;
    case QTK_TYPE_IQ5_K: case QTK_TYPE_IQ5_KS: return QTK_TYPE_IQ6_K;
    default: return -1;
    }
}

/* llama-quantize: output.weight (and a tied token_embd) becomes q6_K unless the
 * preset's type already is q8_0 (ik_llama.cpp: or iq6_k). */
static bool policy_output_q6_k(int t, bool mainline) {
    switch (t) {
    case QTK_TYPE_Q8_0: return false;
    case QTK_TYPE_IQ6_K: return mainline;
    default: return true;
    }
}

/* llama-quantize: on 70B models (8 query heads per KV head) an attn_v of type
 * q3_K or q4_K becomes q5_K (ik_llama.cpp, not stock: iq3_k becomes iq5_k);
 * -1 when the type has no such rule. */
static int policy_attn_v_70b(int t, bool mainline) {
    switch (t) {
    case QTK_TYPE_Q3_K: case QTK_TYPE_Q4_K: return QTK_TYPE_Q5_K;
    case QTK_TYPE_IQ3_K: return mainline ? -1 : QTK_TYPE_IQ5_K;
    default: return -1;
    }
}

#define OUT_W "^output\\.weight$"
#define TOK_W "^token_embd\\.weight$"
#define ATTN_V "attn_v\\.weight"
#define ATTN_O "attn_output\\.weight"
#define ATTN_QKV "attn_qkv\\.weight"
#define BIG_VOCAB "vocab>=127999 and (size==8B or size==70B)"

/* §5: output.weight (and the tied token embedding) and token_embd.weight. */
static void gen_embeddings(gen *g, const preset *p, const qtk_quant_overrides *ov) {
    preset_id id = p->id;
    int d = p->type;
    bool lowbit = IN(id, P_IQ2_XXS, P_IQ2_XS, P_IQ3_XXS, P_IQ1_S, P_IQ2_S, P_IQ2_M, P_IQ1_M, P_IQ2_K, P_IQ3_K,
                     P_IQ2_KS, P_IQ3_KS, P_IQ2_KL, P_IQ2_KT, P_IQ3_KT, P_IQ1_KT);
    bool tied5 = IN(id, P_IQ3_S, P_IQ3_M, P_IQ3_KL, P_IQ4_XS, P_IQ4_KS, P_IQ4_KSS);
    bool not8 = policy_output_q6_k(d, false);
    out(g, "\n# output.weight; token_embd.weight instead when the model has no output.weight (tied)\n");
    if (ov->output_tensor_type >= 0) out(g, TOK_W " if tied = %s\n", tn(ov->output_tensor_type));
    out(g, OUT_W " if arch==falcon or cols%%256!=0 = q8_0\n");
    if (lowbit) out(g, OUT_W " = q5_K\n");
    else if (not8) out(g, OUT_W " = q6_K\n");
    out(g, TOK_W " if tied and (arch==falcon or cols%%256!=0) = q8_0\n");
    const char *tied = lowbit ? "iq4_k" : tied5 ? "iq5_k" : not8 ? "q6_K" : "keep";
    out(g, TOK_W " if tied = %s\n", tied);
    const char *tok = NULL;
    if (IN(id, P_IQ2_XXS, P_IQ2_XS, P_IQ1_S, P_IQ1_M)) tok = "q2_K";
    else if (IN(id, P_IQ2_S, P_IQ2_M, P_IQ3_XXS, P_IQ3_KT)) tok = "iq3_s";
    out(g, "# token_embd.weight with a separate output.weight\n");
    out(g, TOK_W " = %s\n", tok ? tok : "keep");
}

/* §6.1: the early branch of IQ2_KS, IQ2_XXS/XS/S/M and IQ1_S/M. */
static void gen_iq2_group(gen *g, const preset *p, const qtk_quant_overrides *ov) {
    bool s2 = IN(p->id, P_IQ2_S, P_IQ2_M);
    out(g, "\n# low-bit branch (MIXES 6.1); per-class options other than --attn-output-type are not consulted here\n");
    out(g, ATTN_V " if gqa>=4 or experts>=4 = iq4_k\n");
    out(g, ATTN_V " if gqa>=2 or experts>=2 = iq3_k\n");
    out(g, ATTN_V " = %s\n", s2 ? "iq3_s" : "q2_K");
    out(g, "attn_(k|q) if experts>=8 = q4_K\n");
    out(g, ATTN_QKV " = %s\n", s2 ? "iq3_xxs" : "iq2_k");
    out(g, "# the counter of this branch counts every ffn_down* tensor, also for MoE models (quirk)\n");
    out(g, "ffn_down @ seq first:1/8 = %s\n", s2 ? "iq3_s" : "q2_K");
    if (ov->attn_output_type >= 0) out(g, ATTN_O " = %s\n", tn(ov->attn_output_type));
    out(g, ATTN_O " if experts>=4 = q5_K\n");
    if (IN(p->id, P_IQ1_S, P_IQ1_M)) out(g, ATTN_O " = iq2_k\n");
    else if (s2) out(g, ATTN_O " = iq3_s\n");
}

/* §6.1: the IQ2_KT branch. */
static void gen_iq2_kt(gen *g, const qtk_quant_overrides *ov) {
    out(g, "\n# IQ2_KT branch (MIXES 6.1); only --ffn-down-type is consulted here\n");
    out(g, ATTN_V " if experts>=4 or gqa>=4 = iq4_k\n");
    out(g, ATTN_V " if gqa>=2 = iq3_k\n");
    out(g, ATTN_V " = q2_K\n");
    out(g, "attn_(k|q) if experts>=8 = q4_K\n");
    out(g, "blk\\.0\\.ffn_(down|gate|up) if experts>=8 = iq3_k\n");
    out(g, ATTN_QKV " = iq3_k\n");
    out(g, "_shexp\\.weight = iq4_k\n");
    if (ov->ffn_down_type >= 0) out(g, "ffn_down = %s\n", tn(ov->ffn_down_type));
    out(g, "ffn_down @ first:1/8 = iq3_k\n");
    out(g, ATTN_O " if experts>=4 = q5_K\n");
    out(g, ATTN_O " = iq3_k\n");
}

/* §6.2 attn_v chain: rows a–t of the preset, then the g >= 4 catch-all. */
static void gen_attn_v(gen *g, const preset *p, const qtk_quant_overrides *ov) {
    preset_id id = p->id;
    int d = p->type;
    gen rows = {NULL, 0, 0, false};
    bool final = false; /* the preset's row ends the chain (● in MIXES) */
    switch (id) {
    case P_Q2_K: out(&rows, ATTN_V " if gqa>=4 = q4_K\n" ATTN_V " = q3_K\n"); final = true; break;
    case P_IQ2_K: out(&rows, ATTN_V " if gqa>=2 = iq4_k\n" ATTN_V " = iq3_k\n"); final = true; break;
    case P_Q2_K_S: out(&rows, ATTN_V " if gqa>=4 = q4_K\n"); break;
    case P_IQ3_XXS:
        out(&rows, ATTN_V " if gqa>=4 = q4_K\n" ATTN_V " if gqa>=2 = iq3_k\n" ATTN_V " if !imatrix = iq3_s\n" ATTN_V
                   " = keep\n");
        final = true;
        break;
    case P_IQ3_KT: out(&rows, ATTN_V " if gqa>=4 = iq4_k\n" ATTN_V " = iq3_k\n"); final = true; break;
    case P_IQ4_KT: out(&rows, ATTN_V " if gqa>=4 = iq5_k\n" ATTN_V " = iq4_k\n"); final = true; break;
    case P_IQ3_XS: case P_IQ3_S: case P_IQ3_K: out(&rows, ATTN_V " if gqa>=2 = iq4_k\n"); break;
    case P_IQ3_KS: case P_IQ2_KL: out(&rows, ATTN_V " if gqa>=2 = iq4_ks\n"); break;
    case P_IQ3_KL: case P_IQ3_M: out(&rows, ATTN_V " if gqa>=2 = iq5_k\n" ATTN_V " = iq4_k\n"); final = true; break;
    case P_Q3_K_M: out(&rows, ATTN_V " @ first:2 = q5_K\n" ATTN_V " = q4_K\n"); final = true; break;
    case P_Q3_K_L: out(&rows, ATTN_V " = q5_K\n"); final = true; break;
    case P_IQ4_NL: case P_IQ4_XS: case P_IQ4_KS: case P_IQ4_KSS: case P_IQ4_K:
        out(&rows, ATTN_V " if gqa>=2 = iq5_k\n");
        break;
    case P_Q4_K_M: case P_Q5_K_M: out(&rows, ATTN_V " @ more_bits = q6_K\n"); break;
    case P_Q4_K_S: out(&rows, ATTN_V " @ first:4 = q5_K\n"); break;
    case P_Q5_K_S: out(&rows, ATTN_V " if " BIG_VOCAB " = q6_K\n" ATTN_V " = keep\n"); final = true; break;
    case P_IQ5_K: case P_IQ5_KS:
        out(&rows, ATTN_V " if " BIG_VOCAB " = iq6_k\n" ATTN_V " = keep\n");
        final = true;
        break;
    default: break;
    }
    int bump = policy_attn_v_bump(d);
    if (!final && bump >= 0) out(&rows, ATTN_V " if gqa>=4 = %s\n", tn(bump));
    out(g, "\n# attn_v (MIXES 6.2): layer = attn_v counter, n = number of attn_v/attn_qkv tensors\n");
    if (ov->attn_v_type >= 0) out(g, ATTN_V " = %s\n", tn(ov->attn_v_type));
    out(g, ATTN_V " if experts>=4 = q8_0\n");
    int r70 = policy_attn_v_70b(d, false);
    if (r70 >= 0 || rows.n) out(g, ATTN_V " if size==70B = %s\n", r70 >= 0 ? tn(r70) : "keep");
    if (rows.p) out(g, "%s", rows.p);
    if (rows.oom) g->oom = true;
    free(rows.p);
}

/* §6.2 generic chain for every preset without an early branch. */
static void gen_generic(gen *g, const preset *p, const qtk_quant_overrides *ov) {
    preset_id id = p->id;
    gen_attn_v(g, p, ov);

    out(g, "\n# attn_k* (attn_k, attn_k_b, attn_kv_a_mqa, ...)\n");
    if (ov->attn_k_type >= 0) out(g, "attn_k = %s\n", tn(ov->attn_k_type));
    out(g, "attn_k if experts>=4 = q8_0\n");
    if (id == P_IQ3_XS) out(g, "attn_k = iq3_xxs\n");
    else if (id == P_IQ3_XXS) out(g, "attn_k = iq2_s\n");

    out(g, "\n# attn_q* -- also matches attn_qkv, so the attn_qkv rules of the reference are never reached (quirk)\n");
    if (ov->attn_q_type >= 0) out(g, "attn_q = %s\n", tn(ov->attn_q_type));
    if (id == P_IQ3_XS) out(g, "attn_q = iq3_xxs\n");
    else if (id == P_IQ3_XXS) out(g, "attn_q = iq2_s\n");
    else if (id == P_Q5_K_S) out(g, "attn_q if " BIG_VOCAB " = q4_K\n");
    else if (id == P_IQ5_K) out(g, "attn_q if " BIG_VOCAB " = iq4_k\n");
    else if (id == P_IQ5_KS) out(g, "attn_q if " BIG_VOCAB " = iq4_ks\n");

    out(g, "\n# ffn_down* (layer from blk.N for MoE models, else the ffn_down counter; n = layers)\n");
    if (ov->ffn_down_type >= 0) out(g, "ffn_down = %s\n", tn(ov->ffn_down_type));
    switch (id) {
    case P_Q2_K: out(g, "ffn_down = q3_K\n"); break;
    case P_Q3_K_M:
        out(g, "ffn_down @ first:1/16 = q5_K\nffn_down @ more_bits if arch==falcon = q4_K\n"
               "ffn_down if arch==falcon = keep\nffn_down = q4_K\n");
        break;
    case P_Q3_K_L: out(g, "ffn_down if arch==falcon = q4_K\nffn_down = q5_K\n"); break;
    case P_IQ3_XXS: out(g, "ffn_down @ first:1/8 if !imatrix = q4_K\nffn_down if !imatrix = q3_K\n"); break;
    case P_IQ3_KT: out(g, "ffn_down @ first:1/8 if !imatrix = iq4_k\nffn_down if !imatrix = iq3_k\n"); break;
    case P_IQ3_M: out(g, "ffn_down @ first:1/8 = iq4_k\nffn_down @ more_bits if experts>=4 = iq4_k\n"); break;
    case P_IQ3_KL: out(g, "ffn_down @ more_bits = iq4_ks\n"); break;
    case P_Q4_K_M:
        out(g, "ffn_down @ first:1/16 if arch==falcon = q6_K\nffn_down @ more_bits if arch==falcon = q5_K\n"
               "ffn_down if arch==falcon = keep\nffn_down @ more_bits = q6_K\n");
        break;
    case P_Q5_K_M: out(g, "ffn_down @ more_bits = q6_K\n"); break;
    case P_Q4_K_S: out(g, "ffn_down @ first:1/8 if arch!=falcon = q5_K\n"); break;
    case P_IQ4_NL: case P_IQ4_XS: case P_IQ4_KS: case P_IQ4_KSS:
        out(g, "ffn_down @ first:1/8 if !imatrix = q5_K\n");
        break;
    case P_Q4_0: out(g, "ffn_down @ first:1/8 if imatrix = q4_1\n"); break;
    case P_Q5_0: out(g, "ffn_down @ first:1/8 if imatrix = q5_1\n"); break;
    default: break;
    }

    out(g, "\n# attn_output\n");
    if (ov->attn_output_type >= 0) out(g, ATTN_O " = %s\n", tn(ov->attn_output_type));
    const char *small = NULL; /* E < 4, non-Falcon */
    switch (id) {
    case P_Q2_K: small = "q3_K"; break;
    case P_IQ3_XXS: small = "iq3_s"; break;
    case P_Q3_K_M: small = "q4_K"; break;
    case P_Q3_K_L: small = "q5_K"; break;
    case P_IQ3_M: small = "iq4_k"; break;
    case P_IQ2_K: small = "iq3_k"; break;
    case P_IQ3_KL: small = "iq4_ks"; break;
    default: break;
    }
    const char *moe = NULL; /* E >= 4, non-Falcon */
    if (IN(id, P_Q2_K, P_IQ3_XS, P_IQ3_XXS, P_Q3_K_S, P_Q3_K_M, P_IQ4_NL, P_Q4_K_S, P_Q4_K_M, P_IQ3_S, P_IQ3_M,
           P_IQ4_XS, P_IQ4_K, P_IQ4_KSS, P_IQ4_KS, P_IQ5_KS, P_IQ2_K, P_IQ3_K, P_IQ3_KL, P_IQ3_KT, P_IQ3_KS))
        moe = "q5_K";
    else if (id == P_IQ2_KL)
        moe = "iq4_ks";
    bool kt4 = id == P_IQ3_KT; /* E < 4 and g >= 4 */
    if (id == P_Q3_K_L) out(g, ATTN_O " if arch==falcon = q4_K\n");
    else if (moe || small || kt4) out(g, ATTN_O " if arch==falcon = keep\n");
    if (moe) out(g, ATTN_O " if experts>=4 = %s\n", moe);
    else if (small || kt4) out(g, ATTN_O " if experts>=4 = keep\n");
    if (small) out(g, ATTN_O " = %s\n", small);
    if (kt4) out(g, ATTN_O " if gqa>=4 = iq3_k\n");

    if (ov->attn_qkv_type >= 0)
        out(g, "# --attn-qkv-type %s: not consulted, attn_qkv is caught by the attn_q rules above (quirk)\n",
            tn(ov->attn_qkv_type));

    if (ov->ffn_gate_type >= 0 || ov->ffn_up_type >= 0 || id == P_IQ3_XS || id == P_IQ3_KL)
        out(g, "\n# ffn_gate* / ffn_up*\n");
    if (ov->ffn_gate_type >= 0) out(g, "ffn_gate = %s\n", tn(ov->ffn_gate_type));
    if (id == P_IQ3_XS) out(g, "ffn_gate @ first:1/8,last:1/8 = keep\nffn_gate = iq3_xxs\n");
    if (id == P_IQ3_KL) out(g, "ffn_gate @ more_bits = iq4_ks\n");
    if (ov->ffn_up_type >= 0) out(g, "ffn_up = %s\n", tn(ov->ffn_up_type));
    if (id == P_IQ3_XS) out(g, "ffn_up @ first:1/8,last:1/8 = keep\nffn_up = iq3_xxs\n");
    if (id == P_IQ3_KL) out(g, "ffn_up @ more_bits = iq4_ks\n");
}

/* MIXES §9: the two ~4.0 bpw mixes of discussion #82 as complete recipes. */
static void gen_mix(gen *g, const preset *p) {
    out(g, "\n# discussion #82 (MIXES 9): iq3_k base, 5-bit attn_v, 4-bit attn_output, more bits on\n"
           "# the use_more_bits layers; output q6_K (also for a tied embedding)\n");
    out(g, OUT_W " = q6_K\n" TOK_W " if tied = q6_K\n");
    out(g, ATTN_V " = iq5_k\n" ATTN_O " = iq4_k\n");
    out(g, "ffn_(down|up) @ more_bits = iq4_k\n");
    if (p->id == P_MIX41) out(g, "ffn_gate @ more_bits = iq4_xs\n");
}

/* ---- --compat mainline: stock llama-quantize's llama_tensor_get_type_impl ---- */

/* Its categories: attn_qkv and attn_kv_b count as attn_v; attn_k / attn_q are
 * the exact "attn_k.weight" / "attn_q.weight" (no MLA or fused variants). */
#define M_ATTN_V "attn_(v|qkv|kv_b)\\.weight"
#define M_ATTN_K "attn_k\\.weight"
#define M_ATTN_Q "attn_q\\.weight"

/* An attn_v row; stock llama-quantize turns a q3_K/q4_K result into q5_K on
 * 70B models, so such a row gets a 70B twin in front of it. */
static void mv_row(gen *g, const char *layers, const char *cond, int t) {
    char c[160];
    int r70 = policy_attn_v_70b(t, true);
    if (r70 >= 0) {
        snprintf(c, sizeof c, "size==70B%s%s%s", cond ? " and (" : "", cond ? cond : "", cond ? ")" : "");
        out(g, M_ATTN_V "%s%s if %s = %s\n", layers ? " @ " : "", layers ? layers : "", c, tn(r70));
    }
    out(g, M_ATTN_V "%s%s%s%s = %s\n", layers ? " @ " : "", layers ? layers : "", cond ? " if " : "", cond ? cond : "",
        tn(t));
}

/* llama.cpp's MXFP4_MOE (llama_tensor_get_type_impl): expert tensors (3-D,
 * ne[2] > 1: the *_exps matrices) mxfp4, every other matrix q8_0 -- the
 * output and token embedding too (presets-mainline.json). */
static void gen_mxfp4_moe(gen *g) {
    out(g, "\n# MXFP4_MOE: expert matrices mxfp4, every other matrix q8_0\n");
    out(g, "_exps\\.weight$ = mxfp4\n. = q8_0\n");
}

/* The rules of a mainline preset as stock llama.cpp applies them (no ik
 * additions: no iq*_k results, no g >= 4 catch-all, experts == 8 tests). */
static void gen_mainline(gen *g, const preset *p, const qtk_quant_overrides *ov) {
    preset_id id = p->id;
    int d = p->type;
    const qtk_type_traits *dtr = qtk_type_get(d);
    long long blk = dtr ? (long long)dtr->block_size : 256;
    bool iq2 = IN(id, P_IQ2_XXS, P_IQ2_XS, P_IQ1_S, P_IQ2_S, P_IQ2_M, P_IQ1_M);
    bool s2 = IN(id, P_IQ2_S, P_IQ2_M);

    out(g, "\n# stock llama-quantize (--compat mainline): the file loads in llama.cpp and ik_llama.cpp\n");
    /* per-class options (an ik_llama.cpp feature): explicit choices, consulted first */
    const struct { const char *re; int t; } pc[] = {
        {M_ATTN_V, ov->attn_v_type}, {"attn_qkv\\.weight", ov->attn_qkv_type}, {M_ATTN_K, ov->attn_k_type},
        {M_ATTN_Q, ov->attn_q_type}, {"attn_output\\.weight", ov->attn_output_type}, {"ffn_down", ov->ffn_down_type},
        {"ffn_gate", ov->ffn_gate_type}, {"ffn_up", ov->ffn_up_type}};
    for (size_t k = 0; k < sizeof pc / sizeof pc[0]; k++)
        if (pc[k].t >= 0) out(g, "%s = %s\n", pc[k].re, tn(pc[k].t));
    if (IN(id, P_MXFP4, P_MXFP4_MOE)) { /* stock llama.cpp knows ftype 38 as MXFP4_MOE only */
        gen_mxfp4_moe(g);
        return;
    }

    out(g, "\n# output.weight; token_embd.weight instead when the model has no output.weight (tied)\n");
    if (ov->output_tensor_type >= 0) out(g, TOK_W " if tied = %s\n", tn(ov->output_tensor_type));
    bool low = IN(id, P_IQ2_XXS, P_IQ2_XS, P_IQ3_XXS, P_IQ1_S, P_IQ2_S, P_IQ2_M, P_IQ1_M);
    const char *o = low ? "q5_K" : policy_output_q6_k(d, true) ? "q6_K" : "keep";
    out(g, OUT_W " if arch==falcon or cols%%%lld!=0 = q8_0\n" OUT_W " = %s\n", blk, o);
    out(g, TOK_W " if tied and (arch==falcon or cols%%%lld!=0) = q8_0\n" TOK_W " if tied = %s\n", blk, o);
    const char *tok = IN(id, P_IQ2_XXS, P_IQ2_XS, P_IQ1_S, P_IQ1_M) ? "q2_K"
                      : IN(id, P_IQ2_S, P_IQ2_M, P_IQ3_XXS)       ? "iq3_s"
                                                                  : "keep";
    out(g, TOK_W " = %s\n", tok);

    if (iq2) {
        out(g, "\n# low-bit branch\n");
        out(g, M_ATTN_V " if gqa>=4 or experts>=4 = q4_K\n" M_ATTN_V " = %s\n", s2 ? "iq3_s" : "q2_K");
        out(g, M_ATTN_K " if experts==8 = q4_K\n");
        out(g, "ffn_down @ seq first:1/8 = %s\n", s2 ? "iq3_s" : "q2_K");
        out(g, "attn_output\\.weight if experts==8 = q5_K\n");
        if (IN(id, P_IQ1_S, P_IQ1_M)) out(g, "attn_output\\.weight = iq2_xxs\n");
        else if (s2) out(g, "attn_output\\.weight = iq3_s\n");
        return;
    }

    out(g, "\n# attn_v (also attn_qkv, attn_kv_b): layer = attn_v counter; 8 experts: q8_0\n");
    out(g, M_ATTN_V " if experts==8 = q8_0\n");
    switch (id) {
    case P_Q2_K: mv_row(g, NULL, "gqa>=4", QTK_TYPE_Q4_K); mv_row(g, NULL, NULL, QTK_TYPE_Q3_K); break;
    case P_Q2_K_S: mv_row(g, NULL, "gqa>=4", QTK_TYPE_Q4_K); break;
    case P_IQ3_XXS:
        mv_row(g, NULL, "gqa>=4", QTK_TYPE_Q4_K);
        mv_row(g, NULL, "!imatrix", QTK_TYPE_IQ3_S);
        out(g, M_ATTN_V " = keep\n");
        break;
    case P_IQ3_XS: case P_IQ3_S: mv_row(g, NULL, "gqa>=4", QTK_TYPE_Q4_K); break;
    case P_IQ3_M: mv_row(g, NULL, NULL, QTK_TYPE_Q4_K); break;
    case P_Q3_K_M: mv_row(g, "first:2", NULL, QTK_TYPE_Q5_K); mv_row(g, NULL, NULL, QTK_TYPE_Q4_K); break;
    case P_Q3_K_L: mv_row(g, NULL, NULL, QTK_TYPE_Q5_K); break;
    case P_IQ4_NL: case P_IQ4_XS: mv_row(g, NULL, "gqa>=4", QTK_TYPE_Q5_K); break;
    case P_Q4_K_M: case P_Q5_K_M: mv_row(g, "more_bits", NULL, QTK_TYPE_Q6_K); break;
    case P_Q4_K_S: mv_row(g, "first:4", NULL, QTK_TYPE_Q5_K); break;
    default: break;
    }
    int r70 = policy_attn_v_70b(d, true);
    if (r70 >= 0) out(g, M_ATTN_V " if size==70B = %s\n", tn(r70));

    out(g, "\n# attn_k.weight / attn_q.weight\n");
    out(g, M_ATTN_K " if experts==8 = q8_0\n");
    if (id == P_IQ3_XS) out(g, M_ATTN_K " = iq3_xxs\n" M_ATTN_Q " = iq3_xxs\n");
    else if (id == P_IQ3_XXS) out(g, M_ATTN_K " = iq2_s\n" M_ATTN_Q " = iq2_s\n");

    out(g, "\n# ffn_down* (layer from blk.N for MoE models, else the ffn_down counter; n = layers)\n");
    switch (id) {
    case P_Q2_K: out(g, "ffn_down = q3_K\n"); break;
    case P_Q2_K_S: out(g, "ffn_down @ first:1/8 = q4_K\n"); break;
    case P_IQ3_XXS: out(g, "ffn_down @ first:1/8 if !imatrix = q4_K\nffn_down if !imatrix = q3_K\n"); break;
    case P_Q3_K_M:
        out(g, "ffn_down @ first:1/16 = q5_K\nffn_down @ more_bits if arch==falcon = q4_K\n"
               "ffn_down if arch==falcon = keep\nffn_down = q4_K\n");
        break;
    case P_IQ3_M: out(g, "ffn_down @ first:1/8 = q4_K\nffn_down @ more_bits if experts==8 = q4_K\n"); break;
    case P_Q3_K_L: out(g, "ffn_down if arch==falcon = q4_K\nffn_down = q5_K\n"); break;
    case P_Q4_K_M:
        out(g, "ffn_down @ first:1/16 if arch==falcon = q6_K\nffn_down @ more_bits if arch==falcon = q5_K\n"
               "ffn_down if arch==falcon = keep\nffn_down @ more_bits = q6_K\n");
        break;
    case P_IQ4_NL: case P_IQ4_XS: out(g, "ffn_down @ first:1/8 if !imatrix = q5_K\n"); break;
    case P_Q5_K_M: out(g, "ffn_down @ more_bits = q6_K\n"); break;
    case P_Q4_K_S: out(g, "ffn_down @ first:1/8 if arch!=falcon = q5_K\n"); break;
    case P_Q4_0: out(g, "ffn_down @ first:1/8 if imatrix = q4_1\n"); break;
    case P_Q5_0: out(g, "ffn_down @ first:1/8 if imatrix = q5_1\n"); break;
    default: break;
    }

    out(g, "\n# attn_output\n");
    if (id == P_Q3_K_L) out(g, "attn_output\\.weight if arch==falcon = q4_K\n");
    else out(g, "attn_output\\.weight if arch==falcon = keep\n");
    if (IN(id, P_Q2_K, P_IQ3_XS, P_IQ3_XXS, P_Q3_K_S, P_Q3_K_M, P_IQ4_NL, P_Q4_K_S, P_Q4_K_M, P_IQ3_S, P_IQ3_M, P_IQ4_XS))
        out(g, "attn_output\\.weight if experts==8 = q5_K\n");
    else
        out(g, "attn_output\\.weight if experts==8 = keep\n");
    const char *ao = id == P_Q2_K ? "q3_K" : id == P_IQ3_XXS ? "iq3_s" : id == P_Q3_K_M ? "q4_K"
                     : id == P_Q3_K_L ? "q5_K" : id == P_IQ3_M ? "q4_K" : NULL;
    if (ao) out(g, "attn_output\\.weight = %s\n", ao);

    if (id == P_IQ3_XS)
        out(g, "\n# ffn_gate* / ffn_up*\nffn_up @ first:1/8,last:1/8 = keep\nffn_up = iq3_xxs\n"
               "ffn_gate @ first:1/8,last:1/8 = keep\nffn_gate = iq3_xxs\n");
}

static bool quantized_type(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr && tr->is_quantized;
}

/* Writes the recipe text of preset p with overrides ov into g. */
static void gen_preset(gen *g, const preset *p, const qtk_quant_overrides *ov) {
    out(g, "# qtk recipe: preset %s (llama_ftype %d) -- %s\n", p->name, p->ftype, p->desc);
    out(g, "# rules: PATTERN [@ LAYERS] [if CONDITION] = TYPE|keep|copy; the first match wins (docs/recipes.md)\n");
    out(g, "default %s\nfile_type %d\n", tn(p->type), p->ftype);
    if (ov->compat_mainline) out(g, "compat mainline\n");
    if (ov->ignore_imatrix_rules) out(g, "requires_imatrix none\n");
    else if (ov->compat_mainline) /* stock llama-quantize's tensor_requires_imatrix */
        out(g, "requires_imatrix iq3_xxs iq2_xxs iq2_xs iq2_s iq1_m iq1_s%s\n", p->id == P_Q2_K_S ? " q2_K" : "");
    else if (p->id == P_Q2_K_S) out(g, "requires_imatrix iq2_xxs iq2_xs iq2_s iq1_s iq1_m iq1_kt iq2_kt q2_K\n");
    if (ov->pure) {
        out(g, "# --pure: no built-in rules\n");
    } else if (ov->compat_mainline) {
        if (quantized_type(p->type)) gen_mainline(g, p, ov);
    } else if (p->id == P_MIX40 || p->id == P_MIX41) {
        gen_mix(g, p);
    } else if (p->id == P_MXFP4_MOE) {
        gen_mxfp4_moe(g);
    } else if (quantized_type(p->type)) {
        /* the reference runs its rules only for quantized default types */
        gen_embeddings(g, p, ov);
        if (IN(p->id, P_IQ2_KS, P_IQ2_XXS, P_IQ2_XS, P_IQ2_S, P_IQ2_M, P_IQ1_S, P_IQ1_M)) gen_iq2_group(g, p, ov);
        else if (p->id == P_IQ2_KT) gen_iq2_kt(g, ov);
        else gen_generic(g, p, ov);
    }
    if (ov->leave_output_tensor || ov->token_embedding_type >= 0 || ov->output_tensor_type >= 0 ||
        ov->ffn_gate_inp_type >= 0) {
        out(g, "\n# explicit types: applied after the block-size fallback, they always win (MIXES 3 step 6)\n");
        if (ov->leave_output_tensor) out(g, "force " OUT_W " = copy\n");
        if (ov->token_embedding_type >= 0) out(g, "force " TOK_W " = %s\n", tn(ov->token_embedding_type));
        if (ov->output_tensor_type >= 0) out(g, "force " OUT_W " = %s\n", tn(ov->output_tensor_type));
        if (ov->ffn_gate_inp_type >= 0) out(g, "force ffn_gate_inp\\.weight = %s\n", tn(ov->ffn_gate_inp_type));
    }
}

/* Text of all preset names for error messages. */
static void list_presets(char *buf, size_t n) {
    size_t u = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_PRESETS; i++) {
        int w = snprintf(buf + u, n - u, "%s%s", i ? " " : "", presets[i].name);
        if (w < 0 || (size_t)w >= n - u) break;
        u += (size_t)w;
    }
}

qtk_status qtk_recipe_from_preset(const char *name_or_ftype_number, const qtk_quant_overrides *ov,
                                  qtk_recipe **out_r, qtk_error *err) {
    *out_r = NULL;
    const preset *p = find_preset(name_or_ftype_number);
    if (!p) {
        char list[QTK_ERROR_MSG_MAX - 64];
        list_presets(list, sizeof list);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "unknown preset '%s'; valid presets: %s",
                             name_or_ftype_number ? name_or_ftype_number : "(null)", list);
    }
    qtk_quant_overrides none;
    if (!ov) {
        qtk_quant_overrides_init(&none);
        ov = &none;
    }
    const int *types[] = {&ov->output_tensor_type, &ov->token_embedding_type, &ov->attn_q_type, &ov->attn_k_type,
                          &ov->attn_v_type, &ov->attn_qkv_type, &ov->attn_output_type, &ov->ffn_gate_type,
                          &ov->ffn_down_type, &ov->ffn_up_type, &ov->ffn_gate_inp_type};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        if (*types[k] >= 0) {
            const qtk_type_traits *tr = qtk_type_get(*types[k]);
            if (!tr || !tr->file_type)
                return qtk_set_error(err, QTK_ERR_INVALID_ARG, "override type id %d is not a file type", *types[k]);
            if (ov->compat_mainline && !qtk_type_is_mainline(*types[k]))
                return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                     "--compat mainline: %s (a per-tensor type option) is an ik_llama.cpp-only type; "
                                     "stock llama.cpp cannot load it",
                                     tr->name);
        }
    if (ov->compat_mainline && (p->ftype >= 135 || !qtk_type_is_mainline(p->type) || p->id == P_MIX40 || p->id == P_MIX41))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "--compat mainline: preset %s is an ik_llama.cpp preset (%s is ik_llama.cpp-only); "
                             "stock llama.cpp cannot load its files -- choose a mainline preset such as Q4_K_M or "
                             "IQ4_XS",
                             p->name, p->id == P_MIX40 || p->id == P_MIX41 ? "it uses iq3_k/iq4_k/iq5_k" : tn(p->type));
    gen g = {NULL, 0, 0, false};
    gen_preset(&g, p, ov);
    if (g.oom) {
        free(g.p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    char origin[64];
    snprintf(origin, sizeof origin, "preset %s", p->name);
    qtk_status st = qtk_recipe_parse(g.p, origin, out_r, err);
    free(g.p);
    return st;
}

qtk_status qtk_recipe_apply_overrides(qtk_recipe *r, const qtk_quant_overrides *ov, qtk_error *err) {
    if (!r || !ov) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "apply overrides: NULL argument");
    static const char *const pats[] = {"attn_q\\.weight", "attn_k\\.weight", "attn_v\\.weight",
                                       "attn_qkv\\.weight", "attn_output\\.weight",
                                       "ffn_gate(_exps|_shexp)?\\.weight", "ffn_down(_exps|_shexp)?\\.weight",
                                       "ffn_up(_exps|_shexp)?\\.weight"};
    const int vals[] = {ov->attn_q_type, ov->attn_k_type, ov->attn_v_type, ov->attn_qkv_type,
                        ov->attn_output_type, ov->ffn_gate_type, ov->ffn_down_type, ov->ffn_up_type};
    if (ov->pure)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "--pure applies to presets; a recipe file has exactly its own rules");
    qtk_status st;
    if (ov->compat_mainline && !r->mainline) {
        /* every type the recipe can choose must load in stock llama.cpp; the recipe
         * (stored as quantize.recipe) says so with a "compat mainline" line */
        if ((st = qtk_recipe_check_mainline(r, err)) != QTK_OK) return st;
        if (r->n == r->cap) {
            int64_t nc = r->cap ? r->cap * 2 : 32;
            qtk_recipe_line *pl = (qtk_recipe_line *)realloc(r->lines, (size_t)nc * sizeof *pl);
            if (!pl) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            r->lines = pl;
            r->cap = nc;
        }
        int64_t at = 0; /* after the default / file_type lines */
        while (at < r->n && (r->lines[at].kind == QTK_LINE_TEXT || r->lines[at].kind == QTK_LINE_DEFAULT ||
                             r->lines[at].kind == QTK_LINE_FILE_TYPE))
            at++;
        memmove(r->lines + at + 1, r->lines + at, (size_t)(r->n - at) * sizeof *r->lines);
        memset(&r->lines[at], 0, sizeof r->lines[at]);
        r->lines[at].kind = QTK_LINE_COMPAT;
        r->n++;
        r->mainline = true;
    }
    for (int k = 0; k < 8; k++)
        if (vals[k] >= 0 && (st = qtk_recipe_add_custom(r, pats[k], vals[k], err)) != QTK_OK) return st;
    gen g = {NULL, 0, 0, false};
    out(&g, "default q8_0\n"); /* a carrier recipe whose force rules are moved over */
    if (ov->leave_output_tensor) out(&g, "force " OUT_W " = copy\n");
    if (ov->token_embedding_type >= 0) out(&g, "force " TOK_W " = %s\n", tn(ov->token_embedding_type));
    if (ov->output_tensor_type >= 0) out(&g, "force " OUT_W " = %s\n", tn(ov->output_tensor_type));
    if (ov->ffn_gate_inp_type >= 0) out(&g, "force ffn_gate_inp\\.weight = %s\n", tn(ov->ffn_gate_inp_type));
    if (ov->ignore_imatrix_rules) out(&g, "requires_imatrix none\n");
    if (g.oom) {
        free(g.p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    qtk_recipe *tmp = NULL;
    st = qtk_recipe_parse(g.p, "overrides", &tmp, err);
    free(g.p);
    if (st != QTK_OK) return st;
    /* force rules are consulted in order, so the options go before the file's own */
    int64_t at = 0;
    for (int64_t i = 0; i < tmp->n; i++) {
        qtk_recipe_line *src = &tmp->lines[i];
        if (src->kind == QTK_LINE_REQUIRES) {
            memset(r->requires, 0, QTK_TYPE_ID_LIMIT * sizeof(bool));
            if (!r->requires_given) {
                /* append a requires line so the text reproduces the recipe */
                if (r->n == r->cap) {
                    int64_t nc = r->cap ? r->cap * 2 : 32;
                    qtk_recipe_line *pl = (qtk_recipe_line *)realloc(r->lines, (size_t)nc * sizeof *pl);
                    if (!pl) break;
                    r->lines = pl;
                    r->cap = nc;
                }
                memset(&r->lines[r->n], 0, sizeof r->lines[0]);
                r->lines[r->n++].kind = QTK_LINE_REQUIRES;
                r->requires_given = true;
            }
            continue;
        }
        if (src->kind != QTK_LINE_RULE) continue;
        while (at < r->n && !(r->lines[at].kind == QTK_LINE_RULE && r->lines[at].rule.force)) at++;
        if (r->n == r->cap) {
            int64_t nc = r->cap ? r->cap * 2 : 32;
            qtk_recipe_line *pl = (qtk_recipe_line *)realloc(r->lines, (size_t)nc * sizeof *pl);
            if (!pl) {
                qtk_recipe_free(tmp);
                return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            }
            r->lines = pl;
            r->cap = nc;
        }
        memmove(r->lines + at + 1, r->lines + at, (size_t)(r->n - at) * sizeof *r->lines);
        r->lines[at] = *src;
        r->lines[at].rule.line = 0;
        r->lines[at].rule.source = "command-line option";
        memset(src, 0, sizeof *src);
        r->n++;
        at++;
    }
    qtk_recipe_free(tmp);
    return QTK_OK;
}
