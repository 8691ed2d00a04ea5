/*
 * The worked examples of docs/quantization.md (PyTorch fake-quant,
 * qparams and moving-average observer test vectors), reproduced exactly, and the
 * defined behaviour for bad input (include/frost/quant.h): invalid ranges, non-finite
 * bounds, constant and all-zero tensors, NaN and +-Inf through fake-quant and observers.
 *
 * Expected floats are the float32 expressions the doc defines, evaluated here in
 * float32 (this file is plain ISO C: no FMA contraction, FLT_EVAL_METHOD 0 on x86-64),
 * so they compare with ==. The doc's decimal values are checked as well, to float32
 * precision (2e-7 relative: a float32 result of float32 inputs is within ~1e-7 of the
 * real value).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "frost/quant.h"
#include "harness.h"

#define F32_RTOL 2e-7

/* ---- docs/quantization.md#fake-quant-worked-values (fake_quantize_per_tensor_affine) ---- */

TEST(test_fake_quant_tv_scale_point1_z10)
{
    /* scale .1, Z = 10, 0..255: .25 -> .2, .35 -> .4, -.15 -> -.2, 30 -> 24.5 (mask 0),
     * -2 -> -1 (mask 0). inv = 1/.1f = 10 exactly in float32, so q = 10 + rint(x * 10):
     * .25 * 10 = 2.5 -> 2 (half to even; TF's floor(x + .5) would give 3, i.e. .3);
     * .35f * 10 rounds to 3.5 in float32 -> 4; -.15f * 10 rounds to -1.5 -> -2;
     * 30 -> q 310, clamped to 255; -2 -> q -10, clamped to 0. */
    const float S = 0.1f;
    const int Z = 10;
    const float x[5] = {0.25f, 0.35f, -0.15f, 30.0f, -2.0f};
    const int q[5] = {12, 14, 8, 255, 0};
    const double spec[5] = {0.2, 0.4, -0.2, 24.5, -1.0};
    const float mask[5] = {1, 1, 1, 0, 0};
    const float dy[5] = {0.5f, -1.5f, 2.0f, 3.0f, -4.0f};
    float y[5], dx[5] = {0};
    frost_fake_quant(5, x, S, Z, 0, 255, y);
    frost_fake_quant_backward(5, x, S, Z, 0, 255, dy, dx);
    for (int i = 0; i < 5; i++) {
        CHECK_FLOAT_EQ(y[i], (float)(q[i] - Z) * S);
        CHECK_NEAR(y[i], spec[i], 0, F32_RTOL);
        CHECK_FLOAT_EQ(dx[i], mask[i] * dy[i]);
    }
    CHECK_FLOAT_EQ(1.0f / S, 10.0f); /* the premise of the comments above */
}

TEST(test_fake_quant_tv_scale_one)
{
    /* scale 1 (Z = 0, int8): +-.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2 (half to even) */
    const float x[7] = {0.5f, -0.5f, 1.5f, 2.5f, -2.5f, -1.5f, 3.5f};
    const float want[7] = {0.0f, 0.0f, 2.0f, 2.0f, -2.0f, -2.0f, 4.0f};
    float y[7];
    frost_fake_quant(7, x, 1.0f, 0, -128, 127, y);
    for (int i = 0; i < 7; i++)
        CHECK_FLOAT_EQ(y[i], want[i]);
    /* the mask is taken on the unclamped q: 127.5 rounds to 128 (outside), 126.5 to 126,
     * -128.5 to -128 (inside) */
    const float e[3] = {127.5f, 126.5f, -128.5f};
    const float dy[3] = {1.0f, 1.0f, 1.0f};
    float ye[3], dx[3] = {0};
    frost_fake_quant(3, e, 1.0f, 0, -128, 127, ye);
    frost_fake_quant_backward(3, e, 1.0f, 0, -128, 127, dy, dx);
    CHECK_FLOAT_EQ(ye[0], 127.0f);
    CHECK_FLOAT_EQ(dx[0], 0.0f);
    CHECK_FLOAT_EQ(ye[1], 126.0f);
    CHECK_FLOAT_EQ(dx[1], 1.0f);
    CHECK_FLOAT_EQ(ye[2], -128.0f);
    CHECK_FLOAT_EQ(dx[2], 1.0f);
}

