/* cli.h — shared pieces of the qtk subcommands (thin wrappers over libqtk). */
#ifndef QTK_CLI_H
#define QTK_CLI_H

#include "qtk.h"
#include <stdio.h>

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

/* Prints "qtk CMD: message" for an error and returns 1. */
int cli_fail(const char *cmd, const qtk_error *err);

/* Usage error: prints the message and the command's help to stderr, returns 2. */
int cli_usage_error(const char *cmd, void (*help)(FILE *), const char *fmt, ...);

/* Formats a byte count as "12.3 MiB" into buf. */
const char *cli_fmt_bytes(double bytes, char *buf, size_t n);

#endif
