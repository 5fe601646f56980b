/*
 * cmd_quantize.c — `qtk quantize`: llama-quantize's command line over the
 * library's recipe/plan engine and streaming model quantizer.
 */
#include "cli.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 64

/* The presets with their llama_ftype and description; presets this build
 * cannot (fully) quantize are marked, from the type table (quantize fn). */
static void print_preset_list(FILE *out) {
    int n = 0;
    const char *const *names = qtk_preset_names(&n);
    fprintf(out, "\npresets (case-insensitive, or the llama_ftype number):\n");
    for (int i = 0; i < n; i++) {
        int missing[16];
        bool base_missing = false;
        int nm = qtk_preset_missing_types(names[i], missing, 16, &base_missing);
        char note[160] = "";
        if (nm > 0) {
            size_t u = (size_t)snprintf(note, sizeof note, base_missing ? "  [not available: " : "  [partly: ");
            for (int k = 0; k < nm && k < 16 && u < sizeof note; k++)
                u += (size_t)snprintf(note + u, sizeof note - u, "%s%s", k ? ", " : "", qtk_type_name(missing[k]));
            if (u < sizeof note) snprintf(note + u, sizeof note - u, " not implemented]");
        }
        fprintf(out, "  %-10s %4d  %s%s\n", names[i], qtk_preset_ftype(names[i]), qtk_preset_description(names[i]), note);
    }
}

void help_quantize(FILE *out) {
    fprintf(out,
            "usage: qtk quantize [options] IN.gguf [OUT.gguf] TYPE|PRESET [nthreads]\n"
            "       qtk quantize [options] --recipe FILE IN.gguf OUT.gguf [nthreads]\n"
            "       qtk quantize [options] (--target-size S | --target-bpw X) [--measure TABLE] IN.gguf OUT.gguf\n"
            "       qtk quantize --print-recipe PRESET\n\n"
            "Quantizes an F32/F16/BF16 GGUF model (or a quantized one with --allow-requantize),\n"
            "choosing a type per tensor by a preset (llama-quantize's ftypes, e.g. Q4_K_M,\n"
            "IQ4_KSS), a plain type name, or a recipe file. OUT is written to a temp file and\n"
            "renamed when complete; without OUT it is ggml-model-PRESET.gguf beside IN (as\n"
            "llama-quantize names it). nthreads 0 (the default) = all CPUs.\n\n"
            "options (llama-quantize spelling):\n"
            "  --imatrix FILE              importance matrix (.dat legacy or GGUF imatrix)\n"
            "  --include-weights S         use the imatrix only for tensors whose name contains S (repeatable)\n"
            "  --exclude-weights S         do not use the imatrix for tensors containing S (repeatable)\n"
            "  --output-tensor-type T      type of output.weight\n"
            "  --token-embedding-type T    type of token_embd.weight\n"
            "  --leave-output-tensor       keep output.weight as it is\n"
            "  --pure                      no built-in mixing rules: every tensor gets the base type\n"
            "  --allow-requantize          accept already quantized input tensors\n"
            "  --keep-split                write one output part per input part (split input, gguf-split's\n"
            "                              PREFIX-00001-of-0000N.gguf): OUT-0000k-of-0000N.gguf, OUT without .gguf\n"
            "  --ignore-imatrix-rules      allow the very-low-bit types (iq1_*, iq2_xxs/xs/s, q2_K of Q2_K_S)\n"
            "                              without an imatrix entry\n"
            "  --override-kv KEY=TYPE:VALUE  set a metadata key in the output; TYPE int, float, bool or str\n"
            "                              (int is stored as u32, float as f32, as llama-quantize does; repeatable)\n"
            "  --attn-q-type T  --attn-k-type T  --attn-v-type T  --attn-qkv-type T\n"
            "  --attn-output-type T  --ffn-gate-type T  --ffn-down-type T  --ffn-up-type T\n"
            "                              per-class types, where the preset's rules consult them\n"
            "  --custom-q \"RE=T,RE=T\"       regex rules (searched anywhere in the name, first match wins;\n"
            "                              repeatable, rules accumulate in order)\n"
            "  --tensor-type RE=T          one regex rule (repeatable; same list as --custom-q)\n"
            "qtk additions:\n"
            "  --recipe FILE               per-tensor rules from a recipe file (docs/recipes.md)\n"
            "  --target-size S, --target-bpw X\n"
            "                              automatic mix for this file size (never exceeded; 13.5GiB,\n"
            "                              4000MB, bytes) or bpw: qtk plan on the measurement table\n"
            "  --measure TABLE             the table (qtk measure); without it the measure pass runs\n"
            "                              first into OUT.measure.tsv (kept: a rerun resumes/reuses it)\n"
            "  --measure-types LIST        candidate types of that measure pass, comma-separated\n"
            "                              (default: every type qtk can quantize; as qtk measure --types)\n"
            "  --probe-text FILE           calibrate that table with KLD probes on FILE (as qtk measure\n"
            "                              --probe-text; a text other than your validation text): the\n"
            "                              plan then costs each tensor by its measured KLD response\n"
            "  --probe-chunks N, --probe-ctx N\n"
            "                              chunks and tokens per chunk of those probes (default 32 x 512)\n"
            "  --print-recipe PRESET       print the recipe of a preset and exit\n"
            "  --dry-run                   print the plan (tensor, shape, type, why, bytes) and totals; write nothing\n"
            "  --json                      plan / summary as JSON on stdout\n"
            "  --compat mainline           the file must load in stock llama.cpp: presets follow stock\n"
            "                              llama-quantize's rules, rules naming ik_llama.cpp-only types are refused\n"
            "  --effort fast|default|max   quantizer search (every type but Q8_0 and the float types, which\n"
            "                              have one search): fast = the reference's own search (its error,\n"
            "                              faster), max = every candidate,\n"
            "                              default = the candidates that matter (docs/types.md \"Effort levels\");\n"
            "                              the bytes never depend on the ISA or the thread count\n"
            "  -t, --threads N             threads (0 = all CPUs, the default; also the optional last argument)\n"
            "  -q, --quiet                 no progress output\n"
            "  -h, --help                  show this help\n");
    print_preset_list(out);
}

