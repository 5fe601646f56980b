/*
 * tokenizer.c — vocabularies from GGUF metadata and the SentencePiece
 * (tokenizer.ggml.model = "llama") tokenizer, reproducing llama.cpp's
 * tokenization:
 *   1. a space is put in front of the text (tokenizer.ggml.add_space_prefix,
 *      default on) and every ' ' becomes U+2581 "▁";
 *   2. the text is split into UTF-8 characters (a lead byte's length, cut
 *      at the end of the text), the initial symbols;
 *   3. repeatedly the adjacent pair whose concatenation is a vocabulary
 *      token with the highest score is merged (ties: leftmost pair);
 *   4. each final symbol is its token, or — when it is not in the
 *      vocabulary — one <0xXX> byte token per byte (byte fallback).
 * Step 3 is run per segment: the escaped text is cut before every run of
 * "▁" when the vocabulary makes that exact (tokenize_spm_text), and the ids
 * of repeated segments come from a per-call cache, which keeps the merge
 * queue small instead of one queue over the whole text.
 * Byte-level BPE ("gpt2"), special-token partitioning and detokenizing
 * live in tokenizer_bpe.c (the vocabulary's `ext`).
 */
#include "model_internal.h"
#include "tokenizer_bpe.h"
#include "tokenizer_spm.h"

#include <stdlib.h>

/* A slot of the token hash: id (-1 = empty), hash, length and pool offset
 * of its text, so that a probe touches the slot and, on a match, the text. */
typedef struct tok_slot {
    int32_t id;
    uint32_t hash, len, off;
} tok_slot;

struct qtk_vocab {
    qtk_vocab_kind kind;
    int32_t n;
    char **text;           /* NUL-terminated copies, pointers into pool   */
    char *pool;
    uint32_t *len;
    float *score;
    int32_t bos, eos, unk;
    bool add_bos, add_space_prefix;
    int32_t byte_tok[256]; /* <0xXX> tokens, -1 when absent               */
    tok_slot *slots;       /* open-addressing hash: text -> id            */
    uint32_t n_slots;      /* power of two                                */
    qtk_vocab_ext *ext;    /* token types, special tokens, BPE merges     */
    bool spm_segmentable;  /* SPM text may be cut before runs of U+2581   */
    unsigned spm_strategy; /* QTK_SPM_* fast paths in use                 */
};

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Id of the token whose text is s[0..n), or -1. */
static int32_t find_token(const qtk_vocab *v, const char *s, size_t n) {
    const uint32_t mask = v->n_slots - 1, h = hash_bytes(s, n);
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const tok_slot sl = v->slots[i];
        if (sl.id < 0) return -1;
        if (sl.hash == h && sl.len == n && memcmp(v->pool + sl.off, s, n) == 0) return sl.id;
    }
}

/* Later duplicates replace earlier ones, as llama.cpp's token_to_id map. */
static void insert_token(qtk_vocab *v, int32_t id) {
    const uint32_t mask = v->n_slots - 1, h = hash_bytes(v->text[id], v->len[id]);
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        int32_t cur = v->slots[i].id;
        if (cur < 0 || (v->len[cur] == v->len[id] && memcmp(v->text[cur], v->text[id], v->len[id]) == 0)) {
            v->slots[i].id = id;
            v->slots[i].hash = h;
            v->slots[i].len = v->len[id];
            v->slots[i].off = (uint32_t)(v->text[id] - v->pool);
            return;
        }
    }
}

void qtk_vocab_free(qtk_vocab *v) {
    if (!v) return;
    free(v->pool);
    free(v->text);
    free(v->len);
    free(v->score);
    free(v->slots);
    qtk_vocab_ext_free(v->ext);
    free(v);
}

static int32_t meta_id(const qtk_meta *meta, const char *key, int32_t def) {
    int64_t x;
    return qtk_meta_get_int(meta, key, &x) ? (int32_t)x : def;
}

static bool meta_bool(const qtk_meta *meta, const char *key, bool def) {
    int64_t x;
    return qtk_meta_get_int(meta, key, &x) ? x != 0 : def;
}