TEST(test_fake_quant_multiplies_by_the_inverse)
{
    /* PyTorch rounds x * (1/S) (inv rounded to float32 first), not x / S. Near a tie
     * the two can round to different integers: find a few such x and check that frost
     * follows the multiply. */
    const float S = 0.3f, inv = 1.0f / S;
    int found = 0;
    for (int j = -100; j < 100 && found < 5; j++) {
        float x = (float)((j + 0.5) * (double)S);
        for (int k = 0; k < 16; k++, x = nextafterf(x, INFINITY)) {
            if (nearbyintf(x / S) == nearbyintf(x * inv))
                continue;
            float y;
            frost_fake_quant(1, &x, S, 0, -128, 127, &y);
            CHECK_FLOAT_EQ(y, nearbyintf(x * inv) * S);
            found++;
            break;
        }
    }
    CHECK(found == 5);
}

/* ---- docs/quantization.md#quantization-parameters: [-3.2, 1.3] ---- */

static void qparams_tv(float mn, float mx, int qmin, int qmax, bool symmetric, float want_scale,
                       double spec_scale, int want_zp)
{
    float s = NAN;
    int z = -999;
    CHECK_EQ_INT(frost_qparams(mn, mx, qmin, qmax, symmetric, &s, &z), FROST_OK);
    CHECK_FLOAT_EQ(s, want_scale);
    CHECK_NEAR(s, spec_scale, 0, F32_RTOL);
    CHECK_EQ_INT(z, want_zp);
}

TEST(test_qparams_tv)
{
    const float mn = -3.2f, mx = 1.3f;
    int qmin, qmax;
    /* quint8: (.0176470588, 181) */
    CHECK_EQ_INT(frost_qrange(8, false, false, false, &qmin, &qmax), FROST_OK);
    qparams_tv(mn, mx, qmin, qmax, false, (mx - mn) / 255.0f, .0176470588, 181);
    /* 0..127 (reduce_range): (.0354330709, 90) */
    CHECK_EQ_INT(frost_qrange(8, false, false, true, &qmin, &qmax), FROST_OK);
    CHECK_EQ_INT(qmax, 127);
    qparams_tv(mn, mx, qmin, qmax, false, (mx - mn) / 127.0f, .0354330709, 90);
    /* qint8: (.0176470588, 53) */
    CHECK_EQ_INT(frost_qrange(8, true, false, false, &qmin, &qmax), FROST_OK);
    qparams_tv(mn, mx, qmin, qmax, false, (mx - mn) / 255.0f, .0176470588, 53);
    /* symmetric qint8: max(3.2, 1.3) / 127.5 = .0250980392, Z = 0 */
    qparams_tv(mn, mx, qmin, qmax, true, 3.2f / 127.5f, .0250980392, 0);
    /* symmetric [-127, 127]: 3.2 / 127 = .0251968504 */
    CHECK_EQ_INT(frost_qrange(8, true, true, false, &qmin, &qmax), FROST_OK);
    CHECK_EQ_INT(qmin, -127);
    qparams_tv(mn, mx, qmin, qmax, true, 3.2f / 127.0f, .0251968504, 0);
    /* symmetric on the full quint8 range: the same scale, Z = 128 */
    qparams_tv(mn, mx, 0, 255, true, 3.2f / 127.5f, .0250980392, 128);
    /* real 0 is exactly representable: it fake-quantizes to 0 */
    float s;
    int z;
    CHECK_EQ_INT(frost_qparams(mn, mx, 0, 255, false, &s, &z), FROST_OK);
    float zero = 0.0f, y = 1.0f;
    frost_fake_quant(1, &zero, s, z, 0, 255, &y);
    CHECK_FLOAT_EQ(y, 0.0f);
}

