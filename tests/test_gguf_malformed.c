/*
 * test_gguf_malformed.c — the reader must refuse every malformed image
 * built here from a valid one (truncations, lying counts, bad types and
 * shapes, misplaced data, duplicates, bad alignment/bool, deep nesting)
 * with a message naming the file (and key/tensor), without crashing; the
 * writer must leave no OUT.tmp and an existing OUT untouched on failure.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testlib.h"

#include <stdint.h>
#ifndef _WIN32
#include <signal.h>
#include <sys/resource.h>
#endif

/* ---- image builder ------------------------------------------------------------ */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = (unsigned char *)realloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void le(buf *b, uint64_t v, int n) {
    unsigned char x[8];
    for (int i = 0; i < n; i++) x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, (size_t)n);
}

static void u8(buf *b, uint64_t v) { le(b, v, 1); }
static void u32(buf *b, uint64_t v) { le(b, v, 4); }
static void u64(buf *b, uint64_t v) { le(b, v, 8); }
static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void hdr(buf *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}
static void kv_u32(buf *b, const char *k, uint32_t v) {
    str(b, k);
    u32(b, 4);
    u32(b, v);
}
static void kv_str(buf *b, const char *k, const char *v) {
    str(b, k);
    u32(b, 8);
    str(b, v);
}
static void tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(b, name);
    u32(b, nd);
    for (uint32_t d = 0; d < nd; d++) u64(b, ne[d]);
    u32(b, type);
    u64(b, off);
}
static void pad(buf *b, size_t a) {
    while (b->n % a) u8(b, 0);
}
static void fill(buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) u8(b, (i * 37 + 11) & 0xFF);
}

/* Offsets of the header boundaries of the valid image (for truncation). */
static size_t bounds[64];
static int n_bounds;
static void mark(buf *b) { bounds[n_bounds++] = b->n; }

/* The valid base: 4 kvs, tensors a (f32 8x2, 64 bytes at 0) and
 * b (q8_0 32, 34 bytes at 64); ends exactly at the last tensor byte. */
static void base_image(buf *b) {
    static const uint64_t ne_a[2] = {8, 2}, ne_b[1] = {32};
    n_bounds = 0;
    mark(b);
    hdr(b, 3, 2, 4);
    mark(b);
    kv_str(b, "general.architecture", "llama");
    mark(b);
    kv_u32(b, "general.alignment", 32);
    mark(b);
    str(b, "x.flag");
    u32(b, 7);
    u8(b, 1);
    mark(b);
    str(b, "x.tokens");
    u32(b, 9);
    u32(b, 8);
    u64(b, 3);
    str(b, "<s>");
    str(b, "");
    str(b, "tok");
    mark(b);
    tinfo(b, "a", 2, ne_a, 0, 0);
    mark(b);
    tinfo(b, "b", 1, ne_b, 8, 64);
    mark(b);
    pad(b, 32);
    mark(b);
    fill(b, 64 + 34);
    mark(b);
}

/* ---- expectations ---------------------------------------------------------------- */

static int n_cases;

/* The image must be refused through both entry points with a message that
 * contains the file name and every fragment in `want` (NULL-terminated). */
static void expect_fail_v(const buf *b, const char *name, const char *const *want, int via_file) {
    qtk_error err;
    qtk_gguf *g = (qtk_gguf *)0x1;
    n_cases++;
    err.msg[0] = '\0';
    qtk_status st = qtk_gguf_open_memory(b->p, b->n, name, &g, &err);
    CHECK(st != QTK_OK, "%s: accepted from memory", name);
    CHECK(g == NULL, "%s: handle not NULL on failure", name);
    CHECK(err.code == st && err.msg[0] != '\0', "%s: empty message", name);
    CHECK(strstr(err.msg, name) != NULL, "%s: message lacks the file name: %s", name, err.msg);
    for (int i = 0; want && want[i]; i++)
        CHECK(strstr(err.msg, want[i]) != NULL, "%s: message lacks '%s': %s", name, want[i], err.msg);
    if (getenv("QTK_TEST_VERBOSE")) printf("  %-28s %s\n", name, err.msg);
    if (st == QTK_OK) qtk_gguf_close(g);
    if (!via_file) return;
    char *path = tl_tmp_path(name);
    CHECK(tl_write_file(path, b->p, b->n) == 0, "write %s", path);
    g = (qtk_gguf *)0x1;
    st = qtk_gguf_open(path, &g, &err);
    CHECK(st != QTK_OK, "%s: accepted from file", name);
    CHECK(g == NULL, "%s: handle not NULL on failure", name);
    CHECK(strstr(err.msg, path) != NULL, "%s: message lacks the path: %s", name, err.msg);
    for (int i = 0; want && want[i]; i++)
        CHECK(strstr(err.msg, want[i]) != NULL, "%s (file): message lacks '%s': %s", name, want[i], err.msg);
    if (st == QTK_OK) qtk_gguf_close(g);
    remove(path);
    free(path);
}

