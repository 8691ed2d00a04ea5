/*
 * Binary and ternary weights in the int8 engine (docs/int8.md#low-bit-layers).
 *
 * A layer with binary, BWN or TWN weights and 8-bit activations converts to an int8 conv /
 * linear node whose weights are the layer's -1/0/+1 codes and whose per-channel weight scale
 * is the scheme's scale (a folded BN included): its integer sum is exactly the low-bit
 * layer's, so the converted model must match the fake-quant model as the affine layers do
 * (to 1 LSB on rounding ties, the float logits to float rounding). A TTQ layer's two
 * magnitudes become two int8 levels per channel (the smaller one rounded to the closest
 * fraction of the larger). Schemes the engine cannot run exactly (binarized inputs with
 * affine weights, stochastic binary weights) are refused; sign / bireal / xnor inputs:
 * tests/test_int8_binact.c.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "int8_layers.h"
#include "models/graph.h"

enum { N = 16, PIX = 14 * 14 };

/* Affine first layer and classifier (the default for a sub-8-bit model-wide scheme), two
 * low-bit convs in between (a strided 3x3 with BN, a depthwise 3x3 with BN: c3's input may
 * be binarized, it is no ReLU's output) and a low-bit hidden linear layer with ReLU. */
static const char *arch =
    "{\"name\":\"lowbit\",\"input\":{\"h\":14,\"w\":14,\"c\":1},\"classes\":5,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":1,\"pad\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":12,\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"b2\",\"op\":\"bn\"},"
    "{\"name\":\"c3\",\"op\":\"conv\",\"out\":12,\"k\":3,\"stride\":1,\"pad\":1,\"groups\":12},"
    "{\"name\":\"b3\",\"op\":\"bn\"},"
    "{\"name\":\"fl\",\"op\":\"flatten\"},"
    "{\"name\":\"fc1\",\"op\":\"linear\",\"out\":16},"
    "{\"name\":\"a4\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"fc2\",\"op\":\"linear\",\"out\":5}]}";

static void random_images(float *x)
{
    frost_rng r;
    frost_rng_seed(&r, 3);
    for (int i = 0; i < N * PIX; i++)
        x[i] = 2.0f * frost_rng_uniform(&r) - 0.8f;
}

/* BN statistics that move every channel (some gammas negative: flipped codes). */
static void random_bn(frost_model *m)
{
    frost_rng r;
    frost_rng_seed(&r, 11);
    for (int i = 0; i < m->n_nodes; i++) {
        frost_node *n = &m->nodes[i];
        if (n->op != FROST_OP_BN)
            continue;
        for (int c = 0; c < n->c; c++) {
            float g = 0.5f + frost_rng_uniform(&r);
            m->params[n->gamma].data[c] = c % 5 == 3 ? -g : g;
            m->params[n->beta].data[c] = 0.5f * (frost_rng_uniform(&r) - 0.3f);
            m->buffers[n->running_mean].data[c] = 0.2f * (frost_rng_uniform(&r) - 0.5f);
            m->buffers[n->running_var].data[c] = 0.5f + frost_rng_uniform(&r);
        }
    }
}

/* The test model quantized with `config` (JSON), calibrated on x, ranges fixed; NULL when
 * quantizing fails (the error is left set). */
static frost_model *quantized(const char *config, const float *x)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(arch, "test", &m) == FROST_OK);
    if (!m)
        return NULL;
    frost_model_init_weights(m, 7);
    random_bn(m);
    frost_qconfig *c = NULL;
    frost_status s = frost_qconfig_parse(config, "test", &c);
    if (s == FROST_OK)
        s = frost_model_quantize(m, c);
    frost_qconfig_free(c);
    if (s == FROST_OK)
        s = frost_model_set_batch(m, N);
    if (s == FROST_OK)
        s = frost_model_set_qmode(m, FROST_QMODE_CALIBRATE);
    if (s == FROST_OK)
        s = frost_model_forward(m, x, N, false);
    if (s == FROST_OK)
        s = frost_model_set_qmode(m, FROST_QMODE_FIXED);
    if (s != FROST_OK) {
        frost_model_free(m);
        return NULL;
    }
    return m;
}

