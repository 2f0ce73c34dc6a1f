/* test_request.c - the request core (server/request.h) driven by a fake
 * engine: submissions and their parameters, the event queue (tokens, text,
 * top alternatives, ends), wake-ups (every event when streaming, once at
 * the end otherwise), consume and reuse, usage sums, a submit refused
 * half-way (earlier prompts cancelled, references balanced), deadlines
 * before and after the first token, engine errors, detach (no wake-up
 * after, running work cancelled, the request freed by its last event),
 * metrics, backpressure (a stream's submissions paused past its unsent
 * bound, resumed when the consumer drained), and the invariant checker
 * after every step. Run under ASan
 * (make debug) it also proves that no path leaks or touches freed memory. */
#include "test.h"

#include "server/request.h"
#include "server/util.h"

#define MAXQ 16

typedef struct fake {
    int n_sub;
    pg_request q[MAXQ];
    int32_t prompt0[MAXQ]; /* first prompt token of each */
    int64_t next_id;
    int fail_at;           /* submission index refused with PG_EBUSY (-1 none) */
    int n_cancel;
    int64_t cancelled[MAXQ];
    int paused[MAXQ + 1];  /* by engine id: the last pause state asked for */
    int n_pause_calls;
} fake;

static int64_t fake_submit(void *ctx, const pg_request *q, pg_error *err) {
    fake *f = ctx;
    if (f->n_sub == f->fail_at) {
        f->fail_at = -1;
        return pg_error_set(err, PG_EBUSY, "queue full");
    }
    REQUIRE(f->n_sub < MAXQ);
    f->q[f->n_sub] = *q;
    f->prompt0[f->n_sub] = q->n_prompt ? q->prompt[0] : -1;
    f->n_sub++;
    return ++f->next_id;
}

static void fake_cancel(void *ctx, int64_t id) {
    fake *f = ctx;
    if (f->n_cancel < MAXQ) f->cancelled[f->n_cancel++] = id;
}

static void fake_pause(void *ctx, int64_t id, int on) {
    fake *f = ctx;
    REQUIRE(id > 0 && id <= MAXQ);
    CHECKF(f->paused[id] != on, "pause(%lld, %d) repeated", (long long)id, on);
    f->paused[id] = on;
    f->n_pause_calls++;
}

static int wakes;
static void on_wake(void *arg) {
    (void)arg;
    wakes++;
}

static void check_inv(srv_req *r) {
    char msg[256];
    srv_req_lock(r);
    int rc = srv_req_check(r, msg, sizeof msg);
    srv_req_unlock(r);
    CHECKF(rc == 0, "%s", msg);
}

/* events of submission k */
static void ev_token(fake *f, int k, int32_t index, int32_t tok, const char *text, const pg_sample_out *so) {
    pg_engine_event e = {.type = PG_EV_TOKEN, .index = index, .token = tok, .text = text,
                         .text_len = text ? strlen(text) : 0, .sample = so};
    f->q[k].cb(&e, f->q[k].user);
}
static void ev_done(fake *f, int k, int32_t index, int finish, const char *text, const pg_engine_usage *u, int last) {
    pg_engine_event e = {.type = PG_EV_DONE, .index = index, .finish_reason = finish, .text = text,
                         .text_len = text ? strlen(text) : 0, .usage = u, .last = last};
    f->q[k].cb(&e, f->q[k].user);
}

static srv_req *make_req(const srv_core *core, int n_prompts, int n, int stream, int keep_top) {
    srv_req *r = srv_req_create(core);
    REQUIRE(r != NULL);
    srv_gen *g = srv_req_gen(r);
    g->base.sampling = pg_sampling_params_default();
    g->base.n = n;
    g->base.timeout_s = 7;
    g->stream = stream;
    g->keep_top = keep_top;
    g->n_prompts = n_prompts;
    g->prompts = pg_arena_calloc(srv_req_arena(r), (size_t)n_prompts, sizeof *g->prompts);
    REQUIRE(g->prompts != NULL);
    for (int i = 0; i < n_prompts; i++) {
        int32_t *ids = pg_arena_alloc(srv_req_arena(r), 3 * sizeof *ids);
        ids[0] = 100 + i;
        ids[1] = 5;
        ids[2] = 6;
        g->prompts[i] = (srv_prompt){ids, 3, 4 + i};
    }
    srv_req_set_wake(r, on_wake, NULL);
    return r;
}

