/*
 * Quantization parity with PyTorch 1.13, bit for bit: integer ranges and
 * scale/zero point (observers' calculate_qparams), per-tensor and per-channel
 * fake-quantization with their straight-through gradients, and the min-max and
 * moving-average observers.
 *
 * The reference values come from tests/fixtures/quant_reference.h, written by
 * tests/fixtures/make_quant_fixtures.py (see there for what each case holds).
 * Every float is compared with == (CHECK_FLOAT_EQ semantics); per-element
 * comparisons count their mismatches and print only the first few.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/quant_reference.h"
#include "frost/quant.h"
#include "harness.h"

#define N_ELEMS(a)  ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_REPORTS 5

/* Compares got[n] with want[n] exactly (+0 == -0); prints the first few differences
 * with the input that produced them and counts one failed check if any differ. */
static int compare_floats(const char *what, const char *name, int n, const float *x,
                          const float *got, const float *want)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (!(got[i] == want[i])) {
            if (bad < MAX_REPORTS)
                fprintf(stderr, "  %s %s[%d]: x=%a (%.9g): frost %a (%.9g), torch %a (%.9g)\n",
                        name, what, i, (double)x[i], (double)x[i], (double)got[i], (double)got[i],
                        (double)want[i], (double)want[i]);
            bad++;
        }
    if (bad) {
        fprintf(stderr, "  %s %s: %d of %d values differ\n", name, what, bad, n);
        frost_test_failed_checks++;
    }
    return bad;
}

/* ---- ranges and qparams ---- */

TEST(test_qrange_matches_fixture_ranges)
{
    for (int c = 0; c < N_ELEMS(qref_fq_cases); c++) {
        const qref_fq_case *r = &qref_fq_cases[c];
        int qmin = 0, qmax = 0;
        CHECK_EQ_INT(frost_qrange(r->bits, r->is_signed, r->narrow, false, &qmin, &qmax), FROST_OK);
        CHECK_EQ_INT(qmin, r->qmin);
        CHECK_EQ_INT(qmax, r->qmax);
    }
    for (int c = 0; c < N_ELEMS(qref_pc_cases); c++) {
        const qref_pc_case *r = &qref_pc_cases[c];
        int qmin = 0, qmax = 0;
        CHECK_EQ_INT(frost_qrange(r->bits, true, r->narrow, false, &qmin, &qmax), FROST_OK);
        CHECK_EQ_INT(qmin, r->qmin);
        CHECK_EQ_INT(qmax, r->qmax);
    }
    /* PyTorch's reduce_range: quint8 0..127, qint8 -64..63 */
    int qmin = 0, qmax = 0;
    CHECK_EQ_INT(frost_qrange(8, false, false, true, &qmin, &qmax), FROST_OK);
    CHECK_EQ_INT(qmin, 0);
    CHECK_EQ_INT(qmax, 127);
    CHECK_EQ_INT(frost_qrange(8, true, false, true, &qmin, &qmax), FROST_OK);
    CHECK_EQ_INT(qmin, -64);
    CHECK_EQ_INT(qmax, 63);
}

static void check_qparams(const char *name, float mn, float mx, int qmin, int qmax, int symmetric,
                          float want_scale, int want_zp)
{
    float scale = NAN;
    int zp = -12345;
    frost_status st = frost_qparams(mn, mx, qmin, qmax, symmetric != 0, &scale, &zp);
    if (st != FROST_OK || !(scale == want_scale) || zp != want_zp) {
        fprintf(stderr, "  %s: [%a, %a] q[%d, %d] %s: frost (%a, %d) status %d, torch (%a, %d)\n",
                name, (double)mn, (double)mx, qmin, qmax, symmetric ? "symmetric" : "affine",
                (double)scale, zp, (int)st, (double)want_scale, want_zp);
        frost_test_failed_checks++;
    }
}

TEST(test_qparams_table)
{
    for (int i = 0; i < N_ELEMS(qref_qparams); i++) {
        const qref_qparams_row *r = &qref_qparams[i];
        char name[32];
        snprintf(name, sizeof name, "qparams[%d]", i);
        check_qparams(name, r->mn, r->mx, r->qmin, r->qmax, r->symmetric, r->scale, r->zero_point);
    }
}

