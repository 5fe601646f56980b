/*
 * cmd_plan.c — `qtk plan`: the automatic planner of issue #15 (thin over
 * qtk_autoplan_solve, qtk.h's experimental part): reads a measurement table, solves for a file size or
 * bpw target, prints the per-class summary, writes a recipe for
 * `qtk quantize --recipe` and a --custom-q list for llama-quantize /
 * ik_llama.cpp. docs/planner.md, section "Planner".
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *k_classes[] = {"token_embd",     "output",        "attn_q",         "attn_k",
                                  "attn_v",         "attn_qkv",      "attn_output",    "ffn_gate",
                                  "ffn_up",         "ffn_down",      "ffn_gate_exps",  "ffn_up_exps",
                                  "ffn_down_exps",  "ffn_gate_shexp", "ffn_up_shexp",  "ffn_down_shexp",
                                  "other"};
#define N_CLASSES ((int)(sizeof k_classes / sizeof k_classes[0]))

void help_plan(FILE *out) {
    fprintf(out,
            "usage: qtk plan TABLE.tsv (--target-size SIZE | --target-bpw X) [options]\n\n"
            "Chooses a type per tensor from a measurement table (qtk measure) so that the\n"
            "predicted error is smallest for the target (PLANNER.md 4.4: per-tensor convex\n"
            "hull, equal-slope walk, fill, polish, safety checks). Runs in milliseconds.\n\n"
            "target (exactly one):\n"
            "  --target-size SIZE     size of the whole output file of 'qtk quantize --recipe'\n"
            "                         (never exceeded): a bare number is bytes; B, KiB, MiB,\n"
            "                         GiB, TiB (1024^k) and KB, MB, GB, TB (1000^k), e.g. 13.5GiB\n"
            "  --target-bpw X         bits per weight as llama.cpp prints them: tensor data\n"
            "                         bytes x 8 / elements of all tensors\n\n"
            "rules:\n"
            "  --compat mainline|ik   only types stock llama.cpp (and KoboldCPP) / ik_llama.cpp load\n"
            "  --allow T1,T2,...      only these types (and their block-size fallbacks)\n"
            "  --min CLASS=TYPE       no tensor of CLASS smaller than TYPE (repeatable)\n"
            "  --max CLASS=TYPE       no tensor of CLASS larger than TYPE (repeatable)\n"
            "                         classes: token_embd output attn_q attn_k attn_v attn_qkv\n"
            "                         attn_output ffn_gate ffn_up ffn_down ffn_{gate,up,down}_exps\n"
            "                         ffn_{gate,up,down}_shexp other\n"
            "  --no-default-floors    drop the default floors (output and a tied token_embd\n"
            "                         >= q4_K size, token_embd >= q2_K size)\n"
            "  --harmonize-experts    one type for ffn_up_exps and ffn_gate_exps of a layer\n"
            "                         (ik_llama.cpp's fused MoE path)\n"
            "  --no-fill              stop at the first step that does not fit (nested plans;\n"
            "                         implies --no-polish)\n"
            "  --no-polish            no polish after the fill (single swaps to any Pareto\n"
            "                         point, one step moved between two tensors)\n"
            "  --class-spread X       safety (a): raise tensors more than X bpw below their\n"
            "                         class median (default 2; 0 disables)\n"
            "  --starvation-check     safety (c): when the other tensors share a narrow band\n"
            "                         (quartiles within 1 bpw), raise tensors left at their\n"
            "                         smallest type more than 1.5 bpw below its median\n"
            "  --cost auto|rel|abs|calib|kld  error term: rel = m x alpha x rows x eps_rel\n"
            "                         (stage A); abs = m x alpha x eps_abs; calib = alpha x eps_abs\n"
            "                         with the KLD-probe alpha (stage C, qtk measure --probe-text);\n"
            "                         kld = the probed dKLD of each (tensor, type), calib where not\n"
            "                         probed. auto (default): kld when every candidate was probed,\n"
            "                         calib when every tensor has a probe alpha, else rel\n"
            "  below 2.2 bpw (PR 15550): ffn_down cost factor 1 + 2^(3-b) instead of 6 and\n"
            "  expert ffn_down capped at its layer's gate/up expert bpw\n\n"
            "output:\n"
            "  -o, --output FILE      write the recipe (for qtk quantize --recipe FILE)\n"
            "  --custom-q-out FILE    write the comma-separated regex=type list (ik_llama.cpp\n"
            "                         --custom-q; each item is also a llama-quantize --tensor-type)\n"
            "  --print-custom-q       print that list after the summary\n"
            "  --json                 print the result as JSON instead of the summary (fields:\n"
            "                         docs/planner.md, \"qtk plan --json\")\n"
            "  -m, --model FILE       check that TABLE was measured on this model (SHA-256)\n"
            "  --imatrix FILE         ... and with this imatrix\n"
            "  -h, --help             show this help\n");
}

static int find_class(const char *s, size_t n) {
    for (int k = 0; k < N_CLASSES; k++)
        if (strlen(k_classes[k]) == n && !strncmp(k_classes[k], s, n)) return k;
    return -1;
}

/* Writes text to path atomically. */
static int write_text(const char *path, const char *text, qtk_error *err) {
    FILE *f = NULL;
    char *tmp = NULL;
    if (qtk_tmpfile_create(path, &f, &tmp, err) != QTK_OK) return 1;
    size_t n = strlen(text);
    if (fwrite(text, 1, n, f) != n || fflush(f) != 0) {
        qtk_set_error_cli(err, "%s: write failed", path);
        qtk_tmpfile_discard(f, tmp);
        free(tmp);
        return 1;
    }
    if (fclose(f) != 0) {
        qtk_set_error_cli(err, "%s: write failed", path);
        qtk_tmpfile_discard(NULL, tmp);
        free(tmp);
        return 1;
    }
    if (qtk_tmpfile_commit(tmp, path) != 0) {
        qtk_set_error_cli(err, "%s: cannot rename the temp file %s into place", path, tmp);
        qtk_tmpfile_discard(NULL, tmp);
        free(tmp);
        return 1;
    }
    free(tmp);
    return 0;
}

