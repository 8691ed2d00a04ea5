/*
 * Binarized inputs in the int8 engine (src/int8/binact.c, docs/int8.md#low-bit-layers): BNN
 * (sign), Bi-Real and XNOR-Net layers as conv / linear nodes that see +-1 (the stored value
 * against its zero point) and pad with 0 as training does (XNOR: times K of the real input).
 *
 *   - The popcount path (sign bits, frost_bin_conv / frost_bin_linear, the padding
 *     correction) equals the direct reference loop bit for bit, on every kernel path this CPU
 *     has, for random shapes, strides, paddings, channel counts off multiples of 64, binary
 *     and ternary codes, fixed and float requantization, sign and xnor.
 *   - A small BNN, Bi-Real and XNOR model trained here on Fashion-MNIST convert, and the int8
 *     model agrees with the fake-quant model: layer by layer (each binarized node fed the
 *     fake-quant model's own input: within 1 LSB, rarely off) and end to end on 1000 real
 *     test images (>= 99% same top-1, accuracy within 0.5 points).
 *   - Files: version 3 with "ain", round trip, corrupt files refused; the ONNX export refuses
 *     the nodes, the C export writes them (tests/test_int8_codegen.c runs that C); frost info
 *     names them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binary/binary.h"
#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "int8/requant.h"
#include "models/graph.h"

/* ---- the popcount path against the reference loop ---- */

typedef struct {
    bool linear;
    int h, w, cin, cout, k, stride, pad, groups, wbits;
    bool ones; /* every code +1, bias 0, output dot / 16 around 128 (hand-checked values) */
    bool xnor; /* "ain": "xnor": the output scaled by K of the real input */
} bin_case;

/* A two-node model: the input (random bytes around a random zero point) and one conv /
 * linear node with a binarized input and random codes, scales, biases. */
static frost_int8_model *bin_model(const bin_case *t, frost_rng *r)
{
    frost_int8_model *m = calloc(1, sizeof *m);
    m->nodes = calloc(2, sizeof *m->nodes);
    m->n_nodes = 2;
    snprintf(m->name, sizeof m->name, "bin");
    m->in_h = t->h, m->in_w = t->w, m->in_c = t->cin;
    frost_int8_node *x = &m->nodes[0], *n = &m->nodes[1];
    snprintf(x->name, sizeof x->name, "x");
    x->op = FROST_I8_QUANTIZE;
    x->h = t->h, x->w = t->w, x->c = t->cin;
    x->scale = 0.05f;
    x->zp = 1 + (int)(frost_rng_uniform(r) * 250);
    x->lo = 0, x->hi = 255;
    x->k = x->stride = x->groups = 1;
    snprintf(n->name, sizeof n->name, "b");
    n->op = t->linear ? FROST_I8_LINEAR : FROST_I8_CONV;
    n->n_in = 1;
    n->ain = t->xnor ? FROST_I8_AIN_XNOR : FROST_I8_AIN_SIGN;
    n->k = t->linear ? 1 : t->k;
    n->stride = t->linear ? 1 : t->stride;
    n->pad = t->linear ? 0 : t->pad;
    n->groups = t->linear ? 1 : t->groups;
    n->h = t->linear ? 1 : (t->h + 2 * t->pad - t->k) / t->stride + 1;
    n->w = t->linear ? 1 : (t->w + 2 * t->pad - t->k) / t->stride + 1;
    n->c = t->cout;
    n->scale = 0.1f;
    n->zp = 128, n->lo = 3, n->hi = 250;
    n->wbits = t->wbits;
    n->acc_shift = 2;
    int64_t inner =
        t->linear ? (int64_t)t->h * t->w * t->cin : (int64_t)t->k * t->k * (t->cin / t->groups);
    int8_t *w = frost_int8_own(m, (size_t)(inner * t->cout));
    float *ws = frost_int8_own(m, (size_t)t->cout * 4);
    int32_t *b = frost_int8_own(m, (size_t)t->cout * 4), *mu = frost_int8_own(m, t->cout * 4),
            *sh = frost_int8_own(m, (size_t)t->cout * 4);
    for (int64_t i = 0; i < inner * t->cout; i++) {
        float u = frost_rng_uniform(r);
        w[i] = (int8_t)(t->wbits == 1 ? (u < 0.5f ? -1 : 1) : u < 0.3f ? -1 : u < 0.6f ? 0 : 1);
        w[i] = t->ones ? 1 : w[i];
    }
    for (int o = 0; o < t->cout; o++) {
        ws[o] = 0.01f + 0.05f * frost_rng_uniform(r);
        b[o] = (int32_t)((frost_rng_uniform(r) - 0.5f) * 400.0f);
        frost_quantize_multiplier(ws[o] / 4.0 / n->scale, &mu[o], &sh[o]);
        if (t->ones) {
            b[o] = 0;
            frost_quantize_multiplier(1.0 / 64.0, &mu[o], &sh[o]); /* acc = 4 dot */
        }
    }
    n->weight = w, n->wscale = ws, n->bias = b, n->mult = mu, n->shift = sh;
    n->n_mult = t->cout;
    m->classes = n->h * n->w * n->c;
    if (frost_int8_prepare(m) != FROST_OK) {
        fprintf(stderr, "  prepare: %s\n", frost_last_error());
        frost_int8_free(m);
        return NULL;
    }
    uint8_t *in = frost_int8_tensor(m, 0);
    for (int i = 0; i < t->h * t->w * t->cin; i++) /* values at the zero point too */
        in[i] = (uint8_t)(x->zp + (int)((frost_rng_uniform(r) - 0.5f) * 6.0f));
    return m;
}

