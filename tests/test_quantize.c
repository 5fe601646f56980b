/*
 * test_quantize.c — whole-model quantization on a small synthetic model
 * written by the test: library API (plan + qtk_quantize_model) and the
 * `qtk quantize` command. Checks output types, bytes against the type
 * kernels, thread-count independence, metadata, imatrix use, dry runs,
 * and that every failure leaves no output behind.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testlib.h"

#include <math.h>
#ifndef _WIN32
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#endif

#define N_EMBD 256
#define N_FF 512
#define N_VOCAB 320
#define N_LAYER 2

/* Writes a 2-layer LLaMA-shaped F16 model (F32 norms); poison: put a NaN into blk.1.ffn_up. */
static int write_model(const char *path, bool poison) {
    qtk_error err;
    qtk_gguf_writer *w;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return -1;
    qtk_meta *m = qtk_gguf_writer_meta(w);
    qtk_meta_set_str(m, "general.architecture", "llama", &err);
    qtk_meta_set_u32(m, "llama.block_count", N_LAYER, &err);
    qtk_meta_set_u32(m, "llama.embedding_length", N_EMBD, &err);
    qtk_meta_set_u32(m, "llama.feed_forward_length", N_FF, &err);
    qtk_meta_set_u32(m, "llama.attention.head_count", 4, &err);
    qtk_meta_set_u32(m, "llama.attention.head_count_kv", 2, &err);
    qtk_meta_set_u32(m, "llama.vocab_size", N_VOCAB, &err);
    qtk_meta_set_u32(m, "general.file_type", 1, &err);
    struct { char name[64]; int64_t ne0, ne1; int type; } t[64];
    int n = 0;
#define ADD(NAME, A, B, T) do { snprintf(t[n].name, 64, "%s", NAME); t[n].ne0 = A; t[n].ne1 = B; t[n].type = T; n++; } while (0)
    ADD("token_embd.weight", N_EMBD, N_VOCAB, QTK_TYPE_F16);
    for (int l = 0; l < N_LAYER; l++) {
        char b[64];
#define L(S, A, B, T) do { snprintf(b, 64, "blk.%d." S, l); ADD(b, A, B, T); } while (0)
        L("attn_norm.weight", N_EMBD, 1, QTK_TYPE_F32);
        L("attn_q.weight", N_EMBD, N_EMBD, QTK_TYPE_F16);
        L("attn_k.weight", N_EMBD, N_EMBD / 2, QTK_TYPE_F16);
        L("attn_v.weight", N_EMBD, N_EMBD / 2, QTK_TYPE_F16);
        L("attn_output.weight", N_EMBD, N_EMBD, QTK_TYPE_F16);
        L("ffn_norm.weight", N_EMBD, 1, QTK_TYPE_F32);
        L("ffn_gate.weight", N_EMBD, N_FF, QTK_TYPE_F16);
        L("ffn_up.weight", N_EMBD, N_FF, QTK_TYPE_F16);
        L("ffn_down.weight", N_FF, N_EMBD, QTK_TYPE_F16);
#undef L
    }
    ADD("output_norm.weight", N_EMBD, 1, QTK_TYPE_F32);
    ADD("output.weight", N_EMBD, N_VOCAB, QTK_TYPE_F16);
    ADD("odd_proj.weight", 96, 8, QTK_TYPE_F16); /* row length not a multiple of 256 */
#undef ADD
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (qtk_gguf_writer_add_tensor(w, t[i].name, (qtk_type)t[i].type, t[i].ne1 == 1 ? 1 : 2, ne, &err) != QTK_OK)
            return -1;
    }
    tl_rng r;
    tl_rng_seed(&r, 42);
    for (int i = 0; i < n; i++) {
        int64_t cnt = t[i].ne0 * t[i].ne1;
        float *x = (float *)malloc((size_t)cnt * sizeof(float));
        unsigned char *buf = (unsigned char *)malloc((size_t)cnt * 4);
        for (int64_t j = 0; j < cnt; j++)
            x[j] = t[i].ne1 == 1 ? 1.0f + 0.1f * tl_rng_normal(&r) : 0.02f * tl_rng_normal(&r) * (j % 61 == 0 ? 6.0f : 1.0f);
        if (poison && !strcmp(t[i].name, "blk.1.ffn_up.weight")) x[1000] = NAN;
        size_t bytes = (size_t)cnt * (t[i].type == QTK_TYPE_F32 ? 4 : 2);
        qtk_quantize_rows(t[i].type, x, buf, 1, cnt, NULL, &err);
        if (poison && !strcmp(t[i].name, "blk.1.ffn_up.weight")) { /* F16 NaNs written by hand */
            uint16_t h = 0x7e00;
            memcpy(buf + 2 * 1000, &h, 2);
            memcpy(buf + 2 * (cnt - 3), &h, 2); /* a second one in the last row: reported is the first */
        }
        qtk_status st = qtk_gguf_writer_write(w, buf, bytes, &err);
        free(x);
        free(buf);
        if (st != QTK_OK) return -1;
    }
    return qtk_gguf_writer_finish(w, &err) == QTK_OK ? 0 : -1;
}


