/*
 * test_vocab.c — tokenizer conformance on the real vocabularies of
 * ../shared/vocab (SentencePiece and byte-level BPE): every test string
 * must give exactly the ids of its .out line (no BOS, special tokens not
 * parsed), and detokenizing must give the string back. Also: BOS and
 * special-token parsing, invalid UTF-8 (U+FFFD replacement, as llama.cpp),
 * and, on small vocabularies built in memory, BPE merge order, byte
 * fallback and the error for an unknown pre-tokenizer.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L  /* popen */
#endif
#include "testlib.h"

/* ---- a GGUF image in memory (vocabulary only) ---------------------------------- */

typedef struct gbuf {
    unsigned char *p;
    size_t n, cap;
} gbuf;

static void gb_put(gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = (unsigned char *)realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gb_u32(gbuf *b, uint32_t x) { gb_put(b, &x, 4); }  /* little-endian hosts only */
static void gb_u64(gbuf *b, uint64_t x) { gb_put(b, &x, 8); }
static void gb_str(gbuf *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_put(b, s, strlen(s));
}
static void gb_kv_str(gbuf *b, const char *k, const char *v) {
    gb_str(b, k);
    gb_u32(b, 8);
    gb_str(b, v);
}
static void gb_kv_strs(gbuf *b, const char *k, const char *const *v, int n) {
    gb_str(b, k);
    gb_u32(b, 9);
    gb_u32(b, 8);
    gb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) gb_str(b, v[i]);
}
static void gb_kv_i32s(gbuf *b, const char *k, const int32_t *v, int n) {
    gb_str(b, k);
    gb_u32(b, 9);
    gb_u32(b, 5);
    gb_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) gb_u32(b, (uint32_t)v[i]);
}
static void gb_header(gbuf *b, int n_kv) {
    gb_put(b, "GGUF", 4);
    gb_u32(b, 3);
    gb_u64(b, 0);
    gb_u64(b, (uint64_t)n_kv);
}

static void print_ids(const char *what, const int32_t *ids, int64_t n) {
    fprintf(stderr, "    %s:", what);
    for (int64_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

static bool quiet;  /* no id dump (for checks that expect a difference) */

/* Tokenizes and compares with want[0..nw). */
static int same_ids(const qtk_vocab *v, const char *s, size_t len, bool bos, bool special, const int32_t *want,
                    int64_t nw) {
    int32_t *ids = NULL;
    int64_t n = 0;
    qtk_error err;
    qtk_status st = qtk_tokenize_ex(v, s, len, bos, special, &ids, &n, &err);
    int same = st == QTK_OK && n == nw;
    for (int64_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same && st == QTK_OK && !quiet) {
        print_ids("got ", ids, n);
        print_ids("want", want, nw);
    }
    free(ids);
    return same;
}

/* A byte-level alphabet vocabulary: the 256 byte characters, "Ġ" = ' '. */
static const char *byte_char(int b, char *buf) {
    int cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
        int k = 0;
        for (int i = 0; i < b; i++)
            if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE)) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        buf[0] = (char)cp;
        buf[1] = 0;
    } else {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        buf[2] = 0;
    }
    return buf;
}

/* Builds a gpt2 vocabulary: 256 byte characters, then extra tokens, merges, a control token. */
static qtk_vocab *mem_bpe_vocab(const char *pre, const char *const *extra, int n_extra, const char *const *merges,
                                int n_merges, gbuf *img, qtk_gguf **g, qtk_error *err) {
    static char store[256][3];
    const char *toks[300];
    int32_t types[300];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        toks[n] = byte_char(b, store[b]);
        types[n++] = 1;
    }
    for (int i = 0; i < n_extra; i++) {
        toks[n] = extra[i];
        types[n++] = 1;
    }
    toks[n] = "<|end|>";
    types[n++] = 3;
    memset(img, 0, sizeof *img);
    gb_header(img, pre ? 5 : 4);
    gb_kv_str(img, "tokenizer.ggml.model", "gpt2");
    if (pre) gb_kv_str(img, "tokenizer.ggml.pre", pre);
    gb_kv_strs(img, "tokenizer.ggml.tokens", toks, n);
    gb_kv_i32s(img, "tokenizer.ggml.token_type", types, n);
    gb_kv_strs(img, "tokenizer.ggml.merges", merges, n_merges);
    *g = NULL;
    if (qtk_gguf_open_memory(img->p, img->n, "mem-vocab.gguf", g, err) != QTK_OK) return NULL;
    qtk_vocab *v = NULL;
    if (qtk_vocab_load(*g, &v, err) != QTK_OK) return NULL;
    return v;
}