static void expect_fail(const buf *b, const char *name, const char *w1, const char *w2) {
    const char *want[3] = {w1, w1 ? w2 : NULL, NULL};
    expect_fail_v(b, name, want, 1);
}

static void expect_ok(const buf *b, const char *name) {
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_status st = qtk_gguf_open_memory(b->p, b->n, name, &g, &err);
    CHECK(st == QTK_OK, "%s: refused: %s", name, err.msg);
    qtk_gguf_close(g);
}

static void reset(buf *b) { b->n = 0; }

/* Patches a little-endian field at offset off. */
static void patch(buf *b, size_t off, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b->p[off + (size_t)i] = (unsigned char)(v >> (8 * i));
}

/* ---- reader cases ------------------------------------------------------------------ */

static void reader_cases(void) {
    buf b = {NULL, 0, 0};
    base_image(&b);
    expect_ok(&b, "base.gguf");
    {
        /* the base also opens from a file, with what inspect shows */
        char *path = tl_tmp_path("base.gguf");
        tl_write_file(path, b.p, b.n);
        qtk_gguf *g = NULL;
        qtk_error err;
        CHECK(qtk_gguf_open(path, &g, &err) == QTK_OK, "base from file: %s", err.msg);
        if (g) {
            CHECK(qtk_gguf_n_tensors(g) == 2 && qtk_gguf_meta(g)->n == 4, "base counts");
            CHECK(qtk_gguf_data_offset(g) == bounds[8], "base data offset %llu",
                  (unsigned long long)qtk_gguf_data_offset(g));
            CHECK(qtk_gguf_tensor(g, 1)->nbytes == 34, "q8_0 nbytes");
            const qtk_gguf_value *v = qtk_meta_get(qtk_gguf_meta(g), "x.tokens");
            CHECK(v && v->type == QTK_GGUF_ARRAY && v->v.arr.n == 3 && v->v.arr.items[1].v.str.len == 0,
                  "tokens array");
            qtk_gguf_close(g);
        }
        remove(path);
        free(path);
    }
    const buf base = b;  /* bytes of the valid image, never modified below */
    buf m = {NULL, 0, 0};
#define FROM_BASE() (reset(&m), put(&m, base.p, base.n))

    /* truncation at every header boundary (via files) and every byte (memory) */
    for (int i = 0; i < n_bounds - 1; i++) {
        char name[64];
        sprintf(name, "trunc_boundary_%d.gguf", i);
        buf t = {base.p, bounds[i], 0};
        expect_fail(&t, name, NULL, NULL);
    }
    for (size_t cut = 0; cut < base.n; cut++) {
        char name[64];
        sprintf(name, "trunc_at_%zu.gguf", cut);
        buf t = {base.p, cut, 0};
        const char *want[1] = {NULL};
        expect_fail_v(&t, name, want, 0);
    }
    /* truncated inside the data of tensor b: names it */
    {
        buf t = {base.p, base.n - 1, 0};
        expect_fail(&t, "trunc_data.gguf", "tensor 'b'", "extends past the end");
    }

    /* magic and version */
    FROM_BASE();
    m.p[3] = 'X';
    expect_fail(&m, "bad_magic.gguf", "not a GGUF file", NULL);
    FROM_BASE();
    patch(&m, 4, 1, 4);
    expect_fail(&m, "v1.gguf", "GGUF v1 not supported", NULL);
    FROM_BASE();
    patch(&m, 4, 0x03000000u, 4);
    expect_fail(&m, "bigendian.gguf", "big-endian GGUF is not supported", NULL);
    FROM_BASE();
    patch(&m, 4, 4, 4);
    expect_fail(&m, "v4.gguf", "version 4", NULL);
    FROM_BASE();
    patch(&m, 4, 2, 4);
    expect_ok(&m, "v2.gguf");

    /* lying counts */
    FROM_BASE();
    patch(&m, 16, UINT64_MAX, 8);
    expect_fail(&m, "nkv_max.gguf", "n_kv", NULL);
    FROM_BASE();
    patch(&m, 16, 5, 8);
    expect_fail(&m, "nkv_plus1.gguf", NULL, NULL);
    FROM_BASE();
    patch(&m, 16, 3, 8);
    expect_fail(&m, "nkv_minus1.gguf", NULL, NULL);
    FROM_BASE();
    patch(&m, 8, UINT64_MAX, 8);
    expect_fail(&m, "nt_max.gguf", "n_tensors", NULL);
    FROM_BASE();
    patch(&m, 8, 3, 8);
    expect_fail(&m, "nt_plus1.gguf", NULL, NULL);
    FROM_BASE();
    patch(&m, 8, (uint64_t)1 << 40, 8);
    expect_fail(&m, "nt_huge.gguf", "n_tensors", NULL);

    /* string lengths */
    FROM_BASE();
    patch(&m, bounds[1], UINT64_MAX, 8);
    expect_fail(&m, "keylen_max.gguf", "string length", NULL);
    FROM_BASE();
    patch(&m, bounds[1], base.n, 8);
    expect_fail(&m, "keylen_past_end.gguf", "string length", NULL);
    /* one byte more than the file has left: the exact bound (an off-by-one reads past the end) */
    FROM_BASE();
    patch(&m, bounds[1], base.n - (bounds[1] + 8) + 1, 8);
    expect_fail(&m, "keylen_one_past_end.gguf", "string length", "exceeds the");
    FROM_BASE();
    patch(&m, bounds[1] + 8 + 20 + 4, UINT64_MAX - 1, 8); /* value "llama" */
    expect_fail(&m, "vallen_huge.gguf", "key 'general.architecture'", "string length");
    FROM_BASE();
    patch(&m, bounds[4] + 8 + 8 + 4 + 4 + 8, (uint64_t)1 << 62, 8); /* first token */
    expect_fail(&m, "tokenlen_huge.gguf", "key 'x.tokens'", "string length");
    FROM_BASE();
    patch(&m, bounds[5], UINT64_MAX, 8); /* tensor name */
    expect_fail(&m, "tnamelen_max.gguf", "tensor #0", "string length");

    /* array counts */
    FROM_BASE();
    patch(&m, bounds[4] + 8 + 8 + 4 + 4, UINT64_MAX, 8);
    expect_fail(&m, "arrcount_max.gguf", "key 'x.tokens'", "cannot fit");
    FROM_BASE();
    patch(&m, bounds[4] + 8 + 8 + 4 + 4, 4, 8);
    expect_fail(&m, "arrcount_plus1.gguf", NULL, NULL);
    {
        reset(&m);
        hdr(&m, 3, 0, 1);
        str(&m, "big.array");
        u32(&m, 9);
        u32(&m, 12);
        u64(&m, (uint64_t)1 << 58);
        expect_fail(&m, "arrcount_f64_huge.gguf", "key 'big.array'", "cannot fit");
    }

    /* value types */
    FROM_BASE();
    patch(&m, bounds[3] + 8 + 6, 13, 4);
    expect_fail(&m, "vtype_unknown.gguf", "key 'x.flag'", "unknown value type 13");
    FROM_BASE();
    patch(&m, bounds[4] + 8 + 8 + 4, 0xFFFFFFFFu, 4);
    expect_fail(&m, "elemtype_unknown.gguf", "key 'x.tokens'", "unknown array element type");
    FROM_BASE();
    patch(&m, bounds[3] + 8 + 6 + 4, 2, 1);
    expect_fail(&m, "bool_2.gguf", "key 'x.flag'", "invalid bool");
    {
        reset(&m);
        hdr(&m, 3, 0, 1);
        str(&m, "bools");
        u32(&m, 9);
        u32(&m, 7);
        u64(&m, 3);
        u8(&m, 1);
        u8(&m, 0);
        u8(&m, 0x80);
        expect_fail(&m, "bool_in_array.gguf", "key 'bools'", "invalid bool");
    }
    /* nesting: 8 levels accepted, 9 refused, 100000 refused without deep recursion */
    for (int depth = 8; depth <= 9; depth++) {
        reset(&m);
        hdr(&m, 3, 0, 1);
        str(&m, "deep");
        u32(&m, 9);
        for (int i = 0; i < depth - 1; i++) {
            u32(&m, 9);
            u64(&m, 1);
        }
        u32(&m, 4);
        u64(&m, 1);
        u32(&m, 42);
        if (depth == 8)
            expect_ok(&m, "nest8.gguf");
        else
            expect_fail(&m, "nest9.gguf", "key 'deep'", "nested deeper");
    }
    {
        reset(&m);
        hdr(&m, 3, 0, 1);
        str(&m, "deeper");
        u32(&m, 9);
        for (int i = 0; i < 100000; i++) {
            u32(&m, 9);
            u64(&m, 1);
        }
        expect_fail(&m, "nest100000.gguf", "key 'deeper'", "nested deeper");
    }

    /* keys */
    FROM_BASE();
    memcpy(m.p + bounds[3] + 8, "x.flaG", 6);
    expect_ok(&m, "key_case.gguf");
    FROM_BASE();
    memcpy(m.p + bounds[3] + 8, "x.toke", 6); /* "x.toke" != "x.tokens": still unique */
    expect_ok(&m, "key_prefix.gguf");
    {
        reset(&m);
        hdr(&m, 3, 0, 3);
        kv_u32(&m, "a.key", 1);
        kv_str(&m, "dup.key", "x");
        kv_u32(&m, "dup.key", 2);
        expect_fail(&m, "dup_key.gguf", "duplicate key 'dup.key'", NULL);
    }
    FROM_BASE();
    m.p[bounds[3] + 8 + 1] = 0; /* "x\0flag" */
    expect_fail(&m, "key_nul.gguf", "NUL", NULL);

    /* alignment */
    FROM_BASE();
    patch(&m, bounds[2] + 8 + 17 + 4, 0, 4);
    expect_fail(&m, "align_0.gguf", "general.alignment", "power of two");
    FROM_BASE();
    patch(&m, bounds[2] + 8 + 17 + 4, 3, 4);
    expect_fail(&m, "align_3.gguf", "general.alignment", "power of two");
    FROM_BASE();
    patch(&m, bounds[2] + 8 + 17, 5, 4); /* i32 32 */
    expect_fail(&m, "align_i32.gguf", "general.alignment", "expected u32");
    FROM_BASE();
    patch(&m, bounds[2] + 8 + 17 + 4, 64, 4); /* b at 64 stays aligned, data start moves */
    expect_fail(&m, "align_64_moves_data.gguf", "tensor 'b'", NULL);

    /* tensor infos: types and shapes */
    const size_t ta = bounds[5], tb = bounds[6];
    const size_t a_nd = ta + 8 + 1, a_type = a_nd + 4 + 16, b_ne0 = tb + 8 + 1 + 4, b_type = b_ne0 + 8,
                 b_off = b_type + 4;
    FROM_BASE();
    patch(&m, b_type, 4, 4);
    expect_fail(&m, "ttype_4.gguf", "tensor 'b'", "unknown tensor type id 4");
    FROM_BASE();
    patch(&m, b_type, 1000, 4);
    expect_fail(&m, "ttype_1000.gguf", "tensor 'b'", "unknown tensor type id 1000");
    FROM_BASE();
    patch(&m, a_type, 15, 4);
    expect_fail(&m, "ttype_q8_K.gguf", "tensor 'a'", "q8_K");
    FROM_BASE();
    patch(&m, a_nd, 5, 4);
    expect_fail(&m, "dims_5.gguf", "tensor 'a'", "5 dimensions");
    FROM_BASE();
    patch(&m, a_nd, 0, 4);
    expect_fail(&m, "dims_0.gguf", "tensor 'a'", "0 dimensions");
    FROM_BASE();
    patch(&m, b_ne0, 0, 8);
    expect_fail(&m, "dim_zero.gguf", "tensor 'b'", "must be positive");
    FROM_BASE();
    patch(&m, b_ne0, (uint64_t)-32, 8);
    expect_fail(&m, "dim_negative.gguf", "tensor 'b'", "must be positive");
    FROM_BASE();
    patch(&m, b_ne0, 33, 8);
    expect_fail(&m, "row_not_block.gguf", "tensor 'b'", "not a multiple of the q8_0 block size 32");
    FROM_BASE();
    patch(&m, a_nd + 4, (uint64_t)1 << 32, 8);
    patch(&m, a_nd + 12, (uint64_t)1 << 32, 8);
    expect_fail(&m, "dims_overflow.gguf", "tensor 'a'", "overflow");
    FROM_BASE();
    patch(&m, a_nd + 4, (uint64_t)1 << 62, 8);
    patch(&m, a_nd + 12, 1, 8);
    expect_fail(&m, "bytes_overflow.gguf", "tensor 'a'", "overflow");
    FROM_BASE();
    patch(&m, a_nd + 4, (uint64_t)1 << 40, 8);
    expect_fail(&m, "tensor_too_big.gguf", "tensor 'a'", "past the end");
    FROM_BASE();
    patch(&m, b_type, 202, 4); /* q4_0_r8: interleaved types are readable (18 bytes) */
    m.n -= 2;                  /* b is 2 bytes shorter now: no trailing bytes past its padding */
    expect_ok(&m, "interleaved.gguf");
    FROM_BASE();
    /* base ends 30 bytes short of its last tensor's padding: 64 more bytes = 34 trailing */
    for (int i = 0; i < 64; i++) u8(&m, 0);
    expect_fail(&m, "trailing_bytes.gguf", "34 trailing bytes", "after the end of the tensor data");
    m.n -= 34;
    expect_ok(&m, "padding_only.gguf");

    /* tensor placement */
    FROM_BASE();
    patch(&m, b_off, 68, 8);
    expect_fail(&m, "misaligned.gguf", "misaligned.gguf: tensor 'b': offset 68 is not a multiple of the alignment 32",
                NULL);
    FROM_BASE();
    patch(&m, b_off, 1u << 20, 8);
    expect_fail(&m, "offset_past_end.gguf", "tensor 'b'", "past the end");
    FROM_BASE();
    patch(&m, b_off, UINT64_MAX - 31, 8);
    expect_fail(&m, "offset_wraps.gguf", "tensor 'b'", "past the end");
    FROM_BASE();
    patch(&m, b_off, 32, 8);
    expect_fail(&m, "overlap.gguf", "overlaps", "'a'");
    FROM_BASE();
    patch(&m, b_off, 0, 8);
    expect_fail(&m, "overlap_same.gguf", "overlaps", NULL);
    FROM_BASE();
    m.p[tb + 8] = 'a'; /* both tensors called "a" */
    expect_fail(&m, "dup_tensor.gguf", "duplicate tensor name 'a'", NULL);
    FROM_BASE();
    patch(&m, tb, 0, 8); /* name "" then the rest shifts: must not crash */
    expect_fail(&m, "tname_shift.gguf", NULL, NULL);
    {
        static const uint64_t ne[1] = {4};
        reset(&m);
        hdr(&m, 3, 1, 0);
        u64(&m, 8);
        put(&m, "bad\0name", 8);
        u32(&m, 1);
        u64(&m, ne[0]);
        u32(&m, 0);
        u64(&m, 0);
        pad(&m, 32);
        fill(&m, 16);
        expect_fail(&m, "tname_nul.gguf", "NUL", NULL);
    }
    /* no tensors, no data section, no padding: valid */
    {
        reset(&m);
        hdr(&m, 3, 0, 1);
        kv_u32(&m, "general.alignment", 64);
        expect_ok(&m, "no_tensors.gguf");
    }
    /* empty and missing files */
    {
        static unsigned char nothing[1];
        buf e = {nothing, 0, 0};
        expect_fail(&e, "empty.gguf", NULL, NULL);
        buf e0 = {NULL, 0, 0};
        const char *want[1] = {NULL};
        expect_fail_v(&e0, "null_empty.gguf", want, 0);
        qtk_gguf *g = NULL;
        qtk_error err;
        CHECK(qtk_gguf_open("/nonexistent-dir/x.gguf", &g, &err) == QTK_ERR_IO && g == NULL &&
                  strstr(err.msg, "/nonexistent-dir/x.gguf"),
              "missing file: %s", err.msg);
        n_cases++;
    }
    free(m.p);
    free(b.p);
#undef FROM_BASE
}

