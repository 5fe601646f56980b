/*
 * platform.c — the one place that talks to the operating system: file
 * mapping, file replacement, CPU count, clocks, aligned memory (threads and
 * atomics: threadpool.c).
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#if !defined(_WIN32) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* glibc: madvise (MADV_DONTNEED) next to the POSIX API */
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE
#endif
#include "qtk_internal.h"
#include "threadpool.h" /* qtk_call_once */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#ifndef PSAPI_VERSION
#define PSAPI_VERSION 2 /* GetProcessMemoryInfo = K32GetProcessMemoryInfo in kernel32: no psapi.lib */
#endif
#include <psapi.h>
#include <io.h>
#include <malloc.h>
#else
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#endif

/* Identity of a file (device + inode; Windows: volume serial + file index),
 * and the registry of files mapped as inputs (see "file safety" below). */
typedef struct qtk_file_id {
    unsigned long long vol, hi, lo;
} qtk_file_id;
static void input_register(const void *data, const qtk_file_id *id, const char *path);
static void input_unregister(const void *data);

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
    BY_HANDLE_FILE_INFORMATION bi;
    bool have_id = GetFileInformationByHandle(fh, &bi) != 0;
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
    if (have_id) {
        qtk_file_id id = {bi.dwVolumeSerialNumber, bi.nFileIndexHigh, bi.nFileIndexLow};
        input_register(p, &id, path);
    }
    return QTK_OK;
}

/* Windows gives large pages only to accounts holding SeLockMemoryPrivilege:
 * the copy has 4 KiB pages (what llama.cpp's --no-mmap does there). */
qtk_status qtk_read_file(const char *path, qtk_mapping *out, qtk_error *err) {
    char eb[256];
    memset(out, 0, sizeof *out);
    wchar_t *wpath = utf8_to_wide(path);
    if (!wpath) return qtk_set_error(err, QTK_ERR_IO, "%s: invalid file name", path);
    HANDLE fh = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                            FILE_ATTRIBUTE_NORMAL | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    free(wpath);
    if (fh == INVALID_HANDLE_VALUE)
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path,
                             win_error_text(GetLastError(), eb, sizeof eb));
    LARGE_INTEGER sz;
    BY_HANDLE_FILE_INFORMATION bi;
    if (!GetFileSizeEx(fh, &sz)) {
        CloseHandle(fh);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot get size", path);
    }
    if ((unsigned long long)sz.QuadPart > (unsigned long long)SIZE_MAX / 2) {
        CloseHandle(fh);
        return qtk_set_error(err, QTK_ERR_IO, "%s: file too large to read into memory", path);
    }
    if (sz.QuadPart == 0) {
        CloseHandle(fh);
        return QTK_OK;
    }
    const bool have_id = GetFileInformationByHandle(fh, &bi) != 0;
    const size_t size = (size_t)sz.QuadPart;
    uint8_t *p = (uint8_t *)VirtualAlloc(NULL, size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    if (!p) {
        DWORD e = GetLastError();
        CloseHandle(fh);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: cannot allocate %zu MiB to read it into memory: %s", path,
                             size >> 20, win_error_text(e, eb, sizeof eb));
    }
    size_t done = 0;
    while (done < size) {
        DWORD want = (DWORD)(size - done < ((size_t)1 << 30) ? size - done : ((size_t)1 << 30)), got = 0;
        if (!ReadFile(fh, p + done, want, &got, NULL) || got == 0) {
            DWORD e = GetLastError();
            CloseHandle(fh);
            VirtualFree(p, 0, MEM_RELEASE);
            if (got == 0 && e == ERROR_SUCCESS)
                return qtk_set_error(err, QTK_ERR_IO, "%s: the file ended after %zu of %zu bytes while being read",
                                     path, done, size);
            return qtk_set_error(err, QTK_ERR_IO, "%s: read error at byte %zu: %s", path, done,
                                 win_error_text(e, eb, sizeof eb));
        }
        done += got;
    }
    CloseHandle(fh);
    DWORD old_protect;
    (void)VirtualProtect(p, size, PAGE_READONLY, &old_protect); /* weights are read-only */
    out->data = p;
    out->size = size;
    out->alloc = p;
    out->alloc_size = size;
    if (have_id) {
        qtk_file_id id = {bi.dwVolumeSerialNumber, bi.nFileIndexHigh, bi.nFileIndexLow};
        input_register(p, &id, path);
    }
    return QTK_OK;
}

