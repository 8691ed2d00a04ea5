/*
 * Binary and ternary training (src/quant/lowbit.c, qrun.c, lowbit_layer.c): the worked
 * values of docs/lowbit.md, each scheme's straight-through rule as stated there (they are
 * not true gradients), TTQ's scale gradients against finite differences, BinaryConnect's
 * clipping and stochastic draws, config errors, the first/last-layer default, the
 * deployed-weights accessor against the model's own inference, and a short BWN + sign
 * run on real Fashion-MNIST whose loss must fall.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "io/checkpoint.h"
#include "models/graph.h"
#include "ops/ops.h"
#include "quant/lowbit.h"

static frost_qconfig *config(const char *json)
{
    frost_qconfig *c = NULL;
    if (frost_qconfig_parse(json, "test", &c) != FROST_OK)
        fprintf(stderr, "  config error: %s\n", frost_last_error());
    return c;
}

static float *weights_of(frost_model *m, const char *layer)
{
    return m->params[m->nodes[frost_g_find(m, layer)].weight].data;
}
static float *grad_of(frost_model *m, const char *layer)
{
    return m->params[m->nodes[frost_g_find(m, layer)].weight].grad;
}

/* ---- the kernels against the worked values ---- */

TEST(test_bwn_worked_example)
{
    const float w[4] = {0.5f, -1.5f, 2.0f, -0.2f}, dy[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float alpha, y[4], dw[4] = {0};
    frost_bwn_forward(1, 4, w, &alpha, y);
    CHECK_NEAR(alpha, 1.05, 1e-7, 0);
    const float want[4] = {1.05f, -1.05f, 1.05f, -1.05f};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(y[i], want[i], 1e-7, 0);
    /* dW = dWt * (1/n + alpha * 1{|W| <= 1}): .25 + 1.05 where |W| <= 1, .25 elsewhere */
    frost_bwn_backward(1, 4, w, &alpha, dy, dw);
    const float want_dw[4] = {1.3f, 0.25f, 0.25f, 1.3f};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(dw[i], want_dw[i], 1e-6, 0);
    /* per filter: two groups get their own alpha; sign(0) = +1 */
    const float w2[4] = {0.0f, -1.0f, 3.0f, -1.0f};
    float a2[2], y2[4];
    frost_bwn_forward(2, 2, w2, a2, y2);
    CHECK_FLOAT_EQ(a2[0], 0.5f);
    CHECK_FLOAT_EQ(a2[1], 2.0f);
    CHECK_FLOAT_EQ(y2[0], 0.5f);
    CHECK_FLOAT_EQ(y2[1], -0.5f);
    CHECK_FLOAT_EQ(y2[2], 2.0f);
    CHECK_FLOAT_EQ(y2[3], -2.0f);
}

TEST(test_twn_worked_example)
{
    const float w[6] = {0.9f, -0.1f, -0.8f, 0.3f, 0.05f, -0.6f};
    float delta, a, y[6];
    frost_twn_forward(1, 6, w, &delta, &a, y);
    CHECK_NEAR(delta, 0.7 * 0.458333333, 1e-6, 0); /* .320833 */
    CHECK_NEAR(delta, 0.320833, 1e-6, 0);
    CHECK_NEAR(a, 0.766667, 1e-6, 0); /* mean of .9, .8, .6 */
    const float sign[6] = {1, 0, -1, 0, 0, -1};
    for (int i = 0; i < 6; i++)
        CHECK_FLOAT_EQ(y[i], sign[i] * a);
    /* nothing above the threshold (all zero): a = 0, every weight 0 */
    const float z[3] = {0, 0, 0};
    frost_twn_forward(1, 3, z, &delta, &a, y);
    CHECK_FLOAT_EQ(a, 0.0f);
    CHECK_FLOAT_EQ(y[0], 0.0f);
}

TEST(test_binary_deterministic_and_clip)
{
    const float w[5] = {0.3f, 0.0f, -0.0f, -0.2f, 7.0f};
    float y[5];
    frost_binary_forward(5, w, 0.5f, y);
    const float want[5] = {0.5f, 0.5f, 0.5f, -0.5f, 0.5f}; /* 0 and -0 give +H */
    for (int i = 0; i < 5; i++)
        CHECK_FLOAT_EQ(y[i], want[i]);
    float c[4] = {-2.0f, -0.5f, 0.25f, 0.75f};
    frost_binary_clip(4, c, 0.5f);
    CHECK_FLOAT_EQ(c[0], -0.5f);
    CHECK_FLOAT_EQ(c[1], -0.5f);
    CHECK_FLOAT_EQ(c[2], 0.25f);
    CHECK_FLOAT_EQ(c[3], 0.5f);
    /* BinaryConnect's Glorot H: sqrt(6 / (fan_in + fan_out)) / 2 */
    CHECK_NEAR(frost_binary_glorot_h(100, 50), sqrt(6.0 / 150.0) / 2.0, 1e-7, 0);
}

TEST(test_binary_stochastic_probabilities_and_seed)
{
    enum { N = 20000 };
    float *w = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *y2 = malloc(N * sizeof(float));
    const float h = 0.5f, vals[4] = {0.5f, -0.5f, 0.0f, 0.25f}; /* p = 1, 0, .5, .75 */
    const double p[4] = {1.0, 0.0, 0.5, 0.75};
    for (int i = 0; i < N; i++)
        w[i] = vals[i % 4];
    frost_rng r;
    frost_rng_seed(&r, 42);
    frost_binary_stochastic_forward(N, w, h, &r, y);
    int plus[4] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(y[i] == h || y[i] == -h);
        plus[i % 4] += y[i] > 0.0f;
    }
    for (int k = 0; k < 4; k++)
        CHECK_NEAR(plus[k] / (double)(N / 4), p[k], 0.02, 0);
    CHECK_EQ_INT(plus[0], N / 4); /* p = 1 and p = 0 never miss */
    CHECK_EQ_INT(plus[1], 0);
    /* the same seed draws the same weights; another seed does not */
    frost_rng_seed(&r, 42);
    frost_binary_stochastic_forward(N, w, h, &r, y2);
    CHECK(memcmp(y, y2, N * sizeof(float)) == 0);
    frost_rng_seed(&r, 43);
    frost_binary_stochastic_forward(N, w, h, &r, y2);
    CHECK(memcmp(y, y2, N * sizeof(float)) != 0);
    free(w);
    free(y);
    free(y2);
}

