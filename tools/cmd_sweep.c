/*
 * cmd_sweep.c — `qtk sweep`: the validation harness of the automatic
 * planner (issue #15, PLANNER.md §4.5; docs/planner.md "Sweep and
 * validation"). Quantizes every listed preset and a plan at each preset's
 * exact file size and at each bpw point, evaluates PPL and KLD of each
 * against the source model with qtk's own engine (the base log-probabilities
 * are computed once), and writes a table (TSV + markdown, or JSON) and an SVG
 * plot of mean KLD (log scale) vs bpw.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_DEFAULT_PRESETS \
    "IQ2_KS,IQ2_K,IQ3_K,IQ3_KL,IQ4_KSS,IQ4_XS,IQ4_KS,IQ4_K,Q4_K_M,Q5_K_M,Q6_K,IQ4_MIX40,IQ4_MIX41"
#define SWEEP_DEFAULT_BPW "2.5,3,3.5,4,4.5,5,6"
#define SWEEP_MAX_ITEMS 64

void help_sweep(FILE *out) {
    fprintf(out,
            "usage: qtk sweep -m MODEL --imatrix FILE -f TEXT [--presets LIST] [--bpw LIST]\n"
            "                 [--measure TABLE] [-o DIR] [-c 512] [--chunks N] [-t N] [--compat mainline]\n"
            "                 [--random-mixes N [--random-at PRESET] [--seed S]] [--keep] [--json]\n\n"
            "The validation harness of the automatic planner (docs/planner.md): quantizes MODEL with\n"
            "every preset of LIST and with a plan (qtk plan) at each preset's exact file size and at\n"
            "each bpw point, evaluates PPL and KL-divergence of each against MODEL on TEXT with qtk's\n"
            "own engine (MODEL's log-probabilities are computed once), and writes into DIR:\n"
            "  sweep.tsv  one row per quantization: name, kind (preset|plan|random), bytes, bpw, PPL,\n"
            "             mean KLD and its standard error, 99%% KLD, same top token %%, and for a plan at\n"
            "             a preset's size the paired per-chunk KLD difference vs that preset and its\n"
            "             standard error (a win when ΔKLD + 2·se < 0)\n"
            "  sweep.md   the same as a markdown table (also printed on stdout)\n"
            "  sweep.svg  mean KLD (log scale) vs bpw: presets as labelled points, plans as a line\n"
            "Progress and an ETA go to stderr. Quantized files are scratch files in DIR, removed\n"
            "after their evaluation (kept as DIR/NAME.gguf with --keep).\n\n"
            "options:\n"
            "  -m, --model FILE       source GGUF model (F32/F16/BF16): the quantizer's input and the\n"
            "                         KLD reference\n"
            "  --ref-model FILE       the KLD reference instead of MODEL (e.g. the F32 model a F16 MODEL\n"
            "                         was converted from); same vocabulary\n"
            "  --imatrix FILE         importance matrix (qtk imatrix / llama-imatrix) for every quantization\n"
            "  -f, --file FILE        evaluation text (keep it apart from the imatrix text)\n"
            "  --presets LIST         comma-separated presets (default: " SWEEP_DEFAULT_PRESETS ");\n"
            "                         'none' for no preset\n"
            "  --bpw LIST             bpw points for plans (default " SWEEP_DEFAULT_BPW "); 'none' for none\n"
            "  --measure TABLE        measurement table of MODEL and the imatrix (qtk measure); without\n"
            "                         it, plans are left out\n"
            "  --no-plans             presets only (no plans at the presets' sizes, no bpw points)\n"
            "  --compat mainline      presets and plans that stock llama.cpp loads\n"
            "  --cost auto|rel|abs|calib|kld  the planner's cost model (qtk plan --cost; default auto);\n"
            "                         the proxy check reports the rank correlation of each the table supports\n"
            "  -o, --output DIR       output directory (created if missing; default: sweep)\n"
            "  -c, --ctx-size N       tokens per chunk (default 512)\n"
            "  --chunks N             evaluate at most N chunks (-1: all, the default)\n"
            "  -t, --threads N        threads (default: all CPUs)\n"
            "  --random-mixes N       the proxy check (PLANNER.md §4.5): N random valid mixes within\n"
            "                         1%% of one size, their predicted cost vs measured KLD (Spearman rho);\n"
            "                         needs --measure\n"
            "  --random-at PRESET     the size of the random mixes: that preset's file (default: the\n"
            "                         listed preset nearest 4.5 bpw)\n"
            "  --seed S               seed of the random mixes (default 1)\n"
            "  --keep                 keep the quantized files (DIR/NAME.gguf)\n"
            "  --json                 print the table as JSON on stdout instead of markdown\n"
            "  -h, --help             show this help\n");
}

/* ---- rows ------------------------------------------------------------------------------- */

typedef enum row_kind { ROW_PRESET = 0, ROW_PLAN = 1, ROW_RANDOM = 2 } row_kind;
static const char *const kind_names[] = {"preset", "plan", "random"};

typedef struct sweep_row {
    char name[64];
    row_kind kind;
    char ref[32];          /* plan at a preset's size: that preset; "" otherwise          */
    int ref_row;           /* index of that preset's row, -1                              */
    double target_bpw;     /* plan at a bpw point; 0 otherwise                            */
    char *recipe_text;     /* plans and random mixes                                      */
    double pred_cost;      /* planner's predicted cost (plans, random mixes); NAN         */
    double pred_cost_alt;  /* random mixes: the cost under the other cost model; NAN      */
    double pred_all[4];    /* random mixes: the cost under each cost model (NAN: unsupported) */
    bool done;
    uint64_t bytes;        /* file size                                                   */
    double bpw;            /* data bytes · 8 / parameters (llama.cpp's count)             */
    double ppl, ppl_unc, kld, kld_se, kld_99, same_top, same_top_se;
    double *chunk_kld;     /* per chunk                                                   */
    int64_t n_chunks;
    bool has_delta;
    double dkld, dkld_se;  /* paired plan − preset per chunk                              */
    double sec_quant, sec_eval;
} sweep_row;

typedef struct sweep_args {
    const char *model, *ref_model, *imatrix, *text, *measure, *out_dir, *random_at;
    char *presets[SWEEP_MAX_ITEMS];
    int n_presets;
    double bpw[SWEEP_MAX_ITEMS];
    int n_bpw;
    int64_t n_ctx, n_chunks;
    int threads;
    bool mainline, keep, json, no_plans;
    int cost_model;        /* qtk_autoplan_cost_model (--cost rel|abs)                  */
    int random_mixes;
    uint64_t seed;
} sweep_args;

/* ---- evaluation --------------------------------------------------------------------------- */

typedef struct eval_state {
    double *chunk_kld;
    int64_t cap, n;
    double prev_kld;
    int64_t prev_scored;
    const char *label;
    double t0;
    bool tty;
} eval_state;

static void eval_progress(void *user, const qtk_ppl_stats *s) {
    eval_state *e = (eval_state *)user;
    if (e->chunk_kld && e->n < e->cap) {
        e->chunk_kld[e->n++] = qtk_chunk_mean_from_running(e->prev_kld, e->prev_scored, s->kld, s->n_scored);
        e->prev_kld = s->kld;
        e->prev_scored = s->n_scored;
    }
    if (e->tty) {
        fprintf(stderr, "\rsweep:   %s: chunk %lld/%lld (%.1f s)   ", e->label, (long long)s->chunk,
                (long long)s->n_chunks, qtk_time_now() - e->t0);
        fflush(stderr);
    }
}

