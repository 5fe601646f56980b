/* test_types_table.c — type-traits table geometry, names, fp16/bf16 conversions. */
#include "testlib.h"

#include <math.h>
#include <stdint.h>

/* Geometry from FORMATS.md §0.2: id, block, bytes/block, row header. */
static const struct { int id; const char *name; int blk; int size; int meta; } expected[] = {
    {0, "f32", 1, 4, 0},         {1, "f16", 1, 2, 0},         {30, "bf16", 1, 2, 0},
    {2, "q4_0", 32, 18, 0},      {8, "q8_0", 32, 34, 0},      {6, "q5_0", 32, 22, 0},
    {133, "q6_0", 32, 26, 0},    {10, "q2_K", 256, 84, 0},    {11, "q3_K", 256, 110, 0},
    {12, "q4_K", 256, 144, 0},   {13, "q5_K", 256, 176, 0},   {14, "q6_K", 256, 210, 0},
    {15, "q8_K", 256, 296, 0},   {20, "iq4_nl", 32, 18, 0},   {23, "iq4_xs", 256, 136, 0},
    {137, "iq2_k", 256, 76, 0},  {138, "iq3_k", 256, 110, 0}, {139, "iq4_k", 256, 144, 0},
    {140, "iq5_k", 256, 176, 0}, {141, "iq6_k", 256, 212, 0}, {144, "iq4_ks", 256, 136, 4},
    {145, "iq2_ks", 256, 70, 2}, {146, "iq4_kss", 256, 128, 4}, {152, "iq5_ks", 256, 168, 4},
    {153, "iq2_kt", 256, 68, 4}, {154, "iq3_kt", 256, 100, 4}, {155, "iq4_kt", 256, 128, 4},
    {156, "iq3_ks", 256, 102, 2}, {157, "iq2_kl", 256, 86, 2}, {158, "iq1_kt", 256, 56, 4},
    {3, "q4_1", 32, 20, 0},      {7, "q5_1", 32, 24, 0},      {39, "mxfp4", 32, 17, 0},
    {99, "q8_2", 32, 36, 0}, /* qtk's internal activation format (ik's Q8_2 id) */
};

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Independent fp32->fp16 reference via double arithmetic (RNE). */
static uint16_t ref_fp16(float f) {
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    double a = fabs((double)f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00);
    /* find the representable neighbours by scanning the binary16 ladder */
    int e;
    (void)frexp(a, &e); /* a = m * 2^e, m in [0.5,1) */
    double ulp = (e - 1 < -14) ? ldexp(1.0, -24) : ldexp(1.0, e - 11);
    double q = a / ulp;
    double fl = floor(q);
    double r = q - fl;
    double k = (r > 0.5 || (r == 0.5 && fmod(fl, 2.0) == 1.0)) ? fl + 1 : fl;
    double v = k * ulp;
    /* encode v */
    if (v == 0) return sign;
    int ev;
    double mv = frexp(v, &ev);
    int exp16 = ev - 1 + 15;
    if (exp16 <= 0) return (uint16_t)(sign | (uint16_t)(v / ldexp(1.0, -24)));
    uint16_t man = (uint16_t)((mv * 2.0 - 1.0) * 1024.0);
    return (uint16_t)(sign | (exp16 << 10) | man);
}

