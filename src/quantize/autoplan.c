/*
 * autoplan.c — the automatic planner (issue #15, PLANNER.md §4.4).
 *
 * Steps: budget from the target; per-tensor admissible candidates (compat,
 * --allow, floors/ceilings, hard rules); items (harmonised expert groups);
 * per item the Pareto front and its lower convex hull; every hull step sorted
 * by efficiency g = -ΔD/Δbytes (ties: smaller Δbytes, then item order, then
 * step order); the walk takes steps until the first one that does not fit
 * (λ* = its g); the fill step then takes any later step that fits and whose
 * predecessor was taken; the polish then applies single swaps to any
 * Pareto point and pair moves (one item up, another down) while they lower
 * the predicted cost within the budget; safety check (a) raises the floor of
 * tensors far below their class median, the optional check (c) of starved
 * tensors, and below 2.2 bpw expert ffn_down is capped at its gate/up
 * experts; each solves again. The result is written as a
 * recipe (one exact-name rule per tensor, `default copy`) and a --custom-q
 * list. docs/planner.md, section "Planner".
 */
#include "quantize/autoplan.h"
#include "quantize/quantize_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void qtk_autoplan_opts_init(qtk_autoplan_opts *o) { memset(o, 0, sizeof *o); }

/* ---- cost model (stage A) ---------------------------------------------------- */

/* PR 15550's class multipliers (PLANNER §1.1, planner-spec.md): ffn_down ×6
 * (routed and shared experts too), output ×3, attn_v ×1.25, token_embd ×2.5
 * when it is the output matrix (tied), everything else ×1. */
static const struct {
    const char *cls;
    double m;
} k_class_mult[] = {
    {"ffn_down", 6.0}, {"ffn_down_exps", 6.0}, {"ffn_down_shexp", 6.0}, {"output", 3.0}, {"attn_v", 1.25},
};

double qtk_autoplan_class_multiplier(const char *cls, bool tied) {
    if (!strcmp(cls, "token_embd")) return tied ? 2.5 : 1.0;
    for (size_t k = 0; k < sizeof k_class_mult / sizeof k_class_mult[0]; k++)
        if (!strcmp(cls, k_class_mult[k].cls)) return k_class_mult[k].m;
    return 1.0;
}

static bool is_attention(const char *cls) {
    return !strcmp(cls, "attn_q") || !strcmp(cls, "attn_k") || !strcmp(cls, "attn_v") || !strcmp(cls, "attn_qkv") ||
           !strcmp(cls, "attn_output");
}

/* D = m_class · α · R · ε_rel, attention tensors additionally × (1 + 0.5·2^(3−b))
 * with b the candidate's nominal bpw (PR 15550's low-bpw attention factor). */
double qtk_autoplan_cost(const qtk_measure_tensor *t, const qtk_measure_cand *c, bool tied) {
    return qtk_autoplan_cost_at(t, c, tied, false);
}

static bool is_ffn_down(const char *cls) {
    return !strcmp(cls, "ffn_down") || !strcmp(cls, "ffn_down_exps") || !strcmp(cls, "ffn_down_shexp");
}

/* Below an average of 2.2 bpw PR 15550 replaces the ffn_down multiplier by the
 * error factor 1 + 2^(3 - b): large for the low types, ~1 at 8 bpw. */
double qtk_autoplan_cost_at(const qtk_measure_tensor *t, const qtk_measure_cand *c, bool tied, bool low_bpw) {
    return qtk_autoplan_cost_ex(t, c, tied, low_bpw, QTK_AUTOPLAN_COST_REL);
}

const char *qtk_autoplan_cost_name(int m) {
    switch (m) {
    case QTK_AUTOPLAN_COST_REL: return "rel";
    case QTK_AUTOPLAN_COST_ABS: return "abs";
    case QTK_AUTOPLAN_COST_CALIB: return "calib";
    case QTK_AUTOPLAN_COST_KLD: return "kld";
    case QTK_AUTOPLAN_COST_AUTO: return "auto";
    default: return NULL;
    }
}

int qtk_autoplan_cost_from_name(const char *name) {
    for (int m = QTK_AUTOPLAN_COST_AUTO; m <= QTK_AUTOPLAN_COST_KLD; m++)
        if (name && qtk_autoplan_cost_name(m) && !strcmp(name, qtk_autoplan_cost_name(m))) return m;
    return -2;
}

static bool alpha_calibrated(const qtk_measure_tensor *t) {
    return !strcmp(t->alpha_src, "probe") || !strcmp(t->alpha_src, "interp") || !strcmp(t->alpha_src, "user");
}

int qtk_autoplan_default_cost(const qtk_measure_table *tab) {
    bool calib = tab && tab->n > 0, all_kld = calib;
    for (int64_t i = 0; tab && i < tab->n; i++) {
        const qtk_measure_tensor *t = &tab->t[i];
        if (t->pinned) continue;
        if (!alpha_calibrated(t)) calib = false;
        for (int c = 0; c < t->n_cand; c++)
            if (!t->cand[c].has_dkld) all_kld = false;
    }
    return calib && all_kld ? QTK_AUTOPLAN_COST_KLD : calib ? QTK_AUTOPLAN_COST_CALIB : QTK_AUTOPLAN_COST_REL;
}

/* α of candidate c under the calib cost. A tensor probed at several types
 * (--probe-extra) has a per-candidate α from its own probes
 * (qtk_measure_cand_probe_alpha), since α measured at a low probe type
 * overstates the cost of the higher types by a factor that differs between
 * tensors (docs/planner.md, linear response); a tensor whose α is
 * interpolated over depth takes the same per-type factor from the probed
 * tensors of its class around it (interp_ratio), so probed and unprobed
 * tensors are costed alike. Otherwise (one probe, user-set) the tensor's α. */
static double calib_alpha(const qtk_measure_tensor *t, const qtk_measure_cand *c) {
    if (!strcmp(t->alpha_src, "interp")) return c->interp_ratio > 0 ? t->alpha * c->interp_ratio : t->alpha;
    if (strcmp(t->alpha_src, "probe") != 0) return t->alpha;
    return qtk_measure_cand_probe_alpha(t, c);
}

double qtk_autoplan_cost_ex(const qtk_measure_tensor *t, const qtk_measure_cand *c, bool tied, bool low_bpw,
                            int cost_model) {
    /* stage C: the probes' α already holds the class and depth scale */
    if (cost_model == QTK_AUTOPLAN_COST_KLD && c->has_dkld) return c->dkld > 0 ? c->dkld : 0.0;
    if (cost_model == QTK_AUTOPLAN_COST_CALIB || cost_model == QTK_AUTOPLAN_COST_KLD)
        return calib_alpha(t, c) * c->eps_abs;
    double rows = (double)t->ne[1] * (double)(t->ne[2] > 0 ? t->ne[2] : 1);
    double m = low_bpw && is_ffn_down(t->cls) ? 1.0 + pow(2.0, 3.0 - qtk_type_bpw(c->type))
                                              : qtk_autoplan_class_multiplier(t->cls, tied);
    double e = cost_model == QTK_AUTOPLAN_COST_ABS ? c->eps_abs : rows * c->eps_rel;
    double d = m * t->alpha * e;
    if (is_attention(t->cls)) d *= 1.0 + 0.5 * pow(2.0, 3.0 - qtk_type_bpw(c->type));
    return d;
}

/* ---- sizes ----------------------------------------------------------------------- */

