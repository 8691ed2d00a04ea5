/* NAS controllers on a synthetic reward (no training): the share of decisions that match
 * a hidden target genotype. Random, evolution and REINFORCE: determinism (what resuming
 * relies on), canonical proposals, and that the two learning controllers beat random. */
#include <math.h>
#include <stdlib.h>

#include "frost/nas.h"
#include "harness.h"

static const int target[FROST_NAS_DECISIONS] = {2, 1, 0, 2, 1, 1, 0, 1, 2, 1, 2, 3,
                                                1, 0, 1, 0, 2, 0, 2, 2, 1, 1, 2, 2,
                                                0, 2, 0, 1, 0, 1, 2, 1, 1, 0, 2, 0};

static double synthetic_reward(const frost_nas_space *s, const frost_nas_genotype *g)
{
    int idx[FROST_NAS_DECISIONS], hits = 0;
    frost_nas_to_indices(g, s, idx);
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        hits += idx[d] == target[d];
    return (double)hits / FROST_NAS_DECISIONS;
}

/* Mean reward of steps [from, to) of a run of `steps`. */
static double run(frost_nas_controller_kind kind, int steps, int from, int to, uint64_t seed,
                  frost_nas_controller **keep)
{
    frost_nas_space space = frost_nas_space_default();
    frost_nas_controller_config cfg = frost_nas_controller_defaults(kind);
    cfg.seed = seed;
    frost_nas_controller *c = NULL;
    CHECK(frost_nas_controller_create(&cfg, &space, &c) == FROST_OK);
    double sum = 0;
    for (int t = 0; c && t < steps; t++) {
        frost_nas_genotype g, copy;
        CHECK(frost_nas_propose(c, &g) == FROST_OK);
        copy = g;
        CHECK(!frost_nas_canonical(&copy));
        double r = synthetic_reward(&space, &g);
        if (t >= from && t < to)
            sum += r;
        CHECK(frost_nas_observe(c, r) == FROST_OK);
    }
    if (keep)
        *keep = c;
    else
        frost_nas_controller_free(c);
    return sum / (to - from);
}

TEST(test_same_seed_same_proposals)
{
    frost_nas_space space = frost_nas_space_default();
    for (int k = FROST_NAS_RANDOM; k <= FROST_NAS_RL; k++) {
        frost_nas_controller_config cfg = frost_nas_controller_defaults(k);
        frost_nas_controller *a = NULL, *b = NULL;
        CHECK(frost_nas_controller_create(&cfg, &space, &a) == FROST_OK);
        CHECK(frost_nas_controller_create(&cfg, &space, &b) == FROST_OK);
        int differ = 0;
        for (int t = 0; a && b && t < 60; t++) {
            frost_nas_genotype ga, gb;
            CHECK(frost_nas_propose(a, &ga) == FROST_OK);
            CHECK(frost_nas_propose(b, &gb) == FROST_OK);
            differ += !frost_nas_equal(&ga, &gb);
            double r = synthetic_reward(&space, &ga);
            CHECK(frost_nas_observe(a, r) == FROST_OK);
            CHECK(frost_nas_observe(b, r) == FROST_OK);
        }
        CHECK_EQ_INT(differ, 0);
        frost_nas_controller_free(a);
        frost_nas_controller_free(b);
    }
}

TEST(test_learning_controllers_beat_random)
{
    double rnd = run(FROST_NAS_RANDOM, 400, 300, 400, 3, NULL);
    double evo = run(FROST_NAS_EVOLUTION, 400, 300, 400, 3, NULL);
    frost_nas_controller *rl = NULL;
    double pg = run(FROST_NAS_RL, 400, 300, 400, 3, &rl);
    printf("  mean synthetic reward, steps 300-399: random %.3f, evolution %.3f, RL %.3f\n", rnd,
           evo, pg);
    CHECK(fabs(rnd - 0.35) < 0.04); /* chance: 1/2 to 1/4 per decision, 0.35 on average */
    CHECK(evo > rnd + 0.15);
    CHECK(pg > rnd + 0.10);
    /* the policy moved towards the target on most decisions */
    int towards = 0;
    for (int d = 0; rl && d < FROST_NAS_DECISIONS; d++)
        towards += frost_nas_policy_prob(rl, d, target[d]) > 1.0 / frost_nas_choices(d);
    CHECK(towards >= FROST_NAS_DECISIONS * 3 / 4);
    frost_nas_controller_free(rl);
}

TEST(test_misuse_refused)
{
    frost_nas_space space = frost_nas_space_default();
    frost_nas_controller_config cfg = frost_nas_controller_defaults(FROST_NAS_EVOLUTION);
    frost_nas_controller *c = NULL;
    CHECK(frost_nas_controller_create(&cfg, &space, &c) == FROST_OK);
    frost_nas_genotype g;
    CHECK(c && frost_nas_observe(c, 0.5) == FROST_ERR_ARG);
    CHECK(c && frost_nas_propose(c, &g) == FROST_OK);
    CHECK(c && frost_nas_propose(c, &g) == FROST_ERR_ARG);
    CHECK(c && frost_nas_observe(c, NAN) == FROST_ERR_ARG);
    CHECK(frost_nas_policy_prob(c, 0, 0) < 0); /* not an RL controller */
    frost_nas_controller_free(c);
    cfg.tournament = 50;
    CHECK(frost_nas_controller_create(&cfg, &space, &c) == FROST_ERR_ARG && c == NULL);
    CHECK_EQ_INT(frost_nas_controller_from_name("evolution"), FROST_NAS_EVOLUTION);
    CHECK_EQ_INT(frost_nas_controller_from_name("ppo"), -1);
}

int main(void)
{
    RUN(test_same_seed_same_proposals);
    RUN(test_learning_controllers_beat_random);
    RUN(test_misuse_refused);
    return frost_test_summary();
}
