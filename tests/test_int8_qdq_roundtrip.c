/*
 * An int8 model exported as ONNX QDQ (frost export --onnx) and imported back (frost import)
 * is the same model: every node's parameters equal (weights, scales, zero points, clamps,
 * multipliers, tables, biases) and the outputs bit-identical, every int8 tensor included,
 * with int8 and uint8 weights, fixed and float requantization; and it asks for the same
 * input normalization (the preprocessing travels in the file's metadata), since the input
 * quantization's scale and zero point only fit images normalized as in training.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "models/graph.h"
#include "test_archs.h"

static int64_t weight_count(const frost_int8_model *m, const frost_int8_node *x)
{
    const frost_int8_node *in = &m->nodes[x->in[0]];
    if (x->op == FROST_I8_CONV)
        return (int64_t)x->c * x->k * x->k * (in->c / x->groups);
    return (int64_t)x->c * in->h * in->w * in->c;
}

/* Whether two nodes of the same position are the same layer (and why not, printed). */
static bool same_node(const frost_int8_model *a, const frost_int8_node *x, const frost_int8_node *y)
{
    bool logits = x->op == FROST_I8_LOGITS;
    bool same =
        x->op == y->op && x->h == y->h && x->w == y->w && x->c == y->c && x->n_in == y->n_in &&
        x->k == y->k && x->stride == y->stride && x->pad == y->pad && x->groups == y->groups &&
        x->acc_shift == y->acc_shift && x->n_mult == y->n_mult &&
        (logits || (x->scale == y->scale && x->zp == y->zp && x->lo == y->lo && x->hi == y->hi));
    for (int j = 0; same && j < x->n_in; j++)
        same = x->in[j] == y->in[j];
    for (int j = 0; same && j < x->n_mult; j++)
        same = x->mult[j] == y->mult[j] && x->shift[j] == y->shift[j];
    if (same && x->lut)
        same = y->lut && memcmp(x->lut, y->lut, (size_t)x->n_in * 256) == 0;
    if (same && x->weight) {
        same = y->weight && memcmp(x->weight, y->weight, (size_t)weight_count(a, x)) == 0;
        for (int c = 0; same && c < x->c; c++)
            same = x->wscale[c] == y->wscale[c] &&
                   (logits ? x->out_bias[c] == y->out_bias[c] && x->out_scale[c] == y->out_scale[c]
                           : x->bias[c] == y->bias[c]);
    }
    if (!same)
        fprintf(stderr, "  node %s (%s) differs after the round trip\n", x->name,
                frost_int8_op_name(x->op));
    return same;
}

/* The normalization `frost run` applies to a model's images (frost_augment_for over the
 * commands' defaults, as tools/cmd_run.c does): the input QuantizeLinear's scale and zero
 * point are for images normalized this way, so the re-imported model must ask for it too. */
static frost_augment run_normalization(const frost_int8_model *m)
{
    frost_preprocess pre = frost_int8_preprocess(m);
    return frost_augment_for(&pre, frost_train_defaults().augment);
}

static bool same_normalization(const frost_int8_model *a, const frost_int8_model *b)
{
    frost_augment x = run_normalization(a), y = run_normalization(b);
    bool same = x.mean == y.mean && x.std == y.std;
    for (int c = 0; c < 3 && same; c++)
        same = !x.per_channel || !y.per_channel ||
               (x.ch_mean[c] == y.ch_mean[c] && x.ch_std[c] == y.ch_std[c]);
    if (!same)
        fprintf(
            stderr,
            "  normalization differs after the round trip: mean %g std %g, then mean %g std %g\n",
            (double)x.mean, (double)x.std, (double)y.mean, (double)y.std);
    return same && frost_int8_preprocess(a).bgr == frost_int8_preprocess(b).bgr;
}