TEST(test_ttq_forward_and_backward_rules)
{
    /* threshold .05 * max|W| = .05: positive {1, .2}, negative {-.5}, zero {-.04, .03} */
    const float w[5] = {1.0f, -0.04f, 0.03f, -0.5f, 0.2f};
    const float dy[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    float y[5], dw[5] = {0}, dwp = 0.0f, dwn = 0.0f;
    float thr = frost_ttq_forward(5, w, 0.05f, 2.0f, 3.0f, y);
    CHECK_NEAR(thr, 0.05, 1e-8, 0);
    const float want[5] = {2, 0, 0, -3, 2};
    for (int i = 0; i < 5; i++)
        CHECK_FLOAT_EQ(y[i], want[i]);
    frost_ttq_backward(5, w, thr, 2.0f, 3.0f, dy, dw, &dwp, &dwn);
    const float want_dw[5] = {0.2f, 0.2f, 0.3f, 1.2f, 1.0f}; /* Wp*g, g, g, Wn*g, Wp*g */
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(dw[i], want_dw[i], 1e-6, 0);
    CHECK_NEAR(dwp, 0.3, 1e-6, 0);  /* the mean over the positive set: (0.1 + 0.5) / 2 */
    CHECK_NEAR(dwn, -0.4, 1e-6, 0); /* minus the mean over the negative set: -0.4 / 1 */
    /* an empty set's scale gets no gradient (no division by zero) */
    const float small[2] = {0.01f, 0.02f}; /* threshold .001: both positive */
    dwp = dwn = 0.0f;
    frost_ttq_backward(2, small, 0.001f, 2.0f, 3.0f, dy, dw, &dwp, &dwn);
    CHECK_NEAR(dwp, 0.15, 1e-6, 0);
    CHECK_FLOAT_EQ(dwn, 0.0f);
    float wp, wn;
    frost_ttq_init_scales(5, w, 0.05f, &wp, &wn);
    CHECK_NEAR(wp, 0.6, 1e-6, 0);
    CHECK_NEAR(wn, 0.5, 1e-6, 0);
}

TEST(test_sign_and_approx_sign)
{
    CHECK_FLOAT_EQ(frost_approx_sign_grad(-0.5f), 1.0f);
    CHECK_FLOAT_EQ(frost_approx_sign_grad(0.0f), 2.0f);
    CHECK_FLOAT_EQ(frost_approx_sign_grad(0.25f), 1.5f);
    CHECK_FLOAT_EQ(frost_approx_sign_grad(-1.0f), 0.0f);
    CHECK_FLOAT_EQ(frost_approx_sign_grad(1.0f), 0.0f);
    CHECK_FLOAT_EQ(frost_approx_sign_grad(-1.5f), 0.0f);
    const float x[5] = {-1.5f, -1.0f, 0.0f, 1.0f, 1.01f}, dy[5] = {1, 2, 3, 4, 5};
    float y[5], dx[5] = {10, 10, 10, 10, 10};
    frost_sign_forward(5, x, y);
    const float want[5] = {-1, -1, 1, 1, 1};
    for (int i = 0; i < 5; i++)
        CHECK_FLOAT_EQ(y[i], want[i]);
    frost_sign_backward(5, x, dy, dx); /* dx += dy * 1{|x| <= 1} */
    const float want_dx[5] = {10, 12, 13, 14, 10};
    for (int i = 0; i < 5; i++)
        CHECK_FLOAT_EQ(dx[i], want_dx[i]);
}

TEST(test_xnor_conv_scale_map)
{
    /* 1 image, 3x3x2, channel means of |x| = 1..9 row by row */
    float x[18], a[9], k[9];
    for (int i = 0; i < 9; i++) {
        x[2 * i] = (float)(i + 1) * (i % 2 ? -0.5f : 0.5f);
        x[2 * i + 1] = (float)(i + 1) * 1.5f;
    }
    frost_conv_params p = {
        .kh = 3, .kw = 3, .stride = 1, .pad_h = 1, .pad_w = 1, .groups = 1, .cin = 2, .cout = 1};
    frost_shape4 in = {1, 3, 3, 2};
    frost_xnor_conv_k(&p, in, x, a, k);
    for (int i = 0; i < 9; i++)
        CHECK_NEAR(a[i], i + 1, 1e-6, 0);
    CHECK_NEAR(k[4], 45.0 / 9, 1e-6, 0); /* the full window */
    CHECK_NEAR(k[0], 12.0 / 9, 1e-6, 0); /* 1 + 2 + 4 + 5: padding counts as 0 */
    CHECK_NEAR(k[5], 33.0 / 9, 1e-6, 0); /* 2 + 3 + 5 + 6 + 8 + 9 */
    p.stride = 2;                        /* 2x2 outputs */
    frost_xnor_conv_k(&p, in, x, a, k);
    CHECK_NEAR(k[0], 12.0 / 9, 1e-6, 0);
    CHECK_NEAR(k[1], 16.0 / 9, 1e-6, 0); /* 2 + 3 + 5 + 6 */
    CHECK_NEAR(k[3], 28.0 / 9, 1e-6, 0); /* 5 + 6 + 8 + 9 */
    float beta[2];
    const float xl[8] = {0.3f, -0.6f, 0.9f, 0.2f, 1, 1, -1, -1};
    frost_xnor_linear_beta(2, 4, xl, beta);
    CHECK_NEAR(beta[0], 0.5, 1e-7, 0);
    CHECK_NEAR(beta[1], 1.0, 1e-7, 0);
}

/* XNOR-Net's linear example in a model: x = [.3, -.6, .9, .2] (beta .5), BWN weights
 * [.5, -1.5, 2, -.2] (alpha 1.05): sign dot 2, output 2 * 1.05 * .5 = 1.05, plus the bias
 * (unscaled). Backward: dWq = dl * beta * sign(x), then BWN's rule; db = dl. */
TEST(test_xnor_linear_worked_example)
{
    frost_model *m = frost_g_new("xnor", 1, 1, 4);
    int a = frost_g_linear(m, "fc1", 0, 4, false);
    frost_g_linear(m, "fc2", a, 2, true);
    frost_g_finish(m, 2);
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}, \"layers\": {\"fc1\": "
                              "{\"weights\": {\"enabled\": false}}, \"fc2\": {\"weights\": "
                              "{\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"xnor\"}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    float *w1 = weights_of(m, "fc1"), *w2 = weights_of(m, "fc2");
    for (int i = 0; i < 16; i++)
        w1[i] = (i % 5 == 0) ? 1.0f : 0.0f;
    const float w2v[8] = {0.5f, -1.5f, 2.0f, -0.2f, 1.0f, 1.0f, 1.0f, 1.0f};
    memcpy(w2, w2v, sizeof w2v);
    float *b2 = m->params[m->nodes[frost_g_find(m, "fc2")].bias_p].data;
    b2[0] = 0.25f;
    b2[1] = -0.5f;
    const float x[4] = {0.3f, -0.6f, 0.9f, 0.2f};
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    CHECK_NEAR(frost_model_logits(m)[0], 1.05 + 0.25, 1e-6, 0);
    CHECK_NEAR(frost_model_logits(m)[1], 1.0 * 2 * 0.5 - 0.5, 1e-6, 0); /* signs +-++ */
    const float dl[2] = {1.0f, 2.0f};
    frost_model_zero_grad(m);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    const float sx[4] = {1, -1, 1, 1}, alpha[2] = {1.05f, 1.0f};
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 4; i++) {
            float dwq = dl[o] * 0.5f * sx[i];
            float want = dwq * (0.25f + (fabsf(w2v[o * 4 + i]) <= 1.0f ? alpha[o] : 0.0f));
            CHECK_NEAR(grad_of(m, "fc2")[o * 4 + i], want, 1e-6, 0);
        }
    const float *db = m->params[m->nodes[frost_g_find(m, "fc2")].bias_p].grad;
    CHECK_NEAR(db[0], 1.0, 1e-7, 0);
    CHECK_NEAR(db[1], 2.0, 1e-7, 0);
    /* inference gives the same output */
    CHECK(frost_model_forward(m, x, 1, false) == FROST_OK);
    CHECK_NEAR(frost_model_logits(m)[0], 1.3, 1e-6, 0);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* ---- config ---- */

