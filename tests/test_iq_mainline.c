/*
 * test_iq_mainline.c — the mainline lattice i-quants (IQ2_XXS … IQ1_M) beyond
 * what the generic tests check (test_vectors: decoding and error ratios;
 * test_dot/test_panel/test_matmul: kernels):
 *  1. the grid-neighbour maps: rebuilt in ggml's layout and compared with the
 *     sizes and SHA-256 sums of FORMATS-MAINLINE-IQ §1.1 (so the quantizers'
 *     lists, built by the same code for the reachable codes, are ggml's);
 *  2. the worked examples of FORMATS-MAINLINE-IQ §12 (hand-made bytes);
 *  3. quantizing is deterministic and never leaves the decoded range on
 *     degenerate rows (all zero, one spike, first half zero, ±huge);
 *  4. the two kernels behind the AVX-512 level (octet words; VBMI permutes)
 *     give the scalar kernel's bits on random block bytes (every grid entry,
 *     sign field and multiplier, which quantized rows do not reach) and on
 *     the extremes (all multipliers 31, largest codes, activations ±127).
 * Needs no ../shared data. QTK_TEST_QUICK=1 skips the three largest maps.
 */
#include "testlib.h"
#include "core/sha256.h"
#include "types/iq_mainline.h"

#include <math.h>

static const struct {
    const char *name;
    size_t kmap, nb_len;
    const char *sha_nb, *sha_map;
    int big;
} maps[6] = {
    {"iq2xxs", 43692, 417400, "fb8727a3ecbf6124f63c263d0c1b05925d580426a1d732df1d91514b84a21724",
     "709b1f45e8457bc27656b3bc37ea881ffc567fe71540df5aae912097b77e2fd1", 0},
    {"iq2xs", 43692, 551722, "b94f3f7601b0130674b6e0b7fdccc240b7234d31db4d60601dfc0ff6872a129e",
     "d6b796100158d2c7de48d0a2d5c38efc400471f822f874f631ab71dd47454326", 1},
    {"iq2s", 43692, 209100, "7e06788dce7035c2d4fdc983be81429c26fc3106db8d76a2771b285f9c2eb8ed",
     "bdd7645b9d68dcd282605e039b72ed729c4252e518c5d6ffb12282135a8c37c8", 1},
    {"iq3xxs", 4096, 22825, "4b54395c1c3e9766e6cbb7f2f84a3ebb43d9ca391bd344e517577c3c3c3fa01a",
     "2384bfe6ea71e4257727bfd5ec66d358995a2f0600bd8b6ef16a83559390e751", 0},
    {"iq3s", 4096, 28317, "662208b0d2ce2fa3346c5fb672db4be13bc06f87c78775acfc435550935b5d89",
     "53eb24b689961eea61a0a46257a182ac58fe414a9d52163e67ee4a9fc5322659", 0},
    {"iq1s", 43692, 1375339, "9a5d4a8807610d7ecdb328c531a60a6e10a202801f9290a6ed17daf3b9a4b054",
     "732ed77320813d3250cbecd7235db1a2d0a661ee4b54fa2a0b5d1cd4e08c5ef0", 1},
};

static void sha_hex(const void *p, size_t n, char hex[65]) {
    qtk_sha256 s;
    qtk_sha256_init(&s);
    qtk_sha256_update(&s, p, n);
    qtk_sha256_final_hex(&s, hex);
}