typedef struct class_sum {
    int64_t tensors;
    uint64_t bytes;
    double elements, cost;
    int64_t *hist; /* [QTK_TYPE_ID_LIMIT] */
} class_sum;

static void hist_text(const int64_t *hist, char *buf, size_t n) {
    buf[0] = 0;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++)
        if (hist[t]) {
            size_t l = strlen(buf);
            snprintf(buf + l, n - l, "%s%s:%lld", l ? " " : "", qtk_type_name(t), (long long)hist[t]);
        }
}

/* Per-class sums (cs[N_CLASSES] = all measured tensors); returns the
 * histogram storage to free, NULL when out of memory. */
static int64_t *class_sums(const qtk_measure_table *tab, const qtk_autoplan_result *r, class_sum *cs) {
    memset(cs, 0, (N_CLASSES + 1) * sizeof *cs);
    int64_t *hist = (int64_t *)calloc((size_t)(N_CLASSES + 1) * QTK_TYPE_ID_LIMIT, sizeof *hist);
    if (!hist) return NULL;
    for (int k = 0; k <= N_CLASSES; k++) cs[k].hist = hist + (size_t)k * QTK_TYPE_ID_LIMIT;
    for (int64_t i = 0; i < r->n; i++) {
        qtk_measure_tensor_info t;
        qtk_measure_cand_info cd;
        if (!qtk_measure_table_tensor(tab, i, &t) || !qtk_measure_table_cand(tab, i, r->cand[i], &cd)) continue;
        int k = find_class(t.cls, strlen(t.cls));
        if (k < 0) k = N_CLASSES - 1; /* other */
        class_sum *c = &cs[k], *tot = &cs[N_CLASSES];
        double ne = (double)t.ne[0] * (double)t.ne[1] * (double)t.ne[2];
        uint64_t b = cd.bytes;
        c->tensors++;
        c->bytes += b;
        c->elements += ne;
        c->cost += r->cost[i];
        c->hist[r->type[i]]++;
        tot->tensors++;
        tot->bytes += b;
        tot->elements += ne;
        tot->cost += r->cost[i];
        tot->hist[r->type[i]]++;
    }
    return hist;
}