int main(void) {
    /* table geometry */
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const qtk_type_traits *t = qtk_type_get(expected[i].id);
        CHECK(t != NULL, "type id %d missing", expected[i].id);
        if (!t) continue;
        CHECK(strcmp(t->name, expected[i].name) == 0, "id %d name %s", expected[i].id, t->name);
        CHECK(t->block_size == expected[i].blk, "%s block %lld", t->name, (long long)t->block_size);
        CHECK((int)t->type_size == expected[i].size, "%s size %zu", t->name, t->type_size);
        CHECK((int)t->row_meta_size == expected[i].meta, "%s meta %zu", t->name, t->row_meta_size);
        CHECK(qtk_type_from_name(expected[i].name) == expected[i].id, "from_name %s", expected[i].name);
        CHECK(qtk_row_size(expected[i].id, 4096) ==
                  (size_t)expected[i].meta + (size_t)(4096 / expected[i].blk) * (size_t)expected[i].size,
              "%s row size", t->name);
    }
    CHECK(qtk_type_from_name("IQ4_KSS") == 146, "case-insensitive names");
    CHECK(qtk_type_from_name("Q4_k") == 12, "case-insensitive names");
    CHECK(qtk_type_from_name("nope") == -1, "unknown name");
    CHECK(qtk_type_get(4) == NULL && qtk_type_get(-1) == NULL && qtk_type_get(100000) == NULL, "unknown ids");
    CHECK(qtk_row_size(QTK_TYPE_Q4_K, 100) == 0, "row not multiple of block");
    CHECK(fabs(qtk_type_bpw(QTK_TYPE_IQ4_KSS) - 4.0) < 1e-12, "iq4_kss bpw");
    CHECK(fabs(qtk_type_bpw(QTK_TYPE_IQ6_K) - 6.625) < 1e-12, "iq6_k bpw");

    /* names unique, ids unique */
    int n = qtk_type_count();
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            CHECK(qtk_type_at(i)->id != qtk_type_at(j)->id, "duplicate id %d", qtk_type_at(i)->id);
            CHECK(tl_strcasecmp(qtk_type_at(i)->name, qtk_type_at(j)->name) != 0,
                  "duplicate name %s", qtk_type_at(i)->name);
        }

    /* fp16: every half round-trips through float exactly (NaNs stay NaN) */
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtk_fp16_to_fp32((uint16_t)h);
        uint16_t back = qtk_fp32_to_fp16(f);
        bool is_nan = ((h & 0x7c00) == 0x7c00) && (h & 0x3ff);
        if (is_nan ? !isnan(f) || (back & 0x7fff) <= 0x7c00 : back != h) bad++;
    }
    CHECK(bad == 0, "%ld halves do not round-trip", bad);

    /* fp32 -> fp16 rounding against an independent reference on many floats */
    tl_rng r;
    tl_rng_seed(&r, 1);
    bad = 0;
    for (long i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)tl_rng_u64(&r);
        /* bias towards the half range and its edges */
        if (i % 2) u = (u & 0x80000000u) | (0x33000000u + (u % (0x47800000u - 0x33000000u)));
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        uint16_t a = qtk_fp32_to_fp16(f), b = ref_fp16(f);
        if (a != b) {
            if (bad < 5) fprintf(stderr, "fp16(%a) = %04x, reference %04x\n", (double)f, a, b);
            bad++;
        }
    }
    CHECK(bad == 0, "%ld fp32->fp16 conversions differ from the reference", bad);
    CHECK(qtk_fp32_to_fp16(65519.0f) == 0x7bff && qtk_fp32_to_fp16(65520.0f) == 0x7c00, "overflow edge");
    CHECK(qtk_fp32_to_fp16(-0.0f) == 0x8000, "negative zero");

    /* bf16: RNE on the dropped half, quiet NaN */
    CHECK(qtk_fp32_to_bf16(1.0f) == 0x3f80, "bf16 1.0");
    {
        uint32_t u = 0x3f808000u; /* exactly halfway, even -> stays */
        float f;
        memcpy(&f, &u, 4);
        CHECK(qtk_fp32_to_bf16(f) == 0x3f80, "bf16 tie to even (down)");
        u = 0x3f818000u; /* halfway, odd -> up */
        memcpy(&f, &u, 4);
        CHECK(qtk_fp32_to_bf16(f) == 0x3f82, "bf16 tie to even (up)");
        u = 0x7f800001u; /* signalling NaN becomes quiet */
        memcpy(&f, &u, 4);
        CHECK((qtk_fp32_to_bf16(f) & 0x7fc0) == 0x7fc0, "bf16 quiet NaN");
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtk_bf16_to_fp32((uint16_t)h);
        if (!isnan(f) && qtk_fp32_to_bf16(f) != h) bad++;
    }
    CHECK(bad == 0, "bf16 round trip");
    return tl_finish("test_types_table");
}