/* Scratch path: DIR/NAME registered for removal on a signal (the writers replace it
 * atomically); *path malloc'ed. */
static qtk_status scratch_create(const char *dir, const char *name, char **path, qtk_error *err) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *final = (char *)malloc(n);
    if (!final) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    snprintf(final, n, "%s/%s", dir, name);
    FILE *f = NULL;
    qtk_status st = qtk_tmpfile_create(final, &f, path, err);
    free(final);
    if (st == QTK_OK) fclose(f);
    return st;
}

/* Everything shared by the evaluations. */
typedef struct sweep_ctx {
    const sweep_args *a;
    qtk_gguf *g;
    qtk_imatrix *im;
    qtk_vocab *vocab;
    char *base_path;       /* scratch: base log-probabilities                                */
    int64_t n_chunks;      /* chunks evaluated                                              */
    double base_ppl;
    bool tty;
    double t_start;
    int jobs_done, jobs_total;
    double job_seconds;    /* sum over the jobs done                                        */
} sweep_ctx;

static qtk_status eval_model(sweep_ctx *c, const char *path, sweep_row *r, qtk_error *err) {
    qtk_model *m = NULL;
    qtk_status st = qtk_model_load(path, &m, err);
    if (st != QTK_OK) return st;
    r->bytes = qtk_gguf_file_size(qtk_model_gguf(m));
    qtk_ppl_params p = {.n_ctx = c->a->n_ctx, .n_batch = 0, .n_threads = c->a->threads, .n_chunks = c->a->n_chunks};
    p.kld_base = c->base_path;
    p.kld = true;
    eval_state e = {0};
    e.cap = c->n_chunks;
    e.chunk_kld = (double *)calloc((size_t)(e.cap > 0 ? e.cap : 1), sizeof(double));
    e.label = r->name;
    e.t0 = qtk_time_now();
    e.tty = c->tty;
    if (!e.chunk_kld) {
        qtk_model_free(m);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    qtk_ppl_stats s;
    st = qtk_perplexity(m, c->vocab, NULL, 0, &p, eval_progress, &e, &s, err);
    qtk_model_free(m);
    if (c->tty) fprintf(stderr, "\r%60s\r", "");
    if (st != QTK_OK) {
        free(e.chunk_kld);
        return st;
    }
    if (e.n != c->n_chunks) {
        free(e.chunk_kld);
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: %lld chunks evaluated, %lld expected", path, (long long)e.n,
                             (long long)c->n_chunks);
    }
    r->ppl = s.ppl;
    r->ppl_unc = s.ppl_unc;
    r->kld = s.kld;
    r->kld_se = s.kld_unc;
    r->kld_99 = s.kld_99;
    r->same_top = 100.0 * s.same_top;
    r->same_top_se = 100.0 * s.same_top_unc;
    r->chunk_kld = e.chunk_kld;
    r->n_chunks = e.n;
    return QTK_OK;
}

/* Quantizes with recipe into a scratch file (or DIR/NAME.gguf with --keep), evaluates it. */
static qtk_status run_recipe(sweep_ctx *c, qtk_recipe *recipe, sweep_row *r, qtk_error *err) {
    qtk_plan *plan = NULL;
    char *path = NULL;
    qtk_status st = qtk_plan_make(c->g, recipe, c->im, false, &plan, err);
    if (st == QTK_OK) st = qtk_plan_check_types(plan, recipe, err);
    if (st != QTK_OK) goto done;
    r->bpw = plan->total_params ? 8.0 * (double)plan->total_bytes / (double)plan->total_params : 0.0;
    char fname[96];
    snprintf(fname, sizeof fname, "%s.gguf", r->name);
    if ((st = scratch_create(c->a->out_dir, fname, &path, err)) != QTK_OK) goto done;
    qtk_quantize_params qp;
    qtk_quantize_params_init(&qp);
    qp.nthreads = c->a->threads;
    qp.imatrix = c->im;
    qp.imatrix_path = c->a->imatrix;
    qp.recipe = recipe;
    double t0 = qtk_time_now();
    if ((st = qtk_quantize_model(c->g, plan, path, &qp, err)) != QTK_OK) goto done;
    r->sec_quant = qtk_time_now() - t0;
    t0 = qtk_time_now();
    if ((st = eval_model(c, path, r, err)) != QTK_OK) goto done;
    r->sec_eval = qtk_time_now() - t0;
    r->done = true;
    if (c->a->keep) {
        size_t n = strlen(c->a->out_dir) + strlen(fname) + 2;
        char *final = (char *)malloc(n);
        if (final) {
            snprintf(final, n, "%s/%s", c->a->out_dir, fname);
            if (qtk_tmpfile_commit(path, final) == 0) {
                free(path);
                path = NULL;
            }
            free(final);
        }
    }
done:
    if (path) qtk_tmpfile_discard(NULL, path);
    free(path);
    qtk_plan_free(plan);
    return st;
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || !isfinite(s)) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0f s", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static void report_row(sweep_ctx *c, const sweep_row *r) {
    c->jobs_done++;
    c->job_seconds += r->sec_quant + r->sec_eval;
    char eta[32], b1[32];
    fmt_eta(eta, sizeof eta, c->job_seconds / c->jobs_done * (c->jobs_total - c->jobs_done));
    fprintf(stderr, "sweep: [%d/%d] %-16s %s, %.4f bpw: PPL %.4f, KLD %.6f \xc2\xb1 %.6f  (quantize %.1f s, eval %.1f s; ETA %s)\n",
            c->jobs_done, c->jobs_total, r->name, cli_fmt_bytes((double)r->bytes, b1, sizeof b1), r->bpw, r->ppl, r->kld,
            r->kld_se, r->sec_quant, r->sec_eval, eta);
}

/* ---- argument parsing --------------------------------------------------------------------- */

static int64_t parse_pos(const char *s) {
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    return (*s && !*e && v > 0 && errno == 0) ? (int64_t)v : -1;
}

/* Splits a comma list in place into items (NULL-terminated strings inside s). */
static int split_list(char *s, char **items, int max) {
    int n = 0;
    for (char *tok = s; tok && *tok;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        while (*tok == ' ') tok++;
        if (*tok) {
            if (n >= max) return -1;
            items[n++] = tok;
        }
        tok = comma ? comma + 1 : NULL;
    }
    return n;
}

static char presets_buf[4096], bpw_buf[1024];

