/* cli_common.c — error printing and formatting shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const qtk_error *err) {
    fprintf(stderr, "qtk %s: error: %s\n", cmd, err && err->msg[0] ? err->msg : "unknown error");
    return 1;
}

int cli_usage_error(const char *cmd, void (*help)(FILE *), const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "qtk %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    /* one hint line, so the error stays the last thing on the screen */
    if (help) fprintf(stderr, "see 'qtk help %s'\n", cmd);
    return 2;
}

/* Per type id: tensors of that type (types[] of n tensors); the AND of their ecosystems. */
static unsigned compat_count(const int *types, int64_t n, int64_t *count) {
    unsigned all = QTK_ECO_BOTH;
    for (int64_t i = 0; i < n; i++) {
        const qtk_type_traits *tr = qtk_type_get(types[i]);
        unsigned e = tr ? tr->ecosystems : 0u;
        all &= e;
        if (types[i] >= 0 && types[i] < QTK_TYPE_ID_LIMIT) count[types[i]]++;
    }
    return all;
}

void cli_print_compat(FILE *out, const int *types, int64_t n) {
    int64_t *count = (int64_t *)calloc(QTK_TYPE_ID_LIMIT, sizeof *count);
    if (!count) return;
    unsigned all = compat_count(types, n, count);
    if (all == QTK_ECO_BOTH) {
        fprintf(out, "loads in: llama.cpp, ik_llama.cpp\n");
    } else {
        /* name the types that keep the file out of the other program */
        unsigned miss = all == QTK_ECO_IK_LLAMA ? QTK_ECO_LLAMA_CPP : all == QTK_ECO_LLAMA_CPP ? QTK_ECO_IK_LLAMA
                                                                                               : QTK_ECO_BOTH;
        fprintf(out, "%s", all == QTK_ECO_IK_LLAMA ? "ik_llama.cpp only: "
                           : all == QTK_ECO_LLAMA_CPP ? "llama.cpp only: "
                                                      : "loads in neither llama.cpp nor ik_llama.cpp: ");
        int k = 0;
        for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
            const qtk_type_traits *tr = qtk_type_get(t);
            if (!count[t] || (tr && (tr->ecosystems & miss) == miss)) continue;
            fprintf(out, "%s%s in %lld tensor%s", k++ ? ", " : "", qtk_type_name(t), (long long)count[t],
                    count[t] == 1 ? "" : "s");
        }
        fprintf(out, "\n");
    }
    free(count);
}

void cli_print_compat_json(FILE *out, const int *types, int64_t n) {
    int64_t *count = (int64_t *)calloc(QTK_TYPE_ID_LIMIT, sizeof *count);
    if (!count) return;
    unsigned all = compat_count(types, n, count);
    fprintf(out, "\"loads_in\": [");
    int k = 0;
    if (all & QTK_ECO_LLAMA_CPP) fprintf(out, "%s\"llama.cpp\"", k++ ? ", " : "");
    if (all & QTK_ECO_IK_LLAMA) fprintf(out, "%s\"ik_llama.cpp\"", k++ ? ", " : "");
    fprintf(out, "], \"not_in_llama.cpp\": {");
    k = 0;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
        const qtk_type_traits *tr = qtk_type_get(t);
        if (!count[t] || (tr && (tr->ecosystems & QTK_ECO_LLAMA_CPP))) continue;
        fprintf(out, "%s\"%s\": %lld", k++ ? ", " : "", qtk_type_name(t), (long long)count[t]);
    }
    fprintf(out, "}");
    free(count);
}

const char *cli_fmt_bytes(double bytes, char *buf, size_t n) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f B", bytes);
    else
        snprintf(buf, n, "%.2f %s", bytes, units[u]);
    return buf;
}

void cli_json_string(FILE *out, const char *s, size_t len) {
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

int cli_refuse_same_file(const char *cmd, const char *out, const char *in) {
    if (!out || !in || (strcmp(out, in) != 0 && !qtk_same_file(out, in))) return 0;
    fprintf(stderr, "qtk %s: error: output %s is the same file as the input %s; refusing to overwrite the input\n", cmd,
            out, in);
    return 2;
}

bool cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

int cli_parse_cache_type(const char *cmd, void (*help)(FILE *), int argc, char **argv, int *i, qtk_type *type_k,
                         qtk_type *type_v) {
    const char *a = argv[*i];
    const bool k = !strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k");
    if (!k && strcmp(a, "-ctv") && strcmp(a, "--cache-type-v")) return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, help, "%s needs a type (f16 or f32)", a);
        return -1;
    }
    const char *v = argv[++*i];
    qtk_type t;
    if (!strcmp(v, "f16")) t = QTK_TYPE_F16;
    else if (!strcmp(v, "f32")) t = QTK_TYPE_F32;
    else {
        cli_usage_error(cmd, help, "%s: unsupported KV cache type '%s' (qtk supports f16 and f32)", a, v);
        return -1;
    }
    *(k ? type_k : type_v) = t;
    return 1;
}

bool cli_parse_mmap(const char *arg, qtk_load_mode *mode) {
    if (!strcmp(arg, "--mmap")) *mode = QTK_LOAD_MMAP;
    else if (!strcmp(arg, "--no-mmap")) *mode = QTK_LOAD_READ;
    else return false;
    return true;
}

void qtk_set_error_cli(qtk_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err->code = QTK_ERR_INVALID_ARG;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

char *cli_read_text_file(const char *path, size_t *size, qtk_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        qtk_set_error_cli(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = (char *)malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = (char *)realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        qtk_set_error_cli(err, "%s: cannot read", path);
        return NULL;
    }
    buf[n] = '\0';
    *size = n;
    return buf;
}

const char *cli_fmt_shape(const qtk_tensor_info *t, const char *sep, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->n_dims && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, d ? sep : "", t->ne[d]);
    return buf;
}

char *cli_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = (char *)malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int cli_strcasecmp(const char *a, const char *b) {
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y || !x) return x - y;
    }
}