TEST(test_qparams_of_fake_quant_cases)
{
    for (int c = 0; c < N_ELEMS(qref_fq_cases); c++) {
        const qref_fq_case *r = &qref_fq_cases[c];
        check_qparams(r->name, r->obs_min, r->obs_max, r->qmin, r->qmax, r->symmetric, r->scale,
                      r->zero_point);
    }
    for (int c = 0; c < N_ELEMS(qref_pc_cases); c++) {
        const qref_pc_case *r = &qref_pc_cases[c];
        for (int ch = 0; ch < r->channels; ch++)
            check_qparams(r->name, r->obs_min[ch], r->obs_max[ch], r->qmin, r->qmax, 1,
                          r->scale[ch], r->zero_point[ch]);
    }
}

/* ---- fake quant ---- */

TEST(test_fake_quant_per_tensor)
{
    for (int c = 0; c < N_ELEMS(qref_fq_cases); c++) {
        const qref_fq_case *r = &qref_fq_cases[c];
        float *y = malloc(sizeof(float) * (size_t)r->n);
        float *dx = calloc((size_t)r->n, sizeof(float));
        frost_fake_quant(r->n, r->x, r->scale, r->zero_point, r->qmin, r->qmax, y);
        compare_floats("y", r->name, r->n, r->x, y, r->y);
        frost_fake_quant_backward(r->n, r->x, r->scale, r->zero_point, r->qmin, r->qmax, r->dy, dx);
        compare_floats("dx", r->name, r->n, r->x, dx, r->dx);
        /* in place (y == x) gives the same */
        memcpy(y, r->x, sizeof(float) * (size_t)r->n);
        frost_fake_quant(r->n, y, r->scale, r->zero_point, r->qmin, r->qmax, y);
        compare_floats("y in place", r->name, r->n, r->x, y, r->y);
        free(y);
        free(dx);
    }
}

TEST(test_fake_quant_backward_adds)
{
    /* backward adds into dx: starting from 1, dx = 1 + torch's x.grad */
    const qref_fq_case *r = &qref_fq_cases[N_ELEMS(qref_fq_cases) - 1];
    float *dx = malloc(sizeof(float) * (size_t)r->n);
    float *want = malloc(sizeof(float) * (size_t)r->n);
    for (int i = 0; i < r->n; i++) {
        dx[i] = 1.0f;
        want[i] = 1.0f + r->dx[i];
    }
    frost_fake_quant_backward(r->n, r->x, r->scale, r->zero_point, r->qmin, r->qmax, r->dy, dx);
    compare_floats("dx accumulated", r->name, r->n, r->x, dx, want);
    free(dx);
    free(want);
}

TEST(test_fake_quant_per_channel)
{
    for (int c = 0; c < N_ELEMS(qref_pc_cases); c++) {
        const qref_pc_case *r = &qref_pc_cases[c];
        int n = r->channels * r->k;
        float *y = malloc(sizeof(float) * (size_t)n);
        float *dx = calloc((size_t)n, sizeof(float));
        /* [C, K] on axis 0 is outer 1, channels C, inner K */
        frost_fake_quant_per_channel(1, r->channels, r->k, r->x, r->scale, r->zero_point, r->qmin,
                                     r->qmax, y);
        compare_floats("y", r->name, n, r->x, y, r->y);
        frost_fake_quant_per_channel_backward(1, r->channels, r->k, r->x, r->scale, r->zero_point,
                                              r->qmin, r->qmax, r->dy, dx);
        compare_floats("dx", r->name, n, r->x, dx, r->dx);
        free(y);
        free(dx);
    }
}

TEST(test_fake_quant_per_channel_layouts)
{
    /* The same [C, K] data laid out [K][C] (outer K, inner 1, as NHWC activations) must
     * give the same values: transpose, run, transpose back. */
    const qref_pc_case *r = &qref_pc_cases[N_ELEMS(qref_pc_cases) - 1];
    int C = r->channels, K = r->k, n = C * K;
    float *xt = malloc(sizeof(float) * (size_t)n), *dyt = malloc(sizeof(float) * (size_t)n);
    float *yt = malloc(sizeof(float) * (size_t)n), *dxt = calloc((size_t)n, sizeof(float));
    float *y = malloc(sizeof(float) * (size_t)n), *dx = malloc(sizeof(float) * (size_t)n);
    for (int c = 0; c < C; c++)
        for (int k = 0; k < K; k++) {
            xt[k * C + c] = r->x[c * K + k];
            dyt[k * C + c] = r->dy[c * K + k];
        }
    frost_fake_quant_per_channel(K, C, 1, xt, r->scale, r->zero_point, r->qmin, r->qmax, yt);
    frost_fake_quant_per_channel_backward(K, C, 1, xt, r->scale, r->zero_point, r->qmin, r->qmax,
                                          dyt, dxt);
    for (int c = 0; c < C; c++)
        for (int k = 0; k < K; k++) {
            y[c * K + k] = yt[k * C + c];
            dx[c * K + k] = dxt[k * C + c];
        }
    compare_floats("y [K][C]", r->name, n, r->x, y, r->y);
    compare_floats("dx [K][C]", r->name, n, r->x, dx, r->dx);
    free(xt);
    free(dyt);
    free(yt);
    free(dxt);
    free(y);
    free(dx);
}

