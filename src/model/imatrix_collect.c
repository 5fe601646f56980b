/*
 * imatrix_collect.c — importance-matrix collection with llama-imatrix's
 * method (ik_llama.cpp / llama.cpp examples/imatrix):
 *   - the text is tokenized once (BOS first) and cut into floor(n / n_ctx)
 *     chunks of n_ctx tokens (after skipping first_chunk chunks);
 *   - every chunk is evaluated from an empty cache with its first token
 *     replaced by BOS, in forward calls of n_batch tokens (llama.cpp's
 *     ubatch: min(n_ctx, 512));
 *   - an observer on the context's matrix products adds, for every weight
 *     named blk.* (output.weight too with process_output), the squared
 *     input activations per column and the number of rows to the
 *     accumulator. Dense products of fewer than 16 tokens are ignored, as
 *     the reference does; MoE expert views (weight.expert >= 0) always
 *     count, into matrix `expert` of an n_expert-matrix entry;
 *   - with compute_ppl, positions n_ctx/2 .. n_ctx-2 of each chunk are
 *     scored as llama-perplexity does, giving the running "[i]ppl" values.
 * Library code: nothing is printed; progress goes through the callback.
 */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>

/* Collection state the observer writes into. Errors are kept here (the
 * observer cannot return one) and checked after every forward call. */
typedef struct observer {
    qtk_imatrix_acc *acc;
    bool process_output;
    qtk_status st;
    qtk_error err;
} observer;

static void observe(void *ud, const qtk_weight *w, const float *x, int64_t n_tok) {
    observer *o = (observer *)ud;
    if (o->st != QTK_OK || !w->name || n_tok <= 0) return;
    const bool expert = w->expert >= 0 && w->n_expert > 0;
    if (!expert) {
        /* the reference's filter: "why are small batches ignored (<16 tokens)?" */
        if (n_tok < 16) return;
        if (strncmp(w->name, "blk.", 4) != 0 && !(o->process_output && strcmp(w->name, "output.weight") == 0))
            return;
    }
    int64_t idx;
    o->st = qtk_imatrix_acc_tensor(o->acc, w->name, w->n_in, expert ? w->n_expert : 1, &idx, &o->err);
    if (o->st == QTK_OK) o->st = qtk_imatrix_acc_add(o->acc, idx, expert ? w->expert : 0, x, n_tok, &o->err);
}

void qtk_imatrix_params_default(qtk_imatrix_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->n_ctx = 512;
    p->n_chunks = -1;
    p->compute_ppl = true;
}

/* BOS that replaces each chunk's first token, or -1 (as perplexity.c). */
static int32_t chunk_bos(const qtk_model *m, const qtk_vocab *v) {
    if (v) return qtk_vocab_adds_bos(v) ? qtk_vocab_bos(v) : -1;
    const qtk_meta *meta = qtk_gguf_meta(m->gguf);
    const char *tm = qtk_meta_get_str(meta, "tokenizer.ggml.model");
    int64_t x = -1, add = tm && strcmp(tm, "llama") == 0;
    qtk_meta_get_int(meta, "tokenizer.ggml.add_bos_token", &add);
    return add && qtk_meta_get_int(meta, "tokenizer.ggml.bos_token_id", &x) ? (int32_t)x : -1;
}

/* -log softmax(l)[tok] as llama-imatrix's log_softmax computes it (float
 * max, double sum of expf); false when a logit is not finite. */
static bool token_nll(const float *l, int64_t n, int32_t tok, double *nll) {
    float mx = l[0];
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(l[i])) return false;
        if (l[i] > mx) mx = l[i];
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += expf(l[i] - mx);
    *nll = -((double)(l[tok] - mx) - log(s));
    return true;
}

