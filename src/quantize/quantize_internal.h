/*
 * quantize_internal.h — internals of the recipe / plan engine (not public):
 * the small regex matcher, layer selectors, conditions and the parsed form
 * of a recipe. See docs/recipes.md for the language these implement.
 */
#ifndef QTK_QUANTIZE_INTERNAL_H
#define QTK_QUANTIZE_INTERNAL_H

#include "core/qtk_internal.h"

/* ---- regex: a POSIX-ERE subset with search semantics --------------------- */

typedef struct qtk_regex qtk_regex;

/* Compiles `pattern` (literals . [] [^] * + ? {m,n} | () (?:) ^ $ and the
 * escapes \d \D \w \W \s \S \t \n \. etc.); errors name the position. */
qtk_status qtk_regex_compile(const char *pattern, qtk_regex **out, qtk_error *err);
/* Whether the regex matches any substring of s (std::regex_search semantics). */
bool qtk_regex_search(const qtk_regex *re, const char *s);
void qtk_regex_free(qtk_regex *re);

/* ---- layer selectors ------------------------------------------------------ */

typedef enum qtk_layer_kind {
    QTK_LAYERS_RANGE = 0,     /* a-b (or a single a = a-a)                    */
    QTK_LAYERS_FIRST = 1,     /* first:a (b == 0) or first:a/b (fraction of n) */
    QTK_LAYERS_LAST = 2,      /* last:a or last:a/b                           */
    QTK_LAYERS_MORE_BITS = 3, /* use_more_bits(i, n)                          */
    QTK_LAYERS_FRAC = 4       /* frac:a/8                                     */
} qtk_layer_kind;

typedef struct qtk_layer_item {
    qtk_layer_kind kind;
    int64_t a, b;
} qtk_layer_item;

typedef struct qtk_layer_spec {
    bool seq;                 /* index = position among tensors the rule's pattern matched */
    int n;
    qtk_layer_item *items;
} qtk_layer_spec;

/* Parses the text after '@' (e.g. "seq first:1/8" or "0-3, 30-31, more_bits"). */
qtk_status qtk_layer_spec_parse(const char *text, qtk_layer_spec *out, qtk_error *err);
/* Whether layer i of n is selected by any item of the spec. */
bool qtk_layer_spec_match(const qtk_layer_spec *s, int64_t i, int64_t n);
void qtk_layer_spec_clear(qtk_layer_spec *s);
/* llama.cpp's use_more_bits (MIXES §4). */
bool qtk_use_more_bits(int64_t i, int64_t n);
/* Whether layer i of n is among the K/8 of layers frac:K/8 selects. */
bool qtk_layer_frac(int64_t i, int64_t n, int k);

/* ---- conditions ------------------------------------------------------------ */

/* Facts a condition can test; filled by the planner per model and tensor. */
typedef struct qtk_cond_env {
    const char *arch;         /* general.architecture                         */
    const char *size;         /* size class: "8B", "70B" or "other"           */
    int64_t gqa, experts, vocab, layers, heads, heads_kv;
    int64_t cols, rows;       /* ne[0], ne[1] of the tensor                   */
    bool tied, imatrix;
} qtk_cond_env;

typedef struct qtk_cond qtk_cond;

/* Parses a condition ("gqa>=4 or experts>=4", "!imatrix", "size==8B"). */
qtk_status qtk_cond_parse(const char *text, qtk_cond **out, qtk_error *err);
bool qtk_cond_eval(const qtk_cond *c, const qtk_cond_env *env);
/* Canonical text of a condition (malloc'ed). */
char *qtk_cond_text(const qtk_cond *c);
void qtk_cond_free(qtk_cond *c);

/* ---- recipes ---------------------------------------------------------------- */

#define QTK_RESULT_KEEP (-1)  /* keep the recipe's default type */
#define QTK_RESULT_COPY (-2)  /* do not quantize: copy the tensor as it is */

typedef struct qtk_recipe_rule {
    char *pattern;
    qtk_regex *re;
    bool force;               /* applied after the block-size fallback        */
    bool has_layers;
    qtk_layer_spec layers;
    qtk_cond *cond;           /* NULL = always                                */
    int result;               /* type id or QTK_RESULT_*                      */
    int line;                 /* source line, 0 for added rules               */
    const char *source;       /* "--custom-q" for added rules, else NULL      */
} qtk_recipe_rule;

typedef enum qtk_recipe_line_kind {
    QTK_LINE_TEXT = 0,        /* comment or blank line, kept verbatim          */
    QTK_LINE_RULE = 1,
    QTK_LINE_DEFAULT = 2,
    QTK_LINE_FILE_TYPE = 3,
    QTK_LINE_REQUIRES = 4,
    QTK_LINE_COMPAT = 5       /* "compat mainline"                             */
} qtk_recipe_line_kind;

typedef struct qtk_recipe_line {
    qtk_recipe_line_kind kind;
    char *text;               /* QTK_LINE_TEXT                                */
    qtk_recipe_rule rule;     /* QTK_LINE_RULE                                */
} qtk_recipe_line;

struct qtk_recipe {
    char *origin;             /* file name or "preset Q4_K_M"                 */
    int default_type;         /* type id or QTK_RESULT_COPY ("default copy")  */
    int file_type;            /* -1 = derive from the default type            */
    bool requires_given;      /* a requires_imatrix line exists               */
    bool *requires;           /* [QTK_TYPE_ID_LIMIT]: types needing an imatrix entry */
    int64_t n, cap;
    qtk_recipe_line *lines;
    int64_t n_added;          /* rules added by qtk_recipe_add_custom          */
    bool mainline;            /* --compat mainline: only types stock llama.cpp
                                 loads; its block-size fallbacks              */
};

/* For a mainline recipe: fails naming the default type or the first rule
 * (origin:line) whose type stock llama.cpp cannot load. */
qtk_status qtk_recipe_check_mainline(const qtk_recipe *r, qtk_error *err);

/* Canonical one-line text of a rule (malloc'ed; NULL on OOM). */
char *qtk_recipe_rule_text(const qtk_recipe_rule *rule);
/* The llama_ftype of the first preset whose default type is t, or -1. */
int qtk_preset_ftype_for_type(int t);
/* llama_ftype of a preset name or number ("Q4_K_M", "15"), or -1. */
int qtk_preset_ftype_from_name(const char *name);
/* Parses a type name for recipes/CLI; on failure sets err listing valid names. */
qtk_status qtk_recipe_type_from_name(const char *name, const char *where, int *out, qtk_error *err);
/* The type a rule's type t becomes on rows of ne0 weights: the block-size
 * fallback of qtk_plan_make (ik's, or stock llama.cpp's when mainline), f16
 * when even that does not fit. */
int qtk_fallback_type(int t, int64_t ne0, bool mainline);

#endif /* QTK_QUANTIZE_INTERNAL_H */
