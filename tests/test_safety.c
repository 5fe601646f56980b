/*
 * test_safety.c — a user's files are never lost (issue 11), checked with real
 * qtk processes where it matters:
 *   - OUT that is an input under another spelling (./x, ../d/x, symlink, hard
 *     link) is refused by quantize, dequantize and perplexity's base file, and
 *     by the library writers while the input is open; the input stays
 *     byte-identical;
 *   - every writer uses a unique OUT.tmp.XXXXXX: two writers of one OUT in one
 *     process, and two qtk processes racing on one OUT, leave one complete
 *     file and no temp file;
 *   - SIGINT / SIGTERM / SIGHUP in the middle of synth, quantize, dequantize
 *     and perplexity --kl-divergence-base leave no temp file, keep an existing
 *     OUT and end the process by that signal (shell status 130 / 143 / 129);
 *     a SIGHUP that was ignored (nohup) stays ignored;
 *   - the reader refuses bytes past the last tensor's alignment padding.
 * The process parts are POSIX-only (fork/exec/kill); the rest runs everywhere.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "testlib.h"
#include "core/qtk_internal.h"

#include <stdint.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

static char g_log[4096];

/* A small GGUF file: one f32 tensor of n values, optional metadata value. */
static int write_small(const char *path, int64_t n, uint32_t tag) {
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) return -1;
    qtk_meta_set_u32(qtk_gguf_writer_meta(w), "test.tag", tag, &err);
    if (n > 0) {
        int64_t ne[1] = {n};
        float *v = (float *)calloc((size_t)n, sizeof(float));
        for (int64_t i = 0; v && i < n; i++) v[i] = (float)i + (float)tag;
        if (!v || qtk_gguf_writer_add_tensor(w, "t", QTK_TYPE_F32, 1, ne, &err) != QTK_OK ||
            qtk_gguf_writer_write(w, v, (size_t)n * sizeof(float), &err) != QTK_OK) {
            free(v);
            qtk_gguf_writer_abort(w);
            return -1;
        }
        free(v);
    }
    return qtk_gguf_writer_finish(w, &err) == QTK_OK ? 0 : -1;
}

static int append_bytes(const char *path, size_t n) {
    FILE *f = fopen(path, "ab");
    if (!f) return -1;
    for (size_t i = 0; i < n; i++) fputc(0, f);
    return fclose(f);
}

/* Opens path; returns the status and leaves the message in *err. */
static qtk_status try_open(const char *path, qtk_error *err) {
    qtk_gguf *g = NULL;
    qtk_status st = qtk_gguf_open(path, &g, err);
    qtk_gguf_close(g);
    return st;
}

/* ---- the reader refuses trailing bytes ------------------------------------------- */

static void test_trailing_bytes(void) {
    qtk_error err;
    char *p = tl_tmp_path("safety_trail.gguf");
    /* 10 f32 = 40 bytes, padded to 64 by the writer: up to the padding is fine */
    CHECK(write_small(p, 10, 1) == 0, "write %s", p);
    size_t n0 = 0;
    unsigned char *orig = tl_read_file(p, &n0);
    CHECK(orig && n0 % 32 == 0, "writer pads the last tensor (size %zu)", n0);
    CHECK(try_open(p, &err) == QTK_OK, "as written: %s", err.msg);
    CHECK(append_bytes(p, 1) == 0, "append");
    CHECK(try_open(p, &err) == QTK_ERR_FORMAT && strstr(err.msg, p) && strstr(err.msg, "1 trailing bytes"),
          "1 byte past the padding refused, naming the file and the count: %s", err.msg);
    /* the last tensor's padding itself may be missing (other writers): accepted */
    CHECK(orig && tl_write_file(p, orig, n0 - 24) == 0, "truncate the padding");
    CHECK(try_open(p, &err) == QTK_OK, "without the final padding: %s", err.msg);
    CHECK(append_bytes(p, 24 + 33) == 0, "append");
    CHECK(try_open(p, &err) == QTK_ERR_FORMAT && strstr(err.msg, "33 trailing bytes"), "33 past the padding: %s",
          err.msg);
    /* no tensors: nothing may follow the header's padding */
    CHECK(write_small(p, 0, 1) == 0, "write %s", p);
    CHECK(try_open(p, &err) == QTK_OK, "header only: %s", err.msg);
    CHECK(append_bytes(p, 32) == 0, "append");
    CHECK(try_open(p, &err) == QTK_ERR_FORMAT && strstr(err.msg, "32 trailing bytes"), "header + 32: %s", err.msg);
    free(orig);
    remove(p);
    free(p);
}

