/* test_load_progress.c - pg_model_load_progress: the callback sees a fixed
 * total (at least the file size), done only grows and ends at the total;
 * q8_0 at a level that repacks adds the repacked bytes. Also
 * pg_model_id_from_path. */
#include "test.h"

#include "model/model.h"

#include <sys/stat.h>

typedef struct {
    int calls, monotone, fixed;
    uint64_t last, total;
} rec;

static void on_progress(void *ud, uint64_t done, uint64_t total) {
    rec *r = ud;
    if (r->calls == 0) r->total = total;
    r->fixed &= total == r->total;
    r->monotone &= done >= r->last && done <= total;
    r->last = done;
    r->calls++;
}

static void check_file(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) SKIP("missing %s", path);
    rec r = {0, 1, 1, 0, 0};
    pg_model *m = NULL;
    pg_error err = {0};
    CHECKF(pg_model_load_progress(path, on_progress, &r, &m, &err) == 0, "%s: %s", path, err.msg);
    CHECKF(r.calls >= 1 && r.monotone && r.fixed, "%s: %d calls, monotone %d, fixed %d", path, r.calls, r.monotone,
           r.fixed);
    CHECKF(r.last == r.total && r.total >= (uint64_t)st.st_size, "%s: done %llu of %llu (file %lld)", path,
           (unsigned long long)r.last, (unsigned long long)r.total, (long long)st.st_size);
    fprintf(stderr, "%s: %d progress calls, total %llu bytes (file %lld)\n", path, r.calls,
            (unsigned long long)r.total, (long long)st.st_size);
    pg_model_free(m);
}

static void test_id(void) {
    char b[64];
    pg_model_id_from_path("/models/llama-3.2-1b-q8_0.gguf", b, sizeof b);
    CHECK(!strcmp(b, "llama-3.2-1b-q8_0"));
    pg_model_id_from_path("stories260K.GGUF", b, sizeof b);
    CHECK(!strcmp(b, "stories260K"));
    pg_model_id_from_path("dir/noext", b, sizeof b);
    CHECK(!strcmp(b, "noext"));
    pg_model_id_from_path(".gguf", b, sizeof b);
    CHECK(!strcmp(b, ".gguf"));
    char s[4];
    pg_model_id_from_path("/a/abcdef.gguf", s, sizeof s);
    CHECK(!strcmp(s, "abc"));
}

int main(void) {
    test_id();
    char path[1200];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", t_testdata());
    check_file(path);
    snprintf(path, sizeof path, "%s/models/syn-a-q8_0.gguf", t_testdata());
    check_file(path);
    return t_done("test_load_progress");
}
