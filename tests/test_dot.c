/*
 * test_dot.c — dot-product kernels of every type in the table that has one.
 *
 * For each type with vec_dot[QTK_ISA_SCALAR], each row length (multiples of
 * its block size) and each pair of weight/activation distributions (random
 * and degenerate: gauss, heavy-tailed, all-zero, constant, single spike,
 * 1e-20 tiny, 1e3 huge), weights are quantized with the type's quantizer (no
 * imatrix; a constant one for types that require an imatrix) and
 * activations with the vec_dot_type's from_float. Then
 *   (i)  every SIMD level available here equals the scalar kernel within 1e-6,
 *   (ii) the scalar kernel equals a double-precision dot of the decoded weight
 *        row (to_float_dot where the type has one, else to_float) and the
 *        decoded activation row within 1e-5,
 * where "within tol" means |a − b| ≤ tol · max(|b|, Σ_i |w_i·a_i|) with w, a the
 * decoded rows: the sum of absolute products is the natural scale of the
 * rounding error of any dot product (a cancelling sum makes |b| alone
 * meaningless), and it is the only loosening applied.
 * Every kernel is also run on a weight row stored at an address that is only
 * 2-byte aligned and must give the same bits: rows inside mapped files are
 * aligned only to their block's natural alignment (all block sizes and row
 * headers are even), so kernels must not assume 16/32/64-byte alignment.
 * Tiny×tiny pairs are left out: their products underflow float, where no
 * float kernel can be accurate.
 *
 * Also: the Q8_0 / Q8_K / Q8_2 activation round trip, and qtk_vec_dot_best.
 */
#include "testlib.h"
#include "types/types_internal.h"

#include <math.h>

enum { D_GAUSS, D_HEAVY, D_ZERO, D_CONST, D_SPIKE, D_TINY, D_HUGE, D_COUNT };
static const char *dist_name[D_COUNT] = {"gauss", "heavy", "zero", "const", "spike", "tiny", "huge"};

/* 32, 96 and 800 (odd block counts, tails of 2-block SIMD loops), 192 and 224
 * (6 and 7 blocks: tails of Q4_1/Q5_1's 8-block groups) apply to 32-weight types
 * only; lengths that are not a multiple of a type's block size are skipped for it. */
static const int64_t lengths[] = {32, 96, 192, 224, 256, 512, 768, 800, 1024, 4096, 16384};
#define N_LENGTHS ((int)(sizeof lengths / sizeof lengths[0]))
#define MAX_N 16384
/* Under sanitizers and emulators (QTK_TEST_QUICK=1, set by .ci/run) rows stop
 * at 1024 weights: 4 super-blocks still reach every kernel's main loop and
 * tails, and quantizing the 4096/16384 rows is most of this test's time
 * under qemu (the native and windows stages keep every length). */
static int64_t g_max_len = MAX_N;
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define QTK_TEST_X86 1
#else
#define QTK_TEST_X86 0
#endif
/* ... and the weights are quantized at the fast level (the dot products are under
 * test, not the searches, which run 40x slower under qemu). */
static int g_effort = QTK_EFFORT_DEFAULT;

/* Fills x[0..n) with distribution `d`; `sign` flips constants so weights and
 * activations differ. */
static void fill(float *x, int64_t n, int d, tl_rng *rng, float sign) {
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case D_GAUSS: x[i] = 0.02f * tl_rng_normal(rng); break;
        case D_HEAVY: {
            /* Student-t with 3 degrees of freedom */
            float a = tl_rng_normal(rng), b = tl_rng_normal(rng), c = tl_rng_normal(rng);
            x[i] = 0.02f * tl_rng_normal(rng) / sqrtf((a * a + b * b + c * c) / 3.0f + 1e-12f);
            break;
        }
        case D_ZERO: x[i] = 0.0f; break;
        case D_CONST: x[i] = 0.5f * sign; break;
        case D_SPIKE: x[i] = (i == n / 3) ? sign : 0.0f; break;
        case D_TINY: x[i] = 1e-20f * tl_rng_normal(rng); break;
        default: x[i] = 1e3f * tl_rng_normal(rng); break;
        }
    }
}

/* Whether |a − b| ≤ tol · max(|b|, scale). */
static int close_enough(double a, double b, double scale, double tol) {
    double m = fabs(b) > scale ? fabs(b) : scale;
    return fabs(a - b) <= tol * m;
}

