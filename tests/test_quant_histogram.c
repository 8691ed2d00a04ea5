/*
 * The histogram observer (src/quant/histogram.c).
 *
 * frost_histogram_observe + frost_histogram_search are checked bit for bit against runs of
 * PyTorch 1.13's HistogramObserver recorded in tests/fixtures/hist_reference.h
 * (made by make_hist_fixtures.py); the rest against numbers worked out by hand.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/hist_reference.h"
#include "frost/quant.h"
#include "harness.h"
#include "quant/histogram.h"

/* Sum of counts and of index * count, in double and bin order (as the fixture). */
static void checksums(const frost_histogram *h, double *sum, double *moment)
{
    double s = 0.0, m = 0.0;
    for (int i = 0; i < FROST_HIST_BINS; i++) {
        s += h->bins[i];
        m += (double)i * h->bins[i];
    }
    *sum = s;
    *moment = m;
}

static void check_step(const frost_histogram *h, const histref_step *st, const char *name, int k)
{
    int failed_before = frost_test_failed_checks;
    CHECK_FLOAT_EQ(h->min, st->min_val);
    CHECK_FLOAT_EQ(h->max, st->max_val);
    double sum, moment;
    checksums(h, &sum, &moment);
    CHECK(sum == st->hist_sum);
    CHECK(moment == st->hist_moment);
    float mn, mx;
    frost_histogram_search(h, 256, &mn, &mx);
    CHECK_FLOAT_EQ(mn, st->new_min);
    CHECK_FLOAT_EQ(mx, st->new_max);
    /* calculate_qparams = the searched range through the quint8 affine rule */
    float scale;
    int zp;
    CHECK(frost_qparams(mn, mx, 0, 255, false, &scale, &zp) == FROST_OK);
    CHECK_FLOAT_EQ(scale, st->scale);
    CHECK_EQ_INT(zp, st->zero_point);
    if (frost_test_failed_checks != failed_before)
        fprintf(stderr, "  (case %s, after batch %d)\n", name, k);
}

TEST(test_matches_pytorch_histogram_observer)
{
    frost_histogram *h = malloc(sizeof *h);
    CHECK(h != NULL);
    if (!h)
        return;
    for (int c = 0; c < HISTREF_N_CASES; c++) {
        const histref_case *hc = &histref_cases[c];
        frost_histogram_reset(h);
        h->torch113_int_bounds = true; /* the fixture comes from torch 1.13 */
        for (int k = 0; k < hc->n_steps; k++) {
            const histref_step *st = &histref_steps[hc->first_step + k];
            CHECK(frost_histogram_observe(h, st->n, histref_values + st->offset) == FROST_OK);
            check_step(h, st, hc->name, k);
        }
    }
    free(h);
}

/* Bins holding 1 each over [0, 2048]: the p-quantile is the upper edge of bin
 * ceil(p * 2048) - 1, i.e. p * 2048 rounded up to a whole number. */
TEST(test_quantile_of_uniform_histogram)
{
    static frost_histogram h;
    frost_histogram_reset(&h);
    h.seen = true;
    h.min = 0.0f;
    h.max = 2048.0f;
    for (int i = 0; i < FROST_HIST_BINS; i++)
        h.bins[i] = 1.0f;
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.5), 1024.0f);
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.25), 512.0f);
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.9999), 2048.0f); /* 2047.8 -> last bin */
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.999), 2046.0f);  /* 2045.95 -> bin 2045 */
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 1e-9), 1.0f);
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 1.0), 2048.0f);
    /* Shifted range: edges are min + (max - min) * (i + 1) / 2048. */
    h.min = -1.0f;
    h.max = 1.0f;
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.5), 0.0f);
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.75), 0.5f);
}

/* Observed values spread evenly over [0, 1] (integer ends, so PyTorch's int()
 * of the range changes nothing): quantiles land within one bin of p. */
TEST(test_quantile_of_observed_values)
{
    enum { N = 10001 };
    static float x[N];
    static frost_histogram h;
    for (int i = 0; i < N; i++)
        x[i] = (float)i / (float)(N - 1);
    frost_histogram_reset(&h);
    CHECK(frost_histogram_observe(&h, N, x) == FROST_OK);
    const double bin = 1.0 / FROST_HIST_BINS;
    CHECK_NEAR(frost_histogram_quantile(&h, 0.5), 0.5, bin, 0.0);
    CHECK_NEAR(frost_histogram_quantile(&h, 0.99), 0.99, bin, 0.0);
    CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 1.0), 1.0f);
}

TEST(test_non_finite_values_skipped)
{
    static frost_histogram a, b;
    const float with[] = {NAN, 1.0f, -INFINITY, 0.5f, INFINITY, -0.25f, NAN};
    const float without[] = {1.0f, 0.5f, -0.25f};
    frost_histogram_reset(&a);
    frost_histogram_reset(&b);
    CHECK(frost_histogram_observe(&a, 7, with) == FROST_OK);
    CHECK(frost_histogram_observe(&b, 3, without) == FROST_OK);
    CHECK(a.seen);
    CHECK_FLOAT_EQ(a.min, -0.25f);
    CHECK_FLOAT_EQ(a.max, 1.0f);
    CHECK(memcmp(&a, &b, sizeof a) == 0);

    /* A batch with nothing finite changes nothing, before or after real data. */
    const float junk[] = {NAN, INFINITY, -INFINITY};
    static frost_histogram c;
    frost_histogram_reset(&c);
    CHECK(frost_histogram_observe(&c, 3, junk) == FROST_OK);
    CHECK(!c.seen);
    CHECK(frost_histogram_observe(&a, 3, junk) == FROST_OK);
    CHECK(memcmp(&a, &b, sizeof a) == 0);

    /* Mixed into a later, wider batch: the range is that of the finite values. */
    const float wider[] = {INFINITY, -3.0f, NAN, 2.5f};
    CHECK(frost_histogram_observe(&a, 4, wider) == FROST_OK);
    CHECK_FLOAT_EQ(a.min, -3.0f);
    CHECK(isfinite(a.max) && a.max >= 2.5f);
    float mn, mx;
    frost_histogram_search(&a, 256, &mn, &mx);
    CHECK(isfinite(mn) && isfinite(mx) && mn <= mx);
}