static void test_maps(int quick) {
    for (int g = 0; g < 6; g++) {
        if (quick && maps[g].big) continue;
        int32_t *map = NULL;
        uint16_t *nb = NULL;
        size_t nmap = 0, nnb = 0;
        CHECK(qtk_iqm_reference_tables(g, &map, &nmap, &nb, &nnb) == 0, "%s: building the tables failed", maps[g].name);
        if (!map) continue;
        CHECK(nmap == maps[g].kmap && nnb == maps[g].nb_len, "%s: map %zu codes, lists %zu u16 (spec %zu, %zu)",
              maps[g].name, nmap, nnb, maps[g].kmap, maps[g].nb_len);
        /* the spec hashes little-endian bytes: convert explicitly */
        unsigned char *b = (unsigned char *)malloc(nnb * 2 + nmap * 4);
        for (size_t i = 0; i < nnb; i++) b[2 * i] = (unsigned char)nb[i], b[2 * i + 1] = (unsigned char)(nb[i] >> 8);
        char hex[65];
        sha_hex(b, nnb * 2, hex);
        CHECK(strcmp(hex, maps[g].sha_nb) == 0, "%s: neighbour lists SHA-256 %s", maps[g].name, hex);
        for (size_t i = 0; i < nmap; i++) {
            const uint32_t v = (uint32_t)map[i];
            for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)(v >> 8 * k);
        }
        sha_hex(b, nmap * 4, hex);
        CHECK(strcmp(hex, maps[g].sha_map) == 0, "%s: map SHA-256 %s", maps[g].name, hex);
        printf("  %-7s map %zu codes, lists %zu u16: SHA-256 as in the spec\n", maps[g].name, nmap, nnb);
        free(b);
        free(map);
        free(nb);
    }
}

static void expect(const char *what, const float *got, int i, float want) {
    CHECK(memcmp(&got[i], &want, sizeof want) == 0, "%s: weight %d = %.9g, expected %.9g", what, i, (double)got[i],
          (double)want);
}

static void test_examples(void) {
    float w[256];
    /* §12.1 IQ2_XXS, first 32-block */
    uint8_t b1[IQ2XXS_BYTES] = {0x00, 0x38, 0x00, 0x01, 0x2A, 0xFF, 0x80, 0x40, 0xF5, 0x5F};
    qtk_iq2_xxs_to_float(b1, w, 256);
    const float e1[32] = {5.5f, 5.5f, 5.5f, 5.5f, 5.5f, 5.5f, 5.5f, 5.5f,
                          -29.5625f, 5.5f, 5.5f, 5.5f, 5.5f, 5.5f, 5.5f, -5.5f,
                          -5.5f, 17.1875f, -5.5f, 29.5625f, -5.5f, 17.1875f, -5.5f, 5.5f,
                          -5.5f, -17.1875f, -5.5f, -5.5f, -17.1875f, -29.5625f, -29.5625f, -29.5625f};
    for (int i = 0; i < 32; i++) expect("IQ2_XXS §12.1", w, i, e1[i]);
    for (int i = 32; i < 256; i++) expect("IQ2_XXS §12.1", w, i, 0.5f);
    /* §12.2 IQ3_S */
    uint8_t b2[IQ3S_BYTES] = {0};
    b2[1] = 0x34, b2[12] = 0x07, b2[13] = 0xFF, b2[67] = 0x0C, b2[79] = 0x86, b2[106] = 0x52;
    qtk_iq3_s_to_float(b2, w, 256);
    const float e2[8] = {8.25f, -8.25f, -30.25f, 13.75f, 2.75f, 2.75f, 41.25f, -41.25f};
    for (int i = 0; i < 8; i++) expect("IQ3_S §12.2", w, 40 + i, e2[i]);
    expect("IQ3_S §12.2", w, 0, 1.25f);
    expect("IQ3_S §12.2", w, 32, 2.75f);
    expect("IQ3_S §12.2", w, 64, 0.25f);
    /* §12.3 IQ1_M */
    uint8_t b3[IQ1M_BYTES] = {0};
    b3[0] = 0x34, b3[32] = 0x85;
    const uint8_t sc[8] = {0x33, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x20};
    memcpy(b3 + 48, sc, 8);
    qtk_iq1_m_to_float(b3, w, 256);
    const float e3[8] = {0.4921875f, -0.3828125f, 0.4921875f, 0.4921875f, 0.0546875f, 0.0546875f, 0.4921875f, 0.0546875f};
    for (int i = 0; i < 8; i++) expect("IQ1_M §12.3", w, i, e3[i]);
    for (int i = 8; i < 16; i++) expect("IQ1_M §12.3", w, i, -0.4921875f);
    for (int i = 16; i < 32; i++) expect("IQ1_M §12.3", w, i, -0.7109375f);
}

