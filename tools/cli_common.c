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
    fprintf(stderr, "\n\n");
    va_end(ap);
    if (help) help(stderr);
    return 2;
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

bool cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

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
