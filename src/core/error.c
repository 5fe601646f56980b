/* error.c — status names and message formatting. */
#include "qtk_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *qtk_status_name(qtk_status s) {
    switch (s) {
    case QTK_OK: return "ok";
    case QTK_ERR_INVALID_ARG: return "invalid argument";
    case QTK_ERR_IO: return "I/O error";
    case QTK_ERR_FORMAT: return "format error";
    case QTK_ERR_UNSUPPORTED: return "unsupported";
    case QTK_ERR_NOMEM: return "out of memory";
    case QTK_ERR_NUMERIC: return "numeric error";
    case QTK_ERR_NOT_FOUND: return "not found";
    }
    return "unknown error";
}

const char *qtk_version(void) { return QTK_VERSION_STRING; }

qtk_status qtk_set_error(qtk_error *err, qtk_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void qtk_clear_error(qtk_error *err) {
    if (err) {
        err->code = QTK_OK;
        err->msg[0] = '\0';
    }
}

char *qtk_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = (char *)malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int qtk_strcasecmp(const char *a, const char *b) {
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb) return ca - cb;
        if (ca == 0) return 0;
    }
}