/* ---- unique temp names, in one process --------------------------------------- */

static void test_two_writers(void) {
    qtk_error err;
    char *out = tl_tmp_path("safety_two.gguf");
    remove(out);
    qtk_gguf_writer *a = NULL, *b = NULL;
    int64_t ne[1] = {64};
    float va[64], vb[64];
    for (int i = 0; i < 64; i++) {
        va[i] = 1.0f;
        vb[i] = 2.0f;
    }
    CHECK(qtk_gguf_writer_open(out, &a, &err) == QTK_OK, "open a: %s", err.msg);
    CHECK(qtk_gguf_writer_open(out, &b, &err) == QTK_OK, "open b while a writes: %s", err.msg);
    CHECK(tl_temp_files(out) == 2, "two distinct temp files (%d)", tl_temp_files(out));
    if (!a || !b) {
        qtk_gguf_writer_abort(a);
        qtk_gguf_writer_abort(b);
        free(out);
        return;
    }
    qtk_gguf_writer_add_tensor(a, "a", QTK_TYPE_F32, 1, ne, &err);
    qtk_gguf_writer_add_tensor(b, "b", QTK_TYPE_F32, 1, ne, &err);
    /* interleaved writes: with a shared temp file, b would overwrite a's bytes */
    CHECK(qtk_gguf_writer_write(a, va, 128, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_write(b, vb, 256, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_write(a, va + 32, 128, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_gguf_writer_finish(a, &err) == QTK_OK, "finish a: %s", err.msg);
    CHECK(qtk_gguf_writer_finish(b, &err) == QTK_OK, "finish b: %s", err.msg);
    CHECK(tl_temp_files(out) == 0, "no temp file left (%d)", tl_temp_files(out));
    qtk_gguf *g = NULL;
    CHECK(qtk_gguf_open(out, &g, &err) == QTK_OK, "result opens: %s", err.msg);
    if (g) {
        CHECK(qtk_gguf_find_tensor(g, "b") == 0 && qtk_gguf_n_tensors(g) == 1, "the last finished writer's file");
        const qtk_tensor_info *t = qtk_gguf_tensor(g, 0);
        CHECK(t && memcmp(t->data, vb, sizeof vb) == 0, "b's data intact");
        qtk_gguf_close(g);
    }
#ifndef _WIN32
    /* created like fopen would: 0666 minus the umask (mkstemp's 0600 would hide models from other users) */
    {
        mode_t um = umask(022);
        umask(um);
        struct stat st;
        CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == (0666 & ~um), "mode %o, expected %o",
              (unsigned)(st.st_mode & 0777), (unsigned)(0666 & ~um));
    }
#endif
    remove(out);
    free(out);
}

/* ---- same file under another name --------------------------------------------------- */

/* Library level: while a GGUF is open, no writer may replace it, whatever the spelling. */
static void lib_refuses(const char *src, const char *alias, const char *what) {
    qtk_error err;
    qtk_gguf *g = NULL;
    CHECK(qtk_gguf_open(src, &g, &err) == QTK_OK, "%s", err.msg);
    qtk_gguf_writer *w = NULL;
    qtk_status st = qtk_gguf_writer_open(alias, &w, &err);
    CHECK(st == QTK_ERR_INVALID_ARG && w == NULL, "%s: writer over an open input accepted", what);
    CHECK(strstr(err.msg, alias) && strstr(err.msg, src) && strstr(err.msg, "same file"),
          "%s: message names both: %s", what, err.msg);
    CHECK(tl_temp_files(alias) == 0, "%s: no temp file", what);
    if (w) qtk_gguf_writer_abort(w);
    qtk_gguf_close(g);
    /* closed: writing there is the user's choice again */
    CHECK(qtk_gguf_writer_open(alias, &w, &err) == QTK_OK, "%s after close: %s", what, err.msg);
    qtk_gguf_writer_abort(w);
}

/* CLI level: exit 2, both names in the message, the input byte-identical, no temp file. */
static void cli_refuses(const char *args, const char *src, const char *alias, const char *backup, const char *what) {
    int rc = tl_run_qtk(args, g_log);
    CHECK(rc == 2, "%s: exit %d, expected 2", what, rc);
    CHECK(tl_file_contains(g_log, "same file") && tl_file_contains(g_log, alias) && tl_file_contains(g_log, src),
          "%s: message names both files", what);
    CHECK(tl_files_equal(src, backup), "%s: the input changed", what);
    CHECK(tl_temp_files(alias) == 0 && tl_temp_files(src) == 0, "%s: temp file left", what);
}

static void test_same_file(void) {
    char *dir = tl_tmp_path("safety_alias");
    char src[4200], dot[4200], dotdot[4200], sym[4200], hard[4200], other[4200], backup[4200], missing[4200];
    char args[20000];
    snprintf(src, sizeof src, "%s/same.gguf", dir);
    snprintf(dot, sizeof dot, "%s/./same.gguf", dir);
    snprintf(dotdot, sizeof dotdot, "%s/../safety_alias/same.gguf", dir);
    snprintf(sym, sizeof sym, "%s/link.gguf", dir);
    snprintf(hard, sizeof hard, "%s/hard.gguf", dir);
    snprintf(other, sizeof other, "%s/other.gguf", dir);
    snprintf(backup, sizeof backup, "%s/backup.gguf", dir);
    snprintf(missing, sizeof missing, "%s/missing.gguf", dir);
#ifdef _WIN32
    CreateDirectoryA(dir, NULL);
#else
    mkdir(dir, 0777);
#endif
    qtk_error err;
    CHECK(qtk_synth_write(src, "tiny", 7, 1, NULL, NULL, &err) == QTK_OK, "synth: %s", err.msg);
    CHECK(write_small(other, 64, 3) == 0, "other");
    size_t n = 0;
    unsigned char *bytes = tl_read_file(src, &n);
    CHECK(bytes && tl_write_file(backup, bytes, n) == 0, "backup");
    free(bytes);
    remove(missing);

    const char *aliases[4] = {dot, dotdot, NULL, NULL};
    int n_alias = 2;
#ifndef _WIN32
    remove(sym);
    remove(hard);
    CHECK(symlink("same.gguf", sym) == 0, "symlink");
    CHECK(link(src, hard) == 0, "hard link");
    aliases[n_alias++] = sym;
    aliases[n_alias++] = hard;
#endif
    for (int i = 0; i < n_alias; i++) CHECK(qtk_same_file(src, aliases[i]) == 1, "same file: %s", aliases[i]);
    CHECK(qtk_same_file(src, other) == 0, "different files");
    CHECK(qtk_same_file(src, backup) == 0, "a byte-identical copy is another file");
    CHECK(qtk_same_file(src, missing) == 0 && qtk_same_file(missing, missing) == 0, "missing files");

    for (int i = 0; i < n_alias; i++) lib_refuses(src, aliases[i], aliases[i]);
    /* the KLD base file, written by qtk_perplexity while the model is open */
    {
        qtk_model *m = NULL;
        CHECK(qtk_model_load(src, &m, &err) == QTK_OK, "load: %s", err.msg);
        int32_t tokens[16];
        for (int i = 0; i < 16; i++) tokens[i] = 1 + i;
        qtk_ppl_params pp = {.n_ctx = 8, .n_batch = 0, .n_threads = 1, .n_chunks = -1, .kld_base = dotdot, .kld = false};
        qtk_ppl_stats ps;
        qtk_status st = m ? qtk_perplexity(m, NULL, tokens, 16, &pp, NULL, NULL, &ps, &err) : QTK_ERR_IO;
        CHECK(st == QTK_ERR_INVALID_ARG && strstr(err.msg, "same file") && strstr(err.msg, dotdot),
              "perplexity base file over its own model: %d %s", (int)st, err.msg);
        CHECK(tl_temp_files(src) == 0, "no temp file");
        char kld[4200];
        snprintf(kld, sizeof kld, "%s/base.kld", dir);
        pp.kld_base = kld; /* another file: the same call works */
        st = m ? qtk_perplexity(m, NULL, tokens, 16, &pp, NULL, NULL, &ps, &err) : QTK_ERR_IO;
        CHECK(st == QTK_OK && tl_file_exists(kld) && tl_temp_files(kld) == 0, "perplexity base file elsewhere: %s",
              err.msg);
        remove(kld);
        qtk_model_free(m);
    }
    CHECK(tl_files_equal(src, backup), "input unchanged by the library checks");

    if (!tl_qtk_available()) {
        printf("test_safety: qtk binary not runnable here: CLI same-file checks skipped\n");
    } else {
        for (int i = 0; i < n_alias; i++) {
            snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" Q8_0", src, aliases[i]);
            cli_refuses(args, src, aliases[i], backup, "quantize");
            snprintf(args, sizeof args, "dequantize -q \"%s\" \"%s\"", src, aliases[i]);
            cli_refuses(args, src, aliases[i], backup, "dequantize");
            snprintf(args, sizeof args, "perplexity -m \"%s\" -f \"%s\" --kl-divergence-base \"%s\"", src, other,
                     aliases[i]);
            cli_refuses(args, src, aliases[i], backup, "perplexity base file over the model");
        }
        /* the other inputs: imatrix and text */
        snprintf(args, sizeof args, "quantize -q --imatrix \"%s\" \"%s\" \"%s\" Q8_0", src, other, dot);
        cli_refuses(args, src, dot, backup, "quantize OUT over the imatrix");
        snprintf(args, sizeof args, "perplexity -m \"%s\" -f \"%s\" --kl-divergence-base \"%s\"", other, src, dotdot);
        cli_refuses(args, src, dotdot, backup, "perplexity base file over the text");
        /* a distinct OUT still works */
        snprintf(args, sizeof args, "quantize -q \"%s\" \"%s\" Q8_0", src, missing);
        CHECK(tl_run_qtk(args, g_log) == 0 && try_open(missing, &err) == QTK_OK, "quantize to another file");
        CHECK(tl_files_equal(src, backup), "input unchanged");
    }
    const char *all[] = {src, sym, hard, other, backup, missing};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) remove(all[i]);
#ifdef _WIN32
    RemoveDirectoryA(dir);
#else
    rmdir(dir);
#endif
    free(dir);
}