static float *g_w, *g_a, *g_wd, *g_ad, *g_imat;
static unsigned char *g_wq, *g_wq_odd, *g_aq;
static int g_mul_mat_tested;

static void test_type(const qtk_type_traits *tr) {
    const qtk_type_traits *vt = qtk_type_get((int)tr->vec_dot_type);
    CHECK(vt && vt->from_float && vt->to_float, "%s: activation type %d lacks from_float/to_float", tr->name,
          (int)tr->vec_dot_type);
    if (!vt || !vt->from_float || !vt->to_float) return;
    if (!tr->to_float) {
        CHECK(0, "%s: has vec_dot but no to_float", tr->name);
        return;
    }
    if (!tr->quantize) {
        printf("  %-8s has a dot product but no quantizer: not tested\n", tr->name);
        return;
    }
    long fails_before = tl_failures;
    double worst_simd[QTK_ISA_COUNT] = {0}, worst_ref = 0.0;
    int ran[QTK_ISA_COUNT] = {0};
    tl_rng rng;
    for (int li = 0; li < N_LENGTHS; li++) {
        const int64_t n = lengths[li];
        if (n > g_max_len || n % tr->block_size || n % vt->block_size) continue;
        const size_t wrs = qtk_row_size((int)tr->id, n);
        for (int64_t j = 0; j < n; j++) g_imat[j] = 1.0f;
        for (int wd = 0; wd < D_COUNT; wd++) {
            tl_rng_seed(&rng, 1000u * (unsigned)li + (unsigned)wd + 7u * (unsigned)tr->id);
            fill(g_w, n, wd, &rng, 1.0f);
            qtk_error err;
            qtk_status st = qtk_quantize_rows_effort((int)tr->id, g_w, g_wq, 1, n,
                                                     tr->requires_imatrix ? g_imat : NULL, g_effort, &err);
            CHECK(st == QTK_OK, "%s n=%lld w=%s: quantize failed: %s", tr->name, (long long)n, dist_name[wd],
                  err.msg);
            if (st != QTK_OK) continue;
            memcpy(g_wq_odd + 2, g_wq, wrs);
            /* the values the kernels multiply with (IQ6_K: its integer table) */
            (tr->to_float_dot ? tr->to_float_dot : tr->to_float)(g_wq, g_wd, n);
            for (int ad = 0; ad < D_COUNT; ad++) {
                if (wd == D_TINY && ad == D_TINY) continue;
                tl_rng_seed(&rng, 99991u * (unsigned)(li + 1) + 31u * (unsigned)ad + (unsigned)wd);
                fill(g_a, n, ad, &rng, -1.0f);
                vt->from_float(g_a, g_aq, n);
                vt->to_float(g_aq, g_ad, n);
                double ref = 0.0, scale = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    double p = (double)g_wd[j] * (double)g_ad[j];
                    ref += p;
                    scale += fabs(p);
                }
                float s0 = NAN;
                tr->vec_dot[QTK_ISA_SCALAR](n, &s0, g_wq, g_aq);
                CHECK(isfinite(s0) && close_enough(s0, ref, scale, 1e-5),
                      "%s n=%lld w=%s a=%s: scalar %.9g vs double %.9g (scale %.3g)", tr->name, (long long)n,
                      dist_name[wd], dist_name[ad], (double)s0, ref, scale);
                double m = fabs(ref) > scale ? fabs(ref) : scale;
                if (m > 0 && fabs(s0 - ref) / m > worst_ref) worst_ref = fabs(s0 - ref) / m;
                for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
                    if (!tr->vec_dot[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
                    float s = NAN, s_odd = NAN;
                    tr->vec_dot[isa](n, &s, g_wq, g_aq);
                    tr->vec_dot[isa](n, &s_odd, g_wq_odd + 2, g_aq);
                    ran[isa] = 1;
                    CHECK(memcmp(&s, &s_odd, sizeof s) == 0,
                          "%s %s n=%lld w=%s a=%s: result depends on weight alignment (%.9g vs %.9g)",
                          tr->name, qtk_isa_name((qtk_isa)isa), (long long)n, dist_name[wd], dist_name[ad],
                          (double)s, (double)s_odd);
                    if (isa == QTK_ISA_SCALAR) continue;
                    CHECK(isfinite(s) && close_enough(s, s0, scale, 1e-6),
                          "%s %s n=%lld w=%s a=%s: %.9g vs scalar %.9g (scale %.3g)", tr->name,
                          qtk_isa_name((qtk_isa)isa), (long long)n, dist_name[wd], dist_name[ad], (double)s,
                          (double)s0, scale);
                    double ms = fabs(s0) > scale ? fabs(s0) : scale;
                    if (ms > 0 && fabs(s - s0) / ms > worst_simd[isa]) worst_simd[isa] = fabs(s - s0) / ms;
                }
            }
        }
    }
    printf("  %-8s %s  scalar-vs-double %.2e", tr->name, tl_failures == fails_before ? "ok  " : "FAIL", worst_ref);
    for (int isa = 1; isa < QTK_ISA_COUNT; isa++)
        if (ran[isa]) printf("  %s-vs-scalar %.2e", qtk_isa_name((qtk_isa)isa), worst_simd[isa]);
    printf("\n");
}

