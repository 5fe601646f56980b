/*
 * qtk.h — the public interface of libqtk, a C11 library for LLM weight
 * quantization in GGUF files, bit-compatible with llama.cpp and ik_llama.cpp.
 *
 * Conventions
 *  - Every function that can fail returns a qtk_status and, when `err` is not
 *    NULL, fills it with a human-readable message naming the file, key or
 *    tensor involved. The library never prints and never exits.
 *  - Objects returned through `**out` are owned by the caller and released by
 *    the matching *_free / *_close function (NULL is always accepted there).
 *  - Sizes are int64_t / size_t; strings are NUL-terminated UTF-8.
 */
#ifndef QTK_H
#define QTK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QTK_VERSION_MAJOR 0
#define QTK_VERSION_MINOR 1
#define QTK_VERSION_PATCH 0
#define QTK_VERSION_STRING "0.1.0"

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
const char *qtk_status_name(qtk_status s);

/* Version string of the library, e.g. "0.1.0". */
const char *qtk_version(void);

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

/* Converts a row of n weights to float (n a multiple of the block size). */
typedef void (*qtk_to_float_fn)(const void *row, float *dst, int64_t n);

/* Quantizes nrows rows of n_per_row floats into dst (rows back to back).
 * imatrix: n_per_row importance weights or NULL. Returns bytes written,
 * or 0 on failure (only when the type cannot quantize the input, e.g. a
 * type that requires an imatrix got NULL). Never produces NaN/Inf from
 * finite input. */
typedef size_t (*qtk_quantize_fn)(const float *src, void *dst, int64_t nrows,
                                  int64_t n_per_row, const float *imatrix);

/* Quantizes one row of activations into the activation format (fast path). */
typedef void (*qtk_from_float_fn)(const float *src, void *dst, int64_t n);

/* *s = dot(weight row x of n values, activation row y in vec_dot_type). */
typedef void (*qtk_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

/* Instruction-set levels for which a type may provide a vec_dot kernel. */
typedef enum qtk_isa {
    QTK_ISA_SCALAR = 0,
    QTK_ISA_AVX2 = 1,     /* x86-64 AVX2 + FMA + F16C                   */
    QTK_ISA_AVX512 = 2,   /* AVX-512 F/BW/VL (+VNNI when the CPU has it)  */
    QTK_ISA_NEON = 3,     /* AArch64 Advanced SIMD (+dotprod if present) */
    QTK_ISA_COUNT = 4
} qtk_isa;

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
    qtk_type vec_dot_type;     /* activation format vec_dot expects         */
    qtk_to_float_fn to_float;
    qtk_quantize_fn quantize;
    qtk_from_float_fn from_float;
    qtk_vec_dot_fn vec_dot[QTK_ISA_COUNT];  /* [QTK_ISA_SCALAR] is the reference */
} qtk_type_traits;

/* Traits of type id `t`, or NULL when the id is not a known type. */
const qtk_type_traits *qtk_type_get(int t);

/* Type by name, case-insensitive ("Q4_K", "iq4_kss"); -1 if unknown. */
int qtk_type_from_name(const char *name);

/* Name of type `t` ("?" for unknown ids). */
const char *qtk_type_name(int t);

/* Number of rows in the table and the i-th row (for listing types). */
int qtk_type_count(void);
const qtk_type_traits *qtk_type_at(int i);

/* Bytes of one row of n_per_row weights: header + blocks. 0 when the type
 * is unknown or n_per_row is not a multiple of its block size. */
size_t qtk_row_size(int t, int64_t n_per_row);

/* Bits per weight of the blocks alone (header excluded). */
double qtk_type_bpw(int t);

/* Dequantizes nrows rows of n_per_row weights of type t into dst. */
qtk_status qtk_dequantize_rows(int t, const void *src, float *dst, int64_t nrows,
                               int64_t n_per_row, qtk_error *err);

/* Quantizes nrows rows; imatrix may be NULL. Fails with QTK_ERR_NUMERIC
 * (naming the row and column) if the input holds NaN/Inf. */
qtk_status qtk_quantize_rows(int t, const float *src, void *dst, int64_t nrows,
                             int64_t n_per_row, const float *imatrix, qtk_error *err);

/* The vec_dot kernel the dispatcher picks for type t on this CPU (the best
 * available ISA), or NULL if the type has no dot product. */
qtk_vec_dot_fn qtk_vec_dot_best(int t);

/* ------------------------------------------------------------------------ */
/* CPU features                                                              */
/* ------------------------------------------------------------------------ */

