/*
 * tokenizer_bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2"),
 * special-token partitioning and detokenizing, reproducing llama.cpp:
 *   1. special tokens are cut out of the text first (qtk_special_partition);
 *   2. each raw piece is decoded to code points — an invalid UTF-8 byte
 *      becomes U+FFFD and decoding resumes at the next byte — and split
 *      into words by the pre-tokenizer of tokenizer.ggml.pre (pretokenize.c);
 *   3. each word is re-encoded as UTF-8 and every byte mapped to its
 *      byte-level character (printable Latin-1 bytes stand for themselves,
 *      the others for U+0100 + k in byte order), one symbol per byte;
 *   4. repeatedly the adjacent pair with the lowest merge rank
 *      (tokenizer.ggml.merges order; ties: leftmost) is merged;
 *   5. each final symbol is its token; a symbol that is not a token gives
 *      the tokens of its single bytes that exist (usually none).
 * Vocabularies whose pre-tokenizer is llama3 take a whole word as one token
 * when it is one, without merging.
 */
#include "tokenizer_bpe.h"

#include <stdlib.h>

/* GGUF token types (tokenizer.ggml.token_type) */
enum { TT_UNDEFINED = 0, TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

struct qtk_vocab_ext {
    int32_t n;
    char *const *text;      /* borrowed from the vocabulary            */
    const uint32_t *len;
    uint8_t *type;          /* TT_* per token                          */
    bool bpe, add_space_prefix, default_add_bos, ignore_merges;
    qtk_pre_type pre;
    int32_t *tok_slots;     /* text -> id (later duplicates win)       */
    uint32_t tok_mask;
    /* special tokens grouped by text length, longest first */
    int32_t *special;       /* ids, by decreasing length then id       */
    int32_t n_special;
    int32_t *spec_slots;    /* text -> first special id with that text */
    uint32_t spec_mask;
    uint32_t *group_len;    /* distinct lengths, decreasing            */
    uint8_t (*group_first)[32]; /* first-byte bitmap per length group  */
    int32_t n_groups;
    /* merges: rank r joins buf[off[r] .. +left_len[r]) and the next right_len[r] bytes */
    char *merge_buf;
    uint32_t *merge_off, *merge_left, *merge_right;
    int32_t n_merges;
    int32_t *merge_slots;   /* texts (left, right) -> lowest rank, for
                               merges with a side that is not a token    */
    uint32_t merge_mask;
    uint64_t *pair_key;     /* (left id << 32 | right id) + 1, 0 = empty */
    int32_t *pair_rank, *pair_result; /* rank and id of the merged text  */
    uint32_t pair_mask;
    /* byte-level alphabet */
    char byte_enc[256][2];
    uint8_t byte_enc_len[256];
    int16_t byte_dec[0x144]; /* code point -> byte, -1 when none       */
    int32_t byte_id[256];    /* token of each byte character, or -1     */
};

static uint32_t fnv(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}
#define FNV0 2166136261u

static uint32_t pow2_slots(int64_t n) {
    uint32_t s = 16;
    while ((int64_t)s < 2 * n) s *= 2;
    return s;
}

static int32_t ext_find_token(const qtk_vocab_ext *x, const char *s, size_t n) {
    for (uint32_t i = fnv(FNV0, s, n) & x->tok_mask;; i = (i + 1) & x->tok_mask) {
        int32_t id = x->tok_slots[i];
        if (id < 0) return -1;
        if (x->len[id] == n && memcmp(x->text[id], s, n) == 0) return id;
    }
}

static uint32_t pair_hash(const char *a, size_t na, const char *b, size_t nb) {
    uint32_t h = fnv(FNV0, a, na);
    h = (h ^ 0x1f) * 16777619u ^ (uint32_t)na;  /* the split point is part of the key */
    return fnv(h * 16777619u, b, nb);
}

/* Rank of merging symbol texts a and b, or -1. */
static int32_t find_rank(const qtk_vocab_ext *x, const char *a, size_t na, const char *b, size_t nb) {
    if (!x->merge_slots) return -1;
    for (uint32_t i = pair_hash(a, na, b, nb) & x->merge_mask;; i = (i + 1) & x->merge_mask) {
        int32_t r = x->merge_slots[i];
        if (r < 0) return -1;
        const char *m = x->merge_buf + x->merge_off[r];
        if (x->merge_left[r] == na && x->merge_right[r] == nb && memcmp(m, a, na) == 0 && memcmp(m + na, b, nb) == 0)
            return r;
    }
}

static uint32_t id_pair_hash(uint64_t key) { return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32); }