static void print_summary(FILE *out, const qtk_measure_table *tab, const qtk_autoplan_result *r, const char *table_path,
                          const qtk_autoplan_opts *o) {
    class_sum cs[N_CLASSES + 1];
    int64_t *hist = class_sums(tab, r, cs);
    if (!hist) return;
    char hb[1024], sz[64], sz2[64];
    qtk_measure_table_info ti;
    qtk_measure_table_get_info(tab, &ti);
    fprintf(out, "qtk plan: %s (model %s, %lld tensors, metric %s)\n", table_path,
            ti.model_name[0] ? ti.model_name : "?", (long long)ti.n, ti.metric);
    if (r->size_mode)
        fprintf(out, "target: file size %llu bytes (%s)\n", (unsigned long long)o->target_size,
                cli_fmt_bytes((double)o->target_size, sz, sizeof sz));
    else
        fprintf(out, "target: %.4f bpw\n", o->target_bpw);
    fprintf(out, "\n%-16s %7s %14s %8s %12s  %s\n", "class", "tensors", "bytes", "bpw", "cost", "types");
    for (int k = 0; k <= N_CLASSES; k++) {
        const class_sum *c = &cs[k];
        if (!c->tensors) continue;
        hist_text(c->hist, hb, sizeof hb);
        if (k == N_CLASSES) fprintf(out, "%-16s %7s %14s %8s %12s\n", "", "", "", "", "");
        fprintf(out, "%-16s %7lld %14llu %8.4f %12.6g  %s\n", k == N_CLASSES ? "(measured)" : k_classes[k],
                (long long)c->tensors, (unsigned long long)c->bytes, c->elements > 0 ? c->bytes * 8.0 / c->elements : 0,
                c->cost, hb);
    }
    fprintf(out, "\npredicted cost: %.9g (cost model %s)\n", r->total_cost, qtk_autoplan_cost_name(r->cost_model));
    fprintf(out, "file size: %llu bytes (%s)", (unsigned long long)r->file_size,
            cli_fmt_bytes((double)r->file_size, sz, sizeof sz));
    if (r->size_mode)
        fprintf(out, ", %llu bytes under the target\n", (unsigned long long)(o->target_size - r->file_size));
    else
        fprintf(out, "\n");
    fprintf(out, "bpw: %.4f (tensor data %llu bytes of %lld elements)\n", r->bpw,
            (unsigned long long)(ti.fixed_bytes + r->data_bytes), (long long)ti.n_elements_all);
    fprintf(out, "lambda: %.9g (items %lld, steps %lld: %lld taken, %lld by the fill; polish: %lld moves, cost -%.6g)\n",
            r->lambda, (long long)r->n_items, (long long)r->n_steps, (long long)r->n_taken, (long long)r->n_fill,
            (long long)r->n_polish, r->polish_gain);
    if (r->low_bpw) fprintf(out, "below %.1f bpw: ffn_down cost factor 1 + 2^(3-b), expert ffn_down capped\n",
                            QTK_AUTOPLAN_LOW_BPW);
    fprintf(out, "reachable: %s .. %s (%.4f .. %.4f bpw)\n", cli_fmt_bytes((double)r->min_size, sz, sizeof sz),
            cli_fmt_bytes((double)r->max_size, sz2, sizeof sz2), r->min_bpw, r->max_bpw);
    if (r->notes[0]) fprintf(out, "%s\n", r->notes);
    free(hist);
}

static const char *compat_name(int c) {
    return c == QTK_AUTOPLAN_COMPAT_MAINLINE ? "mainline" : c == QTK_AUTOPLAN_COMPAT_IK ? "ik" : "any";
}

/* The result as one JSON object (docs/planner.md, "qtk plan --json"): the
 * same for the same table and options (no timings). */