static int node_named(const frost_int8_model *im, const char *name)
{
    for (int i = 0; i < im->n_nodes; i++)
        if (strcmp(im->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* The weights of node `name` are the codes -1/0/+1; returns how many are 0. */
static int64_t check_codes(const frost_int8_model *im, const char *name)
{
    int i = node_named(im, name);
    CHECK(i >= 0 && im->nodes[i].weight != NULL);
    if (i < 0 || !im->nodes[i].weight)
        return -1;
    const frost_int8_node *n = &im->nodes[i];
    int64_t count = (int64_t)n->c * (n->op == FROST_I8_CONV ? n->k * n->k : 1) *
                    (n->op == FROST_I8_CONV ? im->nodes[n->in[0]].c / n->groups
                                            : (int64_t)im->nodes[n->in[0]].h *
                                                  im->nodes[n->in[0]].w * im->nodes[n->in[0]].c);
    int64_t zeros = 0, bad = 0;
    for (int64_t k = 0; k < count; k++) {
        bad += n->weight[k] < -1 || n->weight[k] > 1;
        zeros += n->weight[k] == 0;
    }
    CHECK_EQ_INT((int)bad, 0);
    return zeros;
}

/* Layer by layer (int8_layers.h), each node fed the fake-quant model's own inputs: conv /
 * linear outputs within 1 LSB on at most 0.1% of the values (rare rounding ties), the input
 * quantization and tables exact, the float logits to float rounding. Returns the values off
 * by one. */
static int64_t compare_layers(frost_model *qm, frost_int8_model *im, const float *x)
{
    frost_test_layer_counts c = frost_test_compare_layers(qm, im, N, x);
    CHECK_EQ_INT(c.exact_differ, 0);
    CHECK_EQ_INT(c.beyond_1lsb, 0);
    CHECK_EQ_INT(c.logits_off, 0);
    CHECK(c.values > 0);
    CHECK(c.differ * 1000 <= c.values); /* ties are rare */
    return c.differ;
}

/* The whole model: int8 logits near the fake-quant logits, the same top-1 class nearly
 * always, and the same logits from the reference kernels and from a saved and loaded
 * file. */
static void check_end_to_end(frost_model *qm, frost_int8_model *im, const float *x)
{
    CHECK(frost_model_forward(qm, x, N, false) == FROST_OK);
    const float *want = frost_model_logits(qm);
    int agree = 0;
    char path[128];
    snprintf(path, sizeof path, "/tmp/frost_test_int8_lowbit_%ld.int8", (long)getpid());
    CHECK(frost_int8_save(im, path) == FROST_OK);
    frost_int8_model *back = NULL;
    CHECK(frost_int8_load(path, &back) == FROST_OK);
    unlink(path);
    for (int b = 0; b < N && back; b++) {
        float fast[5], ref[5], loaded[5];
        frost_int8_force_reference(im, 0);
        CHECK(frost_int8_run(im, x + b * PIX, PIX, fast) == FROST_OK);
        frost_int8_force_reference(im, 1);
        CHECK(frost_int8_run(im, x + b * PIX, PIX, ref) == FROST_OK);
        CHECK(frost_int8_run(back, x + b * PIX, PIX, loaded) == FROST_OK);
        int top_q = 0, top_f = 0;
        for (int c = 0; c < 5; c++) {
            CHECK_FLOAT_EQ(ref[c], fast[c]);
            CHECK_FLOAT_EQ(loaded[c], fast[c]);
            /* a 1-LSB tie upstream moves a logit by about one step of its input's scale */
            CHECK_NEAR(fast[c], want[b * 5 + c], 0.05, 0.02);
            top_q = fast[c] > fast[top_q] ? c : top_q;
            top_f = want[b * 5 + c] > want[b * 5 + top_f] ? c : top_f;
        }
        agree += top_q == top_f;
    }
    frost_int8_force_reference(im, 0);
    CHECK(agree >= N - 1);
    frost_int8_free(back);
}

/* Layer by layer on fixed and float requantization, fast and reference kernels (the
 * counts printed, compare_layers asserting its bounds), then end to end on the defaults. */
static void check_every_path(frost_model *qm, frost_int8_model *im, const float *x,
                             const char *what)
{
    for (int fp = 0; fp < 2; fp++) {
        CHECK(frost_int8_set_float_requant(im, fp) == FROST_OK);
        for (int ref = 0; ref < 2; ref++) {
            frost_int8_force_reference(im, ref);
            int64_t off = compare_layers(qm, im, x);
            printf("  %s: %lld values 1 LSB off (%s kernels, %s requant)\n", what, (long long)off,
                   ref ? "reference" : "fast", fp ? "float" : "fixed");
        }
    }
    frost_int8_force_reference(im, 0);
    CHECK(frost_int8_set_float_requant(im, 0) == FROST_OK);
    check_end_to_end(qm, im, x);
}

/* Model-wide `scheme`: c2, c3 and fc1 low-bit, c1 and fc2 affine. */
static void check_scheme(const char *scheme, bool ternary)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    char config[200];
    snprintf(config, sizeof config, "{\"weights\": {\"scheme\": \"%s\"}}", scheme);
    frost_model *qm = quantized(config, x);
    CHECK(qm != NULL);
    frost_int8_model *im = NULL;
    if (qm)
        CHECK(frost_int8_from_model(qm, &im) == FROST_OK);
    if (im) {
        int64_t zeros = check_codes(im, "b2") + check_codes(im, "b3") + check_codes(im, "fc1");
        CHECK(ternary ? zeros > 0 : zeros == 0);
        int c1 = node_named(im, "a1"); /* nodes are named after their output's layer */
        CHECK(c1 >= 0 && c1 < im->n_nodes);
        bool wide = false; /* the first layer kept 8-bit weights */
        for (int k = 0; c1 >= 0 && k < 8 * 9; k++)
            wide |= im->nodes[c1].weight[k] > 1 || im->nodes[c1].weight[k] < -1;
        CHECK(wide);
        check_every_path(qm, im, x, scheme);
    }
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

TEST(test_binary_weights_match_fake_quant) { check_scheme("binary", false); }
TEST(test_bwn_weights_match_fake_quant) { check_scheme("bwn", false); }
TEST(test_twn_weights_match_fake_quant) { check_scheme("twn", true); }

/* A hand-made case: the converted conv's integers are the codes, its weight scale the
 * BN-folded BWN alpha, and its int32 sum the direct integer reference. */
TEST(test_bwn_node_is_codes_times_folded_alpha)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    frost_model *qm = quantized("{\"layers\": {\"c2\": {\"weights\": {\"scheme\": \"bwn\"}}}}", x);
    frost_int8_model *im = NULL;
    CHECK(qm && frost_int8_from_model(qm, &im) == FROST_OK);
    int i = im ? node_named(im, "b2") : -1; /* c2 + b2 */
    CHECK(i >= 0);
    int layer = -1;
    for (int k = 0; qm && k < frost_model_qlayer_count(qm); k++)
        if (strcmp(frost_model_qlayer_name(qm, k), "c2") == 0)
            layer = k;
    frost_lowbit_layer l;
    CHECK(layer >= 0 && frost_model_qlayer_lowbit(qm, layer, &l) == FROST_OK);
    if (i >= 0 && layer >= 0) {
        const frost_int8_node *n = &im->nodes[i];
        CHECK_EQ_INT(l.cout, 12);
        for (int c = 0; c < l.cout; c++) {
            float alpha = l.pos_scale[c];
            CHECK_FLOAT_EQ(n->wscale[c], fabsf(alpha));
            for (int64_t k = 0; k < l.inner; k++)
                CHECK_EQ_INT(n->weight[c * l.inner + k],
                             alpha < 0 ? -l.codes[c * l.inner + k] : l.codes[c * l.inner + k]);
        }
        CHECK(l.pos_scale[3] < 0); /* gamma < 0 on channel 3: a flipped channel is tested */
        frost_lowbit_layer_free(&l);
    }
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

/* Binarized inputs on a depthwise conv (c3: sign, the reference loop) and on a linear layer
 * with ternary weights (fc1: xnor, the popcount linear kernel and XNOR's beta) match the
 * fake-quant model layer by layer and end to end, on both kernel settings and both requant
 * modes (the trained BNN / Bi-Real / XNOR models: tests/test_int8_binact.c). */
TEST(test_binarized_inputs_grouped_and_linear)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    frost_model *qm =
        quantized("{\"layers\": {\"c3\": {\"weights\": {\"scheme\": \"bwn\"}, \"activations\": "
                  "{\"scheme\": \"sign\"}}, \"fc1\": {\"weights\": {\"scheme\": \"twn\"}, "
                  "\"activations\": {\"scheme\": \"xnor\"}}}}",
                  x);
    frost_int8_model *im = NULL;
    CHECK(qm && frost_int8_from_model(qm, &im) == FROST_OK);
    int c3 = im ? node_named(im, "b3") : -1, fc1 = im ? node_named(im, "fc1") : -1;
    CHECK(c3 >= 0 && fc1 >= 0);
    if (c3 >= 0 && fc1 >= 0) {
        CHECK_EQ_INT(im->nodes[c3].ain, FROST_I8_AIN_SIGN);
        CHECK_EQ_INT(im->nodes[c3].groups, 12);
        CHECK_EQ_INT(im->nodes[fc1].ain, FROST_I8_AIN_XNOR);
        CHECK_EQ_INT(im->nodes[fc1].wbits, 2);
        check_every_path(qm, im, x, "binarized inputs");
    }
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

static void expect_refused(const char *config, const char *message)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    frost_model *qm = quantized(config, x);
    CHECK(qm != NULL);
    frost_int8_model *im = NULL;
    if (qm) {
        CHECK(frost_int8_from_model(qm, &im) == FROST_ERR_UNSUPPORTED);
        CHECK(im == NULL);
        if (!strstr(frost_last_error(), message)) {
            fprintf(stderr, "  error '%s' lacks '%s'\n", frost_last_error(), message);
            frost_test_failed_checks++;
        }
    }
    frost_model_free(qm);
    free(x);
}

/* What the engine cannot run exactly is refused, never converted as affine int8. */
TEST(test_unsupported_schemes_are_refused)
{
    /* a binarized input runs with binary / ternary weights only (tests/test_int8_binact.c) */
    expect_refused("{\"layers\": {\"c3\": {\"activations\": {\"scheme\": \"sign\"}}}}",
                   "'c3' binarizes its input (sign activations) with affine weights");
    expect_refused("{\"layers\": {\"c3\": {\"activations\": {\"scheme\": \"xnor\"}}}}",
                   "'c3' binarizes its input (xnor activations)");
    expect_refused("{\"layers\": {\"c2\": {\"weights\": {\"scheme\": \"binary_stochastic\"}}}}",
                   "'c2' uses binary_stochastic weights");
}

/* ---- TTQ: a +1 and a -1 code of different magnitudes ---- */

static int param_named(const frost_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return i;
    return -1;
}

/* The test model with TTQ weights on c2 whose scales are Wp = 0.05, Wn = 0.0371 (ratio
 * 0.742; the closest fraction with a denominator up to 127 is 23/31 = 0.741935, where
 * 94/127 would be off by 0.0018), or model-wide TTQ (fc1 and c3 too). */
static frost_model *ttq_model(const float *x, bool model_wide)
{
    frost_model *qm =
        quantized(model_wide ? "{\"weights\": {\"scheme\": \"ttq\"}}"
                             : "{\"layers\": {\"c2\": {\"weights\": {\"scheme\": \"ttq\"}}}}",
                  x);
    int si = qm ? param_named(qm, "c2.ttq") : -1;
    CHECK(si >= 0);
    if (si < 0) {
        frost_model_free(qm);
        return NULL;
    }
    qm->params[si].data[0] = 0.05f;
    qm->params[si].data[1] = 0.0371f;
    return qm;
}

/* The converted c2 + b2: weight scale max(|pos|, |neg|) / 31, levels {31, -23} (a negative
 * gamma: {-31, 23}), every weight its code's level, level * scale exact for Wp and within
 * 6.5e-5 max(|pos|, |neg|) for Wn. */
TEST(test_ttq_node_is_codes_times_two_levels)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    frost_model *qm = ttq_model(x, false);
    frost_int8_model *im = NULL;
    CHECK(qm && frost_int8_from_model(qm, &im) == FROST_OK);
    int i = im ? node_named(im, "b2") : -1;
    int layer = -1;
    for (int k = 0; qm && k < frost_model_qlayer_count(qm); k++)
        if (strcmp(frost_model_qlayer_name(qm, k), "c2") == 0)
            layer = k;
    frost_lowbit_layer l;
    CHECK(i >= 0 && layer >= 0 && frost_model_qlayer_lowbit(qm, layer, &l) == FROST_OK);
    if (i >= 0 && layer >= 0) {
        const frost_int8_node *n = &im->nodes[i];
        CHECK(n->wlevels != NULL && n->wbits == 2);
        double worst = 0.0; /* the largest level error, relative to the larger magnitude */
        for (int c = 0; n->wlevels && c < l.cout; c++) {
            float pos = l.pos_scale[c], neg = l.neg_scale[c];
            float top = fmaxf(fabsf(pos), fabsf(neg));
            CHECK_FLOAT_EQ(n->wscale[c], top / 31.0f);
            int flip = pos < 0 ? -1 : 1; /* channel 3's gamma is negative */
            CHECK_EQ_INT(n->wlevels[2 * c], 31 * flip);
            CHECK_EQ_INT(n->wlevels[2 * c + 1], -23 * flip);
            double ep = fabs(n->wlevels[2 * c] * (double)n->wscale[c] - pos);
            double en = fabs(n->wlevels[2 * c + 1] * (double)n->wscale[c] + neg);
            CHECK(ep <= 1e-6 * top); /* the larger magnitude is exact */
            CHECK(en <= 7e-5 * top); /* the smaller one: 23/31 for 0.742 */
            worst = fmax(worst, en / top);
            for (int64_t k = 0; k < l.inner; k++) {
                int8_t code = l.codes[c * l.inner + k];
                CHECK_EQ_INT(n->weight[c * l.inner + k], code > 0   ? n->wlevels[2 * c]
                                                         : code < 0 ? n->wlevels[2 * c + 1]
                                                                    : 0);
            }
        }
        CHECK(l.pos_scale[3] < 0);
        CHECK_NEAR(worst, 6.45e-5, 2e-6, 0); /* |23/31 - 0.742| */
        frost_lowbit_layer_free(&l);
    }
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

/* Model-wide TTQ on the random test model: the int8 logits follow the fake-quant model
 * (saved and loaded too) within the levels' rounding. */
TEST(test_ttq_weights_match_fake_quant)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    frost_model *qm = ttq_model(x, true);
    frost_int8_model *im = NULL;
    CHECK(qm && frost_int8_from_model(qm, &im) == FROST_OK);
    if (im) {
        check_end_to_end(qm, im, x);
        /* the C export unpacks -1/0/+1 codes only: TTQ's levels are refused, not dropped */
        CHECK_EQ_INT(frost_int8_export_c(im, "/tmp", "ttq", NULL), FROST_ERR_UNSUPPORTED);
        CHECK(strstr(frost_last_error(), "TTQ") != NULL);
    }
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

/* Fashion-MNIST, 1000 test images, normalized as in training. */
static float *fashion_test_images(frost_dataset *test)
{
    frost_dataset full;
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, false, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, 1000, test), FROST_OK);
    frost_dataset_free(&full);
    float *x = malloc(sizeof(float) * 1000 * 784);
    for (int i = 0; i < 1000 * 784; i++)
        x[i] = ((float)test->images[i] / 255.0f - 0.2860f) / 0.3530f;
    return x;
}