static int64_t bin_case_run(const bin_case *t, frost_rng *r)
{
    frost_int8_model *m = bin_model(t, r);
    CHECK(m != NULL);
    if (!m)
        return 0;
    size_t len = (size_t)m->nodes[1].h * m->nodes[1].w * m->nodes[1].c;
    uint8_t *want = malloc(len);
    int64_t compared = 0;
    for (int fp = 0; fp < 2; fp++) {
        CHECK(frost_int8_set_float_requant(m, fp) == FROST_OK);
        frost_int8_force_reference(m, 1);
        frost_int8_run_node(m, 1);
        memcpy(want, frost_int8_tensor(m, 1), len);
        frost_int8_force_reference(m, 0);
        for (int p = 0; p < FROST_BIN_PATH_COUNT; p++) {
            if (!frost_bin_path_available((frost_bin_path)p))
                continue;
            frost_int8_set_bin_path(m, p);
            memset(frost_int8_tensor(m, 1), 0, len);
            frost_int8_run_node(m, 1);
            if (memcmp(want, frost_int8_tensor(m, 1), len) != 0) {
                fprintf(stderr,
                        "  %s%s %dx%dx%d -> %d, k %d stride %d pad %d groups %d wbits %d: path %s "
                        "differs from the reference\n",
                        t->linear ? "linear" : "conv", t->xnor ? " (xnor)" : "", t->h, t->w, t->cin,
                        t->cout, t->k, t->stride, t->pad, t->groups, t->wbits,
                        frost_bin_path_name((frost_bin_path)p));
                frost_test_failed_checks++;
            }
            compared += (int64_t)len;
        }
    }
    free(want);
    frost_int8_free(m);
    return compared;
}

