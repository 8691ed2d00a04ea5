/*
 * Optimizers (SGD with momentum/Nesterov, RMSprop, Adam, AdamW), weight-decay groups,
 * gradient clipping and learning-rate schedules.
 * Update rules follow PyTorch's torch.optim exactly (documented in src/optim/).
 */
#ifndef FROST_OPTIM_H
#define FROST_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/model.h"
#include "frost/status.h"

typedef enum {
    FROST_OPT_SGD = 0,
    FROST_OPT_RMSPROP,
    FROST_OPT_ADAM,
    FROST_OPT_ADAMW
} frost_optimizer_kind;

/* Which parameters an optimizer trains. A cell search (DARTS) trains the network and its
 * architecture weights with two optimizers, on different data. */
typedef enum {
    FROST_PARAMS_MODEL = 0, /* every trainable parameter except architecture weights */
    FROST_PARAMS_ARCH       /* only architecture weights (the alphas of mix layers) */
} frost_param_set;

typedef struct {
    frost_optimizer_kind kind;
    /* the parameters it owns (MODEL by default); clipping, the NaN check and the state
     * cover only these. In an ARCH optimizer `wd` is the alphas' weight decay (DARTS: Adam,
     * lr 3e-4, betas (0.5, 0.999), wd 1e-3) and the other groups do not apply. */
    frost_param_set params;
    float momentum;     /* SGD/RMSprop momentum (0.9) */
    bool nesterov;      /* SGD */
    float beta1, beta2; /* Adam/AdamW (0.9, 0.999) */
    float alpha;        /* RMSprop smoothing (0.9) */
    float eps; /* Adam 1e-8, RMSprop 1e-8 (frost default; PyTorch's RMSprop uses 1e-8 too) */
    /* Weight decay per parameter group: conv/linear weights, depthwise weights, 1-D params
     * (biases and BN). L2 (added to the gradient) for SGD/RMSprop/Adam, decoupled for AdamW. */
    float wd, wd_depthwise, wd_1d;
    float clip_norm; /* clip the global gradient L2 norm to this; 0 = off */
    /* GradBoost, the Q-optimizers of StatAssist & GradBoost (src/optim/gradboost.h): every
     * step updates EM statistics of |g|; once frost_optimizer_set_boost(o, true) (the switch
     * to QAT) gradients get the decaying, sign-preserving boost. EM decay: beta1 for Adam(W),
     * 0.9 otherwise. Weight decay: after the boost for SGD/RMSprop, before it for Adam (L2),
     * decoupled for AdamW. Off (false) by default. */
    bool gradboost;
    int gb_mode;       /* 0 = reference code (default), 1 = paper */
    float gb_clip;     /* 1e-3 */
    float gb_decay;    /* 1e-2: lambda = (1 - decay)^k over boosted steps k */
    bool gb_toss_coin; /* true */
    uint64_t gb_seed;  /* random draws derive from it, the step and the tensor */
} frost_optimizer_config;

/* SGD, momentum 0.9, Nesterov, wd 4e-5 on weights, 0 on depthwise and 1-D. */
frost_optimizer_config frost_optimizer_defaults(frost_optimizer_kind kind);
/* "sgd", "rmsprop", "adam", "adamw"; -1 if unknown. */
int frost_optimizer_from_name(const char *name);
const char *frost_optimizer_name(frost_optimizer_kind k);

typedef struct frost_optimizer frost_optimizer;

/* The optimizer keeps pointers into the model's parameters (do not free the model first). */
frost_status frost_optimizer_create(const frost_optimizer_config *cfg, frost_model *m,
                                    frost_optimizer **out);
/* One update with learning rate lr from the gradients in the model. Returns
 * FROST_ERR_NUMERIC (and changes nothing) if a gradient is NaN/Inf. */
frost_status frost_optimizer_step(frost_optimizer *o, float lr);
int64_t frost_optimizer_steps(const frost_optimizer *o);
void frost_optimizer_free(frost_optimizer *o);

/* Optimizer state as named float tensors (for checkpoints): names are
 * "optim.<param name>.<slot>" (slot: momentum, exp_avg, exp_avg_sq, square_avg). */
int frost_optimizer_state_count(const frost_optimizer *o);
void frost_optimizer_state_get(const frost_optimizer *o, int i, const char **name, int64_t *numel,
                               float **data);
void frost_optimizer_set_steps(frost_optimizer *o, int64_t steps);
/* GradBoost: boost from the next step on (true) or only collect statistics (false), and the
 * number of boosted steps so far (the k of lambda; a checkpoint keeps it). */
void frost_optimizer_set_boost(frost_optimizer *o, bool on);
int64_t frost_optimizer_boost_steps(const frost_optimizer *o);
void frost_optimizer_set_boost_steps(frost_optimizer *o, int64_t k);

/* Learning-rate schedules, evaluated per step. */
typedef enum { FROST_SCHED_CONSTANT = 0, FROST_SCHED_COSINE, FROST_SCHED_STEP } frost_schedule_kind;
typedef struct {
    frost_schedule_kind kind;
    float base_lr;
    float warmup_epochs; /* linear warm-up from 0 to base_lr (cosine and step) */
    float final_lr;      /* cosine: value reached at the last step */
    float step_epochs;   /* step decay: multiply by gamma every step_epochs */
    float gamma;
    int epochs; /* total */
} frost_schedule;

/* lr at `step` (0-based) with `steps_per_epoch` steps in each epoch. */
float frost_schedule_lr(const frost_schedule *s, int64_t step, int64_t steps_per_epoch);

#endif
