/* NAS controllers on a synthetic reward (no training): the share of decisions that match
 * a hidden target genotype. Random, evolution, REINFORCE and PPO: determinism (what
 * resuming relies on), canonical proposals, and that the learning controllers beat
 * random; PPO's clipped-surrogate gradient against finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "frost/nas.h"
#include "harness.h"
#include "nas/ppo.h"
#include "nas/search_internal.h"

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
    for (int k = FROST_NAS_RANDOM; k <= FROST_NAS_PPO; k++) {
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

/* The look-ahead the distributed search relies on: at every step, the next
 * frost_nas_controller_lookahead proposals worked out by peeking are the ones the controller
 * then makes, whatever rewards it observes in between (the synthetic ones); REINFORCE looks
 * ahead 1, PPO the rest of its batch, evolution its initial population, random without
 * limit. Peeking leaves the controller alone, and looking too far is refused. */
TEST(test_lookahead_proposals_do_not_depend_on_rewards)
{
    frost_nas_space space = frost_nas_space_default();
    for (int k = FROST_NAS_RANDOM; k <= FROST_NAS_PPO; k++) {
        frost_nas_controller_config cfg = frost_nas_controller_defaults(k);
        cfg.population = 6;
        cfg.ppo_batch = 4;
        frost_nas_controller *c = NULL;
        CHECK(frost_nas_controller_create(&cfg, &space, &c) == FROST_OK);
        int wrong = 0, ahead_sum = 0;
        for (int t = 0; c && t < 40; t++) {
            int ahead = frost_nas_controller_lookahead(c), n = ahead < 12 ? ahead : 12;
            int want = k == FROST_NAS_RL          ? 1
                       : k == FROST_NAS_PPO       ? 4 - t % 4
                       : k == FROST_NAS_EVOLUTION ? (t < 6 ? 6 - t : 1)
                                                  : ahead;
            CHECK_EQ_INT(ahead, want);
            ahead_sum += n;
            frost_nas_genotype peek[12], g;
            CHECK(frost_nas_controller_peek(c, n, peek) == FROST_OK);
            for (int i = 0; i < n; i++) { /* the proposals and rewards of a search */
                CHECK(frost_nas_propose(c, &g) == FROST_OK);
                wrong += !frost_nas_equal(&g, &peek[i]);
                CHECK(frost_nas_observe(c, synthetic_reward(&space, &g) + 0.01 * i) == FROST_OK);
            }
            t += n - 1;
        }
        CHECK_EQ_INT(wrong, 0);
        CHECK(ahead_sum >= 40);
        frost_nas_genotype g[8];
        if (k != FROST_NAS_RANDOM)
            CHECK(frost_nas_controller_peek(c, frost_nas_controller_lookahead(c) + 1, g) ==
                  FROST_ERR_ARG);
        CHECK(frost_nas_propose(c, &g[0]) == FROST_OK);
        CHECK(frost_nas_controller_peek(c, 1, g) == FROST_ERR_ARG); /* one is pending */
        frost_nas_controller_free(c);
    }
}

TEST(test_learning_controllers_beat_random)
{
    double rnd = run(FROST_NAS_RANDOM, 400, 300, 400, 3, NULL);
    double evo = run(FROST_NAS_EVOLUTION, 400, 300, 400, 3, NULL);
    frost_nas_controller *rl = NULL, *ppo = NULL;
    double pg = run(FROST_NAS_RL, 400, 300, 400, 3, &rl);
    double clipped = run(FROST_NAS_PPO, 400, 300, 400, 3, &ppo);
    printf("  mean synthetic reward, steps 300-399: random %.3f, evolution %.3f, RL %.3f, "
           "PPO %.3f\n",
           rnd, evo, pg, clipped);
    CHECK(fabs(rnd - 0.35) < 0.04); /* chance: 1/2 to 1/4 per decision, 0.35 on average */
    CHECK(evo > rnd + 0.15);
    CHECK(pg > rnd + 0.10);
    CHECK(clipped > rnd + 0.10);
    CHECK(clipped > pg); /* PPO learns at least as fast per proposal (0.93 vs 0.80 here) */
    /* the policies moved towards the target on most decisions */
    frost_nas_controller *learned[] = {rl, ppo};
    for (int k = 0; k < 2; k++) {
        int towards = 0;
        for (int d = 0; learned[k] && d < FROST_NAS_DECISIONS; d++)
            towards += frost_nas_policy_prob(learned[k], d, target[d]) > 1.0 / frost_nas_choices(d);
        CHECK(towards >= FROST_NAS_DECISIONS * 3 / 4);
        frost_nas_controller_free(learned[k]);
    }
}

/* Random logits and a batch whose ratios pi/pi_old are set to r[i] (old_logp chosen so),
 * away from the clip's kinks at 1 +- 0.2 so that central differences are smooth. */