static qtk_status quantize_lib(const char *in, const char *out, const char *preset, int threads, const qtk_imatrix *im,
                               qtk_error *err) {
    qtk_gguf *g = NULL;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    qtk_status s = qtk_gguf_open(in, &g, err);
    if (s == QTK_OK) s = qtk_recipe_from_preset(preset, NULL, &r, err);
    if (s == QTK_OK) s = qtk_plan_make(g, r, im, false, &p, err);
    if (s == QTK_OK) {
        qtk_quantize_params qp;
        qtk_quantize_params_init(&qp);
        qp.nthreads = threads;
        qp.imatrix = im;
        qp.recipe = r;
        s = qtk_quantize_model(g, p, out, &qp, err);
    }
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_gguf_close(g);
    return s;
}


/* Checks an output file against the plan and the type kernels. */
static void check_output(const char *src_path, const char *out_path, const char *preset) {
    qtk_error err;
    qtk_gguf *src = NULL, *out = NULL;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    CHECK(qtk_gguf_open(src_path, &src, &err) == QTK_OK, "open src: %s", err.msg);
    CHECK(qtk_gguf_open(out_path, &out, &err) == QTK_OK, "open out %s: %s", preset, err.msg);
    if (!src || !out) goto done;
    CHECK(qtk_recipe_from_preset(preset, NULL, &r, &err) == QTK_OK, "preset %s", preset);
    CHECK(qtk_plan_make(src, r, NULL, false, &p, &err) == QTK_OK, "plan %s: %s", preset, err.msg);
    if (!p) goto done;
    CHECK(qtk_gguf_n_tensors(out) == qtk_gguf_n_tensors(src), "tensor count");
    const qtk_meta *m = qtk_gguf_meta(out);
    int64_t v = -1;
    CHECK(qtk_meta_get_int(m, "general.file_type", &v) && v == p->file_type, "%s: file_type %lld", preset, (long long)v);
    CHECK(qtk_meta_get_int(m, "general.quantization_version", &v) && v == 2, "quantization_version");
    CHECK(qtk_meta_get_str(m, "general.architecture") && !strcmp(qtk_meta_get_str(m, "general.architecture"), "llama"),
          "metadata copied");
    const char *rtext = qtk_meta_get_str(m, "quantize.recipe");
    CHECK(rtext != NULL, "quantize.recipe stored");
    if (rtext) {
        qtk_recipe *r2 = NULL;
        qtk_plan *p2 = NULL;
        CHECK(qtk_recipe_parse(rtext, "quantize.recipe", &r2, &err) == QTK_OK, "stored recipe parses: %s", err.msg);
        if (r2 && qtk_plan_make(src, r2, NULL, false, &p2, &err) == QTK_OK) {
            for (int64_t i = 0; i < p->n; i++)
                CHECK(p2->items[i].type == p->items[i].type, "stored recipe reproduces the plan (tensor %lld)", (long long)i);
        }
        qtk_plan_free(p2);
        qtk_recipe_free(r2);
    }
    for (int64_t i = 0; i < p->n; i++) {
        const qtk_tensor_info *ti = qtk_gguf_tensor(src, i), *to = qtk_gguf_tensor(out, i);
        CHECK(!strcmp(ti->name, to->name), "name order");
        CHECK((int)to->type == p->items[i].type, "%s: %s type %s, plan %s", preset, to->name, qtk_type_name(to->type),
              qtk_type_name(p->items[i].type));
        if ((int)to->type != p->items[i].type) continue;
        if (!p->items[i].quantize) {
            CHECK(to->nbytes == ti->nbytes && !memcmp(to->data, ti->data, (size_t)ti->nbytes), "%s copied", ti->name);
            continue;
        }
        /* bytes equal the kernels applied to the decoded source */
        int64_t n = ti->ne[0], rows = qtk_tensor_nrows(ti);
        float *x = (float *)malloc((size_t)(n * rows) * sizeof(float));
        unsigned char *q = (unsigned char *)malloc(qtk_row_size(to->type, n) * (size_t)rows);
        qtk_dequantize_rows(ti->type, ti->data, x, rows, n, &err);
        qtk_quantize_rows(to->type, x, q, rows, n, NULL, &err);
        CHECK(!memcmp(q, to->data, qtk_row_size(to->type, n) * (size_t)rows), "%s: %s bytes", preset, ti->name);
        free(x);
        free(q);
    }
done:
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_gguf_close(src);
    qtk_gguf_close(out);
}