static void print_json(FILE *out, const qtk_measure_table *tab, const qtk_autoplan_result *r, const char *table_path,
                       const qtk_autoplan_opts *o) {
    qtk_measure_table_info ti;
    qtk_measure_table_get_info(tab, &ti);
    fprintf(out, "{\n  \"table\": ");
    cli_json_string(out, table_path, strlen(table_path));
    fprintf(out, ",\n  \"model\": ");
    cli_json_string(out, ti.model_name, strlen(ti.model_name));
    fprintf(out, ",\n  \"metric\": ");
    cli_json_string(out, ti.metric, strlen(ti.metric));
    fprintf(out, ",\n  \"model_hash\": \"%s\",\n  \"imatrix_hash\": \"%s\",\n", ti.model_hash, ti.imatrix_hash);
    if (r->size_mode) fprintf(out, "  \"target_size\": %llu,\n", (unsigned long long)o->target_size);
    else fprintf(out, "  \"target_bpw\": %.9g,\n", o->target_bpw);
    /* options as solved */
    fprintf(out, "  \"options\": {\"compat\": \"%s\", \"cost\": \"%s\", \"allow\": ", compat_name(o->compat),
            qtk_autoplan_cost_name(r->cost_model));
    if (o->allow) {
        fprintf(out, "[");
        for (int k = 0; k < o->n_allow; k++) fprintf(out, "%s\"%s\"", k ? ", " : "", qtk_type_name(o->allow[k]));
        fprintf(out, "]");
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ", \"bounds\": [");
    for (int k = 0; k < o->n_bounds; k++)
        fprintf(out, "%s{\"class\": \"%s\", \"%s\": \"%s\"}", k ? ", " : "", o->bounds[k].cls,
                o->bounds[k].is_max ? "max" : "min", qtk_type_name(o->bounds[k].type));
    fprintf(out,
            "], \"harmonize_experts\": %s, \"fill\": %s, \"polish\": %s, \"starvation_check\": %s, "
            "\"default_floors\": %s, \"class_spread\": %.9g},\n",
            o->harmonize_experts ? "true" : "false", o->no_fill ? "false" : "true",
            o->no_fill || o->no_polish ? "false" : "true", o->starvation ? "true" : "false",
            o->no_default_floors ? "false" : "true", o->class_spread == 0 ? 2.0 : o->class_spread < 0 ? 0 : o->class_spread);
    fprintf(out,
            "  \"file_size\": %llu,\n  \"header_bytes\": %llu,\n  \"recipe_bytes\": %llu,\n  \"recipe_reserve\": %llu,\n"
            "  \"fixed_bytes\": %llu,\n  \"data_bytes\": %llu,\n  \"data_bytes_padded\": %llu,\n  \"alignment\": %llu,\n"
            "  \"n_elements_all\": %lld,\n",
            (unsigned long long)r->file_size, (unsigned long long)ti.header_bytes, (unsigned long long)strlen(r->recipe),
            (unsigned long long)r->recipe_reserve, (unsigned long long)ti.fixed_bytes,
            (unsigned long long)r->data_bytes, (unsigned long long)r->data_bytes_padded,
            (unsigned long long)ti.alignment, (long long)ti.n_elements_all);
    fprintf(out,
            "  \"bpw\": %.9g,\n  \"predicted_cost\": %.9g,\n"
            "  \"lambda\": %.9g,\n  \"budget\": %llu,\n  \"used\": %llu,\n  \"first_misfit\": %llu,\n"
            "  \"min_next_step\": %llu,\n  \"min_size\": %llu,\n  \"max_size\": %llu,\n"
            "  \"min_bpw\": %.9g,\n  \"max_bpw\": %.9g,\n  \"items\": %lld,\n  \"steps\": %lld,\n  \"steps_taken\": %lld,\n"
            "  \"steps_fill\": %lld,\n  \"polish_moves\": %lld,\n  \"polish_gain\": %.9g,\n  \"low_bpw\": %s,\n"
            "  \"safety_raised\": %d,\n  \"notes\": ",
            r->bpw, r->total_cost, r->lambda, (unsigned long long)r->budget, (unsigned long long)r->used,
            (unsigned long long)r->first_misfit, (unsigned long long)r->min_next_step, (unsigned long long)r->min_size,
            (unsigned long long)r->max_size, r->min_bpw, r->max_bpw, (long long)r->n_items, (long long)r->n_steps,
            (long long)r->n_taken, (long long)r->n_fill, (long long)r->n_polish, r->polish_gain,
            r->low_bpw ? "true" : "false", r->n_safety);
    cli_json_string(out, r->notes, strlen(r->notes));
    /* per class */
    class_sum cs[N_CLASSES + 1];
    int64_t *hist = class_sums(tab, r, cs);
    fprintf(out, ",\n  \"classes\": [");
    bool first = true;
    for (int k = 0; hist && k < N_CLASSES; k++) {
        const class_sum *c = &cs[k];
        if (!c->tensors) continue;
        fprintf(out, "%s\n    {\"class\": \"%s\", \"tensors\": %lld, \"bytes\": %llu, \"bpw\": %.9g, \"cost\": %.9g, "
                     "\"types\": {",
                first ? "" : ",", k_classes[k], (long long)c->tensors, (unsigned long long)c->bytes,
                c->elements > 0 ? c->bytes * 8.0 / c->elements : 0, c->cost);
        bool f2 = true;
        for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++)
            if (c->hist[t]) {
                fprintf(out, "%s\"%s\": %lld", f2 ? "" : ", ", qtk_type_name(t), (long long)c->hist[t]);
                f2 = false;
            }
        fprintf(out, "}}");
        first = false;
    }
    free(hist);
    fprintf(out, "\n  ],\n  \"tensors\": [\n");
    for (int64_t i = 0; i < r->n; i++) {
        qtk_measure_tensor_info tt;
        qtk_measure_cand_info cd;
        if (!qtk_measure_table_tensor(tab, i, &tt) || !qtk_measure_table_cand(tab, i, r->cand[i], &cd)) continue;
        const qtk_measure_tensor_info *t = &tt;
        const qtk_measure_cand_info *c = &cd;
        double ne = (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2];
        fprintf(out, "    {\"name\": ");
        cli_json_string(out, t->name, strlen(t->name));
        fprintf(out,
                ", \"idx\": %lld, \"class\": \"%s\", \"layer\": %lld, \"ne\": [%lld, %lld, %lld], \"type\": \"%s\", "
                "\"bytes\": %llu, \"bpw\": %.9g, \"eps_rel\": %.9g, \"cost\": %.9g}%s\n",
                (long long)t->idx, t->cls, (long long)t->layer, (long long)t->ne[0], (long long)t->ne[1],
                (long long)t->ne[2], qtk_type_name(r->type[i]), (unsigned long long)c->bytes,
                ne > 0 ? (double)c->bytes * 8.0 / ne : 0, c->eps_rel, r->cost[i], i + 1 < r->n ? "," : "");
    }
    fprintf(out, "  ],\n  \"custom_q\": ");
    cli_json_string(out, r->custom_q, strlen(r->custom_q));
    fprintf(out, ",\n  \"recipe\": ");
    cli_json_string(out, r->recipe, strlen(r->recipe));
    fprintf(out, "\n}\n");
}