bool qtk_read_file_pays(uint64_t size) {
    (void)size;
    return false;
}

void qtk_unmap_file(qtk_mapping *m) {
    if (m->data) input_unregister(m->data);
    if (m->alloc) VirtualFree(m->alloc, 0, MEM_RELEASE);
    else if (m->data) UnmapViewOfFile(m->data);
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

int qtk_mkdir(const char *path) {
    wchar_t *wp = utf8_to_wide(path);
    int r = -1;
    if (wp) {
        if (CreateDirectoryW(wp, NULL)) r = 0;
        else if (GetLastError() == ERROR_ALREADY_EXISTS) {
            DWORD at = GetFileAttributesW(wp);
            r = (at != INVALID_FILE_ATTRIBUTES && (at & FILE_ATTRIBUTE_DIRECTORY)) ? 0 : -1;
        }
    }
    free(wp);
    return r;
}

/* PrefetchVirtualMemory exists from Windows 8 on: looked up at run time, so
 * the binary still starts on Windows 7 (where the hint is simply skipped). */
typedef struct {
    void *addr;
    SIZE_T bytes;
} qtk_win_range; /* WIN32_MEMORY_RANGE_ENTRY */
typedef BOOL(WINAPI *qtk_prefetch_fn)(HANDLE, ULONG_PTR, qtk_win_range *, ULONG);

static qtk_prefetch_fn g_prefetch;
static qtk_once g_prefetch_once = QTK_ONCE_INIT;
static void prefetch_lookup(void) {
    HMODULE k32 = GetModuleHandleA("kernel32.dll");
    if (k32) g_prefetch = (qtk_prefetch_fn)(void (*)(void))GetProcAddress(k32, "PrefetchVirtualMemory");
}

void qtk_prefetch_mapped(const void *p, size_t n) {
    if (!p || n == 0) return;
    qtk_call_once(&g_prefetch_once, prefetch_lookup);
    if (!g_prefetch) return;
    qtk_win_range r;
    r.addr = (void *)p;
    r.bytes = n;
    g_prefetch(GetCurrentProcess(), 1, &r, 0);
}

/* Windows: the working-set manager trims mapped views on its own. */
void qtk_release_mapped(const void *p, size_t n) {
    (void)p;
    (void)n;
}

#else /* POSIX */

/* Opens a regular file for reading; *fd = -1 and QTK_OK for an empty one. */
static qtk_status open_regular(const char *path, int *fd_out, struct stat *st, qtk_error *err) {
    *fd_out = -1;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return qtk_set_error(err, QTK_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return qtk_set_error(err, QTK_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st->st_size > (unsigned long long)SIZE_MAX / 2) {
        close(fd);
        return qtk_set_error(err, QTK_ERR_IO, "%s: file too large to map", path);
    }
    if (st->st_size == 0) {
        close(fd);
        return QTK_OK;
    }
    *fd_out = fd;
    return QTK_OK;
}

qtk_status qtk_map_file(const char *path, qtk_mapping *out, qtk_error *err) {
    memset(out, 0, sizeof *out);
    int fd;
    struct stat st;
    qtk_status s = open_regular(path, &fd, &st, err);
    if (s != QTK_OK || fd < 0) return s;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return qtk_set_error(err, QTK_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    qtk_file_id id = {(unsigned long long)st.st_dev, 0, (unsigned long long)st.st_ino};
    input_register(p, &id, path);
    return QTK_OK;
}

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON /* macOS, older BSDs */
#endif
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

qtk_status qtk_read_file(const char *path, qtk_mapping *out, qtk_error *err) {
    memset(out, 0, sizeof *out);
    int fd;
    struct stat st;
    qtk_status s = open_regular(path, &fd, &st, err);
    if (s != QTK_OK || fd < 0) return s;
    const size_t size = (size_t)st.st_size;
    /* rounded up to whole huge pages, + one for the alignment */
    const size_t span = (size + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    const size_t n = span + HUGE_PAGE_BYTES;
    void *a = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        int e = errno;
        close(fd);
        return qtk_set_error(err, QTK_ERR_NOMEM, "%s: cannot allocate %zu MiB to read it into memory: %s", path,
                             size >> 20, strerror(e));
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)a + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, span, MADV_HUGEPAGE); /* a request: 4 KiB pages if refused */
#endif
    size_t done = 0;
    while (done < size) {
        size_t want = size - done < ((size_t)1 << 30) ? size - done : ((size_t)1 << 30);
        ssize_t r = pread(fd, p + done, want, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            munmap(a, n);
            if (r == 0)
                return qtk_set_error(err, QTK_ERR_IO, "%s: the file ended after %zu of %zu bytes while being read",
                                     path, done, size);
            return qtk_set_error(err, QTK_ERR_IO, "%s: read error at byte %zu: %s", path, done, strerror(e));
        }
        done += (size_t)r;
    }
    close(fd);
    (void)mprotect(p, span, PROT_READ); /* weights are read-only: a stray write faults */
    out->data = p;
    out->size = size;
    out->alloc = a;
    out->alloc_size = n;
    qtk_file_id id = {(unsigned long long)st.st_dev, 0, (unsigned long long)st.st_ino};
    input_register(p, &id, path);
    return QTK_OK;
}

bool qtk_read_file_pays(uint64_t size) {
#ifdef __linux__
    char buf[256];
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return false;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    if (!strstr(buf, "[always]") && !strstr(buf, "[madvise]")) return false;
    f = fopen("/proc/meminfo", "r");
    if (!f) return false;
    unsigned long long avail_kib = 0;
    bool found = false;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "MemAvailable: %llu kB", &avail_kib) == 1) {
            found = true;
            break;
        }
    fclose(f);
    if (!found) return false;
    const unsigned long long avail = avail_kib * 1024ULL, margin = avail / 8 + (512ULL << 20);
    return avail > margin && size <= avail - margin;
#else
    (void)size;
    return false;
#endif
}

