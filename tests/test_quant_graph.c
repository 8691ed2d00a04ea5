/*
 * The QAT/PTQ graph transform (src/quant/qgraph.c, qrun.c): where fake-quant
 * goes, BN folding against docs/quantization.md#bn-folding (inference fold, QAT with
 * batch statistics, frozen BN), the float mode equal to the FP32 model bit for
 * bit, EMA ranges, config errors, checkpoints of fake-quant models, and the
 * per-layer switches behind `frost sensitivity`.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"
#include "ops/ops.h"

static frost_qconfig *config(const char *json)
{
    frost_qconfig *c = NULL;
    if (frost_qconfig_parse(json, "test", &c) != FROST_OK)
        fprintf(stderr, "  config error: %s\n", frost_last_error());
    return c;
}

/* input 1x1x1 -> conv 1->2 (no bias) -> BN: channel 0 is docs/quantization.md's fold example
 * (W=2, gamma=.5, beta=.1, mu=1, var+eps=4 gives W'=.5, b'=-.15, x=3 -> 1.35). */
static frost_model *fold_model(void)
{
    frost_model *m = frost_g_new("fold", 1, 1, 1);
    int c = frost_g_conv(m, "c.conv", 0, 2, 1, 1, 0, 1, false);
    int b = frost_g_bn(m, "c.bn", c);
    frost_g_finish(m, 2);
    frost_node *bn = &m->nodes[b];
    float eps = bn->bn.eps;
    m->params[m->nodes[c].weight].data[0] = 2.0f;
    m->params[m->nodes[c].weight].data[1] = -1.0f;
    m->params[bn->gamma].data[0] = 0.5f;
    m->params[bn->gamma].data[1] = 1.0f;
    m->params[bn->beta].data[0] = 0.1f;
    m->params[bn->beta].data[1] = 0.0f;
    m->buffers[bn->running_mean].data[0] = 1.0f;
    m->buffers[bn->running_mean].data[1] = 0.0f;
    m->buffers[bn->running_var].data[0] = 4.0f - eps;
    m->buffers[bn->running_var].data[1] = 1.0f - eps;
    return m;
}