/* A small conv net trained for three epochs (Adam) on 6000 Fashion-MNIST images, then TTQ on
 * c2, c3 (c1 and fc stay 8-bit affine) for one more with the recipe of bench/lowbit (SGD,
 * momentum 0.9, lr 0.01), converted: on 1000 test images the int8 model picks the
 * fake-quant model's class for at least 99.5% of them, its accuracy is within 0.5 points,
 * and its logits are within 0.1 (mean 0.01) of the fake-quant ones: the tolerance
 * docs/int8.md states (the levels' rounding moves every sum a little). */
TEST(test_ttq_trained_on_fashion_mnist_converts)
{
    frost_set_threads(1);
    frost_dataset full, train, test;
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, true, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, 6000, &train), FROST_OK);
    frost_dataset_free(&full);
    float *x = fashion_test_images(&test);
    frost_model *m = frost_g_new("ttqnet", 28, 28, 1);
    int a = frost_g_conv_bn_act(m, "c1", 0, 8, 3, 2, 1, FROST_ACT_RELU);
    int b = frost_g_conv_bn_act(m, "c2", a, 16, 3, 2, 1, FROST_ACT_RELU);
    int d = frost_g_conv_bn_act(m, "c3", b, 16, 3, 1, 1, FROST_ACT_RELU);
    frost_g_linear(m, "fc", frost_g_gap(m, "gap", d), 10, true);
    frost_g_finish(m, 10);
    frost_model_init_weights(m, 1);
    frost_train_config tc = frost_train_defaults();
    tc.epochs = 3;
    tc.batch = 64;
    tc.quiet = true;
    tc.optim = frost_optimizer_defaults(FROST_OPT_ADAM);
    tc.sched.base_lr = 0.01f;
    tc.sched.warmup_epochs = 0.0f;
    frost_train_result r;
    CHECK(frost_train(m, &train, NULL, NULL, &tc, NULL, NULL, &r) == FROST_OK);
    frost_qconfig *c = NULL;
    CHECK(frost_qconfig_parse("{\"weights\": {\"scheme\": \"ttq\"}}", "test", &c) == FROST_OK);
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    tc.optim = frost_optimizer_defaults(FROST_OPT_SGD); /* momentum 0.9 (Nesterov) */
    tc.epochs = 1;
    CHECK(frost_train(m, &train, NULL, NULL, &tc, NULL, NULL, &r) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(m, &im) == FROST_OK);
    int unequal = 0; /* trained Wp != Wn: two different levels */
    for (int i = 0; im && i < im->n_nodes; i++)
        for (int k = 0; im->nodes[i].wlevels && k < 2 * im->nodes[i].c; k++)
            unequal += abs(im->nodes[i].wlevels[k]) != abs(im->nodes[i].wlevels[k ^ 1]);
    CHECK(unequal > 0);
    CHECK(frost_model_set_batch(m, 100) == FROST_OK);
    int agree = 0, right_q = 0, right_f = 0;
    double worst = 0.0, sum = 0.0;
    for (int k = 0; im && k < 1000; k += 100) {
        CHECK(frost_model_forward(m, x + k * 784, 100, false) == FROST_OK);
        const float *want = frost_model_logits(m);
        for (int j = 0; j < 100; j++) {
            float got[10];
            CHECK(frost_int8_run(im, x + (k + j) * 784, 784, got) == FROST_OK);
            int top_q = 0, top_f = 0;
            for (int cl = 0; cl < 10; cl++) {
                double e = fabs((double)got[cl] - want[j * 10 + cl]);
                worst = fmax(worst, e);
                sum += e;
                top_q = got[cl] > got[top_q] ? cl : top_q;
                top_f = want[j * 10 + cl] > want[j * 10 + top_f] ? cl : top_f;
            }
            agree += top_q == top_f;
            right_q += top_q == test.labels[k + j];
            right_f += top_f == test.labels[k + j];
        }
    }
    fprintf(stderr,
            "  TTQ on Fashion-MNIST: fake-quant %.1f%%, int8 %.1f%%, top-1 agreement %d/1000, "
            "logits off by %.4f at most, %.4f on average\n",
            right_f / 10.0, right_q / 10.0, agree, worst, sum / 10000.0);
    CHECK(right_f > 500); /* it trained (chance is 10%) */
    CHECK(agree >= 995);
    CHECK(abs(right_q - right_f) <= 5);
    CHECK(worst <= 0.1);
    CHECK(sum / 10000.0 <= 0.01);
    frost_int8_free(im);
    frost_qconfig_free(c);
    frost_model_free(m);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
    free(x);
}