void qtk_prefetch_mapped(const void *p, size_t n) {
    if (!p || n == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (page == 0 || (page & (page - 1)) != 0) return;
    const uintptr_t a = (uintptr_t)p & ~(page - 1);
    (void)posix_madvise((void *)a, n + ((uintptr_t)p - a), POSIX_MADV_WILLNEED);
}

void qtk_release_mapped(const void *p, size_t n) {
    if (!p || n == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (page == 0 || (page & (page - 1)) != 0) return;
    /* whole pages inside the range only: a neighbour's partial page stays */
    const uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), e = ((uintptr_t)p + n) & ~(page - 1);
#ifdef MADV_DONTNEED
    /* read-only shared file mapping: the pages leave this process (they stay in the
     * page cache; a later read faults them back in). posix_madvise's DONTNEED is a
     * no-op on glibc, hence madvise. */
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
#else
    (void)a;
    (void)e;
#endif
}

void qtk_unmap_file(qtk_mapping *m) {
    if (m->data) input_unregister(m->data);
    if (m->alloc) munmap(m->alloc, m->alloc_size);
    else if (m->data) munmap((void *)m->data, m->size);
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

int qtk_mkdir(const char *path) {
    if (mkdir(path, 0777) == 0) return 0;
    struct stat st;
    return (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ? 0 : -1;
}

#endif

/* ---- CPU count, clock (threads themselves: threadpool.c) ---------------- */

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

uint64_t qtk_peak_rss_bytes(void) {
#ifdef _WIN32
    PROCESS_MEMORY_COUNTERS pmc;
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return 0;
    return (uint64_t)pmc.PeakWorkingSetSize;
#else
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss < 0) return 0;
#if defined(__APPLE__)
    return (uint64_t)ru.ru_maxrss; /* bytes on macOS */
#else
    return (uint64_t)ru.ru_maxrss * 1024u; /* KiB on Linux and the BSDs */
#endif
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

void *qtk_grow_aligned(void *buf, size_t *cap, size_t n, size_t elem_size) {
    if (buf && n <= *cap) return buf;
    qtk_free_aligned(buf);
    buf = qtk_malloc_aligned(n * elem_size);
    *cap = buf ? n : 0;
    return buf;
}

void qtk_free_aligned(void *p) {
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

/* ---- file safety: same-file checks, unique temp files, signal cleanup ---- */
/*
 * Every atomic writer (GGUF writer, imatrix .dat, KLD base file) creates its
 * output as FINAL.tmp.XXXXXX with an exclusive create (never shared with a
 * concurrent writer, never following an existing file), registers the name
 * in a fixed table, and renames it over FINAL when complete. The table is
 * read by the SIGINT/SIGTERM/SIGHUP handler (Windows: console control
 * handler) that qtk_install_signal_cleanup() installs: it removes every live
 * temp file and then lets the signal terminate the process as it would have.
 * Slot states: 0 free, 1 being filled or emptied, 2 live.
 */
#ifdef _WIN32
#include <fcntl.h>
#include <stdint.h>
#define QTK_TMP_PATH_MAX 1024 /* wide characters */
typedef wchar_t tmp_char;
typedef volatile LONG slot_state;
#define SLOT_CAS(p, from, to) (InterlockedCompareExchange((p), (to), (from)) == (from))
#define SLOT_LOAD(p) InterlockedCompareExchange((p), 0, 0)
#define SLOT_STORE(p, v) ((void)InterlockedExchange((p), (v)))
#define SLOT_ADD(p, d) ((void)InterlockedExchangeAdd((p), (d)))
#else
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#define QTK_TMP_PATH_MAX 4096
typedef char tmp_char;
typedef atomic_int slot_state;
static bool slot_cas(slot_state *p, int from, int to) {
    return atomic_compare_exchange_strong_explicit(p, &from, to, memory_order_acq_rel, memory_order_acquire);
}
#define SLOT_CAS(p, from, to) slot_cas((p), (from), (to))
#define SLOT_LOAD(p) atomic_load_explicit((p), memory_order_acquire)
#define SLOT_STORE(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define SLOT_ADD(p, d) ((void)atomic_fetch_add_explicit((p), (d), memory_order_acq_rel))
#endif
/* Enough for --keep-split of the largest split releases (30-50 parts) with room to
 * spare; untouched slots cost no memory (zero-initialised static storage). */
#define QTK_TMP_SLOTS 128

static slot_state tmp_state[QTK_TMP_SLOTS];
static tmp_char tmp_name[QTK_TMP_SLOTS][QTK_TMP_PATH_MAX];
/* Temp files between their creation and their registration: the name exists on disk but is not
 * in the table yet. The cleanup waits for this to reach 0 (the creating thread blocks the cleanup
 * signals meanwhile, so the handler never runs on it; on Windows the handler has its own thread). */
static slot_state tmp_creating;
#ifndef _WIN32
/* The signals whose handler removes the temp files (qtk_install_signal_cleanup). */
static const int k_cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_CLEANUP_SIGNALS (sizeof k_cleanup_signals / sizeof k_cleanup_signals[0])
#endif

/* Registers a temp file for removal on a signal; -1 when the table is full or
 * the name too long (the file is then only removed by the normal paths). */
static int tmp_register(const char *path) {
#ifdef _WIN32
    wchar_t *w = utf8_to_wide(path);
    if (!w) return -1;
    size_t n = wcslen(w);
#else
    const char *w = path;
    size_t n = strlen(path);
#endif
    int slot = -1;
    if (n < QTK_TMP_PATH_MAX) {
        for (int i = 0; i < QTK_TMP_SLOTS && slot < 0; i++)
            if (SLOT_CAS(&tmp_state[i], 0, 1)) slot = i;
        if (slot >= 0) {
            memcpy(tmp_name[slot], w, (n + 1) * sizeof(tmp_char));
            SLOT_STORE(&tmp_state[slot], 2);
        }
    }
#ifdef _WIN32
    free(w);
#endif
    return slot;
}

static void tmp_unregister(int slot) {
    if (slot >= 0 && slot < QTK_TMP_SLOTS) SLOT_STORE(&tmp_state[slot], 0);
}

/* Removes every live temp file: async-signal-safe on POSIX (unlink only). */
static void tmp_remove_all(void) {
    /* a file another thread has just created is registered within microseconds (a slow open()
     * on a busy disk included: the name appears when the create is done); bounded, never stuck */
    for (long spin = 0; SLOT_LOAD(&tmp_creating) > 0 && spin < 200000000L; spin++) {
    }
    for (int i = 0; i < QTK_TMP_SLOTS; i++) {
        if (!SLOT_CAS(&tmp_state[i], 2, 1)) continue; /* free, or being (un)registered */
#ifdef _WIN32
        DeleteFileW(tmp_name[i]); /* opened with FILE_SHARE_DELETE: gone when the handle closes */
#else
        unlink(tmp_name[i]);
#endif
        SLOT_STORE(&tmp_state[i], 0);
    }
}

/* Slot of a registered temp path (the writers keep only the name). */
static int tmp_find(const char *path) {
#ifdef _WIN32
    wchar_t *w = utf8_to_wide(path);
    if (!w) return -1;
#else
    const char *w = path;
#endif
    int slot = -1;
    for (int i = 0; i < QTK_TMP_SLOTS && slot < 0; i++) {
#ifdef _WIN32
        if (SLOT_LOAD(&tmp_state[i]) == 2 && wcscmp(tmp_name[i], w) == 0) slot = i;
#else
        if (SLOT_LOAD(&tmp_state[i]) == 2 && strcmp(tmp_name[i], w) == 0) slot = i;
#endif
    }
#ifdef _WIN32
    free(w);
#endif
    return slot;
}

/* Identity of the file at path; false when it cannot be opened/stat'ed. */
static bool file_id_of(const char *path, qtk_file_id *id) {
#ifdef _WIN32
    wchar_t *w = utf8_to_wide(path);
    if (!w) return false;
    HANDLE h = CreateFileW(w, FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE) return false;
    BY_HANDLE_FILE_INFORMATION bi;
    BOOL ok = GetFileInformationByHandle(h, &bi);
    CloseHandle(h);
    if (!ok) return false;
    id->vol = bi.dwVolumeSerialNumber;
    id->hi = bi.nFileIndexHigh;
    id->lo = bi.nFileIndexLow;
    return true;
#else
    struct stat st;
    if (stat(path, &st) != 0) return false;
    id->vol = (unsigned long long)st.st_dev;
    id->hi = 0;
    id->lo = (unsigned long long)st.st_ino;
    return true;
#endif
}

static bool file_id_eq(const qtk_file_id *a, const qtk_file_id *b) {
    return a->vol == b->vol && a->hi == b->hi && a->lo == b->lo;
}

int qtk_same_file(const char *a, const char *b) {
    qtk_file_id ia, ib;
    if (!a || !b || !file_id_of(a, &ia) || !file_id_of(b, &ib)) return 0;
    return file_id_eq(&ia, &ib);
}

/* Files mapped by qtk_map_file, so that no writer replaces one of its own inputs. */
typedef struct input_entry {
    const void *data;
    qtk_file_id id;
    char *path;
} input_entry;

static input_entry *inputs;
static size_t n_inputs, cap_inputs;
#ifdef _WIN32
static SRWLOCK inputs_lock = SRWLOCK_INIT;
#define INPUTS_LOCK() AcquireSRWLockExclusive(&inputs_lock)
#define INPUTS_UNLOCK() ReleaseSRWLockExclusive(&inputs_lock)
#else
static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;
#define INPUTS_LOCK() pthread_mutex_lock(&inputs_lock)
#define INPUTS_UNLOCK() pthread_mutex_unlock(&inputs_lock)
#endif

static void input_register(const void *data, const qtk_file_id *id, const char *path) {
    char *p = qtk_strdup(path);
    if (!p) return; /* best effort: only the same-file check loses this input */
    INPUTS_LOCK();
    if (n_inputs == cap_inputs) {
        size_t cap = cap_inputs ? 2 * cap_inputs : 8;
        input_entry *ni = (input_entry *)realloc(inputs, cap * sizeof *ni);
        if (ni) {
            inputs = ni;
            cap_inputs = cap;
        }
    }
    if (n_inputs < cap_inputs) {
        inputs[n_inputs].data = data;
        inputs[n_inputs].id = *id;
        inputs[n_inputs].path = p;
        n_inputs++;
        p = NULL;
    }
    INPUTS_UNLOCK();
    free(p);
}

static void input_unregister(const void *data) {
    INPUTS_LOCK();
    for (size_t i = 0; i < n_inputs; i++) {
        if (inputs[i].data == data) {
            free(inputs[i].path);
            inputs[i] = inputs[--n_inputs];
            break;
        }
    }
    INPUTS_UNLOCK();
}

qtk_status qtk_check_not_input(const char *out_path, qtk_error *err) {
    qtk_file_id id;
    if (!file_id_of(out_path, &id)) return QTK_OK; /* does not exist (yet): nothing to clobber */
    qtk_status st = QTK_OK;
    INPUTS_LOCK();
    for (size_t i = 0; i < n_inputs; i++) {
        if (file_id_eq(&inputs[i].id, &id)) {
            st = qtk_set_error(err, QTK_ERR_INVALID_ARG,
                               "%s: refusing to overwrite it: it is the same file as the input %s", out_path,
                               inputs[i].path);
            break;
        }
    }
    INPUTS_UNLOCK();
    return st;
}

/* A random-enough 64-bit value for temp names (uniqueness is guaranteed by
 * the exclusive create; this only makes collisions rare). */
static unsigned long long tmp_random(void) {
    static unsigned long long counter;
    unsigned long long x = ++counter * 0x9E3779B97F4A7C15ULL;
    x ^= (unsigned long long)(uintptr_t)&x;
#ifdef _WIN32
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    x ^= (unsigned long long)c.QuadPart * 0xBF58476D1CE4E5B9ULL;
    x ^= (unsigned long long)GetCurrentProcessId() << 32;
    x ^= (unsigned long long)GetCurrentThreadId();
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x ^= ((unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec) * 0xBF58476D1CE4E5B9ULL;
    x ^= (unsigned long long)getpid() << 32;
#endif
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 29);
}

qtk_status qtk_tmpfile_create(const char *final_path, FILE **f, char **tmp_path, qtk_error *err) {
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    *f = NULL;
    *tmp_path = NULL;
    qtk_status st = qtk_check_not_input(final_path, err);
    if (st != QTK_OK) return st;
    size_t n = strlen(final_path);
    char *tmp = (char *)malloc(n + 12);
    if (!tmp) return qtk_set_error(err, QTK_ERR_NOMEM, "%s: out of memory", final_path);
    memcpy(tmp, final_path, n);
    memcpy(tmp + n, ".tmp.", 5);
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned long long r = tmp_random();
        for (int i = 0; i < 6; i++, r /= 62) tmp[n + 5 + i] = alnum[r % 62];
        tmp[n + 11] = '\0';
#ifdef _WIN32
        wchar_t *w = utf8_to_wide(tmp);
        if (!w) break;
        /* FILE_SHARE_DELETE: the console handler can delete it while open */
        SLOT_ADD(&tmp_creating, 1);
        HANDLE h = CreateFileW(w, GENERIC_WRITE | DELETE, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, CREATE_NEW,
                               FILE_ATTRIBUTE_NORMAL, NULL);
        free(w);
        if (h == INVALID_HANDLE_VALUE) {
            DWORD e = GetLastError();
            SLOT_ADD(&tmp_creating, -1);
            if (e == ERROR_FILE_EXISTS || e == ERROR_ALREADY_EXISTS) continue;
            char eb[256];
            st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot create %s: %s", final_path, tmp,
                               win_error_text(e, eb, sizeof eb));
            free(tmp);
            return st;
        }
        int fd = _open_osfhandle((intptr_t)h, _O_BINARY | _O_WRONLY);
        FILE *fp = fd >= 0 ? _fdopen(fd, "wb") : NULL;
        if (!fp) {
            if (fd >= 0) _close(fd);
            else CloseHandle(h);
            qtk_remove_file(tmp);
            SLOT_ADD(&tmp_creating, -1);
            st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot open %s as a stream", final_path, tmp);
            free(tmp);
            return st;
        }
#else
        /* From open() creating the name to its registration a Ctrl-C must not clean up without
         * it: this thread defers the cleanup signals, and a handler on another thread waits for
         * tmp_creating to drop (test_safety's measure --probe-text case left the probe base file
         * behind under load before this). */
        sigset_t cleanup_sigs, old_mask;
        sigemptyset(&cleanup_sigs);
        for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++) sigaddset(&cleanup_sigs, k_cleanup_signals[i]);
        pthread_sigmask(SIG_BLOCK, &cleanup_sigs, &old_mask);
        SLOT_ADD(&tmp_creating, 1);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); /* mode as fopen: umask applies */
        if (fd < 0) {
            int e = errno;
            SLOT_ADD(&tmp_creating, -1);
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
            if (e == EEXIST) continue;
            st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot create %s: %s", final_path, tmp, strerror(e));
            free(tmp);
            return st;
        }
        FILE *fp = fdopen(fd, "wb");
        if (!fp) {
            int e = errno;
            close(fd);
            unlink(tmp);
            SLOT_ADD(&tmp_creating, -1);
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
            st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot open %s as a stream: %s", final_path, tmp, strerror(e));
            free(tmp);
            return st;
        }
#endif
        tmp_register(tmp);
        SLOT_ADD(&tmp_creating, -1);
#ifndef _WIN32
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
#endif
        *f = fp;
        *tmp_path = tmp;
        return QTK_OK;
    }
    st = qtk_set_error(err, QTK_ERR_IO, "%s: cannot create a unique temp file %s.tmp.XXXXXX", final_path, final_path);
    free(tmp);
    return st;
}