TEST(test_popcount_path_equals_reference)
{
    frost_rng r;
    frost_rng_seed(&r, 5);
    static const int channels[] = {1, 3, 8, 16, 17, 32, 48, 63, 64, 65, 100, 130};
    int64_t compared = 0;
    for (int i = 0; i < 90; i++) {
        bin_case t = {0};
        t.linear = i % 6 == 5;
        t.k = 1 + 2 * (int)(frost_rng_uniform(&r) * 3); /* 1, 3, 5 */
        t.stride = 1 + (int)(frost_rng_uniform(&r) * 3);
        t.pad = (int)(frost_rng_uniform(&r) * t.k);
        t.h = t.k + (int)(frost_rng_uniform(&r) * 7);
        t.w = t.k + (int)(frost_rng_uniform(&r) * 5) - (t.pad > 0);
        t.cin = channels[(int)(frost_rng_uniform(&r) * 12)];
        t.cout = 1 + (int)(frost_rng_uniform(&r) * 20);
        t.groups = 1;
        t.wbits = i % 3 == 2 ? 2 : 1;
        t.xnor = i % 4 == 1;
        compared += bin_case_run(&t, &r);
    }
    /* a grouped conv (reference loop on both settings) and an explicit corner case */
    bin_case g = {false, 6, 5, 12, 8, 3, 1, 1, 4, 1, false, false};
    compared += bin_case_run(&g, &r);
    g.xnor = true;
    compared += bin_case_run(&g, &r);
    bin_case edge = {false, 4, 4, 64, 9, 3, 2, 2, 1, 1, false, false};
    compared += bin_case_run(&edge, &r);
    /* the row-gather conv on ResNet-like layers: 16-256 channels, whole rows of 64-bit
     * words or not, stride 2, on two threads (the larger layers split their rows) */
    static const bin_case wide[] = {
        {false, 28, 28, 16, 16, 3, 1, 1, 1, 1, false, false},
        {false, 28, 28, 16, 32, 3, 2, 1, 1, 2, false, false},
        {false, 14, 14, 32, 32, 3, 1, 1, 1, 1, false, true},
        {false, 14, 14, 32, 64, 1, 2, 0, 1, 1, false, false},
        {false, 33, 31, 64, 72, 3, 1, 1, 1, 1, false, false},
        {false, 9, 11, 256, 40, 3, 1, 1, 1, 2, false, false},
        {false, 7, 7, 96, 1030, 1, 1, 0, 1, 1, false, false}, /* > ROW_DOTS: frost_bin_conv */
    };
    frost_set_threads(2);
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        compared += bin_case_run(&wide[i], &r);
    frost_set_threads(1);
    printf("  %lld outputs compared; paths:", (long long)compared);
    for (int p = 0; p < FROST_BIN_PATH_COUNT; p++)
        if (frost_bin_path_available((frost_bin_path)p))
            printf(" %s", frost_bin_path_name((frost_bin_path)p));
    printf("\n");
    CHECK(compared > 10000);
}

/* Zero padding by hand: every code +1 and every input +1, a 3x3 pad-1 conv over a 3x3 map
 * of 64 channels gives dot 4 * 64 in a corner, 6 * 64 on an edge, 9 * 64 in the centre (the
 * popcount kernel alone gives 9 * 64 - 2 * 5 * 64 = -64 in a corner: it pads with -1); the
 * node outputs 128 + dot / 16. Every input -1 gives the negatives. */
TEST(test_zero_padding_by_hand)
{
    frost_rng r;
    frost_rng_seed(&r, 1);
    bin_case t = {false, 3, 3, 64, 2, 3, 1, 1, 1, 1, true, false};
    frost_int8_model *m = bin_model(&t, &r);
    CHECK(m != NULL);
    for (int sign = 1; m && sign >= -1; sign -= 2) {
        /* 255 is >= any zero point, 0 below any (the zero point is 1..250) */
        memset(frost_int8_tensor(m, 0), sign > 0 ? 255 : 0, 9 * 64);
        for (int ref = 0; ref < 2; ref++) {
            frost_int8_force_reference(m, ref);
            frost_int8_run_node(m, 1);
            const uint8_t *y = frost_int8_tensor(m, 1);
            for (int o = 0; o < 2; o++) {
                CHECK_EQ_INT(y[0 * 2 + o], 128 + sign * 16); /* corner */
                CHECK_EQ_INT(y[1 * 2 + o], 128 + sign * 24); /* edge */
                CHECK_EQ_INT(y[4 * 2 + o], 128 + sign * 36); /* centre */
                CHECK_EQ_INT(y[8 * 2 + o], 128 + sign * 16);
            }
        }
    }
    frost_int8_free(m);
}