/* Q8_0: |x − y| ≤ d/2 per element plus the fp16 rounding of d, and the
 * largest |x| of a block maps to ±127. */
static void test_q8_0_roundtrip(void) {
    const int64_t n = 4096;
    tl_rng rng;
    for (int d = 0; d < D_COUNT; d++) {
        tl_rng_seed(&rng, 4242u + (unsigned)d);
        fill(g_a, n, d, &rng, 1.0f);
        qtk_q8_0_from_float(g_a, g_aq, n);
        qtk_q8_0_to_float(g_aq, g_ad, n);
        const qtk_block_q8_0 *b = (const qtk_block_q8_0 *)g_aq;
        for (int64_t ib = 0; ib < n / 32; ib++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(g_a[ib * 32 + j]));
            uint16_t dh;
            memcpy(&dh, &b[ib].d, 2);
            const double dt = amax / 127.0, ds = fabs((double)qtk_fp16_to_fp32(dh));
            int maxq = 0;
            for (int j = 0; j < 32; j++) {
                const int q = b[ib].qs[j];
                maxq = q < 0 ? (-q > maxq ? -q : maxq) : (q > maxq ? q : maxq);
                double e = fabs((double)g_a[ib * 32 + j] - (double)g_ad[ib * 32 + j]);
                double bound = 0.5 * ds + abs(q) * fabs(dt - ds) + 1e-6 * amax;
                if (ds == 0.0) bound = amax; /* scale below fp16 range: block decodes to 0 */
                CHECK(e <= bound, "q8_0 roundtrip %s block %lld j %d: |x-y| = %g > %g", dist_name[d], (long long)ib,
                      j, e, bound);
            }
            if (amax > 1e-4f) CHECK(maxq == 127, "q8_0 %s block %lld: largest |q| is %d, not 127", dist_name[d],
                                    (long long)ib, maxq);
        }
    }
}

/* Q8_K: |x − y| ≤ |d|/2 per element, bsums/sum consistent with qs. */
static void test_q8_K_roundtrip(void) {
    const int64_t n = 4096;
    tl_rng rng;
    for (int d = 0; d < D_COUNT; d++) {
        tl_rng_seed(&rng, 777u + (unsigned)d);
        fill(g_a, n, d, &rng, 1.0f);
        qtk_q8_K_from_float(g_a, g_aq, n);
        qtk_q8_K_to_float(g_aq, g_ad, n);
        const qtk_block_q8_K *b = (const qtk_block_q8_K *)g_aq;
        for (int64_t ib = 0; ib < n / QK_K; ib++) {
            float amax = 0.0f;
            for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(g_a[ib * QK_K + j]));
            const double dd = fabs((double)b[ib].d);
            CHECK(fabs(dd - amax / 127.0) <= 1e-6 * amax / 127.0, "q8_K %s block %lld: |d| = %g, amax/127 = %g",
                  dist_name[d], (long long)ib, dd, amax / 127.0);
            long total = 0;
            for (int g = 0; g < QK_K / 16; g++) {
                int s = 0;
                for (int k = 0; k < 16; k++) s += b[ib].qs[g * 16 + k];
                CHECK(s == b[ib].bsums[g], "q8_K %s block %lld: bsums[%d] = %d, Σqs = %d", dist_name[d],
                      (long long)ib, g, b[ib].bsums[g], s);
                total += s;
            }
            CHECK(fabs((double)b[ib].sum - (double)b[ib].d * (double)total) <= 1e-6 * (dd * 127.0 * QK_K),
                  "q8_K %s block %lld: sum %g, d·Σqs %g", dist_name[d], (long long)ib, (double)b[ib].sum,
                  (double)b[ib].d * (double)total);
            for (int j = 0; j < QK_K; j++) {
                double e = fabs((double)g_a[ib * QK_K + j] - (double)g_ad[ib * QK_K + j]);
                CHECK(e <= 0.5 * dd * (1 + 1e-5) + 1e-30, "q8_K roundtrip %s block %lld j %d: |x-y| = %g > d/2 = %g",
                      dist_name[d], (long long)ib, j, e, 0.5 * dd);
            }
        }
    }
}

