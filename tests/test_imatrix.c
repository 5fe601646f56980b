/*
 * test_imatrix.c — importance-matrix files. The test writes legacy .dat
 * files byte by byte from the documented layout and GGUF imatrix files with
 * the generic GGUF writer, then checks that loading gives sum / count,
 * lookups by name and shape, save -> load round trips of the accumulator in
 * both formats, clear errors for malformed files, and that the reference's
 * own imatrix.dat of the fixture model matches that model's tensors.
 */
#include "testlib.h"

#include <math.h>
#include <stdint.h>

/* ---- byte buffer for hand-made legacy files ------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = (unsigned char *)realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void b_i32(buf *b, int32_t v) {
    uint32_t u = (uint32_t)v;
    unsigned char c[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    b_put(b, c, 4);
}

static void b_f32(buf *b, float f) {
    int32_t v;
    memcpy(&v, &f, sizeof v);
    b_i32(b, v);
}

/* One legacy entry: name, ncall, nval, values. */
static void b_entry(buf *b, const char *name, int32_t ncall, int32_t nval, const float *v) {
    b_i32(b, (int32_t)strlen(name));
    b_put(b, name, strlen(name));
    b_i32(b, ncall);
    b_i32(b, nval);
    for (int32_t i = 0; i < nval; i++) b_f32(b, v[i]);
}

static char *write_tmp(const char *name, const buf *b) {
    char *path = tl_tmp_path(name);
    if (tl_write_file(path, b->p ? (const void *)b->p : "", b->n) != 0) fprintf(stderr, "cannot write %s\n", path);
    return path;
}

/* ---- legacy files ----------------------------------------------------------------------- */

#define NQ 64
#define ND 128
#define NE_ROW 32
#define NE_MAT 4

static float vq[NQ], vd[ND], ve[NE_ROW * NE_MAT], vz[8];

static void fill(tl_rng *r, float *v, int n, float scale) {
    for (int i = 0; i < n; i++) v[i] = scale * tl_rng_uniform(r) * tl_rng_uniform(r);
}

/* Checks entry e against raw legacy values divided by ncall. */
static void check_legacy_entry(const qtk_imatrix_entry *e, const char *name, int32_t ncall, int32_t nval,
                               const float *raw) {
    CHECK(e != NULL, "entry %s present", name);
    if (!e) return;
    CHECK(strcmp(e->name, name) == 0, "name %s == %s", e->name, name);
    CHECK(e->nval == nval && e->n_per_row == nval && e->n_mat == 1, "%s: nval %lld n_per_row %lld n_mat %lld", name,
          (long long)e->nval, (long long)e->n_per_row, (long long)e->n_mat);
    CHECK(e->ncall == ncall && e->counts[0] == (float)ncall, "%s: ncall %lld count %g", name, (long long)e->ncall,
          (double)e->counts[0]);
    int bad = 0;
    for (int32_t i = 0; i < nval; i++) {
        float want = ncall > 0 ? raw[i] / (float)ncall : 1.0f;
        if (e->values[i] != want) bad++;
    }
    CHECK(bad == 0, "%s: %d values differ from sum / ncall", name, bad);
}

