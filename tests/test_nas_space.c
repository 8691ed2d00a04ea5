/* The NAS search space (frost/nas.h): the reward's worked values, canonical genotypes and
 * their text / JSON / index forms, and sampled genotypes building networks that run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "frost/nas.h"
#include "harness.h"

/* docs/nas.md#reward: ACC 0.75, T = 75 ms; (0.76, 150 ms). */
TEST(test_reward_worked_values)
{
    frost_nas_reward soft = frost_nas_reward_soft(75.0), hard = frost_nas_reward_hard(75.0);
    CHECK_NEAR(frost_nas_reward_value(&soft, 0.75, 80.0), 0.746619, 5e-7, 0);
    CHECK_NEAR(frost_nas_reward_value(&hard, 0.75, 80.0), 0.703125, 5e-7, 0);
    CHECK_NEAR(frost_nas_reward_value(&soft, 0.75, 70.0), 0.753631, 5e-7, 0);
    CHECK_NEAR(frost_nas_reward_value(&hard, 0.75, 70.0), 0.75, 5e-7, 0);
    CHECK_NEAR(frost_nas_reward_value(&soft, 0.76, 150.0), 0.724005, 5e-7, 0);
    CHECK_NEAR(frost_nas_reward_value(&hard, 0.76, 150.0), 0.38, 5e-7, 0);
}

static frost_nas_genotype plain(void)
{
    frost_nas_genotype g = {.resolution = 28};
    for (int i = 0; i < FROST_NAS_STAGES; i++)
        g.stage[i] = (frost_nas_stage){FROST_NAS_MBCONV, 3, 6, 0, 100};
    return g;
}

TEST(test_canonical_repairs)
{
    frost_nas_genotype g = plain();
    CHECK(!frost_nas_canonical(&g));    /* MobileNetV2's own choices are canonical */
    g.stage[1].block = FROST_NAS_DWSEP; /* a depthwise-separable block has no expansion */
    g.stage[2].block = FROST_NAS_FROST_R4;
    g.stage[2].expand = 1;  /* no SC, no expansion: an MBConv e1 */
    g.stage[0].layers = -1; /* the one-layer stages keep their layer */
    g.stage[6].layers = -1;
    g.stage[3].layers = -1; /* four layers may lose one */
    CHECK(frost_nas_canonical(&g));
    CHECK_EQ_INT(g.stage[1].expand, 1);
    CHECK_EQ_INT(g.stage[2].block, FROST_NAS_MBCONV);
    CHECK_EQ_INT(g.stage[0].layers, 0);
    CHECK_EQ_INT(g.stage[6].layers, 0);
    CHECK_EQ_INT(g.stage[3].layers, -1);
    CHECK(!frost_nas_canonical(&g));
}

/* Every sampled genotype: canonical, inside the space, and identical after a trip
 * through its indices, its text and its JSON; equal text <=> equal hash and JSON. */
TEST(test_forms_round_trip)
{
    frost_nas_space space = frost_nas_space_default();
    uint64_t rng = 42;
    for (int t = 0; t < 500; t++) {
        frost_nas_genotype g, back;
        frost_nas_sample(&space, &rng, &g);
        CHECK(frost_nas_check(&g, &space) == FROST_OK);
        frost_nas_genotype c = g;
        CHECK(!frost_nas_canonical(&c));
        int idx[FROST_NAS_DECISIONS];
        CHECK(frost_nas_to_indices(&g, &space, idx) == FROST_OK);
        CHECK(frost_nas_from_indices(idx, &space, &back) == FROST_OK);
        CHECK(frost_nas_equal(&g, &back));
        char text[128];
        frost_nas_to_string(&g, text, sizeof text);
        CHECK(frost_nas_from_string(text, &back) == FROST_OK && frost_nas_equal(&g, &back));
        char *json = frost_nas_to_json(&g);
        CHECK(json && frost_nas_from_json(json, &back) == FROST_OK && frost_nas_equal(&g, &back));
        free(json);
    }
    frost_nas_genotype a = plain(), b = plain();
    CHECK(frost_nas_hash(&a) == frost_nas_hash(&b));
    b.stage[4].kernel = 5;
    CHECK(frost_nas_hash(&a) != frost_nas_hash(&b));
    CHECK_EQ_INT(frost_nas_resolution(&space, 0), 20);
    CHECK_EQ_INT(frost_nas_resolution(&space, 1), 24);
    CHECK_EQ_INT(frost_nas_resolution(&space, 2), 28);
}

/* Distinct canonical genotypes build distinct architecture JSON; the same genotype
 * always the same. Every network builds and runs forward at its resolution. */