typedef struct qtk_cpu_features {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16;
    bool neon, neon_dotprod;
} qtk_cpu_features;

/* Features of the running CPU (detected once, then cached). */
const qtk_cpu_features *qtk_cpu(void);

/* Whether kernels of level `isa` can run on this CPU and are compiled in. */
bool qtk_isa_available(qtk_isa isa);

/* Name of an ISA level ("scalar", "avx2", "avx512", "neon"). */
const char *qtk_isa_name(qtk_isa isa);

/* Caps dispatch at `max_isa` (for tests/benchmarks); QTK_ISA_COUNT = no cap. */
void qtk_set_max_isa(qtk_isa max_isa);

/* ------------------------------------------------------------------------ */
/* Half-precision conversions (exactly as ggml rounds)                        */
/* ------------------------------------------------------------------------ */

float qtk_fp16_to_fp32(uint16_t h);
uint16_t qtk_fp32_to_fp16(float f);          /* round to nearest even */
float qtk_bf16_to_fp32(uint16_t h);
uint16_t qtk_fp32_to_bf16(float f);          /* RNE; NaN stays quiet NaN */

/* ------------------------------------------------------------------------ */
/* GGUF metadata                                                             */
/* ------------------------------------------------------------------------ */

typedef enum qtk_gguf_vtype {
    QTK_GGUF_UINT8 = 0,
    QTK_GGUF_INT8 = 1,
    QTK_GGUF_UINT16 = 2,
    QTK_GGUF_INT16 = 3,
    QTK_GGUF_UINT32 = 4,
    QTK_GGUF_INT32 = 5,
    QTK_GGUF_FLOAT32 = 6,
    QTK_GGUF_BOOL = 7,
    QTK_GGUF_STRING = 8,
    QTK_GGUF_ARRAY = 9,
    QTK_GGUF_UINT64 = 10,
    QTK_GGUF_INT64 = 11,
    QTK_GGUF_FLOAT64 = 12,
    QTK_GGUF_VTYPE_COUNT = 13
} qtk_gguf_vtype;

/* A metadata value. Scalars live in the union; strings are NUL-terminated
 * copies (len excludes the NUL, embedded NULs possible); arrays hold `n`
 * values of `elem_type` (nested arrays are arrays of qtk_gguf_value). */
typedef struct qtk_gguf_value {
    qtk_gguf_vtype type;
    union {
        uint64_t u64;   /* UINT8..UINT64, BOOL (0/1) */
        int64_t i64;    /* INT8..INT64               */
        double f64;     /* FLOAT32, FLOAT64          */
        struct { char *ptr; uint64_t len; } str;
        struct { qtk_gguf_vtype elem_type; uint64_t n; struct qtk_gguf_value *items; } arr;
    } v;
} qtk_gguf_value;

typedef struct qtk_gguf_kv {
    char *key;
    qtk_gguf_value value;
} qtk_gguf_kv;

/* An ordered list of key/value pairs with unique keys. */
typedef struct qtk_meta {
    qtk_gguf_kv *kv;
    int64_t n, cap;
} qtk_meta;

/* Frees every key and value of m and resets it to empty. */
void qtk_meta_clear(qtk_meta *m);
/* Index of key in m, or -1. */
int64_t qtk_meta_find(const qtk_meta *m, const char *key);
/* Value of key, or NULL. */
const qtk_gguf_value *qtk_meta_get(const qtk_meta *m, const char *key);
/* Deep-copies `val` under `key`, replacing an existing value of that key. */
qtk_status qtk_meta_set(qtk_meta *m, const char *key, const qtk_gguf_value *val, qtk_error *err);
/* Convenience setters (replace existing keys). */
qtk_status qtk_meta_set_u32(qtk_meta *m, const char *key, uint32_t v, qtk_error *err);
qtk_status qtk_meta_set_i32(qtk_meta *m, const char *key, int32_t v, qtk_error *err);
qtk_status qtk_meta_set_f32(qtk_meta *m, const char *key, float v, qtk_error *err);
qtk_status qtk_meta_set_bool(qtk_meta *m, const char *key, bool v, qtk_error *err);
qtk_status qtk_meta_set_str(qtk_meta *m, const char *key, const char *s, qtk_error *err);
/* Removes key if present. */
void qtk_meta_remove(qtk_meta *m, const char *key);
/* Deep copy of a whole list into an empty dst. */
qtk_status qtk_meta_copy(qtk_meta *dst, const qtk_meta *src, qtk_error *err);
/* Integer value of a scalar integer/bool key; false if absent or not integral. */
bool qtk_meta_get_int(const qtk_meta *m, const char *key, int64_t *out);
/* Float value of a scalar float or integer key. */
bool qtk_meta_get_float(const qtk_meta *m, const char *key, double *out);
/* String value of a string key, or NULL. */
const char *qtk_meta_get_str(const qtk_meta *m, const char *key);
/* Name of a value type ("u32", "str", "arr", ...). */
const char *qtk_gguf_vtype_name(qtk_gguf_vtype t);
/* Frees the contents of a value (not the struct itself). */
void qtk_gguf_value_free(qtk_gguf_value *v);