static void test_legacy(void) {
    tl_rng r;
    tl_rng_seed(&r, 11);
    fill(&r, vq, NQ, 50.0f);
    fill(&r, vd, ND, 900.0f);
    fill(&r, ve, NE_ROW * NE_MAT, 7.0f);
    fill(&r, vz, 8, 0.0f);

    /* without the trailing chunk count / dataset */
    buf b = {0};
    b_i32(&b, 3);
    b_entry(&b, "blk.0.attn_q.weight", 10, NQ, vq);
    b_entry(&b, "blk.0.ffn_down.weight", 7, ND, vd);
    b_entry(&b, "blk.0.ffn_up_exps.weight", 5, NE_ROW * NE_MAT, ve);
    char *path = write_tmp("imatrix_plain.dat", &b);
    qtk_imatrix *im = NULL;
    qtk_error err;
    qtk_status st = qtk_imatrix_load(path, &im, &err);
    CHECK(st == QTK_OK && im, "load plain legacy: %s", err.msg);
    if (im) {
        CHECK(qtk_imatrix_get_format(im) == QTK_IMATRIX_LEGACY, "format legacy");
        CHECK(qtk_imatrix_count(im) == 3, "3 entries, got %lld", (long long)qtk_imatrix_count(im));
        check_legacy_entry(qtk_imatrix_at(im, 0), "blk.0.attn_q.weight", 10, NQ, vq);
        check_legacy_entry(qtk_imatrix_at(im, 1), "blk.0.ffn_down.weight", 7, ND, vd);
        check_legacy_entry(qtk_imatrix_at(im, 2), "blk.0.ffn_up_exps.weight", 5, NE_ROW * NE_MAT, ve);
        CHECK(qtk_imatrix_at(im, 3) == NULL && qtk_imatrix_at(im, -1) == NULL, "at() out of range is NULL");
        CHECK(qtk_imatrix_chunks(im) == -1 && qtk_imatrix_chunk_size(im) == -1, "no chunk info recorded");
        CHECK(qtk_imatrix_n_datasets(im) == 0 && qtk_imatrix_dataset(im, 0) == NULL, "no dataset recorded");

        /* lookups by name */
        CHECK(qtk_imatrix_find(im, "blk.0.ffn_down.weight") == qtk_imatrix_at(im, 1), "find by name");
        CHECK(qtk_imatrix_find(im, "blk.0.ffn_down") == NULL, "prefix is not a match");
        CHECK(qtk_imatrix_find(im, "blk.1.ffn_down.weight") == NULL, "absent name");
        const qtk_imatrix_entry *q = qtk_imatrix_at(im, 0), *x = qtk_imatrix_at(im, 2);
        CHECK(qtk_imatrix_for(im, "blk.0.attn_q.weight", NQ, 1, 0) == q->values, "for() dense");
        CHECK(qtk_imatrix_for(im, "blk.0.attn_q.weight", NQ / 2, 1, 0) == NULL, "n_per_row mismatch -> NULL");
        CHECK(qtk_imatrix_for(im, "blk.0.attn_q.weight", NQ * 2, 1, 0) == NULL, "n_per_row too big -> NULL");
        CHECK(qtk_imatrix_for(im, "blk.0.attn_q.weight", NQ, 1, 1) == NULL, "mat out of range -> NULL");
        CHECK(qtk_imatrix_for(im, "nope", NQ, 1, 0) == NULL, "absent -> NULL");
        for (int m = 0; m < NE_MAT; m++)
            CHECK(qtk_imatrix_for(im, "blk.0.ffn_up_exps.weight", NE_ROW, NE_MAT, m) == x->values + m * NE_ROW,
                  "expert %d of a legacy MoE entry", m);
        CHECK(qtk_imatrix_for(im, "blk.0.ffn_up_exps.weight", NE_ROW, NE_MAT - 1, 0) == NULL,
              "expert count mismatch -> NULL");
        CHECK(qtk_imatrix_for(im, "blk.0.ffn_up_exps.weight", NE_ROW, NE_MAT, NE_MAT) == NULL, "expert out of range");
        CHECK(qtk_imatrix_for(im, "blk.0.ffn_up_exps.weight", NE_ROW * NE_MAT, 1, 0) == x->values,
              "whole legacy MoE entry as one matrix (the file has no split)");
    }
    qtk_imatrix_free(im);
    free(path);

    /* with chunk count and dataset name, and an entry with ncall 0 */
    b.n = 0;
    b_i32(&b, 2);
    b_entry(&b, "output.weight", 139, NQ, vq);
    b_entry(&b, "blk.3.attn_k.weight", 0, 8, vz);
    b_i32(&b, 139);
    b_i32(&b, 9);
    b_put(&b, "calib.txt", 9);
    path = write_tmp("imatrix_trailer.dat", &b);
    im = NULL;
    st = qtk_imatrix_load(path, &im, &err);
    CHECK(st == QTK_OK && im, "load legacy with trailer: %s", err.msg);
    if (im) {
        CHECK(qtk_imatrix_count(im) == 2, "2 entries");
        check_legacy_entry(qtk_imatrix_find(im, "output.weight"), "output.weight", 139, NQ, vq);
        check_legacy_entry(qtk_imatrix_find(im, "blk.3.attn_k.weight"), "blk.3.attn_k.weight", 0, 8, vz);
        CHECK(qtk_imatrix_chunks(im) == 139, "chunk count 139, got %lld", (long long)qtk_imatrix_chunks(im));
        CHECK(qtk_imatrix_chunk_size(im) == -1, "legacy has no chunk size");
        CHECK(qtk_imatrix_n_datasets(im) == 1 && qtk_imatrix_dataset(im, 0) &&
                  strcmp(qtk_imatrix_dataset(im, 0), "calib.txt") == 0,
              "dataset calib.txt");
    }
    qtk_imatrix_free(im);
    free(path);

    /* chunk count only, and chunk count + empty dataset name */
    for (int variant = 0; variant < 2; variant++) {
        b.n = 0;
        b_i32(&b, 1);
        b_entry(&b, "blk.0.attn_v.weight", 3, NQ, vq);
        b_i32(&b, 42);
        if (variant) b_i32(&b, 0);
        path = write_tmp("imatrix_trailer2.dat", &b);
        im = NULL;
        st = qtk_imatrix_load(path, &im, &err);
        CHECK(st == QTK_OK && im, "load legacy trailer variant %d: %s", variant, err.msg);
        if (im) {
            CHECK(qtk_imatrix_chunks(im) == 42, "variant %d: chunk count 42", variant);
            CHECK(qtk_imatrix_n_datasets(im) == 0, "variant %d: no dataset", variant);
            check_legacy_entry(qtk_imatrix_at(im, 0), "blk.0.attn_v.weight", 3, NQ, vq);
        }
        qtk_imatrix_free(im);
        free(path);
    }
    free(b.p);
}

/* ---- GGUF files made with the generic writer ------------------------------------------ */

typedef struct {
    const char *name;
    qtk_type type;
    int nd;
    int64_t ne[4];
    const void *data;
} gt;

enum { META_OK = 0, META_NO_TYPE = 1, META_MODEL = 2, META_BAD_CHUNKS = 3, META_BAD_DATASETS = 4 };