/* a: the model to send through the file (freed here); fixture names it in messages. */
static void round_trip_model(frost_int8_model *a, const char *fixture, bool uint8_weights)
{
    frost_int8_model *b = NULL;
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_qdq_rt_%d.onnx", (int)getpid());
    CHECK_EQ_INT(a ? frost_int8_export_onnx(a, path, uint8_weights) : FROST_ERR_ARG, FROST_OK);
    frost_status s = frost_int8_import_onnx(path, &b);
    if (s != FROST_OK)
        fprintf(stderr, "  import: %s\n", frost_last_error());
    unlink(path);
    if (!a || !b) {
        CHECK(!"round trip failed");
        frost_int8_free(a);
        frost_int8_free(b);
        return;
    }
    CHECK_EQ_INT(frost_int8_set_float_requant(b, frost_int8_float_requant(a)), FROST_OK);
    CHECK_EQ_INT(a->n_nodes, b->n_nodes);
    int same = 0;
    for (int i = 0; i < a->n_nodes && i < b->n_nodes; i++)
        same += same_node(a, &a->nodes[i], &b->nodes[i]);
    CHECK_EQ_INT(same, a->n_nodes);
    CHECK(same_normalization(a, b));
    int h, w, c;
    frost_int8_input_shape(a, &h, &w, &c);
    int64_t n = (int64_t)h * w * c;
    int classes = frost_int8_classes(a);
    uint8_t *img = malloc((size_t)n);
    float *oa = malloc(sizeof(float) * (size_t)classes),
          *ob = malloc(sizeof(float) * (size_t)classes);
    long differ = 0, bytes = 0;
    unsigned long long r = 12345;
    for (int t = 0; t < 100; t++) {
        for (int64_t i = 0; i < n; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            img[i] = (uint8_t)(r >> 56);
        }
        CHECK_EQ_INT(frost_int8_run_quantized(a, img, n, oa), FROST_OK);
        CHECK_EQ_INT(frost_int8_run_quantized(b, img, n, ob), FROST_OK);
        differ += memcmp(oa, ob, sizeof(float) * (size_t)classes) != 0;
        for (int i = 0; i < a->n_nodes - 1; i++) {
            const frost_int8_node *x = &a->nodes[i];
            int64_t len = (int64_t)x->h * x->w * x->c;
            bytes += len;
            differ += memcmp(frost_int8_tensor(a, i), frost_int8_tensor(b, i), (size_t)len) != 0;
        }
    }
    printf("  %s, %s weights: %d nodes the same, %ld tensors differ (%ld bytes compared)\n",
           fixture, uint8_weights ? "uint8" : "int8", same, differ, bytes);
    CHECK_EQ_INT(differ, 0);
    free(img), free(oa), free(ob);
    frost_int8_free(a);
    frost_int8_free(b);
}

static void round_trip(const char *fixture, bool uint8_weights)
{
    frost_int8_model *a = NULL;
    CHECK_EQ_INT(frost_int8_load(fixture, &a), FROST_OK);
    round_trip_model(a, fixture, uint8_weights);
}

/* Squeeze-excite (a sigmoid gate times the map: MUL with a [1,1,C] input), SiLU and a
 * same-shape product, converted here from a calibrated fake-quant model. */
static const char *se_arch = FROST_TEST_SE_ARCH(12, 12, FROST_TEST_GAP_FC_HEAD);