qtk_status qtk_parse_size(const char *text, uint64_t *out, qtk_error *err) {
    if (!text || !*text) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "empty size");
    const char *p = text;
    while (*p == ' ') p++;
    if (!isdigit((unsigned char)*p) && *p != '.')
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': expected a number with an optional unit "
                             "(B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", text);
    /* integer part exactly (bare byte counts up to 2^64-1), fraction as a double */
    uint64_t ip = 0;
    bool overflow = false;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (ip > (UINT64_MAX - d) / 10) overflow = true;
        else ip = ip * 10 + d;
        p++;
    }
    double frac = 0.0, scale = 0.1;
    bool has_frac = false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': digits expected after '.'", text);
        while (isdigit((unsigned char)*p)) {
            frac += scale * (*p - '0');
            scale /= 10;
            has_frac = true;
            p++;
        }
    }
    while (*p == ' ') p++;
    uint64_t mult = 1;
    const char *u = p;
    if (*u) {
        static const struct {
            const char *name;
            uint64_t mult;
        } units[] = {
            {"b", 1},
            {"kib", 1024ull}, {"mib", 1024ull * 1024}, {"gib", 1024ull * 1024 * 1024},
            {"tib", 1024ull * 1024 * 1024 * 1024},
            {"kb", 1000ull}, {"mb", 1000000ull}, {"gb", 1000000000ull}, {"tb", 1000000000000ull},
        };
        bool found = false;
        for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
            if (!qtk_strcasecmp(u, units[k].name)) {
                mult = units[k].mult;
                found = true;
            }
        if (!found)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': unknown unit '%s' (B, KiB, MiB, GiB, TiB, "
                                 "KB, MB, GB, TB; a bare number is bytes)", text, u);
    }
    if (has_frac && mult == 1)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': a byte count must be a whole number", text);
    if (overflow || (mult > 1 && ip > UINT64_MAX / mult))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': too large", text);
    uint64_t v = ip * mult;
    double f = frac * (double)mult; /* < mult */
    uint64_t fb = (uint64_t)f;
    if (fb > UINT64_MAX - v) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': too large", text);
    v += fb;
    if (v == 0) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad size '%s': must be positive", text);
    *out = v;
    return QTK_OK;
}

static uint64_t pad_to(uint64_t n, uint64_t a) { return a > 1 ? (n + a - 1) / a * a : n; }

/* ---- the recipe text --------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t l) {
    if (b->oom) return;
    if (b->n + l + 1 > b->cap) {
        size_t nc = (b->cap + l + 1) * 2;
        char *q = (char *)realloc(b->p, nc);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, l);
    b->n += l;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_printf(sbuf *b, const char *fmt, ...) QTK_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int l = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (l < 0) l = 0;
    if ((size_t)l >= sizeof tmp) l = (int)sizeof tmp - 1;
    sb_putn(b, tmp, (size_t)l);
}

/* Characters a tensor name may hold to be written as an anchored rule. */
static bool name_writable(const char *s) {
    if (!*s) return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == ',' || c == '=' || c == '#' || c == 0x7f) return false;
    }
    return true;
}

/* ^name$ with the regex metacharacters escaped (valid for qtk's recipes,
 * ECMAScript std::regex of llama-quantize / ik_llama.cpp). */
static void put_anchored(sbuf *b, const char *name) {
    sb_puts(b, "^");
    for (const char *s = name; *s; s++) {
        if (strchr(".^$|()[]{}*+?\\", *s)) sb_putn(b, "\\", 1);
        sb_putn(b, s, 1);
    }
    sb_puts(b, "$");
}

/* A comment line (control characters replaced). */
static void put_comment(sbuf *b, const char *text) {
    sb_puts(b, "# ");
    for (const char *s = text; *s; s++) sb_putn(b, ((unsigned char)*s < ' ' || *s == 0x7f) ? "?" : s, 1);
    sb_puts(b, "\n");
}

