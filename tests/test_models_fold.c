/* BN folding for FP32 inference: the folded model computes what the original computes in
 * eval mode (to float rounding), with no BN layer left behind a conv. */
#include <stdlib.h>

#include "core/rng.h"
#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"

static void check_fold(const char *name, const char *act)
{
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = 0.35f;
    o.input = 28;
    o.in_channels = 1;
    o.classes = 10;
    o.act = act;
    frost_model *m = NULL, *f = NULL;
    CHECK(frost_model_builtin(name, &o, &m) == FROST_OK);
    frost_model_init_weights(m, 3);
    frost_rng r;
    frost_rng_seed(&r, 4);
    for (int i = 0; i < m->n_nodes; i++) /* BN statistics that matter */
        if (m->nodes[i].op == FROST_OP_BN)
            for (int c = 0; c < m->nodes[i].c; c++) {
                m->params[m->nodes[i].gamma].data[c] = 0.5f + frost_rng_uniform(&r);
                m->params[m->nodes[i].beta].data[c] = frost_rng_uniform(&r) - 0.5f;
                m->buffers[m->nodes[i].running_mean].data[c] = frost_rng_uniform(&r) - 0.5f;
                m->buffers[m->nodes[i].running_var].data[c] = 0.5f + frost_rng_uniform(&r);
            }
    CHECK(frost_model_fold_bn(m, &f) == FROST_OK);
    int bns = 0;
    for (int i = 0; f && i < f->n_nodes; i++)
        bns += f->nodes[i].op == FROST_OP_BN && f->nodes[f->nodes[i].in[0]].op == FROST_OP_CONV;
    CHECK_EQ_INT(bns, 0);
    enum { N = 4 };
    float *x = malloc(sizeof(float) * N * 784);
    for (int i = 0; i < N * 784; i++)
        x[i] = frost_rng_uniform(&r) * 2 - 1;
    CHECK(frost_model_set_batch(m, N) == FROST_OK);
    CHECK(f && frost_model_set_batch(f, N) == FROST_OK);
    CHECK(frost_model_forward(m, x, N, false) == FROST_OK);
    CHECK(f && frost_model_forward(f, x, N, false) == FROST_OK);
    for (int i = 0; f && i < N * 10; i++)
        CHECK_NEAR(frost_model_logits(f)[i], frost_model_logits(m)[i], 1e-4, 1e-3);
    frost_model_free(f);
    frost_model_free(m);
    free(x);
}

TEST(test_fold_frostnet) { check_fold("frostnet_s", NULL); }
TEST(test_fold_mobilenetv2) { check_fold("mobilenetv2", "relu6"); }

int main(void)
{
    RUN(test_fold_frostnet);
    RUN(test_fold_mobilenetv2);
    return frost_test_summary();
}
