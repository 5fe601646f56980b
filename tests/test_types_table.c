/* test_types_table.c — type-traits table geometry, names, fp16/bf16 conversions. */
#include "testlib.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

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

    /* measured panel crossovers: only for ISA levels the type has kernels on, within the widths
     * `qtk bench types --crossover` measures (2..512, or never), and only where a batch can use panels */
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *t = qtk_type_at(i);
        for (int isa = 0; isa < QTK_ISA_COUNT; isa++) {
            const int c = t->panel_min_cols[isa];
            CHECK(c == 0 || ((c == QTK_PANEL_NEVER || (c >= 2 && c <= 512)) && t->vec_dot[isa] && t->to_float),
                  "%s: panel_min_cols[%s] = %d (needs a kernel at that level, 2..512 or never)", t->name,
                  qtk_isa_name((qtk_isa)isa), c);
        }
    }

    /* The sdot level runs only where the CPU has the dot product. CI names what its emulated
     * CPU has (QTK_TEST_EXPECT_DOTPROD=0 under qemu -cpu cortex-a72, 1 under -cpu max), so a
     * detection that is always on or always off fails there. */
    const qtk_type_traits *q8_0 = qtk_type_get(QTK_TYPE_Q8_0);
    CHECK(!qtk_isa_available(QTK_ISA_NEON_DOT) || qtk_cpu()->neon_dotprod, "neondot available without dotprod");
    const char *expect = getenv("QTK_TEST_EXPECT_DOTPROD");
    if (expect && *expect) {
        const bool want = strcmp(expect, "0") != 0;
        CHECK(qtk_cpu()->neon_dotprod == want, "dotprod detected %d, expected %d", qtk_cpu()->neon_dotprod, want);
        if (q8_0->vec_dot[QTK_ISA_NEON_DOT])
            CHECK(qtk_isa_available(QTK_ISA_NEON_DOT) == want, "neondot level available %d, expected %d",
                  qtk_isa_available(QTK_ISA_NEON_DOT), want);
    }

    /* names unique, ids unique */
    int n = qtk_type_count();
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            CHECK(qtk_type_at(i)->id != qtk_type_at(j)->id, "duplicate id %d", qtk_type_at(i)->id);
            CHECK(tl_strcasecmp(qtk_type_at(i)->name, qtk_type_at(j)->name) != 0,
                  "duplicate name %s", qtk_type_at(i)->name);
        }

    /* planner facts (issue #18 item 4): the table is indexed by id and its
     * per-type fields agree with each other */
    int n_interleaved = 0, n_fallback = 0, n_integer = 0, n_plan_req = 0;
    for (int t = 0; t < QTK_TYPE_ID_LIMIT; t++) {
        const qtk_type_traits *tr = qtk_type_get(t);
        if (!tr) continue;
        CHECK((int)tr->id == t, "row %d has id %d", t, (int)tr->id);
        CHECK(qtk_type_is_mainline(t) == ((tr->ecosystems & QTK_ECO_LLAMA_CPP) != 0), "%s: mainline", tr->name);
        if (tr->interleaved) {
            n_interleaved++;
            const qtk_type_traits *b = qtk_type_get(tr->interleave_base);
            CHECK(b && !b->interleaved, "%s: base type %d unknown or interleaved", tr->name, (int)tr->interleave_base);
            if (!b) continue;
            CHECK(b->block_size == tr->block_size && b->type_size == tr->type_size &&
                      b->row_meta_size == tr->row_meta_size,
                  "%s: geometry differs from its base %s", tr->name, b->name);
            CHECK(tr->interleave_rows == 4 || tr->interleave_rows == 8 || tr->interleave_rows == 16,
                  "%s: interleave %d", tr->name, tr->interleave_rows);
            char want[48];
            snprintf(want, sizeof want, "%s_r%d", b->name, tr->interleave_rows);
            CHECK(tl_strcasecmp(want, tr->name) == 0, "%s: name does not match base %s", tr->name, want);
            CHECK(qtk_type_base(t) == (int)b->id && qtk_type_interleave(t) == tr->interleave_rows, "%s: accessors",
                  tr->name);
            CHECK(!qtk_type_is_mainline(t) && !tr->plan_requires_imatrix && tr->block_fallback == 0,
                  "%s: interleaved rows carry no planner facts of their own", tr->name);
        } else {
            CHECK(tr->interleave_base == 0 && tr->interleave_rows == 0, "%s: interleave fields on a plain type",
                  tr->name);
            CHECK(qtk_type_base(t) == t && qtk_type_interleave(t) == 1, "%s: plain accessors", tr->name);
        }
        if (tr->block_fallback != 0) {
            n_fallback++;
            const qtk_type_traits *f = qtk_type_get(tr->block_fallback);
            CHECK(f && f->block_fallback == 0 && !f->interleaved && f->quantize && f->file_type,
                  "%s: fallback %d is not a plain quantizable type", tr->name, (int)tr->block_fallback);
            if (!f) continue;
            CHECK(f->block_size == 32 && tr->block_size % f->block_size == 0, "%s: fallback %s block %lld",
                  tr->name, f->name, (long long)f->block_size);
            CHECK(qtk_type_bpw(f->id) >= qtk_type_bpw(t), "%s: fallback %s has fewer bits", tr->name, f->name);
            CHECK(qtk_type_block_fallback(t) == (int)f->id, "%s: fallback accessor", tr->name);
        } else {
            CHECK(qtk_type_block_fallback(t) == (tr->interleaved ? qtk_type_block_fallback(qtk_type_base(t)) : -1),
                  "%s: no-fallback accessor", tr->name);
        }
        if (tr->is_quantized && !tr->interleaved && tr->file_type && tr->quantize && tr->block_size == 256)
            CHECK(tr->block_fallback != 0, "%s: a 256-block file type without a block fallback", tr->name);
        if (tr->is_integer) {
            n_integer++;
            CHECK(!tr->is_quantized && !tr->quantize && tr->block_size == 1, "%s: integer row", tr->name);
        }
        if (tr->plan_requires_imatrix) {
            n_plan_req++;
            CHECK(tr->quantize && qtk_type_bpw(t) < 2.6, "%s: recipe requires an imatrix above 2.6 bpw", tr->name);
        }
        CHECK(!tr->requires_imatrix || tr->plan_requires_imatrix,
              "%s: the quantizer refuses to run without an imatrix but recipes do not require one", tr->name);
    }
    CHECK(n_interleaved == 23 && n_integer == 5 && n_plan_req == 7 && n_fallback == 28,
          "counts: %d interleaved, %d integer, %d recipe-imatrix, %d fallback", n_interleaved, n_integer, n_plan_req,
          n_fallback);
    CHECK(qtk_type_block_fallback(QTK_TYPE_Q4_K) == QTK_TYPE_Q5_0 && qtk_type_block_fallback(212) == QTK_TYPE_Q5_0 &&
              qtk_type_block_fallback(QTK_TYPE_IQ2_KT) == QTK_TYPE_IQ4_NL &&
              qtk_type_block_fallback(QTK_TYPE_Q6_K) == QTK_TYPE_Q8_0 && qtk_type_block_fallback(QTK_TYPE_Q4_0) == -1,
          "fallbacks of q4_K, q4_k_r4, iq2_kt, q6_K, q4_0");
    CHECK(qtk_type_base(223) == QTK_TYPE_IQ4_XS && qtk_type_interleave(223) == 8 && qtk_type_interleave(230) == 16 &&
              qtk_type_base(-5) == -5 && qtk_type_interleave(-5) == 1 && qtk_type_block_fallback(-5) == -1,
          "interleave of iq4_xs_r8, bf16_r16, unknown id");
    CHECK(qtk_type_is_mainline(QTK_TYPE_IQ4_NL) && !qtk_type_is_mainline(QTK_TYPE_IQ4_KSS) && !qtk_type_is_mainline(-1),
          "mainline flags");
    const qtk_type_traits *i32 = qtk_type_get(QTK_TYPE_I32), *f64 = qtk_type_get(QTK_TYPE_F64);
    CHECK(i32 && i32->is_integer && f64 && f64->is_integer && !qtk_type_get(QTK_TYPE_F16)->is_integer, "integer flags");

    /* fp16: every half round-trips through float exactly (NaNs stay NaN) */
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtk_fp16_to_fp32((uint16_t)h);
        uint16_t back = qtk_fp32_to_fp16(f);
        bool is_nan = ((h & 0x7c00) == 0x7c00) && (h & 0x3ff);
        if (is_nan ? !isnan(f) || (back & 0x7fff) <= 0x7c00 : back != h) bad++;
    }
    CHECK(bad == 0, "%ld halves do not round-trip", bad);

    /* the row conversions (vectorised bit manipulation) = the per-value ones, all 65536
     * bit patterns, NaN payloads and signed zeros included; odd start and length so a
     * vectorised loop's head and tail run too */
    {
        static uint16_t halves[65536 + 3];
        static float rowf[65536 + 3];
        for (uint32_t h = 0; h < 65536; h++) halves[h + 1] = (uint16_t)h;
        const qtk_type_traits *f16 = qtk_type_get(QTK_TYPE_F16), *bf16 = qtk_type_get(QTK_TYPE_BF16);
        long bad16 = 0, badbf = 0;
        f16->to_float(halves + 1, rowf + 1, 65535);
        for (uint32_t h = 0; h < 65535; h++) {
            const float v = qtk_fp16_to_fp32((uint16_t)h);
            if (memcmp(&v, &rowf[h + 1], 4) != 0) bad16++;
        }
        bf16->to_float(halves + 1, rowf + 1, 65535);
        for (uint32_t h = 0; h < 65535; h++) {
            const float v = qtk_bf16_to_fp32((uint16_t)h);
            if (memcmp(&v, &rowf[h + 1], 4) != 0) badbf++;
        }
        f16->to_float(halves + 65536, rowf, 1); /* 0xffff alone (a NaN) */
        const float vn = qtk_fp16_to_fp32(0xffff);
        CHECK(bad16 == 0 && badbf == 0 && memcmp(&vn, rowf, 4) == 0,
              "row conversion != per-value: %ld f16, %ld bf16 bit patterns", bad16, badbf);
    }

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