/* ---- docs/quantization.md#observers: the EMA example ---- */

TEST(test_ema_tv)
{
    /* c = .01: (-1, 1), then (-3, 2): -1 + .01 * (-3 - -1) = -1.02, 1 + .01 * (2 - 1) = 1.01 */
    frost_observer_config cfg = frost_observer_defaults(FROST_OBS_EMA);
    CHECK_FLOAT_EQ(cfg.ema_constant, 0.01f);
    frost_observer *o = NULL;
    CHECK_EQ_INT(frost_observer_new(&cfg, &o), FROST_OK);
    if (!o)
        return;
    const float b1[2] = {-1.0f, 1.0f}, b2[3] = {-3.0f, 0.5f, 2.0f};
    float mn = NAN, mx = NAN;
    CHECK_EQ_INT(frost_observer_observe(o, 2, b1), FROST_OK);
    CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
    CHECK_FLOAT_EQ(mn, -1.0f); /* the first batch is copied */
    CHECK_FLOAT_EQ(mx, 1.0f);
    CHECK_EQ_INT(frost_observer_observe(o, 3, b2), FROST_OK);
    CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
    const float c = 0.01f;
    CHECK_FLOAT_EQ(mn, -1.0f + c * (-3.0f - -1.0f));
    CHECK_FLOAT_EQ(mx, 1.0f + c * (2.0f - 1.0f));
    CHECK_NEAR(mn, -1.02, 0, F32_RTOL);
    CHECK_NEAR(mx, 1.01, 0, F32_RTOL);
    frost_observer_free(o);
}

TEST(test_minmax_observer_running)
{
    frost_observer_config cfg = frost_observer_defaults(FROST_OBS_MINMAX);
    frost_observer *o = NULL;
    CHECK_EQ_INT(frost_observer_new(&cfg, &o), FROST_OK);
    if (!o)
        return;
    const float b1[2] = {-1.0f, 1.0f}, b2[2] = {-3.0f, 0.5f}, b3[1] = {0.25f};
    float mn, mx;
    frost_observer_observe(o, 2, b1);
    frost_observer_observe(o, 2, b2);
    frost_observer_observe(o, 1, b3);
    CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
    CHECK_FLOAT_EQ(mn, -3.0f);
    CHECK_FLOAT_EQ(mx, 1.0f);
    /* the range is reported before widening to include 0 */
    frost_observer_reset(o);
    const float pos[3] = {0.5f, 2.0f, 1.0f};
    frost_observer_observe(o, 3, pos);
    CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
    CHECK_FLOAT_EQ(mn, 0.5f);
    CHECK_FLOAT_EQ(mx, 2.0f);
    frost_observer_free(o);
}

/* ---- bad input ---- */

TEST(test_qrange_rejects_bad_bits)
{
    int qmin = 7, qmax = 7;
    CHECK_EQ_INT(frost_qrange(1, true, false, false, &qmin, &qmax), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qrange(1, false, false, false, &qmin, &qmax), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qrange(9, true, false, false, &qmin, &qmax), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qrange(9, false, false, false, &qmin, &qmax), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qrange(0, false, false, false, &qmin, &qmax), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qrange(-8, false, false, false, &qmin, &qmax), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qrange(2, true, false, true, &qmin, &qmax), FROST_ERR_ARG);
    CHECK(strlen(frost_last_error()) > 0);
    /* the smallest valid ranges */
    CHECK_EQ_INT(frost_qrange(2, true, false, false, &qmin, &qmax), FROST_OK);
    CHECK(qmin == -2 && qmax == 1);
    CHECK_EQ_INT(frost_qrange(2, true, true, false, &qmin, &qmax), FROST_OK);
    CHECK(qmin == -1 && qmax == 1);
    CHECK_EQ_INT(frost_qrange(2, false, false, false, &qmin, &qmax), FROST_OK);
    CHECK(qmin == 0 && qmax == 3);
    CHECK_EQ_INT(frost_qrange(3, true, false, true, &qmin, &qmax), FROST_OK);
    CHECK(qmin == -2 && qmax == 1);
    CHECK_EQ_INT(frost_qrange(8, true, true, false, &qmin, &qmax), FROST_OK);
    CHECK(qmin == -127 && qmax == 127);
}

