/*
 * PPO's clipped surrogate over the factorized policy of the NAS controller
 * (src/nas/controller.c), split out so that tests can check its gradient against finite
 * differences. Internal to the nas layer.
 */
#ifndef FROST_NAS_PPO_H
#define FROST_NAS_PPO_H

#include "frost/nas.h"

/* The most options a decision has: the block in a space with cells. Without cells the
 * block's last column is never read or moved (its gradient is 0), so the policy and the
 * random streams are those of the four-block space. */
#define FROST_NAS_MAX_OPTIONS FROST_NAS_BLOCK_ALL

typedef double frost_nas_logits[FROST_NAS_DECISIONS][FROST_NAS_MAX_OPTIONS];

/* log pi(a) of the decision indices a under the logits: the sum over decisions of the
 * log-softmax of the chosen option, decision d over its first choices[d] options
 * (frost_nas_space_choices of the space searched). The functions without _in are those of a
 * space without cells. */
double frost_nas_ppo_log_prob_in(const int choices[FROST_NAS_DECISIONS],
                                 const frost_nas_logits theta, const int a[FROST_NAS_DECISIONS]);
double frost_nas_ppo_log_prob(const frost_nas_logits theta, const int a[FROST_NAS_DECISIONS]);

/* The objective PPO ascends, for n samples a[i] with advantages adv[i] drawn under a
 * policy that gave them log-probability old_logp[i]:
 *   (1/n) sum_i min(r_i A_i, clip(r_i, 1 - clip, 1 + clip) A_i) + entropy * sum_d H(p_d)
 * with r_i = exp(log pi(a_i) - old_logp[i]). Its gradient goes into grad (may be NULL):
 * per decision d, (1/n) sum_i [unclipped term active] r_i A_i (onehot(a_id) - p_d)
 * + entropy * dH/dtheta_d. */
double frost_nas_ppo_objective_in(const int choices[FROST_NAS_DECISIONS],
                                  const frost_nas_logits theta, const int (*a)[FROST_NAS_DECISIONS],
                                  const double *old_logp, const double *adv, int n, double clip,
                                  double entropy, frost_nas_logits grad);
double frost_nas_ppo_objective(const frost_nas_logits theta, const int (*a)[FROST_NAS_DECISIONS],
                               const double *old_logp, const double *adv, int n, double clip,
                               double entropy, frost_nas_logits grad);

#endif
