/*
 * Search controllers (frost/nas.h): random, regularized evolution and REINFORCE. They
 * work on the decision indices (frost_nas_to/from_indices) and hand out canonical
 * genotypes.
 *
 * RL, the choice documented: MnasNet trains an LSTM with PPO over its 42 decision tokens;
 * frost uses independent per-decision softmax policies (one logit vector per decision)
 * trained with REINFORCE. With a few hundred samples an LSTM has too many parameters to
 * learn anything a per-decision policy could not, and the factorized policy is what the
 * search space itself assumes. Update after each reward R: advantage A = (R - b) / s with
 * b an exponential moving average of R (decay 0.95) and s one of |R - b| (so the step
 * does not depend on the reward's scale); for each decision d with sampled option a,
 * theta[d] += lr * (A * (onehot(a) - p[d]) + entropy * dH/dtheta[d]), the entropy bonus
 * keeping the policy from collapsing early.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/util.h"
#include "frost/nas.h"

#define MAX_OPTIONS 4

typedef struct {
    int index[FROST_NAS_DECISIONS];
    double reward;
} member;

struct frost_nas_controller {
    frost_nas_controller_config cfg;
    frost_nas_space space;
    frost_rng rng;
    int last[FROST_NAS_DECISIONS]; /* indices of the last proposal */
    bool pending;                  /* proposed, not yet observed */
    int64_t observed;
    /* evolution: a ring of the living population, oldest first */
    member *pop;
    int pop_n, pop_head;
    /* RL */
    double theta[FROST_NAS_DECISIONS][MAX_OPTIONS];
    double baseline, scale;
};

static const char *const names[] = {"random", "evolution", "rl"};

frost_nas_controller_config frost_nas_controller_defaults(frost_nas_controller_kind kind)
{
    return (frost_nas_controller_config){.kind = kind,
                                         .seed = 1,
                                         .population = 20,
                                         .tournament = 5,
                                         .lr = 0.1,
                                         .entropy = 0.001,
                                         .baseline_decay = 0.95};
}

