/* DARTS' mixed op (`mix`) and its architecture weights alpha: the forward on hand-set
 * alphas, gradients of alpha, of the input and of a conv upstream against central
 * differences, the split between the network's and the architecture's optimizer,
 * architecture JSON and checkpoints keeping alpha, QAT through a mix, and every inference
 * stage (FP32 engine, int8 converter, ONNX export, and the CLI on top) refusing it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"
#include "optim/optim_internal.h"

/* input -> conv -> silu -> four candidates (conv 3x3, avgpool, conv 1x1, the skip) -> mix
 * with "none" -> gap -> linear. */
static const char *const supernet =
    "{\"name\":\"sn\",\"input\":{\"h\":6,\"w\":6,\"c\":2},\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":4,\"k\":3},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"k3\",\"op\":\"conv\",\"out\":4,\"k\":3,\"in\":\"a1\"},"
    "{\"name\":\"ap\",\"op\":\"avgpool\",\"k\":3,\"stride\":1,\"pad\":1,\"in\":\"a1\"},"
    "{\"name\":\"k1\",\"op\":\"conv\",\"out\":4,\"k\":1,\"bias\":true,\"in\":\"a1\"},"
    "{\"name\":\"mx\",\"op\":\"mix\",\"in\":[\"k3\",\"ap\",\"k1\",\"a1\"],\"none\":true},"
    "{\"name\":\"g\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

enum { BATCH = 3, IN_SIZE = 6 * 6 * 2 };

static const float hand_alpha[5] = {0.3f, -0.2f, 0.5f, 0.1f, -0.4f};

static frost_model *load_supernet(void)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(supernet, "supernet", &m) == FROST_OK);
    if (!m)
        return NULL;
    frost_model_init_weights(m, 11);
    /* weights of order 1 (fc's init, 0.01, would make every gradient upstream tiny) */
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].kind != FROST_PARAM_ARCH)
            frost_test_fill_uniform(m->params[i].data, (long)m->params[i].numel, -0.7f, 0.7f,
                                    30 + (unsigned)i);
    int mx = frost_g_find(m, "mx");
    /* distinct mixing weights, so a formula that ignores one term shows */
    memcpy(m->params[m->nodes[mx].alpha].data, hand_alpha, sizeof hand_alpha);
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
    return m;
}

typedef struct {
    frost_model *m;
    float *x;
    uint8_t labels[BATCH];
} ctx_t;

static double loss_of(void *p)
{
    ctx_t *c = p;
    if (frost_model_forward(c->m, c->x, BATCH, true) != FROST_OK)
        return NAN;
    return frost_softmax_xent(BATCH, 3, frost_model_logits(c->m), c->labels, 0.0f, NULL, NULL);
}

static void forward_backward(ctx_t *c)
{
    float dl[BATCH * 3];
    frost_model_zero_grad(c->m);
    CHECK(frost_model_forward(c->m, c->x, BATCH, true) == FROST_OK);
    frost_softmax_xent(BATCH, 3, frost_model_logits(c->m), c->labels, 0.0f, dl, NULL);
    CHECK(frost_model_backward(c->m, dl) == FROST_OK);
}

static ctx_t make_ctx(void)
{
    ctx_t c = {.m = load_supernet(), .x = malloc(sizeof(float) * BATCH * IN_SIZE)};
    frost_test_fill_uniform(c.x, BATCH * IN_SIZE, -2.0f, 2.0f, 5);
    c.labels[0] = 2;
    c.labels[1] = 0;
    c.labels[2] = 1;
    return c;
}