static int parse_args(int argc, char **argv, sweep_args *a) {
    memset(a, 0, sizeof *a);
    a->out_dir = "sweep";
    a->n_ctx = 512;
    a->n_chunks = -1;
    a->threads = qtk_cpu_count();
    a->seed = 1;
    a->cost_model = QTK_AUTOPLAN_COST_AUTO;
    const char *presets = SWEEP_DEFAULT_PRESETS, *bpw = SWEEP_DEFAULT_BPW;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool hv = i + 1 < argc;
        if (cli_is_help(o)) {
            help_sweep(stdout);
            return 0;
        }
        if ((!strcmp(o, "-m") || !strcmp(o, "--model")) && hv) a->model = argv[++i];
        else if (!strcmp(o, "--imatrix") && hv) a->imatrix = argv[++i];
        else if (!strcmp(o, "--ref-model") && hv) a->ref_model = argv[++i];
        else if ((!strcmp(o, "-f") || !strcmp(o, "--file")) && hv) a->text = argv[++i];
        else if (!strcmp(o, "--presets") && hv) presets = argv[++i];
        else if (!strcmp(o, "--bpw") && hv) bpw = argv[++i];
        else if (!strcmp(o, "--measure") && hv) a->measure = argv[++i];
        else if ((!strcmp(o, "-o") || !strcmp(o, "--output")) && hv) a->out_dir = argv[++i];
        else if (!strcmp(o, "--random-at") && hv) a->random_at = argv[++i];
        else if (!strcmp(o, "--no-plans")) a->no_plans = true;
        else if (!strcmp(o, "--keep")) a->keep = true;
        else if (!strcmp(o, "--cost") && hv) {
            const char *v = argv[++i];
            a->cost_model = qtk_autoplan_cost_from_name(v);
            if (a->cost_model < QTK_AUTOPLAN_COST_AUTO)
                return cli_usage_error("sweep", help_sweep, "--cost '%s': expected auto, rel, abs, calib or kld", v);
        }
        else if (!strcmp(o, "--json")) a->json = true;
        else if (!strcmp(o, "--compat") && hv) {
            const char *v = argv[++i];
            if (!strcmp(v, "mainline")) a->mainline = true;
            else if (strcmp(v, "ik") && strcmp(v, "ik_llama.cpp"))
                return cli_usage_error("sweep", help_sweep, "--compat '%s': expected mainline or ik", v);
        } else if (!strcmp(o, "--chunks") && hv && !strcmp(argv[i + 1], "-1")) {
            a->n_chunks = -1;
            i++;
        } else if ((!strcmp(o, "-c") || !strcmp(o, "--ctx-size") || !strcmp(o, "--chunks") || !strcmp(o, "-t") ||
                    !strcmp(o, "--threads") || !strcmp(o, "--random-mixes") || !strcmp(o, "--seed")) &&
                   hv) {
            int64_t v = parse_pos(argv[++i]);
            if (v < 0) return cli_usage_error("sweep", help_sweep, "%s needs a positive integer (not '%s')", o, argv[i]);
            if (!strcmp(o, "-c") || !strcmp(o, "--ctx-size")) a->n_ctx = v;
            else if (!strcmp(o, "--chunks")) a->n_chunks = v;
            else if (!strcmp(o, "--random-mixes")) a->random_mixes = (int)QTK_MIN(v, 1000);
            else if (!strcmp(o, "--seed")) a->seed = (uint64_t)v;
            else a->threads = (int)QTK_MIN(v, 256);
        } else {
            return cli_usage_error("sweep", help_sweep, "unknown or incomplete option '%s'", o);
        }
    }
    if (!a->model) return cli_usage_error("sweep", help_sweep, "-m MODEL is required");
    if (!a->text) return cli_usage_error("sweep", help_sweep, "-f TEXT is required");
    if (a->n_ctx < 8) return cli_usage_error("sweep", help_sweep, "-c must be at least 8");
    if (strlen(presets) >= sizeof presets_buf || strlen(bpw) >= sizeof bpw_buf)
        return cli_usage_error("sweep", help_sweep, "--presets / --bpw list too long");
    strcpy(presets_buf, presets);
    strcpy(bpw_buf, bpw);
    if (strcmp(presets_buf, "none") != 0) {
        a->n_presets = split_list(presets_buf, a->presets, SWEEP_MAX_ITEMS);
        if (a->n_presets < 0) return cli_usage_error("sweep", help_sweep, "--presets: at most %d presets", SWEEP_MAX_ITEMS);
    }
    for (int i = 0; i < a->n_presets; i++) {
        if (!qtk_preset_canonical_name(a->presets[i]))
            return cli_usage_error("sweep", help_sweep, "--presets: unknown preset '%s' (see 'qtk help quantize')",
                                   a->presets[i]);
        bool base_missing = false;
        int missing[8];
        if (qtk_preset_missing_types(a->presets[i], missing, 8, &base_missing) > 0)
            return cli_usage_error("sweep", help_sweep, "--presets: %s needs %s, which this build cannot quantize",
                                   a->presets[i], qtk_type_name(missing[0]));
        for (int j = 0; j < i; j++)
            if (!cli_strcasecmp(qtk_preset_canonical_name(a->presets[i]), qtk_preset_canonical_name(a->presets[j])))
                return cli_usage_error("sweep", help_sweep, "--presets: %s listed twice", a->presets[i]);
    }
    if (strcmp(bpw_buf, "none") != 0 && !a->no_plans) {
        char *items[SWEEP_MAX_ITEMS];
        int n = split_list(bpw_buf, items, SWEEP_MAX_ITEMS);
        if (n < 0) return cli_usage_error("sweep", help_sweep, "--bpw: at most %d points", SWEEP_MAX_ITEMS);
        for (int i = 0; i < n; i++) {
            char *e;
            double v = strtod(items[i], &e);
            if (*e || !(v > 0 && v < 64))
                return cli_usage_error("sweep", help_sweep, "--bpw: '%s' is not a bpw value (0 < bpw < 64)", items[i]);
            a->bpw[a->n_bpw++] = v;
        }
    }
    if (a->random_mixes && a->random_mixes < 3)
        return cli_usage_error("sweep", help_sweep, "--random-mixes needs at least 3 mixes for a rank correlation");
    if ((a->random_mixes || a->n_bpw) && !a->measure && !a->no_plans)
        return cli_usage_error("sweep", help_sweep, "plans and random mixes need --measure TABLE (qtk measure), or "
                                                    "--no-plans");
    if (a->no_plans) a->measure = NULL;
    if (a->random_at && !a->random_mixes)
        return cli_usage_error("sweep", help_sweep, "--random-at needs --random-mixes N");
    if (a->n_presets == 0 && a->n_bpw == 0 && a->random_mixes == 0)
        return cli_usage_error("sweep", help_sweep, "nothing to do: no preset, no bpw point, no random mix");
    return -1;
}

/* ---- outputs ------------------------------------------------------------------------------ */

typedef struct sweep_out {
    const sweep_args *a;
    const sweep_ctx *c;
    const sweep_row *rows;
    int n;
    const char *model_name, *ref_name, *imatrix_name, *text_name; /* basenames */
    bool has_rho, has_rho_alt;
    double rho, rho_alt;
    bool has_rho_all[4];
    double rho_all[4];     /* per cost model (qtk_autoplan_cost_model)                     */
    int n_rho;
    const char *raw;       /* text written by write_raw */
} sweep_out;

static void fmt_delta(char *buf, size_t n, const sweep_row *r, const sweep_row *ref) {
    if (!r->has_delta) {
        snprintf(buf, n, "-");
        return;
    }
    const char *verdict = r->dkld + 2 * r->dkld_se < 0 ? "better" : r->dkld - 2 * r->dkld_se > 0 ? "worse" : "tie";
    snprintf(buf, n, "%+.6f \xc2\xb1 %.6f (%s, %.2f\xc3\x97)", r->dkld, 2 * r->dkld_se, verdict,
             ref && ref->kld > 0 ? r->kld / ref->kld : NAN);
}

static const char *cost_name(int m) { return qtk_autoplan_cost_name(m); }
/* The cost model the proxy check reports next to the chosen one. */
static int alt_cost(int m) { return m == QTK_AUTOPLAN_COST_REL ? QTK_AUTOPLAN_COST_ABS : QTK_AUTOPLAN_COST_REL; }

