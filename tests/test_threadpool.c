/*
 * test_threadpool.c — the persistent pool (src/core/threadpool.c) under
 * stress: many tiny dispatches back to back (workers hot), dispatches after
 * the workers went to sleep, uneven and aligned static splits, dynamic
 * chunks, shares with stealing (a slow thread's share finished by the
 * others, each thread index used by one thread at a time), fewer threads than the pool, create/destroy loops, the global
 * pool behind qtk_parallel_for (nested and concurrent callers fall back to
 * their own threads), and qtk_call_once from racing threads. Every check
 * counts exactly which items ran how often, so a lost wake-up, a double
 * run or a missed item fails. Runs under ThreadSanitizer in CI
 * (QTK_SANITIZE_THREAD), which checks the dispatch protocol for races.
 */
#include "testlib.h"
#include "core/threadpool.h"

#include <stdlib.h>

#define MAX_ITEMS 4096

/* Split sizes of the static, dynamic and shared splits: tiny, odd, aligned, up to MAX_ITEMS. */
static const int64_t g_sizes[] = {1, 2, 3, 5, 16, 17, 31, 100, 1000, 4095, 4096};

typedef struct cover {
    qtk_atomic_int hits[MAX_ITEMS];
    qtk_atomic_int calls_by_thread[64];
    int64_t align;
    qtk_atomic_int misaligned;
} cover;

static void cover_reset(cover *c) {
    for (int i = 0; i < MAX_ITEMS; i++) qtk_atomic_store(&c->hits[i], 0);
    for (int i = 0; i < 64; i++) qtk_atomic_store(&c->calls_by_thread[i], 0);
    qtk_atomic_store(&c->misaligned, 0);
    c->align = 1;
}

static void cover_range(void *ctx, int64_t b, int64_t e, int ti) {
    cover *c = (cover *)ctx;
    if (b % c->align != 0) qtk_atomic_add(&c->misaligned, 1);
    for (int64_t i = b; i < e; i++) qtk_atomic_add(&c->hits[i], 1);
    if (ti >= 0 && ti < 64) qtk_atomic_add(&c->calls_by_thread[ti], 1);
}

/* Every item in [0, n) exactly once, none beyond. */
static int all_once(cover *c, int64_t n) {
    for (int64_t i = 0; i < MAX_ITEMS; i++)
        if (qtk_atomic_load(&c->hits[i]) != (i < n ? 1 : 0)) return 0;
    return 1;
}

typedef struct task_count {
    qtk_atomic_int ran[64];
    qtk_atomic_int bad_nt;
    int expect_nt;
} task_count;

static void count_task(void *ctx, int ti, int nt) {
    task_count *t = (task_count *)ctx;
    if (nt != t->expect_nt) qtk_atomic_add(&t->bad_nt, 1);
    qtk_atomic_add(&t->ran[ti], 1);
}

static void sleep_ms(int ms) {
    double t0 = qtk_time_now();
    while (qtk_time_now() - t0 < ms * 1e-3) qtk_thread_yield();
}

static void test_run_counts(void) {
    qtk_pool *p = NULL;
    qtk_error err;
    CHECK(qtk_pool_create(4, &p, &err) == QTK_OK, "create: %s", err.msg);
    if (!p) return;
    CHECK(qtk_pool_size(p) == 4, "pool size %d, want 4", qtk_pool_size(p));
    task_count t;
    for (int nt = 1; nt <= 6; nt++) {
        memset(&t, 0, sizeof t);
        const int eff = nt > 4 ? 4 : nt;
        t.expect_nt = eff;
        /* 2000 back-to-back dispatches: workers stay hot and spin */
        for (int k = 0; k < 2000; k++) qtk_pool_run(p, nt, count_task, &t);
        int ok = 1;
        for (int i = 0; i < 64; i++) ok &= qtk_atomic_load(&t.ran[i]) == (i < eff ? 2000 : 0);
        CHECK(ok, "nt=%d: some thread index ran a wrong number of times", nt);
        CHECK(qtk_atomic_load(&t.bad_nt) == 0, "nt=%d: job saw a wrong thread count", nt);
    }
    /* dispatches after the workers fell asleep (their spin limit is < 1 ms) */
    memset(&t, 0, sizeof t);
    t.expect_nt = 4;
    for (int k = 0; k < 5; k++) {
        sleep_ms(20);
        qtk_pool_run(p, 4, count_task, &t);
    }
    int ok = 1;
    for (int i = 0; i < 4; i++) ok &= qtk_atomic_load(&t.ran[i]) == 5;
    CHECK(ok, "dispatch to sleeping workers lost a wake-up");
    qtk_pool_free(p);
}

