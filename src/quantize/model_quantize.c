/*
 * model_quantize.c — streams a GGUF model through a quantization plan:
 * tensor by tensor, rows split across threads, each chunk decoded to F32,
 * checked, quantized and written before the next is read. Output bytes do
 * not depend on the thread count (rows are independent).
 */
#include "core/qtk_internal.h"

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
    /* per-thread results */
    qtk_status st[256];
    qtk_error err[256];
    int64_t bad_row[256];
} chunk_job;

/* Decodes, validates and quantizes rows [begin, end) of the chunk. */
static void chunk_worker(void *p, int64_t begin, int64_t end, int ti) {
    chunk_job *j = (chunk_job *)p;
    int64_t n = j->n_per_row, nr = end - begin;
    float *x = j->f32 + begin * n;
    j->st[ti] = QTK_OK;
    j->bad_row[ti] = -1;
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
        s = qtk_quantize_rows(j->out_type, x, j->dst + (size_t)begin * j->out_rs, nr, n, j->imatrix, &j->err[ti]);
    j->st[ti] = s;
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

/* Writes one tensor per plan item; see qtk.h. */
qtk_status qtk_quantize_model(const qtk_gguf *in, const qtk_plan *plan, const char *out_path,
                              const qtk_quantize_params *p, qtk_error *err) {
    const char *in_path = qtk_gguf_path(in);
    int64_t nt = qtk_gguf_n_tensors(in);
    if (!plan || plan->n != nt)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: plan does not match the model (%lld items, %lld tensors)",
                             in_path, (long long)(plan ? plan->n : 0), (long long)nt);
    int nthreads = p->nthreads < 1 ? 1 : (p->nthreads > 256 ? 256 : p->nthreads);

    /* everything that can be checked before writing a byte */
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
        if (dst->requires_imatrix) {
            int64_t nmat = t->ne[2] * t->ne[3];
            for (int64_t m = 0; m < nmat; m++)
                if (!qtk_quantize_imatrix_for(p, t, m))
                    return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                         "tensor '%s': type %s requires an importance matrix entry for it "
                                         "(give --imatrix, or choose another type for this tensor)",
                                         t->name, dst->name);
        }
    }

    qtk_gguf_writer *w = NULL;
    chunk_job *job = NULL;
    float *f32 = NULL;
    uint8_t *obuf = NULL;
    qtk_status s = qtk_gguf_writer_open(out_path, &w, err);
    if (s != QTK_OK) return s;
    qtk_meta *wm = qtk_gguf_writer_meta(w);
    if ((s = qtk_meta_copy(wm, qtk_gguf_meta(in), err)) != QTK_OK) goto fail;
    if ((s = qtk_meta_set_u32(wm, "general.quantization_version", 2, err)) != QTK_OK) goto fail;
    if (plan->file_type >= 0 && (s = qtk_meta_set_u32(wm, "general.file_type", (uint32_t)plan->file_type, err)) != QTK_OK)
        goto fail;
    if (p->recipe) {
        char *text = qtk_recipe_text(p->recipe);
        if (!text) {
            s = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory");
            goto fail;
        }
        s = qtk_meta_set_str(wm, "quantize.recipe", text, err);
        free(text);
        if (s != QTK_OK) goto fail;
    }
    if (p->imatrix) {
        int64_t chunks = qtk_imatrix_chunks(p->imatrix);
        if ((s = qtk_meta_set_i32(wm, "quantize.imatrix.entries_count", (int32_t)qtk_imatrix_count(p->imatrix), err)) !=
                QTK_OK ||
            (chunks >= 0 && (s = qtk_meta_set_i32(wm, "quantize.imatrix.chunks_count", (int32_t)chunks, err)) != QTK_OK))
            goto fail;
    }
    if (p->extra_meta)
        for (int64_t k = 0; k < p->extra_meta->n; k++)
            if ((s = qtk_meta_set(wm, p->extra_meta->kv[k].key, &p->extra_meta->kv[k].value, err)) != QTK_OK) goto fail;
    for (int64_t i = 0; i < nt; i++) {
        const qtk_tensor_info *t = qtk_gguf_tensor(in, i);
        int type = plan->items[i].quantize ? plan->items[i].type : (int)t->type;
        if ((s = qtk_gguf_writer_add_tensor(w, t->name, (qtk_type)type, t->n_dims, t->ne, err)) != QTK_OK) goto fail;
    }

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
        if (!it->quantize) {
            if ((s = qtk_gguf_writer_write(w, t->data, (size_t)t->nbytes, err)) != QTK_OK) goto fail;
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
                    int used = nthreads < nr ? nthreads : (int)nr;
                    qtk_parallel_for(used, nr, chunk_worker, job);
                    for (int k = 0; k < used; k++)
                        if (job->st[k] != QTK_OK) {
                            s = qtk_set_error(err, job->st[k], "%s: tensor '%s' (%s -> %s): %s", in_path, t->name,
                                              qtk_type_name(t->type), qtk_type_name(it->type), job->err[k].msg);
                            goto fail;
                        }
                    if ((s = qtk_gguf_writer_write(w, obuf, (size_t)nr * out_rs, err)) != QTK_OK) goto fail;
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
    return qtk_gguf_writer_finish(w, err);

fail:
    free(f32);
    free(obuf);
    free(job);
    qtk_gguf_writer_abort(w);
    return s;
}
