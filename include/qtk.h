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

#ifdef QTK_TYPES_ONLY
#error "qtk.h is not part of the types module (QTK_TYPES_ONLY): include qtk_types.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The types module: the version macros (QTK_VERSION_*), QTK_API (what the
 * shared library exports), errors, type ids and traits, row (de)quantization,
 * CPU features, half floats. */
#include "qtk_types.h"

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
QTK_API void qtk_meta_clear(qtk_meta *m);
/* Index of key in m, or -1. */
QTK_API int64_t qtk_meta_find(const qtk_meta *m, const char *key);
/* Value of key, or NULL. */
QTK_API const qtk_gguf_value *qtk_meta_get(const qtk_meta *m, const char *key);
/* Deep-copies `val` under `key`, replacing an existing value of that key. */
QTK_API qtk_status qtk_meta_set(qtk_meta *m, const char *key, const qtk_gguf_value *val, qtk_error *err);
/* Convenience setters (replace existing keys). */
QTK_API qtk_status qtk_meta_set_u32(qtk_meta *m, const char *key, uint32_t v, qtk_error *err);
QTK_API qtk_status qtk_meta_set_i32(qtk_meta *m, const char *key, int32_t v, qtk_error *err);
QTK_API qtk_status qtk_meta_set_f32(qtk_meta *m, const char *key, float v, qtk_error *err);
QTK_API qtk_status qtk_meta_set_bool(qtk_meta *m, const char *key, bool v, qtk_error *err);
QTK_API qtk_status qtk_meta_set_str(qtk_meta *m, const char *key, const char *s, qtk_error *err);
/* Removes key if present. */
QTK_API void qtk_meta_remove(qtk_meta *m, const char *key);
/* Deep copy of a whole list into an empty dst. */
QTK_API qtk_status qtk_meta_copy(qtk_meta *dst, const qtk_meta *src, qtk_error *err);
/* Integer value of a scalar integer/bool key; false if absent or not integral. */
QTK_API bool qtk_meta_get_int(const qtk_meta *m, const char *key, int64_t *out);
/* Float value of a scalar float or integer key. */
QTK_API bool qtk_meta_get_float(const qtk_meta *m, const char *key, double *out);
/* String value of a string key, or NULL. */
QTK_API const char *qtk_meta_get_str(const qtk_meta *m, const char *key);
/* Name of a value type ("u32", "str", "arr", ...). */
QTK_API const char *qtk_gguf_vtype_name(qtk_gguf_vtype t);
/* Frees the contents of a value (not the struct itself). */
QTK_API void qtk_gguf_value_free(qtk_gguf_value *v);

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
 * than 8 deep, and any inconsistency (counts, types, shapes, placement).
 * Split models (llama.cpp gguf-split, PREFIX-00001-of-0000N.gguf): opening
 * the first part opens all N parts and presents ONE model — the tensors of
 * part 1, then part 2, ... (each tensor's data points into its own part's
 * mapping, its offset is relative to that part's data section), the
 * metadata of part 1 (version, alignment, data offset are part 1's;
 * qtk_gguf_file_size is the sum of all parts). The split.* keys describe the
 * file layout, not the model, and are removed from the metadata (also from
 * an unsplit file); qtk_gguf_n_parts / qtk_gguf_tensor_part give the layout.
 * Refused: opening part 2..N (the message names the first part), a missing
 * part (named), parts whose split.no / split.count / split.tensors.count
 * disagree, a tensor in two parts. */
QTK_API qtk_status qtk_gguf_open(const char *path, qtk_gguf **out, qtk_error *err);
/* Opens exactly one file as stored: no split handling, split.* keys kept. */
QTK_API qtk_status qtk_gguf_open_part(const char *path, qtk_gguf **out, qtk_error *err);
#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: layouts that change with kernels/ISAs, program helpers */
/* Parses a GGUF image from memory (not copied; must outlive the handle).
 * `name` is used in messages. For fuzzing and tests. One file as stored,
 * like qtk_gguf_open_part (no split handling, split.* keys kept). */
QTK_API qtk_status qtk_gguf_open_memory(const void *data, size_t size, const char *name,
                                qtk_gguf **out, qtk_error *err);
#endif /* QTK_EXPERIMENTAL_API */
QTK_API void qtk_gguf_close(qtk_gguf *g);

QTK_API uint32_t qtk_gguf_version(const qtk_gguf *g);
QTK_API uint64_t qtk_gguf_alignment(const qtk_gguf *g);
QTK_API uint64_t qtk_gguf_data_offset(const qtk_gguf *g);   /* file offset of data section */
QTK_API uint64_t qtk_gguf_file_size(const qtk_gguf *g);
QTK_API const char *qtk_gguf_path(const qtk_gguf *g);
QTK_API const qtk_meta *qtk_gguf_meta(const qtk_gguf *g);
QTK_API int64_t qtk_gguf_n_tensors(const qtk_gguf *g);
QTK_API const qtk_tensor_info *qtk_gguf_tensor(const qtk_gguf *g, int64_t i);
/* Index of the tensor called name, or -1. */
QTK_API int64_t qtk_gguf_find_tensor(const qtk_gguf *g, const char *name);

/* Split models (llama.cpp gguf-split / llama-quantize --keep-split). Every
 * part is a complete GGUF file with split.no (u16, 0-based), split.count
 * (u16) and split.tensors.count (i32, tensors of all parts); part 1 also
 * holds the model metadata. */
#define QTK_KV_SPLIT_NO "split.no"
#define QTK_KV_SPLIT_COUNT "split.count"
#define QTK_KV_SPLIT_TENSORS_COUNT "split.tensors.count"
#define QTK_SPLIT_MAX 65535
/* Number of files of the model (1 unless opened from a split's first part). */
QTK_API int qtk_gguf_n_parts(const qtk_gguf *g);
/* Path / byte size of part `part` (0-based); NULL / 0 when out of range. */
QTK_API const char *qtk_gguf_part_path(const qtk_gguf *g, int part);
QTK_API uint64_t qtk_gguf_part_size(const qtk_gguf *g, int part);
/* 0-based part holding tensor i (0 for unsplit models), -1 when i is out of range. */
QTK_API int qtk_gguf_tensor_part(const qtk_gguf *g, int64_t i);
/* llama_split_path: writes "PREFIX-%05d-of-%05d.gguf" (split_no + 1,
 * split_count) into buf; returns its length, or -1 if it does not fit or
 * the numbers are invalid. */
QTK_API int qtk_split_path(char *buf, size_t size, const char *prefix, int split_no, int split_count);
/* llama_split_prefix: when path ends in "-%05d-of-%05d.gguf" of (split_no + 1,
 * split_count), writes the part before it into buf and returns its length;
 * else -1. */
QTK_API int qtk_split_prefix(char *buf, size_t size, const char *path, int split_no, int split_count);

/* Number of elements of a tensor (product of ne). */
QTK_API int64_t qtk_tensor_nelements(const qtk_tensor_info *t);
/* Number of rows (ne[1]*ne[2]*ne[3]). */
QTK_API int64_t qtk_tensor_nrows(const qtk_tensor_info *t);

/* ------------------------------------------------------------------------ */
/* GGUF writer (streamed, atomic: OUT.tmp.XXXXXX then rename)                 */
/* ------------------------------------------------------------------------ */

typedef struct qtk_gguf_writer qtk_gguf_writer;

/* Starts writing `path` (actually a new, unique `path`.tmp.XXXXXX until
 * qtk_gguf_writer_finish renames it). Fails, naming both files, when `path`
 * exists and is the same file (device + inode, any spelling) as a GGUF or
 * imatrix file currently open through this library. */
QTK_API qtk_status qtk_gguf_writer_open(const char *path, qtk_gguf_writer **out, qtk_error *err);
/* Metadata of the output; copied at header time (edit before first data). */
QTK_API qtk_meta *qtk_gguf_writer_meta(qtk_gguf_writer *w);
/* Declares the next tensor (order = order in the file). */
QTK_API qtk_status qtk_gguf_writer_add_tensor(qtk_gguf_writer *w, const char *name, qtk_type type,
                                      int n_dims, const int64_t *ne, qtk_error *err);
/* Streams `size` bytes of tensor data; tensors are filled in declaration
 * order, each exactly its nbytes, possibly over several calls. The header
 * is written on the first call. */
QTK_API qtk_status qtk_gguf_writer_write(qtk_gguf_writer *w, const void *data, size_t size,
                                 qtk_error *err);
/* Checks every tensor got all its bytes, flushes, closes and renames the
 * temp file over `path`. Frees w in all cases. */
QTK_API qtk_status qtk_gguf_writer_finish(qtk_gguf_writer *w, qtk_error *err);
/* Abandons the output: closes and deletes the temp file; `path` untouched. */
QTK_API void qtk_gguf_writer_abort(qtk_gguf_writer *w);

/* ------------------------------------------------------------------------ */
/* Importance matrices (llama.cpp legacy .dat and GGUF imatrix files)         */
/* ------------------------------------------------------------------------ */

typedef enum qtk_imatrix_format {
    QTK_IMATRIX_LEGACY = 1,   /* binary .dat: n_entries, name, ncall, nval, values */
    QTK_IMATRIX_GGUF = 2      /* GGUF with <name>.in_sum2 / <name>.counts tensors  */
} qtk_imatrix_format;

typedef struct qtk_imatrix qtk_imatrix;

/* One tensor's importances. MoE expert tensors hold n_mat matrices back to
 * back. A matrix that saw no activations (count 0) gets uniform 1.0 values,
 * as llama.cpp's quantize does; counts[m] == 0 tells the caller so. */
typedef struct qtk_imatrix_entry {
    const char *name;      /* tensor name, e.g. "blk.0.attn_q.weight"            */
    int64_t n_per_row;     /* GGUF: ne[0]; legacy: nval (the split is not stored) */
    int64_t n_mat;         /* GGUF: matrices (experts); legacy: 1                 */
    int64_t nval;          /* n_per_row * n_mat                                   */
    int64_t ncall;         /* legacy: the ncall field; GGUF: largest count        */
    const float *values;   /* nval importances, normalised (sum / count)         */
    const float *counts;   /* n_mat; legacy: ncall; 0 = no data for that matrix   */
} qtk_imatrix_entry;

/* Loads an imatrix file of either format (chosen by the "GGUF" magic) and
 * validates it fully: sizes, names (unique), counts, values finite and >= 0. */
QTK_API qtk_status qtk_imatrix_load(const char *path, qtk_imatrix **out, qtk_error *err);
QTK_API void qtk_imatrix_free(qtk_imatrix *im);
/* Format the file was in. */
QTK_API qtk_imatrix_format qtk_imatrix_get_format(const qtk_imatrix *im);
/* Number of entries and the i-th one in file order (NULL when out of range). */
QTK_API int64_t qtk_imatrix_count(const qtk_imatrix *im);
QTK_API const qtk_imatrix_entry *qtk_imatrix_at(const qtk_imatrix *im, int64_t i);
/* Entry of a tensor by exact name, or NULL. */
QTK_API const qtk_imatrix_entry *qtk_imatrix_find(const qtk_imatrix *im, const char *tensor_name);
/* The n_per_row weights of matrix `mat` (0 <= mat < n_mat) of a tensor with
 * rows of n_per_row and n_mat matrices (ne[2] for expert tensors, else 1);
 * NULL when absent or when the entry's size is not n_per_row * n_mat (GGUF:
 * also when its ne[0] differs), like the reference's size check. */
QTK_API const float *qtk_imatrix_for(const qtk_imatrix *im, const char *tensor_name, int64_t n_per_row,
                             int64_t n_mat, int64_t mat);
/* Chunk count / chunk size if recorded, else -1 (legacy never has a size). */
QTK_API int64_t qtk_imatrix_chunks(const qtk_imatrix *im);
QTK_API int64_t qtk_imatrix_chunk_size(const qtk_imatrix *im);
/* Dataset file names recorded in the file (legacy: at most one). */
QTK_API int64_t qtk_imatrix_n_datasets(const qtk_imatrix *im);
QTK_API const char *qtk_imatrix_dataset(const qtk_imatrix *im, int64_t i);

/* Accumulator for computing an imatrix: per tensor the sum of squared
 * activations per column and matrix (double) and the number of activation
 * rows added per matrix. */
typedef struct qtk_imatrix_acc qtk_imatrix_acc;

QTK_API qtk_status qtk_imatrix_acc_create(qtk_imatrix_acc **out, qtk_error *err);
QTK_API void qtk_imatrix_acc_free(qtk_imatrix_acc *acc);
/* Index of tensor `name`, adding it (zeroed) if new; fails when it exists
 * with another shape. Indices stay valid until the accumulator is freed. */
QTK_API qtk_status qtk_imatrix_acc_tensor(qtk_imatrix_acc *acc, const char *name, int64_t n_per_row,
                                  int64_t n_mat, int64_t *index, qtk_error *err);
/* Adds n_rows activation rows (n_per_row floats each, contiguous) to matrix
 * `mat` of tensor `index`: sums += x^2, counts[mat] += n_rows. NaN/Inf in x
 * fails with QTK_ERR_NUMERIC and adds nothing. */
QTK_API qtk_status qtk_imatrix_acc_add(qtk_imatrix_acc *acc, int64_t index, int64_t mat, const float *x,
                               int64_t n_rows, qtk_error *err);
/* Records the chunks processed and tokens per chunk (stored in both formats). */
QTK_API qtk_status qtk_imatrix_acc_set_chunks(qtk_imatrix_acc *acc, int64_t chunk_count, int64_t chunk_size,
                                      qtk_error *err);
/* Appends a dataset file name (legacy files keep only the first). */
QTK_API qtk_status qtk_imatrix_acc_add_dataset(qtk_imatrix_acc *acc, const char *name, qtk_error *err);
/* Number of tensors in the accumulator. */
QTK_API int64_t qtk_imatrix_acc_count(const qtk_imatrix_acc *acc);
/* Float running sums (on) instead of double (off, the default) in
 * qtk_imatrix_acc_add: the arithmetic of llama-imatrix (ik_llama.cpp and
 * llama.cpp keep float sums), for files that match the reference's to
 * ~3e-5 instead of ~1e-4 (its rounding error; docs/imatrix.md). */
QTK_API void qtk_imatrix_acc_set_f32_sums(qtk_imatrix_acc *acc, bool on);
/* Chunk count / chunk size recorded so far (0 when not set). */
QTK_API int64_t qtk_imatrix_acc_chunks(const qtk_imatrix_acc *acc);
QTK_API int64_t qtk_imatrix_acc_chunk_size(const qtk_imatrix_acc *acc);
/* Adds a loaded imatrix, weighted by its counts (llama-imatrix --in-file):
 * per matrix sums += values * count, counts += count. A legacy entry counts
 * ncall * legacy_chunk_size tokens (the format records calls, not tokens:
 * llama.cpp's guess); with `model` given, a legacy entry of a 3-D tensor
 * (nval = ne[0] * ne[2]) is split into its ne[2] experts, each with that
 * count. Matrices with count 0 add nothing. The chunk count grows by the
 * file's (or, when not recorded, max count / legacy_chunk_size) and its
 * datasets are appended. Fails, adding nothing, on a shape conflict. */
QTK_API qtk_status qtk_imatrix_acc_merge(qtk_imatrix_acc *acc, const qtk_imatrix *im, int64_t legacy_chunk_size,
                                 const qtk_gguf *model, qtk_error *err);

/* Writes the legacy .dat format atomically (PATH.tmp.XXXXXX, then rename), entries
 * sorted by name; tensors that never got data are left out. Per entry
 * ncall = ceil(max count / chunk_size) (max count without a chunk size)
 * and stored values = sum / count * ncall, so load gives sum / count. */
QTK_API qtk_status qtk_imatrix_save_dat(const char *path, const qtk_imatrix_acc *acc, qtk_error *err);
/* Writes the GGUF imatrix format atomically through qtk_gguf_writer:
 * general.type "imatrix", imatrix.datasets/chunk_count/chunk_size, and per
 * tensor (sorted by name) F32 <name>.in_sum2 [n_per_row, n_mat] and
 * <name>.counts [1, n_mat]; tensors that never got data are left out. */
QTK_API qtk_status qtk_imatrix_save_gguf(const char *path, const qtk_imatrix_acc *acc, qtk_error *err);

/* ------------------------------------------------------------------------ */
/* Quantization recipes and plans                                            */
/* ------------------------------------------------------------------------ */

/* llama-quantize's per-tensor options. Type fields are type ids, -1 = not
 * given. They act where the reference consults them (MIXES §6, §8.2). */
typedef struct qtk_quant_overrides {
    int output_tensor_type, token_embedding_type;
    int attn_q_type, attn_k_type, attn_v_type, attn_qkv_type, attn_output_type;
    int ffn_gate_type, ffn_down_type, ffn_up_type;
    int ffn_gate_inp_type;      /* --ffn-gate-inp-type: quantize the MoE router   */
    bool leave_output_tensor;   /* --leave-output-tensor                          */
    bool pure;                  /* --pure: no built-in rules                      */
    bool ignore_imatrix_rules;  /* --ignore-imatrix-rules                         */
    bool compat_mainline;       /* --compat mainline: stock llama-quantize's rules
                                   for the mainline presets; ik_llama.cpp-only types
                                   (presets, options, rules, fallbacks) refused    */
} qtk_quant_overrides;

/* Sets every type to -1 and every flag to false. */
QTK_API void qtk_quant_overrides_init(qtk_quant_overrides *o);

/* A parsed recipe: default type, file type and ordered rules (docs/recipes.md). */
typedef struct qtk_recipe qtk_recipe;

/* Recipe of a built-in preset by name (case-insensitive: "Q4_K_M", "iq4_kss")
 * or llama_ftype number ("15"), with the overrides (NULL = none) written in as
 * rules; an unknown name fails listing the valid presets. */
QTK_API qtk_status qtk_recipe_from_preset(const char *name_or_ftype_number, const qtk_quant_overrides *ov,
                                  qtk_recipe **out, qtk_error *err);
/* Parses recipe text; `origin` (a file name) prefixes messages ("r.txt:12: ..."). */
QTK_API qtk_status qtk_recipe_parse(const char *text, const char *origin, qtk_recipe **out, qtk_error *err);
/* Adds a --custom-q / --tensor-type rule: regex searched anywhere in the name;
 * custom rules are consulted before the recipe's rules, in the order added. */
QTK_API qtk_status qtk_recipe_add_custom(qtk_recipe *r, const char *pattern, int type, qtk_error *err);
/* For recipe files: per-class options become top-priority rules, the
 * output/token/router types and --leave-output-tensor become force rules;
 * --pure is refused (a recipe file has exactly its own rules). */
QTK_API qtk_status qtk_recipe_apply_overrides(qtk_recipe *r, const qtk_quant_overrides *ov, qtk_error *err);
/* Canonical text that parses back into the same recipe (malloc'ed; NULL on OOM). */
QTK_API char *qtk_recipe_text(const qtk_recipe *r);
/* llama_ftype to store as general.file_type (from `file_type`, else derived
 * from the default type; -1 if neither gives one). */
QTK_API int qtk_recipe_file_type(const qtk_recipe *r);
/* The recipe's default type id. */
QTK_API int qtk_recipe_default_type(const qtk_recipe *r);
QTK_API void qtk_recipe_free(qtk_recipe *r);
/* Names of the built-in presets (NULL-terminated static array; *n = count). */
QTK_API const char *const *qtk_preset_names(int *n);
/* One-line description of a preset, or NULL. */
QTK_API const char *qtk_preset_description(const char *name);
/* The preset's name as llama-quantize spells it in default output names
 * (ggml-model-NAME.gguf): the table spelling of the name or alias given
 * (case-insensitive), for an ftype number the first name llama-quantize lists
 * for it (the alias Q4_K for 15); NULL when neither names a preset. */
QTK_API const char *qtk_preset_canonical_name(const char *name_or_ftype_number);
/* llama_ftype of a preset name or number, or -1. */
QTK_API int qtk_preset_ftype(const char *name_or_ftype_number);
/* Types the preset's rules can choose (default type and every rule result)
 * that this build cannot quantize: the type table has no quantize function
 * for them. Writes up to max ids to types, returns how many there are (-1 for
 * an unknown preset); *base_missing tells whether the default type is one. */
QTK_API int qtk_preset_missing_types(const char *name_or_ftype_number, int *types, int max, bool *base_missing);

/* The decision for one tensor of a model. */
typedef struct qtk_plan_item {
    int64_t tensor;             /* index in the model                             */
    int type;                   /* output type (the input type when !quantize)    */
    bool quantize;              /* false: the tensor is copied unchanged          */
    bool has_imatrix;           /* the imatrix has an entry for this tensor       */
    int64_t layer;              /* layer index the rules saw, -1 if none          */
    char reason[160];           /* rule / recipe line / fallback that decided     */
    uint64_t bytes;             /* output bytes of the tensor data (no padding)   */
} qtk_plan_item;

typedef struct qtk_plan {
    int64_t n;                  /* = number of tensors of the model               */
    qtk_plan_item *items;
    int file_type;              /* llama_ftype for general.file_type              */
    uint64_t total_bytes;       /* sum of items[].bytes                           */
    uint64_t total_bytes_padded;/* same with each tensor padded to 32 bytes       */
    int64_t total_params;       /* elements of all tensors                        */
    int64_t n_quantized;        /* items with quantize == true                    */
} qtk_plan;

/* Decides every tensor's type (MIXES §2–§6): recipe rules, block-size
 * fallback, forced types. `im` may be NULL (no imatrix). Fails naming the
 * tensor when an already quantized tensor would be requantized without
 * allow_requantize, a forced type does not fit the row length, or a type
 * of the recipe's requires_imatrix list has no imatrix entry. */
QTK_API qtk_status qtk_plan_make(const qtk_gguf *model, const qtk_recipe *r, const qtk_imatrix *im, bool allow_requantize,
                         qtk_plan **out, qtk_error *err);
QTK_API void qtk_plan_free(qtk_plan *p);
/* Fails (QTK_ERR_UNSUPPORTED) when the plan quantizes a tensor to a type this
 * build cannot quantize (no quantize function in the type table), naming the
 * recipe's origin ("preset IQ2_S") and every such type with its tensor count. */
QTK_API qtk_status qtk_plan_check_types(const qtk_plan *plan, const qtk_recipe *r, qtk_error *err);

/* ------------------------------------------------------------------------ */
/* Model quantization (streams a model through a plan)                        */
/* ------------------------------------------------------------------------ */

/* Reported after every tensor written. */
typedef struct qtk_quantize_progress {
    int64_t index, total;          /* tensor index (0-based) and tensor count */
    const qtk_tensor_info *tensor; /* the input tensor                         */
    int out_type;                  /* its type in the output                  */
    bool quantized;                /* false: copied unchanged                 */
    double seconds;                /* time spent on this tensor               */
    double elapsed;                /* since the start                         */
    uint64_t bytes_in, bytes_out;  /* input consumed / output written so far   */
} qtk_quantize_progress;

typedef void (*qtk_quantize_progress_fn)(void *user, const qtk_quantize_progress *p);

typedef struct qtk_quantize_params {
    int nthreads;                        /* rows of a tensor split across threads */
    const qtk_imatrix *imatrix;          /* may be NULL                           */
    const char *const *include_weights;  /* imatrix only for names containing one */
    int n_include;
    const char *const *exclude_weights;  /* no imatrix for names containing one   */
    int n_exclude;
    const qtk_recipe *recipe;            /* stored as quantize.recipe (may be NULL) */
    const char *imatrix_path;            /* named in messages; stored as quantize.imatrix.file
                                            when some tensor uses the imatrix (may be NULL) */
    const qtk_meta *extra_meta;          /* keys added/replaced in the output     */
    qtk_quantize_progress_fn progress;   /* may be NULL                           */
    void *progress_ud;
    bool keep_split;                     /* one output part per input part (below) */
    int effort;                          /* qtk_effort: QTK_EFFORT_DEFAULT (0), _FAST, _MAX.
                                            (last member: it changes sizeof, so callers
                                            built against an older qtk.h are rebuilt, docs/api.md) */
} qtk_quantize_params;

/* Defaults: 1 thread, no imatrix, no callbacks, QTK_EFFORT_DEFAULT. */
QTK_API void qtk_quantize_params_init(qtk_quantize_params *p);

/* The importance weights quantize_model uses for matrix `mat` of tensor t (NULL if none). */
QTK_API const float *qtk_quantize_imatrix_for(const qtk_quantize_params *p, const qtk_tensor_info *t, int64_t mat);

/* Everything qtk_quantize_model checks before writing a byte: decodable
 * sources, target types this build can quantize (qtk_plan_check_types),
 * block sizes, required imatrix entries, and imatrix entries whose size does
 * not fit their tensor ("imatrix entry X has N values, tensor has M columns",
 * naming p->imatrix_path; token_embd.weight is exempt as in llama-quantize:
 * it is quantized without). Dry runs call it too. */
QTK_API qtk_status qtk_quantize_check(const qtk_gguf *in, const qtk_plan *plan, const qtk_quantize_params *p, qtk_error *err);

/* Number of quantized tensors of the plan that get importance weights from
 * p (entry present, of the right size, allowed by include/exclude). */
QTK_API int64_t qtk_quantize_imatrix_used(const qtk_gguf *in, const qtk_plan *plan, const qtk_quantize_params *p);

/* Writes out_path (atomically) with in's metadata, general.file_type of the
 * plan, general.quantization_version 2, quantize.recipe, quantize.imatrix.file
 * (p->imatrix_path) / entries_count (the entries actually used) / chunks_count
 * when some tensor was quantized with the imatrix (+ extra_meta last), and
 * every tensor converted as the
 * plan says. Checks everything checkable (qtk_quantize_check) before
 * writing; NaN/Inf weights fail naming the tensor and the first bad index.
 * Output bytes are identical for any thread count.
 * keep_split (llama-quantize --keep-split): instead of out_path, writes one
 * file per part of `in` — qtk_split_out_path(out_path, k, n_parts) — holding
 * the tensors of input part k; part 0 gets the metadata, every part (when
 * n_parts > 1) split.no / split.count / split.tensors.count as gguf-split
 * sets them. All parts are written to temp files first and renamed at the
 * end; if one cannot be renamed, the parts already renamed are removed.
 * Without keep_split the output is one file without split.* keys. */
QTK_API qtk_status qtk_quantize_model(const qtk_gguf *in, const qtk_plan *plan, const char *out_path,
                              const qtk_quantize_params *p, qtk_error *err);
/* Name of output part split_no of split_count for --keep-split: OUT without
 * a trailing ".gguf", then "-%05d-of-%05d.gguf" (as llama-quantize names
 * them; also for an unsplit input: OUT-00001-of-00001.gguf). Returns the
 * length, or -1 if it does not fit. */
QTK_API int qtk_split_out_path(char *buf, size_t size, const char *out_path, int split_no, int split_count);

/* Size of the header qtk_quantize_model writes for (in, plan, p) as ONE
 * file (keep_split ignored): magic, key/values and tensor infos, without
 * the padding to the alignment; *alignment (may be NULL) gets the output's
 * alignment. recipe_text, when not NULL, replaces the quantize.recipe value
 * (p->recipe's text otherwise; "" = the key with an empty string). Built by
 * the same code that writes the real header. */
QTK_API qtk_status qtk_quantize_header_size(const qtk_gguf *in, const qtk_plan *plan, const qtk_quantize_params *p,
                                    const char *recipe_text, uint64_t *header_bytes, uint64_t *alignment,
                                    qtk_error *err);

/* ------------------------------------------------------------------------ */
/* Automatic mixes: measurement (qtk measure; docs/planner.md)                */
/* ------------------------------------------------------------------------ */

/* A measurement table: per candidate tensor and candidate type the exact
 * bytes and the measured error terms (the TSV format of docs/planner.md). */
typedef struct qtk_measure_table qtk_measure_table;

/* Reads a table; every malformed line fails with "FILE:LINE: reason"; a
 * newer format version, another error metric or an unknown type name is
 * refused. */
QTK_API qtk_status qtk_measure_table_load(const char *path, qtk_measure_table **out, qtk_error *err);
/* Writes a table atomically (PATH.tmp.XXXXXX, then rename); deterministic. */
QTK_API qtk_status qtk_measure_table_save(const qtk_measure_table *t, const char *path, qtk_error *err);
QTK_API void qtk_measure_table_free(qtk_measure_table *t);
/* Tensors the table holds / its shard (I/N) should hold. */
QTK_API int64_t qtk_measure_table_n_tensors(const qtk_measure_table *t);
QTK_API int64_t qtk_measure_table_n_expected(const qtk_measure_table *t);
/* Fails (naming origin) unless the table is a whole model's: shard 1/1
 * with every candidate tensor. */
QTK_API qtk_status qtk_measure_table_check_complete(const qtk_measure_table *t, const char *origin, qtk_error *err);
/* Joins shard tables (names[] are their file names, for messages) into one
 * table of shard 1/1. Refused, naming files and tensors: differing model or
 * imatrix hash, metric, types, sampling or header fields; a tensor in two
 * tables; candidate tensors missing (incomplete or absent shards). */
QTK_API qtk_status qtk_measure_table_merge(const qtk_measure_table *const *parts, const char *const *names, int n,
                                   qtk_measure_table **out, qtk_error *err);
/* SHA-256 (64 hex digits) over every tensor in file order: name, NUL,
 * type (u32 LE), n_dims (u32 LE), ne[0..n_dims) (u64 LE), nbytes (u64 LE),
 * data. Streams the tensors one at a time. */
QTK_API qtk_status qtk_measure_model_hash(const qtk_gguf *g, char hex[65], qtk_error *err);
/* SHA-256 of a file's bytes (the imatrix). */
QTK_API qtk_status qtk_measure_file_hash(const char *path, char hex[65], qtk_error *err);
/* Fails, naming origin, when the table was not made from this model
 * (model_hash) or this imatrix (imatrix_hash; "-" or NULL = none). */
QTK_API qtk_status qtk_measure_table_check_source(const qtk_measure_table *t, const char *origin, const char *model_hash,
                                          const char *imatrix_hash, qtk_error *err);

/* Reported after the hash pass and after every measured tensor. */
typedef struct qtk_measure_progress {
    int64_t done, total;           /* tensors measured in this run / to measure */
    int64_t skipped;               /* tensors taken from an existing table     */
    const char *tensor;            /* the tensor just measured (NULL: hashing done) */
    int n_cand;                    /* its candidate types                      */
    int64_t rows, rows_total;      /* rows sampled / rows of the tensor        */
    double seconds, elapsed;       /* this tensor; since the start            */
    double work_done, work_total;  /* weights x candidates, for an ETA          */
} qtk_measure_progress;

typedef void (*qtk_measure_progress_fn)(void *user, const qtk_measure_progress *p);

typedef struct qtk_measure_params {
    int nthreads;                  /* < 1: 1                                   */
    const char *imatrix_path;      /* NULL: no imatrix (unit weights)          */
    const int *types;              /* candidate types; NULL: qtk_measure_default_types */
    int n_types;
    int shard_index, shard_count;  /* measure only shard I of N (1/1: all)    */
    double checkpoint_seconds;     /* save the table so far at most this often
                                      (< 0: only at the end); default 60       */
    qtk_measure_progress_fn progress; /* may be NULL                           */
    void *progress_ud;
} qtk_measure_params;

/* Defaults: 1 thread, no imatrix, default types, shard 1/1, checkpoints every 60 s. */
QTK_API void qtk_measure_params_init(qtk_measure_params *p);
/* The default candidate types: every quantized file type this build can
 * quantize (type table), in id order. Writes up to max ids, returns the count. */
QTK_API int qtk_measure_default_types(int *types, int max);
/* The measure pass (PLANNER.md §4.2) of `model` into out_path. When
 * out_path already holds a table of the same model, imatrix, types, shard
 * and sampling, its tensors are kept and only the others measured
 * (resume); a table of anything else there is refused, never overwritten.
 * The table is saved atomically (also at checkpoints); the result is
 * byte-identical for any thread count and for resumed runs. */
QTK_API qtk_status qtk_measure_model(const qtk_gguf *model, const qtk_measure_params *p, const char *out_path,
                             qtk_error *err);

/* KLD probes (PLANNER.md §4.3 stage C; docs/planner.md "KLD probes"). */
typedef struct qtk_probe_progress {
    int64_t done, total;           /* probes done / selected (including skipped) */
    int64_t skipped;               /* probes already in the table               */
    const char *tensor;            /* the tensor just probed (NULL: start)      */
    int type;                      /* its probe type                            */
    double dkld, dkld_se;          /* mean KLD vs the unmodified model, its se  */
    double ratio;                  /* dkld / eps_abs (the α this probe gives)   */
    double elapsed, seconds;       /* since the start; this probe               */
} qtk_probe_progress;

typedef void (*qtk_probe_progress_fn)(void *user, const qtk_probe_progress *p);

typedef struct qtk_probe_params {
    const char *model_path;        /* the model the table was measured on (SHA-256 checked) */
    const char *imatrix_path;      /* the imatrix it was measured with, or NULL  */
    const char *text_path;         /* text the probes evaluate (held out from the validation text) */
    int64_t n_ctx;                 /* tokens per chunk (default 512)            */
    int64_t n_chunks;              /* chunks (default 32; < 0: all)             */
    int n_threads;                 /* default 1                                 */
    int probe_type;                /* α probe type (default IQ2_KS; a tensor without it as a
                                      candidate uses its smallest candidate)    */
    const int *extra_types;        /* also probed on the selected tensors, giving them an α per
                                      candidate type (default IQ3_S, Q4_K, Q6_K; n_extra 0: none) */
    int n_extra;
    bool all_types;                /* every candidate of the selected tensors (additive KLD cost) */
    int n_layers;                  /* per class: tensors probed, spread over depth (first and last
                                      included; default 5); <= 0: every tensor */
    qtk_probe_progress_fn progress; /* may be NULL                              */
    void *progress_ud;
} qtk_probe_params;

QTK_API void qtk_probe_params_init(qtk_probe_params *p);
/* Runs the probes the table at table_path lacks and rewrites it (atomically,
 * after every probed tensor, so a rerun continues): for each selected
 * (tensor, type), the tensor alone is quantized (production quantizer,
 * imatrix) and the model evaluated on the text through qtk's engine; the
 * mean KL divergence against the unmodified model is the pair's ΔKLD. Then
 * sets every tensor's α = ΔKLD / eps_abs at the probe type, interpolated
 * over depth within a class for the tensors not probed. Probes made with
 * other settings (text, context, chunks, probe type) are discarded. */
QTK_API qtk_status qtk_measure_probe(const char *table_path, const qtk_probe_params *p, qtk_error *err);

/* ------------------------------------------------------------------------ */
/* Automatic mixes: planner (qtk plan; docs/planner.md, section "Planner")    */
/* ------------------------------------------------------------------------ */

/* Parses a size: a bare number is bytes; B, KiB/MiB/GiB/TiB (1024^k) and
 * KB/MB/GB/TB (1000^k), case-insensitive, fractions with a unit ("13.5GiB",
 * rounded down). Errors name the text. */
QTK_API qtk_status qtk_parse_size(const char *text, uint64_t *out, qtk_error *err);

typedef struct qtk_autoplan_target {
    uint64_t target_size;  /* whole output file in bytes (never exceeded); 0 = not given */
    double target_bpw;     /* bits per weight as llama.cpp prints; 0 = not given        */
    bool compat_mainline;  /* only types stock llama.cpp loads                          */
    const char *comment;   /* a comment line for the recipe (no newline); may be NULL   */
} qtk_autoplan_target;

/* The automatic mix of model g for a target, as recipe text (one rule per
 * tensor; qtk_recipe_parse it and quantize with it): solved on the
 * measurement table at table_path, which must be complete and made from g
 * and from p->imatrix_path (SHA-256; refused with a message naming both
 * otherwise). The header size is recomputed for this run's params p
 * (imatrix path spelling, extra metadata), so the file qtk_quantize_model
 * then writes with p is never larger than target_size. *recipe_text is
 * malloc'ed; file_size, bpw, cost (each may be NULL) get the predictions. */
QTK_API qtk_status qtk_autoplan_for_model(const qtk_gguf *g, const char *table_path, const qtk_quantize_params *p,
                                          const qtk_autoplan_target *t, char **recipe_text, uint64_t *file_size,
                                          double *bpw, double *cost, qtk_error *err);

#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: layouts that change with kernels/ISAs, program helpers */
/* Engine hooks of `qtk bench types`. Operations per second (2 per multiply-add)
 * of rows x cols weights of type t (rows of qtk_row_size(t, cols) bytes back to
 * back in w) times n_cols activation columns x (cols floats each) into y
 * (n_cols x rows floats) through the batch path of the model engine, on
 * nthreads threads, the best of 3 runs of at least min_seconds / 3; 0 when the
 * type has no batch kernel or on failure. */
QTK_API double qtk_bench_gemm(int t, const void *w, int64_t rows, int64_t cols, int64_t n_cols, const float *x,
                              float *y, int nthreads, double min_seconds);
/* The same through one path of the engine: QTK_BENCH_PATH_ENGINE (the path
 * the engine picks for n_cols, as qtk_bench_gemm), QTK_BENCH_PATH_OWN (the
 * type's own vec_dot/mul_mat kernels at every width) or QTK_BENCH_PATH_PANEL
 * (the int8 panels at every width; 0 when the type has none): `qtk bench types
 * --crossover` times both to find the width at which the panels win. */
#define QTK_BENCH_PATH_ENGINE 0
#define QTK_BENCH_PATH_OWN 1
#define QTK_BENCH_PATH_PANEL 2
QTK_API double qtk_bench_gemm_path(int t, const void *w, int64_t rows, int64_t cols, int64_t n_cols, const float *x,
                                   float *y, int nthreads, double min_seconds, int path);
/* The instruction-set level of the batch kernels (qtk_bench_gemm) on this CPU. */
QTK_API qtk_isa qtk_bench_gemm_isa(void);
/* Runs the batch kernel's int8 multiply-add instruction in a dependency-free
 * loop for `iters` iterations and returns the multiply-adds done; `seed` and
 * `sink` keep the compiler from removing it (the int8 peak). */
QTK_API int64_t qtk_bench_int8_peak_loop(int64_t iters, int seed, int32_t *sink);
#endif /* QTK_EXPERIMENTAL_API */

#ifdef QTK_EXPERIMENTAL_API /* docs/api.md: the planner, measurement tables and sweep helpers of qtk's CLI */
/* ---- measurement tables, read access (qtk plan, qtk sweep) ---- */

/* A table's header (strings owned by the table). */
typedef struct qtk_measure_table_info {
    const char *model_name;    /* "" when the table names none                     */
    const char *metric;        /* error metric, e.g. "wmse-1"                      */
    const char *model_hash;    /* SHA-256 hex of the model's tensors               */
    const char *imatrix_hash;  /* SHA-256 hex of the imatrix, or "-"               */
    uint64_t alignment;        /* data alignment of the output file                */
    uint64_t fixed_bytes;      /* non-candidate tensors' data, each padded         */
    uint64_t header_bytes;     /* output header with an empty quantize.recipe      */
    int64_t n_elements_all;    /* elements of all tensors of the model             */
    int64_t n;                 /* tensors in the table                             */
} qtk_measure_table_info;

/* One candidate tensor (strings owned by the table). */
typedef struct qtk_measure_tensor_info {
    const char *name;
    const char *cls;           /* class: "ffn_down", "attn_v", ... (docs/planner.md) */
    int64_t idx;               /* index in the model, file order                   */
    int64_t layer;             /* -1 when none                                     */
    int64_t ne[3];             /* row length, rows, experts (1 when not an expert tensor) */
    int n_cand;                /* candidate types, in increasing bytes             */
} qtk_measure_tensor_info;

/* Candidate c of a tensor. */
typedef struct qtk_measure_cand_info {
    int type;                  /* after the block-size fallback                    */
    uint64_t bytes;            /* data bytes of the whole tensor in this type      */
    double eps_rel;            /* mean relative weighted squared error of the sampled rows */
    double eps_abs;            /* absolute weighted squared error, scaled to all rows */
} qtk_measure_cand_info;

QTK_API void qtk_measure_table_get_info(const qtk_measure_table *t, qtk_measure_table_info *info);
/* Tensor i (0 <= i < info.n); false (info untouched) when out of range. */
QTK_API bool qtk_measure_table_tensor(const qtk_measure_table *t, int64_t i, qtk_measure_tensor_info *info);
/* Candidate c of tensor i; false (info untouched) when out of range. */
QTK_API bool qtk_measure_table_cand(const qtk_measure_table *t, int64_t i, int c, qtk_measure_cand_info *info);
/* Replaces the table's header size (a run whose header differs from the one
 * the measure pass counted, e.g. another spelling of the imatrix path). */
QTK_API void qtk_measure_table_set_header_bytes(qtk_measure_table *t, uint64_t header_bytes);

/* ---- the planner (qtk plan; docs/planner.md, section "Planner") ---- */

/* The error term of the cost (PLANNER §4.3): stage A, m·α·R·eps_rel (PR
 * 15550's working point, the default); or the absolute form of stages B/C,
 * m·α·eps_abs, for tables whose α a calibration filled (with α = 1 it is the
 * imatrix-weighted squared output error itself). */
typedef enum qtk_autoplan_cost_model {
    QTK_AUTOPLAN_COST_REL = 0,
    QTK_AUTOPLAN_COST_ABS = 1,
    /* stage C (KLD probes, qtk measure --probe-text): α·eps_abs with the
     * probe-calibrated α of every tensor, no class multipliers or factors */
    QTK_AUTOPLAN_COST_CALIB = 2,
    /* additive KLD: the probed ΔKLD of each (tensor, type) where the table
     * has one, α·eps_abs (as CALIB) for the candidates not probed */
    QTK_AUTOPLAN_COST_KLD = 3,
    QTK_AUTOPLAN_COST_AUTO = -1  /* opts only: qtk_autoplan_default_cost(table) */
} qtk_autoplan_cost_model;

typedef enum qtk_autoplan_compat {
    QTK_AUTOPLAN_COMPAT_ANY = 0,      /* every type of the table                    */
    QTK_AUTOPLAN_COMPAT_MAINLINE = 1, /* only types stock llama.cpp loads           */
    QTK_AUTOPLAN_COMPAT_IK = 2        /* only types ik_llama.cpp loads              */
} qtk_autoplan_compat;

/* --min CLASS=TYPE / --max CLASS=TYPE: no tensor of the class below / above
 * the size TYPE (after its block-size fallback) has for that tensor. */
typedef struct qtk_autoplan_bound {
    char cls[24];
    int type;
    bool is_max;
} qtk_autoplan_bound;

typedef struct qtk_autoplan_opts {
    uint64_t target_size;       /* whole output file in bytes; 0 = not given        */
    double target_bpw;          /* bits per weight as llama.cpp prints; 0 = not given */
    int compat;                 /* qtk_autoplan_compat                              */
    const int *allow;           /* --allow: allowed type ids (NULL = all)            */
    int n_allow;
    const qtk_autoplan_bound *bounds;
    int n_bounds;
    bool harmonize_experts;     /* one item per layer for ffn_up_exps + ffn_gate_exps */
    bool no_fill;               /* stop at the first step that does not fit          */
    bool no_polish;             /* skip the polish (single swaps, pair moves) after the fill */
    bool starvation;            /* safety check (c), starvation (optional, PLANNER §4.4 8c) */
    int cost_model;             /* qtk_autoplan_cost_model; 0 = stage A (eps_rel)   */
    bool no_default_floors;     /* drop the default token_embd/output floors         */
    double class_spread;        /* safety (a): max bpw below the class median;
                                   0 = default 2.0, < 0 = check disabled            */
    const char *comment;        /* one line written as a comment into the recipe (the
                                   command line); NULL = none. Must not hold '\n'.   */
} qtk_autoplan_opts;

/* "rel", "abs", "calib", "kld" ("auto" for AUTO); NULL for other values. */
QTK_API const char *qtk_autoplan_cost_name(int cost_model);
/* The id of a name above, or -2 when unknown. */
QTK_API int qtk_autoplan_cost_from_name(const char *name);
/* The cost a table supports best: KLD when every candidate of every
 * non-pinned tensor was probed, CALIB when every non-pinned tensor has a
 * calibrated α (alpha_src probe, interp or user), else REL (stage A). */
QTK_API int qtk_autoplan_default_cost(const qtk_measure_table *tab);

/* Zeroes opts (no target, all types, fill on, defaults for the rest). */
QTK_API void qtk_autoplan_opts_init(qtk_autoplan_opts *o);

typedef struct qtk_autoplan_result {
    int64_t n;                  /* = the table's tensor count                        */
    int cost_model;             /* the cost model used (AUTO resolved)               */
    int *type;                  /* chosen type per table tensor                      */
    int *cand;                  /* index of the chosen candidate of each tensor      */
    double *cost;               /* predicted cost per tensor (cost model)            */
    double total_cost;          /* Σ cost                                            */
    uint64_t data_bytes;        /* Σ chosen bytes (unpadded)                         */
    uint64_t data_bytes_padded; /* Σ chosen bytes, each padded to the alignment      */
    uint64_t file_size;         /* exact size of the file `qtk quantize --recipe` writes */
    double bpw;                 /* (fixed_bytes + data_bytes)·8 / n_elements_all     */
    double lambda;              /* λ*: efficiency of the first step that did not fit
                                   (0 when every item reached its last candidate)   */
    bool size_mode;             /* budget counts padded bytes (--target-size)        */
    uint64_t budget;            /* bytes available to the items                     */
    uint64_t used;              /* bytes the items use (same counting as budget)    */
    uint64_t first_misfit;      /* Δbytes of the first step that did not fit (0: none) */
    uint64_t min_next_step;     /* smallest Δbytes of a step not taken (0: none)     */
    uint64_t recipe_reserve;    /* recipe bytes reserved in the budget (upper bound) */
    uint64_t min_size, max_size;/* reachable file sizes (--target-size semantics)    */
    double min_bpw, max_bpw;    /* reachable bpw                                     */
    int64_t n_items, n_steps, n_taken, n_fill;
    int64_t n_polish;           /* moves the polish made                             */
    double polish_gain;         /* predicted cost the polish removed                 */
    bool low_bpw;               /* target below 2.2 bpw: ffn_down variants of PR 15550 */
    int n_safety;               /* tensors whose floor the safety checks raised      */
    char *recipe;               /* recipe text (canonical: qtk_recipe_text of itself) */
    char *custom_q;             /* "^re$=type,..." for ik --custom-q / llama-quantize */
    char notes[512];            /* safety messages, "" when none                     */
} qtk_autoplan_result;

/* Average bpw below which the low-bpw variants apply. */
#define QTK_AUTOPLAN_LOW_BPW 2.2

/* Solves. Fails with QTK_ERR_INVALID_ARG when no target or both are given,
 * when a rule leaves a tensor no candidate, or when the target is out of
 * reach (the message states the smallest and largest reachable sizes);
 * QTK_ERR_FORMAT for unusable table values (naming the tensor). */
QTK_API qtk_status qtk_autoplan_solve(const qtk_measure_table *tab, const qtk_autoplan_opts *o,
                                      qtk_autoplan_result **out, qtk_error *err);
QTK_API void qtk_autoplan_result_free(qtk_autoplan_result *r);
/* The predicted cost (cost_model: qtk_autoplan_cost_model, AUTO not allowed)
 * of candidate c of table tensor i; tied: the model has no output.weight;
 * low_bpw: the variants below QTK_AUTOPLAN_LOW_BPW. NAN when i or c is out
 * of range. */
QTK_API double qtk_autoplan_cand_cost(const qtk_measure_table *tab, int64_t i, int c, bool tied, bool low_bpw,
                                      int cost_model);
/* Checks that a table belongs to a model: same tensor count, and every
 * table tensor's index, name and shape match the model's (the SHA-256
 * hashes are compared by the caller when it has them). Errors name the
 * table origin, the model and the first difference. */
QTK_API qtk_status qtk_autoplan_check_model(const qtk_measure_table *tab, const char *table_path,
                                            const qtk_gguf *model, const char *model_path, qtk_error *err);

/* ---- sweep statistics (qtk sweep; docs/planner.md "Sweep and validation") ---- */

/* Paired difference d_i = a_i - b_i over n >= 2 chunks: *mean = mean(d),
 * *se = sd(d) / sqrt(n) with the n-1 (sample) standard deviation. Fails
 * (QTK_ERR_INVALID_ARG) for n < 2 and (QTK_ERR_NUMERIC) for a non-finite
 * value, naming the chunk. */
QTK_API qtk_status qtk_paired_diff(const double *a, const double *b, int64_t n, double *mean, double *se,
                                   qtk_error *err);
/* Spearman's rank correlation of x and y (n >= 3): the Pearson correlation
 * of their ranks, ties given their average rank. Fails for n < 3, for
 * non-finite values and when either variable is constant (ρ undefined). */
QTK_API qtk_status qtk_spearman(const double *x, const double *y, int64_t n, double *rho, qtk_error *err);
/* Per-chunk means from running means: the progress of a perplexity run
 * reports after chunk k the mean over all tokens so far (mean_k over
 * count_k tokens); chunk k's own mean is (mean_k·count_k −
 * mean_{k−1}·count_{k−1}) / (count_k − count_{k−1}). Returns that. */
QTK_API double qtk_chunk_mean_from_running(double prev_mean, int64_t prev_count, double mean, int64_t count);

/* ---- SVG plots (the KLD-vs-bpw plot of qtk sweep) ---- */

typedef enum qtk_svg_style {
    QTK_SVG_POINTS = 0, /* markers, each with its label (if any)          */
    QTK_SVG_LINE = 1    /* markers joined in order of x, labels optional  */
} qtk_svg_style;

typedef struct qtk_svg_series {
    const char *name;            /* legend text                                   */
    qtk_svg_style style;
    const char *color;           /* e.g. "#1f77b4"; NULL: from a built-in palette  */
    int64_t n;
    const double *x, *y;         /* n values each; non-finite (or y <= 0 on a log
                                    axis) points are left out                      */
    const double *y_err;         /* NULL, or n half-widths drawn as error bars     */
    const char *const *labels;   /* NULL, or n labels (NULL entries: no label)     */
} qtk_svg_series;

typedef struct qtk_svg_plot {
    const char *title, *subtitle; /* either may be NULL                             */
    const char *x_label, *y_label;
    bool log_y;                  /* log10 y axis                                   */
    int width, height;           /* pixels; 0: 960 x 600                           */
    int n_series;
    const qtk_svg_series *series;
} qtk_svg_plot;

/* Renders the plot as a self-contained SVG 1.1 document (axes, ticks, grid,
 * labels, legend; text XML-escaped; the same input gives the same bytes)
 * into a malloc'ed NUL-terminated string (*len without the NUL; len may be
 * NULL). Fails with QTK_ERR_INVALID_ARG when there is no plottable point and
 * QTK_ERR_NOMEM on allocation failure. */
QTK_API qtk_status qtk_svg_render(const qtk_svg_plot *p, char **out, size_t *len, qtk_error *err);

/* qtk_tmpfile_create / _discard / _commit and qtk_mkdir: qtk_types.h (core utilities). */
#endif /* QTK_EXPERIMENTAL_API */

/* ------------------------------------------------------------------------ */
/* Models, tokenizers, perplexity                                            */
/* ------------------------------------------------------------------------ */

/* A tokenizer vocabulary read from GGUF metadata (tokenizer.ggml.*). */
typedef struct qtk_vocab qtk_vocab;

typedef enum qtk_vocab_kind {
    QTK_VOCAB_SPM = 1,   /* tokenizer.ggml.model "llama": SentencePiece, byte fallback */
    QTK_VOCAB_BPE = 2    /* "gpt2": byte-level BPE, pre-tokenizer per tokenizer.ggml.pre */
} qtk_vocab_kind;

/* Reads the vocabulary of a GGUF file. Unsupported tokenizer models fail
 * with QTK_ERR_UNSUPPORTED naming the model. */
QTK_API qtk_status qtk_vocab_load(const qtk_gguf *g, qtk_vocab **out, qtk_error *err);
QTK_API void qtk_vocab_free(qtk_vocab *v);
QTK_API qtk_vocab_kind qtk_vocab_get_kind(const qtk_vocab *v);
QTK_API int32_t qtk_vocab_n_tokens(const qtk_vocab *v);
QTK_API int32_t qtk_vocab_bos(const qtk_vocab *v);        /* -1 when the vocab has none */
QTK_API int32_t qtk_vocab_eos(const qtk_vocab *v);
/* Whether tokenizing with add_special puts BOS first (tokenizer.ggml.add_bos_token). */
QTK_API bool qtk_vocab_adds_bos(const qtk_vocab *v);
/* Text of a token (the raw piece, e.g. "▁the" or "<0x0A>"); NULL when out of range. */
QTK_API const char *qtk_vocab_token_text(const qtk_vocab *v, int32_t id);
/* Tokenizes text[0..len) exactly as llama.cpp's llama_tokenize with
 * parse_special = false: BOS first when add_special and the vocab adds one.
 * *tokens is malloc'ed (free with free()); *n_tokens its length. */
QTK_API qtk_status qtk_tokenize(const qtk_vocab *v, const char *text, size_t len, bool add_special,
                        int32_t **tokens, int64_t *n_tokens, qtk_error *err);
/* As qtk_tokenize; parse_special: control tokens written in the text (e.g.
 * "<s>", "<|endoftext|>") become those tokens, as llama_tokenize's flag.
 * User-defined tokens are matched either way. */
QTK_API qtk_status qtk_tokenize_ex(const qtk_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                           int32_t **tokens, int64_t *n_tokens, qtk_error *err);
/* Bytes token id stands for in text (llama_token_to_piece): SPM "▁" -> ' '
 * and <0xXX> -> the byte, BPE byte-level characters -> bytes; control tokens
 * give nothing unless special. Writes min(length, cap) bytes (no NUL) and
 * returns the full length. */
QTK_API size_t qtk_token_to_piece(const qtk_vocab *v, int32_t id, bool special, char *buf, size_t cap);
/* The pieces of ids[0..n) concatenated (malloc'ed, NUL-terminated; *len
 * without the NUL). The first piece loses the space an SPM vocabulary's
 * tokenizer puts in front, so detokenize(tokenize(s)) == s for lossless
 * text; no clean-up of spaces around punctuation is done. */
QTK_API qtk_status qtk_detokenize(const qtk_vocab *v, const int32_t *ids, int64_t n, bool special, char **text,
                          size_t *len, qtk_error *err);

/* A model loaded from a GGUF file: its weights stay in a mapping of the
 * file or are read into memory (qtk_load_mode). */
typedef struct qtk_model qtk_model;

typedef struct qtk_model_info {
    const char *arch;        /* general.architecture: "llama", "qwen2", "qwen3", "gemma3", ... */
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    int64_t n_ctx_train;
    int64_t n_expert, n_expert_used, n_ff_exp;  /* mixture of experts: experts per layer, chosen per
                                                   token, width of one expert; dense: 0, 0, 0 */
    double rope_freq_base, rope_freq_scale, norm_eps;
    bool rope_neox;          /* rotate (i, i + n_rot/2) pairs instead of adjacent ones */
    int64_t n_params;        /* weights of all tensors                     */
    uint64_t n_bytes;        /* bytes of tensor data                       */
    bool mapped;             /* weights in a mapping of the file (else read into memory) */
} qtk_model_info;

/* Where qtk_model_load_ex keeps the weights (llama.cpp's --mmap / --no-mmap). */
typedef enum qtk_load_mode {
    /* READ where it pays: the OS gives huge pages (Linux transparent huge
     * pages) and the file fits in the available memory with a margin; else
     * MMAP. What qtk_model_load does. */
    QTK_LOAD_AUTO = 0,
    /* a read-only mapping of the file: starts at once, shares the page
     * cache, pages in on demand (models larger than memory still run) */
    QTK_LOAD_MMAP = 1,
    /* the file read into private memory, on 2 MiB pages where the OS has
     * them: generation streams the weights with 512x fewer TLB misses
     * (10-30 % faster on this project's machine, BENCHMARKS.md) */
    QTK_LOAD_READ = 2
} qtk_load_mode;

/* Loads architectures `llama` (LLaMA 1/2/3, Mistral: GQA, rope base, linear
 * and llama3 rope scaling), `qwen2` (q/k/v biases), `qwen3` (per-head q/k
 * RMS norms), mixture-of-experts `llama` (Mixtral) and `qwen3moe` (router
 * ffn_gate_inp, experts ffn_{gate,up,down}_exps) and `gemma3` (scaled
 * embeddings, q/k norms, post-norms, GELU-tanh, sliding-window layers,
 * optional soft-caps); README.md's
 * architectures table. Another architecture fails with QTK_ERR_UNSUPPORTED
 * naming it and the supported list. Every matrix type needs a dot product
 * in the type table. */
QTK_API qtk_status qtk_model_load(const char *path, qtk_model **out, qtk_error *err);
/* The same with the weights' placement chosen (qtk_model_load = AUTO).
 * AUTO falls back to MMAP when reading fails for lack of memory; READ
 * reports it. qtk_model_get_info(m)->mapped says which one happened. */
QTK_API qtk_status qtk_model_load_ex(const char *path, qtk_load_mode mode, qtk_model **out, qtk_error *err);
QTK_API void qtk_model_free(qtk_model *m);
QTK_API const qtk_model_info *qtk_model_get_info(const qtk_model *m);
/* The GGUF file the model was loaded from (valid while the model lives). */
QTK_API const qtk_gguf *qtk_model_gguf(const qtk_model *m);

/* Evaluation state: KV cache of up to n_ctx positions (F16 keys and values
 * unless qtk_context_set_kv_type says otherwise) + scratch. */
typedef struct qtk_context qtk_context;

QTK_API qtk_status qtk_context_create(const qtk_model *m, int64_t n_ctx, int n_threads, qtk_context **out,
                              qtk_error *err);
QTK_API void qtk_context_free(qtk_context *c);
/* Threads for single-token decoding (n_gen, llama.cpp's -t) and for batches
 * of more than one token (n_batch, -tb); values < 1 mean "all CPUs". The
 * context's worker threads are created once and reused by every decode. */
QTK_API qtk_status qtk_context_set_threads(qtk_context *c, int n_gen, int n_batch, qtk_error *err);
/* Element types of the cached keys and values (llama.cpp's -ctk / -ctv):
 * QTK_TYPE_F16 (the default, as llama.cpp; values rounded to nearest even)
 * or QTK_TYPE_F32. Attention always computes in F32: F16 only rounds what
 * is stored, and halves the cache's memory and the bytes attention reads.
 * Only while nothing is cached (before the first decode, or after
 * qtk_context_reset): else QTK_ERR_INVALID_ARG. On failure the context
 * keeps its cache. */
QTK_API qtk_status qtk_context_set_kv_type(qtk_context *c, qtk_type type_k, qtk_type type_v, qtk_error *err);
/* Forgets every cached position (next decode starts at position 0). */
QTK_API void qtk_context_reset(qtk_context *c);
QTK_API int64_t qtk_context_n_past(const qtk_context *c);
/* Runs n tokens at positions n_past .. n_past+n-1 and appends them to the
 * cache. When logits is not NULL, writes the logits of tokens first_logit ..
 * n-1 (n_vocab floats each, token after token). */
QTK_API qtk_status qtk_decode(qtk_context *c, const int32_t *tokens, int64_t n, int64_t first_logit, float *logits,
                      qtk_error *err);

/* Format of a KL-divergence base file (docs/kld-format.md). Reading detects
 * it from the magic; this only chooses what is written. */
typedef enum qtk_kld_format {
    QTK_KLD_FORMAT_LLAMA = 0, /* llama.cpp's `_logits_` file (llama-perplexity --kl-divergence-base) */
    QTK_KLD_FORMAT_QTK = 1    /* qtk's own `QTKLOGP1` file (24-bit fixed point, exact nll and top) */
} qtk_kld_format;

/* Perplexity as llama-perplexity computes it (see docs/kld-format.md for the
 * KL-divergence base file). */
typedef struct qtk_ppl_params {
    int64_t n_ctx;            /* tokens per chunk (-c), default 512            */
    int64_t n_batch;          /* tokens per forward call (-b), <= n_ctx         */
    int n_threads;
    int64_t n_chunks;         /* -1: all                                       */
    const char *kld_base;     /* base log-prob file, or NULL                   */
    bool kld;                 /* true: compare with kld_base; false: write it   */
    qtk_kld_format kld_format; /* format written (default llama.cpp's)           */
    bool kv_f32_k, kv_f32_v;  /* F32 keys / values in the KV cache (-ctk f32,
                                 -ctv f32); default F16, as llama-perplexity  */
} qtk_ppl_params;

/* Running or final statistics. PPL fields are always set; the rest only
 * when comparing with a base file. Percentile fields are final-only. */
typedef struct qtk_ppl_stats {
    int64_t chunk, n_chunks;            /* chunks done / total                 */
    int64_t n_scored;                   /* tokens scored so far                */
    double ppl, ppl_unc;                /* llama-perplexity's "PPL = X +/- Y"   */
    double ppl_base, ppl_base_unc;
    double log_ppl_cor;                 /* correlation of ln(PPL(Q)), ln(PPL(base)) */
    double log_ppl_ratio, log_ppl_ratio_unc;
    double ppl_ratio, ppl_ratio_unc, ppl_diff, ppl_diff_unc;
    double kld, kld_unc;
    double kld_max, kld_999, kld_99, kld_95, kld_90, kld_median, kld_10, kld_05, kld_01, kld_001, kld_min;
    double dp_mean, dp_mean_unc, dp_max, dp_999, dp_99, dp_95, dp_90, dp_75, dp_median, dp_25, dp_10,
        dp_05, dp_01, dp_001, dp_min;
    double dp_rms, dp_rms_unc;
    double same_top, same_top_unc;      /* fractions (0..1)                    */
    bool has_percentiles;
    double seconds_first_chunk, tokens_per_second;  /* prompt processing speed */
} qtk_ppl_stats;

/* What a KL-divergence base file (either format) holds. */
typedef struct qtk_kld_base_info {
    qtk_kld_format format;
    int64_t n_ctx, n_vocab, n_chunk;    /* from the header                     */
    int64_t n_scored;                   /* records per chunk: n_ctx - 1 - n_ctx/2 */
    /* with scan (every record read and checked): */
    int64_t n_records;
    double ppl;                         /* exp(mean -ln p_base(next token)) as the format
                                         * stores it (llama: min_log_prob + scale*q[next]) */
} qtk_kld_base_info;

/* Reads and checks a base file without a model: the header, its size, the
 * token list (ids in [0, n_vocab)) and, with scan, every record. Fails with a
 * message naming the file and the reason. */
QTK_API qtk_status qtk_kld_base_read_info(const char *path, bool scan, qtk_kld_base_info *info, qtk_error *err);

/* Called after every chunk with the running statistics. */
typedef void (*qtk_ppl_progress_fn)(void *user, const qtk_ppl_stats *s);

/* Runs the perplexity loop over `tokens` (the whole text tokenized with BOS
 * as llama.cpp does). With kld_base and !kld the base file is written; with
 * kld the tokens come from the base file (tokens may be NULL) and the model
 * is compared with it. Fails when the text has fewer than 2*n_ctx tokens. */
QTK_API qtk_status qtk_perplexity(const qtk_model *m, const qtk_vocab *v, const int32_t *tokens, int64_t n_tokens,
                          const qtk_ppl_params *p, qtk_ppl_progress_fn progress, void *user,
                          qtk_ppl_stats *result, qtk_error *err);

/* Importance-matrix collection as llama-imatrix (ik_llama.cpp, llama.cpp)
 * does it (docs/imatrix.md): the text is cut into chunks of n_ctx tokens,
 * each evaluated from an empty cache with BOS as its first token, in
 * forward calls of n_batch tokens; for every product with a weight named
 * blk.* (and output.weight with process_output) the input rows are added to
 * the accumulator: dense weights when a call has at least 16 tokens (the
 * reference's rule), MoE expert tensors per expert for the rows routed to it. */
typedef struct qtk_imatrix_params {
    int64_t n_ctx;            /* tokens per chunk (-c), default 512                */
    int64_t n_batch;          /* tokens per forward call; <= 0: min(n_ctx, 512)     */
    int n_threads;            /* -t (one-token steps); < 1: all CPUs                */
    int n_threads_batch;      /* -tb (batches); < 1: n_threads                      */
    int64_t n_chunks;         /* at most this many chunks; -1: all                  */
    int64_t first_chunk;      /* skip this many chunks first (--chunk)              */
    bool process_output;      /* collect output.weight too                          */
    bool compute_ppl;         /* running PPL over the second half of every chunk    */
} qtk_imatrix_params;

/* Defaults: n_ctx 512, all chunks, all CPUs, PPL on, output.weight off. */
QTK_API void qtk_imatrix_params_default(qtk_imatrix_params *p);

/* State after each chunk (and the final result). */
typedef struct qtk_imatrix_progress {
    int64_t chunk, n_chunks;          /* chunks done / to do                      */
    int64_t n_tokens;                 /* tokens evaluated so far                  */
    double seconds, seconds_first_chunk;
    bool has_ppl;
    double ppl, ppl_unc;              /* running PPL (llama-imatrix's [i] values) */
    int64_t n_scored;
} qtk_imatrix_progress;

/* Called after every chunk; a status other than QTK_OK (with err filled)
 * stops the collection and is returned (e.g. a periodic save that failed). */
typedef qtk_status (*qtk_imatrix_progress_fn)(void *user, const qtk_imatrix_progress *p, qtk_error *err);

/* Runs the collection over `tokens` (the text tokenized with BOS first) into
 * acc (which may already hold data, e.g. merged files): its chunk count grows
 * by the chunks evaluated and its chunk size becomes n_ctx. Fails when the
 * text has fewer than 2 * n_ctx tokens (after skipping first_chunk chunks),
 * or when an activation is NaN/Inf (naming the tensor and chunk). */
QTK_API qtk_status qtk_imatrix_collect(const qtk_model *m, const qtk_vocab *v, const int32_t *tokens, int64_t n_tokens,
                               const qtk_imatrix_params *p, qtk_imatrix_acc *acc, qtk_imatrix_progress_fn progress,
                               void *user, qtk_imatrix_progress *result, qtk_error *err);

/* ------------------------------------------------------------------------ */
/* Synthetic models (qtk synth)                                               */
/* ------------------------------------------------------------------------ */

/* A built-in model shape: LLaMA architecture, head_dim = n_embd / n_head. */
typedef struct qtk_synth_shape {
    const char *name;          /* "tiny", "small", "1b"                       */
    int64_t n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, n_ctx;
} qtk_synth_shape;

/* Number of built-in shapes and the i-th one (NULL when out of range). */
QTK_API int qtk_synth_shape_count(void);
QTK_API const qtk_synth_shape *qtk_synth_shape_at(int i);
/* Shape by name (case-insensitive), or NULL. */
QTK_API const qtk_synth_shape *qtk_synth_shape_get(const char *name);
/* Parameters of a model of that shape (all tensors, norms included). */
QTK_API int64_t qtk_synth_n_params(const qtk_synth_shape *s);

/* Called after every written chunk: parameters done so far of `total`. */
typedef void (*qtk_synth_progress_fn)(void *ud, const char *tensor, int64_t done, int64_t total);

/* Writes a synthetic F16 LLaMA model of the named shape to `path` (atomic:
 * a unique path.tmp.XXXXXX, then rename), streamed chunk by chunk. The file depends only on
 * (shape, seed): same inputs give byte-identical files on every platform and
 * for any n_threads (<= 0: all CPUs). Weights mimic trained statistics (row
 * scale spread, Student-t-like tails, outlier input channels, larger scales
 * in early layers); see docs/synth.md. progress may be NULL. */
QTK_API qtk_status qtk_synth_write(const char *path, const char *shape, uint64_t seed, int n_threads,
                           qtk_synth_progress_fn progress, void *ud, qtk_error *err);

/* ------------------------------------------------------------------------ */
/* Weight-space comparison (qtk compare)                                      */
/* ------------------------------------------------------------------------ */

typedef enum qtk_compare_status {
    QTK_COMPARE_OK = 0,             /* compared                                */
    QTK_COMPARE_SHAPE_MISMATCH = 1, /* in both files with different shapes     */
    QTK_COMPARE_ONLY_REF = 2,       /* missing from the quantized file         */
    QTK_COMPARE_ONLY_QUANT = 3,     /* missing from the reference file         */
    QTK_COMPARE_NO_DECODER = 4,     /* a type cannot be decoded to F32         */
    QTK_COMPARE_NONFINITE = 5       /* NaN/Inf in either decoded tensor        */
} qtk_compare_status;

/* One tensor: err2 = sum w (x - y)^2 and ref2 = sum w x^2 over its elements,
 * x the reference and y the quantized weights decoded to F32, w the imatrix
 * column weights of the tensor scaled to mean 1 per matrix (1 when weighted
 * is false). rel_rmse = sqrt(err2 / ref2). */
typedef struct qtk_compare_tensor {
    char *name;
    int ref_type, quant_type;       /* -1 where the tensor is absent           */
    int64_t n_elements;
    qtk_compare_status status;
    bool quantized;                 /* compared and the types differ: in totals */
    bool weighted;                  /* imatrix weights were used               */
    int64_t n_nonfinite;            /* elements skipped as NaN/Inf             */
    double err2, ref2, rel_rmse;
} qtk_compare_tensor;

/* Sums over the quantized tensors of one class (name without "blk.N." and ".weight"). */
typedef struct qtk_compare_class {
    char name[64];
    int64_t tensors, params;
    double err2, ref2, rel_rmse;
} qtk_compare_class;

typedef struct qtk_compare_result {
    int64_t n;                      /* reference tensors, then quantized-only ones */
    qtk_compare_tensor *tensors;
    int64_t n_classes;              /* in order of first appearance            */
    qtk_compare_class *classes;
    int64_t n_quantized, params_quantized;
    int64_t n_unmatched;            /* ONLY_REF, ONLY_QUANT, SHAPE_MISMATCH, NO_DECODER */
    int64_t n_nonfinite;            /* tensors with status NONFINITE           */
    double err2, ref2, rel_rmse;    /* over all quantized tensors              */
} qtk_compare_result;

/* Compares every tensor present in both files with equal shapes (decoded to
 * F32, nthreads threads, <= 0: all CPUs; results do not depend on it). `im`
 * may be NULL; tensors it has no entry for are unweighted. Mismatches are
 * reported per tensor, not as failures. */
QTK_API qtk_status qtk_compare_models(const qtk_gguf *ref, const qtk_gguf *quant, const qtk_imatrix *im, int nthreads,
                              qtk_compare_result **out, qtk_error *err);
QTK_API void qtk_compare_result_free(qtk_compare_result *r);
/* Short text of a status ("ok", "shape mismatch", ...). */
QTK_API const char *qtk_compare_status_name(qtk_compare_status s);

#ifdef __cplusplus
}
#endif
#endif /* QTK_H */
