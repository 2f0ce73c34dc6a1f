/* throughput_bench.c - `pagoda bench throughput`: offline serving
 * throughput of the engine, in the manner of `vllm bench throughput`.
 *
 * N requests of I random prompt tokens (drawn from the vocabulary's NORMAL
 * tokens by a fixed-seed xorshift; the first P tokens are the same for all
 * requests so the prefix cache can serve them), each generating exactly O
 * tokens (ignore_eos, greedy). The main thread keeps at most C requests in
 * flight: it submits, then sleeps on a condvar that the engine callback
 * signals when a request ends. Wall time runs from the first submit to the
 * last completion. TTFT and TPOT come from each request's engine usage:
 * TPOT = (total - ttft) / (completion_tokens - 1). With --json-schema FILE
 * every request carries the same compiled grammar (structured outputs), so
 * the run measures the cost of the token masks; a request then also ends
 * when its JSON is complete (fewer than O tokens), so compare output
 * tokens/s and check the output token count printed. */
#include "bench.h"

#include "base/hash.h"
#include "base/log.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_flight, done, errors;
    double *ttft, *tpot; /* [n] */
    int64_t out_tokens, prompt_tokens, cached_tokens;
    int preempted_requests;
} bt_state;

static void bt_cb(const pg_engine_event *ev, void *user) {
    bt_state *st = user;
    if (ev->type == PG_EV_TOKEN) return;
    pthread_mutex_lock(&st->mu);
    if (ev->type == PG_EV_DONE) {
        const pg_engine_usage *u = ev->usage;
        st->ttft[st->done] = u->ttft_s;
        st->tpot[st->done] = u->completion_tokens > 1 ? (u->total_s - u->ttft_s) / (u->completion_tokens - 1) : 0;
        st->out_tokens += u->completion_tokens;
        st->prompt_tokens += u->prompt_tokens;
        st->cached_tokens += u->cached_tokens;
        st->preempted_requests += u->preemptions > 0;
    } else {
        fprintf(stderr, "bench throughput: request failed: %s\n", ev->error_msg ? ev->error_msg : "?");
        st->errors++;
        st->ttft[st->done] = st->tpot[st->done] = 0;
    }
    if (ev->last) {
        st->done++;
        st->in_flight--;
        pthread_cond_signal(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[n] */
static double pct(const double *v, int n, double p) {
    if (n <= 0) return 0;
    int k = (int)(p / 100.0 * n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

static void report(const char *name, double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    printf("%-10s mean %9.2f  p50 %9.2f  p90 %9.2f  p99 %9.2f  (ms)\n", name, n ? 1000 * sum / n : 0,
           1000 * pct(v, n, 50), 1000 * pct(v, n, 90), 1000 * pct(v, n, 99));
}

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --json-schema FILE: the whole file, or a MaskBench file's "schema",
 * compiled once (its compile time printed, not part of the timing). */
static int load_schema(const char *path, int flexible, pg_gram_ref **out) {
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        fprintf(stderr, "bench throughput: %s: %s (line %d)\n", path, je.text, je.line);
        return -1;
    }
    json_t *sc = json_is_object(doc) && json_object_get(doc, "schema") && json_object_get(doc, "tests")
                     ? json_object_get(doc, "schema")
                     : doc;
    char *text = json_dumps(sc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!text) return -1;
    pg_error err = {0};
    double t0 = wall();
    int rc = pg_gram_build(PG_GRAM_JSON_SCHEMA, text, strlen(text), flexible ? PG_GRAM_FLEXIBLE_WS : 0, out, &err);
    double t1 = wall();
    free(text);
    if (rc < 0) {
        fprintf(stderr, "bench throughput: %s: %s\n", path, err.msg);
        return -1;
    }
    printf("every request constrained by the JSON Schema %s (%s whitespace; compiled in %.1f ms)\n", path,
           flexible ? "flexible" : "compact", 1000 * (t1 - t0));
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: pagoda bench throughput -m MODEL [--requests N] [--input-len I] [--output-len O]\n"
                    "         [--concurrency C] [--shared-prefix P] [--threads T] [--max-batched-tokens B]\n"
                    "         [--max-seqs S] [--kv-cache-mem BYTES] [--kv-type TYPE] [--n-ctx N] [--seed X]\n"
                    "         [--json-schema FILE [--whitespace MODE]]\n"
                    "         [--spec off|ngram|draft] [--spec-tokens K] [--draft-model FILE]\n");
}

int pg_bench_throughput(int argc, char **argv) {
    const char *model = NULL, *schema_file = NULL, *ws = "compact", *spec = NULL, *draft_file = NULL;
    long spec_k = 0;
    long n_req = 64, in_len = 128, out_len = 128, conc = 0, shared = 0, threads = 0, mbt = 0, max_seqs = 0, n_ctx = 0;
    unsigned long long kv_mem = 0, seed = 1;
    int kv_type = PG_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT_L(flag, var)                                                                                               \
    if (!strcmp(a, flag) && v) {                                                                                       \
        char *end;                                                                                                     \
        var = strtol(v, &end, 10);                                                                                     \
        if (*end || var < 0) {                                                                                         \
            fprintf(stderr, "bench throughput: bad value for %s: '%s'\n", flag, v);                                    \
            return 2;                                                                                                  \
        }                                                                                                              \
        i++;                                                                                                           \
        continue;                                                                                                      \
    }
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && v) {
            model = v;
            i++;
            continue;
        }
        OPT_L("--requests", n_req)
        OPT_L("--input-len", in_len)
        OPT_L("--output-len", out_len)
        OPT_L("--concurrency", conc)
        OPT_L("--shared-prefix", shared)
        OPT_L("--threads", threads)
        OPT_L("--max-batched-tokens", mbt)
        OPT_L("--max-seqs", max_seqs)
        OPT_L("--n-ctx", n_ctx)
        OPT_L("--spec-tokens", spec_k)
#undef OPT_L
        if (!strcmp(a, "--spec") && v) {
            spec = v;
            i++;
            continue;
        }
        if (!strcmp(a, "--draft-model") && v) {
            draft_file = v;
            i++;
            continue;
        }
        if (!strcmp(a, "--kv-cache-mem") && v) {
            kv_mem = strtoull(v, NULL, 10);
            i++;
            continue;
        }
        if (!strcmp(a, "--kv-type") && v) {
            if ((kv_type = pg_kv_type_parse(v)) < 0) {
                fprintf(stderr, "bench throughput: --kv-type: '%s' is not one of f16|q8_0|q4_0|f32\n", v);
                return 2;
            }
            i++;
            continue;
        }
        if (!strcmp(a, "--json-schema") && v) {
            schema_file = v;
            i++;
            continue;
        }
        if (!strcmp(a, "--whitespace") && v) {
            ws = v;
            i++;
            continue;
        }
        if (!strcmp(a, "--seed") && v) {
            seed = strtoull(v, NULL, 10);
            i++;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        fprintf(stderr, "bench throughput: unknown or incomplete option '%s'\n", a);
        usage();
        return 2;
    }
    if (!model) {
        usage();
        return 2;
    }
    if (n_req < 1 || n_req > 1000000 || in_len < 1 || out_len < 1 || in_len > (1 << 24) || out_len > (1 << 24) ||
        shared > in_len) {
        fprintf(stderr, "bench throughput: need requests >= 1, input/output lengths >= 1, shared prefix <= input\n");
        return 2;
    }
    if (strcmp(ws, "compact") && strcmp(ws, "flexible")) {
        fprintf(stderr, "bench throughput: --whitespace must be compact or flexible\n");
        return 2;
    }
    int spec_mode = draft_file ? PG_SPEC_DRAFT : PG_SPEC_OFF;
    if (spec && pg_spec_mode_parse(spec, draft_file != NULL, &spec_mode) < 0) {
        fprintf(stderr, "bench throughput: --spec must be off, ngram or draft (draft needs --draft-model), got '%s'\n", spec);
        return 2;
    }
    if (spec_k > PG_SPEC_MAX_K) {
        fprintf(stderr, "bench throughput: --spec-tokens must be between 1 and %d\n", PG_SPEC_MAX_K);
        return 2;
    }
    if (conc <= 0 || conc > n_req) conc = n_req;
    if (threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? nc : 1;
    }

    pg_error err = {0};
    pg_model *m = NULL, *dm = NULL;
    pg_vocab *voc = NULL;
    pg_engine *e = NULL;
    int32_t *prompts = NULL;
    bt_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    int rc = 1;
    if (pg_model_load(model, &m, &err) < 0 || pg_vocab_load(pg_model_gguf(m), &voc, &err) < 0) {
        fprintf(stderr, "bench throughput: %s\n", err.msg);
        goto done;
    }
    /* candidate prompt tokens: ordinary vocabulary entries */
    int32_t nv = pg_vocab_n_tokens(voc), nn = 0;
    int32_t *normal = malloc((size_t)nv * sizeof(int32_t));
    if (!normal) goto done;
    for (int32_t id = 0; id < nv; id++)
        if (pg_vocab_token_type(voc, id) == PG_TOKTYPE_NORMAL && !pg_vocab_is_eog(voc, id)) normal[nn++] = id;
    if (nn == 0)
        for (int32_t id = 0; id < nv; id++) normal[nn++] = id;
    prompts = malloc((size_t)n_req * (size_t)in_len * sizeof(int32_t));
    if (!prompts) {
        free(normal);
        fprintf(stderr, "bench throughput: out of memory\n");
        goto done;
    }
    uint64_t x = pg_hash_fib(seed) + 1;
    for (long r = 0; r < n_req; r++)
        for (long i = 0; i < in_len; i++) {
            if (r > 0 && i < shared) {
                prompts[r * in_len + i] = prompts[i];
                continue;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            prompts[r * in_len + i] = normal[(x >> 11) % (uint64_t)nn];
        }
    free(normal);

    pg_gram_ref *gram = NULL;
    if (schema_file && load_schema(schema_file, !strcmp(ws, "flexible"), &gram) < 0) goto done;
    if (draft_file && pg_model_load(draft_file, &dm, &err) < 0) {
        fprintf(stderr, "bench throughput: draft model: %s\n", err.msg);
        goto done;
    }

    pg_engine_config c;
    pg_engine_config_default(&c);
    c.threads = (int)threads;
    if (mbt) c.max_batched_tokens = (int32_t)mbt;
    c.max_seqs = max_seqs ? (int32_t)max_seqs : (int32_t)(conc > 16 ? (conc < 256 ? conc : 256) : 16);
    c.kv_cache_mem = kv_mem;
    c.kv_type = kv_type;
    c.n_ctx = (int32_t)n_ctx;
    c.max_queued_requests = (int32_t)(n_req < 1000000 ? n_req + 1 : n_req);
    c.max_queued_tokens = (int64_t)n_req * in_len + 1;
    c.default_seed = seed;
    c.spec_mode = spec_mode;
    c.spec_tokens = (int32_t)spec_k;
    c.draft_model = dm;
    if (pg_engine_create(m, voc, &c, &e, &err) < 0) {
        fprintf(stderr, "bench throughput: %s\n", err.msg);
        goto done;
    }
    st.ttft = calloc((size_t)n_req, sizeof(double));
    st.tpot = calloc((size_t)n_req, sizeof(double));
    if (!st.ttft || !st.tpot) goto done;

    printf("model %s: %ld requests, input %ld (shared prefix %ld), output %ld tokens, concurrency %ld, %ld threads\n",
           model, n_req, in_len, shared, out_len, conc, threads);
    {
        pg_engine_stats es;
        pg_engine_stats_get(e, &es);
        printf("KV cache %s: %d blocks x %d tokens, %zu bytes/token\n", pg_kv_type_name(kv_type), es.kv_blocks_total,
               es.block_size, pg_kv_bytes_per_token(m, kv_type));
    }
    fflush(stdout);
    double t0 = wall();
    long next = 0;
    pthread_mutex_lock(&st.mu);
    while (st.done < n_req) {
        while (next < n_req && st.in_flight < conc) {
            pg_request q;
            memset(&q, 0, sizeof q);
            q.prompt = prompts + next * in_len;
            q.n_prompt = (int32_t)in_len;
            q.sampling = pg_sampling_params_default();
            q.sampling.temperature = 0;
            q.sampling.ignore_eos = 1;
            q.max_tokens = (int32_t)out_len;
            q.n = 1;
            q.cb = bt_cb;
            q.user = &st;
            q.grammar = gram; /* the engine holds its own reference */
            st.in_flight++;
            pthread_mutex_unlock(&st.mu);
            int64_t id = pg_engine_submit(e, &q, &err);
            pthread_mutex_lock(&st.mu);
            if (id < 0) {
                st.in_flight--;
                pthread_mutex_unlock(&st.mu);
                fprintf(stderr, "bench throughput: submit: %s\n", err.msg);
                goto done;
            }
            next++;
        }
        pthread_cond_wait(&st.cv, &st.mu);
    }
    pthread_mutex_unlock(&st.mu);
    double el = wall() - t0;

    pg_engine_stats es;
    pg_engine_stats_get(e, &es);
    int n = (int)n_req;
    printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n", n / el,
           (double)(st.prompt_tokens + st.out_tokens) / el, (double)st.out_tokens / el);
    printf("elapsed %.3f s; %lld prompt tokens (%lld from the prefix cache), %lld output tokens; %llu steps; "
           "%llu preemptions; %d errors\n",
           el, (long long)st.prompt_tokens, (long long)st.cached_tokens, (long long)st.out_tokens,
           (unsigned long long)es.steps, (unsigned long long)es.preemptions, st.errors);
    if (gram)
        printf("grammar: %llu constrained tokens; %.3f s of grammar work (masks, matcher updates) in %.3f s of steps "
               "(%.1f%%)\n",
               (unsigned long long)es.constrained_tokens, es.gram_s, es.step_s,
               es.step_s > 0 ? 100.0 * es.gram_s / es.step_s : 0.0);
    if (spec_mode != PG_SPEC_OFF)
        printf("speculative (%s): %llu drafted, %llu accepted (%.1f%%), %llu verify passes, %.2f tokens per pass\n",
               spec_mode == PG_SPEC_NGRAM ? "ngram" : "draft", (unsigned long long)es.spec_drafted,
               (unsigned long long)es.spec_accepted,
               es.spec_drafted ? 100.0 * (double)es.spec_accepted / (double)es.spec_drafted : 0.0,
               (unsigned long long)es.spec_verifies,
               es.spec_verifies ? (double)(es.spec_verifies + es.spec_accepted) / (double)es.spec_verifies : 0.0);
    report("TTFT", st.ttft, n);
    report("TPOT", st.tpot, n);
    rc = st.errors ? 1 : 0;
done:
    pg_engine_destroy(e);
    pg_gram_ref_drop(gram);
    pthread_mutex_destroy(&st.mu);
    pthread_cond_destroy(&st.cv);
    free(st.ttft);
    free(st.tpot);
    free(prompts);
    pg_vocab_free(voc);
    pg_model_free(m);
    pg_model_free(dm);
    return rc;
}