/* ---- real processes: signals and races (POSIX) ----------------------------------------- */

#ifndef _WIN32
static const char *g_bin;
static char g_emu[1024];

/* Starts qtk with args (NULL-terminated), output to log; sig_ign: a signal
 * left ignored in the child (as nohup does), or 0. */
static pid_t spawn(const char *const *args, const char *log, int sig_ign) {
    const char *argv[40];
    int k = 0;
    char emu[1024];
    snprintf(emu, sizeof emu, "%s", g_emu);
    for (char *t = strtok(emu, " "); t && k < 8; t = strtok(NULL, " ")) argv[k++] = t;
    argv[k++] = g_bin;
    for (int i = 0; args[i] && k < 39; i++) argv[k++] = args[i];
    argv[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* a clean slate: default dispositions, nothing blocked */
        int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
        for (int i = 0; i < 3; i++) signal(sigs[i], sigs[i] == sig_ign ? SIG_IGN : SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Size of the (first) temp file of final_path, or -1 when there is none. */
static long long temp_size(const char *final_path) {
    const char *slash = strrchr(final_path, '/');
    char dir[4200];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - final_path) : 1, slash ? final_path : ".");
    const char *base = slash ? slash + 1 : final_path;
    size_t bl = strlen(base);
    long long size = -1;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && size < 0) {
        if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp.", 5) != 0) continue;
        char p[8400];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0) size = (long long)st.st_size;
    }
    closedir(d);
    return size;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for pid; the raw status, or -1. */