/* ---- observers ---- */

TEST(test_observers)
{
    for (int c = 0; c < N_ELEMS(qref_obs_cases); c++) {
        const qref_obs_case *r = &qref_obs_cases[c];
        frost_observer_config cfg =
            frost_observer_defaults(r->ema ? FROST_OBS_EMA : FROST_OBS_MINMAX);
        frost_observer *o = NULL;
        CHECK_EQ_INT(frost_observer_new(&cfg, &o), FROST_OK);
        if (!o)
            continue;
        float mn = NAN, mx = NAN;
        for (int b = 0; b < r->n_batches; b++) {
            CHECK_EQ_INT(frost_observer_observe(o, r->batch_n, r->x + b * r->batch_n), FROST_OK);
            mn = mx = NAN;
            CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
            if (!(mn == r->min_val[b]) || !(mx == r->max_val[b])) {
                fprintf(stderr, "  %s batch %d: frost range [%a, %a], torch [%a, %a]\n", r->name, b,
                        (double)mn, (double)mx, (double)r->min_val[b], (double)r->max_val[b]);
                frost_test_failed_checks++;
            }
        }
        check_qparams(r->name, mn, mx, r->qmin, r->qmax, r->symmetric, r->scale, r->zero_point);
        /* the degenerate tensors must still give a usable scale */
        float scale = 0.0f;
        int zp = 0;
        if (frost_qparams(mn, mx, r->qmin, r->qmax, r->symmetric != 0, &scale, &zp) == FROST_OK) {
            CHECK(isfinite(scale) && scale >= FLT_EPSILON);
            CHECK(zp >= r->qmin && zp <= r->qmax);
        }
        frost_observer_free(o);
    }
}

TEST(test_all_zero_tensor_scale_is_epsilon)
{
    int found = 0;
    for (int c = 0; c < N_ELEMS(qref_obs_cases); c++) {
        const qref_obs_case *r = &qref_obs_cases[c];
        if (strstr(r->name, "_zeros_")) {
            CHECK_FLOAT_EQ(r->scale, FLT_EPSILON); /* what torch recorded */
            found++;
        }
    }
    CHECK(found == 2);
}

TEST(test_per_channel_observer)
{
    for (int c = 0; c < N_ELEMS(qref_pco_cases); c++) {
        const qref_pco_case *r = &qref_pco_cases[c];
        float mn[QREF_PC_MAX_CHANNELS], mx[QREF_PC_MAX_CHANNELS];
        frost_minmax_per_channel(r->outer, r->channels, r->inner, r->x, mn, mx);
        for (int ch = 0; ch < r->channels; ch++) {
            if (!(mn[ch] == r->min_val[ch]) || !(mx[ch] == r->max_val[ch])) {
                fprintf(stderr, "  %s channel %d: frost [%a, %a], torch [%a, %a]\n", r->name, ch,
                        (double)mn[ch], (double)mx[ch], (double)r->min_val[ch],
                        (double)r->max_val[ch]);
                frost_test_failed_checks++;
            }
            check_qparams(r->name, mn[ch], mx[ch], r->qmin, r->qmax, 1, r->scale[ch],
                          r->zero_point[ch]);
        }
    }
}

FROST_TEST_MAIN(RUN(test_qrange_matches_fixture_ranges), RUN(test_qparams_table),
                RUN(test_qparams_of_fake_quant_cases), RUN(test_fake_quant_per_tensor),
                RUN(test_fake_quant_backward_adds), RUN(test_fake_quant_per_channel),
                RUN(test_fake_quant_per_channel_layouts), RUN(test_observers),
                RUN(test_all_zero_tensor_scale_is_epsilon), RUN(test_per_channel_observer))
