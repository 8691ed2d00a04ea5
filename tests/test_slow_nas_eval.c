/* NAS candidate evaluation on real data (Fashion-MNIST, a few thousand images): QAT with
 * StatAssist + GradBoost, int8 accuracy on held-out images, int8 latency. Release only
 * ("slow" label): ~15 s per candidate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "frost/nas.h"
#include "harness.h"

static bool load(frost_dataset *tr, frost_dataset *va)
{
    frost_dataset full = {0}, rest = {0};
    bool ok = frost_dataset_fashion_mnist(FROST_FASHION_MNIST_DIR, true, &full) == FROST_OK &&
              frost_dataset_split(&full, 500, 1, &rest, va) == FROST_OK &&
              frost_dataset_head(&rest, 2000, tr) == FROST_OK;
    frost_dataset_free(&full);
    frost_dataset_free(&rest);
    CHECK(ok);
    return ok;
}

/* MobileNetV2's own choices and a reduced-resolution candidate: both learn (accuracy
 * floor far above chance after 2 short epochs), report a positive latency, and the JSON
 * line names the genotype. */
TEST(test_candidates_learn_and_are_timed)
{
    frost_dataset tr = {0}, va = {0};
    if (!load(&tr, &va))
        return;
    frost_nas_space space = frost_nas_space_default();
    frost_nas_eval_config cfg = frost_nas_eval_defaults();
    cfg.epochs = 2;
    cfg.latency_reps = 5;
    const char *genotypes[] = {"r28.m310n.m360n.m360n.m360n.m360n.m360n.m360n",
                               "r20.g530n.d510s.m36-n.f56+n.m330n.d31-s.m310n"};
    double lat[2] = {0};
    for (int i = 0; i < 2; i++) {
        frost_nas_genotype g;
        CHECK(frost_nas_from_string(genotypes[i], &g) == FROST_OK);
        frost_nas_result r;
        CHECK(frost_nas_evaluate(&g, &space, &tr, &va, &cfg, &r) == FROST_OK);
        printf("  %s: int8 %.1f%%, %.3f ms, %.2fM MACs\n", genotypes[i], 100 * r.int8_acc,
               r.latency_ms, (double)r.macs / 1e6);
        CHECK(r.int8_acc > 0.35 && r.int8_acc <= 1.0);
        CHECK(r.latency_ms > 0.0 && r.params > 0 && r.macs > 0 && r.train_seconds > 0.0);
        lat[i] = r.latency_ms;
        char *json = frost_nas_result_json(&g, &r);
        CHECK(json && strstr(json, genotypes[i]) && strstr(json, "\"latency_ms\""));
        free(json);
    }
    CHECK(lat[1] < lat[0]); /* 20x20 input and narrower, shallower stages */
    /* refused: float epochs that leave no QAT epoch, data of another size */
    cfg.fp_epochs = 2;
    frost_nas_genotype g;
    frost_nas_result r;
    CHECK(frost_nas_from_string(genotypes[0], &g) == FROST_OK);
    CHECK(frost_nas_evaluate(&g, &space, &tr, &va, &cfg, &r) == FROST_ERR_ARG);
    cfg.fp_epochs = 1;
    space.input = 32;
    CHECK(frost_nas_evaluate(&g, &space, &tr, &va, &cfg, &r) == FROST_ERR_ARG);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
}

int main(void)
{
    RUN(test_candidates_learn_and_are_timed);
    return frost_test_summary();
}