TEST(test_qparams_rejects_non_finite)
{
    float s = 1.0f;
    int z = 0;
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++)
        for (int sym = 0; sym < 2; sym++) {
            CHECK_EQ_INT(frost_qparams(bad[i], 1.0f, 0, 255, sym, &s, &z), FROST_ERR_NUMERIC);
            CHECK_EQ_INT(frost_qparams(-1.0f, bad[i], -128, 127, sym, &s, &z), FROST_ERR_NUMERIC);
            CHECK_EQ_INT(frost_qparams(bad[i], bad[i], -128, 127, sym, &s, &z), FROST_ERR_NUMERIC);
        }
    /* min > max and an empty integer range are argument errors */
    CHECK_EQ_INT(frost_qparams(1.0f, -1.0f, 0, 255, false, &s, &z), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qparams(-1.0f, 1.0f, 5, 5, false, &s, &z), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_qparams(-1.0f, 1.0f, 5, 4, true, &s, &z), FROST_ERR_ARG);
}

TEST(test_degenerate_tensors_give_positive_scale)
{
    /* all zero: S = FLT_EPSILON, Z = the integer that is real 0; a constant tensor is
     * widened to include 0, so it gets an ordinary scale */
    const float zeros[8] = {0}, konst[8] = {0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f};
    const float nkonst[4] = {-2.5f, -2.5f, -2.5f, -2.5f};
    struct {
        int qmin, qmax;
        bool sym;
        int zp_of_zero;
    } r[4] = {
        {0, 255, false, 0}, {-128, 127, false, -128}, {-128, 127, true, 0}, {0, 255, true, 128}};
    for (int i = 0; i < 4; i++) {
        frost_observer_config cfg = frost_observer_defaults(FROST_OBS_MINMAX);
        frost_observer *o = NULL;
        float mn, mx, s = NAN;
        int z = -999;
        CHECK_EQ_INT(frost_observer_new(&cfg, &o), FROST_OK);
        if (!o)
            return;
        frost_observer_observe(o, 8, zeros);
        CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
        CHECK_EQ_INT(frost_qparams(mn, mx, r[i].qmin, r[i].qmax, r[i].sym, &s, &z), FROST_OK);
        CHECK_FLOAT_EQ(s, FLT_EPSILON);
        CHECK_EQ_INT(z, r[i].zp_of_zero);
        float y[8];
        frost_fake_quant(8, zeros, s, z, r[i].qmin, r[i].qmax, y);
        for (int k = 0; k < 8; k++)
            CHECK_FLOAT_EQ(y[k], 0.0f);

        frost_observer_reset(o);
        frost_observer_observe(o, 8, konst);
        CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
        CHECK_EQ_INT(frost_qparams(mn, mx, r[i].qmin, r[i].qmax, r[i].sym, &s, &z), FROST_OK);
        CHECK(isfinite(s) && s > 0.0f);
        CHECK_FLOAT_EQ(s, r[i].sym ? 0.75f / 127.5f : 0.75f / 255.0f);
        frost_fake_quant(8, konst, s, z, r[i].qmin, r[i].qmax, y);
        /* 0.75 is the top of the range: it comes back within one step (exactly one step
         * below when 0.75 * inv is the tie 127.5 of a symmetric range) */
        CHECK_NEAR(y[0], 0.75, 1.0001 * s, 0);

        frost_observer_reset(o);
        frost_observer_observe(o, 4, nkonst);
        CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
        CHECK_EQ_INT(frost_qparams(mn, mx, r[i].qmin, r[i].qmax, r[i].sym, &s, &z), FROST_OK);
        CHECK(isfinite(s) && s > 0.0f);
        frost_observer_free(o);
    }
    /* directly: [0, 0] and [c, c] */
    float s;
    int z;
    CHECK_EQ_INT(frost_qparams(0.0f, 0.0f, 0, 15, false, &s, &z), FROST_OK);
    CHECK_FLOAT_EQ(s, FLT_EPSILON);
    CHECK_EQ_INT(z, 0);
    CHECK_EQ_INT(frost_qparams(0.0f, 0.0f, -8, 7, true, &s, &z), FROST_OK);
    CHECK_FLOAT_EQ(s, FLT_EPSILON);
    CHECK_EQ_INT(z, 0);
    CHECK_EQ_INT(frost_qparams(1e-30f, 1e-30f, -128, 127, false, &s, &z), FROST_OK);
    CHECK_FLOAT_EQ(s, FLT_EPSILON);
    CHECK_EQ_INT(z, -128);
    /* per channel: a channel of zeros gets [0, 0] and the epsilon scale */
    const float w[2][3] = {{0.0f, 0.0f, 0.0f}, {-1.0f, 0.5f, 2.0f}};
    float pmn[2], pmx[2];
    frost_minmax_per_channel(1, 2, 3, &w[0][0], pmn, pmx);
    CHECK(pmn[0] == 0.0f && pmx[0] == 0.0f && pmn[1] == -1.0f && pmx[1] == 2.0f);
    CHECK_EQ_INT(frost_qparams(pmn[0], pmx[0], -127, 127, true, &s, &z), FROST_OK);
    CHECK_FLOAT_EQ(s, FLT_EPSILON);
}

