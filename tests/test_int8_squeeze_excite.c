/*
 * A tiny network with a squeeze-excite block (conv -> gap -> 1x1 conv -> relu -> 1x1 conv
 * -> sigmoid -> mul with the trunk) and SiLU, end to end: it trains in float (the loss goes
 * down), trains on with QAT (the sigmoid's fake-quant keeps the fixed range [0, 1]),
 * converts to int8 and the int8 engine agrees with the fake-quant model on the predictions
 * and, within a few quantization steps, on the logits. PTQ with every observer leaves the
 * gate's range at [0, 1] too.
 */
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "models/graph.h"

enum { H = 12, W = 12, C = 2, CLASSES = 3, BATCH = 32, TEST_N = 96 };

static const char *se_arch =
    "{\"name\":\"se_tiny\",\"input\":{\"h\":12,\"w\":12,\"c\":2},\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"se.squeeze\",\"op\":\"gap\"},"
    "{\"name\":\"se.reduce\",\"op\":\"conv\",\"out\":4,\"k\":1,\"bias\":true},"
    "{\"name\":\"se.relu\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"se.expand\",\"op\":\"conv\",\"out\":8,\"k\":1,\"bias\":true},"
    "{\"name\":\"se.gate\",\"op\":\"act\",\"fn\":\"sigmoid\"},"
    "{\"name\":\"se.scale\",\"op\":\"mul\",\"in\":[\"a1\",\"se.gate\"]},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":12,\"k\":3,\"stride\":2},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"gap\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

/* Class 0: a bright top half in channel 0; 1: a bright bottom half in channel 0; 2: a
 * bright channel 1. Plus noise. */
static void make_batch(uint64_t seed, int n, float *x, uint8_t *y)
{
    frost_rng r;
    frost_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)(frost_rng_uniform(&r) * CLASSES) % CLASSES;
        y[i] = (uint8_t)k;
        for (int p = 0; p < H * W; p++)
            for (int c = 0; c < C; c++) {
                bool top = p < H * W / 2;
                bool on =
                    (k == 0 && c == 0 && top) || (k == 1 && c == 0 && !top) || (k == 2 && c == 1);
                x[((size_t)i * H * W + p) * C + c] =
                    (on ? 0.8f : 0.0f) + 0.6f * (frost_rng_uniform(&r) - 0.5f);
            }
    }
}

/* One SGD step on a fresh batch; the batch's mean loss. */
static float train_step(frost_model *m, frost_optimizer *o, uint64_t seed, float lr)
{
    float x[BATCH * H * W * C], dl[BATCH * CLASSES];
    uint8_t y[BATCH];
    make_batch(seed, BATCH, x, y);
    frost_model_zero_grad(m);
    CHECK(frost_model_forward(m, x, BATCH, true) == FROST_OK);
    float loss = frost_softmax_xent(BATCH, CLASSES, frost_model_logits(m), y, 0.0f, dl, NULL);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    CHECK(frost_optimizer_step(o, lr) == FROST_OK);
    return loss;
}

/* The mean loss of `steps` steps. */
static float train(frost_model *m, int steps, uint64_t seed0, float lr)
{
    frost_optimizer_config oc = frost_optimizer_defaults(FROST_OPT_SGD);
    frost_optimizer *o = NULL;
    CHECK(frost_optimizer_create(&oc, m, &o) == FROST_OK);
    double sum = 0.0;
    for (int s = 0; o && s < steps; s++)
        sum += train_step(m, o, seed0 + (uint64_t)s, lr);
    frost_optimizer_free(o);
    return (float)(sum / steps);
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return best;
}

