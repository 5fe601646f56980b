/*
 * test_moe_route.c — routing and grouping of the mixture-of-experts FFN
 * (src/model/moe.c), against a brute-force reading of the definition:
 *  - the chosen experts of a token are its n_used largest router logits,
 *    best first, ties to the lower expert;
 *  - their weights are the softmax over all experts renormalised over the
 *    chosen ones (norm_w), or the plain softmax (!norm_w);
 *  - grouping: expert e's rows are exactly the tokens that chose e, in
 *    ascending order; gather copies those rows and scatter-add adds
 *    w(t, e) * y back to the right token.
 * Needs no ../shared data.
 */
#include "testlib.h"
#include "model/moe.h"

#include <math.h>

/* Brute force: the k best experts of one token (ties: lower index). */
static void ref_topk(const float *lg, int ne, int k, int *sel) {
    bool used[64] = {false};
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < ne; e++)
            if (!used[e] && (best < 0 || lg[e] > lg[best])) best = e;
        used[best] = true;
        sel[j] = best;
    }
}

static void run(int64_t n_tok, int ne, int k, bool norm_w, bool ties, uint64_t seed) {
    const int64_t E = 5;  /* row width for gather/scatter */
    qtk_moe_ws ws;
    memset(&ws, 0, sizeof ws);
    qtk_error err;
    CHECK(qtk_moe_ws_reserve(&ws, n_tok, E, 3, ne, k, &err) == QTK_OK, "reserve: %s", err.msg);
    if (!ws.logits) return;
    tl_rng r;
    tl_rng_seed(&r, seed);
    for (int64_t i = 0; i < n_tok * ne; i++)
        ws.logits[i] = ties ? (float)(tl_rng_u64(&r) % 3) : 3.0f * tl_rng_normal(&r);
    qtk_moe_route(&ws, n_tok, norm_w);
    int bad_sel = 0, bad_w = 0;
    double worst = 0.0;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *lg = ws.logits + t * ne;
        int sel[64];
        ref_topk(lg, ne, k, sel);
        double mx = -INFINITY, s_all = 0.0, s_sel = 0.0;
        for (int e = 0; e < ne; e++) mx = fmax(mx, lg[e]);
        for (int e = 0; e < ne; e++) s_all += exp(lg[e] - mx);
        for (int j = 0; j < k; j++) s_sel += exp(lg[sel[j]] - mx);
        double wsum = 0.0;
        for (int j = 0; j < k; j++) {
            if (ws.sel[t * k + j] != sel[j]) bad_sel++;
            const double want = exp(lg[sel[j]] - mx) / (norm_w ? s_sel : s_all);
            const double d = fabs(ws.w[t * k + j] - want) / want;
            if (d > worst) worst = d;
            if (!(d <= 1e-6)) bad_w++;
            wsum += ws.w[t * k + j];
        }
        if (norm_w && fabs(wsum - 1.0) > 1e-6) bad_w++;
    }
    CHECK(bad_sel == 0, "n_tok %lld, %d experts, top %d%s: %d chosen experts differ from brute force",
          (long long)n_tok, ne, k, ties ? " (ties)" : "", bad_sel);
    /* achieved: <= 6e-8 relative (one float rounding); limit 1e-6 */
    CHECK(bad_w == 0, "n_tok %lld, %d experts, top %d, norm %d: %d weights wrong (worst rel %g)", (long long)n_tok,
          ne, k, (int)norm_w, bad_w, worst);

    /* grouping: x[t] = (t, t, ...); gather expert e's rows, scatter-add them back (y = x) */
    float *x = (float *)malloc((size_t)(n_tok * E) * sizeof(float));
    float *out = (float *)calloc((size_t)(n_tok * E), sizeof(float));
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t c = 0; c < E; c++) x[t * E + c] = (float)(t * 10 + c);
    int64_t total = 0;
    int bad_group = 0;
    for (int e = 0; e < ne; e++) {
        const int64_t cnt = qtk_moe_gather(&ws, e, x, E, ws.x);
        CHECK(cnt == qtk_moe_count(&ws, e), "gather count %lld vs %lld", (long long)cnt,
              (long long)qtk_moe_count(&ws, e));
        total += cnt;
        int64_t i = 0;
        for (int64_t t = 0; t < n_tok; t++) {
            bool chose = false;
            for (int j = 0; j < k; j++) chose |= ws.sel[t * k + j] == e;
            if (!chose) continue;
            if (i >= cnt || memcmp(ws.x + i * E, x + t * E, (size_t)E * sizeof(float)) != 0) bad_group++;
            i++;
        }
        if (i != cnt) bad_group++;
        qtk_moe_scatter_add(&ws, e, ws.x, E, out);
    }
    CHECK(total == n_tok * k, "grouped rows %lld, expected %lld", (long long)total, (long long)(n_tok * k));
    CHECK(bad_group == 0, "n_tok %lld, %d experts: %d grouping errors", (long long)n_tok, ne, bad_group);
    /* out[t] = (sum of t's weights) * x[t] */
    int bad_out = 0;
    for (int64_t t = 0; t < n_tok; t++) {
        double wsum = 0.0;
        for (int j = 0; j < k; j++) wsum += ws.w[t * k + j];
        for (int64_t c = 0; c < E; c++)
            if (fabs(out[t * E + c] - wsum * x[t * E + c]) > 1e-5 * (1 + fabs(x[t * E + c]))) bad_out++;
    }
    CHECK(bad_out == 0, "n_tok %lld: %d scatter-add values wrong", (long long)n_tok, bad_out);
    free(x);
    free(out);
    qtk_moe_ws_free(&ws);
}

int main(void) {
    run(1, 4, 2, true, false, 1);      /* one-token decode */
    run(37, 8, 2, true, false, 2);
    run(64, 8, 3, true, false, 3);
    run(50, 4, 2, false, false, 4);    /* plain softmax weights */
    run(40, 6, 6, true, false, 5);     /* every expert chosen */
    run(33, 6, 1, true, false, 6);     /* top 1: weight 1 */
    run(45, 5, 2, true, true, 7);      /* many ties */
    /* the workspace grows and is reused */
    {
        qtk_moe_ws ws;
        memset(&ws, 0, sizeof ws);
        qtk_error err;
        CHECK(qtk_moe_ws_reserve(&ws, 4, 8, 8, 4, 2, &err) == QTK_OK && ws.cap_tok == 4, "reserve 4");
        float *first = ws.logits;
        CHECK(qtk_moe_ws_reserve(&ws, 3, 8, 8, 4, 2, &err) == QTK_OK && ws.logits == first, "smaller: reused");
        CHECK(qtk_moe_ws_reserve(&ws, 9, 8, 8, 4, 2, &err) == QTK_OK && ws.cap_tok == 9, "larger: grown");
        CHECK(qtk_moe_ws_reserve(&ws, 2, 8, 8, 3, 1, &err) == QTK_OK && ws.n_expert == 3 && ws.n_used == 1,
              "reused with fewer experts: %d experts, %d used", ws.n_expert, ws.n_used);
        qtk_moe_ws_free(&ws);
    }
    return tl_finish("test_moe_route");
}