TEST(test_config_schemes_and_errors)
{
    frost_qconfig *c = config("{}");
    char *json = frost_qconfig_to_json(c);
    CHECK(json && !strstr(json, "scheme")); /* old configs (and checkpoints) unchanged */
    free(json);
    CHECK(frost_qconfig_set_schemes(c, "bwn", "sign") == FROST_OK);
    json = frost_qconfig_to_json(c);
    CHECK(json && strstr(json, "\"scheme\":\"bwn\"") && strstr(json, "\"scheme\":\"sign\""));
    free(json);
    CHECK(frost_qconfig_set_schemes(c, "ternary", NULL) == FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "unknown weight scheme 'ternary'") != NULL);
    frost_qconfig_free(c);

    const char *bad[] = {
        "{\"weights\": {\"scheme\": \"xnor\"}}",
        "{\"weights\": {\"scheme\": 1}}",
        "{\"activations\": {\"scheme\": \"bwn\"}}",
        "{\"weights\": {\"scheme\": \"binary\", \"H\": 0}}",
        "{\"weights\": {\"scheme\": \"ttq\", \"threshold\": 1.5}}",
        "{\"layers\": {\"c\": {\"weights\": {\"scheme\": \"binaryy\"}}}}",
    };
    const char *msg[] = {"weights.scheme must be affine, binary",
                         "weights.scheme must be",
                         "activations.scheme must be affine, sign, bireal or xnor",
                         "weights.H must be a number > 0",
                         "weights.threshold must be in (0, 1)",
                         "layers.c.weights.scheme must be"};
    for (int i = 0; i < 6; i++) {
        frost_qconfig *b = NULL;
        CHECK(frost_qconfig_parse(bad[i], "cfg.json", &b) != FROST_OK);
        CHECK(b == NULL);
        if (!strstr(frost_last_error(), msg[i]))
            fprintf(stderr, "  case %d: got '%s'\n", i, frost_last_error());
        CHECK(strstr(frost_last_error(), msg[i]) != NULL);
    }
    CHECK_EQ_INT(frost_wscheme_parse("ttq"), FROST_WSCHEME_TTQ);
    CHECK_EQ_INT(frost_ascheme_parse("bireal"), FROST_ASCHEME_BIREAL);
    CHECK_EQ_INT(frost_wscheme_parse("sign"), -1);
}

/* input 6x6x2 -> c1 (conv+BN) -> c2 (conv+BN) -> c3 (conv+BN) -> gap -> fc */
static frost_model *chain_model(frost_act_kind act)
{
    frost_model *m = frost_g_new("chain", 6, 6, 2);
    int a = frost_g_conv_bn_act(m, "c1", 0, 4, 3, 1, 1, act);
    int b = frost_g_conv_bn_act(m, "c2", a, 4, 3, 1, 1, FROST_ACT_IDENTITY);
    int c = frost_g_conv_bn_act(m, "c3", b, 4, 3, 1, 1, FROST_ACT_IDENTITY);
    int g = frost_g_gap(m, "gap", c);
    frost_g_linear(m, "fc", g, 3, true);
    frost_g_finish(m, 3);
    frost_model_init_weights(m, 7);
    return m;
}

static int param_index(const frost_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return i;
    return -1;
}

static int layer_index(const frost_model *m, const char *name)
{
    for (int i = 0; i < frost_model_qlayer_count(m); i++)
        if (strcmp(frost_model_qlayer_name(m, i), name) == 0)
            return i;
    return -1;
}

