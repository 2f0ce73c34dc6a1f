/* names.c - name -> id lookup for filters and tests (see names.h). A
 * linear scan of ~50 short names, done once per filter/test at parse time
 * (and by `is filter` / `is test` / select('name') at render time). */
#include "template/names.h"

#include <string.h>

#define NAME(n) #n,
static const char *const filter_names[] = {FILTERS(NAME)};
static const char *const test_names[] = {TESTS(NAME)};
#undef NAME

static int lookup(const char *const *tab, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(tab[i]) == len && memcmp(tab[i], name, len) == 0) return i;
    return -1;
}

int pg_tpl_filter_id(const char *name, size_t n) {
    return lookup(filter_names, pg_tpl_n_filters(), name, n);
}

int pg_tpl_test_id(const char *name, size_t n) { return lookup(test_names, pg_tpl_n_tests(), name, n); }

int pg_tpl_n_filters(void) { return (int)(sizeof filter_names / sizeof filter_names[0]); }
int pg_tpl_n_tests(void) { return (int)(sizeof test_names / sizeof test_names[0]); }