/* Q8_2: sum == Σqs exactly, |qs| ≤ 127, d = fp16(amax/127) (possibly one fp16 step up when
 * it is subnormal) and every decoded value within d/2 of its input, since the quants are
 * computed with the rounded scale. Pass 1 scales the data by 1e-4 so that d is an fp16
 * subnormal (a few ulps), where the rounding of d is coarse. */
static void test_q8_2_roundtrip(void) {
    const int64_t n = 4096;
    tl_rng rng;
    for (int pass = 0; pass < 2; pass++) {
        for (int d = 0; d < D_COUNT; d++) {
            tl_rng_seed(&rng, 8282u + (unsigned)d + 100u * (unsigned)pass);
            fill(g_a, n, d, &rng, 1.0f);
            if (pass == 1)
                for (int64_t j = 0; j < n; j++) g_a[j] *= 1e-4f;
            qtk_q8_2_from_float(g_a, g_aq, n);
            qtk_q8_2_to_float(g_aq, g_ad, n);
            const qtk_block_q8_2 *b = (const qtk_block_q8_2 *)g_aq;
            for (int64_t ib = 0; ib < n / 32; ib++) {
                float amax = 0.0f;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(g_a[ib * 32 + j]));
                uint16_t dh;
                int16_t sum;
                memcpy(&dh, &b[ib].d, 2);
                memcpy(&sum, &b[ib].sum, 2);
                const double ds = (double)qtk_fp16_to_fp32(dh), dt = amax / 127.0;
                /* fp16 rounding: 2^-11 relative (normal), 2^-25 absolute (subnormal), plus the
                 * possible one-step bump of a subnormal scale (2^-24) */
                CHECK(ds >= 0 && fabs(ds - dt) <= dt / 2048.0 + 1.5 / 16777216.0,
                      "q8_2 pass %d %s block %lld: d = %g, amax/127 = %g", pass, dist_name[d], (long long)ib, ds, dt);
                int total = 0, maxq = 0;
                for (int j = 0; j < 32; j++) {
                    const int q = b[ib].qs[j];
                    total += q;
                    maxq = abs(q) > maxq ? abs(q) : maxq;
                    const double e = fabs((double)g_a[ib * 32 + j] - (double)g_ad[ib * 32 + j]);
                    const double bound = ds > 0 ? 0.5 * ds * (1 + 1e-6) : amax;
                    CHECK(e <= bound, "q8_2 pass %d %s block %lld j %d: |x-y| = %g > %g", pass, dist_name[d],
                          (long long)ib, j, e, bound);
                }
                CHECK(maxq <= 127, "q8_2 %s block %lld: |q| = %d > 127", dist_name[d], (long long)ib, maxq);
                CHECK(total == sum, "q8_2 pass %d %s block %lld: sum %d, Σqs %d", pass, dist_name[d], (long long)ib,
                      sum, total);
                if (ds > 0 && ds >= 1.0 / 16384.0) /* normal fp16 scale: the extreme maps to ±127 */
                    CHECK(maxq == 127, "q8_2 %s block %lld: largest |q| is %d, not 127", dist_name[d], (long long)ib,
                          maxq);
                if (ds == 0) CHECK(dt <= 1.0 / 33554432.0, "q8_2 %s block %lld: d = 0 for amax %g", dist_name[d],
                                   (long long)ib, (double)amax);
            }
        }
    }
}

