/*
 * test_sweep.c — `qtk sweep` end to end on the fixture (issue #15): a
 * measurement table (qtk measure, few types), then a sweep with a preset,
 * the plan at its exact size, a bpw point and random mixes for the proxy
 * check, on a few chunks of eval.txt. Checks the outputs (sweep.tsv rows and
 * fields, sweep.md, a well-formed sweep.svg with the labels and legend),
 * that the plan is no larger than the preset, that the paired per-chunk
 * ΔKLD equals the difference of the mean KLDs (equal chunks), that the plan
 * at a bpw point is within the target, that the random mixes are within 1 %
 * of the preset's tensor bytes and carry a predicted cost, and the refusals:
 * a table of another imatrix, a file that is not a table, no plans without a
 * table. QTK_TEST_QUICK=1: 2 chunks of 64 tokens, 3 random mixes, one type
 * list of 4 types; otherwise 4 chunks of 128 tokens, 4 random mixes.
 */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One parsed sweep.tsv row (the fields this test uses). */
typedef struct trow {
    char name[64], kind[16], ref[32];
    double target_bpw, bpw, ppl, kld, kld_se, dkld, dkld_se, pred_cost;
    unsigned long long bytes;
    bool has_dkld, has_cost;
} trow;

/* Splits line into TAB fields in place; returns the count. */
static int split_tabs(char *line, char **f, int max) {
    int n = 0;
    for (char *p = line; p && n < max;) {
        f[n++] = p;
        p = strchr(p, '\t');
        if (p) *p++ = '\0';
    }
    return n;
}

/* Reads sweep.tsv: rows into r (at most max), rho into *rho (NAN when absent). */
static int read_tsv(const char *path, trow *r, int max, double *rho, int *n_rho) {
    char *text = tl_read_text(path);
    *rho = NAN;
    *n_rho = 0;
    if (!text) return -1;
    int n = 0;
    bool header_seen = false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[24];
        if (line[0] == '#') {
            if (!strncmp(line, "#spearman_rho\t", 14)) {
                int k = split_tabs(line, f, 24);
                if (k == 3) {
                    *rho = strtod(f[1], NULL);
                    *n_rho = atoi(f[2]);
                }
            }
            continue;
        }
        int k = split_tabs(line, f, 24);
        if (!header_seen) {
            header_seen = true;
            CHECK(k == 18 && !strcmp(f[0], "name") && !strcmp(f[8], "kld") && !strcmp(f[13], "dkld_vs_ref") &&
                      !strcmp(f[15], "pred_cost"),
                  "sweep.tsv column line (%d fields)", k);
            continue;
        }
        CHECK(k == 18, "sweep.tsv row with 18 fields, got %d", k);
        if (k != 18 || n >= max) continue;
        trow *t = &r[n++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", f[0]);
        snprintf(t->kind, sizeof t->kind, "%s", f[1]);
        snprintf(t->ref, sizeof t->ref, "%s", f[2]);
        t->target_bpw = strtod(f[3], NULL);
        t->bytes = strtoull(f[4], NULL, 10);
        t->bpw = strtod(f[5], NULL);
        t->ppl = strtod(f[6], NULL);
        t->kld = strtod(f[8], NULL);
        t->kld_se = strtod(f[9], NULL);
        t->has_dkld = strcmp(f[13], "-") != 0;
        t->dkld = t->has_dkld ? strtod(f[13], NULL) : NAN;
        t->dkld_se = t->has_dkld ? strtod(f[14], NULL) : NAN;
        t->has_cost = strcmp(f[15], "-") != 0;
        t->pred_cost = t->has_cost ? strtod(f[15], NULL) : NAN;
    }
    free(text);
    return n;
}

static const trow *find_row(const trow *r, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].name, name)) return &r[i];
    return NULL;
}

/* fixed_bytes + header_bytes of a table (its '#' lines) */
static unsigned long long table_overhead(const char *path) {
    char *t = tl_read_text(path);
    unsigned long long fb = 0, hb = 0;
    for (char *l = t ? strtok(t, "\n") : NULL; l; l = strtok(NULL, "\n")) {
        if (!strncmp(l, "#fixed_bytes\t", 13)) fb = strtoull(l + 13, NULL, 10);
        if (!strncmp(l, "#header_bytes\t", 14)) hb = strtoull(l + 14, NULL, 10);
    }
    free(t);
    return fb + hb;
}