/* Tensor data, not whole files: every quantized tensor of with_im must be the
 * kernel applied with its imatrix entry, and of without_im the kernel without
 * one; and the imatrix must change each tensor it has an entry for (comparing
 * whole files would pass on the quantize.imatrix.* metadata alone). */
static void check_imatrix_data(const char *src_path, const char *with_im, const char *without_im, const qtk_imatrix *im) {
    qtk_error err;
    qtk_gguf *src = NULL, *a = NULL, *b = NULL;
    CHECK(qtk_gguf_open(src_path, &src, &err) == QTK_OK, "open %s", err.msg);
    CHECK(qtk_gguf_open(with_im, &a, &err) == QTK_OK, "open %s", err.msg);
    CHECK(qtk_gguf_open(without_im, &b, &err) == QTK_OK, "open %s", err.msg);
    int n_entry = 0, n_changed = 0;
    for (int64_t i = 0; src && a && b && i < qtk_gguf_n_tensors(src); i++) {
        const qtk_tensor_info *ts = qtk_gguf_tensor(src, i), *ta = qtk_gguf_tensor(a, i), *tb = qtk_gguf_tensor(b, i);
        if (ta->type == ts->type) continue; /* copied */
        int64_t n = ts->ne[0], rows = qtk_tensor_nrows(ts);
        size_t bytes = qtk_row_size(ta->type, n) * (size_t)rows;
        const float *w = qtk_imatrix_for(im, ts->name, n, 1, 0);
        float *x = (float *)malloc((size_t)(n * rows) * sizeof(float));
        unsigned char *q_im = (unsigned char *)malloc(bytes), *q_no = (unsigned char *)malloc(bytes);
        qtk_dequantize_rows(ts->type, ts->data, x, rows, n, &err);
        CHECK(qtk_quantize_rows(ta->type, x, q_im, rows, n, w, &err) == QTK_OK, "%s: %s", ts->name, err.msg);
        CHECK(qtk_quantize_rows(tb->type, x, q_no, rows, n, NULL, &err) == QTK_OK, "%s: %s", ts->name, err.msg);
        CHECK(ta->nbytes == bytes && !memcmp(ta->data, q_im, bytes), "%s: data = kernel with its imatrix entry", ts->name);
        CHECK(tb->nbytes == bytes && !memcmp(tb->data, q_no, bytes), "%s: data = kernel without imatrix", ts->name);
        if (w) {
            n_entry++;
            if (memcmp(ta->data, tb->data, bytes) != 0) n_changed++;
        }
        free(x);
        free(q_im);
        free(q_no);
    }
    CHECK(n_entry >= 10 && n_changed == n_entry, "the imatrix changed %d of the %d tensors with an entry", n_changed,
          n_entry);
    qtk_gguf_close(src);
    qtk_gguf_close(a);
    qtk_gguf_close(b);
}


/* Writes a legacy imatrix with an entry for every 2-D tensor of the model at
 * path; tensors whose name contains `wrong` get entries twice as long, as an
 * imatrix of another model would (names match, sizes do not). */