/* qtk_vec_dot_best picks the widest available kernel and honours the cap. */
static void test_best(void) {
    static const qtk_isa order[] = {QTK_ISA_AVX512, QTK_ISA_AVX2, QTK_ISA_NEON_DOT, QTK_ISA_NEON, QTK_ISA_SCALAR};
    static const qtk_isa caps[] = {QTK_ISA_COUNT, QTK_ISA_NEON, QTK_ISA_AVX512, QTK_ISA_AVX2, QTK_ISA_SCALAR};
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
            qtk_set_max_isa(caps[c]);
            qtk_vec_dot_fn want = NULL;
            for (size_t k = 0; k < sizeof order / sizeof order[0] && !want; k++) {
                qtk_isa isa = order[k];
                if (caps[c] != QTK_ISA_COUNT && isa != QTK_ISA_SCALAR && isa > caps[c]) continue;
                if (tr->vec_dot[isa] && qtk_isa_available(isa)) want = tr->vec_dot[isa];
            }
            qtk_vec_dot_fn got = qtk_vec_dot_best((int)tr->id);
            CHECK(got == want, "%s: qtk_vec_dot_best with cap %s returned the wrong kernel", tr->name,
                  caps[c] == QTK_ISA_COUNT ? "none" : qtk_isa_name(caps[c]));
            /* the same expectations spelled out without the search above */
            if (caps[c] == QTK_ISA_SCALAR) CHECK(got == tr->vec_dot[QTK_ISA_SCALAR], "%s: cap scalar", tr->name);
            if (caps[c] == QTK_ISA_AVX2 && tr->vec_dot[QTK_ISA_AVX2] && qtk_isa_available(QTK_ISA_AVX2))
                CHECK(got == tr->vec_dot[QTK_ISA_AVX2], "%s: cap avx2 did not give the avx2 kernel", tr->name);
            if (caps[c] == QTK_ISA_COUNT && tr->vec_dot[QTK_ISA_AVX512] && qtk_isa_available(QTK_ISA_AVX512))
                CHECK(got == tr->vec_dot[QTK_ISA_AVX512], "%s: uncapped did not give the avx512 kernel", tr->name);
            /* AArch64: the sdot build wherever the CPU has the dot product, else the base one */
            const bool dot = tr->vec_dot[QTK_ISA_NEON_DOT] && qtk_isa_available(QTK_ISA_NEON_DOT);
            if (caps[c] == QTK_ISA_COUNT && dot)
                CHECK(got == tr->vec_dot[QTK_ISA_NEON_DOT], "%s: uncapped did not give the neondot kernel", tr->name);
            if ((caps[c] == QTK_ISA_COUNT && !dot) || caps[c] == QTK_ISA_NEON)
                if (tr->vec_dot[QTK_ISA_NEON] && qtk_isa_available(QTK_ISA_NEON))
                    CHECK(got == tr->vec_dot[QTK_ISA_NEON], "%s: cap %s did not give the neon kernel", tr->name,
                          caps[c] == QTK_ISA_COUNT ? "none" : "neon");
        }
    }
    qtk_set_max_isa(QTK_ISA_COUNT);
    printf("  ISAs here:");
    for (int isa = 0; isa < QTK_ISA_COUNT; isa++)
        if (qtk_isa_available((qtk_isa)isa)) printf(" %s", qtk_isa_name((qtk_isa)isa));
    printf("\n");
}

/* Multi-column kernels (qtk_mul_mat_fn): for every type and level that has
 * one, a 37-row matrix (not a multiple of any tile) with row and column
 * strides that are not multiples of the block (weight rows only 2-byte aligned,
 * as in a mapped file; activation rows 4-byte aligned), times 1..64
 * columns (every remainder of the 4-column tiles), compared with vec_dot of
 * the same level on every (row, column). The kernels repeat vec_dot's
 * arithmetic per pair, so equality is exact (0 ulp). Rows include codes at
 * both ends of the range (±1 spikes, constant rows) and columns at ±max
 * (every activation quantized to ±127), the inputs that overflow a
 * saturating int16 path; cells outside the tile stay untouched. Also 150
 * rows (past the kernels' 64-row groups: the engine passes a thread's whole
 * range in one call for one token) times 1..3 columns. */
