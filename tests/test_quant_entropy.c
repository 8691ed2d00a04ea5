/*
 * The entropy (KL-divergence) observer (src/quant/entropy.c, FROST_OBS_ENTROPY).
 *
 * Worked examples checked by hand, the threshold search against an independent numpy
 * implementation (tests/fixtures/entropy_reference.h, made by make_entropy_fixtures.py),
 * the histogram's binning and widening, the levels chosen for one- and two-sided data,
 * and determinism.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/entropy_reference.h"
#include "frost/quant.h"
#include "harness.h"
#include "quant/entropy.h"

/* TensorRT's slide example: [1, 0, 2, 3, 5, 3, 1, 7] to 2 levels is [6, 16]; expanded
 * over the non-zero bins (3 and 4 of them) it is [2, 0, 2, 2, 4, 4, 4, 4]. */
TEST(test_expand_keeps_zeros)
{
    const double bins[] = {1, 0, 2, 3, 5, 3, 1, 7};
    bool nonzero[8];
    for (int k = 0; k < 8; k++)
        nonzero[k] = bins[k] != 0.0;
    double q[8];
    frost_entropy_expand(bins, nonzero, 8, 2, q);
    const double want[] = {2, 0, 2, 2, 4, 4, 4, 4};
    for (int k = 0; k < 8; k++)
        CHECK_NEAR(q[k], want[k], 0, 0);
    /* 7 bins to 3 levels: groups of 2, the last takes 3 bins */
    frost_entropy_expand(bins, nonzero, 7, 3, q);
    const double want7[] = {1, 0, 2.5, 2.5, 3, 3, 3};
    for (int k = 0; k < 7; k++)
        CHECK_NEAR(q[k], want7[k], 0, 0);
}

TEST(test_divergence_worked_example)
{
    const double bins[] = {1, 0, 2, 3, 5, 3, 1, 7}; /* 22 values */
    /* All 8 bins: P = bins / 22, Q = [2, 0, 2, 2, 4, 4, 4, 4] / 22. */
    double want = (log(1.0 / 2) + 2 * log(2.0 / 2) + 3 * log(3.0 / 2) + 5 * log(5.0 / 4) +
                   3 * log(3.0 / 4) + log(1.0 / 4) + 7 * log(7.0 / 4)) /
                  22;
    CHECK_NEAR(frost_entropy_divergence(bins, 8, 8, 2), want, 1e-15, 1e-13);
    /* 4 bins: the 16 outliers go to P[3] = 19, so P = [1, 0, 2, 19] / 22; Q comes from
     * [1, 0, 2, 3] (6 values): [1, 0] and [2.5, 2.5], normalized by 6. */
    want = (1.0 / 22) * log((1.0 / 22) / (1.0 / 6)) + (2.0 / 22) * log((2.0 / 22) / (2.5 / 6)) +
           (19.0 / 22) * log((19.0 / 22) / (2.5 / 6));
    CHECK_NEAR(frost_entropy_divergence(bins, 8, 4, 2), want, 1e-15, 1e-13);
    /* [1, 0, 0, 5] keeping 3 bins: P = [1, 0, 5] (the outlier folded into bin 2), but Q's
     * second level, bins [0, 0], holds nothing: Q misses P there. Keeping 4 is fine. */
    const double holes[] = {1, 0, 0, 5};
    CHECK(isinf(frost_entropy_divergence(holes, 4, 3, 2)));
    CHECK(isfinite(frost_entropy_divergence(holes, 4, 4, 2)));
}

/* A uniform histogram is reproduced exactly by Q when nothing is clipped (16 equal bins
 * per level), so KL = 0 at 2048 bins; every smaller threshold piles the clipped mass
 * into its last bin. The threshold is the maximum. */
TEST(test_uniform_keeps_the_maximum)
{
    static double bins[FROST_ENTROPY_BINS];
    for (int k = 0; k < FROST_ENTROPY_BINS; k++)
        bins[k] = 100.0;
    CHECK_NEAR(frost_entropy_divergence(bins, FROST_ENTROPY_BINS, FROST_ENTROPY_BINS, 128), 0.0,
               1e-15, 0);
    CHECK_EQ_INT(frost_entropy_best_bins(bins, FROST_ENTROPY_BINS, 128), FROST_ENTROPY_BINS);
    CHECK_EQ_INT(frost_entropy_best_bins(bins, FROST_ENTROPY_BINS, 256), FROST_ENTROPY_BINS);
    /* Through the observer: +-(k + 0.5) / 1024 for k < 2047 and +-2 fill one value per bin
     * of width 1/1024 (exact in float), so the range is the whole [-2, 2]. */
    float *x = malloc(2 * FROST_ENTROPY_BINS * sizeof *x);
    CHECK(x != NULL);
    if (!x)
        return;
    for (int k = 0; k < FROST_ENTROPY_BINS; k++) {
        float v = k == FROST_ENTROPY_BINS - 1 ? 2.0f : ((float)k + 0.5f) / 1024.0f;
        x[2 * k] = v;
        x[2 * k + 1] = -v;
    }
    frost_observer_config cfg = frost_observer_defaults(FROST_OBS_ENTROPY);
    frost_observer *o;
    CHECK(frost_observer_new(&cfg, &o) == FROST_OK);
    CHECK(frost_observer_observe(o, 2 * FROST_ENTROPY_BINS, x) == FROST_OK);
    float mn = 0, mx = 0;
    CHECK(frost_observer_range(o, &mn, &mx) == FROST_OK);
    CHECK_FLOAT_EQ(mn, -2.0f);
    CHECK_FLOAT_EQ(mx, 2.0f);
    frost_observer_free(o);
    free(x);
}