/* Workers really run tasks: tasks that take a few milliseconds overlap in
 * time (the caller alone would run them one after the other). */
static qtk_atomic_int g_inside, g_max_inside;
static void slow_task(void *ctx, int ti, int nt) {
    (void)ctx;
    (void)ti;
    (void)nt;
    const int now = qtk_atomic_add(&g_inside, 1) + 1;
    int m = qtk_atomic_load(&g_max_inside);
    while (now > m && !qtk_atomic_cas(&g_max_inside, m, now)) m = qtk_atomic_load(&g_max_inside);
    sleep_ms(3);
    qtk_atomic_add(&g_inside, -1);
}

static void test_workers_participate(void) {
    qtk_pool *p = NULL;
    CHECK(qtk_pool_create(2, &p, NULL) == QTK_OK, "create");
    if (!p) return;
    for (int k = 0; k < 50 && qtk_atomic_load(&g_max_inside) < 2; k++) qtk_pool_run(p, 2, slow_task, NULL);
    CHECK(qtk_atomic_load(&g_max_inside) >= 2, "no worker ever ran a task next to the caller");
    qtk_pool_free(p);
}

static void test_splits(void) {
    qtk_pool *p = NULL;
    CHECK(qtk_pool_create(3, &p, NULL) == QTK_OK, "create");
    if (!p) return;
    static cover c;
    for (size_t s = 0; s < sizeof g_sizes / sizeof g_sizes[0]; s++) {
        const int64_t n = g_sizes[s];
        for (int nt = 1; nt <= 4; nt++) {
            cover_reset(&c);
            qtk_pool_for(p, nt, n, 1, cover_range, &c);
            CHECK(all_once(&c, n), "static split n=%lld nt=%d", (long long)n, nt);
            /* ranges aligned to 16 items: every range but the first starts on a multiple */
            cover_reset(&c);
            c.align = 16;
            qtk_pool_for(p, nt, n, 16, cover_range, &c);
            CHECK(all_once(&c, n), "aligned split n=%lld nt=%d", (long long)n, nt);
            CHECK(qtk_atomic_load(&c.misaligned) == 0, "aligned split n=%lld nt=%d: a range starts off 16", (long long)n, nt);
            for (int64_t chunk = 1; chunk <= 64; chunk *= 4) {
                cover_reset(&c);
                qtk_pool_for_dynamic(p, nt, n, chunk, cover_range, &c);
                CHECK(all_once(&c, n), "dynamic n=%lld nt=%d chunk=%lld", (long long)n, nt, (long long)chunk);
            }
        }
    }
    /* n = 0 runs nothing */
    cover_reset(&c);
    qtk_pool_for(p, 3, 0, 1, cover_range, &c);
    qtk_pool_for_dynamic(p, 3, 0, 4, cover_range, &c);
    CHECK(all_once(&c, 0), "n=0 ran items");
    /* a NULL pool runs everything on the caller */
    cover_reset(&c);
    qtk_pool_for(NULL, 8, 100, 1, cover_range, &c);
    CHECK(all_once(&c, 100) && qtk_atomic_load(&c.calls_by_thread[0]) == 1, "NULL pool");
    qtk_pool_free(p);
}

static void big_range(void *ctx, int64_t b, int64_t e, int ti) {
    qtk_atomic_int *hits = (qtk_atomic_int *)ctx;
    (void)ti;
    for (int64_t i = b; i < e; i++) qtk_atomic_add(&hits[i], 1);
}