static void write_imatrix(const char *model, const char *out, const char *wrong) {
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_imatrix_acc *acc = NULL;
    CHECK(qtk_gguf_open(model, &g, &err) == QTK_OK && qtk_imatrix_acc_create(&acc, &err) == QTK_OK, "%s", err.msg);
    float act[4 * N_FF * 2];
    tl_rng r;
    tl_rng_seed(&r, 9);
    for (int64_t i = 0; g && acc && i < qtk_gguf_n_tensors(g); i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
        if (t->n_dims < 2) continue;
        int64_t n = wrong && strstr(t->name, wrong) ? 2 * t->ne[0] : t->ne[0], idx;
        qtk_imatrix_acc_tensor(acc, t->name, n, 1, &idx, &err);
        for (int64_t j = 0; j < n * 4; j++) act[j] = tl_rng_normal(&r);
        qtk_imatrix_acc_add(acc, idx, 0, act, 4, &err);
    }
    if (acc) qtk_imatrix_acc_set_chunks(acc, 1, 4, &err);
    CHECK(acc && qtk_imatrix_save_dat(out, acc, &err) == QTK_OK, "save imatrix: %s", err.msg);
    qtk_imatrix_acc_free(acc);
    qtk_gguf_close(g);
}

/* imatrix of another model, --ignore-imatrix-rules, metadata honesty, --override-kv,
 * nthreads 0, optional OUT, usage errors and presets this build cannot quantize (CLI). */
