/*
 * cmd_compare.c — `qtk compare`: weight-space relative RMSE of a quantized
 * model against the model it was made from, per tensor, per class and in
 * total (thin over qtk_compare_models).
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void help_compare(FILE *out) {
    fprintf(out,
            "usage: qtk compare REF.gguf QUANT.gguf [--imatrix FILE] [--json] [-t N]\n\n"
            "Decodes every tensor present in both files with equal shapes to F32 and prints its\n"
            "relative RMSE sqrt(sum w (x-y)^2 / sum w x^2), x = REF, y = QUANT, w = the imatrix\n"
            "column weights of the tensor (scaled to mean 1) when --imatrix has it, else 1.\n"
            "Totals (overall and per tensor class) cover the tensors whose type differs.\n\n"
            "options:\n"
            "  --imatrix FILE    importance matrix (.dat legacy or GGUF imatrix) for weighting\n"
            "  --json            results as one JSON document on stdout\n"
            "  -t, --threads N   threads (default: all CPUs); results do not depend on it\n"
            "  -h, --help        show this help\n\n"
            "Exit code 1 also when a tensor decodes to NaN/Inf, and when no tensor could be\n"
            "compared (no tensor with the same name and shape in both files).\n");
}

/* Prints a double as JSON (null for NaN/Inf, which JSON cannot hold). */
static void json_num(double v) {
    if (isfinite(v))
        printf("%.9g", v);
    else
        printf("null");
}

static void print_json(const qtk_compare_result *r, const char *ref, const char *quant, const char *imatrix) {
    printf("{\n  \"reference\": ");
    cli_json_string(stdout, ref, strlen(ref));
    printf(",\n  \"quantized\": ");
    cli_json_string(stdout, quant, strlen(quant));
    printf(",\n  \"imatrix\": ");
    if (imatrix)
        cli_json_string(stdout, imatrix, strlen(imatrix));
    else
        printf("null");
    printf(",\n  \"tensors\": [");
    for (int64_t i = 0; i < r->n; i++) {
        const qtk_compare_tensor *t = &r->tensors[i];
        printf("%s\n    {\"name\": ", i ? "," : "");
        cli_json_string(stdout, t->name, strlen(t->name));
        printf(", \"ref_type\": ");
        if (t->ref_type >= 0) printf("\"%s\"", qtk_type_name(t->ref_type)); else printf("null");
        printf(", \"quant_type\": ");
        if (t->quant_type >= 0) printf("\"%s\"", qtk_type_name(t->quant_type)); else printf("null");
        printf(", \"elements\": %lld, \"status\": \"%s\", \"quantized\": %s, \"weighted\": %s, \"rel_rmse\": ",
               (long long)t->n_elements, qtk_compare_status_name(t->status), t->quantized ? "true" : "false",
               t->weighted ? "true" : "false");
        if (t->status == QTK_COMPARE_OK) json_num(t->rel_rmse); else printf("null");
        printf("}");
    }
    printf("\n  ],\n  \"classes\": [");
    for (int64_t k = 0; k < r->n_classes; k++) {
        const qtk_compare_class *c = &r->classes[k];
        printf("%s\n    {\"class\": \"%s\", \"tensors\": %lld, \"params\": %lld, \"rel_rmse\": ", k ? "," : "", c->name,
               (long long)c->tensors, (long long)c->params);
        json_num(c->rel_rmse);
        printf("}");
    }
    printf("\n  ],\n  \"quantized_tensors\": %lld,\n  \"quantized_params\": %lld,\n  \"unmatched_tensors\": %lld,\n"
           "  \"nonfinite_tensors\": %lld,\n  \"rel_rmse\": ",
           (long long)r->n_quantized, (long long)r->params_quantized, (long long)r->n_unmatched,
           (long long)r->n_nonfinite);
    json_num(r->rel_rmse);
    printf("\n}\n");
}

