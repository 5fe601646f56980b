/*
 * test_vectors.c — every type of the table against the reference vectors
 * ../shared/vectors/<name>.gguf (see their README.md).
 *   (a) decoding: to_float of every q.D / qw.D tensor reproduces y.D / yw.D
 *       bit for bit (first mismatching row/column reported);
 *   (b) quantization quality: quantize x.D without and with the `imatrix`
 *       tensor, decode, and compare E = Σ_rows Σ_j w_j (x − y)² (w = imatrix or
 *       1, in double) with the reference's E from y.D / yw.D on the same rows:
 *       E_qtk ≤ 1.005 · E_ref per distribution and mode. Modes whose reference
 *       tensors are absent (vectors.requires_imatrix) are skipped; rows listed
 *       in vectors.reference_aborts_on are left out of both sums;
 *   (c) every quantized output decodes to finite values.
 * A table of ratios E_qtk/E_ref is printed to stdout (lines starting "|").
 * QTK_TEST_QUICK=1 (sanitizers, qemu: the searches run 40x slower there) checks
 * (b)+(c) on every third distribution of each file, rotating with the file, so
 * every distribution is still quantized by a third of the types, not the KT types
 * (their codebook build is most of this test's time there; test_trellis runs their
 * quantizers in quick mode); (a) always runs.
 * Types with a vectors file but no to_float are reported "not implemented".
 */
#include "testlib.h"

#include <math.h>

#define MAX_DISTS 32
#define MAX_ABORTS 256
#define QUALITY_TOL 1.005

typedef struct {
    char dist[64];
    long row;
} abort_entry;

static abort_entry g_aborts[MAX_ABORTS];
static int g_n_aborts;

/* Parses one "dist:row" item of vectors.reference_aborts_on. */
static void add_abort(const char *s, size_t len) {
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (!len || g_n_aborts >= MAX_ABORTS) return;
    const char *colon = memchr(s, ':', len);
    if (!colon || (size_t)(colon - s) >= sizeof g_aborts[0].dist) return;
    abort_entry *e = &g_aborts[g_n_aborts++];
    memcpy(e->dist, s, (size_t)(colon - s));
    e->dist[colon - s] = 0;
    e->row = strtol(colon + 1, NULL, 10);
}

/* Accepts a string "d:r, d:r; d:r" or an array of such strings. */
static void parse_aborts(const qtk_gguf_value *v) {
    g_n_aborts = 0;
    if (!v) return;
    if (v->type == QTK_GGUF_STRING) {
        const char *p = v->v.str.ptr;
        while (*p) {
            size_t k = strcspn(p, ",; \n");
            add_abort(p, k);
            p += k;
            if (*p) p++;
        }
    } else if (v->type == QTK_GGUF_ARRAY && v->v.arr.elem_type == QTK_GGUF_STRING) {
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            const qtk_gguf_value *it = &v->v.arr.items[i];
            add_abort(it->v.str.ptr, strlen(it->v.str.ptr));
        }
    }
}

static int is_aborted(const char *dist, long row) {
    for (int i = 0; i < g_n_aborts; i++)
        if (strcmp(g_aborts[i].dist, dist) == 0 && g_aborts[i].row == row) return 1;
    return 0;
}

static const qtk_tensor_info *find(const qtk_gguf *g, const char *prefix, const char *dist) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", prefix, dist);
    int64_t i = qtk_gguf_find_tensor(g, name);
    return i < 0 ? NULL : qtk_gguf_tensor(g, i);
}

/* Copies a tensor's f32 data (possibly unaligned in the mapping) into a new buffer. */
static float *load_f32(const qtk_tensor_info *t) {
    size_t n = (size_t)qtk_tensor_nelements(t);
    float *p = (float *)malloc(n * sizeof(float) + 1);
    if (p) memcpy(p, t->data, n * sizeof(float));
    return p;
}

/* Reference rows that correspond to x rows: y may hold every row (aborted
 * ones then ignored) or only the rows the reference did not abort on. */
static long ref_row_of(const char *dist, long xrow, long xrows, long yrows) {
    if (yrows == xrows) return xrow;
    long k = 0;
    for (long r = 0; r < xrow; r++)
        if (!is_aborted(dist, r)) k++;
    return k;
}