int main(void) {
    const bool quick = tl_quick();
    char *model = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    char *imx = tl_shared_path("fixtures/imatrix.dat");
    char *text = tl_shared_path("fixtures/eval.txt");
    if (!model || !imx || !text || !tl_qtk_available()) {
        free(model);
        free(imx);
        free(text);
        return tl_skip("test_sweep", "no ../shared fixture or qtk binary");
    }
    char *table = tl_tmp_path("sweep_fixture.measure.tsv");
    char *table_noim = tl_tmp_path("sweep_noim.measure.tsv");
    char *dir = tl_tmp_path("sweep_out");
    char *dir_bad = tl_tmp_path("sweep_out_bad");
    char *log = tl_tmp_path("sweep_log.txt");
    char args[4096], path[1200];
    remove(table);
    remove(table_noim);
    static const char *const outs[] = {"sweep.tsv", "sweep.md", "sweep.svg"};
    for (int i = 0; i < 3; i++) { /* no stale outputs of an earlier run */
        snprintf(path, sizeof path, "%s/%s", dir, outs[i]);
        remove(path);
        snprintf(path, sizeof path, "%s/%s", dir_bad, outs[i]);
        remove(path);
    }

    /* the table: a few types (the plan chooses among them; Q4_K_M's own types included) */
    const char *types = quick ? "q4_K,q5_K,q6_K,q8_0" : "q3_K,q4_K,q5_K,q6_K,q8_0,iq4_xs";
    snprintf(args, sizeof args, "measure -m \"%s\" --imatrix \"%s\" -o \"%s\" --types %s -t 2", model, imx, table, types);
    int rc = tl_run_qtk(args, log);
    CHECK(rc == 0, "qtk measure: exit %d (%s)", rc, tl_last_line(log));

    /* the sweep */
    const int chunks = quick ? 2 : 4, ctx = quick ? 64 : 128, mixes = quick ? 3 : 4;
    snprintf(args, sizeof args,
             "sweep -m \"%s\" --imatrix \"%s\" -f \"%s\" --measure \"%s\" --presets Q4_K_M --bpw 5.2 "
             "--random-mixes %d -c %d --chunks %d -t 2 -o \"%s\"",
             model, imx, text, table, mixes, ctx, chunks, dir);
    rc = tl_run_qtk(args, log);
    CHECK(rc == 0, "qtk sweep: exit %d (%s)", rc, tl_last_line(log));
    CHECK(tl_file_contains(log, "| name | kind | size | bpw | PPL |"), "markdown table on stdout");
    CHECK(tl_file_contains(log, "ETA"), "progress with an ETA");

    trow rows[16];
    double rho;
    int n_rho;
    snprintf(path, sizeof path, "%s/sweep.tsv", dir);
    int n = read_tsv(path, rows, 16, &rho, &n_rho);
    CHECK(n == 3 + mixes, "sweep.tsv: %d rows, want %d", n, 3 + mixes);
    const trow *pre = find_row(rows, n, "Q4_K_M"), *pl = find_row(rows, n, "plan@Q4_K_M"),
               *pb = find_row(rows, n, "plan@5.2bpw");
    CHECK(pre && !strcmp(pre->kind, "preset") && !pre->has_dkld && !pre->has_cost, "preset row");
    CHECK(pl && !strcmp(pl->kind, "plan") && !strcmp(pl->ref, "Q4_K_M") && pl->has_dkld && pl->has_cost, "plan row");
    CHECK(pb && !strcmp(pb->kind, "plan") && pb->target_bpw == 5.2 && !pb->has_dkld, "bpw plan row");
    for (int i = 0; i < n; i++) {
        const trow *t = &rows[i];
        CHECK(isfinite(t->kld) && t->kld > 0 && t->kld < 1 && t->kld_se > 0 && t->kld_se < t->kld && t->ppl > 1 &&
                  t->bpw > 2 && t->bpw < 9 && t->bytes > 0,
              "%s: KLD %g +- %g, PPL %g, %g bpw", t->name, t->kld, t->kld_se, t->ppl, t->bpw);
    }
    if (pre && pl) {
        /* never larger than the preset's file; the planner spends the budget (within 2 %) */
        CHECK(pl->bytes <= pre->bytes && pl->bytes > 0.98 * (double)pre->bytes, "plan %llu bytes, preset %llu",
              pl->bytes, pre->bytes);
        /* every chunk scores the same number of tokens: the mean of the per-chunk differences is the
         * difference of the means (up to the %.9g printing) */
        CHECK(fabs(pl->dkld - (pl->kld - pre->kld)) <= 1e-8 * pre->kld + 1e-12 && pl->dkld_se > 0,
              "paired dKLD %.9g vs %.9g - %.9g", pl->dkld, pl->kld, pre->kld);
    }
    if (pb) CHECK(pb->bpw <= 5.2 && pb->bpw > 5.0, "plan@5.2bpw: %.4f bpw", pb->bpw);
    /* random mixes: within 1 % of the preset's tensor bytes, with a predicted cost, paired against the preset */
    int nr = 0;
    const unsigned long long over = table_overhead(table);
    for (int i = 0; i < n; i++) {
        const trow *t = &rows[i];
        if (strcmp(t->kind, "random")) continue;
        nr++;
        CHECK(t->has_cost && t->pred_cost > 0 && t->has_dkld && !strcmp(t->ref, "Q4_K_M"), "%s: cost, ref", t->name);
        if (pre && over) {
            double data = (double)t->bytes - (double)over, want = (double)pre->bytes - (double)over;
            /* the recipe text and the padding add < 8 KiB to the 1 % window */
            CHECK(fabs(data - want) <= 0.01 * want + 8192, "%s: %llu bytes vs preset %llu", t->name, t->bytes, pre->bytes);
        }
    }
    CHECK(nr == mixes, "%d random mixes", nr);
    CHECK(n_rho == mixes && rho >= -1 && rho <= 1, "spearman rho %g over %d", rho, n_rho);
    CHECK(tl_file_contains(log, "proxy check: Spearman"), "rho printed");

    /* sweep.md and the plot */
    snprintf(path, sizeof path, "%s/sweep.md", dir);
    CHECK(tl_file_contains(path, "| plan@Q4_K_M | plan |") && tl_file_contains(path, "KLD against tiny-llama-f16.gguf"),
          "sweep.md rows");
    snprintf(path, sizeof path, "%s/sweep.svg", dir);
    char *svg = tl_read_text(path);
    CHECK(svg && !strncmp(svg, "<?xml", 5) && strstr(svg, "</svg>\n") && strstr(svg, ">Q4_K_M</text>") &&
              strstr(svg, ">qtk plan</text>") && strstr(svg, ">random mixes (proxy check)</text>") &&
              strstr(svg, "(log scale)") && strstr(svg, "<polyline"),
          "sweep.svg: labels, legend, log axis, plan line");
    free(svg);
    /* scratch files removed (no --keep) */
    snprintf(path, sizeof path, "%s/Q4_K_M.gguf", dir);
    CHECK(!tl_file_exists(path), "quantized scratch file removed");
    snprintf(path, sizeof path, "%s/base.kld", dir);
    CHECK(tl_temp_files(path) == 0, "base log-probabilities removed");

    /* refusals: a table made without the imatrix, a non-table, plans without a table */
    snprintf(args, sizeof args, "measure -m \"%s\" -o \"%s\" --types q8_0 -t 2", model, table_noim);
    rc = tl_run_qtk(args, log);
    CHECK(rc == 0, "measure without imatrix: %d (%s)", rc, tl_last_line(log));
    snprintf(args, sizeof args, "sweep -m \"%s\" --imatrix \"%s\" -f \"%s\" --measure \"%s\" --presets Q8_0 -c 64 --chunks 2 -o \"%s\"",
             model, imx, text, table_noim, dir_bad);
    rc = tl_run_qtk(args, log);
    CHECK(rc == 1 && tl_file_contains(log, "sweep_noim.measure.tsv was measured with no imatrix"),
          "table of another imatrix refused: %d (%s)", rc, tl_last_line(log));
    snprintf(path, sizeof path, "%s/sweep.tsv", dir_bad);
    CHECK(!tl_file_exists(path), "no output after a refusal");
    snprintf(args, sizeof args, "sweep -m \"%s\" --imatrix \"%s\" -f \"%s\" --measure \"%s\" --presets Q8_0 -c 64 --chunks 2 -o \"%s\"",
             model, imx, text, text, dir_bad);
    rc = tl_run_qtk(args, log);
    CHECK(rc == 1 && tl_file_contains(log, "eval.txt:1:"), "not a table refused with FILE:LINE: %d (%s)", rc,
          tl_last_line(log));
    snprintf(args, sizeof args, "sweep -m \"%s\" -f \"%s\" --presets Q8_0 --random-mixes 3", model, text);
    rc = tl_run_qtk(args, log);
    CHECK(rc == 2 && tl_file_contains(log, "need --measure TABLE"), "random mixes without a table: %d (%s)", rc,
          tl_last_line(log));

    remove(table);
    remove(table_noim);
    remove(log);
    free(table);
    free(table_noim);
    free(dir);
    free(dir_bad);
    free(log);
    free(model);
    free(imx);
    free(text);
    return tl_finish("test_sweep");
}
