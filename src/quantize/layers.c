/*
 * layers.c — layer selectors of recipe rules (`@ 0-3,last:2`, `@ more_bits`,
 * `@ frac:3/8`, `@ seq first:1/8`) and conditions (`if gqa>=4 or experts>=4`).
 * Semantics: docs/recipes.md.
 */
#include "quantize_internal.h"

#include <ctype.h>
#include <stdlib.h>

bool qtk_use_more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Priority group of layer i for frac:K/8: 0 = first/last eighth, 1 = the
 * every-third middle layers use_more_bits adds, 2 and 3 = the other middle
 * layers. Groups 0 and 1 together are exactly use_more_bits. */
static int frac_group(int64_t i, int64_t n) {
    int64_t e = n / 8;
    if (i < e || i >= 7 * n / 8) return 0;
    int64_t r = (i - e) % 3;
    return r == 2 ? 1 : r == 0 ? 2 : 3;
}

/* Rank of layer i in the frac order: group first, then distance to the
 * nearer end of the model (outer layers first), then the lower index. */
static int64_t frac_rank(int64_t i, int64_t n) {
    int gi = frac_group(i, n);
    int64_t di = QTK_MIN(i, n - 1 - i), rank = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        int gj = frac_group(j, n);
        int64_t dj = QTK_MIN(j, n - 1 - j);
        if (gj < gi || (gj == gi && (dj < di || (dj == di && j < i)))) rank++;
    }
    return rank;
}

bool qtk_layer_frac(int64_t i, int64_t n, int k) {
    if (i < 0 || i >= n || k <= 0) return false;
    int64_t count = (k * n + 4) / 8; /* K/8 of the layers, rounded to nearest */
    return frac_rank(i, n) < count;
}

bool qtk_layer_spec_match(const qtk_layer_spec *s, int64_t i, int64_t n) {
    if (i < 0) return false;
    for (int k = 0; k < s->n; k++) {
        const qtk_layer_item *it = &s->items[k];
        switch (it->kind) {
        case QTK_LAYERS_RANGE:
            if (i >= it->a && i <= it->b) return true;
            break;
        case QTK_LAYERS_FIRST:
            if (i < (it->b ? n * it->a / it->b : it->a)) return true;
            break;
        case QTK_LAYERS_LAST:
            if (i >= (it->b ? n * (it->b - it->a) / it->b : n - it->a)) return true;
            break;
        case QTK_LAYERS_MORE_BITS:
            if (qtk_use_more_bits(i, n)) return true;
            break;
        case QTK_LAYERS_FRAC:
            if (qtk_layer_frac(i, n, (int)it->a)) return true;
            break;
        }
    }
    return false;
}

