/*
 * model_quantize.c — streams a GGUF model through a quantization plan:
 * tensor by tensor, in chunks of rows; each chunk is decoded to F32, checked,
 * quantized by all threads (small row tasks claimed dynamically, so uneven
 * rows and a delayed thread balance) and written before the next, while the OS
 * reads the next chunk's input ahead (qtk_prefetch_mapped). Output bytes do
 * not depend on the thread count (rows are independent).
 */
#include "core/qtk_internal.h"
#include "gguf/gguf_internal.h"

#include <math.h>
#include <stdlib.h>

#define CHUNK_FLOATS ((int64_t)8 * 1024 * 1024) /* F32 values decoded per chunk */

typedef struct chunk_job {
    const qtk_tensor_info *t;
    int in_type, out_type;
    const uint8_t *src;      /* first source row of the chunk */
    uint8_t *dst;            /* first output row of the chunk */
    float *f32;              /* decode buffer for the chunk */
    size_t in_rs, out_rs;
    int64_t n_per_row, row0; /* row0: tensor row index of the chunk's first row */
    const float *imatrix;
    int effort;              /* QTK_EFFORT_* */
    /* per-thread results */
    qtk_status st[256];
    qtk_error err[256];
    int64_t bad_row[256];
    int64_t err_begin[256];  /* first row of the task that failed */
} chunk_job;

/* Decodes, validates and quantizes rows [begin, end) of the chunk. Called for
 * several row ranges per thread index ti (dynamic split): the first error of a
 * ti is kept (st[ti], preset to QTK_OK by the caller) and that ti stops. */
static void chunk_worker(void *p, int64_t begin, int64_t end, int ti) {
    chunk_job *j = (chunk_job *)p;
    if (j->st[ti] != QTK_OK) return;
    int64_t n = j->n_per_row, nr = end - begin;
    float *x = j->f32 + begin * n;
    qtk_status s = qtk_dequantize_rows(j->in_type, j->src + (size_t)begin * j->in_rs, x, nr, n, &j->err[ti]);
    if (s == QTK_OK) {
        for (int64_t r = 0; r < nr && j->bad_row[ti] < 0; r++)
            for (int64_t c = 0; c < n; c++)
                if (!isfinite(x[r * n + c])) {
                    j->bad_row[ti] = r + begin;
                    s = qtk_set_error(&j->err[ti], QTK_ERR_NUMERIC, "row %lld, column %lld (flat index %lld): %s",
                                      (long long)(j->row0 + begin + r), (long long)c,
                                      (long long)((j->row0 + begin + r) * n + c), isnan(x[r * n + c]) ? "NaN" : "Inf");
                    break;
                }
    }
    if (s == QTK_OK)
        s = qtk_quantize_rows_effort(j->out_type, x, j->dst + (size_t)begin * j->out_rs, nr, n, j->imatrix, j->effort,
                                     &j->err[ti]);
    j->st[ti] = s;
    j->err_begin[ti] = begin;
}

/* Name filter for imatrix entries (--include-weights / --exclude-weights). */
static bool imatrix_allowed(const qtk_quantize_params *p, const char *name) {
    if (p->n_include > 0) {
        for (int i = 0; i < p->n_include; i++)
            if (strstr(name, p->include_weights[i])) return true;
        return false;
    }
    for (int i = 0; i < p->n_exclude; i++)
        if (strstr(name, p->exclude_weights[i])) return false;
    return true;
}

void qtk_quantize_params_init(qtk_quantize_params *p) {
    memset(p, 0, sizeof *p);
    p->nthreads = 1;
}

const float *qtk_quantize_imatrix_for(const qtk_quantize_params *p, const qtk_tensor_info *t, int64_t mat) {
    if (!p->imatrix || !imatrix_allowed(p, t->name)) return NULL;
    return qtk_imatrix_for(p->imatrix, t->name, t->ne[0], t->ne[2] * t->ne[3], mat);
}

