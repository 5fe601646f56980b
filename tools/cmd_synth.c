/* cmd_synth.c — `qtk synth OUT.gguf`: writes a synthetic F16 LLaMA model. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void help_synth(FILE *out) {
    fprintf(out,
            "usage: qtk synth [options] OUT.gguf\n\n"
            "Writes a synthetic F16 LLaMA-architecture model: llama.cpp tensor layout and\n"
            "metadata, a SentencePiece-style vocabulary, and weights with the statistics of\n"
            "trained ones (row scale spread, heavy tails, outlier input channels, larger\n"
            "scales in early layers; see docs/synth.md). The file depends only on the shape\n"
            "and the seed: the same pair gives a byte-identical file on every platform.\n"
            "OUT is written to OUT.tmp.XXXXXX first and renamed when complete (removed on\n"
            "any error, Ctrl-C, SIGTERM or SIGHUP).\n\n"
            "options:\n"
            "  --shape NAME      model shape (default tiny):\n");
    for (int i = 0; i < qtk_synth_shape_count(); i++) {
        const qtk_synth_shape *s = qtk_synth_shape_at(i);
        char sz[32];
        double params = (double)qtk_synth_n_params(s);
        fprintf(out, "                      %-6s n_embd %" PRId64 ", n_ff %" PRId64 ", %" PRId64 " layers, %" PRId64
                     "/%" PRId64 " heads, vocab %" PRId64 ": %.1f M params, %s\n",
                s->name, s->n_embd, s->n_ff, s->n_layer, s->n_head, s->n_head_kv, s->n_vocab, params / 1e6,
                cli_fmt_bytes(params * 2.0, sz, sizeof sz));
    }
    fprintf(out,
            "  --seed N          random seed, 0 .. 2^64-1 (default 1)\n"
            "  -t, --threads N   worker threads (default: all CPUs; the output does not depend on it)\n"
            "  -q, --quiet       no progress output\n"
            "  -h, --help        show this help\n");
}

typedef struct progress_state {
    double last;
    bool show;
} progress_state;

/* Redraws one status line at most 4 times a second. */
static void on_progress(void *ud, const char *tensor, int64_t done, int64_t total) {
    progress_state *p = (progress_state *)ud;
    if (!p->show) return;
    double now = qtk_time_now();
    if (done < total && now - p->last < 0.25) return;
    p->last = now;
    fprintf(stderr, "\r  %5.1f%%  %-32s", total > 0 ? 100.0 * (double)done / (double)total : 100.0, tensor);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

/* Parses a decimal unsigned 64-bit integer (whole string). */
static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end) return false;
    *out = (uint64_t)v;
    return true;
}

int cmd_synth(int argc, char **argv) {
    const char *out = NULL, *shape = "tiny";
    uint64_t seed = 1, threads = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_synth(stdout);
            return 0;
        } else if (!strcmp(a, "--shape")) {
            if (++i >= argc) return cli_usage_error("synth", help_synth, "--shape needs a value");
            shape = argv[i];
            if (!qtk_synth_shape_get(shape))
                return cli_usage_error("synth", help_synth, "unknown shape '%s'", shape);
        } else if (!strcmp(a, "--seed")) {
            if (++i >= argc || !parse_u64(argv[i], &seed))
                return cli_usage_error("synth", help_synth, "--seed needs an integer 0 .. 2^64-1");
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (++i >= argc || !parse_u64(argv[i], &threads) || threads < 1 || threads > 256)
                return cli_usage_error("synth", help_synth, "%s needs an integer 1 .. 256", a);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("synth", help_synth, "unknown option '%s'", a);
        } else if (!out) {
            out = a;
        } else {
            return cli_usage_error("synth", help_synth, "unexpected argument '%s'", a);
        }
    }
    if (!out) return cli_usage_error("synth", help_synth, "need the output file OUT.gguf");

    const qtk_synth_shape *sh = qtk_synth_shape_get(shape);
    int64_t params = qtk_synth_n_params(sh);
    progress_state ps;
    ps.last = -1.0;
    ps.show = !quiet && params >= 20 * 1000 * 1000; /* tiny finishes before a display helps */
    if (!quiet)
        fprintf(stderr, "qtk synth: shape %s (%.1f M params), seed %" PRIu64 " -> %s\n", sh->name,
                (double)params / 1e6, seed, out);
    qtk_error err;
    double start = qtk_time_now();
    if (qtk_synth_write(out, shape, seed, (int)threads, on_progress, &ps, &err) != QTK_OK) {
        if (ps.show) fputc('\n', stderr);
        return cli_fail("synth", &err);
    }
    if (!quiet) {
        char sz[32];
        fprintf(stderr, "wrote %s: %s in %.1f s\n", out, cli_fmt_bytes((double)params * 2.0, sz, sizeof sz),
                qtk_time_now() - start);
    }
    return 0;
}