typedef struct q_args {
    const char *in, *out, *preset, *recipe_file, *imatrix_file;
    const char *include_w[MAX_LIST], *exclude_w[MAX_LIST];
    int n_include, n_exclude;
    char *rules[4 * MAX_LIST]; /* "re=type" items in order */
    int n_rules;
    qtk_quant_overrides ov;
    bool allow_requantize, dry_run, json, quiet;
    int nthreads;
    int effort;               /* --effort: QTK_EFFORT_* */
    bool keep_split;          /* --keep-split: output parts as the input's */
    char default_out[4096];   /* ggml-model-PRESET.gguf beside IN when OUT is omitted */
    qtk_meta kv;              /* --override-kv keys */
    const char *measure_file; /* --measure TABLE (automatic mix)            */
    const char *measure_types;/* --measure-types LIST (measure pass types)  */
    const char *probe_text;   /* --probe-text FILE: KLD probes of that pass */
    int64_t probe_chunks, probe_ctx; /* --probe-chunks/--probe-ctx, 0 = default */
    uint64_t target_size;     /* --target-size (automatic mix), 0 = none     */
    double target_bpw;        /* --target-bpw (automatic mix), 0 = none      */
} q_args;

/* A comma-separated list of type names into types[QTK_TYPE_ID_LIMIT];
 * the count, or -1 with the reason in bad. */
static int type_list(const char *list, int *types, char *bad, size_t bad_n) {
    int n = 0;
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char name[64];
        if (l == 0 || l >= sizeof name || n >= QTK_TYPE_ID_LIMIT) {
            snprintf(bad, bad_n, "empty or too long name in '%.40s'", list);
            return -1;
        }
        memcpy(name, p, l);
        name[l] = '\0';
        if ((types[n++] = qtk_type_from_name(name)) < 0) {
            snprintf(bad, bad_n, "unknown type '%.40s'", name);
            return -1;
        }
        p += l + (c ? 1 : 0);
    }
    if (!n) snprintf(bad, bad_n, "no type given");
    return n ? n : -1;
}

/* Parses --override-kv KEY=TYPE:VALUE as llama.cpp's string_parse_kv_override:
 * int (stored as u32, llama-quantize's choice), float (f32), bool (true|false),
 * str (at most 127 bytes); keys shorter than 128 bytes. Returns 0 or exit code 2. */
static int parse_kv_override(const char *spec, qtk_meta *m) {
    const char *sep = strchr(spec, '=');
    qtk_error err;
    char key[128];
    if (!sep || sep == spec || sep - spec >= 128)
        return cli_usage_error("quantize", help_quantize, "malformed --override-kv '%s' (expected KEY=TYPE:VALUE)", spec);
    memcpy(key, spec, (size_t)(sep - spec));
    key[sep - spec] = '\0';
    const char *v = sep + 1;
    qtk_status st;
    if (!strncmp(v, "int:", 4)) {
        char *end = NULL;
        long long x = strtoll(v + 4, &end, 10);
        if (!v[4] || *end || x < 0 || x > 4294967295LL)
            return cli_usage_error("quantize", help_quantize,
                                   "--override-kv '%s': int value must be an integer 0..4294967295 (stored as u32)", spec);
        st = qtk_meta_set_u32(m, key, (uint32_t)x, &err);
    } else if (!strncmp(v, "float:", 6)) {
        char *end = NULL;
        double x = strtod(v + 6, &end);
        if (!v[6] || *end) return cli_usage_error("quantize", help_quantize, "--override-kv '%s': bad float value", spec);
        st = qtk_meta_set_f32(m, key, (float)x, &err);
    } else if (!strncmp(v, "bool:", 5)) {
        if (strcmp(v + 5, "true") != 0 && strcmp(v + 5, "false") != 0)
            return cli_usage_error("quantize", help_quantize, "--override-kv '%s': bool value must be true or false", spec);
        st = qtk_meta_set_bool(m, key, v[5] == 't', &err);
    } else if (!strncmp(v, "str:", 4)) {
        if (strlen(v + 4) > 127)
            return cli_usage_error("quantize", help_quantize, "--override-kv '%s': str value cannot exceed 127 bytes", spec);
        st = qtk_meta_set_str(m, key, v + 4, &err);
    } else {
        return cli_usage_error("quantize", help_quantize,
                               "--override-kv '%s': invalid type (expected int:, float:, bool: or str: after '=')", spec);
    }
    if (st != QTK_OK) return cli_usage_error("quantize", help_quantize, "--override-kv '%s': %s", spec, err.msg);
    return 0;
}

/* Case-insensitive ASCII comparison, 0 when equal. */
static int qtk_strcasecmp_cli(const char *a, const char *b) {
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y || !x) return x - y;
    }
}

/* Thread count: a decimal 0..256, 0 = all CPUs; -1 when invalid. */
static int parse_threads(const char *s) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 256) return -1;
    return v == 0 ? qtk_cpu_count() : (int)v;
}

