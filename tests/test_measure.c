/*
 * test_measure.c — `qtk measure` (issue #15): the measurement table's TSV
 * format (round trip, every malformed case refused with FILE:LINE), the
 * measure pass on a small hand-made model with an imatrix (dense tensors
 * with all rows and with sampled rows, a 3-D expert tensor, a row length
 * that needs the block-size fallback, a 1-D tensor that stays fixed):
 * error terms against a direct computation, the same bytes for 1 and 3
 * threads, shard + merge and resume equal to a one-shot run, hash
 * mismatches refused without touching the file, header_bytes equal to the
 * header `qtk quantize` really writes, and the CLI's exit codes.
 * Runs in well under a second natively; QTK_TEST_QUICK=1 uses fewer types.
 */
#include "testlib.h"
#include "quantize/measure_table.h"
#include "quantize/probe.h"
#include "model/weight_swap.h"

#include <math.h>
#include <stdint.h>

/* ---- the test model ------------------------------------------------------------ */

typedef struct tdesc {
    const char *name;
    int n_dims;
    int64_t ne[3];
} tdesc;

/* 0: all rows (64 <= 512); 1: ne0 96 (fallback); 2: sampled (600 rows of 4096 -> 256);
 * 3: 1-D (fixed); 4: experts 16 x 40 rows of 2048 (32 sampled per expert) */
static const tdesc MODEL[] = {
    {"blk.0.attn_q.weight", 2, {256, 64, 1}},
    {"blk.0.attn_k.weight", 2, {96, 48, 1}},
    {"blk.0.ffn_down.weight", 2, {4096, 600, 1}},
    {"blk.0.attn_norm.weight", 1, {256, 1, 1}},
    {"blk.1.ffn_up_exps.weight", 3, {2048, 40, 16}},
};
#define N_MODEL ((int)(sizeof MODEL / sizeof MODEL[0]))

/* Writes the model (F16, seed-dependent values); 1 on success. */
static int write_model(const char *path, unsigned long long seed) {
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return 0;
    qtk_meta *m = qtk_gguf_writer_meta(w);
    qtk_meta_set_str(m, "general.architecture", "llama", &err);
    qtk_meta_set_str(m, "general.name", "measure-test", &err);
    for (int k = 0; k < N_MODEL; k++)
        if (qtk_gguf_writer_add_tensor(w, MODEL[k].name, k == 3 ? QTK_TYPE_F32 : QTK_TYPE_F16, MODEL[k].n_dims,
                                       MODEL[k].ne, &err) != QTK_OK) {
            qtk_gguf_writer_abort(w);
            return 0;
        }
    tl_rng r;
    tl_rng_seed(&r, seed);
    for (int k = 0; k < N_MODEL; k++) {
        int64_t n = MODEL[k].ne[0] * MODEL[k].ne[1] * MODEL[k].ne[2];
        uint16_t *h = (uint16_t *)malloc((size_t)n * 2);
        float *f = (float *)malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) {
            int64_t row = i / MODEL[k].ne[0];
            float scale = 0.02f * (1.0f + (float)(row % 7)); /* rows of different scales */
            f[i] = k == 3 ? 1.0f : scale * tl_rng_normal(&r);
            h[i] = qtk_fp32_to_fp16(f[i]);
        }
        qtk_status s = k == 3 ? qtk_gguf_writer_write(w, f, (size_t)n * 4, &err)
                              : qtk_gguf_writer_write(w, h, (size_t)n * 2, &err);
        free(h);
        free(f);
        if (s != QTK_OK) return 0;
    }
    return qtk_gguf_writer_finish(w, &err) == QTK_OK;
}

/* An imatrix (legacy .dat) with entries for tensors 0, 2 and 4 (not 1: the
 * fallback tensor is measured with unit weights). */
static int write_imatrix(const char *path) {
    qtk_error err;
    qtk_imatrix_acc *acc = NULL;
    if (qtk_imatrix_acc_create(&acc, &err) != QTK_OK) return 0;
    tl_rng r;
    tl_rng_seed(&r, 77);
    int ok = 1;
    const int which[3] = {0, 2, 4};
    for (int q = 0; q < 3 && ok; q++) {
        const tdesc *d = &MODEL[which[q]];
        int64_t idx, nm = d->n_dims == 3 ? d->ne[2] : 1;
        ok = qtk_imatrix_acc_tensor(acc, d->name, d->ne[0], nm, &idx, &err) == QTK_OK;
        float *x = (float *)malloc((size_t)d->ne[0] * 4 * sizeof(float));
        for (int64_t m = 0; m < nm && ok; m++) {
            for (int64_t i = 0; i < d->ne[0] * 4; i++)
                x[i] = tl_rng_normal(&r) * (i % d->ne[0] < 8 ? 6.0f : 1.0f); /* outlier columns */
            ok = qtk_imatrix_acc_add(acc, idx, m, x, 4, &err) == QTK_OK;
        }
        free(x);
    }
    ok = ok && qtk_imatrix_acc_set_chunks(acc, 1, 4, &err) == QTK_OK && qtk_imatrix_save_dat(path, acc, &err) == QTK_OK;
    qtk_imatrix_acc_free(acc);
    return ok;
}

static int g_types[8], g_ntypes;

static qtk_status measure(const char *model, const char *imx, const char *out, int threads, int si, int sn,
                          qtk_measure_progress_fn prog, void *ud, qtk_error *err) {
    qtk_gguf *g = NULL;
    qtk_status s = qtk_gguf_open(model, &g, err);
    if (s != QTK_OK) return s;
    qtk_measure_params p;
    qtk_measure_params_init(&p);
    p.nthreads = threads;
    p.imatrix_path = imx;
    p.types = g_types;
    p.n_types = g_ntypes;
    p.shard_index = si;
    p.shard_count = sn;
    p.progress = prog;
    p.progress_ud = ud;
    s = qtk_measure_model(g, &p, out, err);
    qtk_gguf_close(g);
    return s;
}

static void count_progress(void *ud, const qtk_measure_progress *p) {
    int64_t *c = (int64_t *)ud;
    if (p->tensor) c[0]++;
    else c[1] = p->skipped;
}

/* ---- format --------------------------------------------------------------------- */

static char *read_all(const char *path) { return tl_read_text(path); }

/* Replaces the first occurrence of `from` in text by `to` (malloc'ed). */
static char *subst(const char *text, const char *from, const char *to) {
    const char *p = strstr(text, from);
    if (!p) return NULL;
    size_t a = (size_t)(p - text), lf = strlen(from), lt = strlen(to), n = strlen(text);
    char *r = (char *)malloc(n - lf + lt + 1);
    memcpy(r, text, a);
    memcpy(r + a, to, lt);
    memcpy(r + a + lt, p + lf, n - a - lf + 1);
    return r;
}

/* The text must be refused with a message containing want (and "t.tsv:"). */
static void expect_refused(const char *text, const char *want, const char *what) {
    qtk_measure_table *t = NULL;
    qtk_error err;
    memset(&err, 0, sizeof err);
    qtk_status s = text ? qtk_measure_table_parse(text, strlen(text), "t.tsv", &t, &err) : QTK_OK;
    CHECK(text && s != QTK_OK && strstr(err.msg, want) && strstr(err.msg, "t.tsv"), "%s: status %d, message '%s'",
          what, (int)s, err.msg);
    qtk_measure_table_free(t);
}