static void test_memory_vocab(void) {
    static const char *const extra[] = {"ab", "bc", "abc", "\xC4\xA0\x61"};  /* 256..259 */
    static const char *const merges[] = {"b c", "a b", "a bc", "\xC4\xA0 a"};
    gbuf img;
    qtk_gguf *g = NULL;
    qtk_error err;
    qtk_vocab *v = mem_bpe_vocab("gpt-2", extra, 4, merges, 4, &img, &g, &err);
    CHECK(v != NULL, "memory vocab: %s", err.msg);
    if (v) {
        CHECK(qtk_vocab_get_kind(v) == QTK_VOCAB_BPE && qtk_vocab_n_tokens(v) == 261, "memory vocab kind/size");
        /* "abc": b+c (rank 0) first, then a+bc (rank 2) -> "abc" */
        const int32_t w1[] = {258};
        CHECK(same_ids(v, "abc", 3, false, false, w1, 1), "merge order abc");
        /* "ab": only a+b (rank 1) */
        const int32_t w2[] = {256};
        CHECK(same_ids(v, "ab", 2, false, false, w2, 1), "merge ab");
        /* " a" -> "Ġa"; "x a" splits as "x", " a" */
        const int32_t w3[] = {'x', 259};  /* the test alphabet is in byte order */
        CHECK(same_ids(v, "x a", 3, false, false, w3, 2), "space-letter word");
        /* control token: text without parse_special, the token with it */
        const int32_t w4[] = {260};
        CHECK(same_ids(v, "<|end|>", 7, false, true, w4, 1), "parse_special");
        quiet = true;
        CHECK(!same_ids(v, "<|end|>", 7, false, false, w4, 1), "control token not parsed by default");
        quiet = false;
        /* invalid UTF-8: 0xFF -> U+FFFD = EF BF BD -> three byte characters */
        int32_t *a = NULL, *b = NULL;
        int64_t na = 0, nb = 0;
        CHECK(qtk_tokenize(v, "\xFF", 1, false, &a, &na, &err) == QTK_OK &&
                  qtk_tokenize(v, "\xEF\xBF\xBD", 3, false, &b, &nb, &err) == QTK_OK && na == 3 && nb == 3 &&
                  memcmp(a, b, 12) == 0,
              "invalid byte -> U+FFFD");
        free(a);
        free(b);
        /* a piece that is not a token falls back to byte characters */
        char *txt = NULL;
        size_t tl = 0;
        int32_t *ids = NULL;
        int64_t n = 0;
        CHECK(qtk_tokenize(v, "hi \xE2\x82\xAC!", 7, false, &ids, &n, &err) == QTK_OK &&
                  qtk_detokenize(v, ids, n, false, &txt, &tl, &err) == QTK_OK && tl == 7 &&
                  memcmp(txt, "hi \xE2\x82\xAC!", 7) == 0,
              "detokenize round trip");
        free(ids);
        free(txt);
        qtk_vocab_free(v);
    }
    qtk_gguf_close(g);
    free(img.p);
    /* unknown pre-tokenizer: a clear error naming it */
    v = mem_bpe_vocab("no-such-pre", extra, 4, merges, 4, &img, &g, &err);
    CHECK(v == NULL && strstr(err.msg, "no-such-pre") != NULL, "unknown pre: '%s'", err.msg);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
    free(img.p);
    /* no pre key: the default rules */
    v = mem_bpe_vocab(NULL, extra, 4, merges, 4, &img, &g, &err);
    CHECK(v != NULL, "no pre key: %s", v ? "" : err.msg);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
    free(img.p);
}