TEST(test_fake_quant_non_finite_input)
{
    /* NaN stays NaN with gradient 0; +Inf saturates to the top of the range and -Inf to
     * the bottom, gradient 0. So do huge finite values (x * inv overflows to +-Inf). */
    const float S = 0.1f;
    const int Z = 10, qmin = 0, qmax = 255;
    const float x[6] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, FLT_MAX};
    const float dy[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
    const float top = (float)(qmax - Z) * S, bottom = (float)(qmin - Z) * S;
    float y[6], dx[6] = {0};
    frost_fake_quant(6, x, S, Z, qmin, qmax, y);
    frost_fake_quant_backward(6, x, S, Z, qmin, qmax, dy, dx);
    CHECK(isnan(y[0]));
    CHECK_FLOAT_EQ(y[1], top);
    CHECK_FLOAT_EQ(y[2], bottom);
    CHECK_FLOAT_EQ(y[3], top);
    CHECK_FLOAT_EQ(y[4], bottom);
    CHECK_FLOAT_EQ(y[5], top);
    for (int i = 0; i < 6; i++)
        CHECK_FLOAT_EQ(dx[i], 0.0f);

    /* per channel, [2 channels][3]: channel 0 symmetric S .5, channel 1 S 2 */
    const float xc[6] = {NAN, INFINITY, -INFINITY, -INFINITY, NAN, INFINITY};
    const float sc[2] = {0.5f, 2.0f};
    const int zc[2] = {0, 0};
    float yc[6], dxc[6] = {0};
    frost_fake_quant_per_channel(1, 2, 3, xc, sc, zc, -127, 127, yc);
    frost_fake_quant_per_channel_backward(1, 2, 3, xc, sc, zc, -127, 127, dy, dxc);
    CHECK(isnan(yc[0]));
    CHECK_FLOAT_EQ(yc[1], 127.0f * 0.5f);
    CHECK_FLOAT_EQ(yc[2], -127.0f * 0.5f);
    CHECK_FLOAT_EQ(yc[3], -127.0f * 2.0f);
    CHECK(isnan(yc[4]));
    CHECK_FLOAT_EQ(yc[5], 127.0f * 2.0f);
    for (int i = 0; i < 6; i++)
        CHECK_FLOAT_EQ(dxc[i], 0.0f);

    /* finite neighbours are unaffected */
    const float mixed[3] = {0.25f, NAN, 0.35f};
    float ym[3];
    frost_fake_quant(3, mixed, S, Z, qmin, qmax, ym);
    CHECK_FLOAT_EQ(ym[0], 2.0f * S);
    CHECK(isnan(ym[1]));
    CHECK_FLOAT_EQ(ym[2], 4.0f * S);
}

