/*
 * qtk_internal.h — helpers shared by every part of the library (not public).
 * Platform specifics (file mapping, threads, clocks) live in platform.c only.
 */
#ifndef QTK_INTERNAL_H
#define QTK_INTERNAL_H

#ifndef QTK_EXPERIMENTAL_API
#define QTK_EXPERIMENTAL_API /* the library implements the experimental API of qtk.h too */
#endif
#ifdef QTK_TYPES_ONLY
#include "qtk_types.h" /* the types module alone (CMake QTK_TYPES_ONLY, src/types/README.md) */
#else
#include "qtk.h"
#endif
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__MINGW32__) && defined(__MINGW_PRINTF_FORMAT)
#define QTK_PRINTF(a, b) __attribute__((format(__MINGW_PRINTF_FORMAT, a, b)))
#define QTK_UNUSED __attribute__((unused))
#elif defined(__GNUC__) || defined(__clang__)
#define QTK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define QTK_UNUSED __attribute__((unused))
#else
#define QTK_PRINTF(a, b)
#define QTK_UNUSED
#endif

#if defined(_MSC_VER)
#define QTK_ALIGN(n) __declspec(align(n))
#else
#define QTK_ALIGN(n) _Alignas(n)
#endif

#define QTK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define QTK_MAX(a, b) ((a) > (b) ? (a) : (b))

/* qtk_set_error (fills a qtk_error), qtk_same_file, qtk_install_signal_cleanup,
 * qtk_malloc_aligned and qtk_free_aligned are declared in qtk.h's experimental
 * part (QTK_EXPERIMENTAL_API): the CLI uses them too. */

/* Clears err to QTK_OK with an empty message. */
void qtk_clear_error(qtk_error *err);

/* strdup that reports failure as NULL (C11 has no strdup). */
char *qtk_strdup(const char *s);

/* Case-insensitive ASCII string comparison, 0 when equal. */
int qtk_strcasecmp(const char *a, const char *b);

/* ---- file mapping ---------------------------------------------------- */

typedef struct qtk_mapping {
    const void *data;
    size_t size;
    void *os_handle;   /* Windows mapping handle, unused on POSIX */
    void *alloc;       /* qtk_read_file: the allocation holding data (NULL: a file mapping) */
    size_t alloc_size;
} qtk_mapping;

/* Maps a whole file read-only. Empty files map to data=NULL, size=0. */
qtk_status qtk_map_file(const char *path, qtk_mapping *out, qtk_error *err);
/* Reads a whole file into private read-only memory instead (llama.cpp's
 * --no-mmap). On Linux the memory is aligned to 2 MiB and asked for as
 * transparent huge pages: kernels streaming weights then miss the TLB 512×
 * less often than on the 4 KiB pages of a file mapping (generation 10–30 %
 * faster, BENCHMARKS.md session 15). Empty files give data=NULL, size=0. */
qtk_status qtk_read_file(const char *path, qtk_mapping *out, qtk_error *err);
/* Whether reading a file of `size` bytes into memory pays here: the OS
 * gives huge pages (Linux with transparent huge pages not "never") and the
 * file fits in the available memory with a margin (an eighth of it + 512
 * MiB). Elsewhere false: mapping costs nothing there. */
bool qtk_read_file_pays(uint64_t size);
/* Releases a qtk_map_file mapping or a qtk_read_file copy (safe on a zeroed
 * struct). */
void qtk_unmap_file(qtk_mapping *m);
/* Asks the OS to start reading [p, p + n) of a mapping in the background
 * (POSIX madvise WILLNEED, Windows PrefetchVirtualMemory where it exists); a
 * hint only: never fails, returns at once. */
void qtk_prefetch_mapped(const void *p, size_t n);
/* Drops the whole pages of [p, p + n) of a read-only file mapping (never a
 * qtk_read_file copy: those pages would read back as zeros) from the
 * process (its resident memory then stays bounded while a model streams
 * through); later reads fault them back in from the page cache. A hint. */
void qtk_release_mapped(const void *p, size_t n);

/* qtk_gguf_open with the file(s) read into memory (qtk_read_file) instead
 * of mapped when in_memory (split parts too). Never use qtk_release_mapped
 * on such a handle's tensors. */
struct qtk_gguf;
qtk_status qtk_gguf_open_mode(const char *path, bool in_memory, struct qtk_gguf **out, qtk_error *err);

/* ---- files ------------------------------------------------------------ */

/* fopen with UTF-8 paths on Windows too. */
FILE *qtk_fopen(const char *path, const char *mode);
/* Atomically replaces `to` with `from` (rename over an existing file). 0 on success. */
int qtk_rename_replace(const char *from, const char *to);
/* Removes a file; 0 on success. */
int qtk_remove_file(const char *path);
/* qtk_mkdir: qtk_types.h, experimental part (the CLI uses it). */
/* Flushes a stdio stream to stable storage; 0 on success. */
int qtk_fsync_file(FILE *f);
/* Seeks a stdio stream to a 64-bit offset; 0 on success. */
int qtk_fseek64(FILE *f, int64_t off);

/* ---- file safety (platform.c) ------------------------------------------ */

/* Fails (QTK_ERR_INVALID_ARG, message naming both) when out_path exists and is
 * the same file as one currently mapped by qtk_map_file (an open input). */
qtk_status qtk_check_not_input(const char *out_path, qtk_error *err);
/* qtk_tmpfile_create, qtk_tmpfile_discard, qtk_tmpfile_commit: qtk_types.h, experimental part
 * (programs use them for their own atomic writes). */

/* ---- CPU dispatch ------------------------------------------------------- */

/* The widest ISA level whose bit (1 << qtk_isa) is set in have_mask, that
 * this CPU and build support and that is not above the qtk_set_max_isa cap;
 * -1 when none. */
int qtk_isa_pick(unsigned have_mask);

/* ---- threads ------------------------------------------------------------ */

/* qtk_parallel_for, qtk_cpu_count and qtk_time_now are public (qtk.h). */
/* qtk_parallel_for with a dynamic split: chunks of `chunk` items claimed from a
 * shared counter, so rows of uneven cost (or a thread the OS delays) balance.
 * fn's thread index is the claiming task's, < nthreads: per-thread scratch
 * indexed by it is never used by two threads at once. */
void qtk_parallel_for_dynamic(int nthreads, int64_t n, int64_t chunk, qtk_range_fn fn, void *ctx);

/* ---- aligned memory ----------------------------------------------------- */

/* A scratch buffer that only grows: returns buf when it already holds n
 * elements of elem_size bytes (*cap counts elements), else frees it and
 * returns a new 64-byte aligned one (contents not kept) and sets *cap;
 * NULL and *cap = 0 when out of memory (buf is freed then too). */
void *qtk_grow_aligned(void *buf, size_t *cap, size_t n, size_t elem_size);

#endif /* QTK_INTERNAL_H */
