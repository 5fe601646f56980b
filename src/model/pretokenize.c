/*
 * pretokenize.c — the BPE pre-tokenizers: how text is cut into words before
 * the merges, per tokenizer.ggml.pre. Each model family defines its split by
 * one or more regular expressions, applied one after the other: every
 * expression cuts every current piece into its matches and the text between
 * them (both kept as pieces), and look-arounds and `$` see only the piece.
 * Instead of a regex engine, each expression has a hand-written matcher
 * below that returns the length of the match at a position the way a
 * backtracking engine with ordered alternation would (first alternative that
 * matches wins; greedy repeats give back only what the rest needs).
 *
 * Classes: \p{L}/\p{N}/\p{P} are Unicode general-category groups, \s is the
 * White_Space property (unicode_tables.c). Expressions written with literal
 * code-point ranges compare the code point itself, with non-ASCII white
 * space seen as U+000B, as llama.cpp does for them.
 */
#include "tokenizer_bpe.h"
#include "unicode_tables.h"

#include <stdlib.h>

bool qtk_pre_type_from_name(const char *name, qtk_pre_type *type, bool *llama3_like) {
    static const struct {
        const char *name;
        qtk_pre_type type;
    } names[] = {
        {"default", QTK_PRE_DEFAULT},          {"gpt-2", QTK_PRE_GPT2},
        {"mpt", QTK_PRE_GPT2},                 {"olmo", QTK_PRE_GPT2},
        {"phi-2", QTK_PRE_GPT2},               {"jina-es", QTK_PRE_GPT2},
        {"jina-de", QTK_PRE_GPT2},             {"llama3", QTK_PRE_LLAMA3},
        {"llama-v3", QTK_PRE_LLAMA3},          {"llama-bpe", QTK_PRE_LLAMA3},
        {"dbrx", QTK_PRE_LLAMA3},              {"smaug-bpe", QTK_PRE_LLAMA3},
        {"qwen2", QTK_PRE_QWEN2},              {"stablelm2", QTK_PRE_QWEN2},
        {"deepseek-r1-qwen", QTK_PRE_QWEN2},   {"deepseek-llm", QTK_PRE_DEEPSEEK_LLM},
        {"deepseek-coder", QTK_PRE_DEEPSEEK_CODER}, {"falcon", QTK_PRE_FALCON},
        {"starcoder", QTK_PRE_STARCODER},      {"refact", QTK_PRE_STARCODER},
        {"command-r", QTK_PRE_STARCODER},      {"smollm", QTK_PRE_STARCODER},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *type = names[i].type;
            /* llama3 vocabularies only: dbrx/smaug share the split, not the flags */
            *llama3_like = names[i].type == QTK_PRE_LLAMA3 && strncmp(name, "llama", 5) == 0;
            return true;
        }
    }
    return false;
}

void qtk_pre_scratch_free(qtk_pre_scratch *s) {
    free(s->cls);
    free(s->ends[0]);
    free(s->ends[1]);
    memset(s, 0, sizeof *s);
}

/* ---- character classes ------------------------------------------------------ */

typedef struct pre_ctx {
    const uint32_t *cpt;
    const uint8_t *cls;
} pre_ctx;

#define GRP(c, i) ((c)->cls[i] & QTK_UC_GROUP)
static bool is_l(const pre_ctx *c, size_t i) { return GRP(c, i) == QTK_UC_LETTER; }
static bool is_n(const pre_ctx *c, size_t i) { return GRP(c, i) == QTK_UC_NUMBER; }
static bool is_p(const pre_ctx *c, size_t i) { return GRP(c, i) == QTK_UC_PUNCT; }
static bool is_s(const pre_ctx *c, size_t i) { return (c->cls[i] & QTK_UC_SPACE) != 0; }
static bool is_nl(const pre_ctx *c, size_t i) { return c->cpt[i] == '\r' || c->cpt[i] == '\n'; }
/* [^\s\p{L}\p{N}] */
static bool is_other(const pre_ctx *c, size_t i) { return !is_s(c, i) && !is_l(c, i) && !is_n(c, i); }
/* The code point as the literal-range expressions see it. */
static uint32_t wide(const pre_ctx *c, size_t i) { return c->cpt[i] > 0x7F && is_s(c, i) ? 0x0B : c->cpt[i]; }

