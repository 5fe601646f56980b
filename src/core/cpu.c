/*
 * cpu.c — run-time CPU feature detection and the ISA cap used by dispatch.
 * x86: cpuid + xgetbv (the OS must save the wide registers, not just the CPU
 * support them). AArch64: NEON is architectural; dotprod from hwcaps (Linux),
 * IsProcessorFeaturePresent (Windows) or the compiler's target (elsewhere).
 */
#include "qtk_internal.h"
#include "threadpool.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define QTK_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define QTK_ARM64 1
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(_WIN32)
#include <windows.h>
#endif
#endif

#ifdef QTK_X86
static void cpuid_ex(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
    int t[4];
    __cpuidex(t, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)t[i];
#else
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

static unsigned long long read_xcr0(void) {
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#endif
}
#endif

static qtk_cpu_features g_cpu;
static qtk_once g_cpu_once = QTK_ONCE_INIT;
/* QTK_ISA_COUNT = no cap; atomic because tests flip it while a pool may read it. */
static qtk_atomic_int g_max_isa = QTK_ISA_COUNT;

static void detect(qtk_cpu_features *f) {
    memset(f, 0, sizeof *f);
#ifdef QTK_X86
    unsigned r[4];
    cpuid_ex(0, 0, r);
    unsigned max_leaf = r[0];
    cpuid_ex(1, 0, r);
    bool osxsave = (r[2] >> 27) & 1;
    bool avx = (r[2] >> 28) & 1;
    f->fma = (r[2] >> 12) & 1;
    f->f16c = (r[2] >> 29) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    bool ymm_ok = avx && (xcr0 & 0x6) == 0x6;
    bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (max_leaf >= 7) {
        cpuid_ex(7, 0, r);
        f->avx2 = ymm_ok && ((r[1] >> 5) & 1);
        f->avx512f = zmm_ok && ((r[1] >> 16) & 1);
        f->avx512bw = zmm_ok && ((r[1] >> 30) & 1);
        f->avx512vl = zmm_ok && ((r[1] >> 31) & 1);
        f->avx512vnni = zmm_ok && ((r[2] >> 11) & 1);
        /* the VBMI kernels also use BMI2's pdep (every CPU with VBMI has it; checked anyway) */
        f->avx512vbmi = zmm_ok && ((r[2] >> 1) & 1) && ((r[1] >> 8) & 1);
        cpuid_ex(7, 1, r);
        f->avx512bf16 = zmm_ok && ((r[0] >> 5) & 1);
    }
    if (!ymm_ok) f->fma = f->f16c = false;
#endif
#ifdef QTK_ARM64
    f->neon = true;
#if defined(__linux__) && defined(AT_HWCAP)
    unsigned long hw = getauxval(AT_HWCAP);
    f->neon_dotprod = (hw >> 20) & 1; /* HWCAP_ASIMDDP */
#elif defined(_WIN32)
    f->neon_dotprod = IsProcessorFeaturePresent(43) != 0; /* PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE */
#elif defined(__ARM_FEATURE_DOTPROD) /* e.g. Apple silicon: every target CPU has it */
    f->neon_dotprod = true;
#endif
#endif
}

static void detect_once(void) { detect(&g_cpu); }

const qtk_cpu_features *qtk_cpu(void) {
    /* Once, with synchronisation: an unsynchronised flag would be a data race
     * (a reader on a weakly ordered CPU could see the flag before the data). */
    qtk_call_once(&g_cpu_once, detect_once);
    return &g_cpu;
}

/* Which kernel families were compiled into this build (set by CMake). */
static bool isa_compiled(qtk_isa isa) {
    switch (isa) {
    case QTK_ISA_SCALAR: return true;
#ifdef QTK_HAVE_AVX2
    case QTK_ISA_AVX2: return true;
#endif
#ifdef QTK_HAVE_AVX512
    case QTK_ISA_AVX512: return true;
#endif
#ifdef QTK_HAVE_NEON
    case QTK_ISA_NEON: return true;
#endif
#ifdef QTK_HAVE_NEON_DOT
    case QTK_ISA_NEON_DOT: return true;
#endif
    default: return false;
    }
}

bool qtk_isa_available(qtk_isa isa) {
    if ((int)isa < 0 || isa >= QTK_ISA_COUNT || !isa_compiled(isa)) return false;
    const qtk_cpu_features *f = qtk_cpu();
    switch (isa) {
    case QTK_ISA_SCALAR: return true;
    case QTK_ISA_AVX2: return f->avx2 && f->fma && f->f16c;
    /* the AVX-512 kernel files are compiled with VNNI enabled, so the level needs it */
    case QTK_ISA_AVX512:
        return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni;
    case QTK_ISA_NEON: return f->neon;
    case QTK_ISA_NEON_DOT: return f->neon && f->neon_dotprod;
    default: return false;
    }
}

const char *qtk_isa_name(qtk_isa isa) {
    static const char *names[] = {"scalar", "avx2", "avx512", "neon", "neondot"};
    return ((int)isa >= 0 && isa < QTK_ISA_COUNT) ? names[isa] : "?";
}

void qtk_set_max_isa(qtk_isa max_isa) { qtk_atomic_store(&g_max_isa, (int)max_isa); }

int qtk_isa_pick(unsigned have_mask) {
    /* Preference order: the widest available level not above the cap. */
    static const qtk_isa order[] = {QTK_ISA_AVX512, QTK_ISA_AVX2, QTK_ISA_NEON_DOT, QTK_ISA_NEON,
                                     QTK_ISA_SCALAR};
    const int cap = qtk_atomic_load(&g_max_isa);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        qtk_isa isa = order[i];
        if (cap != QTK_ISA_COUNT && isa != QTK_ISA_SCALAR && (int)isa > cap) continue;
        if ((have_mask >> isa & 1u) && qtk_isa_available(isa)) return (int)isa;
    }
    return -1;
}