/* Shares with stealing: who ran each item, and each thread index in use by one thread at a time. */
typedef struct steal_check {
    cover c;
    qtk_atomic_int ran_by[MAX_ITEMS];
    qtk_atomic_int inside[64];
    qtk_atomic_int shared_ti;
    double slow_s; /* per item, for thread index 0 */
} steal_check;

static void steal_range(void *ctx, int64_t b, int64_t e, int ti) {
    steal_check *s = (steal_check *)ctx;
    if (qtk_atomic_add(&s->inside[ti], 1) != 0) qtk_atomic_add(&s->shared_ti, 1);
    for (int64_t i = b; i < e; i++) {
        qtk_atomic_store(&s->ran_by[i], ti);
        if (ti == 0 && s->slow_s > 0) {
            const double t0 = qtk_time_now();
            while (qtk_time_now() - t0 < s->slow_s) qtk_cpu_relax();
        }
    }
    qtk_atomic_add(&s->inside[ti], -1);
    cover_range(&s->c, b, e, ti);
}

static void steal_reset(steal_check *s, int64_t align, double slow_s) {
    cover_reset(&s->c);
    s->c.align = align;
    for (int i = 0; i < MAX_ITEMS; i++) qtk_atomic_store(&s->ran_by[i], -1);
    for (int i = 0; i < 64; i++) qtk_atomic_store(&s->inside[i], 0);
    qtk_atomic_store(&s->shared_ti, 0);
    s->slow_s = slow_s;
}

static void test_shares(void) {
    qtk_pool *p = NULL;
    CHECK(qtk_pool_create(3, &p, NULL) == QTK_OK, "create");
    if (!p) return;
    static steal_check s;
    for (size_t k = 0; k < sizeof g_sizes / sizeof g_sizes[0]; k++) {
        const int64_t n = g_sizes[k];
        for (int nt = 1; nt <= 4; nt++)
            for (int64_t align = 1; align <= 16; align += 15) {
                steal_reset(&s, align, 0);
                qtk_pool_for_shares(p, nt, n, align, steal_range, &s);
                CHECK(all_once(&s.c, n), "shares n=%lld nt=%d align=%lld", (long long)n, nt, (long long)align);
                CHECK(qtk_atomic_load(&s.c.misaligned) == 0, "shares n=%lld nt=%d: a range starts off %lld",
                      (long long)n, nt, (long long)align);
                CHECK(qtk_atomic_load(&s.shared_ti) == 0, "shares n=%lld nt=%d: a thread index ran on two threads",
                      (long long)n, nt);
            }
    }
    /* thread index 0 slow (20 us per item): the others take the end of its share
     * [0, 333) from the back; the rest of every share still runs exactly once */
    int stolen = 0;
    for (int rep = 0; rep < 5 && !stolen; rep++) {
        steal_reset(&s, 1, 20e-6);
        qtk_pool_for_shares(p, 3, 1000, 1, steal_range, &s);
        CHECK(all_once(&s.c, 1000), "shares with a slow thread: items missed or repeated");
        CHECK(qtk_atomic_load(&s.shared_ti) == 0, "shares with a slow thread: a thread index ran on two threads");
        for (int i = 0; i < 333; i++) stolen |= qtk_atomic_load(&s.ran_by[i]) > 0;
    }
    CHECK(stolen, "no thread took items of the slow thread's share");
    /* more units than a state word holds (32767): the unit grows, still every item once */
    {
        enum { BIG = 1 << 20 };
        static qtk_atomic_int big_hits[BIG];
        for (int64_t i = 0; i < BIG; i++) qtk_atomic_store(&big_hits[i], 0);
        qtk_pool_for_shares(p, 3, BIG, 1, big_range, big_hits);
        int64_t bad = 0;
        for (int64_t i = 0; i < BIG; i++) bad += qtk_atomic_load(&big_hits[i]) != 1;
        CHECK(bad == 0, "shares over %d items: %lld items not run exactly once", BIG, (long long)bad);
    }
    steal_reset(&s, 16, 0); /* a NULL pool: all on the caller, in one call */
    qtk_pool_for_shares(NULL, 4, 100, 16, steal_range, &s);
    CHECK(all_once(&s.c, 100) && qtk_atomic_load(&s.c.calls_by_thread[0]) == 1, "shares on a NULL pool");
    qtk_pool_free(p);
}

