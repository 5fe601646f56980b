/*
 * test_autoplan.c — the automatic planner (quantize/autoplan.c, `qtk plan`)
 * on synthetic measurement tables built in memory: determinism, budget and
 * leftover bounds, optimality of the walk against brute force, nesting
 * without the fill, rules and floors, unreachable targets, size parsing,
 * MoE tables with harmonised experts; the emitted recipe and --custom-q
 * list reproduce the planned types through qtk_plan_make on a synthetic
 * model (qtk synth) and `qtk quantize --recipe` writes a file of the exact
 * predicted data size; a table of another model is refused. With
 * ../shared and the measure pass: measure -> plan -> quantize end to end,
 * `qtk quantize --target-size` without a table, the --custom-q list through
 * `qtk quantize --custom-q`, a real MoE model (qwen3moe) with harmonised
 * experts. Also: the polish (against brute force), the below-2.2-bpw
 * variants, the starvation check, `qtk plan --json` fields and --help.
 * QTK_TEST_QUICK=1 (sanitizers, emulators): fewer budgets and seeds, no
 * e2e with 3 types (the 2-type CLI parts stay; skipped under an emulator).
 */
#include "testlib.h"
#include "quantize/autoplan.h"
#include "quantize/quantize_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool g_quick;

typedef struct tspec {
    const char *name, *cls;
    int64_t layer, ne0, ne1, ne2;
} tspec;

/* A table for the given tensors and candidate types: bytes exact for each
 * type after its block-size fallback, eps_rel = s_t · 2^(-2·bpw) · (1 + 0.4 u)
 * (u uniform per candidate: not convex, so the hull matters). */
static qtk_measure_table *make_table(const tspec *ts, int n, const int *types, int n_types, uint64_t seed) {
    qtk_measure_table *tab = qtk_measure_table_new();
    if (!tab) return NULL;
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tab->model_name = qtk_strdup("synthetic.gguf");
    memset(tab->model_hash, 'a', 64);
    memset(tab->imatrix_hash, 'b', 64);
    tab->n_types = n_types;
    tab->types = (int *)malloc((size_t)n_types * sizeof(int));
    memcpy(tab->types, types, (size_t)n_types * sizeof(int));
    tab->alignment = 32;
    tab->fixed_bytes = 4096;
    tab->header_bytes = 5000;
    tab->sample = qtk_strdup("synthetic");
    tab->n = n;
    tab->n_tensors_model = n;
    tab->t = (qtk_measure_tensor *)calloc((size_t)n, sizeof *tab->t);
    int64_t elems = 1024; /* the fixed tensors' elements */
    for (int i = 0; i < n; i++) {
        qtk_measure_tensor *t = &tab->t[i];
        t->name = qtk_strdup(ts[i].name);
        t->idx = i;
        snprintf(t->cls, sizeof t->cls, "%s", ts[i].cls);
        t->layer = ts[i].layer;
        t->ne[0] = ts[i].ne0;
        t->ne[1] = ts[i].ne1;
        t->ne[2] = ts[i].ne2 ? ts[i].ne2 : 1;
        t->alpha = 1.0;
        snprintf(t->alpha_src, sizeof t->alpha_src, "prior");
        elems += t->ne[0] * t->ne[1] * t->ne[2];
        double scale = 0.5 + 1.5 * tl_rng_uniform(&rng);
        t->cand = (qtk_measure_cand *)calloc((size_t)n_types, sizeof *t->cand);
        for (int k = 0; k < n_types; k++) {
            int ft = qtk_fallback_type(types[k], t->ne[0], false);
            bool dup = false;
            for (int q = 0; q < t->n_cand; q++) dup |= t->cand[q].type == ft;
            if (dup) continue;
            qtk_measure_cand *c = &t->cand[t->n_cand++];
            c->type = ft;
            c->bytes = (uint64_t)qtk_row_size(ft, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2]);
            c->rows = t->ne[1];
            double bpw = (double)c->bytes * 8.0 / (double)(t->ne[0] * t->ne[1] * t->ne[2]);
            c->eps_rel = scale * exp2(-2.0 * bpw) * (1.0 + 0.4 * tl_rng_uniform(&rng));
            c->eps_abs = c->eps_rel * 100;
            c->e_out = 100;
        }
        /* increasing bytes, equal bytes in type id order (the TSV's order) */
        for (int a = 1; a < t->n_cand; a++)
            for (int b = a; b > 0 && (t->cand[b].bytes < t->cand[b - 1].bytes ||
                                    (t->cand[b].bytes == t->cand[b - 1].bytes && t->cand[b].type < t->cand[b - 1].type));
                 b--) {
                qtk_measure_cand x = t->cand[b];
                t->cand[b] = t->cand[b - 1];
                t->cand[b - 1] = x;
            }
    }
    tab->n_elements_all = elems;
    return tab;
}

/* A small dense model: token_embd, output, 4 layers of attention + FFN. */
static int dense_specs(tspec *ts, char names[][48]) {
    int n = 0;
    snprintf(names[n], 48, "token_embd.weight");
    ts[n] = (tspec){names[n], "token_embd", -1, 512, 2000, 1};
    n++;
    static const char *cls[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int l = 0; l < 4; l++)
        for (int c = 0; c < 7; c++) {
            snprintf(names[n], 48, "blk.%d.%s.weight", l, cls[c]);
            int64_t ne0 = c == 6 ? 1536 : 512, ne1 = c >= 4 && c < 6 ? 1536 : (c == 1 || c == 2 ? 128 : 512);
            if (c == 6) ne1 = 512;
            ts[n] = (tspec){names[n], cls[c], l, ne0, ne1, 1};
            n++;
        }
    snprintf(names[n], 48, "output.weight");
    ts[n] = (tspec){names[n], "output", -1, 512, 2000, 1};
    n++;
    return n;
}

static const int k_types[] = {QTK_TYPE_IQ2_K, QTK_TYPE_IQ3_K, QTK_TYPE_Q3_K, QTK_TYPE_IQ4_XS, QTK_TYPE_Q4_K,
                              QTK_TYPE_IQ4_K, QTK_TYPE_Q5_K, QTK_TYPE_IQ5_K, QTK_TYPE_Q6_K, QTK_TYPE_Q8_0};
#define N_TYPES ((int)(sizeof k_types / sizeof k_types[0]))

static qtk_autoplan_result *solve(const qtk_measure_table *tab, const qtk_autoplan_opts *o, qtk_error *err) {
    qtk_autoplan_result *r = NULL;
    if (qtk_autoplan_solve(tab, o, &r, err) != QTK_OK) return NULL;
    return r;
}

static uint64_t cand_bytes(const qtk_measure_table *tab, const qtk_autoplan_result *r, int64_t i) {
    return tab->t[i].cand[r->cand[i]].bytes;
}

/* ---- size parsing ----------------------------------------------------------- */

static void test_parse_size(void) {
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"1000", 1000},
        {"1B", 1},
        {"1KiB", 1024},
        {"1 kib", 1024},
        {"1.5MiB", 1572864},
        {"2GB", 2000000000ull},
        {"13.5GiB", 14495514624ull},
        {"3KB", 3000},
        {"1TiB", 1099511627776ull},
        {"18446744073709551615", 18446744073709551615ull},
        {"0.5KiB", 512},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        uint64_t v = 0;
        qtk_error err;
        qtk_status st = qtk_parse_size(ok[k].s, &v, &err);
        CHECK(st == QTK_OK && v == ok[k].v, "'%s' -> %llu (status %d: %s), want %llu", ok[k].s, (unsigned long long)v,
              st, st ? err.msg : "", (unsigned long long)ok[k].v);
    }
    static const struct {
        const char *s, *msg;
    } bad[] = {
        {"", "empty"},
        {"abc", "expected a number"},
        {"1.5", "whole number"},
        {"12XB", "unknown unit 'XB'"},
        {"-5", "expected a number"},
        {"18446744073709551616", "too large"},
        {"20000000000GiB", "too large"},
        {"0", "positive"},
        {"1.", "digits expected"},
        {"5 MiBs", "unknown unit"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint64_t v = 0;
        qtk_error err;
        err.msg[0] = 0;
        qtk_status st = qtk_parse_size(bad[k].s, &v, &err);
        CHECK(st == QTK_ERR_INVALID_ARG && strstr(err.msg, bad[k].msg) && (!bad[k].s[0] || strstr(err.msg, bad[k].s)),
              "'%s': status %d, message '%s' (want '%s')", bad[k].s, st, err.msg, bad[k].msg);
    }
}

/* ---- budget, determinism, optimality, nesting -------------------------------- */

static void test_budget_and_nesting(void) {
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 7);
    CHECK(tab != NULL, "table");
    if (!tab) return;
    qtk_error err;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_size = 4000000;
    qtk_autoplan_result *lo = NULL, *hi = NULL;
    /* reachable range */
    o.target_size = UINT64_MAX / 2;
    hi = solve(tab, &o, &err);
    CHECK(hi != NULL, "huge target: %s", err.msg);
    if (!hi) goto out;
    uint64_t min_size = hi->min_size, max_size = hi->max_size;
    CHECK(min_size < max_size, "range %llu..%llu", (unsigned long long)min_size, (unsigned long long)max_size);
    CHECK(hi->file_size <= max_size && hi->first_misfit == 0 && hi->min_next_step == 0 && hi->lambda == 0,
          "everything at the top: %llu vs %llu, misfit %llu", (unsigned long long)hi->file_size,
          (unsigned long long)max_size, (unsigned long long)hi->first_misfit);
    qtk_autoplan_result_free(hi);
    hi = NULL;

    /* determinism */
    o.target_size = min_size + (max_size - min_size) / 3;
    lo = solve(tab, &o, &err);
    hi = solve(tab, &o, &err);
    CHECK(lo && hi, "solve: %s", err.msg);
    if (!lo || !hi) goto out;
    CHECK(!strcmp(lo->recipe, hi->recipe) && !strcmp(lo->custom_q, hi->custom_q) &&
              !memcmp(lo->type, hi->type, (size_t)n * sizeof(int)),
          "two solves differ");
    qtk_autoplan_result_free(lo);
    qtk_autoplan_result_free(hi);
    lo = hi = NULL;

    /* many budgets: size <= target, leftover bounds, nesting without fill */
    int n_budgets = g_quick ? 12 : 60;
    int *prev = (int *)calloc((size_t)n, sizeof(int));
    uint64_t *prev_b = (uint64_t *)calloc((size_t)n, sizeof(uint64_t));
    int nest_fail = 0, bound_fail = 0, size_fail = 0, fill_fail = 0, fill_changed = 0;
    for (int fill = 0; fill < 2; fill++) {
        memset(prev_b, 0, (size_t)n * sizeof(uint64_t));
        for (int b = 0; b <= n_budgets; b++) {
            o.target_size = min_size + (max_size - min_size) * (uint64_t)b / (uint64_t)n_budgets;
            o.no_fill = !fill;
            o.no_polish = true;     /* the polish may lower a tensor: tested in test_polish */
            o.class_spread = -1;
            qtk_autoplan_result *r = solve(tab, &o, &err);
            CHECK(r != NULL, "target %llu: %s", (unsigned long long)o.target_size, err.msg);
            if (!r) continue;
            if (r->file_size > o.target_size || r->used > r->budget) size_fail++;
            if (!fill && r->first_misfit && r->budget - r->used >= r->first_misfit) bound_fail++;
            if (fill && r->min_next_step && r->budget - r->used >= r->min_next_step) fill_fail++;
            if (!fill) {
                for (int i = 0; i < n; i++) {
                    if (cand_bytes(tab, r, i) < prev_b[i]) nest_fail++;
                    prev_b[i] = cand_bytes(tab, r, i);
                }
            } else {
                /* the fill only adds: compare with the no-fill plan of the same target */
                qtk_autoplan_opts o2 = o;
                o2.no_fill = true;
                qtk_autoplan_result *r0 = solve(tab, &o2, &err);
                if (r0) {
                    for (int i = 0; i < n; i++)
                        if (cand_bytes(tab, r, i) < cand_bytes(tab, r0, i)) fill_fail++;
                    if (r->used > r0->used) fill_changed++;
                    CHECK(r->total_cost <= r0->total_cost, "fill raised the cost %g -> %g", r0->total_cost,
                          r->total_cost);
                }
                qtk_autoplan_result_free(r0);
            }
            qtk_autoplan_result_free(r);
        }
    }
    CHECK(size_fail == 0, "%d plans over the target or budget", size_fail);
    CHECK(bound_fail == 0, "%d no-fill plans left >= the first misfit step unused", bound_fail);
    CHECK(fill_fail == 0, "%d fill plans left a fitting next step or lowered a tensor", fill_fail);
    CHECK(nest_fail == 0, "%d tensors lowered by a larger budget (no fill)", nest_fail);
    CHECK(fill_changed > 0, "the fill never used leftover bytes (test not exercising it)");
    free(prev);
    free(prev_b);