/* ---- files: packed weights ---- */

/* The data bytes of tensor `name` in a safetensors file image. */
static char *tensor_data(char *b, const char *name, size_t *len)
{
    uint64_t header;
    memcpy(&header, b, 8);
    char key[80];
    snprintf(key, sizeof key, "\"%s\"", name);
    const char *t = strstr(b + 8, key);
    const char *o = t ? strstr(t, "\"data_offsets\":[") : NULL;
    long long start = 0, end = 0;
    CHECK(o && sscanf(o, "\"data_offsets\":[%lld,%lld]", &start, &end) == 2);
    *len = (size_t)(end - start);
    return b + 8 + header + start;
}

/* The test model under model-wide weight `scheme`, converted (*im) and saved at path; its
 * bytes (NULL when a step failed). The caller frees *qm, *im and the bytes. */
static char *saved_file(const char *scheme, const char *path, const float *x, frost_model **qm,
                        frost_int8_model **im, size_t *n)
{
    char config[200];
    snprintf(config, sizeof config, "{\"weights\": {\"scheme\": \"%s\"}}", scheme);
    *qm = quantized(config, x);
    *im = NULL;
    *n = 0;
    CHECK(*qm && frost_int8_from_model(*qm, im) == FROST_OK);
    CHECK(*im && frost_int8_save(*im, path) == FROST_OK);
    char *b = *im ? frost_test_read_all(path, n) : NULL;
    CHECK(b && *n > 8);
    return b;
}