/* (a): q decodes to y bit for bit. Returns 1 when it does. */
static int check_decode(const qtk_type_traits *tr, const char *fname, const qtk_tensor_info *q,
                        const qtk_tensor_info *y) {
    if (q->type != tr->id) {
        CHECK(0, "%s: %s has type %d, expected %d", fname, q->name, (int)q->type, (int)tr->id);
        return 0;
    }
    const int64_t n = q->ne[0], rows = qtk_tensor_nrows(q);
    if (y->ne[0] != n || qtk_tensor_nrows(y) != rows || y->type != QTK_TYPE_F32) {
        CHECK(0, "%s: %s and %s differ in shape", fname, q->name, y->name);
        return 0;
    }
    const size_t rs = qtk_row_size((int)tr->id, n);
    /* copy each row to an address that is only 2-byte aligned (as rows inside
     * a mapped file may be): decoders must not assume more */
    unsigned char *qrow = (unsigned char *)malloc(rs + 2);
    float *out = (float *)malloc((size_t)n * sizeof(float));
    int ok = qrow && out;
    for (int64_t r = 0; ok && r < rows; r++) {
        memcpy(qrow + 2, (const unsigned char *)q->data + (size_t)r * rs, rs);
        tr->to_float(qrow + 2, out, n);
        const unsigned char *yr = (const unsigned char *)y->data + (size_t)r * (size_t)n * sizeof(float);
        for (int64_t j = 0; j < n; j++) {
            if (memcmp(&out[j], yr + (size_t)j * sizeof(float), sizeof(float)) != 0) {
                float want;
                memcpy(&want, yr + (size_t)j * sizeof(float), sizeof want);
                CHECK(0, "%s: decoding %s differs first at row %lld col %lld: got %.9g, reference %.9g", fname,
                      q->name, (long long)r, (long long)j, (double)out[j], (double)want);
                ok = 0;
                break;
            }
        }
    }
    free(qrow);
    free(out);
    return ok;
}

typedef struct {
    int n_decoded, n_decode_ok, n_modes, n_modes_ok;
} type_summary;

/* (b)+(c) for one distribution and mode. */
static void check_quality(const qtk_type_traits *tr, const char *fname, const char *dist, int with_imatrix,
                          const qtk_tensor_info *xt, const qtk_tensor_info *yt, const float *imatrix,
                          type_summary *sum) {
    const int64_t n = xt->ne[0], rows = qtk_tensor_nrows(xt);
    const long yrows = (long)qtk_tensor_nrows(yt);
    const char *mode = with_imatrix ? "imatrix" : "none";
    float *x = load_f32(xt), *yref = load_f32(yt), *y = (float *)malloc((size_t)(n * rows) * sizeof(float));
    void *q = malloc(qtk_row_size((int)tr->id, n) * (size_t)rows + 1);
    if (!x || !yref || !y || !q) {
        CHECK(0, "out of memory");
        goto done;
    }
    qtk_error err;
    qtk_status st = qtk_quantize_rows((int)tr->id, x, q, rows, n, with_imatrix ? imatrix : NULL, &err);
    CHECK(st == QTK_OK, "%s: quantizing x.%s (%s) failed: %s", fname, dist, mode, err.msg);
    if (st != QTK_OK) goto done;
    st = qtk_dequantize_rows((int)tr->id, q, y, rows, n, &err);
    CHECK(st == QTK_OK, "%s: decoding own output failed: %s", fname, err.msg);
    if (st != QTK_OK) goto done;
    int64_t nonfinite = 0;
    for (int64_t i = 0; i < n * rows; i++)
        if (!isfinite(y[i])) nonfinite++;
    CHECK(nonfinite == 0, "%s: x.%s (%s): %lld decoded values are not finite", fname, dist, mode,
          (long long)nonfinite);
    double e_q = 0.0, e_ref = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        if (is_aborted(dist, (long)r)) continue;
        long rr = ref_row_of(dist, (long)r, (long)rows, yrows);
        if (rr >= yrows) continue;
        for (int64_t j = 0; j < n; j++) {
            const double w = with_imatrix ? (double)imatrix[j] : 1.0;
            const double xv = x[r * n + j];
            const double a = xv - (double)y[r * n + j], b = xv - (double)yref[rr * n + j];
            e_q += w * a * a;
            e_ref += w * b * b;
        }
    }
    double ratio = e_ref > 0.0 ? e_q / e_ref : (e_q == 0.0 ? 1.0 : INFINITY);
    int ok = ratio <= QUALITY_TOL && nonfinite == 0;
    CHECK(ratio <= QUALITY_TOL, "%s: x.%s (%s): E_qtk/E_ref = %.5f > %.3f (E_qtk %.6g, E_ref %.6g)", fname, dist,
          mode, ratio, QUALITY_TOL, e_q, e_ref);
    printf("| %-8s | %-10s | %-7s | %8.4f | %12.6g | %12.6g | %s |\n", tr->name, dist, mode, ratio, e_q, e_ref,
           ok ? "ok" : "FAIL");
    sum->n_modes++;
    sum->n_modes_ok += ok;