/* Whether no token has the bytes of U+2581 at an offset k > 0 without
 * U+2581 in the 3 bytes before: then no SPM merge can join a "▁" to
 * something other than "▁" before it (see tokenize_spm_text). */
static bool spm_cut_is_safe(const qtk_vocab *v) {
    for (int32_t id = 0; id < v->n; id++) {
        const char *t = v->text[id];
        for (uint32_t k = 1; k + 3 <= v->len[id]; k++)
            if (memcmp(t + k, "\xE2\x96\x81", 3) == 0 && (k < 3 || memcmp(t + k - 3, "\xE2\x96\x81", 3) != 0))
                return false;
    }
    return true;
}

qtk_status qtk_vocab_load(const qtk_gguf *g, qtk_vocab **out, qtk_error *err) {
    if (!g || !out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_vocab_load: NULL argument");
    *out = NULL;
    const qtk_meta *meta = qtk_gguf_meta(g);
    const char *model = qtk_meta_get_str(meta, "tokenizer.ggml.model");
    if (!model) return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tokenizer.ggml.model is missing", qtk_gguf_path(g));
    if (strcmp(model, "llama") != 0 && strcmp(model, "gpt2") != 0)
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                             "%s: tokenizer model '%s' is not supported (supported: llama = SentencePiece, "
                             "gpt2 = byte-level BPE)",
                             qtk_gguf_path(g), model);
    const bool bpe = strcmp(model, "gpt2") == 0;
    const qtk_gguf_value *toks = qtk_meta_get(meta, "tokenizer.ggml.tokens");
    const qtk_gguf_value *scores = qtk_meta_get(meta, "tokenizer.ggml.scores");
    if (!toks || toks->type != QTK_GGUF_ARRAY || toks->v.arr.elem_type != QTK_GGUF_STRING || toks->v.arr.n == 0 ||
        toks->v.arr.n > 0x7fffffff)
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or not a string array",
                             qtk_gguf_path(g));
    if (scores && (scores->type != QTK_GGUF_ARRAY || scores->v.arr.n != toks->v.arr.n))
        return qtk_set_error(err, QTK_ERR_FORMAT, "%s: tokenizer.ggml.scores does not match the token list",
                             qtk_gguf_path(g));
    qtk_vocab *v = (qtk_vocab *)calloc(1, sizeof *v);
    if (!v) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
    v->kind = bpe ? QTK_VOCAB_BPE : QTK_VOCAB_SPM;
    v->n = (int32_t)toks->v.arr.n;
    v->text = (char **)calloc((size_t)v->n, sizeof(char *));
    v->len = (uint32_t *)calloc((size_t)v->n, sizeof(uint32_t));
    v->score = (float *)calloc((size_t)v->n, sizeof(float));
    v->n_slots = 16;
    while (v->n_slots < 2u * (uint32_t)v->n) v->n_slots *= 2;
    v->slots = (tok_slot *)malloc(v->n_slots * sizeof(tok_slot));
    if (!v->text || !v->len || !v->score || !v->slots) goto oom;
    for (uint32_t i = 0; i < v->n_slots; i++) v->slots[i].id = -1;
    /* all texts in one pool: compact for the lookups of the SPM merge loop */
    uint64_t pool_size = 0;
    for (int32_t i = 0; i < v->n; i++) pool_size += toks->v.arr.items[i].v.str.len + 1;
    if (pool_size > UINT32_MAX) {
        qtk_vocab_free(v);
        return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "%s: token texts exceed 4 GiB", qtk_gguf_path(g));
    }
    v->pool = (char *)malloc((size_t)pool_size);
    if (!v->pool) goto oom;
    size_t pool_off = 0;
    for (int32_t i = 0; i < v->n; i++) {
        const qtk_gguf_value *it = &toks->v.arr.items[i];
        v->len[i] = (uint32_t)it->v.str.len;
        v->text[i] = v->pool + pool_off;
        if (it->v.str.len) memcpy(v->text[i], it->v.str.ptr, (size_t)it->v.str.len);
        v->text[i][it->v.str.len] = 0;
        pool_off += (size_t)it->v.str.len + 1;
        if (scores) {
            const qtk_gguf_value *sv = &scores->v.arr.items[i];
            v->score[i] = sv->type == QTK_GGUF_FLOAT32 || sv->type == QTK_GGUF_FLOAT64 ? (float)sv->v.f64 : 0.0f;
        }
        insert_token(v, i);
    }
    qtk_status st = qtk_vocab_ext_load(g, v->text, v->len, v->n, bpe, &v->ext, err);
    if (st != QTK_OK) {
        qtk_vocab_free(v);
        return st;
    }
    v->bos = meta_id(meta, "tokenizer.ggml.bos_token_id", bpe ? 11 : 1);  /* llama.cpp's defaults */
    v->eos = meta_id(meta, "tokenizer.ggml.eos_token_id", bpe ? 11 : 2);
    v->unk = meta_id(meta, "tokenizer.ggml.unknown_token_id", bpe ? -1 : 0);
    if (v->bos >= v->n) v->bos = -1;
    if (v->eos >= v->n) v->eos = -1;
    if (v->unk >= v->n) v->unk = -1;
    v->add_bos = meta_bool(meta, "tokenizer.ggml.add_bos_token", qtk_vocab_ext_default_add_bos(v->ext));
    v->add_space_prefix = meta_bool(meta, "tokenizer.ggml.add_space_prefix", !bpe);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        v->byte_tok[b] = find_token(v, name, 6);
    }
    v->spm_segmentable = !bpe && spm_cut_is_safe(v);
    v->spm_strategy = QTK_SPM_SEGMENT | QTK_SPM_CACHE;
    *out = v;
    return QTK_OK;