int qtk_split_out_path(char *buf, size_t size, const char *out_path, int split_no, int split_count) {
    if (!buf || !out_path) return -1;
    size_t n = strlen(out_path);
    if (n >= 5 && !strcmp(out_path + n - 5, ".gguf")) n -= 5; /* llama-quantize strips the suffix */
    char *prefix = (char *)malloc(n + 1);
    if (!prefix) return -1;
    memcpy(prefix, out_path, n);
    prefix[n] = '\0';
    int r = qtk_split_path(buf, size, prefix, split_no, split_count);
    free(prefix);
    return r;
}

/* The output files: one, or with keep_split one per input part (the same
 * tensors in each), all written to temp files and renamed only at the end. */
typedef struct out_set {
    int n;
    qtk_gguf_writer **w;
    char **path;
} out_set;

static void outs_free(out_set *o) {
    for (int k = 0; k < o->n; k++) {
        if (o->w && o->w[k]) qtk_gguf_writer_abort(o->w[k]);
        if (o->path) free(o->path[k]);
    }
    free(o->w);
    free(o->path);
    memset(o, 0, sizeof *o);
}

static qtk_status outs_open(out_set *o, const qtk_gguf *in, const char *out_path, bool keep_split, qtk_error *err) {
    memset(o, 0, sizeof *o);
    int n = keep_split ? qtk_gguf_n_parts(in) : 1;
    size_t cap = strlen(out_path) + 32;
    o->w = (qtk_gguf_writer **)calloc((size_t)n, sizeof *o->w);
    o->path = (char **)calloc((size_t)n, sizeof *o->path);
    if (!o->w || !o->path) {
        free(o->w);
        free(o->path);
        o->w = NULL;
        o->path = NULL;
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", out_path);
    }
    o->n = n;
    for (int k = 0; k < n; k++) {
        o->path[k] = (char *)malloc(cap);
        if (!o->path[k]) {
            outs_free(o);
            return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", out_path);
        }
        if (keep_split)
            qtk_split_out_path(o->path[k], cap, out_path, k, n);
        else
            snprintf(o->path[k], cap, "%s", out_path);
    }
    for (int k = 0; k < n; k++) {
        qtk_status s = qtk_gguf_writer_open(o->path[k], &o->w[k], err);
        if (s != QTK_OK) {
            outs_free(o);
            return s;
        }
    }
    return QTK_OK;
}

/* Finishes every part in order; when one fails, the parts this run already
 * renamed into place are removed again (no partial split is left). */
static qtk_status outs_finish(out_set *o, qtk_error *err) {
    qtk_status s = QTK_OK;
    int k;
    for (k = 0; k < o->n && s == QTK_OK; k++) {
        qtk_gguf_writer *w = o->w[k];
        o->w[k] = NULL;
        s = qtk_gguf_writer_finish(w, err);
    }
    if (s != QTK_OK)
        for (int j = 0; j < k - 1; j++) qtk_remove_file(o->path[j]);
    outs_free(o);
    return s;
}

static qtk_status set_u16(qtk_meta *m, const char *key, int v, qtk_error *err) {
    qtk_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = QTK_GGUF_UINT16;
    val.v.u64 = (uint64_t)v;
    return qtk_meta_set(m, key, &val, err);
}

/* Whether tensor t (quantized) is the token embedding, which llama-quantize
 * quantizes without importance weights when its entry does not fit. */
static bool is_token_embd(const char *name) {
    return !strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight");
}

int64_t qtk_quantize_imatrix_used(const qtk_gguf *in, const qtk_plan *plan, const qtk_quantize_params *p) {
    int64_t used = 0;
    if (!in || !plan || !p || !p->imatrix) return 0;
    for (int64_t i = 0; i < plan->n && i < qtk_gguf_n_tensors(in); i++)
        if (plan->items[i].quantize && qtk_quantize_imatrix_for(p, qtk_gguf_tensor(in, i), 0)) used++;
    return used;
}