static frost_param *param_named(frost_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

/* Every parameter's analytic gradient (already in the model) against central
 * differences of the loss. */
static void check_param_grads(ctx_t *c)
{
    frost_model *m = c->m;
    for (int i = 0; i < m->n_params; i++) {
        frost_param *p = &m->params[i];
        float *gr = malloc(sizeof(float) * (size_t)p->numel);
        memcpy(gr, p->grad, sizeof(float) * (size_t)p->numel);
        CHECK_EQ_INT(frost_test_gradcheck(p->name, loss_of, c, p->data, gr, (long)p->numel, 1e-3,
                                          1e-4, 1e-2, 40),
                     0);
        free(gr);
    }
}

TEST(mix_node_has_alpha_shape_and_macs)
{
    frost_model *m = load_supernet();
    if (!m)
        return;
    const frost_node *n = &m->nodes[frost_g_find(m, "mx")];
    CHECK_EQ_INT(n->n_in, 4);
    CHECK(n->mix_none);
    CHECK(n->h == 6 && n->w == 6 && n->c == 4);
    CHECK_EQ_INT(n->macs, 4 * 6 * 6 * 4);
    CHECK(n->weight == -1 && n->alpha >= 0);
    frost_param *a = &m->params[n->alpha];
    CHECK(strcmp(a->name, "mx.alpha") == 0);
    CHECK(a->kind == FROST_PARAM_ARCH && a->ndim == 1 && a->numel == 5);
    CHECK(param_named(m, "mx.alpha") == a);
    /* counted apart from the network's parameters */
    CHECK_EQ_INT(frost_model_arch_param_count(m), 5);
    int64_t net = 0;
    for (int i = 0; i < m->n_params; i++)
        net += m->params[i].numel;
    CHECK_EQ_INT(frost_model_param_count(m), net - 5);
    char *info = frost_model_info_text(m);
    CHECK(info && strstr(info, "5 architecture weights (alpha)") != NULL);
    free(info);
    /* the init is DARTS': 1e-3 * N(0, 1), not all equal */
    frost_model_init_weights(m, 3);
    bool differ = false;
    for (int j = 0; j < 5; j++) {
        CHECK(fabsf(a->data[j]) < 5e-3f);
        differ |= a->data[j] != a->data[0];
    }
    CHECK(differ);
    frost_model_free(m);
}

TEST(inputs_of_another_shape_are_refused_with_the_layer_name)
{
    frost_model *m = frost_g_new("bad", 4, 4, 2);
    int c = frost_g_conv(m, "c", 0, 3, 1, 1, 0, 1, false);
    int p = frost_g_maxpool(m, "p", 0, 2, 2, 0);
    int in1[2] = {0, c}, in2[2] = {0, p};
    CHECK_EQ_INT(frost_g_mix(m, "channels", 2, in1, false), -1);
    CHECK(strstr(frost_last_error(), "layer 'channels'") != NULL);
    CHECK_EQ_INT(frost_g_mix(m, "size", 2, in2, true), -1);
    CHECK(strstr(frost_last_error(), "layer 'size'") != NULL);
    int nine[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(frost_g_mix(m, "nine", 9, nine, false), -1);
    CHECK_EQ_INT(frost_g_mix(m, "zero", 0, nine, false), -1);
    CHECK(frost_g_mix(m, "one", 1, nine, true) > 0); /* one input and "none" is allowed */
    frost_model_free(m);
}

/* alpha = [0, 0, ln 2]: weights [1/4, 1/4, 1/2], y = a/4 + b/4 + c/2. */
TEST(forward_on_hand_set_alpha)
{
    frost_model *m = frost_g_new("hand", 2, 2, 3);
    int b = frost_g_act(m, "b", 0, FROST_ACT_RELU);
    int c = frost_g_act(m, "c", 0, FROST_ACT_SIGMOID);
    int in[3] = {0, b, c};
    int mx = frost_g_mix(m, "mx", 3, in, false);
    frost_g_gap(m, "g", mx);
    CHECK(frost_g_finish(m, 3) == 0);
    float *alpha = m->params[m->nodes[mx].alpha].data;
    alpha[0] = 0.0f;
    alpha[1] = 0.0f;
    alpha[2] = logf(2.0f);
    float w[3];
    frost_mix_weights(m, mx, w);
    CHECK_NEAR(w[0], 0.25f, 0.0, 1e-7);
    CHECK_NEAR(w[1], 0.25f, 0.0, 1e-7);
    CHECK_NEAR(w[2], 0.5f, 0.0, 1e-7);
    float x[2 * 12];
    frost_test_fill_uniform(x, 24, -3.0f, 3.0f, 9);
    CHECK(frost_model_set_batch(m, 2) == FROST_OK);
    CHECK(frost_model_forward(m, x, 2, false) == FROST_OK);
    const float *y = m->nodes[mx].y, *yb = m->nodes[b].y, *yc = m->nodes[c].y;
    for (int i = 0; i < 24; i++)
        CHECK_NEAR(y[i], 0.25f * x[i] + 0.25f * yb[i] + 0.5f * yc[i], 1e-7, 1e-6);
    /* a large alpha does not overflow the softmax */
    alpha[0] = 1000.0f;
    alpha[1] = -1000.0f;
    alpha[2] = 999.0f;
    frost_mix_weights(m, mx, w);
    CHECK_NEAR(w[0], 1.0f / (1.0f + expf(-1.0f)), 1e-6, 1e-6);
    CHECK(w[1] == 0.0f && isfinite(w[2]));
    frost_model_free(m);
}

/* d loss / d alpha (with "none"), d loss / d upstream conv weight and d loss / d the
 * candidates' own parameters against central differences. Tolerances: 1e-4 absolute,
 * 1e-2 relative; d alpha without its "- sum_i w_i g_i" term is off by w_j * sum, over
 * 10% here (checked by breaking the formula once), so a wrong rule fails. */
TEST(gradients_match_finite_differences)
{
    ctx_t c = make_ctx();
    if (!c.m)
        return;
    forward_backward(&c);
    const char *names[] = {"mx.alpha",  "c1.weight", "k3.weight",
                           "k1.weight", "k1.bias",   "fc.weight"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        frost_param *p = param_named(c.m, names[k]);
        CHECK(p != NULL);
        if (!p)
            continue;
        float *g = malloc(sizeof(float) * (size_t)p->numel);
        memcpy(g, p->grad, sizeof(float) * (size_t)p->numel);
        double gmax = 0;
        for (int64_t j = 0; j < p->numel; j++)
            gmax = fmax(gmax, fabs(g[j]));
        if (!(gmax > 1e-4))
            fprintf(stderr, "  %s: largest gradient %g\n", p->name, gmax);
        CHECK(gmax > 1e-4);
        CHECK_EQ_INT(frost_test_gradcheck(p->name, loss_of, &c, p->data, g, (long)p->numel, 1e-3,
                                          1e-4, 1e-2, 40),
                     0);
        free(g);
    }
    /* alpha's gradient sums to zero (softmax is shift-invariant), "none" included */
    const frost_param *a = param_named(c.m, "mx.alpha");
    double sum = 0, mag = 0;
    for (int j = 0; j < 5; j++) {
        sum += a->grad[j];
        mag += fabs(a->grad[j]);
    }
    CHECK(fabs(sum) < 1e-6 * (1 + mag));
    CHECK(a->grad[4] != 0.0f); /* "none" moves although it contributes zero */
    free(c.x);
    frost_model_free(c.m);
}

/* A mix fed by the model input itself (which has no gradient buffer, yet its candidate's
 * alpha needs <dy, x>) next to a conv and an activation of the input: every gradient
 * against central differences. */
TEST(model_input_as_a_candidate)
{
    frost_model *m = frost_g_new("in", 4, 4, 2);
    int x = frost_g_conv(m, "x", 0, 2, 1, 1, 0, 1, true);
    int s = frost_g_act(m, "s", x, FROST_ACT_SIGMOID);
    int in[3] = {x, s, 0};
    int mx = frost_g_mix(m, "mx", 3, in, true);
    int g = frost_g_gap(m, "g", mx);
    frost_g_linear(m, "fc", g, 3, true);
    CHECK(frost_g_finish(m, 3) == 0);
    frost_model_init_weights(m, 4);
    float *alpha = m->params[m->nodes[mx].alpha].data;
    alpha[0] = 0.4f;
    alpha[1] = -0.3f;
    alpha[2] = 0.2f;
    alpha[3] = 0.0f;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].kind == FROST_PARAM_WEIGHT)
            frost_test_fill_uniform(m->params[i].data, (long)m->params[i].numel, -1.0f, 1.0f,
                                    20 + (unsigned)i);
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
    ctx_t c = {.m = m, .x = malloc(sizeof(float) * BATCH * 32)};
    frost_test_fill_uniform(c.x, BATCH * 32, -1.0f, 1.0f, 6);
    c.labels[0] = 0;
    c.labels[1] = 2;
    c.labels[2] = 2;
    forward_backward(&c);
    check_param_grads(&c);
    free(c.x);
    frost_model_free(m);
}