static char *build_recipe(const qtk_measure_table *tab, const int *type, int file_type, const qtk_autoplan_opts *o,
                          bool mainline) {
    sbuf b = {NULL, 0, 0, false};
    sb_puts(&b, "");
    put_comment(&b, "qtk plan: automatic mix (docs/planner.md); one rule per measured tensor");
    if (o->comment) put_comment(&b, o->comment);
    char line[200];
    snprintf(line, sizeof line, "table: model %.80s, model_hash %.16s, imatrix_hash %.16s, metric %.31s",
             tab->model_name ? tab->model_name : "?", tab->model_hash, tab->imatrix_hash, tab->metric);
    put_comment(&b, line);
    sb_puts(&b, "default copy\n");
    sb_printf(&b, "file_type %d\n", file_type);
    if (mainline) sb_puts(&b, "compat mainline\n");
    for (int64_t i = 0; i < tab->n; i++) {
        put_anchored(&b, tab->t[i].name);
        sb_puts(&b, " = ");
        sb_puts(&b, qtk_type_name(type[i]));
        sb_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *build_custom_q(const qtk_measure_table *tab, const int *type) {
    sbuf b = {NULL, 0, 0, false};
    sb_puts(&b, "");
    for (int64_t i = 0; i < tab->n; i++) {
        if (i) sb_puts(&b, ",");
        put_anchored(&b, tab->t[i].name);
        sb_puts(&b, "=");
        sb_puts(&b, qtk_type_name(type[i]));
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* general.file_type of the plan: the preset of the type holding the most
 * bytes (ties: lower type id); with mainline only mainline presets. */
static int plan_file_type(const qtk_measure_table *tab, const int *type, const uint64_t *bytes, bool mainline) {
    uint64_t *by = (uint64_t *)calloc(QTK_TYPE_ID_LIMIT, sizeof *by);
    if (!by) return 1;
    for (int64_t i = 0; i < tab->n; i++)
        if (type[i] >= 0 && type[i] < QTK_TYPE_ID_LIMIT) by[type[i]] += bytes[i];
    int best = 1; /* F16 when nothing else names a preset */
    uint64_t best_b = 0;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
        if (!by[t]) continue;
        int ft = qtk_preset_ftype_for_type(t);
        if (ft < 0 || (mainline && ft >= 135)) continue;
        if (by[t] > best_b) {
            best_b = by[t];
            best = ft;
        }
    }
    free(by);
    return best;
}

/* ---- solver state ---------------------------------------------------------------- */

typedef struct ap_point {
    int type;
    uint64_t w;   /* weight: padded (size target) or plain (bpw target) bytes */
    double d;
} ap_point;

typedef struct ap_item {
    int64_t *members;
    int n_members;
    int n_hull;
    ap_point *hull; /* lower convex hull, increasing w, decreasing d */
    int level;      /* chosen hull point (walk and fill) */
    int n_par;
    ap_point *par;  /* Pareto front (hull points included), increasing w, decreasing d */
    int cur;        /* chosen Pareto point (after the polish: maybe off the hull) */
} ap_item;

typedef struct ap_step {
    double g;
    uint64_t dw;
    int64_t item;
    int k; /* from hull[k-1] to hull[k] */
} ap_step;

typedef struct solver {
    const qtk_measure_table *tab;
    const qtk_autoplan_opts *o;
    bool tied, size_mode, mainline;
    int64_t *off;   /* candidate offset per tensor */
    bool *adm;      /* admissible flag per (tensor, candidate) */
    double *cost;   /* cost per (tensor, candidate) */
    int64_t n_items;
    ap_item *items;
    int64_t *item_of; /* item index per tensor */
    int64_t *member_buf; /* [tab->n]: the items' members, item after item (a partition) */
    ap_step *steps;
    int64_t n_steps;
} solver;

static uint64_t cand_weight(const solver *s, const qtk_measure_cand *c) {
    return s->size_mode ? pad_to(c->bytes, s->tab->alignment) : c->bytes;
}

static int cmp_step(const void *a, const void *b) {
    const ap_step *x = (const ap_step *)a, *y = (const ap_step *)b;
    if (x->g != y->g) return x->g > y->g ? -1 : 1;
    if (x->dw != y->dw) return x->dw < y->dw ? -1 : 1;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

static int cmp_point(const void *a, const void *b) {
    const ap_point *x = (const ap_point *)a, *y = (const ap_point *)b;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* Bytes of type t (after its fallback) for tensor tt: the reference a
 * floor/ceiling compares candidates with. */
static double bound_bytes(const qtk_measure_tensor *tt, int t, bool mainline) {
    int ft = qtk_fallback_type(t, tt->ne[0], mainline);
    size_t rs = qtk_row_size(ft, tt->ne[0]);
    double rows = (double)tt->ne[1] * (double)(tt->ne[2] > 0 ? tt->ne[2] : 1);
    if (rs) return (double)rs * rows;
    return qtk_type_bpw(ft) / 8.0 * (double)tt->ne[0] * rows;
}

static bool type_allowed(const solver *s, const qtk_measure_tensor *tt, int type) {
    const qtk_autoplan_opts *o = s->o;
    if (!o->allow) return true;
    for (int k = 0; k < o->n_allow; k++)
        if (o->allow[k] == type || qtk_fallback_type(o->allow[k], tt->ne[0], s->mainline) == type) return true;
    return false;
}

static const char *k_imatrix_exempt[] = {"token_embd", "output"};

/* Admissible candidates of every tensor under the rules (not the safety floors). */
static qtk_status apply_rules(solver *s, qtk_error *err) {
    const qtk_measure_table *tab = s->tab;
    const qtk_autoplan_opts *o = s->o;
    bool no_imatrix = !strcmp(tab->imatrix_hash, "-") || !tab->imatrix_hash[0];
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *tt = &tab->t[i];
        bool *adm = s->adm + s->off[i];
        if (tt->pinned) { /* a rule of the measure pass fixed it: its one candidate */
            for (int k = 0; k < tt->n_cand; k++) adm[k] = k == 0;
            continue;
        }
        /* default floors [P]: output (and a tied token_embd) >= q4_K, token_embd >= q2_K */
        int floor_t = -1;
        if (!o->no_default_floors) {
            if (!strcmp(tt->cls, "output") || (s->tied && !strcmp(tt->cls, "token_embd"))) floor_t = QTK_TYPE_Q4_K;
            else if (!strcmp(tt->cls, "token_embd")) floor_t = QTK_TYPE_Q2_K;
        }
        int min_t = -1, max_t = -1;
        for (int k = 0; k < o->n_bounds; k++)
            if (!strcmp(o->bounds[k].cls, tt->cls)) {
                if (o->bounds[k].is_max) max_t = o->bounds[k].type;
                else min_t = o->bounds[k].type;
            }
        if (min_t >= 0) floor_t = -1; /* a user floor replaces the default one */
        double lo = min_t >= 0 ? bound_bytes(tt, min_t, s->mainline) : 0;
        double hi = max_t >= 0 ? bound_bytes(tt, max_t, s->mainline) : INFINITY;
        double dlo = floor_t >= 0 ? bound_bytes(tt, floor_t, s->mainline) : 0;
        int n_ok = 0, n_rule_ok = 0;
        for (int k = 0; k < tt->n_cand; k++) {
            const qtk_measure_cand *c = &tt->cand[k];
            const qtk_type_traits *tr = qtk_type_get(c->type);
            bool ok = tr && tr->quantize && !tr->interleaved;
            if (ok && s->o->compat == QTK_AUTOPLAN_COMPAT_MAINLINE) ok = (tr->ecosystems & QTK_ECO_LLAMA_CPP) != 0;
            if (ok && s->o->compat == QTK_AUTOPLAN_COMPAT_IK) ok = (tr->ecosystems & QTK_ECO_IK_LLAMA) != 0;
            if (ok && no_imatrix && tr->requires_imatrix && strcmp(tt->cls, k_imatrix_exempt[0]) &&
                strcmp(tt->cls, k_imatrix_exempt[1]))
                ok = false;
            if (ok) ok = type_allowed(s, tt, c->type);
            if (ok && min_t >= 0) ok = c->type == qtk_fallback_type(min_t, tt->ne[0], s->mainline) || (double)c->bytes >= lo;
            if (ok && max_t >= 0) ok = c->type == qtk_fallback_type(max_t, tt->ne[0], s->mainline) || (double)c->bytes <= hi;
            adm[k] = ok;
            n_rule_ok += ok;
        }
        if (!n_rule_ok) {
            char types[256] = "";
            for (int k = 0; k < tt->n_cand && strlen(types) < 200; k++)
                snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", k ? "," : "",
                         qtk_type_name(tt->cand[k].type));
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "tensor '%s' (class %s) has no admissible candidate: the table measured %s and "
                                 "--compat/--allow/--min/--max exclude all of them",
                                 tt->name, tt->cls, types);
        }
        /* the default floor: keep the candidates at or above it, or the largest one */
        if (floor_t >= 0) {
            int best = -1;
            for (int k = 0; k < tt->n_cand; k++) {
                if (!adm[k]) continue;
                if ((double)tt->cand[k].bytes >= dlo || tt->cand[k].type == qtk_fallback_type(floor_t, tt->ne[0], s->mainline)) n_ok++;
                best = k;
            }
            for (int k = 0; k < tt->n_cand; k++)
                if (adm[k] && n_ok && (double)tt->cand[k].bytes < dlo &&
                    tt->cand[k].type != qtk_fallback_type(floor_t, tt->ne[0], s->mainline))
                    adm[k] = false;
            if (!n_ok)
                for (int k = 0; k < tt->n_cand; k++) adm[k] = k == best;
        }
    }
    return QTK_OK;
}

static void free_items(solver *s) {
    for (int64_t j = 0; j < s->n_items; j++) {
        free(s->items[j].hull);
        free(s->items[j].par);
    }
    free(s->items);
    s->items = NULL;
    s->n_items = 0;
    free(s->steps);
    s->steps = NULL;
    s->n_steps = 0;
}

/* The harmonisation group of tensor i ("" = none). */
static void group_of(const solver *s, int64_t i, char *buf, size_t n) {
    const qtk_measure_tensor *tt = &s->tab->t[i];
    buf[0] = 0;
    if (!s->o->harmonize_experts) return;
    if (tt->group && tt->group[0] && strcmp(tt->group, "-")) {
        snprintf(buf, n, "%s", tt->group);
        return;
    }
    if ((!strcmp(tt->cls, "ffn_up_exps") || !strcmp(tt->cls, "ffn_gate_exps")) && tt->layer >= 0)
        snprintf(buf, n, "blk.%lld.ffn_upgate_exps", (long long)tt->layer);
}

/* Items, hulls and sorted steps from the current admissibility. */
static qtk_status build_items(solver *s, qtk_error *err) {
    const qtk_measure_table *tab = s->tab;
    free_items(s);
    s->items = (ap_item *)calloc((size_t)(tab->n ? tab->n : 1), sizeof *s->items);
    if (!s->items) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (planner items)");
    char gi[128], gj[128];
    int64_t n_placed = 0;
    for (int64_t i = 0; i < tab->n; i++) s->item_of[i] = -1;
    for (int64_t i = 0; i < tab->n; i++) {
        if (s->item_of[i] >= 0) continue;
        ap_item *it = &s->items[s->n_items];
        group_of(s, i, gi, sizeof gi);
        /* every tensor is in exactly one item: the members fit in member_buf */
        it->members = s->member_buf + n_placed;
        it->members[it->n_members++] = i;
        n_placed++;
        s->item_of[i] = s->n_items;
        if (gi[0])
            for (int64_t j = i + 1; j < tab->n; j++) {
                group_of(s, j, gj, sizeof gj);
                if (!strcmp(gi, gj) && n_placed < tab->n) {
                    it->members[it->n_members++] = j;
                    n_placed++;
                    s->item_of[j] = s->n_items;
                }
            }
        s->n_items++;
        /* candidates: the types admissible for every member, bytes and cost summed */
        const qtk_measure_tensor *t0 = &tab->t[i];
        ap_point *pts = (ap_point *)malloc((size_t)(t0->n_cand ? t0->n_cand : 1) * sizeof *pts);
        if (!pts) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (planner candidates)");
        int np = 0;
        for (int k = 0; k < t0->n_cand; k++) {
            if (!s->adm[s->off[i] + k]) continue;
            int type = t0->cand[k].type;
            uint64_t w = cand_weight(s, &t0->cand[k]);
            double d = s->cost[s->off[i] + k];
            bool all = true;
            for (int m = 1; m < it->n_members && all; m++) {
                int64_t j = it->members[m];
                const qtk_measure_tensor *tj = &tab->t[j];
                int kk = -1;
                for (int q = 0; q < tj->n_cand; q++)
                    if (tj->cand[q].type == type && s->adm[s->off[j] + q]) kk = q;
                if (kk < 0) all = false;
                else {
                    w += cand_weight(s, &tj->cand[kk]);
                    d += s->cost[s->off[j] + kk];
                }
            }
            if (all) pts[np++] = (ap_point){type, w, d};
        }
        if (!np) {
            free(pts);
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "harmonised group '%s' (first tensor '%s'): no candidate type is admissible for "
                                 "all of its %d tensors",
                                 gi, t0->name, it->n_members);
        }
        qsort(pts, (size_t)np, sizeof *pts, cmp_point);
        /* Pareto (strictly decreasing cost), kept for the polish; then the lower convex hull */
        int npar = 0;
        for (int k = 0; k < np; k++)
            if (!npar || pts[k].d < pts[npar - 1].d) pts[npar++] = pts[k];
        np = npar;
        it->par = (ap_point *)malloc((size_t)np * sizeof *it->par);
        if (!it->par) {
            free(pts);
            return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (planner candidates)");
        }
        memcpy(it->par, pts, (size_t)np * sizeof *pts);
        it->n_par = np;
        it->cur = 0;
        int nh = 0;
        for (int k = 0; k < np; k++) {
            while (nh >= 2) {
                const ap_point *a = &pts[nh - 2], *b = &pts[nh - 1], *c = &pts[k];
                double s1 = (b->d - a->d) / ((double)(b->w - a->w));
                double s2 = (c->d - b->d) / ((double)(c->w - b->w));
                if (s1 >= s2) nh--; /* b on or above the segment a-c */
                else break;
            }
            pts[nh++] = pts[k];
        }
        it->hull = pts;
        it->n_hull = nh;
        it->level = 0;
    }
    int64_t ns = 0;
    for (int64_t j = 0; j < s->n_items; j++) ns += s->items[j].n_hull - 1;
    s->steps = (ap_step *)malloc((size_t)(ns ? ns : 1) * sizeof *s->steps);
    if (!s->steps) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (planner steps)");
    s->n_steps = 0;
    for (int64_t j = 0; j < s->n_items; j++) {
        const ap_item *it = &s->items[j];
        for (int k = 1; k < it->n_hull; k++) {
            ap_step *st = &s->steps[s->n_steps++];
            st->dw = it->hull[k].w - it->hull[k - 1].w;
            st->g = (it->hull[k - 1].d - it->hull[k].d) / (double)st->dw;
            st->item = j;
            st->k = k;
        }
    }
    qsort(s->steps, (size_t)s->n_steps, sizeof *s->steps, cmp_step);
    return QTK_OK;
}

typedef struct walk_out {
    uint64_t base, top, used, first_misfit, min_next;
    double lambda;
    int64_t taken, fill, polish;
    double polish_gain;
} walk_out;

static void sums(const solver *s, uint64_t *base, uint64_t *top) {
    *base = *top = 0;
    for (int64_t j = 0; j < s->n_items; j++) {
        *base += s->items[j].hull[0].w;
        *top += s->items[j].hull[s->items[j].n_hull - 1].w;
    }
}

/* A downgrade the polish may pair with an upgrade: item `item` down to its
 * Pareto point `p`. */
typedef struct pmove {
    int64_t item;
    int p;
    uint64_t freed; /* bytes a downgrade frees */
    double dd;      /* cost a downgrade adds (> 0) */
} pmove;

static int cmp_pmove(const void *a, const void *b) {
    const pmove *x = (const pmove *)a, *y = (const pmove *)b;
    if (x->freed != y->freed) return x->freed < y->freed ? -1 : 1;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    return x->p - y->p;
}

/* The polish (PLANNER §4.4 step 7): after the walk and the fill, repeatedly
 * apply the move with the largest strict decrease of the predicted cost that
 * stays within the budget: one item to any Pareto point (hull or not), or one
 * item up and another down (a step moved between two items). Deterministic:
 * ties keep the first move found (items in order, points in order). */
static void polish(solver *s, uint64_t budget, uint64_t *used, walk_out *w) {
    int64_t n_dn_max = 0;
    for (int64_t j = 0; j < s->n_items; j++) n_dn_max += s->items[j].n_par;
    pmove *dn = (pmove *)malloc((size_t)(n_dn_max ? n_dn_max : 1) * sizeof *dn);
    /* suffix best and second best (different items) of dd over dn sorted by freed */
    int64_t *best1 = (int64_t *)malloc((size_t)(n_dn_max + 1) * sizeof *best1);
    int64_t *best2 = (int64_t *)malloc((size_t)(n_dn_max + 1) * sizeof *best2);
    if (!dn || !best1 || !best2) goto out; /* no polish without memory: the plan stays valid */
    for (int64_t iter = 0; iter < 4 * s->n_items + 16; iter++) {
        uint64_t left = budget - *used;
        double best_gain = 0;
        int64_t bu = -1, bd = -1;
        int bup = 0, bdp = 0;
        /* downgrades, sorted by bytes freed */
        int64_t nd = 0;
        for (int64_t j = 0; j < s->n_items; j++) {
            const ap_item *it = &s->items[j];
            for (int k = 0; k < it->cur; k++)
                dn[nd++] = (pmove){j, k, it->par[it->cur].w - it->par[k].w, it->par[k].d - it->par[it->cur].d};
        }
        qsort(dn, (size_t)nd, sizeof *dn, cmp_pmove);
        best1[nd] = best2[nd] = -1;
        for (int64_t q = nd - 1; q >= 0; q--) {
            int64_t b1 = best1[q + 1], b2 = best2[q + 1];
            if (b1 < 0 || dn[q].dd <= dn[b1].dd) {
                /* q is the new best; the old best, of another item, the second */
                if (b1 >= 0 && dn[b1].item != dn[q].item) b2 = b1;
                b1 = q;
            } else if (dn[q].item != dn[b1].item && (b2 < 0 || dn[q].dd <= dn[b2].dd)) {
                b2 = q;
            }
            best1[q] = b1;
            best2[q] = b2;
        }
        for (int64_t j = 0; j < s->n_items; j++) {
            const ap_item *it = &s->items[j];
            for (int k = it->cur + 1; k < it->n_par; k++) {
                uint64_t dw = it->par[k].w - it->par[it->cur].w;
                double gain = it->par[it->cur].d - it->par[k].d;
                if (dw <= left) {
                    if (gain > best_gain) {
                        best_gain = gain;
                        bu = j;
                        bup = k;
                        bd = -1;
                    }
                    continue;
                }
                /* the cheapest downgrade of another item freeing at least dw - left */
                uint64_t need = dw - left;
                int64_t lo = 0, hi = nd;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (dn[mid].freed >= need) hi = mid;
                    else lo = mid + 1;
                }
                int64_t c = best1[lo];
                if (c >= 0 && dn[c].item == j) c = best2[lo];
                if (c < 0) continue;
                double net = gain - dn[c].dd;
                if (net > best_gain) {
                    best_gain = net;
                    bu = j;
                    bup = k;
                    bd = c;
                }
            }
        }
        if (bu < 0) break;
        ap_item *u = &s->items[bu];
        *used += u->par[bup].w - u->par[u->cur].w;
        if (bd >= 0) {
            ap_item *d = &s->items[dn[bd].item];
            bdp = dn[bd].p;
            *used -= d->par[d->cur].w - d->par[bdp].w;
            d->cur = bdp;
        }
        u->cur = bup;
        w->polish++;
        w->polish_gain += best_gain;
    }
out:
    free(dn);
    free(best1);
    free(best2);
}

