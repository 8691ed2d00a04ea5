/*
 * Imported models train: the gradients of an imported network (the small PyTorch export
 * with every supported op, BN kept: conv, depthwise and grouped conv, BN in training
 * mode, squeeze-excite mul, add, concat, max/avg/global pools, the flatten permutation,
 * linear) match finite differences on every parameter tensor. Finite differences across
 * the kinks of ReLU, ReLU6 and hard-swish are meaningless in float32 on a whole network,
 * so those activations are swapped for smooth ones (SiLU, sigmoid) and max pools for
 * average pools here; each op's own gradient is checked in the op tests.
 */
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"

#define CASE "tests/fixtures/onnx/small_op13_bn"

typedef struct {
    frost_model *m;
    float *x;
    int n;
    uint8_t labels[8];
} ctx_t;

static double loss_of(void *p)
{
    ctx_t *c = p;
    if (frost_model_forward(c->m, c->x, c->n, true) != FROST_OK)
        return NAN;
    return frost_softmax_xent(c->n, frost_model_classes(c->m), frost_model_logits(c->m), c->labels,
                              0.0f, NULL, NULL);
}

/* The fixture's input, NCHW -> NHWC. */
static float *load_input(int *n)
{
    int ndim;
    int64_t d[8];
    float *x = frost_test_read_npy(CASE "/input.npy", &ndim, d);
    if (!x || ndim != 4)
        return NULL;
    int64_t N = d[0], C = d[1], H = d[2], W = d[3];
    float *y = malloc(sizeof *y * (size_t)(N * C * H * W));
    for (int64_t i = 0; i < N * C * H * W; i++) {
        int64_t xx = i % W, yy = (i / W) % H, ch = (i / (W * H)) % C, b = i / (W * H * C);
        y[((b * H + yy) * W + xx) * C + ch] = x[i];
    }
    free(x);
    *n = (int)N;
    return y;
}

TEST(imported_network_gradients_match_finite_differences)
{
    ctx_t c = {0};
    CHECK_EQ_INT(frost_model_load(CASE "/model.onnx", &c.m), FROST_OK);
    c.x = load_input(&c.n);
    CHECK(c.x != NULL);
    if (!c.m || !c.x) {
        frost_model_free(c.m);
        free(c.x);
        return;
    }
    for (int i = 0; i < c.n; i++)
        c.labels[i] = (uint8_t)(3 * i + 1);
    int swapped = 0;
    for (int i = 0; i < c.m->n_nodes; i++) {
        frost_node *nd = &c.m->nodes[i];
        if (nd->op == FROST_OP_MAXPOOL) { /* its argmax flips under a perturbation too */
            nd->op = FROST_OP_AVGPOOL;
            swapped++;
        }
        if (nd->op != FROST_OP_ACT || nd->act == FROST_ACT_SIGMOID || nd->act == FROST_ACT_SILU)
            continue;
        nd->act = nd->act == FROST_ACT_HSIGMOID ? FROST_ACT_SIGMOID : FROST_ACT_SILU;
        swapped++;
    }
    CHECK(swapped > 3);
    CHECK_EQ_INT(frost_model_set_batch(c.m, c.n), FROST_OK);
    int dl_n = c.n * frost_model_classes(c.m);
    float *dlogits = malloc(sizeof *dlogits * (size_t)dl_n);
    frost_model_zero_grad(c.m);
    CHECK(frost_model_forward(c.m, c.x, c.n, true) == FROST_OK);
    frost_softmax_xent(c.n, frost_model_classes(c.m), frost_model_logits(c.m), c.labels, 0.0f,
                       dlogits, NULL);
    CHECK(frost_model_backward(c.m, dlogits) == FROST_OK);
    int checked = 0;
    for (int i = 0; i < c.m->n_params; i++) {
        frost_param *p = &c.m->params[i];
        float *g = malloc(sizeof(float) * (size_t)p->numel);
        memcpy(g, p->grad, sizeof(float) * (size_t)p->numel);
        frost_test_gradcheck(p->name, loss_of, &c, p->data, g, (long)p->numel, 1e-3, 2e-4, 3e-2, 8);
        checked++;
        free(g);
    }
    printf("  %d parameter tensors checked\n", checked);
    CHECK(checked > 20);
    free(dlogits);
    free(c.x);
    frost_model_free(c.m);
}

FROST_TEST_MAIN(RUN(imported_network_gradients_match_finite_differences))
