/*
 * threadpool.h — persistent worker threads, one-time initialisation and the
 * atomics they need (internal). All thread and atomic platform code lives in
 * threadpool.c.
 *
 * A pool has n threads: the caller of qtk_pool_run is thread 0 and n-1
 * workers are created once, at qtk_pool_create. A dispatch wakes the workers
 * (they spin on a generation counter for a bounded time after each job, so
 * back-to-back dispatches cost well under a microsecond, then sleep on a
 * condition variable), runs fn on every thread, and returns when all are
 * done. One dispatch at a time per pool: callers of one pool must not call
 * qtk_pool_run concurrently or from inside a job.
 */
#ifndef QTK_THREADPOOL_H
#define QTK_THREADPOOL_H

#include "qtk_internal.h"

typedef struct qtk_pool qtk_pool;

/* Job of one thread: ti in [0, nt). */
typedef void (*qtk_task_fn)(void *ctx, int ti, int nt);

/* Creates a pool of n_threads (>= 1; the caller counts as one). Fewer
 * workers than asked are kept when the OS refuses to start more: check
 * qtk_pool_size. */
qtk_status qtk_pool_create(int n_threads, qtk_pool **out, qtk_error *err);
/* Stops and joins the workers (NULL accepted). */
void qtk_pool_free(qtk_pool *p);
/* Threads of the pool, caller included. */
int qtk_pool_size(const qtk_pool *p);

/* Runs the nt tasks fn(ctx, k, nt), k = 0..nt-1 (nt capped at the pool size),
 * each exactly once, and returns when all are done. Tasks are claimed by
 * whichever threads are ready, the caller included, so one thread may run
 * several in turn: a task must not wait for another task. Per-task scratch
 * indexed by k is never used by two threads at once. p may be NULL: runs
 * fn(ctx, 0, 1). */
void qtk_pool_run(qtk_pool *p, int nt, qtk_task_fn fn, void *ctx);

/* Static contiguous split of [0, n) into nt shares: share k is
 * [n*k/nt, n*(k+1)/nt), both ends rounded down to a multiple of `align`
 * (>= 1) except n itself; fn's thread_index is the share index k. */
void qtk_pool_for(qtk_pool *p, int nt, int64_t n, int64_t align, qtk_range_fn fn, void *ctx);

/* Dynamic split: chunks of `chunk` items handed out from a shared counter,
 * so uneven work balances. fn gets [begin, end) of one chunk at a time. */
void qtk_pool_for_dynamic(qtk_pool *p, int nt, int64_t n, int64_t chunk, qtk_range_fn fn, void *ctx);

/* The static split's shares, each run by its thread front to back (fn's
 * thread_index is the running task's index, as for qtk_pool_for), with the
 * idle threads taking what is left of the others' shares from their backs in
 * pieces of whole `align` units: contiguous streams per thread, yet the
 * threads end together on cores of unequal speed (busy SMT siblings, a
 * shared host, hybrid CPUs). Which thread runs which piece varies from run to
 * run; fn must compute the same for any split of [0, n) into `align`-aligned
 * ranges. */
void qtk_pool_for_shares(qtk_pool *p, int nt, int64_t n, int64_t align, qtk_range_fn fn, void *ctx);

/* The process-wide pool behind qtk_parallel_for (created on first use, sized
 * to the CPU count; grown when a caller asks for more threads). NULL when it
 * is busy (another thread is dispatching, or called from inside one of its
 * jobs) or could not be created: callers then fall back to their own threads. */
qtk_pool *qtk_pool_global_acquire(int want_threads);
void qtk_pool_global_release(qtk_pool *p);

/* ---- atomics ------------------------------------------------------------ */

#if defined(_MSC_VER) && !defined(__clang__)
/* MSVC's C mode has no <stdatomic.h> without /experimental:c11atomics. */
typedef volatile long qtk_atomic_int;
#else
#include <stdatomic.h>
typedef atomic_int qtk_atomic_int;
#endif
/* Sequentially consistent load / store / add (returns the old value) / CAS. */
int qtk_atomic_load(qtk_atomic_int *a);
void qtk_atomic_store(qtk_atomic_int *a, int v);
int qtk_atomic_add(qtk_atomic_int *a, int v);
bool qtk_atomic_cas(qtk_atomic_int *a, int expected, int desired);
/* CPU hint inside spin loops (pause / yield). */
void qtk_cpu_relax(void);
/* Gives up the rest of the time slice. */
void qtk_thread_yield(void);

/* ---- one-time initialisation -------------------------------------------- */

/* Runs fn exactly once per flag across all threads; every caller returns
 * after it has completed (a CAS on a state word; C11 atomics are
 * sequentially consistent, so what fn wrote is visible to every caller). */
typedef struct qtk_once {
    qtk_atomic_int state;              /* 0 new, 1 running, 2 done */
} qtk_once;
#define QTK_ONCE_INIT {0}
void qtk_call_once(qtk_once *flag, void (*fn)(void));

#endif
