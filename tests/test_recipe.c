/*
 * test_recipe.c — the recipe language: regex matcher, layer selectors,
 * conditions, parser errors (file:line, type lists), custom-rule priority and
 * the print -> parse round trip of every built-in preset (same text, same plan).
 */
#include "testlib.h"
#include "quantize/quantize_internal.h"

#include <stdlib.h>
#include <string.h>

static int re_search(const char *pat, const char *s) {
    qtk_regex *re = NULL;
    qtk_error err;
    if (qtk_regex_compile(pat, &re, &err) != QTK_OK) return -1;
    int r = qtk_regex_search(re, s);
    qtk_regex_free(re);
    return r;
}

static void test_regex(void) {
    static const struct {
        const char *pat, *s;
        int want;
    } cases[] = {
        {"attn_v", "blk.3.attn_v.weight", 1},
        {"attn_v\\.weight", "blk.3.attn_v_b.weight", 0},
        {"^blk\\.1\\.", "blk.1.ffn_up.weight", 1},
        {"^blk\\.1\\.", "blk.11.ffn_up.weight", 0},
        {"^output\\.weight$", "output.weight", 1},
        {"^output\\.weight$", "output.weight2", 0},
        {"^output\\.weight$", "xoutput.weight", 0},
        {"weight$", "output.weight", 1},
        {"", "anything", 1},
        {"^$", "", 1},
        {"^$", "x", 0},
        {"a.c", "abc", 1},
        {"a.c", "ac", 0},
        {"blk\\.([0-3]|2[89]|3[01])\\.ffn_down", "blk.29.ffn_down.weight", 1},
        {"blk\\.([0-3]|2[89]|3[01])\\.ffn_down", "blk.27.ffn_down.weight", 0},
        {"blk\\.([0-3]|2[89]|3[01])\\.ffn_down", "blk.2.ffn_down.weight", 1},
        {"ffn_(gate|up)_exps", "blk.0.ffn_up_exps.weight", 1},
        {"ffn_(gate|up)_exps", "blk.0.ffn_down_exps.weight", 0},
        {"blk\\.\\d+\\.attn", "blk.12.attn_q.weight", 1},
        {"blk\\.\\d+\\.attn", "blk..attn_q.weight", 0},
        {"[^a-z]", "abc", 0},
        {"[^a-z]", "ab.c", 1},
        {"[]x]", "]", 1},
        {"[a-]", "-", 1},
        {"x*", "", 1},
        {"ab+c", "ac", 0},
        {"ab+c", "abbbc", 1},
        {"ab?c", "ac", 1},
        {"(ab)*c$", "ababc", 1},
        {"^(ab)*c$", "abac", 0},
        {"(?:q|k)_proj", "k_proj", 1},
        {"a{2,3}b", "aab", 1},
        {"^a{2,3}b", "ab", 0},
        {"^a{2}b$", "aab", 1},
        {"^a{2,}b$", "aaaab", 1},
        {"x{", "x{", 1},        /* not a quantifier: literal brace */
        {"\\w+_norm", "attn_norm", 1},
        {"\\s", "a b", 1},
        {"\\S", "   ", 0},
        {"(a|b|)c", "c", 1},
        {"(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", 0}, /* no exponential blow-up */
        {".*ffn_down.*", "blk.3.ffn_down_exps.weight", 1},
        {"a.*?b", "axxb", 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int got = re_search(cases[k].pat, cases[k].s);
        CHECK(got == cases[k].want, "regex '%s' on '%s': %d, expected %d", cases[k].pat, cases[k].s, got,
              cases[k].want);
    }
    static const char *const bad[] = {"(ab", "ab)", "*a", "a|+", "[abc", "a\\", "\\q", "[z-a]", "a{3,1}", "(?:x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        qtk_regex *re = NULL;
        qtk_error err;
        qtk_status s = qtk_regex_compile(bad[k], &re, &err);
        CHECK(s == QTK_ERR_INVALID_ARG && !re, "bad regex '%s' accepted", bad[k]);
        CHECK(s != QTK_OK && strstr(err.msg, "bad regex") && strstr(err.msg, "position"), "message: %s", err.msg);
        qtk_regex_free(re);
    }
}

/* Whether the spec text selects layer i of n. */
static bool sel(const char *spec, int64_t i, int64_t n) {
    qtk_layer_spec s;
    qtk_error err;
    if (qtk_layer_spec_parse(spec, &s, &err) != QTK_OK) {
        CHECK(0, "spec '%s': %s", spec, err.msg);
        return false;
    }
    bool r = qtk_layer_spec_match(&s, i, n);
    qtk_layer_spec_clear(&s);
    return r;
}

static void test_layers(void) {
    CHECK(sel("0-3,30-31", 2, 32) && sel("0-3, 30-31", 31, 32) && !sel("0-3,30-31", 4, 32), "ranges");
    CHECK(sel("7", 7, 32) && !sel("7", 8, 32), "single layer");
    CHECK(sel("first:2", 1, 32) && !sel("first:2", 2, 32), "first:N");
    CHECK(sel("last:2", 30, 32) && !sel("last:2", 29, 32), "last:N");
    CHECK(sel("first:1/8", 3, 32) && !sel("first:1/8", 4, 32), "first:1/8 = i < n/8");
    CHECK(sel("first:1/16", 1, 32) && !sel("first:1/16", 2, 32), "first:1/16");
    CHECK(sel("last:1/8", 28, 32) && !sel("last:1/8", 27, 32), "last:1/8 = i >= 7n/8");
    CHECK(!sel("first:1/8", 0, 6), "n/8 = 0 for 6 layers");
    /* more_bits equals use_more_bits as written in MIXES §4 */
    const int ns[] = {6, 8, 32, 80};
    for (int k = 0; k < 4; k++) {
        int64_t n = ns[k], cnt = 0;
        for (int64_t i = 0; i < n; i++) {
            bool ref = i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
            CHECK(sel("more_bits", i, n) == ref, "more_bits(%lld, %lld)", (long long)i, (long long)n);
            cnt += ref;
        }
        if (n == 32) CHECK(cnt == 16, "16 of 32");
        if (n == 80) CHECK(cnt == 40, "40 of 80");
    }
    CHECK(sel("more_bits", 2, 6) && sel("more_bits", 5, 6) && !sel("more_bits", 0, 6), "n = 6 picks layers 2, 5");
    /* frac:K/8: nested, K/8 of the layers, frac:4/8 == more_bits when 8 | n */
    const int fn[] = {6, 8, 16, 24, 32, 40, 61, 80};
    for (int k = 0; k < 8; k++) {
        int64_t n = fn[k];
        for (int kk = 0; kk <= 8; kk++) {
            int64_t cnt = 0;
            for (int64_t i = 0; i < n; i++) {
                bool in = qtk_layer_frac(i, n, kk);
                cnt += in;
                if (kk > 0 && qtk_layer_frac(i, n, kk - 1)) CHECK(in, "frac:%d/8 not nested at layer %lld of %lld", kk, (long long)i, (long long)n);
                if (kk == 4 && n % 8 == 0) CHECK(in == qtk_use_more_bits(i, n), "frac:4/8 != more_bits (%lld of %lld)", (long long)i, (long long)n);
            }
            CHECK(cnt == (kk * n + 4) / 8, "frac:%d/8 of %lld layers selects %lld", kk, (long long)n, (long long)cnt);
        }
    }
    CHECK(sel("frac:2/8", 0, 32) && sel("frac:2/8", 31, 32) && !sel("frac:2/8", 6, 32), "frac:2/8 = both eighths");
    CHECK(sel("frac:8/8", 13, 32) && !sel("frac:0/8", 0, 32), "frac:8/8 all, 0/8 none");
    static const char *const bad[] = {"", "3-1", "first:", "first:3/0", "first:5/4", "frac:9/8", "frac:3/4", "x", "1,,2", "more"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        qtk_layer_spec s;
        qtk_error err;
        CHECK(qtk_layer_spec_parse(bad[k], &s, &err) == QTK_ERR_INVALID_ARG, "bad spec '%s' accepted", bad[k]);
    }
}

static void test_conditions(void) {
    qtk_cond_env e;
    memset(&e, 0, sizeof e);
    e.arch = "llama";
    e.size = "8B";
    e.gqa = 4;
    e.experts = 0;
    e.vocab = 128256;
    e.cols = 288;
    e.imatrix = true;
    static const struct {
        const char *c;
        bool want;
    } cases[] = {
        {"gqa>=4", true}, {"gqa>4", false}, {"gqa>=2 or experts>=4", true}, {"gqa>=8 or experts>=4", false},
        {"vocab>=127999 and (size==8B or size==70B)", true}, {"size==70b", false}, {"!imatrix", false},
        {"not tied", true}, {"arch==falcon or cols%256!=0", true}, {"cols%32==0", true}, {"!(gqa<4)", true},
        {"tied or imatrix and gqa==4", true}, {"(tied or imatrix) and gqa==1", false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        qtk_cond *c = NULL;
        qtk_error err;
        CHECK(qtk_cond_parse(cases[k].c, &c, &err) == QTK_OK, "cond '%s': %s", cases[k].c, err.msg);
        if (!c) continue;
        CHECK(qtk_cond_eval(c, &e) == cases[k].want, "cond '%s'", cases[k].c);
        /* canonical text parses back to the same meaning */
        char *t = qtk_cond_text(c);
        qtk_cond *c2 = NULL;
        CHECK(t && qtk_cond_parse(t, &c2, &err) == QTK_OK, "reparse '%s'", t ? t : "");
        if (c2) CHECK(qtk_cond_eval(c2, &e) == cases[k].want, "reparsed '%s'", t);
        free(t);
        qtk_cond_free(c2);
        qtk_cond_free(c);
    }
    static const char *const bad[] = {"gqa", "gqa>=", "foo>1", "size<8B", "gqa>=2 or", "(gqa>=2", "tied==1", "gqa>=x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        qtk_cond *c = NULL;
        qtk_error err;
        CHECK(qtk_cond_parse(bad[k], &c, &err) == QTK_ERR_INVALID_ARG && !c, "bad condition '%s' accepted", bad[k]);
    }
}

static void expect_parse_error(const char *text, const char *needle1, const char *needle2) {
    qtk_recipe *r = NULL;
    qtk_error err;
    qtk_status s = qtk_recipe_parse(text, "my.recipe", &r, &err);
    CHECK(s == QTK_ERR_INVALID_ARG && !r, "accepted: %s", text);
    if (s != QTK_OK) {
        CHECK(strstr(err.msg, needle1) != NULL, "'%s' not in: %s", needle1, err.msg);
        if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "'%s' not in: %s", needle2, err.msg);
    }
    qtk_recipe_free(r);
}

static void test_parser(void) {
    const char *ok = "# a comment\n"
                     "\n"
                     "default iq4_ks   # trailing comment\n"
                     "file_type IQ4_KS\n"
                     "attn_v\\.weight if gqa>=2 = IQ5_K\n"
                     "ffn_down @ 0-1, last:1 = q6_k\n"
                     "ffn_(gate|up) @ seq frac:3/8 if !imatrix = keep\n"
                     "force ^output\\.weight$ = copy\r\n"
                     "requires_imatrix iq2_kt iq1_kt\n";
    qtk_recipe *r = NULL;
    qtk_error err;
    CHECK(qtk_recipe_parse(ok, "ok.recipe", &r, &err) == QTK_OK, "%s", err.msg);
    if (r) {
        CHECK(qtk_recipe_default_type(r) == QTK_TYPE_IQ4_KS, "default");
        CHECK(qtk_recipe_file_type(r) == 145, "file_type by name");
        char *t = qtk_recipe_text(r);
        CHECK(t && strstr(t, "attn_v\\.weight if gqa>=2 = iq5_k\n"), "canonical type names:\n%s", t ? t : "");
        CHECK(t && strstr(t, "ffn_down @ 0-1,last:1 = q6_K\n"), "canonical layers:\n%s", t ? t : "");
        CHECK(t && strstr(t, "ffn_(gate|up) @ seq frac:3/8 if !imatrix = keep\n"), "seq/frac/keep:\n%s", t ? t : "");
        CHECK(t && strstr(t, "force ^output\\.weight$ = copy\n"), "force/copy:\n%s", t ? t : "");
        CHECK(t && strstr(t, "requires_imatrix iq2_kt iq1_kt\n"), "requires:\n%s", t ? t : "");
        CHECK(t && strncmp(t, "# a comment\n\ndefault iq4_ks\n", 27) == 0, "comments kept:\n%s", t ? t : "");
        qtk_recipe *r2 = NULL;
        CHECK(t && qtk_recipe_parse(t, "again", &r2, &err) == QTK_OK, "%s", err.msg);
        char *t2 = qtk_recipe_text(r2);
        CHECK(t && t2 && !strcmp(t, t2), "text is stable");
        free(t);
        free(t2);
        qtk_recipe_free(r2);
    }
    qtk_recipe_free(r);
    CHECK(qtk_recipe_parse("default q4_K\n", "f", &r, &err) == QTK_OK && qtk_recipe_file_type(r) == 15,
          "file_type derived from default q4_K -> Q4_K_M (15)");
    qtk_recipe_free(r);

    expect_parse_error("attn_v = q8_0\n", "no 'default", NULL);
    expect_parse_error("default q4_K\n\n# x\nattn_v = q4_kk\n", "my.recipe:4:", "valid types: f32");
    expect_parse_error("default q4_K\nattn_v = q4_kk\n", "iq4_kss", "q4_K");
    expect_parse_error("default zz\n", "my.recipe:1:", "unknown type 'zz'");
    expect_parse_error("default q4_K\nblk\\.(1 = q8_0\n", "my.recipe:2:", "bad regex");
    expect_parse_error("default q4_K\nffn_down @ 3-1 = q8_0\n", "my.recipe:2:", "bad layer selector '3-1'");
    expect_parse_error("default q4_K\nffn_down @ frac:9/8 = q8_0\n", "my.recipe:2:", "frac:K/8");
    expect_parse_error("default q4_K\nffn_down if gqa>>2 = q8_0\n", "my.recipe:2:", "bad condition");
    expect_parse_error("default q4_K\nffn_down = q8_0 q6_K\n", "my.recipe:2:", "one type");
    expect_parse_error("default q4_K\nffn_down\n", "my.recipe:2:", "expected");
    expect_parse_error("default q4_K\nffn down = q8_0\n", "my.recipe:2:", "unexpected 'down'");
    expect_parse_error("default q4_K\n = q8_0\n", "my.recipe:2:", "missing pattern");
    expect_parse_error("default q4_K\ndefault q5_K\n", "my.recipe:2:", "second");
    expect_parse_error("default q4_K\nfile_type WHAT\n", "my.recipe:2:", "file_type");

    /* unknown presets list the valid ones; names are case-insensitive, numbers work */
    CHECK(qtk_recipe_from_preset("Q4_K_X", NULL, &r, &err) == QTK_ERR_INVALID_ARG && !r, "unknown preset");
    CHECK(strstr(err.msg, "IQ4_KSS") && strstr(err.msg, "Q4_K_M"), "lists presets: %s", err.msg);
    const char *names[] = {"iq4_kss", "IQ4_KSS", "148", "q4_k", "Q4_K_M", "15", "iq4_mix40"};
    const int fts[] = {148, 148, 148, 15, 15, 15, 139};
    for (int k = 0; k < 7; k++) {
        CHECK(qtk_recipe_from_preset(names[k], NULL, &r, &err) == QTK_OK, "%s: %s", names[k], err.msg);
        CHECK(r && qtk_recipe_file_type(r) == fts[k], "%s file_type", names[k]);
        qtk_recipe_free(r);
        r = NULL;
    }
    int n = 0;
    const char *const *pn = qtk_preset_names(&n);
    CHECK(n >= 40 && pn[n] == NULL, "preset names %d", n);
    CHECK(qtk_recipe_add_custom(NULL, "x", QTK_TYPE_Q8_0, &err) != QTK_OK, "NULL recipe");
}

/* Writes a synthetic 8-layer model (g = 2) and returns it opened. */
static qtk_gguf *small_model(void) {
    char *path = tl_tmp_path("recipe-model.gguf");
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    qtk_gguf *g = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) {
        CHECK(0, "%s", err.msg);
        free(path);
        return NULL;
    }
    qtk_meta *m = qtk_gguf_writer_meta(w);
    qtk_meta_set_str(m, "general.architecture", "llama", &err);
    qtk_meta_set_u32(m, "llama.block_count", 8, &err);
    qtk_meta_set_u32(m, "llama.attention.head_count", 8, &err);
    qtk_meta_set_u32(m, "llama.attention.head_count_kv", 4, &err);
    qtk_meta_set_u32(m, "llama.vocab_size", 32000, &err);
    int64_t bytes = 0;
    char name[64];
    const char *cls[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    int64_t ne[2] = {256, 2};
    qtk_gguf_writer_add_tensor(w, "token_embd.weight", QTK_TYPE_F16, 2, ne, &err);
    bytes += 1024;
    for (int l = 0; l < 8; l++)
        for (int k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, cls[k]);
            qtk_gguf_writer_add_tensor(w, name, QTK_TYPE_F16, 2, ne, &err);
            bytes += 1024;
        }
    qtk_gguf_writer_add_tensor(w, "output.weight", QTK_TYPE_F16, 2, ne, &err);
    bytes += 1024;
    char *z = (char *)calloc(1, (size_t)bytes);
    CHECK(qtk_gguf_writer_write(w, z, (size_t)bytes, &err) == QTK_OK, "%s", err.msg);
    free(z);
    CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_open(path, &g, &err) == QTK_OK, "%s", err.msg);
    free(path);
    return g;
}

