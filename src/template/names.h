/* names.h - the names of the filters and tests, in table order.
 *
 * FILTERS(X) / TESTS(X) are the one list of each: names.c builds the name
 * tables the parser resolves against (a filter or test id is an index),
 * filters.c and predicates.c build their function tables from the same
 * lists, so ids and functions cannot drift apart. Keeping the names here
 * lets the `is filter` / `is test` tests and the parser look names up
 * without calling into filters.c or predicates.c. */
#ifndef PG_TEMPLATE_NAMES_H
#define PG_TEMPLATE_NAMES_H

#include <stddef.h>

#define FILTERS(X)                                                                                      \
    X(abs) X(attr) X(batch) X(capitalize) X(center) X(count) X(d) X(default) X(dictsort) X(e)           \
    X(escape) X(first) X(float) X(forceescape) X(format) X(indent) X(int) X(items) X(join) X(keys)      \
    X(last) X(length) X(list) X(lower) X(map) X(max) X(min) X(pprint) X(reject) X(rejectattr)           \
    X(replace) X(reverse) X(round) X(safe) X(select) X(selectattr) X(sort) X(string) X(striptags)       \
    X(sum) X(title) X(tojson) X(trim) X(unique) X(upper) X(values) X(wordcount)

#define TESTS(X)                                                                                        \
    X(boolean) X(callable) X(defined) X(divisibleby) X(eq) X(equalto) X(escaped) X(even) X(false)       \
    X(filter) X(float) X(ge) X(greaterthan) X(gt) X(in) X(integer) X(iterable) X(le) X(lessthan)        \
    X(lower) X(lt) X(mapping) X(ne) X(none) X(number) X(odd) X(sameas) X(sequence) X(string) X(test)    \
    X(true) X(undefined) X(upper)

/* Id of a filter / test name, -1 if unknown. */
int pg_tpl_filter_id(const char *name, size_t n);
int pg_tpl_test_id(const char *name, size_t n);
/* Number of filters / tests (ids are 0 .. count-1). */
int pg_tpl_n_filters(void);
int pg_tpl_n_tests(void);

#endif
