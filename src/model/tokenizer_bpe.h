/*
 * tokenizer_bpe.h — internal interface between the vocabulary (tokenizer.c),
 * the byte-level BPE tokenizer and special-token partitioning
 * (tokenizer_bpe.c) and the BPE pre-tokenizers (pretokenize.c). Not public.
 */
#ifndef QTK_TOKENIZER_BPE_H
#define QTK_TOKENIZER_BPE_H

#include "../core/qtk_internal.h"

/* ---- pre-tokenizers (pretokenize.c) ---------------------------------------- */

/* Splitting rule sets, one per family of tokenizer.ggml.pre values. */
typedef enum qtk_pre_type {
    QTK_PRE_DEFAULT = 0,     /* "default" or no key                            */
    QTK_PRE_GPT2,            /* "gpt-2", "mpt" (and other GPT-2 regex users)    */
    QTK_PRE_LLAMA3,          /* "llama3", "llama-v3", "llama-bpe"               */
    QTK_PRE_QWEN2,           /* "qwen2": llama3 rules with single digits       */
    QTK_PRE_DEEPSEEK_LLM,    /* "deepseek-llm"                                 */
    QTK_PRE_DEEPSEEK_CODER,  /* "deepseek-coder"                               */
    QTK_PRE_FALCON,          /* "falcon"                                       */
    QTK_PRE_STARCODER        /* "starcoder", "refact": single digits, then GPT-2 */
} qtk_pre_type;

/* Rule set of a tokenizer.ggml.pre value; false when the name is unknown.
 * *llama3_like is set for the values whose vocabularies skip the merges of
 * words that are whole tokens and add BOS by default. */
bool qtk_pre_type_from_name(const char *name, qtk_pre_type *type, bool *llama3_like);

/* Scratch buffers of the pre-tokenizer (grown on demand, reused). */
typedef struct qtk_pre_scratch {
    uint8_t *cls;        /* unicode_tables class of every code point   */
    size_t *ends[2];     /* word end offsets: current and next pass    */
    size_t cap_cls, cap_ends[2];
} qtk_pre_scratch;

/* Splits code points cpt[0..n) into words by the rules of `type`: on
 * success *ends holds *n_words increasing end offsets (the last is n) and
 * points into the scratch. Returns false when out of memory. */
bool qtk_pretokenize(qtk_pre_type type, const uint32_t *cpt, size_t n, qtk_pre_scratch *s, const size_t **ends,
                     size_t *n_words);
void qtk_pre_scratch_free(qtk_pre_scratch *s);

/* ---- vocabulary extension (tokenizer_bpe.c) ------------------------------- */

/* What tokenizer.c's vocabulary lacks: token attributes, the special-token
 * matcher (both kinds) and, for gpt2 vocabularies, merges and pre-tokenizer.
 * Token texts are borrowed from the vocabulary and must outlive it. */
typedef struct qtk_vocab_ext qtk_vocab_ext;

/* Builds the extension for the n tokens text[i] (len[i] bytes) of g's
 * vocabulary. bpe: read tokenizer.ggml.merges and tokenizer.ggml.pre
 * (unknown pre values fail with QTK_ERR_UNSUPPORTED naming them). */
qtk_status qtk_vocab_ext_load(const qtk_gguf *g, char *const *text, const uint32_t *len, int32_t n, bool bpe,
                              qtk_vocab_ext **out, qtk_error *err);
void qtk_vocab_ext_free(qtk_vocab_ext *x);
/* BOS default when tokenizer.ggml.add_bos_token is absent (BPE: llama3-like pre only). */
bool qtk_vocab_ext_default_add_bos(const qtk_vocab_ext *x);
/* The extension of a vocabulary (tokenizer.c). */
const qtk_vocab_ext *qtk_vocab_get_ext(const qtk_vocab *v);

/* A piece of the text after special-token partitioning: a token (id >= 0)
 * or raw text [off, off + len) (id < 0). */
typedef struct qtk_frag {
    int64_t off, len;
    int32_t id;
} qtk_frag;

/* Cuts text into raw pieces and special tokens as llama.cpp does: longer
 * special tokens first; control/unknown tokens only when parse_special,
 * user-defined tokens always. *frags is malloc'ed. */
qtk_status qtk_special_partition(const qtk_vocab_ext *x, const char *text, size_t len, bool parse_special,
                                 qtk_frag **frags, int64_t *n_frags, qtk_error *err);

/* A growable token list (tokenizer.c and tokenizer_bpe.c). */
typedef struct qtk_tok_list {
    int32_t *p;
    int64_t n, cap;
    bool oom;
} qtk_tok_list;

void qtk_tok_list_push(qtk_tok_list *l, int32_t id);

/* Byte-level BPE of raw text (no special tokens), appended to out. */
qtk_status qtk_bpe_tokenize(const qtk_vocab_ext *x, const char *text, size_t len, qtk_tok_list *out, qtk_error *err);

#endif