TEST(squeeze_excite_trains_quantizes_and_converts)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(se_arch, "se_tiny.json", &m) == FROST_OK);
    if (!m)
        return;
    frost_model_init_weights(m, 1);
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);

    /* float training: the first steps' loss against the last steps' */
    float first = train(m, 5, 1000, 0.05f);
    train(m, 60, 2000, 0.05f);
    float last = train(m, 5, 3000, 0.05f);
    printf("  float loss %.3f -> %.3f\n", (double)first, (double)last);
    CHECK(first > 0.9f);        /* near ln 3 at the start */
    CHECK(last < 0.5f * first); /* and it learned */

    /* QAT: fake-quant everywhere, a few more steps; the gate's range is [0, 1] */
    frost_qconfig *qc = NULL;
    CHECK(frost_qconfig_default(&qc) == FROST_OK);
    CHECK(frost_model_quantize(m, qc) == FROST_OK);
    frost_qconfig_free(qc);
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_QAT) == FROST_OK);
    float qat = train(m, 20, 4000, 0.01f);
    printf("  QAT loss %.3f\n", (double)qat);
    CHECK(qat < 0.5f * first);
    int gate_fq = frost_g_find(m, "se.gate") + 1;
    CHECK_EQ_INT(m->nodes[gate_fq].op, FROST_OP_FAKEQUANT);
    const float *range = m->buffers[m->nodes[gate_fq].q.range].data;
    CHECK_FLOAT_EQ(range[0], 0.0f);
    CHECK_FLOAT_EQ(range[1], 1.0f);
    CHECK(range[2] >= 20.0f); /* every QAT step set it */

    /* int8: the gate's table and the per-channel product */
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(m, &im) == FROST_OK);
    if (!im) {
        frost_model_free(m);
        return;
    }
    int gate = -1, mul = -1;
    for (int i = 0; i < im->n_nodes; i++) {
        if (strcmp(im->nodes[i].name, "se.gate") == 0)
            gate = i;
        if (strcmp(im->nodes[i].name, "se.scale") == 0)
            mul = i;
    }
    CHECK(gate >= 0 && im->nodes[gate].op == FROST_I8_LUT);
    CHECK(mul >= 0 && im->nodes[mul].op == FROST_I8_MUL);
    if (gate >= 0) { /* uint8 [0, 1]: scale 1/255, zero point 0 */
        CHECK_NEAR(im->nodes[gate].scale, 1.0 / 255.0, 0, 1e-6);
        CHECK_EQ_INT(im->nodes[gate].zp, 0);
    }

    /* the int8 engine against the fake-quant model on held-out images */
    float *x = malloc(sizeof(float) * TEST_N * H * W * C), out[CLASSES];
    uint8_t y[TEST_N];
    make_batch(9999, TEST_N, x, y);
    int agree = 0, correct_fq = 0, correct_i8 = 0;
    double worst = 0.0;
    for (int b = 0; b < TEST_N; b += BATCH) {
        CHECK(frost_model_forward(m, x + (size_t)b * H * W * C, BATCH, false) == FROST_OK);
        for (int i = 0; i < BATCH; i++) {
            const float *want = frost_model_logits(m) + i * CLASSES;
            CHECK(frost_int8_run(im, x + (size_t)(b + i) * H * W * C, H * W * C, out) == FROST_OK);
            agree += argmax(out, CLASSES) == argmax(want, CLASSES);
            correct_fq += argmax(want, CLASSES) == y[b + i];
            correct_i8 += argmax(out, CLASSES) == y[b + i];
            for (int k = 0; k < CLASSES; k++)
                worst = fmax(worst, fabs((double)out[k] - want[k]));
        }
    }
    printf("  int8 agrees on %d of %d; accuracy fake-quant %d, int8 %d; max logit diff %.4f\n",
           agree, TEST_N, correct_fq, correct_i8, worst);
    CHECK(agree >= TEST_N - 2);           /* high agreement */
    CHECK(correct_i8 >= TEST_N * 8 / 10); /* and the int8 model still solves the task */
    CHECK(worst < 0.1);
    free(x);
    frost_int8_free(im);
    frost_model_free(m);
}

/* PTQ: whatever the observer, calibration leaves the gate's range at [0, 1] (the
 * calibration observers never see it) and the others calibrated. */
TEST(sigmoid_range_is_fixed_for_every_observer)
{
    const int observers[] = {FROST_OBS_MINMAX, FROST_OBS_EMA, FROST_OBS_HISTOGRAM,
                             FROST_OBS_PERCENTILE, FROST_OBS_ENTROPY};
    float x[BATCH * H * W * C];
    uint8_t y[BATCH];
    make_batch(77, BATCH, x, y);
    for (size_t k = 0; k < sizeof observers / sizeof observers[0]; k++) {
        frost_model *m = NULL;
        CHECK(frost_model_from_json(se_arch, "se_tiny.json", &m) == FROST_OK);
        if (!m)
            return;
        frost_model_init_weights(m, 2);
        frost_qconfig *qc = NULL;
        CHECK(frost_qconfig_default(&qc) == FROST_OK);
        CHECK(frost_qconfig_default_observer(qc, observers[k]) == FROST_OK);
        CHECK(frost_model_quantize(m, qc) == FROST_OK);
        frost_qconfig_free(qc);
        CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
        CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
        CHECK(frost_model_forward(m, x, BATCH, false) == FROST_OK);
        CHECK(frost_model_forward(m, x, BATCH, false) == FROST_OK);
        CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
        const float *gate = m->buffers[m->nodes[frost_g_find(m, "se.gate") + 1].q.range].data;
        const float *trunk = m->buffers[m->nodes[frost_g_find(m, "se.scale") + 1].q.range].data;
        CHECK_FLOAT_EQ(gate[0], 0.0f);
        CHECK_FLOAT_EQ(gate[1], 1.0f);
        CHECK(trunk[2] > 0.0f && trunk[1] > trunk[0]); /* an observed range */
        frost_int8_model *im = NULL;
        CHECK(frost_int8_from_model(m, &im) == FROST_OK);
        frost_int8_free(im);
        frost_model_free(m);
    }
}

FROST_TEST_MAIN(RUN(squeeze_excite_trains_quantizes_and_converts);
                RUN(sigmoid_range_is_fixed_for_every_observer))