/* A saved file of the test model under a model-wide weight scheme, and a path beside it
 * for the edited copies. */
typedef struct {
    float *x;
    frost_model *qm;
    frost_int8_model *im;
    char *bytes; /* the file's (NULL when a step failed) */
    size_t n;
    char path[128], bad[140];
} packed_file;

static char *open_packed_file(packed_file *pf, const char *scheme)
{
    pf->x = malloc(sizeof(float) * N * PIX);
    random_images(pf->x);
    snprintf(pf->path, sizeof pf->path, "/tmp/frost_test_int8_lowbit_%s_%ld.int8", scheme,
             (long)getpid());
    snprintf(pf->bad, sizeof pf->bad, "%s.bad", pf->path);
    pf->bytes = saved_file(scheme, pf->path, pf->x, &pf->qm, &pf->im, &pf->n);
    return pf->bytes;
}

static void close_packed_file(packed_file *pf)
{
    unlink(pf->bad);
    unlink(pf->path);
    free(pf->bytes);
    frost_int8_free(pf->im);
    frost_model_free(pf->qm);
    free(pf->x);
}

/* Loads the saved model at `path` (file bytes b[n]): it gives im's outputs on the N test
 * images, and saving it again writes the same bytes. The loaded model (NULL on failure). */
static frost_int8_model *reload_same(frost_int8_model *im, const char *path, const char *b,
                                     size_t n, const float *x)
{
    frost_int8_model *back = NULL;
    CHECK(frost_int8_load(path, &back) == FROST_OK);
    for (int k = 0; back && k < N; k++) {
        float got[5], want[5];
        CHECK(frost_int8_run(im, x + k * PIX, PIX, want) == FROST_OK);
        CHECK(frost_int8_run(back, x + k * PIX, PIX, got) == FROST_OK);
        CHECK(memcmp(got, want, sizeof got) == 0);
    }
    char path2[160];
    snprintf(path2, sizeof path2, "%s.2", path);
    CHECK(back && frost_int8_save(back, path2) == FROST_OK);
    size_t n2 = 0;
    char *b2 = frost_test_read_all(path2, &n2);
    CHECK(b2 && n2 == n && memcmp(b, b2, n) == 0);
    free(b2);
    unlink(path2);
    return back;
}

/* A ternary model in a file: version 2, packed 2-bit weights (what frost info counts), the
 * same outputs after loading, the same bytes when saved again. */