static int type_in(const qtk_gguf *g, const qtk_plan *p, const char *name) {
    int64_t i = qtk_gguf_find_tensor(g, name);
    return i < 0 ? -9 : p->items[i].type;
}

static void test_custom_priority(void) {
    qtk_gguf *g = small_model();
    if (!g) return;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    qtk_error err;
    const char *txt = "default q4_K\n"
                      "attn_v = q6_K\n"
                      "attn_ = q5_K\n"            /* never reached for attn_v: first match wins */
                      "ffn_down @ first:2 = q8_0\n"
                      "ffn_down @ more_bits = q6_K\n"
                      "ffn_up @ 3-4 if gqa>=2 = iq4_ks\n"
                      "ffn_gate @ 1 if gqa>=4 = iq4_ks\n"
                      "ffn_gate @ 2 = keep\n";
    CHECK(qtk_recipe_parse(txt, "t", &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, NULL, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        CHECK(type_in(g, p, "blk.3.attn_v.weight") == QTK_TYPE_Q6_K, "first match: attn_v rule");
        CHECK(type_in(g, p, "blk.3.attn_k.weight") == QTK_TYPE_Q5_K, "attn_ rule");
        CHECK(type_in(g, p, "blk.1.ffn_down.weight") == QTK_TYPE_Q8_0, "first:2");
        /* use_more_bits of 8 layers = {0, 3, 6, 7} */
        CHECK(type_in(g, p, "blk.3.ffn_down.weight") == QTK_TYPE_Q6_K, "more_bits(3, 8)");
        CHECK(type_in(g, p, "blk.2.ffn_down.weight") == QTK_TYPE_Q4_K, "not more_bits(2, 8)");
        CHECK(type_in(g, p, "blk.7.ffn_down.weight") == QTK_TYPE_Q6_K, "more_bits(7, 8)");
        CHECK(type_in(g, p, "blk.4.ffn_up.weight") == QTK_TYPE_IQ4_KS, "range + condition true");
        CHECK(type_in(g, p, "blk.1.ffn_gate.weight") == QTK_TYPE_Q4_K, "condition false (g = 2)");
        CHECK(type_in(g, p, "output.weight") == QTK_TYPE_Q4_K, "default for output");
        int64_t i = qtk_gguf_find_tensor(g, "blk.3.ffn_down.weight");
        CHECK(strstr(p->items[i].reason, "t:5: ffn_down @ more_bits = q6_K") != NULL, "reason: %s", p->items[i].reason);
        CHECK(p->file_type == 15, "derived file type");
    }
    qtk_plan_free(p);
    p = NULL;
    /* custom rules override the recipe, first added first */
    CHECK(qtk_recipe_add_custom(r, "blk\\.3\\.attn_v", QTK_TYPE_Q8_0, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_recipe_add_custom(r, "attn_v", QTK_TYPE_IQ4_NL, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_recipe_add_custom(r, "attn_(v|k", QTK_TYPE_IQ4_NL, &err) == QTK_ERR_INVALID_ARG, "bad custom regex");
    CHECK(strstr(err.msg, "bad regex 'attn_(v|k'") != NULL, "message: %s", err.msg);
    CHECK(qtk_plan_make(g, r, NULL, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        CHECK(type_in(g, p, "blk.3.attn_v.weight") == QTK_TYPE_Q8_0, "first custom rule");
        CHECK(type_in(g, p, "blk.4.attn_v.weight") == QTK_TYPE_IQ4_NL, "second custom rule over recipe");
        CHECK(type_in(g, p, "blk.4.attn_k.weight") == QTK_TYPE_Q5_K, "recipe rule still used");
        int64_t i = qtk_gguf_find_tensor(g, "blk.4.attn_v.weight");
        CHECK(strstr(p->items[i].reason, "--custom-q") != NULL, "reason: %s", p->items[i].reason);
    }
    qtk_plan_free(p);
    /* custom rules survive text -> parse */
    char *t = qtk_recipe_text(r);
    qtk_recipe *r2 = NULL;
    CHECK(t && qtk_recipe_parse(t, "t2", &r2, &err) == QTK_OK, "%s", err.msg);
    CHECK(t && strstr(t, "default q4_K\nblk\\.3\\.attn_v = q8_0\nattn_v = iq4_nl\nattn_v = q6_K\n"), "order:\n%s",
          t ? t : "");
    free(t);
    qtk_recipe_free(r2);
    qtk_recipe_free(r);
    /* requantizing needs allow_requantize (checked with a fake quantized source? the
     * fixture tensors are f16; here: a recipe that copies keeps quantize == false) */
    CHECK(qtk_recipe_parse("default copy\nffn_down = q8_0\n", "c", &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, NULL, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        CHECK(p->n_quantized == 8, "only ffn_down quantized: %lld", (long long)p->n_quantized);
        CHECK(type_in(g, p, "blk.0.attn_q.weight") == QTK_TYPE_F16, "copy keeps f16");
    }
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_gguf_close(g);
}

/* --print-recipe -> parse: for every preset (with and without overrides) the
 * text is stable and the plan on a model is identical. */
static void test_round_trip(void) {
    qtk_gguf *g = small_model();
    char *fx = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    qtk_gguf *gf = NULL;
    qtk_error err;
    if (fx) CHECK(qtk_gguf_open(fx, &gf, &err) == QTK_OK, "%s", err.msg);
    free(fx);
    int n = 0;
    const char *const *names = qtk_preset_names(&n);
    qtk_quant_overrides ovs[3];
    qtk_quant_overrides_init(&ovs[0]);
    qtk_quant_overrides_init(&ovs[1]);
    ovs[1].attn_v_type = QTK_TYPE_Q8_0;
    ovs[1].ffn_down_type = QTK_TYPE_Q6_K;
    ovs[1].attn_output_type = QTK_TYPE_IQ4_XS;
    ovs[1].output_tensor_type = QTK_TYPE_Q8_0;
    ovs[1].token_embedding_type = QTK_TYPE_Q4_K;
    ovs[1].attn_qkv_type = QTK_TYPE_Q8_0;
    ovs[1].ignore_imatrix_rules = true;
    qtk_quant_overrides_init(&ovs[2]);
    ovs[2].pure = true;
    ovs[2].leave_output_tensor = true;
    ovs[2].ignore_imatrix_rules = true;
    int compared = 0, evaluated = 0;
    for (int k = 0; k < n; k++)
        for (int o = 0; o < 3; o++) {
            bool seen = false;
            qtk_recipe *r = NULL, *r2 = NULL;
            CHECK(qtk_recipe_from_preset(names[k], &ovs[o], &r, &err) == QTK_OK, "%s: %s", names[k], err.msg);
            if (!r) continue;
            char *t = qtk_recipe_text(r);
            CHECK(t && qtk_recipe_parse(t, "printed", &r2, &err) == QTK_OK, "%s reparse: %s", names[k], err.msg);
            char *t2 = r2 ? qtk_recipe_text(r2) : NULL;
            CHECK(t && t2 && !strcmp(t, t2), "%s: text differs after a round trip", names[k]);
            CHECK(r2 && qtk_recipe_file_type(r) == qtk_recipe_file_type(r2), "%s file type", names[k]);
            const qtk_gguf *models[2] = {g, gf};
            for (int m = 0; m < 2 && r2; m++) {
                if (!models[m]) continue;
                for (int with_im = 0; with_im < 1; with_im++) {
                    qtk_plan *p1 = NULL, *p2 = NULL;
                    qtk_status s1 = qtk_plan_make(models[m], r, NULL, false, &p1, &err);
                    qtk_status s2 = qtk_plan_make(models[m], r2, NULL, false, &p2, &err);
                    CHECK(s1 == s2, "%s: plan status %d vs %d", names[k], s1, s2);
                    /* a preset whose types are not implemented yet fails to plan, identically */
                    seen = seen || s1 == s2;
                    if (p1 && p2) {
                        bool same = p1->n == p2->n && p1->file_type == p2->file_type && p1->total_bytes == p2->total_bytes;
                        for (int64_t i = 0; same && i < p1->n; i++)
                            same = p1->items[i].type == p2->items[i].type && p1->items[i].quantize == p2->items[i].quantize;
                        CHECK(same, "%s (overrides %d): plans differ after print -> parse", names[k], o);
                        compared++;
                    }
                    qtk_plan_free(p1);
                    qtk_plan_free(p2);
                }
            }
            evaluated += seen;
            free(t);
            free(t2);
            qtk_recipe_free(r);
            qtk_recipe_free(r2);
        }
    printf("round trip: %d presets x 3 override sets, %d plan pairs identical\n", n, compared);
    /* every (preset, overrides) pair was planned on at least one model, and most produced plans */
    CHECK(evaluated == n * 3, "evaluated %d of %d preset/override pairs", evaluated, n * 3);
    CHECK(compared >= n * 2, "compared only %d plans", compared);
    qtk_gguf_close(gf);
    qtk_gguf_close(g);
}

int main(void) {
    test_regex();
    test_layers();
    test_conditions();
    test_parser();
    test_custom_priority();
    test_round_trip();
    return tl_finish("test_recipe");
}