/* Parses a type name (case-insensitive); prints the valid names on failure. */
static int parse_type(const char *opt, const char *name, int *out) {
    int t = qtk_type_from_name(name);
    const qtk_type_traits *tr = qtk_type_get(t);
    if (!tr || !tr->file_type) {
        fprintf(stderr, "qtk quantize: %s: unknown type '%s'; valid types:", opt, name);
        for (int i = 0; i < qtk_type_count(); i++) {
            const qtk_type_traits *x = qtk_type_at(i);
            if (x->file_type && !x->interleaved && x->quantize) fprintf(stderr, " %s", x->name);
        }
        fprintf(stderr, "\n");
        return 2;
    }
    *out = t;
    return 0;
}

/* Splits "re=type,re=type" into the rule list. */
static int add_rules(q_args *a, const char *spec, bool comma_list) {
    char *copy = (char *)malloc(strlen(spec) + 1);
    if (!copy) return 1;
    strcpy(copy, spec);
    char *p = copy;
    while (p && *p) {
        char *next = comma_list ? strchr(p, ',') : NULL;
        if (next) *next++ = '\0';
        if (!strchr(p, '=')) {
            fprintf(stderr, "qtk quantize: rule '%s' is not of the form REGEX=TYPE\n", p);
            free(copy);
            return 2;
        }
        if (a->n_rules >= 4 * MAX_LIST) {
            fprintf(stderr, "qtk quantize: too many rules\n");
            free(copy);
            return 2;
        }
        a->rules[a->n_rules] = (char *)malloc(strlen(p) + 1);
        if (!a->rules[a->n_rules]) {
            free(copy);
            return 1;
        }
        strcpy(a->rules[a->n_rules++], p);
        p = next;
    }
    free(copy);
    return 0;
}

static const struct {
    const char *opt;
    size_t field;
} type_opts[] = {
    {"--output-tensor-type", offsetof(qtk_quant_overrides, output_tensor_type)},
    {"--token-embedding-type", offsetof(qtk_quant_overrides, token_embedding_type)},
    {"--attn-q-type", offsetof(qtk_quant_overrides, attn_q_type)},
    {"--attn-k-type", offsetof(qtk_quant_overrides, attn_k_type)},
    {"--attn-v-type", offsetof(qtk_quant_overrides, attn_v_type)},
    {"--attn-qkv-type", offsetof(qtk_quant_overrides, attn_qkv_type)},
    {"--attn-output-type", offsetof(qtk_quant_overrides, attn_output_type)},
    {"--ffn-gate-type", offsetof(qtk_quant_overrides, ffn_gate_type)},
    {"--ffn-down-type", offsetof(qtk_quant_overrides, ffn_down_type)},
    {"--ffn-up-type", offsetof(qtk_quant_overrides, ffn_up_type)},
};

