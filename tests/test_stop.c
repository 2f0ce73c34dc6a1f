/* test_stop.c - stop-string matcher: fixed cases, validation, and a property
 * test (random texts, stop sets and chunkings against a direct reference). */
#include <stdint.h>
#include <string.h>

#include "sample/stop.h"
#include "test.h"

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}

/* Reference: cut at the first end position where some stop string ends;
 * among those, the earliest start. Returns emitted length; *idx the stop. */
static size_t ref_cut(const char *t, size_t n, const char *const *stops, int ns, int *idx) {
    for (size_t e = 1; e <= n; e++) {
        size_t best_start = SIZE_MAX;
        int bi = -1;
        for (int i = 0; i < ns; i++) {
            size_t L = strlen(stops[i]);
            if (L <= e && memcmp(t + e - L, stops[i], L) == 0 && e - L < best_start)
                best_start = e - L, bi = i;
        }
        if (bi >= 0) {
            *idx = bi;
            return best_start;
        }
    }
    *idx = -1;
    return n;
}

/* Feed text in the given chunk sizes; returns total output in out. */
static size_t run(pg_stop *s, const char *t, size_t n, const size_t *chunks, int nch, char *out,
                  int *stopped, int *idx) {
    char dst[4096];
    size_t o = 0, pos = 0;
    pg_stop_result r = {0, 0, -1};
    for (int c = 0; c < nch && pos < n; c++) {
        size_t len = chunks[c];
        if (len > n - pos) len = n - pos;
        int rc = pg_stop_feed(s, t + pos, len, dst, sizeof dst, &r);
        REQUIRE(rc == PG_OK);
        memcpy(out + o, dst, r.n_emit);
        o += r.n_emit;
        pos += len;
        if (r.stopped) break;
    }
    if (!r.stopped && pos < n) { /* rest in one piece */
        REQUIRE(pg_stop_feed(s, t + pos, n - pos, dst, sizeof dst, &r) == PG_OK);
        memcpy(out + o, dst, r.n_emit);
        o += r.n_emit;
    }
    size_t f = pg_stop_flush(s, dst, sizeof dst);
    CHECK(!r.stopped || f == 0);
    memcpy(out + o, dst, f);
    o += f;
    *stopped = r.stopped;
    *idx = r.stop_index;
    return o;
}

