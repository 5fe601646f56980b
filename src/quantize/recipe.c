/*
 * recipe.c — the recipe language: parsing recipe text into rules, printing a
 * recipe back as canonical text, and adding --custom-q rules. Built-in
 * presets are produced as recipe text by presets.c and parsed here too, so
 * there is one mechanism. Language reference: docs/recipes.md.
 */
#include "quantize_internal.h"

#include <ctype.h>
#include <stdlib.h>

/* Whether t may be a recipe result: a type that can be stored in a model file. */
static bool usable_type(int t) {
    const qtk_type_traits *tr = qtk_type_get(t);
    return tr && tr->file_type && !tr->is_integer;
}

qtk_status qtk_recipe_type_from_name(const char *name, const char *where, int *out, qtk_error *err) {
    int t = qtk_type_from_name(name);
    if (t >= 0 && usable_type(t)) {
        *out = t;
        return QTK_OK;
    }
    char list[QTK_ERROR_MSG_MAX];
    size_t u = 0;
    list[0] = '\0';
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (!usable_type((int)tr->id) || tr->interleaved) continue;
        int w = snprintf(list + u, sizeof list - u, "%s%s", u ? " " : "", tr->name);
        if (w < 0 || (size_t)w >= sizeof list - u) break;
        u += (size_t)w;
    }
    return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%sunknown type '%s'; valid types: %s", where ? where : "", name,
                         list);
}

/* ---- recipe objects ---------------------------------------------------------- */

static void rule_clear(qtk_recipe_rule *r) {
    free(r->pattern);
    qtk_regex_free(r->re);
    qtk_layer_spec_clear(&r->layers);
    qtk_cond_free(r->cond);
    memset(r, 0, sizeof *r);
}

void qtk_recipe_free(qtk_recipe *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n; i++) {
        free(r->lines[i].text);
        rule_clear(&r->lines[i].rule);
    }
    free(r->lines);
    free(r->requires);
    free(r->origin);
    free(r);
}

static qtk_recipe *recipe_new(const char *origin) {
    qtk_recipe *r = (qtk_recipe *)calloc(1, sizeof *r);
    if (!r) return NULL;
    r->origin = qtk_strdup(origin ? origin : "recipe");
    r->requires = (bool *)calloc(QTK_TYPE_ID_LIMIT, sizeof(bool));
    if (!r->origin || !r->requires) {
        qtk_recipe_free(r);
        return NULL;
    }
    r->default_type = -1;
    r->file_type = -1;
    /* types that need an imatrix entry unless the recipe says otherwise (MIXES §3 step 7) */
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
        const qtk_type_traits *tr = qtk_type_get(t);
        if (tr && tr->plan_requires_imatrix) r->requires[t] = true;
    }
    return r;
}

/* Inserts a zeroed line at position pos; NULL when out of memory. */
static qtk_recipe_line *insert_line(qtk_recipe *r, int64_t pos) {
    if (r->n == r->cap) {
        int64_t nc = r->cap ? r->cap * 2 : 32;
        qtk_recipe_line *p = (qtk_recipe_line *)realloc(r->lines, (size_t)nc * sizeof *p);
        if (!p) return NULL;
        r->lines = p;
        r->cap = nc;
    }
    memmove(r->lines + pos + 1, r->lines + pos, (size_t)(r->n - pos) * sizeof *r->lines);
    memset(&r->lines[pos], 0, sizeof r->lines[pos]);
    r->n++;
    return &r->lines[pos];
}

/* ---- parsing ------------------------------------------------------------------- */

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t l = strlen(s);
    while (l > 0 && isspace((unsigned char)s[l - 1])) s[--l] = '\0';
    return s;
}

/* Finds a whitespace-delimited keyword w in s; returns its start or NULL. */
static char *find_word(char *s, const char *w) {
    size_t l = strlen(w);
    for (char *p = s; (p = strstr(p, w)) != NULL; p++) {
        bool before = p == s || isspace((unsigned char)p[-1]);
        bool after = p[l] == '\0' || isspace((unsigned char)p[l]);
        if (before && after) return p;
    }
    return NULL;
}

