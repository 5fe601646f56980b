/*
 * measure_table.c — the measurement table's TSV form (docs/planner.md,
 * "Measurement table"): the only code that writes or parses it, plus the
 * shard merge. Writing is deterministic (fixed field order, reals with
 * %.9g); reading is strict: every malformed line fails with FILE:LINE and
 * the reason.
 */
#include "measure_table.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static const char *const COLUMNS =
    "name\tidx\tclass\tlayer\tne0\tne1\tne2\ttype\tbytes\trows\teps_abs\teps_abs_se\te_out\teps_rel\tpinned\tgroup\t"
    "alpha\talpha_src";
#define N_COLUMNS 18
/* version 2 (tables with KLD probes): two more columns */
static const char *const COLUMNS_V2_EXTRA = "\tdkld\tdkld_se";
#define N_COLUMNS_V2 20

/* The version a table is written in: 2 when it holds probe results. */
static int table_version(const qtk_measure_table *t) {
    if (t->probe) return 2;
    for (int64_t i = 0; i < t->n; i++) {
        if (!strcmp(t->t[i].alpha_src, "interp")) return 2;
        for (int c = 0; c < t->t[i].n_cand; c++)
            if (t->t[i].cand[c].has_dkld) return 2;
    }
    return 1;
}

static bool alpha_src_ok(const char *s) {
    return !strcmp(s, "prior") || !strcmp(s, "probe") || !strcmp(s, "interp") || !strcmp(s, "user");
}

static const char *const CLASSES[] = {"token_embd",     "output",         "attn_q",        "attn_k",
                                      "attn_v",         "attn_qkv",       "attn_output",   "ffn_gate",
                                      "ffn_up",         "ffn_down",       "ffn_gate_exps", "ffn_up_exps",
                                      "ffn_down_exps",  "ffn_gate_shexp", "ffn_up_shexp",  "ffn_down_shexp",
                                      "other"};
#define N_CLASSES ((int)(sizeof CLASSES / sizeof CLASSES[0]))

/* ---- memory ---------------------------------------------------------------- */

qtk_measure_table *qtk_measure_table_new(void) {
    qtk_measure_table *t = (qtk_measure_table *)calloc(1, sizeof *t);
    if (!t) return NULL;
    t->version = QTK_MEASURE_FORMAT_VERSION;
    snprintf(t->metric, sizeof t->metric, "%s", QTK_MEASURE_METRIC);
    t->alignment = QTK_GGUF_DEFAULT_ALIGNMENT;
    t->shard_index = t->shard_count = 1;
    return t;
}

void qtk_measure_tensor_clear(qtk_measure_tensor *t) {
    if (!t) return;
    free(t->name);
    free(t->group);
    free(t->cand);
    memset(t, 0, sizeof *t);
}

void qtk_measure_table_free(qtk_measure_table *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n; i++) qtk_measure_tensor_clear(&t->t[i]);
    free(t->t);
    free(t->types);
    free(t->model_name);
    free(t->sample);
    free(t->probe);
    free(t);
}

int64_t qtk_measure_shard_size(int64_t n_tensors_model, int shard_index, int shard_count) {
    if (shard_count < 1 || shard_index < 1 || shard_index > shard_count || n_tensors_model < shard_index) return 0;
    return (n_tensors_model - shard_index) / shard_count + 1;
}

int64_t qtk_measure_table_n_tensors(const qtk_measure_table *t) { return t ? t->n : 0; }

int64_t qtk_measure_table_n_expected(const qtk_measure_table *t) {
    return t ? qtk_measure_shard_size(t->n_tensors_model, t->shard_index, t->shard_count) : 0;
}

qtk_status qtk_measure_table_check_complete(const qtk_measure_table *t, const char *origin, qtk_error *err) {
    if (!t) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: NULL");
    const char *o = origin ? origin : "measurement table";
    if (t->shard_count != 1)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%s: shard %d/%d of a measurement, not the whole model: join all shards with "
                             "'qtk measure --merge'",
                             o, t->shard_index, t->shard_count);
    if (t->n != t->n_tensors_model)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%s: incomplete measurement: %lld of %lld tensors; run 'qtk measure' with -o %s again "
                             "to finish it",
                             o, (long long)t->n, (long long)t->n_tensors_model, o);
    return QTK_OK;
}

qtk_status qtk_measure_table_check_source(const qtk_measure_table *t, const char *origin, const char *model_hash,
                                          const char *imatrix_hash, qtk_error *err) {
    if (!t || !model_hash) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: NULL argument");
    const char *o = origin ? origin : "measurement table";
    const char *ih = imatrix_hash ? imatrix_hash : "-";
    if (strcmp(t->model_hash, model_hash) != 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%s was measured on another model (model_hash %.12s..., this model %.12s...): "
                             "measure this model with 'qtk measure'",
                             o, t->model_hash, model_hash);
    if (strcmp(t->imatrix_hash, ih) != 0)
        return qtk_set_error(err, QTK_ERR_INVALID_ARG,
                             "%s was measured with %s (imatrix_hash %.12s), this run has %s (%.12s): measure again "
                             "with the imatrix you quantize with",
                             o, strcmp(t->imatrix_hash, "-") ? "another imatrix" : "no imatrix", t->imatrix_hash,
                             strcmp(ih, "-") ? "an imatrix" : "none", ih);
    return QTK_OK;
}

/* ---- writing --------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) QTK_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = true;
            return;
        }
        if (b->p && (size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n <= (size_t)w) cap *= 2;
        char *np = (char *)realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* Whether s can be one TSV field: no TAB, CR or LF, not empty. */
static bool field_ok(const char *s) { return s && *s && !strpbrk(s, "\t\r\n"); }