/* The equal-slope walk and the fill; assumes base <= budget. */
static void walk(solver *s, uint64_t budget, walk_out *w) {
    memset(w, 0, sizeof *w);
    sums(s, &w->base, &w->top);
    for (int64_t j = 0; j < s->n_items; j++) s->items[j].level = 0;
    uint64_t used = w->base;
    bool misfit = false;
    for (int64_t q = 0; q < s->n_steps; q++) {
        const ap_step *st = &s->steps[q];
        ap_item *it = &s->items[st->item];
        if (!misfit) {
            if (st->dw <= budget - used) {
                used += st->dw;
                it->level = st->k;
                w->taken++;
            } else {
                misfit = true;
                w->first_misfit = st->dw;
                w->lambda = st->g;
                if (s->o->no_fill) break;
            }
        } else if (it->level == st->k - 1 && st->dw <= budget - used) {
            used += st->dw;
            it->level = st->k;
            w->fill++;
        }
    }
    /* the chosen hull point on the Pareto front */
    for (int64_t j = 0; j < s->n_items; j++) {
        ap_item *it = &s->items[j];
        it->cur = 0;
        for (int k = 0; k < it->n_par; k++)
            if (it->par[k].type == it->hull[it->level].type) it->cur = k;
    }
    if (!s->o->no_fill && !s->o->no_polish) polish(s, budget, &used, w);
    w->used = used;
    /* the smallest upgrade not taken: the next hull step (walk), the next
     * Pareto point (after the polish, which takes every single upgrade that fits) */
    w->min_next = 0;
    bool polished = !s->o->no_fill && !s->o->no_polish;
    for (int64_t j = 0; j < s->n_items; j++) {
        const ap_item *it = &s->items[j];
        uint64_t dw = 0;
        if (polished && it->cur + 1 < it->n_par) dw = it->par[it->cur + 1].w - it->par[it->cur].w;
        else if (!polished && it->level + 1 < it->n_hull) dw = it->hull[it->level + 1].w - it->hull[it->level].w;
        if (dw && (!w->min_next || dw < w->min_next)) w->min_next = dw;
    }
}

