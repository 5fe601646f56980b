/*
 * qtk_types.h — the types module of libqtk: the type ids of GGUF tensors, the
 * type-traits table (block geometry, decoders, quantizers, dot products per
 * instruction set), row (de)quantization, CPU features and half-float
 * conversions, with the error type they report through. It builds and works
 * alone (src/types/ + src/core/, CMake option QTK_TYPES_ONLY; src/types/README.md
 * says which files make which build and how to vendor them). qtk.h includes it.
 * The experimental parts (layouts that change when a kernel or ISA is added)
 * need QTK_EXPERIMENTAL_API, as in qtk.h (docs/api.md).
 */
#ifndef QTK_TYPES_H
#define QTK_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#ifdef QTK_EXPERIMENTAL_API
#include <stdio.h> /* FILE: qtk_tmpfile_create */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header and qtk.h (CMakeLists.txt reads it from here). qtk_version()
 * returns the version of the library actually linked. */
#define QTK_VERSION_MAJOR 0
#define QTK_VERSION_MINOR 1
#define QTK_VERSION_PATCH 0
#define QTK_VERSION_STRING "0.1.0"
#define QTK_VERSION_NUMBER (QTK_VERSION_MAJOR * 10000 + QTK_VERSION_MINOR * 100 + QTK_VERSION_PATCH)

/* QTK_API marks every function the shared library exports; everything else
 * in it is hidden (-fvisibility=hidden). Windows: dllexport while building
 * libqtk.dll (QTK_BUILD_DLL), dllimport for programs that define
 * QTK_DLL_IMPORT (CMake's qtk::qtk_shared does; optional for functions). */
#ifndef QTK_API
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(QTK_BUILD_DLL)
#define QTK_API __declspec(dllexport)
#elif defined(QTK_DLL_IMPORT)
#define QTK_API __declspec(dllimport)
#else
#define QTK_API
#endif
#elif (defined(__GNUC__) && __GNUC__ >= 4) || defined(__clang__)
#define QTK_API __attribute__((visibility("default")))
#else
#define QTK_API
#endif
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum qtk_status {
    QTK_OK = 0,
    QTK_ERR_INVALID_ARG = 1,  /* caller passed something unusable            */
    QTK_ERR_IO = 2,           /* open/read/write/rename failed (errno text)    */
    QTK_ERR_FORMAT = 3,       /* malformed or inconsistent file contents       */
    QTK_ERR_UNSUPPORTED = 4,  /* valid but not supported (type, endianness...) */
    QTK_ERR_NOMEM = 5,        /* allocation failed                             */
    QTK_ERR_NUMERIC = 6,      /* NaN/Inf or otherwise unusable numbers         */
    QTK_ERR_NOT_FOUND = 7     /* requested key/tensor does not exist           */
} qtk_status;

#define QTK_ERROR_MSG_MAX 512

typedef struct qtk_error {
    qtk_status code;
    char msg[QTK_ERROR_MSG_MAX];
} qtk_error;

/* Short name of a status code ("I/O error", "format error", ...). */
QTK_API const char *qtk_status_name(qtk_status s);

/* Version string of the library, e.g. "0.1.0". */
QTK_API const char *qtk_version(void);

/* ------------------------------------------------------------------------ */
/* Tensor types (values are the ggml enum ids stored in GGUF files)           */
/* ------------------------------------------------------------------------ */