static void test_cli_imatrix_and_options(const char *model, const char *out, const char *log) {
    char args[8192];
    char *imq = tl_tmp_path("tq_im_other_q.dat"), *imt = tl_tmp_path("tq_im_other_tok.dat");
    qtk_error err;
    write_imatrix(model, imq, "attn_q.weight");
    write_imatrix(model, imt, "token_embd");
    /* entry names match, sizes do not: an error naming the file, entry, both sizes; nothing written */
    remove(out);
    snprintf(args, sizeof args, "quantize -q --imatrix \"%s\" \"%s\" \"%s\" IQ4_KS 2", imq, model, out);
    CHECK(tl_run_qtk(args, log) == 1, "imatrix of another model: exit 1");
    CHECK(tl_file_contains(log, "tq_im_other_q.dat") &&
              tl_file_contains(log, "imatrix entry 'blk.0.attn_q.weight' has 512 values, tensor has 256 columns"),
          "mismatch message names the file, the entry and both sizes: %s", tl_last_line(log));
    CHECK(!tl_file_exists(out) && tl_temp_files(out) == 0, "nothing written on an imatrix mismatch");
    snprintf(args, sizeof args, "quantize --dry-run --imatrix \"%s\" \"%s\" \"%s\" IQ4_KS", imq, model, out);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "has 512 values"), "dry run refuses the mismatch too");
    /* excluding the mismatched tensors quantizes them without; metadata counts only entries used */
    snprintf(args, sizeof args, "quantize -q --imatrix \"%s\" --exclude-weights attn_q \"%s\" \"%s\" IQ4_KS 2", imq,
             model, out);
    CHECK(tl_run_qtk(args, log) == 0, "--exclude-weights the mismatched tensors: %s", tl_last_line(log));
    qtk_gguf *g = NULL;
    int64_t v = -1;
    /* 2 layers x 7 matrices + token_embd + output + odd_proj = 17 quantized; 2 attn_q excluded */
    if (qtk_gguf_open(out, &g, &err) == QTK_OK) {
        CHECK(qtk_meta_get_int(qtk_gguf_meta(g), "quantize.imatrix.entries_count", &v) && v == 15,
              "entries_count = entries used (15), got %lld", (long long)v);
        qtk_gguf_close(g);
    }
    /* a token_embd entry that does not fit is not an error (llama-quantize quantizes it without) */
    remove(out);
    snprintf(args, sizeof args, "quantize -q --imatrix \"%s\" \"%s\" \"%s\" IQ4_KS 2", imt, model, out);
    CHECK(tl_run_qtk(args, log) == 0, "token_embd mismatch tolerated: %s", tl_last_line(log));
    if (qtk_gguf_open(out, &g, &err) == QTK_OK) {
        CHECK(qtk_meta_get_int(qtk_gguf_meta(g), "quantize.imatrix.entries_count", &v) && v == 16,
              "token_embd got no imatrix and is not counted: %lld", (long long)v);
        qtk_gguf_close(g);
    }
    /* every entry excluded: no claim that an imatrix was used */
    remove(out);
    snprintf(args, sizeof args, "quantize -q --imatrix \"%s\" --exclude-weights weight \"%s\" \"%s\" Q8_0 1", imt,
             model, out);
    CHECK(tl_run_qtk(args, log) == 0, "all entries excluded");
    if (qtk_gguf_open(out, &g, &err) == QTK_OK) {
        const qtk_meta *m = qtk_gguf_meta(g);
        CHECK(!qtk_meta_get(m, "quantize.imatrix.file") && !qtk_meta_get(m, "quantize.imatrix.entries_count") &&
                  !qtk_meta_get(m, "quantize.imatrix.chunks_count"),
              "no quantize.imatrix.* keys when no tensor used the imatrix");
        qtk_gguf_close(g);
    }

    /* --ignore-imatrix-rules: Q2_K_S needs imatrix entries for q2_K; the flag lifts the rule */
    remove(out);
    snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" Q2_K_S 1", model, out);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "--ignore-imatrix-rules") && !tl_file_exists(out),
          "Q2_K_S without an imatrix is refused, suggesting --ignore-imatrix-rules");
    snprintf(args, sizeof args, "quantize -q --ignore-imatrix-rules \"%s\" \"%s\" Q2_K_S 1", model, out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_exists(out), "--ignore-imatrix-rules quantizes it: %s", tl_last_line(log));
    if (qtk_gguf_open(out, &g, &err) == QTK_OK) {
        int64_t i = qtk_gguf_find_tensor(g, "blk.0.ffn_up.weight");
        CHECK(i >= 0 && qtk_gguf_tensor(g, i)->type == QTK_TYPE_Q2_K, "Q2_K_S gave q2_K");
        qtk_gguf_close(g);
    }

    /* --override-kv KEY=TYPE:VALUE as llama.cpp: int -> u32, float -> f32, bool, str */
    remove(out);
    snprintf(args, sizeof args,
             "quantize -q --override-kv general.name=str:renamed --override-kv tk.int=int:7 --override-kv tk.f=float:0.5 "
             "--override-kv tk.b=bool:true --override-kv tk.b2=bool:false \"%s\" \"%s\" Q8_0 1",
             model, out);
    CHECK(tl_run_qtk(args, log) == 0, "--override-kv: %s", tl_last_line(log));
    if (qtk_gguf_open(out, &g, &err) == QTK_OK) {
        const qtk_meta *m = qtk_gguf_meta(g);
        const qtk_gguf_value *vi = qtk_meta_get(m, "tk.int"), *vf = qtk_meta_get(m, "tk.f"),
                             *vb = qtk_meta_get(m, "tk.b"), *vb2 = qtk_meta_get(m, "tk.b2");
        CHECK(qtk_meta_get_str(m, "general.name") && !strcmp(qtk_meta_get_str(m, "general.name"), "renamed"), "str override");
        CHECK(vi && vi->type == QTK_GGUF_UINT32 && vi->v.u64 == 7, "int override stored as u32 7");
        CHECK(vf && vf->type == QTK_GGUF_FLOAT32 && vf->v.f64 == 0.5, "float override stored as f32 0.5");
        CHECK(vb && vb->type == QTK_GGUF_BOOL && vb->v.u64 == 1 && vb2 && vb2->v.u64 == 0, "bool overrides");
        qtk_gguf_close(g);
    }
    const char *bad_kv[] = {"tk.b=bool:yes", "noequals", "tk.i=int:-1", "tk.i=int:12x", "tk.x=blob:1", "=int:1"};
    for (size_t k = 0; k < sizeof bad_kv / sizeof bad_kv[0]; k++) {
        remove(out);
        snprintf(args, sizeof args, "quantize -q --override-kv %s \"%s\" \"%s\" Q8_0 1", bad_kv[k], model, out);
        CHECK(tl_run_qtk(args, log) == 2 && !tl_file_exists(out), "bad --override-kv %s -> usage error", bad_kv[k]);
    }

    /* nthreads 0 = all CPUs (positional and -t) */
    remove(out);
    snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" Q8_0 0", model, out);
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_exists(out), "nthreads 0");
    snprintf(args, sizeof args, "quantize -q -t 0 \"%s\" \"%s\" Q8_0", model, out);
    CHECK(tl_run_qtk(args, log) == 0, "-t 0");
    snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" Q8_0 two", model, out);
    CHECK(tl_run_qtk(args, log) == 2, "nthreads 'two' is a usage error");

    /* OUT optional: ggml-model-<ftype name>.gguf beside IN, spelled as llama-quantize's table */
    {
        char *d1 = tl_tmp_path("ggml-model-Q8_0.gguf"), *d2 = tl_tmp_path("ggml-model-Q4_K.gguf");
        remove(d1);
        remove(d2);
        snprintf(args, sizeof args, "quantize -q \"%s\" q8_0", model);
        CHECK(tl_run_qtk(args, log) == 0 && tl_file_exists(d1), "IN TYPE writes ggml-model-Q8_0.gguf beside IN");
        snprintf(args, sizeof args, "quantize -q \"%s\" 15 1", model);
        CHECK(tl_run_qtk(args, log) == 0 && tl_file_exists(d2), "IN 15 nthreads writes ggml-model-Q4_K.gguf (the alias)");
        remove(d1);
        remove(d2);
        free(d1);
        free(d2);
    }

    /* usage errors: exit 2, the error (or a one-line hint) is the last line */
    snprintf(args, sizeof args, "quantize \"%s\" \"%s\" NOT_A_PRESET", model, out);
    CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "NOT_A_PRESET") && !strcmp(tl_last_line(log), "see 'qtk help quantize'"),
          "unknown preset: exit 2, hint last (last line '%s')", tl_last_line(log));
    CHECK(!tl_file_contains(log, "--include-weights"), "the help text is not dumped after a usage error");
    snprintf(args, sizeof args, "quantize --print-recipe NOT_A_PRESET");
    CHECK(tl_run_qtk(args, log) == 2, "--print-recipe of an unknown preset: exit 2");

    /* the very-low-bit presets without an imatrix: refused up front (exit 1), in --dry-run
     * too, naming the tensor and type, nothing written (llama-quantize refuses them too) */
    remove(out);
    snprintf(args, sizeof args, "quantize --dry-run \"%s\" \"%s\" IQ2_XXS", model, out);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "iq2_xxs needs an importance matrix") &&
              !tl_file_exists(out),
          "IQ2_XXS without an imatrix refused in a dry run: %s", tl_last_line(log));
    snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" IQ1_S", model, out);
    CHECK(tl_run_qtk(args, log) == 1 && tl_file_contains(log, "iq1_s needs an importance matrix") &&
              !tl_file_exists(out) && tl_temp_files(out) == 0,
          "IQ1_S without an imatrix refused before writing: %s", tl_last_line(log));
    snprintf(args, sizeof args, "quantize --dry-run --custom-q ffn_down=q8_1 \"%s\" \"%s\" Q4_0", model, out);
    CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "preset Q4_0 needs q8_1 (2 tensors)"),
          "a rule choosing an unimplemented type: %s", tl_last_line(log));
    snprintf(args, sizeof args, "help quantize");
    CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "IQ2_XXS") && !tl_file_contains(log, "[not available"),
          "help lists every preset as producible");
    remove(imq);
    remove(imt);
    free(imq);
    free(imt);
}