static void test_format(const char *table_path) {
    char *text = read_all(table_path);
    CHECK(text != NULL, "read %s", table_path);
    if (!text) return;
    /* round trip: parse -> format gives the same bytes */
    qtk_measure_table *t = NULL;
    qtk_error err;
    CHECK(qtk_measure_table_parse(text, strlen(text), "t.tsv", &t, &err) == QTK_OK, "parse: %s", err.msg);
    if (t) {
        char *again = NULL;
        size_t len = 0;
        CHECK(qtk_measure_table_format(t, &again, &len, &err) == QTK_OK && len == strlen(text) && !strcmp(again, text),
              "format(parse(x)) == x");
        free(again);
        /* extreme reals survive %.9g */
        t->t[0].cand[0].eps_abs = 1.23456789e-30;
        t->t[0].cand[0].eps_rel = 0;
        t->t[0].cand[0].e_out = 9.87654321e+30;
        CHECK(qtk_measure_table_format(t, &again, &len, &err) == QTK_OK, "format");
        qtk_measure_table *t2 = NULL;
        CHECK(again && qtk_measure_table_parse(again, len, "t2.tsv", &t2, &err) == QTK_OK, "reparse: %s", err.msg);
        if (t2) {
            CHECK(t2->t[0].cand[0].eps_abs == 1.23456789e-30 && t2->t[0].cand[0].e_out == 9.87654321e+30 &&
                      t2->t[0].cand[0].eps_rel == 0,
                  "reals round trip at 9 digits");
            CHECK(t2->n == t->n && t2->n_types == t->n_types && !strcmp(t2->model_hash, t->model_hash) &&
                      t2->header_bytes == t->header_bytes && t2->t[t2->n - 1].n_cand == t->t[t->n - 1].n_cand,
                  "fields round trip");
        }
        qtk_measure_table_free(t2);
        free(again);
        /* a tab in a name cannot be written */
        char *old = t->t[0].name;
        t->t[0].name = (char *)"bad\tname";
        CHECK(qtk_measure_table_format(t, &again, &len, &err) != QTK_OK && strstr(err.msg, "TAB"), "tab in name refused");
        t->t[0].name = old;
        qtk_measure_table_free(t);
    }
    /* the first data line (line 15) and its fields */
    const char *l15 = text;
    for (int i = 0; i < 14 && l15; i++) l15 = strchr(l15, '\n') ? strchr(l15, '\n') + 1 : NULL;
    char first[512] = "";
    if (l15) {
        size_t n = (size_t)(strchr(l15, '\n') - l15);
        memcpy(first, l15, n < sizeof first - 1 ? n : sizeof first - 1);
    }
    char *x;
    expect_refused(x = subst(text, "#qtk-measure\t1", "#qtk-measure\t3"), "t.tsv:1: format version 3", "newer version");
    free(x);
    expect_refused(x = subst(text, "wmse-1", "wmse-2"), "t.tsv:2: error metric 'wmse-2'", "other metric");
    free(x);
    expect_refused(x = subst(text, "#fixed_bytes\t", "#fixed_bytez\t"), "t.tsv:14: header key '#fixed_bytes' missing", "missing key");
    free(x);
    expect_refused(x = subst(text, "q6_K", "q6_Z"), "unknown type name 'q6_Z'", "unknown type in #types");
    free(x);
    expect_refused(x = subst(text, "\tq8_0\t", "\tq9_0\t"), "unknown type name 'q9_0'", "unknown type in a row");
    free(x);
    expect_refused(x = subst(text, "#shard\t1/1", "#shard\t3/2"), "t.tsv:12: shard", "bad shard");
    free(x);
    expect_refused(x = subst(text, "#model_hash\t", "#model_hash\tx"), "t.tsv:4: model_hash", "bad hash");
    free(x);
    expect_refused(x = subst(text, "qtk-measure", "qtk-measurf"), "t.tsv:1: not a qtk measurement table", "not a table");
    free(x);
    expect_refused("", "empty file", "empty");
    /* data-line mutations on line 15 */
    {
        char *l = (char *)malloc(strlen(first) + 16);
        const char *tab = first;
        for (int k = 0; k < 10; k++) tab = strchr(tab, '\t') + 1; /* at eps_abs */
        size_t pre = (size_t)(tab - first);
        memcpy(l, first, pre);
        strcpy(l + pre, "nan");
        strcat(l, strchr(tab, '\t'));
        expect_refused(x = subst(text, first, l), "t.tsv:15: tensor 'blk.0.attn_q.weight', type", "NaN eps_abs");
        free(x);
        strcpy(l + pre, "abc");
        strcat(l, strchr(tab, '\t'));
        expect_refused(x = subst(text, first, l), "eps_abs 'abc' is not a finite number", "text eps");
        free(x);
        memcpy(l, first, pre);
        strcpy(l + pre, "-1");
        strcat(l, strchr(tab, '\t'));
        expect_refused(x = subst(text, first, l), "eps_abs '-1'", "negative eps");
        free(x);
        strcpy(l, first);
        *strrchr(l, '\t') = '\0'; /* one field short */
        expect_refused(x = subst(text, first, l), "t.tsv:15: 17 fields, expected 18", "field count");
        free(x);
        strcpy(l, first);
        strcpy(strrchr(l, '\t'), "\tguess");
        expect_refused(x = subst(text, first, l), "alpha_src 'guess'", "alpha_src");
        free(x);
        free(l);
    }
    /* the first line dropped twice -> duplicate type; swapped lines -> bytes order */
    {
        size_t n = strlen(text);
        char *dup = (char *)malloc(n + strlen(first) + 2);
        const char *after = strstr(text, first);
        size_t a = (size_t)(after - text);
        memcpy(dup, text, a);
        sprintf(dup + a, "%s\n%s", first, after);
        expect_refused(dup, "t.tsv:16: tensor 'blk.0.attn_q.weight': type", "duplicate type line");
        free(dup);
        /* line 16 (the second candidate) before line 15 */
        const char *l16 = strchr(after, '\n') + 1;
        size_t n16 = (size_t)(strchr(l16, '\n') - l16);
        char *sw = (char *)malloc(n + 1);
        memcpy(sw, text, a);
        memcpy(sw + a, l16, n16);
        sw[a + n16] = '\n';
        memcpy(sw + a + n16 + 1, first, strlen(first));
        strcpy(sw + a + n16 + 1 + strlen(first), l16 + n16);
        expect_refused(sw, "t.tsv:16: tensor 'blk.0.attn_q.weight': candidates not in increasing bytes", "bytes order");
        free(sw);
    }
    /* pinned with several candidates; truncated last line; tensors out of order */
    {
        /* every line of attn_q pinned */
        char *pinned = (char *)malloc(strlen(text) + 1);
        strcpy(pinned, text);
        for (char *ln = pinned; ln && *ln; ln = strchr(ln, '\n') ? strchr(ln, '\n') + 1 : NULL) {
            if (strncmp(ln, "blk.0.attn_q.weight\t", 20) != 0) continue;
            char *pin = strstr(ln, "\t-\t-\t1\tprior");
            if (pin) pin[1] = '1';
        }
        expect_refused(pinned, "tensor 'blk.0.attn_q.weight' is pinned but has", "pinned with candidates");
        free(pinned);
        size_t n = strlen(text);
        char *tr = (char *)malloc(n + 1);
        memcpy(tr, text, n - 3);
        tr[n - 3] = '\0';
        expect_refused(tr, "no line end", "truncated");
        free(tr);
        /* the last tensor's idx made smaller than the one before */
        char *last = strstr(text, "blk.1.ffn_up_exps.weight\t4\t");
        if (last) {
            char *o = (char *)malloc(n + 1);
            strcpy(o, text);
            char *q = o + (last - text);
            while ((q = strstr(q, "blk.1.ffn_up_exps.weight\t4\t")) != NULL) q[25] = '1';
            expect_refused(o, "idx 1 after idx 2", "idx order");
            free(o);
        } else {
            CHECK(0, "expert tensor line not found");
        }
    }
    /* random byte mutations and truncations: parsed or refused with a located message, never a crash
     * (run under ASan in CI) */
    {
        int n_mut = tl_quick() ? 300 : 3000, bad = 0;
        size_t n = strlen(text);
        char *m = (char *)malloc(n + 1);
        tl_rng r;
        tl_rng_seed(&r, 99);
        static const char alphabet[] = "\t\n#-.,/0123456789eEaqxK_\r\0";
        for (int k = 0; k < n_mut; k++) {
            memcpy(m, text, n + 1);
            size_t len = n;
            int edits = 1 + (int)(tl_rng_u64(&r) % 3);
            for (int e = 0; e < edits; e++)
                m[tl_rng_u64(&r) % n] = alphabet[tl_rng_u64(&r) % (sizeof alphabet - 1)];
            if (tl_rng_u64(&r) % 4 == 0) len = (size_t)(tl_rng_u64(&r) % n);
            qtk_measure_table *t3 = NULL;
            memset(&err, 0, sizeof err);
            qtk_status s = qtk_measure_table_parse(m, len, "t.tsv", &t3, &err);
            if (s == QTK_OK) {
                char *again = NULL;
                size_t l2;
                /* what parses formats again (possibly differently, e.g. 1e1 -> 10) */
                if (qtk_measure_table_format(t3, &again, &l2, &err) != QTK_OK) {
                    bad++;
                    fprintf(stderr, "parsed but cannot be written: %s\n", err.msg);
                }
                free(again);
            } else if (strncmp(err.msg, "t.tsv:", 6) != 0) {
                bad++;
                fprintf(stderr, "refused without FILE:LINE: %s\n", err.msg);
            }
            qtk_measure_table_free(t3);
        }
        CHECK(bad == 0, "%d of %d mutated tables neither parsed nor refused with a located message", bad, n_mut);
        free(m);
    }
    free(text);
}