void qtk_layer_spec_clear(qtk_layer_spec *s) {
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* Parses a non-negative decimal integer of at most 9 digits; advances *p. */
static bool parse_uint(const char **p, int64_t *v) {
    const char *q = *p;
    int64_t x = 0;
    int nd = 0;
    while (isdigit((unsigned char)*q) && nd < 10) {
        x = x * 10 + (*q++ - '0');
        nd++;
    }
    if (nd == 0 || nd > 9) return false;
    *p = q;
    *v = x;
    return true;
}

/* Parses one selector item (whitespace already removed). */
static bool parse_item(const char *s, qtk_layer_item *it) {
    const char *p = s;
    memset(it, 0, sizeof *it);
    if (!strcmp(s, "more_bits")) {
        it->kind = QTK_LAYERS_MORE_BITS;
        return true;
    }
    if (!strncmp(s, "frac:", 5)) {
        p = s + 5;
        int64_t b;
        if (!parse_uint(&p, &it->a) || *p++ != '/' || !parse_uint(&p, &b) || *p || b != 8 || it->a > 8) return false;
        it->kind = QTK_LAYERS_FRAC;
        return true;
    }
    if (!strncmp(s, "first:", 6) || !strncmp(s, "last:", 5)) {
        it->kind = s[0] == 'f' ? QTK_LAYERS_FIRST : QTK_LAYERS_LAST;
        p = strchr(s, ':') + 1;
        if (!parse_uint(&p, &it->a)) return false;
        if (*p == '/') {
            p++;
            if (!parse_uint(&p, &it->b) || it->b == 0 || it->a > it->b) return false;
        }
        return *p == '\0';
    }
    it->kind = QTK_LAYERS_RANGE;
    if (!parse_uint(&p, &it->a)) return false;
    it->b = it->a;
    if (*p == '-') {
        p++;
        if (!parse_uint(&p, &it->b) || it->b < it->a) return false;
    }
    return *p == '\0';
}

qtk_status qtk_layer_spec_parse(const char *text, qtk_layer_spec *out, qtk_error *err) {
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*text)) text++;
    if (!strncmp(text, "seq", 3) && (isspace((unsigned char)text[3]))) {
        out->seq = true;
        text += 3;
    }
    /* items are separated by commas; spaces anywhere are ignored */
    size_t len = strlen(text);
    char *buf = (char *)malloc(len + 1);
    if (!buf) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    size_t m = 0;
    for (size_t k = 0; k < len; k++)
        if (!isspace((unsigned char)text[k])) buf[m++] = text[k];
    buf[m] = '\0';
    if (m == 0) {
        free(buf);
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "empty layer selector after '@'");
    }
    int n = 1;
    for (size_t k = 0; k < m; k++) n += buf[k] == ',';
    out->items = (qtk_layer_item *)calloc((size_t)n, sizeof *out->items);
    if (!out->items) {
        free(buf);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    char *s = buf;
    for (int k = 0; k < n; k++) {
        char *c = strchr(s, ',');
        if (c) *c = '\0';
        if (!parse_item(s, &out->items[k])) {
            qtk_status st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                          "bad layer selector '%s' (expected N, A-B, first:N, last:N, first:A/B, "
                                          "last:A/B, more_bits or frac:K/8 with K 0..8, optionally after 'seq')",
                                          s);
            free(buf);
            qtk_layer_spec_clear(out);
            return st;
        }
        out->n++;
        s = c ? c + 1 : s + strlen(s);
    }
    free(buf);
    return QTK_OK;
}

/* ---- conditions ------------------------------------------------------------ */

enum { C_OR, C_AND, C_NOT, C_BOOL, C_CMP };
enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum { V_GQA, V_EXPERTS, V_VOCAB, V_LAYERS, V_HEADS, V_HEADS_KV, V_COLS, V_ROWS, V_ARCH, V_SIZE, V_TIED, V_IMATRIX };

static const struct {
    const char *name;
    int kind; /* 0 int, 1 string, 2 bool */
} cond_vars[] = {
    {"gqa", 0},  {"experts", 0}, {"vocab", 0}, {"layers", 0}, {"heads", 0},   {"heads_kv", 0},
    {"cols", 0}, {"rows", 0},    {"arch", 1},  {"size", 1},   {"tied", 2},    {"imatrix", 2},
};
#define N_COND_VARS ((int)(sizeof cond_vars / sizeof cond_vars[0]))
static const char *const op_names[] = {"==", "!=", "<", "<=", ">", ">="};

typedef struct cond_node {
    int kind;
    int a, b;       /* children */
    int var, op;
    int64_t mod;    /* 0 = none */
    int64_t value;
    char str[32];
} cond_node;

struct qtk_cond {
    int n, root;
    cond_node nodes[];
};

typedef struct cond_parser {
    const char *text, *p;
    cond_node *nodes;
    int n, cap;
    qtk_error *err;
    qtk_status st;
    int depth;
} cond_parser;

static int cfail(cond_parser *cp, const char *what) {
    if (cp->st == QTK_OK)
        cp->st = qtk_set_error(cp->err, QTK_ERR_INVALID_ARG, "bad condition '%s': %s at '%s'", cp->text, what,
                               *cp->p ? cp->p : "end");
    return -1;
}

static int cnew(cond_parser *cp, int kind) {
    if (cp->st != QTK_OK) return -1;
    if (cp->n == cp->cap) return cfail(cp, "too many terms");
    memset(&cp->nodes[cp->n], 0, sizeof cp->nodes[0]);
    cp->nodes[cp->n].kind = kind;
    return cp->n++;
}

static void cskip(cond_parser *cp) {
    while (isspace((unsigned char)*cp->p)) cp->p++;
}

/* Whether the next token is the keyword w (followed by a non-word char). */
static bool ckeyword(cond_parser *cp, const char *w) {
    cskip(cp);
    size_t l = strlen(w);
    if (strncmp(cp->p, w, l) != 0) return false;
    char c = cp->p[l];
    if (isalnum((unsigned char)c) || c == '_') return false;
    cp->p += l;
    return true;
}

static int parse_or(cond_parser *cp);