#define MM_ROWS 37
#define MM_COLS 64
#define MM_TALL_ROWS 150
static void test_mul_mat_shape(const qtk_type_traits *tr, int64_t n, int n_rows, int n_cols) {
    const qtk_type_traits *vt = qtk_type_get((int)tr->vec_dot_type);
    const size_t rs = qtk_row_size((int)tr->id, n), ws = rs + 6;
    /* activation rows come from the engine 4-byte aligned at least (Q8_K holds floats): +4 */
    const size_t ar = qtk_row_size((int)vt->id, n), as = ar + 4;
    const size_t os = (size_t)n_rows + 3;
    unsigned char *w = (unsigned char *)calloc((size_t)n_rows, ws), *a = (unsigned char *)calloc((size_t)n_cols, as);
    float *x = (float *)malloc(sizeof(float) * (size_t)n), *ref = (float *)malloc(sizeof(float) * (size_t)(n_rows * n_cols));
    float *out = (float *)malloc(sizeof(float) * os * n_cols);
    float *im = (float *)malloc(sizeof(float) * (size_t)n);
    tl_rng rng;
    tl_rng_seed(&rng, 77 + (unsigned long long)tr->id);
    for (int64_t i = 0; i < n; i++) im[i] = 1.0f;
    for (int r = 0; r < n_rows; r++) {
        const int kind = r % 4;
        for (int64_t i = 0; i < n; i++)
            x[i] = kind == 0 ? tl_rng_normal(&rng)
                   : kind == 1 ? (i % 7 == 0 ? (i % 14 ? 1.0f : -1.0f) : 0.01f * tl_rng_normal(&rng))
                   : kind == 2 ? -0.75f
                               : 3.0f * tl_rng_normal(&rng) * tl_rng_normal(&rng);
        qtk_error err;
        CHECK(qtk_quantize_rows_effort((int)tr->id, x, w + (size_t)r * ws, 1, n, tr->requires_imatrix ? im : NULL,
                                       g_effort, &err) == QTK_OK,
              "%s: quantize row %d: %s", tr->name, r, err.msg);
    }
    for (int c = 0; c < n_cols; c++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = c % 3 == 0 ? ((i + c) % 2 ? 1e3f : -1e3f) : tl_rng_normal(&rng);
        vt->from_float(x, a + (size_t)c * as, n);
    }
    for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
        if (!tr->mul_mat[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
        CHECK(tr->vec_dot[isa] != NULL, "%s: mul_mat at level %s without vec_dot", tr->name, qtk_isa_name((qtk_isa)isa));
        if (!tr->vec_dot[isa]) continue;
        for (int c = 0; c < n_cols; c++)
            for (int r = 0; r < n_rows; r++)
                tr->vec_dot[isa](n, &ref[c * n_rows + r], w + (size_t)r * ws, a + (size_t)c * as);
        long bad = 0, touched = 0;
        for (int nc = 1; nc <= n_cols; nc++) {
            for (size_t i = 0; i < os * n_cols; i++) out[i] = -12345.0f;
            tr->mul_mat[isa](n, w, ws, a, as, out, os, n_rows, nc);
            for (int c = 0; c < n_cols; c++)
                for (size_t r = 0; r < os; r++) {
                    const float got = out[(size_t)c * os + r];
                    if (c < nc && r < (size_t)n_rows) bad += memcmp(&got, &ref[c * n_rows + r], sizeof got) != 0;
                    else touched += got != -12345.0f;
                }
        }
        CHECK(bad == 0, "%s/%s: %ld outputs differ from vec_dot", tr->name, qtk_isa_name((qtk_isa)isa), bad);
        CHECK(touched == 0, "%s/%s: %ld cells outside the tile written", tr->name, qtk_isa_name((qtk_isa)isa), touched);
        g_mul_mat_tested++;
    }
    free(w);
    free(a);
    free(x);
    free(ref);
    free(out);
    free(im);
}

static void test_mul_mat(const qtk_type_traits *tr, int64_t n) { test_mul_mat_shape(tr, n, MM_ROWS, MM_COLS); }

/* Q8_0 × Q8_0 with −128 in the bytes, which the activation quantizers never write but
 * a caller of vec_dot may pass: the AVX2 kernel's sign trick is wrong exactly there
 * (−(−128) wraps) and must give way to the exact product. Every level's vec_dot and
 * mul_mat (one column and two, 37 rows) against the exact sum Σ d_x·d_y·Σ x·y in double,
 * within the float rounding of the kernels' accumulation (a rounding of at most 2^-24 of
 * M = Σ |d_x d_y| Σ|x||y| per product and per addition: (2·25 + 8)·2^-24·M; the sign trick
 * misses by 2·128·|y|·d_x·d_y per −128 pair, ~10^4 times more);
 * mul_mat equal to vec_dot bit for bit. Columns: 0 with −128 bytes, 1 without. */
static void test_q8_0_min_bytes(void) {
    enum { NB = 25, N = 32 * NB, ROWS = 37 };
    const qtk_type_traits *tr = qtk_type_get(QTK_TYPE_Q8_0);
    qtk_block_q8_0 *w = (qtk_block_q8_0 *)calloc(ROWS * NB, sizeof *w), *a = (qtk_block_q8_0 *)calloc(2 * NB, sizeof *a);
    tl_rng rng;
    tl_rng_seed(&rng, 1280);
    for (int b = 0; b < ROWS * NB; b++) {
        w[b].d = qtk_fp32_to_fp16(0.01f + 0.02f * (float)tl_rng_uniform(&rng));
        for (int j = 0; j < 32; j++) w[b].qs[j] = (int8_t)(j % 5 == 0 ? -128 : j % 5 == 1 ? 127 : (int)(tl_rng_uniform(&rng) * 255.0) - 127);
    }
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < NB; b++) {
            a[c * NB + b].d = qtk_fp32_to_fp16(0.5f + (float)tl_rng_uniform(&rng));
            for (int j = 0; j < 32; j++)
                a[c * NB + b].qs[j] = (int8_t)(c == 0 && (j + b) % 3 == 0 ? -128 : (int)(tl_rng_uniform(&rng) * 254.0) - 127);
        }
    int levels = 0;
    for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
        if (!tr->vec_dot[isa] || !qtk_isa_available((qtk_isa)isa)) continue;
        levels++;
        float vd[2][ROWS], mm1[ROWS], mm2[2][ROWS + 1];
        for (int c = 0; c < 2; c++)
            for (int r = 0; r < ROWS; r++) {
                double ref = 0, mag = 0;
                for (int b = 0; b < NB; b++) {
                    const qtk_block_q8_0 *x = &w[r * NB + b], *y = &a[c * NB + b];
                    long isum = 0, iabs = 0;
                    for (int j = 0; j < 32; j++) isum += (long)x->qs[j] * y->qs[j], iabs += labs((long)x->qs[j] * y->qs[j]);
                    const double dd = (double)qtk_fp16_to_fp32(x->d) * (double)qtk_fp16_to_fp32(y->d);
                    ref += dd * (double)isum;
                    mag += fabs(dd) * (double)iabs;
                }
                tr->vec_dot[isa](N, &vd[c][r], &w[r * NB], &a[c * NB]);
                CHECK(fabs((double)vd[c][r] - ref) <= mag * (2 * NB + 8) / 16777216.0,
                      "q8_0/%s with -128 bytes, column %d row %d: vec_dot %.9g, exact %.9g", qtk_isa_name((qtk_isa)isa), c,
                      r, (double)vd[c][r], ref);
            }
        if (!tr->mul_mat[isa]) continue;
        tr->mul_mat[isa](N, w, sizeof *w * NB, a, sizeof *a * NB, mm1, ROWS, ROWS, 1);
        tr->mul_mat[isa](N, w, sizeof *w * NB, a, sizeof *a * NB, &mm2[0][0], ROWS + 1, ROWS, 2);
        long bad = 0;
        for (int r = 0; r < ROWS; r++) {
            bad += memcmp(&mm1[r], &vd[0][r], sizeof(float)) != 0;
            for (int c = 0; c < 2; c++) bad += memcmp(&mm2[c][r], &vd[c][r], sizeof(float)) != 0;
        }
        CHECK(bad == 0, "q8_0/%s with -128 bytes: %ld mul_mat outputs differ from vec_dot", qtk_isa_name((qtk_isa)isa), bad);
    }
    CHECK(levels >= 1, "q8_0: no level tested");
    free(w);
    free(a);
}

