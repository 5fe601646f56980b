/*
 * test_matmul.c — the engine's product (qtk_matmul_many, model/matmul.c)
 * for every type with a dot product, batch sizes 1..64: whichever path it
 * takes (vec_dot rows, the type's tiled mul_mat, the int8 panels), each
 * output must equal the scalar vec_dot of that row and column within the
 * conversion bound of test_panel.c (0 for the exact paths, plus float
 * rounding 2^-20 · Σ|w||y|); 1 and 3 threads must give identical bytes.
 * 37 rows (not a multiple of the 8-row panel group or the 16-row split),
 * q/k/v-style products of two weights in one dispatch, and activations at
 * ±max in every third column. Rows of 1280 weights = 5 super-blocks: the
 * kernels that work on groups of 4 super-blocks (IQ4_KSS) run a group and
 * a tail.
 */
#include "testlib.h"
#include "model/model_internal.h"

#include <math.h>

#define N 1280
#define ROWS 37
#define MAX_TOK 64

static int g_types;

static void test_type(const qtk_type_traits *tr, qtk_exec *e1, qtk_exec *e3) {
    const size_t rs = qtk_row_size((int)tr->id, N);
    uint8_t *wdata = (uint8_t *)malloc(rs * ROWS * 2);
    float *x = (float *)malloc(sizeof(float) * N * MAX_TOK), *im = (float *)malloc(sizeof(float) * N);
    float *wf = (float *)malloc(sizeof(float) * N * ROWS * 2);
    float *y1[2], *y3[2];
    for (int i = 0; i < 2; i++) {
        y1[i] = (float *)malloc(sizeof(float) * ROWS * MAX_TOK);
        y3[i] = (float *)malloc(sizeof(float) * ROWS * MAX_TOK);
    }
    tl_rng rng;
    tl_rng_seed(&rng, 4242 + (unsigned long long)tr->id);
    for (int i = 0; i < N; i++) im[i] = 0.5f + tl_rng_uniform(&rng);
    /* Quick mode (sanitizers, qemu) quantizes at the fast level; the trellis types, whose
     * searches take a minute per type under qemu, quantize 4 rows and make the others from
     * them with random codes (every bit pattern of a KT block is a valid code), keeping the
     * real row scale. */
    const bool quick = tl_quick();
    for (int r = 0; r < 2 * ROWS; r++) {
        uint8_t *row = wdata + (size_t)r * rs;
        if (quick && tl_is_trellis(tr->id) && r >= 4) {
            memcpy(row, wdata + (size_t)(r % 4) * rs, rs);
            for (size_t b = tr->row_meta_size; b < rs; b++) row[b] = (uint8_t)(tl_rng_u64(&rng) >> 56);
        } else {
            for (int i = 0; i < N; i++)
                x[i] = r % 4 == 1 ? (i == 5 ? 30.0f : 0.02f * tl_rng_normal(&rng)) : tl_rng_normal(&rng) * (1 + r % 3);
            qtk_error err;
            CHECK(qtk_quantize_rows_effort((int)tr->id, x, row, 1, N, tr->requires_imatrix ? im : NULL,
                                           quick ? QTK_EFFORT_FAST : QTK_EFFORT_DEFAULT, &err) == QTK_OK,
                  "%s: quantize: %s", tr->name, err.msg);
        }
        float *wr = wf + (size_t)r * N;
        (tr->to_float_dot ? tr->to_float_dot : tr->to_float)(row, wr, N);
        int finite = 1;
        for (int i = 0; i < N; i++) finite &= isfinite(wr[i]) != 0;
        CHECK(finite, "%s: row %d decodes to a non-finite value", tr->name, r);
    }
    qtk_weight w[2];
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].name = i ? "b.weight" : "a.weight";
        w[i].expert = -1;
        w[i].data = wdata + (size_t)i * ROWS * rs;
        w[i].type = tr->id;
        w[i].n_in = N;
        w[i].n_out = ROWS;
        w[i].row_size = rs;
        qtk_error err;
        CHECK(qtk_weight_bind(&w[i], &err) == QTK_OK, "%s: bind: %s", tr->name, err.msg);
    }
    const qtk_type_traits *vt = w[0].act;
    uint8_t *act = (uint8_t *)malloc(w[0].act_row_size);
    float *yf = (float *)malloc(sizeof(float) * N);
    for (int t = 0; t < MAX_TOK; t++)
        for (int i = 0; i < N; i++)
            x[t * N + i] = t % 3 == 0 ? ((i + t) % 2 ? 1e3f : -1e3f) : tl_rng_normal(&rng);
    /* The reference and the bound of every (weight, row, column) do not depend on the batch
     * size: computed once. Per 32-block, the panel conversion's error is at most
     * amax|w|/254 · Σ|y| (test_panel.c); float rounding adds 2^-20 · Σ|w||y|. */
    const size_t n_out = (size_t)2 * ROWS * MAX_TOK;
    double *ref = (double *)malloc(sizeof(double) * n_out), *panel_b = (double *)malloc(sizeof(double) * n_out);
    double *mag = (double *)malloc(sizeof(double) * n_out);
    double *amax = (double *)malloc(sizeof(double) * 2 * ROWS * (N / 32)), *ysum = (double *)malloc(sizeof(double) * (N / 32));
    float *aw = (float *)malloc(sizeof(float) * N * ROWS * 2), *ay = (float *)malloc(sizeof(float) * N);
    for (size_t j = 0; j < (size_t)N * ROWS * 2; j++) aw[j] = fabsf(wf[j]);
    for (int rr = 0; rr < 2 * ROWS; rr++)
        for (int k = 0; k < N / 32; k++) {
            float m = 0;
            for (int j = 0; j < 32; j++) m = aw[(size_t)rr * N + k * 32 + j] > m ? aw[(size_t)rr * N + k * 32 + j] : m;
            amax[rr * (N / 32) + k] = m;
        }
    for (int t = 0; t < MAX_TOK; t++) {
        const float *xt = x + (size_t)t * N;
        if (vt->id == QTK_TYPE_F32) memcpy(act, xt, sizeof(float) * N);
        else vt->from_float(xt, act, N);
        if (vt->id == QTK_TYPE_F32) memcpy(yf, xt, sizeof(float) * N);
        else vt->to_float(act, yf, N);
        for (int j = 0; j < N; j++) ay[j] = fabsf(yf[j]);
        for (int k = 0; k < N / 32; k++) {
            double s = 0;
            for (int j = 0; j < 32; j++) s += ay[k * 32 + j];
            ysum[k] = s;
        }
        for (int rr = 0; rr < 2 * ROWS; rr++) {
            const size_t o = ((size_t)rr * MAX_TOK + (size_t)t);
            float rf;
            tr->vec_dot[QTK_ISA_SCALAR](N, &rf, (const uint8_t *)w[rr / ROWS].data + (size_t)(rr % ROWS) * rs, act);
            ref[o] = rf;
            double b = 0;
            for (int k = 0; k < N / 32; k++) b += amax[rr * (N / 32) + k] / 254.0 * ysum[k];
            panel_b[o] = b;
            /* per 32-block partial sums in float, added in double: exact enough for a bound
             * scale, and a loop shape aarch64 gcc 12 vectorises without its internal error */
            const float *a = aw + (size_t)rr * N;
            double m = 0;
            for (int k = 0; k < N; k += 32) {
                float p = 0;
                for (int j = k; j < k + 32; j++) p += a[j] * ay[j];
                m += p;
            }
            mag[o] = m;
        }
    }
    long over = 0, differ = 0;
    double worst = 0;
    const qtk_weight *ws[2] = {&w[0], &w[1]};
    /* QTK_TEST_QUICK=1 (sanitizers, emulators): 1, 4, 7, 10, 37, 64 columns, every path taken */
    for (int n_tok = 1; n_tok <= MAX_TOK; n_tok += quick ? (n_tok < 8 ? 3 : 27) : n_tok < 12 ? 1 : 7) {
        qtk_error err;
        CHECK(qtk_matmul_many(e1, 2, ws, y1, x, n_tok, &err) == QTK_OK, "%s: matmul: %s", tr->name, err.msg);
        CHECK(qtk_matmul_many(e3, 2, ws, y3, x, n_tok, &err) == QTK_OK, "%s: matmul: %s", tr->name, err.msg);
        for (int i = 0; i < 2; i++) differ += memcmp(y1[i], y3[i], sizeof(float) * ROWS * (size_t)n_tok) != 0;
        for (int i = 0; i < 2; i++) {
            const bool panel = w[i].panel_min_cols > 0 && n_tok >= w[i].panel_min_cols;
            for (int t = 0; t < n_tok; t++)
                for (int r = 0; r < ROWS; r++) {
                    const size_t o = ((size_t)i * ROWS + (size_t)r) * MAX_TOK + (size_t)t;
                    const double bound = (panel && !tr->to_int8 ? panel_b[o] : 0.0) + mag[o] / (1 << 20);
                    const double d = fabs((double)y1[i][(size_t)t * ROWS + r] - ref[o]);
                    if (d > bound) over++;
                    if (bound > 0 && d / bound > worst) worst = d / bound;
                }
        }
    }
    CHECK(over == 0, "%s: %ld products outside the bound (worst %.3f of it)", tr->name, over, worst);
    CHECK(differ == 0, "%s: 1 and 3 threads differ in %ld products", tr->name, differ);
    g_types++;
    free(wdata);
    free(x);
    free(im);
    free(wf);
    free(act);
    free(yf);
    free(ref);
    free(panel_b);
    free(mag);
    free(amax);
    free(ysum);
    free(aw);
    free(ay);
    for (int i = 0; i < 2; i++) {
        free(y1[i]);
        free(y3[i]);
    }
}

int main(void) {
    qtk_exec e1, e3;
    memset(&e1, 0, sizeof e1);
    memset(&e3, 0, sizeof e3);
    qtk_error err;
    if (qtk_pool_create(1, &e1.pool, &err) != QTK_OK || qtk_pool_create(3, &e3.pool, &err) != QTK_OK) {
        fprintf(stderr, "pool: %s\n", err.msg);
        return 1;
    }
    e1.n_gen = e1.n_batch = 1;
    e3.n_gen = e3.n_batch = 3;
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (!tr->file_type || !tr->quantize || !tr->to_float || !tr->vec_dot[QTK_ISA_SCALAR] || tr->interleaved ||
            N % tr->block_size)
            continue;
        test_type(tr, &e1, &e3);
    }
    CHECK(g_types >= 24, "only %d types tested", g_types);
    printf("%d types, batches 1..%d\n", g_types, MAX_TOK);
    qtk_free_aligned(e1.act_buf);
    qtk_free_aligned(e3.act_buf);
    qtk_free_aligned(e1.panel_buf);
    qtk_free_aligned(e3.panel_buf);
    qtk_pool_free(e1.pool);
    qtk_pool_free(e3.pool);
    return tl_finish("test_matmul");
}