TEST(test_observers_skip_non_finite)
{
    const float x[6] = {NAN, -INFINITY, 0.5f, INFINITY, -0.25f, NAN};
    const float only_nan[3] = {NAN, NAN, NAN};
    const float only_inf[2] = {INFINITY, -INFINITY};
    frost_observer_kind kinds[2] = {FROST_OBS_MINMAX, FROST_OBS_EMA};
    for (int k = 0; k < 2; k++) {
        frost_observer_config cfg = frost_observer_defaults(kinds[k]);
        frost_observer *o = NULL;
        float mn = 1.0f, mx = 1.0f;
        CHECK_EQ_INT(frost_observer_new(&cfg, &o), FROST_OK);
        if (!o)
            return;
        /* nothing seen yet, then only NaN, then only +-Inf: still no range */
        CHECK(frost_observer_range(o, &mn, &mx) != FROST_OK);
        CHECK_EQ_INT(frost_observer_observe(o, 3, only_nan), FROST_OK);
        CHECK(frost_observer_range(o, &mn, &mx) != FROST_OK);
        CHECK_EQ_INT(frost_observer_observe(o, 2, only_inf), FROST_OK);
        CHECK(frost_observer_range(o, &mn, &mx) != FROST_OK);
        CHECK(strlen(frost_last_error()) > 0);
        /* the first finite batch sets the range, ignoring its NaN/Inf */
        CHECK_EQ_INT(frost_observer_observe(o, 6, x), FROST_OK);
        CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
        CHECK_FLOAT_EQ(mn, -0.25f);
        CHECK_FLOAT_EQ(mx, 0.5f);
        /* a later NaN-only batch leaves it alone (no EMA step towards NaN) */
        CHECK_EQ_INT(frost_observer_observe(o, 3, only_nan), FROST_OK);
        CHECK_EQ_INT(frost_observer_range(o, &mn, &mx), FROST_OK);
        CHECK_FLOAT_EQ(mn, -0.25f);
        CHECK_FLOAT_EQ(mx, 0.5f);
        frost_observer_free(o);
    }
    /* per channel: non-finite values are skipped; a channel with none finite gets [0, 0] */
    const float w[2][3] = {{NAN, INFINITY, -INFINITY}, {NAN, -1.5f, INFINITY}};
    float pmn[2], pmx[2];
    frost_minmax_per_channel(1, 2, 3, &w[0][0], pmn, pmx);
    CHECK(pmn[0] == 0.0f && pmx[0] == 0.0f);
    CHECK(pmn[1] == -1.5f && pmx[1] == -1.5f);
}

FROST_TEST_MAIN(RUN(test_fake_quant_tv_scale_point1_z10), RUN(test_fake_quant_tv_scale_one),
                RUN(test_fake_quant_multiplies_by_the_inverse), RUN(test_qparams_tv),
                RUN(test_ema_tv), RUN(test_minmax_observer_running),
                RUN(test_qrange_rejects_bad_bits), RUN(test_qparams_rejects_non_finite),
                RUN(test_degenerate_tensors_give_positive_scale),
                RUN(test_fake_quant_non_finite_input), RUN(test_observers_skip_non_finite))