/* The same input twice: both candidates add into its one gradient buffer. */
TEST(repeated_input_gradients_add_up)
{
    frost_model *m = frost_g_new("rep", 3, 3, 2);
    int x = frost_g_conv(m, "x", 0, 2, 1, 1, 0, 1, false);
    int in[3] = {x, x, 0};
    int mx = frost_g_mix(m, "mx", 3, in, false);
    int g = frost_g_gap(m, "g", mx);
    frost_g_linear(m, "fc", g, 3, false);
    CHECK(frost_g_finish(m, 3) == 0);
    frost_model_init_weights(m, 8);
    float *alpha = m->params[m->nodes[mx].alpha].data;
    alpha[0] = 0.5f;
    alpha[1] = -0.5f;
    alpha[2] = 0.25f;
    CHECK(frost_model_set_batch(m, BATCH) == FROST_OK);
    ctx_t c = {.m = m, .x = malloc(sizeof(float) * BATCH * 18)};
    frost_test_fill_uniform(c.x, BATCH * 18, -1.0f, 1.0f, 7);
    c.labels[1] = 1;
    forward_backward(&c);
    check_param_grads(&c);
    free(c.x);
    frost_model_free(m);
}

/* The gradient of alpha is summed in a fixed order: the same bits for 1 and 2 threads. */
TEST(alpha_gradient_does_not_depend_on_threads)
{
    ctx_t c = make_ctx();
    if (!c.m)
        return;
    int before = frost_get_threads();
    float g[2][5];
    for (int t = 0; t < 2; t++) {
        frost_set_threads(t + 1);
        forward_backward(&c);
        memcpy(g[t], param_named(c.m, "mx.alpha")->grad, sizeof g[t]);
    }
    frost_set_threads(before);
    CHECK(memcmp(g[0], g[1], sizeof g[0]) == 0);
    free(c.x);
    frost_model_free(c.m);
}