typedef bool (*class_fn)(const pre_ctx *c, size_t i);

/* End of the run of class-f code points starting at p (p itself if none). */
static size_t run(const pre_ctx *c, size_t p, size_t e, class_fn f) {
    while (p < e && f(c, p)) p++;
    return p;
}

/* `\s?X+` (opt = is_s) or ` ?X+` (opt = is_space_char): match length at p. */
static size_t opt_then_run(const pre_ctx *c, size_t p, size_t e, class_fn opt, class_fn f) {
    if (f(c, p)) return run(c, p, e, f) - p;
    if (opt(c, p) && p + 1 < e && f(c, p + 1)) return run(c, p + 1, e, f) - p;
    return 0;
}

static bool is_space_char(const pre_ctx *c, size_t i) { return c->cpt[i] == ' '; }

/* `\s+(?!\S)`: the white-space run, minus its last character when
 * something other than white space follows it inside the piece. */
static size_t ws_not_before_nonspace(const pre_ctx *c, size_t p, size_t e) {
    size_t q = run(c, p, e, is_s);
    if (q == p) return 0;
    if (q == e) return q - p;
    return q - p >= 2 ? q - p - 1 : 0;
}

/* ---- the expressions -------------------------------------------------------- */

typedef size_t (*matcher_fn)(const pre_ctx *c, size_t p, size_t e);

static uint32_t lower_ascii(uint32_t x) { return x >= 'A' && x <= 'Z' ? x + 32 : x; }

/* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive when ci). */
static size_t contraction(const pre_ctx *c, size_t p, size_t e, bool ci) {
    if (c->cpt[p] != '\'' || p + 1 >= e) return 0;
    uint32_t a = ci ? lower_ascii(c->cpt[p + 1]) : c->cpt[p + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (p + 2 >= e) return 0;
    uint32_t b = ci ? lower_ascii(c->cpt[p + 2]) : c->cpt[p + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static size_t m_gpt2(const pre_ctx *c, size_t p, size_t e) {
    size_t m;
    if ((m = contraction(c, p, e, false)) > 0) return m;
    if ((m = opt_then_run(c, p, e, is_space_char, is_l)) > 0) return m;
    if ((m = opt_then_run(c, p, e, is_space_char, is_n)) > 0) return m;
    if ((m = opt_then_run(c, p, e, is_space_char, is_other)) > 0) return m;
    return ws_not_before_nonspace(c, p, e);
}

static bool is_not_nl_l_n(const pre_ctx *c, size_t i) { return !is_nl(c, i) && !is_l(c, i) && !is_n(c, i); }

/* LLaMA-3 (max_digits 3) and Qwen2 (1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_llama3_like(const pre_ctx *c, size_t p, size_t e, size_t max_digits) {
    size_t m;
    if ((m = contraction(c, p, e, true)) > 0) return m;
    if ((m = opt_then_run(c, p, e, is_not_nl_l_n, is_l)) > 0) return m;
    if (is_n(c, p)) {
        size_t q = p;
        while (q < e && q - p < max_digits && is_n(c, q)) q++;
        return q - p;
    }
    if ((m = opt_then_run(c, p, e, is_space_char, is_other)) > 0) return run(c, p + m, e, is_nl) - p;
    size_t q = run(c, p, e, is_s);
    if (q == p) return 0;
    for (size_t k = q; k > p; k--)  /* \s*[\r\n]+ ends after the run's last newline */
        if (is_nl(c, k - 1)) return k - p;
    if ((m = ws_not_before_nonspace(c, p, e)) > 0) return m;
    return q - p;
}

static size_t m_llama3(const pre_ctx *c, size_t p, size_t e) { return m_llama3_like(c, p, e, 3); }
static size_t m_qwen2(const pre_ctx *c, size_t p, size_t e) { return m_llama3_like(c, p, e, 1); }

/* [\r\n] */
static size_t m_newline(const pre_ctx *c, size_t p, size_t e) {
    (void)e;
    return is_nl(c, p) ? 1 : 0;
}

/* \p{N} and \p{N}+ */
static size_t m_digit(const pre_ctx *c, size_t p, size_t e) {
    (void)e;
    return is_n(c, p) ? 1 : 0;
}
static size_t m_digits(const pre_ctx *c, size_t p, size_t e) { return run(c, p, e, is_n) - p; }

/* [0-9][0-9][0-9] */
static size_t m_three_ascii_digits(const pre_ctx *c, size_t p, size_t e) {
    if (p + 3 > e) return 0;
    for (size_t i = p; i < p + 3; i++)
        if (c->cpt[i] < '0' || c->cpt[i] > '9') return 0;
    return 3;
}

/* [\p{P}\$\+<=>\^~\|`]+ (falcon) and without the backquote (default). */
static bool is_p_or_ascii_sym(const pre_ctx *c, size_t i) {
    uint32_t x = c->cpt[i];
    return is_p(c, i) || x == '$' || x == '+' || x == '<' || x == '=' || x == '>' || x == '^' || x == '~' ||
           x == '|' || x == '`';
}
static bool is_p_or_ascii_sym_nobq(const pre_ctx *c, size_t i) { return c->cpt[i] != '`' && is_p_or_ascii_sym(c, i); }
static size_t m_punct_falcon(const pre_ctx *c, size_t p, size_t e) { return run(c, p, e, is_p_or_ascii_sym) - p; }
static size_t m_punct_default(const pre_ctx *c, size_t p, size_t e) {
    return run(c, p, e, is_p_or_ascii_sym_nobq) - p;
}

/* \s?\p{L}+ and \s?\p{P}+ (deepseek-coder) */
static size_t m_ws_letters(const pre_ctx *c, size_t p, size_t e) { return opt_then_run(c, p, e, is_s, is_l); }
static size_t m_ws_puncts(const pre_ctx *c, size_t p, size_t e) { return opt_then_run(c, p, e, is_s, is_p); }

/* [一-龥ࠀ-一가-퟿]+ */
static bool is_cjk_range(const pre_ctx *c, size_t i) {
    uint32_t x = wide(c, i);
    return (x >= 0x4E00 && x <= 0x9FA5) || (x >= 0x0800 && x <= 0x4E00) || (x >= 0xAC00 && x <= 0xD7FF);
}
static size_t m_cjk(const pre_ctx *c, size_t p, size_t e) { return run(c, p, e, is_cjk_range) - p; }

/* The letter set of deepseek-llm's second expression, as inclusive ranges. */
static const uint32_t ds_letters[][2] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

static bool in_ranges(uint32_t x, const uint32_t (*r)[2], size_t n) {
    size_t lo = 0, hi = n;  /* first range whose end >= x */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid][1] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && r[lo][0] <= x;
}

static bool is_ds_letter(const pre_ctx *c, size_t i) {
    return in_ranges(wide(c, i), ds_letters, sizeof ds_letters / sizeof ds_letters[0]);
}

/* [!-/:-~！-／：-～‘-‟　-。] */
static bool is_ds_punct(const pre_ctx *c, size_t i) {
    uint32_t x = wide(c, i);
    return (x >= 0x21 && x <= 0x2F) || (x >= 0x3A && x <= 0x7E) || (x >= 0xFF01 && x <= 0xFF0F) ||
           (x >= 0xFF1A && x <= 0xFF5E) || (x >= 0x2018 && x <= 0x201F) || (x >= 0x3000 && x <= 0x3002);
}

static size_t m_ds_letters(const pre_ctx *c, size_t p, size_t e) { return opt_then_run(c, p, e, is_s, is_ds_letter); }
static size_t m_ds_puncts(const pre_ctx *c, size_t p, size_t e) { return opt_then_run(c, p, e, is_s, is_ds_punct); }

/* \s+$ : only the white space that ends the piece (handled as a whole piece
 * below, since trying it position by position would be quadratic). */
static size_t m_trailing_ws(const pre_ctx *c, size_t p, size_t e) {
    return run(c, p, e, is_s) == e ? e - p : 0;
}

/* ---- driver ----------------------------------------------------------------- */

static bool grow(size_t **a, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    size_t *p = (size_t *)realloc(*a, cap2 * sizeof(size_t));
    if (!p) return false;
    *a = p;
    *cap = cap2;
    return true;
}

/* Applies one expression to every piece of src (n_src end offsets) into dst.
 * A piece of k code points becomes at most k pieces. */
static size_t split_pass(const pre_ctx *c, matcher_fn m, const size_t *src, size_t n_src, size_t *dst) {
    size_t nd = 0, s = 0;
    for (size_t f = 0; f < n_src; f++) {
        const size_t e = src[f];
        size_t last = s, p = s;
        if (m == m_trailing_ws) {  /* only the final white-space run can match */
            p = e;
            while (p > s && is_s(c, p - 1)) p--;
            if (p > s) dst[nd++] = p;
            if (p < e) dst[nd++] = e;
            s = e;
            continue;
        }
        while (p < e) {
            size_t len = m(c, p, e);
            if (len == 0) {
                p++;
                continue;
            }
            if (p > last) dst[nd++] = p;
            p += len;
            dst[nd++] = p;
            last = p;
        }
        if (last < e) dst[nd++] = e;
        s = e;
    }
    return nd;
}

bool qtk_pretokenize(qtk_pre_type type, const uint32_t *cpt, size_t n, qtk_pre_scratch *s, const size_t **ends,
                     size_t *n_words) {
    static const matcher_fn r_default[] = {m_punct_default, m_gpt2, m_digits, m_three_ascii_digits};
    static const matcher_fn r_gpt2[] = {m_gpt2};
    static const matcher_fn r_llama3[] = {m_llama3};
    static const matcher_fn r_qwen2[] = {m_qwen2};
    static const matcher_fn r_ds_llm[] = {m_newline, m_ds_letters, m_ds_puncts, m_trailing_ws, m_cjk, m_digits};
    static const matcher_fn r_ds_coder[] = {m_newline, m_ws_letters, m_ws_puncts, m_cjk, m_digit};
    static const matcher_fn r_falcon[] = {m_punct_falcon, m_gpt2, m_three_ascii_digits};
    static const matcher_fn r_starcoder[] = {m_digit, m_gpt2};
    const matcher_fn *rules;
    size_t n_rules;
#define USE(r) (rules = (r), n_rules = sizeof(r) / sizeof((r)[0]))
    switch (type) {
    case QTK_PRE_GPT2: USE(r_gpt2); break;
    case QTK_PRE_LLAMA3: USE(r_llama3); break;
    case QTK_PRE_QWEN2: USE(r_qwen2); break;
    case QTK_PRE_DEEPSEEK_LLM: USE(r_ds_llm); break;
    case QTK_PRE_DEEPSEEK_CODER: USE(r_ds_coder); break;
    case QTK_PRE_FALCON: USE(r_falcon); break;
    case QTK_PRE_STARCODER: USE(r_starcoder); break;
    case QTK_PRE_DEFAULT:
    default: USE(r_default); break;
    }
#undef USE
    *n_words = 0;
    *ends = NULL;
    if (n == 0) return true;
    if (n > s->cap_cls) {
        uint8_t *p = (uint8_t *)realloc(s->cls, n);
        if (!p) return false;
        s->cls = p;
        s->cap_cls = n;
    }
    if (!grow(&s->ends[0], &s->cap_ends[0], n) || !grow(&s->ends[1], &s->cap_ends[1], n)) return false;
    for (size_t i = 0; i < n; i++) s->cls[i] = qtk_uc_class(cpt[i]);
    pre_ctx c = {cpt, s->cls};
    int cur = 0;
    s->ends[0][0] = n;
    size_t nw = 1;
    for (size_t r = 0; r < n_rules; r++) {
        nw = split_pass(&c, rules[r], s->ends[cur], nw, s->ends[1 - cur]);
        cur = 1 - cur;
    }
    *ends = s->ends[cur];
    *n_words = nw;
    return true;
}
