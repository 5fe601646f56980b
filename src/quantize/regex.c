/*
 * regex.c — a small regular-expression matcher for tensor-name rules
 * (--custom-q, recipe patterns). MSVC has no <regex.h>, and the reference
 * uses ECMAScript std::regex_search, so qtk carries its own: patterns are
 * parsed into a tree, compiled to a Thompson NFA and simulated state-set by
 * state-set, which takes time linear in the name length for any pattern.
 */
#include "quantize_internal.h"

#include <stdlib.h>

enum { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT, N_STAR, N_PLUS, N_QUEST };
enum { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_BOL, I_EOL, I_MATCH };

#define RE_MAX_NODES 4096
#define RE_MAX_PROG 8192
#define RE_MAX_REPEAT 64

typedef struct re_node {
    int kind;
    int a, b;     /* children (CAT/ALT), child (STAR...), char, class index */
} re_node;

typedef struct re_inst {
    int op;
    int x, y;     /* char / class index / jump targets */
} re_inst;

struct qtk_regex {
    re_inst *prog;
    int n_prog;
    uint8_t (*classes)[32];
    int n_classes;
};

typedef struct re_parser {
    const char *pat, *p;
    re_node *nodes;
    int n_nodes;
    uint8_t (*classes)[32];
    int n_classes, cap_classes;
    qtk_error *err;
    qtk_status st;
    int depth;
} re_parser;

/* Records the first error with the pattern and position. */
static int re_fail(re_parser *ps, const char *what) {
    if (ps->st == QTK_OK)
        ps->st = qtk_set_error(ps->err, QTK_ERR_INVALID_ARG, "bad regex '%s': %s at position %d", ps->pat, what,
                               (int)(ps->p - ps->pat));
    return -1;
}

static int re_new(re_parser *ps, int kind, int a, int b) {
    if (ps->st != QTK_OK) return -1;
    if (ps->n_nodes >= RE_MAX_NODES) return re_fail(ps, "pattern too complex");
    re_node *n = &ps->nodes[ps->n_nodes];
    n->kind = kind;
    n->a = a;
    n->b = b;
    return ps->n_nodes++;
}

static int re_new_class(re_parser *ps) {
    if (ps->n_classes == ps->cap_classes) {
        int nc = ps->cap_classes ? ps->cap_classes * 2 : 8;
        void *p = realloc(ps->classes, (size_t)nc * 32);
        if (!p) {
            ps->st = qtk_set_error(ps->err, QTK_ERR_NOMEM, "out of memory");
            return -1;
        }
        ps->classes = (uint8_t(*)[32])p;
        ps->cap_classes = nc;
    }
    memset(ps->classes[ps->n_classes], 0, 32);
    return ps->n_classes++;
}

static void cls_set(uint8_t *c, int ch) { c[(unsigned char)ch >> 3] |= (uint8_t)(1u << (ch & 7)); }

/* Adds the set of a \d \w \s style escape (negated for upper case) to c. */
static void cls_add_escape(uint8_t *c, char e) {
    uint8_t tmp[32] = {0};
    char l = (char)(e | 0x20);
    for (int ch = 0; ch < 256; ch++) {
        bool in = false;
        if (l == 'd') in = ch >= '0' && ch <= '9';
        else if (l == 'w') in = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        else if (l == 's') in = ch == ' ' || (ch >= 9 && ch <= 13);
        if (in) cls_set(tmp, ch);
    }
    bool neg = e >= 'A' && e <= 'Z';
    for (int k = 0; k < 32; k++) c[k] |= neg ? (uint8_t)~tmp[k] : tmp[k];
}

/* Literal value of a control escape (\t \n ...), or -1. */
static int escape_literal(char e) {
    switch (e) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    default: break;
    }
    if (!((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))) return (unsigned char)e;
    return -1;
}

static int parse_alt(re_parser *ps);

