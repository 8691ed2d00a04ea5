/*
 * Optimizer internals shared by optimizer.c (bookkeeping: groups, state,
 * clipping, NaN checks) and the per-algorithm update files sgd.c, rmsprop.c
 * and adam.c (pure elementwise arithmetic, PyTorch 1.13 semantics).
 */
#ifndef FROST_OPTIM_INTERNAL_H
#define FROST_OPTIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/param.h"
#include "frost/optim.h"

/* At most this many state tensors per parameter (Adam: exp_avg + exp_avg_sq, plus
 * GradBoost's two EM tensors). */
#define FROST_OPTIM_MAX_SLOTS 4

/* Elementwise loops go parallel (OpenMP) only above this many elements: below it
 * the fork/join costs more than the arithmetic. Results never depend on it. */
#define FROST_OPTIM_PARALLEL_MIN 32768

/* One parameter as an update function sees it. */
typedef struct {
    float *w;                           /* weights, updated in place */
    const float *g;                     /* gradient (not modified) */
    int64_t n;                          /* elements */
    float grad_scale;                   /* clipping factor (1 = none), applied to g first */
    float wd;                           /* this parameter's group weight decay */
    float *slot[FROST_OPTIM_MAX_SLOTS]; /* state tensors, in the order *_slot_names gives */
} frost_optimizer_tensor;

/* Like frost_optimizer_create, on an explicit array of parameters (kept by pointer:
 * the array must outlive the optimizer). Entries outside cfg->params (and buffers) are
 * skipped. */
frost_status frost_optimizer_create_params(const frost_optimizer_config *cfg, frost_param *params,
                                           int n, frost_optimizer **out);

/* Whether an optimizer with this config trains p (its parameter set; never buffers). */
bool frost_optimizer_owns(const frost_optimizer_config *cfg, const frost_param *p);
/* Weight decay of a parameter's group: cfg->wd (conv/linear weights, and architecture
 * weights in an ARCH optimizer), cfg->wd_depthwise (depthwise weights) or cfg->wd_1d
 * (biases, BN gamma/beta). */
float frost_optimizer_group_wd(const frost_optimizer_config *cfg, const frost_param *p);

/* Global L2 norm of the gradients before clipping at the last successful step (0 before any). */
double frost_optimizer_last_grad_norm(const frost_optimizer *o);

/* Per algorithm: the names of the state slots it keeps for each parameter under `cfg`
 * (written to names[], count returned), and one parameter's update. `step` is the
 * 1-based number of the step being taken (Adam's bias correction; SGD's buf = g on 1). */
int frost_optimizer_sgd_slot_names(const frost_optimizer_config *cfg,
                                   const char *names[FROST_OPTIM_MAX_SLOTS]);
void frost_optimizer_sgd_update(const frost_optimizer_config *cfg, const frost_optimizer_tensor *t,
                                float lr, int64_t step);

int frost_optimizer_rmsprop_slot_names(const frost_optimizer_config *cfg,
                                       const char *names[FROST_OPTIM_MAX_SLOTS]);
void frost_optimizer_rmsprop_update(const frost_optimizer_config *cfg,
                                    const frost_optimizer_tensor *t, float lr, int64_t step);

/* Adam and AdamW (cfg->kind tells which: L2 decay vs decoupled decay). */
int frost_optimizer_adam_slot_names(const frost_optimizer_config *cfg,
                                    const char *names[FROST_OPTIM_MAX_SLOTS]);
void frost_optimizer_adam_update(const frost_optimizer_config *cfg, const frost_optimizer_tensor *t,
                                 float lr, int64_t step);

#endif
