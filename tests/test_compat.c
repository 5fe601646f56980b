/*
 * test_compat.c — which programs load a file, and --compat mainline:
 *  - the type table's ecosystems field (every id known to someone; ik-only ids);
 *  - every preset of ../shared/fixtures/presets-mainline.json (stock
 *    llama-quantize's per-tensor plans for tiny-llama-f16.gguf with its
 *    imatrix) against qtk's --compat mainline plans, tensor by tensor, with
 *    general.file_type and the file size the reference types give;
 *  - --compat mainline refusing ik-only presets, options, recipe and --custom-q rules;
 *  - the "loads in:" line of quantize and inspect (text and JSON);
 *  - usage errors of every command: exit 2, the error or a one-line hint last.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

/* ---- a minimal JSON reader for {"P": {"file_bytes": N, "file_type": N, "types": {...}}} ---- */

typedef struct jr {
    const char *p;
    bool bad;
} jr;

static void jws(jr *j) {
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t') j->p++;
}

static bool jlit(jr *j, char c) {
    jws(j);
    if (*j->p != c) return false;
    j->p++;
    return true;
}

/* A string without escapes (all names in the fixture are plain) into buf. */
static bool jstr(jr *j, char *buf, size_t n) {
    jws(j);
    if (*j->p != '"') return j->bad = true, false;
    const char *e = strchr(j->p + 1, '"');
    if (!e || (size_t)(e - j->p - 1) >= n) return j->bad = true, false;
    memcpy(buf, j->p + 1, (size_t)(e - j->p - 1));
    buf[e - j->p - 1] = '\0';
    j->p = e + 1;
    return true;
}

static long long jnum(jr *j) {
    jws(j);
    char *e = NULL;
    long long v = strtoll(j->p, &e, 10);
    if (e == j->p) j->bad = true;
    j->p = e;
    return v;
}

typedef struct ml_preset {
    char name[32];
    long long file_bytes, file_type;
    int n;
    char tname[128][48], ttype[128][16];
} ml_preset;

/* Reads the next preset of the top-level object; false at its end or on error. */
static bool next_preset(jr *j, ml_preset *mp) {
    memset(mp, 0, sizeof *mp);
    jws(j);
    if (*j->p == '}' || j->bad) return false;
    jlit(j, ',');
    if (!jstr(j, mp->name, sizeof mp->name) || !jlit(j, ':') || !jlit(j, '{')) return j->bad = true, false;
    for (;;) {
        char key[32];
        jlit(j, ',');
        if (jlit(j, '}')) break;
        if (!jstr(j, key, sizeof key) || !jlit(j, ':')) return j->bad = true, false;
        if (!strcmp(key, "file_bytes")) mp->file_bytes = jnum(j);
        else if (!strcmp(key, "file_type")) mp->file_type = jnum(j);
        else if (!strcmp(key, "types")) {
            if (!jlit(j, '{')) return j->bad = true, false;
            while (!jlit(j, '}')) {
                jlit(j, ',');
                if (mp->n >= 128 || !jstr(j, mp->tname[mp->n], 48) || !jlit(j, ':') || !jstr(j, mp->ttype[mp->n], 16))
                    return j->bad = true, false;
                mp->n++;
            }
        } else {
            return j->bad = true, false;
        }
    }
    return !j->bad;
}

/* ---- the type table's ecosystems ------------------------------------------------ */

static void test_ecosystems(void) {
    for (int i = 0; i < qtk_type_count(); i++) {
        const qtk_type_traits *tr = qtk_type_at(i);
        CHECK(tr->ecosystems != 0, "%s: no ecosystem knows it", tr->name);
        /* ids 0..30 and MXFP4 (39) are ggml's (ik_llama.cpp keeps them); 99+ are ik_llama.cpp's own */
        if (tr->id <= QTK_TYPE_BF16 || tr->id == QTK_TYPE_MXFP4)
            CHECK(tr->ecosystems == QTK_ECO_BOTH, "%s (id %d) is a mainline id", tr->name, (int)tr->id);
        else
            CHECK(tr->ecosystems == QTK_ECO_IK_LLAMA, "%s (id %d) is ik_llama.cpp-only", tr->name, (int)tr->id);
    }
    CHECK(qtk_type_get(QTK_TYPE_IQ5_K)->ecosystems == QTK_ECO_IK_LLAMA, "iq5_k ik-only");
    CHECK(qtk_type_get(QTK_TYPE_Q6_0)->ecosystems == QTK_ECO_IK_LLAMA, "q6_0 ik-only");
    CHECK(qtk_type_get(QTK_TYPE_IQ4_XS)->ecosystems == QTK_ECO_BOTH, "iq4_xs in both");
    CHECK(qtk_type_get(QTK_TYPE_IQ2_XXS)->ecosystems == QTK_ECO_BOTH, "iq2_xxs in both");
    CHECK(qtk_type_get(QTK_TYPE_MXFP4) && qtk_type_get(QTK_TYPE_MXFP4)->ecosystems == QTK_ECO_BOTH, "mxfp4 in both");
}