/* Candidate index of tensor i for the item's chosen type. */
static int chosen_cand(const solver *s, int64_t i) {
    const ap_item *it = &s->items[s->item_of[i]];
    int type = it->par[it->cur].type;
    const qtk_measure_tensor *tt = &s->tab->t[i];
    for (int k = 0; k < tt->n_cand; k++)
        if (tt->cand[k].type == type && s->adm[s->off[i] + k]) return k;
    return -1; /* cannot happen: items only hold types admissible for every member */
}

static double tensor_bpw(const qtk_measure_tensor *tt, uint64_t bytes) {
    double n = (double)tt->ne[0] * (double)tt->ne[1] * (double)(tt->ne[2] > 0 ? tt->ne[2] : 1);
    return n > 0 ? (double)bytes * 8.0 / n : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Appends "; text" to the notes (once per distinct text; truncated when full). */
static void add_note(char *note, size_t n, const char *fmt, ...) QTK_PRINTF(3, 4);
static void add_note(char *note, size_t n, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (strstr(note, tmp)) return;
    size_t l = strlen(note);
    if (l + 2 < n) snprintf(note + l, n - l, "%s%s", l ? "; " : "", tmp);
}

/* Safety check (a): tensors more than `spread` bpw below their class median
 * (classes of >= 3 tensors) get a floor of median - spread. Returns how many
 * floors were raised; 0 = the check passes. */
static int64_t safety_spread(solver *s, const int *cand, double spread, char *note, size_t note_n) {
    const qtk_measure_table *tab = s->tab;
    double *v = (double *)malloc((size_t)tab->n * sizeof *v);
    double *med = (double *)malloc((size_t)tab->n * sizeof *med);
    int64_t *cls_n = (int64_t *)malloc((size_t)tab->n * sizeof *cls_n);
    int64_t raised = 0;
    if (!v || !med || !cls_n) goto out;
    /* the median bpw of each class, stored on every tensor of the class */
    for (int64_t i = 0; i < tab->n; i++) cls_n[i] = -1;
    for (int64_t i = 0; i < tab->n; i++) {
        if (cls_n[i] >= 0) continue;
        int64_t n = 0;
        for (int64_t j = i; j < tab->n; j++)
            if (!strcmp(tab->t[j].cls, tab->t[i].cls)) v[n++] = tensor_bpw(&tab->t[j], tab->t[j].cand[cand[j]].bytes);
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        for (int64_t j = i; j < tab->n; j++)
            if (!strcmp(tab->t[j].cls, tab->t[i].cls)) {
                cls_n[j] = n;
                med[j] = m;
            }
    }
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *ti = &tab->t[i];
        if (ti->pinned || cls_n[i] < 3) continue;
        double b = tensor_bpw(ti, ti->cand[cand[i]].bytes), lo = med[i] - spread;
        if (b >= lo) continue;
        /* raise the floor: drop admissible candidates below median - spread */
        bool any_above = false;
        for (int q = 0; q < ti->n_cand; q++)
            if (s->adm[s->off[i] + q] && tensor_bpw(ti, ti->cand[q].bytes) >= lo) any_above = true;
        if (!any_above) continue;
        for (int q = 0; q < ti->n_cand; q++)
            if (s->adm[s->off[i] + q] && tensor_bpw(ti, ti->cand[q].bytes) < lo) s->adm[s->off[i] + q] = false;
        if (!raised)
            add_note(note, note_n, "safety (a): %s at %.2f bpw was more than %.1f bpw below the %s median %.2f; floor raised",
                     ti->name, b, spread, ti->cls, med[i]);
        raised++;
    }
out:
    free(v);
    free(med);
    free(cls_n);
    return raised;
}

/* Safety check (c), starvation [ours, after Thireus' veto]: when the tensors
 * above their smallest admissible candidate sit in a narrow band (25th to
 * 75th percentile of their bpw within QTK_AP_STARVE_BAND) while some
 * tensors are starved at their smallest candidate more than
 * QTK_AP_STARVE_GAP bpw below the median of that band, the starved tensors
 * get a floor of median - gap. Returns how many floors were raised. */
