/* spec_sample.h - the acceptance rule of speculative sampling (Leviathan,
 * Kalman, Matias 2023; Chen et al. 2023) for one drafted token.
 *
 * Given the target distribution p and the draft distribution q over the
 * same vocabulary and a token d drawn from q: accept d with probability
 * min(1, p(d) / q(d)); otherwise draw from the residual
 * norm(max(0, p - q)). The result is distributed exactly as p, whatever q.
 *
 * The engine's drafts are deterministic (n-gram lookup, greedy draft model),
 * i.e. q is one-hot at d: then accept with probability p(d), and the
 * residual is p without d, renormalised — which is the same as "sample the
 * target from p and accept when it equals d", the form the engine uses
 * (engine_spec.c) because it consumes exactly the RNG draws of decoding
 * without speculation (outputs identical to speculation off). This
 * function is the general form, with its distribution test in
 * tests/test_spec_sample.c. */
#ifndef PG_SAMPLE_SPEC_SAMPLE_H
#define PG_SAMPLE_SPEC_SAMPLE_H

#include <stdint.h>

/* p, q: [n] probabilities (each sums to 1 within float rounding; q(d) > 0);
 * d: the drafted token; u_accept, u_resample: independent uniforms in
 * [0, 1). Returns d when accepted (*accepted = 1), else a token from the
 * residual (*accepted = 0). Where the residual is all zero (p == q up to
 * rounding) the rule cannot reject in exact arithmetic; it then samples p. */
int32_t pg_spec_accept(const float *p, const float *q, int32_t n, int32_t d, double u_accept, double u_resample,
                       int *accepted);

#endif