typedef enum qtk_type {
    QTK_TYPE_F32 = 0,
    QTK_TYPE_F16 = 1,
    QTK_TYPE_Q4_0 = 2,
    QTK_TYPE_Q4_1 = 3,
    QTK_TYPE_Q5_0 = 6,
    QTK_TYPE_Q5_1 = 7,
    QTK_TYPE_Q8_0 = 8,
    QTK_TYPE_Q8_1 = 9,
    QTK_TYPE_Q2_K = 10,
    QTK_TYPE_Q3_K = 11,
    QTK_TYPE_Q4_K = 12,
    QTK_TYPE_Q5_K = 13,
    QTK_TYPE_Q6_K = 14,
    QTK_TYPE_Q8_K = 15,
    QTK_TYPE_IQ2_XXS = 16,
    QTK_TYPE_IQ2_XS = 17,
    QTK_TYPE_IQ3_XXS = 18,
    QTK_TYPE_IQ1_S = 19,
    QTK_TYPE_IQ4_NL = 20,
    QTK_TYPE_IQ3_S = 21,
    QTK_TYPE_IQ2_S = 22,
    QTK_TYPE_IQ4_XS = 23,
    QTK_TYPE_I8 = 24,
    QTK_TYPE_I16 = 25,
    QTK_TYPE_I32 = 26,
    QTK_TYPE_I64 = 27,
    QTK_TYPE_F64 = 28,
    QTK_TYPE_IQ1_M = 29,
    QTK_TYPE_BF16 = 30,
    QTK_TYPE_MXFP4 = 39,     /* OCP microscaling FP4 (E8M0 exponent + E2M1 per 32) */
    QTK_TYPE_Q8_2 = 99,      /* internal activation format of Q4_K/Q5_K, never in files */
    QTK_TYPE_Q6_0 = 133,
    QTK_TYPE_IQ2_K = 137,
    QTK_TYPE_IQ3_K = 138,
    QTK_TYPE_IQ4_K = 139,
    QTK_TYPE_IQ5_K = 140,
    QTK_TYPE_IQ6_K = 141,
    QTK_TYPE_IQ4_KS = 144,
    QTK_TYPE_IQ2_KS = 145,
    QTK_TYPE_IQ4_KSS = 146,
    QTK_TYPE_IQ5_KS = 152,
    QTK_TYPE_IQ2_KT = 153,
    QTK_TYPE_IQ3_KT = 154,
    QTK_TYPE_IQ4_KT = 155,
    QTK_TYPE_IQ3_KS = 156,
    QTK_TYPE_IQ2_KL = 157,
    QTK_TYPE_IQ1_KT = 158,
    QTK_TYPE_ID_LIMIT = 400   /* every id is < this */
} qtk_type;

#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: layouts that change with kernels/ISAs, program helpers */
/* Converts a row of n weights to float (n a multiple of the block size). */
typedef void (*qtk_to_float_fn)(const void *row, float *dst, int64_t n);

/* Quantizes nrows rows of n_per_row floats into dst (rows back to back).
 * imatrix: n_per_row importance weights or NULL. Returns bytes written,
 * or 0 on failure (only when the type cannot quantize the input, e.g. a
 * type that requires an imatrix got NULL). Never produces NaN/Inf from
 * finite input. */
typedef size_t (*qtk_quantize_fn)(const float *src, void *dst, int64_t nrows,
                                  int64_t n_per_row, const float *imatrix);

/* The same with an effort level (qtk_effort, a QTK_EFFORT_* value). */
typedef size_t (*qtk_quantize_effort_fn)(const float *src, void *dst, int64_t nrows,
                                         int64_t n_per_row, const float *imatrix, int effort);

/* Quantizes one row of activations into the activation format (fast path). */
typedef void (*qtk_from_float_fn)(const float *src, void *dst, int64_t n);

