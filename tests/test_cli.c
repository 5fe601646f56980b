/*
 * test_cli.c — runs the `qtk` binary: help/usage exit codes, inspect (text and
 * JSON), dequantize output values, and failures that must leave no output.
 * Skipped when the binary cannot be launched (e.g. cross builds under an emulator).
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testlib.h"

#include <math.h>
#ifndef _WIN32
#include <sys/wait.h>
#endif

static const char *g_bin;


/* Writes a small model: f32 norm, q8_0 and q4_0 matrices, plus metadata. */
static int write_model(const char *path, float *w8, float *w4) {
    qtk_error err;
    qtk_gguf_writer *w;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return -1;
    qtk_meta *m = qtk_gguf_writer_meta(w);
    qtk_meta_set_str(m, "general.architecture", "llama", &err);
    qtk_meta_set_u32(m, "general.file_type", 7, &err);
    int64_t ne_norm[1] = {64}, ne_mat[2] = {64, 4};
    qtk_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", QTK_TYPE_F32, 1, ne_norm, &err);
    qtk_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", QTK_TYPE_Q8_0, 2, ne_mat, &err);
    qtk_gguf_writer_add_tensor(w, "blk.0.ffn_down.weight", QTK_TYPE_Q4_0, 2, ne_mat, &err);
    float norm[64];
    for (int i = 0; i < 64; i++) norm[i] = 1.0f + 0.01f * (float)i;
    unsigned char q8[4 * 2 * 34], q4[4 * 2 * 18];
    if (qtk_quantize_rows(QTK_TYPE_Q8_0, w8, q8, 4, 64, NULL, &err) != QTK_OK ||
        qtk_quantize_rows(QTK_TYPE_Q4_0, w4, q4, 4, 64, NULL, &err) != QTK_OK)
        return -1;
    if (qtk_gguf_writer_write(w, norm, sizeof norm, &err) != QTK_OK ||
        qtk_gguf_writer_write(w, q8, sizeof q8, &err) != QTK_OK ||
        qtk_gguf_writer_write(w, q4, sizeof q4, &err) != QTK_OK)
        return -1;
    return qtk_gguf_writer_finish(w, &err) == QTK_OK ? 0 : -1;
}