#define QTK_AP_STARVE_BAND 1.0
#define QTK_AP_STARVE_GAP 1.5
static int64_t safety_starvation(solver *s, const int *cand, char *note, size_t note_n) {
    const qtk_measure_table *tab = s->tab;
    double *v = (double *)malloc((size_t)tab->n * sizeof *v);
    bool *floored = (bool *)calloc((size_t)tab->n, sizeof *floored);
    int64_t raised = 0, nv = 0;
    if (!v || !floored) goto out;
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *ti = &tab->t[i];
        int first = -1, n_adm = 0;
        for (int q = 0; q < ti->n_cand; q++)
            if (s->adm[s->off[i] + q]) {
                if (first < 0) first = q; /* candidates are sorted by bytes */
                n_adm++;
            }
        if (ti->pinned || n_adm < 2) continue;
        if (cand[i] == first) floored[i] = true;
        else v[nv++] = tensor_bpw(ti, ti->cand[cand[i]].bytes);
    }
    if (nv < 5) goto out;
    qsort(v, (size_t)nv, sizeof *v, cmp_double);
    double q1 = v[(nv - 1) / 4], q3 = v[(nv - 1) - (nv - 1) / 4]; /* quartiles */
    double med = nv % 2 ? v[nv / 2] : 0.5 * (v[nv / 2 - 1] + v[nv / 2]);
    if (q3 - q1 > QTK_AP_STARVE_BAND) goto out;
    double lo = med - QTK_AP_STARVE_GAP;
    for (int64_t i = 0; i < tab->n; i++) {
        if (!floored[i]) continue;
        const qtk_measure_tensor *ti = &tab->t[i];
        double b = tensor_bpw(ti, ti->cand[cand[i]].bytes);
        if (b >= lo) continue;
        bool any_above = false;
        for (int q = 0; q < ti->n_cand; q++)
            if (s->adm[s->off[i] + q] && tensor_bpw(ti, ti->cand[q].bytes) >= lo) any_above = true;
        if (!any_above) continue;
        for (int q = 0; q < ti->n_cand; q++)
            if (s->adm[s->off[i] + q] && tensor_bpw(ti, ti->cand[q].bytes) < lo) s->adm[s->off[i] + q] = false;
        if (!raised)
            add_note(note, note_n, "safety (c): %s starved at %.2f bpw while the others sit in %.2f..%.2f bpw; floor raised",
                     ti->name, b, q1, q3);
        raised++;
    }
out:
    free(v);
    free(floored);
    return raised;
}

/* Below 2.2 bpw (PR 15550's repair (b)): an expert ffn_down is capped at the
 * larger bpw of the same layer's ffn_gate_exps / ffn_up_exps. Returns how
 * many ceilings were lowered. */
static int64_t safety_expert_down(solver *s, const int *cand, char *note, size_t note_n) {
    const qtk_measure_table *tab = s->tab;
    int64_t lowered = 0;
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *td = &tab->t[i];
        if (td->pinned || strcmp(td->cls, "ffn_down_exps") || td->layer < 0) continue;
        double cap = -1;
        for (int64_t j = 0; j < tab->n; j++) {
            const qtk_measure_tensor *tj = &tab->t[j];
            if (tj->layer == td->layer && (!strcmp(tj->cls, "ffn_gate_exps") || !strcmp(tj->cls, "ffn_up_exps"))) {
                double b = tensor_bpw(tj, tj->cand[cand[j]].bytes);
                if (b > cap) cap = b;
            }
        }
        double b = tensor_bpw(td, td->cand[cand[i]].bytes);
        if (cap < 0 || b <= cap + 1e-9) continue;
        int first = -1;
        bool any_below = false;
        for (int q = 0; q < td->n_cand; q++)
            if (s->adm[s->off[i] + q]) {
                if (first < 0) first = q;
                if (tensor_bpw(td, td->cand[q].bytes) <= cap + 1e-9) any_below = true;
            }
        bool changed = false;
        for (int q = 0; q < td->n_cand; q++)
            if (s->adm[s->off[i] + q] && tensor_bpw(td, td->cand[q].bytes) > cap + 1e-9 && (any_below || q != first)) {
                s->adm[s->off[i] + q] = false;
                changed = true;
            }
        if (!changed) continue;
        if (!lowered)
            add_note(note, note_n, "below %.1f bpw: %s capped at the %.2f bpw of its gate/up experts", QTK_AUTOPLAN_LOW_BPW,
                     td->name, cap);
        lowered++;
    }
    return lowered;
}

void qtk_autoplan_result_free(qtk_autoplan_result *r) {
    if (!r) return;
    free(r->type);
    free(r->cand);
    free(r->cost);
    free(r->recipe);
    free(r->custom_q);
    free(r);
}

static void fmt_size(uint64_t b, char *buf, size_t n) {
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int k = 0;
    while (v >= 1024 && k < 4) {
        v /= 1024;
        k++;
    }
    if (k == 0) snprintf(buf, n, "%llu B", (unsigned long long)b);
    else snprintf(buf, n, "%llu bytes = %.3f %s", (unsigned long long)b, v, u[k]);
}

static void solver_free(solver *s) {
    free_items(s);
    free(s->off);
    free(s->adm);
    free(s->cost);
    free(s->item_of);
    free(s->member_buf);
}

