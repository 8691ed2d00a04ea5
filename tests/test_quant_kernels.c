/*
 * Fake-quant kernels: the AVX2 versions (x86/fq_avx2.c) against the portable
 * references, bit for bit, on random values plus the hard cases: exact .5 ties
 * of x*inv, range ends, out-of-range, +-Inf, NaN, -0, lengths that leave tails.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "frost/frost.h"
#include "harness.h"
#include "quant/fq_kernels.h"

#define N 203 /* not a multiple of 8 */

static void fill_hard(float *x, float scale, unsigned long long seed)
{
    frost_test_fill_uniform(x, N, -40.0f * scale, 300.0f * scale, seed);
    for (int i = 0; i < 40; i++) /* ties: (k + .5) * scale */
        x[i * 3] = ((float)(i - 20) + 0.5f) * scale;
    x[1] = INFINITY;
    x[2] = -INFINITY;
    x[4] = NAN;
    x[5] = -0.0f;
    x[7] = 1e30f;
    x[8] = -1e30f;
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

TEST(test_avx2_forward_matches_reference)
{
    if (!frost_cpu_has_avx2()) {
        fprintf(stderr, "  (no AVX2 here: nothing to compare)\n");
        return;
    }
    const float scales[] = {0.1f, 0.0176470588f, 1.0f, 0.37f};
    const int zps[] = {10, 181, 0, -3};
    for (int t = 0; t < 4; t++) {
        float x[N], a[N], b[N];
        fill_hard(x, scales[t], 11 + (unsigned)t);
        float inv = 1.0f / scales[t];
        for (int len = 0; len <= N; len += 29) {
            frost_fake_quant_ref(len, x, scales[t], inv, zps[t], -8.0f, 255.0f, a);
            frost_fake_quant_avx2(len, x, scales[t], inv, zps[t], -8.0f, 255.0f, b);
            int bad = 0;
            for (int i = 0; i < len; i++)
                bad += !(same_bits(a[i], b[i]) || (isnan(a[i]) && isnan(b[i])));
            CHECK_EQ_INT(bad, 0);
        }
    }
}

TEST(test_avx2_gradient_matches_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    float x[N], dy[N], a[N], b[N];
    fill_hard(x, 0.05f, 3);
    frost_test_fill_uniform(dy, N, -1.0f, 1.0f, 4);
    frost_test_fill_uniform(a, N, -1.0f, 1.0f, 5);
    memcpy(b, a, sizeof a);
    frost_fake_quant_grad_ref(N, x, 1.0f / 0.05f, 7, 0.0f, 255.0f, dy, a, true);
    frost_fake_quant_grad_avx2(N, x, 1.0f / 0.05f, 7, 0.0f, 255.0f, dy, b, true);
    int bad = 0, masked = 0;
    for (int i = 0; i < N; i++) {
        bad += !same_bits(a[i], b[i]);
        masked += x[i] != x[i] || fabsf(x[i]) > 1e6f;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(masked >= 5); /* the hard cases were there */
    /* write mode: dx = masked dy, equal to accumulating into zeros */
    float c[N], d[N], z[N];
    memset(z, 0, sizeof z);
    frost_fake_quant_grad_ref(N, x, 1.0f / 0.05f, 7, 0.0f, 255.0f, dy, z, true);
    memset(c, 0x7f, sizeof c);
    memset(d, 0x7f, sizeof d);
    frost_fake_quant_grad_ref(N, x, 1.0f / 0.05f, 7, 0.0f, 255.0f, dy, c, false);
    frost_fake_quant_grad_avx2(N, x, 1.0f / 0.05f, 7, 0.0f, 255.0f, dy, d, false);
    CHECK(memcmp(c, z, sizeof c) == 0 && memcmp(d, z, sizeof d) == 0);
}

TEST(test_avx2_minmax_matches_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    float x[N];
    fill_hard(x, 1.0f, 9);
    for (int len = 0; len <= N; len += 7) {
        float a0, a1, b0, b1;
        frost_minmax_finite_ref(len, x, &a0, &a1);
        frost_minmax_finite_avx2(len, x, &b0, &b1);
        CHECK(same_bits(a0, b0) && same_bits(a1, b1));
    }
    float mn, mx;
    frost_minmax_finite_avx2(N, x, &mn, &mx);
    CHECK(isfinite(mn) && isfinite(mx) && mn == -1e30f && mx == 1e30f);
    float nan_only[9] = {NAN, NAN, INFINITY, NAN, NAN, NAN, NAN, NAN, -INFINITY};
    frost_minmax_finite_avx2(9, nan_only, &mn, &mx);
    CHECK(mn > mx); /* nothing finite: +Inf, -Inf */
}

/* Large tensors go through the threaded block split: the same bits as one reference pass. */
TEST(test_threaded_dispatch_matches_reference)
{
    const int64_t n = 300001;
    float *x = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float));
    float *b = malloc((size_t)n * sizeof(float)), *dy = malloc((size_t)n * sizeof(float));
    frost_test_fill_uniform(x, n, -3.0f, 9.0f, 21);
    frost_test_fill_uniform(dy, n, -1.0f, 1.0f, 22);
    x[123457] = NAN;
    x[200003] = -77.0f; /* the minimum, in a later block */
    frost_set_threads(2);
    frost_fake_quant_ref(n, x, 0.03f, 1.0f / 0.03f, 100, 0.0f, 255.0f, a);
    frost_fake_quant(n, x, 0.03f, 100, 0, 255, b);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += !(same_bits(a[i], b[i]) || (isnan(a[i]) && isnan(b[i])));
    CHECK_EQ_INT(bad, 0);
    frost_fake_quant_grad_ref(n, x, 1.0f / 0.03f, 100, 0.0f, 255.0f, dy, a, false);
    frost_fake_quant_backward_write(n, x, 0.03f, 100, 0, 255, dy, b);
    CHECK(memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    float mn, mx, rmn, rmx;
    frost_minmax_finite(n, x, &mn, &mx);
    frost_minmax_finite_ref(n, x, &rmn, &rmx);
    CHECK(mn == -77.0f && mn == rmn && mx == rmx);
    free(x);
    free(a);
    free(b);
    free(dy);
}

FROST_TEST_MAIN(RUN(test_threaded_dispatch_matches_reference),
                RUN(test_avx2_forward_matches_reference), RUN(test_avx2_gradient_matches_reference),
                RUN(test_avx2_minmax_matches_reference))