/* ---- error terms against a direct computation -------------------------------------- */

static const qtk_measure_tensor *find_tensor(const qtk_measure_table *t, const char *name) {
    for (int64_t i = 0; i < t->n; i++)
        if (!strcmp(t->t[i].name, name)) return &t->t[i];
    return NULL;
}

static const qtk_measure_cand *find_cand(const qtk_measure_tensor *x, int type) {
    for (int c = 0; x && c < x->n_cand; c++)
        if (x->cand[c].type == type) return &x->cand[c];
    return NULL;
}

/* Σ v e², Σ v w², mean row ratio over all rows of tensor k quantized to type. */
static void direct(const qtk_gguf *g, const qtk_imatrix *im, int k, int type, double *ea, double *eo, double *er) {
    const qtk_tensor_info *t = qtk_gguf_tensor(g, k);
    int64_t n = t->ne[0], rows = t->ne[1], nm = t->ne[2];
    float *w = (float *)malloc((size_t)(n * rows) * sizeof(float));
    float *y = (float *)malloc((size_t)(n * rows) * sizeof(float));
    void *q = malloc(qtk_row_size(type, n) * (size_t)rows);
    *ea = *eo = *er = 0;
    qtk_error err;
    for (int64_t m = 0; m < nm; m++) {
        const float *v = im ? qtk_imatrix_for(im, t->name, n, nm, m) : NULL;
        qtk_dequantize_rows(t->type, (const char *)t->data + (size_t)m * rows * qtk_row_size(t->type, n), w, rows, n, &err);
        qtk_quantize_rows(type, w, q, rows, n, v, &err);
        qtk_dequantize_rows(type, q, y, rows, n, &err);
        for (int64_t r = 0; r < rows; r++) {
            double a = 0, b = 0;
            for (int64_t j = 0; j < n; j++) {
                double vj = v ? v[j] : 1.0, d = (double)y[r * n + j] - (double)w[r * n + j];
                a += vj * d * d;
                b += vj * (double)w[r * n + j] * (double)w[r * n + j];
            }
            *ea += a;
            *eo += b;
            *er += a / b;
        }
    }
    *er /= (double)(rows * nm);
    free(w);
    free(y);
    free(q);
}

static int rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