TEST(test_bn_fold_worked_example)
{
    frost_model *m = fold_model();
    frost_qconfig *c = config("{\"activations\": {\"enabled\": false}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 2) == FROST_OK);
    float x[2] = {3.0f, 5.0f};
    /* inference: y = FQ(W') x + b'; W' = .5 is exactly representable (127 * .5/127) */
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    CHECK(frost_model_forward(m, x, 1, false) == FROST_OK);
    CHECK_NEAR(frost_model_logits(m)[0], 1.35, 1e-6, 0);
    /* QAT before the freeze: y = y_c * s_run/s_B + beta - gamma * mu_B / s_B with batch
     * statistics of [6, 10]: mu_B = 8, s_B = sqrt(4 + eps), so y = 0.5 * (x*2 - 8)/2 + .1 */
    CHECK(frost_model_set_qmode(m, FROST_QMODE_QAT) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
    CHECK_NEAR(frost_model_logits(m)[0], -0.4, 1e-5, 0);
    CHECK_NEAR(frost_model_logits(m)[2], 0.6, 1e-5, 0);
    float rm = m->buffers[m->nodes[frost_g_find(m, "c.bn")].running_mean].data[0];
    CHECK_NEAR(rm, 0.9 * 1.0 + 0.1 * 8.0, 1e-6, 0); /* running stats move */
    /* after the freeze: the folded running statistics, also in training */
    frost_model_freeze_bn(m, true);
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
    float rv = m->buffers[m->nodes[frost_g_find(m, "c.bn")].running_var].data[0];
    float eps = m->nodes[frost_g_find(m, "c.bn")].bn.eps;
    CHECK_NEAR(frost_model_logits(m)[0], 0.5 * (3 * 2 - rm) / sqrt(rv + eps) + 0.1, 1e-5, 0);
    float rm2 = m->buffers[m->nodes[frost_g_find(m, "c.bn")].running_mean].data[0];
    CHECK_FLOAT_EQ(rm2, rm); /* frozen: running stats stay */
    /* the frozen BN's backward: dy/dbeta = 1 per image */
    float dl[4] = {1, 0, 1, 0};
    frost_model_zero_grad(m);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    CHECK_NEAR(m->params[m->nodes[frost_g_find(m, "c.bn")].beta].grad[0], 2.0, 1e-6, 0);
    frost_model_free(m);
    frost_qconfig_free(c);
}

TEST(test_bn_fold_with_activation_quant)
{
    frost_model *m = fold_model();
    /* the output is the model's last node: its fake-quant must be asked for */
    frost_qconfig *c = config("{\"layers\": {\"c.bn\": {\"activations\": {\"enabled\": true}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 1) == FROST_OK);
    float x = 3.0f;
    CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(m, &x, 1, false) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    CHECK(frost_model_forward(m, &x, 1, false) == FROST_OK);
    /* output range [-3, 1.35] (channel 1 gives -3): S = 4.35/255, Z = 176, and
     * 1.35 lands on code 79 + 176: (255 - 176) * S */
    const float *ro = m->buffers[m->nodes[frost_g_find(m, "c.bn.fq")].q.range].data;
    CHECK_NEAR(ro[0], -3.0, 1e-5, 0);
    CHECK_NEAR(ro[1], 1.35, 1e-5, 0);
    float s = (ro[1] - ro[0]) / 255.0f;
    CHECK_FLOAT_EQ(frost_model_logits(m)[0], (float)(255 - 176) * s);
    CHECK_NEAR(frost_model_logits(m)[1], -3.0, s / 2, 0); /* -176 * S */
    /* the input range [0, 3]: 3 maps to code 255 */
    const float *r = m->buffers[m->nodes[frost_g_find(m, "input.fq")].q.range].data;
    CHECK(r[0] == 3.0f && r[1] == 3.0f && r[2] == 1.0f);
    frost_model_free(m);
    frost_qconfig_free(c);
}

/* input -> c1 conv-bn-relu -> c2 conv-bn -> add(c1, c2) -> gap -> drop -> fc */
static frost_model *small_model(void)
{
    frost_model *m = frost_g_new("small", 6, 6, 2);
    int a = frost_g_conv_bn_act(m, "c1", 0, 4, 3, 1, 1, FROST_ACT_RELU);
    int b = frost_g_conv_bn_act(m, "c2", a, 4, 3, 1, 1, FROST_ACT_IDENTITY);
    int s = frost_g_add(m, "add", a, b);
    int g = frost_g_gap(m, "gap", s);
    int d = frost_g_dropout(m, "drop", g, 0.0f);
    frost_g_linear(m, "fc", d, 3, true);
    frost_g_finish(m, 3);
    frost_model_init_weights(m, 7);
    return m;
}

TEST(test_fake_quant_placement)
{
    frost_model *m = small_model();
    char *before = frost_model_to_json(m);
    int buffers = m->n_buffers;
    frost_qconfig *c = config("{}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    const char *expect[] = {"input.fq", "c1.act.fq", "c2.bn.fq", "add.fq", "gap.fq", "fc.fq"};
    int n_fq = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_OP_FAKEQUANT) {
            CHECK(n_fq < 6 && strcmp(m->nodes[i].name, expect[n_fq]) == 0);
            /* a fake-quant reads the node it is named after */
            CHECK(strncmp(m->nodes[m->nodes[i].in[0]].name, m->nodes[i].name,
                          strlen(m->nodes[i].name) - 3) == 0);
            n_fq++;
        }
    CHECK_EQ_INT(n_fq, 6);
    CHECK_EQ_INT(m->n_buffers, buffers + 6);
    /* the conv units' BNs are folded; the add reads both units' fake-quants */
    CHECK_EQ_INT(m->nodes[frost_g_find(m, "c1.conv")].q.fold_bn, frost_g_find(m, "c1.bn"));
    const frost_node *add = &m->nodes[frost_g_find(m, "add")];
    CHECK_EQ_INT(add->in[0], frost_g_find(m, "c1.act.fq"));
    CHECK_EQ_INT(add->in[1], frost_g_find(m, "c2.bn.fq"));
    CHECK_EQ_INT(m->nodes[frost_g_find(m, "c2.conv")].in[0], frost_g_find(m, "c1.act.fq"));
    /* the architecture is still the float one */
    char *after = frost_model_to_json(m);
    CHECK(strcmp(before, after) == 0);
    /* layers: three with weights, then input, add, gap */
    CHECK_EQ_INT(frost_model_qlayer_count(m), 6);
    CHECK(strcmp(frost_model_qlayer_name(m, 0), "c1.conv") == 0);
    CHECK(strcmp(frost_model_qlayer_name(m, 2), "fc") == 0);
    CHECK(strcmp(frost_model_qlayer_name(m, 3), "input") == 0);
    CHECK(frost_model_quantize(m, c) != FROST_OK); /* twice is an error */
    free(before);
    free(after);
    frost_qconfig_free(c);
    frost_model_free(m);
}

static void random_batch(float *x, int n, unsigned seed)
{
    frost_test_fill_uniform(x, n, -2.0f, 2.0f, seed);
}

TEST(test_float_mode_equals_fp32_model)
{
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = 0.35f;
    o.input = 28;
    o.in_channels = 1;
    o.classes = 10;
    frost_model *a = NULL, *b = NULL;
    CHECK(frost_model_builtin("frostnet_s", &o, &a) == FROST_OK);
    CHECK(frost_model_builtin("frostnet_s", &o, &b) == FROST_OK);
    if (!a || !b)
        return;
    frost_model_init_weights(a, 3);
    frost_model_init_weights(b, 3);
    frost_qconfig *c = config("{}");
    CHECK(frost_model_quantize(b, c) == FROST_OK);
    CHECK(frost_model_set_qmode(b, FROST_QMODE_FLOAT) == FROST_OK);
    CHECK(frost_model_set_batch(a, 4) == FROST_OK && frost_model_set_batch(b, 4) == FROST_OK);
    float x[4 * 28 * 28];
    random_batch(x, 4 * 28 * 28, 5);
    for (int train = 0; train < 2; train++) {
        CHECK(frost_model_forward(a, x, 4, train) == FROST_OK);
        CHECK(frost_model_forward(b, x, 4, train) == FROST_OK);
        CHECK(memcmp(frost_model_logits(a), frost_model_logits(b), 40 * sizeof(float)) == 0);
    }
    /* and the same gradients: a pass-through fake-quant forwards dy unchanged */
    float dl[40];
    frost_test_fill_uniform(dl, 40, -1.0f, 1.0f, 6);
    frost_model_zero_grad(a);
    frost_model_zero_grad(b);
    CHECK(frost_model_backward(a, dl) == FROST_OK && frost_model_backward(b, dl) == FROST_OK);
    int differ = 0;
    for (int p = 0; p < a->n_params; p++)
        differ += memcmp(a->params[p].grad, b->params[p].grad,
                         (size_t)a->params[p].numel * sizeof(float)) != 0;
    CHECK_EQ_INT(differ, 0);
    /* fake-quant on: close to float, but not equal */
    CHECK(frost_model_set_qmode(b, FROST_QMODE_QAT) == FROST_OK);
    CHECK(frost_model_forward(b, x, 4, true) == FROST_OK);
    CHECK(memcmp(frost_model_logits(a), frost_model_logits(b), 40 * sizeof(float)) != 0);
    frost_qconfig_free(c);
    frost_model_free(a);
    frost_model_free(b);
}

TEST(test_ema_ranges_update_only_in_training)
{
    frost_model *m = small_model();
    frost_qconfig *c = config("{}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 2) == FROST_OK);
    float x[2 * 72], y[2 * 72];
    random_batch(x, 144, 1);
    for (int i = 0; i < 144; i++)
        y[i] = 3.0f * x[i];
    const float *r = m->buffers[m->nodes[frost_g_find(m, "input.fq")].q.range].data;
    float mn = x[0], mx = x[0];
    for (int i = 0; i < 144; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    /* a fixed-range forward before any observation is an error, not garbage */
    CHECK(frost_model_forward(m, x, 2, false) != FROST_OK);
    CHECK(strstr(frost_last_error(), "no range") != NULL);
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK); /* first batch sets the range */
    CHECK(r[0] == mn && r[1] == mx && r[2] == 1.0f);
    CHECK(frost_model_forward(m, y, 2, true) == FROST_OK); /* then m += .01 (b - m) */
    CHECK_FLOAT_EQ(r[0], mn + 0.01f * (3.0f * mn - mn));
    CHECK_FLOAT_EQ(r[1], mx + 0.01f * (3.0f * mx - mx));
    float keep[2] = {r[0], r[1]};
    CHECK(frost_model_forward(m, x, 2, false) == FROST_OK); /* eval: no update */
    CHECK(r[0] == keep[0] && r[1] == keep[1]);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK); /* frozen observers */
    CHECK(frost_model_forward(m, y, 2, true) == FROST_OK);
    CHECK(r[0] == keep[0] && r[1] == keep[1]);
    frost_qconfig_free(c);
    frost_model_free(m);
}

static void expect_quantize_error(const char *json, const char *fragment)
{
    frost_model *m = small_model();
    frost_qconfig *c = NULL;
    frost_status s = frost_qconfig_parse(json, "cfg", &c);
    if (s == FROST_OK) {
        int nodes = m->n_nodes;
        s = frost_model_quantize(m, c);
        CHECK(!frost_model_is_quantized(m) && m->n_nodes == nodes); /* unchanged */
    }
    CHECK(s != FROST_OK);
    if (!strstr(frost_last_error(), fragment)) {
        fprintf(stderr, "  %s: error '%s' lacks '%s'\n", json, frost_last_error(), fragment);
        CHECK(0);
    }
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_config_errors)
{
    expect_quantize_error("{\"weights\": {\"bits\": 9}}", "2..8");
    expect_quantize_error("{\"activations\": {\"bits\": 1}}", "2..8");
    expect_quantize_error("{\"weights\": {\"bits\": 4.5}}", "integer");
    /* found by fuzz/fuzz_qconfig: a number beyond int's range was converted to int before
     * the range check (undefined behaviour; clang's UBSan stops there) */
    expect_quantize_error("{\"activations\": {\"bits\": 2e55}}", "2..8");
    expect_quantize_error("{\"weights\": {\"bits\": -1e300}}", "2..8");
    expect_quantize_error("{\"layers\": {\"nope\": {\"weights\": {\"bits\": 4}}}}",
                          "'nope' does not exist");
    expect_quantize_error("{\"layers\": {\"add\": {\"weights\": {\"bits\": 4}}}}", "no weights");
    expect_quantize_error("{\"layers\": {\"drop\": {\"activations\": {\"bits\": 4}}}}",
                          "no quantized output");
    expect_quantize_error("{\"activations\": {\"per_channel\": true}}", "per-channel");
    expect_quantize_error("{\"weights\": {\"bitz\": 4}}", "unknown key 'bitz'");
    expect_quantize_error("{\"layers\": {\"fc\": {\"activations\": {\"observer\": \"ema\"}}}}",
                          "model-wide");
    expect_quantize_error("{\"activations\": {\"observer\": \"kl\"}}", "observer");
    expect_quantize_error("[1, 2]", "object");
    expect_quantize_error("{\"weights\": ", "invalid JSON at line 1, column 13");
    expect_quantize_error("{\"weights\": {\"bits\": 4}} x",
                          "trailing data after the JSON document");
}

TEST(test_mixed_precision_overrides)
{
    frost_model *m = small_model();
    frost_qconfig *c =
        config("{\"weights\": {\"bits\": 4}, \"layers\": {\"c1.conv\": {\"weights\": "
               "{\"bits\": 8}, \"activations\": {\"bits\": 6}}, \"fc\": {\"weights\": "
               "{\"enabled\": false}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    const frost_nodeq *c1 = &m->nodes[frost_g_find(m, "c1.conv")].q;
    const frost_nodeq *c2 = &m->nodes[frost_g_find(m, "c2.conv")].q;
    CHECK(c1->bits == 8 && c1->qmin == -127 && c1->qmax == 127);
    CHECK(c2->bits == 4 && c2->qmin == -7 && c2->qmax == 7);
    CHECK(!m->nodes[frost_g_find(m, "fc")].q.on);
    const frost_nodeq *a1 = &m->nodes[frost_g_find(m, "c1.act.fq")].q;
    CHECK(a1->bits == 6 && a1->qmin == 0 && a1->qmax == 63);
    CHECK_EQ_INT(m->nodes[frost_g_find(m, "add.fq")].q.qmax, 255);
    int wb, ab;
    frost_model_qlayer_bits(m, 2, &wb, &ab);
    CHECK(wb == 0 && ab == 0); /* fc: float weights, float logits */
    /* sensitivity switches: only layer 1 (c2) on, then all back */
    frost_model_quantize_only(m, 1);
    CHECK(!c1->on && c2->on && m->nodes[frost_g_find(m, "c2.bn.fq")].q.on && !a1->on);
    frost_model_quantize_only(m, -1);
    CHECK(c1->on && c2->on && a1->on && !m->nodes[frost_g_find(m, "fc")].q.on);
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_checkpoint_of_fake_quant_model)
{
    frost_model *m = small_model();
    frost_qconfig *c = config("{\"weights\": {\"bits\": 5, \"per_channel\": false}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 2) == FROST_OK);
    float x[144];
    random_batch(x, 144, 2);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, false) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, false) == FROST_OK);
    float want[6];
    memcpy(want, frost_model_logits(m), sizeof want);
    const char *path = "test_quant_graph.safetensors";
    CHECK(frost_checkpoint_save_weights(path, m) == FROST_OK);
    frost_model *back = NULL;
    CHECK(frost_checkpoint_load_model(path, &back) == FROST_OK);
    if (back) {
        CHECK(frost_model_is_quantized(back));
        CHECK(strstr(frost_model_qconfig_json(back), "\"bits\":5") != NULL);
        CHECK(frost_model_set_batch(back, 2) == FROST_OK);
        CHECK(frost_model_forward(back, x, 2, false) == FROST_OK);
        CHECK(memcmp(frost_model_logits(back), want, sizeof want) == 0);
    }
    remove(path);
    frost_model_free(back);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* One training forward + backward on a batch of 8 (3 classes); returns the loss. */
static float forward_backward(frost_model *m, const float *x, const uint8_t *y, float *dl)
{
    CHECK(frost_model_forward(m, x, 8, true) == FROST_OK);
    frost_model_zero_grad(m);
    int correct;
    float loss = frost_softmax_xent(8, 3, frost_model_logits(m), y, 0.0f, dl, &correct);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    return loss;
}

/* Training through fake-quant: the loss falls on a fixed batch (STE gradients flow
 * through the folded, quantized weights and every fake-quant). */
TEST(test_qat_steps_reduce_loss)
{
    frost_model *m = small_model();
    frost_qconfig *c = config("{\"weights\": {\"bits\": 4}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 8) == FROST_OK);
    float x[8 * 72], dl[8 * 3];
    uint8_t y[8];
    random_batch(x, 8 * 72, 3);
    for (int i = 0; i < 8; i++)
        y[i] = (uint8_t)(i % 3);
    float first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        /* a quantization delay of 30 steps lets the ranges settle first */
        CHECK(frost_model_set_qmode(m, step < 30 ? FROST_QMODE_DELAY : FROST_QMODE_QAT) ==
              FROST_OK);
        float loss = forward_backward(m, x, y, dl);
        if (step == 30)
            first = loss; /* fake-quant starts here */
        last = loss;
        for (int p = 0; p < m->n_params; p++)
            for (int64_t j = 0; j < m->params[p].numel; j++)
                m->params[p].data[j] -= 0.3f * m->params[p].grad[j];
    }
    if (!(last < 0.1f * first))
        fprintf(stderr, "  loss %g -> %g\n", first, last);
    CHECK(last < 0.1f * first);
    CHECK(m->quant.fake);
    frost_qconfig_free(c);
    frost_model_free(m);
}

/* Review fixes: hist/percentile observers move by the EMA rule in training; freezing BN
 * touches folded BNs only; the logits stay float unless "enabled" says otherwise, also
 * behind a flatten; overrides of one unit merge; FP32 weights load into a quantized model. */
TEST(test_hist_observer_in_training_uses_ema)
{
    frost_model *m = small_model();
    frost_qconfig *c = config("{\"activations\": {\"observer\": \"hist\"}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 2) == FROST_OK);
    float x[144];
    random_batch(x, 144, 8);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_DELAY) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
    const float *r = m->buffers[m->nodes[frost_g_find(m, "add.fq")].q.range].data;
    CHECK(r[2] == 1.0f && r[0] < r[1]);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_QAT) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
    CHECK(r[2] == 2.0f);
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_freeze_bn_only_folded)
{
    frost_model *m = frost_g_new("standalone", 4, 4, 2);
    int cv = frost_g_conv(m, "c", 0, 3, 3, 1, 1, 1, true);
    int a = frost_g_act(m, "relu", cv, FROST_ACT_RELU);
    int b = frost_g_bn(m, "bn", a); /* after the ReLU: not folded into the conv */
    int g = frost_g_gap(m, "gap", b);
    int f = frost_g_flatten(m, "flat", g);
    (void)f;
    frost_g_finish(m, 3);
    frost_model_init_weights(m, 1);
    frost_qconfig *c = config("{}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(m->nodes[frost_g_find(m, "c")].q.fold_bn < 0);
    CHECK(!m->nodes[frost_g_find(m, "bn")].q.folded);
    /* the output comes through a flatten: gap.fq is the output's and stays off */
    CHECK(!m->nodes[frost_g_find(m, "gap.fq")].q.on);
    CHECK(m->nodes[frost_g_find(m, "bn.fq")].q.on);
    frost_model_freeze_bn(m, true);
    CHECK(frost_model_set_batch(m, 2) == FROST_OK);
    float x[64];
    random_batch(x, 64, 9);
    const float *rm = m->buffers[m->nodes[frost_g_find(m, "bn")].running_mean].data;
    float before = rm[0];
    CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
    CHECK(rm[0] != before); /* a standalone BN keeps training normally */
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_logits_and_merged_overrides)
{
    frost_model *m = small_model();
    frost_qconfig *c = config("{\"layers\": {\"fc\": {\"activations\": {\"bits\": 6}}, "
                              "\"c1.conv\": {\"activations\": {\"bits\": 4}}, "
                              "\"c1.act\": {\"activations\": {\"symmetric\": true}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(!m->nodes[frost_g_find(m, "fc.fq")].q.on); /* bits alone do not enable logits */
    const frost_nodeq *a1 = &m->nodes[frost_g_find(m, "c1.act.fq")].q;
    CHECK(a1->bits == 4 && a1->symmetric && a1->qmin == -8 && a1->qmax == 7);
    frost_qconfig_free(c);
    frost_model_free(m);
    m = small_model();
    c = config("{\"layers\": {\"fc\": {\"activations\": {\"enabled\": true}}}}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(m->nodes[frost_g_find(m, "fc.fq")].q.on);
    frost_qconfig_free(c);
    frost_model_free(m);
}

TEST(test_fp32_weights_load_into_quantized_model)
{
    frost_model *fp = small_model(), *q = small_model();
    frost_model_init_weights(fp, 99);
    const char *path = "test_quant_graph_fp32.safetensors";
    CHECK(frost_checkpoint_save_weights(path, fp) == FROST_OK);
    frost_qconfig *c = config("{}");
    CHECK(frost_model_quantize(q, c) == FROST_OK);
    CHECK(frost_checkpoint_load_weights(path, q) == FROST_OK);
    CHECK(memcmp(q->params[0].data, fp->params[0].data, (size_t)fp->params[0].numel * 4) == 0);
    remove(path);
    frost_qconfig_free(c);
    frost_model_free(fp);
    frost_model_free(q);
}

/* The trainer's QAT schedule: BN frozen from epoch 0 keeps the folded BNs' running
 * statistics, observers frozen from epoch 0 keep calibrated ranges; by default both move. */
static void train_two_epochs(frost_model *m, int freeze_bn, int freeze_obs)
{
    static uint8_t img[48 * 72], lab[48];
    for (int i = 0; i < 48 * 72; i++)
        img[i] = (uint8_t)((i * 37 + i / 72 * 11) % 256);
    for (int i = 0; i < 48; i++)
        lab[i] = (uint8_t)(i % 3);
    frost_dataset d = {.n = 48, .h = 6, .w = 6, .c = 2, .classes = 3, .images = img, .labels = lab};
    frost_train_config cfg = frost_train_defaults();
    cfg.epochs = 2;
    cfg.batch = 16;
    cfg.quiet = true;
    cfg.qat_freeze_bn_epoch = freeze_bn;
    cfg.qat_freeze_observers_epoch = freeze_obs;
    CHECK(frost_train(m, &d, NULL, NULL, &cfg, NULL, NULL, NULL) == FROST_OK);
}

TEST(test_trainer_freezes_bn_and_observers)
{
    for (int frozen = 0; frozen < 2; frozen++) {
        frost_model *m = small_model();
        frost_qconfig *c = config("{}");
        CHECK(frost_model_quantize(m, c) == FROST_OK);
        CHECK(frost_model_set_batch(m, 16) == FROST_OK);
        float x[16 * 72];
        random_batch(x, 16 * 72, 4);
        CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
        CHECK(frost_model_forward(m, x, 16, false) == FROST_OK);
        CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
        const float *rm = m->buffers[m->nodes[frost_g_find(m, "c1.bn")].running_mean].data;
        const float *r = m->buffers[m->nodes[frost_g_find(m, "add.fq")].q.range].data;
        float rm0 = rm[0], r0 = r[0], r1 = r[1];
        train_two_epochs(m, frozen ? 0 : -1, frozen ? 0 : -1);
        CHECK(frozen ? rm[0] == rm0 : rm[0] != rm0);
        CHECK(frozen ? (r[0] == r0 && r[1] == r1) : (r[0] != r0 || r[1] != r1));
        frost_qconfig_free(c);
        frost_model_free(m);
    }
}

/* StatAssist: the switch from the float warm-up to QAT (what the trainer does between
 * epochs: set_qmode(QAT), set_boost(true)) leaves every optimizer state as the warm-up
 * left it, so QAT's first step starts from the FP momentum; and that step moves it. */
TEST(test_statassist_switch_keeps_optimizer_state)
{
    frost_model *m = small_model();
    frost_qconfig *c = config("{}");
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    CHECK(frost_model_set_batch(m, 8) == FROST_OK);
    frost_optimizer_config oc = frost_optimizer_defaults(FROST_OPT_SGD);
    oc.gradboost = true;
    frost_optimizer *o = NULL;
    CHECK(frost_optimizer_create(&oc, m, &o) == FROST_OK);
    if (!o)
        return;
    float x[8 * 72], dl[24];
    uint8_t y[8];
    random_batch(x, 8 * 72, 12);
    for (int i = 0; i < 8; i++)
        y[i] = (uint8_t)(i % 3);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_DELAY) == FROST_OK);
    frost_optimizer_set_boost(o, false);
    for (int step = 0; step < 4; step++) { /* the float warm-up */
        forward_backward(m, x, y, dl);
        CHECK(frost_optimizer_step(o, 0.05f) == FROST_OK);
    }
    int n = frost_optimizer_state_count(o);
    float **snap = calloc((size_t)n, sizeof *snap);
    for (int i = 0; i < n; i++) {
        const char *name;
        int64_t numel;
        float *data;
        frost_optimizer_state_get(o, i, &name, &numel, &data);
        snap[i] = malloc((size_t)numel * sizeof(float));
        memcpy(snap[i], data, (size_t)numel * sizeof(float));
    }
    CHECK(frost_model_set_qmode(m, FROST_QMODE_QAT) == FROST_OK); /* the switch */
    frost_optimizer_set_boost(o, true);
    int same = 0, momentum_nonzero = 0, moved = 0;
    for (int i = 0; i < n; i++) {
        const char *name;
        int64_t numel;
        float *data;
        frost_optimizer_state_get(o, i, &name, &numel, &data);
        same += memcmp(snap[i], data, (size_t)numel * sizeof(float)) == 0;
        if (strstr(name, ".momentum"))
            for (int64_t j = 0; j < numel; j++)
                momentum_nonzero += data[j] != 0.0f;
    }
    CHECK_EQ_INT(same, n);
    CHECK(momentum_nonzero > 0);   /* the warm-up filled it */
    forward_backward(m, x, y, dl); /* QAT step 1 */
    CHECK(frost_optimizer_step(o, 0.05f) == FROST_OK);
    CHECK_EQ_INT(frost_optimizer_boost_steps(o), 1);
    for (int i = 0; i < n; i++) {
        const char *name;
        int64_t numel;
        float *data;
        frost_optimizer_state_get(o, i, &name, &numel, &data);
        moved += memcmp(snap[i], data, (size_t)numel * sizeof(float)) != 0;
        free(snap[i]);
    }
    CHECK(moved > 0);
    free(snap);
    frost_optimizer_free(o);
    frost_qconfig_free(c);
    frost_model_free(m);
}

FROST_TEST_MAIN(RUN(test_statassist_switch_keeps_optimizer_state),
                RUN(test_trainer_freezes_bn_and_observers),
                RUN(test_hist_observer_in_training_uses_ema), RUN(test_freeze_bn_only_folded),
                RUN(test_logits_and_merged_overrides),
                RUN(test_fp32_weights_load_into_quantized_model), RUN(test_bn_fold_worked_example),
                RUN(test_bn_fold_with_activation_quant), RUN(test_fake_quant_placement),
                RUN(test_float_mode_equals_fp32_model),
                RUN(test_ema_ranges_update_only_in_training), RUN(test_config_errors),
                RUN(test_mixed_precision_overrides), RUN(test_checkpoint_of_fake_quant_model),
                RUN(test_qat_steps_reduce_loss))