static void write_tsv(FILE *f, const sweep_out *o) {
    fprintf(f, "#qtk-sweep\t1\n#model\t%s\n#reference\t%s\n#text\t%s\n#imatrix\t%s\n#chunks\t%lld\n#ctx\t%lld\n"
               "#base_ppl\t%.6f\n",
            o->model_name, o->ref_name, o->a->text, o->a->imatrix ? o->a->imatrix : "-", (long long)o->c->n_chunks,
            (long long)o->a->n_ctx, o->c->base_ppl);
    if (o->has_rho) fprintf(f, "#spearman_rho\t%.6f\t%d\n", o->rho, o->n_rho);
    if (o->has_rho_alt) fprintf(f, "#spearman_rho_%s\t%.6f\t%d\n", cost_name(alt_cost(o->a->cost_model)), o->rho_alt, o->n_rho);
    for (int m = 0; m < 4; m++)
        if (o->has_rho_all[m]) fprintf(f, "#spearman_rho_all_%s\t%.6f\t%d\n", cost_name(m), o->rho_all[m], o->n_rho);
    fprintf(f, "name\tkind\tref\ttarget_bpw\tbytes\tbpw\tppl\tppl_se\tkld\tkld_se\tkld_99\tsame_top_pct\tsame_top_se"
               "\tdkld_vs_ref\tdkld_se\tpred_cost\tquant_s\teval_s\n");
    for (int i = 0; i < o->n; i++) {
        const sweep_row *r = &o->rows[i];
        if (!r->done) continue;
        fprintf(f, "%s\t%s\t%s\t%.9g\t%llu\t%.6f\t%.6f\t%.6f\t%.9g\t%.9g\t%.9g\t%.4f\t%.4f\t", r->name,
                kind_names[r->kind], r->ref[0] ? r->ref : "-", r->target_bpw, (unsigned long long)r->bytes, r->bpw,
                r->ppl, r->ppl_unc, r->kld, r->kld_se, r->kld_99, r->same_top, r->same_top_se);
        if (r->has_delta) fprintf(f, "%.9g\t%.9g\t", r->dkld, r->dkld_se);
        else fprintf(f, "-\t-\t");
        if (isfinite(r->pred_cost)) fprintf(f, "%.9g\t", r->pred_cost);
        else fprintf(f, "-\t");
        fprintf(f, "%.2f\t%.2f\n", r->sec_quant, r->sec_eval);
    }
}

static void write_md(FILE *f, const sweep_out *o) {
    fprintf(f, "model: %s, imatrix %s; KLD against %s on %s, %lld chunks of %lld tokens; reference PPL %.4f\n\n",
            o->model_name, o->imatrix_name, o->ref_name, o->text_name, (long long)o->c->n_chunks,
            (long long)o->a->n_ctx, o->c->base_ppl);
    fprintf(f, "| name | kind | size | bpw | PPL | mean KLD \xc2\xb1 se | 99%% KLD | same top %% | vs preset: \xce\x94KLD \xc2\xb1 2se |\n");
    fprintf(f, "|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < o->n; i++) {
        const sweep_row *r = &o->rows[i];
        if (!r->done) continue;
        char sz[32], d[96];
        fmt_delta(d, sizeof d, r, r->ref_row >= 0 ? &o->rows[r->ref_row] : NULL);
        fprintf(f, "| %s | %s | %s | %.4f | %.4f | %.6f \xc2\xb1 %.6f | %.6f | %.3f | %s |\n", r->name,
                kind_names[r->kind], cli_fmt_bytes((double)r->bytes, sz, sizeof sz), r->bpw, r->ppl, r->kld, r->kld_se,
                r->kld_99, r->same_top, d);
    }
    if (o->has_rho)
        fprintf(f, "\nproxy check: Spearman \xcf\x81 between predicted cost (--cost %s) and measured KLD over %d random "
                   "mixes: %.3f%s",
                cost_name(o->a->cost_model), o->n_rho, o->rho, o->has_rho_alt ? "" : "\n");
    if (o->has_rho && o->has_rho_alt) fprintf(f, " (--cost %s: %.3f)\n", cost_name(alt_cost(o->a->cost_model)), o->rho_alt);
}

static void write_json(FILE *f, const sweep_out *o) {
    fprintf(f, "{\"model\": ");
    cli_json_string(f, o->model_name, strlen(o->model_name));
    fprintf(f, ", \"reference\": ");
    cli_json_string(f, o->ref_name, strlen(o->ref_name));
    fprintf(f, ", \"text\": ");
    cli_json_string(f, o->a->text, strlen(o->a->text));
    fprintf(f, ", \"chunks\": %lld, \"ctx\": %lld, \"base_ppl\": %.6f", (long long)o->c->n_chunks, (long long)o->a->n_ctx,
            o->c->base_ppl);
    fprintf(f, ", \"cost\": \"%s\"", cost_name(o->a->cost_model));
    if (o->has_rho) fprintf(f, ", \"spearman_rho\": %.6f, \"random_mixes\": %d", o->rho, o->n_rho);
    if (o->has_rho_alt) fprintf(f, ", \"spearman_rho_%s\": %.6f", cost_name(alt_cost(o->a->cost_model)), o->rho_alt);
    fprintf(f, ", \"rows\": [");
    int k = 0;
    for (int i = 0; i < o->n; i++) {
        const sweep_row *r = &o->rows[i];
        if (!r->done) continue;
        fprintf(f, "%s\n  {\"name\": ", k++ ? "," : "");
        cli_json_string(f, r->name, strlen(r->name));
        fprintf(f, ", \"kind\": \"%s\"", kind_names[r->kind]);
        if (r->ref[0]) fprintf(f, ", \"ref\": \"%s\"", r->ref);
        if (r->target_bpw > 0) fprintf(f, ", \"target_bpw\": %.9g", r->target_bpw);
        fprintf(f,
                ", \"bytes\": %llu, \"bpw\": %.6f, \"ppl\": %.6f, \"ppl_se\": %.6f, \"kld\": %.9g, \"kld_se\": %.9g, "
                "\"kld_99\": %.9g, \"same_top_pct\": %.4f, \"same_top_se\": %.4f",
                (unsigned long long)r->bytes, r->bpw, r->ppl, r->ppl_unc, r->kld, r->kld_se, r->kld_99, r->same_top,
                r->same_top_se);
        if (r->has_delta) fprintf(f, ", \"dkld_vs_ref\": %.9g, \"dkld_se\": %.9g", r->dkld, r->dkld_se);
        if (isfinite(r->pred_cost)) fprintf(f, ", \"pred_cost\": %.9g", r->pred_cost);
        fprintf(f, ", \"quant_s\": %.2f, \"eval_s\": %.2f}", r->sec_quant, r->sec_eval);
    }
    fprintf(f, "\n]}\n");
}

/* Writes DIR/NAME atomically through fn. */
static qtk_status write_output(const char *dir, const char *name, void (*fn)(FILE *, const sweep_out *),
                               const sweep_out *o, qtk_error *err) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = (char *)malloc(n), *tmp = NULL;
    if (!path) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = NULL;
    qtk_status st = qtk_tmpfile_create(path, &f, &tmp, err);
    if (st == QTK_OK) {
        fn(f, o);
        bool ok = !ferror(f);
        ok = (fclose(f) == 0) && ok;
        if (!ok) {
            st = qtk_set_error(err, QTK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            qtk_tmpfile_discard(NULL, tmp);
        } else if (qtk_tmpfile_commit(tmp, path) != 0) {
            st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
            qtk_tmpfile_discard(NULL, tmp);
        }
    }
    free(tmp);
    free(path);
    return st;
}