/* A copy of every parameter's values, to see which ones a step changed. */
static float *snapshot(const frost_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += m->params[i].numel;
    float *s = malloc(sizeof(float) * (size_t)n), *at = s;
    for (int i = 0; i < m->n_params; i++) {
        memcpy(at, m->params[i].data, sizeof(float) * (size_t)m->params[i].numel);
        at += m->params[i].numel;
    }
    return s;
}

/* Which parameters differ from the snapshot: counts of architecture and other ones. */
static void changed(const frost_model *m, const float *s, int *arch, int *net)
{
    *arch = *net = 0;
    for (int i = 0; i < m->n_params; i++) {
        const frost_param *p = &m->params[i];
        bool diff = memcmp(s, p->data, sizeof(float) * (size_t)p->numel) != 0;
        s += p->numel;
        if (diff && p->kind == FROST_PARAM_ARCH)
            (*arch)++;
        else if (diff)
            (*net)++;
    }
}

TEST(model_and_arch_optimizers_train_disjoint_sets)
{
    ctx_t c = make_ctx();
    if (!c.m)
        return;
    frost_optimizer_config mc = frost_optimizer_defaults(FROST_OPT_SGD);
    CHECK(mc.params == FROST_PARAMS_MODEL); /* the default */
    frost_optimizer_config ac = frost_optimizer_defaults(FROST_OPT_ADAM);
    ac.params = FROST_PARAMS_ARCH;
    ac.beta1 = 0.5f;
    ac.beta2 = 0.999f;
    ac.wd = 1e-3f;
    ac.clip_norm = 1.0f;
    frost_optimizer *om = NULL, *oa = NULL;
    CHECK(frost_optimizer_create(&mc, c.m, &om) == FROST_OK);
    CHECK(frost_optimizer_create(&ac, c.m, &oa) == FROST_OK);
    if (!om || !oa)
        return;
    /* state: the ARCH optimizer holds exactly the alpha's two Adam slots */
    CHECK_EQ_INT(frost_optimizer_state_count(oa), 2);
    for (int i = 0; i < frost_optimizer_state_count(oa); i++) {
        const char *name;
        frost_optimizer_state_get(oa, i, &name, NULL, NULL);
        CHECK(strncmp(name, "optim.mx.alpha.", 15) == 0);
    }
    for (int i = 0; i < frost_optimizer_state_count(om); i++) {
        const char *name;
        frost_optimizer_state_get(om, i, &name, NULL, NULL);
        CHECK(strstr(name, "alpha") == NULL);
    }
    CHECK(frost_optimizer_group_wd(&ac, param_named(c.m, "mx.alpha")) == 1e-3f);

    forward_backward(&c);
    float *s = snapshot(c.m);
    int arch, net;
    CHECK(frost_optimizer_step(om, 0.1f) == FROST_OK);
    changed(c.m, s, &arch, &net);
    CHECK_EQ_INT(arch, 0);
    CHECK(net > 0);
    free(s);

    forward_backward(&c);
    s = snapshot(c.m);
    CHECK(frost_optimizer_step(oa, 3e-4f) == FROST_OK);
    changed(c.m, s, &arch, &net);
    CHECK_EQ_INT(arch, 1);
    CHECK_EQ_INT(net, 0);
    /* clipping and the norm cover only the alphas */
    const frost_param *a = param_named(c.m, "mx.alpha");
    double sq = 0;
    for (int j = 0; j < 5; j++)
        sq += (double)a->grad[j] * a->grad[j];
    CHECK_NEAR(frost_optimizer_last_grad_norm(oa), sqrt(sq), 1e-9, 1e-6);
    free(s);

    /* a NaN in a network gradient stops the network's step only */
    param_named(c.m, "c1.weight")->grad[0] = NAN;
    CHECK(frost_optimizer_step(oa, 3e-4f) == FROST_OK);
    CHECK(frost_optimizer_step(om, 0.1f) == FROST_ERR_NUMERIC);
    param_named(c.m, "c1.weight")->grad[0] = 0.0f;
    param_named(c.m, "mx.alpha")->grad[1] = INFINITY;
    CHECK(frost_optimizer_step(oa, 3e-4f) == FROST_ERR_NUMERIC);
    CHECK(strstr(frost_last_error(), "mx.alpha") != NULL);
    CHECK(frost_optimizer_step(om, 0.1f) == FROST_OK);

    ac.params = (frost_param_set)7;
    frost_optimizer *bad = NULL;
    CHECK(frost_optimizer_create(&ac, c.m, &bad) == FROST_ERR_ARG);
    frost_optimizer_free(om);
    frost_optimizer_free(oa);
    free(c.x);
    frost_model_free(c.m);
}