/* ------------------------------------------------------------------------ */
/* GGUF reader (read-only file mapping, strict validation)                    */
/* ------------------------------------------------------------------------ */

#define QTK_MAX_DIMS 4
#define QTK_GGUF_DEFAULT_ALIGNMENT 32

typedef struct qtk_tensor_info {
    char *name;
    qtk_type type;
    int n_dims;
    int64_t ne[QTK_MAX_DIMS];  /* unused dims are 1 */
    uint64_t offset;           /* relative to the data section            */
    uint64_t nbytes;           /* from the type table                    */
    const void *data;          /* pointer into the mapping (reader only)  */
} qtk_tensor_info;

typedef struct qtk_gguf qtk_gguf;

/* Opens and validates a GGUF v2/v3 file; data stays mapped until close.
 * Refused: keys or tensor names containing a NUL byte, arrays nested more
 * than 8 deep, and any inconsistency (counts, types, shapes, placement). */
qtk_status qtk_gguf_open(const char *path, qtk_gguf **out, qtk_error *err);
/* Parses a GGUF image from memory (not copied; must outlive the handle).
 * `name` is used in messages. For fuzzing and tests. */
qtk_status qtk_gguf_open_memory(const void *data, size_t size, const char *name,
                                qtk_gguf **out, qtk_error *err);
void qtk_gguf_close(qtk_gguf *g);

uint32_t qtk_gguf_version(const qtk_gguf *g);
uint64_t qtk_gguf_alignment(const qtk_gguf *g);
uint64_t qtk_gguf_data_offset(const qtk_gguf *g);   /* file offset of data section */
uint64_t qtk_gguf_file_size(const qtk_gguf *g);
const char *qtk_gguf_path(const qtk_gguf *g);
const qtk_meta *qtk_gguf_meta(const qtk_gguf *g);
int64_t qtk_gguf_n_tensors(const qtk_gguf *g);
const qtk_tensor_info *qtk_gguf_tensor(const qtk_gguf *g, int64_t i);
/* Index of the tensor called name, or -1. */
int64_t qtk_gguf_find_tensor(const qtk_gguf *g, const char *name);

/* Number of elements of a tensor (product of ne). */
int64_t qtk_tensor_nelements(const qtk_tensor_info *t);
/* Number of rows (ne[1]*ne[2]*ne[3]). */
int64_t qtk_tensor_nrows(const qtk_tensor_info *t);

/* ------------------------------------------------------------------------ */
/* GGUF writer (streamed, atomic: OUT.tmp then rename)                        */
/* ------------------------------------------------------------------------ */

typedef struct qtk_gguf_writer qtk_gguf_writer;

/* Starts writing `path` (actually `path`.tmp until qtk_gguf_writer_finish). */
qtk_status qtk_gguf_writer_open(const char *path, qtk_gguf_writer **out, qtk_error *err);
/* Metadata of the output; copied at header time (edit before first data). */
qtk_meta *qtk_gguf_writer_meta(qtk_gguf_writer *w);
/* Declares the next tensor (order = order in the file). */
qtk_status qtk_gguf_writer_add_tensor(qtk_gguf_writer *w, const char *name, qtk_type type,
                                      int n_dims, const int64_t *ne, qtk_error *err);
/* Streams `size` bytes of tensor data; tensors are filled in declaration
 * order, each exactly its nbytes, possibly over several calls. The header
 * is written on the first call. */
qtk_status qtk_gguf_writer_write(qtk_gguf_writer *w, const void *data, size_t size,
                                 qtk_error *err);
/* Checks every tensor got all its bytes, flushes, closes and renames the
 * temp file over `path`. Frees w in all cases. */
qtk_status qtk_gguf_writer_finish(qtk_gguf_writer *w, qtk_error *err);
/* Abandons the output: closes and deletes the temp file; `path` untouched. */
void qtk_gguf_writer_abort(qtk_gguf_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* QTK_H */
