/*
 * Search controllers (frost/nas.h): random, regularized evolution, REINFORCE and PPO. They
 * work on the decision indices (frost_nas_to/from_indices) and hand out canonical
 * genotypes. The option count of each decision comes from the space (the block has a fifth
 * option, the cell, in a space with cells); the policy's logit table is sized for the
 * largest, and a space without cells never touches the fifth column.
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
 *
 * PPO (Schulman et al. 2017, arXiv:1707.06347), MnasNet's choice, over the same policy:
 * ppo_batch proposals are drawn from the policy as it stands (pi_old, their log-probability
 * kept); their advantages are the rewards normalized over the batch, A = (R - mean) / std
 * (as common PPO implementations do; the moving baseline and scale above, tried first, give
 * the first batches advantages up to 1 / (1 - decay) = 20 while the scale warms up, and one
 * step then all but fixes the policy); then
 * ppo_epochs full-batch steps theta += lr * grad of the clipped surrogate
 * (1/B) sum_i min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i) + entropy * sum_d H(p_d),
 * r_i = pi(a_i) / pi_old(a_i) (in log space, the product over decisions). The gradient of
 * sample i is r_i A_i (onehot(a_id) - p_d) while its unclipped term is the smaller one, 0
 * once the clip holds it (frost_nas_ppo_objective, checked against finite differences).
 * Defaults lr 2.0 (the step is on the batch mean), batch 10, 4 epochs, eps 0.2: on the
 * synthetic reward of tests/test_nas_controller.c that learns faster per proposal than
 * REINFORCE (docs/nas.md has the numbers).
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/util.h"
#include "frost/nas.h"
#include "nas/ppo.h"
#include "nas/search_internal.h"

#define MAX_OPTIONS FROST_NAS_MAX_OPTIONS

typedef struct {
    int index[FROST_NAS_DECISIONS];
    double reward;
} member;

struct frost_nas_controller {
    frost_nas_controller_config cfg;
    frost_nas_space space;
    int choices[FROST_NAS_DECISIONS]; /* options per decision in this space (5 blocks with cells) */
    frost_rng rng;
    int last[FROST_NAS_DECISIONS]; /* indices of the last proposal */
    bool pending;                  /* proposed, not yet observed */
    int64_t observed;
    /* evolution: a ring of the living population, oldest first */
    member *pop;
    int pop_n, pop_head;
    /* RL and PPO */
    frost_nas_logits theta;
    double baseline, scale;
    /* PPO: the batch being collected under the current (old) policy */
    int (*batch_index)[FROST_NAS_DECISIONS];
    double *batch_logp, *batch_adv;
    int batch_n;
};

static const char *const names[] = {"random", "evolution", "rl", "ppo"};
#define KINDS ((int)(sizeof names / sizeof *names))

frost_nas_controller_config frost_nas_controller_defaults(frost_nas_controller_kind kind)
{
    return (frost_nas_controller_config){.kind = kind,
                                         .seed = 1,
                                         .population = 20,
                                         .tournament = 5,
                                         .lr = kind == FROST_NAS_PPO ? 2.0 : 0.1,
                                         .entropy = 0.001,
                                         .baseline_decay = 0.95,
                                         .ppo_batch = 10,
                                         .ppo_epochs = 4,
                                         .ppo_clip = 0.2};
}