/* ---- writer failure cases ---------------------------------------------------------- */

static int file_equals(const char *path, const unsigned char *bytes, size_t n) {
    size_t got = 0;
    unsigned char *p = tl_read_file(path, &got);
    int ok = p && got == n && memcmp(p, bytes, n) == 0;
    free(p);
    return ok;
}

static char *tmp_of(const char *path) {
    char *t = (char *)malloc(strlen(path) + 5);
    sprintf(t, "%s.tmp", path);
    return t;
}

static void writer_cases(void) {
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    static const unsigned char old_bytes[] = "previous contents of OUT";
    char *out = tl_tmp_path("writer_out.gguf");
    char *tmp = tmp_of(out);
    static const int64_t ne[2] = {256, 64};
    static unsigned char chunk[4096];
    memset(chunk, 0x5A, sizeof chunk);

    /* directory does not exist */
    {
        const char *bad = "/nonexistent-qtk-dir/out.gguf";
        qtk_status st = qtk_gguf_writer_open(bad, &w, &err);
        CHECK(st == QTK_ERR_IO && w == NULL, "open in missing dir");
        CHECK(strstr(err.msg, bad) && strlen(err.msg) > strlen(bad) + 10, "message: %s", err.msg);
        CHECK(tl_temp_files(bad) <= 0, "tmp exists");
    }

    /* not all tensor bytes: finish fails, tmp removed, existing OUT untouched */
    CHECK(tl_write_file(out, old_bytes, sizeof old_bytes) == 0, "seed OUT");
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_add_tensor(w, "w0", QTK_TYPE_F32, 2, ne, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_write(w, chunk, 1000, &err) == QTK_OK, "%s", err.msg);
    CHECK(tl_temp_files(out) > 0, "tmp exists while writing");
    CHECK(qtk_gguf_writer_finish(w, &err) != QTK_OK, "short output accepted");
    CHECK(strstr(err.msg, out) && strstr(err.msg, "'w0'"), "message: %s", err.msg);
    CHECK(tl_temp_files(out) == 0, "tmp left after incomplete finish");
    CHECK(file_equals(out, old_bytes, sizeof old_bytes), "OUT changed by failed finish");

    /* a tensor never started */
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_add_tensor(w, "w0", QTK_TYPE_F32, 1, ne, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_add_tensor(w, "w1", QTK_TYPE_F32, 1, ne, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_write(w, chunk, 1024, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_finish(w, &err) != QTK_OK && strstr(err.msg, "'w1'"), "missing w1: %s", err.msg);
    CHECK(tl_temp_files(out) == 0, "tmp left");
    CHECK(file_equals(out, old_bytes, sizeof old_bytes), "OUT changed");

    /* too many bytes */
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_add_tensor(w, "w0", QTK_TYPE_F32, 1, ne, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_write(w, chunk, 1025, &err) != QTK_OK && strstr(err.msg, out), "overflow: %s", err.msg);
    CHECK(tl_temp_files(out) == 0, "tmp left after overflow");
    CHECK(qtk_gguf_writer_write(w, chunk, 1, &err) != QTK_OK, "write after failure accepted");
    CHECK(qtk_gguf_writer_finish(w, &err) != QTK_OK && strstr(err.msg, out), "finish after failure");
    CHECK(file_equals(out, old_bytes, sizeof old_bytes), "OUT changed");

    /* abort removes the tmp and leaves OUT alone */
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_add_tensor(w, "w0", QTK_TYPE_F32, 2, ne, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_write(w, chunk, 7, &err) == QTK_OK, "%s", err.msg);
    qtk_gguf_writer_abort(w);
    CHECK(tl_temp_files(out) == 0, "tmp left after abort");
    CHECK(file_equals(out, old_bytes, sizeof old_bytes), "OUT changed by abort");
    qtk_gguf_writer_abort(NULL);

    /* declaration checks */
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    {
        static const int64_t ne33[1] = {33}, ne0[2] = {32, 0}, ne5[5] = {32, 1, 1, 1, 1}, neneg[1] = {-32};
        CHECK(qtk_gguf_writer_add_tensor(w, "t", QTK_TYPE_Q8_0, 1, ne, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_gguf_writer_add_tensor(w, "t", QTK_TYPE_F32, 1, ne, &err) != QTK_OK && strstr(err.msg, "'t'"),
              "duplicate declared: %s", err.msg);
        CHECK(qtk_gguf_writer_add_tensor(w, "u", QTK_TYPE_Q8_0, 1, ne33, &err) != QTK_OK && strstr(err.msg, "'u'") &&
                  strstr(err.msg, "block size"),
              "row 33 of q8_0: %s", err.msg);
        CHECK(qtk_gguf_writer_add_tensor(w, "u", QTK_TYPE_F32, 2, ne0, &err) != QTK_OK, "zero dim");
        CHECK(qtk_gguf_writer_add_tensor(w, "u", QTK_TYPE_F32, 1, neneg, &err) != QTK_OK, "negative dim");
        CHECK(qtk_gguf_writer_add_tensor(w, "u", QTK_TYPE_F32, 5, ne5, &err) != QTK_OK, "5 dims");
        CHECK(qtk_gguf_writer_add_tensor(w, "u", QTK_TYPE_F32, 0, ne5, &err) != QTK_OK, "0 dims");
        CHECK(qtk_gguf_writer_add_tensor(w, "u", QTK_TYPE_Q8_K, 1, ne, &err) != QTK_OK, "q8_K declared");
        CHECK(qtk_gguf_writer_add_tensor(w, "u", (qtk_type)4, 1, ne, &err) != QTK_OK, "type 4 declared");
        CHECK(qtk_gguf_writer_write(w, chunk, 8, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_gguf_writer_add_tensor(w, "late", QTK_TYPE_F32, 1, ne, &err) != QTK_OK, "declared after data");
    }
    qtk_gguf_writer_abort(w);
    CHECK(tl_temp_files(out) == 0, "tmp left after abort");

    /* an invalid general.alignment cannot be written */
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_meta_set_u32(qtk_gguf_writer_meta(w), "general.alignment", 48, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_finish(w, &err) != QTK_OK && strstr(err.msg, "general.alignment"), "alignment 48: %s",
          err.msg);
    CHECK(tl_temp_files(out) == 0, "tmp left");
    CHECK(file_equals(out, old_bytes, sizeof old_bytes), "OUT changed");

#ifndef _WIN32
    /* the file system refuses the data (RLIMIT_FSIZE, SIGXFSZ ignored): EFBIG */
    {
        struct rlimit old, lim;
        CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0, "getrlimit");
        void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
        lim = old;
        lim.rlim_cur = 8192;
        CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
        qtk_status st = qtk_gguf_writer_open(out, &w, &err);
        CHECK(st == QTK_OK, "%s", err.msg);
        if (st == QTK_OK) {
            static const int64_t big[2] = {256, 256}; /* 256 KiB of f32 */
            CHECK(qtk_gguf_writer_add_tensor(w, "big", QTK_TYPE_F32, 2, big, &err) == QTK_OK, "%s", err.msg);
            for (int i = 0; i < 64 && st == QTK_OK; i++) st = qtk_gguf_writer_write(w, chunk, sizeof chunk, &err);
            if (st == QTK_OK) st = qtk_gguf_writer_finish(w, &err);
            else
                qtk_gguf_writer_abort(w);
        }
        setrlimit(RLIMIT_FSIZE, &old);
        signal(SIGXFSZ, old_handler);
        CHECK(st == QTK_ERR_IO, "write past RLIMIT_FSIZE succeeded (%d)", (int)st);
        CHECK(strstr(err.msg, out) && strstr(err.msg, "File too large"), "EFBIG message: %s", err.msg);
        CHECK(tl_temp_files(out) == 0, "tmp left after EFBIG");
        CHECK(file_equals(out, old_bytes, sizeof old_bytes), "OUT changed by failed write");
    }
#endif

    /* finally a successful write replaces OUT */
    CHECK(qtk_gguf_writer_open(out, &w, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "%s", err.msg);
    CHECK(!file_equals(out, old_bytes, sizeof old_bytes) && tl_temp_files(out) == 0, "OUT not replaced");
    qtk_gguf *g = NULL;
    CHECK(qtk_gguf_open(out, &g, &err) == QTK_OK, "%s", err.msg);
    qtk_gguf_close(g);

    remove(out);
    free(out);
    free(tmp);
}

int main(void) {
    reader_cases();
    CHECK(n_cases >= 30, "only %d malformed cases", n_cases);
    writer_cases();
    printf("malformed cases: %d\n", n_cases);
    return tl_finish("test_gguf_malformed");
}