static int wait_for(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return status;
}

/* Runs qtk args, waits until its temp file of out holds at least min_bytes,
 * sends sig and checks: killed by sig, no temp file, the old OUT intact. */
static void kill_mid_write(const char *what, const char *const *args, const char *out, long long min_bytes, int sig) {
    static const char old[] = "previous OUT, must survive";
    CHECK(tl_write_file(out, old, sizeof old) == 0, "seed %s", out);
    pid_t pid = spawn(args, g_log, 0);
    CHECK(pid > 0, "%s: fork", what);
    if (pid <= 0) return;
    long long size = -1;
    int exited = 0, status = 0;
    for (int i = 0; i < 12000; i++) { /* up to 120 s on a loaded machine */
        size = temp_size(out);
        if (size >= min_bytes) break;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        sleep_ms(10);
    }
    CHECK(!exited, "%s: finished before the signal could be sent (status %d)", what, status);
    CHECK(size >= min_bytes, "%s: temp file reached %lld bytes (wanted %lld)", what, size, min_bytes);
    if (!exited) {
        kill(pid, sig);
        status = wait_for(pid);
    }
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig,
          "%s: ended by signal %d (shell status %d), got status 0x%x", what, sig, 128 + sig, status);
    CHECK(tl_temp_files(out) == 0, "%s: signal %d left %d temp file(s)", what, sig, tl_temp_files(out));
    CHECK(tl_file_contains(out, old), "%s: the existing OUT was changed", what);
}