static void print_text(const qtk_compare_result *r, bool have_imatrix) {
    int64_t n_weighted = 0;
    printf("%-40s %-8s %-8s %12s  %s\n", "tensor", "ref", "quant", "rel. RMSE", "note");
    for (int64_t i = 0; i < r->n; i++) {
        const qtk_compare_tensor *t = &r->tensors[i];
        const char *ra = t->ref_type >= 0 ? qtk_type_name(t->ref_type) : "-";
        const char *qa = t->quant_type >= 0 ? qtk_type_name(t->quant_type) : "-";
        if (t->status != QTK_COMPARE_OK) {
            printf("%-40s %-8s %-8s %12s  %s\n", t->name, ra, qa, "-", qtk_compare_status_name(t->status));
            continue;
        }
        if (t->quantized && t->weighted) n_weighted++;
        printf("%-40s %-8s %-8s %12.6f  %s\n", t->name, ra, qa, t->rel_rmse,
               !t->quantized ? "same type, not in totals" : (t->weighted ? "imatrix-weighted" : ""));
    }
    printf("\nby tensor class (quantized tensors):\n");
    for (int64_t k = 0; k < r->n_classes; k++) {
        const qtk_compare_class *c = &r->classes[k];
        printf("  %-24s %5lld tensors %10.3f M params   rel. RMSE %.6f\n", c->name, (long long)c->tensors,
               (double)c->params / 1e6, c->rel_rmse);
    }
    if (r->n_unmatched) printf("\n%lld tensor(s) not compared (see the table)\n", (long long)r->n_unmatched);
    printf("\ntotal: %lld quantized tensors, %.3f M params, ", (long long)r->n_quantized,
           (double)r->params_quantized / 1e6);
    if (have_imatrix)
        printf("%lld of them imatrix-weighted\n", (long long)n_weighted);
    else
        printf("unweighted\n");
    printf("total relative RMSE: %.6f\n", r->rel_rmse);
}

int cmd_compare(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *imatrix_path = NULL;
    int npos = 0, nthreads = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (cli_is_help(a)) {
            help_compare(stdout);
            return 0;
        }
        if (!strcmp(a, "--imatrix") && has_val) {
            imatrix_path = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            if (*e || v < 1 || v > 256) return cli_usage_error("compare", help_compare, "thread count must be 1..256");
            nthreads = (int)v;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("compare", help_compare, "unknown or incomplete option '%s'", a);
        } else {
            if (npos >= 2) return cli_usage_error("compare", help_compare, "unexpected argument '%s'", a);
            pos[npos++] = a;
        }
    }
    if (npos < 2) return cli_usage_error("compare", help_compare, "need REF.gguf and QUANT.gguf");

    qtk_error err;
    qtk_gguf *ref = NULL, *quant = NULL;
    qtk_imatrix *im = NULL;
    qtk_compare_result *res = NULL;
    int rc = 1;
    if (qtk_gguf_open(pos[0], &ref, &err) != QTK_OK) goto fail;
    if (qtk_gguf_open(pos[1], &quant, &err) != QTK_OK) goto fail;
    if (imatrix_path && qtk_imatrix_load(imatrix_path, &im, &err) != QTK_OK) goto fail;
    if (qtk_compare_models(ref, quant, im, nthreads, &res, &err) != QTK_OK) goto fail;
    if (json)
        print_json(res, pos[0], pos[1], imatrix_path);
    else
        print_text(res, im != NULL);
    int64_t n_compared = 0, n_shape = 0, n_only_ref = 0, n_only_quant = 0;
    for (int64_t i = 0; i < res->n; i++) {
        n_compared += res->tensors[i].status == QTK_COMPARE_OK || res->tensors[i].status == QTK_COMPARE_NONFINITE;
        n_shape += res->tensors[i].status == QTK_COMPARE_SHAPE_MISMATCH;
        n_only_ref += res->tensors[i].status == QTK_COMPARE_ONLY_REF;
        n_only_quant += res->tensors[i].status == QTK_COMPARE_ONLY_QUANT;
    }
    if (n_compared == 0) {
        /* nothing measured: a total of 0 would read as "no error" */
        fprintf(stderr,
                "qtk compare: error: no tensor could be compared: %s and %s share no tensor with the same name "
                "and shape (%lld shape mismatches, %lld only in %s, %lld only in %s); are they the same model?\n",
                pos[0], pos[1], (long long)n_shape, (long long)n_only_ref, pos[0], (long long)n_only_quant, pos[1]);
        rc = 1;
    } else if (res->n_nonfinite) {
        fprintf(stderr, "qtk compare: error: %lld tensor(s) hold NaN/Inf after decoding (%s or its reference)\n", (long long)res->n_nonfinite,
                pos[1]);
        rc = 1;
    } else {
        rc = 0;
    }
    goto done;
fail:
    rc = cli_fail("compare", &err);
done:
    qtk_compare_result_free(res);
    qtk_imatrix_free(im);
    qtk_gguf_close(quant);
    qtk_gguf_close(ref);
    return rc;
}
