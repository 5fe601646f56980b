/*
 * testlib.h — a minimal test harness: CHECK() records failures and keeps
 * going; tl_finish() prints a summary and returns the exit code.
 * Exit code 77 = skipped (ctest SKIP_RETURN_CODE).
 */
#ifndef QTK_TESTLIB_H
#define QTK_TESTLIB_H

#include "qtk.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TL_SKIP 77

extern long tl_checks, tl_failures;

/* CHECK(cond, printf-format, args...): counts, and reports a failure with the message. */
#define CHECK(cond, ...)                                                            \
    do {                                                                            \
        tl_checks++;                                                                \
        if (!(cond)) {                                                              \
            tl_failures++;                                                          \
            if (tl_failures <= 50) {                                                \
                fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                       \
                fputc('\n', stderr);                                                \
            }                                                                       \
        }                                                                           \
    } while (0)

/* Full path of a file under the shared reference directory, or NULL when
 * QTK_SHARED_DIR is unset or the file is missing. Result is malloc'ed. */
char *tl_shared_path(const char *rel);

/* Path of a scratch file `name` inside the test temp directory (malloc'ed). */
char *tl_tmp_path(const char *name);

/* Whether a file exists. */
int tl_file_exists(const char *path);

/* Reads a whole file (malloc'ed, *size set); NULL on failure. */
unsigned char *tl_read_file(const char *path, size_t *size);

/* Writes a whole file; 0 on success. */
int tl_write_file(const char *path, const void *data, size_t size);

/* Deterministic xorshift RNG. */
typedef struct { unsigned long long s; } tl_rng;
void tl_rng_seed(tl_rng *r, unsigned long long seed);
unsigned long long tl_rng_u64(tl_rng *r);
float tl_rng_uniform(tl_rng *r);          /* [0,1) */
float tl_rng_normal(tl_rng *r);           /* N(0,1) */

/* Runs the qtk command line: `$QTK_BIN ARGS > out 2>&1` (QTK_BIN_EMULATOR, e.g.
 * qemu for a cross build, in front; cmd.exe's extra quoting on Windows).
 * Returns the exit code, or -1 when the program could not be run. */
int tl_run_qtk(const char *args, const char *out_path);

/* Whether the qtk binary can be launched here (QTK_BIN set and `--version` runs). */
int tl_qtk_available(void);

/* Whether this test runs under an emulator (QTK_BIN_EMULATOR set: a cross build under qemu),
 * where float-heavy whole-model work is ~50x slower than native; such work with no
 * architecture-specific code runs in the native, sanitizer and windows stages instead. */
int tl_emulated(void);

/* Whether QTK_TEST_QUICK is set and not "0" (.ci/run sets it to 1 for the sanitizer and
 * emulator stages): tests then run fewer cases; the native stage runs them all. */
int tl_quick(void);

/* Whether `t` is one of the trellis (KT) types, whose codebook scans dominate slow runs. */
int tl_is_trellis(qtk_type t);

/* A whole text file, NUL-terminated, with '\r' removed (malloc'ed; NULL on failure). */
char *tl_read_text(const char *path);

/* Whether the text file at path contains needle. */
int tl_file_contains(const char *path, const char *needle);

/* Number of temp files an atomic writer of final_path may leave: entries named
 * BASENAME.tmp* (OUT.tmp.XXXXXX) in its directory; -1 when it cannot list. */
int tl_temp_files(const char *final_path);

/* Whether two files have identical bytes (both must be readable). */
int tl_files_equal(const char *a, const char *b);

/* Opens ../shared/<rel> and loads its vocabulary (CHECKs both steps); NULL
 * when the file is absent. *g receives the open GGUF (close it). */
qtk_vocab *tl_load_vocab(const char *rel, qtk_gguf **g);

/* Loads the model ../shared/REL; NULL when ../shared is absent (a load
 * failure is a failed check). */
qtk_model *tl_load_model(const char *rel);

/* Writes a copy of model g with every 2-D tensor quantized to `type` (no
 * imatrix) and every other tensor in F32; general.file_type set to
 * file_type unless it is negative. 1 on success, 0 on any failure (the
 * partial file is removed). */
int tl_write_quantized_copy(const qtk_gguf *g, qtk_type type, int64_t file_type, const char *path);

/* Case-insensitive ASCII compare, 0 when equal. */
int tl_strcasecmp(const char *a, const char *b);

/* Prints "name: N checks, N failed" and returns 0 or 1; when no CHECK ran at
 * all, prints "SKIPPED" and returns TL_SKIP (a test that verified nothing
 * must not pass). */
int tl_finish(const char *name);

/* Prints the skip reason and returns TL_SKIP. */
int tl_skip(const char *name, const char *why);

/* Last non-empty line of a text file (static buffer; "" if none or unreadable). */
const char *tl_last_line(const char *path);

#endif