TEST(test_packed_file_round_trip)
{
    packed_file pf;
    char *b = open_packed_file(&pf, "twn");
    const float *x = pf.x;
    frost_int8_model *im = pf.im, *back = NULL;
    const char *path = pf.path;
    size_t n = pf.n;
    if (!b) {
        close_packed_file(&pf);
        return;
    }
    /* the graph JSON sits as a string in the header: its quotes escaped */
    CHECK(strstr(b + 8, "\\\"version\\\":2") && strstr(b + 8, "\\\"wbits\\\":2"));
    size_t len = 0;
    tensor_data(b, "b2.weight", &len);
    CHECK_EQ_INT((int)len, 12 * 18); /* 72 ternary weights per channel: 18 bytes */
    CHECK(strstr(b + 8, "\"b2.weight\":{\"dtype\":\"U8\",\"shape\":[12,18]") != NULL);
    tensor_data(b, "fc1.weight", &len);
    CHECK_EQ_INT((int)len, 16 * 147); /* 588 weights: 147 bytes */
    tensor_data(b, "a1.weight", &len);
    CHECK_EQ_INT((int)len, 8 * 9); /* the affine first layer: int8 */
    /* packed bytes are what frost info counts: b2 = 216 weight bytes + 12 x (bias, M, e) */
    char *text = frost_int8_memory_text(im);
    CHECK(text && strstr(text, "\nb2 "));
    const char *row = text ? strstr(text, "\nb2 ") : NULL;
    CHECK(row && strstr(row, " 360 ") && strstr(row, " 360 ") < strchr(row + 1, '\n'));
    free(text);
    back = reload_same(im, path, b, n, x);
    for (int i = 0; back && i < im->n_nodes; i++)
        CHECK_EQ_INT(back->nodes[i].wbits, im->nodes[i].wbits);
    /* (the C export keeps the weights packed: tests/test_int8_codegen.c) */
    frost_int8_free(back);
    close_packed_file(&pf);
}

/* Loading `path` fails with a format error naming the file and saying `message`. */
static void expect_refused_file(const char *path, const char *message)
{
    frost_int8_model *m = NULL;
    CHECK_EQ_INT(frost_int8_load(path, &m), FROST_ERR_FORMAT);
    CHECK(m == NULL);
    frost_int8_free(m);
    if (!strstr(frost_last_error(), message) || !strstr(frost_last_error(), path)) {
        fprintf(stderr, "  error '%s' lacks '%s'\n", frost_last_error(), message);
        frost_test_failed_checks++;
    }
}

/* Writes `b` with the first `from` (in the header) replaced by `to` of the same length,
 * and expects the load to fail with `message`. */
static void expect_corrupt(const char *path, const char *b, size_t n, const char *from,
                           const char *to, const char *message)
{
    char *c = malloc(n + 1);
    memcpy(c, b, n + 1);
    char *at = strstr(c + 8, from);
    CHECK(at != NULL && strlen(from) == strlen(to));
    if (at)
        memcpy(at, to, strlen(to));
    frost_test_drop_content_hash(c, n);
    frost_test_write_all(path, c, n);
    expect_refused_file(path, message);
    free(c);
}

/* Writes `b` with byte `at` of tensor `name`'s data or'ed with `bits` (0: set to 0xAA), and
 * expects the load to fail with `message`. */
static void expect_bad_bits(const char *path, const char *b, size_t n, const char *name, int at,
                            int bits, const char *message)
{
    char *c = malloc(n + 1);
    memcpy(c, b, n + 1);
    size_t len = 0;
    char *w = tensor_data(c, name, &len);
    CHECK(at >= 0 && (size_t)at < len);
    if ((size_t)at < len)
        w[at] = (char)(bits ? w[at] | bits : 0xAA);
    frost_test_drop_content_hash(c, n);
    frost_test_write_all(path, c, n);
    expect_refused_file(path, message);
    free(c);
}

/* The .int8 file `from` rewritten to `to` with a changed graph: node `node`'s field `key`
 * set to the JSON `value`, or (value NULL) the tensor `key` left out. */
static void rewrite_graph(const char *from, const char *to, const char *node, const char *key,
                          const char *value)
{
    frost_st_file *f = NULL;
    CHECK(frost_st_read(from, &f) == FROST_OK);
    cJSON *root = f ? cJSON_Parse(frost_st_meta_get(f, "frost.int8")) : NULL;
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    cJSON *nd;
    int found = 0;
    cJSON_ArrayForEach(nd, nodes)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(nd, "name");
        if (value && cJSON_IsString(name) && strcmp(name->valuestring, node) == 0) {
            cJSON_DeleteItemFromObjectCaseSensitive(nd, key);
            found += cJSON_AddItemToObject(nd, key, cJSON_Parse(value));
        }
    }
    CHECK(!value || found == 1);
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;
    int count = f ? frost_st_count(f) : 0, k = 0;
    frost_st_tensor *t = calloc((size_t)count + 1, sizeof *t);
    for (int i = 0; i < count; i++)
        if (value || strcmp(frost_st_get(f, i)->name, key) != 0)
            t[k++] = *frost_st_get(f, i);
    CHECK(value || k == count - 1);
    frost_st_meta meta = {"frost.int8", json};
    CHECK(json && frost_st_write(to, t, k, &meta, 1) == FROST_OK);
    free(t);
    cJSON_free(json);
    cJSON_Delete(root);
    frost_st_close(f);
}