/* ---- trained models on Fashion-MNIST ---- */

enum { TEST_IMAGES = 1000, BATCH = 100 };

static float *normalized(const frost_dataset *d)
{
    int64_t len = (int64_t)d->n * d->h * d->w * d->c;
    float *x = malloc((size_t)len * sizeof(float));
    for (int64_t i = 0; i < len; i++)
        x[i] = ((float)d->images[i] / 255.0f - 0.2860f) / 0.3530f;
    return x;
}

/* 28x28x1 -> c1 (8, stride 2; the affine first layer) -> c2 (16, stride 2, pad 1) -> c3
 * (16, pad 1) -> gap -> fc (affine), conv+BN units without ReLU, quantized with `json` and
 * trained for 2 short epochs on 6000 images (as tests/test_quant_lowbit.c); ranges fixed. */
static frost_model *train_small(const char *json)
{
    frost_set_threads(1); /* tiny layers: OpenMP's fork/join costs more than it saves */
    frost_dataset full, train;
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, true, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, 6000, &train), FROST_OK);
    frost_dataset_free(&full);
    frost_model *m = frost_g_new("bnn", 28, 28, 1);
    int a = frost_g_conv_bn_act(m, "c1", 0, 8, 3, 2, 1, FROST_ACT_IDENTITY);
    int b = frost_g_conv_bn_act(m, "c2", a, 16, 3, 2, 1, FROST_ACT_IDENTITY);
    int d = frost_g_conv_bn_act(m, "c3", b, 16, 3, 1, 1, FROST_ACT_IDENTITY);
    int g = frost_g_gap(m, "gap", d);
    frost_g_linear(m, "fc", g, 10, true);
    frost_g_finish(m, 10);
    frost_model_init_weights(m, 1);
    frost_qconfig *c = NULL;
    CHECK(frost_qconfig_parse(json, "test", &c) == FROST_OK);
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    frost_qconfig_free(c);
    frost_train_config tc = frost_train_defaults();
    tc.epochs = 2;
    tc.batch = 64;
    tc.quiet = true;
    tc.label_smoothing = 0.0f;
    tc.optim = frost_optimizer_defaults(FROST_OPT_ADAM);
    tc.sched.base_lr = 0.03f;
    tc.sched.warmup_epochs = 0.0f;
    CHECK(frost_model_set_batch(m, 64) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_QAT) == FROST_OK);
    frost_train_result r;
    CHECK(frost_train(m, &train, NULL, NULL, &tc, NULL, NULL, &r) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
    frost_dataset_free(&train);
    return m;
}

/* Each binarized node fed the fake-quant model's own input (on its stored grid): its output
 * within 1 LSB of the fake-quant output, and rarely off at all. Returns the nodes checked. */
static int compare_binarized_nodes(frost_model *qm, frost_int8_model *im, const float *x)
{
    CHECK(frost_model_forward(qm, x, BATCH, false) == FROST_OK);
    int nodes = 0;
    int64_t total = 0, off = 0;
    for (int i = 1; i < im->n_nodes; i++) {
        frost_int8_node *n = &im->nodes[i];
        if (!n->ain)
            continue;
        nodes++;
        const frost_int8_node *t = &im->nodes[n->in[0]];
        const frost_node *fin = &qm->nodes[t->source], *fout = &qm->nodes[n->source];
        int64_t in_len = (int64_t)fin->h * fin->w * fin->c, len = (int64_t)n->h * n->w * n->c;
        for (int b = 0; b < BATCH; b++) {
            uint8_t *in = frost_int8_tensor(im, n->in[0]);
            for (int64_t k = 0; k < in_len; k++)
                in[k] = (uint8_t)frost_quantize_one(fin->y[b * in_len + k], t->scale, t->zp, t->lo,
                                                    t->hi);
            for (int ref = 0; ref < 2; ref++) {
                frost_int8_force_reference(im, ref);
                frost_int8_run_node(im, i);
                const uint8_t *y = frost_int8_tensor(im, i);
                for (int64_t k = 0; k < len; k++) {
                    int want =
                        frost_quantize_one(fout->y[b * len + k], n->scale, n->zp, n->lo, n->hi);
                    int d = abs((int)y[k] - want);
                    if (d > 1) {
                        fprintf(stderr, "  node %s value %lld: %d vs %d\n", n->name, (long long)k,
                                y[k], want);
                        frost_test_failed_checks++;
                    }
                    off += d != 0;
                }
                total += len;
            }
        }
    }
    frost_int8_force_reference(im, 0);
    printf("  binarized nodes: %lld of %lld values 1 LSB off\n", (long long)off, (long long)total);
    CHECK(off * 1000 <= total); /* 0 seen: the fine bias grid leaves float ties only */
    return nodes;
}