/* Fills a; returns -1 to continue, else an exit code. */
static int parse_args(int argc, char **argv, q_args *a) {
    const char *pos[4];
    int npos = 0;
    memset(a, 0, sizeof *a);
    qtk_quant_overrides_init(&a->ov);
    a->nthreads = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has_val = i + 1 < argc;
        if (cli_is_help(o)) {
            help_quantize(stdout);
            return 0;
        }
        if (o[0] != '-' || !o[1]) {
            if (npos >= 4) return cli_usage_error("quantize", help_quantize, "unexpected argument '%s'", o);
            pos[npos++] = o;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof type_opts / sizeof type_opts[0]; k++) {
            if (strcmp(o, type_opts[k].opt) != 0) continue;
            if (!has_val) return cli_usage_error("quantize", help_quantize, "%s needs a type", o);
            int t, rc = parse_type(o, argv[++i], &t);
            if (rc) return rc;
            *(int *)((char *)&a->ov + type_opts[k].field) = t;
            matched = true;
        }
        if (matched) continue;
        if (!strcmp(o, "--print-recipe")) {
            if (!has_val) return cli_usage_error("quantize", help_quantize, "--print-recipe needs a preset");
            qtk_error err;
            qtk_recipe *r = NULL;
            if (!qtk_preset_canonical_name(argv[i + 1]))
                return cli_usage_error("quantize", help_quantize, "unknown preset '%s'",
                                       argv[i + 1]);
            if (qtk_recipe_from_preset(argv[i + 1], &a->ov, &r, &err) != QTK_OK) return cli_fail("quantize", &err);
            char *text = qtk_recipe_text(r);
            if (text) fputs(text, stdout);
            free(text);
            qtk_recipe_free(r);
            return text ? 0 : 1;
        } else if (!strcmp(o, "--imatrix") && has_val) {
            a->imatrix_file = argv[++i];
        } else if (!strcmp(o, "--include-weights") && has_val) {
            if (a->n_include >= MAX_LIST) return cli_usage_error("quantize", help_quantize, "too many --include-weights");
            a->include_w[a->n_include++] = argv[++i];
        } else if (!strcmp(o, "--exclude-weights") && has_val) {
            if (a->n_exclude >= MAX_LIST) return cli_usage_error("quantize", help_quantize, "too many --exclude-weights");
            a->exclude_w[a->n_exclude++] = argv[++i];
        } else if (!strcmp(o, "--leave-output-tensor")) {
            a->ov.leave_output_tensor = true;
        } else if (!strcmp(o, "--pure")) {
            a->ov.pure = true;
        } else if (!strcmp(o, "--keep-split")) {
            a->keep_split = true;
        } else if (!strcmp(o, "--allow-requantize")) {
            a->allow_requantize = true;
        } else if (!strcmp(o, "--ignore-imatrix-rules")) {
            a->ov.ignore_imatrix_rules = true;
        } else if (!strcmp(o, "--override-kv") && has_val) {
            int rc = parse_kv_override(argv[++i], &a->kv);
            if (rc) return rc;
        } else if (!strcmp(o, "--compat") && has_val) {
            const char *c = argv[++i];
            if (!qtk_strcasecmp_cli(c, "mainline") || !qtk_strcasecmp_cli(c, "llama.cpp"))
                a->ov.compat_mainline = true;
            else if (!qtk_strcasecmp_cli(c, "ik") || !qtk_strcasecmp_cli(c, "ik_llama.cpp"))
                a->ov.compat_mainline = false;
            else
                return cli_usage_error("quantize", help_quantize, "--compat '%s': expected mainline or ik_llama.cpp", c);
        } else if (!strcmp(o, "--custom-q") && has_val) {
            int rc = add_rules(a, argv[++i], true);
            if (rc) return rc;
        } else if (!strcmp(o, "--tensor-type") && has_val) {
            int rc = add_rules(a, argv[++i], false);
            if (rc) return rc;
        } else if (!strcmp(o, "--recipe") && has_val) {
            a->recipe_file = argv[++i];
        } else if (!strcmp(o, "--measure") && has_val) {
            a->measure_file = argv[++i];
        } else if (!strcmp(o, "--measure-types") && has_val) {
            a->measure_types = argv[++i];
            int types[QTK_TYPE_ID_LIMIT];
            char bad[80];
            if (type_list(a->measure_types, types, bad, sizeof bad) < 0)
                return cli_usage_error("quantize", help_quantize, "--measure-types: %s", bad);
        } else if (!strcmp(o, "--probe-text") && has_val) {
            a->probe_text = argv[++i];
        } else if ((!strcmp(o, "--probe-chunks") || !strcmp(o, "--probe-ctx")) && has_val) {
            char *e;
            long long v = strtoll(argv[++i], &e, 10);
            bool chunks = !strcmp(o, "--probe-chunks");
            if (!*argv[i] || *e || (chunks ? (v == 0 || v < -1) : v < 8) || v > 1000000)
                return cli_usage_error("quantize", help_quantize, "%s: bad value '%s'", o, argv[i]);
            if (chunks) a->probe_chunks = v;
            else a->probe_ctx = v;
        } else if (!strcmp(o, "--target-size") && has_val) {
            qtk_error e;
            if (qtk_parse_size(argv[++i], &a->target_size, &e) != QTK_OK)
                return cli_usage_error("quantize", help_quantize, "--target-size: %s", e.msg);
        } else if (!strcmp(o, "--target-bpw") && has_val) {
            char *end;
            a->target_bpw = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(a->target_bpw > 0) || !(a->target_bpw < 64))
                return cli_usage_error("quantize", help_quantize, "--target-bpw '%s': expected bits per weight (0 < X < 64)",
                                       argv[i]);
        } else if (!strcmp(o, "--dry-run")) {
            a->dry_run = true;
        } else if (!strcmp(o, "--json")) {
            a->json = true;
        } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
            a->quiet = true;
        } else if (!strcmp(o, "--effort") && has_val) {
            a->effort = qtk_effort_from_name(argv[++i]);
            if (a->effort < 0)
                return cli_usage_error("quantize", help_quantize, "--effort '%s': expected fast, default or max", argv[i]);
        } else if ((!strcmp(o, "-t") || !strcmp(o, "--threads")) && has_val) {
            a->nthreads = parse_threads(argv[++i]);
            if (a->nthreads < 0)
                return cli_usage_error("quantize", help_quantize, "thread count '%s' must be 0..256 (0 = all CPUs)", argv[i]);
        } else {
            return cli_usage_error("quantize", help_quantize, "unknown or incomplete option '%s'", o);
        }
    }
    if (a->n_include && a->n_exclude)
        return cli_usage_error("quantize", help_quantize, "--include-weights and --exclude-weights exclude each other");
    /* positionals as llama-quantize: IN [OUT] PRESET [nthreads]; the second one is
     * the preset when it names one (then OUT is ggml-model-PRESET.gguf beside IN) */
    if (npos < 1) return cli_usage_error("quantize", help_quantize, "need IN.gguf");
    a->in = pos[0];
    int next = 1;
    bool target = a->target_size || a->target_bpw > 0;
    if (a->target_size && a->target_bpw > 0)
        return cli_usage_error("quantize", help_quantize, "--target-size and --target-bpw exclude each other");
    if (target && a->recipe_file)
        return cli_usage_error("quantize", help_quantize, "--recipe and a --target-* option exclude each other");
    if (a->measure_file && !target)
        return cli_usage_error("quantize", help_quantize, "--measure needs --target-size or --target-bpw");
    if (a->measure_types && (!target || a->measure_file))
        return cli_usage_error("quantize", help_quantize,
                               "--measure-types applies to the measure pass of a --target-* run without --measure");
    if ((a->probe_text || a->probe_chunks || a->probe_ctx) && (!target || a->measure_file))
        return cli_usage_error("quantize", help_quantize,
                               "--probe-* apply to the measure pass of a --target-* run without --measure "
                               "(probe a table with qtk measure --probe-text)");
    if ((a->probe_chunks || a->probe_ctx) && !a->probe_text)
        return cli_usage_error("quantize", help_quantize, "--probe-chunks/--probe-ctx need --probe-text");
    if (target && (a->n_rules || a->ov.pure))
        return cli_usage_error("quantize", help_quantize, "--custom-q/--tensor-type/--pure do not combine with a target");
    if (a->recipe_file || target) {
        if (npos < 2)
            return cli_usage_error("quantize", help_quantize, "need IN.gguf and OUT.gguf with %s",
                                   target ? "a target" : "--recipe");
        a->out = pos[1];
        next = 2;
    } else if (npos >= 2 && qtk_preset_canonical_name(pos[1])) {
        a->preset = pos[1];
        const char *in = a->in, *slash = strrchr(in, '/'), *bslash = strrchr(in, '\\');
        if (bslash && (!slash || bslash > slash)) slash = bslash;
        int dl = slash ? (int)(slash - in + 1) : 0;
        int w = snprintf(a->default_out, sizeof a->default_out, "%.*sggml-model-%s.gguf", dl, in,
                         qtk_preset_canonical_name(pos[1]));
        if (w < 0 || (size_t)w >= sizeof a->default_out)
            return cli_usage_error("quantize", help_quantize, "input path too long to derive OUT from it");
        a->out = a->default_out;
        next = 2;
    } else {
        if (npos < 3) {
            size_t l1 = strlen(pos[1]);
            if (npos == 2 && l1 > 5 && !qtk_strcasecmp_cli(pos[1] + l1 - 5, ".gguf"))
                return cli_usage_error("quantize", help_quantize, "need TYPE|PRESET after %s", pos[1]);
            if (npos == 2)
                return cli_usage_error("quantize", help_quantize, "unknown preset or type '%s'", pos[1]);
            return cli_usage_error("quantize", help_quantize, "need IN.gguf, [OUT.gguf] and TYPE|PRESET");
        }
        a->out = pos[1];
        a->preset = pos[2];
        if (!qtk_preset_canonical_name(a->preset))
            return cli_usage_error("quantize", help_quantize, "unknown preset or type '%s'",
                                   a->preset);
        next = 3;
    }
    if (npos > next) {
        if (npos > next + 1) return cli_usage_error("quantize", help_quantize, "too many arguments");
        a->nthreads = parse_threads(pos[next]);
        if (a->nthreads < 0)
            return cli_usage_error("quantize", help_quantize, "nthreads '%s' must be 0..256 (0 = all CPUs)", pos[next]);
    }
    if (a->nthreads == 0) a->nthreads = qtk_cpu_count();
    /* OUT must not be an input, however spelled (device + inode, not strings) */
    if (cli_refuse_same_file("quantize", a->out, a->in)) return 2;
    if (cli_refuse_same_file("quantize", a->out, a->imatrix_file)) return 2;
    if (cli_refuse_same_file("quantize", a->out, a->recipe_file)) return 2;
    if (cli_refuse_same_file("quantize", a->out, a->measure_file)) return 2;
    return -1;
}