/* Ternary (2-bit) files edited or truncated: every case refused with its own message. */
TEST(test_packed_ternary_files_refused)
{
    packed_file pf;
    char *b = open_packed_file(&pf, "twn");
    size_t n = pf.n;
    const char *path = pf.path, *bad = pf.bad;
    const frost_int8_model *im = pf.im;
    if (b) {
        /* the graph: wbits outside 1..2, the other width, a version-1 file */
        const char *wbits_range =
            "field \"wbits\" of node b2 is missing or not an integer in [1, 2]";
        expect_corrupt(bad, b, n, "wbits\\\":2", "wbits\\\":3", wbits_range);
        expect_corrupt(bad, b, n, "wbits\\\":2", "wbits\\\":8", wbits_range);
        expect_corrupt(bad, b, n, "wbits\\\":2", "wbits\\\":0", wbits_range);
        expect_corrupt(bad, b, n, "wbits\\\":2", "wbits\\\":1",
                       "tensor b2.weight has the wrong dtype or shape (expected [12, 9])");
        expect_corrupt(bad, b, n, "version\\\":2", "version\\\":1",
                       "\"wbits\" (packed weights) needs format version 2 in node b2");
        expect_corrupt(bad, b, n, "version\\\":2", "version\\\":9",
                       "int8 format version 9; this frost reads versions 1 to 3");
        /* the packed tensor: another shape of the same size, another dtype, a wrong size */
        const char *packed = "\"b2.weight\":{\"dtype\":\"U8\",\"shape\":[12,18]";
        const char *shape_msg = "tensor b2.weight has the wrong dtype or shape (expected [12, 18])";
        expect_corrupt(bad, b, n, packed, "\"b2.weight\":{\"dtype\":\"U8\",\"shape\":[18,12]",
                       shape_msg);
        expect_corrupt(bad, b, n, packed, "\"b2.weight\":{\"dtype\":\"I8\",\"shape\":[12,18]",
                       shape_msg);
        expect_corrupt(bad, b, n, packed, "\"b2.weight\":{\"dtype\":\"U8\",\"shape\":[12,17]",
                       "tensor 'b2.weight': shape and dtype need 204 bytes");
        /* graph edits that change its length */
        rewrite_graph(path, bad, im->nodes[0].name, "wbits", "2");
        char msg[200];
        snprintf(msg, sizeof msg, "\"wbits\" on a node without weights in node %s",
                 im->nodes[0].name);
        expect_refused_file(bad, msg);
        rewrite_graph(path, bad, "b2", "wbits", "\"2\"");
        expect_refused_file(bad, wbits_range);
        rewrite_graph(path, bad, NULL, "b2.weight", NULL);
        expect_refused_file(bad, "tensor b2.weight is missing");
        /* the codes: 2 (binary 10) is no ternary weight; bits past a row's last weight are 0
         * (the depthwise b3: 9 weights, 3 bytes a row) */
        expect_bad_bits(bad, b, n, "b2.weight", 5, 0,
                        "invalid packed weights in node b2: the 2-bit code 2 (no ternary "
                        "weight) at output channel 0, weight 20");
        expect_bad_bits(bad, b, n, "b3.weight", 3 * 3 + 2, 0x40,
                        "invalid packed weights in node b3: non-zero padding bits at output "
                        "channel 3, weight 9");
        /* truncated: in the length field, the header, the packed weights, the last byte */
        uint64_t header;
        memcpy(&header, b, 8);
        size_t len = 0;
        size_t packed_at = (size_t)(tensor_data(b, "b2.weight", &len) - b);
        size_t cuts[] = {0, 5, 8, 8 + header / 2, 8 + header - 1, 8 + header, packed_at + 7, n - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            frost_test_write_all(bad, b, cuts[i]);
            expect_refused_file(bad, frost_test_st_truncation_message(b, cuts[i]));
        }
    }
    close_packed_file(&pf);
}

/* Binary (1-bit) files: a set padding bit, and the packed rows read as 2-bit. */
TEST(test_packed_binary_files_refused)
{
    packed_file pf;
    char *b = open_packed_file(&pf, "binary");
    size_t n = pf.n;
    const char *path = pf.path, *bad = pf.bad;
    if (b) {
        CHECK(strstr(b + 8, "\"b3.weight\":{\"dtype\":\"U8\",\"shape\":[12,2]") != NULL);
        frost_int8_model *back = NULL;
        CHECK(frost_int8_load(path, &back) == FROST_OK); /* the file itself is good */
        frost_int8_free(back);
        /* b3: 9 weights a row, 2 bytes, the last 7 bits padding */
        expect_bad_bits(bad, b, n, "b3.weight", 5 * 2 + 1, 0x80,
                        "invalid packed weights in node b3: non-zero padding bits at output "
                        "channel 5, weight 9");
        expect_corrupt(bad, b, n, "wbits\\\":1", "wbits\\\":2",
                       "tensor b2.weight has the wrong dtype or shape (expected [12, 18])");
    }
    close_packed_file(&pf);
}

/* A TTQ model in a file: version 3, the codes packed as for TWN plus a ".levels" I8 [cout, 2]
 * tensor; the same outputs after loading, the same bytes written again; edited files
 * refused with a message naming what is wrong. */