/* Slot of the merge of tokens (l, r) in the id-pair table, or -1. */
static int64_t find_id_pair(const qtk_vocab_ext *x, int32_t l, int32_t r) {
    const uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
    for (uint32_t i = id_pair_hash(key) & x->pair_mask;; i = (i + 1) & x->pair_mask) {
        if (x->pair_key[i] == key) return i;
        if (x->pair_key[i] == 0) return -1;
    }
}

void qtk_vocab_ext_free(qtk_vocab_ext *x) {
    if (!x) return;
    free(x->type);
    free(x->tok_slots);
    free(x->special);
    free(x->spec_slots);
    free(x->group_len);
    free(x->group_first);
    free(x->merge_buf);
    free(x->merge_off);
    free(x->merge_left);
    free(x->merge_right);
    free(x->merge_slots);
    free(x->pair_key);
    free(x->pair_rank);
    free(x->pair_result);
    free(x);
}

bool qtk_vocab_ext_default_add_bos(const qtk_vocab_ext *x) { return x->bpe ? x->default_add_bos : true; }

static int cmp_special(const void *pa, const void *pb, const qtk_vocab_ext *x) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (x->len[a] != x->len[b]) return x->len[a] > x->len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Insertion-merge sort (qsort has no context argument in C11). */
static void sort_special(int32_t *a, int32_t n, int32_t *tmp, const qtk_vocab_ext *x) {
    if (n < 2) return;
    int32_t h = n / 2;
    sort_special(a, h, tmp, x);
    sort_special(a + h, n - h, tmp, x);
    int32_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_special(&a[j], &a[i], x) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof(int32_t));
}

static void build_byte_alphabet(qtk_vocab_ext *x) {
    for (int i = 0; i < 0x144; i++) x->byte_dec[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = printable ? (uint32_t)b : 0x100u + (uint32_t)extra++;
        x->byte_dec[cp] = (int16_t)b;
        if (cp < 0x80) {
            x->byte_enc[b][0] = (char)cp;
            x->byte_enc_len[b] = 1;
        } else {
            x->byte_enc[b][0] = (char)(0xC0 | (cp >> 6));
            x->byte_enc[b][1] = (char)(0x80 | (cp & 0x3F));
            x->byte_enc_len[b] = 2;
        }
    }
}

