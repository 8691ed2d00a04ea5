/*
 * Observers: min-max, moving-average min-max, histogram (L2 search), percentile
 * and entropy (KL-divergence threshold, TensorRT's). Each keeps what it needs to
 * produce a range [mn, mx]; widening to include 0 and the scale/zero point come
 * from frost_qparams.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/quant.h"
#include "quant/entropy.h"
#include "quant/histogram.h"

struct frost_observer {
    frost_observer_config cfg;
    bool seen;
    float mn, mx;            /* MINMAX, EMA; PERCENTILE and ENTROPY keep the true range here */
    frost_histogram *hist;   /* HISTOGRAM: of x; PERCENTILE: of |x| */
    frost_entropy_hist *ent; /* ENTROPY: of |x| */
    float *abs_buf;          /* PERCENTILE: |x| of one batch */
    int64_t abs_cap;
};

static const char *const kind_names[] = {"minmax", "ema", "hist", "percentile", "entropy"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == FROST_OBS_COUNT,
               "one name per observer");

const char *frost_observer_kind_name(frost_observer_kind k)
{
    return (unsigned)k < FROST_OBS_COUNT ? kind_names[k] : "?";
}

int frost_observer_kind_parse(const char *name)
{
    for (int k = 0; k < FROST_OBS_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    if (strcmp(name, "histogram") == 0)
        return FROST_OBS_HISTOGRAM;
    return -1;
}

frost_observer_config frost_observer_defaults(frost_observer_kind kind)
{
    return (frost_observer_config){
        .kind = kind, .ema_constant = 0.01f, .percentile = 99.99f, .dst_bins = 256};
}

frost_status frost_observer_new(const frost_observer_config *cfg, frost_observer **out)
{
    *out = NULL;
    if ((unsigned)cfg->kind >= FROST_OBS_COUNT)
        return frost_fail(FROST_ERR_ARG, "unknown observer kind %d", (int)cfg->kind);
    if (cfg->kind == FROST_OBS_EMA && !(cfg->ema_constant > 0.0f && cfg->ema_constant <= 1.0f))
        return frost_fail(FROST_ERR_ARG, "EMA observer constant must be in (0, 1] (got %g)",
                          (double)cfg->ema_constant);
    if (cfg->kind == FROST_OBS_PERCENTILE &&
        !(cfg->percentile > 50.0f && cfg->percentile <= 100.0f))
        return frost_fail(FROST_ERR_ARG, "percentile must be in (50, 100] (got %g)",
                          (double)cfg->percentile);
    if (cfg->kind == FROST_OBS_HISTOGRAM && (cfg->dst_bins < 2 || cfg->dst_bins > FROST_HIST_BINS))
        return frost_fail(FROST_ERR_ARG, "histogram target levels must be 2..%d (got %d)",
                          FROST_HIST_BINS, cfg->dst_bins);
    /* half of dst_bins must still be 2 levels, and no more levels than bins */
    if (cfg->kind == FROST_OBS_ENTROPY && (cfg->dst_bins < 4 || cfg->dst_bins > FROST_ENTROPY_BINS))
        return frost_fail(FROST_ERR_ARG, "entropy observer target levels must be 4..%d (got %d)",
                          FROST_ENTROPY_BINS, cfg->dst_bins);
    frost_observer *o = calloc(1, sizeof *o);
    if (!o)
        return frost_fail(FROST_ERR_NOMEM, "out of memory creating an observer");
    o->cfg = *cfg;
    if (cfg->kind == FROST_OBS_HISTOGRAM || cfg->kind == FROST_OBS_PERCENTILE) {
        o->hist = malloc(sizeof *o->hist);
        if (!o->hist) {
            free(o);
            return frost_fail(FROST_ERR_NOMEM, "out of memory creating a histogram observer");
        }
    }
    if (cfg->kind == FROST_OBS_ENTROPY) {
        o->ent = malloc(sizeof *o->ent);
        if (!o->ent) {
            free(o);
            return frost_fail(FROST_ERR_NOMEM, "out of memory creating an entropy observer");
        }
    }
    frost_observer_reset(o);
    *out = o;
    return FROST_OK;
}

void frost_observer_free(frost_observer *o)
{
    if (!o)
        return;
    free(o->hist);
    free(o->ent);
    free(o->abs_buf);
    free(o);
}

void frost_observer_reset(frost_observer *o)
{
    o->seen = false;
    o->mn = o->mx = 0.0f;
    if (o->hist)
        frost_histogram_reset(o->hist);
    if (o->ent)
        frost_entropy_hist_reset(o->ent);
}

/* Min and max of the finite values; false if there are none. */
static bool batch_minmax(int64_t n, const float *x, float *mn, float *mx)
{
    frost_minmax_finite(n, x, mn, mx);
    return *mn <= *mx;
}

static frost_status observe_abs(frost_observer *o, int64_t n, const float *x)
{
    if (n > o->abs_cap) {
        float *b = realloc(o->abs_buf, (size_t)n * sizeof(float));
        if (!b)
            return frost_fail(FROST_ERR_NOMEM, "out of memory in a percentile observer");
        o->abs_buf = b;
        o->abs_cap = n;
    }
    for (int64_t i = 0; i < n; i++)
        o->abs_buf[i] = fabsf(x[i]);
    return frost_histogram_observe(o->hist, n, o->abs_buf);
}

frost_status frost_observer_observe(frost_observer *o, int64_t n, const float *x)
{
    float bmn, bmx;
    if (!batch_minmax(n, x, &bmn, &bmx))
        return FROST_OK; /* nothing finite: the range is unchanged */
    switch (o->cfg.kind) {
    case FROST_OBS_HISTOGRAM: FROST_TRY(frost_histogram_observe(o->hist, n, x)); break;
    case FROST_OBS_PERCENTILE: /* keeps the true range too */
        FROST_TRY(observe_abs(o, n, x));
        o->mn = o->seen ? fminf(o->mn, bmn) : bmn;
        o->mx = o->seen ? fmaxf(o->mx, bmx) : bmx;
        break;
    case FROST_OBS_ENTROPY: /* keeps the true range too */
        frost_entropy_hist_observe(o->ent, n, x);
        o->mn = o->seen ? fminf(o->mn, bmn) : bmn;
        o->mx = o->seen ? fmaxf(o->mx, bmx) : bmx;
        break;
    case FROST_OBS_MINMAX:
        o->mn = o->seen ? fminf(o->mn, bmn) : bmn;
        o->mx = o->seen ? fmaxf(o->mx, bmx) : bmx;
        break;
    case FROST_OBS_EMA:
        if (o->seen) { /* PyTorch: min_val + c * (batch_min - min_val), in float32 */
            float c = o->cfg.ema_constant;
            o->mn = o->mn + c * (bmn - o->mn);
            o->mx = o->mx + c * (bmx - o->mx);
        } else {
            o->mn = bmn;
            o->mx = bmx;
        }
        break;
    case FROST_OBS_COUNT: break;
    }
    o->seen = true;
    return FROST_OK;
}

/* The KL-optimal symmetric threshold T, applied to the true range as the percentile
 * observer does. Non-negative data on an affine (unsigned) target spends all 2^bits
 * levels on [0, T]; otherwise |x| gets half of them (128 at 8 bits), TensorRT's int8. */
static void entropy_range(const frost_observer *o, float *mn, float *mx)
{
    bool one_sided = o->mn >= 0.0f && !o->cfg.symmetric;
    int levels = one_sided ? o->cfg.dst_bins : o->cfg.dst_bins / 2;
    double t = frost_entropy_threshold(o->ent, levels);
    *mn = o->mn;
    *mx = o->mx;
    if (t > 0.0) { /* 0: only zeros were seen, the true range [0, 0] stands */
        *mn = fmaxf(o->mn, (float)-t);
        *mx = fminf(o->mx, (float)t);
    }
}

frost_status frost_observer_range(const frost_observer *o, float *mn, float *mx)
{
    if (!o->seen)
        return frost_fail(FROST_ERR_NUMERIC, "%s observer has seen no finite value",
                          frost_observer_kind_name(o->cfg.kind));
    switch (o->cfg.kind) {
    case FROST_OBS_HISTOGRAM:
        frost_histogram_search(o->hist, o->cfg.dst_bins, mn, mx);
        return FROST_OK;
    case FROST_OBS_PERCENTILE: {
        /* A symmetric clipping threshold, applied to the true range (which for a
         * ReLU output is [0, max], so only the top is clipped). */
        float amax = frost_histogram_quantile(o->hist, (double)o->cfg.percentile / 100.0);
        *mn = fmaxf(o->mn, -amax);
        *mx = fminf(o->mx, amax);
        return FROST_OK;
    }
    case FROST_OBS_ENTROPY: entropy_range(o, mn, mx); return FROST_OK;
    case FROST_OBS_MINMAX:
    case FROST_OBS_EMA:
    case FROST_OBS_COUNT: break;
    }
    *mn = o->mn;
    *mx = o->mx;
    return FROST_OK;
}