/* A constant tensor has a zero-width range: the search must return it unchanged
 * (PyTorch: dst_bin_width == 0 short-cuts the error), never NaN. */
TEST(test_constant_tensor_has_no_nan)
{
    static frost_histogram h;
    float x[100];
    const float values[] = {0.75f, 0.0f, -3.0f, 1e8f};
    for (int v = 0; v < 4; v++) {
        for (int i = 0; i < 100; i++)
            x[i] = values[v];
        frost_histogram_reset(&h);
        CHECK(frost_histogram_observe(&h, 100, x) == FROST_OK);
        CHECK_FLOAT_EQ(h.min, values[v]);
        CHECK_FLOAT_EQ(h.max, values[v]);
        float mn, mx;
        frost_histogram_search(&h, 256, &mn, &mx);
        CHECK_FLOAT_EQ(mn, values[v]);
        CHECK_FLOAT_EQ(mx, values[v]);
        CHECK_FLOAT_EQ(frost_histogram_quantile(&h, 0.5), values[v]);
        float scale;
        int zp;
        CHECK(frost_qparams(mn, mx, 0, 255, false, &scale, &zp) == FROST_OK);
        CHECK(isfinite(scale) && scale >= FLT_EPSILON);
    }
}

/* Widening from a tiny range to a large one: PyTorch would allocate
 * 2048 * 128 * (10 / 1e-6) floats here; frost re-bins without that array.
 * The old mass lands in the first new bin and no old count is lost; new values
 * above int(max) are not counted (PyTorch 1.13's int() of the histc range). */
TEST(test_large_widening_keeps_counts)
{
    static frost_histogram h;
    float small[100], large[100];
    for (int i = 0; i < 100; i++) {
        small[i] = 1e-8f * (float)i; /* [0, 1e-6) */
        large[i] = 0.1f * (float)i;  /* [0, 9.9], then 10 */
    }
    large[99] = 10.0f;
    frost_histogram_reset(&h);
    CHECK(frost_histogram_observe(&h, 100, small) == FROST_OK);
    CHECK(frost_histogram_observe(&h, 100, large) == FROST_OK);
    CHECK_FLOAT_EQ(h.min, 0.0f);
    CHECK(h.max >= 9.99f && h.max <= 10.01f);
    int counted = 0;
    for (int i = 0; i < 100; i++)
        counted += large[i] <= truncf(h.max);
    double sum, moment;
    checksums(&h, &sum, &moment);
    CHECK_NEAR(sum, 100.0 + counted, 1e-3, 0.0);
    CHECK(h.bins[0] >= 100.0f); /* the old mass + the new 0.0 */

    /* An old range too narrow for the grid (width / 262144 underflows to 0):
     * restart from the new batch, as PyTorch does for width 0. */
    const float tiny[] = {0.0f, 1e-40f};
    frost_histogram_reset(&h);
    CHECK(frost_histogram_observe(&h, 2, tiny) == FROST_OK);
    CHECK(frost_histogram_observe(&h, 100, large) == FROST_OK);
    CHECK_FLOAT_EQ(h.min, 0.0f);
    CHECK_FLOAT_EQ(h.max, 10.0f);
    checksums(&h, &sum, &moment);
    CHECK(sum == 100.0);
}

TEST(test_reset)
{
    static frost_histogram h;
    const float x[] = {1.0f, 2.0f};
    CHECK(frost_histogram_observe(&h, 2, x) == FROST_OK);
    frost_histogram_reset(&h);
    CHECK(!h.seen);
    double sum, moment;
    checksums(&h, &sum, &moment);
    CHECK(sum == 0.0);
}

/* frost's default bins over exactly [min, max]: every finite value is counted, also the
 * ones beyond int(min)/int(max) that PyTorch 1.13 drops. */
TEST(test_default_counts_every_value)
{
    static frost_histogram h;
    const float x[] = {-2.5f, -0.3f, 0.0f, 1.2f, 3.7f};
    frost_histogram_reset(&h);
    CHECK(frost_histogram_observe(&h, 5, x) == FROST_OK);
    double total = 0;
    for (int i = 0; i < FROST_HIST_BINS; i++)
        total += h.bins[i];
    CHECK_NEAR(total, 5.0, 0, 0);
    CHECK(h.bins[0] == 1.0f && h.bins[FROST_HIST_BINS - 1] == 1.0f);
    const float y[] = {-7.9f, 6.6f}; /* widens the range: the old counts survive */
    CHECK(frost_histogram_observe(&h, 2, y) == FROST_OK);
    total = 0;
    for (int i = 0; i < FROST_HIST_BINS; i++)
        total += h.bins[i];
    CHECK_NEAR(total, 7.0, 1e-9, 0);
}

FROST_TEST_MAIN(RUN(test_matches_pytorch_histogram_observer), RUN(test_default_counts_every_value),
                RUN(test_quantile_of_uniform_histogram), RUN(test_quantile_of_observed_values),
                RUN(test_non_finite_values_skipped), RUN(test_constant_tensor_has_no_nan),
                RUN(test_large_widening_keeps_counts), RUN(test_reset))