static void expect_layer(const frost_model *m, const char *name, frost_wscheme ws, frost_ascheme as,
                         int wbits)
{
    int i = layer_index(m, name), wb, ab;
    CHECK(i >= 0);
    if (i < 0)
        return;
    frost_wscheme w;
    frost_ascheme a;
    frost_model_qlayer_schemes(m, i, &w, &a);
    frost_model_qlayer_bits(m, i, &wb, &ab);
    if ((int)w != (int)ws || (int)a != (int)as || wb != wbits)
        fprintf(stderr, "  layer %s: scheme %d/%d bits %d\n", name, w, a, wb);
    CHECK_EQ_INT(w, ws);
    CHECK_EQ_INT(a, as);
    CHECK_EQ_INT(wb, wbits);
}

TEST(test_first_and_last_layer_stay_affine)
{
    frost_model *m = chain_model(FROST_ACT_IDENTITY);
    frost_qconfig *c =
        config("{\"weights\": {\"scheme\": \"bwn\", \"bits\": 4}, \"activations\": {\"scheme\": "
               "\"sign\"}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    expect_layer(m, "c1.conv", FROST_WSCHEME_AFFINE, FROST_ASCHEME_AFFINE, 8);
    expect_layer(m, "c2.conv", FROST_WSCHEME_BWN, FROST_ASCHEME_SIGN, 1);
    expect_layer(m, "c3.conv", FROST_WSCHEME_BWN, FROST_ASCHEME_SIGN, 1);
    expect_layer(m, "fc", FROST_WSCHEME_AFFINE, FROST_ASCHEME_AFFINE, 8);
    frost_qconfig_free(c);
    frost_model_free(m);

    /* naming the scheme in a layer's entry binarizes the first/last layer too; a layer entry
     * that only sets bits keeps the edge rule but its bits */
    m = chain_model(FROST_ACT_IDENTITY);
    c = config("{\"weights\": {\"scheme\": \"twn\"}, \"layers\": {\"c1.conv\": {\"weights\": "
               "{\"bits\": 6}}, \"fc\": {\"weights\": {\"scheme\": \"ttq\"}, \"activations\": "
               "{\"scheme\": \"bireal\"}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    expect_layer(m, "c1.conv", FROST_WSCHEME_AFFINE, FROST_ASCHEME_AFFINE, 6);
    expect_layer(m, "c2.conv", FROST_WSCHEME_TWN, FROST_ASCHEME_AFFINE, 2);
    expect_layer(m, "fc", FROST_WSCHEME_TTQ, FROST_ASCHEME_BIREAL, 2);
    CHECK(param_index(m, "fc.ttq") >= 0);
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_binary_input_after_relu_is_refused)
{
    frost_model *m = chain_model(FROST_ACT_RELU);
    frost_qconfig *c = config("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": "
                              "{\"scheme\": \"sign\"}}");
    CHECK(frost_model_quantize(m, c) == FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "layer 'c2.conv' binarizes its input") != NULL);
    CHECK(strstr(frost_last_error(), "'c1.act'") != NULL);
    frost_qconfig_free(c);
    frost_model_free(m);

    /* hardtanh (Bi-Real's clip(x, -1, 1)) is a clamp too, but keeps the sign: accepted */
    m = chain_model(FROST_ACT_HARDTANH);
    c = config("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"bireal\"}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    expect_layer(m, "c2.conv", FROST_WSCHEME_BWN, FROST_ASCHEME_BIREAL, 1);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* ---- the schemes inside a model: forward values and backward rules ---- */

/* input 1x1x4 -> fc1 (4 -> 4) -> fc2 (4 -> 2); activations' fake-quant off. */
static frost_model *mlp(void)
{
    frost_model *m = frost_g_new("mlp", 1, 1, 4);
    int a = frost_g_linear(m, "fc1", 0, 4, false);
    frost_g_linear(m, "fc2", a, 2, false);
    frost_g_finish(m, 2);
    frost_model_init_weights(m, 3);
    return m;
}

/* fc2 under `scheme` with a sign input: its forward uses the scheme's weights and sign(h);
 * fc2's gradient follows the scheme's rule, fc1's the sign STE. */
TEST(test_bwn_sign_in_model_follow_the_rules)
{
    frost_model *m = mlp();
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}, \"layers\": {\"fc2\": "
                              "{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": "
                              "{\"scheme\": \"sign\"}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    float *w1 = weights_of(m, "fc1"), *w2 = weights_of(m, "fc2");
    /* fc1 = identity scaled so that h = {.5, -2, 0, .9}; fc2 as the BWN example, row 2 scaled */
    const float x[4] = {0.5f, -2.0f, 0.0f, 0.9f};
    for (int i = 0; i < 16; i++)
        w1[i] = (i % 5 == 0) ? 1.0f : 0.0f;
    const float w2v[8] = {0.5f, -1.5f, 2.0f, -0.2f, 1.0f, 0.5f, -0.5f, -1.0f};
    memcpy(w2, w2v, sizeof w2v);
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    /* sign(h) = {1, -1, 1, 1}; row 0: alpha 1.05, signs {+,-,+,-}: 1.05*(1+1+1-1) = 2.1;
     * row 1: alpha .75, signs {+,+,-,-}: .75*(1-1-1-1) = -1.5 */
    const float *y = frost_model_logits(m);
    CHECK_NEAR(y[0], 2.1, 1e-6, 0);
    CHECK_NEAR(y[1], -1.5, 1e-6, 0);
    const float dl[2] = {1.0f, -2.0f};
    frost_model_zero_grad(m);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    const float sx[4] = {1, -1, 1, 1}, alpha[2] = {1.05f, 0.75f};
    float dh[4] = {0};
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 4; i++) {
            float wt = alpha[o] * frost_sign1(w2v[o * 4 + i]);
            float dwt = dl[o] * sx[i];
            float want = dwt * (0.25f + (fabsf(w2v[o * 4 + i]) <= 1.0f ? alpha[o] : 0.0f));
            CHECK_NEAR(grad_of(m, "fc2")[o * 4 + i], want, 1e-6, 0);
            dh[i] += dl[o] * wt;
        }
    /* fc1: dW1[j, i] = dh[j] * 1{|h_j| <= 1} * x[i] (h_j = x_j here) */
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++) {
            float want = (fabsf(x[j]) <= 1.0f ? dh[j] : 0.0f) * x[i];
            CHECK_NEAR(grad_of(m, "fc1")[j * 4 + i], want, 1e-6, 0);
        }
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* The loss of one example as a function of the model's parameters (for finite differences). */
typedef struct {
    frost_model *m;
    const float *x;
    const uint8_t *label;
} loss_ctx;

static double model_loss(void *p)
{
    loss_ctx *c = p;
    float dl[2];
    int correct;
    if (frost_model_forward(c->m, c->x, 1, true) != FROST_OK)
        return NAN;
    return frost_softmax_xent(1, 2, frost_model_logits(c->m), c->label, 0.0f, dl, &correct);
}

TEST(test_ttq_scale_gradients_match_finite_differences)
{
    frost_model *m = mlp();
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}, \"layers\": {\"fc2\": "
                              "{\"weights\": {\"scheme\": \"ttq\"}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    int si = param_index(m, "fc2.ttq");
    CHECK(si >= 0);
    if (si < 0)
        return;
    float *s = m->params[si].data;
    const float x[4] = {0.5f, -1.0f, 0.25f, 2.0f};
    const uint8_t label = 1;
    loss_ctx ctx = {m, x, &label};
    float dl[2];
    int correct;
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    CHECK(s[0] > 0.0f && s[1] > 0.0f); /* started from the weights' magnitudes */
    s[0] = 0.7f;
    s[1] = 1.3f;
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    frost_softmax_xent(1, 2, frost_model_logits(m), &label, 0.0f, dl, &correct);
    frost_model_zero_grad(m);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    /* the output is linear in Wp and Wn (the threshold depends on W only): the scale
     * gradients are the true derivatives divided by the sizes of the positive and the
     * negative set */
    const float *w2 = weights_of(m, "fc2");
    float mx = 0.0f;
    for (int i = 0; i < 8; i++)
        mx = fmaxf(mx, fabsf(w2[i]));
    int np = 0, nn = 0;
    for (int i = 0; i < 8; i++) {
        np += w2[i] > 0.05f * mx;
        nn += w2[i] < -0.05f * mx;
    }
    CHECK(np > 0 && nn > 0);
    float total[2] = {m->params[si].grad[0] * (float)np, m->params[si].grad[1] * (float)nn};
    CHECK_EQ_INT(
        frost_test_gradcheck("ttq scales", model_loss, &ctx, s, total, 2, 1e-3, 1e-5, 1e-3, 2), 0);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* TTQ's scales stay positive: an SGD step whose gradient would drive Wp and Wn below zero
 * leaves them at the floor (1e-6) after frost_model_qat_after_step, the forward then gives
 * the floor's magnitude to the sets; a scale above the floor is left alone. */
TEST(test_ttq_scales_stay_positive)
{
    frost_model *m = mlp();
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}, \"layers\": {\"fc2\": "
                              "{\"weights\": {\"scheme\": \"ttq\"}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    int si = param_index(m, "fc2.ttq");
    CHECK(si >= 0);
    if (si < 0)
        return;
    const float x[4] = {0.5f, -1.0f, 0.25f, 2.0f};
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    float *s = m->params[si].data;
    s[0] = 0.02f;
    s[1] = 0.03f;
    frost_optimizer_config oc = frost_optimizer_defaults(FROST_OPT_SGD);
    oc.momentum = 0.0f;
    oc.nesterov = false;
    oc.wd = oc.wd_1d = oc.wd_depthwise = 0.0f;
    frost_optimizer *o = NULL;
    CHECK(frost_optimizer_create(&oc, m, &o) == FROST_OK);
    frost_model_zero_grad(m);
    m->params[si].grad[0] = 1.0f; /* 0.02 - 0.1 * 1 = -0.08 */
    m->params[si].grad[1] = 0.5f; /* 0.03 - 0.1 * 0.5 = -0.02 */
    CHECK(o && frost_optimizer_step(o, 0.1f) == FROST_OK);
    CHECK_NEAR(s[0], -0.08, 1e-6, 0);
    CHECK_NEAR(s[1], -0.02, 1e-6, 0);
    frost_model_qat_after_step(m);
    CHECK_FLOAT_EQ(s[0], 1e-6f);
    CHECK_FLOAT_EQ(s[1], 1e-6f);
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    const float *wq = NULL; /* fc2's ternary weights of that forward */
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, "fc2") == 0)
            wq = m->nodes[i].q.w_eff;
    CHECK(wq != NULL);
    for (int i = 0; wq && i < 8; i++)
        CHECK(wq[i] == 0.0f || fabsf(wq[i]) == 1e-6f);
    frost_model_zero_grad(m);
    m->params[si].grad[0] = -1.0f; /* back up: 1e-6 + 0.1 */
    m->params[si].grad[1] = 0.0f;
    CHECK(frost_optimizer_step(o, 0.1f) == FROST_OK);
    frost_model_qat_after_step(m);
    CHECK_NEAR(s[0], 0.1 + 1e-6, 1e-7, 0);
    CHECK_FLOAT_EQ(s[1], 1e-6f);
    frost_optimizer_free(o);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* BinaryConnect in a model: +-H forward, dL/dWb applied to W unchanged, and the real
 * weights clipped to [-H, H] after the optimizer step. */