static qtk_status load_merges(qtk_vocab_ext *x, const qtk_gguf *g, qtk_error *err) {
    const qtk_gguf_value *mv = qtk_meta_get(qtk_gguf_meta(g), "tokenizer.ggml.merges");
    if (!mv || mv->type != QTK_GGUF_ARRAY || mv->v.arr.elem_type != QTK_GGUF_STRING || mv->v.arr.n > 0x7fffffff)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tokenizer.ggml.merges is missing or not a string array",
                             qtk_gguf_path(g));
    const int32_t nm = (int32_t)mv->v.arr.n;
    size_t total = 0;
    for (int32_t i = 0; i < nm; i++) total += (size_t)mv->v.arr.items[i].v.str.len;
    x->merge_buf = (char *)malloc(total + 1);
    x->merge_off = (uint32_t *)malloc(((size_t)nm + 1) * sizeof(uint32_t));
    x->merge_left = (uint32_t *)malloc(((size_t)nm + 1) * sizeof(uint32_t));
    x->merge_right = (uint32_t *)malloc(((size_t)nm + 1) * sizeof(uint32_t));
    uint32_t slots = pow2_slots(nm);
    x->merge_slots = (int32_t *)malloc((size_t)slots * sizeof(int32_t));
    x->pair_key = (uint64_t *)calloc(slots, sizeof(uint64_t));
    x->pair_rank = (int32_t *)malloc((size_t)slots * sizeof(int32_t));
    x->pair_result = (int32_t *)malloc((size_t)slots * sizeof(int32_t));
    if (!x->merge_buf || !x->merge_off || !x->merge_left || !x->merge_right || !x->merge_slots || !x->pair_key ||
        !x->pair_rank || !x->pair_result || total > 0xffffffffu)
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory loading the merges");
    x->merge_mask = x->pair_mask = slots - 1;
    for (uint32_t i = 0; i < slots; i++) x->merge_slots[i] = -1;
    size_t off = 0;
    for (int32_t r = 0; r < nm; r++) {
        const char *w = mv->v.arr.items[r].v.str.ptr;
        size_t n = (size_t)mv->v.arr.items[r].v.str.len;
        /* "left right", split at the first space after the first byte */
        const char *sp = n > 1 ? (const char *)memchr(w + 1, ' ', n - 1) : NULL;
        x->merge_off[r] = (uint32_t)off;
        x->merge_left[r] = x->merge_right[r] = 0;
        if (!sp) continue;  /* never matches two non-empty symbols */
        size_t nl = (size_t)(sp - w), nr = n - nl - 1;
        memcpy(x->merge_buf + off, w, nl);
        memcpy(x->merge_buf + off + nl, sp + 1, nr);
        x->merge_left[r] = (uint32_t)nl;
        x->merge_right[r] = (uint32_t)nr;
        off += nl + nr;
        /* merges of two tokens go to the id table (symbols carry their token
         * id), the others to the text table; the first occurrence keeps its rank */
        int32_t il = ext_find_token(x, w, nl), ir = ext_find_token(x, sp + 1, nr);
        if (il >= 0 && ir >= 0) {
            if (find_id_pair(x, il, ir) >= 0) continue;
            const uint64_t key = (((uint64_t)(uint32_t)il << 32) | (uint32_t)ir) + 1;
            for (uint32_t i = id_pair_hash(key) & x->pair_mask;; i = (i + 1) & x->pair_mask) {
                if (x->pair_key[i] == 0) {
                    x->pair_key[i] = key;
                    x->pair_rank[i] = r;
                    x->pair_result[i] = ext_find_token(x, x->merge_buf + x->merge_off[r], nl + nr);
                    break;
                }
            }
            continue;
        }
        if (find_rank(x, w, nl, sp + 1, nr) >= 0) continue;
        for (uint32_t i = pair_hash(w, nl, sp + 1, nr) & x->merge_mask;; i = (i + 1) & x->merge_mask) {
            if (x->merge_slots[i] < 0) {
                x->merge_slots[i] = r;
                break;
            }
        }
    }
    x->n_merges = nm;
    return QTK_OK;
}

static qtk_status load_special(qtk_vocab_ext *x, qtk_error *err) {
    int32_t ns = 0;
    for (int32_t i = 0; i < x->n; i++)
        if ((x->type[i] == TT_CONTROL || x->type[i] == TT_USER_DEFINED || x->type[i] == TT_UNKNOWN) && x->len[i] > 0) ns++;
    x->n_special = ns;
    if (ns == 0) return QTK_OK;
    x->special = (int32_t *)malloc((size_t)ns * sizeof(int32_t));
    int32_t *tmp = (int32_t *)malloc((size_t)ns * sizeof(int32_t));
    uint32_t slots = pow2_slots(ns);
    x->spec_slots = (int32_t *)malloc((size_t)slots * sizeof(int32_t));
    x->group_len = (uint32_t *)malloc((size_t)ns * sizeof(uint32_t));
    x->group_first = (uint8_t(*)[32])calloc((size_t)ns, 32);
    if (!x->special || !tmp || !x->spec_slots || !x->group_len || !x->group_first) {
        free(tmp);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory loading the special tokens");
    }
    ns = 0;
    for (int32_t i = 0; i < x->n; i++)
        if ((x->type[i] == TT_CONTROL || x->type[i] == TT_USER_DEFINED || x->type[i] == TT_UNKNOWN) && x->len[i] > 0)
            x->special[ns++] = i;
    sort_special(x->special, ns, tmp, x);
    free(tmp);
    x->spec_mask = slots - 1;
    for (uint32_t i = 0; i < slots; i++) x->spec_slots[i] = -1;
    for (int32_t k = 0; k < ns; k++) {
        int32_t id = x->special[k];
        uint32_t L = x->len[id];
        if (x->n_groups == 0 || x->group_len[x->n_groups - 1] != L) x->group_len[x->n_groups++] = L;
        uint8_t b = (uint8_t)x->text[id][0];
        x->group_first[x->n_groups - 1][b >> 3] |= (uint8_t)(1u << (b & 7));
        for (uint32_t i = fnv(FNV0, x->text[id], L) & x->spec_mask;; i = (i + 1) & x->spec_mask) {
            int32_t cur = x->spec_slots[i];
            if (cur < 0) {
                x->spec_slots[i] = id;
                break;
            }
            if (x->len[cur] == L && memcmp(x->text[cur], x->text[id], L) == 0) break;  /* keep the lower id */
        }
    }
    return QTK_OK;
}