/* Parses the rule text "PATTERN [@ LAYERS] [if COND]" and the result word. */
static qtk_status parse_rule(char *lhs, const char *res, qtk_recipe_rule *rule, const char *where, qtk_error *err) {
    qtk_status st;
    if (!strcmp(res, "keep")) {
        rule->result = QTK_RESULT_KEEP;
    } else if (!strcmp(res, "copy")) {
        rule->result = QTK_RESULT_COPY;
    } else if ((st = qtk_recipe_type_from_name(res, where, &rule->result, err)) != QTK_OK) {
        return st;
    }
    lhs = trim(lhs);
    if (!strncmp(lhs, "force", 5) && isspace((unsigned char)lhs[5])) {
        rule->force = true;
        lhs = trim(lhs + 5);
    }
    if (!*lhs) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%smissing pattern before '='", where);
    /* the pattern is the first word; '@' and 'if' clauses follow */
    char *sp = lhs;
    while (*sp && !isspace((unsigned char)*sp)) sp++;
    char *rest = *sp ? sp + 1 : sp;
    *sp = '\0';
    if (!strcmp(lhs, "@") || !strcmp(lhs, "if"))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%smissing pattern before '%s'", where, lhs);
    rule->pattern = qtk_strdup(lhs);
    if (!rule->pattern) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    if ((st = qtk_regex_compile(lhs, &rule->re, err)) != QTK_OK) {
        char msg[QTK_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return qtk_set_error(err, st, "%s%s", where, msg);
    }
    rest = trim(rest);
    char *cond = NULL;
    if (!strncmp(rest, "if", 2) && (isspace((unsigned char)rest[2]) || rest[2] == '(' || rest[2] == '!')) {
        cond = rest + 2;
        rest = (char *)"";
    } else if (*rest == '@') {
        char *iff = find_word(rest + 1, "if");
        if (iff) {
            *iff = '\0';
            cond = iff + 2;
        }
        rule->has_layers = true;
        if ((st = qtk_layer_spec_parse(rest + 1, &rule->layers, err)) != QTK_OK) {
            char msg[QTK_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            return qtk_set_error(err, st, "%s%s", where, msg);
        }
        rest = (char *)"";
    }
    if (*rest)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%sunexpected '%s' after the pattern (a pattern has no spaces; then '@ LAYERS', "
                             "'if CONDITION', '= TYPE')",
                             where, rest);
    if (cond) {
        cond = trim(cond);
        if (!*cond) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%sempty condition after 'if'", where);
        if ((st = qtk_cond_parse(cond, &rule->cond, err)) != QTK_OK) {
            char msg[QTK_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            return qtk_set_error(err, st, "%s%s", where, msg);
        }
    }
    return QTK_OK;
}

/* Parses one line (comment already stripped into `code`) into r. */
static qtk_status parse_line(qtk_recipe *r, char *code, const char *full, int line_no, qtk_error *err) {
    char where[300];
    snprintf(where, sizeof where, "%s:%d: ", r->origin, line_no);
    code = trim(code);
    qtk_recipe_line *ln;
    if (!*code) {
        if (!(ln = insert_line(r, r->n))) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        ln->kind = QTK_LINE_TEXT;
        ln->text = qtk_strdup(full);
        return ln->text ? QTK_OK : qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    char *eq = strrchr(code, '=');
    char *word_end = code;
    while (*word_end && !isspace((unsigned char)*word_end) && *word_end != '=') word_end++;
    size_t wl = (size_t)(word_end - code);
    bool is_default = wl == 7 && !strncmp(code, "default", 7);
    bool is_ftype = wl == 9 && !strncmp(code, "file_type", 9);
    bool is_req = wl == 16 && !strncmp(code, "requires_imatrix", 16);
    bool is_compat = wl == 6 && !strncmp(code, "compat", 6);
    if (is_compat) {
        /* "compat mainline": the recipe must give a file stock llama.cpp loads */
        char *val = trim(word_end);
        if (*val == '=') val = trim(val + 1);
        if (strcmp(val, "mainline") != 0)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s'compat' takes 'mainline', not '%s'", where, val);
        if (r->mainline) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%sa second 'compat' line", where);
        if (!(ln = insert_line(r, r->n))) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        ln->kind = QTK_LINE_COMPAT;
        r->mainline = true;
        return QTK_OK;
    }
    if (is_default || is_ftype || is_req) {
        char *val = trim(word_end);
        if (*val == '=') val = trim(val + 1);
        if (!*val) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s'%.*s' needs a value", where, (int)wl, code);
        if (!(ln = insert_line(r, r->n))) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        if (is_default) {
            ln->kind = QTK_LINE_DEFAULT;
            if (r->default_type != -1)
                return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%sa second 'default' line", where);
            if (!strcmp(val, "copy")) {
                r->default_type = QTK_RESULT_COPY;
                return QTK_OK;
            }
            return qtk_recipe_type_from_name(val, where, &r->default_type, err);
        }
        if (is_ftype) {
            ln->kind = QTK_LINE_FILE_TYPE;
            int ft = qtk_preset_ftype_from_name(val);
            if (ft < 0)
                return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                     "%sfile_type '%s' is neither a preset name nor a number", where, val);
            r->file_type = ft;
            return QTK_OK;
        }
        ln->kind = QTK_LINE_REQUIRES;
        r->requires_given = true;
        memset(r->requires, 0, QTK_TYPE_ID_LIMIT * sizeof(bool));
        if (!strcmp(val, "none")) return QTK_OK;
        for (char *tok = val; *tok;) {
            char *e = tok;
            while (*e && !isspace((unsigned char)*e)) e++;
            char save = *e;
            *e = '\0';
            int t;
            qtk_status st = qtk_recipe_type_from_name(tok, where, &t, err);
            if (st != QTK_OK) return st;
            r->requires[t] = true;
            *e = save;
            tok = trim(e);
        }
        return QTK_OK;
    }
    if (!eq)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%sexpected 'PATTERN [@ LAYERS] [if CONDITION] = TYPE', 'default TYPE', "
                             "'file_type PRESET' or 'requires_imatrix TYPES'",
                             where);
    char *res = trim(eq + 1);
    *eq = '\0';
    if (!*res) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%smissing type after '='", where);
    for (const char *c = res; *c; c++)
        if (isspace((unsigned char)*c))
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%sone type expected after '=', got '%s'", where, res);
    if (!(ln = insert_line(r, r->n))) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    ln->kind = QTK_LINE_RULE;
    ln->rule.line = line_no;
    return parse_rule(code, res, &ln->rule, where, err);
}

qtk_status qtk_recipe_parse(const char *text, const char *origin, qtk_recipe **out, qtk_error *err) {
    *out = NULL;
    if (!text) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "recipe text is NULL");
    qtk_recipe *r = recipe_new(origin);
    if (!r) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    qtk_status st = QTK_OK;
    int line_no = 0;
    const char *p = text;
    while (*p && st == QTK_OK) {
        line_no++;
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        const size_t advance = l; /* l loses a trailing '\r' below; the next line starts after it */
        char *full = (char *)malloc(l + 1), *code = (char *)malloc(l + 1);
        if (!full || !code) {
            free(full);
            free(code);
            st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(full, p, l);
        full[l] = '\0';
        if (l && full[l - 1] == '\r') full[--l] = '\0';
        memcpy(code, full, l + 1);
        /* '#' starts a comment at the line start or after whitespace */
        for (size_t k = 0; k < l; k++)
            if (code[k] == '#' && (k == 0 || isspace((unsigned char)code[k - 1]))) {
                code[k] = '\0';
                break;
            }
        bool comment_only = trim(code)[0] == '\0';
        if (comment_only) {
            /* a comment or blank line is kept verbatim (text reproduces it) */
            qtk_recipe_line *ln = insert_line(r, r->n);
            if (!ln) st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            else {
                ln->kind = QTK_LINE_TEXT;
                ln->text = qtk_strdup(trim(full));
                if (!ln->text) st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            }
        } else {
            st = parse_line(r, code, full, line_no, err);
        }
        free(full);
        free(code);
        p = e ? e + 1 : p + advance;
    }
    if (st == QTK_OK && r->default_type == -1)
        st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: no 'default TYPE' line", r->origin);
    if (st == QTK_OK && r->mainline) st = qtk_recipe_check_mainline(r, err);
    if (st != QTK_OK) {
        qtk_recipe_free(r);
        return st;
    }
    /* a trailing newline produces no extra blank line */
    *out = r;
    return QTK_OK;
}

qtk_status qtk_recipe_check_mainline(const qtk_recipe *r, qtk_error *err) {
    if (r->default_type >= 0 && !qtk_type_is_mainline(r->default_type))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%s: --compat mainline: default type %s is ik_llama.cpp-only (stock llama.cpp cannot "
                             "load it)",
                             r->origin, qtk_type_name(r->default_type));
    for (int64_t k = 0; k < r->n; k++) {
        const qtk_recipe_rule *rule = &r->lines[k].rule;
        if (r->lines[k].kind != QTK_LINE_RULE || rule->result < 0 || qtk_type_is_mainline(rule->result)) continue;
        char *text = qtk_recipe_rule_text(rule);
        qtk_status st;
        if (rule->source)
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "%s: --compat mainline: rule '%s' names %s, an ik_llama.cpp-only type (stock llama.cpp "
                               "cannot load it)",
                               rule->source, text ? text : rule->pattern, qtk_type_name(rule->result));
        else
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "%s:%d: --compat mainline: rule '%s' names %s, an ik_llama.cpp-only type (stock "
                               "llama.cpp cannot load it)",
                               r->origin, rule->line, text ? text : rule->pattern, qtk_type_name(rule->result));
        free(text);
        return st;
    }
    return QTK_OK;
}