TEST(test_binary_connect_step_clips)
{
    frost_model *m = mlp();
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}, \"layers\": {\"fc2\": "
                              "{\"weights\": {\"scheme\": \"binary\", \"H\": 0.5}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    float *w2 = weights_of(m, "fc2");
    const float w2v[8] = {0.4f, -0.45f, 0.0f, 0.2f, -0.1f, 0.3f, 0.49f, -0.3f};
    memcpy(w2, w2v, sizeof w2v);
    for (int i = 0; i < 16; i++)
        weights_of(m, "fc1")[i] = (i % 5 == 0) ? 1.0f : 0.0f;
    const float x[4] = {1.0f, 2.0f, -1.0f, 0.5f};
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    /* row 0 signs {+,-,+,+} * .5: .5*(1 - 2 - 1 + .5) = -.75 */
    CHECK_NEAR(frost_model_logits(m)[0], -0.75, 1e-6, 0);
    const float dl[2] = {1.0f, 0.0f};
    frost_model_zero_grad(m);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    for (int i = 0; i < 4; i++) /* straight through: dW = dWb = dl[0] * x[i] */
        CHECK_FLOAT_EQ(grad_of(m, "fc2")[i], x[i]);
    frost_optimizer_config oc = frost_optimizer_defaults(FROST_OPT_SGD);
    oc.momentum = 0.0f;
    oc.nesterov = false;
    oc.wd = oc.wd_1d = oc.wd_depthwise = 0.0f;
    frost_optimizer *o = NULL;
    CHECK(frost_optimizer_create(&oc, m, &o) == FROST_OK);
    CHECK(frost_optimizer_step(o, 0.1f) == FROST_OK);
    /* .4 - .1 = .3; -.45 - .2 = -.65 -> -.5; 0 + .1 = .1; .2 - .05 = .15 */
    CHECK_NEAR(w2[1], -0.65, 1e-6, 0);
    frost_model_qat_after_step(m);
    CHECK_NEAR(w2[0], 0.3, 1e-6, 0);
    CHECK_FLOAT_EQ(w2[1], -0.5f);
    CHECK_NEAR(w2[2], 0.1, 1e-6, 0);
    CHECK_NEAR(w2[3], 0.15, 1e-6, 0);
    CHECK_NEAR(weights_of(m, "fc1")[0], 1.0 - 0.1 * 0.0, 1.0, 0); /* fc1 is not clipped */
    frost_optimizer_free(o);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* The stochastic scheme draws from the model's seeded stream in training and uses the real
 * weights at test time. */
