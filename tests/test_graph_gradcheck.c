/* Whole-network finite-difference gradient check: a small graph with every
 * layer type (conv, depthwise, BN in training mode, smooth activations, add,
 * concat, max/avg pool, gap, dropout, flatten, linear) and softmax
 * cross-entropy with label smoothing; and a squeeze-excite network (SiLU, sigmoid gate,
 * per-channel and same-shape mul). Checks every parameter tensor and the
 * network-level backward wiring (fan-out gradients summed, concat split). */
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"

static const char *const arch =
    "{\"name\":\"gc\",\"input\":{\"h\":7,\"w\":7,\"c\":2},\"classes\":4,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":6,\"k\":3,\"stride\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"hswish\"},"
    "{\"name\":\"dw\",\"op\":\"conv\",\"out\":6,\"k\":5,\"stride\":2,\"groups\":6},"
    "{\"name\":\"b2\",\"op\":\"bn\"},"
    "{\"name\":\"pw\",\"op\":\"conv\",\"out\":6,\"k\":1,\"bias\":true},"
    "{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"hsigmoid\"},"
    "{\"name\":\"sk\",\"op\":\"conv\",\"in\":\"a1\",\"out\":6,\"k\":3,\"stride\":2,\"groups\":2},"
    "{\"name\":\"add\",\"op\":\"add\",\"in\":[\"a2\",\"sk\"]},"
    "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"add\",\"b2\",\"sk\"]},"
    "{\"name\":\"mp\",\"op\":\"maxpool\",\"k\":2,\"stride\":1},"
    "{\"name\":\"ap\",\"op\":\"avgpool\",\"k\":3,\"stride\":1,\"pad\":1},"
    "{\"name\":\"g\",\"op\":\"gap\",\"in\":\"cat\"},"
    "{\"name\":\"fl\",\"op\":\"flatten\",\"in\":\"ap\"},"
    "{\"name\":\"cat2\",\"op\":\"concat\",\"in\":[\"g\",\"fl\"]},"
    "{\"name\":\"drop\",\"op\":\"dropout\",\"p\":0.25},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":4}]}";

/* Squeeze-excite with swish: the per-channel mul's gate gradient sums over the pixels, the
 * trunk feeds the mul twice (directly and through the gate), and a same-shape mul. */
static const char *const se_arch =
    "{\"name\":\"gcse\",\"input\":{\"h\":7,\"w\":7,\"c\":2},\"classes\":4,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":6,\"k\":3,\"stride\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"sq\",\"op\":\"gap\"},"
    "{\"name\":\"fc1\",\"op\":\"conv\",\"out\":3,\"k\":1,\"bias\":true},"
    "{\"name\":\"r\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"fc2\",\"op\":\"conv\",\"out\":6,\"k\":1,\"bias\":true},"
    "{\"name\":\"gate\",\"op\":\"act\",\"fn\":\"sigmoid\"},"
    "{\"name\":\"se\",\"op\":\"mul\",\"in\":[\"a1\",\"gate\"]},"
    "{\"name\":\"sk\",\"op\":\"conv\",\"in\":\"a1\",\"out\":6,\"k\":3,\"groups\":2},"
    "{\"name\":\"m2\",\"op\":\"mul\",\"in\":[\"se\",\"sk\"]},"
    "{\"name\":\"g\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":4}]}";

enum { BATCH = 3 };

typedef struct {
    frost_model *m;
    float *x;
    uint8_t labels[BATCH];
} ctx_t;

static double loss_of(void *p)
{
    ctx_t *c = p;
    frost_model_seed_dropout(c->m, 42); /* the same dropout mask every evaluation */
    if (frost_model_forward(c->m, c->x, BATCH, true) != FROST_OK)
        return NAN;
    return frost_softmax_xent(BATCH, 4, frost_model_logits(c->m), c->labels, 0.1f, NULL, NULL);
}

static void check_network_gradients(const char *arch_json)
{
    ctx_t c = {0};
    CHECK(frost_model_from_json(arch_json, "gc", &c.m) == FROST_OK);
    if (!c.m)
        return;
    frost_model_init_weights(c.m, 7);
    /* Non-trivial BN affine params and biases so their gradients are exercised. */
    for (int i = 0; i < c.m->n_params; i++)
        if (c.m->params[i].kind != FROST_PARAM_WEIGHT)
            frost_test_fill_uniform(c.m->params[i].data, (long)c.m->params[i].numel, 0.5f, 1.5f,
                                    100 + (unsigned)i);
    CHECK(frost_model_set_batch(c.m, BATCH) == FROST_OK);
    c.x = malloc(sizeof(float) * BATCH * 7 * 7 * 2);
    frost_test_fill_uniform(c.x, BATCH * 7 * 7 * 2, -2.0f, 2.0f, 3);
    c.labels[0] = 1;
    c.labels[1] = 3;
    c.labels[2] = 0;

    float dlogits[BATCH * 4];
    frost_model_zero_grad(c.m);
    frost_model_seed_dropout(c.m, 42);
    CHECK(frost_model_forward(c.m, c.x, BATCH, true) == FROST_OK);
    frost_softmax_xent(BATCH, 4, frost_model_logits(c.m), c.labels, 0.1f, dlogits, NULL);
    CHECK(frost_model_backward(c.m, dlogits) == FROST_OK);

    for (int i = 0; i < c.m->n_params; i++) {
        frost_param *p = &c.m->params[i];
        float *g = malloc(sizeof(float) * (size_t)p->numel);
        memcpy(g, p->grad, sizeof(float) * (size_t)p->numel);
        double gmax = 0;
        for (int64_t j = 0; j < p->numel; j++)
            gmax = fmax(gmax, fabs(g[j]));
        if (!(gmax > 1e-6)) {
            fprintf(stderr, "  %s has no gradient\n", p->name);
            frost_test_failed_checks++;
        }
        frost_test_gradcheck(p->name, loss_of, &c, p->data, g, (long)p->numel, 1e-3, 2e-4, 3e-2,
                             24);
        free(g);
    }
    free(c.x);
    frost_model_free(c.m);
}