static int parse_atom_cond(cond_parser *cp) {
    cskip(cp);
    char ident[32];
    size_t l = 0;
    while ((isalnum((unsigned char)*cp->p) || *cp->p == '_') && l < sizeof ident - 1) ident[l++] = *cp->p++;
    ident[l] = '\0';
    if (l == 0) return cfail(cp, "expected a fact name (gqa, experts, vocab, layers, heads, heads_kv, cols, rows, arch, size, tied, imatrix)");
    int v = -1;
    for (int k = 0; k < N_COND_VARS; k++)
        if (!strcmp(cond_vars[k].name, ident)) v = k;
    if (v < 0) {
        cp->p -= l;
        return cfail(cp, "unknown fact (known: gqa, experts, vocab, layers, heads, heads_kv, cols, rows, arch, size, tied, imatrix)");
    }
    if (cond_vars[v].kind == 2) {
        int n = cnew(cp, C_BOOL);
        if (n >= 0) cp->nodes[n].var = v;
        return n;
    }
    int n = cnew(cp, C_CMP);
    if (n < 0) return -1;
    cond_node *nd = &cp->nodes[n];
    nd->var = v;
    cskip(cp);
    if (*cp->p == '%') {
        if (cond_vars[v].kind != 0) return cfail(cp, "'%' needs a numeric fact");
        cp->p++;
        cskip(cp);
        if (!parse_uint(&cp->p, &nd->mod) || nd->mod == 0) return cfail(cp, "expected a positive number after '%'");
        cskip(cp);
    }
    nd->op = -1;
    for (int k = 5; k >= 0; k--) { /* two-character operators first */
        size_t ol = strlen(op_names[k]);
        if (!strncmp(cp->p, op_names[k], ol) && (ol == 2 || (cp->p[1] != '=' ))) {
            nd->op = k;
            cp->p += ol;
            break;
        }
    }
    if (nd->op < 0) return cfail(cp, "expected a comparison (== != < <= > >=)");
    cskip(cp);
    if (cond_vars[v].kind == 0) {
        if (!parse_uint(&cp->p, &nd->value)) return cfail(cp, "expected a number");
    } else {
        if (nd->op != OP_EQ && nd->op != OP_NE) return cfail(cp, "only == and != compare names");
        size_t m = 0;
        while ((isalnum((unsigned char)*cp->p) || *cp->p == '_' || *cp->p == '-' || *cp->p == '.') &&
               m < sizeof nd->str - 1)
            nd->str[m++] = *cp->p++;
        nd->str[m] = '\0';
        if (m == 0) return cfail(cp, "expected a name");
    }
    return n;
}

static int parse_unary(cond_parser *cp) {
    cskip(cp);
    if (++cp->depth > 64) return cfail(cp, "nesting too deep");
    int r;
    if (*cp->p == '!' && cp->p[1] != '=') {
        cp->p++;
        int a = parse_unary(cp);
        r = a < 0 ? -1 : cnew(cp, C_NOT);
        if (r >= 0) cp->nodes[r].a = a;
    } else if (ckeyword(cp, "not")) {
        int a = parse_unary(cp);
        r = a < 0 ? -1 : cnew(cp, C_NOT);
        if (r >= 0) cp->nodes[r].a = a;
    } else if (*cp->p == '(') {
        cp->p++;
        r = parse_or(cp);
        cskip(cp);
        if (r >= 0 && *cp->p != ')') r = cfail(cp, "missing )");
        else if (r >= 0) cp->p++;
    } else {
        r = parse_atom_cond(cp);
    }
    cp->depth--;
    return r;
}

static int parse_and(cond_parser *cp) {
    int l = parse_unary(cp);
    while (l >= 0 && ckeyword(cp, "and")) {
        int r = parse_unary(cp);
        if (r < 0) return -1;
        int n = cnew(cp, C_AND);
        if (n < 0) return -1;
        cp->nodes[n].a = l;
        cp->nodes[n].b = r;
        l = n;
    }
    return l;
}

static int parse_or(cond_parser *cp) {
    int l = parse_and(cp);
    while (l >= 0 && ckeyword(cp, "or")) {
        int r = parse_and(cp);
        if (r < 0) return -1;
        int n = cnew(cp, C_OR);
        if (n < 0) return -1;
        cp->nodes[n].a = l;
        cp->nodes[n].b = r;
        l = n;
    }
    return l;
}