/* Tensor class for summaries: the name without "blk.N." and ".weight". */
static void tensor_class(const char *name, char *buf, size_t n) {
    const char *s = name;
    if (!strncmp(s, "blk.", 4)) {
        const char *d = strchr(s + 4, '.');
        if (d) s = d + 1;
    }
    snprintf(buf, n, "%s", s);
    size_t l = strlen(buf);
    if (l > 7 && !strcmp(buf + l - 7, ".weight")) buf[l - 7] = '\0';
}

typedef struct class_total {
    char name[64];
    int64_t tensors, params;
    uint64_t bytes;
} class_total;

/* Aggregates plan bytes and parameters per tensor class. */
static int collect_classes(const qtk_gguf *g, const qtk_plan *plan, class_total *ct, int max) {
    int n = 0;
    for (int64_t i = 0; i < plan->n; i++) {
        char c[64];
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        tensor_class(t->name, c, sizeof c);
        int k = 0;
        while (k < n && strcmp(ct[k].name, c) != 0) k++;
        if (k == n) {
            if (n == max) k = n - 1; /* lump the rest into the last slot */
            else {
                memset(&ct[n], 0, sizeof ct[n]);
                snprintf(ct[n].name, sizeof ct[n].name, "%s", c);
                n++;
            }
        }
        ct[k].tensors++;
        ct[k].params += qtk_tensor_nelements(t);
        ct[k].bytes += plan->items[i].bytes;
    }
    return n;
}

static void print_class_summary(const class_total *ct, int nc);

/* Output type of every tensor of the plan (malloc'ed; NULL on OOM). */
static int *plan_out_types(const qtk_gguf *g, const qtk_plan *plan) {
    int *types = (int *)malloc((size_t)(plan->n > 0 ? plan->n : 1) * sizeof *types);
    for (int64_t i = 0; types && i < plan->n; i++)
        types[i] = plan->items[i].quantize ? plan->items[i].type : (int)qtk_gguf_tensor(g, i)->type;
    return types;
}