int main(void) {
    g_bin = getenv("QTK_BIN");
    if (!g_bin || !tl_file_exists(g_bin)) return tl_skip("test_cli", "QTK_BIN not set or missing");
    char *out = tl_tmp_path("cli_out.txt");
    if (!tl_qtk_available() || tl_run_qtk("--version", out) != 0 || !tl_file_contains(out, "qtk "))
        return tl_skip("test_cli", "cannot launch the qtk binary from here (cross build?)");

    CHECK(tl_run_qtk("--help", out) == 0 && tl_file_contains(out, "inspect") && tl_file_contains(out, "dequantize"), "--help");
    CHECK(tl_run_qtk("help inspect", out) == 0 && tl_file_contains(out, "usage: qtk inspect"), "help inspect");
    CHECK(tl_run_qtk("help dequantize", out) == 0 && tl_file_contains(out, "usage: qtk dequantize"), "help dequantize");
    CHECK(tl_run_qtk("inspect --help", out) == 0 && tl_file_contains(out, "usage: qtk inspect"), "inspect --help");
    CHECK(tl_run_qtk("frobnicate", out) == 2 && tl_file_contains(out, "unknown command"), "unknown command -> 2");
    CHECK(tl_run_qtk("inspect --bogus x.gguf", out) == 2 && tl_file_contains(out, "unknown option"), "unknown option -> 2");
    CHECK(tl_run_qtk("dequantize --bogus a b", out) == 2, "unknown option -> 2");
    CHECK(tl_run_qtk("inspect", out) == 2, "missing file -> 2");
    CHECK(tl_run_qtk("", out) == 2, "no command -> 2");

    /* a small model */
    float w8[256], w4[256];
    tl_rng r;
    tl_rng_seed(&r, 7);
    for (int i = 0; i < 256; i++) {
        w8[i] = 0.02f * tl_rng_normal(&r);
        w4[i] = 0.02f * tl_rng_normal(&r);
    }
    char *model = tl_tmp_path("cli_model.gguf");
    CHECK(write_model(model, w8, w4) == 0, "write model");

    char args[4096];
    snprintf(args, sizeof args, "inspect \"%s\"", model);
    CHECK(tl_run_qtk(args, out) == 0, "inspect exit code");
    CHECK(tl_file_contains(out, "blk.0.ffn_down.weight") && tl_file_contains(out, "q4_0") && tl_file_contains(out, "q8_0"), "inspect tensors");
    CHECK(tl_file_contains(out, "general.architecture") && tl_file_contains(out, "\"llama\""), "inspect metadata");
    CHECK(tl_file_contains(out, "576 parameters"), "inspect parameter count");
    snprintf(args, sizeof args, "inspect --json \"%s\"", model);
    CHECK(tl_run_qtk(args, out) == 0 && tl_file_contains(out, "\"n_params\": 576") && tl_file_contains(out, "\"type\": \"q4_0\""),
          "inspect --json");

    /* dequantize: values equal the library's to_float */
    char *deq = tl_tmp_path("cli_model_f32.gguf");
    remove(deq);
    snprintf(args, sizeof args, "dequantize -q \"%s\" \"%s\"", model, deq);
    CHECK(tl_run_qtk(args, out) == 0, "dequantize exit code");
    qtk_gguf *g = NULL;
    qtk_error err;
    CHECK(qtk_gguf_open(deq, &g, &err) == QTK_OK, "open dequantized: %s", err.msg);
    if (g) {
        CHECK(qtk_gguf_n_tensors(g) == 3, "tensor count");
        int64_t ft = -1;
        CHECK(qtk_meta_get_int(qtk_gguf_meta(g), "general.file_type", &ft) && ft == 0, "file_type 0");
        const char *names[2] = {"blk.0.ffn_up.weight", "blk.0.ffn_down.weight"};
        const int types[2] = {QTK_TYPE_Q8_0, QTK_TYPE_Q4_0};
        float *srcs[2] = {w8, w4};
        for (int k = 0; k < 2; k++) {
            int64_t ti = qtk_gguf_find_tensor(g, names[k]);
            CHECK(ti >= 0, "find %s", names[k]);
            if (ti < 0) continue;
            const qtk_tensor_info *t = qtk_gguf_tensor(g, ti);
            CHECK(t->type == QTK_TYPE_F32 && t->ne[0] == 64 && t->ne[1] == 4, "%s shape/type", names[k]);
            unsigned char q[4 * 2 * 34];
            float expect[256];
            qtk_quantize_rows(types[k], srcs[k], q, 4, 64, NULL, &err);
            qtk_dequantize_rows(types[k], q, expect, 4, 64, &err);
            CHECK(memcmp(t->data, expect, sizeof expect) == 0, "%s values", names[k]);
        }
        qtk_gguf_close(g);
    }

    /* failures leave nothing behind and keep an existing OUT */
    char *missing_in = tl_tmp_path("does_not_exist.gguf");
    char *keep = tl_tmp_path("cli_keep.gguf");
    tl_write_file(keep, "previous", 8);
    snprintf(args, sizeof args, "dequantize -q \"%s\" \"%s\"", missing_in, keep);
    CHECK(tl_run_qtk(args, out) == 1 && tl_file_contains(out, "does_not_exist.gguf"), "missing input -> 1 with file name");
    CHECK(tl_file_contains(keep, "previous"), "existing OUT untouched");
    char *garbage = tl_tmp_path("cli_garbage.gguf");
    tl_write_file(garbage, "GGUF\x03\x00\x00\x00\xff\xff", 10);
    snprintf(args, sizeof args, "inspect \"%s\"", garbage);
    CHECK(tl_run_qtk(args, out) == 1 && tl_file_contains(out, "cli_garbage.gguf"), "malformed input -> 1 naming the file");
    snprintf(args, sizeof args, "dequantize -q \"%s\" \"%s\"", garbage, keep);
    CHECK(tl_run_qtk(args, out) == 1 && tl_file_contains(keep, "previous"), "malformed input keeps OUT");
    {
        CHECK(tl_temp_files(keep) == 0, "no temp file left");
    }

    /* a tensor type without a decoder: clear error naming the tensor, no output */
    {
        char *unk = tl_tmp_path("cli_q8_1.gguf");
        qtk_gguf_writer *w;
        int64_t ne[2] = {32, 1};
        unsigned char blk[36] = {0};
        if (qtk_gguf_writer_open(unk, &w, &err) == QTK_OK) {
            qtk_gguf_writer_add_tensor(w, "odd.weight", QTK_TYPE_Q8_1, 2, ne, &err);
            qtk_gguf_writer_write(w, blk, sizeof blk, &err);
            CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "write q8_1 file: %s", err.msg);
        }
        char *o2 = tl_tmp_path("cli_q8_1_out.gguf");
        remove(o2);
        snprintf(args, sizeof args, "dequantize -q \"%s\" \"%s\"", unk, o2);
        CHECK(tl_run_qtk(args, out) == 1 && tl_file_contains(out, "odd.weight") && tl_file_contains(out, "q8_1"),
              "undecodable type names tensor and type");
        CHECK(!tl_file_exists(o2), "no output for undecodable type");
        free(unk);
        free(o2);
    }
    free(missing_in);
    free(keep);
    free(garbage);
    free(deq);
    free(model);
    free(out);
    return tl_finish("test_cli");
}
