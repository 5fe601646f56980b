/*
 * fuzz_recipe.c — libFuzzer target for the recipe parser (docs/recipes.md)
 * and the regex engine and rule evaluation behind it. Every input is recipe
 * text: it must either be refused with a message starting with the origin
 * ("fuzz.recipe:"), or parse into a recipe whose canonical text parses back
 * into the same text and file type; the recipe is then planned against a
 * tiny LLaMA model (every rule's regex, layer selector and condition run on
 * its tensor names), which must either succeed with one item per tensor or
 * fail with a message. LLVMFuzzerInitialize writes the texts of a few
 * presets into the corpus directory as seeds.
 */
#include "fuzz_common.h"

static qtk_gguf *g_model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char path[512];
    fz_scratch_path(path, sizeof path, "recipe-model", "gguf");
    fz_tiny_model(path);
    qtk_error err;
    if (qtk_gguf_open(path, &g_model, &err) != QTK_OK) abort();
    remove(path);
    const char *dir = fz_corpus_dir(*argc, *argv);
    static const char *const presets[] = {"Q4_K_M", "IQ4_KSS", "Q8_0", "Q2_K_S", "IQ2_K"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        qtk_recipe *r = NULL;
        if (qtk_recipe_from_preset(presets[i], NULL, &r, &err) != QTK_OK) continue;
        char *t = qtk_recipe_text(r);
        char name[64];
        snprintf(name, sizeof name, "seed-%s.recipe", presets[i]);
        if (t) fz_seed(dir, name, t, strlen(t));
        free(t);
        qtk_recipe_free(r);
    }
    static const char hand[] =
        "# hand-written seed\ndefault q4_K\nfile_type Q4_K_M\nrequires_imatrix none\n"
        "attn_v @ 0-3,7 = q6_K\n^blk\\.(1|2)\\.ffn_(up|gate)\\.weight$ = iq4_nl\n"
        "ffn_down @ 0..1 if n_head_kv < 4 = q5_K\n[^a-z]+out[a-z]{2,}\\.w?eight = keep\n"
        "force output\\.weight = q8_0\ntoken_embd = copy\n";
    fz_seed(dir, "seed-hand.recipe", hand, sizeof hand - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char origin[] = "fuzz.recipe";
    char *text = (char *)malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    qtk_recipe *r = NULL, *r2 = NULL;
    qtk_error err;
    memset(&err, 0, sizeof err);
    if (qtk_recipe_parse(text, origin, &r, &err) != QTK_OK) {
        if (r != NULL || strncmp(err.msg, origin, sizeof origin - 1) != 0) {
            fprintf(stderr, "fuzz_recipe: error without the origin: %s\n", err.msg);
            abort();
        }
        free(text);
        return 0;
    }
    /* canonical text: a fixed point of print -> parse -> print */
    char *t1 = qtk_recipe_text(r);
    if (!t1) abort();
    if (qtk_recipe_parse(t1, "printed", &r2, &err) != QTK_OK) {
        fprintf(stderr, "fuzz_recipe: printed recipe does not parse: %s\n---\n%s---\n", err.msg, t1);
        abort();
    }
    char *t2 = qtk_recipe_text(r2);
    if (!t2 || strcmp(t1, t2) != 0 || qtk_recipe_file_type(r) != qtk_recipe_file_type(r2) ||
        qtk_recipe_default_type(r) != qtk_recipe_default_type(r2)) {
        fprintf(stderr, "fuzz_recipe: round trip differs\n---\n%s---\n%s---\n", t1, t2 ? t2 : "(null)");
        abort();
    }
    qtk_plan *p = NULL;
    if (qtk_plan_make(g_model, r, NULL, false, &p, &err) == QTK_OK) {
        if (!p || p->n != qtk_gguf_n_tensors(g_model)) abort();
    } else if (p != NULL || err.msg[0] == '\0') {
        abort();
    }
    qtk_plan_free(p);
    free(t1);
    free(t2);
    qtk_recipe_free(r);
    qtk_recipe_free(r2);
    free(text);
    return 0;
}
