/*
 * test_iqk_ks.c — KS/KSS family specifics not covered by the generic
 * table-driven tests: the worked examples of FORMATS.md §7.1 (IQ2_KS) and
 * §7.2 (IQ4_KSS) as hand-made bytes, and the IQ4_KSS 15-bit group encoding
 * (all 32768 even-parity nibble groups, encoded here independently by
 * prefix XOR, must decode through the library to the same indices); and the
 * quantizers' lane-batched trial searches (qtk_ks_trials, qtk_ks_eval_lanes, and
 * IQ4_NL/IQ4_XS's qtk_iq4_round_lanes): the scalar loop against a trial-by-trial
 * reference written with the LUT nearest (bit for bit), and the SIMD twin against the
 * scalar loop (bit for bit), with inputs on the grids' midpoints (ties go up).
 */
#include "testlib.h"

#include <math.h>
#include <stdint.h>

#include "types/iqk_ks.h"
#include "types/iquants.h"
#include "types/grids.h"

static const int8_t iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* FORMATS §7.1: one IQ2_KS row, placed at an odd address. */
static void test_iq2_ks_example(void) {
    unsigned char buf[1 + 72];
    unsigned char *row = buf + 1;
    memset(buf, 0, sizeof buf);
    const unsigned char head[] = {0x00, 0x34, 0x02, 0x01, 0x3A, 0x88, 0x88, 0x88, 0xE4};
    memcpy(row, head, sizeof head);
    row[40] = 0x1B;
    float y[256];
    qtk_error err;
    CHECK(qtk_dequantize_rows(QTK_TYPE_IQ2_KS, row, y, 1, 256, &err) == QTK_OK, "iq2_ks decode: %s", err.msg);
    static const struct { int i; float v; } want[] = {{0, -77.5f}, {1, -77.5f}, {32, 26.0f},  {64, -2.0f},
                                                     {96, -34.0f}, {128, -34.0f}, {160, -2.0f}, {192, 26.0f},
                                                     {224, 62.0f}, {33, 0.25f * -13 * -26}, {255, 62.0f}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        CHECK(y[want[k].i] == want[k].v, "iq2_ks weight %d = %g, want %g", want[k].i, y[want[k].i], want[k].v);
}

/* FORMATS §7.2: first sub-block of an IQ4_KSS row (d = 0.01, sb = 0xA5). */
static void test_iq4_kss_example(void) {
    unsigned char buf[3 + 132];
    unsigned char *row = buf + 3;
    memset(buf, 0, sizeof buf);
    const unsigned char bytes[] = {0x0A, 0xD7, 0x23, 0x3C, 0xE1, 0x23, 0xAA, 0x00, 0x01, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00};
    memcpy(row, bytes, sizeof bytes);
    float y[256];
    qtk_error err;
    CHECK(qtk_dequantize_rows(QTK_TYPE_IQ4_KSS, row, y, 1, 256, &err) == QTK_OK, "iq4_kss decode: %s", err.msg);
    const float dl = 0.01f * 37.0f; /* S = 0xA4 - 127, shifted grid (+4) */
    const struct { int i, t; float approx; } want[] = {{0, -123, -45.51f}, {16, -100, -37.00f}, {1, -79, -29.23f},
                                                       {17, -61, -22.57f}, {2, 117, 43.29f},   {18, 117, 43.29f},
                                                       {3, -123, -45.51f}, {19, -123, -45.51f}, {31, -123, -45.51f}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const int i = want[k].i;
        CHECK(y[i] == dl * (float)want[k].t, "iq4_kss weight %d = %.9g, want %.9g", i, y[i], dl * (float)want[k].t);
        CHECK(fabsf(y[i] - want[k].approx) < 0.006f, "iq4_kss weight %d = %g, table says %g", i, y[i], want[k].approx);
    }
    /* the other sub-blocks are all-zero words: sb = 0 -> S = -127, base grid, index 0 */
    CHECK(y[32] == 0.01f * -127.0f * -127.0f, "all-zero sub-block decodes to %g", y[32]);
}

/* Every even-parity 16-bit nibble group, encoded as j = prefixXOR(v) and
 * word = (j << 1) | scale bit, decodes through qtk to v's four indices. */
static void test_iq4_kss_groups(void) {
    unsigned char row[4 + 128];
    const float d = 1.0f;
    memcpy(row, &d, 4);
    float y[256];
    long tested = 0, bad = 0;
    for (uint32_t v = 0; v < 65536; v++) {
        int pc = 0;
        for (int b = 0; b < 16; b++) pc += (v >> b) & 1;
        if (pc & 1) continue;
        uint32_t j = 0, acc = 0;
        for (int b = 0; b < 15; b++) {
            acc ^= (v >> b) & 1;
            j |= acc << b;
        }
        CHECK(((j ^ (j << 1)) & 0xFFFF) == v, "prefix XOR of %04x does not invert", (unsigned)v);
        /* put the group into word k = v % 8 of sub-block 0, with a scale byte
         * 0x81 (S = +1, shifted grid) spread over the words' low bits */
        memset(row + 4, 0, 128);
        const int k = (int)(v % 8);
        const int sb = 0x81;
        for (int w = 0; w < 8; w++) {
            const uint16_t word = (uint16_t)(((w == k ? j : 0) << 1) | ((sb >> w) & 1));
            row[4 + 2 * w] = (unsigned char)(word & 0xFF);
            row[4 + 2 * w + 1] = (unsigned char)(word >> 8);
        }
        qtk_dequantize_rows(QTK_TYPE_IQ4_KSS, row, y, 1, 256, NULL);
        const int pos[4] = {2 * k, 2 * k + 16, 2 * k + 1, 2 * k + 17};
        for (int n = 0; n < 4; n++) {
            const float want = 1.0f * (float)(iq4nl[(v >> (4 * n)) & 0xF] + 4);
            if (y[pos[n]] != want) bad++;
        }
        tested++;
    }
    CHECK(tested == 32768, "%ld even-parity groups", tested);
    CHECK(bad == 0, "%ld decoded indices differ from the encoded group", bad);
}

/* IQ4_KSS quantize -> decode, with and without an imatrix: finite output,
 * an all-zero row stays zero, and Gaussian rows come back with the error a
 * 4-bit grid gives (a broken parity encoding scrambles indices and fails). */
static void test_iq4_kss_quantize_roundtrip(void) {
    enum { N = 512, R = 4 };
    float x[R * N], im[N], y[R * N];
    unsigned char q[R * (4 + 2 * 128)];
    tl_rng rng;
    tl_rng_seed(&rng, 42);
    for (int i = 0; i < R * N; i++) x[i] = 0.02f * tl_rng_normal(&rng);
    for (int i = 0; i < N; i++) x[i] = 0.0f;                       /* row 0: all zero */
    for (int i = N; i < 2 * N; i++) x[i] *= 1e-18f;                 /* row 1: tiny */
    for (int i = 0; i < N; i++) im[i] = expf(tl_rng_normal(&rng));
    for (int mode = 0; mode < 2; mode++) {
        qtk_error err;
        CHECK(qtk_quantize_rows(QTK_TYPE_IQ4_KSS, x, q, R, N, mode ? im : NULL, &err) == QTK_OK, "quantize: %s",
              err.msg);
        qtk_dequantize_rows(QTK_TYPE_IQ4_KSS, q, y, R, N, NULL);
        double ex = 0, ee = 0;
        for (int i = 2 * N; i < R * N; i++) {
            ex += (double)x[i] * x[i];
            ee += (double)(x[i] - y[i]) * (x[i] - y[i]);
        }
        int finite = 1;
        for (int i = 0; i < R * N; i++) finite &= isfinite(y[i]) != 0;
        CHECK(finite, "mode %d: non-finite decoded value", mode);
        for (int i = 0; i < N; i++) CHECK(y[i] == 0.0f, "mode %d: zero row decodes to %g at %d", mode, y[i], i);
        /* 4-bit non-linear grid on Gaussian data: relative MSE is about 1% */
        CHECK(ee < 0.02 * ex, "mode %d: relative squared error %g", mode, ee / ex);
    }
}

/* ---- lane-batched trial searches ---------------------------------------------- */

/* 32 weights with exact midpoint hits for id = ±64 (x = mid/64) and near misses. */
static void lanes_input(tl_rng *r, const int8_t *G, int ng, int kind, float *x, float *w, float *mw) {
    for (int j = 0; j < 32; j++) {
        x[j] = 0.02f * tl_rng_normal(r) * (kind == 1 && j == 7 ? 30.0f : 1.0f);
        if (kind == 2 && j % 3 == 0) { /* x·64 on a midpoint (either sign), or one ulp off */
            const int i = (int)(tl_rng_uniform(r) * (float)(ng - 1)) % (ng - 1);
            const float m = 0.5f * ((float)G[i] + (float)G[i + 1]) / 64.0f;
            x[j] = j % 2 ? -m : m;
            if (j % 9 == 0) x[j] = nextafterf(x[j], 0.0f);
        }
        if (kind == 3 && j % 4 == 0) x[j] = 0.0f;
        w[j] = 0.01f + 10.0f * tl_rng_uniform(r) * tl_rng_uniform(r);
        mw[j] = tl_rng_uniform(r);
    }
}

static void test_ks_trials(void) {
    static const struct {
        const int8_t *grid;
        int ng;
    } grids[] = {{qtk_iq2nl_values, 4}, {qtk_iq3nl_values, 8}, {qtk_iq4nl_values, 16}, {qtk_iq5nl_values, 32}};
    /* every SIMD level this CPU has (an AVX-512 machine checks its AVX2 twin too) */
    static const qtk_isa simd[] = {QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
    tl_rng r;
    tl_rng_seed(&r, 1205);
    int n_cases = 0, n_ties = 0, n_simd = 0;
    for (size_t gi = 0; gi < sizeof grids / sizeof grids[0]; gi++) {
        const int8_t *grid = grids[gi].grid;
        const int ng = grids[gi].ng;
        qtk_ks_nearest nt[2];
        qtk_ks_nearest_init(&nt[0], grid, ng);
        qtk_ks_nearest_init(&nt[1], grid + ng, ng);
        for (int it = 0; it < 400; it++) {
            const int kind = it % 4, ntr = 1 + it % QTK_KS_LANES;
            float x[32], w[32], mw[32], id[QTK_KS_LANES], dl[8];
            int gsel[QTK_KS_LANES];
            lanes_input(&r, grid, ng, kind, x, w, mw);
            for (int t = 0; t < ntr; t++) {
                gsel[t] = (int)(tl_rng_uniform(&r) * 2.0f) & 1;
                id[t] = kind == 2 && t % 2 ? (t % 4 == 1 ? 64.0f : -64.0f) : (tl_rng_uniform(&r) - 0.5f) * 4000.0f;
            }
            /* trial by trial with the LUT, as the searches did before they were batched */
            float ref[4 * QTK_KS_LANES], sc[4 * QTK_KS_LANES], best[4 * QTK_KS_LANES];
            for (int t = 0; t < ntr; t++) {
                const int8_t *G = grid + ng * gsel[t];
                float a = 0, b = 0, c = 0, e = 0;
                for (int j = 0; j < 32; j++) {
                    const float v = id[t] * x[j];
                    const float qp = (float)G[qtk_ks_nearest_idx(&nt[gsel[t]], v)];
                    const float qm = (float)G[qtk_ks_nearest_idx(&nt[gsel[t]], -v)];
                    const float wx = w[j] * x[j];
                    a += wx * qp;
                    b += w[j] * qp * qp;
                    c += wx * qm;
                    e += w[j] * qm * qm;
                    for (int i = 0; kind == 2 && i + 1 < ng; i++)
                        n_ties += v == nt[gsel[t]].mid[i] || -v == nt[gsel[t]].mid[i];
                }
                ref[t] = a, ref[QTK_KS_LANES + t] = b, ref[2 * QTK_KS_LANES + t] = c, ref[3 * QTK_KS_LANES + t] = e;
            }
            qtk_ks_trials_scalar(x, w, 32, grid, ng, ntr, id, gsel, sc);
            int same_s = 1;
            for (int k = 0; k < 4; k++)
                for (int t = 0; t < ntr; t++) same_s &= !memcmp(&ref[k * QTK_KS_LANES + t], &sc[k * QTK_KS_LANES + t], sizeof(float));
            CHECK(same_s, "ks trials (grid of %d, case %d): the scalar lanes differ from the LUT loop", ng, it);
            for (size_t li = 0; li < sizeof simd / sizeof simd[0]; li++) {
                if (!qtk_isa_available(simd[li])) continue;
                qtk_set_max_isa(simd[li]);
                qtk_ks_trials(x, w, 32, grid, ng, ntr, id, gsel, best);
                qtk_set_max_isa(QTK_ISA_COUNT);
                int same_b = 1;
                for (int k = 0; k < 4; k++)
                    for (int t = 0; t < ntr; t++)
                        same_b &= !memcmp(&sc[k * QTK_KS_LANES + t], &best[k * QTK_KS_LANES + t], sizeof(float));
                CHECK(same_b, "ks trials (grid of %d, case %d): the %s twin differs from the scalar lanes", ng, it,
                      qtk_isa_name(simd[li]));
                n_simd++;
            }
            /* qtk_ks_eval_lanes: up to 8 (scale, grid) candidates */
            const int nc = 1 + it % 8;
            float er[8], mr[8], es[8], ms[8], eb[8], mb[8];
            for (int c = 0; c < nc; c++) {
                dl[c] = kind == 2 && c % 2 ? (c % 4 == 1 ? 1.0f / 64.0f : -1.0f / 64.0f) : (tl_rng_uniform(&r) - 0.5f) * 0.002f;
                if (kind == 3 && c == 2) dl[c] = 0.0f;
                const int8_t *G = grid + ng * gsel[c];
                const float idl = dl[c] != 0.0f ? 1.0f / dl[c] : 0.0f;
                float e = 0.0f, m = 0.0f;
                for (int j = 0; j < 32; j++) {
                    const float diff = x[j] - dl[c] * (float)G[qtk_ks_nearest_idx(&nt[gsel[c]], idl * x[j])];
                    e += w[j] * diff * diff;
                    m += mw[j] * diff * diff;
                }
                er[c] = e, mr[c] = m;
            }
            qtk_ks_eval_lanes_scalar(x, w, mw, grid, ng, nc, dl, gsel, es, ms);
            CHECK(!memcmp(er, es, (size_t)nc * sizeof(float)) && !memcmp(mr, ms, (size_t)nc * sizeof(float)),
                  "ks eval (grid of %d, case %d): the scalar lanes differ from the LUT loop", ng, it);
            for (size_t li = 0; li < sizeof simd / sizeof simd[0]; li++) {
                if (!qtk_isa_available(simd[li])) continue;
                qtk_set_max_isa(simd[li]);
                qtk_ks_eval_lanes(x, w, mw, grid, ng, nc, dl, gsel, eb, mb);
                qtk_set_max_isa(QTK_ISA_COUNT);
                CHECK(!memcmp(es, eb, (size_t)nc * sizeof(float)) && !memcmp(ms, mb, (size_t)nc * sizeof(float)),
                      "ks eval (grid of %d, case %d): the %s twin differs from the scalar lanes", ng, it,
                      qtk_isa_name(simd[li]));
            }
            n_cases++;
        }
    }
    CHECK(n_ties > 100, "only %d midpoint hits: the tie cases are not reached", n_ties);
    printf("ks lanes: %d cases, %d midpoint hits, %d SIMD-level runs\n", n_cases, n_ties, n_simd);
}

static void test_iq4_round_lanes(void) {
    qtk_grid_lut lut;
    qtk_grid_lut_init(&lut, qtk_iq4nl_values, 16);
    tl_rng r;
    tl_rng_seed(&r, 1206);
    for (int it = 0; it < 400; it++) {
        float x[32], w[32], mw[32], id[IQ4_LANES], ref[2 * IQ4_LANES], sx[IQ4_LANES], s2[IQ4_LANES], bx[IQ4_LANES],
            b2[IQ4_LANES];
        lanes_input(&r, qtk_iq4nl_values, 16, it % 4, x, w, mw);
        for (int t = 0; t < IQ4_LANES; t++)
            id[t] = it % 4 == 2 && t % 2 ? (t % 4 == 1 ? 64.0f : -64.0f) : (tl_rng_uniform(&r) - 0.5f) * 4000.0f;
        for (int t = 0; t < IQ4_LANES; t++) {
            float a = 0.0f, b = 0.0f;
            for (int j = 0; j < 32; j++) {
                const float q = (float)qtk_iq4nl_values[qtk_grid_lut_nearest(&lut, id[t] * x[j])];
                a += w[j] * q * x[j];
                b += w[j] * q * q;
            }
            ref[t] = a, ref[IQ4_LANES + t] = b;
        }
        qtk_iq4_round_lanes_scalar(x, w, id, sx, s2);
        CHECK(!memcmp(ref, sx, sizeof sx) && !memcmp(ref + IQ4_LANES, s2, sizeof s2),
              "iq4 round lanes (case %d): the scalar lanes differ from the LUT loop", it);
        static const qtk_isa simd[] = {QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
        for (size_t li = 0; li < sizeof simd / sizeof simd[0]; li++) {
            if (!qtk_isa_available(simd[li])) continue;
            qtk_set_max_isa(simd[li]);
            qtk_iq4_round_lanes(x, w, id, bx, b2); /* that level's twin, where there is one */
            qtk_set_max_isa(QTK_ISA_COUNT);
            CHECK(!memcmp(sx, bx, sizeof sx) && !memcmp(s2, b2, sizeof s2),
                  "iq4 round lanes (case %d): the %s twin differs from the scalar lanes", it, qtk_isa_name(simd[li]));
        }
    }
}

/* IQ4_KSS's constrained rounding per weight (qtk_kss_round_*): the scalar function
 * against a brute force over every index of the other parity (the cheapest rise of
 * (t − g)², ties of the two neighbours going down), and each SIMD twin against it
 * bit for bit — inputs on midpoints (nearest ties), halfway between the two
 * opposite-parity neighbours (move ties: du == dd), beyond the grid's ends (one
 * neighbour missing: +inf) and zero weights. */
static int parity4(int v) { return (v ^ (v >> 1) ^ (v >> 2) ^ (v >> 3)) & 1; }

static void test_kss_round(void) {
    static const qtk_isa simd[] = {QTK_ISA_AVX2, QTK_ISA_AVX512, QTK_ISA_NEON};
    tl_rng r;
    tl_rng_seed(&r, 1207);
    int n_move_ties = 0, n_ends = 0, n_twin = 0;
    for (int it = 0; it < 2000; it++) {
        const int8_t *g = qtk_iq4nl_values + 16 * (it & 1);
        qtk_ks_nearest nt;
        qtk_ks_nearest_init(&nt, g, 16);
        float t[32], w[32];
        for (int j = 0; j < 32; j++) {
            const int kind = (int)(tl_rng_uniform(&r) * 5.0f);
            const int i = (int)(tl_rng_uniform(&r) * 15.0f) % 15;
            if (kind == 0) t[j] = 0.5f * ((float)g[i] + (float)g[i + 1]); /* a midpoint */
            else if (kind == 1) { /* halfway between index l's two opposite-parity neighbours */
                const int l = 1 + i % 14;
                t[j] = 0.5f * ((float)g[qtk_kss_opp_dn[l]] + (float)g[qtk_kss_opp_up[l]]);
            } else if (kind == 2) t[j] = (tl_rng_uniform(&r) - 0.5f) * 600.0f; /* past the ends too */
            else t[j] = (tl_rng_uniform(&r) - 0.5f) * 260.0f;
            w[j] = j % 7 == 0 ? 0.0f : tl_rng_uniform(&r) * 3.0f;
        }
        uint8_t q[32], alt[32], qb[32], altb[32];
        float dx[32], dwx[32], dxb[32], dwxb[32];
        unsigned par, parb;
        qtk_kss_round_scalar(t, w, g, &nt, q, &par, alt, dx, dwx);
        for (int j = 0; j < 32; j++) {
            const int l = q[j], pl = parity4(l);
            CHECK(l == qtk_ks_nearest_idx(&nt, t[j]), "kss round (case %d, %d): index %d, nearest %d", it, j, l,
                  qtk_ks_nearest_idx(&nt, t[j]));
            CHECK((int)((par >> j) & 1) == pl, "kss round (case %d, %d): parity bit", it, j);
            const float e0 = (t[j] - (float)g[l]) * (t[j] - (float)g[l]);
            float best = INFINITY;
            int nbest = 0;
            for (int k = 0; k < 16; k++) {
                if (parity4(k) == pl) continue;
                const float d = (t[j] - (float)g[k]) * (t[j] - (float)g[k]) - e0;
                nbest = d < best ? 1 : nbest + (d == best);
                best = d < best ? d : best;
            }
            CHECK(dx[j] == best, "kss round (case %d, %d): move %.9g, brute force %.9g", it, j, dx[j], best);
            CHECK(parity4(alt[j]) != pl && (t[j] - (float)g[alt[j]]) * (t[j] - (float)g[alt[j]]) - e0 == best,
                  "kss round (case %d, %d): index %d is not a cheapest move", it, j, alt[j]);
            CHECK(nbest == 1 || alt[j] < l, "kss round (case %d, %d): a tie of the moves went up", it, j);
            CHECK(dwx[j] == w[j] * dx[j], "kss round (case %d, %d): w·dx", it, j);
            n_move_ties += nbest > 1;
            n_ends += l == 0 || l == 15;
        }
        for (size_t li = 0; li < sizeof simd / sizeof simd[0]; li++) {
            if (!qtk_isa_available(simd[li])) continue;
            qtk_set_max_isa(simd[li]);
            const int ran = qtk_kss_round_simd(t, w, g, qb, &parb, altb, dxb, dwxb);
            qtk_set_max_isa(QTK_ISA_COUNT);
            if (!ran) continue;
            CHECK(!memcmp(q, qb, 32) && par == parb && !memcmp(alt, altb, 32) && !memcmp(dx, dxb, sizeof dx) &&
                      !memcmp(dwx, dwxb, sizeof dwx),
                  "kss round (case %d): the %s twin differs from the scalar function", it, qtk_isa_name(simd[li]));
            n_twin++;
        }
    }
    CHECK(n_move_ties > 1000 && n_ends > 1000, "kss round: only %d move ties and %d grid ends", n_move_ties, n_ends);
    printf("kss round: %d move ties, %d grid ends, %d SIMD twin runs\n", n_move_ties, n_ends, n_twin);
}

int main(void) {
    test_iq2_ks_example();
    test_iq4_kss_example();
    test_iq4_kss_groups();
    test_iq4_kss_quantize_roundtrip();
    test_ks_trials();
    test_iq4_round_lanes();
    test_kss_round();
    return tl_finish("test_iqk_ks");
}