TEST(whole_network_gradients_match_finite_differences) { check_network_gradients(arch); }

TEST(squeeze_excite_network_gradients_match_finite_differences)
{
    check_network_gradients(se_arch);
}

TEST(eval_mode_uses_running_stats_and_no_dropout)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(arch, "gc", &m) == FROST_OK);
    if (!m)
        return;
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
    float x[BATCH * 7 * 7 * 2];
    frost_test_fill_uniform(x, BATCH * 7 * 7 * 2, -1.0f, 1.0f, 5);
    float a[BATCH * 4], b[BATCH * 4];
    CHECK(frost_model_forward(m, x, BATCH, false) == FROST_OK);
    memcpy(a, frost_model_logits(m), sizeof a);
    /* One image alone gives the same logits as in the batch (no batch statistics). */
    CHECK(frost_model_forward(m, x + 7 * 7 * 2, 1, false) == FROST_OK);
    memcpy(b, frost_model_logits(m), sizeof(float) * 4);
    for (int k = 0; k < 4; k++)
        CHECK_NEAR(b[k], a[4 + k], 1e-5, 1e-5);
    CHECK(frost_model_backward(m, a) != FROST_OK); /* backward needs a training forward */
    CHECK(frost_model_forward(m, x, BATCH + 1, false) == FROST_ERR_ARG);
    frost_model_free(m);
}

/* BN -> ReLU/ReLU6 pairs run fused; the result must equal the unfused graph. */
static const char *const fusable =
    "{\"name\":\"fu\",\"input\":{\"h\":6,\"w\":6,\"c\":3},\"classes\":5,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":11,\"k\":3},{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu6\"},"
    "{\"name\":\"dw\",\"op\":\"conv\",\"out\":11,\"k\":3,\"groups\":11},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"b3\",\"op\":\"bn\",\"in\":\"c1\"},{\"name\":\"a3\",\"op\":\"act\",\"fn\":\"relu\"}"
    ","
    "{\"name\":\"s\",\"op\":\"add\",\"in\":[\"a2\",\"b2\"]},"
    "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"s\",\"a3\"]},"
    "{\"name\":\"g\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":5}]}";

/* Runs one training step's forward + backward; copies logits and all grads out. */
static void run_step(bool fuse, float *logits, float *grads, long *n_grads)
{
    setenv("FROST_NO_FUSE", fuse ? "0" : "1", 1);
    frost_model *m = NULL;
    CHECK(frost_model_from_json(fusable, "fu", &m) == FROST_OK);
    if (!m)
        return;
    frost_model_init_weights(m, 3);
    CHECK(frost_model_set_batch(m, 4) == FROST_OK);
    /* a1 fused; b2 feeds a2 and the add, so it is not; b3 -> a3 fused. */
    CHECK(m->nodes[frost_g_find(m, "a1")].fused_bn == (fuse ? frost_g_find(m, "b1") : -1));
    CHECK(m->nodes[frost_g_find(m, "a2")].fused_bn == -1);
    CHECK(m->nodes[frost_g_find(m, "a3")].fused_bn == (fuse ? frost_g_find(m, "b3") : -1));
    float x[4 * 6 * 6 * 3], dl[4 * 5];
    uint8_t labels[4] = {0, 4, 2, 2};
    frost_test_fill_uniform(x, 4 * 6 * 6 * 3, -1.0f, 1.0f, 8);
    frost_model_zero_grad(m);
    CHECK(frost_model_forward(m, x, 4, true) == FROST_OK);
    memcpy(logits, frost_model_logits(m), sizeof dl);
    frost_softmax_xent(4, 5, logits, labels, 0.0f, dl, NULL);
    CHECK(frost_model_backward(m, dl) == FROST_OK);
    long k = 0;
    for (int i = 0; i < m->n_params; i++)
        for (int64_t j = 0; j < m->params[i].numel; j++)
            grads[k++] = m->params[i].grad[j];
    *n_grads = k;
    /* Eval forward too (fused eval path). */
    CHECK(frost_model_forward(m, x, 4, false) == FROST_OK);
    memcpy(logits + 20, frost_model_logits(m), sizeof dl);
    frost_model_free(m);
}

TEST(fused_bn_act_equals_unfused)
{
    float l1[40], l2[40];
    static float g1[4096], g2[4096];
    long n1 = 0, n2 = 0;
    run_step(true, l1, g1, &n1);
    run_step(false, l2, g2, &n2);
    unsetenv("FROST_NO_FUSE");
    CHECK_EQ_INT(n1, n2);
    for (int i = 0; i < 40; i++)
        CHECK_NEAR(l1[i], l2[i], 1e-5, 1e-4);
    int bad = 0;
    for (long i = 0; i < n1; i++)
        bad += !(fabs(g1[i] - g2[i]) <= 1e-5 + 1e-3 * fabs(g2[i]));
    CHECK_EQ_INT(bad, 0);
}

FROST_TEST_MAIN(RUN(whole_network_gradients_match_finite_differences);
                RUN(squeeze_excite_network_gradients_match_finite_differences);
                RUN(fused_bn_act_equals_unfused); RUN(eval_mode_uses_running_stats_and_no_dropout))