/* ---- real vocabularies -------------------------------------------------------------- */


/* The .inp/.out pairs: strings separated by "\n__ggml_vocab_test__\n". */
static void test_vocab_file(const char *name, bool bpe) {
    char rel[128], relin[140], relout[140];
    snprintf(rel, sizeof rel, "vocab/%s", name);
    snprintf(relin, sizeof relin, "vocab/%s.inp", name);
    snprintf(relout, sizeof relout, "vocab/%s.out", name);
    qtk_gguf *g = NULL;
    qtk_vocab *v = tl_load_vocab(rel, &g);
    char *pin = tl_shared_path(relin), *pout = tl_shared_path(relout);
    size_t nin = 0, nout = 0;
    char *inp = pin ? (char *)tl_read_file(pin, &nin) : NULL;
    char *outp = pout ? (char *)tl_read_file(pout, &nout) : NULL;
    CHECK(v && inp && outp, "%s: files missing", name);
    if (!v || !inp || !outp) goto done;
    CHECK(qtk_vocab_get_kind(v) == (bpe ? QTK_VOCAB_BPE : QTK_VOCAB_SPM), "%s: kind", name);
    inp = (char *)realloc(inp, nin + 1);
    inp[nin] = 0;
    outp = (char *)realloc(outp, nout + 1);
    outp[nout] = 0;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = outp;
    int cases = 0, ok = 0, rt_ok = 0;
    for (;;) {
        char *e = strstr(s, sep);
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!e && len == 0) break;  /* the file ends with a separator */
        char *le = strchr(line, '\n');
        if (le) *le = 0;
        int32_t want[1024];
        int nw = 0;
        for (char *p = line; *p && nw < 1024;) {
            char *q;
            long x = strtol(p, &q, 10);
            if (q == p) break;
            want[nw++] = (int32_t)x;
            p = q;
        }
        int same = same_ids(v, s, len, false, false, want, nw);
        CHECK(same, "%s case %d (%.*s): ids differ", name, cases, (int)(len > 40 ? 40 : len), s);
        ok += same;
        /* detokenizing the expected ids gives the string back */
        char *txt = NULL;
        size_t tl = 0;
        qtk_error err;
        int rt = qtk_detokenize(v, want, nw, false, &txt, &tl, &err) == QTK_OK && tl == len && memcmp(txt, s, len) == 0;
        CHECK(rt, "%s case %d: detokenized text differs ('%s')", name, cases, txt ? txt : "");
        rt_ok += rt;
        free(txt);
        cases++;
        if (!e) break;
        s = e + strlen(sep);
        line = le ? le + 1 : line + strlen(line);
    }
    printf("  %-28s %3d strings, %3d ids identical, %3d round trips\n", name, cases, ok, rt_ok);
    CHECK(cases >= 10, "%s: only %d cases parsed", name, cases);
done:
    free(inp);
    free(outp);
    free(pin);
    free(pout);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
}

/* A long text (tokenized with the word cache) gives the same ids as its
 * short pieces (tokenized without), cut after newlines that end a line
 * of text and start a word, where no pre-tokenizer joins across. */