qtk_status qtk_autoplan_solve(const qtk_measure_table *tab, const qtk_autoplan_opts *o, qtk_autoplan_result **out,
                              qtk_error *err) {
    if (!tab || !o || !out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_autoplan_solve: NULL argument");
    *out = NULL;
    bool has_size = o->target_size > 0, has_bpw = o->target_bpw > 0;
    if (has_size == has_bpw)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "give exactly one target: --target-size or --target-bpw");
    if (has_bpw && !(o->target_bpw < 64))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "--target-bpw %g: not a usable bits-per-weight value", o->target_bpw);
    const int cost_model = o->cost_model == QTK_AUTOPLAN_COST_AUTO ? qtk_autoplan_default_cost(tab) : o->cost_model;
    if (!qtk_autoplan_cost_name(cost_model))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "unknown cost model %d", o->cost_model);
    if (tab->n <= 0) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "the measurement table has no tensors");
    if (tab->n_elements_all <= 0)
        return qtk_set_error(err, QTK_ERR_FORMAT, "the measurement table has no n_elements_all");
    if (tab->alignment == 0 || (tab->alignment & (tab->alignment - 1)))
        return qtk_set_error(err, QTK_ERR_FORMAT, "the measurement table's alignment %llu is not a power of two",
                             (unsigned long long)tab->alignment);
    if (tab->shard_count > 1)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "the measurement table is shard %d/%d: merge all shards first (qtk measure --merge)",
                             tab->shard_index, tab->shard_count);
    if (tab->n_tensors_model > 0 && tab->n != tab->n_tensors_model)
        return qtk_set_error(err, QTK_ERR_FORMAT, "the measurement table holds %lld of the model's %lld candidate tensors",
                             (long long)tab->n, (long long)tab->n_tensors_model);

    solver s;
    memset(&s, 0, sizeof s);
    s.tab = tab;
    s.o = o;
    s.size_mode = has_size;
    s.mainline = o->compat == QTK_AUTOPLAN_COMPAT_MAINLINE;
    s.tied = true;
    /* the average bpw of the target decides the low-bpw variants */
    double avg_bpw = has_bpw ? o->target_bpw : (double)o->target_size * 8.0 / (double)tab->n_elements_all;
    bool low_bpw = avg_bpw < QTK_AUTOPLAN_LOW_BPW;
    int64_t n_c = 0;
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *tt = &tab->t[i];
        if (!strcmp(tt->cls, "output")) s.tied = false;
        if (tt->n_cand <= 0) return qtk_set_error(err, QTK_ERR_FORMAT, "tensor '%s' has no candidate in the table", tt->name);
        if (!name_writable(tt->name))
            return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                                 "tensor name '%s' cannot be written as a recipe rule (space, ',', '=' or '#')", tt->name);
        if (!(tt->alpha > 0) || !isfinite(tt->alpha))
            return qtk_set_error(err, QTK_ERR_FORMAT, "tensor '%s': alpha %g is not a positive number", tt->name, tt->alpha);
        if ((cost_model == QTK_AUTOPLAN_COST_CALIB || cost_model == QTK_AUTOPLAN_COST_KLD) && !tt->pinned &&
            !alpha_calibrated(tt))
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "cost model '%s' needs KLD probes, but tensor '%s' has no "
                                 "calibrated alpha (alpha_src %s): run 'qtk measure ... --probe-text TEXT' on the table",
                                 qtk_autoplan_cost_name(cost_model), tt->name, tt->alpha_src);
        if (tt->ne[0] <= 0 || tt->ne[1] <= 0)
            return qtk_set_error(err, QTK_ERR_FORMAT, "tensor '%s': bad shape", tt->name);
        n_c += tt->n_cand;
    }
    s.off = (int64_t *)malloc((size_t)tab->n * sizeof *s.off);
    s.adm = (bool *)calloc((size_t)n_c, sizeof *s.adm);
    s.cost = (double *)malloc((size_t)n_c * sizeof *s.cost);
    s.item_of = (int64_t *)malloc((size_t)tab->n * sizeof *s.item_of);
    s.member_buf = (int64_t *)malloc((size_t)tab->n * sizeof *s.member_buf);
    qtk_autoplan_result *r = (qtk_autoplan_result *)calloc(1, sizeof *r);
    qtk_status st = QTK_OK;
    char *bound_text = NULL;
    int *longest = NULL;
    uint64_t *chosen_bytes = NULL;
    if (!s.off || !s.adm || !s.cost || !s.item_of || !s.member_buf || !r) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (planner)");
        goto done;
    }
    r->n = tab->n;
    r->cost_model = cost_model;
    r->low_bpw = low_bpw;
    r->type = (int *)malloc((size_t)tab->n * sizeof *r->type);
    r->cand = (int *)malloc((size_t)tab->n * sizeof *r->cand);
    r->cost = (double *)malloc((size_t)tab->n * sizeof *r->cost);
    longest = (int *)malloc((size_t)tab->n * sizeof *longest);
    chosen_bytes = (uint64_t *)malloc((size_t)tab->n * sizeof *chosen_bytes);
    if (!r->type || !r->cand || !r->cost || !longest || !chosen_bytes) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (planner)");
        goto done;
    }
    n_c = 0;
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *tt = &tab->t[i];
        s.off[i] = n_c;
        longest[i] = tt->cand[0].type;
        for (int k = 0; k < tt->n_cand; k++) {
            const qtk_measure_cand *c = &tt->cand[k];
            if (!qtk_type_get(c->type)) {
                st = qtk_set_error(err, QTK_ERR_FORMAT, "tensor '%s': unknown type id %d in the table", tt->name, c->type);
                goto done;
            }
            double d = qtk_autoplan_cost_ex(tt, c, s.tied, low_bpw, cost_model);
            if (!isfinite(d) || d < 0) {
                st = qtk_set_error(err, QTK_ERR_FORMAT, "tensor '%s', type %s: error value %g is not a finite "
                                   "non-negative number", tt->name, qtk_type_name(c->type),
                                   cost_model == QTK_AUTOPLAN_COST_REL ? c->eps_rel : c->eps_abs);
                goto done;
            }
            s.cost[n_c + k] = d;
            if (strlen(qtk_type_name(c->type)) > strlen(qtk_type_name(longest[i]))) longest[i] = c->type;
        }
        n_c += tt->n_cand;
    }
    st = apply_rules(&s, err);
    if (st != QTK_OK) goto done;

    /* budget */
    uint64_t budget = 0, reserve = 0, header_region = 0;
    r->size_mode = s.size_mode;
    if (s.size_mode) {
        /* the recipe is stored in the file: reserve its longest possible text
         * (every tensor with its longest type name, a 3-digit file_type) */
        bound_text = build_recipe(tab, longest, 999, o, s.mainline);
        if (!bound_text) {
            st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (recipe)");
            goto done;
        }
        reserve = strlen(bound_text);
        header_region = pad_to(tab->header_bytes + reserve, tab->alignment);
        uint64_t fixed = header_region + tab->fixed_bytes;
        budget = o->target_size > fixed ? o->target_size - fixed : 0;
        if (o->target_size < fixed) budget = 0;
    } else {
        double b = o->target_bpw * (double)tab->n_elements_all / 8.0 - (double)tab->fixed_bytes;
        budget = b > 0 ? (uint64_t)floor(b) : 0;
    }
    r->recipe_reserve = reserve;

    walk_out w;
    double spread = o->class_spread == 0 ? 2.0 : o->class_spread;
    for (int round = 0;; round++) {
        st = build_items(&s, err);
        if (st != QTK_OK) goto done;
        uint64_t base, top;
        sums(&s, &base, &top);
        if (round == 0) {
            r->min_size = header_region + tab->fixed_bytes + base;
            r->max_size = header_region + tab->fixed_bytes + top;
            r->min_bpw = ((double)tab->fixed_bytes + (double)base) * 8.0 / (double)tab->n_elements_all;
            r->max_bpw = ((double)tab->fixed_bytes + (double)top) * 8.0 / (double)tab->n_elements_all;
            bool fits = s.size_mode ? o->target_size >= r->min_size : budget >= base;
            if (!fits) {
                char a[64], b2[64], c[64];
                if (s.size_mode) {
                    fmt_size(o->target_size, a, sizeof a);
                    fmt_size(r->min_size, b2, sizeof b2);
                    fmt_size(r->max_size, c, sizeof c);
                    st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                       "target size %s is out of reach: the smallest reachable size is %s, the "
                                       "largest %s (with these rules)", a, b2, c);
                } else {
                    st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                       "target %.4f bpw is out of reach: the smallest reachable is %.4f bpw, the "
                                       "largest %.4f bpw (with these rules)", o->target_bpw, r->min_bpw, r->max_bpw);
                }
                goto done;
            }
        } else if (base > budget) {
            /* the raised floors do not fit: keep the previous solution */
            size_t l = strlen(r->notes);
            snprintf(r->notes + l, sizeof r->notes - l, "%sthe raised floors do not fit the budget: the plan before them is kept",
                     l ? "; " : "");
            break;
        }
        walk(&s, budget, &w);
        for (int64_t i = 0; i < tab->n; i++) {
            r->cand[i] = chosen_cand(&s, i);
            r->type[i] = tab->t[i].cand[r->cand[i]].type;
        }
        r->lambda = w.lambda;
        r->used = w.used;
        r->first_misfit = w.first_misfit;
        r->min_next_step = w.min_next;
        r->n_taken = w.taken;
        r->n_fill = w.fill;
        r->n_polish = w.polish;
        r->polish_gain = w.polish_gain;
        r->n_items = s.n_items;
        r->n_steps = s.n_steps;
        if (round >= 16) break;
        int64_t raised = spread < 0 ? 0 : safety_spread(&s, r->cand, spread, r->notes, sizeof r->notes);
        if (o->starvation) raised += safety_starvation(&s, r->cand, r->notes, sizeof r->notes);
        if (low_bpw) raised += safety_expert_down(&s, r->cand, r->notes, sizeof r->notes);
        if (!raised) break;
        r->n_safety += (int)raised;
    }
    r->budget = budget;

    /* totals, recipe, exact size */
    r->total_cost = 0;
    r->data_bytes = r->data_bytes_padded = 0;
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *tt = &tab->t[i];
        const qtk_measure_cand *c = &tt->cand[r->cand[i]];
        r->cost[i] = s.cost[s.off[i] + r->cand[i]];
        r->total_cost += r->cost[i];
        r->data_bytes += c->bytes;
        r->data_bytes_padded += pad_to(c->bytes, tab->alignment);
        chosen_bytes[i] = c->bytes;
    }
    r->bpw = ((double)tab->fixed_bytes + (double)r->data_bytes) * 8.0 / (double)tab->n_elements_all;
    int ft = plan_file_type(tab, r->type, chosen_bytes, s.mainline);
    r->recipe = build_recipe(tab, r->type, ft, o, s.mainline);
    r->custom_q = build_custom_q(tab, r->type);
    if (!r->recipe || !r->custom_q) {
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (recipe)");
        goto done;
    }
    r->file_size = pad_to(tab->header_bytes + strlen(r->recipe), tab->alignment) + tab->fixed_bytes +
                   r->data_bytes_padded;
    if (s.size_mode && (strlen(r->recipe) > reserve || r->file_size > o->target_size)) {
        st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "internal error: planned file of %llu bytes exceeds the target %llu",
                           (unsigned long long)r->file_size, (unsigned long long)o->target_size);
        goto done;
    }