out:
    qtk_autoplan_result_free(lo);
    qtk_autoplan_result_free(hi);
    qtk_measure_table_free(tab);
}

/* Brute force on 4 tensors x 5 types: the no-fill plan is the cheapest of all
 * mixes of at most its own size (Lagrangian sufficiency of the walk). */
static void test_optimal(void) {
    tspec ts[4] = {{"a.weight", "attn_q", 0, 256, 64, 1},
                   {"b.weight", "ffn_up", 0, 256, 128, 1},
                   {"c.weight", "ffn_down", 0, 512, 64, 1},
                   {"d.weight", "attn_output", 0, 256, 96, 1}};
    static const int types[] = {QTK_TYPE_IQ2_K, QTK_TYPE_IQ3_K, QTK_TYPE_IQ4_XS, QTK_TYPE_Q5_K, QTK_TYPE_Q8_0};
    int worse = 0, runs = 0;
    for (uint64_t seed = 1; seed <= (g_quick ? 3u : 12u); seed++) {
        qtk_measure_table *tab = make_table(ts, 4, types, 5, seed);
        qtk_autoplan_opts o;
        qtk_autoplan_opts_init(&o);
        o.no_fill = true;
        o.class_spread = -1;
        o.target_bpw = 2.0 + 0.5 * (double)(seed % 10);
        qtk_error err;
        qtk_autoplan_result *r = solve(tab, &o, &err);
        if (!r) {
            CHECK(strstr(err.msg, "out of reach") != NULL, "seed %llu: %s", (unsigned long long)seed, err.msg);
            qtk_measure_table_free(tab);
            continue;
        }
        runs++;
        int idx[4];
        for (idx[0] = 0; idx[0] < tab->t[0].n_cand; idx[0]++)
            for (idx[1] = 0; idx[1] < tab->t[1].n_cand; idx[1]++)
                for (idx[2] = 0; idx[2] < tab->t[2].n_cand; idx[2]++)
                    for (idx[3] = 0; idx[3] < tab->t[3].n_cand; idx[3]++) {
                        uint64_t w = 0;
                        double d = 0;
                        for (int i = 0; i < 4; i++) {
                            w += tab->t[i].cand[idx[i]].bytes;
                            d += qtk_autoplan_cost_at(&tab->t[i], &tab->t[i].cand[idx[i]], true, r->low_bpw);
                        }
                        if (w <= r->data_bytes && d < r->total_cost * (1 - 1e-12)) worse++;
                    }
        qtk_autoplan_result_free(r);
        qtk_measure_table_free(tab);
    }
    CHECK(runs >= 2, "only %d brute-force runs", runs);
    CHECK(worse == 0, "%d mixes no larger than the plan have a lower cost", worse);
}

/* The polish on 5 tensors x 6 types against brute force: the polished plan
 * fits the budget, costs no more than the fill-only plan, and no mix that
 * differs from it in one or two tensors and fits the budget is cheaper (the
 * moves the polish tries); the polish must improve some plan (exercised). */
static void test_polish(void) {
    tspec ts[5] = {{"a.weight", "attn_q", 0, 256, 64, 1},
                   {"b.weight", "ffn_up", 0, 256, 128, 1},
                   {"c.weight", "ffn_down", 0, 512, 64, 1},
                   {"d.weight", "attn_output", 0, 256, 96, 1},
                   {"e.weight", "ffn_gate", 0, 256, 160, 1}};
    static const int types[] = {QTK_TYPE_IQ2_K, QTK_TYPE_IQ3_K, QTK_TYPE_Q3_K, QTK_TYPE_IQ4_XS, QTK_TYPE_Q5_K,
                                QTK_TYPE_Q8_0};
    int over = 0, worse_than_fill = 0, local = 0, improved = 0, runs = 0, bad_min_next = 0;
    for (uint64_t seed = 1; seed <= (g_quick ? 8u : 40u); seed++) {
        qtk_measure_table *tab = make_table(ts, 5, types, 6, 100 + seed);
        qtk_autoplan_opts o;
        qtk_autoplan_opts_init(&o);
        o.class_spread = -1;
        o.target_bpw = 3.0 + 0.11 * (double)seed;
        qtk_error err;
        qtk_autoplan_result *r = solve(tab, &o, &err);
        o.no_polish = true;
        qtk_autoplan_result *f = solve(tab, &o, &err);
        if (!r || !f) {
            CHECK(0, "seed %llu: %s", (unsigned long long)seed, err.msg);
            qtk_autoplan_result_free(r);
            qtk_autoplan_result_free(f);
            qtk_measure_table_free(tab);
            continue;
        }
        runs++;
        if (r->data_bytes > r->budget) over++;
        if (r->total_cost > f->total_cost) worse_than_fill++;
        if (r->total_cost < f->total_cost * (1 - 1e-12)) improved++;
        CHECK(r->n_polish == 0 || r->polish_gain > 0, "polish moves without gain");
        if (r->min_next_step && r->budget - r->data_bytes >= r->min_next_step) bad_min_next++;
        int idx[5];
        for (idx[0] = 0; idx[0] < tab->t[0].n_cand; idx[0]++)
            for (idx[1] = 0; idx[1] < tab->t[1].n_cand; idx[1]++)
                for (idx[2] = 0; idx[2] < tab->t[2].n_cand; idx[2]++)
                    for (idx[3] = 0; idx[3] < tab->t[3].n_cand; idx[3]++)
                        for (idx[4] = 0; idx[4] < tab->t[4].n_cand; idx[4]++) {
                            int ndiff = 0;
                            uint64_t w = 0;
                            double d = 0;
                            for (int i = 0; i < 5; i++) {
                                ndiff += idx[i] != r->cand[i];
                                w += tab->t[i].cand[idx[i]].bytes;
                                d += qtk_autoplan_cost_at(&tab->t[i], &tab->t[i].cand[idx[i]], true, r->low_bpw);
                            }
                            if (ndiff <= 2 && w <= r->budget && d < r->total_cost * (1 - 1e-9)) local++;
                        }
        qtk_autoplan_result_free(r);
        qtk_autoplan_result_free(f);
        qtk_measure_table_free(tab);
    }
    CHECK(runs >= 8, "only %d polish runs", runs);
    CHECK(over == 0, "%d polished plans over the budget", over);
    CHECK(worse_than_fill == 0, "%d polished plans cost more than the fill-only plan", worse_than_fill);
    CHECK(local == 0, "%d cheaper fitting mixes one or two tensors away from a polished plan", local);
    CHECK(bad_min_next == 0, "%d polished plans leave a fitting upgrade", bad_min_next);
    CHECK(improved > 0, "the polish never improved a plan (test not exercising it)");
}

/* Below 2.2 bpw: ffn_down costs use the factor 1 + 2^(3-b) instead of 6, and
 * (MoE) expert ffn_down is capped at its layer's gate/up expert bpw. */
static void test_low_bpw(void) {
    tspec ts[64];
    char names[64][48];
    int n = 0;
    static const char *cls[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate_exps", "ffn_up_exps",
                                "ffn_down_exps"};
    for (int l = 0; l < 4; l++)
        for (int c = 0; c < 7; c++) {
            snprintf(names[n], 48, "blk.%d.%s.weight", l, cls[c]);
            bool down = c == 6;
            ts[n] = (tspec){names[n], cls[c], l, down ? 512 : 256, down ? 256 : (c >= 4 ? 512 : 256), c >= 4 ? 4 : 1};
            n++;
        }
    static const int types[] = {QTK_TYPE_IQ1_S, QTK_TYPE_IQ2_XXS, QTK_TYPE_IQ2_K, QTK_TYPE_IQ3_K, QTK_TYPE_Q4_K,
                                QTK_TYPE_Q8_0};
    qtk_measure_table *tab = make_table(ts, n, types, 6, 77);
    /* make expert ffn_down expensive to keep low, so the cap has work to do */
    for (int i = 0; i < n; i++)
        if (!strcmp(tab->t[i].cls, "ffn_down_exps"))
            for (int k = 0; k < tab->t[i].n_cand; k++) tab->t[i].cand[k].eps_rel *= 50;
    qtk_error err;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_bpw = 2.0;
    o.class_spread = -1;
    qtk_autoplan_result *r = solve(tab, &o, &err);
    CHECK(r != NULL, "2.0 bpw: %s", err.msg);
    if (r) {
        CHECK(r->low_bpw, "2.0 bpw not flagged low");
        int bad_cost = 0, over_cap = 0;
        for (int i = 0; i < n; i++) {
            const qtk_measure_tensor *t = &tab->t[i];
            const qtk_measure_cand *c = &t->cand[r->cand[i]];
            double rows = (double)t->ne[1] * (double)t->ne[2];
            double want = strcmp(t->cls, "ffn_down_exps") ? r->cost[i]
                                                         : (1 + exp2(3 - qtk_type_bpw(c->type))) * rows * c->eps_rel;
            if (fabs(r->cost[i] - want) > 1e-12 * want) bad_cost++;
            if (!strcmp(t->cls, "ffn_down_exps")) {
                double bd = (double)c->bytes * 8 / (double)(t->ne[0] * t->ne[1] * t->ne[2]), cap = 0;
                for (int j = 0; j < n; j++)
                    if (tab->t[j].layer == t->layer && strstr(tab->t[j].cls, "_exps") && j != i) {
                        const qtk_measure_tensor *u = &tab->t[j];
                        double b = (double)u->cand[r->cand[j]].bytes * 8 / (double)(u->ne[0] * u->ne[1] * u->ne[2]);
                        if (b > cap) cap = b;
                    }
                if (bd > cap + 1e-9) over_cap++;
            }
        }
        CHECK(bad_cost == 0, "%d ffn_down_exps costs not (1 + 2^(3-b)) rows eps_rel", bad_cost);
        CHECK(over_cap == 0, "%d expert ffn_down above their gate/up experts below 2.2 bpw", over_cap);
        CHECK(strstr(r->notes, "capped at") != NULL, "the cap never acted (test not exercising it): '%s'", r->notes);
        CHECK(r->data_bytes <= r->budget, "over budget");
    }
    qtk_autoplan_result_free(r);
    /* at 3 bpw: multiplier 6 and no cap */
    o.target_bpw = 3.0;
    r = solve(tab, &o, &err);
    CHECK(r && !r->low_bpw && !strstr(r->notes, "capped"), "3.0 bpw: %s", r ? r->notes : err.msg);
    if (r)
        for (int i = 0; i < n; i++)
            if (!strcmp(tab->t[i].cls, "ffn_down_exps")) {
                const qtk_measure_tensor *t = &tab->t[i];
                double want = 6.0 * (double)t->ne[1] * (double)t->ne[2] * t->cand[r->cand[i]].eps_rel;
                CHECK(fabs(r->cost[i] - want) <= 1e-12 * want, "%s cost %g, want %g", t->name, r->cost[i], want);
            }
    qtk_autoplan_result_free(r);
    qtk_measure_table_free(tab);
}