TEST(test_ttq_file_round_trip_and_corrupt_files)
{
    float *x = malloc(sizeof(float) * N * PIX);
    random_images(x);
    frost_model *qm = ttq_model(x, false);
    frost_int8_model *im = NULL, *back = NULL;
    CHECK(qm && frost_int8_from_model(qm, &im) == FROST_OK);
    char path[128];
    snprintf(path, sizeof path, "/tmp/frost_test_int8_ttq_%ld.int8", (long)getpid());
    CHECK(im && frost_int8_save(im, path) == FROST_OK);
    size_t n = 0, len = 0;
    char *b = frost_test_read_all(path, &n);
    CHECK(b && n > 8);
    if (!im || !b) {
        free(b);
        free(x);
        frost_int8_free(im);
        frost_model_free(qm);
        return;
    }
    CHECK(strstr(b + 8, "\\\"version\\\":3") &&
          strstr(b + 8, "\\\"wbits\\\":2,\\\"levels\\\":true"));
    CHECK(strstr(b + 8, "\"b2.levels\":{\"dtype\":\"I8\",\"shape\":[12,2]") != NULL);
    int8_t *lv = (int8_t *)tensor_data(b, "b2.levels", &len);
    CHECK_EQ_INT((int)len, 24);
    CHECK_EQ_INT(lv[0], 31);
    CHECK_EQ_INT(lv[1], -23);
    CHECK_EQ_INT(lv[6], -31); /* channel 3: negative gamma */
    CHECK_EQ_INT(lv[7], 23);
    tensor_data(b, "b2.weight", &len);
    CHECK_EQ_INT((int)len, 12 * 18); /* the codes, packed as TWN's */
    back = reload_same(im, path, b, n, x);
    int bi = back ? node_named(back, "b2") : -1;
    CHECK(bi >= 0 && back->nodes[bi].wlevels != NULL);
    for (int i = 0; bi >= 0 && i < 12 * 72; i++)
        CHECK_EQ_INT(back->nodes[bi].weight[i], im->nodes[bi].weight[i]);
    frost_int8_free(back);

    expect_corrupt(path, b, n, "version\\\":3", "version\\\":2", "needs format version 3");
    expect_corrupt(path, b, n, "levels\\\":true", "levels\\\":   1", "must be true");
    expect_corrupt(path, b, n, "\\\"wbits\\\":2", "\\\"wbitz\\\":2", "without packed weights");
    expect_corrupt(path, b, n, "\"b2.levels\"", "\"b2.levelz\"", "tensor b2.levels is missing");
    expect_corrupt(path, b, n, "\\\"levels\\\"", "\\\"levelz\\\"", "\".levels\" tensor without");
    char *c = malloc(n + 1);
    memcpy(c, b, n + 1);
    lv = (int8_t *)tensor_data(c, "b2.levels", &len);
    lv[3] = -128;
    frost_test_drop_content_hash(c, n);
    frost_test_write_all(path, c, n);
    CHECK(frost_int8_load(path, &back) == FROST_ERR_FORMAT && back == NULL);
    CHECK(strstr(frost_last_error(), "weight level -128") != NULL);
    free(c);
    unlink(path);
    free(b);
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

/* Levels: each code of a row becomes that row's level (+1 -> [0], -1 -> [1], 0 -> 0), after
 * a pack / unpack round trip of the codes. */
TEST(test_pack_unpack_levels)
{
    int8_t codes[2 * 6] = {1, -1, 0, 1, 0, -1, -1, -1, 1, 0, 0, 1}, w[12];
    uint8_t p[2 * 2];
    frost_int8_pack_weights(codes, 2, 6, 2, p);
    CHECK(frost_int8_unpack_weights(p, 2, 6, 2, w, NULL) && memcmp(w, codes, sizeof w) == 0);
    const int8_t levels[4] = {127, -94, -127, 94};
    frost_int8_apply_levels(w, 2, 6, levels);
    const int8_t want[12] = {127, -94, 0, 127, 0, -94, 94, 94, -127, 0, 0, -127};
    CHECK(memcmp(w, want, sizeof w) == 0);
}

/* Packing and unpacking: every code, rows with and without padding. */
TEST(test_pack_unpack_codes)
{
    int8_t w[3 * 13], back[3 * 13];
    for (int i = 0; i < 3 * 13; i++)
        w[i] = (int8_t)(i % 3 - 1);
    CHECK_EQ_INT(frost_int8_lowbit_wbits(w, 39), 2);
    uint8_t p[3 * 4];
    frost_int8_pack_weights(w, 3, 13, 2, p);
    CHECK_EQ_INT(p[0], 0x3 | (0 << 2) | (1 << 4) | (0x3 << 6)); /* -1, 0, +1, -1 */
    CHECK_EQ_INT(p[3], 0x3);                                    /* w[12] = -1, then padding */
    CHECK(frost_int8_unpack_weights(p, 3, 13, 2, back, NULL) && memcmp(w, back, sizeof w) == 0);
    for (int i = 0; i < 39; i++)
        w[i] = (int8_t)(i % 4 == 1 ? -1 : 1);
    CHECK_EQ_INT(frost_int8_lowbit_wbits(w, 39), 1);
    frost_int8_pack_weights(w, 3, 13, 1, p);
    CHECK_EQ_INT(p[0], 0xdd); /* bits 1 and 5 clear */
    CHECK_EQ_INT(p[1], 0x1d); /* weights 8..12: +1 -1 +1 +1 +1 */
    CHECK(frost_int8_unpack_weights(p, 3, 13, 1, back, NULL) && memcmp(w, back, sizeof w) == 0);
    p[1] |= 0x20; /* padding */
    frost_int8_unpack_error e = {0};
    CHECK(!frost_int8_unpack_weights(p, 3, 13, 1, back, &e));
    CHECK(e.problem && strstr(e.problem, "padding") && e.row == 0 && e.index == 13);
    p[1] &= (uint8_t)~0x20;
    p[2 * 2 + 1] |= 0x80; /* row 2: its last byte holds weights 8..12 in bits 0..4 */
    CHECK(!frost_int8_unpack_weights(p, 3, 13, 1, back, &e));
    CHECK_EQ_INT(e.row, 2);
    w[0] = 2;
    CHECK_EQ_INT(frost_int8_lowbit_wbits(w, 39), 8);
}

FROST_TEST_MAIN(RUN(test_binary_weights_match_fake_quant), RUN(test_bwn_weights_match_fake_quant),
                RUN(test_twn_weights_match_fake_quant),
                RUN(test_ttq_node_is_codes_times_two_levels),
                RUN(test_ttq_weights_match_fake_quant),
                RUN(test_ttq_trained_on_fashion_mnist_converts),
                RUN(test_bwn_node_is_codes_times_folded_alpha),
                RUN(test_binarized_inputs_grouped_and_linear),
                RUN(test_unsupported_schemes_are_refused), RUN(test_packed_file_round_trip),
                RUN(test_packed_ternary_files_refused), RUN(test_packed_binary_files_refused),
                RUN(test_ttq_file_round_trip_and_corrupt_files), RUN(test_pack_unpack_codes),
                RUN(test_pack_unpack_levels))