static const int mainline_types[7] = {QTK_TYPE_IQ2_XXS, QTK_TYPE_IQ2_XS, QTK_TYPE_IQ2_S, QTK_TYPE_IQ3_XXS,
                                      QTK_TYPE_IQ3_S,   QTK_TYPE_IQ1_S,  QTK_TYPE_IQ1_M};

/* Degenerate rows: quantize twice (same bytes), decode finite, zero rows decode to ±0. */
static void test_degenerate(void) {
    const int *types = mainline_types;
    const int64_t n = 512;
    float x[512], y[512], im[512];
    uint8_t q1[512], q2[512];
    tl_rng rng;
    for (int i = 0; i < n; i++) im[i] = 1.0f;
    for (int t = 0; t < 7; t++) {
        const int id = types[t];
        for (int kind = 0; kind < 5; kind++) {
            tl_rng_seed(&rng, 17u + (unsigned)kind);
            for (int i = 0; i < n; i++) {
                const float g = tl_rng_normal(&rng);
                x[i] = kind == 0 ? 0.0f : kind == 1 ? (i == 300 ? 1.0f : 0.0f) : kind == 2 ? (i < n / 2 ? 0.0f : g)
                       : kind == 3 ? 1e4f * g : 1e-30f * g;
            }
            qtk_error err;
            CHECK(qtk_quantize_rows(id, x, q1, 1, n, im, &err) == QTK_OK, "%s kind %d: %s", qtk_type_name(id), kind,
                  err.msg);
            CHECK(qtk_quantize_rows(id, x, q2, 1, n, im, &err) == QTK_OK, "%s kind %d: %s", qtk_type_name(id), kind,
                  err.msg);
            const size_t rs = qtk_row_size(id, n);
            CHECK(memcmp(q1, q2, rs) == 0, "%s kind %d: two runs differ", qtk_type_name(id), kind);
            CHECK(qtk_dequantize_rows(id, q1, y, 1, n, &err) == QTK_OK, "%s: decode: %s", qtk_type_name(id), err.msg);
            double e = 0, e0 = 0;
            for (int i = 0; i < n; i++) {
                CHECK(isfinite(y[i]), "%s kind %d: weight %d decodes to %g", qtk_type_name(id), kind, i, (double)y[i]);
                e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                e0 += (double)x[i] * x[i];
            }
            if (kind == 0) CHECK(e == 0.0, "%s: an all-zero row decodes to non-zero values", qtk_type_name(id));
            /* a lone spike: none of these grids has a zero (IQ2/IQ3) or its sub-block
             * scale is shared, so its 32-block neighbours decode to ±d·m·q_min; the spike
             * itself must come back with its sign and roughly its size */
            if (kind == 1)
                CHECK(y[300] > 0.5f && y[300] < 1.5f, "%s: a lone spike 1 decodes to %g", qtk_type_name(id),
                      (double)y[300]);
            if (kind == 2 || kind == 3)
                CHECK(e < e0, "%s kind %d: error %g not below the row's energy %g", qtk_type_name(id), kind, e, e0);
        }
    }
}

/* Random bytes are valid blocks of these types (every field pattern decodes)
 * once the fp16 d (IQ1_M: the top nibbles of its scale words) is a normal number; the Q8_K activations stay in
 * [−127, 127] as from_float writes them. Pass 2: all bytes 0xFF (largest codes, m = 31) and
 * activations ±127. */