qtk_status qtk_recipe_add_custom(qtk_recipe *r, const char *pattern, int type, qtk_error *err) {
    if (!r || !pattern) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "custom rule: NULL argument");
    if (!usable_type(type) && type != QTK_RESULT_COPY)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "custom rule '%s': type id %d is not a file type", pattern,
                             type);
    if (r->mainline && type >= 0) {
        const qtk_type_traits *tr = qtk_type_get(type);
        if (!tr || !(tr->ecosystems & QTK_ECO_LLAMA_CPP))
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "custom rule '%s': --compat mainline: %s is an ik_llama.cpp-only type (stock "
                                 "llama.cpp cannot load it)",
                                 pattern, qtk_type_name(type));
    }
    for (const char *c = pattern; *c; c++)
        if (isspace((unsigned char)*c) || *c == '#')
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "custom rule '%s': patterns may not contain spaces or '#'", pattern);
    if (!*pattern) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "custom rule: empty pattern");
    qtk_regex *re = NULL;
    qtk_status st = qtk_regex_compile(pattern, &re, err);
    if (st != QTK_OK) return st;
    char *pat = qtk_strdup(pattern);
    /* custom rules go before every rule of the recipe (after earlier custom
     * rules): the first match wins and they override the preset (MIXES §3.3) */
    int64_t pos = 0;
    int64_t seen = 0;
    for (pos = 0; pos < r->n; pos++) {
        if (r->lines[pos].kind != QTK_LINE_RULE) continue;
        if (seen == r->n_added) break;
        seen++;
    }
    qtk_recipe_line *ln = pat ? insert_line(r, pos) : NULL;
    if (!ln) {
        free(pat);
        qtk_regex_free(re);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    }
    ln->kind = QTK_LINE_RULE;
    ln->rule.pattern = pat;
    ln->rule.re = re;
    ln->rule.result = type;
    ln->rule.source = "--custom-q";
    r->n_added++;
    return QTK_OK;
}