static void test_signals(const char *small) {
    char *out = tl_tmp_path("safety_sig.gguf");
    /* synth --shape 1b writes ~2 GiB: every signal hits it mid-write */
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        const char *args[] = {"synth", "-q", "--shape", "1b", out, NULL};
        kill_mid_write("synth 1b", args, out, 1 << 20, sigs[i]);
    }
    if (small) {
        const char *qa[] = {"quantize", "-q", small, out, "Q4_K_M", "1", NULL};
        kill_mid_write("quantize", qa, out, 1, SIGINT);
        const char *da[] = {"dequantize", "-q", small, out, NULL};
        kill_mid_write("dequantize", da, out, 1 << 20, SIGHUP);
    }
    char *model = tl_shared_path("fixtures/tiny-llama-f16.gguf"), *text = tl_shared_path("fixtures/eval.txt");
    if (model && text) {
        const char *pa[] = {"perplexity", "-m", model, "-f", text, "-c", "256", "-t", "1", "--kl-divergence-base",
                            out, NULL};
        kill_mid_write("perplexity --kl-divergence-base", pa, out, 1, SIGTERM);
        /* measure --probe-text: a signal while the probes run removes the probe base
         * (TABLE.probe-base.tmp.XXXXXX, registered with the cleanup) and any table temp */
        char *imat = tl_shared_path("fixtures/imatrix.dat");
        char *table = tl_tmp_path("safety_sig.measure.tsv");
        if (imat && table) {
            char base[4200];
            snprintf(base, sizeof base, "%s.probe-base", table);
            remove(table);
            const char *ma[] = {"measure", "-m", model, "--imatrix", imat, "-o", table, "--types", "q8_0", "-t", "1",
                                "--probe-text", text, "--probe-ctx", "128", "--probe-chunks", "8", "--probe-layers",
                                "0", NULL};
            kill_mid_write("measure --probe-text", ma, base, 0, SIGINT);
            CHECK(tl_temp_files(table) == 0, "measure --probe-text: SIGINT left %d table temp file(s)",
                  tl_temp_files(table));
            remove(base);
            remove(table);
        }
        free(imat);
        free(table);
    } else {
        printf("test_safety: no tiny-llama fixture: perplexity signal case skipped\n");
    }
    free(model);
    free(text);

    /* nohup: an ignored SIGHUP stays ignored and the run completes */
    if (small) {
        remove(out);
        const char *args[] = {"dequantize", "-q", small, out, NULL};
        pid_t pid = spawn(args, g_log, SIGHUP);
        long long size = -1;
        for (int i = 0; i < 12000 && (size = temp_size(out)) < 1; i++) sleep_ms(10);
        if (pid > 0) kill(pid, SIGHUP);
        int status = pid > 0 ? wait_for(pid) : -1;
        qtk_error err;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ignored SIGHUP: status 0x%x", status);
        CHECK(try_open(out, &err) == QTK_OK, "ignored SIGHUP: complete output: %s", err.msg);
        CHECK(tl_temp_files(out) == 0, "ignored SIGHUP: temp file left");
    }
    remove(out);
    free(out);
}

