/* cmd_inspect.c — `qtk inspect FILE [--json]`: header, metadata, tensors, totals. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_PREVIEW 6    /* array items shown in text mode */
#define JSON_PREVIEW 16    /* array items kept in JSON mode  */
#define STRING_PREVIEW 80  /* characters of a string value shown in text mode */

void help_inspect(FILE *out) {
    fprintf(out,
            "usage: qtk inspect FILE.gguf [--json]\n\n"
            "Shows the GGUF header, the metadata (long arrays summarized), the tensor table\n"
            "(name, type, shape, bytes, bits per weight), totals per type, the parameter count\n"
            "and the overall bits per weight, and which programs load the file by its tensor\n"
            "types (\"loads in: llama.cpp, ik_llama.cpp\" or \"ik_llama.cpp only: iq5_k in 6 tensors\").\n"
            "A split model (gguf-split: PREFIX-00001-of-0000N.gguf)\n"
            "is read as one model from its first part; the parts are listed.\n\n"
            "options:\n"
            "  --json      print one JSON document instead of text\n"
            "  -h, --help  show this help\n");
}

static void print_text_string(FILE *out, const char *s, uint64_t len, size_t max) {
    fputc('"', out);
    for (uint64_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
    if (len > max) fprintf(out, "...(%" PRIu64 " bytes)", len);
}

static void print_scalar(FILE *out, const qtk_gguf_value *v, bool json) {
    switch (v->type) {
    case QTK_GGUF_UINT8: case QTK_GGUF_UINT16: case QTK_GGUF_UINT32: case QTK_GGUF_UINT64:
        fprintf(out, "%" PRIu64, v->v.u64);
        break;
    case QTK_GGUF_INT8: case QTK_GGUF_INT16: case QTK_GGUF_INT32: case QTK_GGUF_INT64:
        fprintf(out, "%" PRId64, v->v.i64);
        break;
    case QTK_GGUF_FLOAT32: case QTK_GGUF_FLOAT64:
        if (json && (v->v.f64 != v->v.f64 || v->v.f64 > 1e308 || v->v.f64 < -1e308))
            fputs("null", out); /* JSON has no NaN/Inf */
        else
            fprintf(out, "%.9g", v->v.f64);
        break;
    case QTK_GGUF_BOOL: fputs(v->v.u64 ? "true" : "false", out); break;
    case QTK_GGUF_STRING:
        if (json)
            cli_json_string(out, v->v.str.ptr, (size_t)v->v.str.len);
        else
            print_text_string(out, v->v.str.ptr, v->v.str.len, STRING_PREVIEW);
        break;
    default: fputs("?", out);
    }
}

static void print_value(FILE *out, const qtk_gguf_value *v, bool json) {
    if (v->type != QTK_GGUF_ARRAY) {
        print_scalar(out, v, json);
        return;
    }
    uint64_t n = v->v.arr.n, show = json ? JSON_PREVIEW : ARRAY_PREVIEW;
    if (json) fprintf(out, "{\"n\": %" PRIu64 ", \"items\": ", n);
    fputc('[', out);
    for (uint64_t i = 0; i < n && i < show; i++) {
        if (i) fputs(", ", out);
        print_value(out, &v->v.arr.items[i], json);
    }
    if (n > show && !json) fprintf(out, ", ... %" PRIu64 " more", n - show);
    fputc(']', out);
    if (json) fputc('}', out);
}

static void type_label(const qtk_gguf_value *v, char *buf, size_t n) {
    if (v->type == QTK_GGUF_ARRAY)
        snprintf(buf, n, "arr[%s,%" PRIu64 "]", qtk_gguf_vtype_name(v->v.arr.elem_type), v->v.arr.n);
    else
        snprintf(buf, n, "%s", qtk_gguf_vtype_name(v->type));
}

typedef struct type_total {
    int64_t count, params;
    uint64_t bytes;
} type_total;

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help_inspect(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("inspect", help_inspect, "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage_error("inspect", help_inspect, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!path) return cli_usage_error("inspect", help_inspect, "missing FILE");

    qtk_error err;
    qtk_gguf *g = NULL;
    if (qtk_gguf_open(path, &g, &err) != QTK_OK) return cli_fail("inspect", &err);

    const qtk_meta *m = qtk_gguf_meta(g);
    int64_t nt = qtk_gguf_n_tensors(g);
    static type_total totals[QTK_TYPE_ID_LIMIT];
    memset(totals, 0, sizeof totals);
    int64_t params = 0;
    uint64_t tensor_bytes = 0;
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        int64_t ne = qtk_tensor_nelements(t);
        totals[t->type].count++;
        totals[t->type].params += ne;
        totals[t->type].bytes += t->nbytes;
        params += ne;
        tensor_bytes += t->nbytes;
    }
    double bpw = params ? 8.0 * (double)tensor_bytes / (double)params : 0.0;
    /* which programs load the file: from the type table's ecosystems of every tensor type */
    int *types = (int *)malloc((size_t)(nt > 0 ? nt : 1) * sizeof *types);
    for (int64_t i = 0; types && i < nt; i++) types[i] = (int)qtk_gguf_tensor(g, i)->type;
    FILE *out = stdout;
    char b1[64], b2[64];

    if (json) {
        fprintf(out, "{\n  \"file\": ");
        cli_json_string(out, path, strlen(path));
        fprintf(out, ",\n  \"file_size\": %" PRIu64 ",\n  \"version\": %u,\n  \"alignment\": %" PRIu64
                     ",\n  \"data_offset\": %" PRIu64 ",\n  \"metadata\": {",
                qtk_gguf_file_size(g), qtk_gguf_version(g), qtk_gguf_alignment(g), qtk_gguf_data_offset(g));
        for (int64_t i = 0; i < m->n; i++) {
            char tl[64];
            type_label(&m->kv[i].value, tl, sizeof tl);
            fprintf(out, "%s\n    ", i ? "," : "");
            cli_json_string(out, m->kv[i].key, strlen(m->kv[i].key));
            fprintf(out, ": {\"type\": \"%s\", \"value\": ", tl);
            print_value(out, &m->kv[i].value, true);
            fputc('}', out);
        }
        fprintf(out, "\n  },\n  \"tensors\": [");
        for (int64_t i = 0; i < nt; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            fprintf(out, "%s\n    {\"name\": ", i ? "," : "");
            cli_json_string(out, t->name, strlen(t->name));
            fprintf(out, ", \"type\": \"%s\", \"type_id\": %d, \"shape\": [", qtk_type_name(t->type), (int)t->type);
            for (int d = 0; d < t->n_dims; d++) fprintf(out, "%s%" PRId64, d ? ", " : "", t->ne[d]);
            int64_t ne = qtk_tensor_nelements(t);
            fprintf(out, "], \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"bpw\": %.4f", t->offset,
                    t->nbytes, ne ? 8.0 * (double)t->nbytes / (double)ne : 0.0);
            /* split model: offset is relative to the data section of part "part" (1-based) */
            if (qtk_gguf_n_parts(g) > 1) fprintf(out, ", \"part\": %d", qtk_gguf_tensor_part(g, i) + 1);
            fputc('}', out);
        }
        fprintf(out, "\n  ],\n  \"types\": {");
        bool first = true;
        for (int id = 0; id < QTK_TYPE_ID_LIMIT; id++) {
            if (!totals[id].count) continue;
            fprintf(out, "%s\n    \"%s\": {\"tensors\": %" PRId64 ", \"params\": %" PRId64 ", \"bytes\": %" PRIu64 "}",
                    first ? "" : ",", qtk_type_name(id), totals[id].count, totals[id].params, totals[id].bytes);
            first = false;
        }
        fprintf(out, "\n  },");
        if (qtk_gguf_n_parts(g) > 1) {
            fprintf(out, "\n  \"parts\": [");
            for (int k = 0; k < qtk_gguf_n_parts(g); k++) {
                fprintf(out, "%s\n    {\"file\": ", k ? "," : "");
                cli_json_string(out, qtk_gguf_part_path(g, k), strlen(qtk_gguf_part_path(g, k)));
                fprintf(out, ", \"size\": %" PRIu64 "}", qtk_gguf_part_size(g, k));
            }
            fprintf(out, "\n  ],");
        }
        if (types) {
            fprintf(out, "\n  ");
            cli_print_compat_json(out, types, nt);
            fputc(',', out);
        }
        fprintf(out, "\n  \"n_params\": %" PRId64 ",\n  \"tensor_bytes\": %" PRIu64 ",\n  \"bpw\": %.4f\n}\n",
                params, tensor_bytes, bpw);
        free(types);
        qtk_gguf_close(g);
        return 0;
    }

    fprintf(out, "file:      %s\n", path);
    fprintf(out, "size:      %s (%" PRIu64 " bytes)\n", cli_fmt_bytes((double)qtk_gguf_file_size(g), b1, sizeof b1),
            qtk_gguf_file_size(g));
    fprintf(out, "gguf:      version %u, alignment %" PRIu64 ", data section at %" PRIu64 "\n", qtk_gguf_version(g),
            qtk_gguf_alignment(g), qtk_gguf_data_offset(g));
    if (qtk_gguf_n_parts(g) > 1) { /* a split model read as one (sizes: whole files) */
        fprintf(out, "split:     %d parts\n", qtk_gguf_n_parts(g));
        for (int k = 0; k < qtk_gguf_n_parts(g); k++)
            fprintf(out, "  %5d  %s (%s)\n", k + 1, qtk_gguf_part_path(g, k),
                    cli_fmt_bytes((double)qtk_gguf_part_size(g, k), b1, sizeof b1));
    }
    fprintf(out, "\nmetadata (%" PRId64 " keys):\n", m->n);
    for (int64_t i = 0; i < m->n; i++) {
        char tl[64];
        type_label(&m->kv[i].value, tl, sizeof tl);
        fprintf(out, "  %-40s %-16s = ", m->kv[i].key, tl);
        print_value(out, &m->kv[i].value, false);
        fputc('\n', out);
    }
    fprintf(out, "\ntensors (%" PRId64 "):\n", nt);
    fprintf(out, "  %5s  %-36s %-8s %-22s %12s %8s\n", "#", "name", "type", "shape", "bytes", "bpw");
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        char shape[96];
        cli_fmt_shape(t, " x ", shape, sizeof shape);
        int64_t ne = qtk_tensor_nelements(t);
        fprintf(out, "  %5" PRId64 "  %-36s %-8s %-22s %12s %8.4f\n", i, t->name, qtk_type_name(t->type), shape,
                cli_fmt_bytes((double)t->nbytes, b1, sizeof b1), ne ? 8.0 * (double)t->nbytes / (double)ne : 0.0);
    }
    fprintf(out, "\nper type:\n");
    for (int id = 0; id < QTK_TYPE_ID_LIMIT; id++) {
        if (!totals[id].count) continue;
        fprintf(out, "  %-8s %5" PRId64 " tensors %14" PRId64 " params %12s %8.4f bpw\n", qtk_type_name(id),
                totals[id].count, totals[id].params, cli_fmt_bytes((double)totals[id].bytes, b1, sizeof b1),
                totals[id].params ? 8.0 * (double)totals[id].bytes / (double)totals[id].params : 0.0);
    }
    fprintf(out, "\ntotal:     %" PRId64 " parameters, %s of tensor data, %.4f bpw\n", params,
            cli_fmt_bytes((double)tensor_bytes, b2, sizeof b2), bpw);
    if (types) cli_print_compat(out, types, nt);
    free(types);
    qtk_gguf_close(g);
    return 0;
}
