/*
 * GradBoost (StatAssist & GradBoost, arXiv 2006.09679; docs/quantization.md#gradboost),
 * the gradient boost of the Q-optimizers, as pure per-tensor functions. Wiring into the
 * optimizers (QSGD/QRMSprop/QAdam/QAdamW) and StatAssist come on top (issue 4).
 *
 * Per parameter tensor: elementwise exponential moving "min" and "max" of |g| with decay
 * beta, and in QAT steps k = 1, 2, ...:
 *     lambda = (1 - delta)^k,  b = max(EMmax - EMmin, 0) * lambda,
 *     boost  = clamp(sign(g) * n * b * m, -clip, clip),   n ~ Exp(1) (= |Laplace(0, 1)|),
 *              m ~ Bernoulli(0.5) if toss_coin else 1,
 *     g'     = g + boost       (the same sign as g, never flipped; 0 stays 0).
 * Two EM modes:
 *   REFERENCE (default, the published code): both EMs start at 0 and the stored value is
 *     divided by 1 - beta^t every step, EM = (beta*EM + (1-beta)*min/max(EM, |g|)) / (1-beta^t):
 *     EMmin stays 0 and EMmax compounds (1, 5.26, 19.4, ... for a constant |g| = 1).
 *   PAPER: raw = beta*raw + (1-beta)*min/max(hat, |g|) with hat = raw / (1-beta^t) (standard
 *     bias correction) and hat = +inf (min) / 0 (max) before the first step.
 */
#ifndef FROST_OPTIM_GRADBOOST_H
#define FROST_OPTIM_GRADBOOST_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { FROST_GB_REFERENCE = 0, FROST_GB_PAPER } frost_gb_mode;

typedef struct {
    frost_gb_mode mode;
    float beta;     /* EM decay, 0.9 (Adam: its beta1) */
    float clip;     /* |boost| <= clip, 1e-3 */
    float decay;    /* delta: lambda = (1 - delta)^k, 1e-2 */
    bool toss_coin; /* boost only a random half of the elements */
} frost_gb_config;

frost_gb_config frost_gb_defaults(void);

/* lambda = (1 - delta)^k for QAT step k >= 1. */
double frost_gb_lambda(const frost_gb_config *c, int64_t k);

/* Step t >= 1 (counting every optimizer step, warm-up included): updates em_min/em_max
 * (n floats each, zero before the first step) with |g|. */
void frost_gb_update_em(const frost_gb_config *c, int64_t n, const float *g, float *em_min,
                        float *em_max, int64_t t);

/* QAT step k >= 1: out = g + boost (out may equal g). The random draws come from `seed`
 * alone (callers derive it from the run seed, the step and the tensor), so a resumed run
 * draws the same numbers. t is the step the EMs were last updated at. */
void frost_gb_boost(const frost_gb_config *c, int64_t n, const float *g, const float *em_min,
                    const float *em_max, int64_t t, int64_t k, uint64_t seed, float *out);

#endif