qtk_status qtk_cond_parse(const char *text, qtk_cond **out, qtk_error *err) {
    *out = NULL;
    int cap = 64;
    qtk_cond *c = (qtk_cond *)calloc(1, sizeof(qtk_cond) + sizeof(cond_node) * (size_t)cap);
    if (!c) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    cond_parser cp = {text, text, c->nodes, 0, cap, err, QTK_OK, 0};
    int root = parse_or(&cp);
    cskip(&cp);
    if (root >= 0 && *cp.p) root = cfail(&cp, "unexpected text");
    if (root < 0) {
        free(c);
        return cp.st;
    }
    c->n = cp.n;
    c->root = root;
    *out = c;
    return QTK_OK;
}

static bool eval_node(const qtk_cond *c, int n, const qtk_cond_env *e) {
    const cond_node *nd = &c->nodes[n];
    switch (nd->kind) {
    case C_OR: return eval_node(c, nd->a, e) || eval_node(c, nd->b, e);
    case C_AND: return eval_node(c, nd->a, e) && eval_node(c, nd->b, e);
    case C_NOT: return !eval_node(c, nd->a, e);
    case C_BOOL: return nd->var == V_TIED ? e->tied : e->imatrix;
    default: break;
    }
    if (cond_vars[nd->var].kind == 1) {
        const char *s = nd->var == V_ARCH ? e->arch : e->size;
        bool eq = qtk_strcasecmp(s ? s : "", nd->str) == 0;
        return nd->op == OP_EQ ? eq : !eq;
    }
    int64_t x = 0;
    switch (nd->var) {
    case V_GQA: x = e->gqa; break;
    case V_EXPERTS: x = e->experts; break;
    case V_VOCAB: x = e->vocab; break;
    case V_LAYERS: x = e->layers; break;
    case V_HEADS: x = e->heads; break;
    case V_HEADS_KV: x = e->heads_kv; break;
    case V_COLS: x = e->cols; break;
    case V_ROWS: x = e->rows; break;
    default: break;
    }
    if (nd->mod) x %= nd->mod;
    switch (nd->op) {
    case OP_EQ: return x == nd->value;
    case OP_NE: return x != nd->value;
    case OP_LT: return x < nd->value;
    case OP_LE: return x <= nd->value;
    case OP_GT: return x > nd->value;
    default: return x >= nd->value;
    }
}

bool qtk_cond_eval(const qtk_cond *c, const qtk_cond_env *env) { return !c || eval_node(c, c->root, env); }

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_puts(sbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->oom) return;
    if (b->n + l + 1 > b->cap) {
        size_t nc = (b->cap + l + 1) * 2;
        char *q = (char *)realloc(b->p, nc);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
}

/* Writes node n; parent precedence decides the parentheses (0 or, 1 and, 2 not). */
static void print_node(const qtk_cond *c, int n, int prec, sbuf *b) {
    const cond_node *nd = &c->nodes[n];
    char tmp[96];
    switch (nd->kind) {
    case C_OR:
        if (prec > 0) sb_puts(b, "(");
        print_node(c, nd->a, 0, b);
        sb_puts(b, " or ");
        print_node(c, nd->b, 0, b);
        if (prec > 0) sb_puts(b, ")");
        return;
    case C_AND:
        if (prec > 1) sb_puts(b, "(");
        print_node(c, nd->a, 1, b);
        sb_puts(b, " and ");
        print_node(c, nd->b, 1, b);
        if (prec > 1) sb_puts(b, ")");
        return;
    case C_NOT:
        sb_puts(b, "!");
        print_node(c, nd->a, 2, b);
        return;
    case C_BOOL: sb_puts(b, cond_vars[nd->var].name); return;
    default: break;
    }
    sb_puts(b, cond_vars[nd->var].name);
    if (nd->mod) {
        snprintf(tmp, sizeof tmp, "%%%lld", (long long)nd->mod);
        sb_puts(b, tmp);
    }
    sb_puts(b, op_names[nd->op]);
    if (cond_vars[nd->var].kind == 0) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)nd->value);
        sb_puts(b, tmp);
    } else {
        sb_puts(b, nd->str);
    }
}

char *qtk_cond_text(const qtk_cond *c) {
    sbuf b = {NULL, 0, 0, false};
    sb_puts(&b, "");
    if (c) print_node(c, c->root, 0, &b);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

void qtk_cond_free(qtk_cond *c) { free(c); }
