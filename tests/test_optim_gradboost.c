/*
 * GradBoost (src/optim/gradboost.c): the boost never flips or zeroes a gradient's sign,
 * |boost| <= clip, lambda = (1 - delta)^k, the reference mode's compounding EMmax
 * (1, 5.26, 19.4, 138, 2483 at t = 1, 2, 3, 5, 10, |g| = 1: docs/quantization.md#gradboost) with
 * EMmin stuck at 0, the paper mode's bias-corrected EMs, a hand-computed boost, and
 * determinism of the random stream.
 */
#include <math.h>
#include <string.h>

#include "core/param.h"
#include "frost/frost.h"
#include "harness.h"
#include "optim/gradboost.h"
#include "optim/optim_internal.h"

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

/* ---- the Q-optimizers (GradBoost wired into src/optim/optimizer.c) ---- */

static const float W0[3] = {0.3f, -0.7f, 0.1f}, G[3] = {0.5f, -0.25f, 0.0f};

static void one_param(frost_param *p, float *w, float *g)
{
    memset(p, 0, sizeof *p);
    strcpy(p->name, "p.weight");
    p->kind = FROST_PARAM_WEIGHT;
    p->ndim = 1;
    p->shape[0] = p->numel = 3;
    p->data = w;
    p->grad = g;
    memcpy(w, W0, sizeof W0);
}

/* Three steps of kind with a constant gradient; boost: GradBoost on (clip saturating). */
static void run3(frost_optimizer_kind kind, bool gradboost, bool boost, float w[3])
{
    frost_param p;
    float g[3];
    one_param(&p, w, g);
    frost_optimizer_config c = frost_optimizer_defaults(kind);
    c.wd = 0.01f;
    c.clip_norm = 0.4f; /* |G| = 0.559: clipping is active */
    c.gradboost = gradboost;
    c.gb_toss_coin = false;
    c.gb_seed = 3;
    frost_optimizer *o = NULL;
    CHECK(frost_optimizer_create_params(&c, &p, 1, &o) == FROST_OK);
    if (!o)
        return;
    frost_optimizer_set_boost(o, boost);
    for (int s = 0; s < 3; s++) {
        memcpy(g, G, sizeof g);
        CHECK(frost_optimizer_step(o, 0.1f) == FROST_OK);
    }
    CHECK_EQ_INT(frost_optimizer_boost_steps(o), boost ? 3 : 0);
    frost_optimizer_free(o);
}

TEST(test_boost_off_equals_plain_optimizer)
{
    for (int k = FROST_OPT_SGD; k <= FROST_OPT_ADAMW; k++) {
        float a[3], b[3];
        run3((frost_optimizer_kind)k, false, false, a);
        run3((frost_optimizer_kind)k, true, false, b); /* statistics only: same bits */
        CHECK(memcmp(a, b, sizeof a) == 0);
        run3((frost_optimizer_kind)k, true, true, b); /* boosted: moves further */
        CHECK(fabsf(b[0] - W0[0]) > fabsf(a[0] - W0[0]) && b[2] != a[2] - 1.0f);
    }
}

/* Hand-computed QSGD (Nesterov, momentum .9) and QAdam, 3 steps: with the coin off and
 * EMs >> clip, the boost saturates, so g' = g + sign(g) * 1e-3 (0 stays 0). */
