/*
 * threadpool.c — persistent worker threads (POSIX threads or Win32), the
 * atomics and one-time initialisation they rest on, and qtk_parallel_for on
 * top of a process-wide pool. The only file that creates threads.
 *
 * Dispatch protocol (see threadpool.h). A job is nt tasks (task k = the k-th
 * share of the work); threads claim tasks from a counter, so a task is run
 * by exactly one thread and the caller runs whatever no worker claimed. The
 * caller publishes the job (fn, ctx, nt), opens it (`job` = sequence·2 + 1)
 * and bumps `gen`; workers spin on `gen` with a CPU pause for SPIN_LIMIT
 * iterations after their last job, then sleep on a condition variable. A
 * worker registers in `n_sleeping` under the mutex *before* it re-checks
 * `gen`, and the caller reads `n_sleeping` *after* bumping `gen` (both
 * sequentially consistent), so either the caller sees the sleeper and
 * broadcasts, or the sleeper sees the new generation: no wake-up is lost.
 *
 * A worker joins an open job by incrementing `active` and then re-checking
 * that the same job is still open; the caller, when no task is left, closes
 * the job and waits for `active` to reach 0. So the caller waits only for
 * workers that are running a task — never for one the OS has not scheduled
 * yet (on a loaded or oversubscribed machine that wait would cost a whole
 * time slice per dispatch) — and a worker that arrives late sees the job
 * closed (or a newer one) and never reads job fields that are being
 * rewritten. Which thread runs a task never changes what it computes.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include "threadpool.h"

#include <stdlib.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <pthread.h>
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#define QTK_HAVE_MM_PAUSE 1
#endif

/* ~20-40 ns per pause: a worker stays hot for roughly 0.1-0.2 ms after a job
 * (the gaps between the products of a forward pass are a few microseconds),
 * then sleeps, so an idle pool costs nothing. The caller waiting for workers
 * yields its time slice sooner: on an oversubscribed machine the worker it
 * waits for may need this very core. */
#define SPIN_LIMIT (1 << 12)
#define WAIT_SPIN_LIMIT (1 << 10)
#define MAX_POOL_THREADS 256

/* ---- atomics ------------------------------------------------------------ */

#if defined(_MSC_VER) && !defined(__clang__)
int qtk_atomic_load(qtk_atomic_int *a) { return (int)InterlockedCompareExchange(a, 0, 0); }
void qtk_atomic_store(qtk_atomic_int *a, int v) { InterlockedExchange(a, v); }
int qtk_atomic_add(qtk_atomic_int *a, int v) { return (int)InterlockedExchangeAdd(a, v); }
bool qtk_atomic_cas(qtk_atomic_int *a, int expected, int desired) {
    return InterlockedCompareExchange(a, desired, expected) == expected;
}
#else
int qtk_atomic_load(qtk_atomic_int *a) { return atomic_load(a); }
void qtk_atomic_store(qtk_atomic_int *a, int v) { atomic_store(a, v); }
int qtk_atomic_add(qtk_atomic_int *a, int v) { return atomic_fetch_add(a, v); }
bool qtk_atomic_cas(qtk_atomic_int *a, int expected, int desired) {
    return atomic_compare_exchange_strong(a, &expected, desired);
}
#endif

void qtk_cpu_relax(void) {
#if defined(QTK_HAVE_MM_PAUSE)
    _mm_pause();
#elif defined(_WIN32)
    YieldProcessor();
#elif (defined(__aarch64__) || defined(__arm__)) && (defined(__GNUC__) || defined(__clang__))
    __asm__ __volatile__("yield");
#endif
}

void qtk_thread_yield(void) {
#ifdef _WIN32
    SwitchToThread();
#else
    sched_yield();
#endif
}

void qtk_call_once(qtk_once *flag, void (*fn)(void)) {
    if (qtk_atomic_load(&flag->state) == 2) return;
    if (qtk_atomic_cas(&flag->state, 0, 1)) {
        fn();
        qtk_atomic_store(&flag->state, 2);
        return;
    }
    while (qtk_atomic_load(&flag->state) != 2) qtk_thread_yield();
}

/* ---- mutex, condition variable, thread ----------------------------------- */

