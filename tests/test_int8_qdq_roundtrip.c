/*
 * An int8 model exported as ONNX QDQ (frost export --onnx) and imported back (frost import)
 * is the same model: every node's parameters equal (weights, scales, zero points, clamps,
 * multipliers, tables, biases) and the outputs bit-identical, every int8 tensor included,
 * with int8 and uint8 weights, fixed and float requantization.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"

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

static void round_trip(const char *fixture, bool uint8_weights)
{
    frost_int8_model *a = NULL, *b = NULL;
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_qdq_rt_%d.onnx", (int)getpid());
    CHECK_EQ_INT(frost_int8_load(fixture, &a), FROST_OK);
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

TEST(export_then_import_gives_the_same_model)
{
    round_trip("tests/fixtures/compat/qat_fixed.int8", false);
    round_trip("tests/fixtures/compat/qat_fixed.int8", true);
    round_trip("tests/fixtures/compat/qat_float.int8", false);
}

FROST_TEST_MAIN(RUN(export_then_import_gives_the_same_model))