static void test_long_text(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/%s", name);
    char *ev = tl_shared_path("fixtures/eval.txt");
    size_t sz = 0;
    char *txt = ev ? (char *)tl_read_file(ev, &sz) : NULL;
    free(ev);
    qtk_gguf *g = NULL;
    qtk_vocab *v = txt ? tl_load_vocab(rel, &g) : NULL;
    if (!v) {
        free(txt);
        qtk_gguf_close(g);
        return;
    }
    int32_t *all = NULL;
    int64_t n_all = 0;
    qtk_error err;
    CHECK(qtk_tokenize(v, txt, sz, false, &all, &n_all, &err) == QTK_OK, "%s: eval.txt", name);
    int64_t pos = 0, pieces = 0;
    int same = all != NULL;
    for (size_t start = 0; same && start < sz; pieces++) {
        size_t end = start + 1500 < sz ? start + 1500 : sz;
        while (end < sz && !(txt[end - 1] == '\n' && end >= 2 && !strchr(" \t\r\n", txt[end - 2]) &&
                             ((txt[end] | 32) >= 'a' && (txt[end] | 32) <= 'z')))
            end++;
        CHECK(end - start < 4000, "%s: no cut point", name);
        if (end - start >= 4000) break;
        int32_t *ids = NULL;
        int64_t n = 0;
        same = qtk_tokenize(v, txt + start, end - start, false, &ids, &n, &err) == QTK_OK && pos + n <= n_all &&
               memcmp(ids, all + pos, (size_t)n * sizeof(int32_t)) == 0;
        CHECK(same, "%s: piece at byte %zu differs", name, start);
        pos += n;
        free(ids);
        start = end;
    }
    CHECK(same && pos == n_all, "%s: %lld ids in pieces, %lld in the whole text", name, (long long)pos,
          (long long)n_all);
    char *back = NULL;
    size_t nb = 0;
    CHECK(qtk_detokenize(v, all, n_all, false, &back, &nb, &err) == QTK_OK && nb == sz && memcmp(back, txt, sz) == 0,
          "%s: eval.txt round trip", name);
    printf("  %-28s eval.txt: %lld tokens, same as %lld pieces\n", name, (long long)n_all, (long long)pieces);
    free(back);
    free(all);
    free(txt);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
}

/* `qtk tokenize` prints like llama-tokenize. */
static void test_cli(void) {
    const char *bin = getenv("QTK_BIN");
    char *model = tl_shared_path("vocab/ggml-vocab-gpt-2.gguf");
    if (!bin || !model) {
        free(model);
        return;
    }
    if (!tl_qtk_available()) {
        printf("note: qtk binary not runnable here, CLI not checked\n");
        free(model);
        return;
    }
    char cmd[1024];
    char *log = tl_tmp_path("vocab_cli.txt");
    snprintf(cmd, sizeof cmd, "tokenize -m \"%s\" -p \"Hello world<|endoftext|>\" --ids", model);
    int rc = tl_run_qtk(cmd, log);
    char *out = tl_read_text(log);
    CHECK(rc == 0 && out && strcmp(out, "[15496, 995, 50256]\n") == 0, "qtk tokenize --ids: '%s'", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "tokenize -m \"%s\" -p \"Hello world\"", model);
    rc = tl_run_qtk(cmd, log);
    out = tl_read_text(log);
    CHECK(rc == 0 && out && strcmp(out, " 15496 -> 'Hello'\n   995 -> ' world'\n") == 0, "qtk tokenize: '%s'",
          out ? out : "");
    free(out);
    remove(log);
    free(log);
    free(model);
}

