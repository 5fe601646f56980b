/*
 * cmd_measure.c — `qtk measure`: the measure pass of the automatic planner
 * (issue #15) and the merge of shard tables; thin over libqtk
 * (qtk_measure_model, qtk_measure_table_merge), which write atomically.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void help_measure(FILE *out) {
    fprintf(out,
            "usage: qtk measure -m MODEL.gguf [--imatrix F] -o OUT.tsv [--types LIST] [-t N]\n"
            "                   [--shard I/N] [--checkpoint SECONDS]\n"
            "                   [--probe-text TEXT [--probe-chunks N] [--probe-ctx N] [--probe-type T]\n"
            "                    [--probe-layers N] [--probe-extra LIST] [--probe-all-types]]\n"
            "       qtk measure --merge A.tsv B.tsv ... -o ALL.tsv\n\n"
            "For every tensor `qtk quantize` would quantize and every candidate type, quantizes\n"
            "a deterministic sample of whole rows (about 1M weights: 256-4096 rows, all rows of\n"
            "tensors with at most 512, at least 8 per expert) with the production quantizer and\n"
            "the imatrix, and writes the exact bytes and the imatrix-weighted squared error per\n"
            "(tensor, type) to a TSV table that `qtk plan` reads (docs/planner.md).\n"
            "The table is keyed to the model and imatrix by SHA-256. When OUT already holds a\n"
            "table of the same model, imatrix, types and shard, its tensors are kept and only\n"
            "the rest is measured (a rerun after Ctrl-C continues); progress is saved every\n"
            "--checkpoint seconds. OUT is written to a temp file and renamed; the result does\n"
            "not depend on -t, on resuming, or on sharding + merging.\n\n"
            "options:\n"
            "  -m, --model FILE      GGUF model to measure (split models: the first part)\n"
            "  --imatrix FILE        importance matrix (.dat or .gguf) used by the quantizer and as\n"
            "                        the error weights; give `qtk quantize` the same path spelling\n"
            "                        (its length is part of the header size the table records)\n"
            "  -o, --output FILE     the table (TSV)\n"
            "  --types LIST          candidate types, comma-separated (default: every quantized\n"
            "                        type this build can write; `qtk plan --compat` filters later)\n"
            "  -t, --threads N       threads (default: all CPUs)\n"
            "  --shard I/N           measure only candidate tensors k with k %% N == I-1, to spread\n"
            "                        the work over machines; join the tables with --merge\n"
            "  --checkpoint SECONDS  save the table so far at most this often (default 60; -1: only\n"
            "                        at the end)\n"
            "KLD probes (stage C, docs/planner.md): with --probe-text, after the table is complete,\n"
            "per class N tensors spread over depth (first, last, evenly between) are quantized\n"
            "one at a time to the probe type, everything else unquantized, and the model is\n"
            "evaluated through qtk's engine against the unmodified model: alpha = dKLD / eps_abs,\n"
            "interpolated over depth (log-linear); `qtk plan` then uses the calibrated cost.\n"
            "  --probe-text FILE     text for the probes (use another text than your validation)\n"
            "  --probe-chunks N      chunks evaluated per probe (default 32; -1: all)\n"
            "  --probe-ctx N         tokens per chunk (default 512)\n"
            "  --probe-type T        alpha probe type (default iq2_ks; a tensor without it as a\n"
            "                        candidate uses its smallest candidate)\n"
            "  --probe-layers N      tensors per class probed (default 5; 0: every tensor)\n"
            "  --probe-extra LIST    types also probed on those tensors, giving each tensor an alpha\n"
            "                        per candidate type (default iq3_s,q4_K,q6_K; 'none': only\n"
            "                        the probe type)\n"
            "  --probe-all-types     probe every candidate of those tensors: the additive KLD cost\n"
            "                        (`qtk plan --cost kld`); #tensors x #types evaluations\n"
            "  --merge A B ...       join shard tables into -o (refused: different model, imatrix,\n"
            "                        types or settings; a tensor twice; tensors missing)\n"
            "  -h, --help            show this help\n");
}

static void probe_progress(void *user, const qtk_probe_progress *p) {
    (void)user;
    if (!p->tensor) {
        fprintf(stderr, "probe: %lld probes, %lld already in the table (%.1f s)\n", (long long)p->total,
                (long long)p->skipped, p->elapsed);
        return;
    }
    double rest = p->done > p->skipped ? p->elapsed * (double)(p->total - p->done) / (double)(p->done - p->skipped) : 0;
    fprintf(stderr, "[%4lld/%4lld] %-28s %-8s dKLD %.6f +/- %.6f  dKLD/eps %.4g  %5.1f s  ETA %.0f s\n",
            (long long)p->done, (long long)p->total, p->tensor, qtk_type_name(p->type), p->dkld, p->dkld_se, p->ratio,
            p->seconds, rest);
}

static void fmt_hms(double s, char *buf, size_t n) {
    long long t = s < 0 ? 0 : (long long)(s + 0.5);
    snprintf(buf, n, "%02lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
}

static void progress(void *user, const qtk_measure_progress *p) {
    (void)user;
    if (!p->tensor) {
        fprintf(stderr, "measure: %lld tensors to measure%s%lld taken from the existing table (%.1f s for the hashes)\n",
                (long long)p->total, p->skipped ? ", " : " (", (long long)p->skipped, p->elapsed);
        return;
    }
    char eta[32], el[32];
    double rest = p->work_done > 0 ? (p->elapsed * (p->work_total - p->work_done) / p->work_done) : 0;
    fmt_hms(rest, eta, sizeof eta);
    fmt_hms(p->elapsed, el, sizeof el);
    fprintf(stderr, "[%4lld/%4lld] %-36s rows %5lld/%-6lld %2d types %7.2f s  elapsed %s  ETA %s\n",
            (long long)p->done, (long long)p->total, p->tensor, (long long)p->rows, (long long)p->rows_total, p->n_cand,
            p->seconds, el, eta);
}

/* Parses "I/N" with 1 <= I <= N. */
static bool parse_shard(const char *s, int *i, int *n) {
    char *e;
    long a = strtol(s, &e, 10);
    if (e == s || *e != '/') return false;
    const char *s2 = e + 1;
    long b = strtol(s2, &e, 10);
    if (e == s2 || *e || b < 1 || b > 1000000 || a < 1 || a > b) return false;
    *i = (int)a;
    *n = (int)b;
    return true;
}