static void test_whole(void) {
    fake f = {.fail_at = -1};
    srv_metrics m;
    srv_metrics_init(&m);
    srv_core core = {{fake_submit, fake_cancel, &f, fake_pause}, &m, NULL};
    srv_req *r = make_req(&core, 2, 2, 0, 0);
    srv_req_set_protocol(r, SRV_PROTO_ANTHROPIC);
    pg_error err = {0};
    wakes = 0;
    REQUIRE(srv_req_submit(r, &err) == 0);
    CHECK(f.n_sub == 2);
    CHECK(f.q[0].n == 2 && f.q[0].max_tokens == 4 && f.q[1].max_tokens == 5 && f.q[0].n_prompt == 3);
    CHECK(f.prompt0[0] == 100 && f.prompt0[1] == 101 && f.q[1].timeout_s == 7);
    check_inv(r);
    ev_token(&f, 0, 0, 10, "He", NULL);
    ev_token(&f, 1, 1, 11, "Wo", NULL);
    ev_token(&f, 0, 1, 12, "", NULL);
    pg_engine_usage u0 = {.prompt_tokens = 3, .completion_tokens = 2, .cached_tokens = 1, .queue_s = 0.5, .ttft_s = 0.7};
    pg_engine_usage u1 = {.prompt_tokens = 3, .completion_tokens = 1, .cached_tokens = 2};
    ev_done(&f, 0, 0, PG_FINISH_LENGTH, "llo", &u0, 0);
    ev_done(&f, 0, 1, PG_FINISH_STOP, NULL, &u1, 1);
    CHECK(wakes == 0); /* prompt 1 still runs */
    srv_req_lock(r);
    CHECK(!srv_req_done(r) && srv_req_running(r) == 1);
    srv_req_unlock(r);
    check_inv(r);
    ev_done(&f, 1, 0, PG_FINISH_STOP, "", &u1, 0);
    ev_done(&f, 1, 1, PG_FINISH_CANCELLED, "rld", &u1, 1);
    CHECK(wakes == 1);
    srv_req_lock(r);
    CHECK(srv_req_done(r) && srv_req_running(r) == 0);
    srv_events v;
    srv_req_events(r, &v);
    CHECK(v.n == 7);
    /* choices: prompt * n + index */
    CHECK(v.ev[0].choice == 0 && v.ev[0].token == 10 && v.ev[0].text_len == 2 && !memcmp(v.text + v.ev[0].text_off, "He", 2));
    CHECK(v.ev[1].choice == 3 && v.ev[1].token == 11);
    CHECK(v.ev[2].choice == 1 && v.ev[2].text_len == 0);
    CHECK(v.ev[3].choice == 0 && v.ev[3].token == -1 && v.ev[3].finish == PG_FINISH_LENGTH &&
          !memcmp(v.text + v.ev[3].text_off, "llo", 3));
    CHECK(v.ev[6].choice == 3 && v.ev[6].finish == PG_FINISH_CANCELLED);
    srv_usage us;
    srv_req_usage(r, &us);
    CHECK(us.prompt_tokens == 6 && us.completion_tokens == 2 + 1 + 1 + 1);
    CHECK(us.cached_tokens == 2 + 2); /* max per prompt, summed */
    CHECK(us.has_first && us.queue_s == 0.5 && us.ttft_s == 0.7);
    CHECK(us.first_finish == PG_FINISH_LENGTH && us.n_prompts == 2 && us.n_finished == 2);
    CHECK(srv_req_error(r, NULL) == 0);
    srv_req_unlock(r);
    check_inv(r);
    srv_pmetrics *pm = &m.p[SRV_PROTO_ANTHROPIC]; /* srv_req_set_protocol above */
    CHECK(atomic_load(&pm->finished[FIN_LENGTH]) == 1 && atomic_load(&pm->finished[FIN_STOP]) == 2 &&
          atomic_load(&pm->finished[FIN_ABORT]) == 1);
    CHECK(pm->h[H_TTFT].count == 4 && pm->h[H_E2E].count == 4);
    CHECK(pm->h[H_ITL].count == 0); /* one token per choice at most here */
    CHECK(m.p[SRV_PROTO_OPENAI].h[H_TTFT].count == 0 && atomic_load(&m.p[SRV_PROTO_OPENAI].finished[FIN_STOP]) == 0);
    CHECK(f.n_cancel == 0);
    srv_req_unref(r);
    srv_metrics_free(&m);
}