qtk_status qtk_measure_table_format(const qtk_measure_table *t, char **text, size_t *len, qtk_error *err) {
    *text = NULL;
    if (len) *len = 0;
    if (!t) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: NULL");
    const char *model = t->model_name ? t->model_name : "-";
    if (!field_ok(model))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: model name '%s' has a TAB or line break", model);
    if (!field_ok(t->sample))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: sample description missing or has a TAB");
    if (t->n_types < 1) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: no candidate types");
    if (t->probe && !field_ok(t->probe))
        return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: probe description is empty or has a TAB");
    const int version = table_version(t);
    sbuf b = {NULL, 0, 0, false};
    sb_printf(&b, "#qtk-measure\t%d\n#metric\t%s\n#model\t%s\n#model_hash\t%s\n#imatrix_hash\t%s\n#types\t", version,
              t->metric, model, t->model_hash, t->imatrix_hash);
    for (int k = 0; k < t->n_types; k++) sb_printf(&b, "%s%s", k ? "," : "", qtk_type_name(t->types[k]));
    sb_printf(&b,
              "\n#alignment\t%llu\n#n_elements_all\t%lld\n#fixed_bytes\t%llu\n#header_bytes\t%llu\n#n_tensors\t%lld\n"
              "#shard\t%d/%d\n#sample\t%s\n",
              (unsigned long long)t->alignment, (long long)t->n_elements_all, (unsigned long long)t->fixed_bytes,
              (unsigned long long)t->header_bytes, (long long)t->n_tensors_model, t->shard_index, t->shard_count,
              t->sample);
    if (version >= 2 && t->probe) sb_printf(&b, "#probe\t%s\n", t->probe);
    sb_printf(&b, "%s%s\n", COLUMNS, version >= 2 ? COLUMNS_V2_EXTRA : "");
    for (int64_t i = 0; i < t->n && !b.oom; i++) {
        const qtk_measure_tensor *x = &t->t[i];
        if (!field_ok(x->name) || (x->group && !field_ok(x->group))) {
            free(b.p);
            return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: tensor %lld: name or group '%s' has a TAB, "
                                 "a line break or is empty", (long long)x->idx, x->name ? x->name : "");
        }
        if (!isfinite(x->alpha) || !alpha_src_ok(x->alpha_src)) {
            free(b.p);
            return qtk_set_error(err, QTK_ERR_NUMERIC, "measure table: tensor '%s': alpha is not finite or alpha_src "
                                 "'%s' unknown", x->name, x->alpha_src);
        }
        for (int c = 0; c < x->n_cand; c++) {
            const qtk_measure_cand *q = &x->cand[c];
            if (!isfinite(q->eps_abs) || !isfinite(q->eps_abs_se) || !isfinite(q->e_out) || !isfinite(q->eps_rel) ||
                (q->has_dkld && (!isfinite(q->dkld) || !isfinite(q->dkld_se)))) {
                free(b.p);
                return qtk_set_error(err, QTK_ERR_NUMERIC, "measure table: tensor '%s', type %s: non-finite error term",
                                     x->name, qtk_type_name(q->type));
            }
            sb_printf(&b, "%s\t%lld\t%s\t%lld\t%lld\t%lld\t%lld\t%s\t%llu\t%lld\t%.9g\t%.9g\t%.9g\t%.9g\t%s\t%s\t%.9g\t%s",
                      x->name, (long long)x->idx, x->cls, (long long)x->layer, (long long)x->ne[0], (long long)x->ne[1],
                      (long long)x->ne[2], qtk_type_name(q->type), (unsigned long long)q->bytes, (long long)q->rows,
                      q->eps_abs, q->eps_abs_se, q->e_out, q->eps_rel, x->pinned ? "1" : "-",
                      x->group ? x->group : "-", x->alpha, x->alpha_src);
            if (version < 2) sb_printf(&b, "\n");
            else if (q->has_dkld) sb_printf(&b, "\t%.9g\t%.9g\n", q->dkld, q->dkld_se);
            else sb_printf(&b, "\t-\t-\n");
        }
    }
    if (b.oom) {
        free(b.p);
        return qtk_set_error(err, QTK_ERR_NOMEM, "measure table: out of memory");
    }
    *text = b.p;
    if (len) *len = b.n;
    return QTK_OK;
}

qtk_status qtk_measure_table_save(const qtk_measure_table *t, const char *path, qtk_error *err) {
    if (!path) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: NULL path");
    char *text = NULL;
    size_t len = 0;
    qtk_status s = qtk_measure_table_format(t, &text, &len, err);
    if (s != QTK_OK) return s;
    FILE *f = NULL;
    char *tmp = NULL;
    s = qtk_tmpfile_create(path, &f, &tmp, err);
    if (s != QTK_OK) {
        free(text);
        return s;
    }
    errno = 0;
    bool ok = fwrite(text, 1, len, f) == len && qtk_fsync_file(f) == 0;
    int e = errno;
    free(text);
    if (!ok) {
        qtk_tmpfile_discard(f, tmp);
        free(tmp);
        return qtk_set_error(err, QTK_ERR_IO, "%s: writing failed: %s", path, e ? strerror(e) : "unknown error");
    }
    errno = 0;
    if (fclose(f) != 0) {
        e = errno;
        qtk_tmpfile_discard(NULL, tmp);
        free(tmp);
        return qtk_set_error(err, QTK_ERR_IO, "%s: closing failed: %s", path, e ? strerror(e) : "unknown error");
    }
    errno = 0;
    if (qtk_tmpfile_commit(tmp, path) != 0) {
        e = errno;
        qtk_tmpfile_discard(NULL, tmp);
        free(tmp);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot rename the temp file over it: %s", path,
                             e ? strerror(e) : "unknown error");
    }
    free(tmp);
    return QTK_OK;
}

/* ---- reading --------------------------------------------------------------- */