static void random_blocks(tl_rng *rng, int type, size_t bs, int nb, int pass, uint8_t *w, qtk_block_q8_K *y) {
    for (size_t i = 0; i < (size_t)nb * bs; i++) w[i] = pass == 2 ? 0xFF : (uint8_t)tl_rng_u64(rng);
    for (int b = 0; b < nb; b++) {
        const uint16_t d = (uint16_t)(0x3000 | (tl_rng_u64(rng) & 0x8FFF)); /* ±0.125 … 2 */
        uint8_t *blk = w + (size_t)b * bs;
        if (type == QTK_TYPE_IQ1_M)
            for (int k = 0; k < 4; k++) blk[49 + 2 * k] = (uint8_t)((blk[49 + 2 * k] & 0x0F) | (((d >> 4 * k) & 15) << 4));
        else
            memcpy(blk, &d, 2);
        y[b].d = 0.001f + tl_rng_uniform(rng);
        for (int j = 0; j < QK_K; j++)
            y[b].qs[j] = (int8_t)(pass == 2 ? ((tl_rng_u64(rng) & 1) ? 127 : -127) : (int)(tl_rng_u64(rng) % 255) - 127);
        for (int g = 0; g < QK_K / 16; g++) { /* as qtk_quantize_row_q8_K leaves them: the IQ1 kernels read them */
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[b].qs[16 * g + j];
            y[b].bsums[g] = (int16_t)sum;
        }
    }
}

static void test_avx512_kernels(void) {
    static const int nblocks[4] = {1, 2, 7, 64};
    enum { MAXB = 64 };
    const int have = qtk_isa_available(QTK_ISA_AVX512), vbmi = have && qtk_cpu()->avx512vbmi;
    uint8_t *w = (uint8_t *)malloc((size_t)MAXB * 110);
    qtk_block_q8_K *y = (qtk_block_q8_K *)malloc(MAXB * sizeof *y);
    tl_rng rng;
    int ran_words = 0, ran_vbmi = 0;
    for (int t = 0; t < 7; t++) {
        qtk_vec_dot_fn words, vb;
        CHECK(qtk_iqm_avx512_kernels(mainline_types[t], &words, &vb) == 0 || !have, "%s: no AVX-512 kernels listed",
              qtk_type_name(mainline_types[t]));
        if (!have || !words) continue;
        const qtk_type_traits *tr = qtk_type_get(mainline_types[t]);
        const size_t bs = tr->type_size;
        for (int ni = 0; ni < 4; ni++)
            for (int pass = 0; pass < 3; pass++) {
                const int nb = nblocks[ni];
                tl_rng_seed(&rng, 1000u * (unsigned)t + 10u * (unsigned)ni + (unsigned)pass);
                random_blocks(&rng, mainline_types[t], bs, nb, pass, w, y);
                const int64_t n = (int64_t)nb * QK_K;
                float s0 = NAN, s1 = NAN, s2 = NAN;
                tr->vec_dot[QTK_ISA_SCALAR](n, &s0, w, y);
                words(n, &s1, w, y);
                ran_words = 1;
                CHECK(memcmp(&s0, &s1, sizeof s0) == 0, "%s n=%lld pass %d: AVX2 kernel (AVX-512 without VBMI) %.9g, scalar %.9g",
                      tr->name, (long long)n, pass, (double)s1, (double)s0);
                if (!vbmi) continue;
                /* both lookups of the large grids: vpermi2b or (IQ1) qword loads (0), gathers (1) */
                for (int mode = 0; mode < 2; mode++) {
                    CHECK(qtk_iqm_vbmi_lookups(mode) == 7 * mode, "lookups forced to %d", mode);
                    s2 = NAN;
                    vb(n, &s2, w, y);
                    ran_vbmi = 1;
                    CHECK(memcmp(&s0, &s2, sizeof s0) == 0, "%s n=%lld pass %d: vbmi kernel (lookup %d) %.9g, scalar %.9g",
                          tr->name, (long long)n, pass, mode, (double)s2, (double)s0);
                }
            }
    }
    if (vbmi) {
        const int g = qtk_iqm_vbmi_lookups(-1);
        printf("  vbmi code lookups timed at first use: IQ2_XS %s, IQ2_S %s, IQ1 %s\n", (g & 1) ? "gather" : "vpermi2b",
               (g & 2) ? "gather" : "vpermi2b", (g & 4) ? "gather" : "qword loads");
    }
    printf("  avx512 level on random blocks: without VBMI (the AVX2 kernels) %s, vbmi %s\n", ran_words ? "checked" : "not on this CPU",
           ran_vbmi ? "checked" : "not on this CPU");
    free(w);
    free(y);
}