/* Safety check (c): one tensor with a negligible error sits at the smallest
 * type while the rest share a narrow band: its floor is raised to within 1.5
 * bpw of the band's median; without the (optional) check it stays starved. */
static void test_starvation(void) {
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 5);
    int victim = 3; /* blk.0.attn_v */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < tab->t[i].n_cand; k++) {
            qtk_measure_cand *c = &tab->t[i].cand[k];
            double bpw = (double)c->bytes * 8 / (double)(tab->t[i].ne[0] * tab->t[i].ne[1]);
            /* same error curve for all: a narrow band */
            c->eps_rel = exp2(-2.0 * bpw) * (i == victim ? 1e-9 : 1.0);
        }
    qtk_error err;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_bpw = 5.0;
    o.class_spread = -1;
    qtk_autoplan_result *a = solve(tab, &o, &err); /* the check is off by default */
    o.starvation = true;
    qtk_autoplan_result *b = solve(tab, &o, &err);
    CHECK(a && b, "solve: %s", err.msg);
    if (a && b) {
        const qtk_measure_tensor *t = &tab->t[victim];
        double ne = (double)(t->ne[0] * t->ne[1]);
        double ba = (double)t->cand[a->cand[victim]].bytes * 8 / ne, bb = (double)t->cand[b->cand[victim]].bytes * 8 / ne;
        if (getenv("AP_DEBUG"))
            for (int i = 0; i < n; i++)
                fprintf(stderr, "%s %s %.3f\n", tab->t[i].name, qtk_type_name(b->type[i]),
                        (double)tab->t[i].cand[b->cand[i]].bytes * 8 / (double)(tab->t[i].ne[0] * tab->t[i].ne[1]));
        CHECK(a->cand[victim] == 0, "test not exercising starvation: %s at %.2f bpw", t->name, ba);
        /* the band's median is 5.5 bpw (q5_K) in this table: floor 4.0 bpw */
        CHECK(bb >= 4.0 && bb > ba, "%s at %.2f bpw with the check (plan %.2f bpw)", t->name, bb, b->bpw);
        CHECK(strstr(b->notes, "safety (c)") != NULL, "no note: '%s'", b->notes);
        CHECK(b->data_bytes <= b->budget, "over budget");
    }
    qtk_autoplan_result_free(a);
    qtk_autoplan_result_free(b);
    qtk_measure_table_free(tab);
}

/* The cost models: rel = m·α·R·eps_rel, abs = m·α·eps_abs (stages B/C); the
 * table's α scales a tensor's cost, and a larger α never gives it fewer bytes. */
static void test_cost_model(void) {
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 31);
    /* eps_abs not proportional to eps_rel, so the two models choose differently */
    tl_rng rng;
    tl_rng_seed(&rng, 99);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < tab->t[i].n_cand; k++)
            tab->t[i].cand[k].eps_abs = tab->t[i].cand[k].eps_rel * 1000 * (0.2 + tl_rng_uniform(&rng) * (i % 5 + 1));
    qtk_error err;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_bpw = 4.5;
    o.class_spread = -1;
    qtk_autoplan_result *ra = NULL, *rr = solve(tab, &o, &err);
    o.cost_model = QTK_AUTOPLAN_COST_ABS;
    ra = solve(tab, &o, &err);
    CHECK(rr && ra, "solve: %s", err.msg);
    int bad = 0, differ = 0;
    for (int i = 0; rr && ra && i < n; i++) {
        const qtk_measure_tensor *t = &tab->t[i];
        const qtk_measure_cand *c = &t->cand[ra->cand[i]];
        double m = qtk_autoplan_class_multiplier(t->cls, false);
        if (!strcmp(t->cls, "ffn_gate") || !strcmp(t->cls, "ffn_up") || !strcmp(t->cls, "ffn_down"))
            bad += fabs(ra->cost[i] - m * c->eps_abs) > 1e-12 * m * c->eps_abs;
        differ += ra->type[i] != rr->type[i];
    }
    CHECK(bad == 0, "%d abs costs not m * alpha * eps_abs", bad);
    CHECK(differ > 0, "test not exercising the cost model: both plans equal");
    /* α: scaling one tensor's alpha scales its cost; a larger alpha never lowers its bytes */
    int lowered = 0, raised = 0;
    for (int i = 1; ra && i < n - 1; i += 3) {
        uint64_t b0 = cand_bytes(tab, ra, i);
        tab->t[i].alpha = 8.0;
        qtk_autoplan_result *r8 = solve(tab, &o, &err);
        tab->t[i].alpha = 1.0;
        if (!r8) {
            CHECK(0, "alpha 8: %s", err.msg);
            continue;
        }
        lowered += cand_bytes(tab, r8, i) < b0;
        raised += cand_bytes(tab, r8, i) > b0;
        const qtk_measure_cand *c = &tab->t[i].cand[r8->cand[i]];
        double want = 8.0 * qtk_autoplan_cost_ex(&tab->t[i], c, false, false, QTK_AUTOPLAN_COST_ABS);
        CHECK(fabs(r8->cost[i] - want) <= 1e-12 * want, "alpha 8 cost %g, want %g", r8->cost[i], want);
        qtk_autoplan_result_free(r8);
    }
    CHECK(lowered == 0, "%d tensors got fewer bytes with a larger alpha", lowered);
    CHECK(raised > 0, "alpha never moved a tensor (test not exercising it)");
    o.cost_model = 7;
    qtk_autoplan_result *rx = solve(tab, &o, &err);
    CHECK(!rx && strstr(err.msg, "unknown cost model"), "bad cost model accepted");
    qtk_autoplan_result_free(rx);
    qtk_autoplan_result_free(ra);
    qtk_autoplan_result_free(rr);
    qtk_measure_table_free(tab);
}

/* Stage C (KLD probes): the planner uses the probe-calibrated cost when the
 * table has it (auto), the old cost when it does not; --cost kld uses the
 * probed ΔKLD where present. */
static void test_calibrated_cost(void) {
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 41);
    qtk_error err;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_bpw = 4.5;
    o.class_spread = -1;
    o.cost_model = QTK_AUTOPLAN_COST_AUTO;
    CHECK(qtk_autoplan_default_cost(tab) == QTK_AUTOPLAN_COST_REL, "no probes: default rel");
    qtk_autoplan_result *r0 = solve(tab, &o, &err);
    CHECK(r0 && r0->cost_model == QTK_AUTOPLAN_COST_REL, "auto without probes solves with rel: %s", err.msg);
    o.cost_model = QTK_AUTOPLAN_COST_REL;
    qtk_autoplan_result *rrel = solve(tab, &o, &err);
    int same = 0;
    for (int i = 0; r0 && rrel && i < n; i++) same += r0->type[i] == rrel->type[i];
    CHECK(r0 && rrel && same == n && r0->total_cost == rrel->total_cost, "auto == rel on a table without probes");
    o.cost_model = QTK_AUTOPLAN_COST_CALIB;
    qtk_autoplan_result *rx = solve(tab, &o, &err);
    CHECK(!rx && strstr(err.msg, "needs KLD probes") && strstr(err.msg, "token_embd.weight"),
          "calib on an uncalibrated table refused: %s", rx ? "solved" : err.msg);
    qtk_autoplan_result_free(rx);
    /* calibrate: α per tensor, very different from the class multipliers (attention dominant) */
    for (int i = 0; i < n; i++) {
        qtk_measure_tensor *t = &tab->t[i];
        t->alpha = (strncmp(t->cls, "attn", 4) == 0 ? 50.0 : 0.2) * (1 + i % 3);
        snprintf(t->alpha_src, sizeof t->alpha_src, "%s", i % 2 ? "probe" : "interp");
    }
    CHECK(qtk_autoplan_default_cost(tab) == QTK_AUTOPLAN_COST_CALIB, "every alpha calibrated: default calib");
    o.cost_model = QTK_AUTOPLAN_COST_AUTO;
    qtk_autoplan_result *rc = solve(tab, &o, &err);
    CHECK(rc && rc->cost_model == QTK_AUTOPLAN_COST_CALIB, "auto with probes solves with calib: %s", err.msg);
    int bad = 0, differ = 0;
    for (int i = 0; rc && i < n; i++) {
        const qtk_measure_tensor *t = &tab->t[i];
        double want = t->alpha * t->cand[rc->cand[i]].eps_abs; /* no class multiplier, no attention factor */
        bad += fabs(rc->cost[i] - want) > 1e-12 * want;
        differ += rrel && rc->type[i] != rrel->type[i];
    }
    CHECK(rc && bad == 0, "%d calibrated costs not alpha * eps_abs", bad);
    CHECK(differ > 0, "calibrated plan equals the rel plan (test not exercising the cost)");
    /* attention got more bytes than under rel (its alpha is 250x the FFN's) */
    uint64_t attn_c = 0, attn_r = 0;
    for (int i = 0; rc && rrel && i < n; i++)
        if (!strncmp(tab->t[i].cls, "attn", 4)) attn_c += cand_bytes(tab, rc, i), attn_r += cand_bytes(tab, rrel, i);
    CHECK(attn_c > attn_r, "large attention alpha raised attention bytes (%llu vs %llu)", (unsigned long long)attn_c,
          (unsigned long long)attn_r);
    /* one tensor back to prior: auto falls back to rel */
    snprintf(tab->t[3].alpha_src, sizeof tab->t[3].alpha_src, "prior");
    CHECK(qtk_autoplan_default_cost(tab) == QTK_AUTOPLAN_COST_REL, "one uncalibrated tensor: default rel");
    snprintf(tab->t[3].alpha_src, sizeof tab->t[3].alpha_src, "probe");
    /* direct ΔKLD: used where probed, alpha * eps_abs elsewhere; all probed -> default kld */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < tab->t[i].n_cand; k++) {
            qtk_measure_cand *c = &tab->t[i].cand[k];
            c->has_dkld = (i + k) % 2 == 0;
            c->dkld = c->eps_rel * (i == 5 ? 1e4 : 1.0);
            c->dkld_se = 0;
        }
    tab->t[7].cand[0].dkld = -1e-9; /* noise below zero counts as 0 */
    tab->t[7].cand[0].has_dkld = true;
    o.cost_model = QTK_AUTOPLAN_COST_KLD;
    qtk_autoplan_result *rk = solve(tab, &o, &err);
    bad = 0;
    for (int i = 0; rk && i < n; i++) {
        const qtk_measure_cand *c = &tab->t[i].cand[rk->cand[i]];
        /* unprobed: the calib cost (α interpolated between the tensor's probes, test_calib_alpha) */
        double want = c->has_dkld ? (c->dkld > 0 ? c->dkld : 0)
                                  : qtk_autoplan_cost_ex(&tab->t[i], c, false, false, QTK_AUTOPLAN_COST_CALIB);
        bad += fabs(rk->cost[i] - want) > 1e-12 * fabs(want);
    }
    CHECK(rk && bad == 0 && rk->cost_model == QTK_AUTOPLAN_COST_KLD, "%d kld costs wrong: %s", bad, rk ? "" : err.msg);
    CHECK(qtk_autoplan_cost_ex(&tab->t[7], &tab->t[7].cand[0], false, false, QTK_AUTOPLAN_COST_KLD) == 0,
          "negative dkld costs 0");
    CHECK(qtk_autoplan_default_cost(tab) == QTK_AUTOPLAN_COST_CALIB, "some candidates unprobed: default calib");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < tab->t[i].n_cand; k++) tab->t[i].cand[k].has_dkld = true;
    CHECK(qtk_autoplan_default_cost(tab) == QTK_AUTOPLAN_COST_KLD, "every candidate probed: default kld");
    CHECK(qtk_autoplan_cost_from_name("calib") == QTK_AUTOPLAN_COST_CALIB &&
              qtk_autoplan_cost_from_name("auto") == QTK_AUTOPLAN_COST_AUTO && qtk_autoplan_cost_from_name("x") == -2 &&
              !strcmp(qtk_autoplan_cost_name(QTK_AUTOPLAN_COST_KLD), "kld"),
          "cost names");
    qtk_autoplan_result_free(rk);
    qtk_autoplan_result_free(rc);
    qtk_autoplan_result_free(rrel);
    qtk_autoplan_result_free(r0);
    qtk_measure_table_free(tab);
}

