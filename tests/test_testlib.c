/*
 * test_testlib.c — the harness itself: tl_finish must report SKIP (77) when
 * no check ran (a test that silently verified nothing must not PASS), 1 when
 * a check failed and 0 only when checks ran and all passed; tl_skip returns
 * 77. The counters are saved and restored around each probe.
 */
#include "testlib.h"

static int finish_with(long checks, long failures) {
    long c = tl_checks, f = tl_failures;
    tl_checks = checks;
    tl_failures = failures;
    int rc = tl_finish("  (probe)");
    tl_checks = c;
    tl_failures = f;
    return rc;
}

int main(void) {
    int rc = finish_with(0, 0);
    CHECK(rc == TL_SKIP, "tl_finish with 0 checks returned %d, want %d (SKIP)", rc, TL_SKIP);
    rc = finish_with(3, 0);
    CHECK(rc == 0, "tl_finish with 3 passing checks returned %d", rc);
    rc = finish_with(3, 1);
    CHECK(rc == 1, "tl_finish with a failed check returned %d", rc);
    rc = tl_skip("  (probe)", "probe");
    CHECK(rc == TL_SKIP, "tl_skip returned %d", rc);
    /* CHECK counts and records */
    long c0 = tl_checks, f0 = tl_failures;
    CHECK(1, "never");
    int counted = tl_checks == c0 + 1 && tl_failures == f0;
    CHECK(counted, "CHECK(1) did not count as one passing check");
    return tl_finish("test_testlib");
}