int main(void) {
    char *model = tl_tmp_path("tq_model.gguf"), *bad = tl_tmp_path("tq_nan.gguf");
    char *o1 = tl_tmp_path("tq_out1.gguf"), *o3 = tl_tmp_path("tq_out3.gguf");
    CHECK(write_model(model, false) == 0 && write_model(bad, true) == 0, "write models");
    qtk_error err;

    /* presets whose types are implemented: output matches the plan and the
     * kernels applied serially to whole tensors, so 3 threads = 1 thread */
    const char *presets[] = {"Q4_0", "IQ4_KSS", "Q8_0", "Q4_K_M", "IQ4_XS", "IQ4_K", "IQ3_K"};
    /* QTK_TEST_QUICK=1 (sanitizer and emulator stages of .ci/run): two presets */
    size_t n_presets = tl_quick() ? 2 : sizeof presets / sizeof presets[0];
    for (size_t k = 0; k < n_presets; k++) {
        remove(o3);
        qtk_status s3 = quantize_lib(model, o3, presets[k], 3, NULL, &err);
        CHECK(s3 == QTK_OK, "%s (3 threads): %s", presets[k], err.msg);
        if (s3 == QTK_OK) check_output(model, o3, presets[k]);
    }

    /* NaN weight: error names tensor and index; nothing written; existing OUT kept */
    tl_write_file(o1, "keep me", 7);
    for (int nt = 1; nt <= 3; nt++) { /* the lowest bad row whichever thread meets a NaN first */
        CHECK(quantize_lib(bad, o1, "Q4_0", nt, NULL, &err) == QTK_ERR_NUMERIC, "NaN rejected (%d threads)", nt);
        CHECK(strstr(err.msg, "blk.1.ffn_up.weight") && strstr(err.msg, "row 3, column 232") && strstr(err.msg, "NaN"),
              "NaN message names tensor and position (%d threads): %s", nt, err.msg);
    }
    CHECK(tl_file_contains(o1, "keep me"), "existing OUT untouched after NaN");
    CHECK(tl_temp_files(o1) == 0, "no temp file after NaN");

    /* library: an imatrix of another model (names match, sizes differ) is refused before writing */
    {
        char *imp = tl_tmp_path("tq_im_other_lib.dat");
        qtk_imatrix *other = NULL;
        write_imatrix(model, imp, "ffn_down");
        CHECK(qtk_imatrix_load(imp, &other, &err) == QTK_OK, "load: %s", err.msg);
        remove(o1);
        CHECK(quantize_lib(model, o1, "Q8_0", 2, other, &err) == QTK_ERR_INVALID_ARG &&
                  strstr(err.msg, "imatrix entry 'blk.0.ffn_down.weight' has 1024 values, tensor has 512 columns"),
              "library refuses a mismatched imatrix entry: %s", err.msg);
        CHECK(!tl_file_exists(o1) && tl_temp_files(o1) == 0, "nothing written");
        qtk_imatrix_free(other);
        remove(imp);
        free(imp);
    }

    /* an imatrix from the legacy and GGUF writers changes the result and is recorded */
    {
        qtk_imatrix_acc *acc = NULL;
        qtk_gguf *g = NULL;
        char *imp = tl_tmp_path("tq_imatrix.dat");
        qtk_imatrix_acc_create(&acc, &err);
        qtk_gguf_open(model, &g, &err);
        tl_rng r;
        tl_rng_seed(&r, 5);
        float act[N_FF * 4];
        for (int64_t i = 0; g && i < qtk_gguf_n_tensors(g); i++) {
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            if (t->n_dims < 2) continue;
            int64_t idx;
            qtk_imatrix_acc_tensor(acc, t->name, t->ne[0], 1, &idx, &err);
            for (int64_t j = 0; j < t->ne[0] * 4; j++) act[j] = tl_rng_normal(&r) * (j % 17 == 0 ? 10.0f : 1.0f);
            qtk_imatrix_acc_add(acc, idx, 0, act, 4, &err);
        }
        qtk_imatrix_acc_set_chunks(acc, 1, 4, &err);
        CHECK(qtk_imatrix_save_dat(imp, acc, &err) == QTK_OK, "save imatrix: %s", err.msg);
        qtk_imatrix *im = NULL;
        CHECK(qtk_imatrix_load(imp, &im, &err) == QTK_OK, "load imatrix: %s", err.msg);
        remove(o1);
        CHECK(quantize_lib(model, o1, "IQ4_KS", 2, im, &err) == QTK_OK, "IQ4_KS with imatrix: %s", err.msg);
        remove(o3);
        CHECK(quantize_lib(model, o3, "IQ4_KS", 2, NULL, &err) == QTK_OK, "IQ4_KS without imatrix: %s", err.msg);
        check_imatrix_data(model, o1, o3, im);
        /* CLI: metadata records the imatrix */
        char *log = tl_tmp_path("tq_log.txt");
        char args[8192];
        if (tl_qtk_available()) {
            remove(o1);
            snprintf(args, sizeof args, "quantize -q --imatrix \"%s\" \"%s\" \"%s\" iq4_ks 2", imp, model, o1);
            CHECK(tl_run_qtk(args, log) == 0, "cli quantize with imatrix");
            qtk_gguf *og = NULL;
            if (qtk_gguf_open(o1, &og, &err) == QTK_OK) {
                int64_t v = -1;
                CHECK(qtk_meta_get_str(qtk_gguf_meta(og), "quantize.imatrix.file") != NULL, "imatrix file recorded");
                /* every 2-D tensor has an entry and is quantized by IQ4_KS: all entries used */
                CHECK(qtk_meta_get_int(qtk_gguf_meta(og), "quantize.imatrix.entries_count", &v) && v == qtk_imatrix_count(im),
                      "imatrix entries recorded");
                qtk_gguf_close(og);
            }
            /* dry run: plan printed, nothing written */
            remove(o3);
            snprintf(args, sizeof args, "quantize --dry-run \"%s\" \"%s\" Q4_K_M", model, o3);
            CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "blk.1.ffn_down.weight") && tl_file_contains(log, "q6_K") &&
                      tl_file_contains(log, "bpw"), "dry run prints the plan");
            CHECK(!tl_file_exists(o3), "dry run writes nothing");
            snprintf(args, sizeof args, "quantize --dry-run --json \"%s\" \"%s\" IQ4_KSS", model, o3);
            CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "\"type\": \"iq4_kss\"") && tl_file_contains(log, "\"reason\""), "--json plan");
            /* custom rules win, fallback applies, case-insensitive names */
            snprintf(args, sizeof args,
                     "quantize --dry-run --custom-q \"ffn_down=q8_0,attn_q=Q5_K\" --tensor-type \"attn_k\\.weight=iq6_k\" "
                     "\"%s\" \"%s\" q4_k_m",
                     model, o3);
            CHECK(tl_run_qtk(args, log) == 0, "custom rules run");
            CHECK(tl_file_contains(log, "blk.0.ffn_down.weight") && tl_file_contains(log, "q8_0") && tl_file_contains(log, "iq6_k"), "custom rules");
            /* errors: unknown type (usage, lists types), bad regex, missing input */
            snprintf(args, sizeof args, "quantize \"%s\" \"%s\" NOT_A_TYPE", model, o3);
            CHECK(tl_run_qtk(args, log) != 0 && tl_file_contains(log, "NOT_A_TYPE") && !tl_file_exists(o3), "unknown preset");
            snprintf(args, sizeof args, "quantize --custom-q \"ffn_(down=q8_0\" \"%s\" \"%s\" Q4_0", model, o3);
            CHECK(tl_run_qtk(args, log) == 2 && !tl_file_exists(o3), "bad --custom-q regex is a usage error");
            snprintf(args, sizeof args, "quantize --attn-v-type q9_9 \"%s\" \"%s\" Q4_0", model, o3);
            CHECK(tl_run_qtk(args, log) == 2 && tl_file_contains(log, "iq4_kss"), "unknown type lists valid types");
            /* recipe files: print a preset, edit, use */
            char *rec = tl_tmp_path("tq_recipe.txt");
            snprintf(args, sizeof args, "quantize --print-recipe IQ4_KSS");
            CHECK(tl_run_qtk(args, rec) == 0 && tl_file_contains(rec, "iq4_kss"), "--print-recipe");
            snprintf(args, sizeof args, "quantize -q --recipe \"%s\" \"%s\" \"%s\" 1", rec, model, o3);
            CHECK(tl_run_qtk(args, log) == 0, "quantize from a printed recipe");
            snprintf(args, sizeof args, "quantize --dry-run --recipe \"%s\" --attn-v-type q8_0 \"%s\" \"%s\"", rec, model,
                     o3);
            CHECK(tl_run_qtk(args, log) == 0 && tl_file_contains(log, "blk.1.attn_v.weight") && tl_file_contains(log, "q8_0"),
                  "per-class options apply to recipe files");
            remove(o1);
            snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" IQ4_KSS 2", model, o1);
            CHECK(tl_run_qtk(args, log) == 0 && tl_files_equal(o1, o3), "a printed recipe reproduces its preset byte for byte");
            free(rec);
            test_cli_imatrix_and_options(model, o3, log);
        } else {
            printf("test_quantize: CLI part skipped (qtk binary not runnable here)\n");
        }
        free(log);
        qtk_imatrix_free(im);
        qtk_imatrix_acc_free(acc);
        qtk_gguf_close(g);
        free(imp);
    }

#ifndef _WIN32
    /* a full disk (file size limit): error, no output, existing OUT kept */
    {
        struct rlimit old, lim;
        getrlimit(RLIMIT_FSIZE, &old);
        lim = old;
        lim.rlim_cur = 64 * 1024;
        signal(SIGXFSZ, SIG_IGN);
        tl_write_file(o1, "keep me", 7);
        setrlimit(RLIMIT_FSIZE, &lim);
        qtk_status s = quantize_lib(model, o1, "Q8_0", 2, NULL, &err);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(s == QTK_ERR_IO, "write past the size limit fails: %d %s", (int)s, err.msg);
        CHECK(tl_file_contains(o1, "keep me"), "existing OUT untouched on a full disk");
        CHECK(tl_temp_files(o1) == 0, "no temp file on a full disk");
    }
#endif
    free(model);
    free(bad);
    free(o1);
    free(o3);
    return tl_finish("test_quantize");
}