static void write_raw(FILE *f, const sweep_out *o) { fputs(o->raw, f); }

static qtk_status write_plot(const sweep_out *o, qtk_error *err) {
    double *x = (double *)calloc((size_t)o->n * 6 + 1, sizeof(double));
    const char **lab = (const char **)calloc((size_t)o->n * 3 + 1, sizeof(char *));
    if (!x || !lab) {
        free(x);
        free(lab);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    /* per kind: x, y, err */
    int cnt[3] = {0, 0, 0};
    double *xs[3], *ys[3], *es[3];
    const char **ls[3];
    for (int k = 0; k < 3; k++) {
        xs[k] = x + (size_t)o->n * (2 * k);
        ys[k] = x + (size_t)o->n * (2 * k + 1);
        ls[k] = lab + (size_t)o->n * k;
    }
    double *errs = (double *)calloc((size_t)o->n * 3 + 1, sizeof(double));
    if (!errs) {
        free(x);
        free(lab);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < 3; k++) es[k] = errs + (size_t)o->n * k;
    for (int i = 0; i < o->n; i++) {
        const sweep_row *r = &o->rows[i];
        if (!r->done) continue;
        int k = (int)r->kind;
        xs[k][cnt[k]] = r->bpw;
        ys[k][cnt[k]] = r->kld;
        es[k][cnt[k]] = r->kld_se;
        ls[k][cnt[k]] = r->kind == ROW_PRESET ? r->name : NULL;
        cnt[k]++;
    }
    qtk_svg_series se[3];
    int ns = 0;
    char pname[64];
    snprintf(pname, sizeof pname, "presets%s", o->a->mainline ? " (--compat mainline)" : "");
    char lname[64];
    snprintf(lname, sizeof lname, "qtk plan%s", o->a->mainline ? " --compat mainline" : "");
    if (cnt[ROW_PRESET])
        se[ns++] = (qtk_svg_series){pname, QTK_SVG_POINTS, "#d62728", cnt[0], xs[0], ys[0], es[0], ls[0]};
    if (cnt[ROW_PLAN]) se[ns++] = (qtk_svg_series){lname, QTK_SVG_LINE, "#1f77b4", cnt[1], xs[1], ys[1], es[1], NULL};
    if (cnt[ROW_RANDOM])
        se[ns++] = (qtk_svg_series){"random mixes (proxy check)", QTK_SVG_POINTS, "#9a9a9a", cnt[2], xs[2], ys[2], NULL,
                                    NULL};
    char sub[512];
    snprintf(sub, sizeof sub, "%s, imatrix %s; KLD vs %s on %s, %lld chunks of %lld tokens; bars: \xc2\xb1 1 standard error",
             o->model_name, o->imatrix_name, o->ref_name, o->text_name, (long long)o->c->n_chunks,
             (long long)o->a->n_ctx);
    qtk_svg_plot p = {"Mean KL-divergence vs bits per weight", sub, "bits per weight (all tensors)",
                      "mean KLD vs the reference model (log scale)", true, 0, 0, ns, se};
    char *svg = NULL;
    qtk_status st = qtk_svg_render(&p, &svg, NULL, err);
    if (st == QTK_OK) {
        sweep_out o2 = *o;
        o2.raw = svg;
        st = write_output(o->a->out_dir, "sweep.svg", write_raw, &o2, err);
    }
    free(svg);
    free(x);
    free(lab);
    free(errs);
    return st;
}

/* ---- plans and random mixes ----------------------------------------------------------------- */

/* Loads the measurement table for the sweep: it must be a whole model's
 * (shard 1/1, every candidate tensor) and made from this model (names, shapes
 * and the SHA-256 of the tensor data) and this imatrix (SHA-256 of the file;
 * a table measured without an imatrix is refused when --imatrix is given, and
 * the other way round). */
static qtk_status table_load(const char *path, const qtk_gguf *g, const char *model_path, const qtk_imatrix *im,
                             const char *imatrix_path, qtk_measure_table **out, qtk_error *err) {
    *out = NULL;
    qtk_measure_table *t = NULL;
    qtk_status st = qtk_measure_table_load(path, &t, err);
    if (st == QTK_OK) st = qtk_measure_table_check_complete(t, path, err);
    if (st == QTK_OK) st = qtk_autoplan_check_model(t, path, g, model_path, err);
    char mh[65], ih[65] = "-";
    if (st == QTK_OK) st = qtk_measure_model_hash(g, mh, err);
    if (st == QTK_OK && imatrix_path) st = qtk_measure_file_hash(imatrix_path, ih, err);
    if (st == QTK_OK) st = qtk_measure_table_check_source(t, path, mh, ih, err);
    /* the header of this run's files with an empty quantize.recipe, as the measure
     * pass counts it (every table tensor quantized, a general.file_type, the imatrix
     * keys with this run's spelling of the imatrix path): the table's header_bytes
     * assumes the spelling given to qtk measure */
    qtk_recipe *rec = NULL;
    qtk_plan *hp = NULL;
    if (st == QTK_OK) st = qtk_recipe_parse("default copy\n", "(header)", &rec, err);
    if (st == QTK_OK) st = qtk_plan_make(g, rec, im, true, &hp, err);
    if (st == QTK_OK) {
        qtk_measure_tensor_info ti;
        qtk_measure_cand_info c0;
        for (int64_t i = 0; qtk_measure_table_tensor(t, i, &ti) && qtk_measure_table_cand(t, i, 0, &c0); i++) {
            qtk_plan_item *it = &hp->items[ti.idx];
            it->quantize = true;
            it->type = c0.type;
            it->bytes = c0.bytes;
        }
        if (hp->file_type < 0) hp->file_type = 0;
        qtk_quantize_params qp;
        qtk_quantize_params_init(&qp);
        qp.imatrix = im;
        qp.imatrix_path = imatrix_path;
        qp.recipe = rec;
        uint64_t hb = 0, al = 0;
        st = qtk_quantize_header_size(g, hp, &qp, "", &hb, &al, err);
        qtk_measure_table_info info;
        qtk_measure_table_get_info(t, &info);
        if (st == QTK_OK && al != info.alignment)
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: alignment %llu, but this output is aligned to %llu", path,
                               (unsigned long long)info.alignment, (unsigned long long)al);
        if (st == QTK_OK) qtk_measure_table_set_header_bytes(t, hb);
    }
    qtk_plan_free(hp);
    qtk_recipe_free(rec);
    if (st != QTK_OK) {
        qtk_measure_table_free(t);
        return st;
    }
    *out = t;
    return QTK_OK;
}
static void table_free(qtk_measure_table *t) { qtk_measure_table_free(t); }

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Bytes / type of candidate c of table tensor i (0 / -1 when out of range). */
static uint64_t cand_bytes(const qtk_measure_table *tab, int64_t i, int c) {
    qtk_measure_cand_info ci;
    return qtk_measure_table_cand(tab, i, c, &ci) ? ci.bytes : 0;
}