int frost_nas_controller_from_name(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *frost_nas_controller_name(frost_nas_controller_kind kind)
{
    return kind >= 0 && kind <= FROST_NAS_RL ? names[kind] : "?";
}

frost_status frost_nas_controller_create(const frost_nas_controller_config *cfg,
                                         const frost_nas_space *space, frost_nas_controller **out)
{
    *out = NULL;
    if (cfg->kind < FROST_NAS_RANDOM || cfg->kind > FROST_NAS_RL || cfg->population < 2 ||
        cfg->tournament < 1 || cfg->tournament > cfg->population || !(cfg->lr > 0) ||
        cfg->entropy < 0 || !(cfg->baseline_decay >= 0 && cfg->baseline_decay < 1))
        return frost_fail(FROST_ERR_ARG,
                          "nas controller: bad settings (population %d, "
                          "tournament %d, lr %g, entropy %g, baseline decay %g)",
                          cfg->population, cfg->tournament, cfg->lr, cfg->entropy,
                          cfg->baseline_decay);
    frost_nas_controller *c = calloc(1, sizeof *c);
    if (c && cfg->kind == FROST_NAS_EVOLUTION)
        c->pop = calloc((size_t)cfg->population, sizeof *c->pop);
    if (!c || (cfg->kind == FROST_NAS_EVOLUTION && !c->pop)) {
        free(c);
        return frost_fail(FROST_ERR_NOMEM, "nas controller: out of memory");
    }
    c->cfg = *cfg;
    c->space = *space;
    frost_rng_seed(&c->rng, cfg->seed);
    *out = c;
    return FROST_OK;
}

void frost_nas_controller_free(frost_nas_controller *c)
{
    if (!c)
        return;
    free(c->pop);
    free(c);
}

static void random_indices(frost_nas_controller *c, int *index)
{
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        index[d] = (int)frost_rng_below(&c->rng, (uint32_t)frost_nas_choices(d));
}

/* ---- evolution ---- */

static const member *oldest_first(const frost_nas_controller *c, int i)
{
    return &c->pop[(c->pop_head + i) % c->cfg.population];
}

static void evolve(frost_nas_controller *c, int *index)
{
    if (c->pop_n < c->cfg.population) { /* the initial population is random */
        random_indices(c, index);
        return;
    }
    const member *best = NULL;
    for (int t = 0; t < c->cfg.tournament; t++) { /* sample with replacement, keep the best */
        const member *m = oldest_first(c, (int)frost_rng_below(&c->rng, (uint32_t)c->pop_n));
        if (!best || m->reward > best->reward)
            best = m;
    }
    memcpy(index, best->index, sizeof best->index);
    int d = (int)frost_rng_below(&c->rng, FROST_NAS_DECISIONS); /* one decision changes */
    int n = frost_nas_choices(d);
    index[d] = (index[d] + 1 + (int)frost_rng_below(&c->rng, (uint32_t)(n - 1))) % n;
}

static void remember(frost_nas_controller *c, double reward)
{
    member m;
    memcpy(m.index, c->last, sizeof m.index);
    m.reward = reward;
    if (c->pop_n < c->cfg.population) {
        c->pop[(c->pop_head + c->pop_n++) % c->cfg.population] = m;
    } else { /* the oldest dies */
        c->pop[c->pop_head] = m;
        c->pop_head = (c->pop_head + 1) % c->cfg.population;
    }
}

/* ---- REINFORCE ---- */

static void softmax(const double *theta, int n, double *p)
{
    double mx = theta[0], sum = 0;
    for (int o = 1; o < n; o++)
        mx = theta[o] > mx ? theta[o] : mx;
    for (int o = 0; o < n; o++)
        sum += p[o] = exp(theta[o] - mx);
    for (int o = 0; o < n; o++)
        p[o] /= sum;
}

static void sample_policy(frost_nas_controller *c, int *index)
{
    for (int d = 0; d < FROST_NAS_DECISIONS; d++) {
        int n = frost_nas_choices(d);
        double p[MAX_OPTIONS], u = (double)frost_rng_uniform(&c->rng), acc = 0;
        softmax(c->theta[d], n, p);
        index[d] = n - 1;
        for (int o = 0; o < n; o++)
            if (u < (acc += p[o])) {
                index[d] = o;
                break;
            }
    }
}

static void reinforce(frost_nas_controller *c, double reward)
{
    if (c->observed == 0) {
        c->baseline = reward;
        c->scale = 0;
    }
    double dev = reward - c->baseline, k = c->cfg.baseline_decay;
    c->scale = c->observed == 0 ? 0 : k * c->scale + (1 - k) * fabs(dev);
    double adv = c->scale > 1e-9 ? dev / c->scale : 0.0;
    for (int d = 0; d < FROST_NAS_DECISIONS; d++) {
        int n = frost_nas_choices(d);
        double p[MAX_OPTIONS], h = 0;
        softmax(c->theta[d], n, p);
        for (int o = 0; o < n; o++)
            h -= p[o] * log(p[o]);
        for (int o = 0; o < n; o++) {
            double grad_logp = (o == c->last[d]) - p[o];
            double grad_h = -p[o] * (log(p[o]) + h);
            c->theta[d][o] += c->cfg.lr * (adv * grad_logp + c->cfg.entropy * grad_h);
        }
    }
    c->baseline = k * c->baseline + (1 - k) * reward;
}

double frost_nas_policy_prob(const frost_nas_controller *c, int decision, int option)
{
    if (c->cfg.kind != FROST_NAS_RL || decision < 0 || decision >= FROST_NAS_DECISIONS ||
        option < 0 || option >= frost_nas_choices(decision))
        return -1.0;
    double p[MAX_OPTIONS];
    softmax(c->theta[decision], frost_nas_choices(decision), p);
    return p[option];
}

/* ---- the interface ---- */

frost_status frost_nas_propose(frost_nas_controller *c, frost_nas_genotype *g)
{
    if (c->pending)
        return frost_fail(FROST_ERR_ARG, "nas controller: the last proposal has no reward yet");
    if (c->cfg.kind == FROST_NAS_EVOLUTION)
        evolve(c, c->last);
    else if (c->cfg.kind == FROST_NAS_RL)
        sample_policy(c, c->last);
    else
        random_indices(c, c->last);
    FROST_TRY(frost_nas_from_indices(c->last, &c->space, g));
    frost_nas_canonical(g);
    c->pending = true;
    return FROST_OK;
}

frost_status frost_nas_observe(frost_nas_controller *c, double reward)
{
    if (!c->pending)
        return frost_fail(FROST_ERR_ARG, "nas controller: a reward without a proposal");
    if (!isfinite(reward))
        return frost_fail(FROST_ERR_ARG, "nas controller: the reward is not finite");
    if (c->cfg.kind == FROST_NAS_EVOLUTION)
        remember(c, reward);
    else if (c->cfg.kind == FROST_NAS_RL)
        reinforce(c, reward);
    c->pending = false;
    c->observed++;
    return FROST_OK;
}