/* calib with several probe types on a tensor: ln α interpolated linearly in
 * ln eps_abs between the significant probes (ΔKLD > 2 se), constant beyond;
 * one significant probe, or an α not from this tensor's probes: t->alpha. */
static void test_calib_alpha(void) {
    qtk_measure_cand c[4];
    memset(c, 0, sizeof c);
    const double eps[4] = {1e-2, 1e-3, 1e-4, 1e-5};
    for (int k = 0; k < 4; k++) c[k].type = QTK_TYPE_Q8_0, c[k].bytes = 100u * (k + 1), c[k].eps_abs = eps[k];
    c[0].has_dkld = true, c[0].dkld = 4e-2, c[0].dkld_se = 1e-4;  /* α 4 */
    c[2].has_dkld = true, c[2].dkld = 1e-4, c[2].dkld_se = 1e-6;  /* α 1 */
    c[3].has_dkld = true, c[3].dkld = 1e-4, c[3].dkld_se = 1e-4;  /* not significant: ignored */
    qtk_measure_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.cls, sizeof t.cls, "ffn_up");
    t.ne[0] = 256, t.ne[1] = 16, t.ne[2] = 1;
    t.alpha = 4.0;
    snprintf(t.alpha_src, sizeof t.alpha_src, "probe");
    t.n_cand = 4;
    t.cand = c;
    const double want[4] = {4e-2, 2e-3, 1e-4, 1e-5}; /* α 4, 2 (midway in ln eps), 1, 1 */
    for (int k = 0; k < 4; k++) {
        double got = qtk_autoplan_cost_ex(&t, &c[k], false, false, QTK_AUTOPLAN_COST_CALIB);
        CHECK(fabs(got - want[k]) <= 1e-12 * want[k], "calib alpha cand %d: %.9g, want %.9g", k, got, want[k]);
    }
    c[2].dkld_se = 1e-4; /* one significant probe left: the tensor's alpha */
    CHECK(fabs(qtk_autoplan_cost_ex(&t, &c[1], false, false, QTK_AUTOPLAN_COST_CALIB) - 4e-3) <= 1e-15,
          "one significant probe: t->alpha");
    c[2].dkld_se = 1e-6;
    snprintf(t.alpha_src, sizeof t.alpha_src, "user");
    CHECK(fabs(qtk_autoplan_cost_ex(&t, &c[1], false, false, QTK_AUTOPLAN_COST_CALIB) - 4e-3) <= 1e-15,
          "user alpha: t->alpha");
}

/* An interpolated α takes the per-type factor of the probed tensors of its
 * class around it (ln-interpolated over the layer index), so a tensor without
 * its own extra probes is costed like its probed neighbours. */
static void test_calib_alpha_interp(void) {
    const int types[2] = {QTK_TYPE_IQ2_KS, QTK_TYPE_Q4_K};
    qtk_measure_cand c[3][2];
    memset(c, 0, sizeof c);
    qtk_measure_tensor t[3];
    memset(t, 0, sizeof t);
    const int64_t layer[3] = {0, 1, 3};
    const char *src[3] = {"probe", "interp", "probe"};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++) c[i][k].type = types[k], c[i][k].bytes = 100u * (k + 1), c[i][k].eps_abs = k ? 1e-4 : 1e-2;
        snprintf(t[i].cls, sizeof t[i].cls, "ffn_up");
        t[i].layer = layer[i];
        t[i].ne[0] = 256, t[i].ne[1] = 16, t[i].ne[2] = 1;
        snprintf(t[i].alpha_src, sizeof t[i].alpha_src, "%s", src[i]);
        t[i].n_cand = 2;
        t[i].cand = c[i];
    }
    /* layer 0: α 4 at iq2_ks, 1 at q4_K (factor 1/4); layer 3: α 2 at both (factor 1) */
    c[0][0].has_dkld = true, c[0][0].dkld = 4e-2, c[0][0].dkld_se = 1e-5;
    c[0][1].has_dkld = true, c[0][1].dkld = 1e-4, c[0][1].dkld_se = 1e-7;
    c[2][0].has_dkld = true, c[2][0].dkld = 2e-2, c[2][0].dkld_se = 1e-5;
    c[2][1].has_dkld = true, c[2][1].dkld = 2e-4, c[2][1].dkld_se = 1e-7;
    t[0].alpha = 4.0, t[1].alpha = 3.0, t[2].alpha = 2.0;
    qtk_measure_table tab;
    memset(&tab, 0, sizeof tab);
    tab.n = 3;
    tab.t = t;
    qtk_measure_table_link_interp(&tab);
    /* layer 1 is 2/3 of the way from layer 3 to layer 0: factor 4^(-2/3) at q4_K, 1 at iq2_ks */
    double want_hi = 3.0 * pow(4.0, -2.0 / 3.0) * 1e-4, want_lo = 3.0 * 1e-2;
    double got_hi = qtk_autoplan_cost_ex(&t[1], &c[1][1], false, false, QTK_AUTOPLAN_COST_CALIB);
    double got_lo = qtk_autoplan_cost_ex(&t[1], &c[1][0], false, false, QTK_AUTOPLAN_COST_CALIB);
    CHECK(fabs(got_hi - want_hi) <= 1e-12 * want_hi, "interp q4_K: %.9g, want %.9g", got_hi, want_hi);
    CHECK(fabs(got_lo - want_lo) <= 1e-12 * want_lo, "interp iq2_ks: %.9g, want %.9g", got_lo, want_lo);
    CHECK(c[0][1].interp_ratio == 0 && c[2][1].interp_ratio == 0, "probed tensors carry no interp ratio");
    /* one side only (the layer-3 tensor becomes user-set): that side's factor */
    snprintf(t[2].alpha_src, sizeof t[2].alpha_src, "user");
    qtk_measure_table_link_interp(&tab);
    got_hi = qtk_autoplan_cost_ex(&t[1], &c[1][1], false, false, QTK_AUTOPLAN_COST_CALIB);
    CHECK(fabs(got_hi - 0.75e-4) <= 1e-12 * 0.75e-4, "interp, one probed side: %.9g, want 7.5e-05", got_hi);
    /* no probed neighbour: the tensor's own α */
    snprintf(t[0].alpha_src, sizeof t[0].alpha_src, "user");
    qtk_measure_table_link_interp(&tab);
    got_hi = qtk_autoplan_cost_ex(&t[1], &c[1][1], false, false, QTK_AUTOPLAN_COST_CALIB);
    CHECK(fabs(got_hi - 3e-4) <= 1e-12 * 3e-4, "interp, no probed neighbour: %.9g, want 3e-04", got_hi);

    /* a table read from its file carries the factors (parse links them) */
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *full = make_table(ts, n, k_types, N_TYPES, 5);
    qtk_error err;
    full->probe = qtk_strdup("ref=source ctx=64 chunks=2 text=0123456789abcdef alpha_type=iq2_ks");
    for (int i = 0; i < n; i++) {
        qtk_measure_tensor *x = &full->t[i];
        bool probed = x->layer % 2 == 0;
        x->alpha = 1.0 + 0.1 * i;
        snprintf(x->alpha_src, sizeof x->alpha_src, "%s", probed ? "probe" : "interp");
        for (int k = 0; probed && k < x->n_cand; k += 2) {
            x->cand[k].has_dkld = true;
            x->cand[k].dkld = x->cand[k].eps_abs * (1.0 + 0.5 * k + 0.01 * i); /* α rising with the type */
            x->cand[k].dkld_se = 0;
        }
    }
    qtk_measure_table_link_interp(full);
    char *text = NULL;
    size_t len = 0;
    qtk_measure_table *back = NULL;
    CHECK(qtk_measure_table_format(full, &text, &len, &err) == QTK_OK &&
              qtk_measure_table_parse(text, len, "interp.tsv", &back, &err) == QTK_OK, "round trip: %s", err.msg);
    int linked = 0, differ = 0;
    for (int i = 0; back && i < n; i++)
        for (int k = 0; k < back->t[i].n_cand; k++) {
            linked += back->t[i].cand[k].interp_ratio > 0 && back->t[i].cand[k].interp_ratio != 1.0;
            differ += fabs(back->t[i].cand[k].interp_ratio - full->t[i].cand[k].interp_ratio) >
                      1e-6 * full->t[i].cand[k].interp_ratio;
        }
    CHECK(back && linked > n && differ == 0, "parsed table: %d factors linked, %d differ from the in-memory ones", linked,
          differ);
    free(text);
    qtk_measure_table_free(back);
    qtk_measure_table_free(full);
}

/* ---- rules, floors, unreachable --------------------------------------------- */