#define MAX_BOUNDS 64

int cmd_plan(int argc, char **argv) {
    const char *table_path = NULL, *out_recipe = NULL, *out_cq = NULL, *model_path = NULL, *imatrix_path = NULL;
    const char *size_text = NULL;
    bool json = false, print_cq = false;
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.cost_model = QTK_AUTOPLAN_COST_AUTO; /* the probe-calibrated cost when the table has it */
    qtk_autoplan_bound bounds[MAX_BOUNDS];
    int n_bounds = 0;
    int allow[QTK_TYPE_ID_LIMIT];
    int n_allow = 0;
    bool allow_given = false, spread_given = false;
    double spread = 2.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
#define NEED_VAL()                                                                                     \
    do {                                                                                               \
        if (!has_val) return cli_usage_error("plan", help_plan, "option %s needs a value", a);         \
    } while (0)
        if (cli_is_help(a)) {
            help_plan(stdout);
            return 0;
        } else if (!strcmp(a, "--target-size")) {
            NEED_VAL();
            size_text = argv[++i];
            qtk_error e;
            if (qtk_parse_size(size_text, &o.target_size, &e) != QTK_OK)
                return cli_usage_error("plan", help_plan, "--target-size: %s", e.msg);
        } else if (!strcmp(a, "--target-bpw")) {
            NEED_VAL();
            char *end;
            o.target_bpw = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(o.target_bpw > 0) || !(o.target_bpw < 64))
                return cli_usage_error("plan", help_plan, "--target-bpw '%s': expected a number of bits per weight "
                                       "(0 < X < 64)", argv[i]);
        } else if (!strcmp(a, "--compat")) {
            NEED_VAL();
            const char *v = argv[++i];
            if (!strcmp(v, "mainline")) o.compat = QTK_AUTOPLAN_COMPAT_MAINLINE;
            else if (!strcmp(v, "ik")) o.compat = QTK_AUTOPLAN_COMPAT_IK;
            else return cli_usage_error("plan", help_plan, "--compat '%s': expected mainline or ik", v);
        } else if (!strcmp(a, "--allow")) {
            NEED_VAL();
            char *list = cli_strdup(argv[++i]);
            if (!list) return 1;
            allow_given = true;
            for (char *tok = list; tok && *tok;) {
                char *comma = strchr(tok, ',');
                if (comma) *comma = 0;
                int t = qtk_type_from_name(tok);
                if (t < 0 || !qtk_type_get(t)->is_quantized) {
                    int rc = cli_usage_error("plan", help_plan, "--allow: unknown quantized type '%s'", tok);
                    free(list);
                    return rc;
                }
                if (n_allow < QTK_TYPE_ID_LIMIT) allow[n_allow++] = t;
                tok = comma ? comma + 1 : NULL;
            }
            free(list);
        } else if (!strcmp(a, "--min") || !strcmp(a, "--max")) {
            NEED_VAL();
            const char *v = argv[++i];
            const char *eq = strchr(v, '=');
            int k = eq ? find_class(v, (size_t)(eq - v)) : -1;
            if (!eq || k < 0)
                return cli_usage_error("plan", help_plan, "%s '%s': expected CLASS=TYPE with a class of 'qtk help plan'",
                                       a, v);
            int t = qtk_type_from_name(eq + 1);
            if (t < 0) return cli_usage_error("plan", help_plan, "%s '%s': unknown type '%s'", a, v, eq + 1);
            if (n_bounds >= MAX_BOUNDS) return cli_usage_error("plan", help_plan, "too many --min/--max options");
            snprintf(bounds[n_bounds].cls, sizeof bounds[n_bounds].cls, "%s", k_classes[k]);
            bounds[n_bounds].type = t;
            bounds[n_bounds].is_max = !strcmp(a, "--max");
            n_bounds++;
        } else if (!strcmp(a, "--harmonize-experts")) {
            o.harmonize_experts = true;
        } else if (!strcmp(a, "--no-fill")) {
            o.no_fill = true;
        } else if (!strcmp(a, "--no-polish")) {
            o.no_polish = true;
        } else if (!strcmp(a, "--starvation-check")) {
            o.starvation = true;
        } else if (!strcmp(a, "--cost")) {
            NEED_VAL();
            const char *v = argv[++i];
            o.cost_model = qtk_autoplan_cost_from_name(v);
            if (o.cost_model < QTK_AUTOPLAN_COST_AUTO)
                return cli_usage_error("plan", help_plan, "--cost '%s': expected auto, rel, abs, calib or kld", v);
        } else if (!strcmp(a, "--no-default-floors")) {
            o.no_default_floors = true;
        } else if (!strcmp(a, "--class-spread")) {
            NEED_VAL();
            char *end;
            spread = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(spread >= 0) || spread > 64)
                return cli_usage_error("plan", help_plan, "--class-spread '%s': expected bits (>= 0)", argv[i]);
            spread_given = true;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            NEED_VAL();
            out_recipe = argv[++i];
        } else if (!strcmp(a, "--custom-q-out")) {
            NEED_VAL();
            out_cq = argv[++i];
        } else if (!strcmp(a, "--print-custom-q")) {
            print_cq = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED_VAL();
            model_path = argv[++i];
        } else if (!strcmp(a, "--imatrix")) {
            NEED_VAL();
            imatrix_path = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("plan", help_plan, "unknown option '%s'", a);
        } else if (!table_path) {
            table_path = a;
        } else {
            return cli_usage_error("plan", help_plan, "unexpected argument '%s' (one table)", a);
        }
