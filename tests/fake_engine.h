/* fake_engine.h - the scripted engine of the protocol adapters' unit tests
 * (test_openai, test_anthropic, test_responses, test_ollama): submissions
 * are recorded in F.q (at most FAKE_MAXQ, default 8) and never run; a test
 * drives a request by calling F.q[i].cb with the events it wants. CORE is a
 * request core over it. Header-only on purpose: REQUIRE counts into the
 * including file's own test.h counters. Include after test.h and the
 * server headers. */
#ifndef PG_TEST_FAKE_ENGINE_H
#define PG_TEST_FAKE_ENGINE_H

#ifndef FAKE_MAXQ
#define FAKE_MAXQ 8
#endif

typedef struct fake {
    int n_sub;
    pg_request q[FAKE_MAXQ];
} fake;
static int64_t fake_submit(void *ctx, const pg_request *q, pg_error *err) {
    fake *f = ctx;
    (void)err;
    REQUIRE(f->n_sub < FAKE_MAXQ);
    f->q[f->n_sub++] = *q;
    return f->n_sub;
}
static void fake_cancel(void *ctx, int64_t id) {
    (void)ctx;
    (void)id;
}

static fake F;
static srv_core CORE = {{fake_submit, fake_cancel, &F, NULL}, NULL, NULL};

#endif