/* Architecture JSON keeps the op and its "none" (written through the attribute table). */
static void json_round_trip(bool none)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\":\"rt\",\"input\":{\"h\":4,\"w\":4,\"c\":3},\"classes\":3,\"layers\":["
             "{\"name\":\"a\",\"op\":\"act\",\"fn\":\"relu\"},"
             "{\"name\":\"mx\",\"op\":\"mix\",\"in\":[\"input\",\"a\"]%s},"
             "{\"name\":\"g\",\"op\":\"gap\"}]}",
             none ? ",\"none\":true" : "");
    frost_model *m = NULL, *m2 = NULL;
    CHECK(frost_model_from_json(text, "rt.json", &m) == FROST_OK);
    if (!m)
        return;
    const frost_node *n = &m->nodes[frost_g_find(m, "mx")];
    CHECK(n->mix_none == none);
    CHECK_EQ_INT(m->params[n->alpha].numel, none ? 3 : 2);
    char *j1 = frost_model_to_json(m);
    CHECK(j1 && strstr(j1, "\"mix\"") != NULL);
    const char *key = j1 ? strstr(j1, "\"none\":") : NULL; /* "none":\ttrue */
    CHECK(key && strncmp(key + 7 + strspn(key + 7, " \t"), none ? "true" : "false", 4) == 0);
    CHECK(frost_model_from_json(j1, "j1", &m2) == FROST_OK);
    char *j2 = m2 ? frost_model_to_json(m2) : NULL;
    CHECK(j1 && j2 && strcmp(j1, j2) == 0);
    if (m2) {
        const frost_node *n2 = &m2->nodes[frost_g_find(m2, "mx")];
        CHECK(n2->mix_none == none && n2->n_in == 2);
    }
    free(j1);
    free(j2);
    frost_model_free(m);
    frost_model_free(m2);
}

