/* golden.h - reads ../shared/golden/<model>/golden.jsonl for tests. */
#ifndef PG_TEST_GOLDEN_H
#define PG_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *prompt;
    int32_t *prompt_tokens;
    int n_prompt;
    int32_t *greedy;
    int n_greedy;
    float *logits; /* n_vocab floats, or NULL if unreadable */
    size_t n_logits;
} golden_case;

/* Loads all cases of dir/golden.jsonl (and their logits). Returns count, -1 on error. */
int golden_load(const char *dir, golden_case **out);
void golden_free(golden_case *c, int n);
double golden_cosine(const float *a, const float *b, size_t n);

#endif