qtk_status qtk_vocab_ext_load(const qtk_gguf *g, char *const *text, const uint32_t *len, int32_t n, bool bpe,
                              qtk_vocab_ext **out, qtk_error *err) {
    *out = NULL;
    const qtk_meta *meta = qtk_gguf_meta(g);
    qtk_vocab_ext *x = (qtk_vocab_ext *)calloc(1, sizeof *x);
    if (!x) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    x->n = n;
    x->text = text;
    x->len = len;
    x->bpe = bpe;
    qtk_status st = QTK_OK;
    int64_t iv;
    x->add_space_prefix = qtk_meta_get_int(meta, "tokenizer.ggml.add_space_prefix", &iv) ? iv != 0 : !bpe;
    if (bpe) {
        const char *pre = qtk_meta_get_str(meta, "tokenizer.ggml.pre");
        bool llama3 = false;
        x->pre = QTK_PRE_DEFAULT;
        if (pre && pre[0] && !qtk_pre_type_from_name(pre, &x->pre, &llama3)) {
            qtk_vocab_ext_free(x);
            return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                                 "%s: unknown pre-tokenizer type '%s' (tokenizer.ggml.pre); supported: default, "
                                 "gpt-2, llama3, llama-bpe, qwen2, deepseek-llm, deepseek-coder, falcon, "
                                 "starcoder, refact, mpt",
                                 qtk_gguf_path(g), pre);
        }
        x->ignore_merges = x->default_add_bos = llama3;
        build_byte_alphabet(x);
    }
    x->type = (uint8_t *)malloc((size_t)n);
    uint32_t slots = pow2_slots(n);
    x->tok_slots = (int32_t *)malloc((size_t)slots * sizeof(int32_t));
    if (!x->type || !x->tok_slots) {
        qtk_vocab_ext_free(x);
        return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory loading the vocabulary");
    }
    const qtk_gguf_value *tt = qtk_meta_get(meta, "tokenizer.ggml.token_type");
    bool have_types = tt && tt->type == QTK_GGUF_ARRAY && tt->v.arr.n == (uint64_t)n &&
                      (tt->v.arr.elem_type == QTK_GGUF_INT32 || tt->v.arr.elem_type == QTK_GGUF_UINT32);
    for (int32_t i = 0; i < n; i++) {
        int64_t t = TT_NORMAL;
        if (have_types) t = tt->v.arr.elem_type == QTK_GGUF_INT32 ? tt->v.arr.items[i].v.i64 : (int64_t)tt->v.arr.items[i].v.u64;
        x->type[i] = (uint8_t)(t >= 0 && t <= TT_BYTE ? t : TT_UNDEFINED);
    }
    x->tok_mask = slots - 1;
    for (uint32_t i = 0; i < slots; i++) x->tok_slots[i] = -1;
    for (int32_t id = 0; id < n; id++) {
        for (uint32_t i = fnv(FNV0, text[id], len[id]) & x->tok_mask;; i = (i + 1) & x->tok_mask) {
            int32_t cur = x->tok_slots[i];
            if (cur < 0 || (len[cur] == len[id] && memcmp(text[cur], text[id], len[id]) == 0)) {
                x->tok_slots[i] = id;
                break;
            }
        }
    }
    if (bpe)
        for (int b = 0; b < 256; b++) x->byte_id[b] = ext_find_token(x, x->byte_enc[b], x->byte_enc_len[b]);
    if (st == QTK_OK) st = load_special(x, err);
    if (st == QTK_OK && bpe) st = load_merges(x, g, err);
    if (st != QTK_OK) {
        qtk_vocab_ext_free(x);
        return st;
    }
    *out = x;
    return QTK_OK;
}