static void test_rules(void) {
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 11);
    qtk_error err;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_bpw = 3.8;
    /* --compat mainline: no ik_llama.cpp-only type */
    o.compat = QTK_AUTOPLAN_COMPAT_MAINLINE;
    qtk_autoplan_result *r = solve(tab, &o, &err);
    CHECK(r != NULL, "mainline: %s", err.msg);
    if (r) {
        int bad = 0;
        for (int i = 0; i < n; i++) bad += !(qtk_type_get(r->type[i])->ecosystems & QTK_ECO_LLAMA_CPP);
        CHECK(bad == 0, "%d ik-only types with --compat mainline", bad);
        CHECK(strstr(r->recipe, "\ncompat mainline\n") != NULL, "recipe lacks 'compat mainline'");
        /* without the compat rule the plan uses ik types at this size */
        qtk_autoplan_opts o2 = o;
        o2.compat = 0;
        qtk_autoplan_result *r2 = solve(tab, &o2, &err);
        int ik = 0;
        for (int i = 0; r2 && i < n; i++) ik += !(qtk_type_get(r2->type[i])->ecosystems & QTK_ECO_LLAMA_CPP);
        CHECK(ik > 0, "test not exercising compat: no ik type chosen without it");
        qtk_autoplan_result_free(r2);
    }
    qtk_autoplan_result_free(r);
    o.compat = 0;
    /* --allow */
    int allow[] = {QTK_TYPE_Q4_K, QTK_TYPE_Q6_K, QTK_TYPE_Q3_K};
    o.allow = allow;
    o.n_allow = 3;
    r = solve(tab, &o, &err);
    CHECK(r != NULL, "allow: %s", err.msg);
    for (int i = 0; r && i < n; i++)
        CHECK(r->type[i] == QTK_TYPE_Q4_K || r->type[i] == QTK_TYPE_Q6_K || r->type[i] == QTK_TYPE_Q3_K,
              "%s: %s not allowed", tab->t[i].name, qtk_type_name(r->type[i]));
    qtk_autoplan_result_free(r);
    o.allow = NULL;
    o.n_allow = 0;
    /* --min / --max, and the default floors */
    qtk_autoplan_bound b[2] = {{"ffn_down", QTK_TYPE_Q5_K, false}, {"attn_q", QTK_TYPE_IQ3_K, true}};
    o.bounds = b;
    o.n_bounds = 2;
    o.target_bpw = 4.0;
    r = solve(tab, &o, &err);
    CHECK(r != NULL, "bounds: %s", err.msg);
    for (int i = 0; r && i < n; i++) {
        const qtk_measure_tensor *t = &tab->t[i];
        uint64_t rows = (uint64_t)t->ne[1];
        uint64_t bq5 = qtk_row_size(QTK_TYPE_Q5_K, t->ne[0]) * rows, biq3 = qtk_row_size(QTK_TYPE_IQ3_K, t->ne[0]) * rows;
        uint64_t bq4 = qtk_row_size(QTK_TYPE_Q4_K, t->ne[0]) * rows, bq2 = qtk_row_size(QTK_TYPE_Q2_K, t->ne[0]) * rows;
        uint64_t by = cand_bytes(tab, r, i);
        if (!strcmp(t->cls, "ffn_down")) CHECK(by >= bq5, "%s below q5_K: %s", t->name, qtk_type_name(r->type[i]));
        if (!strcmp(t->cls, "attn_q")) CHECK(by <= biq3, "%s above iq3_k: %s", t->name, qtk_type_name(r->type[i]));
        if (!strcmp(t->cls, "output")) CHECK(by >= bq4, "%s below the q4_K floor", t->name);
        if (!strcmp(t->cls, "token_embd")) CHECK(by >= bq2, "%s below the q2_K floor", t->name);
    }
    qtk_autoplan_result_free(r);
    /* the floors bite: without them the output tensor goes lower at a small target */
    o.n_bounds = 0;
    o.target_bpw = 2.9;
    o.no_default_floors = true;
    r = solve(tab, &o, &err);
    bool below = false;
    for (int i = 0; r && i < n; i++)
        if (!strcmp(tab->t[i].cls, "output"))
            below = cand_bytes(tab, r, i) < qtk_row_size(QTK_TYPE_Q4_K, 512) * 2000ull;
    CHECK(r && below, "test not exercising the output floor (%s)", r ? "output stays >= q4_K anyway" : err.msg);
    qtk_autoplan_result_free(r);
    o.no_default_floors = false;
    /* a --max that leaves nothing: clear error naming the tensor */
    qtk_autoplan_bound bx = {"ffn_up", QTK_TYPE_IQ1_S, true};
    o.bounds = &bx;
    o.n_bounds = 1;
    r = solve(tab, &o, &err);
    CHECK(!r && strstr(err.msg, "blk.0.ffn_up.weight") && strstr(err.msg, "no admissible candidate"), "empty rule: %s",
          r ? "solved" : err.msg);
    qtk_autoplan_result_free(r);
    o.n_bounds = 0;
    /* unreachable targets state the reachable range: the exact sizes / bpw of the cheapest and largest mixes */
    o.target_bpw = 0;
    o.target_size = UINT64_MAX / 4;
    r = solve(tab, &o, &err);
    CHECK(r != NULL, "huge target: %s", err.msg);
    char want_lo[64] = "?", want_hi[64] = "?", want_blo[64] = "?", want_bhi[64] = "?";
    if (r) {
        snprintf(want_lo, sizeof want_lo, "smallest reachable size is %llu bytes", (unsigned long long)r->min_size);
        snprintf(want_hi, sizeof want_hi, "the largest %llu bytes", (unsigned long long)r->max_size);
        snprintf(want_blo, sizeof want_blo, "the smallest reachable is %.4f bpw", r->min_bpw);
        snprintf(want_bhi, sizeof want_bhi, "the largest %.4f bpw", r->max_bpw);
    }
    qtk_autoplan_result_free(r);
    o.target_size = 1000;
    r = solve(tab, &o, &err);
    CHECK(!r && err.code == QTK_ERR_INVALID_ARG && strstr(err.msg, "out of reach") && strstr(err.msg, want_lo) &&
              strstr(err.msg, want_hi),
          "unreachable size: %s (want '%s', '%s')", r ? "solved" : err.msg, want_lo, want_hi);
    o.target_size = 0;
    o.target_bpw = 1.0;
    r = solve(tab, &o, &err);
    CHECK(!r && strstr(err.msg, "target 1.0000 bpw is out of reach") && strstr(err.msg, want_blo) &&
              strstr(err.msg, want_bhi),
          "unreachable bpw: %s (want '%s', '%s')", r ? "solved" : err.msg, want_blo, want_bhi);
    /* no target / two targets */
    o.target_size = 1;
    r = solve(tab, &o, &err);
    CHECK(!r && strstr(err.msg, "exactly one target"), "two targets: %s", err.msg);
    qtk_autoplan_result_free(r);
    qtk_measure_table_free(tab);
}

/* ---- MoE with harmonised experts ------------------------------------------- */

static void test_moe(void) {
    tspec ts[64];
    char names[64][48];
    int n = 0;
    snprintf(names[n], 48, "token_embd.weight");
    ts[n] = (tspec){names[n], "token_embd", -1, 256, 1000, 1};
    n++;
    static const char *cls[] = {"attn_q",        "attn_k",      "attn_v",         "attn_output",
                                "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps",  "ffn_gate_shexp",
                                "ffn_up_shexp",  "ffn_down_shexp"};
    for (int l = 0; l < 4; l++)
        for (int c = 0; c < 10; c++) {
            snprintf(names[n], 48, "blk.%d.%s.weight", l, cls[c]);
            bool down = c == 6 || c == 9;
            int64_t ne2 = c >= 4 && c <= 6 ? 8 : 1;
            ts[n] = (tspec){names[n], cls[c], l, down ? 512 : 256, down ? 256 : (c >= 4 ? 512 : 256), ne2};
            n++;
        }
    snprintf(names[n], 48, "output.weight");
    ts[n] = (tspec){names[n], "output", -1, 256, 1000, 1};
    n++;
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 23);
    qtk_error err;
    int differ = 0, harm_bad = 0, solved = 0;
    for (int b = 0; b < 8; b++) {
        qtk_autoplan_opts o;
        qtk_autoplan_opts_init(&o);
        o.target_bpw = 2.8 + 0.4 * b;
        for (int h = 0; h < 2; h++) {
            o.harmonize_experts = h;
            qtk_autoplan_result *r = solve(tab, &o, &err);
            CHECK(r != NULL, "moe %.1f bpw: %s", o.target_bpw, err.msg);
            if (!r) continue;
            solved++;
            CHECK(r->bpw <= o.target_bpw + 1e-9, "bpw %.6f over %.6f", r->bpw, o.target_bpw);
            for (int l = 0; l < 4; l++) {
                int g = 1 + l * 10 + 4, u = g + 1;
                if (h) harm_bad += r->type[g] != r->type[u];
                else differ += r->type[g] != r->type[u];
            }
            if (h) CHECK(r->n_items == n - 4, "%lld items for %d tensors and 4 groups", (long long)r->n_items, n);
            qtk_autoplan_result_free(r);
        }
    }
    CHECK(solved == 16, "%d of 16 solves", solved);
    CHECK(harm_bad == 0, "%d layers with different up/gate expert types despite --harmonize-experts", harm_bad);
    CHECK(differ > 0, "test not exercising harmonisation: up/gate always equal without it");
    qtk_measure_table_free(tab);
}

/* ---- on a synthetic model: recipe, --custom-q, qtk_plan_make, quantize ------- */

static bool candidate(const qtk_tensor_info *t) {
    size_t l = strlen(t->name);
    int dims = 0;
    for (int d = 0; d < QTK_MAX_DIMS; d++)
        if (t->ne[d] > 1) dims = d + 1;
    return dims >= 2 && l >= 6 && !strcmp(t->name + l - 6, "weight") && !strstr(t->name, "_norm.weight");
}

static const char *class_of(const char *name) {
    static const char *cls[] = {"attn_output", "attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up", "ffn_down"};
    if (!strcmp(name, "token_embd.weight")) return "token_embd";
    if (!strcmp(name, "output.weight")) return "output";
    for (size_t k = 0; k < sizeof cls / sizeof cls[0]; k++) {
        char pat[40];
        snprintf(pat, sizeof pat, ".%s.", cls[k]);
        if (strstr(name, pat)) return cls[k];
    }
    return "other";
}