oom:
    qtk_vocab_free(v);
    return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory loading the vocabulary");
}

bool qtk_vocab_spm_can_segment(const qtk_vocab *v) { return v && v->kind == QTK_VOCAB_SPM && v->spm_segmentable; }

void qtk_vocab_spm_set_strategy(qtk_vocab *v, unsigned flags) {
    if (v) v->spm_strategy = flags;
}

qtk_vocab_kind qtk_vocab_get_kind(const qtk_vocab *v) { return v->kind; }
int32_t qtk_vocab_n_tokens(const qtk_vocab *v) { return v ? v->n : 0; }
int32_t qtk_vocab_bos(const qtk_vocab *v) { return v ? v->bos : -1; }
int32_t qtk_vocab_eos(const qtk_vocab *v) { return v ? v->eos : -1; }
bool qtk_vocab_adds_bos(const qtk_vocab *v) { return v && v->add_bos && v->bos >= 0; }

const char *qtk_vocab_token_text(const qtk_vocab *v, int32_t id) {
    return (v && id >= 0 && id < v->n) ? v->text[id] : NULL;
}

const qtk_vocab_ext *qtk_vocab_get_ext(const qtk_vocab *v) { return v->ext; }

/* ---- growable token list ---------------------------------------------------- */

typedef qtk_tok_list tok_list;
#define push_tok qtk_tok_list_push

/* ---- SentencePiece merge loop ---------------------------------------------- */

typedef struct sym {
    int64_t off, n;      /* bytes of the (escaped) text               */
    int64_t prev, next;  /* linked list of live symbols, -1 = none    */
    int32_t id;          /* token of a merged symbol, -1 = look it up */
} sym;

typedef struct bigram {
    int64_t left, right;
    float score;
    int32_t id;          /* token of the pair                         */
    int64_t size;        /* bytes of the pair when it was queued     */
} bigram;

typedef struct heap {
    bigram *a;
    int64_t n, cap;
} heap;