TEST(test_qsgd_and_qadam_three_steps_by_hand)
{
    const float clip_scale = 0.4f / (sqrtf(0.5f * 0.5f + 0.25f * 0.25f) + 1e-6f);
    float w[3], buf[3] = {0}, want[3];
    memcpy(want, W0, sizeof want);
    for (int s = 1; s <= 3; s++)
        for (int i = 0; i < 3; i++) {
            float g = G[i] * clip_scale;
            g = g > 0 ? g + 1e-3f : g < 0 ? g - 1e-3f : g; /* boost, then L2 decay */
            float d = g + 0.01f * want[i];
            buf[i] = s == 1 ? d : 0.9f * buf[i] + d;
            want[i] -= 0.1f * (d + 0.9f * buf[i]);
        }
    run3(FROST_OPT_SGD, true, true, w);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(w[i], want[i], 1e-6, 0);

    float m[3] = {0}, v[3] = {0};
    memcpy(want, W0, sizeof want);
    for (int s = 1; s <= 3; s++)
        for (int i = 0; i < 3; i++) {
            float g = G[i] * clip_scale + 0.01f * want[i]; /* QAdam: L2 first */
            g = g > 0 ? g + 1e-3f : g < 0 ? g - 1e-3f : g;
            m[i] = 0.9f * m[i] + 0.1f * g;
            v[i] = 0.999f * v[i] + 0.001f * g * g;
            double mh = m[i] / (1 - pow(0.9, s)), vh = v[i] / (1 - pow(0.999, s));
            want[i] -= (float)(0.1 * mh / (sqrt(vh) + 1e-8));
        }
    run3(FROST_OPT_ADAM, true, true, w);
    for (int i = 0; i < 2; i++) /* element 2's gradient is the L2 term alone (~1e-3): its */
        CHECK_NEAR(w[i], want[i], 1e-6, 0); /* boost n * 1e-3 * lambda need not saturate */
}

/* QRMSprop (alpha .9, momentum .9; L2 after the boost) and QAdamW (decoupled decay first,
 * then the boost, then Adam), 3 steps by hand with the saturated boost. */
TEST(test_qrmsprop_and_qadamw_three_steps_by_hand)
{
    const float clip_scale = 0.4f / (sqrtf(0.5f * 0.5f + 0.25f * 0.25f) + 1e-6f);
    float w[3], sq[3] = {0}, buf[3] = {0}, want[3];
    memcpy(want, W0, sizeof want);
    for (int s = 1; s <= 3; s++)
        for (int i = 0; i < 2; i++) {
            float g = G[i] * clip_scale;
            g = g > 0 ? g + 1e-3f : g - 1e-3f;
            float d = g + 0.01f * want[i];
            sq[i] = 0.9f * sq[i] + 0.1f * d * d;
            buf[i] = 0.9f * buf[i] + d / (sqrtf(sq[i]) + 1e-8f);
            want[i] -= 0.1f * buf[i];
        }
    run3(FROST_OPT_RMSPROP, true, true, w);
    for (int i = 0; i < 2; i++)
        CHECK_NEAR(w[i], want[i], 1e-6, 1e-5);

    float m[3] = {0}, v[3] = {0};
    memcpy(want, W0, sizeof want);
    for (int s = 1; s <= 3; s++)
        for (int i = 0; i < 2; i++) {
            want[i] *= 1.0f - 0.1f * 0.01f; /* decoupled decay */
            float g = G[i] * clip_scale;
            g = g > 0 ? g + 1e-3f : g - 1e-3f;
            m[i] = 0.9f * m[i] + 0.1f * g;
            v[i] = 0.999f * v[i] + 0.001f * g * g;
            double mh = m[i] / (1 - pow(0.9, s)), vh = v[i] / (1 - pow(0.999, s));
            want[i] -= (float)(0.1 * mh / (sqrt(vh) + 1e-8));
        }
    run3(FROST_OPT_ADAMW, true, true, w);
    for (int i = 0; i < 2; i++)
        CHECK_NEAR(w[i], want[i], 1e-6, 1e-5);
    /* element 2 has no gradient: AdamW only decays it, no boost appears from nowhere */
    CHECK_NEAR(w[2], W0[2] * powf(1.0f - 0.001f, 3), 1e-7, 0);
}

FROST_TEST_MAIN(RUN(test_boost_off_equals_plain_optimizer),
                RUN(test_qrmsprop_and_qadamw_three_steps_by_hand),
                RUN(test_qsgd_and_qadam_three_steps_by_hand), RUN(test_reference_em_compounds),
                RUN(test_paper_em_is_bias_corrected), RUN(test_lambda_decays_per_step),
                RUN(test_boost_keeps_sign_and_clip),
                RUN(test_boost_hand_computed_and_deterministic))