static void test_basic(void) {
    const char *stops[2] = {"###", "\nUser:"};
    pg_stop *s;
    REQUIRE(pg_stop_create(stops, 2, &s, NULL) == PG_OK);
    CHECK(pg_stop_max_len(s) == 6);
    char dst[64];
    pg_stop_result r;
    CHECK(pg_stop_feed(s, "ab#", 3, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.n_emit == 2 && memcmp(dst, "ab", 2) == 0 && !r.stopped);
    CHECK(pg_stop_held(s) == 1);
    CHECK(pg_stop_feed(s, "#", 1, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.n_emit == 0 && pg_stop_held(s) == 2);
    CHECK(pg_stop_feed(s, "x", 1, dst, sizeof dst, &r) == PG_OK); /* false alarm */
    CHECK(r.n_emit == 3 && memcmp(dst, "##x", 3) == 0);
    CHECK(pg_stop_feed(s, "hi\nUs", 5, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.n_emit == 2 && memcmp(dst, "hi", 2) == 0);
    CHECK(pg_stop_feed(s, "er: more", 8, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.stopped && r.stop_index == 1 && r.n_emit == 0);
    CHECK(pg_stop_feed(s, "zzz", 3, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.stopped && r.n_emit == 0);
    CHECK(pg_stop_flush(s, dst, sizeof dst) == 0);
    /* reset, then text without a stop: flush returns the held tail */
    pg_stop_reset(s);
    CHECK(pg_stop_feed(s, "end\n", 4, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.n_emit == 3 && pg_stop_held(s) == 1);
    CHECK(pg_stop_flush(s, dst, sizeof dst) == 1 && dst[0] == '\n');
    /* cap too small */
    pg_stop_reset(s);
    CHECK(pg_stop_feed(s, "abc", 3, dst, 8, &r) == PG_ERANGE);
    pg_stop_destroy(s);

    /* self-overlapping pattern (KMP fallback): "aab" in "aaab" */
    const char *st2[1] = {"aab"};
    REQUIRE(pg_stop_create(st2, 1, &s, NULL) == PG_OK);
    CHECK(pg_stop_feed(s, "xaaab", 5, dst, sizeof dst, &r) == PG_OK);
    CHECK(r.stopped && r.n_emit == 2 && memcmp(dst, "xa", 2) == 0);
    pg_stop_destroy(s);

    /* no stop strings: everything passes straight through */
    REQUIRE(pg_stop_create(NULL, 0, &s, NULL) == PG_OK);
    CHECK(pg_stop_feed(s, "abc", 3, dst, sizeof dst, &r) == PG_OK && r.n_emit == 3);
    pg_stop_destroy(s);

    /* UTF-8 stop string split inside a code point */
    const char *st3[1] = {"\xc3\xa9t\xc3\xa9"}; /* "été" */
    REQUIRE(pg_stop_create(st3, 1, &s, NULL) == PG_OK);
    const char *txt = "un \xc3\xa9t\xc3\xa9 chaud";
    size_t o = 0;
    char out[64];
    for (size_t i = 0; i < strlen(txt) && !r.stopped; i++) {
        CHECK(pg_stop_feed(s, txt + i, 1, dst, sizeof dst, &r) == PG_OK);
        memcpy(out + o, dst, r.n_emit);
        o += r.n_emit;
    }
    CHECK(r.stopped && o == 3 && memcmp(out, "un ", 3) == 0);
    pg_stop_destroy(s);
}

static void test_validation(void) {
    pg_stop *s = (pg_stop *)1;
    pg_error e;
    const char *many[PG_STOP_MAX_STRINGS + 1];
    for (int i = 0; i <= PG_STOP_MAX_STRINGS; i++) many[i] = "x";
    CHECK(pg_stop_create(many, PG_STOP_MAX_STRINGS + 1, &s, &e) == PG_EINVAL && s == NULL);
    CHECK(strstr(e.msg, "at most") != NULL);
    CHECK(pg_stop_create(many, PG_STOP_MAX_STRINGS, &s, &e) == PG_OK);
    pg_stop_destroy(s);
    const char *empty[2] = {"a", ""};
    CHECK(pg_stop_create(empty, 2, &s, &e) == PG_EINVAL && strstr(e.msg, "empty"));
    char longs[PG_STOP_MAX_LEN + 2];
    memset(longs, 'a', sizeof longs);
    longs[PG_STOP_MAX_LEN + 1] = 0;
    const char *lp[1] = {longs};
    CHECK(pg_stop_create(lp, 1, &s, &e) == PG_EINVAL && strstr(e.msg, "bytes"));
    longs[PG_STOP_MAX_LEN] = 0; /* exactly the limit is fine */
    CHECK(pg_stop_create(lp, 1, &s, &e) == PG_OK);
    char dst[2 * PG_STOP_MAX_LEN + 8];
    pg_stop_result r;
    /* the long stop string, fed byte by byte */
    for (int i = 0; i < PG_STOP_MAX_LEN; i++) {
        CHECK(pg_stop_feed(s, "a", 1, dst, sizeof dst, &r) == PG_OK);
        CHECK(r.n_emit == 0);
    }
    CHECK(r.stopped);
    pg_stop_destroy(s);
    CHECK(pg_stop_create(NULL, -1, &s, &e) == PG_EINVAL);
}

static void test_property(void) {
    enum { ITERS = 3000 };
    static char text[600], out[700], rtext[700];
    char stopbuf[4][8];
    const char *stops[4];
    int fails = 0;
    for (int it = 0; it < ITERS; it++) {
        int alpha = 2 + (int)(rnd() % 3); /* 'a'..: small alphabets force partial matches */
        size_t n = rnd() % 400;
        for (size_t i = 0; i < n; i++) text[i] = (char)('a' + rnd() % alpha);
        int ns = (int)(rnd() % 4); /* 0..3 stop strings */
        for (int i = 0; i < ns; i++) {
            int L = 1 + (int)(rnd() % 6);
            for (int j = 0; j < L; j++) stopbuf[i][j] = (char)('a' + rnd() % alpha);
            stopbuf[i][L] = 0;
            stops[i] = stopbuf[i];
        }
        int ridx;
        size_t want = ref_cut(text, n, stops, ns, &ridx);
        /* three different chunkings of the same text */
        for (int k = 0; k < 3; k++) {
            size_t chunks[700];
            int nch = 0;
            size_t tot = 0;
            while (tot < n) {
                size_t c = k == 0 ? 1 : (k == 1 ? rnd() % 5 : rnd() % 40); /* 0-length chunks too */
                if (nch == 699) c = n - tot;
                chunks[nch++] = c;
                tot += c;
            }
            pg_stop *s;
            REQUIRE(pg_stop_create(stops, ns, &s, NULL) == PG_OK);
            int stopped, idx;
            size_t got = run(s, text, n, chunks, nch, out, &stopped, &idx);
            int ok = got == want && memcmp(out, text, want) == 0 && stopped == (ridx >= 0) &&
                     idx == ridx;
            if (!ok && fails++ < 5) {
                memcpy(rtext, text, n);
                rtext[n] = 0;
                fprintf(stderr, "mismatch: text '%s' got %zu want %zu idx %d/%d\n", rtext, got, want,
                        idx, ridx);
            }
            CHECK(ok);
            pg_stop_destroy(s);
        }
    }
    CHECK(fails == 0);
}

int main(void) {
    test_basic();
    test_validation();
    test_property();
    return t_done("test_stop");
}