/* Two qtk processes write the same OUT at once: both succeed, OUT is exactly
 * one of their files, no temp file remains. */
static void test_race(void) {
    char *out = tl_tmp_path("safety_race.gguf"), *r1 = tl_tmp_path("safety_race1.gguf"),
         *r2 = tl_tmp_path("safety_race2.gguf");
    qtk_error err;
    CHECK(qtk_synth_write(r1, "small", 1, 0, NULL, NULL, &err) == QTK_OK, "ref 1: %s", err.msg);
    CHECK(qtk_synth_write(r2, "small", 2, 0, NULL, NULL, &err) == QTK_OK, "ref 2: %s", err.msg);
    remove(out);
    char log2[4200];
    snprintf(log2, sizeof log2, "%s.2", g_log);
    const char *a1[] = {"synth", "-q", "--shape", "small", "--seed", "1", "-t", "1", out, NULL};
    const char *a2[] = {"synth", "-q", "--shape", "small", "--seed", "2", "-t", "1", out, NULL};
    pid_t p1 = spawn(a1, g_log, 0), p2 = spawn(a2, log2, 0);
    int s1 = p1 > 0 ? wait_for(p1) : -1, s2 = p2 > 0 ? wait_for(p2) : -1;
    CHECK(WIFEXITED(s1) && WEXITSTATUS(s1) == 0, "racer 1: status 0x%x", s1);
    CHECK(WIFEXITED(s2) && WEXITSTATUS(s2) == 0, "racer 2: status 0x%x", s2);
    CHECK(tl_files_equal(out, r1) || tl_files_equal(out, r2), "OUT is exactly one racer's file");
    CHECK(try_open(out, &err) == QTK_OK, "OUT opens: %s", err.msg);
    CHECK(tl_temp_files(out) == 0, "racers left %d temp file(s)", tl_temp_files(out));
    remove(out);
    remove(r1);
    remove(r2);
    remove(log2);
    free(out);
    free(r1);
    free(r2);
}
#endif

int main(void) {
    char *log = tl_tmp_path("safety_log.txt");
    snprintf(g_log, sizeof g_log, "%s", log);
    free(log);
    test_trailing_bytes();
    test_two_writers();
    test_same_file();
#ifndef _WIN32
    g_bin = getenv("QTK_BIN");
    const char *emu = getenv("QTK_BIN_EMULATOR");
    snprintf(g_emu, sizeof g_emu, "%s", emu ? emu : "");
    if (!tl_qtk_available()) {
        printf("test_safety: qtk binary not runnable here: signal and race cases skipped\n");
    } else {
        char *small = tl_tmp_path("safety_small.gguf");
        qtk_error err;
        qtk_status st = qtk_synth_write(small, "small", 3, 0, NULL, NULL, &err);
        CHECK(st == QTK_OK, "synth small: %s", err.msg);
        test_signals(st == QTK_OK ? small : NULL);
        test_race();
        remove(small);
        free(small);
    }
#endif
    remove(g_log);
    return tl_finish("test_safety");
}