#ifdef _WIN32
typedef CRITICAL_SECTION os_mutex;
typedef CONDITION_VARIABLE os_cond;
typedef HANDLE os_thread;
static void mutex_init(os_mutex *m) { InitializeCriticalSection(m); }
static void mutex_destroy(os_mutex *m) { DeleteCriticalSection(m); }
static void mutex_lock(os_mutex *m) { EnterCriticalSection(m); }
static void mutex_unlock(os_mutex *m) { LeaveCriticalSection(m); }
static void cond_init(os_cond *c) { InitializeConditionVariable(c); }
static void cond_destroy(os_cond *c) { (void)c; }
static void cond_wait(os_cond *c, os_mutex *m) { SleepConditionVariableCS(c, m, INFINITE); }
static void cond_broadcast(os_cond *c) { WakeAllConditionVariable(c); }
#else
typedef pthread_mutex_t os_mutex;
typedef pthread_cond_t os_cond;
typedef pthread_t os_thread;
static void mutex_init(os_mutex *m) { pthread_mutex_init(m, NULL); }
static void mutex_destroy(os_mutex *m) { pthread_mutex_destroy(m); }
static void mutex_lock(os_mutex *m) { pthread_mutex_lock(m); }
static void mutex_unlock(os_mutex *m) { pthread_mutex_unlock(m); }
static void cond_init(os_cond *c) { pthread_cond_init(c, NULL); }
static void cond_destroy(os_cond *c) { pthread_cond_destroy(c); }
static void cond_wait(os_cond *c, os_mutex *m) { pthread_cond_wait(c, m); }
static void cond_broadcast(os_cond *c) { pthread_cond_broadcast(c); }
#endif

typedef void (*thread_main_fn)(void *arg);
typedef struct thread_start {
    thread_main_fn fn;
    void *arg;
} thread_start;