/* Whether a should be merged before b: higher score, then leftmost. */
static bool before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool heap_push(heap *h, bigram b) {
    if (h->n == h->cap) {
        int64_t cap = h->cap ? 2 * h->cap : 64;
        bigram *a = (bigram *)realloc(h->a, (size_t)cap * sizeof(bigram));
        if (!a) return false;
        h->a = a;
        h->cap = cap;
    }
    int64_t i = h->n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!before(&b, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
    return true;
}

static bigram heap_pop(heap *h) {
    bigram top = h->a[0], last = h->a[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->a[c + 1], &h->a[c])) c++;
        if (!before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

/* Queues the pair (left, right) if its text is a token. */
static bool try_bigram(const qtk_vocab *v, const char *s, const sym *sy, heap *h, int64_t left, int64_t right) {
    if (left < 0 || right < 0) return true;
    const int64_t size = sy[left].n + sy[right].n;
    int32_t id = find_token(v, s + sy[left].off, (size_t)size);
    if (id < 0) return true;
    bigram b = {left, right, v->score[id], id, size};
    return heap_push(h, b);
}

/* Byte length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static int64_t utf8_len(uint8_t c) {
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* Ids of the segments already tokenized in this call: segment bytes -> ids.
 * Keys and ids live in two pools; slots hold entry index + 1 (0 = empty). */
typedef struct seg_entry {
    uint32_t hash, key_len;
    size_t key_off, id_off;
    int64_t id_n;
} seg_entry;

typedef struct seg_cache {
    uint32_t *slots;
    uint32_t n_slots, n;
    seg_entry *e;
    char *keys;
    size_t n_keys, cap_keys;
    int32_t *ids;
    size_t n_ids, cap_ids;
    bool full;           /* an allocation failed or the cap was reached */
} seg_cache;

#define SEG_CACHE_MAX_KEY 64        /* longer segments rarely repeat         */
#define SEG_CACHE_MAX_ENTRIES (1u << 18)

/* Scratch of one tokenize call (reused by every segment and piece). */
typedef struct spm_work {
    sym *sy;
    int64_t cap_sy;
    heap h;
    seg_cache c;
} spm_work;

static void spm_work_free(spm_work *w) {
    free(w->sy);
    free(w->h.a);
    free(w->c.slots);
    free(w->c.e);
    free(w->c.keys);
    free(w->c.ids);
}

/* Entry of segment s[0..n) with hash h, or NULL. */
static const seg_entry *cache_find(const seg_cache *c, const char *s, size_t n, uint32_t h) {
    if (!c->slots) return NULL;
    uint32_t mask = c->n_slots - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t k = c->slots[i];
        if (k == 0) return NULL;
        const seg_entry *e = &c->e[k - 1];
        if (e->hash == h && e->key_len == n && memcmp(c->keys + e->key_off, s, n) == 0) return e;
    }
}

/* Grows a pool to hold `need` elements of `size` bytes; false when out of memory. */
static bool pool_reserve(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 4096;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * size);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

/* Remembers ids[0..n_ids) for segment s[0..n); best effort: on allocation
 * failure or past the cap the cache just stops growing. */
static void cache_add(seg_cache *c, const char *s, size_t n, uint32_t h, const int32_t *ids, int64_t n_ids) {
    if (c->full) return;
    if (c->n >= SEG_CACHE_MAX_ENTRIES) {
        c->full = true;
        return;
    }
    if (2 * (c->n + 1) > c->n_slots) {  /* keep the load factor <= 1/2 */
        uint32_t ns = c->n_slots ? 2 * c->n_slots : 1024;
        uint32_t *slots = (uint32_t *)calloc(ns, sizeof(uint32_t));
        seg_entry *e = (seg_entry *)realloc(c->e, (size_t)(ns / 2) * sizeof(seg_entry));
        if (!slots || !e) {
            free(slots);
            if (e) c->e = e;
            c->full = true;
            return;
        }
        c->e = e;
        for (uint32_t k = 0; k < c->n; k++) {
            uint32_t i = c->e[k].hash & (ns - 1);
            while (slots[i]) i = (i + 1) & (ns - 1);
            slots[i] = k + 1;
        }
        free(c->slots);
        c->slots = slots;
        c->n_slots = ns;
    }
    if (!pool_reserve((void **)&c->keys, &c->cap_keys, c->n_keys + n, 1) ||
        !pool_reserve((void **)&c->ids, &c->cap_ids, c->n_ids + (size_t)n_ids, sizeof(int32_t))) {
        c->full = true;
        return;
    }
    seg_entry *e = &c->e[c->n];
    e->hash = h;
    e->key_len = (uint32_t)n;
    e->key_off = c->n_keys;
    e->id_off = c->n_ids;
    e->id_n = n_ids;
    memcpy(c->keys + c->n_keys, s, n);
    c->n_keys += n;
    if (n_ids) memcpy(c->ids + c->n_ids, ids, (size_t)n_ids * sizeof(int32_t));
    c->n_ids += (size_t)n_ids;
    uint32_t i = h & (c->n_slots - 1);
    while (c->slots[i]) i = (i + 1) & (c->n_slots - 1);
    c->slots[i] = ++c->n;
}

/* Merges escaped text s[0..n) (spaces already "▁") as one unit, the
 * whole of llama.cpp's algorithm, and appends the ids to out. */
static bool tokenize_spm(const qtk_vocab *v, const char *s, int64_t n, spm_work *w, tok_list *out) {
    if (n <= 0) return true;
    if (n > w->cap_sy) {
        sym *p = (sym *)realloc(w->sy, (size_t)n * sizeof(sym));
        if (!p) return false;
        w->sy = p;
        w->cap_sy = n;
    }
    sym *sy = w->sy;
    heap *h = &w->h;
    h->n = 0;
    int64_t ns = 0;
    for (int64_t off = 0; off < n; ns++) {
        int64_t len = QTK_MIN(utf8_len((uint8_t)s[off]), n - off);
        sy[ns].off = off;
        sy[ns].n = len;
        sy[ns].prev = ns - 1;
        sy[ns].next = off + len < n ? ns + 1 : -1;
        sy[ns].id = -1;
        off += len;
    }
    bool ok = true;
    for (int64_t i = 1; i < ns && ok; i++) ok = try_bigram(v, s, sy, h, i - 1, i);
    while (ok && h->n > 0) {
        bigram b = heap_pop(h);
        sym *l = &sy[b.left], *r = &sy[b.right];
        /* stale entry: one side was merged away or grew since it was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        l->id = b.id;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = b.left;
        ok = try_bigram(v, s, sy, h, l->prev, b.left) && try_bigram(v, s, sy, h, b.left, l->next);
    }
    for (int64_t i = 0; ok && i >= 0; i = sy[i].next) {
        int32_t id = sy[i].id >= 0 ? sy[i].id : find_token(v, s + sy[i].off, (size_t)sy[i].n);
        if (id >= 0) {
            push_tok(out, id);
            continue;
        }
        for (int64_t k = 0; k < sy[i].n; k++) {
            int32_t bt = v->byte_tok[(uint8_t)s[sy[i].off + k]];
            push_tok(out, bt >= 0 ? bt : v->unk);
        }
    }
    return ok;
}

/* One segment through the cache (when enabled and short enough). */
static bool tokenize_segment(const qtk_vocab *v, const char *s, int64_t n, spm_work *w, tok_list *out) {
    if (!(v->spm_strategy & QTK_SPM_CACHE) || n > SEG_CACHE_MAX_KEY) return tokenize_spm(v, s, n, w, out);
    const uint32_t h = hash_bytes(s, (size_t)n);
    const seg_entry *e = cache_find(&w->c, s, (size_t)n, h);
    if (e) {
        for (int64_t k = 0; k < e->id_n; k++) push_tok(out, w->c.ids[e->id_off + (size_t)k]);
        return true;
    }
    const int64_t start = out->n;
    if (!tokenize_spm(v, s, n, w, out)) return false;
    if (!out->oom) cache_add(&w->c, s, (size_t)n, h, out->p + start, out->n - start);
    return true;
}

static const char spm_space[3] = {'\xE2', '\x96', '\x81'};

/* Tokenizes escaped text s[0..n). With segmenting, the text is cut at
 * every initial symbol that is "▁" unless the 3 bytes before it are "▁"
 * too: every symbol a merge creates is a token, and a merge across such a
 * cut would create one with "▁" at byte offset k > 0 not preceded by "▁"
 * (the bytes before the cut), which the vocabulary has been checked not to
 * contain (spm_segmentable). Cuts lie on initial symbol boundaries, so each
 * segment starts from the same symbols; merges on either side never
 * interact, and the leftmost-first tie order is kept within a segment. */
static bool tokenize_spm_text(const qtk_vocab *v, const char *s, int64_t n, spm_work *w, tok_list *out) {
    if (!v->spm_segmentable || !(v->spm_strategy & QTK_SPM_SEGMENT)) return tokenize_spm(v, s, n, w, out);
    int64_t start = 0;
    for (int64_t off = 0; off < n;) {
        const int64_t len = QTK_MIN(utf8_len((uint8_t)s[off]), n - off);
        if (off > start && len == 3 && memcmp(s + off, spm_space, 3) == 0 &&
            (off < 3 || memcmp(s + off - 3, spm_space, 3) != 0)) {
            if (!tokenize_segment(v, s + start, off - start, w, out)) return false;
            start = off;
        }
        off += len;
    }
    return tokenize_segment(v, s + start, n - start, w, out);
}

/* SentencePiece of one raw piece: optional leading space, then ' ' -> U+2581. */
static qtk_status tokenize_spm_piece(const qtk_vocab *v, const char *text, size_t len, bool space_prefix,
                                     spm_work *w, tok_list *out, qtk_error *err) {
    size_t spaces = space_prefix ? 1 : 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t n = len + 2 * spaces + (space_prefix ? 1 : 0);
    char *s = (char *)malloc(n + 1);
    if (!s) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (tokenizer)");
    size_t o = 0;
    if (space_prefix) {
        memcpy(s, spm_space, 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + o, spm_space, 3);
            o += 3;
        } else {
            s[o++] = text[i];
        }
    }
    bool ok = tokenize_spm_text(v, s, (int64_t)o, w, out);
    free(s);
    return ok ? QTK_OK : qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (tokenizer)");
}

qtk_status qtk_tokenize_ex(const qtk_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                           int32_t **tokens, int64_t *n_tokens, qtk_error *err) {
    if (!v || (!text && len) || !tokens || !n_tokens)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_tokenize: NULL argument");
    *tokens = NULL;
    *n_tokens = 0;
    tok_list out = {0};
    spm_work w;
    memset(&w, 0, sizeof w);
    if (add_special && qtk_vocab_adds_bos(v)) push_tok(&out, v->bos);
    qtk_frag *frags = NULL;
    int64_t nf = 0;
    qtk_status st = qtk_special_partition(v->ext, text, len, parse_special, &frags, &nf, err);
    bool prev_special = true;  /* SPM: a space goes in front of the text and after special tokens */
    for (int64_t f = 0; st == QTK_OK && f < nf; f++) {
        if (frags[f].id >= 0) {
            push_tok(&out, frags[f].id);
            prev_special = true;
        } else if (v->kind == QTK_VOCAB_BPE) {
            st = qtk_bpe_tokenize(v->ext, text + frags[f].off, (size_t)frags[f].len, &out, err);
        } else {
            st = tokenize_spm_piece(v, text + frags[f].off, (size_t)frags[f].len,
                                    v->add_space_prefix && prev_special, &w, &out, err);
            prev_special = false;
        }
    }
    free(frags);
    spm_work_free(&w);
    if (st == QTK_OK && out.oom) st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (tokenizer)");
    if (st != QTK_OK) {
        free(out.p);
        return st;
    }
    *tokens = out.p;
    *n_tokens = out.n;
    return QTK_OK;
}

qtk_status qtk_tokenize(const qtk_vocab *v, const char *text, size_t len, bool add_special, int32_t **tokens,
                        int64_t *n_tokens, qtk_error *err) {
    return qtk_tokenize_ex(v, text, len, add_special, false, tokens, n_tokens, err);
}