done:
    free(bound_text);
    free(longest);
    free(chosen_bytes);
    solver_free(&s);
    if (st != QTK_OK) {
        qtk_autoplan_result_free(r);
        return st;
    }
    *out = r;
    return QTK_OK;
}

/* ---- table vs model --------------------------------------------------------------- */

qtk_status qtk_autoplan_check_model(const qtk_measure_table *tab, const char *table_path, const qtk_gguf *model,
                                    const char *model_path, qtk_error *err) {
    int64_t nt = qtk_gguf_n_tensors(model);
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *tt = &tab->t[i];
        const qtk_tensor_info *mi = tt->idx >= 0 && tt->idx < nt ? qtk_gguf_tensor(model, tt->idx) : NULL;
        if (!mi || strcmp(mi->name, tt->name))
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "%s was measured on another model: tensor %lld is '%s' there but '%s' in %s",
                                 table_path, (long long)tt->idx, tt->name, mi ? mi->name : "(none)", model_path);
        int64_t e2 = tt->ne[2] > 0 ? tt->ne[2] : 1;
        int64_t m2 = 1;
        for (int d = 2; d < mi->n_dims; d++) m2 *= mi->ne[d];
        if (mi->ne[0] != tt->ne[0] || mi->ne[1] != tt->ne[1] || m2 != e2)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "%s was measured on another model: tensor '%s' is %lldx%lldx%lld there but "
                                 "%lldx%lldx%lld in %s",
                                 table_path, tt->name, (long long)tt->ne[0], (long long)tt->ne[1], (long long)e2,
                                 (long long)mi->ne[0], (long long)mi->ne[1], (long long)m2, model_path);
    }
    return QTK_OK;
}

/* ---- the whole path for qtk quantize --target-* -------------------------------------- */

qtk_status qtk_autoplan_for_model(const qtk_gguf *g, const char *table_path, const qtk_quantize_params *p,
                                  const qtk_autoplan_target *tg, char **recipe_text, uint64_t *file_size, double *bpw,
                                  double *cost, qtk_error *err) {
    if (!g || !table_path || !p || !tg || !recipe_text)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_autoplan_for_model: NULL argument");
    *recipe_text = NULL;
    qtk_measure_table *tab = NULL;
    qtk_autoplan_result *r = NULL;
    qtk_recipe *tmp = NULL;
    qtk_plan *hplan = NULL;
    qtk_imatrix *im_own = NULL;
    const qtk_imatrix *im = p->imatrix;
    char mh[65], ih[65] = "-";
    const char *model_name = "the model";
    qtk_status st;
    if ((st = qtk_measure_table_load(table_path, &tab, err)) != QTK_OK) goto done;
    if ((st = qtk_measure_table_check_complete(tab, table_path, err)) != QTK_OK) goto done;
    if ((st = qtk_autoplan_check_model(tab, table_path, g, model_name, err)) != QTK_OK) goto done;
    if ((st = qtk_measure_model_hash(g, mh, err)) != QTK_OK) goto done;
    if (p->imatrix_path && (st = qtk_measure_file_hash(p->imatrix_path, ih, err)) != QTK_OK) goto done;
    if ((st = qtk_measure_table_check_source(tab, table_path, mh, ih, err)) != QTK_OK) goto done;
    /* the header of this run with an empty quantize.recipe */
    if ((st = qtk_recipe_parse("default copy\n", "(header)", &tmp, err)) != QTK_OK) goto done;
    if (!im && p->imatrix_path) {
        if ((st = qtk_imatrix_load(p->imatrix_path, &im_own, err)) != QTK_OK) goto done;
        im = im_own;
    }
    if ((st = qtk_plan_make(g, tmp, im, true, &hplan, err)) != QTK_OK) goto done;
    /* as the measure pass counts it: every table tensor quantized (the imatrix
     * keys are written only when some tensor uses the imatrix) and a
     * general.file_type (the plan's recipe always sets one) */
    for (int64_t i = 0; i < tab->n; i++) {
        qtk_plan_item *it = &hplan->items[tab->t[i].idx];
        it->quantize = true;
        it->type = tab->t[i].cand[0].type;
        it->bytes = tab->t[i].cand[0].bytes;
    }
    if (hplan->file_type < 0) hplan->file_type = 0;
    {
        qtk_quantize_params qp = *p;
        qp.imatrix = im;
        qp.recipe = tmp;
        qp.keep_split = false;
        uint64_t hb = 0, al = 0;
        if ((st = qtk_quantize_header_size(g, hplan, &qp, "", &hb, &al, err)) != QTK_OK) goto done;
        if (al != tab->alignment) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: alignment %llu, but this output is aligned to %llu",
                               table_path, (unsigned long long)tab->alignment, (unsigned long long)al);
            goto done;
        }
        tab->header_bytes = hb;
    }
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_size = tg->target_size;
    o.target_bpw = tg->target_bpw;
    o.compat = tg->compat_mainline ? QTK_AUTOPLAN_COMPAT_MAINLINE : QTK_AUTOPLAN_COMPAT_ANY;
    o.comment = tg->comment;
    o.cost_model = QTK_AUTOPLAN_COST_AUTO; /* probe-calibrated when the table has KLD probes */
    if ((st = qtk_autoplan_solve(tab, &o, &r, err)) != QTK_OK) goto done;
    if (file_size) *file_size = r->file_size;
    if (bpw) *bpw = r->bpw;
    if (cost) *cost = r->total_cost;
    *recipe_text = r->recipe;
    r->recipe = NULL;
done:
    qtk_plan_free(hplan);
    qtk_recipe_free(tmp);
    qtk_imatrix_free(im_own);
    qtk_autoplan_result_free(r);
    qtk_measure_table_free(tab);
    return st;
}