static void print_plan(const qtk_gguf *g, const qtk_plan *plan, bool json, const char *recipe_text) {
    int *types = plan_out_types(g, plan);
    class_total ct[64];
    int nc = collect_classes(g, plan, ct, 64);
    char b1[64];
    double bpw = plan->total_params ? 8.0 * (double)plan->total_bytes / (double)plan->total_params : 0.0;
    if (json) {
        printf("{\n  \"file_type\": %d,\n  \"tensors\": [", plan->file_type);
        for (int64_t i = 0; i < plan->n; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            const qtk_plan_item *it = &plan->items[i];
            printf("%s\n    {\"name\": ", i ? "," : "");
            cli_json_string(stdout, t->name, strlen(t->name));
            printf(", \"shape\": [");
            for (int d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? ", " : "", t->ne[d]);
            printf("], \"from\": \"%s\", \"type\": \"%s\", \"quantize\": %s, \"bytes\": %" PRIu64 ", \"reason\": ",
                   qtk_type_name(t->type), qtk_type_name(it->type), it->quantize ? "true" : "false", it->bytes);
            cli_json_string(stdout, it->reason, strlen(it->reason));
            printf("}");
        }
        printf("\n  ],\n  \"classes\": {");
        for (int k = 0; k < nc; k++)
            printf("%s\n    \"%s\": {\"tensors\": %" PRId64 ", \"params\": %" PRId64 ", \"bytes\": %" PRIu64 "}",
                   k ? "," : "", ct[k].name, ct[k].tensors, ct[k].params, ct[k].bytes);
        printf("\n  },\n  \"total_bytes\": %" PRIu64 ",\n  \"total_params\": %" PRId64 ",\n  \"bpw\": %.4f,\n  \"recipe\": ",
               plan->total_bytes, plan->total_params, bpw);
        cli_json_string(stdout, recipe_text ? recipe_text : "", recipe_text ? strlen(recipe_text) : 0);
        if (types) {
            printf(",\n  ");
            cli_print_compat_json(stdout, types, plan->n);
        }
        printf("\n}\n");
        free(types);
        return;
    }
    printf("%-36s %-18s %-8s %-8s %12s  %s\n", "tensor", "shape", "from", "type", "bytes", "why");
    for (int64_t i = 0; i < plan->n; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        const qtk_plan_item *it = &plan->items[i];
        char shape[64];
        cli_fmt_shape(t, "x", shape, sizeof shape);
        printf("%-36s %-18s %-8s %-8s %12" PRIu64 "  %s\n", t->name, shape, qtk_type_name(t->type),
               qtk_type_name(it->type), it->bytes, it->reason);
    }
    print_class_summary(ct, nc);
    printf("total: %s, %" PRId64 " parameters, %.4f bpw, general.file_type %d\n",
           cli_fmt_bytes((double)plan->total_bytes, b1, sizeof b1), plan->total_params, bpw, plan->file_type);
    if (types) cli_print_compat(stdout, types, plan->n);
    free(types);
}

static void print_class_summary(const class_total *ct, int nc) {
    char b1[64];
    printf("\nby tensor class:\n");
    for (int k = 0; k < nc; k++)
        printf("  %-24s %5" PRId64 " tensors %12s %8.4f bpw\n", ct[k].name, ct[k].tensors,
               cli_fmt_bytes((double)ct[k].bytes, b1, sizeof b1),
               ct[k].params ? 8.0 * (double)ct[k].bytes / (double)ct[k].params : 0.0);
}

typedef struct progress_state {
    uint64_t total_in;
    bool quiet;
} progress_state;

/* One line per tensor: index/total, name, types, shape, ms, running MB/s, ETA. */
static void on_progress(void *ud, const qtk_quantize_progress *p) {
    progress_state *ps = (progress_state *)ud;
    if (ps->quiet) return;
    const qtk_tensor_info *t = p->tensor;
    char shape[64];
    cli_fmt_shape(t, "x", shape, sizeof shape);
    double mbs = p->elapsed > 0 ? (double)p->bytes_in / 1e6 / p->elapsed : 0.0;
    double eta = p->bytes_in > 0 ? p->elapsed * (double)(ps->total_in - p->bytes_in) / (double)p->bytes_in : 0.0;
    fprintf(stderr, "[%4" PRId64 "/%4" PRId64 "] %-36s %-6s -> %-8s %-16s %8.1f ms %8.1f MB/s  ETA %d:%02d\n",
            p->index + 1, p->total, t->name, qtk_type_name(t->type), p->quantized ? qtk_type_name(p->out_type) : "(copy)",
            shape, p->seconds * 1e3, mbs, (int)(eta / 60), (int)eta % 60);
}

/* Refuses a preset whose default type this build cannot quantize (from the
 * type table), naming the preset and the missing types; false when usable. */
static bool preset_unavailable(const char *preset) {
    int missing[16];
    bool base = false;
    int nm = qtk_preset_missing_types(preset, missing, 16, &base);
    if (nm <= 0 || !base) return false;
    fprintf(stderr, "qtk quantize: preset %s is not available in this version of qtk: ", qtk_preset_canonical_name(preset));
    for (int k = 0; k < nm && k < 16; k++) fprintf(stderr, "%s%s", k ? ", " : "", qtk_type_name(missing[k]));
    fprintf(stderr, " cannot be quantized yet (see the preset list of 'qtk help quantize')\n");
    return true;
}

static void measure_progress(void *ud, const qtk_measure_progress *p) {
    (void)ud;
    if (p->tensor)
        fprintf(stderr, "\rqtk quantize: measuring %lld/%lld %-40.40s %6.1f s", (long long)(p->done + p->skipped),
                (long long)(p->total + p->skipped), p->tensor, p->elapsed);
}

static void probe_progress(void *ud, const qtk_probe_progress *p) {
    (void)ud;
    if (p->tensor)
        fprintf(stderr, "\rqtk quantize: probing %lld/%lld %-40.40s %6.1f s", (long long)p->done, (long long)p->total,
                p->tensor, p->elapsed);
}