TEST(json_round_trip_with_and_without_none)
{
    json_round_trip(false);
    json_round_trip(true);
}

static char dir[] = "/tmp/frost_mix_XXXXXX";
static char out[16384];

TEST(checkpoint_keeps_alpha)
{
    frost_model *m = load_supernet();
    if (!m)
        return;
    const char *path = frost_test_path(dir, "sn.safetensors");
    CHECK(frost_checkpoint_save_weights(path, m) == FROST_OK);
    frost_model *back = NULL;
    CHECK(frost_checkpoint_load_model(path, &back) == FROST_OK);
    if (back) {
        frost_param *a = param_named(back, "mx.alpha");
        CHECK(a && a->kind == FROST_PARAM_ARCH);
        CHECK(a && memcmp(a->data, hand_alpha, sizeof hand_alpha) == 0);
        CHECK_EQ_INT(back->nodes[frost_g_find(back, "mx")].alpha, (int)(a - back->params));
    }
    /* and into an existing model of the same architecture */
    frost_model *other = NULL;
    CHECK(frost_model_from_json(supernet, "supernet", &other) == FROST_OK);
    if (other) {
        CHECK(frost_checkpoint_load_weights(path, other) == FROST_OK);
        CHECK(memcmp(param_named(other, "mx.alpha")->data, hand_alpha, sizeof hand_alpha) == 0);
    }
    frost_model_free(other);
    frost_model_free(back);
    frost_model_free(m);
}

static void expect_refusal(frost_status s, const char *stage)
{
    CHECK_EQ_INT(s, FROST_ERR_UNSUPPORTED);
    const char *e = frost_last_error();
    if (!strstr(e, stage) || !strstr(e, "layer 'mx': op 'mix' belongs to a cell-search supernet") ||
        !strstr(e, "derive the cell first")) {
        fprintf(stderr, "  %s: message '%s'\n", stage, e);
        frost_test_failed_checks++;
    }
}

TEST(inference_stages_refuse_a_mix)
{
    frost_model *m = load_supernet();
    if (!m)
        return;
    frost_fp32_model *f = NULL;
    expect_refusal(frost_fp32_create(m, &f), "fp32 engine");
    CHECK(f == NULL);
    const char *onnx = frost_test_path(dir, "sn.onnx");
    expect_refusal(frost_onnx_export(m, onnx), "ONNX export");
    CHECK(access(onnx, F_OK) != 0);
    frost_model_free(m);
}

/* Quantizing puts a fake-quant after the mix; QAT steps run through it and train alpha;
 * the int8 converter refuses it. */
