/* golden.c - see golden.h. */
#include "golden.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t *ints(json_t *a, int *n) {
    *n = (int)json_array_size(a);
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

/* Replaces every byte that is not part of a valid UTF-8 sequence with '?'
 * (in place). Some golden.jsonl lines carry the reference's greedy_text of
 * random-weight models as raw bytes that are not UTF-8, which jansson
 * rejects; no test reads that text, and skipping those lines silently hid
 * prompts from the tests (qwen3moe's "A", all of gemma3's). */
static void utf8_scrub(char *s) {
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (*p < 0x80) n = 0;
        else if (*p >= 0xC2 && *p <= 0xDF) n = 1;
        else if (*p >= 0xE0 && *p <= 0xEF) n = 2, lo = *p == 0xE0 ? 0xA0 : 0x80, hi = *p == 0xED ? 0x9F : 0xBF;
        else if (*p >= 0xF0 && *p <= 0xF4) n = 3, lo = *p == 0xF0 ? 0x90 : 0x80, hi = *p == 0xF4 ? 0x8F : 0xBF;
        else n = -1;
        int ok = n >= 0;
        for (int i = 1; ok && i <= n; i++) {
            unsigned char c = p[i];
            ok = i == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        }
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n + 1;
    }
}

int golden_load(const char *dir, golden_case **out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    golden_case *cs = NULL;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        utf8_scrub(line);
        json_t *o = json_loads(line, 0, &je);
        if (!o) { /* say so: a skipped line would quietly shrink the test */
            fprintf(stderr, "golden: %s/golden.jsonl line %d: %s\n", dir, n + 1, je.text);
            golden_free(cs, n);
            free(line);
            fclose(f);
            return -1;
        }
        cs = realloc(cs, (size_t)(n + 1) * sizeof *cs);
        golden_case *c = &cs[n++];
        memset(c, 0, sizeof *c);
        c->prompt = strdup(json_string_value(json_object_get(o, "prompt")));
        c->prompt_tokens = ints(json_object_get(o, "prompt_tokens"), &c->n_prompt);
        c->greedy = ints(json_object_get(o, "greedy_tokens"), &c->n_greedy);
        const char *lf = json_string_value(json_object_get(o, "logits_file"));
        if (lf) {
            snprintf(path, sizeof path, "%s/%s", dir, lf);
            FILE *g = fopen(path, "rb");
            if (g) {
                fseek(g, 0, SEEK_END);
                long sz = ftell(g);
                fseek(g, 0, SEEK_SET);
                c->n_logits = (size_t)sz / 4;
                c->logits = malloc((size_t)sz);
                if (fread(c->logits, 4, c->n_logits, g) != c->n_logits) {
                    free(c->logits);
                    c->logits = NULL;
                }
                fclose(g);
            }
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    *out = cs;
    return n;
}

void golden_free(golden_case *c, int n) {
    for (int i = 0; i < n; i++) {
        free(c[i].prompt);
        free(c[i].prompt_tokens);
        free(c[i].greedy);
        free(c[i].logits);
    }
    free(c);
}

double golden_cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa) * sqrt(bb) + 1e-30);
}