static int cand_type(const qtk_measure_table *tab, int64_t i, int c) {
    qtk_measure_cand_info ci;
    return qtk_measure_table_cand(tab, i, c, &ci) ? ci.type : -1;
}

/* Whether the candidate is usable: a known type, one llama.cpp loads with mainline. */
static bool cand_ok(const qtk_measure_table *tab, int64_t i, int c, bool mainline) {
    const qtk_type_traits *tr = qtk_type_get(cand_type(tab, i, c));
    return tr && (!mainline || (tr->ecosystems & QTK_ECO_LLAMA_CPP));
}

static void put_anchored(char **p, size_t *len, size_t *cap, const char *s, bool *oom);

/* Appends to a growing string. */
static void str_add(char **p, size_t *len, size_t *cap, const char *s, bool *oom) {
    size_t n = strlen(s);
    if (*oom) return;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1) c *= 2;
        char *q = (char *)realloc(*p, c);
        if (!q) {
            *oom = true;
            return;
        }
        *p = q;
        *cap = c;
    }
    memcpy(*p + *len, s, n + 1);
    *len += n;
}

static void put_anchored(char **p, size_t *len, size_t *cap, const char *s, bool *oom) {
    str_add(p, len, cap, "^", oom);
    for (; *s; s++) {
        char ch[3] = {'\\', *s, 0};
        str_add(p, len, cap, strchr(".^$|()[]{}*+?\\", *s) ? ch : ch + 1, oom);
    }
    str_add(p, len, cap, "$", oom);
}

/* One random valid mix whose data bytes (+ the table's fixed bytes) are within ±1 % of
 * `data_target`: uniform random candidates, then random one-step moves down or up until
 * inside. Returns the recipe text (malloc'ed) and its predicted cost, NULL on failure. */
static char *random_mix(const qtk_measure_table *tab, uint64_t data_target, bool mainline, bool tied, int file_type,
                        int cost_model, uint64_t *rng, double *cost, double *cost_alt, double *cost_all) {
    int64_t n = qtk_measure_table_n_tensors(tab);
    int *ci = (int *)calloc((size_t)(n ? n : 1), sizeof(int));
    int *nc = (int *)calloc((size_t)(n ? n : 1), sizeof(int));
    if (!ci || !nc) {
        free(ci);
        free(nc);
        return NULL;
    }
    double total = 0;
    /* candidates usable per tensor: those cand_ok, in increasing bytes */
    for (int64_t i = 0; i < n; i++) {
        qtk_measure_tensor_info t;
        nc[i] = qtk_measure_table_tensor(tab, i, &t) ? t.n_cand : 0;
        if (nc[i] < 1) {
            free(ci);
            free(nc);
            return NULL;
        }
        int k = (int)(rng_next(rng) % (uint64_t)nc[i]), tries = 0;
        while (!cand_ok(tab, i, k, mainline) && tries++ < nc[i]) k = (k + 1) % nc[i];
        ci[i] = k;
        total += (double)cand_bytes(tab, i, k);
    }
    const double lo = 0.99 * (double)data_target, hi = 1.01 * (double)data_target;
    for (int64_t it = 0; it < 100000 && (total < lo || total > hi); it++) {
        int64_t i = (int64_t)(rng_next(rng) % (uint64_t)n);
        int dir = total > hi ? -1 : 1, k = ci[i] + dir;
        while (k >= 0 && k < nc[i] && !cand_ok(tab, i, k, mainline)) k += dir;
        if (k < 0 || k >= nc[i]) continue;
        total += (double)cand_bytes(tab, i, k) - (double)cand_bytes(tab, i, ci[i]);
        ci[i] = k;
    }
    free(nc);
    if (total < lo || total > hi) {
        free(ci);
        return NULL;
    }
    char *p = NULL, line[64];
    size_t len = 0, cap = 0;
    bool oom = false;
    snprintf(line, sizeof line, "# qtk sweep: random mix\ndefault copy\nfile_type %d\n", file_type);
    str_add(&p, &len, &cap, line, &oom);
    if (mainline) str_add(&p, &len, &cap, "compat mainline\n", &oom);
    double c = 0, c2 = 0;
    const int calib = qtk_autoplan_default_cost(tab);
    for (int m = 0; m < 4; m++) cost_all[m] = m <= QTK_AUTOPLAN_COST_ABS || calib != QTK_AUTOPLAN_COST_REL ? 0 : NAN;
    for (int64_t i = 0; i < n; i++) {
        qtk_measure_tensor_info tt;
        if (!qtk_measure_table_tensor(tab, i, &tt)) continue;
        const qtk_measure_tensor_info *t = &tt;
        c += qtk_autoplan_cand_cost(tab, i, ci[i], tied, false, cost_model);
        c2 += qtk_autoplan_cand_cost(tab, i, ci[i], tied, false, alt_cost(cost_model));
        for (int m = 0; m < 4; m++) cost_all[m] += qtk_autoplan_cand_cost(tab, i, ci[i], tied, false, m);
        put_anchored(&p, &len, &cap, t->name, &oom);
        str_add(&p, &len, &cap, " = ", &oom);
        str_add(&p, &len, &cap, qtk_type_name(cand_type(tab, i, ci[i])), &oom);
        str_add(&p, &len, &cap, "\n", &oom);
    }
    free(ci);
    if (oom) {
        free(p);
        return NULL;
    }
    *cost = c;
    *cost_alt = c2;
    return p;
}

/* Parses recipe text and runs it. */
static qtk_status run_recipe_text(sweep_ctx *c, const char *text, sweep_row *r, qtk_error *err) {
    qtk_recipe *rec = NULL;
    qtk_status st = qtk_recipe_parse(text, r->name, &rec, err);
    if (st == QTK_OK) st = run_recipe(c, rec, r, err);
    qtk_recipe_free(rec);
    return st;
}

/* A plan by the automatic planner: at target_size bytes, or target_bpw. NULL result
 * (QTK_OK) when the target is out of the table's reach: *why says so. */
static qtk_status make_plan(sweep_ctx *c, const qtk_measure_table *tab, uint64_t target_size, double target_bpw,
                            sweep_row *r, char *why, size_t why_n, qtk_error *err) {
    qtk_autoplan_opts o;
    qtk_autoplan_opts_init(&o);
    o.target_size = target_size;
    o.target_bpw = target_bpw;
    o.compat = c->a->mainline ? QTK_AUTOPLAN_COMPAT_MAINLINE : QTK_AUTOPLAN_COMPAT_ANY;
    o.cost_model = c->a->cost_model;
    o.comment = "qtk sweep";
    qtk_autoplan_result *res = NULL;
    qtk_error e2;
    why[0] = '\0';
    if (qtk_autoplan_solve(tab, &o, &res, &e2) != QTK_OK) {
        if (e2.code == QTK_ERR_NOMEM) {
            *err = e2;
            return e2.code;
        }
        snprintf(why, why_n, "%s", e2.msg);
        return QTK_OK;
    }
    r->pred_cost = res->total_cost;
    r->recipe_text = cli_strdup(res->recipe);
    qtk_autoplan_result_free(res);
    if (!r->recipe_text) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    return QTK_OK;
}

/* ---- the command ------------------------------------------------------------------------------ */

static const char *base_name(const char *p) {
    const char *sl;
    while ((sl = strpbrk(p, "/\\")) != NULL) p = sl + 1;
    return p;
}