TEST(qat_through_a_mix_and_int8_refusal)
{
    ctx_t c = make_ctx();
    if (!c.m)
        return;
    frost_qconfig *q = NULL;
    CHECK(frost_qconfig_default(&q) == FROST_OK);
    CHECK(frost_model_quantize(c.m, q) == FROST_OK);
    frost_qconfig_free(q);
    int fq = frost_g_find(c.m, "mx.fq");
    CHECK(fq > 0 && c.m->nodes[fq].in[0] == frost_g_find(c.m, "mx"));
    const frost_node *mx = &c.m->nodes[frost_g_find(c.m, "mx")];
    CHECK(mx->alpha >= 0 && c.m->params[mx->alpha].kind == FROST_PARAM_ARCH);
    for (int i = 0; i < c.m->n_nodes; i++) /* fake-quant nodes own no alpha */
        if (c.m->nodes[i].op == FROST_OP_FAKEQUANT)
            CHECK_EQ_INT(c.m->nodes[i].alpha, -1);
    CHECK(frost_model_set_batch(c.m, BATCH) == FROST_OK);
    CHECK(frost_model_set_qmode(c.m, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(c.m, c.x, BATCH, false) == FROST_OK);
    CHECK(frost_model_set_qmode(c.m, FROST_QMODE_QAT) == FROST_OK);
    frost_optimizer_config ac = frost_optimizer_defaults(FROST_OPT_ADAM);
    ac.params = FROST_PARAMS_ARCH;
    frost_optimizer *oa = NULL;
    CHECK(frost_optimizer_create(&ac, c.m, &oa) == FROST_OK);
    float before[5];
    memcpy(before, c.m->params[mx->alpha].data, sizeof before);
    for (int step = 0; step < 3; step++) {
        forward_backward(&c);
        double g = 0;
        for (int j = 0; j < 5; j++) {
            CHECK(isfinite(c.m->params[mx->alpha].grad[j]));
            g += fabs(c.m->params[mx->alpha].grad[j]);
        }
        CHECK(g > 0);
        CHECK(frost_optimizer_step(oa, 1e-2f) == FROST_OK);
    }
    CHECK(memcmp(before, c.m->params[mx->alpha].data, sizeof before) != 0);
    frost_optimizer_free(oa);
    frost_int8_model *im = NULL;
    expect_refusal(frost_int8_from_model(c.m, &im), "int8 convert");
    CHECK(im == NULL);
    const char *path = frost_test_path(dir, "snq.safetensors");
    CHECK(frost_checkpoint_save_weights(path, c.m) == FROST_OK);
    free(c.x);
    frost_model_free(c.m);
}

/* The commands on top: an error line and a failing exit status, no crash. */
TEST(cli_refuses_a_supernet)
{
    if (!frost_test_bin())
        return;
    char args[512];
    const char *needle = "op 'mix' belongs to a cell-search supernet";
    snprintf(args, sizeof args, "bench %s --reps 1 --warmup 0",
             frost_test_path(dir, "sn.safetensors"));
    frost_test_expect_cli_error(dir, args, 0, needle, out, sizeof out);
    snprintf(args, sizeof args, "export %s --onnx %s", frost_test_path(dir, "sn.safetensors"),
             frost_test_path(dir, "cli.onnx"));
    frost_test_expect_cli_error(dir, args, 0, needle, out, sizeof out);
    snprintf(args, sizeof args, "convert %s -o %s", frost_test_path(dir, "snq.safetensors"),
             frost_test_path(dir, "cli.int8"));
    frost_test_expect_cli_error(dir, args, 0, needle, out, sizeof out);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(mix_node_has_alpha_shape_and_macs);
    RUN(inputs_of_another_shape_are_refused_with_the_layer_name);
    RUN(forward_on_hand_set_alpha);
    RUN(gradients_match_finite_differences);
    RUN(model_input_as_a_candidate);
    RUN(repeated_input_gradients_add_up);
    RUN(alpha_gradient_does_not_depend_on_threads);
    RUN(model_and_arch_optimizers_train_disjoint_sets);
    RUN(json_round_trip_with_and_without_none);
    RUN(checkpoint_keeps_alpha);
    RUN(inference_stages_refuse_a_mix);
    RUN(qat_through_a_mix_and_int8_refusal);
    RUN(cli_refuses_a_supernet);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return frost_test_summary();
}
