/* Candidate evaluation on a tiny real run (Fashion-MNIST, 600 training images, 2 epochs,
 * width 0.25, 20x20, 1 thread; a few seconds per candidate), W8A8, W4A4 and per-tensor:
 * the int8 model converted from the QAT network (below 8 bits stored in int8 containers)
 * scores what the fake-quant network scores on the same held-out images, and the float
 * accuracy of the trained network (fake-quant bypassed) is measured on them too, within
 * a few points of the int8 one at W8A8. The proxy's settings at full size are exercised
 * by test_slow_nas_eval. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "frost/nas.h"
#include "harness.h"

#define GENOTYPE "r20.m310n.m360n.m360n.m360n.m360n.m360n.m360n"

static frost_dataset train_set, val_set;

static bool load(void)
{
    frost_dataset full = {0}, rest = {0};
    bool ok = frost_dataset_fashion_mnist(NULL, true, &full) == FROST_OK &&
              frost_dataset_split(&full, 300, 1, &rest, &val_set) == FROST_OK &&
              frost_dataset_head(&rest, 600, &train_set) == FROST_OK;
    frost_dataset_free(&full);
    frost_dataset_free(&rest);
    CHECK(ok);
    return ok;
}

/* Settings that learn something in 2 short epochs (batch 16: ~75 steps). */
static frost_nas_eval_config tiny_config(int wbits, int abits, bool per_tensor)
{
    frost_nas_eval_config c = frost_nas_eval_defaults();
    c.epochs = 2;
    c.batch = 16;
    c.train_threads = 1;
    c.latency_reps = 1;
    c.weight_bits = wbits;
    c.act_bits = abits;
    c.per_tensor = per_tensor;
    return c;
}

/* Trains GENOTYPE with the scheme; returns the result and the trained network's own
 * accuracies on the same held-out images: fake-quant (ranges fixed) and float. */
static void evaluate(const frost_nas_eval_config *cfg, frost_nas_result *r, double *fq_acc,
                     double *float_acc)
{
    frost_nas_space space = frost_nas_space_default();
    space.width = 0.25f;
    frost_nas_genotype g;
    frost_model *m = NULL;
    frost_dataset va = {0};
    CHECK(frost_nas_from_string(GENOTYPE, &g) == FROST_OK);
    CHECK(frost_nas_build(&g, &space, &m) == FROST_OK);
    CHECK(frost_nas_evaluate_model(m, &train_set, &val_set, cfg, r) == FROST_OK);
    CHECK(frost_dataset_resize(&val_set, 20, 20, &va) == FROST_OK);
    frost_augment norm = frost_train_defaults().augment;
    float acc = -1.0f, facc = -1.0f;
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
    CHECK(frost_evaluate(m, &va, &norm, 64, &acc, NULL) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FLOAT) == FROST_OK);
    CHECK(frost_evaluate(m, &va, &norm, 64, &facc, NULL) == FROST_OK);
    *fq_acc = acc;
    *float_acc = facc;
    frost_dataset_free(&va);
    frost_model_free(m);
}

TEST(test_int8_and_float_accuracy_of_each_scheme)
{
    static const struct {
        int wbits, abits;
        bool per_tensor;
    } schemes[] = {{8, 8, false}, {4, 4, false}, {8, 8, true}};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        frost_nas_eval_config cfg =
            tiny_config(schemes[i].wbits, schemes[i].abits, schemes[i].per_tensor);
        frost_nas_result r;
        double fq = -1, fl = -1;
        evaluate(&cfg, &r, &fq, &fl);
        printf("  W%dA%d%s: int8 %.1f%%, fake-quant %.1f%%, float %.1f%%\n", cfg.weight_bits,
               cfg.act_bits, cfg.per_tensor ? " per-tensor" : "", 100 * r.int8_acc, 100 * fq,
               100 * r.fp32_acc);
        CHECK(r.fp32_acc > 0.2 && r.fp32_acc <= 1.0);
        CHECK_NEAR(r.fp32_acc, fl, 1e-6, 0);          /* the float mode of the trained network */
        CHECK(r.int8_acc > 0.2 && r.int8_acc <= 1.0); /* it learned: chance is 0.1 */
        /* rounding: a few of 300 images; one 4-bit step is a fifteenth of the range, so an
         * integer-vs-float rounding difference flips more borderline images there (9 of 300
         * measured on this barely trained network, 1 at 8 bits) */
        CHECK_NEAR(r.int8_acc, fq, schemes[i].abits < 8 ? 0.04 : 0.02, 0);
        if (i == 0) /* W8A8 per-channel quantizes nearly losslessly (0.3 points measured) */
            CHECK_NEAR(r.int8_acc, r.fp32_acc, 0.05, 0);
    }
    /* bits outside 2..8 are refused before anything is trained */
    frost_nas_eval_config bad = tiny_config(1, 8, false);
    frost_nas_space space = frost_nas_space_default();
    frost_nas_genotype g;
    frost_nas_result r;
    CHECK(frost_nas_from_string(GENOTYPE, &g) == FROST_OK);
    CHECK(frost_nas_evaluate(&g, &space, &train_set, &val_set, &bad, &r) == FROST_ERR_ARG);
    bad = tiny_config(8, 9, false);
    CHECK(frost_nas_evaluate(&g, &space, &train_set, &val_set, &bad, &r) == FROST_ERR_ARG);
}

int main(void)
{
    frost_set_threads(1); /* the evaluations too: on a loaded machine idle threads spin */
    if (load())
        RUN(test_int8_and_float_accuracy_of_each_scheme);
    frost_dataset_free(&train_set);
    frost_dataset_free(&val_set);
    return frost_test_summary();
}