/* Parses a bracket expression after '['. */
static int parse_class(re_parser *ps) {
    int ci = re_new_class(ps);
    if (ci < 0) return -1;
    bool neg = false;
    if (*ps->p == '^') {
        neg = true;
        ps->p++;
    }
    bool first = true;
    for (;;) {
        char c = *ps->p;
        if (!c) return re_fail(ps, "unterminated [");
        if (c == ']' && !first) {
            ps->p++;
            break;
        }
        first = false;
        int lo;
        ps->p++;
        if (c == '\\') {
            char e = *ps->p;
            if (!e) return re_fail(ps, "trailing backslash");
            ps->p++;
            char l = (char)(e | 0x20);
            if (l == 'd' || l == 'w' || l == 's') {
                cls_add_escape(ps->classes[ci], e);
                continue;
            }
            lo = escape_literal(e);
            if (lo < 0) return re_fail(ps, "unsupported escape in []");
        } else {
            lo = (unsigned char)c;
        }
        int hi = lo;
        if (ps->p[0] == '-' && ps->p[1] && ps->p[1] != ']') {
            char h = ps->p[1];
            ps->p += 2;
            if (h == '\\') {
                if (!*ps->p) return re_fail(ps, "trailing backslash");
                hi = escape_literal(*ps->p++);
                if (hi < 0) return re_fail(ps, "unsupported escape in []");
            } else {
                hi = (unsigned char)h;
            }
            if (hi < lo) return re_fail(ps, "bad range in []");
        }
        for (int ch = lo; ch <= hi; ch++) cls_set(ps->classes[ci], ch);
    }
    if (neg)
        for (int k = 0; k < 32; k++) ps->classes[ci][k] = (uint8_t)~ps->classes[ci][k];
    return re_new(ps, N_CLASS, ci, 0);
}

static int parse_atom(re_parser *ps) {
    char c = *ps->p;
    switch (c) {
    case '(': {
        ps->p++;
        if (ps->p[0] == '?' && ps->p[1] == ':') ps->p += 2;
        if (++ps->depth > 200) return re_fail(ps, "nesting too deep");
        int n = parse_alt(ps);
        ps->depth--;
        if (n < 0) return -1;
        if (*ps->p != ')') return re_fail(ps, "missing )");
        ps->p++;
        return n;
    }
    case '[': ps->p++; return parse_class(ps);
    case '.': ps->p++; return re_new(ps, N_ANY, 0, 0);
    case '^': ps->p++; return re_new(ps, N_BOL, 0, 0);
    case '$': ps->p++; return re_new(ps, N_EOL, 0, 0);
    case '*': case '+': case '?': return re_fail(ps, "nothing to repeat");
    case '\\': {
        char e = ps->p[1];
        if (!e) return re_fail(ps, "trailing backslash");
        ps->p += 2;
        char l = (char)(e | 0x20);
        if (l == 'd' || l == 'w' || l == 's') {
            int ci = re_new_class(ps);
            if (ci < 0) return -1;
            cls_add_escape(ps->classes[ci], e);
            return re_new(ps, N_CLASS, ci, 0);
        }
        int lit = escape_literal(e);
        if (lit < 0) {
            ps->p--;
            return re_fail(ps, "unsupported escape");
        }
        return re_new(ps, N_CHAR, lit, 0);
    }
    default: ps->p++; return re_new(ps, N_CHAR, (unsigned char)c, 0);
    }
}

/* Parses "{m}", "{m,}" or "{m,n}" at ps->p; false (nothing consumed) when
 * the brace does not start a valid quantifier (then it is a literal). */
static bool parse_braces(re_parser *ps, int *mn, int *mx) {
    const char *q = ps->p + 1;
    if (*q < '0' || *q > '9') return false;
    long a = 0, b;
    while (*q >= '0' && *q <= '9' && a < 100000) a = a * 10 + (*q++ - '0');
    if (*q == '}') {
        b = a;
    } else if (*q == ',') {
        q++;
        if (*q == '}') {
            b = -1;
        } else {
            if (*q < '0' || *q > '9') return false;
            b = 0;
            while (*q >= '0' && *q <= '9' && b < 100000) b = b * 10 + (*q++ - '0');
            if (*q != '}') return false;
        }
    } else {
        return false;
    }
    ps->p = q + 1;
    *mn = (int)a;
    *mx = (int)b;
    return true;
}

/* Copies the subtree at n (for counted repetition). */
static int re_clone(re_parser *ps, int n) {
    re_node nd = ps->nodes[n];
    if (nd.kind == N_CAT || nd.kind == N_ALT) {
        int a = re_clone(ps, nd.a), b = re_clone(ps, nd.b);
        if (a < 0 || b < 0) return -1;
        return re_new(ps, nd.kind, a, b);
    }
    if (nd.kind == N_STAR || nd.kind == N_PLUS || nd.kind == N_QUEST) {
        int a = re_clone(ps, nd.a);
        if (a < 0) return -1;
        return re_new(ps, nd.kind, a, 0);
    }
    return re_new(ps, nd.kind, nd.a, nd.b);
}