static void test_stream(void) {
    fake f = {.fail_at = -1};
    srv_core core = {{fake_submit, fake_cancel, &f, fake_pause}, NULL, NULL};
    srv_req *r = make_req(&core, 1, 1, 1, 1);
    pg_error err = {0};
    wakes = 0;
    REQUIRE(srv_req_submit(r, &err) == 0);
    pg_sample_out so = {.token = 9, .logprob = -0.25f, .n_top = 2, .top_id = {9, 4}, .top_logprob = {-0.25f, -2.0f}};
    /* many rounds of token + consume: the queue is emptied and reused */
    for (int round = 0; round < 500; round++) {
        ev_token(&f, 0, 0, 9, "ab", &so);
        ev_token(&f, 0, 0, 9, "c", &so);
        CHECK(wakes == 2 * round + 2);
        srv_req_lock(r);
        srv_events v;
        srv_req_events(r, &v);
        CHECK(v.n == 2 && v.ev[0].n_top == 2 && v.top_id[v.ev[1].top_off + 1] == 4 &&
              v.top_lp[v.ev[1].top_off] == -0.25f && v.ev[0].logprob == -0.25f);
        CHECK(v.ev[1].text_off == 2 && v.text[2] == 'c');
        srv_req_consume(r);
        srv_req_events(r, &v);
        CHECK(v.n == 0);
        srv_req_unlock(r);
    }
    check_inv(r);
    /* a backlog larger than the preallocated queue grows it */
    for (int i = 0; i < 300; i++) ev_token(&f, 0, 0, 9, "xyz", &so);
    srv_req_lock(r);
    srv_events v;
    srv_req_events(r, &v);
    CHECK(v.n == 300 && v.ev[299].text_off == 897 && v.ev[299].top_off == 598);
    srv_req_unlock(r);
    check_inv(r);
    pg_engine_usage u = {.completion_tokens = 1300};
    ev_done(&f, 0, 0, PG_FINISH_STOP, NULL, &u, 1);
    srv_req_lock(r);
    CHECK(srv_req_done(r));
    srv_req_unlock(r);
    srv_req_unref(r);
}

static void test_submit_refused(void) {
    fake f = {.fail_at = 2};
    srv_core core = {{fake_submit, fake_cancel, &f, fake_pause}, NULL, NULL};
    srv_req *r = make_req(&core, 4, 1, 0, 0);
    pg_error err = {0};
    wakes = 0;
    CHECK(srv_req_submit(r, &err) == PG_EBUSY);
    CHECK(strstr(err.msg, "queue full") != NULL);
    CHECK(f.n_sub == 2 && f.n_cancel == 2 && f.cancelled[0] == 1 && f.cancelled[1] == 2);
    check_inv(r);
    srv_req_lock(r);
    srv_usage us;
    srv_req_usage(r, &us);
    CHECK(us.n_prompts == 2 && !srv_req_done(r));
    srv_req_unlock(r);
    /* the owner leaves first; the cancelled prompts' final events free it */
    srv_req_unref(r);
    ev_done(&f, 0, 0, PG_FINISH_CANCELLED, NULL, NULL, 1);
    ev_done(&f, 1, 0, PG_FINISH_CANCELLED, NULL, NULL, 1);
}

static void test_deadline_and_errors(void) {
    fake f = {.fail_at = -1};
    srv_core core = {{fake_submit, fake_cancel, &f, fake_pause}, NULL, NULL};
    /* deadline before any token: an error, no end event */
    srv_req *r = make_req(&core, 1, 2, 0, 0);
    pg_error err = {0};
    REQUIRE(srv_req_submit(r, &err) == 0);
    pg_engine_usage none = {.completion_tokens = 0, .total_s = 7.0};
    ev_done(&f, 0, 0, PG_FINISH_TIMEOUT, NULL, &none, 0);
    pg_engine_usage some = {.completion_tokens = 1};
    ev_token(&f, 0, 1, 3, "x", NULL);
    ev_done(&f, 0, 1, PG_FINISH_TIMEOUT, NULL, &some, 1);
    srv_req_lock(r);
    const char *msg;
    CHECK(srv_req_error(r, &msg) == SRV_ETIMEOUT && strstr(msg, "timed out after 7 s"));
    CHECK(srv_status_for(SRV_ETIMEOUT) == 504);
    srv_events v;
    srv_req_events(r, &v);
    CHECK(v.n == 2 && v.ev[1].finish == PG_FINISH_TIMEOUT && v.ev[1].choice == 1);
    srv_req_unlock(r);
    check_inv(r);
    srv_req_unref(r);
    /* an engine error: the first one is kept */
    r = make_req(&core, 1, 1, 1, 0);
    REQUIRE(srv_req_submit(r, &err) == 0);
    int k = f.n_sub - 1;
    pg_engine_event e = {.type = PG_EV_ERROR, .error_code = PG_ERANGE, .error_msg = "bad things", .last = 1};
    f.q[k].cb(&e, f.q[k].user);
    srv_req_lock(r);
    CHECK(srv_req_error(r, &msg) == PG_ERANGE && !strcmp(msg, "bad things") && srv_req_done(r));
    srv_req_unlock(r);
    srv_req_unref(r);
}