TEST(test_genotypes_build_distinct_networks_that_run)
{
    enum { N = 40 };
    frost_nas_space space = frost_nas_space_default();
    uint64_t rng = 7;
    char *arch[N];
    frost_nas_genotype g[N];
    for (int t = 0; t < N; t++) {
        frost_nas_sample(&space, &rng, &g[t]);
        frost_model *m = NULL, *again = NULL;
        arch[t] = NULL;
        CHECK(frost_nas_build(&g[t], &space, &m) == FROST_OK);
        CHECK(frost_nas_build(&g[t], &space, &again) == FROST_OK);
        if (!m || !again) {
            frost_model_free(m);
            frost_model_free(again);
            continue;
        }
        arch[t] = frost_model_to_json(m);
        char *arch2 = frost_model_to_json(again);
        CHECK(arch[t] && arch2 && strcmp(arch[t], arch2) == 0);
        free(arch2);
        int h, w, c;
        frost_model_input_shape(m, &h, &w, &c);
        CHECK_EQ_INT(h, g[t].resolution);
        CHECK_EQ_INT(c, 1);
        float *x = calloc((size_t)2 * h * w, sizeof(float));
        for (int i = 0; i < 2 * h * w; i++)
            x[i] = (float)((i * 37) % 19) / 19.0f - 0.4f;
        CHECK(frost_model_set_batch(m, 2) == FROST_OK);
        CHECK(frost_model_forward(m, x, 2, true) == FROST_OK);
        const float *l = frost_model_logits(m);
        for (int i = 0; i < 20; i++)
            CHECK(isfinite(l[i]));
        free(x);
        frost_model_free(m);
        frost_model_free(again);
    }
    for (int a = 0; a < N; a++)
        for (int b = a + 1; b < N; b++)
            if (arch[a] && arch[b] && !frost_nas_equal(&g[a], &g[b]))
                CHECK(strcmp(arch[a], arch[b]) != 0);
    for (int t = 0; t < N; t++)
        free(arch[t]);
}

TEST(test_bad_genotypes_refused)
{
    frost_nas_space space = frost_nas_space_default();
    frost_nas_genotype g;
    const char *bad_text[] = {"",
                              "x28",
                              "r28",
                              "r28.m36+w",
                              "r28.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w.x36+w",
                              "r28.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w.m46+w",
                              "r28.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w.extra"};
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++)
        CHECK(frost_nas_from_string(bad_text[i], &g) != FROST_OK);
    CHECK(frost_nas_from_string("r28.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w", &g) == FROST_OK);
    g.resolution = 27;
    CHECK(frost_nas_check(&g, &space) != FROST_OK);
    frost_model *m = NULL;
    CHECK(frost_nas_build(&g, &space, &m) != FROST_OK && m == NULL);
    g.resolution = 28;
    g.stage[3].width = 90;
    CHECK(frost_nas_check(&g, &space) != FROST_OK);
    CHECK(frost_nas_from_json("{\"resolution\":28,\"stages\":[]}", &g) != FROST_OK);
    CHECK(frost_nas_from_json("not json", &g) != FROST_OK);
    CHECK(frost_nas_from_json("{\"resolution\":28.5,\"stages\":[]}", &g) != FROST_OK);
    CHECK(frost_nas_from_json("{\"resolution\":28,\"stages\":[],\"res\":1}", &g) != FROST_OK &&
          strstr(frost_last_error(), "unknown field 'res'"));
    /* found by fuzz/fuzz_nas_genotype: well-formed genotypes with a value outside the space
     * (a kernel of 1 in JSON, a resolution the space does not offer) used to parse */
    CHECK(frost_nas_from_string("r28.m56+w.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w", &g) == FROST_OK);
    char *json = frost_nas_to_json(&g);
    char *kernel = json ? strstr(json, "\"kernel\":5") : NULL;
    char *res = json ? strstr(json, "\"resolution\":28") : NULL;
    CHECK(kernel != NULL && res != NULL);
    if (kernel && res) {
        kernel[9] = '1';
        CHECK(frost_nas_from_json(json, &g) != FROST_OK);
        CHECK(strstr(frost_last_error(), "outside the space") != NULL);
        kernel[9] = '5';
        CHECK(frost_nas_from_json(json, &g) == FROST_OK);
        res[14] = '6'; /* 26 */
        CHECK(frost_nas_from_json(json, &g) != FROST_OK);
        CHECK(strstr(frost_last_error(), "resolution 26") != NULL);
    }
    free(json);
    CHECK(frost_nas_from_string("r27.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w.m36+w", &g) != FROST_OK);
    CHECK(strstr(frost_last_error(), "resolution 27") != NULL);
    int idx[FROST_NAS_DECISIONS] = {0};
    idx[3] = 7; /* s1.expand has three options */
    CHECK(frost_nas_from_indices(idx, &space, &g) != FROST_OK);
    CHECK(strcmp(frost_nas_decision_name(3), "s1.expand") == 0);
    CHECK_EQ_INT(frost_nas_choices(1), FROST_NAS_BLOCK_COUNT);
}

int main(void)
{
    RUN(test_reward_worked_values);
    RUN(test_canonical_repairs);
    RUN(test_forms_round_trip);
    RUN(test_genotypes_build_distinct_networks_that_run);
    RUN(test_bad_genotypes_refused);
    return frost_test_summary();
}