static void test_create_destroy(void) {
    int ok = 1;
    for (int k = 0; k < 200; k++) {
        qtk_pool *p = NULL;
        if (qtk_pool_create(1 + k % 5, &p, NULL) != QTK_OK) {
            ok = 0;
            break;
        }
        task_count t;
        memset(&t, 0, sizeof t);
        t.expect_nt = qtk_pool_size(p);
        if (k % 2) qtk_pool_run(p, qtk_pool_size(p), count_task, &t);   /* half destroyed unused */
        qtk_pool_free(p);
        for (int i = 0; i < t.expect_nt && (k % 2); i++) ok &= qtk_atomic_load(&t.ran[i]) == 1;
    }
    CHECK(ok, "create/run/destroy loop");
    qtk_pool_free(NULL);
}

/* qtk_parallel_for called from inside a qtk_parallel_for job must not
 * deadlock on the (busy) global pool, and must still cover its items. */
static cover g_inner[4];
static void nested_outer(void *ctx, int64_t b, int64_t e, int ti) {
    (void)ctx;
    (void)ti;
    for (int64_t i = b; i < e; i++) qtk_parallel_for(3, 300, cover_range, &g_inner[i]);
}

static void test_global_pool(void) {
    static cover c;
    for (int k = 0; k < 300; k++) {
        cover_reset(&c);
        qtk_parallel_for(1 + k % 4, 1 + k % 97, cover_range, &c);
        if (!all_once(&c, 1 + k % 97)) {
            CHECK(0, "qtk_parallel_for round %d missed or repeated items", k);
            break;
        }
    }
    for (int i = 0; i < 4; i++) cover_reset(&g_inner[i]);
    qtk_parallel_for(4, 4, nested_outer, NULL);
    int ok = 1;
    for (int i = 0; i < 4; i++) ok &= all_once(&g_inner[i], 300);
    CHECK(ok, "nested qtk_parallel_for");
}

static qtk_once g_once = QTK_ONCE_INIT;
static qtk_atomic_int g_once_runs;
static int g_once_value;
static void once_fn(void) {
    sleep_ms(5);   /* keep the others waiting inside qtk_call_once */
    g_once_value = 42;
    qtk_atomic_add(&g_once_runs, 1);
}
static qtk_atomic_int g_once_seen_bad;
static void once_task(void *ctx, int ti, int nt) {
    (void)ctx;
    (void)ti;
    (void)nt;
    qtk_call_once(&g_once, once_fn);
    if (g_once_value != 42) qtk_atomic_add(&g_once_seen_bad, 1);
}

static void test_call_once(void) {
    qtk_pool *p = NULL;
    CHECK(qtk_pool_create(4, &p, NULL) == QTK_OK, "create");
    qtk_pool_run(p, 4, once_task, NULL);
    CHECK(qtk_atomic_load(&g_once_runs) == 1, "once function ran %d times", qtk_atomic_load(&g_once_runs));
    CHECK(qtk_atomic_load(&g_once_seen_bad) == 0, "a caller returned before the once function finished");
    /* the lazily initialised tables, hit from 4 threads at once */
    qtk_pool_run(p, 4, once_task, NULL);
    CHECK(qtk_atomic_load(&g_once_runs) == 1, "once function ran again");
    qtk_pool_free(p);
}

int main(void) {
    test_run_counts();
    test_workers_participate();
    test_splits();
    test_shares();
    test_create_destroy();
    test_global_pool();
    test_call_once();
    return tl_finish("test_threadpool");
}
