/*
 * GradBoost (src/optim/gradboost.c): the boost never flips or zeroes a gradient's sign,
 * |boost| <= clip, lambda = (1 - delta)^k, the reference mode's compounding EMmax
 * (1, 5.26, 19.4, 138, 2483 at t = 1, 2, 3, 5, 10 for |g| = 1: frostnet.md §2) with
 * EMmin stuck at 0, the paper mode's bias-corrected EMs, a hand-computed boost, and
 * determinism of the random stream.
 */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "optim/gradboost.h"

TEST(test_reference_em_compounds)
{
    frost_gb_config c = frost_gb_defaults();
    float g = -1.0f, lo = 0.0f, hi = 0.0f;
    const double want[11] = {0, 1.0, 5.263158, 19.39, 0, 138.0, 0, 0, 0, 0, 2483.0};
    for (int t = 1; t <= 10; t++) {
        frost_gb_update_em(&c, 1, &g, &lo, &hi, t);
        CHECK(lo == 0.0f); /* min(0, |g|) = 0 forever */
        if (want[t] > 0)
            CHECK_NEAR(hi, want[t], 0, 0.01);
    }
}

TEST(test_paper_em_is_bias_corrected)
{
    frost_gb_config c = frost_gb_defaults();
    c.mode = FROST_GB_PAPER;
    float lo = 0.0f, hi = 0.0f;
    const float gs[3] = {2.0f, -1.0f, 4.0f};
    /* hand-computed: t=1: raw = .1*2 -> hat 2 (both); t=2: |g|=1: min raw = .9*.2 + .1*1 = .28,
     * max raw = .9*.2 + .1*2 = .38; bc = .19 -> hats 1.4737, 2 */
    for (int t = 1; t <= 2; t++)
        frost_gb_update_em(&c, 1, &gs[t - 1], &lo, &hi, t);
    CHECK_NEAR(lo / 0.19f, 0.28 / 0.19, 1e-6, 0);
    CHECK_NEAR(hi / 0.19f, 2.0, 1e-6, 0);
}

TEST(test_lambda_decays_per_step)
{
    frost_gb_config c = frost_gb_defaults();
    CHECK_NEAR(frost_gb_lambda(&c, 1), 0.99, 0, 1e-7); /* delta is a float: 0.01f */
    CHECK_NEAR(frost_gb_lambda(&c, 100), pow(0.99, 100), 0, 1e-6);
    c.decay = 0.5f;
    CHECK_NEAR(frost_gb_lambda(&c, 3), 0.125, 1e-12, 0);
}

TEST(test_boost_keeps_sign_and_clip)
{
    frost_gb_config c = frost_gb_defaults();
    enum { N = 4096 };
    static float g[N], lo[N], hi[N], out[N];
    for (int i = 0; i < N; i++)
        g[i] = (i % 3 == 0) ? 0.0f : ((i % 2) ? 1e-4f : -3e-5f) * (float)(1 + i % 7);
    for (int t = 1; t <= 5; t++)
        frost_gb_update_em(&c, N, g, lo, hi, t);
    int boosted = 0, flipped = 0, over = 0;
    for (int k = 1; k <= 3; k++) {
        frost_gb_boost(&c, N, g, lo, hi, 5, k, 42 + (uint64_t)k, out);
        for (int i = 0; i < N; i++) {
            float d = out[i] - g[i];
            flipped += (g[i] > 0 && out[i] < g[i]) || (g[i] < 0 && out[i] > g[i]) ||
                       (g[i] == 0 && out[i] != 0);
            over += fabsf(d) > c.clip * 1.0001f;
            boosted += d != 0;
        }
    }
    CHECK_EQ_INT(flipped, 0);
    CHECK_EQ_INT(over, 0);
    /* a coin per element: about half of the non-zero gradients get a boost */
    CHECK(boosted > 3 * N * 2 / 3 * 0.4 && boosted < 3 * N * 2 / 3 * 0.6);
}

TEST(test_boost_hand_computed_and_deterministic)
{
    frost_gb_config c = frost_gb_defaults();
    c.toss_coin = false;
    c.clip = 1e9f; /* no clipping: boost = sign(g) * n * EMmax * lambda exactly */
    float g[2] = {0.5f, -0.25f}, lo[2] = {0, 0}, hi[2] = {0, 0}, a[2], b[2];
    frost_gb_update_em(&c, 2, g, lo, hi, 1); /* reference: EMmax = |g|, EMmin = 0 */
    frost_gb_boost(&c, 2, g, lo, hi, 1, 1, 7, a);
    frost_gb_boost(&c, 2, g, lo, hi, 1, 1, 7, b);
    CHECK(memcmp(a, b, sizeof a) == 0); /* same seed, same draws */
    /* recover n from the first element and check the second used its own draw >= 0 */
    double n0 = (a[0] - 0.5) / (0.5 * 0.99);
    CHECK(n0 >= 0.0);
    CHECK(a[1] <= -0.25f);
    frost_gb_boost(&c, 2, g, lo, hi, 1, 1, 8, b);
    CHECK(memcmp(a, b, sizeof a) != 0); /* another seed, other draws */
    /* lambda = 0.99^k shrinks the boost: at k = 1000 it is ~4e-5 of k = 1's */
    frost_gb_boost(&c, 2, g, lo, hi, 1, 1000, 7, b);
    CHECK_NEAR(b[0] - 0.5, (a[0] - 0.5) * pow(0.99, 999), 1e-9, 1e-3);
}

FROST_TEST_MAIN(RUN(test_reference_em_compounds), RUN(test_paper_em_is_bias_corrected),
                RUN(test_lambda_decays_per_step), RUN(test_boost_keeps_sign_and_clip),
                RUN(test_boost_hand_computed_and_deterministic))
