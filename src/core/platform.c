/*
 * platform.c — the one place that talks to the operating system: file
 * mapping, file replacement, threads, clocks, aligned memory.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "qtk_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <io.h>
#include <malloc.h>
#else
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#endif

/* ---- file mapping ------------------------------------------------------- */

#ifdef _WIN32
static wchar_t *utf8_to_wide(const char *s) {
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    if (n <= 0) return NULL;
    wchar_t *w = (wchar_t *)malloc((size_t)n * sizeof(wchar_t));
    if (w && MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n) <= 0) {
        free(w);
        return NULL;
    }
    return w;
}

static const char *win_error_text(DWORD code, char *buf, size_t n) {
    if (!FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                        0, buf, (DWORD)n, NULL))
        snprintf(buf, n, "Windows error %lu", (unsigned long)code);
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == '.'))
        buf[--len] = '\0';
    return buf;
}

qtk_status qtk_map_file(const char *path, qtk_mapping *out, qtk_error *err) {
    char eb[256];
    memset(out, 0, sizeof *out);
    wchar_t *wpath = utf8_to_wide(path);
    if (!wpath) return qtk_set_error(err, QTK_ERR_IO, "%s: invalid file name", path);
    HANDLE fh = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                            FILE_ATTRIBUTE_NORMAL, NULL);
    free(wpath);
    if (fh == INVALID_HANDLE_VALUE)
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path,
                             win_error_text(GetLastError(), eb, sizeof eb));
    LARGE_INTEGER sz;
    if (!GetFileSizeEx(fh, &sz)) {
        CloseHandle(fh);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot get size", path);
    }
    if ((unsigned long long)sz.QuadPart > (unsigned long long)SIZE_MAX) {
        CloseHandle(fh);
        return qtk_set_error(err, QTK_ERR_IO, "%s: file too large to map", path);
    }
    if (sz.QuadPart == 0) {
        CloseHandle(fh);
        return QTK_OK;
    }
    HANDLE mh = CreateFileMappingW(fh, NULL, PAGE_READONLY, 0, 0, NULL);
    CloseHandle(fh);
    if (!mh)
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot map: %s", path,
                             win_error_text(GetLastError(), eb, sizeof eb));
    void *p = MapViewOfFile(mh, FILE_MAP_READ, 0, 0, 0);
    if (!p) {
        CloseHandle(mh);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot map: %s", path,
                             win_error_text(GetLastError(), eb, sizeof eb));
    }
    out->data = p;
    out->size = (size_t)sz.QuadPart;
    out->os_handle = mh;
    return QTK_OK;
}

void qtk_unmap_file(qtk_mapping *m) {
    if (m->data) UnmapViewOfFile(m->data);
    if (m->os_handle) CloseHandle((HANDLE)m->os_handle);
    memset(m, 0, sizeof *m);
}

FILE *qtk_fopen(const char *path, const char *mode) {
    wchar_t *wp = utf8_to_wide(path), *wm = utf8_to_wide(mode);
    FILE *f = (wp && wm) ? _wfopen(wp, wm) : NULL;
    free(wp);
    free(wm);
    return f;
}

int qtk_rename_replace(const char *from, const char *to) {
    wchar_t *wf = utf8_to_wide(from), *wt = utf8_to_wide(to);
    BOOL ok = wf && wt && MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
    free(wf);
    free(wt);
    if (!ok) errno = EACCES;
    return ok ? 0 : -1;
}

int qtk_remove_file(const char *path) {
    wchar_t *wp = utf8_to_wide(path);
    int r = (wp && DeleteFileW(wp)) ? 0 : -1;
    free(wp);
    return r;
}

int qtk_fsync_file(FILE *f) {
    if (fflush(f) != 0) return -1;
    return _commit(_fileno(f)) == 0 ? 0 : -1;
}

int qtk_fseek64(FILE *f, int64_t off) { return _fseeki64(f, off, SEEK_SET); }

#else /* POSIX */

qtk_status qtk_map_file(const char *path, qtk_mapping *out, qtk_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qtk_set_error(err, QTK_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) {
        close(fd);
        return qtk_set_error(err, QTK_ERR_IO, "%s: file too large to map", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return QTK_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return QTK_OK;
}

void qtk_unmap_file(qtk_mapping *m) {
    if (m->data) munmap((void *)m->data, m->size);
    memset(m, 0, sizeof *m);
}

FILE *qtk_fopen(const char *path, const char *mode) { return fopen(path, mode); }

int qtk_rename_replace(const char *from, const char *to) { return rename(from, to); }

int qtk_remove_file(const char *path) { return remove(path); }

int qtk_fsync_file(FILE *f) {
    if (fflush(f) != 0) return -1;
    return fsync(fileno(f)) == 0 ? 0 : -1;
}

int qtk_fseek64(FILE *f, int64_t off) { return fseeko(f, (off_t)off, SEEK_SET); }

#endif

/* ---- threads ------------------------------------------------------------ */

typedef struct range_job {
    qtk_range_fn fn;
    void *ctx;
    int64_t begin, end;
    int index;
} range_job;

#ifdef _WIN32
static DWORD WINAPI range_thread_main(LPVOID p) {
    range_job *j = (range_job *)p;
    j->fn(j->ctx, j->begin, j->end, j->index);
    return 0;
}
#else
static void *range_thread_main(void *p) {
    range_job *j = (range_job *)p;
    j->fn(j->ctx, j->begin, j->end, j->index);
    return NULL;
}
#endif

void qtk_parallel_for(int nthreads, int64_t n, qtk_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > n) nthreads = (int)n;
    if (nthreads > 256) nthreads = 256;
    if (nthreads == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    range_job jobs[256];
#ifdef _WIN32
    HANDLE th[256];
#else
    pthread_t th[256];
#endif
    bool started[256];
    for (int i = 0; i < nthreads; i++) {
        jobs[i].fn = fn;
        jobs[i].ctx = ctx;
        jobs[i].begin = n * i / nthreads;
        jobs[i].end = n * (i + 1) / nthreads;
        jobs[i].index = i;
        started[i] = false;
    }
    for (int i = 1; i < nthreads; i++) {
#ifdef _WIN32
        th[i] = CreateThread(NULL, 0, range_thread_main, &jobs[i], 0, NULL);
        started[i] = th[i] != NULL;
#else
        started[i] = pthread_create(&th[i], NULL, range_thread_main, &jobs[i]) == 0;
#endif
    }
    fn(ctx, jobs[0].begin, jobs[0].end, 0);
    for (int i = 1; i < nthreads; i++) {
        if (started[i]) {
#ifdef _WIN32
            WaitForSingleObject(th[i], INFINITE);
            CloseHandle(th[i]);
#else
            pthread_join(th[i], NULL);
#endif
        } else {
            /* could not start a thread: do its share here */
            fn(ctx, jobs[i].begin, jobs[i].end, i);
        }
    }
}

int qtk_cpu_count(void) {
#ifdef _WIN32
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors > 0 ? (int)si.dwNumberOfProcessors : 1;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
#endif
}

double qtk_time_now(void) {
#ifdef _WIN32
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* ---- aligned memory ----------------------------------------------------- */

void *qtk_malloc_aligned(size_t size) {
    if (size == 0) size = 1;
#ifdef _WIN32
    return _aligned_malloc(size, 64);
#else
    void *p = NULL;
    return posix_memalign(&p, 64, size) == 0 ? p : NULL;
#endif
}

void qtk_free_aligned(void *p) {
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}