/* BOS, special tokens and invalid UTF-8 on real vocabularies. */
static void test_real_details(void) {
    qtk_gguf *g = NULL;
    qtk_vocab *v = tl_load_vocab("vocab/ggml-vocab-gpt-2.gguf", &g);
    if (v) {
        int32_t eot = 50256;
        CHECK(!qtk_vocab_adds_bos(v), "gpt-2 adds no BOS");
        CHECK(same_ids(v, "<|endoftext|>", 13, true, true, &eot, 1), "gpt-2: <|endoftext|> parsed");
        int32_t *ids = NULL;
        int64_t n = 0;
        qtk_error err;
        CHECK(qtk_tokenize(v, "<|endoftext|>", 13, true, &ids, &n, &err) == QTK_OK && n > 1, "not parsed by default");
        free(ids);
        /* invalid UTF-8: lone continuation, truncated sequence, 0xFF: U+FFFD for
         * every byte that does not start a complete sequence */
        static const char bad[] = "a\x80 b\xE2\x82 c\xFF";
        static const char repl[] = "a\xEF\xBF\xBD b\xEF\xBF\xBD\xEF\xBF\xBD c\xEF\xBF\xBD";
        int32_t *a = NULL, *b = NULL;
        int64_t na = 0, nb = 0;
        CHECK(qtk_tokenize(v, bad, sizeof bad - 1, false, &a, &na, &err) == QTK_OK &&
                  qtk_tokenize(v, repl, sizeof repl - 1, false, &b, &nb, &err) == QTK_OK && na == nb &&
                  memcmp(a, b, (size_t)na * 4) == 0,
              "gpt-2: invalid UTF-8 tokenized as U+FFFD");
        free(a);
        free(b);
        char piece[64];
        size_t k = qtk_token_to_piece(v, 50256, true, piece, sizeof piece);
        CHECK(k == 13 && memcmp(piece, "<|endoftext|>", 13) == 0, "special piece");
        CHECK(qtk_token_to_piece(v, 50256, false, piece, sizeof piece) == 0, "control piece hidden");
        qtk_vocab_free(v);
    }
    qtk_gguf_close(g);
    g = NULL;
    v = tl_load_vocab("vocab/ggml-vocab-deepseek-llm.gguf", &g);
    if (v) {
        CHECK(qtk_vocab_adds_bos(v) && qtk_vocab_bos(v) == 100000, "deepseek adds BOS");
        /* user-defined tokens are matched even without parse_special */
        int32_t *ids = NULL;
        int64_t n = 0;
        qtk_error err;
        CHECK(qtk_tokenize(v, "\xC3\xB8", 2, true, &ids, &n, &err) == QTK_OK && n == 2 && ids[0] == 100000 &&
                  ids[1] == 100002,
              "deepseek: BOS + user-defined token");
        free(ids);
        qtk_vocab_free(v);
    }
    qtk_gguf_close(g);
    g = NULL;
    v = tl_load_vocab("vocab/ggml-vocab-llama-spm.gguf", &g);
    if (v) {
        int32_t want[3] = {1, 1, 0};
        /* "<s>" parsed, then text with its own space prefix */
        int32_t *ids = NULL;
        int64_t n = 0;
        qtk_error err;
        CHECK(qtk_tokenize_ex(v, "<s>a", 4, true, true, &ids, &n, &err) == QTK_OK && n >= 3 && ids[0] == want[0] &&
                  ids[1] == want[1],
              "spm: BOS + parsed <s>");
        if (n >= 3) {
            int32_t *a = NULL;
            int64_t na = 0;
            CHECK(qtk_tokenize(v, "a", 1, false, &a, &na, &err) == QTK_OK && na == n - 2 &&
                      memcmp(a, ids + 2, (size_t)na * 4) == 0,
                  "spm: text after a special token gets the space prefix");
            free(a);
        }
        free(ids);
        qtk_vocab_free(v);
    }
    qtk_gguf_close(g);
}

int main(void) {
    test_memory_vocab();
    char *probe = tl_shared_path("vocab/ggml-vocab-gpt-2.gguf");
    if (!probe) {
        if (tl_failures) return tl_finish("test_vocab");
        return tl_skip("test_vocab", "../shared/vocab not found");
    }
    free(probe);
    test_vocab_file("ggml-vocab-llama-spm.gguf", false);
    test_vocab_file("ggml-vocab-phi-3.gguf", false);
    test_vocab_file("ggml-vocab-gpt-2.gguf", true);
    test_vocab_file("ggml-vocab-deepseek-llm.gguf", true);
    test_vocab_file("ggml-vocab-falcon.gguf", true);
    test_vocab_file("ggml-vocab-starcoder.gguf", true);
    test_real_details();
    test_long_text("ggml-vocab-gpt-2.gguf");
    test_long_text("ggml-vocab-deepseek-llm.gguf");
    test_cli();
    return tl_finish("test_vocab");
}
