/*
 * test_quant_edge.c — every quantizer of the table on degenerate input.
 * For each type with a quantize function:
 *  - degenerate rows (all zero, constant ±, single spike, every 32nd zero,
 *    first half zero, 1e-20 tiny, 1e3 and 1e30 huge-but-finite, a 1e30 and a
 *    -FLT_MAX spike among small values (the scale factors some quantizers
 *    store, e.g. IQ1_KT's 1.07, must not overflow), alternating
 *    sign, denormals, a lone normal value among denormals), quantized in one
 *    call without an imatrix and with several (ones, log-normal, one with
 *    zeros and huge values, all zero): quantization succeeds, writes exactly
 *    rows × row_size bytes, decodes to finite values, and an all-zero row
 *    decodes to zeros;
 *  - NaN / ±Inf in the input (and NaN in the imatrix) is rejected by
 *    qtk_quantize_rows with QTK_ERR_NUMERIC naming row and column;
 *  - a row length that is not a multiple of the block size (or 0) is rejected.
 * Float types (f16, bf16, f32) have no scale to clamp: they are excused from
 * the 1e30 rows only (f16 cannot represent them; the reference gives Inf too).
 */
#include "testlib.h"

#include <float.h>
#include <math.h>

#define N_PER_ROW 512
#define CANARY 0xA5

enum {
    R_ZERO, R_CONST_POS, R_CONST_NEG, R_SPIKE, R_EVERY32_ZERO, R_HALF_ZERO, R_TINY, R_HUGE3, R_HUGE30,
    R_ALTERNATE, R_DENORMAL, R_DENORMAL_ONE, R_SPIKE30, R_SPIKEMAX, R_NROWS
};
static const char *row_name[R_NROWS] = {"zero",  "const+",   "const-",      "spike",   "every32zero",
                                        "halfzero", "tiny1e-20", "huge1e3",  "huge1e30", "alternating",
                                        "denormal", "denormal+one", "spike1e30", "spike-FLT_MAX"};

enum { IM_NONE, IM_ONES, IM_LOGNORMAL, IM_ZEROS_HUGE, IM_ALL_ZERO, IM_COUNT };
static const char *im_name[IM_COUNT] = {"none", "ones", "lognormal", "zeros+huge", "all-zero"};

static void make_rows(float *x, int64_t n) {
    tl_rng rng;
    tl_rng_seed(&rng, 12345);
    for (int r = 0; r < R_NROWS; r++) {
        float *row = x + (int64_t)r * n;
        for (int64_t j = 0; j < n; j++) {
            const float g = tl_rng_normal(&rng);
            float v = 0.0f;
            switch (r) {
            case R_ZERO: v = 0.0f; break;
            case R_CONST_POS: v = 0.7f; break;
            case R_CONST_NEG: v = -0.7f; break;
            case R_SPIKE: v = j == 100 ? 1.0f : 0.0f; break;
            case R_EVERY32_ZERO: v = j % 32 == 0 ? 0.0f : 0.02f * g; break;
            case R_HALF_ZERO: v = j < n / 2 ? 0.0f : 0.02f * g; break;
            case R_TINY: v = 1e-20f * g; break;
            case R_HUGE3: v = 1e3f * g; break;
            case R_HUGE30: v = 1e30f * g; break;
            case R_ALTERNATE: v = (j & 1) ? -0.3f : 0.3f; break;
            case R_DENORMAL: v = FLT_MIN * 0.25f * g; break;
            case R_DENORMAL_ONE: v = j == 7 ? 0.5f : FLT_MIN * 0.1f * g; break;
            case R_SPIKE30: v = j == 300 ? -1e30f : 0.01f * g; break;
            default: v = j == 300 ? -FLT_MAX : 0.01f * g; break;
            }
            row[j] = v;
        }
    }
}

static void make_imatrix(float *im, int64_t n, int kind) {
    tl_rng rng;
    tl_rng_seed(&rng, 777 + (unsigned)kind);
    for (int64_t j = 0; j < n; j++) {
        switch (kind) {
        case IM_ONES: im[j] = 1.0f; break;
        case IM_LOGNORMAL: im[j] = expf(1.5f * tl_rng_normal(&rng)); break;
        case IM_ZEROS_HUGE: im[j] = j % 3 == 0 ? 0.0f : (j % 7 == 0 ? 1e30f : expf(tl_rng_normal(&rng))); break;
        default: im[j] = 0.0f; break;
        }
    }
}