/* Writes a GGUF imatrix-like file with metadata variant `meta` and tensors ts. */
static char *write_gguf(const char *name, int meta, const gt *ts, int n) {
    char *path = tl_tmp_path(name);
    qtk_gguf_writer *w = NULL;
    qtk_error err;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return path;
    }
    qtk_meta *m = qtk_gguf_writer_meta(w);
    if (meta != META_NO_TYPE) qtk_meta_set_str(m, "general.type", meta == META_MODEL ? "model" : "imatrix", &err);
    if (meta == META_BAD_CHUNKS) qtk_meta_set_str(m, "imatrix.chunk_count", "twelve", &err);
    else qtk_meta_set_u32(m, "imatrix.chunk_count", 12, &err);
    qtk_meta_set_u32(m, "imatrix.chunk_size", 512, &err);
    qtk_gguf_value items[2], arr;
    memset(items, 0, sizeof items);
    memset(&arr, 0, sizeof arr);
    arr.type = QTK_GGUF_ARRAY;
    arr.v.arr.n = 2;
    arr.v.arr.items = items;
    if (meta == META_BAD_DATASETS) {
        arr.v.arr.elem_type = QTK_GGUF_UINT32;
        items[0].type = items[1].type = QTK_GGUF_UINT32;
    } else {
        arr.v.arr.elem_type = QTK_GGUF_STRING;
        items[0].type = items[1].type = QTK_GGUF_STRING;
        items[0].v.str.ptr = (char *)"wiki.train.raw";
        items[0].v.str.len = 14;
        items[1].v.str.ptr = (char *)"code.txt";
        items[1].v.str.len = 8;
    }
    qtk_meta_set(m, "imatrix.datasets", &arr, &err);
    for (int i = 0; i < n; i++)
        if (qtk_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].nd, ts[i].ne, &err) != QTK_OK)
            fprintf(stderr, "%s\n", err.msg);
    for (int i = 0; i < n; i++) {
        int64_t ne = ts[i].ne[0] * ts[i].ne[1] * ts[i].ne[2] * ts[i].ne[3];
        size_t nb = (size_t)ne * (ts[i].type == QTK_TYPE_F16 ? 2 : 4);
        if (qtk_gguf_writer_write(w, ts[i].data, nb, &err) != QTK_OK) fprintf(stderr, "%s\n", err.msg);
    }
    if (qtk_gguf_writer_finish(w, &err) != QTK_OK) fprintf(stderr, "%s\n", err.msg);
    return path;
}

#define GN 48
#define GX_ROW 32
#define GX_MAT 8

static float g_s1[GN], g_c1[1], g_s2[GN], g_c2[1], g_sx[GX_ROW * GX_MAT], g_cx[GX_MAT];

static void test_gguf(void) {
    tl_rng r;
    tl_rng_seed(&r, 22);
    fill(&r, g_s1, GN, 3000.0f);
    fill(&r, g_s2, GN, 10.0f);
    fill(&r, g_sx, GX_ROW * GX_MAT, 500.0f);
    g_c1[0] = 6144.0f;
    g_c2[0] = 3.0f;
    const float cx[GX_MAT] = {10, 0, 5, 3, 100, 1, 7, 2}; /* expert 1 never routed */
    memcpy(g_cx, cx, sizeof cx);
    float junk[4] = {1, 2, 3, 4};

    const gt ts[] = {
        /* dense, written the way ggml does (trailing 1 dims dropped) */
        {"blk.0.attn_q.weight.in_sum2", QTK_TYPE_F32, 1, {GN, 1, 1, 1}, g_s1},
        {"blk.0.attn_q.weight.counts", QTK_TYPE_F32, 1, {1, 1, 1, 1}, g_c1},
        /* dense with explicit unit dims, counts before sums */
        {"output.weight.counts", QTK_TYPE_F32, 2, {1, 1, 1, 1}, g_c2},
        {"output.weight.in_sum2", QTK_TYPE_F32, 2, {GN, 1, 1, 1}, g_s2},
        /* 8 experts */
        {"blk.1.ffn_down_exps.weight.in_sum2", QTK_TYPE_F32, 2, {GX_ROW, GX_MAT, 1, 1}, g_sx},
        {"blk.1.ffn_down_exps.weight.counts", QTK_TYPE_F32, 2, {1, GX_MAT, 1, 1}, g_cx},
        /* another statistic a newer writer might add: ignored */
        {"blk.1.ffn_down_exps.weight.in_sum", QTK_TYPE_F32, 1, {4, 1, 1, 1}, junk},
    };
    char *path = write_gguf("imatrix_ok.gguf", META_OK, ts, (int)(sizeof ts / sizeof ts[0]));
    qtk_imatrix *im = NULL;
    qtk_error err;
    qtk_status st = qtk_imatrix_load(path, &im, &err);
    CHECK(st == QTK_OK && im, "load GGUF imatrix: %s", err.msg);
    if (im) {
        CHECK(qtk_imatrix_get_format(im) == QTK_IMATRIX_GGUF, "format GGUF");
        CHECK(qtk_imatrix_count(im) == 3, "3 entries, got %lld", (long long)qtk_imatrix_count(im));
        CHECK(qtk_imatrix_chunks(im) == 12 && qtk_imatrix_chunk_size(im) == 512, "chunks 12 x 512, got %lld x %lld",
              (long long)qtk_imatrix_chunks(im), (long long)qtk_imatrix_chunk_size(im));
        CHECK(qtk_imatrix_n_datasets(im) == 2 && strcmp(qtk_imatrix_dataset(im, 0), "wiki.train.raw") == 0 &&
                  strcmp(qtk_imatrix_dataset(im, 1), "code.txt") == 0,
              "datasets");
        const qtk_imatrix_entry *a = qtk_imatrix_at(im, 0), *o = qtk_imatrix_at(im, 1), *x = qtk_imatrix_at(im, 2);
        CHECK(a && strcmp(a->name, "blk.0.attn_q.weight") == 0, "entry 0 name");
        CHECK(o && strcmp(o->name, "output.weight") == 0, "entry 1 name");
        CHECK(x && strcmp(x->name, "blk.1.ffn_down_exps.weight") == 0, "entry 2 name");
        if (a && o && x) {
            CHECK(a->n_per_row == GN && a->n_mat == 1 && a->nval == GN, "dense shape");
            CHECK(x->n_per_row == GX_ROW && x->n_mat == GX_MAT && x->nval == GX_ROW * GX_MAT, "MoE shape");
            CHECK(a->counts[0] == 6144.0f && a->ncall == 6144, "dense count");
            CHECK(x->ncall == 100, "MoE ncall = largest count, got %lld", (long long)x->ncall);
            int bad = 0;
            for (int j = 0; j < GN; j++) {
                if (a->values[j] != g_s1[j] / g_c1[0]) bad++;
                if (o->values[j] != g_s2[j] / g_c2[0]) bad++;
            }
            for (int m = 0; m < GX_MAT; m++) {
                if (x->counts[m] != cx[m]) bad++;
                for (int j = 0; j < GX_ROW; j++) {
                    float want = cx[m] > 0 ? g_sx[m * GX_ROW + j] / cx[m] : 1.0f;
                    if (x->values[m * GX_ROW + j] != want) bad++;
                }
            }
            CHECK(bad == 0, "%d GGUF values differ from in_sum2 / counts", bad);
            for (int m = 0; m < GX_MAT; m++)
                CHECK(qtk_imatrix_for(im, x->name, GX_ROW, GX_MAT, m) == x->values + m * GX_ROW, "expert %d", m);
            CHECK(qtk_imatrix_for(im, x->name, GX_ROW * 2, GX_MAT / 2, 0) == NULL,
                  "GGUF: same total, other row length -> NULL");
            CHECK(qtk_imatrix_for(im, x->name, GX_ROW, GX_MAT - 1, 0) == NULL, "GGUF: expert count mismatch -> NULL");
            CHECK(qtk_imatrix_for(im, x->name, GX_ROW, GX_MAT, -1) == NULL, "negative mat -> NULL");
            CHECK(qtk_imatrix_for(im, "output.weight", GN, 1, 0) == o->values, "dense for()");
            CHECK(qtk_imatrix_for(im, "output.weight", GN - 1, 1, 0) == NULL, "dense n_per_row mismatch -> NULL");
            CHECK(qtk_imatrix_find(im, "blk.1.ffn_down_exps.weight.in_sum") == NULL, "other statistics ignored");
        }
    }
    qtk_imatrix_free(im);
    free(path);

    /* general.type absent is accepted (only the tensors matter) */
    path = write_gguf("imatrix_notype.gguf", META_NO_TYPE, ts, 2);
    im = NULL;
    st = qtk_imatrix_load(path, &im, &err);
    CHECK(st == QTK_OK && im && qtk_imatrix_count(im) == 1, "GGUF without general.type: %s", err.msg);
    qtk_imatrix_free(im);
    free(path);
}