/* The automatic mix for --target-size/--target-bpw (qtk plan, docs/planner.md):
 * the table of --measure, or the measure pass into OUT.measure.tsv first;
 * refused when the table is of another model or imatrix. The header size is
 * recomputed for this run's metadata (imatrix path spelling, --override-kv). */
static qtk_status plan_for_target(const q_args *a, const qtk_gguf *g, qtk_recipe **out, qtk_error *err) {
    char table_buf[4200];
    const char *table = a->measure_file;
    qtk_status st;
    if (!table) {
        int w = snprintf(table_buf, sizeof table_buf, "%s.measure.tsv", a->out);
        if (w < 0 || (size_t)w >= sizeof table_buf) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "output path too long");
        table = table_buf;
        qtk_measure_params mp;
        qtk_measure_params_init(&mp);
        mp.nthreads = a->nthreads;
        mp.imatrix_path = a->imatrix_file;
        int types[QTK_TYPE_ID_LIMIT];
        char bad[80];
        if (a->measure_types) { /* checked while parsing */
            mp.n_types = type_list(a->measure_types, types, bad, sizeof bad);
            mp.types = types;
        }
        if (!a->quiet && !a->json) {
            mp.progress = measure_progress;
            fprintf(stderr, "qtk quantize: no --measure table: measuring %s into %s\n", a->in, table);
        }
        st = qtk_measure_model(g, &mp, table, err);
        if (!a->quiet && !a->json) fprintf(stderr, "\n");
        if (st != QTK_OK) return st;
        if (a->probe_text) {
            qtk_probe_params pp;
            qtk_probe_params_init(&pp);
            pp.model_path = a->in;
            pp.imatrix_path = a->imatrix_file;
            pp.text_path = a->probe_text;
            pp.n_threads = a->nthreads > 0 ? a->nthreads : qtk_cpu_count();
            if (a->probe_chunks) pp.n_chunks = a->probe_chunks;
            if (a->probe_ctx) pp.n_ctx = a->probe_ctx;
            if (!a->quiet && !a->json) {
                pp.progress = probe_progress;
                fprintf(stderr, "qtk quantize: KLD probes of %s on %s\n", table, a->probe_text);
            }
            st = qtk_measure_probe(table, &pp, err);
            if (!a->quiet && !a->json) fprintf(stderr, "\n");
            if (st != QTK_OK) return st;
        } else if (!a->quiet && !a->json) {
            fprintf(stderr, "qtk quantize: note: no --probe-text: the plan uses the uncalibrated error cost; KLD "
                            "probes on a text make it better (docs/planner.md)\n");
        }
    }
    qtk_quantize_params qp;
    qtk_quantize_params_init(&qp);
    qp.imatrix_path = a->imatrix_file;
    qp.include_weights = a->include_w;
    qp.n_include = a->n_include;
    qp.exclude_weights = a->exclude_w;
    qp.n_exclude = a->n_exclude;
    qp.extra_meta = &a->kv;
    qtk_autoplan_target tg = {a->target_size, a->target_bpw, a->ov.compat_mainline,
                              "qtk quantize --target-* (automatic mix, docs/planner.md)"};
    char *text = NULL;
    uint64_t size = 0;
    double bpw = 0, cost = 0;
    if ((st = qtk_autoplan_for_model(g, table, &qp, &tg, &text, &size, &bpw, &cost, err)) != QTK_OK) return st;
    st = qtk_recipe_parse(text, table, out, err);
    free(text);
    if (st == QTK_OK && !a->quiet && !a->json)
        fprintf(stderr, "qtk quantize: automatic mix from %s: %llu bytes, %.4f bpw, predicted cost %.6g\n", table,
                (unsigned long long)size, bpw, cost);
    return st;
}