static void row_init(sweep_row *r, const char *name, row_kind kind) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->kind = kind;
    r->ref_row = -1;
    r->pred_cost = NAN;
    r->pred_cost_alt = NAN;
    for (int m = 0; m < 4; m++) r->pred_all[m] = NAN;
}

int cmd_sweep(int argc, char **argv) {
    sweep_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;

    qtk_error err;
    sweep_ctx c;
    memset(&c, 0, sizeof c);
    c.a = &a;
    c.t_start = qtk_time_now();
    qtk_model *src = NULL;
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    qtk_measure_table *tab = NULL;
    int n_rows_max = 2 * a.n_presets + a.n_bpw + a.random_mixes + 1, n_rows = 0, n_failed = 0;
    sweep_row *rows = (sweep_row *)calloc((size_t)n_rows_max, sizeof(sweep_row));
    rc = 1;
    if (!rows) {
        qtk_set_error(&err, QTK_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (qtk_mkdir(a.out_dir) != 0) {
        qtk_set_error(&err, QTK_ERR_IO, "cannot create the output directory %s: %s", a.out_dir, strerror(errno));
        goto fail;
    }
    if (qtk_gguf_open(a.model, &c.g, &err) != QTK_OK) goto fail;
    if (a.imatrix && qtk_imatrix_load(a.imatrix, &c.im, &err) != QTK_OK) goto fail;
    if (a.measure) {
        if (table_load(a.measure, c.g, a.model, c.im, a.imatrix, &tab, &err) != QTK_OK) goto fail;
    }
    if (a.cost_model == QTK_AUTOPLAN_COST_AUTO) /* the table's best (probe-calibrated when it has KLD probes) */
        a.cost_model = tab ? qtk_autoplan_default_cost(tab) : QTK_AUTOPLAN_COST_REL;
    if (tab) fprintf(stderr, "sweep: planner cost model: %s\n", cost_name(a.cost_model));

    /* the reference model (MODEL, or --ref-model): tokens and base log-probabilities, once */
    if (qtk_model_load(a.ref_model ? a.ref_model : a.model, &src, &err) != QTK_OK) goto fail;
    if (qtk_vocab_load(qtk_model_gguf(src), &c.vocab, &err) != QTK_OK) goto fail;
    {
        size_t size = 0;
        char *text = cli_read_text_file(a.text, &size, &err);
        if (!text) goto fail;
        qtk_status st = qtk_tokenize(c.vocab, text, size, true, &tokens, &n_tokens, &err);
        free(text);
        if (st != QTK_OK) goto fail;
    }
    c.n_chunks = n_tokens / a.n_ctx;
    if (a.n_chunks > 0 && a.n_chunks < c.n_chunks) c.n_chunks = a.n_chunks;
    if (c.n_chunks < 2) {
        qtk_set_error(&err, QTK_ERR_INVALID_ARG, "%s: %lld tokens give %lld chunk%s of %lld: at least 2 are needed "
                      "(paired standard errors)", a.text, (long long)n_tokens, (long long)c.n_chunks,
                      c.n_chunks == 1 ? "" : "s", (long long)a.n_ctx);
        goto fail;
    }
    c.jobs_total = a.n_presets * (tab ? 2 : 1) + (tab ? a.n_bpw + a.random_mixes : 0);
    fprintf(stderr, "sweep: %s: %d presets, %d plans at their sizes, %d bpw points, %d random mixes; %lld chunks of %lld "
            "tokens, %d threads\n", a.model, a.n_presets, tab ? a.n_presets : 0, tab ? a.n_bpw : 0,
            tab ? a.random_mixes : 0, (long long)c.n_chunks, (long long)a.n_ctx, a.threads);
    if (scratch_create(a.out_dir, "base.kld", &c.base_path, &err) != QTK_OK) goto fail;
    {
        qtk_ppl_params p = {.n_ctx = a.n_ctx, .n_batch = 0, .n_threads = a.threads, .n_chunks = c.n_chunks};
        p.kld_base = c.base_path;
        p.kld = false;
        p.kld_format = QTK_KLD_FORMAT_QTK; /* 24-bit: the small KLDs of 6-8 bpw quants stay exact */
        qtk_ppl_stats s;
        double t0 = qtk_time_now();
        eval_state e = {0};
        e.label = "source model";
        e.t0 = t0;
        e.tty = c.tty;
        if (qtk_perplexity(src, c.vocab, tokens, n_tokens, &p, eval_progress, &e, &s, &err) != QTK_OK) goto fail;
        c.base_ppl = s.ppl;
        fprintf(stderr, "sweep: source model: PPL %.4f over %lld chunks (%.1f s)\n", s.ppl, (long long)c.n_chunks,
                qtk_time_now() - t0);
    }
    qtk_model_free(src);
    src = NULL;
    free(tokens);
    tokens = NULL;

    /* presets, each followed by a plan at its exact file size */
    for (int i = 0; i < a.n_presets; i++) {
        sweep_row *r = &rows[n_rows++];
        row_init(r, qtk_preset_canonical_name(a.presets[i]), ROW_PRESET);
        qtk_quant_overrides ov;
        qtk_quant_overrides_init(&ov);
        ov.compat_mainline = a.mainline;
        qtk_recipe *rec = NULL;
        qtk_status st = qtk_recipe_from_preset(a.presets[i], &ov, &rec, &err);
        if (st == QTK_OK) st = run_recipe(&c, rec, r, &err);
        qtk_recipe_free(rec);
        if (st != QTK_OK) {
            fprintf(stderr, "sweep: %s failed: %s\n", r->name, err.msg);
            n_failed++;
            if (st == QTK_ERR_NOMEM || st == QTK_ERR_IO) goto fail;
            continue;
        }
        report_row(&c, r);
        if (!tab) continue;
        int pi = n_rows - 1;
        sweep_row *q = &rows[n_rows++];
        char nm[64], why[QTK_ERROR_MSG_MAX];
        snprintf(nm, sizeof nm, "plan@%.40s", r->name);
        row_init(q, nm, ROW_PLAN);
        snprintf(q->ref, sizeof q->ref, "%.31s", r->name);
        q->ref_row = pi;
        if (make_plan(&c, tab, rows[pi].bytes, 0, q, why, sizeof why, &err) != QTK_OK) goto fail;
        if (!q->recipe_text) {
            fprintf(stderr, "sweep: %s skipped: %s\n", q->name, why);
            c.jobs_total--;
            n_rows--;
            continue;
        }
        if (run_recipe_text(&c, q->recipe_text, q, &err) != QTK_OK) {
            fprintf(stderr, "sweep: %s failed: %s\n", q->name, err.msg);
            n_failed++;
            continue;
        }
        const sweep_row *pr = &rows[pi];
        if (qtk_paired_diff(q->chunk_kld, pr->chunk_kld, q->n_chunks, &q->dkld, &q->dkld_se, &err) == QTK_OK)
            q->has_delta = true;
        report_row(&c, q);
        fprintf(stderr, "sweep:   %s vs %s: KLD %.3f\xc3\x97, paired \xce\x94KLD %+.6f \xc2\xb1 %.6f (2 se)%s\n", q->name,
                pr->name, pr->kld > 0 ? q->kld / pr->kld : NAN, q->dkld, 2 * q->dkld_se,
                q->bytes > pr->bytes ? "  WARNING: larger than the preset" : "");
    }
    /* plans at the bpw points */
    for (int i = 0; tab && i < a.n_bpw; i++) {
        sweep_row *q = &rows[n_rows++];
        char nm[64], why[QTK_ERROR_MSG_MAX];
        snprintf(nm, sizeof nm, "plan@%gbpw", a.bpw[i]);
        row_init(q, nm, ROW_PLAN);
        q->target_bpw = a.bpw[i];
        if (make_plan(&c, tab, 0, a.bpw[i], q, why, sizeof why, &err) != QTK_OK) goto fail;
        if (!q->recipe_text) {
            fprintf(stderr, "sweep: %s skipped: %s\n", q->name, why);
            c.jobs_total--;
            n_rows--;
            continue;
        }
        if (run_recipe_text(&c, q->recipe_text, q, &err) != QTK_OK) {
            fprintf(stderr, "sweep: %s failed: %s\n", q->name, err.msg);
            n_failed++;
            continue;
        }
        report_row(&c, q);
    }
    /* the proxy check: random valid mixes near one size */
    sweep_out out;
    memset(&out, 0, sizeof out);
    out.a = &a;
    out.c = &c;
    out.rows = rows;
    out.rho = out.rho_alt = NAN;
    if (tab && a.random_mixes) {
        int at = -1;
        for (int i = 0; i < n_rows; i++) {
            if (rows[i].kind != ROW_PRESET || !rows[i].done) continue;
            if (a.random_at ? !cli_strcasecmp(rows[i].name, qtk_preset_canonical_name(a.random_at) ? qtk_preset_canonical_name(a.random_at) : a.random_at)
                            : (at < 0 || fabs(rows[i].bpw - 4.5) < fabs(rows[at].bpw - 4.5)))
                at = i;
        }
        if (at < 0) {
            qtk_set_error(&err, QTK_ERR_INVALID_ARG, "--random-mixes: %s", a.random_at ? "--random-at names no preset of the sweep" : "no preset done to take the size from");
            goto fail;
        }
        qtk_measure_table_info ti;
        qtk_measure_table_get_info(tab, &ti);
        const uint64_t fixed = ti.fixed_bytes + ti.header_bytes;
        uint64_t target = rows[at].bytes > fixed ? rows[at].bytes - fixed : 0;
        bool tied = qtk_gguf_find_tensor(c.g, "output.weight") < 0;
        int ft = qtk_preset_ftype(rows[at].name);
        uint64_t rng = a.seed * 0x2545F4914F6CDD1Dull + 12345;
        double *pc = (double *)calloc((size_t)a.random_mixes, sizeof(double)),
               *pa = (double *)calloc((size_t)a.random_mixes, sizeof(double)),
               *mk = (double *)calloc((size_t)a.random_mixes, sizeof(double));
        int nr = 0;
        if (!pc || !pa || !mk) {
            free(pc);
            free(pa);
            free(mk);
            qtk_set_error(&err, QTK_ERR_NOMEM, "out of memory");
            goto fail;
        }
        fprintf(stderr, "sweep: proxy check: %d random mixes within 1%% of %s's tensor bytes\n", a.random_mixes, rows[at].name);
        for (int i = 0; i < a.random_mixes; i++) {
            sweep_row *q = &rows[n_rows++];
            char nm[64];
            snprintf(nm, sizeof nm, "random%02d@%.40s", i + 1, rows[at].name);
            row_init(q, nm, ROW_RANDOM);
            snprintf(q->ref, sizeof q->ref, "%.31s", rows[at].name);
            q->ref_row = at;
            q->recipe_text = random_mix(tab, target, a.mainline, tied, ft > 0 ? ft : 1, a.cost_model, &rng, &q->pred_cost,
                                        &q->pred_cost_alt, q->pred_all);
            if (!q->recipe_text || run_recipe_text(&c, q->recipe_text, q, &err) != QTK_OK) {
                fprintf(stderr, "sweep: %s failed: %s\n", q->name, q->recipe_text ? err.msg : "no mix found near the size");
                n_failed++;
                continue;
            }
            if (qtk_paired_diff(q->chunk_kld, rows[at].chunk_kld, q->n_chunks, &q->dkld, &q->dkld_se, &err) == QTK_OK)
                q->has_delta = true;
            report_row(&c, q);
            pc[nr] = q->pred_cost;
            pa[nr] = q->pred_cost_alt;
            mk[nr++] = q->kld;
        }
        if (nr >= 3 && qtk_spearman(pc, mk, nr, &out.rho, &err) == QTK_OK) {
            out.has_rho = true;
            out.n_rho = nr;
            fprintf(stderr, "sweep: proxy check: Spearman rho(predicted cost, KLD) = %.3f over %d mixes (--cost %s)\n",
                    out.rho, nr, cost_name(a.cost_model));
            if (qtk_spearman(pa, mk, nr, &out.rho_alt, &err) == QTK_OK) {
                out.has_rho_alt = true;
                fprintf(stderr, "sweep: proxy check: with --cost %s: rho = %.3f\n", cost_name(alt_cost(a.cost_model)), out.rho_alt);
            }
            for (int m = 0; m < 4; m++) {
                int k = 0;
                for (int i = 0; i < n_rows; i++)
                    if (rows[i].kind == ROW_RANDOM && rows[i].done && isfinite(rows[i].pred_all[m])) pa[k++] = rows[i].pred_all[m];
                if (k == nr && qtk_spearman(pa, mk, nr, &out.rho_all[m], &err) == QTK_OK) {
                    out.has_rho_all[m] = true;
                    fprintf(stderr, "sweep: proxy check: --cost %-5s rho = %.3f\n", cost_name(m), out.rho_all[m]);
                }
            }
        }
        free(pc);
        free(pa);
        free(mk);
    }

    /* outputs */
    out.n = n_rows;
    out.model_name = base_name(a.model);
    out.ref_name = base_name(a.ref_model ? a.ref_model : a.model);
    out.imatrix_name = a.imatrix ? base_name(a.imatrix) : "none";
    out.text_name = base_name(a.text);
    if (write_output(a.out_dir, "sweep.tsv", write_tsv, &out, &err) != QTK_OK ||
        write_output(a.out_dir, "sweep.md", write_md, &out, &err) != QTK_OK)
        goto fail;
    {
        int nd = 0;
        for (int i = 0; i < n_rows; i++) nd += rows[i].done;
        if (nd && write_plot(&out, &err) != QTK_OK) goto fail;
    }
    if (a.json) write_json(stdout, &out);
    else write_md(stdout, &out);
    fprintf(stderr, "sweep: wrote %s/sweep.tsv, %s/sweep.md, %s/sweep.svg (%.1f s in all)\n", a.out_dir, a.out_dir,
            a.out_dir, qtk_time_now() - c.t_start);
    rc = n_failed ? 1 : 0;
    if (n_failed) fprintf(stderr, "qtk sweep: error: %d of the quantizations failed (see above)\n", n_failed);
    goto done;
fail:
    rc = cli_fail("sweep", &err);
done:
    if (c.base_path) qtk_tmpfile_discard(NULL, c.base_path);
    free(c.base_path);
    for (int i = 0; rows && i < n_rows_max; i++) {
        free(rows[i].chunk_kld);
        free(rows[i].recipe_text);
    }
    free(rows);
    free(tokens);
    qtk_model_free(src);
    table_free(tab);
    qtk_vocab_free(c.vocab);
    qtk_imatrix_free(c.im);
    qtk_gguf_close(c.g);
    return rc;
}