int qtk_recipe_file_type(const qtk_recipe *r) {
    if (!r) return -1;
    if (r->file_type >= 0) return r->file_type;
    return qtk_preset_ftype_for_type(r->default_type);
}

int qtk_recipe_default_type(const qtk_recipe *r) { return r ? r->default_type : -1; }

/* ---- printing ----------------------------------------------------------------- */

typedef struct tbuf {
    char *p;
    size_t n, cap;
    bool oom;
} tbuf;

static void tb_puts(tbuf *b, const char *s) {
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

static const char *result_name(int t) {
    return t == QTK_RESULT_KEEP ? "keep" : t == QTK_RESULT_COPY ? "copy" : qtk_type_name(t);
}

/* Appends the canonical text of a layer spec. */
static void print_layers(tbuf *b, const qtk_layer_spec *s) {
    char tmp[64];
    if (s->seq) tb_puts(b, "seq ");
    for (int k = 0; k < s->n; k++) {
        const qtk_layer_item *it = &s->items[k];
        if (k) tb_puts(b, ",");
        switch (it->kind) {
        case QTK_LAYERS_RANGE:
            if (it->a == it->b) snprintf(tmp, sizeof tmp, "%lld", (long long)it->a);
            else snprintf(tmp, sizeof tmp, "%lld-%lld", (long long)it->a, (long long)it->b);
            break;
        case QTK_LAYERS_FIRST:
        case QTK_LAYERS_LAST:
            if (it->b) snprintf(tmp, sizeof tmp, "%s:%lld/%lld", it->kind == QTK_LAYERS_FIRST ? "first" : "last",
                                (long long)it->a, (long long)it->b);
            else snprintf(tmp, sizeof tmp, "%s:%lld", it->kind == QTK_LAYERS_FIRST ? "first" : "last", (long long)it->a);
            break;
        case QTK_LAYERS_MORE_BITS: snprintf(tmp, sizeof tmp, "more_bits"); break;
        case QTK_LAYERS_FRAC: snprintf(tmp, sizeof tmp, "frac:%lld/8", (long long)it->a); break;
        }
        tb_puts(b, tmp);
    }
}

char *qtk_recipe_rule_text(const qtk_recipe_rule *rule) {
    tbuf b = {NULL, 0, 0, false};
    tb_puts(&b, rule->force ? "force " : "");
    tb_puts(&b, rule->pattern);
    if (rule->has_layers) {
        tb_puts(&b, " @ ");
        print_layers(&b, &rule->layers);
    }
    if (rule->cond) {
        char *c = qtk_cond_text(rule->cond);
        tb_puts(&b, " if ");
        tb_puts(&b, c ? c : "?");
        free(c);
    }
    tb_puts(&b, " = ");
    tb_puts(&b, result_name(rule->result));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

char *qtk_recipe_text(const qtk_recipe *r) {
    if (!r) return NULL;
    tbuf b = {NULL, 0, 0, false};
    tb_puts(&b, "");
    char tmp[64];
    for (int64_t i = 0; i < r->n; i++) {
        const qtk_recipe_line *ln = &r->lines[i];
        switch (ln->kind) {
        case QTK_LINE_TEXT: tb_puts(&b, ln->text); break;
        case QTK_LINE_DEFAULT:
            tb_puts(&b, "default ");
            tb_puts(&b, result_name(r->default_type));
            break;
        case QTK_LINE_FILE_TYPE:
            snprintf(tmp, sizeof tmp, "file_type %d", r->file_type);
            tb_puts(&b, tmp);
            break;
        case QTK_LINE_COMPAT: tb_puts(&b, "compat mainline"); break;
        case QTK_LINE_REQUIRES: {
            tb_puts(&b, "requires_imatrix");
            int cnt = 0;
            for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++)
                if (r->requires[t]) {
                    tb_puts(&b, " ");
                    tb_puts(&b, qtk_type_name(t));
                    cnt++;
                }
            if (!cnt) tb_puts(&b, " none");
            break;
        }
        case QTK_LINE_RULE: {
            char *s = qtk_recipe_rule_text(&ln->rule);
            if (!s) b.oom = true;
            else tb_puts(&b, s);
            free(s);
            break;
        }
        }
        tb_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