#define PPO_BATCH 8
static const double ratio[PPO_BATCH] = {0.5, 0.5, 1.5, 1.5, 0.9, 1.1, 0.6, 1.4};
static const double adv[PPO_BATCH] = {1.0, -1.0, 1.0, -1.0, -0.7, 1.3, 2.0, 0.4};
/* the unclipped term is active (has a gradient) where min() picks r * A: */
static const bool active[PPO_BATCH] = {true, false, false, true, true, true, true, false};

static void ppo_batch(frost_nas_logits theta, int (*a)[FROST_NAS_DECISIONS], double *old_logp)
{
    frost_rng rng;
    frost_rng_seed(&rng, 7);
    memset(theta, 0, sizeof(frost_nas_logits));
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        for (int o = 0; o < frost_nas_choices(d); o++)
            theta[d][o] = frost_rng_normal(&rng);
    for (int i = 0; i < PPO_BATCH; i++) {
        for (int d = 0; d < FROST_NAS_DECISIONS; d++)
            a[i][d] = (int)frost_rng_below(&rng, (uint32_t)frost_nas_choices(d));
        old_logp[i] = frost_nas_ppo_log_prob(theta, a[i]) - log(ratio[i]);
    }
}

/* Largest |analytic - central difference| over every logit, relative to the gradient's size. */
static double gradient_error(frost_nas_logits theta, const int (*a)[FROST_NAS_DECISIONS],
                             const double *old_logp, const double *adv_of, int n, double entropy,
                             double *grad_size)
{
    frost_nas_logits grad;
    frost_nas_ppo_objective(theta, a, old_logp, adv_of, n, 0.2, entropy, grad);
    double worst = 0, size = 0, h = 1e-6;
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        for (int o = 0; o < frost_nas_choices(d); o++) {
            double keep = theta[d][o];
            theta[d][o] = keep + h;
            double up = frost_nas_ppo_objective(theta, a, old_logp, adv_of, n, 0.2, entropy, NULL);
            theta[d][o] = keep - h;
            double down =
                frost_nas_ppo_objective(theta, a, old_logp, adv_of, n, 0.2, entropy, NULL);
            theta[d][o] = keep;
            double fd = (up - down) / (2 * h);
            worst = fmax(worst, fabs(fd - grad[d][o]));
            size = fmax(size, fabs(grad[d][o]));
        }
    *grad_size = size;
    return worst;
}

TEST(test_ppo_gradient_matches_finite_differences)
{
    frost_nas_logits theta;
    int a[PPO_BATCH][FROST_NAS_DECISIONS];
    double old_logp[PPO_BATCH], size;
    ppo_batch(theta, a, old_logp);
    /* the value: the mean over the batch of min(r A, clip(r) A) */
    double want = 0;
    for (int i = 0; i < PPO_BATCH; i++) {
        double r = ratio[i], c = r < 0.8 ? 0.8 : r > 1.2 ? 1.2 : r;
        want += fmin(r * adv[i], c * adv[i]);
    }
    CHECK_NEAR(frost_nas_ppo_objective(theta, (const int(*)[FROST_NAS_DECISIONS])a, old_logp, adv,
                                       PPO_BATCH, 0.2, 0.0, NULL),
               want / PPO_BATCH, 1e-9, 0);
    /* the whole batch, with and without the entropy bonus */
    for (int e = 0; e < 2; e++) {
        double err = gradient_error(theta, (const int(*)[FROST_NAS_DECISIONS])a, old_logp, adv,
                                    PPO_BATCH, e ? 0.01 : 0.0, &size);
        CHECK(size > 0.01);
        CHECK(err < 1e-6 * fmax(1.0, size));
    }
    /* one sample at a time: a gradient exactly where the unclipped term is active, and
     * none at all (not merely a small one) where the clip holds the term constant */
    for (int i = 0; i < PPO_BATCH; i++) {
        double err = gradient_error(theta, (const int(*)[FROST_NAS_DECISIONS])a + i, old_logp + i,
                                    adv + i, 1, 0.0, &size);
        CHECK(err < 1e-6 * fmax(1.0, size));
        if (active[i])
            CHECK(size > 0.05);
        else
            CHECK(size == 0.0);
    }
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
    CHECK_EQ_INT(frost_nas_controller_from_name("ppo"), FROST_NAS_PPO);
    CHECK_EQ_INT(frost_nas_controller_from_name("lstm"), -1);
    cfg = frost_nas_controller_defaults(FROST_NAS_PPO);
    cfg.ppo_clip = 1.5;
    CHECK(frost_nas_controller_create(&cfg, &space, &c) == FROST_ERR_ARG && c == NULL);
}

int main(void)
{
    RUN(test_same_seed_same_proposals);
    RUN(test_lookahead_proposals_do_not_depend_on_rewards);
    RUN(test_learning_controllers_beat_random);
    RUN(test_ppo_gradient_matches_finite_differences);
    RUN(test_misuse_refused);
    return frost_test_summary();
}
