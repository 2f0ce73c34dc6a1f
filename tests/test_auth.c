/* test_auth.c - the API key set (server/auth.h): key-file parsing (names,
 * default names, '-' fields, comments, blank lines, duplicates, every
 * rejected line shape), --api-key keys beside the file, lookup of exact
 * keys only, per-key request and token buckets, reload (new keys, removed
 * keys, kept buckets, a broken file keeping the old set) and the
 * constant-time comparison. */
#include "test.h"

#include "server/auth.h"

#include <unistd.h>

static char path[64];

static void write_file(const char *text) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static srv_keyset *make(const char *text, const char *const *cli, int n_cli, double rpm, double tpm, int *rc,
                        pg_error *err) {
    pg_server_config c;
    pg_server_config_default(&c);
    if (text) {
        write_file(text);
        c.api_key_file = path;
    }
    c.api_keys = cli;
    c.n_api_keys = n_cli;
    c.default_rpm = rpm;
    c.default_tpm = tpm;
    srv_keyset *k = NULL;
    *rc = srv_keys_create(&c, &k, err);
    return k;
}

static int lookup(srv_keyset *k, const char *key, char *name, uint64_t *id) {
    uint64_t dummy;
    return srv_keys_lookup(k, key, strlen(key), id ? id : &dummy, name, 64);
}

static void test_parse(void) {
    pg_error err = {0};
    int rc;
    srv_keyset *k = make("# comment line\n"
                         "\n"
                         "sk-alpha alice 60 1000\n"
                         "  sk-beta\tbob\n"
                         "sk-gamma - 5\n"
                         "sk-delta carol - 7\n"
                         "sk-alpha dup\n"
                         "sk-eps\r\n",
                         NULL, 0, 11, 22, &rc, &err);
    CHECKF(rc == 0, "%s", err.msg);
    REQUIRE(k != NULL);
    CHECK(srv_keys_enabled(k));
    char name[64];
    uint64_t id_a = 0, id_b = 0;
    CHECK(lookup(k, "sk-alpha", name, &id_a) && !strcmp(name, "alice"));
    CHECK(lookup(k, "sk-beta", name, &id_b) && !strcmp(name, "bob"));
    CHECK(id_a != 0 && id_a != id_b);
    /* '-' and a missing name give "line-N" */
    CHECK(lookup(k, "sk-gamma", name, NULL) && !strcmp(name, "line-5"));
    CHECK(lookup(k, "sk-delta", name, NULL) && !strcmp(name, "carol"));
    CHECK(lookup(k, "sk-eps", name, NULL) && !strcmp(name, "line-8"));
    /* exact match only */
    CHECK(!lookup(k, "sk-alph", name, NULL));
    CHECK(!lookup(k, "sk-alphaa", name, NULL));
    CHECK(!lookup(k, "alice", name, NULL));
    CHECK(!lookup(k, "# comment", name, NULL));
    /* limits: given, defaults for '-' and absent fields */
    srv_rl rl;
    srv_keys_peek(k, id_a, &rl);
    CHECK(rl.lim_req == 60 && rl.lim_tok == 1000);
    srv_keys_peek(k, id_b, &rl);
    CHECK(rl.lim_req == 11 && rl.lim_tok == 22);
    uint64_t id;
    lookup(k, "sk-gamma", name, &id);
    srv_keys_peek(k, id, &rl);
    CHECK(rl.lim_req == 5 && rl.lim_tok == 22);
    lookup(k, "sk-delta", name, &id);
    srv_keys_peek(k, id, &rl);
    CHECK(rl.lim_req == 11 && rl.lim_tok == 7);
    srv_keys_destroy(k);
}