/* A smooth body (counts 1e6 * exp(-k / 40) in bins 0..399) and a long sparse tail of a
 * few counts out to bin 2047. Keeping the tail costs 16 bins per level, which flattens
 * the body (a factor exp(-16/40) across each level); clipping at the end of the body
 * costs 3 bins per level and moves 12 outliers of ~4e7 values. The best cut is exactly
 * after the body's last bin (the numpy reference gives 400 too). */
TEST(test_sparse_tail_is_cut)
{
    static double bins[FROST_ENTROPY_BINS];
    memset(bins, 0, sizeof bins);
    for (int k = 0; k < 400; k++)
        bins[k] = round(1e6 * exp(-k / 40.0));
    bins[1500] = 1;
    bins[1501] = 3;
    bins[1800] = 2;
    bins[1801] = 1;
    bins[1803] = 4;
    bins[2047] = 1;
    int best = frost_entropy_best_bins(bins, FROST_ENTROPY_BINS, 128);
    CHECK_EQ_INT(best, 400);
    double d_best = frost_entropy_divergence(bins, FROST_ENTROPY_BINS, best, 128);
    double d_all = frost_entropy_divergence(bins, FROST_ENTROPY_BINS, FROST_ENTROPY_BINS, 128);
    CHECK(d_all > 30.0 * d_best);
}

TEST(test_matches_numpy_reference)
{
    for (int c = 0; c < ENTROPYREF_N_CASES; c++) {
        const entropyref_case *rc = &entropyref_cases[c];
        int failed_before = frost_test_failed_checks;
        int best = frost_entropy_best_bins(rc->bins, FROST_ENTROPY_BINS, rc->levels);
        CHECK_EQ_INT(best, rc->best_bins);
        double d = frost_entropy_divergence(rc->bins, FROST_ENTROPY_BINS, best, rc->levels);
        CHECK_NEAR(d, rc->best_divergence, 0, 1e-12);
        if (frost_test_failed_checks != failed_before)
            fprintf(stderr, "  (case %s)\n", rc->name);
    }
    /* the cases cover both sides: a cut tail and an uncut maximum */
    CHECK(entropyref_cases[2].best_bins < 256);
    CHECK_EQ_INT(entropyref_cases[3].best_bins, FROST_ENTROPY_BINS);
}

/* Bins of width max/2048 over the first batch; a larger batch doubles the width (pairs
 * merge); exact zeros are counted apart; NaN and Inf are skipped. */
TEST(test_histogram_binning_and_widening)
{
    frost_entropy_hist *h = malloc(sizeof *h);
    CHECK(h != NULL);
    if (!h)
        return;
    frost_entropy_hist_reset(h);
    const float a[] = {0.0f, 0.5f, -1.0f, NAN, INFINITY};
    frost_entropy_hist_observe(h, 5, a);
    CHECK_NEAR(h->width, 1.0 / 2048, 0, 0);
    CHECK_NEAR(h->zeros, 1.0, 0, 0);
    CHECK_NEAR(h->bins[1024], 1.0, 0, 0);
    CHECK_NEAR(h->bins[2047], 1.0, 0, 0);
    const float b[] = {3.0f};
    frost_entropy_hist_observe(h, 1, b); /* 3 > 1: width x2 (top 2), x2 again (top 4) */
    CHECK_NEAR(h->width, 4.0 / 2048, 0, 0);
    CHECK_NEAR(h->bins[256], 1.0, 0, 0);  /* 0.5 */
    CHECK_NEAR(h->bins[511], 1.0, 0, 0);  /* 1.0 was in the last bin, 2047 / 4 */
    CHECK_NEAR(h->bins[1536], 1.0, 0, 0); /* 3.0 */
    double total = 0;
    for (int k = 0; k < FROST_ENTROPY_BINS; k++)
        total += h->bins[k];
    CHECK_NEAR(total, 3.0, 0, 0);
    free(h);
}

/* Deterministic values from an LCG: a body u^2 in [0, 1) and every 997th value a sparse
 * tail 5 + 20u, signed or not. */
static void heavy_tailed(float *x, int n, bool signed_values, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        double u = (seed >> 8) / 16777216.0;
        double v = i % 997 == 0 ? 5.0 + 20.0 * u : u * u;
        x[i] = (float)(signed_values && (seed & 1) ? -v : v);
    }
}