qtk_status qtk_imatrix_collect(const qtk_model *m, const qtk_vocab *v, const int32_t *tokens, int64_t n_tokens,
                               const qtk_imatrix_params *p, qtk_imatrix_acc *acc, qtk_imatrix_progress_fn progress,
                               void *user, qtk_imatrix_progress *result, qtk_error *err) {
    if (!m || !p || !acc || (!tokens && n_tokens > 0) || n_tokens < 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_imatrix_collect: bad argument");
    if (result) memset(result, 0, sizeof *result);
    const int64_t n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
    if (n_ctx < 4) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "n_ctx %lld is too small (>= 4)", (long long)n_ctx);
    if (p->first_chunk < 0 || p->first_chunk > INT64_MAX / n_ctx - 2)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "first chunk %lld out of range", (long long)p->first_chunk);
    if (p->first_chunk > 0) {
        if ((p->first_chunk + 2) * n_ctx >= n_tokens)
            return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                                 "there will be not enough tokens left after removing %lld chunks (the text has %lld "
                                 "tokens, chunks of %lld)",
                                 (long long)p->first_chunk, (long long)n_tokens, (long long)n_ctx);
        tokens += p->first_chunk * n_ctx;
        n_tokens -= p->first_chunk * n_ctx;
    }
    if (n_tokens < 2 * n_ctx)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "you need at least %lld tokens for a context of %lld tokens; the text tokenizes to only "
                             "%lld tokens",
                             (long long)(2 * n_ctx), (long long)n_ctx, (long long)n_tokens);
    int64_t n_chunk = n_tokens / n_ctx;
    if (p->n_chunks >= 0 && p->n_chunks < n_chunk) n_chunk = p->n_chunks;
    if (n_chunk < 1) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "no chunk to evaluate");
    const int64_t base_chunks = qtk_imatrix_acc_chunks(acc);
    if (n_chunk > INT32_MAX - base_chunks || n_ctx > INT32_MAX)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "chunk count %lld + %lld or size %lld out of range",
                             (long long)base_chunks, (long long)n_chunk, (long long)n_ctx);
    const int64_t n_batch = p->n_batch > 0 ? QTK_MIN(p->n_batch, n_ctx) : QTK_MIN(n_ctx, 512);
    const int64_t n_vocab = m->info.n_vocab, first = n_ctx / 2;
    const int32_t bos = chunk_bos(m, v);
    const bool want_logits = p->compute_ppl || p->process_output;

    qtk_context *ctx = NULL;
    qtk_status st = qtk_context_create(m, n_ctx, p->n_threads, &ctx, err);
    if (st == QTK_OK)
        st = qtk_context_set_threads(ctx, p->n_threads, p->n_threads_batch > 0 ? p->n_threads_batch : p->n_threads, err);
    int32_t *buf = (int32_t *)malloc((size_t)n_batch * sizeof *buf);
    float *logits = want_logits ? (float *)malloc((size_t)n_batch * (size_t)n_vocab * sizeof *logits) : NULL;
    if (st == QTK_OK && (!buf || (want_logits && !logits)))
        st = qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (logits of %lld tokens x %lld)", (long long)n_batch,
                           (long long)n_vocab);
    observer ob;
    memset(&ob, 0, sizeof ob);
    ob.acc = acc;
    ob.process_output = p->process_output;
    if (st == QTK_OK) qtk_context_set_observer(ctx, observe, &ob);

    qtk_imatrix_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.n_chunks = n_chunk;
    pr.has_ppl = p->compute_ppl;
    double nll = 0.0, nll2 = 0.0;
    const double t_start = qtk_time_now();
    for (int64_t c = 0; c < n_chunk && st == QTK_OK; c++) {
        const int32_t *chunk = tokens + c * n_ctx;
        const double t0 = qtk_time_now();
        qtk_context_reset(ctx);
        for (int64_t b0 = 0; b0 < n_ctx && st == QTK_OK; b0 += n_batch) {
            const int64_t n = QTK_MIN(n_batch, n_ctx - b0);
            memcpy(buf, chunk + b0, (size_t)n * sizeof *buf);
            if (b0 == 0 && bos >= 0) buf[0] = bos;
            /* logits of every row when output.weight is collected (the reference computes them all),
             * else only of the scored rows */
            int64_t fl = n;
            if (p->process_output) fl = 0;
            else if (p->compute_ppl) fl = QTK_MIN(QTK_MAX(0, first - b0), n);
            st = qtk_decode(ctx, buf, n, fl, fl < n ? logits : NULL, err);
            if (st == QTK_OK && ob.st != QTK_OK)
                st = qtk_set_error(err, ob.st, "chunk %lld: %s", (long long)(c + 1), ob.err.msg);
            if (st != QTK_OK || !p->compute_ppl) continue;
            for (int64_t t = QTK_MAX(fl, first - b0); t < n && b0 + t <= n_ctx - 2; t++) {
                double x;
                if (!token_nll(logits + (t - fl) * n_vocab, n_vocab, chunk[b0 + t + 1], &x)) {
                    st = qtk_set_error(err, QTK_ERR_NUMERIC,
                                       "%s: non-finite logits (NaN or Inf) at chunk %lld, token position %lld of %lld: "
                                       "the model's weights or activations are not finite",
                                       qtk_gguf_path(m->gguf), (long long)(c + 1), (long long)(b0 + t), (long long)n_ctx);
                    break;
                }
                nll += x;
                nll2 += x * x;
                pr.n_scored++;
            }
        }
        if (st != QTK_OK) break;
        const double now = qtk_time_now();
        if (c == 0) pr.seconds_first_chunk = now - t0;
        pr.chunk = c + 1;
        pr.n_tokens += n_ctx;
        pr.seconds = now - t_start;
        if (pr.n_scored > 0) {
            const double mean = nll / (double)pr.n_scored, var = nll2 / (double)pr.n_scored - mean * mean;
            pr.ppl = exp(mean);
            pr.ppl_unc = var > 0 && pr.n_scored > 1 ? sqrt(var / (double)(pr.n_scored - 1)) * pr.ppl : 0.0;
        }
        st = qtk_imatrix_acc_set_chunks(acc, base_chunks + c + 1, n_ctx, err);
        if (st == QTK_OK && progress) st = progress(user, &pr, err);
    }
    if (ctx) qtk_context_set_observer(ctx, NULL, NULL);
    qtk_context_free(ctx);
    free(buf);
    free(logits);
    if (st == QTK_OK && result) *result = pr;
    return st;
}
