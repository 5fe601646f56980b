/* qtk.c — entry point of the `qtk` command: dispatches to subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    {"quantize", "quantize a model: presets, rules, recipes, imatrix", cmd_quantize, help_quantize},
    {"inspect", "show header, metadata and tensors of a GGUF file", cmd_inspect, help_inspect},
    {"dequantize", "write a copy of a GGUF file with every tensor as F32", cmd_dequantize, help_dequantize},
    {"bench", "speed benchmarks: models (llama-bench style) and qtk bench types", cmd_bench, help_bench},
    {"run", "generate text with a model (llama-cli style), timings at the end", cmd_run, help_run},
    {"synth", "write a synthetic F16 LLaMA model (deterministic from a seed)", cmd_synth, help_synth},
    {"perplexity", "perplexity and KL-divergence of a model on a text (llama-perplexity style)", cmd_perplexity, help_perplexity},
    {"imatrix", "compute an importance matrix on a text, or combine imatrix files (llama-imatrix style)", cmd_imatrix, help_imatrix},
    {"tokenize", "tokenize a text with a model's vocabulary (llama-tokenize style)", cmd_tokenize, help_tokenize},
    {"compare", "weight-space relative RMSE of a quantized model against its source", cmd_compare, help_compare},
    {"measure", "measure every tensor's error per candidate type: the table qtk plan reads", cmd_measure, help_measure},
    {"plan", "choose a type per tensor for a size or bpw target from a measurement table", cmd_plan, help_plan},
    {"sweep", "quantize with presets and plans, KLD of each vs the source: table + SVG plot", cmd_sweep, help_sweep},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *out) {
    fprintf(out,
            "qtk %s — quantization toolkit for GGUF models\n\n"
            "usage: qtk [--help] [--version] COMMAND [ARGS]\n\n"
            "commands:\n",
            qtk_version());
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-12s %s\n", "help", "show help of a command: qtk help COMMAND");
}

static const cli_command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    /* SIGINT/SIGTERM/SIGHUP (Windows: Ctrl-C, console close) remove every
     * OUT.tmp.XXXXXX being written, then end the process as the signal would */
    qtk_install_signal_cleanup();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("qtk %s\n", qtk_version());
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const cli_command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "qtk: unknown command '%s'\nsee 'qtk --help'\n", argv[2]);
            return 2;
        }
        c->help(stdout);
        return 0;
    }
    const cli_command *c = find_command(cmd);
    if (!c) {
        /* the error stays the last thing on screen: a one-line hint, not the command list */
        fprintf(stderr, "qtk: unknown command '%s'\nsee 'qtk --help'\n", cmd);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