int frost_nas_controller_from_name(const char *name)
{
    for (int i = 0; i < KINDS; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *frost_nas_controller_name(frost_nas_controller_kind kind)
{
    return (int)kind >= 0 && (int)kind < KINDS ? names[kind] : "?";
}

frost_status frost_nas_controller_create(const frost_nas_controller_config *cfg,
                                         const frost_nas_space *space, frost_nas_controller **out)
{
    *out = NULL;
    if ((int)cfg->kind < 0 || (int)cfg->kind >= KINDS || cfg->population < 2 ||
        cfg->tournament < 1 || cfg->tournament > cfg->population || !(cfg->lr > 0) ||
        cfg->entropy < 0 || !(cfg->baseline_decay >= 0 && cfg->baseline_decay < 1) ||
        cfg->ppo_batch < 2 || cfg->ppo_epochs < 1 || !(cfg->ppo_clip > 0 && cfg->ppo_clip < 1))
        return frost_fail(FROST_ERR_ARG,
                          "nas controller: bad settings (population %d, "
                          "tournament %d, lr %g, entropy %g, baseline decay %g, PPO batch %d, "
                          "epochs %d, clip %g)",
                          cfg->population, cfg->tournament, cfg->lr, cfg->entropy,
                          cfg->baseline_decay, cfg->ppo_batch, cfg->ppo_epochs, cfg->ppo_clip);
    frost_nas_controller *c = calloc(1, sizeof *c);
    bool evo = cfg->kind == FROST_NAS_EVOLUTION, ppo = cfg->kind == FROST_NAS_PPO;
    size_t batch = (size_t)cfg->ppo_batch;
    if (c && evo)
        c->pop = calloc((size_t)cfg->population, sizeof *c->pop);
    if (c && ppo) {
        c->batch_index = calloc(batch, sizeof *c->batch_index);
        c->batch_logp = calloc(batch, sizeof *c->batch_logp);
        c->batch_adv = calloc(batch, sizeof *c->batch_adv);
    }
    if (!c || (evo && !c->pop) || (ppo && (!c->batch_index || !c->batch_logp || !c->batch_adv))) {
        frost_nas_controller_free(c);
        return frost_fail(FROST_ERR_NOMEM, "nas controller: out of memory");
    }
    c->cfg = *cfg;
    c->space = *space;
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        c->choices[d] = frost_nas_space_choices(space, d);
    frost_rng_seed(&c->rng, cfg->seed);
    *out = c;
    return FROST_OK;
}

void frost_nas_controller_free(frost_nas_controller *c)
{
    if (!c)
        return;
    free(c->pop);
    free(c->batch_index);
    free(c->batch_logp);
    free(c->batch_adv);
    free(c);
}

static void random_indices(frost_nas_controller *c, int *index)
{
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        index[d] = (int)frost_rng_below(&c->rng, (uint32_t)c->choices[d]);
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
    int n = c->choices[d];
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
        int n = c->choices[d];
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

/* REINFORCE's advantage of a reward, (R - b) / s, then b and s move towards it. */
static double advantage(frost_nas_controller *c, double reward)
{
    if (c->observed == 0) {
        c->baseline = reward;
        c->scale = 0;
    }
    double dev = reward - c->baseline, k = c->cfg.baseline_decay;
    c->scale = c->observed == 0 ? 0 : k * c->scale + (1 - k) * fabs(dev);
    c->baseline = k * c->baseline + (1 - k) * reward;
    return c->scale > 1e-9 ? dev / c->scale : 0.0;
}

static void reinforce(frost_nas_controller *c, double reward)
{
    double adv = advantage(c, reward);
    for (int d = 0; d < FROST_NAS_DECISIONS; d++) {
        int n = c->choices[d];
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
}

/* ---- PPO ---- */

/* The option counts of a space without cells. */
static void plain_choices(int choices[FROST_NAS_DECISIONS])
{
    for (int d = 0; d < FROST_NAS_DECISIONS; d++)
        choices[d] = frost_nas_choices(d);
}

double frost_nas_ppo_log_prob_in(const int choices[FROST_NAS_DECISIONS],
                                 const frost_nas_logits theta, const int a[FROST_NAS_DECISIONS])
{
    double logp = 0;
    for (int d = 0; d < FROST_NAS_DECISIONS; d++) {
        double p[MAX_OPTIONS];
        softmax(theta[d], choices[d], p);
        logp += log(p[a[d]]);
    }
    return logp;
}

double frost_nas_ppo_log_prob(const frost_nas_logits theta, const int a[FROST_NAS_DECISIONS])
{
    int choices[FROST_NAS_DECISIONS];
    plain_choices(choices);
    return frost_nas_ppo_log_prob_in(choices, theta, a);
}

/* The entropy bonus and its gradient (added into grad when not NULL). */
static double entropy_term(const int *choices, const frost_nas_logits theta, double weight,
                           frost_nas_logits grad)
{
    double total = 0;
    for (int d = 0; d < FROST_NAS_DECISIONS; d++) {
        int n = choices[d];
        double p[MAX_OPTIONS], h = 0;
        softmax(theta[d], n, p);
        for (int o = 0; o < n; o++)
            h -= p[o] * log(p[o]);
        total += h;
        for (int o = 0; grad && o < n; o++)
            grad[d][o] += weight * -p[o] * (log(p[o]) + h);
    }
    return weight * total;
}

double frost_nas_ppo_objective_in(const int choices[FROST_NAS_DECISIONS],
                                  const frost_nas_logits theta, const int (*a)[FROST_NAS_DECISIONS],
                                  const double *old_logp, const double *adv, int n, double clip,
                                  double entropy, frost_nas_logits grad)
{
    if (grad)
        memset(grad, 0, sizeof(frost_nas_logits));
    double surrogate = 0;
    for (int i = 0; i < n; i++) {
        double r = exp(frost_nas_ppo_log_prob_in(choices, theta, a[i]) - old_logp[i]);
        double clipped = r < 1 - clip ? 1 - clip : r > 1 + clip ? 1 + clip : r;
        bool active = r * adv[i] <= clipped * adv[i]; /* else the clipped term is constant */
        surrogate += active ? r * adv[i] : clipped * adv[i];
        if (!grad || !active)
            continue;
        double w = r * adv[i] / n; /* d r / d theta = r * d log pi / d theta */
        for (int d = 0; d < FROST_NAS_DECISIONS; d++) {
            double p[MAX_OPTIONS];
            softmax(theta[d], choices[d], p);
            for (int o = 0; o < choices[d]; o++)
                grad[d][o] += w * ((o == a[i][d]) - p[o]);
        }
    }
    return surrogate / n + entropy_term(choices, theta, entropy, grad);
}

double frost_nas_ppo_objective(const frost_nas_logits theta, const int (*a)[FROST_NAS_DECISIONS],
                               const double *old_logp, const double *adv, int n, double clip,
                               double entropy, frost_nas_logits grad)
{
    int choices[FROST_NAS_DECISIONS];
    plain_choices(choices);
    return frost_nas_ppo_objective_in(choices, theta, a, old_logp, adv, n, clip, entropy, grad);
}

/* Rewards -> advantages (R - mean) / std over the batch (0 when all rewards are equal). */
static void normalize_advantages(double *r, int n)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += r[i] / n;
    for (int i = 0; i < n; i++)
        var += (r[i] - mean) * (r[i] - mean) / n;
    for (int i = 0; i < n; i++)
        r[i] = var > 1e-18 ? (r[i] - mean) / sqrt(var) : 0.0;
}

/* Collects the proposal and its reward; a full batch takes ppo_epochs gradient-ascent
 * steps on the clipped surrogate, the batch's log-probabilities fixed at proposal time. */
static void ppo_observe(frost_nas_controller *c, double reward)
{
    int i = c->batch_n++;
    memcpy(c->batch_index[i], c->last, sizeof c->last);
    c->batch_logp[i] = frost_nas_ppo_log_prob_in(c->choices, c->theta, c->last);
    c->batch_adv[i] = reward;
    if (c->batch_n < c->cfg.ppo_batch)
        return;
    normalize_advantages(c->batch_adv, c->batch_n);
    for (int k = 0; k < c->cfg.ppo_epochs; k++) {
        frost_nas_logits grad;
        frost_nas_ppo_objective_in(c->choices, c->theta,
                                   (const int(*)[FROST_NAS_DECISIONS])c->batch_index, c->batch_logp,
                                   c->batch_adv, c->batch_n, c->cfg.ppo_clip, c->cfg.entropy, grad);
        for (int d = 0; d < FROST_NAS_DECISIONS; d++)
            for (int o = 0; o < MAX_OPTIONS; o++)
                c->theta[d][o] += c->cfg.lr * grad[d][o];
    }
    c->batch_n = 0;
}

double frost_nas_policy_prob(const frost_nas_controller *c, int decision, int option)
{
    if ((c->cfg.kind != FROST_NAS_RL && c->cfg.kind != FROST_NAS_PPO) || decision < 0 ||
        decision >= FROST_NAS_DECISIONS || option < 0 || option >= c->choices[decision])
        return -1.0;
    double p[MAX_OPTIONS];
    softmax(c->theta[decision], c->choices[decision], p);
    return p[option];
}

/* ---- the interface ---- */

frost_status frost_nas_propose(frost_nas_controller *c, frost_nas_genotype *g)
{
    if (c->pending)
        return frost_fail(FROST_ERR_ARG, "nas controller: the last proposal has no reward yet");
    if (c->cfg.kind == FROST_NAS_EVOLUTION)
        evolve(c, c->last);
    else if (c->cfg.kind == FROST_NAS_RL || c->cfg.kind == FROST_NAS_PPO)
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
    else if (c->cfg.kind == FROST_NAS_PPO)
        ppo_observe(c, reward);
    c->pending = false;
    c->observed++;
    return FROST_OK;
}

/* ---- looking ahead (the distributed search) ---- */

int frost_nas_controller_lookahead(const frost_nas_controller *c)
{
    switch (c->cfg.kind) {
    case FROST_NAS_RANDOM: return INT_MAX;
    case FROST_NAS_EVOLUTION: /* evolve() samples at random while pop_n < population */
        return c->pop_n < c->cfg.population ? c->cfg.population - c->pop_n : 1;
    case FROST_NAS_PPO: /* theta moves only in the observe that fills the batch */
        return c->cfg.ppo_batch - c->batch_n;
    default: return 1;
    }
}

/* A shallow copy is enough: proposing reads the population and the logits and moves only
 * the random stream, `last` and `pending`, which the copy has its own of. */
frost_status frost_nas_controller_peek(const frost_nas_controller *c, int n,
                                       frost_nas_genotype *out)
{
    if (c->pending || n > frost_nas_controller_lookahead(c))
        return frost_fail(FROST_ERR_ARG,
                          "nas controller: cannot look %d proposals ahead (%d without rewards)", n,
                          c->pending ? 0 : frost_nas_controller_lookahead(c));
    frost_nas_controller copy = *c;
    for (int i = 0; i < n; i++) {
        FROST_TRY(frost_nas_propose(&copy, &out[i]));
        copy.pending = false;
    }
    return FROST_OK;
}