TEST(test_binary_stochastic_in_model)
{
    frost_model *m = mlp();
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}, \"layers\": {\"fc2\": "
                              "{\"weights\": {\"scheme\": \"binary_stochastic\", \"H\": 1}}, "
                              "\"fc1\": {\"weights\": {\"enabled\": false}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    const float x[4] = {0.3f, -0.7f, 1.1f, 0.2f};
    float first[2], again[2], other[2], eval[2], fl[2];
    frost_model_seed_qat(m, 5);
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    memcpy(first, frost_model_logits(m), sizeof first);
    frost_model_seed_qat(m, 5);
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
    memcpy(again, frost_model_logits(m), sizeof again);
    CHECK(memcmp(first, again, sizeof first) == 0);
    int differ = 0;
    for (uint64_t seed = 6; seed < 16; seed++) { /* 8 weights: some seed draws others */
        frost_model_seed_qat(m, seed);
        CHECK(frost_model_forward(m, x, 1, true) == FROST_OK);
        memcpy(other, frost_model_logits(m), sizeof other);
        differ += memcmp(first, other, sizeof first) != 0;
    }
    CHECK(differ > 0);
    CHECK(frost_model_forward(m, x, 1, false) == FROST_OK);
    memcpy(eval, frost_model_logits(m), sizeof eval);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FLOAT) == FROST_OK);
    CHECK(frost_model_forward(m, x, 1, false) == FROST_OK);
    memcpy(fl, frost_model_logits(m), sizeof fl);
    CHECK(memcmp(eval, fl, sizeof eval) == 0); /* test time: the real weights */
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    frost_lowbit_layer l;
    CHECK(frost_model_qlayer_lowbit(m, layer_index(m, "fc2"), &l) == FROST_ERR_UNSUPPORTED);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* ---- the deployed form ---- */

/* input 1x1x3 -> conv 1x1 (3 -> 4, bias) -> BN -> conv 1x1 (4 -> 2): the accessor's
 * sum(code * scale * x) + bias must equal the fake-quant model's inference output. */
static void check_deployed(const char *scheme)
{
    frost_model *m = frost_g_new("dep", 1, 1, 3);
    int a = frost_g_conv(m, "c.conv", 0, 4, 1, 1, 0, 1, true);
    int b = frost_g_bn(m, "c.bn", a);
    frost_g_conv(m, "out", b, 2, 1, 1, 0, 1, false);
    frost_g_finish(m, 2);
    frost_model_init_weights(m, 11);
    frost_node *bn = &m->nodes[b];
    for (int ch = 0; ch < 4; ch++) { /* non-trivial BN, one negative gamma */
        m->params[bn->gamma].data[ch] = ch == 2 ? -0.7f : 0.5f + 0.25f * (float)ch;
        m->params[bn->beta].data[ch] = 0.1f * (float)ch - 0.2f;
        m->buffers[bn->running_mean].data[ch] = 0.05f * (float)ch;
        m->buffers[bn->running_var].data[ch] = 0.5f + (float)ch;
        m->params[m->nodes[a].bias_p].data[ch] = 0.03f * (float)ch;
    }
    char json[256];
    snprintf(json, sizeof json,
             "{\"activations\": {\"enabled\": false}, \"layers\": {\"c.conv\": {\"weights\": "
             "{\"scheme\": \"%s\"}}}}",
             scheme);
    frost_qconfig *c = config(json);
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    const float x[3] = {0.4f, -1.2f, 0.7f};
    CHECK(frost_model_forward(m, x, 1, true) == FROST_OK); /* starts TTQ's scales */
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    CHECK(frost_model_forward(m, x, 1, false) == FROST_OK);
    frost_lowbit_layer l;
    CHECK(frost_model_qlayer_lowbit(m, layer_index(m, "c.conv"), &l) == FROST_OK);
    CHECK(l.bn_folded);
    CHECK_EQ_INT(l.cout, 4);
    CHECK_EQ_INT(l.inner, 3);
    float h[4];
    for (int o = 0; o < 4; o++) {
        float s = l.bias[o];
        for (int i = 0; i < 3; i++) {
            int8_t k = l.codes[o * 3 + i];
            CHECK(k == 1 || k == -1 ||
                  (k == 0 && (l.wscheme == FROST_WSCHEME_TWN || l.wscheme == FROST_WSCHEME_TTQ)));
            s += (k > 0 ? l.pos_scale[o] : k < 0 ? -l.neg_scale[o] : 0.0f) * x[i];
        }
        h[o] = s;
    }
    /* the model's BN output, read through the second conv's input */
    const float *bn_out = m->nodes[frost_g_find(m, "c.bn")].y;
    for (int o = 0; o < 4; o++)
        CHECK_NEAR(h[o], bn_out[o], 1e-5, 1e-5);
    CHECK(l.pos_scale[2] < 0.0f); /* the negative gamma */
    frost_lowbit_layer_free(&l);
    CHECK(frost_model_qlayer_lowbit(m, layer_index(m, "out"), &l) == FROST_ERR_UNSUPPORTED);
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_deployed_weights_match_inference)
{
    check_deployed("binary");
    check_deployed("bwn");
    check_deployed("twn");
    check_deployed("ttq");
}