/* Expands atom{mn,mx} into concatenations of copies. */
static int re_counted(re_parser *ps, int atom, int mn, int mx) {
    if (mx >= 0 && mx < mn) return re_fail(ps, "bad {m,n} (n < m)");
    if (mn > RE_MAX_REPEAT || mx > RE_MAX_REPEAT) return re_fail(ps, "repeat count too large");
    int res = -1;
    for (int k = 0; k < mn; k++) {
        int c = k == 0 ? atom : re_clone(ps, atom);
        if (c < 0) return -1;
        res = res < 0 ? c : re_new(ps, N_CAT, res, c);
    }
    if (mx < 0) {
        int c = mn == 0 ? atom : re_clone(ps, atom);
        if (c < 0) return -1;
        int s = re_new(ps, N_STAR, c, 0);
        res = res < 0 ? s : re_new(ps, N_CAT, res, s);
    } else {
        for (int k = mn; k < mx; k++) {
            int c = k == 0 ? atom : re_clone(ps, atom);
            if (c < 0) return -1;
            int q = re_new(ps, N_QUEST, c, 0);
            res = res < 0 ? q : re_new(ps, N_CAT, res, q);
        }
    }
    return res < 0 ? re_new(ps, N_EMPTY, 0, 0) : res;
}

static int parse_repeat(re_parser *ps) {
    int n = parse_atom(ps);
    while (n >= 0) {
        char c = *ps->p;
        int mn, mx;
        if (c == '*' || c == '+' || c == '?') {
            ps->p++;
            n = re_new(ps, c == '*' ? N_STAR : c == '+' ? N_PLUS : N_QUEST, n, 0);
        } else if (c == '{' && parse_braces(ps, &mn, &mx)) {
            n = re_counted(ps, n, mn, mx);
        } else {
            break;
        }
        if (*ps->p == '?') ps->p++; /* lazy quantifier: same language for a yes/no search */
    }
    return n;
}

static int parse_cat(re_parser *ps) {
    int res = -1;
    while (*ps->p && *ps->p != '|' && *ps->p != ')') {
        int n = parse_repeat(ps);
        if (n < 0) return -1;
        res = res < 0 ? n : re_new(ps, N_CAT, res, n);
        if (res < 0) return -1;
    }
    return res < 0 ? re_new(ps, N_EMPTY, 0, 0) : res;
}

static int parse_alt(re_parser *ps) {
    int left = parse_cat(ps);
    while (left >= 0 && *ps->p == '|') {
        ps->p++;
        int right = parse_cat(ps);
        if (right < 0) return -1;
        left = re_new(ps, N_ALT, left, right);
    }
    return left;
}

typedef struct re_compiler {
    re_parser *ps;
    re_inst *prog;
    int n;
} re_compiler;

static int emit(re_compiler *c, int op, int x, int y) {
    if (c->n >= RE_MAX_PROG) return -1;
    c->prog[c->n].op = op;
    c->prog[c->n].x = x;
    c->prog[c->n].y = y;
    return c->n++;
}

/* Emits code for the subtree n; false when the program grows too large. */
static bool compile_node(re_compiler *c, int n) {
    re_node nd = c->ps->nodes[n];
    int s, j;
    switch (nd.kind) {
    case N_EMPTY: return true;
    case N_CHAR: return emit(c, I_CHAR, nd.a, 0) >= 0;
    case N_ANY: return emit(c, I_ANY, 0, 0) >= 0;
    case N_CLASS: return emit(c, I_CLASS, nd.a, 0) >= 0;
    case N_BOL: return emit(c, I_BOL, 0, 0) >= 0;
    case N_EOL: return emit(c, I_EOL, 0, 0) >= 0;
    case N_CAT: return compile_node(c, nd.a) && compile_node(c, nd.b);
    case N_ALT:
        if ((s = emit(c, I_SPLIT, 0, 0)) < 0) return false;
        c->prog[s].x = c->n;
        if (!compile_node(c, nd.a) || (j = emit(c, I_JMP, 0, 0)) < 0) return false;
        c->prog[s].y = c->n;
        if (!compile_node(c, nd.b)) return false;
        c->prog[j].x = c->n;
        return true;
    case N_STAR:
        if ((s = emit(c, I_SPLIT, 0, 0)) < 0) return false;
        c->prog[s].x = c->n;
        if (!compile_node(c, nd.a) || emit(c, I_JMP, s, 0) < 0) return false;
        c->prog[s].y = c->n;
        return true;
    case N_PLUS: {
        int start = c->n;
        if (!compile_node(c, nd.a) || (s = emit(c, I_SPLIT, start, 0)) < 0) return false;
        c->prog[s].y = c->n;
        return true;
    }
    case N_QUEST:
        if ((s = emit(c, I_SPLIT, 0, 0)) < 0) return false;
        c->prog[s].x = c->n;
        if (!compile_node(c, nd.a)) return false;
        c->prog[s].y = c->n;
        return true;
    default: return false;
    }
}