/* *s = dot(weight row x of n values, activation row y in vec_dot_type). */
typedef void (*qtk_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

/* Exact int8 form of a row: for every block b of 32 weights, w = d[b]·q[32b+k]
 * with |q| ≤ 127 (only types whose values are such products have one). */
typedef void (*qtk_to_int8_fn)(const void *row, int64_t n, float *d, int8_t *q);

/* Multi-column product: for r < n_rows and c < n_cols,
 *   out[c * out_stride + r] = dot(weight row r, activation column c)
 * where weight row r starts at (const char *)w + r * w_stride and activation
 * column c (in vec_dot_type) at (const char *)a + c * a_stride; n weights per
 * row. A kernel unpacks each weight block once per tile of columns, so a
 * batch costs far less than n_rows * n_cols vec_dot calls. Results equal
 * vec_dot's up to float summation order (documented per kernel). */
typedef void (*qtk_mul_mat_fn)(int64_t n, const void *w, size_t w_stride, const void *a, size_t a_stride,
                               float *out, size_t out_stride, int64_t n_rows, int64_t n_cols);

/* qtk_type_traits.panel_min_cols: the batch panels never beat the type's own kernels. */
#define QTK_PANEL_NEVER 0xFFFF

/* Instruction-set levels for which a type may provide a vec_dot kernel. */
typedef enum qtk_isa {
    QTK_ISA_SCALAR = 0,
    QTK_ISA_AVX2 = 1,     /* x86-64 AVX2 + FMA + F16C                   */
    QTK_ISA_AVX512 = 2,   /* AVX-512 F/BW/VL + VNNI                       */
    QTK_ISA_NEON = 3,     /* AArch64 Advanced SIMD (Armv8.0)              */
    QTK_ISA_NEON_DOT = 4, /* AArch64 Advanced SIMD + dot product (sdot)   */
    QTK_ISA_COUNT = 5
} qtk_isa;

/* Programs that know a type id (qtk_type_traits.ecosystems): a file whose
 * tensor types all have QTK_ECO_LLAMA_CPP loads in stock llama.cpp. */
#define QTK_ECO_LLAMA_CPP 0x1u  /* mainline llama.cpp / ggml                         */
#define QTK_ECO_IK_LLAMA 0x2u   /* ik_llama.cpp (all mainline ids up to bf16 + its own) */
#define QTK_ECO_BOTH (QTK_ECO_LLAMA_CPP | QTK_ECO_IK_LLAMA)

/* One row of the type-traits table. Function pointers are NULL where a
 * type is not (yet) implemented; `known_layout` is false for ids whose
 * block geometry is known only well enough to skip over the data. */
typedef struct qtk_type_traits {
    qtk_type id;
    const char *name;          /* as llama.cpp spells it: "q4_0", "iq4_kss" */
    int64_t block_size;        /* weights per block                          */
    size_t type_size;          /* bytes per block                            */
    size_t row_meta_size;      /* per-row header bytes (KS/KSS/KT types)     */
    bool is_quantized;
    bool file_type;            /* may appear in model files (Q8_K may not)   */
    bool interleaved;          /* row-interleaved _R4/_R8 variant: refused   */
    bool requires_imatrix;     /* quantize refuses to run without one        */
    unsigned ecosystems;       /* QTK_ECO_* bits: which programs' loaders know this id */
    /* Planner facts (docs/recipes.md). Fields left 0 by the table mean "none". */
    bool is_integer;           /* i8..i64 and f64: data tensors, never a recipe result */
    bool plan_requires_imatrix; /* a recipe's default requires_imatrix list (MIXES §3 step 7) */
    qtk_type interleave_base;  /* interleaved rows: the plain type they repack (0 otherwise) */
    int interleave_rows;       /* interleaved rows: rows per group, 4/8/16 (0 otherwise) */
    /* Block-32 type the reference uses for rows that are not a multiple of
     * this type's block (MIXES §3 step 4); 0 when none (f32 is never one). */
    qtk_type block_fallback;
    qtk_type vec_dot_type;     /* activation format vec_dot expects         */
    qtk_to_float_fn to_float;
    /* Decoder of the values vec_dot multiplies with, where the reference's
     * kernels differ from its to_float (IQ6_K's integer table, the KT types'
     * kernel scale factors); NULL means the same as to_float. */
    qtk_to_float_fn to_float_dot;
    /* The type's unpack routine where its values are exactly d·int8 per 32
     * weights (Q4_0, Q5_0, Q6_0, Q8_0, IQ4_NL, MXFP4, IQ4_XS, IQ2_KS, IQ3_KS,
     * IQ4_KS, IQ4_KSS, IQ5_KS, IQ2_KL, some mainline i-quants, the KT types): the batch panels
     * (types/panel.h) copy it exactly. NULL otherwise. */
    qtk_to_int8_fn to_int8;
    /* The per-row step of the batch panels' conversion on wider ISA levels,
     * writing the scalar step's bytes and scales exactly: to_int8's where the
     * type has one, otherwise to_float (to_float_dot) followed by the panels'
     * re-quantization per 32 weights (types/panel.h). NULL: the scalar step. */
    qtk_to_int8_fn to_int8_isa[QTK_ISA_COUNT];
    qtk_quantize_fn quantize;  /* QTK_EFFORT_MAX: the type's full search       */
    /* Quantizer honouring an effort level, for types whose levels differ
     * (docs/types.md "Effort levels"); NULL: every level is `quantize`. */
    qtk_quantize_effort_fn quantize_effort;
    qtk_from_float_fn from_float;
    /* from_float on wider ISA levels, the same bytes (the activation formats
     * Q8_0, Q8_2, Q8_K, which every batch converts); NULL: from_float. */
    qtk_from_float_fn from_float_isa[QTK_ISA_COUNT];
    qtk_vec_dot_fn vec_dot[QTK_ISA_COUNT];  /* [QTK_ISA_SCALAR] is the reference */
    /* Multi-column kernels per ISA; NULL where the engine tiles vec_dot calls. */
    qtk_mul_mat_fn mul_mat[QTK_ISA_COUNT];
    /* Per ISA level of the type's own kernels: the batch width (activation
     * columns, 2..512) from which the int8 panel path is faster than those
     * kernels, measured with `qtk bench types --crossover` (BENCHMARKS.md);
     * QTK_PANEL_NEVER when the own kernels win at every width; 0 = not
     * measured: the engine's default (32 columns over vec_dot, 64 over mul_mat). */
    uint16_t panel_min_cols[QTK_ISA_COUNT];
} qtk_type_traits;

/* Traits of type id `t`, or NULL when the id is not a known type. */
QTK_API const qtk_type_traits *qtk_type_get(int t);
/* Planner facts of the table, with the "none" defaults filled in: the plain
 * type an interleaved id repacks (t itself otherwise), its interleave factor
 * (1 for plain types), its block fallback (-1: none), whether stock llama.cpp
 * loads it. Unknown ids: t, 1, -1, false. */
QTK_API int qtk_type_base(int t);
QTK_API int qtk_type_interleave(int t);
QTK_API int qtk_type_block_fallback(int t);
QTK_API bool qtk_type_is_mainline(int t);
#endif /* QTK_EXPERIMENTAL_API */

/* Type by name, case-insensitive ("Q4_K", "iq4_kss"); -1 if unknown. */
QTK_API int qtk_type_from_name(const char *name);

/* Name of type `t` ("?" for unknown ids). */
QTK_API const char *qtk_type_name(int t);

#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: layouts that change with kernels/ISAs, program helpers */
/* Number of rows in the table and the i-th row (for listing types). */
QTK_API int qtk_type_count(void);
QTK_API const qtk_type_traits *qtk_type_at(int i);
#endif /* QTK_EXPERIMENTAL_API */

/* Bytes of one row of n_per_row weights: header + blocks. 0 when the type
 * is unknown or n_per_row is not a multiple of its block size. */
QTK_API size_t qtk_row_size(int t, int64_t n_per_row);

/* Bits per weight of the blocks alone (header excluded). */
QTK_API double qtk_type_bpw(int t);

/* Dequantizes nrows rows of n_per_row weights of type t into dst. */
QTK_API qtk_status qtk_dequantize_rows(int t, const void *src, float *dst, int64_t nrows,
                               int64_t n_per_row, qtk_error *err);

/* Quantizer effort (qtk quantize --effort; docs/types.md "Effort levels"):
 * FAST = the reference's own search (its error, at least its speed);
 * DEFAULT = the best error at about the reference's speed; MAX = every
 * candidate and polishing step, whatever it costs. Every quantizer has
 * levels except Q8_0's and the float types', which ignore it (one search
 * each).
 * For a given level the bytes written do not depend on the ISA or the
 * thread count. */
typedef enum qtk_effort {
    QTK_EFFORT_DEFAULT = 0,
    QTK_EFFORT_FAST = 1,
    QTK_EFFORT_MAX = 2,
} qtk_effort;

/* "fast", "default", "max" (NULL for other values) and back (-1 if unknown). */
QTK_API const char *qtk_effort_name(int effort);
QTK_API int qtk_effort_from_name(const char *name);

/* Quantizes nrows rows; imatrix may be NULL. Fails with QTK_ERR_NUMERIC
 * (naming the row and column) if the input holds NaN/Inf. Effort
 * QTK_EFFORT_DEFAULT (qtk_quantize_rows_effort for another level). */
QTK_API qtk_status qtk_quantize_rows(int t, const float *src, void *dst, int64_t nrows,
                             int64_t n_per_row, const float *imatrix, qtk_error *err);
QTK_API qtk_status qtk_quantize_rows_effort(int t, const float *src, void *dst, int64_t nrows,
                                    int64_t n_per_row, const float *imatrix, int effort, qtk_error *err);

#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: layouts that change with kernels/ISAs, program helpers */
/* The vec_dot kernel the dispatcher picks for type t on this CPU (the best
 * available ISA), or NULL if the type has no dot product. */
QTK_API qtk_vec_dot_fn qtk_vec_dot_best(int t);

/* The multi-column kernel of the same ISA level qtk_vec_dot_best picks, or
 * NULL when that level has none for type t. */
QTK_API qtk_mul_mat_fn qtk_mul_mat_best(int t);
/* The ISA level of the kernels qtk_vec_dot_best and qtk_mul_mat_best pick for
 * type t on this CPU (under the qtk_set_max_isa cap); -1 when it has none. */
QTK_API int qtk_kernel_isa(int t);
/* The fastest from_float of type t on this CPU (from_float_isa, else
 * from_float; NULL for unknown types or types without one). */
QTK_API qtk_from_float_fn qtk_from_float_best(int t);

/* ------------------------------------------------------------------------ */
/* CPU features                                                              */
/* ------------------------------------------------------------------------ */

typedef struct qtk_cpu_features {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16;
    bool neon, neon_dotprod;
    bool avx512vbmi; /* appended: the fields before it keep their offsets */
} qtk_cpu_features;

/* Features of the running CPU (detected once, then cached). */
QTK_API const qtk_cpu_features *qtk_cpu(void);

/* Whether kernels of level `isa` can run on this CPU and are compiled in. */
QTK_API bool qtk_isa_available(qtk_isa isa);

/* Name of an ISA level ("scalar", "avx2", "avx512", "neon"). */
QTK_API const char *qtk_isa_name(qtk_isa isa);

/* Caps dispatch at `max_isa` (for tests/benchmarks); QTK_ISA_COUNT = no cap. */
QTK_API void qtk_set_max_isa(qtk_isa max_isa);
#endif /* QTK_EXPERIMENTAL_API */

/* ------------------------------------------------------------------------ */
/* Half-precision conversions (exactly as ggml rounds)                        */
/* ------------------------------------------------------------------------ */

QTK_API float qtk_fp16_to_fp32(uint16_t h);
QTK_API uint16_t qtk_fp32_to_fp16(float f);          /* round to nearest even */
QTK_API float qtk_bf16_to_fp32(uint16_t h);
QTK_API uint16_t qtk_fp32_to_bf16(float f);          /* RNE; NaN stays quiet NaN */

#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: layouts that change with kernels/ISAs, program helpers */
/* ------------------------------------------------------------------------ */
/* Core utilities (src/core; experimental)                                  */
/* ------------------------------------------------------------------------ */

/* Work function for qtk_parallel_for: processes items [begin, end). */
typedef void (*qtk_range_fn)(void *ctx, int64_t begin, int64_t end, int thread_index);

/* Splits [0, n) into nthreads contiguous ranges, runs fn on each in its own
 * thread (the caller takes the first) and waits for all. */
QTK_API void qtk_parallel_for(int nthreads, int64_t n, qtk_range_fn fn, void *ctx);

/* Number of logical CPUs (>= 1). */
QTK_API int qtk_cpu_count(void);

/* Monotonic wall clock in seconds. */
QTK_API double qtk_time_now(void);

/* Peak resident memory of this process so far in bytes (getrusage ru_maxrss
 * on POSIX, PeakWorkingSetSize on Windows); 0 where unknown. */
QTK_API uint64_t qtk_peak_rss_bytes(void);

/* For qtk's own programs (the CLI): */

#if defined(__MINGW32__) && (defined(__GNUC__) || defined(__clang__))
/* The library formats with C99 semantics (%zu, %lld) on mingw too (__USE_MINGW_ANSI_STDIO). */
#define QTK_API_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#elif defined(__GNUC__) || defined(__clang__)
#define QTK_API_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QTK_API_PRINTF(a, b)
#endif
/* Fills err (if not NULL) with code and a formatted message; returns code. */
QTK_API qtk_status qtk_set_error(qtk_error *err, qtk_status code, const char *fmt, ...) QTK_API_PRINTF(3, 4);
/* 1 when a and b both exist and are the same file (device + inode; Windows:
 * volume serial + file index), whatever the spelling (./x, ../d/x, symlinks,
 * hard links); 0 otherwise. */
QTK_API int qtk_same_file(const char *a, const char *b);
/* Installs handlers for SIGINT, SIGTERM and SIGHUP (Windows: console Ctrl-C,
 * Ctrl-Break, close) that remove every live temp file of the library's atomic
 * writers, then terminate the process as the signal would have (exit status
 * 128 + signal). Signals that are ignored (nohup) stay ignored. For programs;
 * the library never calls it. */
QTK_API void qtk_install_signal_cleanup(void);
/* Allocates size bytes aligned to 64 (NULL on failure); free with qtk_free_aligned. */
QTK_API void *qtk_malloc_aligned(size_t size);
QTK_API void qtk_free_aligned(void *p);
/* Files, for programs (the library's atomic writers use the same): */
/* Creates FINAL.tmp.XXXXXX beside final_path with an exclusive create, after
 * checking that final_path is not an input the library has mapped. The name
 * is registered for removal by qtk_install_signal_cleanup's handlers.
 * *tmp_path is malloc'ed (the caller frees it after commit or discard). */
QTK_API qtk_status qtk_tmpfile_create(const char *final_path, FILE **f, char **tmp_path, qtk_error *err);
/* Closes f (if not NULL), removes tmp_path and unregisters it. */
QTK_API void qtk_tmpfile_discard(FILE *f, const char *tmp_path);
/* Renames the (closed) temp file over final_path atomically and unregisters
 * it; 0 on success (on failure the caller still owns and discards it). */
QTK_API int qtk_tmpfile_commit(const char *tmp_path, const char *final_path);
/* Creates a directory (parents must exist; UTF-8 path on Windows too); 0 on
 * success or when it already is a directory, -1 otherwise (errno tells why). */
QTK_API int qtk_mkdir(const char *path);
#endif /* QTK_EXPERIMENTAL_API */

#ifdef __cplusplus
}
#endif
#endif /* QTK_TYPES_H */