/* ---- Bi-Real shortcuts ---- */

static const frost_node *node_named(const frost_model *m, const char *name)
{
    int i = frost_g_find(m, name);
    return i >= 0 ? &m->nodes[i] : NULL;
}

/* The node a (maybe fake-quant) input stands for. */
static const char *source_name(const frost_model *m, int idx)
{
    while (m->nodes[idx].op == FROST_OP_FAKEQUANT)
        idx = m->nodes[idx].in[0];
    return m->nodes[idx].name;
}

TEST(test_bireal_shortcuts_where_shapes_match)
{
    /* c1 (first: real input) 2 -> 4; c2, c3 4 -> 4 stride 1: shortcuts; c4 stride 2 and
     * c5 4 -> 8: none */
    frost_model *m = frost_g_new("bireal", 6, 6, 2);
    int a = frost_g_conv_bn_act(m, "c1", 0, 4, 3, 1, 1, FROST_ACT_IDENTITY);
    int b = frost_g_conv_bn_act(m, "c2", a, 4, 3, 1, 1, FROST_ACT_IDENTITY);
    int c = frost_g_conv_bn_act(m, "c3", b, 4, 3, 1, 1, FROST_ACT_IDENTITY);
    int d = frost_g_conv_bn_act(m, "c4", c, 4, 3, 2, 1, FROST_ACT_IDENTITY);
    int e = frost_g_conv_bn_act(m, "c5", d, 8, 3, 1, 1, FROST_ACT_IDENTITY);
    int g = frost_g_gap(m, "gap", e);
    frost_g_linear(m, "fc", g, 3, true);
    frost_g_finish(m, 3);
    frost_model_init_weights(m, 5);
    int n_float = m->n_nodes;
    frost_qconfig *cfg = config("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": "
                                "{\"scheme\": \"bireal\"}, \"bireal_shortcuts\": true}");
    CHECK(frost_model_quantize(m, cfg) == FROST_OK);
    CHECK(node_named(m, "c1.conv.shortcut") == NULL);
    CHECK(node_named(m, "c4.conv.shortcut") == NULL);
    CHECK(node_named(m, "c5.conv.shortcut") == NULL);
    const frost_node *s2 = node_named(m, "c2.conv.shortcut"),
                     *s3 = node_named(m, "c3.conv.shortcut");
    CHECK(s2 && s3);
    if (!s2 || !s3)
        return;
    CHECK(s2->op == FROST_OP_ADD && s2->n_in == 2);
    CHECK(strcmp(source_name(m, s2->in[0]), "c2.bn") == 0);
    CHECK(strcmp(source_name(m, s2->in[1]), "c1.bn") == 0); /* c2's real input */
    CHECK(strcmp(source_name(m, s3->in[1]), "c2.conv.shortcut") == 0);
    CHECK(strcmp(source_name(m, node_named(m, "c3.conv")->in[0]), "c2.conv.shortcut") == 0);
    CHECK(strcmp(source_name(m, node_named(m, "c4.conv")->in[0]), "c3.conv.shortcut") == 0);
    for (int i = 0; i < m->n_nodes; i++) /* still topologically ordered */
        for (int k = 0; k < m->nodes[i].n_in; k++)
            CHECK(m->nodes[i].in[k] < i);
    /* forward: the sum of the unit's output and its real input */
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    float x[72];
    frost_test_fill_uniform(x, 72, -1.0f, 1.0f, 9);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FLOAT) == FROST_OK);
    CHECK(frost_model_forward(m, x, 1, false) == FROST_OK);
    const float *y = s2->y, *u = m->nodes[s2->in[0]].y, *r = m->nodes[s2->in[1]].y;
    for (int i = 0; i < 144; i++)
        CHECK_FLOAT_EQ(y[i], u[i] + r[i]);

    /* a checkpoint holds the shortcuts in its architecture: loading quantizes again
     * without adding a second set */
    const char *path = "test_quant_lowbit_bireal.safetensors";
    CHECK(frost_checkpoint_save_weights(path, m) == FROST_OK);
    frost_model *back = NULL;
    CHECK(frost_model_load(path, &back) == FROST_OK);
    if (back) {
        CHECK_EQ_INT(back->n_nodes, m->n_nodes);
        CHECK(m->n_nodes > n_float + 2);
        frost_model_free(back);
    }
    remove(path);
    frost_qconfig_free(cfg);
    frost_model_free(m);
}

/* TTQ's learned scales travel in checkpoints; an FP32 checkpoint (without them) still
 * loads into a TTQ model, whose scales then start from the weights. */