int main(void) {
    if (tl_quick()) {
        g_max_len = 1024;
        g_effort = QTK_EFFORT_FAST;
    }
    const size_t big = (size_t)MAX_N * 8 + 4096; /* enough bytes for any type's row */
    g_w = (float *)malloc(MAX_N * sizeof(float));
    g_a = (float *)malloc(MAX_N * sizeof(float));
    g_wd = (float *)malloc(MAX_N * sizeof(float));
    g_ad = (float *)malloc(MAX_N * sizeof(float));
    g_imat = (float *)malloc(MAX_N * sizeof(float));
    g_wq = (unsigned char *)qtk_malloc_aligned(big);
    g_wq_odd = (unsigned char *)qtk_malloc_aligned(big + 2);
    g_aq = (unsigned char *)qtk_malloc_aligned(big);
    if (!g_w || !g_a || !g_wd || !g_ad || !g_imat || !g_wq || !g_wq_odd || !g_aq) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    test_q8_0_roundtrip();
    test_q8_K_roundtrip();
    test_q8_2_roundtrip();
    test_q8_0_min_bytes();
    test_best();
    int tested = 0;
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (tr->interleaved || !tr->vec_dot[QTK_ISA_SCALAR]) continue;
        CHECK(qtk_row_size((int)tr->id, MAX_N) <= big, "%s: row larger than the test buffer", tr->name);
        if (qtk_row_size((int)tr->id, MAX_N) > big) continue;
        test_type(tr);
        tested++;
    }
    printf("  %d types with a dot product tested\n", tested);
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        if (tr->interleaved || !tr->vec_dot[QTK_ISA_SCALAR]) continue;
        /* 32-weight blocks: 3 (odd counts for 2-block loops) and 25 (three groups of 8
         * plus a tail); super-blocks: 5 (a group of 4 plus a tail) */
        if (tr->block_size == 32) {
            test_mul_mat(tr, 96);
            test_mul_mat(tr, 800);
        } else {
            test_mul_mat(tr, 5 * tr->block_size);
        }
        /* rows past the kernels' per-call activation tables: 16896 weights (66
         * super-blocks) the chunked paths of the kernels that chunk at 64, 33024 the
         * table-less paths of those whose tables end at 32768 weights (1 to 5 columns:
         * every column tile; the tables are the x86 kernels', so emulated runs skip it;
         * quick runs (sanitizers) take 9 rows: 4-row tiles and a lone row, a quarter of the
         * quantizing) */
        bool tiled = false;
        for (int isa = 0; isa < QTK_ISA_COUNT; isa++) tiled |= tr->mul_mat[isa] != NULL;
        if (tiled && 16896 % tr->block_size == 0) test_mul_mat(tr, 16896);
        if (tiled && 33024 % tr->block_size == 0 && (QTK_TEST_X86 || !tl_quick()))
            test_mul_mat_shape(tr, 33024, tl_quick() ? 9 : MM_ROWS, 5);
        /* 129 rows of 33 super-blocks, one column: past the row groups (64 rows in the
         * IQK kernels, 128 in the KT ones) with rows of two chunks (32 super-blocks),
         * each group starting its chunks and sums again */
        if (tiled && 8448 % tr->block_size == 0 && (QTK_TEST_X86 || !tl_quick()))
            test_mul_mat_shape(tr, 8448, 129, 1);
        /* 67 blocks: past the 32-pair chunks of Q4_1/Q5_1's 4-row GEMV, odd tail */
        if (tiled && tr->block_size == 32) test_mul_mat(tr, 67 * 32);
        if (tiled) test_mul_mat_shape(tr, tr->block_size == 32 ? 96 : 2 * tr->block_size, MM_TALL_ROWS, 3);
    }
    printf("  %d multi-column kernel runs tested against vec_dot (%d rows x 1..%d columns, %d rows x 1..3)\n",
           g_mul_mat_tested, MM_ROWS, MM_COLS, MM_TALL_ROWS);
    free(g_w);
    free(g_a);
    free(g_wd);
    free(g_ad);
    free(g_imat);
    qtk_free_aligned(g_wq);
    qtk_free_aligned(g_wq_odd);
    qtk_free_aligned(g_aq);
    return tl_finish("test_dot");
}