/* The AVX2 kernels through both of their ways (octet words and gathers), against the scalar
 * kernel bit for bit on random blocks (as above). */
static void test_avx2_kernels(void) {
    enum { NB = 9 };
    if (!qtk_isa_available(QTK_ISA_AVX2)) {
        printf("  avx2 kernels: not on this CPU\n");
        return;
    }
    uint8_t *w = (uint8_t *)malloc((size_t)NB * 110);
    qtk_block_q8_K *y = (qtk_block_q8_K *)malloc(NB * sizeof *y);
    tl_rng rng;
    for (int t = 0; t < 7; t++) {
        const qtk_type_traits *tr = qtk_type_get(mainline_types[t]);
        const size_t bs = tr->type_size;
        for (int pass = 0; pass < 3; pass++) {
            tl_rng_seed(&rng, 500u + 10u * (unsigned)t + (unsigned)pass);
            random_blocks(&rng, mainline_types[t], bs, NB, pass, w, y);
            float s0 = NAN;
            tr->vec_dot[QTK_ISA_SCALAR](NB * QK_K, &s0, w, y);
            for (int mode = 0; mode < 2; mode++) {
                CHECK(qtk_iqm_avx2_gathers(mode) == 127 * mode, "avx2 lookups forced to %d", mode);
                float s1 = NAN;
                tr->vec_dot[QTK_ISA_AVX2](NB * QK_K, &s1, w, y);
                CHECK(memcmp(&s0, &s1, sizeof s0) == 0, "%s pass %d: avx2 kernel (way %d) %.9g, scalar %.9g", tr->name,
                      pass, mode, (double)s1, (double)s0);
            }
        }
    }
    const int g = qtk_iqm_avx2_gathers(-1);
    printf("  avx2 kernels checked; gathers timed at first use for (IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S IQ1_M):");
    for (int t = 0; t < 7; t++) printf(" %d", (g >> t) & 1);
    printf("\n");
    free(w);
    free(y);
}

/* The NEON kernels (both AArch64 levels), against the scalar kernel bit for bit on random
 * blocks (as above): the integer sums are exact, the double steps the scalar kernel's. */
static void test_neon_kernels(void) {
    enum { NB = 9 };
    static const qtk_isa levels[2] = {QTK_ISA_NEON, QTK_ISA_NEON_DOT};
    uint8_t *w = (uint8_t *)malloc((size_t)NB * 110);
    qtk_block_q8_K *y = (qtk_block_q8_K *)malloc(NB * sizeof *y);
    tl_rng rng;
    int ran = 0;
    for (int t = 0; t < 7; t++) {
        const qtk_type_traits *tr = qtk_type_get(mainline_types[t]);
        const size_t bs = tr->type_size;
        for (int pass = 0; pass < 3; pass++) {
            tl_rng_seed(&rng, 700u + 10u * (unsigned)t + (unsigned)pass);
            random_blocks(&rng, mainline_types[t], bs, NB, pass, w, y);
            float s0 = NAN;
            tr->vec_dot[QTK_ISA_SCALAR](NB * QK_K, &s0, w, y);
            for (int l = 0; l < 2; l++) {
                if (!qtk_isa_available(levels[l]) || !tr->vec_dot[levels[l]]) continue;
                float s1 = NAN;
                tr->vec_dot[levels[l]](NB * QK_K, &s1, w, y);
                ran |= 1 << l;
                CHECK(memcmp(&s0, &s1, sizeof s0) == 0, "%s pass %d: %s kernel %.9g, scalar %.9g", tr->name, pass,
                      l ? "neondot" : "neon", (double)s1, (double)s0);
            }
        }
    }
    printf("  neon kernels on random blocks: neon %s, neondot %s\n", (ran & 1) ? "checked" : "not on this CPU",
           (ran & 2) ? "checked" : "not on this CPU");
    free(w);
    free(y);
}

int main(void) {
    test_examples();
    test_degenerate();
    test_avx512_kernels();
    test_avx2_kernels();
    test_neon_kernels();
    test_maps(tl_quick());
    return tl_finish("test_iq_mainline");
}