TEST(a_squeeze_excite_model_survives_the_round_trip)
{
    frost_model *f = NULL;
    CHECK(frost_model_from_json(se_arch, "se", &f) == FROST_OK);
    if (!f)
        return;
    frost_model_init_weights(f, 5);
    /* biases and BN shifts away from their zero init, so that folded biases are not 0 */
    for (int i = 0; i < f->n_params; i++)
        if (strstr(f->params[i].name, ".bias") || strstr(f->params[i].name, ".beta"))
            frost_test_fill_uniform(f->params[i].data, (long)f->params[i].numel, -0.3f, 0.3f,
                                    100 + (unsigned long long)i);
    enum { N = 16 };
    float *images = malloc(sizeof(float) * N * 144);
    frost_test_fill_uniform(images, N * 144, -1.0f, 2.0f, 9);
    frost_qconfig *c = NULL;
    CHECK(frost_qconfig_default(&c) == FROST_OK);
    CHECK(frost_model_quantize(f, c) == FROST_OK);
    frost_qconfig_free(c);
    CHECK(frost_model_set_batch(f, N) == FROST_OK);
    CHECK(frost_model_set_qmode(f, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(f, images, N, false) == FROST_OK);
    CHECK(frost_model_set_qmode(f, FROST_QMODE_FIXED) == FROST_OK);
    frost_int8_model *m = NULL;
    CHECK(frost_int8_from_model(f, &m) == FROST_OK);
    int muls = 0;
    for (int i = 0; m && i < m->n_nodes; i++)
        muls += m->nodes[i].op == FROST_I8_MUL;
    CHECK_EQ_INT(muls, 2);
    /* the default fine bias grid: the export must round some biases */
    CHECK(frost_int8_onnx_rounded_biases(m) > 0);
    if (m) /* a preprocessing of its own (not the commands' defaults) comes back too */
        m->pre =
            (frost_preprocess){.set = true, .mean = {0.1f, 0.1f, 0.1f}, .std = {0.7f, 0.7f, 0.7f}};
    if (m)
        round_trip_model(m, "the squeeze-excite model", false);
    /* converted on ONNX's bias grid: nothing to round, and the re-import keeps shift 0 */
    frost_int8_convert_options o = frost_int8_convert_defaults();
    o.onnx_bias_grid = 1;
    m = NULL;
    CHECK(frost_int8_from_model_opts(f, &o, &m) == FROST_OK);
    int shifted = 0, weighted = 0;
    for (int i = 0; m && i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_I8_CONV || m->nodes[i].op == FROST_I8_LINEAR) {
            weighted++;
            shifted += m->nodes[i].acc_shift != 0;
        }
    CHECK_EQ_INT(weighted, 3); /* the classifier is float (logits) */
    CHECK_EQ_INT(shifted, 0);
    CHECK_EQ_INT(frost_int8_onnx_rounded_biases(m), 0);
    if (m)
        round_trip_model(m, "the squeeze-excite model (ONNX bias grid)", false);
    frost_model_free(f);
    free(images);
}

TEST(export_then_import_gives_the_same_model)
{
    round_trip("tests/fixtures/compat/qat_fixed.int8", false);
    round_trip("tests/fixtures/compat/qat_fixed.int8", true);
    round_trip("tests/fixtures/compat/qat_float.int8", false);
}

/* The preprocessing in the file is checked like the rest of it: a zero std (written here
 * from a model that should never have had it) is refused, naming the metadata key. */
TEST(a_bad_preprocessing_in_the_file_is_refused)
{
    frost_int8_model *a = NULL, *b = NULL;
    CHECK_EQ_INT(frost_int8_load("tests/fixtures/compat/qat_fixed.int8", &a), FROST_OK);
    if (!a)
        return;
    a->pre = (frost_preprocess){.set = true, .mean = {0.5f, 0.5f, 0.5f}, .std = {0, 0, 0}};
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_qdq_pre_%d.onnx", (int)getpid());
    CHECK_EQ_INT(frost_int8_export_onnx(a, path, false), FROST_OK);
    CHECK_EQ_INT(frost_int8_import_onnx(path, &b), FROST_ERR_FORMAT);
    CHECK(b == NULL && strstr(frost_last_error(), "frost.preprocess") != NULL);
    unlink(path);
    frost_int8_free(a);
}

FROST_TEST_MAIN(RUN(export_then_import_gives_the_same_model);
                RUN(a_squeeze_excite_model_survives_the_round_trip);
                RUN(a_bad_preprocessing_in_the_file_is_refused))