static void observe_range(frost_observer_config cfg, int n, const float *x, float *mn, float *mx)
{
    frost_observer *o;
    *mn = *mx = NAN;
    CHECK(frost_observer_new(&cfg, &o) == FROST_OK);
    if (!o)
        return;
    for (int i = 0; i < n; i += 1000) /* several batches */
        CHECK(frost_observer_observe(o, n - i < 1000 ? n - i : 1000, x + i) == FROST_OK);
    CHECK(frost_observer_range(o, mn, mx) == FROST_OK);
    frost_observer_free(o);
}

/* Non-negative data on the default (affine, unsigned) target gets 256 levels over [0, T];
 * a symmetric target, or data with negative values, gets 128 over |x|; the threshold is
 * applied to the true range. */
TEST(test_levels_follow_the_target)
{
    enum { N = 20000 };
    float *x = malloc(N * sizeof *x);
    frost_entropy_hist *h = malloc(sizeof *h);
    CHECK(x && h);
    if (!x || !h) {
        free(x);
        free(h);
        return;
    }
    heavy_tailed(x, N, false, 7);
    frost_entropy_hist_reset(h);
    for (int i = 0; i < N; i += 1000)
        frost_entropy_hist_observe(h, 1000, x + i);
    float t256 = (float)frost_entropy_threshold(h, 256),
          t128 = (float)frost_entropy_threshold(h, 128);
    float top = 0.0f;
    for (int i = 0; i < N; i++)
        top = fmaxf(top, x[i]);
    CHECK(t256 != t128 && t128 < 0.5f * top && t256 < 0.5f * top); /* both clip the tail */
    frost_observer_config cfg = frost_observer_defaults(FROST_OBS_ENTROPY);
    float mn, mx;
    observe_range(cfg, N, x, &mn, &mx);
    CHECK_FLOAT_EQ(mx, t256);
    CHECK(mn >= 0.0f && mn < 1e-6f); /* the true minimum, not -T */
    cfg.symmetric = true;
    observe_range(cfg, N, x, &mn, &mx);
    CHECK_FLOAT_EQ(mx, t128);
    heavy_tailed(x, N, true, 7); /* the same |x| with signs: the same histogram */
    cfg.symmetric = false;
    observe_range(cfg, N, x, &mn, &mx);
    CHECK_FLOAT_EQ(mn, -t128);
    CHECK_FLOAT_EQ(mx, t128);
    free(x);
    free(h);
}

TEST(test_deterministic_and_reset)
{
    enum { N = 5000 };
    float x[N];
    heavy_tailed(x, N, true, 99);
    frost_observer_config cfg = frost_observer_defaults(FROST_OBS_ENTROPY);
    frost_observer *a, *b;
    CHECK(frost_observer_new(&cfg, &a) == FROST_OK && frost_observer_new(&cfg, &b) == FROST_OK);
    CHECK(frost_observer_observe(a, N, x) == FROST_OK);
    CHECK(frost_observer_observe(b, N, x) == FROST_OK);
    float r[4];
    CHECK(frost_observer_range(a, &r[0], &r[1]) == FROST_OK);
    CHECK(frost_observer_range(b, &r[2], &r[3]) == FROST_OK);
    CHECK(memcmp(&r[0], &r[2], 2 * sizeof(float)) == 0);
    frost_observer_reset(a); /* after a reset: nothing seen, then the same answer again */
    CHECK(frost_observer_range(a, &r[2], &r[3]) != FROST_OK);
    CHECK(frost_observer_observe(a, N, x) == FROST_OK);
    CHECK(frost_observer_range(a, &r[2], &r[3]) == FROST_OK);
    CHECK(memcmp(&r[0], &r[2], 2 * sizeof(float)) == 0);
    frost_observer_free(a);
    frost_observer_free(b);
}

TEST(test_zeros_names_and_config)
{
    frost_observer_config cfg = frost_observer_defaults(FROST_OBS_ENTROPY);
    frost_observer *o;
    CHECK(frost_observer_new(&cfg, &o) == FROST_OK);
    const float z[] = {0.0f, -0.0f, NAN, 0.0f};
    CHECK(frost_observer_observe(o, 4, z) == FROST_OK);
    float mn = 1, mx = 1;
    CHECK(frost_observer_range(o, &mn, &mx) == FROST_OK); /* only zeros: [0, 0] */
    CHECK(mn == 0.0f && mx == 0.0f);
    frost_observer_free(o);
    CHECK_EQ_INT(frost_observer_kind_parse("entropy"), FROST_OBS_ENTROPY);
    CHECK(strcmp(frost_observer_kind_name(FROST_OBS_ENTROPY), "entropy") == 0);
    cfg.dst_bins = 2; /* half of it would be one level */
    CHECK(frost_observer_new(&cfg, &o) == FROST_ERR_ARG);
    CHECK(o == NULL);
}

FROST_TEST_MAIN(RUN(test_expand_keeps_zeros), RUN(test_divergence_worked_example),
                RUN(test_uniform_keeps_the_maximum), RUN(test_sparse_tail_is_cut),
                RUN(test_matches_numpy_reference), RUN(test_histogram_binning_and_widening),
                RUN(test_levels_follow_the_target), RUN(test_deterministic_and_reset),
                RUN(test_zeros_names_and_config))
