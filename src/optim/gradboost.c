/*
 * GradBoost's EM statistics and boost (see gradboost.h for the rules and the two modes).
 * Serial loops: the random stream is drawn in element order, so results do not depend
 * on the thread count.
 */
#include "optim/gradboost.h"

#include <math.h>

#include "core/rng.h"

frost_gb_config frost_gb_defaults(void)
{
    return (frost_gb_config){
        .mode = FROST_GB_REFERENCE, .beta = 0.9f, .clip = 1e-3f, .decay = 1e-2f, .toss_coin = true};
}

double frost_gb_lambda(const frost_gb_config *c, int64_t k)
{
    return pow(1.0 - (double)c->decay, (double)k);
}

/* 1 - beta^t as the reference computes it (a Python double, used as a float32 scalar). */
static float bias_correction(float beta, int64_t t)
{
    return (float)(1.0 - pow((double)beta, (double)t));
}

static void update_reference(const frost_gb_config *c, int64_t n, const float *g, float *em_min,
                             float *em_max, int64_t t)
{
    float b = c->beta, ob = 1.0f - c->beta, bc = bias_correction(c->beta, t);
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(g[i]);
        em_min[i] = (b * em_min[i] + ob * fminf(em_min[i], a)) / bc;
        em_max[i] = (b * em_max[i] + ob * fmaxf(em_max[i], a)) / bc;
    }
}

static void update_paper(const frost_gb_config *c, int64_t n, const float *g, float *em_min,
                         float *em_max, int64_t t)
{
    float b = c->beta, ob = 1.0f - c->beta;
    float prev_bc = t > 1 ? bias_correction(c->beta, t - 1) : 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(g[i]);
        float lo = t > 1 ? em_min[i] / prev_bc : INFINITY; /* bias-corrected, before this step */
        float hi = t > 1 ? em_max[i] / prev_bc : 0.0f;
        em_min[i] = b * em_min[i] + ob * fminf(lo, a);
        em_max[i] = b * em_max[i] + ob * fmaxf(hi, a);
    }
}

void frost_gb_update_em(const frost_gb_config *c, int64_t n, const float *g, float *em_min,
                        float *em_max, int64_t t)
{
    if (c->mode == FROST_GB_PAPER)
        update_paper(c, n, g, em_min, em_max, t);
    else
        update_reference(c, n, g, em_min, em_max, t);
}

void frost_gb_boost(const frost_gb_config *c, int64_t n, const float *g, const float *em_min,
                    const float *em_max, int64_t t, int64_t k, uint64_t seed, float *out)
{
    frost_rng r;
    frost_rng_seed(&r, seed);
    float lambda = (float)frost_gb_lambda(c, k);
    /* The paper mode's statistics are read bias-corrected; the reference's are stored so. */
    float corr = c->mode == FROST_GB_PAPER ? bias_correction(c->beta, t) : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float n_mag = -logf(1.0f - frost_rng_uniform(&r)); /* Exp(1) = |Laplace(0, 1)| */
        bool coin = c->toss_coin ? (frost_rng_u64(&r) & 1) != 0 : true;
        float spread = fmaxf(em_max[i] / corr - em_min[i] / corr, 0.0f);
        float v = fminf(n_mag * spread * lambda, c->clip); /* >= 0; NaN-free for finite EMs */
        out[i] = (coin && g[i] != 0.0f) ? g[i] + copysignf(v, g[i]) : g[i];
    }
}