typedef struct parser {
    const char *origin;
    int64_t line;
    qtk_error *err;
} parser;

static qtk_status perr(const parser *ps, qtk_status code, const char *fmt, ...) QTK_PRINTF(3, 4);
static qtk_status perr(const parser *ps, qtk_status code, const char *fmt, ...) {
    char msg[QTK_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qtk_set_error(ps->err, code, "%s:%lld: %s", ps->origin, (long long)ps->line, msg);
}

static bool parse_i64(const char *s, int64_t *v) {
    if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9'))) return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *v = (int64_t)x;
    return true;
}

static bool parse_u64(const char *s, uint64_t *v) {
    if (!(*s >= '0' && *s <= '9')) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *v = (uint64_t)x;
    return true;
}

static bool parse_real(const char *s, double *v) {
    if (!*s || *s == ' ' || *s == '\t') return false;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || !isfinite(x)) return false;
    *v = x;
    return true;
}

static bool is_hex64(const char *s) {
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

enum {
    H_VERSION, H_METRIC, H_MODEL, H_MODEL_HASH, H_IMATRIX_HASH, H_TYPES, H_ALIGNMENT, H_N_ELEMENTS_ALL,
    H_FIXED_BYTES, H_HEADER_BYTES, H_N_TENSORS, H_SHARD, H_SAMPLE, H_PROBE, H_COUNT
};
#define H_N_REQUIRED H_PROBE /* keys before it are required; #probe is optional (version 2) */
static const char *const HEADER_KEYS[H_COUNT] = {"qtk-measure", "metric",      "model",          "model_hash",
                                                 "imatrix_hash", "types",      "alignment",      "n_elements_all",
                                                 "fixed_bytes", "header_bytes", "n_tensors",     "shard",
                                                 "sample",      "probe"};

static qtk_status parse_header(parser *ps, qtk_measure_table *t, int key, char *val) {
    switch (key) {
    case H_VERSION: {
        int64_t v;
        if (!parse_i64(val, &v) || v < 1) return perr(ps, QTK_ERR_FORMAT, "format version '%s' is not a positive integer", val);
        if (v > QTK_MEASURE_FORMAT_VERSION)
            return perr(ps, QTK_ERR_UNSUPPORTED, "format version %lld; this qtk reads versions 1 to %d", (long long)v,
                        QTK_MEASURE_FORMAT_VERSION);
        t->version = (int)v;
        return QTK_OK;
    }
    case H_METRIC:
        if (strcmp(val, QTK_MEASURE_METRIC) != 0)
            return perr(ps, QTK_ERR_UNSUPPORTED,
                        "error metric '%.40s'; this qtk measures and plans with '%s': measure the model again", val,
                        QTK_MEASURE_METRIC);
        snprintf(t->metric, sizeof t->metric, "%s", val);
        return QTK_OK;
    case H_MODEL:
        if (!*val) return perr(ps, QTK_ERR_FORMAT, "empty model name");
        if (!(t->model_name = qtk_strdup(val))) return perr(ps, QTK_ERR_NOMEM, "out of memory");
        return QTK_OK;
    case H_MODEL_HASH:
        if (!is_hex64(val)) return perr(ps, QTK_ERR_FORMAT, "model_hash is not 64 lowercase hex digits");
        memcpy(t->model_hash, val, 65);
        return QTK_OK;
    case H_IMATRIX_HASH:
        if (strcmp(val, "-") != 0 && !is_hex64(val))
            return perr(ps, QTK_ERR_FORMAT, "imatrix_hash is neither '-' nor 64 lowercase hex digits");
        snprintf(t->imatrix_hash, sizeof t->imatrix_hash, "%s", val);
        return QTK_OK;
    case H_TYPES: {
        int n = 1;
        for (const char *p = val; *p; p++) n += *p == ',';
        t->types = (int *)calloc((size_t)n, sizeof(int));
        if (!t->types) return perr(ps, QTK_ERR_NOMEM, "out of memory");
        char *p = val;
        for (int k = 0; k < n; k++) {
            char *c = strchr(p, ',');
            if (c) *c = '\0';
            int ty = *p ? qtk_type_from_name(p) : -1;
            if (ty < 0) return perr(ps, QTK_ERR_FORMAT, "unknown type name '%.40s' in #types", p);
            for (int j = 0; j < k; j++)
                if (t->types[j] == ty) return perr(ps, QTK_ERR_FORMAT, "type %s listed twice in #types", p);
            t->types[k] = ty;
            t->n_types = k + 1;
            p = c ? c + 1 : p + strlen(p);
        }
        return QTK_OK;
    }
    case H_ALIGNMENT:
        if (!parse_u64(val, &t->alignment) || t->alignment == 0 || (t->alignment & (t->alignment - 1)) != 0 ||
            t->alignment > (1u << 30))
            return perr(ps, QTK_ERR_FORMAT, "alignment '%.40s' is not a power of two", val);
        return QTK_OK;
    case H_N_ELEMENTS_ALL:
        if (!parse_i64(val, &t->n_elements_all) || t->n_elements_all < 1)
            return perr(ps, QTK_ERR_FORMAT, "n_elements_all '%.40s' is not a positive integer", val);
        return QTK_OK;
    case H_FIXED_BYTES:
        if (!parse_u64(val, &t->fixed_bytes)) return perr(ps, QTK_ERR_FORMAT, "fixed_bytes '%.40s' is not an integer", val);
        return QTK_OK;
    case H_HEADER_BYTES:
        if (!parse_u64(val, &t->header_bytes) || t->header_bytes < 24)
            return perr(ps, QTK_ERR_FORMAT, "header_bytes '%.40s' is not an integer >= 24", val);
        return QTK_OK;
    case H_N_TENSORS:
        if (!parse_i64(val, &t->n_tensors_model) || t->n_tensors_model < 0)
            return perr(ps, QTK_ERR_FORMAT, "n_tensors '%.40s' is not an integer >= 0", val);
        return QTK_OK;
    case H_SHARD: {
        char *slash = strchr(val, '/');
        int64_t a, b;
        if (!slash) return perr(ps, QTK_ERR_FORMAT, "shard '%.40s' is not I/N", val);
        *slash = '\0';
        if (!parse_i64(val, &a) || !parse_i64(slash + 1, &b) || b < 1 || b > 1000000 || a < 1 || a > b)
            return perr(ps, QTK_ERR_FORMAT, "shard is not I/N with 1 <= I <= N");
        t->shard_index = (int)a;
        t->shard_count = (int)b;
        return QTK_OK;
    }
    case H_SAMPLE:
        if (!*val) return perr(ps, QTK_ERR_FORMAT, "empty sample description");
        if (!(t->sample = qtk_strdup(val))) return perr(ps, QTK_ERR_NOMEM, "out of memory");
        return QTK_OK;
    case H_PROBE:
        if (t->version < 2) return perr(ps, QTK_ERR_FORMAT, "#probe in a version %d table (probes need version 2)", t->version);
        if (!*val) return perr(ps, QTK_ERR_FORMAT, "empty probe description");
        if (!(t->probe = qtk_strdup(val))) return perr(ps, QTK_ERR_NOMEM, "out of memory");
        return QTK_OK;
    default: return QTK_OK;
    }
}

/* Checks the last tensor once all its lines are read. */
static qtk_status finish_tensor(parser *ps, const qtk_measure_tensor *x) {
    if (x->pinned && x->n_cand != 1)
        return perr(ps, QTK_ERR_FORMAT, "tensor '%s' is pinned but has %d candidate lines (a pinned tensor has one)",
                    x->name, x->n_cand);
    return QTK_OK;
}

static qtk_status parse_row(parser *ps, qtk_measure_table *t, char **f, int64_t *cap) {
    qtk_measure_tensor cur;
    memset(&cur, 0, sizeof cur);
    int64_t idx, layer, ne[3], rows;
    if (!*f[0]) return perr(ps, QTK_ERR_FORMAT, "empty tensor name");
    if (!parse_i64(f[1], &idx) || idx < 0) return perr(ps, QTK_ERR_FORMAT, "idx '%.40s' is not an integer >= 0", f[1]);
    int cls = -1;
    for (int k = 0; k < N_CLASSES; k++)
        if (!strcmp(f[2], CLASSES[k])) cls = k;
    if (cls < 0) return perr(ps, QTK_ERR_FORMAT, "tensor '%s': unknown class '%.40s'", f[0], f[2]);
    if (!parse_i64(f[3], &layer) || layer < -1) return perr(ps, QTK_ERR_FORMAT, "tensor '%s': layer '%.40s' is not an integer >= -1", f[0], f[3]);
    for (int d = 0; d < 3; d++)
        if (!parse_i64(f[4 + d], &ne[d]) || ne[d] < 1)
            return perr(ps, QTK_ERR_FORMAT, "tensor '%s': ne%d '%.40s' is not a positive integer", f[0], d, f[4 + d]);
    int type = qtk_type_from_name(f[7]);
    if (type < 0) return perr(ps, QTK_ERR_FORMAT, "tensor '%s': unknown type name '%.40s'", f[0], f[7]);
    qtk_measure_cand q;
    memset(&q, 0, sizeof q);
    q.type = type;
    if (!parse_u64(f[8], &q.bytes) || q.bytes == 0)
        return perr(ps, QTK_ERR_FORMAT, "tensor '%s', type %s: bytes '%.40s' is not a positive integer", f[0], f[7], f[8]);
    if (ne[1] > INT64_MAX / ne[2] || !parse_i64(f[9], &rows) || rows < 1 || rows > ne[1] * ne[2])
        return perr(ps, QTK_ERR_FORMAT, "tensor '%s', type %s: rows '%.40s' is not in 1..ne1*ne2", f[0], f[7], f[9]);
    q.rows = rows;
    double *reals[4] = {&q.eps_abs, &q.eps_abs_se, &q.e_out, &q.eps_rel};
    static const char *const rnames[4] = {"eps_abs", "eps_abs_se", "e_out", "eps_rel"};
    for (int k = 0; k < 4; k++)
        if (!parse_real(f[10 + k], reals[k]) || *reals[k] < 0)
            return perr(ps, QTK_ERR_FORMAT, "tensor '%s', type %s: %s '%.40s' is not a finite number >= 0", f[0], f[7],
                        rnames[k], f[10 + k]);
    bool pinned;
    if (!strcmp(f[14], "1")) pinned = true;
    else if (!strcmp(f[14], "-")) pinned = false;
    else return perr(ps, QTK_ERR_FORMAT, "tensor '%s': pinned '%.40s' is neither '-' nor '1'", f[0], f[14]);
    if (!*f[15]) return perr(ps, QTK_ERR_FORMAT, "tensor '%s': empty group (use '-')", f[0]);
    double alpha;
    if (!parse_real(f[16], &alpha) || alpha < 0)
        return perr(ps, QTK_ERR_FORMAT, "tensor '%s': alpha '%.40s' is not a finite number >= 0", f[0], f[16]);
    if (!alpha_src_ok(f[17]) || (t->version < 2 && !strcmp(f[17], "interp")))
        return perr(ps, QTK_ERR_FORMAT, "tensor '%s': alpha_src '%.40s' is not prior, probe%s or user", f[0], f[17],
                    t->version < 2 ? "" : ", interp");
    if (t->version >= 2) {
        if (!strcmp(f[18], "-") && !strcmp(f[19], "-")) {
            q.has_dkld = false;
        } else if (parse_real(f[18], &q.dkld) && parse_real(f[19], &q.dkld_se) && q.dkld_se >= 0) {
            q.has_dkld = true;
        } else {
            return perr(ps, QTK_ERR_FORMAT, "tensor '%s', type %s: dkld '%.40s' / dkld_se '%.40s' are not both '-' or "
                        "finite numbers (dkld_se >= 0)", f[0], f[7], f[18], f[19]);
        }
    }

    qtk_measure_tensor *last = t->n > 0 ? &t->t[t->n - 1] : NULL;
    if (last && last->idx == idx) {
        /* another candidate of the same tensor: the tensor's fields must agree */
        if (strcmp(last->name, f[0]) || strcmp(last->cls, f[2]) || last->layer != layer || last->ne[0] != ne[0] ||
            last->ne[1] != ne[1] || last->ne[2] != ne[2] || last->pinned != pinned ||
            strcmp(last->group ? last->group : "-", f[15]) || last->alpha != alpha || strcmp(last->alpha_src, f[17]))
            return perr(ps, QTK_ERR_FORMAT, "tensor idx %lld: this line's tensor fields differ from the line before "
                        "(name, class, layer, shape, pinned, group or alpha)", (long long)idx);
        for (int c = 0; c < last->n_cand; c++)
            if (last->cand[c].type == type)
                return perr(ps, QTK_ERR_FORMAT, "tensor '%s': type %s listed twice", f[0], f[7]);
        const qtk_measure_cand *prev = &last->cand[last->n_cand - 1];
        if (q.bytes < prev->bytes || (q.bytes == prev->bytes && q.type < prev->type))
            return perr(ps, QTK_ERR_FORMAT, "tensor '%s': candidates not in increasing bytes (%s after %s; equal "
                        "bytes in type id order)", f[0], f[7], qtk_type_name(prev->type));
        qtk_measure_cand *nc = (qtk_measure_cand *)realloc(last->cand, (size_t)(last->n_cand + 1) * sizeof *nc);
        if (!nc) return perr(ps, QTK_ERR_NOMEM, "out of memory");
        last->cand = nc;
        nc[last->n_cand++] = q;
        return QTK_OK;
    }
    if (last) {
        qtk_status s = finish_tensor(ps, last);
        if (s != QTK_OK) return s;
        if (idx <= last->idx)
            return perr(ps, QTK_ERR_FORMAT, "tensor '%s': idx %lld after idx %lld (tensors must be in file order, once "
                        "each)", f[0], (long long)idx, (long long)last->idx);
        if (!strcmp(last->name, f[0]))
            return perr(ps, QTK_ERR_FORMAT, "tensor '%s' appears under two idx values", f[0]);
    }
    if (t->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        qtk_measure_tensor *nt = (qtk_measure_tensor *)realloc(t->t, (size_t)nc * sizeof *nt);
        if (!nt) return perr(ps, QTK_ERR_NOMEM, "out of memory");
        t->t = nt;
        *cap = nc;
    }
    cur.name = qtk_strdup(f[0]);
    cur.group = strcmp(f[15], "-") ? qtk_strdup(f[15]) : NULL;
    cur.cand = (qtk_measure_cand *)malloc(sizeof *cur.cand);
    if (!cur.name || !cur.cand || (strcmp(f[15], "-") && !cur.group)) {
        qtk_measure_tensor_clear(&cur);
        return perr(ps, QTK_ERR_NOMEM, "out of memory");
    }
    cur.idx = idx;
    snprintf(cur.cls, sizeof cur.cls, "%s", CLASSES[cls]);
    cur.layer = layer;
    memcpy(cur.ne, ne, sizeof ne);
    cur.pinned = pinned;
    cur.alpha = alpha;
    snprintf(cur.alpha_src, sizeof cur.alpha_src, "%s", f[17]);
    cur.cand[0] = q;
    cur.n_cand = 1;
    t->t[t->n++] = cur;
    return QTK_OK;
}

qtk_status qtk_measure_table_parse(const char *text, size_t len, const char *origin, qtk_measure_table **out,
                                   qtk_error *err) {
    *out = NULL;
    parser ps = {origin ? origin : "measurement table", 0, err};
    if (!text) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s: NULL text", ps.origin);
    qtk_measure_table *t = qtk_measure_table_new();
    char *line = (char *)malloc(len + 1);
    if (!t || !line) {
        free(line);
        qtk_measure_table_free(t);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", ps.origin);
    }
    bool seen[H_COUNT] = {false};
    bool columns = false;
    int64_t cap = 0;
    qtk_status s = QTK_OK;
    size_t pos = 0;
    while (pos < len && s == QTK_OK) {
        ps.line++;
        const char *nl = (const char *)memchr(text + pos, '\n', len - pos);
        if (!nl) {
            s = perr(&ps, QTK_ERR_FORMAT, "last line has no line end (file truncated?)");
            break;
        }
        size_t n = (size_t)(nl - (text + pos));
        memcpy(line, text + pos, n);
        pos += n + 1;
        if (n && line[n - 1] == '\r') n--; /* tolerate CRLF from an editor */
        line[n] = '\0';
        if (memchr(line, '\0', n) || memchr(line, '\r', n)) {
            s = perr(&ps, QTK_ERR_FORMAT, "NUL byte or carriage return inside the line");
            break;
        }
        if (n == 0) {
            s = perr(&ps, QTK_ERR_FORMAT, "empty line");
            break;
        }
        if (ps.line == 1 && strncmp(line, "#qtk-measure\t", 13) != 0) {
            s = perr(&ps, QTK_ERR_FORMAT, "not a qtk measurement table (first line is not '#qtk-measure')");
            break;
        }
        if (line[0] == '#') {
            if (columns) {
                s = perr(&ps, QTK_ERR_FORMAT, "header line after the column line");
                break;
            }
            char *tab = strchr(line, '\t');
            if (!tab) {
                s = perr(&ps, QTK_ERR_FORMAT, "header line without a TAB between key and value");
                break;
            }
            *tab = '\0';
            if (strchr(tab + 1, '\t')) {
                s = perr(&ps, QTK_ERR_FORMAT, "header line '%.40s' has more than one TAB", line);
                break;
            }
            int key = -1;
            for (int k = 0; k < H_COUNT; k++)
                if (!strcmp(line + 1, HEADER_KEYS[k])) key = k;
            if (key < 0) continue; /* unknown keys are ignored (added by later versions) */
            if (key != H_VERSION && !seen[H_VERSION]) {
                s = perr(&ps, QTK_ERR_FORMAT, "header key '%s' before #qtk-measure", line + 1);
                break;
            }
            if (seen[key]) {
                s = perr(&ps, QTK_ERR_FORMAT, "header key '%s' given twice", line + 1);
                break;
            }
            seen[key] = true;
            s = parse_header(&ps, t, key, tab + 1);
            continue;
        }
        if (!columns) {
            size_t lc = strlen(COLUMNS);
            bool v2 = t->version >= 2;
            if (strncmp(line, COLUMNS, lc) != 0 || strcmp(line + lc, v2 ? COLUMNS_V2_EXTRA : "") != 0) {
                s = perr(&ps, QTK_ERR_FORMAT, "expected the column line of version %d '%.60s...'", t->version, COLUMNS);
                break;
            }
            for (int k = 0; k < H_N_REQUIRED && s == QTK_OK; k++)
                if (!seen[k]) s = perr(&ps, QTK_ERR_FORMAT, "header key '#%s' missing", HEADER_KEYS[k]);
            columns = true;
            continue;
        }
        char *f[N_COLUMNS_V2];
        const int want = t->version >= 2 ? N_COLUMNS_V2 : N_COLUMNS;
        int nf = 0;
        char *p = line;
        for (;;) {
            char *tab = strchr(p, '\t');
            if (nf < want) f[nf] = p;
            nf++;
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
        if (nf != want) {
            s = perr(&ps, QTK_ERR_FORMAT, "%d fields, expected %d", nf, want);
            break;
        }
        s = parse_row(&ps, t, f, &cap);
    }
    if (s == QTK_OK && !columns) {
        ps.line++;
        s = perr(&ps, QTK_ERR_FORMAT, len == 0 ? "empty file" : "no column line (header only?)");
    }
    if (s == QTK_OK && t->n > 0) s = finish_tensor(&ps, &t->t[t->n - 1]);
    if (s == QTK_OK && t->n > qtk_measure_table_n_expected(t))
        s = qtk_set_error(err, QTK_ERR_FORMAT, "%s: %lld tensors, more than shard %d/%d of %lld candidate tensors holds",
                          ps.origin, (long long)t->n, t->shard_index, t->shard_count, (long long)t->n_tensors_model);
    free(line);
    if (s != QTK_OK) {
        qtk_measure_table_free(t);
        return s;
    }
    qtk_measure_table_link_interp(t);
    *out = t;
    return QTK_OK;
}

qtk_status qtk_measure_table_load(const char *path, qtk_measure_table **out, qtk_error *err) {
    if (!out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: NULL argument");
    *out = NULL;
    if (!path) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "measure table: NULL path");
    FILE *f = qtk_fopen(path, "rb");
    if (!f) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = (char *)malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = (char *)realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (!buf) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(buf);
        return qtk_set_error(err, QTK_ERR_IO, "%s: read error", path);
    }
    qtk_status s = qtk_measure_table_parse(buf, n, path, out, err);
    free(buf);
    return s;
}

/* ---- derived α per candidate ------------------------------------------------ */

double qtk_measure_cand_probe_alpha(const qtk_measure_tensor *t, const qtk_measure_cand *c) {
    if (!(c->eps_abs > 0)) return t->alpha;
    /* candidates are sorted by bytes, so eps_abs mostly decreases with k; find the
     * significant probes bracketing c->eps_abs in ln eps */
    double le = log(c->eps_abs);
    double lo_x = 0, lo_y = 0, hi_x = 0, hi_y = 0; /* lo: largest x <= le, hi: smallest x >= le */
    bool has_lo = false, has_hi = false;
    int n = 0;
    for (int k = 0; k < t->n_cand; k++) {
        const qtk_measure_cand *p = &t->cand[k];
        if (!p->has_dkld || !(p->dkld > 2.0 * p->dkld_se) || !(p->dkld > 0) || !(p->eps_abs > 0)) continue;
        double x = log(p->eps_abs), y = log(p->dkld / p->eps_abs);
        n++;
        if (x <= le && (!has_lo || x > lo_x)) lo_x = x, lo_y = y, has_lo = true;
        if (x >= le && (!has_hi || x < hi_x)) hi_x = x, hi_y = y, has_hi = true;
    }
    if (n < 2) return t->alpha;
    if (has_lo && has_hi) return exp(hi_x > lo_x ? lo_y + (hi_y - lo_y) * (le - lo_x) / (hi_x - lo_x) : lo_y);
    return exp(has_lo ? lo_y : hi_y);
}

/* ln(α_type / α) of probed tensor p at `type`; false when p has no such
 * candidate or no usable α. */
static bool probe_log_ratio(const qtk_measure_tensor *p, int type, double *out) {
    if (!(p->alpha > 0)) return false;
    for (int k = 0; k < p->n_cand; k++)
        if (p->cand[k].type == type) {
            double a = qtk_measure_cand_probe_alpha(p, &p->cand[k]);
            if (!(a > 0)) return false;
            *out = log(a / p->alpha);
            return true;
        }
    return false;
}

void qtk_measure_interp_neighbors(const qtk_measure_table *tab, int64_t i, const qtk_measure_tensor **lo,
                                  const qtk_measure_tensor **hi, double *w_lo) {
    const qtk_measure_tensor *t = &tab->t[i];
    *lo = *hi = NULL;
    *w_lo = 0;
    /* the class's first and last layers, and whether a probe lies between them */
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (int64_t j = 0; j < tab->n; j++) {
        const qtk_measure_tensor *p = &tab->t[j];
        if (p->pinned || strcmp(p->cls, t->cls) != 0) continue;
        if (p->layer < first) first = p->layer;
        if (p->layer > last) last = p->layer;
    }
    bool interior = false;
    for (int64_t j = 0; j < tab->n && !interior; j++) {
        const qtk_measure_tensor *p = &tab->t[j];
        interior = !p->pinned && !strcmp(p->alpha_src, "probe") && !strcmp(p->cls, t->cls) && p->layer > first &&
                   p->layer < last;
    }
    for (int64_t j = 0; j < tab->n; j++) {
        const qtk_measure_tensor *p = &tab->t[j];
        if (j == i || p->pinned || strcmp(p->alpha_src, "probe") != 0 || strcmp(p->cls, t->cls) != 0) continue;
        if (interior && (p->layer == first || p->layer == last)) continue;
        if (p->layer <= t->layer && (!*lo || p->layer > (*lo)->layer)) *lo = p;
        if (p->layer >= t->layer && (!*hi || p->layer < (*hi)->layer)) *hi = p;
    }
    *w_lo = !*hi ? 1.0 : !*lo ? 0.0
          : (*hi)->layer > (*lo)->layer ? (double)((*hi)->layer - t->layer) / (double)((*hi)->layer - (*lo)->layer) : 0.5;
}

void qtk_measure_table_link_interp(qtk_measure_table *tab) {
    if (!tab) return;
    for (int64_t i = 0; i < tab->n; i++) {
        qtk_measure_tensor *t = &tab->t[i];
        for (int k = 0; k < t->n_cand; k++) t->cand[k].interp_ratio = 0;
        if (strcmp(t->alpha_src, "interp") != 0) continue;
        const qtk_measure_tensor *lo, *hi;
        double w_lo;
        qtk_measure_interp_neighbors(tab, i, &lo, &hi, &w_lo);
        for (int k = 0; k < t->n_cand; k++) {
            double r_lo = 0, r_hi = 0;
            bool ok_lo = lo && w_lo > 0 && probe_log_ratio(lo, t->cand[k].type, &r_lo);
            bool ok_hi = hi && w_lo < 1 && probe_log_ratio(hi, t->cand[k].type, &r_hi);
            if (ok_lo && ok_hi) t->cand[k].interp_ratio = exp(w_lo * r_lo + (1.0 - w_lo) * r_hi);
            else if (ok_lo || ok_hi) t->cand[k].interp_ratio = exp(ok_lo ? r_lo : r_hi);
        }
    }
}

/* ---- comparing and merging ------------------------------------------------- */

qtk_status qtk_measure_table_same_source(const qtk_measure_table *a, const char *oa, const qtk_measure_table *b,
                                         const char *ob, qtk_error *err) {
    const char *what = NULL;
    if (strcmp(a->metric, b->metric)) what = "error metric (#metric)";
    else if (strcmp(a->model_hash, b->model_hash)) what = "model (#model_hash)";
    else if (strcmp(a->imatrix_hash, b->imatrix_hash)) what = "imatrix (#imatrix_hash)";
    else if (a->n_types != b->n_types || memcmp(a->types, b->types, (size_t)a->n_types * sizeof(int)))
        what = "candidate types (#types)";
    else if (strcmp(a->sample ? a->sample : "", b->sample ? b->sample : "")) what = "row sampling (#sample)";
    else if (a->alignment != b->alignment) what = "alignment (#alignment)";
    else if (a->n_elements_all != b->n_elements_all) what = "element count (#n_elements_all)";
    else if (a->fixed_bytes != b->fixed_bytes) what = "fixed bytes (#fixed_bytes)";
    else if (a->header_bytes != b->header_bytes)
        what = "output header size (#header_bytes; e.g. the --imatrix path was spelled differently)";
    else if (a->n_tensors_model != b->n_tensors_model) what = "candidate tensor count (#n_tensors)";
    if (!what) return QTK_OK;
    return qtk_set_error(err, QTK_ERR_INVALID_ARG, "%s and %s differ in %s: they are not measurements of the same "
                         "model and settings", oa, ob, what);
}

static int cmp_idx(const void *x, const void *y) {
    const qtk_measure_tensor *a = *(const qtk_measure_tensor *const *)x, *b = *(const qtk_measure_tensor *const *)y;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static qtk_status copy_tensor(qtk_measure_tensor *dst, const qtk_measure_tensor *src) {
    *dst = *src;
    dst->name = qtk_strdup(src->name);
    dst->group = src->group ? qtk_strdup(src->group) : NULL;
    dst->cand = (qtk_measure_cand *)malloc((size_t)(src->n_cand > 0 ? src->n_cand : 1) * sizeof *dst->cand);
    if (!dst->name || !dst->cand || (src->group && !dst->group)) {
        qtk_measure_tensor_clear(dst);
        return QTK_ERR_NOMEM;
    }
    memcpy(dst->cand, src->cand, (size_t)src->n_cand * sizeof *dst->cand);
    return QTK_OK;
}

qtk_status qtk_measure_table_merge(const qtk_measure_table *const *parts, const char *const *names, int n,
                                   qtk_measure_table **out, qtk_error *err) {
    *out = NULL;
    if (!parts || n < 1) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "merge: no tables");
    char nb[32];
#define NAME(k) (names && names[k] ? names[k] : (snprintf(nb, sizeof nb, "table %d", (k) + 1), nb))
    const qtk_measure_table *a = parts[0];
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        if (!parts[k]) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "merge: NULL table");
        if (k > 0) {
            char na[256];
            snprintf(na, sizeof na, "%s", NAME(0));
            qtk_status s = qtk_measure_table_same_source(a, na, parts[k], NAME(k), err);
            if (s != QTK_OK) return s;
        }
        total += parts[k]->n;
    }
    const qtk_measure_tensor **all = (const qtk_measure_tensor **)malloc((size_t)(total > 0 ? total : 1) * sizeof *all);
    int *from = (int *)malloc((size_t)(total > 0 ? total : 1) * sizeof *from);
    if (!all || !from) {
        free(all);
        free(from);
        return qtk_set_error(err, QTK_ERR_NOMEM, "merge: out of memory");
    }
    int64_t m = 0;
    for (int k = 0; k < n; k++)
        for (int64_t i = 0; i < parts[k]->n; i++) all[m++] = &parts[k]->t[i];
    qsort((void *)all, (size_t)m, sizeof *all, cmp_idx);
    /* the table each entry came from, for messages */
    for (int64_t i = 0; i < m; i++) {
        from[i] = 0;
        for (int k = 0; k < n; k++)
            if (all[i] >= parts[k]->t && all[i] < parts[k]->t + parts[k]->n) from[i] = k;
    }
    qtk_status st = QTK_OK;
    for (int64_t i = 1; i < m && st == QTK_OK; i++)
        if (all[i]->idx == all[i - 1]->idx) {
            /* qsort is not stable: name the tables in argument order, whatever the libc */
            int k0 = from[i - 1] < from[i] ? from[i - 1] : from[i], k1 = from[i - 1] < from[i] ? from[i] : from[i - 1];
            char na[256];
            snprintf(na, sizeof na, "%s", NAME(k0));
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "merge: tensor '%s' (idx %lld) is in both %s and %s", all[i]->name,
                               (long long)all[i]->idx, na, NAME(k1));
        }
    if (st == QTK_OK && m != a->n_tensors_model) {
        /* name the shards that are incomplete, then the ones absent */
        char list[QTK_ERROR_MSG_MAX];
        size_t u = 0;
        list[0] = '\0';
        for (int k = 0; k < n && u < sizeof list - 1; k++) {
            int64_t want = qtk_measure_table_n_expected(parts[k]);
            if (parts[k]->n < want) {
                int w = snprintf(list + u, sizeof list - u, "%s%s (shard %d/%d) holds %lld of its %lld tensors", u ? "; " : "",
                                 NAME(k), parts[k]->shard_index, parts[k]->shard_count, (long long)parts[k]->n,
                                 (long long)want);
                if (w > 0) u += (size_t)w < sizeof list - u ? (size_t)w : sizeof list - u - 1;
            }
        }
        int sc = parts[0]->shard_count;
        for (int i = 1; i <= sc && u < sizeof list - 1 && sc > 1; i++) {
            bool have = false;
            for (int k = 0; k < n; k++) have |= parts[k]->shard_count == sc && parts[k]->shard_index == i;
            if (!have) {
                int w = snprintf(list + u, sizeof list - u, "%sshard %d/%d not given", u ? "; " : "", i, sc);
                if (w > 0) u += (size_t)w < sizeof list - u ? (size_t)w : sizeof list - u - 1;
            }
        }
        st = qtk_set_error(err, QTK_ERR_INVALID_ARG, "merge: the tables hold %lld of the model's %lld candidate tensors "
                           "(%s)", (long long)m, (long long)a->n_tensors_model, u ? list : "tensors missing");
    }
    qtk_measure_table *t = NULL;
    if (st == QTK_OK) {
        t = qtk_measure_table_new();
        if (t) {
            t->version = a->version;
            memcpy(t->metric, a->metric, sizeof t->metric);
            memcpy(t->model_hash, a->model_hash, sizeof t->model_hash);
            memcpy(t->imatrix_hash, a->imatrix_hash, sizeof t->imatrix_hash);
            t->model_name = qtk_strdup(a->model_name ? a->model_name : "-");
            t->sample = qtk_strdup(a->sample ? a->sample : "-");
            for (int k = 0; k < n && !t->probe; k++)
                if (parts[k]->probe) t->probe = qtk_strdup(parts[k]->probe);
            t->types = (int *)malloc((size_t)a->n_types * sizeof(int));
            t->n_types = a->n_types;
            t->alignment = a->alignment;
            t->n_elements_all = a->n_elements_all;
            t->fixed_bytes = a->fixed_bytes;
            t->header_bytes = a->header_bytes;
            t->n_tensors_model = a->n_tensors_model;
            t->t = (qtk_measure_tensor *)calloc((size_t)(m > 0 ? m : 1), sizeof *t->t);
            if (!t->model_name || !t->sample || !t->types || !t->t) st = QTK_ERR_NOMEM;
            else memcpy(t->types, a->types, (size_t)a->n_types * sizeof(int));
            for (int64_t i = 0; i < m && st == QTK_OK; i++) {
                st = copy_tensor(&t->t[i], all[i]);
                if (st == QTK_OK) t->n++;
            }
        } else {
            st = QTK_ERR_NOMEM;
        }
        if (st != QTK_OK) st = qtk_set_error(err, QTK_ERR_NOMEM, "merge: out of memory");
    }
#undef NAME
    free(all);
    free(from);
    if (st != QTK_OK) {
        qtk_measure_table_free(t);
        return st;
    }
    qtk_measure_table_link_interp(t);
    *out = t;
    return QTK_OK;
}