static void test_model(void) {
    char *path = tl_tmp_path("autoplan-synth.gguf");
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_measure_table *tab = NULL;
    qtk_autoplan_result *r = NULL;
    qtk_recipe *rec = NULL, *cq = NULL;
    qtk_plan *plan = NULL, *plan2 = NULL;
    tspec *ts = NULL;
    if (!tl_file_exists(path)) CHECK(qtk_synth_write(path, "tiny", 1, 2, NULL, NULL, &err) == QTK_OK, "synth: %s", err.msg);
    if (qtk_gguf_open(path, &g, &err) != QTK_OK) {
        CHECK(0, "open %s: %s", path, err.msg);
        goto out;
    }
    int64_t nt = qtk_gguf_n_tensors(g);
    ts = (tspec *)calloc((size_t)nt, sizeof *ts);
    int n = 0;
    uint64_t fixed = 0;
    int64_t *map = (int64_t *)calloc((size_t)nt, sizeof *map);
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        map[i] = -1;
        if (!candidate(t)) {
            fixed += (t->nbytes + 31) / 32 * 32;
            continue;
        }
        map[i] = n;
        ts[n++] = (tspec){t->name, class_of(t->name), -1, t->ne[0], t->ne[1], t->ne[2]};
    }
    static const int types[] = {QTK_TYPE_Q4_0, QTK_TYPE_IQ3_K, QTK_TYPE_IQ4_XS, QTK_TYPE_Q4_K, QTK_TYPE_Q5_K,
                                QTK_TYPE_Q6_K, QTK_TYPE_Q8_0};
    tab = make_table(ts, n, types, 7, 5);
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < nt; j++)
            if (map[j] == i) tab->t[i].idx = j;
    free(map);
    tab->fixed_bytes = fixed;
    int64_t all = 0;
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        all += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    tab->n_elements_all = all;
    tab->header_bytes = 0; /* set from a real output below */

    /* the table matches this model; a changed one is refused */
    CHECK(qtk_autoplan_check_model(tab, "t.tsv", g, path, &err) == QTK_OK, "check_model: %s", err.msg);
    tab->t[3].ne[1]++;
    CHECK(qtk_autoplan_check_model(tab, "t.tsv", g, path, &err) != QTK_OK &&
              strstr(err.msg, "t.tsv was measured on another model") && strstr(err.msg, tab->t[3].name),
          "shape mismatch: %s", err.msg);
    tab->t[3].ne[1]--;
    free(tab->t[5].name);
    tab->t[5].name = qtk_strdup("blk.9.other.weight");
    CHECK(qtk_autoplan_check_model(tab, "t.tsv", g, path, &err) != QTK_OK && strstr(err.msg, "blk.9.other.weight"),
          "name mismatch: %s", err.msg);
    free(tab->t[5].name);
    tab->t[5].name = qtk_strdup(qtk_gguf_tensor(g, tab->t[5].idx)->name);
    {
        /* the measure pass's source check refuses another model's hash */
        char other[65];
        memset(other, 'c', 64);
        other[64] = 0;
        qtk_status st = qtk_measure_table_check_source(tab, "t.tsv", other, NULL, &err);
        CHECK(st != QTK_OK && strstr(err.msg, "measured on another model"), "hash mismatch: %s", err.msg);
    }

    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_bpw = 5.0;
    o.comment = "qtk plan test";
    r = solve(tab, &o, &err);
    CHECK(r != NULL, "solve: %s", err.msg);
    if (!r) goto out;
    /* the recipe parses, prints back identically, and plans exactly these types */
    CHECK(qtk_recipe_parse(r->recipe, "plan.recipe", &rec, &err) == QTK_OK, "parse: %s", err.msg);
    if (!rec) goto out;
    char *text = qtk_recipe_text(rec);
    CHECK(text && !strcmp(text, r->recipe), "recipe not canonical:\n%s\n---\n%s", r->recipe, text ? text : "");
    free(text);
    CHECK(qtk_plan_make(g, rec, NULL, false, &plan, &err) == QTK_OK, "plan: %s", err.msg);
    int wrong = 0, distinct = 0;
    for (int64_t j = 0; plan && j < nt; j++) {
        int64_t i = -1;
        for (int q = 0; q < n; q++)
            if (tab->t[q].idx == j) i = q;
        if (i < 0) wrong += plan->items[j].quantize;
        else wrong += !plan->items[j].quantize || plan->items[j].type != r->type[i] ||
                      plan->items[j].bytes != cand_bytes(tab, r, i);
    }
    for (int i = 1; i < n; i++) distinct += r->type[i] != r->type[0];
    CHECK(wrong == 0, "%d tensors planned differently from the recipe", wrong);
    CHECK(distinct > 0, "test not exercising a mix: one type everywhere");
    /* the --custom-q list on a preset reproduces the same types */
    CHECK(qtk_recipe_from_preset("Q8_0", NULL, &cq, &err) == QTK_OK, "preset: %s", err.msg);
    {
        char *list = qtk_strdup(r->custom_q);
        int items = 0;
        for (char *tok = list; cq && tok && *tok;) {
            char *comma = strchr(tok, ',');
            if (comma) *comma = 0;
            char *eq = strrchr(tok, '=');
            CHECK(eq != NULL, "custom-q item '%s'", tok);
            if (!eq) break;
            *eq = 0;
            CHECK(qtk_recipe_add_custom(cq, tok, qtk_type_from_name(eq + 1), &err) == QTK_OK, "add %s: %s", tok, err.msg);
            items++;
            tok = comma ? comma + 1 : NULL;
        }
        free(list);
        CHECK(items == n, "%d custom-q items for %d tensors", items, n);
    }
    CHECK(cq && qtk_plan_make(g, cq, NULL, false, &plan2, &err) == QTK_OK, "custom-q plan: %s", err.msg);
    wrong = 0;
    for (int64_t j = 0; plan && plan2 && j < nt; j++)
        wrong += plan->items[j].quantize != plan2->items[j].quantize || plan->items[j].type != plan2->items[j].type;
    CHECK(wrong == 0, "%d tensors differ between the recipe and the --custom-q list", wrong);

    /* quantize with the recipe: the data section is exactly the predicted one,
     * quantize.recipe holds the recipe, and with header_bytes taken from that
     * file a size target is met */
    if (!g_quick && plan) {
        char *outp = tl_tmp_path("autoplan-synth-out.gguf");
        qtk_quantize_params qp;
        qtk_quantize_params_init(&qp);
        qp.nthreads = 2;
        qp.recipe = rec;
        CHECK(qtk_quantize_model(g, plan, outp, &qp, &err) == QTK_OK, "quantize: %s", err.msg);
        qtk_gguf *q = NULL;
        size_t fsz = 0;
        unsigned char *bytes = tl_read_file(outp, &fsz);
        free(bytes);
        if (qtk_gguf_open(outp, &q, &err) == QTK_OK) {
            uint64_t data_off = qtk_gguf_data_offset(q);
            CHECK(fsz - data_off == tab->fixed_bytes + r->data_bytes_padded, "data section %llu, predicted %llu",
                  (unsigned long long)(fsz - data_off), (unsigned long long)(tab->fixed_bytes + r->data_bytes_padded));
            const qtk_gguf_value *v = qtk_meta_get(qtk_gguf_meta(q), "quantize.recipe");
            CHECK(v && v->type == QTK_GGUF_STRING && !strcmp(v->v.str.ptr, r->recipe), "quantize.recipe not the plan");
            int bad = 0;
            for (int i = 0; i < n; i++) bad += qtk_gguf_tensor(q, tab->t[i].idx)->type != (qtk_type)r->type[i];
            CHECK(bad == 0, "%d tensors of the output differ from the plan", bad);
            /* an upper bound of the header: data offset - recipe length */
            tab->header_bytes = data_off - strlen(r->recipe);
            qtk_gguf_close(q);
            qtk_autoplan_opts os;
            qtk_autoplan_opts_init(&os);
            os.comment = "qtk plan test";
            os.target_size = fsz - fsz / 10;
            qtk_autoplan_result *rs = solve(tab, &os, &err);
            CHECK(rs && rs->file_size <= os.target_size, "size target: %s", rs ? "over" : err.msg);
            qtk_autoplan_result_free(rs);
        } else {
            CHECK(0, "open output: %s", err.msg);
        }
        qtk_remove_file(outp);
        free(outp);
    }
out:
    qtk_plan_free(plan);
    qtk_plan_free(plan2);
    qtk_recipe_free(rec);
    qtk_recipe_free(cq);
    qtk_autoplan_result_free(r);
    qtk_measure_table_free(tab);
    free(ts);
    qtk_gguf_close(g);
    free(path);
}

/* ---- the command line ---------------------------------------------------------- */

static void test_cli(void) {
    if (!tl_qtk_available()) {
        fprintf(stderr, "test_autoplan: qtk binary not available, CLI part skipped\n");
        return;
    }
    tspec ts[64];
    char names[64][48];
    int n = dense_specs(ts, names);
    qtk_measure_table *tab = make_table(ts, n, k_types, N_TYPES, 7);
    char *text = NULL;
    size_t len = 0;
    qtk_error err;
    CHECK(qtk_measure_table_format(tab, &text, &len, &err) == QTK_OK, "format: %s", err.msg);
    char *tsv = tl_tmp_path("autoplan.tsv"), *out1 = tl_tmp_path("autoplan-1.txt"), *out2 = tl_tmp_path("autoplan-2.txt");
    char *rec = tl_tmp_path("autoplan.recipe"), *cq = tl_tmp_path("autoplan.cq");
    CHECK(text && tl_write_file(tsv, text, len) == 0, "write %s", tsv);
    free(text);
    char args[2048];
    /* deterministic output for a stored table (the solve time line aside) */
    snprintf(args, sizeof args, "plan %s --target-size 6MiB -o %s --custom-q-out %s --json", tsv, rec, cq);
    int rc1 = tl_run_qtk(args, out1);
    int rc2 = tl_run_qtk(args, out2);
    CHECK(rc1 == 0 && rc2 == 0, "qtk plan exit %d %d: %s", rc1, rc2, tl_last_line(out1));
    CHECK(tl_files_equal(out1, out2), "two runs print different JSON");
    CHECK(tl_file_contains(out1, "\"file_size\": ") && tl_file_contains(out1, "\"target_size\": 6291456"),
          "JSON lacks file_size/target_size");
    {
        /* every documented field (docs/planner.md, "qtk plan --json") */
        static const char *keys[] = {"table", "model", "metric", "model_hash", "imatrix_hash", "options", "compat", "cost",
                                     "harmonize_experts", "polish", "file_size", "header_bytes", "recipe_bytes",
                                     "recipe_reserve", "fixed_bytes", "data_bytes", "data_bytes_padded", "alignment",
                                     "n_elements_all", "bpw", "predicted_cost", "lambda", "budget", "used",
                                     "first_misfit", "min_next_step", "min_size", "max_size", "min_bpw", "max_bpw",
                                     "items", "steps", "steps_taken", "steps_fill", "polish_moves", "polish_gain",
                                     "low_bpw", "safety_raised", "notes", "classes", "tensors", "custom_q", "recipe",
                                     "idx", "layer", "ne", "eps_rel", "cost"};
        char *js = tl_read_text(out1);
        int missing = 0;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char key[64];
            snprintf(key, sizeof key, "\"%s\": ", keys[k]);
            if (!js || !strstr(js, key)) {
                fprintf(stderr, "JSON lacks %s\n", key);
                missing++;
            }
        }
        CHECK(missing == 0, "%d JSON fields missing", missing);
        free(js);
        /* --help names every option the parser takes */
        static const char *opts[] = {"--target-size", "--target-bpw", "--compat", "--allow", "--min", "--max",
                                     "--no-default-floors", "--harmonize-experts", "--no-fill", "--no-polish",
                                     "--class-spread", "--starvation-check", "--cost auto|rel|abs|calib|kld", "-o, --output", "--custom-q-out",
                                     "--print-custom-q", "--json", "-m, --model", "--imatrix", "-h, --help"};
        CHECK(tl_run_qtk("plan --help", out2) == 0, "plan --help");
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
            CHECK(tl_file_contains(out2, opts[k]), "plan --help lacks %s", opts[k]);
    }
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_size = 6291456;
    qtk_autoplan_result *r = solve(tab, &o, &err);
    char *rt = tl_read_text(rec), *ct = tl_read_text(cq);
    CHECK(r && rt && strstr(rt, "default copy\n") && strstr(rt, "^blk\\.3\\.ffn_down\\.weight$ = "),
          "recipe file: %s", rt ? rt : "(missing)");
    CHECK(r && ct && !strncmp(ct, r->custom_q, strlen(r->custom_q)), "custom-q file differs from the library's list");
    /* the recipe of the CLI = the library's except its command-line comment */
    if (r && rt) {
        const char *a = strstr(rt, "default copy"), *b = strstr(r->recipe, "default copy");
        CHECK(a && b && !strcmp(a, b), "CLI recipe rules differ from the library's");
    }
    free(rt);
    free(ct);
    qtk_autoplan_result_free(r);
    snprintf(args, sizeof args, "plan %s --target-bpw 4.5 --compat mainline --min ffn_down=q6_K --harmonize-experts", tsv);
    CHECK(tl_run_qtk(args, out1) == 0, "summary run: %s", tl_last_line(out1));
    CHECK(tl_file_contains(out1, "predicted cost: ") && tl_file_contains(out1, "ffn_down") &&
              tl_file_contains(out1, "lambda: ") && tl_file_contains(out1, "q6_K:4"),
          "summary lacks lines (ffn_down all q6_K)");
    /* errors: usage 2, unreachable 1 with the range */
    snprintf(args, sizeof args, "plan %s --target-size 1KiB", tsv);
    CHECK(tl_run_qtk(args, out1) == 1 && tl_file_contains(out1, "smallest reachable size is"), "unreachable: %s",
          tl_last_line(out1));
    snprintf(args, sizeof args, "plan %s --target-size 12XB", tsv);
    CHECK(tl_run_qtk(args, out1) == 2 && tl_file_contains(out1, "unknown unit 'XB'"), "bad size: %s", tl_last_line(out1));
    snprintf(args, sizeof args, "plan %s", tsv);
    CHECK(tl_run_qtk(args, out1) == 2 && tl_file_contains(out1, "exactly one of"), "no target: %s", tl_last_line(out1));
    snprintf(args, sizeof args, "plan %s --target-bpw 4 --min attn_z=q4_K", tsv);
    CHECK(tl_run_qtk(args, out1) == 2 && tl_file_contains(out1, "attn_z=q4_K"), "bad class: %s", tl_last_line(out1));
    snprintf(args, sizeof args, "plan %s.missing --target-bpw 4", tsv);
    CHECK(tl_run_qtk(args, out1) == 1 && tl_file_contains(out1, "autoplan.tsv.missing"), "missing table: %s",
          tl_last_line(out1));
    qtk_remove_file(tsv);
    qtk_remove_file(out1);
    qtk_remove_file(out2);
    qtk_remove_file(rec);
    qtk_remove_file(cq);
    free(tsv);
    free(out1);
    free(out2);
    free(rec);
    free(cq);
    qtk_measure_table_free(tab);
}