/* ---- token list --------------------------------------------------------------- */

void qtk_tok_list_push(qtk_tok_list *l, int32_t id) {
    if (l->oom) return;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        int32_t *p = (int32_t *)realloc(l->p, (size_t)cap * sizeof(int32_t));
        if (!p) {
            l->oom = true;
            return;
        }
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n++] = id;
}

/* ---- special-token partitioning ---------------------------------------------- */

typedef struct frag_list {
    qtk_frag *p;
    int64_t n, cap;
} frag_list;

static bool frag_push(frag_list *l, int64_t off, int64_t len, int32_t id) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        qtk_frag *p = (qtk_frag *)realloc(l->p, (size_t)cap * sizeof(qtk_frag));
        if (!p) return false;
        l->p = p;
        l->cap = cap;
    }
    qtk_frag f = {off, len, id};
    l->p[l->n++] = f;
    return true;
}

/* The special token whose text is s[0..n) and that may be matched, or -1. */
static int32_t match_special(const qtk_vocab_ext *x, const char *s, size_t n, bool parse_special) {
    for (uint32_t i = fnv(FNV0, s, n) & x->spec_mask;; i = (i + 1) & x->spec_mask) {
        int32_t id = x->spec_slots[i];
        if (id < 0) return -1;
        if (x->len[id] == n && memcmp(x->text[id], s, n) == 0)
            return parse_special || x->type[id] == TT_USER_DEFINED ? id : -1;
    }
}

qtk_status qtk_special_partition(const qtk_vocab_ext *x, const char *text, size_t len, bool parse_special,
                                 qtk_frag **frags, int64_t *n_frags, qtk_error *err) {
    frag_list cur = {0}, next = {0};
    *frags = NULL;
    *n_frags = 0;
    if (len == 0) return QTK_OK;
    if (!frag_push(&cur, 0, (int64_t)len, -1)) goto oom;
    /* one pass per token length, longest first: a longer special token wins
     * over any shorter one it overlaps, as in llama.cpp's per-token passes */
    for (int32_t gi = 0; x->special && gi < x->n_groups; gi++) {
        const size_t L = x->group_len[gi];
        const uint8_t *first = x->group_first[gi];
        next.n = 0;
        for (int64_t f = 0; f < cur.n; f++) {
            qtk_frag fr = cur.p[f];
            if (fr.id >= 0 || (size_t)fr.len < L) {
                if (!frag_push(&next, fr.off, fr.len, fr.id)) goto oom;
                continue;
            }
            int64_t last = fr.off, end = fr.off + fr.len;
            for (int64_t p = fr.off; p + (int64_t)L <= end;) {
                uint8_t b = (uint8_t)text[p];
                int32_t id = (first[b >> 3] >> (b & 7)) & 1 ? match_special(x, text + p, L, parse_special) : -1;
                if (id < 0) {
                    p++;
                    continue;
                }
                if (p > last && !frag_push(&next, last, p - last, -1)) goto oom;
                if (!frag_push(&next, p, (int64_t)L, id)) goto oom;
                p += (int64_t)L;
                last = p;
            }
            if (last < end && !frag_push(&next, last, end - last, -1)) goto oom;
        }
        frag_list t = cur;
        cur = next;
        next = t;
    }
    free(next.p);
    *frags = cur.p;
    *n_frags = cur.n;
    return QTK_OK;
oom:
    free(cur.p);
    free(next.p);
    return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (tokenizer)");
}

/* ---- byte-level BPE ------------------------------------------------------------ */

/* Decodes one code point the lenient way llama.cpp does (no overlong or
 * surrogate checks); invalid or truncated sequences and values beyond
 * U+10FFFF give U+FFFD for their first byte only. */