/* The whole model on the first 1000 test images: top-1 agreement and accuracy. */
static void compare_end_to_end(frost_model *qm, frost_int8_model *im, const char *what)
{
    frost_dataset full, test;
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, false, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, TEST_IMAGES, &test), FROST_OK);
    frost_dataset_free(&full);
    float *x = normalized(&test);
    int agree = 0, right_q = 0, right_i = 0;
    for (int b0 = 0; b0 < TEST_IMAGES; b0 += BATCH) {
        CHECK(frost_model_forward(qm, x + b0 * 784, BATCH, false) == FROST_OK);
        const float *lq = frost_model_logits(qm);
        if (b0 == 0)
            CHECK(compare_binarized_nodes(qm, im, x) == 2);
        CHECK(frost_model_forward(qm, x + b0 * 784, BATCH, false) == FROST_OK);
        for (int b = 0; b < BATCH; b++) {
            float li[10];
            CHECK(frost_int8_run(im, x + (b0 + b) * 784, 784, li) == FROST_OK);
            int tq = 0, ti = 0;
            for (int c = 1; c < 10; c++) {
                tq = lq[b * 10 + c] > lq[b * 10 + tq] ? c : tq;
                ti = li[c] > li[ti] ? c : ti;
            }
            agree += tq == ti;
            right_q += tq == test.labels[b0 + b];
            right_i += ti == test.labels[b0 + b];
        }
    }
    printf("  %s: fake-quant %.1f%%, int8 %.1f%%, same top-1 on %d of %d\n", what,
           100.0 * right_q / TEST_IMAGES, 100.0 * right_i / TEST_IMAGES, agree, TEST_IMAGES);
    CHECK(right_q > TEST_IMAGES / 2); /* it trained (chance is 10%) */
    CHECK(agree * 100 >= 99 * TEST_IMAGES);
    CHECK(abs(right_q - right_i) * 1000 <= 5 * TEST_IMAGES); /* 0.5 points */
    free(x);
    frost_dataset_free(&test);
}

static void check_trained(const char *json, const char *what, int want_adds,
                          frost_int8_ain want_ain)
{
    frost_model *qm = train_small(json);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(qm, &im) == FROST_OK);
    if (!im) {
        fprintf(stderr, "  convert: %s\n", frost_last_error());
        frost_model_free(qm);
        return;
    }
    int bin = 0, adds = 0;
    for (int i = 0; i < im->n_nodes; i++) {
        bin += im->nodes[i].ain == want_ain;
        adds += im->nodes[i].op == FROST_I8_ADD;
        if (im->nodes[i].ain)
            CHECK_EQ_INT(im->nodes[i].wbits, 1); /* BWN: +-1 codes */
    }
    CHECK_EQ_INT(bin, 2); /* c2 and c3; c1 and fc stay affine */
    CHECK_EQ_INT(adds, want_adds);
    compare_end_to_end(qm, im, what);
    frost_int8_free(im);
    frost_model_free(qm);
}

TEST(test_bnn_converts_and_matches_fake_quant)
{
    check_trained("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"sign\"}}",
                  "BNN (BWN + sign)", 0, FROST_I8_AIN_SIGN);
}