qtk_status qtk_quantize_check(const qtk_gguf *in, const qtk_plan *plan, const qtk_quantize_params *p, qtk_error *err) {
    if (!in || !plan || !p) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "quantize check: NULL argument");
    if (!qtk_effort_name(p->effort))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "unknown effort level %d (fast, default or max)", p->effort);
    const char *in_path = qtk_gguf_path(in);
    int64_t nt = qtk_gguf_n_tensors(in);
    if (plan->n != nt)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: plan does not match the model (%lld items, %lld tensors)",
                             in_path, (long long)plan->n, (long long)nt);
    qtk_status s = qtk_plan_check_types(plan, p->recipe, err);
    if (s != QTK_OK) return s;
    const char *im_name = p->imatrix_path ? p->imatrix_path : "imatrix";
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(in, i);
        const qtk_plan_item *it = &plan->items[i];
        if (it->tensor != i)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "plan item %lld is out of order", (long long)i);
        if (!it->quantize) continue;
        const qtk_type_traits *src = qtk_type_get(t->type), *dst = qtk_type_get(it->type);
        if (!src || !src->to_float || src->interleaved)
            return qtk_set_error(err, QTK_ERR_UNSUPPORTED, "%s: tensor '%s': source type %s cannot be decoded", in_path,
                                 t->name, qtk_type_name(t->type));
        if (!dst || !dst->quantize || dst->interleaved || !dst->file_type)
            return qtk_set_error(err, QTK_ERR_UNSUPPORTED,
                                 "tensor '%s': quantizing to %s is not implemented in this version of qtk", t->name,
                                 qtk_type_name(it->type));
        if (t->ne[0] % dst->block_size != 0)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "tensor '%s': row length %lld is not a multiple of %s's block size %lld", t->name,
                                 (long long)t->ne[0], dst->name, (long long)dst->block_size);
        /* an entry of the wrong size is an imatrix of another model: refuse, as llama-quantize does */
        const qtk_imatrix_entry *e = p->imatrix && imatrix_allowed(p, t->name) ? qtk_imatrix_find(p->imatrix, t->name) : NULL;
        int64_t nmat = t->ne[2] * t->ne[3];
        if (e && !qtk_quantize_imatrix_for(p, t, 0) && !is_token_embd(t->name)) {
            if (nmat > 1)
                return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                     "%s: imatrix entry '%s' has %lld values (%lld x %lld), tensor has %lld columns x "
                                     "%lld matrices: the imatrix was made for another model (--exclude-weights %s "
                                     "quantizes this tensor without it)",
                                     im_name, t->name, (long long)e->nval, (long long)e->n_per_row, (long long)e->n_mat,
                                     (long long)t->ne[0], (long long)nmat, t->name);
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "%s: imatrix entry '%s' has %lld values, tensor has %lld columns: the imatrix was "
                                 "made for another model (--exclude-weights %s quantizes this tensor without it)",
                                 im_name, t->name, (long long)e->nval, (long long)t->ne[0], t->name);
        }
        if (dst->requires_imatrix) {
            for (int64_t m = 0; m < nmat; m++)
                if (!qtk_quantize_imatrix_for(p, t, m))
                    return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                         "tensor '%s': type %s requires an importance matrix entry for it "
                                         "(give --imatrix, or choose another type for this tensor)",
                                         t->name, dst->name);
        }
    }
    return QTK_OK;
}

/* The output header on the writers w[0..n_out): metadata (part 0) and tensor
 * declarations (each tensor in its part when n_out > 1). recipe_text: the
 * quantize.recipe value, NULL = p->recipe's text (no key without a recipe).
 * qtk_quantize_model and qtk_quantize_header_size both build it here. */