#ifdef _WIN32
static DWORD WINAPI os_thread_entry(LPVOID p) {
    thread_start *s = (thread_start *)p;
    s->fn(s->arg);
    return 0;
}
static bool thread_create(os_thread *t, thread_start *s) {
    *t = CreateThread(NULL, 0, os_thread_entry, s, 0, NULL);
    return *t != NULL;
}
static void thread_join(os_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
static void *os_thread_entry(void *p) {
    thread_start *s = (thread_start *)p;
    s->fn(s->arg);
    return NULL;
}
static bool thread_create(os_thread *t, thread_start *s) { return pthread_create(t, NULL, os_thread_entry, s) == 0; }
static void thread_join(os_thread t) { pthread_join(t, NULL); }
#endif

/* ---- the pool --------------------------------------------------------------- */

typedef struct worker {
    struct qtk_pool *pool;
    int index;
    thread_start start;
    os_thread thread;
} worker;

struct qtk_pool {
    int n;                        /* threads, caller included              */
    /* Counters each on their own cache line: workers hammer them. */
    QTK_ALIGN(64) qtk_atomic_int gen;
    QTK_ALIGN(64) qtk_atomic_int job;        /* sequence·2 + 1 while open      */
    QTK_ALIGN(64) qtk_atomic_int active;     /* workers inside the open job     */
    QTK_ALIGN(64) qtk_atomic_int next_task;  /* task claim counter              */
    QTK_ALIGN(64) qtk_atomic_int n_sleeping;
    QTK_ALIGN(64) qtk_atomic_int quit;
    int seq;                                 /* caller side only                */
    /* The job; written only while it is closed and no worker is active. */
    qtk_task_fn fn;
    void *ctx;
    int nt;
    os_mutex mutex;
    os_cond cond;
    worker *workers;              /* [n - 1]                                 */
};

/* Runs tasks of the open job until none is left. */
static void run_tasks(qtk_pool *p) {
    for (;;) {
        const int k = qtk_atomic_add(&p->next_task, 1);
        if (k >= p->nt) break;
        p->fn(p->ctx, k, p->nt);
    }
}

static void worker_main(void *arg) {
    worker *w = (worker *)arg;
    qtk_pool *p = w->pool;
    int seen = 0;
    for (;;) {
        int g, spins = 0;
        while ((g = qtk_atomic_load(&p->gen)) == seen) {
            if (++spins < SPIN_LIMIT) {
                qtk_cpu_relax();
                continue;
            }
            mutex_lock(&p->mutex);
            qtk_atomic_add(&p->n_sleeping, 1);
            while ((g = qtk_atomic_load(&p->gen)) == seen) cond_wait(&p->cond, &p->mutex);
            qtk_atomic_add(&p->n_sleeping, -1);
            mutex_unlock(&p->mutex);
            break;
        }
        seen = g;
        if (qtk_atomic_load(&p->quit)) return;
        const int job = qtk_atomic_load(&p->job);
        if (!(job & 1)) continue;                        /* already closed    */
        qtk_atomic_add(&p->active, 1);
        if (qtk_atomic_load(&p->job) == job) run_tasks(p);  /* still the same open job */
        qtk_atomic_add(&p->active, -1);
    }
}

/* Wakes the workers (after a job was opened, or to quit). */
static void wake_workers(qtk_pool *p) {
    qtk_atomic_add(&p->gen, 1);
    if (qtk_atomic_load(&p->n_sleeping) > 0) {
        mutex_lock(&p->mutex);
        cond_broadcast(&p->cond);
        mutex_unlock(&p->mutex);
    }
}

/* Closes the open job and waits for the workers still running its tasks. */
static void close_job(qtk_pool *p) {
    qtk_atomic_store(&p->job, p->seq << 1);
    int spins = 0;
    while (qtk_atomic_load(&p->active) != 0) {
        if (++spins < WAIT_SPIN_LIMIT) qtk_cpu_relax();
        else qtk_thread_yield();
    }
}

qtk_status qtk_pool_create(int n_threads, qtk_pool **out, qtk_error *err) {
    if (!out) return qtk_set_error(err, QTK_ERR_INVALID_ARG, "qtk_pool_create: out is NULL");
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_POOL_THREADS) n_threads = MAX_POOL_THREADS;
    qtk_pool *p = (qtk_pool *)qtk_malloc_aligned(sizeof *p);
    if (!p) return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (thread pool)");
    memset(p, 0, sizeof *p);
    p->n = 1;
    mutex_init(&p->mutex);
    cond_init(&p->cond);
    if (n_threads > 1) {
        p->workers = (worker *)calloc((size_t)(n_threads - 1), sizeof(worker));
        if (!p->workers) {
            qtk_pool_free(p);
            return qtk_set_error(err, QTK_ERR_NOMEM, "out of memory (thread pool of %d)", n_threads);
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker *w = &p->workers[i - 1];
        w->pool = p;
        w->index = i;
        w->start.fn = worker_main;
        w->start.arg = w;
        if (!thread_create(&w->thread, &w->start)) break;   /* keep the ones that started */
        p->n = i + 1;
    }
    *out = p;
    return QTK_OK;
}

void qtk_pool_free(qtk_pool *p) {
    if (!p) return;
    if (p->n > 1) {
        qtk_atomic_store(&p->quit, 1);
        wake_workers(p);
        for (int i = 1; i < p->n; i++) thread_join(p->workers[i - 1].thread);
    }
    free(p->workers);
    cond_destroy(&p->cond);
    mutex_destroy(&p->mutex);
    qtk_free_aligned(p);
}

int qtk_pool_size(const qtk_pool *p) { return p ? p->n : 1; }

void qtk_pool_run(qtk_pool *p, int nt, qtk_task_fn fn, void *ctx) {
    if (!p || nt <= 1 || p->n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    if (nt > p->n) nt = p->n;
    p->fn = fn;
    p->ctx = ctx;
    p->nt = nt;
    qtk_atomic_store(&p->next_task, 0);
    p->seq = (p->seq + 1) & 0x3fffffff;
    qtk_atomic_store(&p->job, (p->seq << 1) | 1);
    wake_workers(p);
    run_tasks(p);
    close_job(p);
}

typedef struct range_job {
    qtk_range_fn fn;
    void *ctx;
    int64_t n, align, chunk;
    QTK_ALIGN(64) qtk_atomic_int next;   /* dynamic: next chunk index */
} range_job;

static void static_task(void *arg, int ti, int nt) {
    range_job *j = (range_job *)arg;
    int64_t b = j->n * ti / nt, e = j->n * (ti + 1) / nt;
    b -= b % j->align;
    if (ti + 1 < nt) e -= e % j->align;
    if (e > b) j->fn(j->ctx, b, e, ti);
}

/* Runs [0, n) as `units` pieces on up to nt threads: inline when one thread
 * suffices, else through the pool with task. */
static void run_ranges(qtk_pool *p, int nt, int64_t units, qtk_task_fn task, range_job *j) {
    if (nt > units) nt = (int)units;
    if (nt <= 1 || !p || p->n <= 1) j->fn(j->ctx, 0, j->n, 0);
    else qtk_pool_run(p, nt, task, j);
}

void qtk_pool_for(qtk_pool *p, int nt, int64_t n, int64_t align, qtk_range_fn fn, void *ctx) {
    if (n <= 0) return;
    range_job j;
    memset(&j, 0, sizeof j);
    j.fn = fn;
    j.ctx = ctx;
    j.n = n;
    j.align = align < 1 ? 1 : align;
    run_ranges(p, nt, (n + j.align - 1) / j.align, static_task, &j);
}

static void dynamic_task(void *arg, int ti, int nt) {
    range_job *j = (range_job *)arg;
    (void)nt;
    for (;;) {
        int64_t c = qtk_atomic_add(&j->next, 1);
        int64_t b = c * j->chunk;
        if (b >= j->n) break;
        j->fn(j->ctx, b, QTK_MIN(j->n, b + j->chunk), ti);
    }
}

void qtk_pool_for_dynamic(qtk_pool *p, int nt, int64_t n, int64_t chunk, qtk_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    /* the chunk counter is an int: at most 2^31 - 1 chunks */
    if ((n + chunk - 1) / chunk > 0x7fffffff) chunk = (n + 0x7ffffffe) / 0x7fffffff;
    range_job j;
    memset(&j, 0, sizeof j);
    j.fn = fn;
    j.ctx = ctx;
    j.n = n;
    j.chunk = chunk;
    run_ranges(p, nt, (n + chunk - 1) / chunk, dynamic_task, &j);
}

/* Shares with stealing. Share k of [0, n) is units [U·k/nt, U·(k+1)/nt) of
 * `unit` items (the last unit may be short); its state word packs the units
 * still unclaimed as [front, back) offsets from the share's start (16 bits
 * each: U <= 32767, the unit grows to keep it so). The owner claims from the
 * front, half of what is left, so it makes about log2 calls over its share in
 * address order; a thread whose share is empty takes a quarter of the largest
 * remainder from its back, so the shares end together however the threads'
 * speeds differ. Claims are CAS on the word: each unit is run exactly once. */
#define SHARE_MAX_UNITS 0x7fff
typedef struct share_job {
    qtk_range_fn fn;
    void *ctx;
    int64_t n, unit;
    int64_t units, nt;
    qtk_atomic_int state[MAX_POOL_THREADS];
} share_job;

static int64_t share_first_unit(const share_job *j, int64_t k) { return j->units * k / j->nt; }

/* The unclaimed units [front, back) packed in a state word. */
static int share_front(int s) { return s & 0xffff; }
static int share_back(int s) { return (s >> 16) & 0xffff; }

/* Claims units of share k: from the front (owner) or the back; false when none is left. */
static bool share_claim(share_job *j, int64_t k, bool owner, int64_t *u0, int64_t *u1) {
    for (;;) {
        const int s = qtk_atomic_load(&j->state[k]);
        const int f = share_front(s), b = share_back(s);
        if (f >= b) return false;
        const int take = owner ? (b - f + 1) / 2 : (b - f + 3) / 4;
        const int nf = owner ? f + take : f, nb = owner ? b : b - take;
        if (!qtk_atomic_cas(&j->state[k], s, nf | nb << 16)) continue;
        const int64_t base = share_first_unit(j, k);
        *u0 = base + (owner ? f : nb);
        *u1 = base + (owner ? nf : b);
        return true;
    }
}

static void share_run(const share_job *j, int64_t u0, int64_t u1, int ti) {
    j->fn(j->ctx, u0 * j->unit, QTK_MIN(j->n, u1 * j->unit), ti);
}

static void share_task(void *arg, int ti, int nt) {
    share_job *j = (share_job *)arg;
    (void)nt;
    int64_t u0, u1;
    while (share_claim(j, ti, true, &u0, &u1)) share_run(j, u0, u1, ti);
    for (;;) {
        int64_t best = -1, most = 0;
        for (int64_t k = 0; k < j->nt; k++) {
            const int s = qtk_atomic_load(&j->state[k]);
            const int64_t left = share_back(s) - share_front(s);
            if (left > most) most = left, best = k;
        }
        if (best < 0) return;
        if (share_claim(j, best, false, &u0, &u1)) share_run(j, u0, u1, ti);
    }
}

void qtk_pool_for_shares(qtk_pool *p, int nt, int64_t n, int64_t align, qtk_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (align < 1) align = 1;
    if (!p || p->n <= 1 || nt <= 1 || n <= align) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (nt > p->n) nt = p->n;
    share_job job, *j = &job;
    j->fn = fn;
    j->ctx = ctx;
    j->n = n;
    j->unit = align;
    while ((n + j->unit - 1) / j->unit > SHARE_MAX_UNITS) j->unit *= 2;
    j->units = (n + j->unit - 1) / j->unit;
    if (nt > j->units) nt = (int)j->units;
    j->nt = nt;
    for (int k = 0; k < nt; k++) {
        const int64_t len = share_first_unit(j, k + 1) - share_first_unit(j, k);
        qtk_atomic_store(&j->state[k], (int)(len << 16));
    }
    qtk_pool_run(p, nt, share_task, j);
}

/* ---- the process-wide pool and qtk_parallel_for ------------------------------ */

static qtk_pool *g_pool;                  /* guarded by g_pool_busy         */
static qtk_atomic_int g_pool_busy;

qtk_pool *qtk_pool_global_acquire(int want_threads) {
    if (!qtk_atomic_cas(&g_pool_busy, 0, 1)) return NULL;
    if (want_threads > MAX_POOL_THREADS) want_threads = MAX_POOL_THREADS;
    if (!g_pool || g_pool->n < want_threads) {
        int n = QTK_MAX(want_threads, qtk_cpu_count());
        qtk_pool *np = NULL;
        if (qtk_pool_create(n, &np, NULL) == QTK_OK) {
            qtk_pool_free(g_pool);
            g_pool = np;
        }
    }
    if (!g_pool) {
        qtk_atomic_store(&g_pool_busy, 0);
        return NULL;
    }
    return g_pool;
}

void qtk_pool_global_release(qtk_pool *p) {
    if (p && p == g_pool) qtk_atomic_store(&g_pool_busy, 0);
}

/* Fallback when the global pool is busy: a thread per range, as before. */
typedef struct spawn_job {
    qtk_range_fn fn;
    void *ctx;
    int64_t begin, end;
    int index;
    thread_start start;
    os_thread thread;
    bool started;
} spawn_job;

static void spawn_main(void *arg) {
    spawn_job *j = (spawn_job *)arg;
    j->fn(j->ctx, j->begin, j->end, j->index);
}

static void parallel_for_spawn(int nthreads, int64_t n, qtk_range_fn fn, void *ctx) {
    spawn_job *jobs = (spawn_job *)calloc((size_t)nthreads, sizeof *jobs);
    if (!jobs) {
        fn(ctx, 0, n, 0);
        return;
    }
    for (int i = 0; i < nthreads; i++) {
        jobs[i].fn = fn;
        jobs[i].ctx = ctx;
        jobs[i].begin = n * i / nthreads;
        jobs[i].end = n * (i + 1) / nthreads;
        jobs[i].index = i;
        jobs[i].start.fn = spawn_main;
        jobs[i].start.arg = &jobs[i];
    }
    for (int i = 1; i < nthreads; i++) jobs[i].started = thread_create(&jobs[i].thread, &jobs[i].start);
    fn(ctx, jobs[0].begin, jobs[0].end, 0);
    for (int i = 1; i < nthreads; i++) {
        if (jobs[i].started) thread_join(jobs[i].thread);
        else fn(ctx, jobs[i].begin, jobs[i].end, i);   /* could not start a thread: do its share here */
    }
    free(jobs);
}

void qtk_parallel_for_dynamic(int nthreads, int64_t n, int64_t chunk, qtk_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_POOL_THREADS) nthreads = MAX_POOL_THREADS;
    if ((n + chunk - 1) / chunk < nthreads) nthreads = (int)((n + chunk - 1) / chunk);
    if (nthreads == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    qtk_pool *p = qtk_pool_global_acquire(nthreads);
    if (p && p->n >= nthreads) {
        qtk_pool_for_dynamic(p, nthreads, n, chunk, fn, ctx);
        qtk_pool_global_release(p);
        return;
    }
    qtk_pool_global_release(p);
    parallel_for_spawn(nthreads, n, fn, ctx);
}

void qtk_parallel_for(int nthreads, int64_t n, qtk_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > n) nthreads = (int)n;
    if (nthreads > MAX_POOL_THREADS) nthreads = MAX_POOL_THREADS;
    if (nthreads == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    qtk_pool *p = qtk_pool_global_acquire(nthreads);
    if (p && p->n >= nthreads) {
        qtk_pool_for(p, nthreads, n, 1, fn, ctx);
        qtk_pool_global_release(p);
        return;
    }
    qtk_pool_global_release(p);
    parallel_for_spawn(nthreads, n, fn, ctx);
}