/* ---- accumulator round trips --------------------------------------------------------- */

#define RA 48      /* dense row */
#define RX 16      /* expert row */
#define RXM 4      /* experts; expert 2 never gets data */

static int close_rel(double a, double b) { return fabs(a - b) <= 1e-6 * fabs(b) + 1e-30; }

static void test_roundtrip(void) {
    qtk_imatrix_acc *acc = NULL;
    qtk_error err;
    CHECK(qtk_imatrix_acc_create(&acc, &err) == QTK_OK && acc, "acc create");
    if (!acc) return;
    int64_t id_dense = -1, id_x = -1, id_none = -1, again = -1;
    CHECK(qtk_imatrix_acc_tensor(acc, "blk.2.attn_output.weight", RA, 1, &id_dense, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_acc_tensor(acc, "blk.0.ffn_gate_exps.weight", RX, RXM, &id_x, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_acc_tensor(acc, "blk.9.never_used.weight", 8, 1, &id_none, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_acc_tensor(acc, "blk.0.ffn_gate_exps.weight", RX, RXM, &again, &err) == QTK_OK && again == id_x,
          "same tensor gives the same index");
    CHECK(qtk_imatrix_acc_tensor(acc, "blk.0.ffn_gate_exps.weight", RX, RXM + 1, &again, &err) == QTK_ERR_INVALID_ARG,
          "shape conflict refused");
    CHECK(qtk_imatrix_acc_tensor(acc, "bad", 0, 1, &again, &err) == QTK_ERR_INVALID_ARG, "zero row refused");
    CHECK(qtk_imatrix_acc_count(acc) == 3, "3 tensors");

    double sd[RA] = {0}, sx[RX * RXM] = {0};
    int64_t cd = 0, cxm[RXM] = {0};
    tl_rng r;
    tl_rng_seed(&r, 33);
    float rows[5 * RA];
    for (int call = 0; call < 7; call++) {
        int n = 1 + call % 5;
        for (int i = 0; i < n * RA; i++) rows[i] = 3.0f * tl_rng_normal(&r);
        CHECK(qtk_imatrix_acc_add(acc, id_dense, 0, rows, n, &err) == QTK_OK, "add dense: %s", err.msg);
        for (int i = 0; i < n * RA; i++) sd[i % RA] += (double)rows[i] * rows[i];
        cd += n;
        int m = call % RXM == 2 ? 3 : call % RXM;
        int nx = 1 + call % 3;
        for (int i = 0; i < nx * RX; i++) rows[i] = tl_rng_normal(&r);
        CHECK(qtk_imatrix_acc_add(acc, id_x, m, rows, nx, &err) == QTK_OK, "add expert: %s", err.msg);
        for (int i = 0; i < nx * RX; i++) sx[m * RX + i % RX] += (double)rows[i] * rows[i];
        cxm[m] += nx;
    }
    /* a batch with a NaN is refused as a whole */
    for (int i = 0; i < 2 * RA; i++) rows[i] = 1.0f;
    rows[RA + 5] = NAN;
    CHECK(qtk_imatrix_acc_add(acc, id_dense, 0, rows, 2, &err) == QTK_ERR_NUMERIC, "NaN activation refused");
    CHECK(strstr(err.msg, "blk.2.attn_output.weight") && strstr(err.msg, "row 1"), "NaN message: %s", err.msg);
    CHECK(qtk_imatrix_acc_add(acc, id_x, RXM, rows, 1, &err) == QTK_ERR_INVALID_ARG, "expert out of range refused");
    CHECK(qtk_imatrix_acc_add(acc, 99, 0, rows, 1, &err) == QTK_ERR_INVALID_ARG, "bad index refused");
    CHECK(qtk_imatrix_acc_set_chunks(acc, 5, 4, &err) == QTK_OK, "set chunks");
    CHECK(qtk_imatrix_acc_add_dataset(acc, "d1.txt", &err) == QTK_OK, "dataset 1");
    CHECK(qtk_imatrix_acc_add_dataset(acc, "d2.txt", &err) == QTK_OK, "dataset 2");

    for (int fmt = 0; fmt < 2; fmt++) {
        char *path = tl_tmp_path(fmt ? "imatrix_rt.dat" : "imatrix_rt.gguf");
        /* an existing file is replaced atomically */
        tl_write_file(path, "old", 3);
        qtk_status st = fmt ? qtk_imatrix_save_dat(path, acc, &err) : qtk_imatrix_save_gguf(path, acc, &err);
        CHECK(st == QTK_OK, "save %s: %s", fmt ? "dat" : "gguf", err.msg);
        CHECK(tl_temp_files(path) == 0, "no %s.tmp.* left", path);

        qtk_imatrix *im = NULL;
        st = qtk_imatrix_load(path, &im, &err);
        CHECK(st == QTK_OK && im, "reload %s: %s", path, err.msg);
        if (!im) {
            free(path);
            continue;
        }
        CHECK(qtk_imatrix_get_format(im) == (fmt ? QTK_IMATRIX_LEGACY : QTK_IMATRIX_GGUF), "format after save");
        CHECK(qtk_imatrix_count(im) == 2, "tensor without data left out: %lld entries", (long long)qtk_imatrix_count(im));
        CHECK(qtk_imatrix_find(im, "blk.9.never_used.weight") == NULL, "never_used absent");
        /* written sorted by name */
        CHECK(qtk_imatrix_at(im, 0) && strcmp(qtk_imatrix_at(im, 0)->name, "blk.0.ffn_gate_exps.weight") == 0,
              "sorted order");
        CHECK(qtk_imatrix_chunks(im) == 5, "chunks after save: %lld", (long long)qtk_imatrix_chunks(im));
        CHECK(qtk_imatrix_chunk_size(im) == (fmt ? -1 : 4), "chunk size after save");
        CHECK(qtk_imatrix_n_datasets(im) == (fmt ? 1 : 2) && strcmp(qtk_imatrix_dataset(im, 0), "d1.txt") == 0,
              "datasets after save");

        const float *d = qtk_imatrix_for(im, "blk.2.attn_output.weight", RA, 1, 0);
        CHECK(d != NULL, "dense entry after save");
        int bad = 0;
        for (int j = 0; d && j < RA; j++)
            if (!close_rel(d[j], sd[j] / (double)cd)) bad++;
        CHECK(bad == 0, "%s: %d dense values differ from sum/count", path, bad);
        bad = 0;
        for (int m = 0; m < RXM; m++) {
            const float *v = qtk_imatrix_for(im, "blk.0.ffn_gate_exps.weight", RX, RXM, m);
            CHECK(v != NULL, "expert %d after save", m);
            for (int j = 0; v && j < RX; j++) {
                double want = cxm[m] ? sx[m * RX + j] / (double)cxm[m] : 1.0;
                if (!close_rel(v[j], want)) bad++;
            }
        }
        CHECK(cxm[2] == 0 && bad == 0, "%s: %d expert values differ (expert 2 without data must be 1.0)", path, bad);
        const qtk_imatrix_entry *e = qtk_imatrix_find(im, "blk.0.ffn_gate_exps.weight");
        if (e && fmt) {
            int64_t mc = 0;
            for (int m = 0; m < RXM; m++) mc = mc > cxm[m] ? mc : cxm[m];
            CHECK(e->ncall == (mc + 3) / 4, "legacy ncall = ceil(max count / chunk size): %lld vs %lld",
                  (long long)e->ncall, (long long)((mc + 3) / 4));
        } else if (e) {
            int bc = 0;
            for (int m = 0; m < RXM; m++)
                if (e->counts[m] != (float)cxm[m]) bc++;
            CHECK(bc == 0, "GGUF counts preserved");
        }
        qtk_imatrix_free(im);
        free(path);
    }

    /* nothing to save: error, existing file untouched */
    qtk_imatrix_acc *empty = NULL;
    qtk_imatrix_acc_create(&empty, &err);
    int64_t ix;
    qtk_imatrix_acc_tensor(empty, "t", 4, 1, &ix, &err);
    char *path = tl_tmp_path("imatrix_empty.dat");
    tl_write_file(path, "keep", 4);
    CHECK(qtk_imatrix_save_dat(path, empty, &err) != QTK_OK, "empty accumulator refused (dat)");
    CHECK(qtk_imatrix_save_gguf(path, empty, &err) != QTK_OK, "empty accumulator refused (gguf)");
    size_t sz = 0;
    unsigned char *kept = tl_read_file(path, &sz);
    CHECK(kept && sz == 4 && memcmp(kept, "keep", 4) == 0, "existing file untouched");
    free(kept);
    free(path);
    qtk_imatrix_acc_free(empty);
    qtk_imatrix_acc_free(acc);
}

/* ---- malformed files ---------------------------------------------------------------- */

/* Loads path, expects failure with `code` and a message containing the
 * file name and `needle`. */
static void expect_fail(const char *path, const char *label, qtk_status code, const char *needle) {
    qtk_imatrix *im = (qtk_imatrix *)(uintptr_t)1;
    qtk_error err;
    memset(&err, 0, sizeof err);
    qtk_status st = qtk_imatrix_load(path, &im, &err);
    CHECK(st == code, "%s: status %d (%s), expected %d; msg: %s", label, (int)st, qtk_status_name(st), (int)code, err.msg);
    CHECK(im == NULL, "%s: no object on failure", label);
    CHECK(strstr(err.msg, path) != NULL, "%s: message names the file: %s", label, err.msg);
    CHECK(needle == NULL || strstr(err.msg, needle) != NULL, "%s: message mentions '%s': %s", label, needle, err.msg);
    if (st == QTK_OK) qtk_imatrix_free(im);
}

static void test_malformed_legacy(void) {
    float v4[4] = {1, 2, 3, 4};
    buf b = {0};
    char *path;
    float nanv[4] = {1, NAN, 3, 4}, infv[4] = {1, 2, INFINITY, 4}, negv[4] = {1, 2, 3, -0.5f};

#define LEGACY_CASE(label, code, needle, build)       \
    do {                                             \
        b.n = 0;                                     \
        build;                                       \
        path = write_tmp("imatrix_bad.dat", &b);     \
        expect_fail(path, label, code, needle);      \
        free(path);                                  \
    } while (0)

    LEGACY_CASE("empty file", QTK_ERR_FORMAT, "too short", (void)0);
    LEGACY_CASE("2 bytes", QTK_ERR_FORMAT, "too short", b_put(&b, "\1\0", 2));
    LEGACY_CASE("negative entry count", QTK_ERR_FORMAT, "-1", b_i32(&b, -1));
    LEGACY_CASE("zero entries", QTK_ERR_FORMAT, "not positive", b_i32(&b, 0));
    LEGACY_CASE("lying entry count", QTK_ERR_FORMAT, "1000000000",
                (b_i32(&b, 1000000000), b_entry(&b, "a.weight", 1, 4, v4)));
    LEGACY_CASE("zero name length", QTK_ERR_FORMAT, "entry 0",
                (b_i32(&b, 1), b_i32(&b, 0), b_i32(&b, 1), b_i32(&b, 4), b_put(&b, v4, 16)));
    LEGACY_CASE("lying name length", QTK_ERR_FORMAT, "name length",
                (b_i32(&b, 1), b_i32(&b, 5000), b_put(&b, "abcdefgh", 8), b_i32(&b, 1), b_i32(&b, 4), b_put(&b, v4, 16)));
    LEGACY_CASE("NUL in name", QTK_ERR_FORMAT, "NUL",
                (b_i32(&b, 1), b_i32(&b, 3), b_put(&b, "a\0b", 3), b_i32(&b, 1), b_i32(&b, 4), b_put(&b, v4, 16)));
    LEGACY_CASE("negative ncall", QTK_ERR_FORMAT, "blk.0.x.weight",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", -3, 4, v4)));
    LEGACY_CASE("zero nval", QTK_ERR_FORMAT, "nval 0",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 0, v4), b_put(&b, v4, 16)));
    LEGACY_CASE("negative nval", QTK_ERR_FORMAT, "nval -5",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 0, v4), b.n -= 4, b_i32(&b, -5), b_put(&b, v4, 16)));
    LEGACY_CASE("lying nval", QTK_ERR_FORMAT, "truncated",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b.n -= 20, b_i32(&b, 400000000), b_put(&b, v4, 16)));
    LEGACY_CASE("truncated values", QTK_ERR_FORMAT, "blk.0.y.weight",
                (b_i32(&b, 2), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b_entry(&b, "blk.0.y.weight", 1, 4, v4), b.n -= 3));
    LEGACY_CASE("truncated after name", QTK_ERR_FORMAT, "ncall",
                (b_i32(&b, 1), b_i32(&b, 20), b_put(&b, "blk.0.attn_q.weight.", 20), b_put(&b, "\1\0", 2)));
    LEGACY_CASE("NaN value", QTK_ERR_NUMERIC, "value 1", (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 2, 4, nanv)));
    LEGACY_CASE("Inf value", QTK_ERR_NUMERIC, "value 2", (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 2, 4, infv)));
    LEGACY_CASE("negative value", QTK_ERR_NUMERIC, "value 3", (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 2, 4, negv)));
    LEGACY_CASE("duplicate names", QTK_ERR_FORMAT, "duplicate entry 'blk.0.x.weight'",
                (b_i32(&b, 3), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b_entry(&b, "blk.0.y.weight", 1, 4, v4),
                 b_entry(&b, "blk.0.x.weight", 1, 4, v4)));
    LEGACY_CASE("stray trailing bytes", QTK_ERR_FORMAT, "stray",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b_put(&b, "\1\2", 2)));
    LEGACY_CASE("negative chunk count", QTK_ERR_FORMAT, "chunk count",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b_i32(&b, -2)));
    LEGACY_CASE("lying dataset length", QTK_ERR_FORMAT, "dataset",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b_i32(&b, 10), b_i32(&b, 99), b_put(&b, "ab", 2)));
    LEGACY_CASE("garbage after dataset", QTK_ERR_FORMAT, "after the dataset",
                (b_i32(&b, 1), b_entry(&b, "blk.0.x.weight", 1, 4, v4), b_i32(&b, 10), b_i32(&b, 2), b_put(&b, "abXYZ", 5)));