static qtk_status declare_outputs(qtk_gguf_writer *const *w, int n_out, const qtk_gguf *in, const qtk_plan *plan,
                                  const qtk_quantize_params *p, const char *recipe_text, qtk_error *err) {
    qtk_status s;
    int64_t nt = qtk_gguf_n_tensors(in);
    qtk_meta *wm = qtk_gguf_writer_meta(w[0]);
    if ((s = qtk_meta_copy(wm, qtk_gguf_meta(in), err)) != QTK_OK) return s;
    if ((s = qtk_meta_set_u32(wm, "general.quantization_version", 2, err)) != QTK_OK) return s;
    if (plan->file_type >= 0 && (s = qtk_meta_set_u32(wm, "general.file_type", (uint32_t)plan->file_type, err)) != QTK_OK)
        return s;
    if (recipe_text) {
        if ((s = qtk_meta_set_str(wm, "quantize.recipe", recipe_text, err)) != QTK_OK) return s;
    } else if (p->recipe) {
        char *text = qtk_recipe_text(p->recipe);
        if (!text) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        s = qtk_meta_set_str(wm, "quantize.recipe", text, err);
        free(text);
        if (s != QTK_OK) return s;
    }
    /* the imatrix keys only when some tensor is quantized with it; entries_count
     * counts the entries used (tensors excluded or copied got none) */
    int64_t im_used = qtk_quantize_imatrix_used(in, plan, p);
    if (im_used > 0) {
        int64_t chunks = qtk_imatrix_chunks(p->imatrix);
        if ((p->imatrix_path && (s = qtk_meta_set_str(wm, "quantize.imatrix.file", p->imatrix_path, err)) != QTK_OK) ||
            (s = qtk_meta_set_i32(wm, "quantize.imatrix.entries_count", (int32_t)im_used, err)) != QTK_OK ||
            (chunks >= 0 && (s = qtk_meta_set_i32(wm, "quantize.imatrix.chunks_count", (int32_t)chunks, err)) != QTK_OK))
            return s;
    }
    if (p->extra_meta)
        for (int64_t k = 0; k < p->extra_meta->n; k++)
            if ((s = qtk_meta_set(wm, p->extra_meta->kv[k].key, &p->extra_meta->kv[k].value, err)) != QTK_OK) return s;
    /* split layout: none in a single output (as llama-quantize), else set per part as gguf-split does */
    qtk_meta_remove(wm, QTK_KV_SPLIT_NO);
    qtk_meta_remove(wm, QTK_KV_SPLIT_COUNT);
    qtk_meta_remove(wm, QTK_KV_SPLIT_TENSORS_COUNT);
    for (int k = 0; n_out > 1 && k < n_out; k++) {
        qtk_meta *pm = qtk_gguf_writer_meta(w[k]);
        if ((s = set_u16(pm, QTK_KV_SPLIT_NO, k, err)) != QTK_OK || (s = set_u16(pm, QTK_KV_SPLIT_COUNT, n_out, err)) != QTK_OK ||
            (s = qtk_meta_set_i32(pm, QTK_KV_SPLIT_TENSORS_COUNT, (int32_t)nt, err)) != QTK_OK)
            return s;
    }
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(in, i);
        int type = plan->items[i].quantize ? plan->items[i].type : (int)t->type;
        qtk_gguf_writer *wi = w[n_out > 1 ? qtk_gguf_tensor_part(in, i) : 0];
        if ((s = qtk_gguf_writer_add_tensor(wi, t->name, (qtk_type)type, t->n_dims, t->ne, err)) != QTK_OK) return s;
    }
    return QTK_OK;
}

qtk_status qtk_quantize_header_size(const qtk_gguf *in, const qtk_plan *plan, const qtk_quantize_params *p,
                                    const char *recipe_text, uint64_t *header_bytes, uint64_t *alignment,
                                    qtk_error *err) {
    if (!in || !plan || !p || !header_bytes)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "quantize header size: NULL argument");
    if (plan->n != qtk_gguf_n_tensors(in))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: plan does not match the model", qtk_gguf_path(in));
    qtk_gguf_writer *w = NULL;
    qtk_status s = qtk_gguf_writer_open_sizer(&w, err);
    if (s != QTK_OK) return s;
    s = declare_outputs(&w, 1, in, plan, p, recipe_text, err);
    if (s == QTK_OK) s = qtk_gguf_writer_header_size(w, header_bytes, alignment, err);
    qtk_gguf_writer_abort(w);
    return s;
}