void qtk_tmpfile_discard(FILE *f, const char *tmp_path) {
    if (f) fclose(f);
    if (!tmp_path) return;
    int slot = tmp_find(tmp_path);
    qtk_remove_file(tmp_path);
    tmp_unregister(slot);
}

int qtk_tmpfile_commit(const char *tmp_path, const char *final_path) {
    int slot = tmp_find(tmp_path);
    int r = qtk_rename_replace(tmp_path, final_path);
    if (r == 0) tmp_unregister(slot); /* on failure the caller discards it */
    return r;
}

#ifdef _WIN32
static BOOL WINAPI on_console_event(DWORD ev) {
    tmp_remove_all();
    /* the codes a POSIX shell reports: 130 Ctrl-C, 129 console closed (hangup), 143 otherwise.
     * TerminateProcess, not ExitProcess: the main thread may hold a CRT lock (stdio) that
     * exit-time cleanup would wait for; closing the handles deletes the temp files. */
    TerminateProcess(GetCurrentProcess(),
                     ev == CTRL_C_EVENT || ev == CTRL_BREAK_EVENT ? 130 : ev == CTRL_CLOSE_EVENT ? 129 : 143);
    return TRUE;
}

void qtk_install_signal_cleanup(void) { SetConsoleCtrlHandler(on_console_event, TRUE); }
#else
static void on_signal(int sig) {
    int saved = errno;
    tmp_remove_all();
    /* die of the same signal (the shell reports 128 + sig: 130, 143, 129) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    raise(sig); /* blocked inside this handler: delivered on return */
    errno = saved;
}

void qtk_install_signal_cleanup(void) {
    const int *sigs = k_cleanup_signals;
    for (size_t i = 0; i < N_CLEANUP_SIGNALS; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue; /* keep nohup & co */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < N_CLEANUP_SIGNALS; k++) sigaddset(&sa.sa_mask, sigs[k]);
        sigaction(sigs[i], &sa, NULL);
    }
}
#endif