/* Parses a comma-separated type list into types (malloc'ed); 2 on a usage error. */
static int parse_types(const char *list, int **types, int *n) {
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    *types = (int *)malloc((size_t)cap * sizeof(int));
    if (!*types) return 1;
    *n = 0;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char name[64];
        if (l == 0 || l >= sizeof name) return cli_usage_error("measure", help_measure, "--types: empty or too long name in '%s'", list);
        memcpy(name, p, l);
        name[l] = '\0';
        int t = qtk_type_from_name(name);
        if (t < 0) return cli_usage_error("measure", help_measure, "--types: unknown type '%s'", name);
        (*types)[(*n)++] = t;
        p += l + (c ? 1 : 0);
    }
    if (*n == 0) return cli_usage_error("measure", help_measure, "--types needs at least one type");
    return 0;
}

static int run_merge(char **files, int n, const char *out) {
    qtk_error err;
    qtk_measure_table **t = (qtk_measure_table **)calloc((size_t)n, sizeof *t);
    if (!t) {
        fprintf(stderr, "qtk measure: error: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++)
        if (qtk_measure_table_load(files[k], &t[k], &err) != QTK_OK) rc = cli_fail("measure", &err);
    qtk_measure_table *m = NULL;
    if (rc == 0 && qtk_measure_table_merge((const qtk_measure_table *const *)t, (const char *const *)files, n, &m, &err) != QTK_OK)
        rc = cli_fail("measure", &err);
    if (rc == 0 && qtk_measure_table_save(m, out, &err) != QTK_OK) rc = cli_fail("measure", &err);
    if (rc == 0)
        printf("merged %d tables: %lld tensors -> %s\n", n, (long long)qtk_measure_table_n_tensors(m), out);
    qtk_measure_table_free(m);
    for (int k = 0; k < n; k++) qtk_measure_table_free(t[k]);
    free(t);
    return rc;
}

int cmd_measure(int argc, char **argv) {
    const char *model = NULL, *imatrix = NULL, *out = NULL, *types_arg = NULL, *probe_extra = NULL;
    qtk_probe_params pp;
    qtk_probe_params_init(&pp);
    pp.n_threads = qtk_cpu_count();
    int nthreads = qtk_cpu_count(), shard_i = 1, shard_n = 1;
    double checkpoint = 60;
    bool merge = false;
    char **merge_files = (char **)calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    int n_merge = 0;
    if (!merge_files) return 1;
    int rc = -1;
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (cli_is_help(a)) {
            help_measure(stdout);
            rc = 0;
        } else if (!strcmp(a, "--merge")) {
            merge = true;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model = argv[++i];
        } else if (!strcmp(a, "--imatrix") && has_val) {
            imatrix = argv[++i];
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_val) {
            out = argv[++i];
        } else if (!strcmp(a, "--probe-text") && has_val) {
            pp.text_path = argv[++i];
        } else if ((!strcmp(a, "--probe-chunks") || !strcmp(a, "--probe-ctx") || !strcmp(a, "--probe-layers")) && has_val) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            bool chunks = !strcmp(a, "--probe-chunks"), layers = !strcmp(a, "--probe-layers");
            if (!*argv[i] || *e || (chunks ? (v == 0 || v < -1) : layers ? v < 0 : v < 8) || v > 1000000)
                rc = cli_usage_error("measure", help_measure, "%s: bad value '%s'", a, argv[i]);
            if (chunks) pp.n_chunks = v;
            else if (layers) pp.n_layers = (int)v;
            else pp.n_ctx = v;
        } else if (!strcmp(a, "--probe-type") && has_val) {
            pp.probe_type = qtk_type_from_name(argv[++i]);
            if (pp.probe_type < 0) rc = cli_usage_error("measure", help_measure, "--probe-type: unknown type '%s'", argv[i]);
        } else if (!strcmp(a, "--probe-extra") && has_val) {
            probe_extra = argv[++i];
        } else if (!strcmp(a, "--probe-all-types")) {
            pp.all_types = true;
        } else if (!strcmp(a, "--types") && has_val) {
            types_arg = argv[++i];
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            if (!*argv[i] || *e || v < 1 || v > 256)
                rc = cli_usage_error("measure", help_measure, "-t needs a thread count 1..256, got '%s'", argv[i]);
            nthreads = (int)v;
        } else if (!strcmp(a, "--shard") && has_val) {
            if (!parse_shard(argv[++i], &shard_i, &shard_n))
                rc = cli_usage_error("measure", help_measure, "--shard needs I/N with 1 <= I <= N, got '%s'", argv[i]);
        } else if (!strcmp(a, "--checkpoint") && has_val) {
            char *e;
            checkpoint = strtod(argv[++i], &e);
            if (!*argv[i] || *e) rc = cli_usage_error("measure", help_measure, "--checkpoint needs seconds, got '%s'", argv[i]);
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("measure", help_measure, has_val || strncmp(a, "--", 2) ? "unknown option or missing value: %s"
                                                                                         : "%s needs a value", a);
        } else if (merge) {
            merge_files[n_merge++] = argv[i];
        } else {
            rc = cli_usage_error("measure", help_measure, "unexpected argument '%s'", a);
        }
    }
    if (rc >= 0) {
        free(merge_files);
        return rc;
    }
    if (merge) {
        if (model || imatrix || types_arg || shard_n != 1)
            rc = cli_usage_error("measure", help_measure, "--merge takes only table files and -o");
        else if (n_merge < 1)
            rc = cli_usage_error("measure", help_measure, "--merge needs at least one table file");
        else if (!out)
            rc = cli_usage_error("measure", help_measure, "--merge needs -o OUT.tsv");
        else
            rc = run_merge(merge_files, n_merge, out);
        free(merge_files);
        return rc;
    }
    free(merge_files);
    if (!model) return cli_usage_error("measure", help_measure, "need -m MODEL.gguf");
    if (!out) return cli_usage_error("measure", help_measure, "need -o OUT.tsv");
    if (cli_refuse_same_file("measure", out, model) || (imatrix && cli_refuse_same_file("measure", out, imatrix))) return 2;
    int *types = NULL, n_types = 0, *extra = NULL, n_extra = 0;
    bool extra_none = probe_extra && !strcmp(probe_extra, "none");
    if (!pp.text_path && (probe_extra || pp.all_types))
        return cli_usage_error("measure", help_measure, "--probe-extra / --probe-all-types need --probe-text");
    if (pp.text_path && shard_n != 1)
        return cli_usage_error("measure", help_measure, "--probe-text needs the whole table: merge the shards first");
    if (types_arg && (rc = parse_types(types_arg, &types, &n_types)) != 0) {
        free(types);
        return rc;
    }
    if (probe_extra && !extra_none && (rc = parse_types(probe_extra, &extra, &n_extra)) != 0) {
        free(types);
        free(extra);
        return rc;
    }
    qtk_error err;
    qtk_gguf *g = NULL;
    if (qtk_gguf_open(model, &g, &err) != QTK_OK) {
        free(types);
        return cli_fail("measure", &err);
    }
    qtk_measure_params p;
    qtk_measure_params_init(&p);
    p.nthreads = nthreads;
    p.imatrix_path = imatrix;
    p.types = types;
    p.n_types = n_types;
    p.shard_index = shard_i;
    p.shard_count = shard_n;
    p.checkpoint_seconds = checkpoint;
    p.progress = progress;
    double t0 = qtk_time_now();
    rc = 0;
    if (qtk_measure_model(g, &p, out, &err) != QTK_OK) {
        rc = cli_fail("measure", &err);
    } else {
        qtk_measure_table *t = NULL;
        if (qtk_measure_table_load(out, &t, &err) != QTK_OK) {
            rc = cli_fail("measure", &err);
        } else {
            printf("measured %s: %lld tensors (shard %d/%d) in %.1f s -> %s\n", model,
                   (long long)qtk_measure_table_n_tensors(t), shard_i, shard_n, qtk_time_now() - t0, out);
            qtk_measure_table_free(t);
        }
    }
    qtk_gguf_close(g);
    if (rc == 0 && pp.text_path) {
        pp.model_path = model;
        pp.imatrix_path = imatrix;
        if (probe_extra) { /* else the library's default extra types */
            pp.extra_types = extra;
            pp.n_extra = n_extra;
        }
        pp.progress = probe_progress;
        pp.n_threads = nthreads;
        double t1 = qtk_time_now();
        if (qtk_measure_probe(out, &pp, &err) != QTK_OK) rc = cli_fail("measure", &err);
        else printf("probed %s on %s in %.1f s -> %s (alpha calibrated; qtk plan uses it)\n", model, pp.text_path,
                    qtk_time_now() - t1, out);
    }
    free(types);
    free(extra);
    return rc;
}