static uint32_t decode_utf8(const uint8_t *s, size_t n, size_t *i) {
    uint8_t c = s[*i];
    size_t k = *i;
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    int extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (extra < 0 || k + (size_t)extra >= n) {
        *i = k + 1;
        return 0xFFFD;
    }
    uint32_t cp = c & (0x3Fu >> extra);
    for (int j = 1; j <= extra; j++) {
        uint8_t d = s[k + (size_t)j];
        if ((d & 0xC0) != 0x80) {
            *i = k + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (d & 0x3Fu);
    }
    if (cp > 0x10FFFF) {
        *i = k + 1;
        return 0xFFFD;
    }
    *i = k + 1 + (size_t)extra;
    return cp;
}

static size_t encode_utf8(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

typedef struct bsym {
    uint32_t off, n;       /* bytes of the encoded word                */
    int32_t prev, next;
    int32_t id;            /* token with this text, or -1               */
} bsym;

typedef struct bpair {
    int32_t rank, left, right;
    uint32_t size;         /* bytes of the pair when queued             */
    int32_t result;        /* token of the merged text, or -2: look up  */
} bpair;

/* Words repeat: the ids of short words are remembered for the rest of the
 * call (a word's tokens depend only on its text). */
#define CACHE_SLOTS 32768u   /* power of two; filled to 3/4 at most */
#define CACHE_MAX_WORD 64    /* bytes of byte-level text            */

typedef struct cache_entry {
    uint32_t hash, text_off, ids_off;
    uint16_t text_len, n_ids;  /* text_len 0: empty slot */
} cache_entry;

typedef struct bpe_session {
    uint32_t *cpt;
    char *enc;             /* byte-level encoding of one word           */
    bsym *sym;
    bpair *heap;
    size_t cap_cpt, cap_enc, cap_sym, cap_heap, n_heap;
    qtk_pre_scratch pre;
    cache_entry *cache;    /* NULL when it could not be allocated       */
    uint32_t n_cached;
    char *ctext;
    int32_t *cids;
    size_t n_ctext, cap_ctext, n_cids, cap_cids;
} bpe_session;

static bool grow_buf(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* Whether a is merged before b: lower rank, then leftmost. */
static bool pair_before(const bpair *a, const bpair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(bpe_session *s, bpair b) {
    if (!grow_buf((void **)&s->heap, &s->cap_heap, s->n_heap + 1, sizeof(bpair))) return false;
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pair_before(&b, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = b;
    return true;
}

static bpair heap_pop(bpe_session *s) {
    bpair top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->n_heap) break;
        if (c + 1 < s->n_heap && pair_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!pair_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap > 0) s->heap[i] = last;
    return top;
}

static bool queue_pair(const qtk_vocab_ext *x, bpe_session *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    const bsym *a = &s->sym[l], *b = &s->sym[r];
    int32_t rank, result = -2;
    if (a->id >= 0 && b->id >= 0) {
        int64_t slot = find_id_pair(x, a->id, b->id);
        if (slot < 0) return true;
        rank = x->pair_rank[slot];
        result = x->pair_result[slot];
    } else {
        rank = find_rank(x, s->enc + a->off, a->n, s->enc + b->off, b->n);
        if (rank < 0) return true;
    }
    bpair p = {rank, l, r, a->n + b->n, result};
    return heap_push(s, p);
}

/* Emits the token of enc[0..n), or the tokens of its single bytes. */
static void emit_symbol(const qtk_vocab_ext *x, const char *t, size_t n, qtk_tok_list *out) {
    int32_t id = ext_find_token(x, t, n);
    if (id >= 0) {
        qtk_tok_list_push(out, id);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        int32_t b = ext_find_token(x, t + k, 1);
        if (b >= 0) qtk_tok_list_push(out, b);
    }
}

/* Cache slot of byte-level text t[0..n) with hash h: its entry, or the empty slot to fill. */
static cache_entry *cache_slot(bpe_session *s, const char *t, size_t n, uint32_t h) {
    for (uint32_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        cache_entry *e = &s->cache[i];
        if (e->text_len == 0) return e;
        if (e->hash == h && e->text_len == n && memcmp(s->ctext + e->text_off, t, n) == 0) return e;
    }
}

/* Remembers the ids out->p[first..] of text t[0..n) in the empty slot e. */
static void cache_put(bpe_session *s, cache_entry *e, const char *t, size_t n, uint32_t h, const qtk_tok_list *out,
                      int64_t first) {
    size_t k = (size_t)(out->n - first);
    if (out->oom || k > 0xffff || !grow_buf((void **)&s->ctext, &s->cap_ctext, s->n_ctext + n, 1) ||
        !grow_buf((void **)&s->cids, &s->cap_cids, s->n_cids + k, sizeof(int32_t)) || s->n_ctext + n > 0xffffffffu ||
        s->n_cids + k > 0xffffffffu)
        return;
    memcpy(s->ctext + s->n_ctext, t, n);
    memcpy(s->cids + s->n_cids, out->p + first, k * sizeof(int32_t));
    e->hash = h;
    e->text_off = (uint32_t)s->n_ctext;
    e->ids_off = (uint32_t)s->n_cids;
    e->text_len = (uint16_t)n;
    e->n_ids = (uint16_t)k;
    s->n_ctext += n;
    s->n_cids += k;
    s->n_cached++;
}

/* BPE of one word (code points w[0..n)). */
static bool bpe_word(const qtk_vocab_ext *x, bpe_session *s, const uint32_t *w, size_t n, qtk_tok_list *out) {
    size_t nb = 0;
    uint8_t u[4];
    for (size_t i = 0; i < n; i++) nb += encode_utf8(w[i], u);
    if (!grow_buf((void **)&s->enc, &s->cap_enc, 2 * nb, 1) || !grow_buf((void **)&s->sym, &s->cap_sym, nb, sizeof(bsym)))
        return false;
    uint32_t o = 0;
    int32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = encode_utf8(w[i], u);
        for (size_t j = 0; j < k; j++) {
            bsym *sy = &s->sym[ns];
            sy->off = o;
            sy->n = x->byte_enc_len[u[j]];
            memcpy(s->enc + o, x->byte_enc[u[j]], sy->n);
            o += sy->n;
            sy->prev = ns - 1;
            sy->next = ns + 1;
            sy->id = x->byte_id[u[j]];
            ns++;
        }
    }
    s->sym[ns - 1].next = -1;
    cache_entry *ce = NULL;
    uint32_t h = 0;
    const int64_t first = out->n;
    if (s->cache && ns > 1 && o <= CACHE_MAX_WORD) {
        h = fnv(FNV0, s->enc, o) | 1u;
        ce = cache_slot(s, s->enc, o, h);
        if (ce->text_len != 0) {
            for (uint16_t i = 0; i < ce->n_ids; i++) qtk_tok_list_push(out, s->cids[ce->ids_off + i]);
            return true;
        }
        if (s->n_cached >= CACHE_SLOTS / 4 * 3) ce = NULL;
    }
    if (ns == 1 || x->ignore_merges) {
        int32_t id = ext_find_token(x, s->enc, o);
        if (id >= 0) {
            qtk_tok_list_push(out, id);
            if (ce) cache_put(s, ce, s->enc, o, h, out, first);
            return true;
        }
    }
    s->n_heap = 0;
    for (int32_t i = 1; i < ns; i++)
        if (!queue_pair(x, s, i - 1, i)) return false;
    while (s->n_heap > 0) {
        bpair p = heap_pop(s);
        bsym *l = &s->sym[p.left], *r = &s->sym[p.right];
        /* stale: one side merged away or grown since it was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
        l->n += r->n;
        r->n = 0;
        l->id = p.result != -2 ? p.result : ext_find_token(x, s->enc + l->off, l->n);
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = p.left;
        if (!queue_pair(x, s, l->prev, p.left) || !queue_pair(x, s, p.left, l->next)) return false;
    }
    for (int32_t i = 0; i >= 0; i = s->sym[i].next) {
        if (s->sym[i].id >= 0) qtk_tok_list_push(out, s->sym[i].id);
        else emit_symbol(x, s->enc + s->sym[i].off, s->sym[i].n, out);
    }
    if (ce) cache_put(s, ce, s->enc, o, h, out, first);
    return true;
}

qtk_status qtk_bpe_tokenize(const qtk_vocab_ext *x, const char *text, size_t len, qtk_tok_list *out, qtk_error *err) {
    if (len == 0) return QTK_OK;
    bpe_session s;
    memset(&s, 0, sizeof s);
    bool ok = grow_buf((void **)&s.cpt, &s.cap_cpt, len, sizeof(uint32_t));
    if (len > 4096) s.cache = (cache_entry *)calloc(CACHE_SLOTS, sizeof(cache_entry));  /* only pays off on long texts */
    size_t nc = 0;
    for (size_t i = 0; ok && i < len;) s.cpt[nc++] = decode_utf8((const uint8_t *)text, len, &i);
    const size_t *ends = NULL;
    size_t nw = 0;
    ok = ok && qtk_pretokenize(x->pre, s.cpt, nc, &s.pre, &ends, &nw);
    for (size_t w = 0, start = 0; ok && w < nw; start = ends[w++]) ok = bpe_word(x, &s, s.cpt + start, ends[w] - start, out);
    free(s.cpt);
    free(s.enc);
    free(s.sym);
    free(s.heap);
    free(s.cache);
    free(s.ctext);
    free(s.cids);
    qtk_pre_scratch_free(&s.pre);
    if (!ok || out->oom) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (tokenizer)");
    return QTK_OK;
}

/* ---- pieces and detokenizing ----------------------------------------------------- */

static size_t put(char *buf, size_t cap, size_t o, const char *s, size_t n) {
    if (o < cap) memcpy(buf + o, s, QTK_MIN(n, cap - o));
    return o + n;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t qtk_token_to_piece(const qtk_vocab *v, int32_t id, bool special, char *buf, size_t cap) {
    const qtk_vocab_ext *x = v ? qtk_vocab_get_ext(v) : NULL;
    if (!x || id < 0 || id >= x->n) return 0;
    const char *t = x->text[id];
    const size_t n = x->len[id];
    const uint8_t ty = x->type[id];
    if (ty == TT_CONTROL || ty == TT_UNKNOWN) return special ? put(buf, cap, 0, t, n) : 0;
    if (ty == TT_USER_DEFINED) return put(buf, cap, 0, t, n);
    size_t o = 0;
    if (!x->bpe) {
        if (ty == TT_BYTE) {
            int hi = n == 6 ? hexval(t[3]) : -1, lo = n == 6 ? hexval(t[4]) : -1;
            if (hi < 0 || lo < 0) return 0;
            char b = (char)(hi * 16 + lo);
            return put(buf, cap, 0, &b, 1);
        }
        if (ty != TT_NORMAL) return 0;
        for (size_t i = 0; i < n;) {  /* U+2581 -> ' ' */
            if (i + 3 <= n && memcmp(t + i, "\xE2\x96\x81", 3) == 0) {
                o = put(buf, cap, o, " ", 1);
                i += 3;
            } else {
                o = put(buf, cap, o, t + i++, 1);
            }
        }
        return o;
    }
    if (ty != TT_NORMAL) return 0;
    for (size_t i = 0; i < n;) {  /* byte-level characters back to bytes */
        size_t i0 = i;
        uint32_t cp = decode_utf8((const uint8_t *)t, n, &i);
        if (cp < 0x144 && x->byte_dec[cp] >= 0) {
            char b = (char)x->byte_dec[cp];
            o = put(buf, cap, o, &b, 1);
        } else {
            o = put(buf, cap, o, t + i0, i - i0);  /* not a byte character: kept as it is */
        }
    }
    return o;
}

qtk_status qtk_detokenize(const qtk_vocab *v, const int32_t *ids, int64_t n, bool special, char **text, size_t *len,
                          qtk_error *err) {
    if (!v || (!ids && n > 0) || !text || !len)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_detokenize: NULL argument");
    *text = NULL;
    *len = 0;
    const qtk_vocab_ext *x = qtk_vocab_get_ext(v);
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += qtk_token_to_piece(v, ids[i], special, NULL, 0);
    char *out = (char *)malloc(total + 1);
    if (!out) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (detokenize)");
    size_t o = 0;
    /* as llama.cpp: the first piece loses the space an SPM tokenizer put in front */
    const bool strip = x && !x->bpe && x->add_space_prefix;
    for (int64_t i = 0; i < n; i++) {
        size_t k = qtk_token_to_piece(v, ids[i], special, out + o, total - o);
        if (i == 0 && strip && k > 0 && out[o] == ' ') {
            memmove(out + o, out + o + 1, k - 1);
            k--;
        }
        o += k;
    }
    out[o] = 0;
    *text = out;
    *len = o;
    return QTK_OK;
}