/* ---- end to end on the fixture: measure -> plan -> quantize --recipe ------------- */

static void test_e2e(void) {
    char *model = tl_shared_path("fixtures/tiny-llama-f16.gguf"), *imx = tl_shared_path("fixtures/imatrix.dat");
    char *other = tl_shared_path("fixtures/tiny-llama-f32.gguf");
    if (!model || !imx || !other || g_quick || !tl_qtk_available()) {
        fprintf(stderr, "test_autoplan: end-to-end part skipped (%s)\n",
                g_quick ? "QTK_TEST_QUICK" : "no ../shared fixture or qtk binary");
        free(model);
        free(imx);
        free(other);
        return;
    }
    char *tsv = tl_tmp_path("autoplan-e2e.tsv"), *rec = tl_tmp_path("autoplan-e2e.recipe");
    char *out = tl_tmp_path("autoplan-e2e.gguf"), *log = tl_tmp_path("autoplan-e2e.log");
    char args[4096];
    const uint64_t target = 4700000;
    /* a fresh table: header_bytes depends on the imatrix path's spelling */
    qtk_remove_file(tsv);
    snprintf(args, sizeof args, "measure -m %s --imatrix %s -o %s --types q4_K,q6_K,q8_0 -t 2", model, imx, tsv);
    CHECK(tl_run_qtk(args, log) == 0, "measure: %s", tl_last_line(log));
    snprintf(args, sizeof args, "plan %s --target-size %llu -o %s -m %s --imatrix %s", tsv, (unsigned long long)target,
             rec, model, imx);
    CHECK(tl_run_qtk(args, log) == 0, "plan: %s", tl_last_line(log));
    snprintf(args, sizeof args, "quantize -q --imatrix %s --recipe %s %s %s 2", imx, rec, model, out);
    CHECK(tl_run_qtk(args, log) == 0, "quantize: %s", tl_last_line(log));
    size_t fsz = 0;
    unsigned char *bytes = tl_read_file(out, &fsz);
    free(bytes);
    CHECK(fsz > 0 && fsz <= target && fsz > target - target / 50, "file %zu bytes, target %llu", fsz,
          (unsigned long long)target);
    /* per-tensor types as planned: the recipe's plan on the source = the output's types */
    qtk_error err;
    qtk_gguf *src = NULL, *q = NULL;
    qtk_recipe *r = NULL;
    qtk_plan *plan = NULL;
    err.msg[0] = 0;
    char *text = tl_read_text(rec);
    if (text && qtk_gguf_open(model, &src, &err) == QTK_OK && qtk_gguf_open(out, &q, &err) == QTK_OK &&
        qtk_recipe_parse(text, rec, &r, &err) == QTK_OK && qtk_plan_make(src, r, NULL, false, &plan, &err) == QTK_OK) {
        int bad = 0, mixed = 0;
        for (int64_t i = 0; i < plan->n; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(q, i);
            bad += strcmp(t->name, qtk_gguf_tensor(src, i)->name) != 0 ||
                   (plan->items[i].quantize && (int)t->type != plan->items[i].type);
            mixed += plan->items[i].quantize && plan->items[i].type != plan->items[0].type;
        }
        CHECK(bad == 0, "%d tensors differ from the plan", bad);
        CHECK(mixed > 0, "a single type: not a mix");
        const qtk_gguf_value *v = qtk_meta_get(qtk_gguf_meta(q), "quantize.recipe");
        CHECK(v && v->type == QTK_GGUF_STRING && !strcmp(v->v.str.ptr, text), "quantize.recipe is not the plan");
    } else {
        CHECK(0, "reading the recipe / output: %s", err.msg);
    }
    qtk_plan_free(plan);
    qtk_recipe_free(r);
    qtk_gguf_close(src);
    qtk_gguf_close(q);
    free(text);
    /* the shortcut: quantize --target-bpw with the table */
    snprintf(args, sizeof args, "quantize -q --imatrix %s --target-bpw 5.2 --measure %s %s %s 2", imx, tsv, model, out);
    CHECK(tl_run_qtk(args, log) == 0, "quantize --target-bpw: %s", tl_last_line(log));
    q = NULL;
    if (qtk_gguf_open(out, &q, &err) == QTK_OK) {
        double bytes_all = 0, elems = 0;
        for (int64_t i = 0; i < qtk_gguf_n_tensors(q); i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(q, i);
            bytes_all += (double)t->nbytes;
            elems += (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2] * (double)t->ne[3];
        }
        double bpw = bytes_all * 8 / elems;
        CHECK(bpw <= 5.2 && bpw > 5.0, "--target-bpw 5.2 gave %.4f bpw", bpw);
        qtk_gguf_close(q);
    }
    /* a table of another model / imatrix is refused, nothing written */
    qtk_remove_file(out);
    snprintf(args, sizeof args, "quantize -q --imatrix %s --target-size 4MiB --measure %s %s %s", imx, tsv, other, out);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "was measured on another model") && !tl_file_exists(out),
          "other model: %s", tl_last_line(log));
    snprintf(args, sizeof args, "quantize -q --target-size 4MiB --measure %s %s %s", tsv, model, out);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "another imatrix") && !tl_file_exists(out),
          "no imatrix: %s", tl_last_line(log));
    snprintf(args, sizeof args, "plan %s --target-bpw 4.5 -m %s", tsv, other);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "was measured on another model"), "plan -m: %s",
          tl_last_line(log));
    qtk_remove_file(rec);
    qtk_remove_file(out);
    qtk_remove_file(log);
    qtk_remove_file(tsv);
    free(tsv);
    free(rec);
    free(out);
    free(log);
    free(model);
    free(imx);
    free(other);
}

/* Types of the output per tensor equal the plan of `recipe_text` on src for
 * every quantized tensor; returns the number of differences (-1: I/O error). */
static int types_vs_recipe(const char *src_path, const char *out_path, const char *recipe_text, int *n_mixed) {
    qtk_error err;
    qtk_gguf *src = NULL, *q = NULL;
    qtk_recipe *r = NULL;
    qtk_plan *plan = NULL;
    int bad = -1;
    if (qtk_gguf_open(src_path, &src, &err) == QTK_OK && qtk_gguf_open(out_path, &q, &err) == QTK_OK &&
        qtk_recipe_parse(recipe_text, "plan", &r, &err) == QTK_OK &&
        qtk_plan_make(src, r, NULL, false, &plan, &err) == QTK_OK && qtk_gguf_n_tensors(q) == plan->n) {
        bad = 0;
        *n_mixed = 0;
        for (int64_t i = 0; i < plan->n; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(q, i);
            bad += strcmp(t->name, qtk_gguf_tensor(src, i)->name) != 0 ||
                   (plan->items[i].quantize && (int)t->type != plan->items[i].type);
            *n_mixed += plan->items[i].quantize && plan->items[i].type != plan->items[0].type;
        }
    }
    qtk_plan_free(plan);
    qtk_recipe_free(r);
    qtk_gguf_close(src);
    qtk_gguf_close(q);
    return bad;
}

/* `qtk quantize --target-size` without --measure (the measure pass runs first
 * into OUT.measure.tsv, then the plan, then quantize): the file is no larger
 * than the target and exactly the size printed, holds the plan's types and
 * records it in quantize.recipe; a rerun reuses the table and writes the same
 * bytes. Then the plan's --custom-q list given to `qtk quantize --custom-q`
 * reproduces exactly the planned types. Two fast candidate types. */