TEST(test_ttq_scales_in_checkpoints)
{
    frost_model *m = chain_model(FROST_ACT_IDENTITY);
    const char *fp32 = "test_quant_lowbit_fp32.safetensors";
    const char *qat = "test_quant_lowbit_ttq.safetensors";
    CHECK(frost_checkpoint_save_weights(fp32, m) == FROST_OK);
    frost_qconfig *c = config("{\"weights\": {\"scheme\": \"ttq\"}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    int si = param_index(m, "c2.conv.ttq");
    CHECK(si >= 0);
    if (si < 0)
        return;
    m->params[si].data[0] = 0.625f;
    m->params[si].data[1] = 0.375f;
    CHECK(frost_checkpoint_save_weights(qat, m) == FROST_OK);
    frost_model *back = NULL;
    CHECK(frost_model_load(qat, &back) == FROST_OK);
    if (back) {
        int bi = param_index(back, "c2.conv.ttq");
        CHECK(bi >= 0 && back->params[bi].data[0] == 0.625f && back->params[bi].data[1] == 0.375f);
        frost_model_free(back);
    }
    frost_model *q = chain_model(FROST_ACT_IDENTITY);
    CHECK(frost_model_quantize(q, c) == FROST_OK);
    frost_st_file *f = NULL;
    CHECK(frost_st_read(fp32, &f) == FROST_OK);
    if (f) {
        CHECK(frost_checkpoint_apply_weights(f, fp32, q) == FROST_OK);
        frost_st_close(f);
    }
    CHECK(q->params[param_index(q, "c2.conv.ttq")].data[0] == 0.0f); /* not started */
    remove(fp32);
    remove(qat);
    frost_model_free(q);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* ---- a short training run on real data ---- */

/* 28x28x1 -> c1 (8, stride 2, conv+BN) -> c2 (16, stride 2) -> c3 (16) -> gap -> fc, quantized
 * with `json` (c1 and fc stay affine by the first/last default), trained for 3 short epochs
 * on 6000 Fashion-MNIST images; test loss and accuracy on 1000 before and after. */
static void train_bnn(const char *json, const char *what, float *loss0, float *loss1, float *acc1)
{
    frost_dataset full, train, test;
    *loss0 = *loss1 = *acc1 = NAN;
    /* tiny layers: one thread (OpenMP's fork/join costs more than it saves here, and spins
     * badly on a loaded machine) */
    frost_set_threads(1);
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, true, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, 6000, &train), FROST_OK);
    frost_dataset_free(&full);
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, false, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, 1000, &test), FROST_OK);
    frost_dataset_free(&full);
    frost_model *m = frost_g_new("bnn", 28, 28, 1);
    int a = frost_g_conv_bn_act(m, "c1", 0, 8, 3, 2, 1, FROST_ACT_IDENTITY);
    int b = frost_g_conv_bn_act(m, "c2", a, 16, 3, 2, 1, FROST_ACT_IDENTITY);
    int d = frost_g_conv_bn_act(m, "c3", b, 16, 3, 1, 1, FROST_ACT_IDENTITY);
    int g = frost_g_gap(m, "gap", d);
    frost_g_linear(m, "fc", g, 10, true);
    frost_g_finish(m, 10);
    frost_model_init_weights(m, 1);
    frost_qconfig *c = config(json);
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    frost_train_config tc = frost_train_defaults();
    tc.epochs = 3;
    tc.batch = 64;
    tc.quiet = true;
    tc.label_smoothing = 0.0f;
    tc.optim = frost_optimizer_defaults(FROST_OPT_ADAM);
    tc.sched.base_lr = 0.03f;
    tc.sched.warmup_epochs = 0.0f;
    float acc0;
    CHECK(frost_model_set_batch(m, 64) == FROST_OK);
    /* the untrained quantized model, its activation ranges observed on the test images */
    CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_evaluate(m, &test, &tc.augment, 64, &acc0, loss0) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_QAT) == FROST_OK);
    CHECK(frost_evaluate(m, &test, &tc.augment, 64, &acc0, loss0) == FROST_OK);
    frost_train_result r;
    CHECK(frost_train(m, &train, NULL, NULL, &tc, NULL, NULL, &r) == FROST_OK);
    CHECK(frost_evaluate(m, &test, &tc.augment, 64, acc1, loss1) == FROST_OK);
    fprintf(stderr, "  %s: test loss %.3f -> %.3f, accuracy %.3f -> %.3f\n", what, (double)*loss0,
            (double)*loss1, (double)acc0, (double)*acc1);
    frost_qconfig_free(c);
    frost_model_free(m);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
}

TEST(test_bwn_sign_trains_on_fashion_mnist)
{
    float loss0, loss1, acc1;
    train_bnn("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"sign\"}}",
              "BWN + sign", &loss0, &loss1, &acc1);
    CHECK(loss1 < 0.6 * loss0);
    CHECK(acc1 > 0.5f); /* chance is 0.1 */
}

TEST(test_bireal_trains_on_fashion_mnist)
{
    float loss0, loss1, acc1;
    train_bnn("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": "
              "\"bireal\"}, \"bireal_shortcuts\": true}",
              "Bi-Real (BWN, ApproxSign, shortcut around c3)", &loss0, &loss1, &acc1);
    CHECK(loss1 < 0.6 * loss0);
    CHECK(acc1 > 0.5f);
}

FROST_TEST_MAIN(RUN(test_bwn_worked_example); RUN(test_twn_worked_example);
                RUN(test_binary_deterministic_and_clip);
                RUN(test_binary_stochastic_probabilities_and_seed);
                RUN(test_ttq_forward_and_backward_rules); RUN(test_sign_and_approx_sign);
                RUN(test_xnor_conv_scale_map); RUN(test_xnor_linear_worked_example);
                RUN(test_config_schemes_and_errors); RUN(test_first_and_last_layer_stay_affine);
                RUN(test_binary_input_after_relu_is_refused);
                RUN(test_bwn_sign_in_model_follow_the_rules);
                RUN(test_ttq_scale_gradients_match_finite_differences);
                RUN(test_ttq_scales_stay_positive); RUN(test_binary_connect_step_clips);
                RUN(test_binary_stochastic_in_model); RUN(test_deployed_weights_match_inference);
                RUN(test_bireal_shortcuts_where_shapes_match); RUN(test_ttq_scales_in_checkpoints);
                RUN(test_bwn_sign_trains_on_fashion_mnist);
                RUN(test_bireal_trains_on_fashion_mnist))