static void test_detach(void) {
    fake f = {.fail_at = -1};
    srv_core core = {{fake_submit, fake_cancel, &f, fake_pause}, NULL, NULL};
    srv_req *r = make_req(&core, 2, 1, 1, 0);
    pg_error err = {0};
    REQUIRE(srv_req_submit(r, &err) == 0);
    ev_done(&f, 0, 0, PG_FINISH_STOP, NULL, NULL, 1);
    wakes = 0;
    CHECK(srv_req_detach(r) == 1); /* prompt 1 still ran */
    CHECK(f.n_cancel == 1 && f.cancelled[0] == 2);
    check_inv(r);
    srv_req_unref(r); /* the owner's reference */
    ev_token(&f, 1, 0, 1, "late", NULL);
    CHECK(wakes == 0);
    ev_done(&f, 1, 0, PG_FINISH_CANCELLED, NULL, NULL, 1); /* frees the request */
}

/* Backpressure: a stream bounded to 4 KiB of unsent output: pending events
 * past the estimate pause every running submission once; consume + resume
 * lets them go on; a finished submission is not resumed; no bound, no pause. */
static void test_backpressure(void) {
    fake f = {.fail_at = -1};
    srv_core core = {{fake_submit, fake_cancel, &f, fake_pause}, NULL, NULL};
    srv_req *r = make_req(&core, 2, 1, 1, 0);
    srv_req_set_max_unsent(r, 4096);
    pg_error e = {0};
    REQUIRE(srv_req_submit(r, &e) == 0);
    int k = 0;
    while (!f.paused[1] && k < 100) {
        ev_token(&f, k % 2, 0, 7, "hello world", NULL);
        k++;
        check_inv(r);
    }
    CHECKF(f.paused[1] && f.paused[2], "not paused after %d events", k);
    CHECK(k > 4 && k < 40); /* ~270 estimated bytes per event */
    srv_req_lock(r);
    CHECK(srv_req_paused(r));
    CHECK(srv_req_unsent(r) > 4096);
    srv_req_consume(r);
    CHECK(srv_req_unsent(r) == 0);
    CHECK(srv_req_resume(r) == 1);
    CHECK(!srv_req_paused(r) && !f.paused[1] && !f.paused[2]);
    CHECK(srv_req_resume(r) == 0);
    srv_req_unlock(r);
    int calls = f.n_pause_calls;
    ev_token(&f, 0, 0, 7, "x", NULL);
    CHECK(f.n_pause_calls == calls); /* under the bound: nothing */
    pg_engine_usage u = {.prompt_tokens = 3, .completion_tokens = 2};
    ev_done(&f, 0, 0, PG_FINISH_LENGTH, "", &u, 1);
    for (k = 0; k < 100 && !f.paused[2]; k++) ev_token(&f, 1, 0, 7, "hello world", NULL);
    CHECK(f.paused[2] && !f.paused[1]); /* the finished one is left alone */
    srv_req_lock(r);
    srv_req_consume(r);
    srv_req_resume(r);
    srv_req_unlock(r);
    CHECK(!f.paused[2]);
    ev_done(&f, 1, 0, PG_FINISH_LENGTH, "", &u, 1);
    check_inv(r);
    srv_req_unref(r);
    /* no bound: never paused */
    fake g = {.fail_at = -1};
    srv_core core2 = {{fake_submit, fake_cancel, &g, fake_pause}, NULL, NULL};
    r = make_req(&core2, 1, 1, 1, 0);
    REQUIRE(srv_req_submit(r, &e) == 0);
    for (k = 0; k < 200; k++) ev_token(&g, 0, 0, 7, "hello world", NULL);
    CHECK(g.n_pause_calls == 0);
    ev_done(&g, 0, 0, PG_FINISH_LENGTH, "", &u, 1);
    srv_req_unref(r);
}

int main(void) {
    test_whole();
    test_stream();
    test_submit_refused();
    test_deadline_and_errors();
    test_detach();
    test_backpressure();
    return t_done("test_request");
}