TEST(test_bireal_converts_and_matches_fake_quant)
{
    check_trained("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": "
                  "\"bireal\"}, \"bireal_shortcuts\": true}",
                  "Bi-Real (shortcut around c3)", 1, FROST_I8_AIN_SIGN);
}

/* XNOR-Net: K from the dequantized input at run time, a float output stage. */
TEST(test_xnor_converts_and_matches_fake_quant)
{
    check_trained("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"xnor\"}}",
                  "XNOR-Net (BWN + xnor)", 0, FROST_I8_AIN_XNOR);
}

/* ---- files, exports, info ---- */

/* The small graph above, untrained, calibrated on 16 random images, ranges fixed. */
static frost_model *calibrated_small(const char *json, float *x)
{
    frost_model *m = frost_g_new("bnn", 28, 28, 1);
    int a = frost_g_conv_bn_act(m, "c1", 0, 8, 3, 2, 1, FROST_ACT_IDENTITY);
    int b = frost_g_conv_bn_act(m, "c2", a, 16, 3, 2, 1, FROST_ACT_IDENTITY);
    int d = frost_g_conv_bn_act(m, "c3", b, 16, 3, 1, 1, FROST_ACT_IDENTITY);
    frost_g_linear(m, "fc", frost_g_gap(m, "gap", d), 10, true);
    frost_g_finish(m, 10);
    frost_model_init_weights(m, 3);
    frost_rng r;
    frost_rng_seed(&r, 9);
    for (int i = 0; i < 16 * 784; i++)
        x[i] = 3.0f * frost_rng_uniform(&r) - 1.0f;
    frost_qconfig *c = NULL;
    CHECK(frost_qconfig_parse(json, "test", &c) == FROST_OK);
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    frost_qconfig_free(c);
    CHECK(frost_model_set_batch(m, 16) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(m, x, 16, false) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    return m;
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    b[*n] = 0;
    fclose(f);
    return b;
}

static void write_all(const char *path, const char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Loads `b` (n bytes) with the first `from` in its header replaced by `to` (same length) and
 * expects a format error containing `message`; from = NULL: the file cut to n bytes. */
static void expect_corrupt(const char *path, const char *b, size_t n, const char *from,
                           const char *to, const char *message)
{
    char *c = malloc(n + 1);
    memcpy(c, b, n);
    c[n] = 0;
    char *at = from ? strstr(c + 8, from) : NULL;
    CHECK(!from || (at != NULL && strlen(from) == strlen(to)));
    if (at)
        memcpy(at, to, strlen(to));
    frost_test_drop_content_hash(c, n);
    write_all(path, c, n);
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(path, &m) == FROST_ERR_FORMAT);
    CHECK(m == NULL);
    if (!strstr(frost_last_error(), message)) {
        fprintf(stderr, "  error '%s' lacks '%s'\n", frost_last_error(), message);
        frost_test_failed_checks++;
    }
    free(c);
}

TEST(test_file_round_trip_exports_and_corrupt_files)
{
    float *x = malloc(16 * 784 * sizeof(float));
    frost_model *qm = calibrated_small(
        "{\"weights\": {\"scheme\": \"binary\"}, \"activations\": {\"scheme\": \"sign\"}}", x);
    frost_int8_model *im = NULL, *back = NULL;
    CHECK(frost_int8_from_model(qm, &im) == FROST_OK);
    char path[128], path2[140];
    snprintf(path, sizeof path, "/tmp/frost_test_int8_binact_%ld.int8", (long)getpid());
    snprintf(path2, sizeof path2, "%s.2", path);
    CHECK(im && frost_int8_save(im, path) == FROST_OK);
    size_t n = 0, n2 = 0;
    char *b = read_all(path, &n);
    CHECK(b && n > 8);
    if (!im || !b) {
        free(b), free(x);
        frost_int8_free(im);
        frost_model_free(qm);
        return;
    }
    /* the graph JSON sits as a string in the header: its quotes escaped */
    CHECK(strstr(b + 8, "\\\"version\\\":3") && strstr(b + 8, "\\\"ain\\\":\\\"sign\\\""));
    /* frost info: the op column says bconv for a binarized input, the weights are packed: c2's
     * 16 channels x 72 bits = 16 x 9 bytes + 16 x (bias, M, e) = 336 */
    char *text = frost_int8_memory_text(im);
    const char *row = text ? strstr(text, " bconv ") : NULL;
    CHECK(row && strstr(row, " 336 ") && strstr(row, " 336 ") < strchr(row, '\n'));
    free(text);
    CHECK(frost_int8_load(path, &back) == FROST_OK);
    for (int k = 0; back && k < 16; k++) {
        float got[10], want[10];
        CHECK(frost_int8_run(im, x + k * 784, 784, want) == FROST_OK);
        CHECK(frost_int8_run(back, x + k * 784, 784, got) == FROST_OK);
        CHECK(memcmp(got, want, sizeof got) == 0);
    }
    /* the bytes written again are the bytes read */
    CHECK(back && frost_int8_save(back, path2) == FROST_OK);
    char *b2 = read_all(path2, &n2);
    CHECK(b2 && n2 == n && memcmp(b, b2, n) == 0);
    free(b2);
    unlink(path2);
    /* the ONNX export refuses the nodes, naming them; the C export writes them (its outputs
     * are checked in tests/test_int8_codegen.c) */
    const char *first = NULL;
    for (int i = 0; back && i < back->n_nodes && !first; i++)
        first = back->nodes[i].ain ? back->nodes[i].name : NULL;
    char want[160];
    snprintf(want, sizeof want, "node '%s' binarizes its input (sign)", first ? first : "?");
    frost_int8_c_info info = {0};
    char cname[48], cfile[80];
    snprintf(cname, sizeof cname, "binact_%ld", (long)getpid());
    CHECK(back && frost_int8_export_c(back, "/tmp", cname, &info) == FROST_OK);
    CHECK(info.scratch_bytes > 0); /* the sign bits */
    for (int e = 0; e < 2; e++) {
        snprintf(cfile, sizeof cfile, "/tmp/%s.%s", cname, e ? "h" : "c");
        CHECK(unlink(cfile) == 0);
    }
    CHECK(back && frost_int8_export_onnx(back, path2, 0) == FROST_ERR_UNSUPPORTED);
    CHECK(strstr(frost_last_error(), want) != NULL);
    CHECK(access(path2, F_OK) != 0);
    frost_int8_free(back);

    expect_corrupt(path, b, n, "ain\\\":\\\"sign", "ain\\\":\\\"sigm", "unknown \"ain\"");
    expect_corrupt(path, b, n, "ain\\\":\\\"sign", "ain\\\":\\\"Sign", "unknown \"ain\"");
    expect_corrupt(path, b, n, "version\\\":3", "version\\\":2", "needs format version 3");
    expect_corrupt(path, b, n, "version\\\":3", "version\\\":4", "versions 1 to 3");
    expect_corrupt(path, b, n, "\\\"wbits\\\"", "\\\"wbitz\\\"", "without packed weights");
    expect_corrupt(path, b, n, "acc_shift\\\":20", "acc_shift\\\":23",
                   "accumulator shift outside 0..20");
    /* the same bytes in another shape: not the packed rows of the node */
    expect_corrupt(path, b, n, "\"U8\",\"shape\":[16,9]", "\"U8\",\"shape\":[9,16]",
                   "wrong dtype or shape (expected [16, 9])");
    expect_corrupt(path, b, n - 40, NULL, NULL, path); /* truncated: the error names the file */
    unlink(path);
    free(b);
    free(x);
    frost_int8_free(im);
    frost_model_free(qm);
}

FROST_TEST_MAIN(RUN(test_popcount_path_equals_reference), RUN(test_zero_padding_by_hand),
                RUN(test_bnn_converts_and_matches_fake_quant),
                RUN(test_bireal_converts_and_matches_fake_quant),
                RUN(test_xnor_converts_and_matches_fake_quant),
                RUN(test_file_round_trip_exports_and_corrupt_files))
