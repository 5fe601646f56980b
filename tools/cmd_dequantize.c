/* cmd_dequantize.c — `qtk dequantize IN OUT`: same metadata, every tensor as F32. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_FLOATS (4 * 1024 * 1024) /* rows converted per write: ~16 MiB of output */

void help_dequantize(FILE *out) {
    fprintf(out,
            "usage: qtk dequantize [options] IN.gguf OUT.gguf\n\n"
            "Writes OUT with the metadata of IN and every tensor converted to F32\n"
            "(general.file_type becomes 0 = all F32). OUT is written to OUT.tmp.XXXXXX first\n"
            "and renamed when complete; on any error, Ctrl-C, SIGTERM or SIGHUP nothing is\n"
            "left behind. OUT must not be IN (compared by device and inode).\n\n"
            "options:\n"
            "  -q, --quiet  no progress output\n"
            "  -h, --help   show this help\n");
}

/* Checks up front that every tensor can be decoded, so no work is wasted. */
static int check_decodable(const char *path, qtk_gguf *g) {
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        const qtk_type_traits *tr = qtk_type_get(t->type);
        if (!tr || !tr->to_float || tr->interleaved) {
            fprintf(stderr, "qtk dequantize: error: %s: tensor '%s': type %s %s\n", path, t->name,
                    qtk_type_name(t->type),
                    tr && tr->interleaved ? "is a row-interleaved (repacked) variant, not supported"
                                          : "cannot be decoded yet (not implemented)");
            return 1;
        }
    }
    return 0;
}

int cmd_dequantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help_dequantize(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("dequantize", help_dequantize, "unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return cli_usage_error("dequantize", help_dequantize, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!in || !out) return cli_usage_error("dequantize", help_dequantize, "need IN and OUT files");
    if (cli_refuse_same_file("dequantize", out, in)) return 2;

    qtk_error err;
    qtk_gguf *g = NULL;
    if (qtk_gguf_open(in, &g, &err) != QTK_OK) return cli_fail("dequantize", &err);
    if (check_decodable(in, g)) {
        qtk_gguf_close(g);
        return 1;
    }

    qtk_gguf_writer *w = NULL;
    float *buf = NULL;
    int rc = 1;
    if (qtk_gguf_writer_open(out, &w, &err) != QTK_OK) goto fail;
    qtk_meta *wm = qtk_gguf_writer_meta(w);
    if (qtk_meta_copy(wm, qtk_gguf_meta(g), &err) != QTK_OK) goto fail;
    if (qtk_meta_set_u32(wm, "general.file_type", 0, &err) != QTK_OK) goto fail;
    qtk_meta_remove(wm, "general.quantization_version");

    int64_t nt = qtk_gguf_n_tensors(g);
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        if (qtk_gguf_writer_add_tensor(w, t->name, QTK_TYPE_F32, t->n_dims, t->ne, &err) != QTK_OK) goto fail;
    }
    int64_t buf_floats = CHUNK_FLOATS;
    buf = (float *)malloc(CHUNK_FLOATS * sizeof(float));
    if (!buf) {
        fprintf(stderr, "qtk dequantize: error: out of memory\n");
        qtk_gguf_writer_abort(w);
        qtk_gguf_close(g);
        return 1;
    }
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        int64_t n_per_row = t->ne[0], nrows = qtk_tensor_nrows(t);
        size_t rs = qtk_row_size(t->type, n_per_row);
        int64_t rows_per_chunk = n_per_row > 0 && n_per_row < CHUNK_FLOATS ? CHUNK_FLOATS / n_per_row : 1;
        if (n_per_row > buf_floats) { /* one row longer than the chunk: grow to a row */
            float *nb = (float *)realloc(buf, (size_t)n_per_row * sizeof(float));
            if (!nb) {
                qtk_set_error_cli(&err, "%s: tensor '%s': out of memory for a row of %" PRId64 " values", in,
                                  t->name, n_per_row);
                goto fail;
            }
            buf = nb;
            buf_floats = n_per_row;
        }
        if (!quiet)
            fprintf(stderr, "[%4" PRId64 "/%4" PRId64 "] %-36s %-8s -> f32\n", i + 1, nt, t->name,
                    qtk_type_name(t->type));
        for (int64_t r = 0; r < nrows; r += rows_per_chunk) {
            int64_t nr = nrows - r < rows_per_chunk ? nrows - r : rows_per_chunk;
            const uint8_t *src = (const uint8_t *)t->data + (size_t)r * rs;
            if (qtk_dequantize_rows(t->type, src, buf, nr, n_per_row, &err) != QTK_OK) {
                char msg[QTK_ERROR_MSG_MAX];
                snprintf(msg, sizeof msg, "%s", err.msg);
                qtk_set_error_cli(&err, "%s: tensor '%s': %s", in, t->name, msg);
                goto fail;
            }
            if (qtk_gguf_writer_write(w, buf, (size_t)(nr * n_per_row) * sizeof(float), &err) != QTK_OK) goto fail;
        }
    }
    free(buf);
    buf = NULL;
    {
        qtk_gguf_writer *fw = w;
        w = NULL;
        if (qtk_gguf_writer_finish(fw, &err) != QTK_OK) goto fail;
    }
    if (!quiet) fprintf(stderr, "wrote %s\n", out);
    rc = 0;
    qtk_gguf_close(g);
    return rc;

fail:
    free(buf);
    if (w) qtk_gguf_writer_abort(w);
    qtk_gguf_close(g);
    return cli_fail("dequantize", &err);
}