int cmd_quantize(int argc, char **argv) {
    q_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        qtk_meta_clear(&a.kv);
        return rc;
    }

    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_recipe *recipe = NULL;
    qtk_imatrix *im = NULL;
    qtk_plan *plan = NULL;
    char *recipe_text = NULL;
    int *out_types = NULL;
    rc = 1;

    if (qtk_gguf_open(a.in, &g, &err) != QTK_OK) goto fail;
    if (a.target_size || a.target_bpw > 0) {
        if (plan_for_target(&a, g, &recipe, &err) != QTK_OK) goto fail;
        if (qtk_recipe_apply_overrides(recipe, &a.ov, &err) != QTK_OK) goto fail;
    } else if (a.recipe_file) {
        size_t n = 0;
        char *text = cli_read_text_file(a.recipe_file, &n, &err);
        if (!text) goto fail;
        qtk_status s = qtk_recipe_parse(text, a.recipe_file, &recipe, &err);
        free(text);
        if (s != QTK_OK) goto fail;
        /* per-class options, forced output/embedding types and --compat apply to recipe files too */
        if (qtk_recipe_apply_overrides(recipe, &a.ov, &err) != QTK_OK) goto fail;
    } else if (preset_unavailable(a.preset)) {
        rc = 2; /* the preset's base type has no quantizer in this build: nothing to plan */
        goto done;
    } else if (qtk_recipe_from_preset(a.preset, &a.ov, &recipe, &err) != QTK_OK) {
        /* the name is known (checked while parsing): an option does not fit the preset */
        rc = err.code == QTK_ERR_NOMEM ? 1 : 2;
        fprintf(stderr, "qtk quantize: %s\n", err.msg);
        goto done;
    }
    for (int i = 0; i < a.n_rules; i++) {
        char *eq = strrchr(a.rules[i], '=');
        *eq = '\0';
        int t;
        if ((rc = parse_type("--custom-q", eq + 1, &t)) != 0) goto done;
        if (qtk_recipe_add_custom(recipe, a.rules[i], t, &err) != QTK_OK) {
            /* a rule given on the command line that does not parse is a usage error */
            rc = 2;
            fprintf(stderr, "qtk quantize: --custom-q '%s=%s': %s\n", a.rules[i], eq + 1, err.msg);
            goto done;
        }
        rc = 1;
    }
    if (a.imatrix_file && qtk_imatrix_load(a.imatrix_file, &im, &err) != QTK_OK) goto fail;
    if (qtk_plan_make(g, recipe, im, a.allow_requantize, &plan, &err) != QTK_OK) goto fail;
    /* a preset or rule choosing a type this build cannot quantize: refused up front (dry runs too) */
    if (qtk_plan_check_types(plan, recipe, &err) != QTK_OK) {
        fprintf(stderr, "qtk quantize: %s\n", err.msg);
        rc = 2;
        goto done;
    }
    recipe_text = qtk_recipe_text(recipe);

    progress_state ps = {0, a.quiet || a.json};
    for (int64_t i = 0; i < qtk_gguf_n_tensors(g); i++) ps.total_in += qtk_gguf_tensor(g, i)->nbytes;
    qtk_quantize_params qp;
    qtk_quantize_params_init(&qp);
    qp.nthreads = a.nthreads;
    qp.imatrix = im;
    qp.imatrix_path = a.imatrix_file;
    qp.include_weights = a.include_w;
    qp.n_include = a.n_include;
    qp.exclude_weights = a.exclude_w;
    qp.n_exclude = a.n_exclude;
    qp.recipe = recipe;
    qp.extra_meta = &a.kv;
    qp.progress = on_progress;
    qp.progress_ud = &ps;
    qp.keep_split = a.keep_split;
    qp.effort = a.effort;

    /* imatrix entries of the wrong size, missing required entries, ...: before anything is written */
    if (qtk_quantize_check(g, plan, &qp, &err) != QTK_OK) goto fail;
    if (im && !a.quiet && !a.json) {
        /* quantized tensors that get no importance weights (no entry, or excluded) */
        for (int64_t i = 0; i < plan->n; i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            if (plan->items[i].quantize && !qtk_quantize_imatrix_for(&qp, t, 0))
                fprintf(stderr, "qtk quantize: warning: %s: no importance weights for '%s' (%s)\n", a.imatrix_file,
                        t->name, qtk_imatrix_find(im, t->name) ? "excluded" : "no entry");
        }
    }

    if (a.dry_run) {
        print_plan(g, plan, a.json, recipe_text);
        rc = 0;
        goto done;
    }

    double t0 = qtk_time_now();
    if (qtk_quantize_model(g, plan, a.out, &qp, &err) != QTK_OK) goto fail;
    double wall = qtk_time_now() - t0;
    if (a.json) {
        print_plan(g, plan, true, recipe_text);
    } else if (!a.quiet) {
        class_total ct[64];
        char b1[64], b2[64];
        int nc = collect_classes(g, plan, ct, 64);
        print_class_summary(ct, nc);
        uint64_t in_bytes = ps.total_in;
        char out_label[4200];
        snprintf(out_label, sizeof out_label, "%s", a.out);
        if (a.keep_split) { /* --keep-split: the parts, listed below */
            int np = qtk_gguf_n_parts(g);
            int l = qtk_split_out_path(out_label, sizeof out_label - 32, a.out, 0, np);
            if (l > 0 && np > 1) snprintf(out_label + l, sizeof out_label - (size_t)l, " and %d more parts", np - 1);
        }
        printf("input:  %s\noutput: %s (%s), %.4f bpw, general.file_type %d\nwall time: %.2f s with %d threads\n",
               cli_fmt_bytes((double)in_bytes, b1, sizeof b1), out_label, cli_fmt_bytes((double)plan->total_bytes, b2, sizeof b2),
               plan->total_params ? 8.0 * (double)plan->total_bytes / (double)plan->total_params : 0.0,
               plan->file_type, wall, a.nthreads);
        for (int k = 0; a.keep_split && k < qtk_gguf_n_parts(g); k++) {
            char pp[4200];
            qtk_split_out_path(pp, sizeof pp, a.out, k, qtk_gguf_n_parts(g));
            printf("  part %d of %d: %s\n", k + 1, qtk_gguf_n_parts(g), pp);
        }
        if ((out_types = plan_out_types(g, plan)) != NULL) cli_print_compat(stdout, out_types, plan->n);
        /* last line: the run's cost (llama-quantize prints its times last too) */
        char b3[64];
        const uint64_t rss = qtk_peak_rss_bytes();
        printf("quantize: %.2f s wall, %.2f M weights/s, peak memory %s, effort %s, %d thread%s\n", wall,
               wall > 0 ? (double)plan->total_params / wall / 1e6 : 0.0,
               rss ? cli_fmt_bytes((double)rss, b3, sizeof b3) : "unknown", qtk_effort_name(a.effort), a.nthreads,
               a.nthreads == 1 ? "" : "s");
    }
    rc = 0;
    goto done;

fail:
    rc = cli_fail("quantize", &err);
done:
    for (int i = 0; i < a.n_rules; i++) free(a.rules[i]);
    qtk_meta_clear(&a.kv);
    free(out_types);
    free(recipe_text);
    qtk_plan_free(plan);
    qtk_imatrix_free(im);
    qtk_recipe_free(recipe);
    qtk_gguf_close(g);
    return rc;
}