/* Writes one tensor per plan item; see qtk.h. */
/* Starts the OS reading the input the next chunk will decode while this one is
 * quantized: `bytes` from offset `next` of tensor i, or, past its end, the start
 * of tensor i + 1 (a hint: the mapping pages it in on first touch regardless). */
static void prefetch_next(const qtk_gguf *in, int64_t i, size_t next, size_t bytes) {
    const qtk_tensor_info *t = qtk_gguf_tensor(in, i);
    if (next < (size_t)t->nbytes) {
        const size_t left = (size_t)t->nbytes - next;
        qtk_prefetch_mapped((const uint8_t *)t->data + next, bytes < left ? bytes : left);
    } else if (i + 1 < qtk_gguf_n_tensors(in)) {
        const qtk_tensor_info *u = qtk_gguf_tensor(in, i + 1);
        qtk_prefetch_mapped(u->data, bytes < (size_t)u->nbytes ? bytes : (size_t)u->nbytes);
    }
}

qtk_status qtk_quantize_model(const qtk_gguf *in, const qtk_plan *plan, const char *out_path,
                              const qtk_quantize_params *p, qtk_error *err) {
    const char *in_path = qtk_gguf_path(in);
    int64_t nt = qtk_gguf_n_tensors(in);
    if (!plan || plan->n != nt)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: plan does not match the model (%lld items, %lld tensors)",
                             in_path, (long long)(plan ? plan->n : 0), (long long)nt);
    int nthreads = p->nthreads < 1 ? 1 : (p->nthreads > 256 ? 256 : p->nthreads);

    /* everything that can be checked before writing a byte */
    qtk_status cs = qtk_quantize_check(in, plan, p, err);
    if (cs != QTK_OK) return cs;

    out_set outs;
    qtk_gguf_writer *w = NULL;
    chunk_job *job = NULL;
    float *f32 = NULL;
    uint8_t *obuf = NULL;
    qtk_status s = outs_open(&outs, in, out_path, p->keep_split, err);
    if (s != QTK_OK) return s;
    if ((s = declare_outputs(outs.w, outs.n, in, plan, p, NULL, err)) != QTK_OK) goto fail;

    job = (chunk_job *)calloc(1, sizeof *job);
    if (!job) {
        s = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
        goto fail;
    }
    double t_start = qtk_time_now();
    uint64_t bytes_in = 0, bytes_out = 0;
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(in, i);
        const qtk_plan_item *it = &plan->items[i];
        double t0 = qtk_time_now();
        w = outs.w[outs.n > 1 ? qtk_gguf_tensor_part(in, i) : 0];
        if (!it->quantize) {
            if ((s = qtk_gguf_writer_write(w, t->data, (size_t)t->nbytes, err)) != QTK_OK) goto fail;
            qtk_release_mapped(t->data, (size_t)t->nbytes);
            bytes_out += t->nbytes;
        } else {
            int64_t n = t->ne[0], rows_per_mat = t->ne[1], nmat = t->ne[2] * t->ne[3];
            size_t in_rs = qtk_row_size(t->type, n), out_rs = qtk_row_size(it->type, n);
            int64_t chunk_rows = CHUNK_FLOATS / n;
            if (chunk_rows < 1) chunk_rows = 1;
            if (chunk_rows > rows_per_mat) chunk_rows = rows_per_mat;
            free(f32);
            free(obuf);
            f32 = (float *)malloc((size_t)(chunk_rows * n) * sizeof(float));
            obuf = (uint8_t *)malloc((size_t)chunk_rows * out_rs);
            if (!f32 || !obuf) {
                s = qtk_set_error(err, QTK_ERR_NOMEM, "tensor '%s': out of memory for %lld rows of %lld", t->name,
                                  (long long)chunk_rows, (long long)n);
                goto fail;
            }
            for (int64_t m = 0; m < nmat; m++) {
                const float *im = qtk_quantize_imatrix_for(p, t, m);
                for (int64_t r = 0; r < rows_per_mat; r += chunk_rows) {
                    int64_t nr = rows_per_mat - r < chunk_rows ? rows_per_mat - r : chunk_rows;
                    int64_t row0 = m * rows_per_mat + r;
                    job->t = t;
                    job->in_type = (int)t->type;
                    job->out_type = it->type;
                    job->src = (const uint8_t *)t->data + (size_t)row0 * in_rs;
                    job->dst = obuf;
                    job->f32 = f32;
                    job->in_rs = in_rs;
                    job->out_rs = out_rs;
                    job->n_per_row = n;
                    job->row0 = row0;
                    job->imatrix = im;
                    job->effort = p->effort;
                    /* tasks of ~64 K weights handed out dynamically (rows of uneven cost,
                     * a thread the OS delays), at least 4 per thread */
                    int64_t task_rows = ((int64_t)64 * 1024 + n - 1) / n;
                    const int64_t per4 = (nr + 4 * (int64_t)nthreads - 1) / (4 * (int64_t)nthreads);
                    if (task_rows > per4) task_rows = per4;
                    if (task_rows < 1) task_rows = 1;
                    const int used = nthreads < nr ? nthreads : (int)nr;
                    for (int k = 0; k < used; k++) {
                        job->st[k] = QTK_OK;
                        job->bad_row[k] = -1;
                    }
                    prefetch_next(in, i, (size_t)(row0 + nr) * in_rs, (size_t)nr * in_rs);
                    qtk_parallel_for_dynamic(used, nr, task_rows, chunk_worker, job);
                    /* the failure of the lowest rows, whichever thread met it: tasks are
                     * claimed in row order and a thread skips tasks only after its own
                     * failure, so the first failing task is always run and reported */
                    int bad = -1;
                    for (int k = 0; k < used; k++)
                        if (job->st[k] != QTK_OK && (bad < 0 || job->err_begin[k] < job->err_begin[bad])) bad = k;
                    if (bad >= 0) {
                        /* the file holding the tensor (a split model's part) */
                        s = qtk_set_error(err, job->st[bad], "%s: tensor '%s' (%s -> %s): %s",
                                          qtk_gguf_part_path(in, qtk_gguf_tensor_part(in, i)), t->name,
                                          qtk_type_name(t->type), qtk_type_name(it->type), job->err[bad].msg);
                        goto fail;
                    }
                    if ((s = qtk_gguf_writer_write(w, obuf, (size_t)nr * out_rs, err)) != QTK_OK) goto fail;
                    qtk_release_mapped(job->src, (size_t)nr * in_rs); /* bounded RSS on big models */
                    bytes_out += (uint64_t)nr * out_rs;
                }
            }
        }
        bytes_in += t->nbytes;
        if (p->progress) {
            qtk_quantize_progress pr;
            pr.index = i;
            pr.total = nt;
            pr.tensor = t;
            pr.out_type = it->quantize ? it->type : (int)t->type;
            pr.quantized = it->quantize;
            pr.seconds = qtk_time_now() - t0;
            pr.elapsed = qtk_time_now() - t_start;
            pr.bytes_in = bytes_in;
            pr.bytes_out = bytes_out;
            p->progress(p->progress_ud, &pr);
        }
    }
    free(f32);
    free(obuf);
    free(job);
    return outs_finish(&outs, err);

fail:
    free(f32);
    free(obuf);
    free(job);
    outs_free(&outs);
    return s;
}