static void test_bad_files(void) {
    static const char *bad[] = {
        "sk-a name 1 2 extra\n",   /* five fields */
        "sk-a bad/name\n",         /* name characters */
        "sk-a n -3\n",             /* negative limit */
        "sk-a n 1 x\n",            /* not a number */
        "sk-a n 1e13\n",           /* absurd limit */
        "sk-\xc3\xa9 n\n",         /* non-ASCII key */
        "sk-a 0123456789012345678901234567890123456789012345678901234567890123\n", /* name > 63 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pg_error err = {0};
        int rc;
        srv_keyset *k = make(bad[i], NULL, 0, 0, 0, &rc, &err);
        CHECKF(rc == PG_EFORMAT && k == NULL, "case %zu: rc %d", i, rc);
        CHECKF(strstr(err.msg, ":1:") != NULL, "case %zu: message '%s' names the line", i, err.msg);
    }
    /* a key longer than 512 bytes */
    char longkey[600];
    memset(longkey, 'k', 520);
    strcpy(longkey + 520, "\n");
    pg_error err = {0};
    int rc;
    CHECK(make(longkey, NULL, 0, 0, 0, &rc, &err) == NULL && rc == PG_EFORMAT);
    /* a missing file */
    pg_server_config c;
    pg_server_config_default(&c);
    c.api_key_file = "/nonexistent/pagoda-keys";
    srv_keyset *k = NULL;
    CHECK(srv_keys_create(&c, &k, &err) == PG_EIO && k == NULL);
    /* an empty file keeps auth on (locks everyone out) */
    k = make("# nobody\n", NULL, 0, 0, 0, &rc, &err);
    REQUIRE(rc == 0 && k != NULL);
    CHECK(srv_keys_enabled(k));
    CHECK(!lookup(k, "nobody", NULL, NULL));
    srv_keys_destroy(k);
    /* no file, no keys: auth off */
    k = make(NULL, NULL, 0, 0, 0, &rc, &err);
    REQUIRE(rc == 0 && k != NULL);
    CHECK(!srv_keys_enabled(k));
    srv_keys_destroy(k);
}

static void test_cli_and_buckets(void) {
    const char *cli[] = {"cli-one", "cli-two"};
    pg_error err = {0};
    int rc;
    srv_keyset *k = make("sk-file f 2 10\n", cli, 2, 0, 0, &rc, &err);
    REQUIRE(rc == 0 && k != NULL);
    char name[64];
    uint64_t id;
    CHECK(lookup(k, "cli-two", name, NULL) && !strcmp(name, "key-2"));
    CHECK(lookup(k, "sk-file", name, &id) && !strcmp(name, "f"));
    srv_rl rl;
    int which = 0;
    /* two requests per minute: the third waits */
    CHECK(srv_keys_admit(k, id, &rl, &which) == 0);
    CHECK(srv_keys_admit(k, id, &rl, &which) == 0);
    int w = srv_keys_admit(k, id, &rl, &which);
    CHECKF(w >= 1 && w <= 30 && which == 'r', "wait %d which %c", w, which);
    /* tokens: debt blocks the next request */
    srv_keys_charge(k, id, 50);
    srv_keys_peek(k, id, &rl);
    CHECK(rl.rem_tok < 0);
    /* unlimited cli keys are never limited */
    uint64_t cid;
    lookup(k, "cli-one", name, &cid);
    for (int i = 0; i < 100; i++) CHECK(srv_keys_admit(k, cid, &rl, &which) == 0);
    /* reload: a new key, a removed key, the kept key keeps its debt */
    write_file("sk-file f 2 10\nsk-new n\n");
    CHECK(srv_keys_reload(k, &err) == 4);
    CHECK(lookup(k, "sk-new", name, NULL) && !strcmp(name, "n"));
    srv_keys_peek(k, id, &rl);
    CHECK(rl.rem_tok < 0 && rl.rem_req < 1);
    write_file("sk-new n\n");
    CHECK(srv_keys_reload(k, &err) == 3);
    CHECK(!lookup(k, "sk-file", name, NULL));
    CHECK(srv_keys_admit(k, id, &rl, &which) == 0); /* removed: never limited */
    /* a broken file keeps the old set */
    write_file("sk-x n 1 2 3 4\n");
    CHECK(srv_keys_reload(k, &err) == PG_EFORMAT);
    CHECK(lookup(k, "sk-new", name, NULL));
    srv_keys_destroy(k);
}

static void test_ct_equal(void) {
    CHECK(srv_ct_equal("abc", 3, "abc", 3));
    CHECK(!srv_ct_equal("abc", 3, "abd", 3));
    CHECK(!srv_ct_equal("abc", 3, "abc\0", 4));
    CHECK(!srv_ct_equal("", 0, "a", 1));
    CHECK(srv_hash64("a", 1, 0) != srv_hash64("b", 1, 0));
    CHECK(srv_hash64("a", 1, 0) != srv_hash64("a", 1, 1));
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/pagoda-test-auth-%d", (int)getpid());
    test_parse();
    test_bad_files();
    test_cli_and_buckets();
    test_ct_equal();
    unlink(path);
    return t_done("test_auth");
}