#undef LEGACY_CASE
    free(b.p);

    char *missing = tl_tmp_path("imatrix_does_not_exist.dat");
    expect_fail(missing, "missing file", QTK_ERR_IO, NULL);
    free(missing);
}

static void test_malformed_gguf(void) {
    float s8[8] = {1, 2, 3, 4, 5, 6, 7, 8}, c1[1] = {4}, c2[2] = {4, 2}, cneg[1] = {-1};
    float snan[8] = {1, 2, 3, NAN, 5, 6, 7, 8};
    uint16_t h8[8] = {0};
    char *path;

#define GGUF_CASE(label, meta, code, needle, ...)                                     \
    do {                                                                                \
        const gt ts_[] = {__VA_ARGS__};                                                 \
        path = write_gguf("imatrix_bad.gguf", meta, ts_, (int)(sizeof ts_ / sizeof ts_[0])); \
        expect_fail(path, label, code, needle);                                         \
        free(path);                                                                     \
    } while (0)

    const gt good_s = {"blk.0.ffn_up.weight.in_sum2", QTK_TYPE_F32, 1, {8, 1, 1, 1}, s8};
    const gt good_c = {"blk.0.ffn_up.weight.counts", QTK_TYPE_F32, 1, {1, 1, 1, 1}, c1};
    GGUF_CASE("model file", META_MODEL, QTK_ERR_FORMAT, "'model'", good_s, good_c);
    GGUF_CASE("chunk count not an integer", META_BAD_CHUNKS, QTK_ERR_FORMAT, "imatrix.chunk_count", good_s, good_c);
    GGUF_CASE("datasets not strings", META_BAD_DATASETS, QTK_ERR_FORMAT, "imatrix.datasets", good_s, good_c);
    GGUF_CASE("in_sum2 without counts", META_OK, QTK_ERR_FORMAT, "blk.1.ffn_up.weight", good_s,
              {"blk.1.ffn_up.weight.in_sum2", QTK_TYPE_F32, 1, {8, 1, 1, 1}, s8},
              {"blk.1.ffn_up.weight.countz", QTK_TYPE_F32, 1, {1, 1, 1, 1}, c1}, good_c);
    GGUF_CASE("counts without in_sum2", META_OK, QTK_ERR_FORMAT, "blk.5.attn_k.weight", good_s, good_c,
              {"blk.5.attn_k.weight.counts", QTK_TYPE_F32, 1, {1, 1, 1, 1}, c1});
    GGUF_CASE("counts shape mismatch", META_OK, QTK_ERR_FORMAT, "shape",
              {"blk.0.ffn_up_exps.weight.in_sum2", QTK_TYPE_F32, 2, {4, 2, 1, 1}, s8},
              {"blk.0.ffn_up_exps.weight.counts", QTK_TYPE_F32, 2, {2, 1, 1, 1}, c2});
    GGUF_CASE("counts too few matrices", META_OK, QTK_ERR_FORMAT, "blk.0.ffn_up_exps.weight",
              {"blk.0.ffn_up_exps.weight.in_sum2", QTK_TYPE_F32, 2, {4, 2, 1, 1}, s8},
              {"blk.0.ffn_up_exps.weight.counts", QTK_TYPE_F32, 1, {1, 1, 1, 1}, c1});
    GGUF_CASE("in_sum2 3-D", META_OK, QTK_ERR_FORMAT, "dimensions",
              {"blk.0.ffn_up_exps.weight.in_sum2", QTK_TYPE_F32, 3, {2, 2, 2, 1}, s8},
              {"blk.0.ffn_up_exps.weight.counts", QTK_TYPE_F32, 2, {1, 2, 1, 1}, c2});
    GGUF_CASE("in_sum2 not f32", META_OK, QTK_ERR_FORMAT, "f16",
              {"blk.0.ffn_up.weight.in_sum2", QTK_TYPE_F16, 1, {8, 1, 1, 1}, h8}, good_c);
    GGUF_CASE("negative count", META_OK, QTK_ERR_NUMERIC, "count", good_s,
              {"blk.0.ffn_up.weight.counts", QTK_TYPE_F32, 1, {1, 1, 1, 1}, cneg});
    GGUF_CASE("NaN in in_sum2", META_OK, QTK_ERR_NUMERIC, "column 3",
              {"blk.0.ffn_up.weight.in_sum2", QTK_TYPE_F32, 1, {8, 1, 1, 1}, snan}, good_c);
    GGUF_CASE("no imatrix tensors", META_NO_TYPE, QTK_ERR_FORMAT, "in_sum2",
              {"token_embd.weight", QTK_TYPE_F32, 1, {8, 1, 1, 1}, s8});
#undef GGUF_CASE

    /* a GGUF imatrix cut short: the GGUF reader's error, naming the file */
    const gt ok[] = {good_s, good_c};
    path = write_gguf("imatrix_cut.gguf", META_OK, ok, 2);
    size_t n = 0, cut = 0;
    unsigned char *all = tl_read_file(path, &n);
    qtk_gguf *g = NULL;
    qtk_error err;
    if (qtk_gguf_open(path, &g, &err) == QTK_OK) {
        /* cut inside the data of the last tensor (the counts) */
        const qtk_tensor_info *t = qtk_gguf_tensor(g, qtk_gguf_find_tensor(g, "blk.0.ffn_up.weight.counts"));
        cut = (size_t)(qtk_gguf_data_offset(g) + t->offset + 2);
        qtk_gguf_close(g);
    }
    CHECK(all && cut > 0 && cut < n, "layout of the file to cut");
    if (all && cut > 0 && cut < n) {
        tl_write_file(path, all, cut);
        expect_fail(path, "truncated GGUF", QTK_ERR_FORMAT, NULL);
        tl_write_file(path, all, n / 2);
        expect_fail(path, "GGUF cut in half", QTK_ERR_FORMAT, NULL);
    }
    free(all);
    free(path);
}