done:
    free(x);
    free(yref);
    free(y);
    free(q);
}

/* file_no: the file's position in the run (quick mode's rotation). */
static void test_type(const qtk_type_traits *tr, const char *fname, int file_no) {
    qtk_gguf *g = NULL;
    qtk_error err;
    if (qtk_gguf_open(fname, &g, &err) != QTK_OK) {
        CHECK(0, "cannot open %s: %s", fname, err.msg);
        return;
    }
    const qtk_meta *meta = qtk_gguf_meta(g);
    parse_aborts(qtk_meta_get(meta, "vectors.reference_aborts_on"));
    const qtk_tensor_info *imt = NULL;
    int64_t ii = qtk_gguf_find_tensor(g, "imatrix");
    if (ii >= 0) imt = qtk_gguf_tensor(g, ii);
    float *imatrix = imt && imt->type == QTK_TYPE_F32 ? load_f32(imt) : NULL;

    type_summary sum = {0, 0, 0, 0};
    const int quick = tl_quick();
    int dist_no = 0;
    for (int64_t t = 0; t < qtk_gguf_n_tensors(g); t++) {
        const qtk_tensor_info *xt = qtk_gguf_tensor(g, t);
        if (strncmp(xt->name, "x.", 2) != 0) continue;
        const char *dist = xt->name + 2;
        const int quality = !quick || ((file_no + dist_no) % 3 == 0 && !tl_is_trellis(tr->id));
        dist_no++;
        for (int mode = 0; mode < 2; mode++) {
            const qtk_tensor_info *qt = find(g, mode ? "qw" : "q", dist), *yt = find(g, mode ? "yw" : "y", dist);
            if (!yt) continue; /* the reference has no output for this mode */
            if (qt) {
                sum.n_decoded++;
                sum.n_decode_ok += check_decode(tr, fname, qt, yt);
            }
            if (!tr->quantize || !quality) continue;
            if (mode && !imatrix) {
                CHECK(0, "%s: yw.%s present but no f32 imatrix tensor", fname, dist);
                continue;
            }
            if (!mode && tr->requires_imatrix) {
                printf("| %-8s | %-10s | %-7s | %8s | (qtk requires an imatrix, reference did not) |\n", tr->name,
                       dist, "none", "-");
                continue;
            }
            if (xt->type != QTK_TYPE_F32 || yt->ne[0] != xt->ne[0]) {
                CHECK(0, "%s: x.%s / y tensors have unexpected types or shapes", fname, dist);
                continue;
            }
            check_quality(tr, fname, dist, mode, xt, yt, imatrix, &sum);
        }
    }
    fprintf(stderr, "  %-8s decode %d/%d bit-exact", tr->name, sum.n_decode_ok, sum.n_decoded);
    if (tr->quantize)
        fprintf(stderr, ", quality %d/%d within %.3f\n", sum.n_modes_ok, sum.n_modes, QUALITY_TOL);
    else
        fprintf(stderr, ", quantize not implemented\n");
    free(imatrix);
    qtk_gguf_close(g);
}

int main(void) {
    char *dir = tl_shared_path("vectors/README.md");
    if (!dir) return tl_skip("test_vectors", "../shared/vectors not available");
    free(dir);
    printf("| type     | dist       | mode    | E_qtk/E_ref | E_qtk | E_ref | |\n");
    printf("|---|---|---|---:|---:|---:|---|\n");
    int n_files = 0, n_unimpl = 0;
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (tr->interleaved) continue;
        char rel[128];
        snprintf(rel, sizeof rel, "vectors/%s.gguf", tr->name);
        char *path = tl_shared_path(rel);
        if (!path) continue;
        n_files++;
        if (!tr->to_float) {
            fprintf(stderr, "  %-8s not implemented (no to_float)\n", tr->name);
            n_unimpl++;
        } else {
            test_type(tr, path, n_files);
        }
        free(path);
    }
    fprintf(stderr, "  %d vectors files matched table types, %d of them not implemented yet\n", n_files, n_unimpl);
    CHECK(n_files > 0, "no vectors file matched any type of the table");
    return tl_finish("test_vectors");
}