qtk_status qtk_regex_compile(const char *pattern, qtk_regex **out, qtk_error *err) {
    *out = NULL;
    if (!pattern) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad regex: NULL pattern");
    re_parser ps;
    memset(&ps, 0, sizeof ps);
    ps.pat = pattern;
    ps.p = pattern;
    ps.err = err;
    ps.st = QTK_OK;
    ps.nodes = (re_node *)malloc(sizeof(re_node) * RE_MAX_NODES);
    re_compiler c = {&ps, (re_inst *)malloc(sizeof(re_inst) * RE_MAX_PROG), 0};
    qtk_regex *re = (qtk_regex *)calloc(1, sizeof *re);
    if (!ps.nodes || !c.prog || !re) {
        free(ps.nodes);
        free(c.prog);
        free(re);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    int root = parse_alt(&ps);
    if (root >= 0 && *ps.p == ')') root = re_fail(&ps, "unmatched )");
    if (root >= 0 && (!compile_node(&c, root) || emit(&c, I_MATCH, 0, 0) < 0)) root = re_fail(&ps, "pattern too complex");
    free(ps.nodes);
    if (root < 0) {
        free(c.prog);
        free(ps.classes);
        free(re);
        return ps.st != QTK_OK ? ps.st : qtk_set_error(err, QTK_ERR_INVALID_ARG, "bad regex '%s'", pattern);
    }
    re->prog = c.prog;
    re->n_prog = c.n;
    re->classes = ps.classes;
    re->n_classes = ps.n_classes;
    *out = re;
    return QTK_OK;
}

void qtk_regex_free(qtk_regex *re) {
    if (!re) return;
    free(re->prog);
    free(re->classes);
    free(re);
}

typedef struct re_list {
    int *pc;
    int n;
} re_list;

/* Adds pc and everything reachable from it by empty moves at position pos
 * of a string of length len; true if MATCH was reached. */
static bool add_thread(const qtk_regex *re, re_list *l, int *mark, int gen, int *stack, int pc, size_t pos,
                       size_t len) {
    int sp = 0;
    stack[sp++] = pc;
    while (sp > 0) {
        int p = stack[--sp];
        if (mark[p] == gen) continue;
        mark[p] = gen;
        const re_inst *in = &re->prog[p];
        switch (in->op) {
        case I_MATCH: return true;
        case I_JMP: stack[sp++] = in->x; break;
        case I_SPLIT:
            stack[sp++] = in->y;
            stack[sp++] = in->x;
            break;
        case I_BOL:
            if (pos == 0) stack[sp++] = p + 1;
            break;
        case I_EOL:
            if (pos == len) stack[sp++] = p + 1;
            break;
        default: l->pc[l->n++] = p; break;
        }
    }
    return false;
}

bool qtk_regex_search(const qtk_regex *re, const char *s) {
    if (!re || !s) return false;
    int np = re->n_prog;
    /* one allocation: two thread lists, marks, and the epsilon stack (each
     * state is pushed at most twice per closure, so 2*np bounds it) */
    int *mem = (int *)malloc(sizeof(int) * (size_t)np * 6);
    if (!mem) return false;
    re_list cur = {mem, 0}, nxt = {mem + np, 0};
    int *mark = mem + 2 * np, *stack = mem + 3 * np;
    for (int k = 0; k < np; k++) mark[k] = -1;
    size_t len = strlen(s);
    bool found = false;
    int gen = 0;
    for (size_t pos = 0; !found; pos++) {
        /* search semantics: a new attempt starts at every position */
        if (add_thread(re, &cur, mark, gen, stack, 0, pos, len)) {
            found = true;
            break;
        }
        if (pos == len) break;
        unsigned char ch = (unsigned char)s[pos];
        gen++;
        nxt.n = 0;
        for (int k = 0; k < cur.n && !found; k++) {
            const re_inst *in = &re->prog[cur.pc[k]];
            bool ok = false;
            if (in->op == I_CHAR) ok = in->x == ch;
            else if (in->op == I_ANY) ok = ch != '\n';
            else if (in->op == I_CLASS) ok = (re->classes[in->x][ch >> 3] >> (ch & 7)) & 1;
            if (ok && add_thread(re, &nxt, mark, gen, stack, cur.pc[k] + 1, pos + 1, len)) found = true;
        }
        re_list t = cur;
        cur = nxt;
        nxt = t;
    }
    free(mem);
    return found;
}
