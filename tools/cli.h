/* cli.h — shared pieces of the qtk subcommands (thin wrappers over libqtk). */
#ifndef QTK_CLI_H
#define QTK_CLI_H

#include "qtk.h" /* built with QTK_EXPERIMENTAL_API (CMakeLists.txt); no src/ header */
#include <stdio.h>

#ifndef QTK_MIN
#define QTK_MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* A subcommand: run(argc, argv) with argv[0] = command name; returns the exit code
 * (0 ok, 1 failure, 2 usage error). */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *out);
} cli_command;

int cmd_inspect(int argc, char **argv);
void help_inspect(FILE *out);
int cmd_dequantize(int argc, char **argv);
void help_dequantize(FILE *out);

int cmd_bench(int argc, char **argv);
void help_bench(FILE *out);
int cmd_synth(int argc, char **argv); void help_synth(FILE *out);
int cmd_perplexity(int argc, char **argv); void help_perplexity(FILE *out);
int cmd_tokenize(int argc, char **argv); void help_tokenize(FILE *out);
int cmd_compare(int argc, char **argv); void help_compare(FILE *out);
int cmd_run(int argc, char **argv); void help_run(FILE *out);
int cmd_imatrix(int argc, char **argv); void help_imatrix(FILE *out);
int cmd_sweep(int argc, char **argv); void help_sweep(FILE *out);
int cmd_plan(int argc, char **argv); void help_plan(FILE *out);
int cmd_measure(int argc, char **argv); void help_measure(FILE *out);

int cmd_quantize(int argc, char **argv);
void help_quantize(FILE *out);

/* Reads a whole text file (NUL-terminated, malloc'ed); NULL with err filled on failure. */
char *cli_read_text_file(const char *path, size_t *size, qtk_error *err);

/* Prints "qtk CMD: message" for an error and returns 1. */
int cli_fail(const char *cmd, const qtk_error *err);

/* Which programs load a file whose tensors have these types, one line:
 * "loads in: llama.cpp, ik_llama.cpp" or "ik_llama.cpp only: iq5_k in 6 tensors". */
void cli_print_compat(FILE *out, const int *types, int64_t n);
/* The same as JSON members (no braces): "loads_in": [...], "not_in_llama.cpp": {type: tensors}. */
void cli_print_compat_json(FILE *out, const int *types, int64_t n);

/* Usage error: prints the message and a one-line hint ("see 'qtk help CMD'")
 * to stderr (the error stays visible, not scrolled away by the help), returns 2. */
int cli_usage_error(const char *cmd, void (*help)(FILE *), const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Formats a tensor's dimensions as "256<sep>4096" into buf. */
const char *cli_fmt_shape(const qtk_tensor_info *t, const char *sep, char *buf, size_t n);

/* Formats a byte count as "12.3 MiB" into buf. */
const char *cli_fmt_bytes(double bytes, char *buf, size_t n);

/* Writes s[0..len) as a JSON string literal (escaped). */
void cli_json_string(FILE *out, const char *s, size_t len);

/* Output-vs-input check before any work: when out is in (same spelling, or the
 * same file by device + inode: ./x, ../d/x, symlinks, hard links), prints an
 * error naming both and returns 2 (usage error); 0 when they differ. */
int cli_refuse_same_file(const char *cmd, const char *out, const char *in);

/* strdup (C11 has none); NULL when out of memory. */
char *cli_strdup(const char *s);

/* Case-insensitive ASCII comparison, 0 when equal. */
int cli_strcasecmp(const char *a, const char *b);

/* Whether arg is -h or --help. */
bool cli_is_help(const char *arg);

/* KV cache options shared by the commands that evaluate (llama.cpp's names):
 * when argv[*i] is -ctk/--cache-type-k or -ctv/--cache-type-v, consumes its
 * value into *type_k / *type_v and returns 1; returns 0 for any other option
 * and -1 (message printed, usage error) for a missing or unsupported value. */
int cli_parse_cache_type(const char *cmd, void (*help)(FILE *), int argc, char **argv, int *i, qtk_type *type_k,
                         qtk_type *type_v);
#define CLI_CACHE_TYPE_HELP                                                                  \
    "  -ctk, --cache-type-k T  type of the cached keys: f16 (default) or f32\n"            \
    "  -ctv, --cache-type-v T  type of the cached values: f16 (default) or f32\n"

/* Weight placement options (llama.cpp's names): when `arg` is --mmap or
 * --no-mmap, sets *mode and returns true. */
bool cli_parse_mmap(const char *arg, qtk_load_mode *mode);
#define CLI_MMAP_HELP                                                                        \
    "  --mmap / --no-mmap      keep the weights in a mapping of the file / read them\n"    \
    "                          into memory (default: read on huge pages when they\n"      \
    "                          exist and the model fits in free memory: faster\n"         \
    "                          generation; else mapped)\n"

/* Fills err with a formatted message (for errors detected in the CLI itself). */
void qtk_set_error_cli(qtk_error *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