static void test_target_no_measure(void) {
    char *model = tl_shared_path("fixtures/tiny-llama-f16.gguf"), *imx = tl_shared_path("fixtures/imatrix.dat");
    const char *emu = getenv("QTK_BIN_EMULATOR");
    if (!model || !imx || !tl_qtk_available() || (emu && *emu)) {
        fprintf(stderr, "test_autoplan: quantize --target-size without --measure skipped (%s)\n",
                emu && *emu ? "emulator" : "no ../shared fixture or qtk binary");
        free(model);
        free(imx);
        return;
    }
    char *out = tl_tmp_path("autoplan-auto.gguf"), *out2 = tl_tmp_path("autoplan-auto2.gguf");
    char *log = tl_tmp_path("autoplan-auto.log"), *cq = tl_tmp_path("autoplan-auto.cq");
    char table[4200];
    snprintf(table, sizeof table, "%s.measure.tsv", out);
    qtk_remove_file(table);
    qtk_remove_file(out);
    const char *types = "q4_0,q8_0"; /* fast types: the path, not the mix quality, is tested */
    const uint64_t target = 4u << 20;
    char args[8192];
    snprintf(args, sizeof args, "quantize --imatrix %s --target-size 4MiB --measure-types %s %s %s 2", imx, types,
             model, out);
    CHECK(tl_run_qtk(args, log) == 0, "quantize --target-size (no table): %s", tl_last_line(log));
    CHECK(tl_file_contains(log, "no --measure table: measuring") && tl_file_exists(table), "no measure pass / table");
    size_t fsz = 0;
    unsigned char *bytes = tl_read_file(out, &fsz);
    free(bytes);
    char *lt = tl_read_text(log);
    const char *pm = lt ? strstr(lt, "automatic mix from ") : NULL;
    unsigned long long predicted = 0;
    if (pm) pm = strstr(pm, ": ");
    if (pm) predicted = strtoull(pm + 2, NULL, 10);
    free(lt);
    CHECK(fsz > 0 && fsz <= target && fsz > target - target / 20, "file %zu bytes, target %llu", fsz,
          (unsigned long long)target);
    CHECK(predicted == fsz, "file %zu bytes, the plan predicted %llu", fsz, predicted);
    /* the recorded recipe is the plan, and the types follow it */
    qtk_error err;
    qtk_gguf *q = NULL;
    char *rtext = NULL;
    if (qtk_gguf_open(out, &q, &err) == QTK_OK) {
        const qtk_gguf_value *v = qtk_meta_get(qtk_gguf_meta(q), "quantize.recipe");
        CHECK(v && v->type == QTK_GGUF_STRING && strstr(v->v.str.ptr, "qtk quantize --target-*"),
              "no plan in quantize.recipe");
        if (v && v->type == QTK_GGUF_STRING) rtext = qtk_strdup(v->v.str.ptr);
        qtk_gguf_close(q);
    } else {
        CHECK(0, "open %s: %s", out, err.msg);
    }
    int mixed = 0;
    CHECK(rtext && types_vs_recipe(model, out, rtext, &mixed) == 0, "output types differ from quantize.recipe");
    CHECK(mixed > 0, "a single type: not a mix");
    free(rtext);
    /* a rerun (no --measure) resumes from OUT.measure.tsv: same table, same bytes */
    {
        size_t n1 = 0, n2 = 0, t1 = 0, t2 = 0;
        unsigned char *b1 = tl_read_file(out, &n1), *tb1 = tl_read_file(table, &t1);
        CHECK(tl_run_qtk(args, log) == 0, "rerun: %s", tl_last_line(log));
        unsigned char *b2 = tl_read_file(out, &n2), *tb2 = tl_read_file(table, &t2);
        CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "a rerun wrote other bytes");
        CHECK(tb1 && tb2 && t1 == t2 && !memcmp(tb1, tb2, t1), "a rerun changed the table");
        free(b1);
        free(b2);
        free(tb1);
        free(tb2);
    }
    /* the same with --measure TABLE */
    snprintf(args, sizeof args, "quantize -q --imatrix %s --target-size 4MiB --measure %s %s %s 2", imx, table, model,
             out2);
    CHECK(tl_run_qtk(args, log) == 0 && tl_files_equal(out, out2), "with --measure: %s", tl_last_line(log));
    /* --measure-types: in --help; an unknown type or with --measure is a usage error (exit 2) */
    CHECK(tl_run_qtk("quantize --help", log) == 0 && tl_file_contains(log, "--measure-types LIST"), "quantize --help");
    snprintf(args, sizeof args, "quantize --target-size 4MiB --measure-types q4_0,nosuch %s %s", model, out2);
    CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "unknown type 'nosuch'"), "bad type: %s",
          tl_last_line(log));
    snprintf(args, sizeof args, "quantize --target-size 4MiB --measure %s --measure-types q4_0 %s %s", table, model,
             out2);
    CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "without --measure"), "with --measure: %s",
          tl_last_line(log));
    /* --probe-text: the measure pass's table gets KLD probes (every α calibrated), the plan uses them */
    {
        char *calib = tl_shared_path("fixtures/calib.txt"), *out3 = tl_tmp_path("autoplan-probe.gguf");
        char table3[4200];
        snprintf(table3, sizeof table3, "%s.measure.tsv", out3);
        qtk_remove_file(table3);
        snprintf(args, sizeof args, "quantize --imatrix %s --target-size 4MiB --measure-types %s --probe-text %s "
                 "--probe-chunks 2 --probe-ctx 64 %s %s 2", imx, types, calib ? calib : "x", model, out3);
        CHECK(calib && tl_run_qtk(args, log) == 0 && tl_file_exists(out3) && tl_file_contains(log, "KLD probes of"),
              "quantize --probe-text: %s", tl_last_line(log));
        qtk_measure_table *pt = NULL;
        int n_probe = 0, n_uncal = 0;
        if (qtk_measure_table_load(table3, &pt, &err) == QTK_OK) {
            for (int64_t i = 0; i < pt->n; i++) {
                n_probe += !strcmp(pt->t[i].alpha_src, "probe");
                n_uncal += !pt->t[i].pinned && !strcmp(pt->t[i].alpha_src, "prior");
            }
        }
        CHECK(pt && n_probe > 0 && n_uncal == 0, "probed table: %d probed, %d uncalibrated", n_probe, n_uncal);
        CHECK(qtk_autoplan_default_cost(pt) == QTK_AUTOPLAN_COST_CALIB, "the plan's cost is calib");
        qtk_measure_table_free(pt);
        snprintf(args, sizeof args, "quantize --target-size 4MiB --measure %s --probe-text %s %s %s", table3,
                 calib ? calib : "x", model, out2);
        CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "without --measure"), "--probe-text with --measure: %s",
              tl_last_line(log));
        qtk_remove_file(out3);
        qtk_remove_file(table3);
        free(calib);
        free(out3);
    }
    /* a table of another imatrix (none given) or another model is refused; nothing written */
    qtk_remove_file(out2);
    snprintf(args, sizeof args, "quantize -q --target-size 4MiB --measure %s %s %s 2", table, model, out2);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "another imatrix") && !tl_file_exists(out2),
          "imatrix mismatch: %s", tl_last_line(log));
    {
        char *other = tl_shared_path("fixtures/tiny-llama-f32.gguf");
        if (other) {
            snprintf(args, sizeof args, "quantize -q --imatrix %s --target-size 4MiB --measure %s %s %s 2", imx, table,
                     other, out2);
            CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "was measured on another model") &&
                      !tl_file_exists(out2),
                  "model mismatch: %s", tl_last_line(log));
        }
        free(other);
    }
    /* --custom-q list from qtk plan -> qtk quantize --custom-q: the planned types exactly */
    snprintf(args, sizeof args, "plan %s --target-size 4.5MiB --custom-q-out %s -o %s.recipe -m %s --imatrix %s", table,
             cq, cq, model, imx);
    CHECK(tl_run_qtk(args, log) == 0, "plan: %s", tl_last_line(log));
    char *list = tl_read_text(cq), rpath[4300];
    snprintf(rpath, sizeof rpath, "%s.recipe", cq);
    char *plan_text = tl_read_text(rpath);
    if (list) {
        size_t l = strlen(list);
        while (l && (list[l - 1] == '\n' || list[l - 1] == ' ')) list[--l] = 0;
    }
    CHECK(list && plan_text && strlen(list) < 6000, "custom-q list / recipe missing");
    if (list && plan_text && strlen(list) < 6000) {
#ifdef _WIN32
        snprintf(args, sizeof args, "quantize -q --imatrix %s --custom-q \"%s\" %s %s Q8_0 2", imx, list, model, out2);
#else
        snprintf(args, sizeof args, "quantize -q --imatrix %s --custom-q '%s' %s %s Q8_0 2", imx, list, model, out2);
#endif
        CHECK(tl_run_qtk(args, log) == 0, "quantize --custom-q: %s", tl_last_line(log));
        int bad = types_vs_recipe(model, out2, plan_text, &mixed);
        CHECK(bad == 0, "%d tensors of the --custom-q output differ from the plan", bad);
        CHECK(mixed > 0, "the 4.5 MiB plan is a single type");
    }
    free(list);
    free(plan_text);
    qtk_remove_file(rpath);
    qtk_remove_file(cq);
    qtk_remove_file(table);
    qtk_remove_file(out);
    qtk_remove_file(out2);
    qtk_remove_file(log);
    free(out);
    free(out2);
    free(log);
    free(cq);
    free(model);
    free(imx);
}

/* A real MoE model (../shared/fixtures/arch/qwen3moe.gguf: 3-D ffn_*_exps
 * tensors of 4 experts): measure (2 fast types) -> plan; without
 * --harmonize-experts some layer's up/gate experts differ at 7 bpw, with it
 * none; `qtk quantize --recipe` of the harmonised plan writes those types. */
static void test_moe_model(void) {
    char *model = tl_shared_path("fixtures/arch/qwen3moe.gguf");
    const char *emu = getenv("QTK_BIN_EMULATOR");
    if (!model || !tl_qtk_available() || (emu && *emu)) {
        fprintf(stderr, "test_autoplan: MoE model part skipped (%s)\n",
                emu && *emu ? "emulator" : "no ../shared fixture or qtk binary");
        free(model);
        return;
    }
    char *tsv = tl_tmp_path("autoplan-moe.tsv"), *rec = tl_tmp_path("autoplan-moe.recipe");
    char *out = tl_tmp_path("autoplan-moe.gguf"), *log = tl_tmp_path("autoplan-moe.log");
    char args[4096];
    qtk_remove_file(tsv);
    snprintf(args, sizeof args, "measure -m %s -o %s --types q4_0,q8_0 -t 2", model, tsv);
    CHECK(tl_run_qtk(args, log) == 0, "measure: %s", tl_last_line(log));
    qtk_error err;
    qtk_measure_table *tab = NULL;
    if (qtk_measure_table_load(tsv, &tab, &err) != QTK_OK) {
        CHECK(0, "load %s: %s", tsv, err.msg);
        goto out;
    }
    int n3d = 0, ng = 0, nu = 0;
    for (int64_t i = 0; i < tab->n; i++) {
        const qtk_measure_tensor *t = &tab->t[i];
        if (strstr(t->cls, "_exps")) n3d += t->ne[2] == 4;
        if (!strcmp(t->cls, "ffn_gate_exps")) ng++;
        if (!strcmp(t->cls, "ffn_up_exps")) nu++;
    }
    CHECK(n3d == 18 && ng == 6 && nu == 6, "table: %d 3-D expert tensors, %d gate, %d up (want 18, 6, 6)", n3d, ng, nu);
    int differ = 0, harm_bad = 0;
    for (int h = 0; h < 2; h++) {
        qtk_autoplan_opts o;
        qtk_autoplan_opts_init(&o);
        o.target_bpw = 7.0;
        o.harmonize_experts = h;
        qtk_autoplan_result *r = solve(tab, &o, &err);
        CHECK(r != NULL, "plan (harmonize %d): %s", h, err.msg);
        if (!r) continue;
        CHECK(r->bpw <= 7.0, "bpw %.4f", r->bpw);
        for (int64_t i = 0; i < tab->n; i++) {
            if (strcmp(tab->t[i].cls, "ffn_gate_exps")) continue;
            for (int64_t j = 0; j < tab->n; j++)
                if (!strcmp(tab->t[j].cls, "ffn_up_exps") && tab->t[j].layer == tab->t[i].layer) {
                    if (h) harm_bad += r->type[i] != r->type[j];
                    else differ += r->type[i] != r->type[j];
                }
        }
        if (h && tl_write_file(rec, r->recipe, strlen(r->recipe)) == 0) {
            snprintf(args, sizeof args, "quantize -q --recipe %s %s %s 2", rec, model, out);
            CHECK(tl_run_qtk(args, log) == 0, "quantize: %s", tl_last_line(log));
            int mixed = 0;
            CHECK(types_vs_recipe(model, out, r->recipe, &mixed) == 0, "MoE output types differ from the plan");
            CHECK(mixed > 0, "MoE plan is a single type");
        }
        qtk_autoplan_result_free(r);
    }
    CHECK(differ > 0, "test not exercising harmonisation: up/gate experts equal without it");
    CHECK(harm_bad == 0, "%d layers with different up/gate expert types despite --harmonize-experts", harm_bad);
out:
    qtk_measure_table_free(tab);
    qtk_remove_file(tsv);
    qtk_remove_file(rec);
    qtk_remove_file(out);
    qtk_remove_file(log);
    free(tsv);
    free(rec);
    free(out);
    free(log);
    free(model);
}

int main(void) {
    g_quick = tl_quick();
    test_parse_size();
    test_budget_and_nesting();
    test_optimal();
    test_polish();
    test_low_bpw();
    test_starvation();
    test_cost_model();
    test_calibrated_cost();
    test_calib_alpha();
    test_calib_alpha_interp();
    test_rules();
    test_moe();
    test_model();
    test_cli();
    test_e2e();
    test_target_no_measure();
    test_moe_model();
    return tl_finish("test_autoplan");
}
