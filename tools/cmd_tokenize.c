/* cmd_tokenize.c — `qtk tokenize`: text to token ids with a model's (or a
 * vocabulary-only GGUF file's) tokenizer, spelled and printed like llama.cpp's
 * llama-tokenize. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void help_tokenize(FILE *out) {
    fprintf(out,
            "usage: qtk tokenize -m MODEL.gguf (-p TEXT | -f FILE) [--ids] [--no-bos]\n"
            "                    [--no-parse-special] [--show-count]\n\n"
            "Tokenizes a text with the tokenizer stored in MODEL.gguf (a vocabulary-only\n"
            "GGUF file is enough): SentencePiece (tokenizer.ggml.model = llama) or byte-level\n"
            "BPE (gpt2, with the pre-tokenizer named by tokenizer.ggml.pre). Prints one\n"
            "\"ID -> 'piece'\" line per token, or with --ids the list [1, 2, 3].\n\n"
            "options:\n"
            "  -m, --model FILE       GGUF file with tokenizer.ggml.* metadata\n"
            "  -p, --prompt TEXT      text to tokenize\n"
            "  -f, --file FILE        read the text from FILE\n"
            "  --ids                  print only the ids, as [1, 2, 3]\n"
            "  --no-bos               do not put BOS first even if the vocabulary adds it\n"
            "  --no-parse-special     take control tokens written in the text (\"<s>\",\n"
            "                         \"<|endoftext|>\") as plain text\n"
            "  --show-count           print the number of tokens at the end\n"
            "  -h, --help             show this help\n");
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t k = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (k == 0 || k > n) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return k;
}

/* Prints a piece; bytes that are not valid UTF-8 (a piece can be part of a
 * character) are shown as \xNN. Returns whether the piece was valid. */
static bool print_piece(const char *p, size_t n) {
    bool valid = true;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)p + i, n - i);
        if (k == 0) {
            printf("\\x%02x", (unsigned char)p[i++]);
            valid = false;
        } else {
            fwrite(p + i, 1, k, stdout);
            i += k;
        }
    }
    return valid;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool ids_only = false, no_bos = false, parse_special = true, show_count = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help_tokenize(stdout);
            return 0;
        }
        bool has_val = i + 1 < argc;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val) prompt = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) file = argv[++i];
        else if (!strcmp(a, "--ids")) ids_only = true;
        else if (!strcmp(a, "--no-bos")) no_bos = true;
        else if (!strcmp(a, "--no-parse-special")) parse_special = false;
        else if (!strcmp(a, "--show-count")) show_count = true;
        else return cli_usage_error("tokenize", help_tokenize, "unknown or incomplete option '%s'", a);
    }
    if (!model) return cli_usage_error("tokenize", help_tokenize, "missing -m MODEL.gguf");
    if (!prompt == !file) return cli_usage_error("tokenize", help_tokenize, "give exactly one of -p TEXT and -f FILE");
    qtk_error err;
    char *text = NULL;
    size_t len = 0;
    if (file) {
        text = cli_read_text_file(file, &len, &err);
        if (!text) return cli_fail("tokenize", &err);
    } else {
        len = strlen(prompt);
    }
    const char *src = file ? text : prompt;
    qtk_gguf *g = NULL;
    qtk_vocab *v = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    int rc = 0;
    if (qtk_gguf_open(model, &g, &err) != QTK_OK || qtk_vocab_load(g, &v, &err) != QTK_OK ||
        qtk_tokenize_ex(v, src, len, !no_bos, parse_special, &ids, &n, &err) != QTK_OK) {
        rc = cli_fail("tokenize", &err);
    } else if (ids_only) {
        putchar('[');
        for (int64_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", (int)ids[i]);
        printf("]\n");
    } else {
        char buf[256];
        for (int64_t i = 0; i < n; i++) {
            size_t k = qtk_token_to_piece(v, ids[i], true, buf, sizeof buf);
            char *p = buf;
            if (k > sizeof buf) {
                p = (char *)malloc(k);
                if (!p) break;
                qtk_token_to_piece(v, ids[i], true, p, k);
            }
            printf("%6d -> '", (int)ids[i]);
            bool valid = print_piece(p, k);
            printf(valid ? "'\n" : "' (utf-8 decode failure)\n");
            if (p != buf) free(p);
        }
    }
    if (rc == 0 && show_count) printf("Total number of tokens: %lld\n", (long long)n);
    free(ids);
    qtk_vocab_free(v);
    qtk_gguf_close(g);
    free(text);
    return rc;
}