#undef NEED_VAL
    }
    if (!table_path) return cli_usage_error("plan", help_plan, "no measurement table given");
    if ((o.target_size > 0) == (o.target_bpw > 0))
        return cli_usage_error("plan", help_plan, "give exactly one of --target-size and --target-bpw");
    if (imatrix_path && !model_path) return cli_usage_error("plan", help_plan, "--imatrix needs -m MODEL");
    if (allow_given) {
        o.allow = allow;
        o.n_allow = n_allow;
    }
    o.bounds = bounds;
    o.n_bounds = n_bounds;
    o.class_spread = spread_given ? (spread == 0 ? -1 : spread) : 0;

    /* the command line, as the recipe's comment */
    char comment[400] = "qtk plan";
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(comment);
        if (l + strlen(argv[i]) + 2 >= sizeof comment) break;
        snprintf(comment + l, sizeof comment - l, " %s", argv[i]);
    }
    o.comment = comment;

    qtk_error err;
    qtk_measure_table *tab = NULL;
    qtk_autoplan_result *r = NULL;
    int rc = 1;
    if (qtk_measure_table_load(table_path, &tab, &err) != QTK_OK) goto fail;
    if (qtk_measure_table_check_complete(tab, table_path, &err) != QTK_OK) goto fail;
    if (model_path) {
        qtk_gguf *g = NULL;
        char mh[65], ih[65] = "-";
        if (qtk_gguf_open(model_path, &g, &err) != QTK_OK) goto fail;
        qtk_status st = qtk_autoplan_check_model(tab, table_path, g, model_path, &err);
        if (st == QTK_OK) st = qtk_measure_model_hash(g, mh, &err);
        qtk_gguf_close(g);
        if (st == QTK_OK && imatrix_path) st = qtk_measure_file_hash(imatrix_path, ih, &err);
        if (st == QTK_OK) st = qtk_measure_table_check_source(tab, table_path, mh, imatrix_path ? ih : NULL, &err);
        if (st != QTK_OK) goto fail;
    }
    double t0 = qtk_time_now();
    if (qtk_autoplan_solve(tab, &o, &r, &err) != QTK_OK) goto fail;
    double t1 = qtk_time_now();
    if (out_recipe && write_text(out_recipe, r->recipe, &err)) goto fail;
    if (out_cq) {
        size_t l = strlen(r->custom_q);
        char *line = (char *)malloc(l + 2);
        if (!line) {
            qtk_set_error_cli(&err, "out of memory");
            goto fail;
        }
        memcpy(line, r->custom_q, l);
        line[l] = '\n';
        line[l + 1] = 0;
        int w = write_text(out_cq, line, &err);
        free(line);
        if (w) goto fail;
    }
    if (json) {
        print_json(stdout, tab, r, table_path, &o);
    } else {
        print_summary(stdout, tab, r, table_path, &o);
        fprintf(stdout, "solved in %.3f ms\n", (t1 - t0) * 1e3);
        if (out_recipe) fprintf(stdout, "recipe written to %s (qtk quantize --recipe %s MODEL OUT)\n", out_recipe, out_recipe);
        if (out_cq) fprintf(stdout, "custom-q list written to %s\n", out_cq);
        if (print_cq) fprintf(stdout, "custom-q: %s\n", r->custom_q);
    }
    rc = 0;
    goto done;
fail:
    rc = cli_fail("plan", &err);
done:
    qtk_autoplan_result_free(r);
    qtk_measure_table_free(tab);
    return rc;
}