static void test_values(const char *model, const char *imx, const char *table_path) {
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_imatrix *im = NULL;
    qtk_measure_table *t = NULL;
    if (qtk_gguf_open(model, &g, &err) != QTK_OK || qtk_imatrix_load(imx, &im, &err) != QTK_OK ||
        qtk_measure_table_load(table_path, &t, &err) != QTK_OK) {
        CHECK(0, "open: %s", err.msg);
        qtk_gguf_close(g);
        qtk_imatrix_free(im);
        return;
    }
    CHECK(t->n == 4 && t->n_tensors_model == 4, "4 candidate tensors (the 1-D one is fixed), got %lld", (long long)t->n);
    CHECK(t->fixed_bytes == 1024, "fixed bytes = the 1-D tensor padded: %llu", (unsigned long long)t->fixed_bytes);
    CHECK(t->n_elements_all == 256 * 64 + 96 * 48 + 4096 * 600 + 256 + 2048 * 40 * 16, "n_elements_all %lld",
          (long long)t->n_elements_all);
    /* all rows: every term equals the direct sum (9 significant digits printed) */
    const qtk_measure_tensor *q = find_tensor(t, "blk.0.attn_q.weight");
    const qtk_measure_cand *c = find_cand(q, QTK_TYPE_Q6_K);
    CHECK(q && c && c->rows == 64 && c->bytes == qtk_row_size(QTK_TYPE_Q6_K, 256) * 64, "attn_q q6_K: all 64 rows, bytes");
    if (c) {
        double ea, eo, er;
        direct(g, im, 0, QTK_TYPE_Q6_K, &ea, &eo, &er);
        CHECK(rel_close(c->eps_abs, ea, 6e-9) && rel_close(c->e_out, eo, 6e-9) && rel_close(c->eps_rel, er, 6e-9) &&
                  c->eps_abs_se == 0,
              "attn_q q6_K: eps_abs %.9g vs %.9g, e_out %.9g vs %.9g, eps_rel %.9g vs %.9g", c->eps_abs, ea, c->e_out,
              eo, c->eps_rel, er);
        CHECK(c->eps_abs > 0 && c->eps_abs < 0.05 * c->e_out, "q6_K error is small but not zero: %g of %g", c->eps_abs,
              c->e_out);
    }
    /* every tensor's candidates in strictly increasing (bytes, type id) order (docs/planner.md: by
     * increasing bytes, equal bytes by type id), each type once; tensors in file order */
    for (int64_t i = 0; i < t->n; i++) {
        const qtk_measure_tensor *x = &t->t[i];
        bool ordered = x->n_cand >= 1;
        for (int k = 1; k < x->n_cand; k++) {
            const qtk_measure_cand *p0 = &x->cand[k - 1], *p1 = &x->cand[k];
            ordered &= p1->bytes > p0->bytes || (p1->bytes == p0->bytes && p1->type > p0->type);
            for (int j = 0; j < k; j++) ordered &= x->cand[j].type != p1->type;
        }
        CHECK(ordered, "%s: candidates strictly ordered by (bytes, type), no type twice", x->name);
        CHECK(i == 0 || x->idx > t->t[i - 1].idx, "%s: tensors in file order", x->name);
    }
    /* q8_0 has the smallest error of the candidates of attn_q, q4_0 more than q6_K */
    if (q) {
        const qtk_measure_cand *c8 = find_cand(q, QTK_TYPE_Q8_0), *c4 = find_cand(q, QTK_TYPE_Q4_0);
        bool min8 = c8 != NULL;
        for (int k = 0; c8 && k < q->n_cand; k++) min8 &= q->cand[k].type == QTK_TYPE_Q8_0 || q->cand[k].eps_abs > c8->eps_abs;
        CHECK(min8, "attn_q: q8_0 has the smallest error");
        CHECK(!c4 || !c || c4->eps_abs > c->eps_abs, "attn_q: q4_0 error above q6_K");
    }
    /* fallback: ne0 96 -> q6_K becomes q8_0, merged with the q8_0 candidate; no imatrix entry -> unit weights */
    const qtk_measure_tensor *k2 = find_tensor(t, "blk.0.attn_k.weight");
    CHECK(k2 && !find_cand(k2, QTK_TYPE_Q6_K) && find_cand(k2, QTK_TYPE_Q8_0) && k2->n_cand == g_ntypes - 1,
          "attn_k: q6_K -> q8_0 fallback, duplicates merged (%d candidates)", k2 ? k2->n_cand : -1);
    if (find_cand(k2, QTK_TYPE_Q8_0)) {
        double ea, eo, er;
        direct(g, NULL, 1, QTK_TYPE_Q8_0, &ea, &eo, &er);
        const qtk_measure_cand *c8 = find_cand(k2, QTK_TYPE_Q8_0);
        CHECK(rel_close(c8->eps_abs, ea, 6e-9) && rel_close(c8->e_out, eo, 6e-9), "attn_k q8_0 (unit weights): %.9g vs %.9g",
              c8->eps_abs, ea);
    }
    /* sampled rows: 256 of 600, scaled by R/S; within 4 standard errors of the full sum */
    const qtk_measure_tensor *d = find_tensor(t, "blk.0.ffn_down.weight");
    const qtk_measure_cand *cd = find_cand(d, QTK_TYPE_Q6_K);
    CHECK(cd && cd->rows == 256 && cd->eps_abs_se > 0, "ffn_down: 256 rows sampled with a standard error");
    if (cd) {
        double ea, eo, er;
        direct(g, im, 2, QTK_TYPE_Q6_K, &ea, &eo, &er);
        CHECK(fabs(cd->eps_abs - ea) < 4 * cd->eps_abs_se && cd->eps_abs_se < 0.2 * ea,
              "ffn_down sample: %.6g +- %.3g vs full %.6g", cd->eps_abs, cd->eps_abs_se, ea);
        CHECK(fabs(cd->e_out - eo) < 0.15 * eo, "ffn_down e_out %.6g vs %.6g", cd->e_out, eo);
    }
    /* experts: 16 x 40 rows of 2048 -> 512 wanted / 16 = 32 per expert */
    const qtk_measure_tensor *e = find_tensor(t, "blk.1.ffn_up_exps.weight");
    const qtk_measure_cand *ce = find_cand(e, QTK_TYPE_Q6_K);
    CHECK(e && ce && ce->rows == 32 * 16 && e->ne[2] == 16 && e->group && !strcmp(e->group, "blk.1.ffn_upgate_exps") &&
              !strcmp(e->cls, "ffn_up_exps") && e->layer == 1,
          "expert tensor: rows %lld, class, group, layer", ce ? (long long)ce->rows : -1LL);
    if (ce) {
        double ea, eo, er;
        direct(g, im, 4, QTK_TYPE_Q6_K, &ea, &eo, &er);
        CHECK(fabs(ce->eps_abs - ea) < 4 * ce->eps_abs_se, "experts sample: %.6g +- %.3g vs full %.6g", ce->eps_abs,
              ce->eps_abs_se, ea);
    }
    /* the source checks the planner uses */
    char mh[65];
    CHECK(qtk_measure_model_hash(g, mh, &err) == QTK_OK && !strcmp(mh, t->model_hash), "model hash");
    char ih[65];
    CHECK(qtk_measure_file_hash(imx, ih, &err) == QTK_OK && qtk_measure_table_check_source(t, "t.tsv", mh, ih, &err) == QTK_OK,
          "check_source ok");
    CHECK(qtk_measure_table_check_source(t, "t.tsv", mh, NULL, &err) != QTK_OK && strstr(err.msg, "t.tsv"),
          "check_source: no imatrix refused");
    CHECK(qtk_measure_table_check_complete(t, "t.tsv", &err) == QTK_OK, "complete");
    qtk_measure_table_free(t);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* header_bytes: what qtk_quantize_model writes with an empty recipe; with a
 * recipe R, header_bytes + strlen(text of R) is the file's unpadded header. */
static void test_header_bytes(const char *model, const char *imx, const char *table_path) {
    qtk_error err;
    qtk_gguf *g = NULL, *o = NULL;
    qtk_imatrix *im = NULL;
    qtk_recipe *r = NULL;
    qtk_plan *plan = NULL;
    qtk_measure_table *t = NULL;
    char *out = tl_tmp_path("measure-hb.gguf");
    const char *rtext = "# a recipe\ndefault q8_0\nattn_k = q4_0\n";
    int ok = qtk_gguf_open(model, &g, &err) == QTK_OK && qtk_imatrix_load(imx, &im, &err) == QTK_OK &&
             qtk_measure_table_load(table_path, &t, &err) == QTK_OK &&
             qtk_recipe_parse(rtext, "r.txt", &r, &err) == QTK_OK && qtk_plan_make(g, r, im, false, &plan, &err) == QTK_OK;
    CHECK(ok, "setup: %s", err.msg);
    if (ok) {
        qtk_quantize_params p;
        qtk_quantize_params_init(&p);
        p.imatrix = im;
        p.imatrix_path = imx;
        p.recipe = r;
        CHECK(qtk_quantize_model(g, plan, out, &p, &err) == QTK_OK, "quantize: %s", err.msg);
        char *text = qtk_recipe_text(r);
        size_t n = 0;
        unsigned char *bytes = tl_read_file(out, &n);
        if (text && bytes && qtk_gguf_open(out, &o, &err) == QTK_OK) {
            uint64_t hb = t->header_bytes + strlen(text), off = qtk_gguf_data_offset(o);
            const qtk_tensor_info *last = qtk_gguf_tensor(o, qtk_gguf_n_tensors(o) - 1);
            uint64_t lo = 0;
            for (int k = 0; k < 8 && hb >= 8; k++) lo |= (uint64_t)bytes[hb - 8 + (uint64_t)k] << (8 * k);
            bool zeros = true;
            for (uint64_t k = hb; k < off && k < n; k++) zeros &= bytes[k] == 0;
            CHECK(hb <= off && off - hb < t->alignment && zeros && lo == last->offset,
                  "header_bytes %llu + recipe %zu = %llu: data at %llu, padding zero, last tensor info ends there "
                  "(offset %llu vs %llu)",
                  (unsigned long long)t->header_bytes, strlen(text), (unsigned long long)hb, (unsigned long long)off,
                  (unsigned long long)lo, (unsigned long long)last->offset);
            uint64_t hs = 0, al = 0;
            CHECK(qtk_quantize_header_size(g, plan, &p, NULL, &hs, &al, &err) == QTK_OK && hs == hb && al == 32,
                  "qtk_quantize_header_size %llu == %llu", (unsigned long long)hs, (unsigned long long)hb);
            qtk_gguf_close(o);
        } else {
            CHECK(0, "read the quantized file");
        }
        free(text);
        free(bytes);
        qtk_remove_file(out);
    }
    qtk_plan_free(plan);
    qtk_recipe_free(r);
    qtk_measure_table_free(t);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
    free(out);
}

/* ---- KLD probes (stage C): table version 2, selection, calibration ---------------- */

/* Version 1 tables still load and are written as version 1; probe results
 * make a version 2 table (dkld, dkld_se columns, #probe) that round-trips. */
static void test_probe_format(const char *table_path) {
    char *text = read_all(table_path);
    CHECK(text && !strncmp(text, "#qtk-measure\t1\n", 15) && !strstr(text, "dkld"), "a table without probes is version 1");
    qtk_error err;
    qtk_measure_table *t = NULL;
    CHECK(text && qtk_measure_table_parse(text, strlen(text), "v1.tsv", &t, &err) == QTK_OK, "v1 parses: %s", err.msg);
    if (!t || t->n < 2 || t->t[0].n_cand < 2) {
        free(text);
        qtk_measure_table_free(t);
        return;
    }
    CHECK(!t->probe && !t->t[0].cand[0].has_dkld, "v1: no probe fields");
    t->probe = qtk_strdup("ref=source ctx=64 chunks=2 text=0123456789abcdef alpha_type=q6_K");
    t->t[0].cand[1].has_dkld = true;
    t->t[0].cand[1].dkld = 1.23456789e-4;
    t->t[0].cand[1].dkld_se = 5.5e-6;
    t->t[1].cand[0].has_dkld = true;
    t->t[1].cand[0].dkld = -2.5e-7; /* noise can make a mean difference negative: kept as measured */
    t->t[1].cand[0].dkld_se = 1e-6;
    t->t[0].alpha = 0.0123;
    snprintf(t->t[0].alpha_src, sizeof t->t[0].alpha_src, "probe");
    t->t[1].alpha = 0.0456;
    snprintf(t->t[1].alpha_src, sizeof t->t[1].alpha_src, "interp");
    char *v2 = NULL;
    size_t len = 0;
    CHECK(qtk_measure_table_format(t, &v2, &len, &err) == QTK_OK, "format v2: %s", err.msg);
    CHECK(v2 && !strncmp(v2, "#qtk-measure\t2\n", 15) && strstr(v2, "\n#probe\tref=source ctx=64") &&
              strstr(v2, "\talpha\talpha_src\tdkld\tdkld_se\n") && strstr(v2, "\tprobe\t0.000123456789\t5.5e-06\n") &&
              strstr(v2, "\tinterp\t-2.5e-07\t1e-06\n") && strstr(v2, "\t-\t-\n"),
          "version 2 text: header, columns, values, '-' for unprobed");
    qtk_measure_table *t2 = NULL;
    CHECK(v2 && qtk_measure_table_parse(v2, len, "v2.tsv", &t2, &err) == QTK_OK, "v2 parses: %s", err.msg);
    if (t2) {
        CHECK(t2->version == 2 && t2->probe && !strcmp(t2->probe, t->probe), "#probe round trip");
        CHECK(t2->t[0].cand[1].has_dkld && t2->t[0].cand[1].dkld == 1.23456789e-4 && t2->t[0].cand[1].dkld_se == 5.5e-6 &&
                  !t2->t[0].cand[0].has_dkld && t2->t[1].cand[0].has_dkld && t2->t[1].cand[0].dkld == -2.5e-7,
              "dkld columns round trip");
        CHECK(t2->t[0].alpha == 0.0123 && !strcmp(t2->t[0].alpha_src, "probe") && !strcmp(t2->t[1].alpha_src, "interp"),
              "alpha and alpha_src round trip");
        char *again = NULL;
        size_t l2 = 0;
        CHECK(qtk_measure_table_format(t2, &again, &l2, &err) == QTK_OK && l2 == len && !memcmp(again, v2, len),
              "format(parse(v2)) == v2");
        free(again);
        /* merge keeps the probes (shard tables of a probed table are not made, but a merge of one is a copy) */
        const qtk_measure_table *parts[1] = {t2};
        const char *names[1] = {"v2.tsv"};
        qtk_measure_table *m = NULL;
        CHECK(qtk_measure_table_merge(parts, names, 1, &m, &err) == QTK_OK, "merge v2: %s", err.msg);
        char *mt = NULL;
        size_t ml = 0;
        CHECK(m && qtk_measure_table_format(m, &mt, &ml, &err) == QTK_OK && ml == len && !memcmp(mt, v2, len),
              "merge of a probed table == the table");
        free(mt);
        qtk_measure_table_free(m);
    }
    qtk_measure_table_free(t2);
    char *x;
    expect_refused(x = subst(v2, "#qtk-measure\t2", "#qtk-measure\t3"), "t.tsv:1: format version 3", "newer version");
    free(x);
    expect_refused(x = subst(v2, "\t0.000123456789\t5.5e-06\n", "\tabc\t5.5e-06\n"), "dkld 'abc'", "bad dkld");
    free(x);
    expect_refused(x = subst(v2, "\t0.000123456789\t5.5e-06\n", "\t0.000123456789\t-\n"), "are not both '-'", "half dkld");
    free(x);
    expect_refused(x = subst(v2, "\t0.000123456789\t5.5e-06\n", "\t0.000123456789\t-1\n"), "dkld_se >= 0", "negative se");
    free(x);
    expect_refused(x = subst(v2, "\t-\t-\n", "\t-\n"), "fields, expected 20", "v2 row without the dkld columns");
    free(x);
    /* a version 1 table with interp or a #probe line (only version 2 has them) */
    {
        char *v1 = subst(text, "\tprior\n", "\tinterp\n");
        expect_refused(v1, "alpha_src 'interp' is not prior, probe or user", "interp in v1");
        free(v1);
        v1 = subst(text, "#sample\t", "#probe\tx\n#sample\t");
        expect_refused(v1, "#probe in a version 1 table", "#probe in v1");
        free(v1);
    }
    free(v2);
    free(text);
    qtk_measure_table_free(t);
}

/* A table of one class (cls) with layers 0..n-1 plus an output tensor. */
static qtk_measure_table *probe_table(const char *cls, int n) {
    qtk_measure_table *t = qtk_measure_table_new();
    t->n = n + 1;
    t->n_tensors_model = n + 1;
    t->t = (qtk_measure_tensor *)calloc((size_t)(n + 1), sizeof *t->t);
    for (int i = 0; i <= n; i++) {
        qtk_measure_tensor *x = &t->t[i];
        char name[64];
        if (i < n) snprintf(name, sizeof name, "blk.%d.%s.weight", n - 1 - i, cls); /* not in layer order */
        else snprintf(name, sizeof name, "output.weight");
        x->name = qtk_strdup(name);
        x->idx = i;
        snprintf(x->cls, sizeof x->cls, "%s", i < n ? cls : "output");
        x->layer = i < n ? n - 1 - i : -1;
        x->ne[0] = 256, x->ne[1] = 64, x->ne[2] = 1;
        x->alpha = 1;
        snprintf(x->alpha_src, sizeof x->alpha_src, "prior");
        x->n_cand = 2;
        x->cand = (qtk_measure_cand *)calloc(2, sizeof *x->cand);
        x->cand[0].type = QTK_TYPE_Q4_0;
        x->cand[1].type = QTK_TYPE_Q8_0;
        x->cand[0].eps_abs = 2.0 * (i + 1);
        x->cand[1].eps_abs = 0.1 * (i + 1);
    }
    return t;
}

static qtk_measure_tensor *by_layer(qtk_measure_table *t, int64_t layer) {
    for (int64_t i = 0; i < t->n; i++)
        if (t->t[i].layer == layer) return &t->t[i];
    return NULL;
}

static void set_probe(qtk_measure_table *t, int64_t layer, double alpha) {
    qtk_measure_tensor *x = by_layer(t, layer);
    x->cand[0].has_dkld = true;
    x->cand[0].dkld = alpha * x->cand[0].eps_abs;
}

static void probe_count(void *ud, const qtk_probe_progress *p) {
    int64_t *c = (int64_t *)ud;
    if (p->tensor) c[0]++;
    else c[1] = p->skipped;
}

static void test_probe_calibrate(void) {
    qtk_error err;
    /* selection: 6 tensors, 3 per class -> layers 0, 3 (round(2.5)), 5; the output alone; pinned never */
    qtk_measure_table *t = probe_table("ffn_down", 6);
    bool sel[8];
    qtk_probe_select(t, 3, sel);
    int n_sel = 0;
    for (int i = 0; i < 7; i++) n_sel += sel[i];
    CHECK(n_sel == 4 && sel[5] && sel[2] && sel[0] && sel[6], "3 of 6 layers (0, 3, 5) + output: %d selected", n_sel);
    qtk_probe_select(t, 0, sel);
    n_sel = 0;
    for (int i = 0; i < 7; i++) n_sel += sel[i];
    CHECK(n_sel == 7, "n_layers 0: every tensor");
    t->t[0].pinned = true; /* layer 5 */
    qtk_probe_select(t, 3, sel);
    CHECK(!sel[0] && sel[1], "a pinned tensor is never probed; the class's last layer is then layer 4");
    t->t[0].pinned = false;
    CHECK(qtk_probe_cand_for(&t->t[0], QTK_TYPE_Q8_0) == 1 && qtk_probe_cand_for(&t->t[0], QTK_TYPE_IQ2_KS) == 0,
          "probe candidate: the probe type, else the smallest");

    /* calibration: probes at layers 0, 2, 5 with alpha 1e-4, 4e-4, 5e-5. The class's ends (0, 5)
     * are left out of the interpolation when an interior tensor was probed: every other layer
     * takes layer 2's alpha (constant beyond the interior probes) */
    CHECK(qtk_probe_calibrate(t, QTK_TYPE_Q4_0, &err) != QTK_OK && strstr(err.msg, "class ffn_down has no probed tensor"),
          "a class without probes is refused: %s", err.msg);
    set_probe(t, 0, 1e-4);
    set_probe(t, 2, 4e-4);
    set_probe(t, 5, 5e-5);
    set_probe(t, -1, 3e-3);
    for (int round = 0; round < 3; round++) {
        /* round 1: + a probe at layer 4 (1.6e-3): layer 3 log-linear between 2 and 4;
         * round 2: only the ends probed: log-linear between them */
        if (round == 1) set_probe(t, 4, 1.6e-3);
        if (round == 2) by_layer(t, 2)->cand[0].has_dkld = by_layer(t, 4)->cand[0].has_dkld = false;
        CHECK(qtk_probe_calibrate(t, QTK_TYPE_Q4_0, &err) == QTK_OK, "calibrate: %s", err.msg);
        double want[3][6] = {{1e-4, 4e-4, 4e-4, 4e-4, 4e-4, 5e-5},
                             {1e-4, 4e-4, 4e-4, 8e-4, 1.6e-3, 5e-5},
                             {1e-4, 1e-4 * pow(0.5, 0.2), 1e-4 * pow(0.5, 0.4), 1e-4 * pow(0.5, 0.6), 1e-4 * pow(0.5, 0.8), 5e-5}};
        int bad = 0;
        for (int l = 0; l < 6; l++) {
            qtk_measure_tensor *x = by_layer(t, l);
            bool probed = l == 0 || l == 5 || (round < 2 && l == 2) || (round == 1 && l == 4);
            bad += fabs(x->alpha - want[round][l]) > 1e-12 * want[round][l] ||
                   strcmp(x->alpha_src, probed ? "probe" : "interp") != 0;
            if (fabs(x->alpha - want[round][l]) > 1e-12 * want[round][l])
                printf("  round %d layer %d: alpha %.9g, want %.9g\n", round, l, x->alpha, want[round][l]);
        }
        CHECK(bad == 0, "alpha over depth, round %d: probed exact, others log-linear (%d wrong)", round, bad);
    }
    by_layer(t, 2)->cand[0].has_dkld = true;
    CHECK(fabs(by_layer(t, -1)->alpha - 3e-3) < 1e-15 && !strcmp(by_layer(t, -1)->alpha_src, "probe"), "output alpha");
    /* a probe at the other type does not count for alpha; a ΔKLD <= 0 is 0.1 x the class's smallest alpha */
    by_layer(t, 2)->cand[0].dkld = -1e-9;
    CHECK(qtk_probe_calibrate(t, QTK_TYPE_Q4_0, &err) == QTK_OK, "calibrate: %s", err.msg);
    CHECK(fabs(by_layer(t, 2)->alpha - 0.1 * 5e-5) < 1e-18 && fabs(by_layer(t, 1)->alpha - 0.1 * 5e-5) < 1e-18,
          "non-positive dKLD floored at 0.1 x the smallest alpha (%g), layer 1 takes it", by_layer(t, 2)->alpha);
    qtk_measure_tensor *l2 = by_layer(t, 2);
    l2->cand[0].has_dkld = false;
    l2->cand[1].has_dkld = true;
    l2->cand[1].dkld = 1;
    CHECK(qtk_probe_calibrate(t, QTK_TYPE_Q4_0, &err) == QTK_OK && l2->alpha_src[0] == 'i' &&
              fabs(l2->alpha - 1e-4 * pow(0.5, 2.0 / 5)) < 1e-15,
          "only the probe type's dKLD sets alpha (%g, %s)", l2->alpha, l2->alpha_src);
    qtk_measure_table_free(t);
}

/* The probe pass on the fixture: qtk_model_swap_tensor changes the logits and
 * restores them bit for bit; qtk_measure_probe fills ΔKLD and α, reruns
 * nothing, and refuses a table of another model. */
static void test_probe_fixture(const char *other_table, bool quick) {
    char *mp = tl_shared_path("fixtures/tiny-llama-f16.gguf"), *ip = tl_shared_path("fixtures/imatrix.dat");
    char *tp = tl_shared_path("fixtures/calib.txt");
    char *tab_path = tl_tmp_path("measure-probe.tsv");
    qtk_error err;
    qtk_model *m = NULL;
    if (!mp || !ip || !tp || qtk_model_load(mp, &m, &err) != QTK_OK) {
        printf("  (fixtures absent: probe pass not tested)\n");
        goto out;
    }
    {
        const qtk_model_info *in = qtk_model_get_info(m);
        int32_t tok[16];
        for (int i = 0; i < 16; i++) tok[i] = 3 + 17 * i;
        float *a = (float *)malloc((size_t)in->n_vocab * sizeof(float)), *b = (float *)malloc((size_t)in->n_vocab * sizeof(float));
        float *c = (float *)malloc((size_t)in->n_vocab * sizeof(float));
        qtk_context *ctx = NULL;
        CHECK(qtk_context_create(m, 32, 1, &ctx, &err) == QTK_OK, "context: %s", err.msg);
        CHECK(ctx && qtk_decode(ctx, tok, 16, 15, a, &err) == QTK_OK, "decode: %s", err.msg);
        const qtk_gguf *g = qtk_model_gguf(m);
        const qtk_tensor_info *t = qtk_gguf_tensor(g, qtk_gguf_find_tensor(g, "blk.0.ffn_down.weight"));
        int64_t rows = qtk_tensor_nrows(t), n = t->ne[0];
        float *x = (float *)malloc((size_t)(rows * n) * sizeof(float));
        void *q = malloc((size_t)rows * qtk_row_size(QTK_TYPE_Q4_0, n));
        CHECK(qtk_dequantize_rows(t->type, t->data, x, rows, n, &err) == QTK_OK &&
                  qtk_quantize_rows(QTK_TYPE_Q4_0, x, q, rows, n, NULL, &err) == QTK_OK,
              "quantize ffn_down: %s", err.msg);
        CHECK(qtk_model_swap_tensor(m, "blk.0.ffn_down.weight", QTK_TYPE_Q4_0, q, &err) == QTK_OK, "swap: %s", err.msg);
        qtk_context_reset(ctx);
        CHECK(qtk_decode(ctx, tok, 16, 15, b, &err) == QTK_OK, "decode swapped: %s", err.msg);
        double d = 0;
        for (int64_t i = 0; i < in->n_vocab; i++) d += fabs((double)a[i] - (double)b[i]);
        CHECK(d > 0 && d < 0.5 * (double)in->n_vocab, "the swapped tensor changes the logits a little (sum |d| %g)", d);
        CHECK(qtk_model_swap_tensor(m, "blk.0.ffn_down.weight", 0, NULL, &err) == QTK_OK, "restore: %s", err.msg);
        qtk_context_reset(ctx);
        CHECK(qtk_decode(ctx, tok, 16, 15, c, &err) == QTK_OK && !memcmp(a, c, (size_t)in->n_vocab * sizeof(float)),
              "restored: the same logits bit for bit");
        CHECK(qtk_model_swap_tensor(m, "blk.0.attn_norm.weight", QTK_TYPE_Q4_0, q, &err) == QTK_ERR_NOT_FOUND &&
                  strstr(err.msg, "not a matrix"),
              "a norm cannot be swapped: %s", err.msg);
        CHECK(qtk_model_swap_tensor(m, "nope", QTK_TYPE_Q4_0, q, &err) == QTK_ERR_NOT_FOUND, "unknown name refused");
        qtk_context_free(ctx);
        free(a), free(b), free(c), free(x), free(q);
    }
    qtk_model_free(m);
    m = NULL;
    /* the pass: a one-type table, one (quick) or two layers per class, 2 chunks of 64 tokens */
    {
        qtk_gguf *g = NULL;
        CHECK(qtk_gguf_open(mp, &g, &err) == QTK_OK, "open: %s", err.msg);
        int types[1] = {QTK_TYPE_Q4_0};
        qtk_measure_params mp_;
        qtk_measure_params_init(&mp_);
        mp_.nthreads = 2;
        mp_.imatrix_path = ip;
        mp_.types = types;
        mp_.n_types = 1;
        mp_.checkpoint_seconds = -1;
        remove(tab_path);
        CHECK(g && qtk_measure_model(g, &mp_, tab_path, &err) == QTK_OK, "measure the fixture: %s", err.msg);
        qtk_gguf_close(g);
        qtk_probe_params pp;
        qtk_probe_params_init(&pp);
        CHECK(pp.n_extra == 3 && pp.extra_types[0] == QTK_TYPE_IQ3_S && pp.extra_types[1] == QTK_TYPE_Q4_K &&
                  pp.extra_types[2] == QTK_TYPE_Q6_K && pp.probe_type == QTK_TYPE_IQ2_KS && pp.n_layers == 5,
              "probe defaults: iq2_ks + iq3_s, q4_K, q6_K at 5 layers per class");
        pp.model_path = mp;
        pp.imatrix_path = ip;
        pp.text_path = tp;
        pp.n_ctx = 64;
        pp.n_chunks = 2;
        pp.n_threads = 2;
        pp.probe_type = QTK_TYPE_Q4_0;
        pp.n_layers = quick ? 1 : 2;
        int64_t cnt[2] = {0, 0};
        pp.progress = probe_count;
        pp.progress_ud = cnt;
        CHECK(qtk_measure_probe(tab_path, &pp, &err) == QTK_OK, "probe: %s", err.msg);
        qtk_measure_table *t = NULL;
        CHECK(qtk_measure_table_load(tab_path, &t, &err) == QTK_OK, "load probed: %s", err.msg);
        int n_probe = 0, n_interp = 0, bad = 0;
        for (int64_t i = 0; t && i < t->n; i++) {
            const qtk_measure_tensor *x = &t->t[i];
            const qtk_measure_cand *c = &x->cand[qtk_probe_cand_for(x, QTK_TYPE_Q4_0)];
            if (!strcmp(x->alpha_src, "probe")) {
                n_probe++;
                bad += !(c->has_dkld && c->dkld > 0 && fabs(x->alpha - c->dkld / c->eps_abs) <= 1e-8 * x->alpha);
            } else if (!strcmp(x->alpha_src, "interp")) {
                n_interp++;
                bad += c->has_dkld || !(x->alpha > 0);
            } else {
                bad++;
            }
        }
        /* 9 classes; token_embd and output alone; 7 classes of 6 layers */
        int want = quick ? 9 : 2 + 7 * 2;
        CHECK(t && n_probe == want && n_interp == 44 - want && bad == 0 && cnt[0] == want,
              "%d probed (want %d), %d interpolated, %d bad, %lld progress lines", n_probe, want, n_interp, bad,
              (long long)cnt[0]);
        CHECK(t && t->probe && strstr(t->probe, "ctx=64 chunks=2") && strstr(t->probe, "alpha_type=q4_0"), "#probe recorded");
        qtk_measure_table_free(t);
        /* a rerun probes nothing and leaves the same bytes */
        char *before = read_all(tab_path);
        cnt[0] = cnt[1] = 0;
        CHECK(qtk_measure_probe(tab_path, &pp, &err) == QTK_OK && cnt[0] == 0 && cnt[1] == want, "rerun: %s", err.msg);
        char *after = read_all(tab_path);
        CHECK(before && after && !strcmp(before, after), "rerun: same table");
        free(before), free(after);
        /* the measure pass resuming on a probed table keeps the probes (qtk measure ... --probe-text reruns) */
        before = read_all(tab_path);
        CHECK(qtk_gguf_open(mp, &g, &err) == QTK_OK && qtk_measure_model(g, &mp_, tab_path, &err) == QTK_OK,
              "measure again: %s", err.msg);
        qtk_gguf_close(g);
        after = read_all(tab_path);
        CHECK(before && after && !strcmp(before, after), "measure resume keeps the probes and #probe");
        free(before), free(after);
        /* a table of another model is refused, untouched */
        before = read_all(other_table);
        CHECK(qtk_measure_probe(other_table, &pp, &err) != QTK_OK && strstr(err.msg, "another model"),
              "table of another model refused: %s", err.msg);
        after = read_all(other_table);
        CHECK(before && after && !strcmp(before, after), "refused table untouched");
        free(before), free(after);
    }
out:
    qtk_model_free(m);
    remove(tab_path);
    free(mp), free(ip), free(tp), free(tab_path);
}

/* The CLI probes iq3_s, q4_K and q6_K besides the probe type unless told
 * otherwise (per-candidate α, docs/planner.md); --probe-extra none: only the
 * probe type. */
static void test_probe_cli(void) {
    char *mp = tl_shared_path("fixtures/tiny-llama-f16.gguf"), *ip = tl_shared_path("fixtures/imatrix.dat");
    char *tp = tl_shared_path("fixtures/calib.txt");
    char *tab_path = tl_tmp_path("measure-probe-cli.tsv"), *log = tl_tmp_path("measure-probe-cli.log");
    if (!mp || !ip || !tp || !tl_qtk_available()) {
        printf("  (fixtures or qtk absent: CLI probe defaults not tested)\n");
        goto out;
    }
    for (int none = 0; none < 2; none++) {
        char args[4096];
        snprintf(args, sizeof args, "measure -m %s --imatrix %s -o %s --types %s -t 2 --probe-text %s "
                 "--probe-ctx 64 --probe-chunks 2 --probe-layers 1%s", mp, ip, tab_path,
                 none ? "iq2_ks,q4_K" : "iq2_ks,iq3_s,q4_K,q6_K", tp, none ? " --probe-extra none" : "");
        remove(tab_path);
        CHECK(tl_run_qtk(args, log) == 0, "measure --probe-text%s: exit 0", none ? " --probe-extra none" : "");
        qtk_measure_table *t = NULL;
        qtk_error err;
        CHECK(qtk_measure_table_load(tab_path, &t, &err) == QTK_OK, "load: %s", err.msg);
        int n_probe = 0, full = 0, extra = 0;
        for (int64_t i = 0; t && i < t->n; i++) {
            const qtk_measure_tensor *x = &t->t[i];
            if (strcmp(x->alpha_src, "probe") != 0) continue;
            n_probe++;
            int k_probed = 0;
            for (int k = 0; k < x->n_cand; k++) {
                k_probed += x->cand[k].has_dkld;
                extra += x->cand[k].has_dkld && x->cand[k].type != QTK_TYPE_IQ2_KS;
            }
            full += k_probed == 4;
        }
        if (none)
            CHECK(t && n_probe >= 9 && extra == 0, "--probe-extra none: %d probed tensors, %d extra probes", n_probe, extra);
        else
            CHECK(t && n_probe >= 9 && full == n_probe, "default extras: %d of %d probed tensors at all 4 types", full,
                  n_probe);
        qtk_measure_table_free(t);
    }
out:
    remove(tab_path);
    remove(log);
    free(mp), free(ip), free(tp), free(tab_path), free(log);
}

int main(void) {
    g_ntypes = 0;
    g_types[g_ntypes++] = QTK_TYPE_Q6_K;
    g_types[g_ntypes++] = QTK_TYPE_Q8_0;
    if (!tl_quick()) g_types[g_ntypes++] = QTK_TYPE_Q4_0;
    char *model = tl_tmp_path("measure-model.gguf"), *model2 = tl_tmp_path("measure-model2.gguf");
    char *imx = tl_tmp_path("measure-imatrix.dat");
    char *one = tl_tmp_path("measure-1.tsv"), *three = tl_tmp_path("measure-3.tsv");
    char *s1 = tl_tmp_path("measure-s1.tsv"), *s2 = tl_tmp_path("measure-s2.tsv"), *merged = tl_tmp_path("measure-m.tsv");
    char *part = tl_tmp_path("measure-part.tsv"), *other = tl_tmp_path("measure-other.tsv");
    char *log = tl_tmp_path("measure-cli.txt"), *cli_out = tl_tmp_path("measure-cli.tsv");
    qtk_error err;
    CHECK(write_model(model, 1) && write_model(model2, 2) && write_imatrix(imx), "write the test model and imatrix");
    remove(one), remove(three), remove(s1), remove(s2), remove(merged), remove(part), remove(other), remove(cli_out);

    /* one-shot runs with 1 and 3 threads: identical bytes */
    int64_t cnt[2] = {0, -1};
    CHECK(measure(model, imx, one, 1, 1, 1, count_progress, cnt, &err) == QTK_OK, "measure -t 1: %s", err.msg);
    CHECK(cnt[0] == 4 && cnt[1] == 0, "progress: 4 tensors measured, none skipped (%lld, %lld)", (long long)cnt[0],
          (long long)cnt[1]);
    CHECK(measure(model, imx, three, 3, 1, 1, NULL, NULL, &err) == QTK_OK, "measure -t 3: %s", err.msg);
    CHECK(tl_files_equal(one, three), "1 and 3 threads give the same bytes");

    test_format(one);
    test_probe_format(one);
    test_probe_calibrate();
    test_values(model, imx, one);
    test_header_bytes(model, imx, one);

    /* shards 1/2 and 2/2, merged == one-shot */
    CHECK(measure(model, imx, s1, 2, 1, 2, NULL, NULL, &err) == QTK_OK, "shard 1/2: %s", err.msg);
    CHECK(measure(model, imx, s2, 2, 2, 2, NULL, NULL, &err) == QTK_OK, "shard 2/2: %s", err.msg);
    {
        qtk_measure_table *a = NULL, *b = NULL, *m = NULL;
        CHECK(qtk_measure_table_load(s1, &a, &err) == QTK_OK && qtk_measure_table_load(s2, &b, &err) == QTK_OK, "load shards");
        if (a && b) {
            CHECK(a->n == 2 && b->n == 2 && a->t[0].idx == 0 && b->t[0].idx == 1, "shard 1/2 holds candidates 0, 2; 2/2 holds 1, 3");
            CHECK(qtk_measure_table_check_complete(a, "s1.tsv", &err) != QTK_OK && strstr(err.msg, "shard 1/2"),
                  "a shard is not a complete table");
            const qtk_measure_table *parts[2] = {b, a};
            const char *names[2] = {"s2.tsv", "s1.tsv"};
            CHECK(qtk_measure_table_merge(parts, names, 2, &m, &err) == QTK_OK && qtk_measure_table_save(m, merged, &err) == QTK_OK,
                  "merge: %s", err.msg);
            CHECK(tl_files_equal(merged, one), "merged shards == one-shot");
            qtk_measure_table_free(m);
            m = NULL;
            const qtk_measure_table *only[1] = {a};
            CHECK(qtk_measure_table_merge(only, names + 1, 1, &m, &err) != QTK_OK && strstr(err.msg, "2 of the model's 4") &&
                      strstr(err.msg, "shard 2/2 not given"),
                  "missing shard refused: %s", err.msg);
            qtk_measure_table *a2 = NULL;
            CHECK(qtk_measure_table_load(s1, &a2, &err) == QTK_OK, "load s1 again");
            const qtk_measure_table *twice[2] = {a, a2};
            const char *n2[2] = {"s1.tsv", "s1-copy.tsv"};
            CHECK(qtk_measure_table_merge(twice, n2, 2, &m, &err) != QTK_OK && strstr(err.msg, "blk.0.attn_q.weight") &&
                      strstr(err.msg, "s1.tsv and s1-copy.tsv"),
                  "duplicate tensor refused: %s", err.msg);
            qtk_measure_table_free(a2);
            /* a shard with one tensor missing */
            qtk_measure_tensor_clear(&b->t[1]);
            b->n = 1;
            CHECK(qtk_measure_table_merge(parts, names, 2, &m, &err) != QTK_OK && strstr(err.msg, "s2.tsv (shard 2/2) holds 1 of its 2"),
                  "incomplete shard refused: %s", err.msg);
        }
        qtk_measure_table_free(a);
        qtk_measure_table_free(b);
    }

    /* resume: a table with tensors 0 and 3 only is completed to the one-shot bytes, measuring 2 tensors */
    {
        qtk_measure_table *a = NULL;
        CHECK(qtk_measure_table_load(one, &a, &err) == QTK_OK, "load");
        if (a && a->n == 4) {
            qtk_measure_tensor_clear(&a->t[1]);
            qtk_measure_tensor_clear(&a->t[2]);
            a->t[1] = a->t[3];
            a->n = 2;
            CHECK(qtk_measure_table_save(a, part, &err) == QTK_OK, "save partial");
            a->n = 4;
            memset(&a->t[3], 0, sizeof a->t[3]);
            cnt[0] = 0;
            cnt[1] = -1;
            CHECK(measure(model, imx, part, 2, 1, 1, count_progress, cnt, &err) == QTK_OK, "resume: %s", err.msg);
            CHECK(cnt[0] == 2 && cnt[1] == 2, "resume measured 2 and kept 2 tensors (%lld, %lld)", (long long)cnt[0],
                  (long long)cnt[1]);
            CHECK(tl_files_equal(part, one), "resumed == one-shot");
        }
        qtk_measure_table_free(a);
    }

    /* another model into an existing table: refused, the file untouched */
    {
        size_t n0 = 0, n1 = 0;
        unsigned char *before = tl_read_file(part, &n0);
        CHECK(measure(model2, imx, part, 1, 1, 1, NULL, NULL, &err) != QTK_OK && strstr(err.msg, "model (#model_hash)") &&
                  strstr(err.msg, "measure-part.tsv"),
              "other model refused: %s", err.msg);
        CHECK(measure(model, NULL, part, 1, 1, 1, NULL, NULL, &err) != QTK_OK && strstr(err.msg, "imatrix (#imatrix_hash)"),
              "no imatrix refused: %s", err.msg);
        unsigned char *after = tl_read_file(part, &n1);
        CHECK(before && after && n0 == n1 && !memcmp(before, after, n0) && tl_temp_files(part) == 0,
              "refused runs leave the table and no temp file");
        free(before);
        free(after);
        /* shard 1/4 of model 2 (its first candidate only: cheap); the merge compares the hashes first */
        CHECK(measure(model2, imx, other, 1, 1, 4, NULL, NULL, &err) == QTK_OK, "measure model 2: %s", err.msg);
        qtk_measure_table *a = NULL, *b = NULL, *m = NULL;
        if (qtk_measure_table_load(one, &a, &err) == QTK_OK && qtk_measure_table_load(other, &b, &err) == QTK_OK) {
            const qtk_measure_table *parts[2] = {a, b};
            const char *names[2] = {"a.tsv", "b.tsv"};
            CHECK(qtk_measure_table_merge(parts, names, 2, &m, &err) != QTK_OK && strstr(err.msg, "a.tsv and b.tsv differ in model"),
                  "merge of two models refused: %s", err.msg);
            CHECK(strcmp(a->model_hash, b->model_hash) != 0 && !strcmp(a->imatrix_hash, b->imatrix_hash), "hashes");
        }
        qtk_measure_table_free(a);
        qtk_measure_table_free(b);
        /* a file that is not a table is never overwritten */
        tl_write_file(other, "hello\n", 6);
        CHECK(measure(model, imx, other, 1, 1, 1, NULL, NULL, &err) != QTK_OK && strstr(err.msg, "not overwriting"),
              "non-table output refused: %s", err.msg);
        CHECK(tl_file_contains(other, "hello"), "non-table output untouched");
    }

    /* the probe pass runs ~40 forward passes of the fixture: 4+ minutes under qemu, and plan
     * logic with no architecture-specific code (test_forward covers the forward pass there) */
    if (tl_emulated()) printf("  (emulated: probe pass on the fixture left to the native stages)\n");
    else test_probe_fixture(one, tl_quick());
    if (!tl_quick()) test_probe_cli();

    /* the CLI */
    if (tl_qtk_available()) {
        char args[2048];
        CHECK(tl_run_qtk("measure --help", log) == 0 && tl_file_contains(log, "usage: qtk measure"), "--help");
        CHECK(tl_run_qtk("measure -m x.gguf", log) == 2 && tl_file_contains(log, "need -o"), "missing -o: exit 2");
        CHECK(tl_run_qtk("measure -m x.gguf -o y.tsv --shard 3/2", log) == 2, "bad --shard: exit 2");
        CHECK(tl_run_qtk("measure -m x.gguf -o y.tsv --types q4_K,zz", log) == 2 && tl_file_contains(log, "zz"),
              "bad --types: exit 2");
        snprintf(args, sizeof args, "measure -m %s --imatrix %s -o %s --types %s -t 2", model, imx, cli_out,
                 tl_quick() ? "q6_K,q8_0" : "q6_K,q8_0,q4_0");
        CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "ETA") && tl_files_equal(cli_out, one),
              "CLI run == library run");
        snprintf(args, sizeof args, "measure --merge %s -o %s", s1, merged);
        CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "shard 2/2 not given"), "CLI merge with a gap: exit 1");
        snprintf(args, sizeof args, "measure --merge %s %s -o %s", s2, s1, merged);
        CHECK(tl_run_qtk(args, log) == 0 && tl_files_equal(merged, one), "CLI merge");
        snprintf(args, sizeof args, "measure -m %s -o %s", model, model);
        CHECK(tl_run_qtk(args, log) == 2, "output = model refused");
    }

    const char *files[] = {model, model2, imx, one, three, s1, s2, merged, part, other, log, cli_out};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) remove(files[k]);
    free(model), free(model2), free(imx), free(one), free(three), free(s1), free(s2), free(merged), free(part);
    free(other), free(log), free(cli_out);
    return tl_finish("test_measure");
}
