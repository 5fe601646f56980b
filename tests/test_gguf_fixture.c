/*
 * test_gguf_fixture.c — the reader on the real tiny-llama fixtures (F16 and
 * F32): metadata keys, the 4096-token vocabulary, and every tensor's name,
 * shape, type, offset and data placement. Expected values were taken from
 * an independent inspection of the files. Skips (77) without ../shared.
 */
#include "testlib.h"

#include <stdint.h>

typedef struct expect_tensor {
    const char *name;
    int n_dims;
    int64_t ne0, ne1;
    int is_norm;  /* norms stay F32 in both fixtures */
} expect_tensor;

static const char *const block_names[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                           "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
static const int64_t block_shapes[9][2] = {{256, 1}, {256, 256}, {256, 128}, {256, 128}, {256, 256},
                                           {256, 1}, {256, 768}, {256, 768}, {768, 256}};

/* Builds the 57 expected tensors in file order. */
static int expected_tensors(expect_tensor *out, char names[][48]) {
    int n = 0;
    out[n++] = (expect_tensor){"token_embd.weight", 2, 256, 4096, 0};
    for (int b = 0; b < 6; b++)
        for (int k = 0; k < 9; k++) {
            snprintf(names[n], 48, "blk.%d.%s.weight", b, block_names[k]);
            int norm = block_shapes[k][1] == 1;
            out[n] = (expect_tensor){names[n], norm ? 1 : 2, block_shapes[k][0], block_shapes[k][1], norm};
            n++;
        }
    out[n++] = (expect_tensor){"output_norm.weight", 1, 256, 1, 1};
    out[n++] = (expect_tensor){"output.weight", 2, 256, 4096, 0};
    return n;
}

static void check_u32(const qtk_meta *m, const char *key, int64_t want) {
    const qtk_gguf_value *v = qtk_meta_get(m, key);
    int64_t got = -1;
    CHECK(v && v->type == QTK_GGUF_UINT32, "%s: missing or not u32", key);
    CHECK(qtk_meta_get_int(m, key, &got) && got == want, "%s = %lld, want %lld", key, (long long)got, (long long)want);
}

static void check_fixture(const char *path, qtk_type big_type, int64_t file_type, uint64_t file_size) {
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_status st = qtk_gguf_open(path, &g, &err);
    CHECK(st == QTK_OK, "open %s: %s", path, err.msg);
    if (st != QTK_OK) return;
    const qtk_meta *m = qtk_gguf_meta(g);
    CHECK(qtk_gguf_version(g) == 3, "version");
    CHECK(qtk_gguf_alignment(g) == 32, "alignment");
    CHECK(qtk_gguf_file_size(g) == file_size, "size %llu", (unsigned long long)qtk_gguf_file_size(g));
    CHECK(qtk_gguf_data_offset(g) == 94336, "data offset %llu", (unsigned long long)qtk_gguf_data_offset(g));
    CHECK(m->n == 23, "%lld keys", (long long)m->n);
    CHECK(m->n > 0 && strcmp(m->kv[0].key, "general.architecture") == 0, "first key");
    const char *arch = qtk_meta_get_str(m, "general.architecture");
    CHECK(arch && strcmp(arch, "llama") == 0, "architecture %s", arch ? arch : "(null)");
    const char *name = qtk_meta_get_str(m, "general.name");
    CHECK(name && strcmp(name, "tiny-llama") == 0, "general.name");
    const char *tm = qtk_meta_get_str(m, "tokenizer.ggml.model");
    CHECK(tm && strcmp(tm, "llama") == 0, "tokenizer model");
    check_u32(m, "general.file_type", file_type);
    check_u32(m, "general.alignment", 32);
    check_u32(m, "llama.context_length", 256);
    check_u32(m, "llama.embedding_length", 256);
    check_u32(m, "llama.block_count", 6);
    check_u32(m, "llama.feed_forward_length", 768);
    check_u32(m, "llama.attention.head_count", 4);
    check_u32(m, "llama.attention.head_count_kv", 2);
    check_u32(m, "llama.rope.dimension_count", 64);
    check_u32(m, "llama.vocab_size", 4096);
    check_u32(m, "tokenizer.ggml.bos_token_id", 1);
    check_u32(m, "tokenizer.ggml.eos_token_id", 2);
    check_u32(m, "tokenizer.ggml.unknown_token_id", 0);
    double f = 0;
    CHECK(qtk_meta_get_float(m, "llama.rope.freq_base", &f) && f == 10000.0, "freq_base %g", f);
    CHECK(qtk_meta_get(m, "llama.rope.freq_base")->type == QTK_GGUF_FLOAT32, "freq_base type");
    CHECK(qtk_meta_get_float(m, "llama.attention.layer_norm_rms_epsilon", &f) && f == (double)1e-5f, "eps %g", f);
    const qtk_gguf_value *b = qtk_meta_get(m, "tokenizer.ggml.add_bos_token");
    CHECK(b && b->type == QTK_GGUF_BOOL && b->v.u64 == 1, "add_bos_token");
    b = qtk_meta_get(m, "tokenizer.ggml.add_eos_token");
    CHECK(b && b->type == QTK_GGUF_BOOL && b->v.u64 == 0, "add_eos_token");

    const qtk_gguf_value *tok = qtk_meta_get(m, "tokenizer.ggml.tokens");
    CHECK(tok && tok->type == QTK_GGUF_ARRAY && tok->v.arr.elem_type == QTK_GGUF_STRING && tok->v.arr.n == 4096,
          "tokens array");
    if (tok && tok->type == QTK_GGUF_ARRAY && tok->v.arr.n == 4096) {
        const qtk_gguf_value *it = tok->v.arr.items;
        CHECK(strcmp(it[0].v.str.ptr, "<unk>") == 0 && strcmp(it[1].v.str.ptr, "<s>") == 0 &&
                  strcmp(it[2].v.str.ptr, "</s>") == 0 && strcmp(it[3].v.str.ptr, "<0x00>") == 0,
              "first tokens");
        CHECK(strcmp(it[4094].v.str.ptr, "$") == 0 && strcmp(it[4095].v.str.ptr, "|") == 0, "last tokens");
        int all_str = 1;
        for (int i = 0; i < 4096; i++) all_str &= it[i].type == QTK_GGUF_STRING;
        CHECK(all_str, "token items typed str");
    }
    const qtk_gguf_value *sc = qtk_meta_get(m, "tokenizer.ggml.scores");
    CHECK(sc && sc->type == QTK_GGUF_ARRAY && sc->v.arr.elem_type == QTK_GGUF_FLOAT32 && sc->v.arr.n == 4096, "scores");
    if (sc && sc->type == QTK_GGUF_ARRAY && sc->v.arr.n == 4096)
        CHECK(sc->v.arr.items[4095].v.f64 == -3836.0 && sc->v.arr.items[0].v.f64 == 0.0, "score values");
    const qtk_gguf_value *tt = qtk_meta_get(m, "tokenizer.ggml.token_type");
    CHECK(tt && tt->type == QTK_GGUF_ARRAY && tt->v.arr.elem_type == QTK_GGUF_INT32 && tt->v.arr.n == 4096,
          "token_type");
    if (tt && tt->type == QTK_GGUF_ARRAY && tt->v.arr.n == 4096)
        CHECK(tt->v.arr.items[0].v.i64 == 2 && tt->v.arr.items[1].v.i64 == 3 && tt->v.arr.items[3].v.i64 == 6,
              "token_type values");

    expect_tensor ex[64];
    static char names[64][48];
    int n = expected_tensors(ex, names);
    CHECK(qtk_gguf_n_tensors(g) == n, "%lld tensors, want %d", (long long)qtk_gguf_n_tensors(g), n);
    uint64_t off = 0;
    for (int i = 0; i < n && i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        qtk_type want_type = ex[i].is_norm ? QTK_TYPE_F32 : big_type;
        CHECK(strcmp(t->name, ex[i].name) == 0, "tensor %d is %s, want %s", i, t->name, ex[i].name);
        CHECK(t->n_dims == ex[i].n_dims && t->ne[0] == ex[i].ne0 && t->ne[1] == ex[i].ne1 && t->ne[2] == 1 &&
                  t->ne[3] == 1,
              "%s shape", ex[i].name);
        CHECK(t->type == want_type, "%s type %s", ex[i].name, qtk_type_name(t->type));
        uint64_t nb = (uint64_t)(ex[i].ne0 * ex[i].ne1) * (want_type == QTK_TYPE_F16 ? 2u : 4u);
        CHECK(t->nbytes == nb, "%s nbytes %llu", ex[i].name, (unsigned long long)t->nbytes);
        CHECK(t->offset == off, "%s offset %llu want %llu", ex[i].name, (unsigned long long)t->offset,
              (unsigned long long)off);
        off += (nb + 31) / 32 * 32;
        CHECK(qtk_gguf_find_tensor(g, ex[i].name) == i, "find %s", ex[i].name);
    }
    CHECK(qtk_gguf_data_offset(g) + off == file_size, "tensors end at the file end");
    /* data pointer lands on the right bytes (value read independently) */
    const qtk_tensor_info *norm = qtk_gguf_tensor(g, qtk_gguf_find_tensor(g, "output_norm.weight"));
    CHECK(norm != NULL, "output_norm.weight missing");
    if (norm) {
        float first;
        memcpy(&first, norm->data, 4);
        CHECK(first == 1.4111756086349487f, "output_norm[0] = %.9g", first);
    }
    qtk_gguf_close(g);
}

int main(void) {
    char *f16 = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    if (!f16) return tl_skip("test_gguf_fixture", "fixtures/tiny-llama-f16.gguf not found");
    check_fixture(f16, QTK_TYPE_F16, 1, 13739136);
    free(f16);
    char *f32 = tl_shared_path("fixtures/tiny-llama-f32.gguf");
    if (f32) check_fixture(f32, QTK_TYPE_F32, 0, 27370624);
    free(f32);
    return tl_finish("test_gguf_fixture");
}