static void test_degenerate(const qtk_type_traits *tr, const float *x, int64_t n) {
    const size_t rs = qtk_row_size((int)tr->id, n), total = rs * R_NROWS;
    unsigned char *q = (unsigned char *)malloc(total + 64);
    float *y = (float *)malloc((size_t)(n * R_NROWS) * sizeof(float));
    float *im = (float *)malloc((size_t)n * sizeof(float));
    if (!q || !y || !im) {
        CHECK(0, "out of memory");
        goto done;
    }
    for (int k = 0; k < IM_COUNT; k++) {
        if (k == IM_NONE && tr->requires_imatrix) continue;
        make_imatrix(im, n, k);
        memset(q, CANARY, total + 64);
        qtk_error err;
        qtk_status st = qtk_quantize_rows((int)tr->id, x, q, R_NROWS, n, k == IM_NONE ? NULL : im, &err);
        CHECK(st == QTK_OK, "%s imatrix=%s: quantize failed: %s", tr->name, im_name[k], err.msg);
        if (st != QTK_OK) continue;
        int overrun = 0;
        for (int b = 0; b < 64; b++) overrun |= q[total + b] != CANARY;
        CHECK(!overrun, "%s imatrix=%s: quantizer wrote past rows × row_size", tr->name, im_name[k]);
        st = qtk_dequantize_rows((int)tr->id, q, y, R_NROWS, n, &err);
        CHECK(st == QTK_OK, "%s: dequantize failed: %s", tr->name, err.msg);
        if (st != QTK_OK) continue;
        for (int r = 0; r < R_NROWS; r++) {
            if (!tr->is_quantized && (r == R_HUGE30 || r == R_SPIKE30 || r == R_SPIKEMAX)) continue;
            int64_t bad = -1, nonzero = -1;
            for (int64_t j = 0; j < n; j++) {
                if (!isfinite(y[(int64_t)r * n + j]) && bad < 0) bad = j;
                if (y[(int64_t)r * n + j] != 0.0f && nonzero < 0) nonzero = j;
            }
            CHECK(bad < 0, "%s imatrix=%s row %s: column %lld decodes to %g", tr->name, im_name[k], row_name[r],
                  (long long)bad, bad < 0 ? 0.0 : (double)y[(int64_t)r * n + bad]);
            if (r == R_ZERO)
                CHECK(nonzero < 0, "%s imatrix=%s: all-zero row decodes to %g at column %lld", tr->name,
                      im_name[k], nonzero < 0 ? 0.0 : (double)y[nonzero], (long long)nonzero);
        }
    }
done:
    free(q);
    free(y);
    free(im);
}

/* Expects QTK_ERR_NUMERIC naming "row R" and "column C". */
static void expect_numeric(const qtk_type_traits *tr, qtk_status st, const qtk_error *err, long row, long col,
                           const char *what) {
    char want_row[32], want_col[32];
    snprintf(want_row, sizeof want_row, "row %ld", row);
    snprintf(want_col, sizeof want_col, "column %ld", col);
    CHECK(st == QTK_ERR_NUMERIC, "%s: %s: status %d, expected QTK_ERR_NUMERIC", tr->name, what, (int)st);
    if (row >= 0) CHECK(strstr(err->msg, want_row) != NULL, "%s: %s: message \"%s\" lacks \"%s\"", tr->name, what,
                        err->msg, want_row);
    CHECK(strstr(err->msg, want_col) != NULL, "%s: %s: message \"%s\" lacks \"%s\"", tr->name, what, err->msg,
          want_col);
}

static void test_rejects(const qtk_type_traits *tr, int64_t n) {
    const int64_t rows = 3;
    float *x = (float *)malloc((size_t)(n * rows) * sizeof(float));
    float *im = (float *)malloc((size_t)n * sizeof(float));
    unsigned char *q = (unsigned char *)malloc(qtk_row_size((int)tr->id, n) * (size_t)rows + 64);
    if (!x || !im || !q) {
        CHECK(0, "out of memory");
        goto done;
    }
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    for (int64_t i = 0; i < n * rows; i++) x[i] = 0.02f * tl_rng_normal(&rng);
    for (int64_t j = 0; j < n; j++) im[j] = 1.0f;
    const float *imarg = tr->requires_imatrix ? im : NULL;
    static const char *bad_name[3] = {"NaN", "+Inf", "-Inf"};
    const float bad_val[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        const int64_t at = 1 * n + 37;
        const float keep = x[at];
        x[at] = bad_val[b];
        qtk_error err;
        memset(&err, 0, sizeof err);
        qtk_status st = qtk_quantize_rows((int)tr->id, x, q, rows, n, imarg, &err);
        char what[64];
        snprintf(what, sizeof what, "%s input at row 1, column 37", bad_name[b]);
        expect_numeric(tr, st, &err, 1, 37, what);
        x[at] = keep;
    }
    {
        qtk_error err;
        memset(&err, 0, sizeof err);
        im[11] = NAN;
        qtk_status st = qtk_quantize_rows((int)tr->id, x, q, rows, n, im, &err);
        expect_numeric(tr, st, &err, -1, 11, "NaN imatrix at column 11");
        im[11] = 1.0f;
    }
    if (tr->block_size > 1) {
        const int64_t bad_n[3] = {tr->block_size + 1, tr->block_size * 2 - 16, 0};
        for (int k = 0; k < 3; k++) {
            qtk_error err;
            memset(&err, 0, sizeof err);
            qtk_status st = qtk_quantize_rows((int)tr->id, x, q, 1, bad_n[k], imarg, &err);
            CHECK(st == QTK_ERR_INVALID_ARG, "%s: row length %lld accepted (status %d)", tr->name,
                  (long long)bad_n[k], (int)st);
        }
    }
done:
    free(x);
    free(im);
    free(q);
}

int main(void) {
    int tested = 0;
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (!tr->quantize || tr->interleaved || !tr->file_type) continue;
        if (!tr->to_float) {
            CHECK(0, "%s: quantize without to_float", tr->name);
            continue;
        }
        /* a whole number of blocks, at least two, for any block size up to 256 */
        int64_t n = N_PER_ROW;
        if (n % tr->block_size) n = tr->block_size * 2;
        float *x = (float *)malloc((size_t)(n * R_NROWS) * sizeof(float));
        if (!x) return 1;
        make_rows(x, n);
        const long before = tl_failures;
        test_degenerate(tr, x, n);
        test_rejects(tr, n);
        free(x);
        printf("  %-8s %s\n", tr->name, tl_failures == before ? "ok" : "FAIL");
        tested++;
    }
    printf("  %d types with a quantizer tested\n", tested);
    CHECK(tested > 0, "no type has a quantizer");
    return tl_finish("test_quant_edge");
}