/* ---- the reference's imatrix of the fixture model --------------------------------------- */

static int test_fixture(void) {
    char *ipath = tl_shared_path("fixtures/imatrix.dat");
    char *mpath = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    if (!ipath || !mpath) {
        free(ipath);
        free(mpath);
        return 0;
    }
    qtk_imatrix *im = NULL;
    qtk_gguf *g = NULL;
    qtk_error err;
    CHECK(qtk_imatrix_load(ipath, &im, &err) == QTK_OK, "load fixture imatrix: %s", err.msg);
    CHECK(qtk_gguf_open(mpath, &g, &err) == QTK_OK, "open fixture model: %s", err.msg);
    if (im && g) {
        CHECK(qtk_imatrix_get_format(im) == QTK_IMATRIX_LEGACY, "fixture is legacy");
        CHECK(qtk_imatrix_count(im) == 42, "42 entries, got %lld", (long long)qtk_imatrix_count(im));
        CHECK(qtk_imatrix_chunks(im) == 139, "139 chunks, got %lld", (long long)qtk_imatrix_chunks(im));
        CHECK(qtk_imatrix_n_datasets(im) == 1 && strcmp(qtk_imatrix_dataset(im, 0), "calib.txt") == 0,
              "dataset calib.txt");
        int64_t bad_vals = 0, nmatch = 0;
        for (int64_t i = 0; i < qtk_imatrix_count(im); i++) {
            const qtk_imatrix_entry *e = qtk_imatrix_at(im, i);
            int64_t ti = qtk_gguf_find_tensor(g, e->name);
            CHECK(ti >= 0, "imatrix entry '%s' is a tensor of the model", e->name);
            if (ti < 0) continue;
            const qtk_tensor_info *t = qtk_gguf_tensor(g, ti);
            CHECK(e->nval == t->ne[0] * t->ne[2], "'%s': %lld values vs ne[0] %lld x ne[2] %lld", e->name,
                  (long long)e->nval, (long long)t->ne[0], (long long)t->ne[2]);
            CHECK(qtk_imatrix_for(im, e->name, t->ne[0], t->ne[2], 0) == e->values, "'%s': for() with the model shape",
                  e->name);
            CHECK(qtk_imatrix_for(im, e->name, t->ne[0] / 2, t->ne[2], 0) == NULL, "'%s': wrong row length -> NULL",
                  e->name);
            CHECK(e->ncall == 139, "'%s': ncall %lld", e->name, (long long)e->ncall);
            nmatch++;
            for (int64_t j = 0; j < e->nval; j++)
                if (!isfinite(e->values[j]) || e->values[j] < 0.0f) bad_vals++;
        }
        CHECK(nmatch == 42, "all 42 entries match model tensors");
        CHECK(bad_vals == 0, "%lld values not finite / negative", (long long)bad_vals);

        /* independent check of the normalisation: first entry read by hand */
        size_t n = 0;
        unsigned char *raw = tl_read_file(ipath, &n);
        if (raw && n > 16) {
            int32_t nl, ncall, nval;
            memcpy(&nl, raw + 4, 4);
            memcpy(&ncall, raw + 8 + nl, 4);
            memcpy(&nval, raw + 12 + nl, 4);
            const qtk_imatrix_entry *e0 = qtk_imatrix_at(im, 0);
            CHECK(e0 && (int32_t)strlen(e0->name) == nl && memcmp(e0->name, raw + 8, (size_t)nl) == 0, "first name");
            int bad = 0;
            for (int32_t j = 0; e0 && j < nval && j < e0->nval; j++) {
                float s;
                memcpy(&s, raw + 16 + nl + 4 * (size_t)j, 4);
                if (e0->values[j] != s / (float)ncall) bad++;
            }
            CHECK(e0 && nval == e0->nval && bad == 0, "first entry = raw / ncall (%d differ)", bad);
        }
        free(raw);
    }
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
    free(ipath);
    free(mpath);
    return 1;
}

int main(void) {
    test_legacy();
    test_gguf();
    test_roundtrip();
    test_malformed_legacy();
    test_malformed_gguf();
    int had_fixture = test_fixture();
    if (!had_fixture && tl_failures == 0) {
        /* everything else passed; the reference part could not run */
        tl_finish("test_imatrix");
        return tl_skip("test_imatrix", "fixtures/imatrix.dat or tiny-llama-f16.gguf missing");
    }
    return tl_finish("test_imatrix");
}