/* ---- presets-mainline.json ------------------------------------------------------ */

static void test_mainline_fixture(void) {
    char *json = tl_shared_path("fixtures/presets-mainline.json");
    char *path = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    char *impath = tl_shared_path("fixtures/imatrix.dat");
    if (!json || !path || !impath) {
        printf("presets-mainline.json, fixture or imatrix missing: mainline plans not compared\n");
        free(json);
        free(path);
        free(impath);
        return;
    }
    char *text = tl_read_text(json);
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_imatrix *im = NULL;
    CHECK(text != NULL, "read %s", json);
    CHECK(qtk_gguf_open(path, &g, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_load(impath, &im, &err) == QTK_OK, "%s", err.msg);
    ml_preset *mp = (ml_preset *)malloc(sizeof *mp);
    jr j = {text, false};
    int n_file = 0, n_cmp = 0, n_absent = 0;
    long long header = -1;
    if (text && g && im && mp && jlit(&j, '{')) {
        while (next_preset(&j, mp)) {
            n_file++;
            qtk_quant_overrides ov;
            qtk_quant_overrides_init(&ov);
            ov.compat_mainline = true;
            if (!qtk_preset_canonical_name(mp->name)) {
                /* every stock preset is a qtk preset (MXFP4_MOE too, since issue #16) */
                CHECK(0, "%s: not a qtk preset", mp->name);
                n_absent++;
                continue;
            }
            qtk_recipe *r = NULL;
            qtk_plan *p = NULL;
            qtk_status s = qtk_recipe_from_preset(mp->name, &ov, &r, &err);
            CHECK(s == QTK_OK, "%s --compat mainline: %s", mp->name, err.msg);
            if (s == QTK_OK) s = qtk_plan_make(g, r, im, false, &p, &err);
            CHECK(s == QTK_OK, "%s plan: %s", mp->name, err.msg);
            if (p) {
                n_cmp++;
                CHECK(p->file_type == mp->file_type, "%s: file_type %d, stock %lld", mp->name, p->file_type, mp->file_type);
                CHECK(mp->n == qtk_gguf_n_tensors(g), "%s: %d tensors in the fixture file", mp->name, mp->n);
                uint64_t data = 0;
                for (int k = 0; k < mp->n; k++) {
                    int64_t i = qtk_gguf_find_tensor(g, mp->tname[k]);
                    int want = qtk_type_from_name(mp->ttype[k]);
                    CHECK(i >= 0 && want >= 0, "%s: tensor %s type %s", mp->name, mp->tname[k], mp->ttype[k]);
                    if (i < 0 || want < 0) continue;
                    CHECK(p->items[i].type == want, "%s: %s is %s, stock llama-quantize %s (%s)", mp->name,
                          mp->tname[k], qtk_type_name(p->items[i].type), mp->ttype[k], p->items[i].reason);
                    const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
                    uint64_t b = (uint64_t)qtk_row_size(want, t->ne[0]) * (uint64_t)qtk_tensor_nrows(t);
                    data += (b + 31) / 32 * 32;
                }
                CHECK(p->total_bytes_padded == data, "%s: data %llu bytes, stock types give %llu", mp->name,
                      (unsigned long long)p->total_bytes_padded, (unsigned long long)data);
                /* the stock file = one header (same metadata for every preset) + this data */
                long long h = mp->file_bytes - (long long)data;
                if (header < 0) header = h;
                CHECK(h == header && h % 32 == 0 && h > 0, "%s: file %lld - data %llu = header %lld (first: %lld)",
                      mp->name, mp->file_bytes, (unsigned long long)data, h, header);
                /* and every type of the plan loads in stock llama.cpp */
                for (int64_t i = 0; i < p->n; i++)
                    CHECK(qtk_type_get(p->items[i].type)->ecosystems & QTK_ECO_LLAMA_CPP, "%s: %s is ik-only",
                          mp->name, qtk_type_name(p->items[i].type));
            }
            qtk_plan_free(p);
            qtk_recipe_free(r);
        }
    }
    CHECK(!j.bad && n_file >= 28, "parsed %d presets of %s", n_file, json);
    CHECK(n_cmp == n_file && n_absent == 0, "%d of %d presets compared", n_cmp, n_file);
    printf("presets-mainline.json: %d of %d presets compared per tensor\n", n_cmp, n_file);

    /* the same model without --compat: IQ4_XS gives attn_v iq5_k (ik), stock keeps iq4_xs */
    {
        qtk_recipe *r = NULL;
        qtk_plan *p = NULL;
        if (g && im && qtk_recipe_from_preset("IQ4_XS", NULL, &r, &err) == QTK_OK &&
            qtk_plan_make(g, r, im, false, &p, &err) == QTK_OK) {
            int64_t i = qtk_gguf_find_tensor(g, "blk.0.attn_v.weight");
            CHECK(i >= 0 && p->items[i].type == QTK_TYPE_IQ5_K, "IQ4_XS without --compat: attn_v iq5_k");
        }
        qtk_plan_free(p);
        qtk_recipe_free(r);
    }
    free(mp);
    free(text);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
    free(json);
    free(path);
    free(impath);
}

/* ---- refusals of ik-only types under --compat mainline ---------------------------- */

static void test_refusals(void) {
    qtk_error err;
    qtk_quant_overrides ov;
    qtk_quant_overrides_init(&ov);
    ov.compat_mainline = true;
    qtk_recipe *r = NULL;
    const char *ik_presets[] = {"IQ4_K", "IQ4_KSS", "Q6_0", "IQ2_KL", "IQ4_MIX40", "148"};
    for (size_t k = 0; k < sizeof ik_presets / sizeof ik_presets[0]; k++) {
        CHECK(qtk_recipe_from_preset(ik_presets[k], &ov, &r, &err) != QTK_OK && strstr(err.msg, "--compat mainline"),
              "%s refused under --compat mainline: %s", ik_presets[k], err.msg);
        qtk_recipe_free(r);
        r = NULL;
    }
    ov.attn_v_type = QTK_TYPE_IQ5_K;
    CHECK(qtk_recipe_from_preset("Q4_K_M", &ov, &r, &err) != QTK_OK && strstr(err.msg, "iq5_k"),
          "an ik-only per-class type is refused: %s", err.msg);
    qtk_recipe_free(r);
    r = NULL;
    ov.attn_v_type = QTK_TYPE_Q8_0; /* a mainline type is fine */
    CHECK(qtk_recipe_from_preset("Q4_K_M", &ov, &r, &err) == QTK_OK, "mainline per-class type: %s", err.msg);
    if (r) {
        CHECK(qtk_recipe_add_custom(r, "ffn_down", QTK_TYPE_IQ4_KS, &err) != QTK_OK && strstr(err.msg, "iq4_ks"),
              "--custom-q naming an ik-only type refused: %s", err.msg);
        CHECK(qtk_recipe_add_custom(r, "ffn_down", QTK_TYPE_Q5_K, &err) == QTK_OK, "--custom-q mainline type: %s", err.msg);
    }
    qtk_recipe_free(r);
    r = NULL;
    ov.attn_v_type = -1;
    /* recipe files: the offending line is named */
    CHECK(qtk_recipe_parse("default q4_K\nattn_v = q6_K\nffn_down @ more_bits = iq5_k\n", "r.txt", &r, &err) == QTK_OK,
          "parse: %s", err.msg);
    if (r)
        CHECK(qtk_recipe_apply_overrides(r, &ov, &err) != QTK_OK && strstr(err.msg, "r.txt:3") && strstr(err.msg, "iq5_k"),
              "recipe rule naming an ik-only type refused with its line: %s", err.msg);
    qtk_recipe_free(r);
    r = NULL;
    CHECK(qtk_recipe_parse("default iq4_ks\n", "r2.txt", &r, &err) == QTK_OK, "parse: %s", err.msg);
    if (r)
        CHECK(qtk_recipe_apply_overrides(r, &ov, &err) != QTK_OK && strstr(err.msg, "iq4_ks"),
              "recipe default ik-only refused: %s", err.msg);
    qtk_recipe_free(r);
    r = NULL;
    /* a recipe file can say it itself: "compat mainline" */
    CHECK(qtk_recipe_parse("default q4_K\ncompat mainline\nffn_down = iq4_k\n", "r3.txt", &r, &err) != QTK_OK &&
              strstr(err.msg, "r3.txt:3") && strstr(err.msg, "iq4_k"),
          "'compat mainline' recipe with an ik-only rule refused: %s", err.msg);
    CHECK(qtk_recipe_parse("default q4_K\ncompat ik\n", "r4.txt", &r, &err) != QTK_OK && strstr(err.msg, "r4.txt:2"),
          "'compat' takes only mainline: %s", err.msg);
    /* the printed recipe of a --compat mainline preset keeps the mode (stored as quantize.recipe) */
    ov.compat_mainline = true;
    CHECK(qtk_recipe_from_preset("Q4_K_M", &ov, &r, &err) == QTK_OK, "Q4_K_M mainline: %s", err.msg);
    if (r) {
        char *text = qtk_recipe_text(r);
        qtk_recipe *r2 = NULL;
        CHECK(text && strstr(text, "\ncompat mainline\n"), "printed recipe has 'compat mainline'");
        CHECK(text && qtk_recipe_parse(text, "printed", &r2, &err) == QTK_OK, "printed recipe parses: %s", err.msg);
        if (r2)
            CHECK(qtk_recipe_add_custom(r2, "ffn_up", QTK_TYPE_IQ4_K, &err) != QTK_OK, "the parsed copy is mainline too");
        qtk_recipe_free(r2);
        free(text);
    }
    qtk_recipe_free(r);
    r = NULL;
    /* a recipe file given --compat mainline gets the line too */
    CHECK(qtk_recipe_parse("# mine\ndefault q4_K\nffn_down = q6_K\n", "r5.txt", &r, &err) == QTK_OK, "%s", err.msg);
    if (r) {
        CHECK(qtk_recipe_apply_overrides(r, &ov, &err) == QTK_OK, "apply: %s", err.msg);
        char *text = qtk_recipe_text(r);
        CHECK(text && !strcmp(text, "# mine\ndefault q4_K\ncompat mainline\nffn_down = q6_K\n"), "text: %s", text);
        free(text);
    }
    qtk_recipe_free(r);
    r = NULL;
    qtk_quant_overrides_init(&ov);
    /* without --compat the same is accepted */
    qtk_quant_overrides_init(&ov);
    CHECK(qtk_recipe_from_preset("IQ4_K", &ov, &r, &err) == QTK_OK, "IQ4_K without --compat");
    qtk_recipe_free(r);
}

/* ---- CLI: loads-in lines, --compat, usage errors ------------------------------------ */


static void test_cli(void) {
    if (!tl_qtk_available()) {
        printf("qtk binary not runnable here: CLI part skipped\n");
        return;
    }
    char *log = tl_tmp_path("tc_log.txt"), *out = tl_tmp_path("tc_out.gguf");
    char args[8192];
    /* usage errors of every command: exit 2, a one-line hint (or the error) last, no help text dump */
    const char *cmds[] = {"quantize", "inspect", "dequantize", "bench", "synth", "perplexity", "tokenize", "compare", "run"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        snprintf(args, sizeof args, "help %s", cmds[k]);
        if (k >= 8 && tl_run_qtk(args, log) != 0) continue; /* a newer command absent from this build */
        snprintf(args, sizeof args, "%s --no-such-option", cmds[k]);
        int rc = tl_run_qtk(args, log);
        char hint[64];
        snprintf(hint, sizeof hint, "see 'qtk help %s'", cmds[k]);
        CHECK(rc == 2, "qtk %s --no-such-option: exit %d, want 2", cmds[k], rc);
        CHECK(!strcmp(tl_last_line(log), hint), "qtk %s: last line '%s', want the hint", cmds[k], tl_last_line(log));
        CHECK(!tl_file_contains(log, "usage:"), "qtk %s: the help text is not printed after a usage error", cmds[k]);
    }
    CHECK(tl_run_qtk("frobnicate", log) == 2 && !strcmp(tl_last_line(log), "see 'qtk --help'"),
          "unknown command: exit 2, hint last ('%s')", tl_last_line(log));

    char *model = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    char *im = tl_shared_path("fixtures/imatrix.dat");
    if (!model || !im) {
        printf("fixture missing: loads-in part skipped\n");
        free(model);
        free(im);
        free(log);
        free(out);
        return;
    }
    /* IQ4_XS on the GQA fixture: attn_v iq5_k (ik rule) -> ik_llama.cpp only, said after quantize and by inspect */
    remove(out);
    snprintf(args, sizeof args, "quantize --imatrix \"%s\" \"%s\" \"%s\" IQ4_XS 2", im, model, out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "ik_llama.cpp only: iq5_k in 6 tensors"),
          "quantize IQ4_XS reports ik_llama.cpp only (%s)", tl_last_line(log));
    snprintf(args, sizeof args, "inspect \"%s\"", out);
    CHECK(tl_run_qtk(args, log) == 0 && !strcmp(tl_last_line(log), "ik_llama.cpp only: iq5_k in 6 tensors"),
          "inspect: '%s'", tl_last_line(log));
    snprintf(args, sizeof args, "inspect --json \"%s\"", out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "\"loads_in\": [\"ik_llama.cpp\"]") &&
              tl_file_contains(log, "\"not_in_llama.cpp\": {\"iq5_k\": 6}"),
          "inspect --json loads_in");
    /* --compat mainline: stock rules, the file loads everywhere */
    remove(out);
    snprintf(args, sizeof args, "quantize --compat mainline --imatrix \"%s\" \"%s\" \"%s\" IQ4_XS 2", im, model, out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "loads in: llama.cpp, ik_llama.cpp"),
          "--compat mainline IQ4_XS loads in both (%s)", tl_last_line(log));
    snprintf(args, sizeof args, "inspect \"%s\"", out);
    CHECK(tl_run_qtk(args, log) == 0 && !strcmp(tl_last_line(log), "loads in: llama.cpp, ik_llama.cpp"), "inspect: %s",
          tl_last_line(log));
    snprintf(args, sizeof args, "inspect --json \"%s\"", out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "\"loads_in\": [\"llama.cpp\", \"ik_llama.cpp\"]") &&
              tl_file_contains(log, "\"not_in_llama.cpp\": {}"),
          "inspect --json loads_in both");
    snprintf(args, sizeof args, "quantize --dry-run --json --compat mainline \"%s\" \"%s\" Q4_K_M", model, out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "\"loads_in\": [\"llama.cpp\", \"ik_llama.cpp\"]"),
          "dry-run --json loads_in");
    /* refusals: an ik preset, a rule naming an ik-only type; nothing written */
    remove(out);
    snprintf(args, sizeof args, "quantize --compat mainline \"%s\" \"%s\" IQ4_KSS", model, out);
    CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "IQ4_KSS") && !tl_file_exists(out),
          "--compat mainline refuses an ik preset: %s", tl_last_line(log));
    snprintf(args, sizeof args, "quantize --compat mainline --custom-q attn_v=iq5_k \"%s\" \"%s\" IQ4_XS", model, out);
    CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "iq5_k") && !tl_file_exists(out),
          "--compat mainline refuses a rule with an ik-only type: %s", tl_last_line(log));
    snprintf(args, sizeof args, "quantize --compat bogus \"%s\" \"%s\" IQ4_XS", model, out);
    CHECK(tl_run_qtk(args, log) == 2, "--compat bogus is a usage error");
    remove(out);
    free(model);
    free(im);
    free(log);
    free(out);
}

int main(void) {
    test_ecosystems();
    test_refusals();
    test_mainline_fixture();
    test_cli();
    return tl_finish("test_compat");
}
