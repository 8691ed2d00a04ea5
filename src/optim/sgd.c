/*
 * SGD with optional momentum and Nesterov momentum, exactly as PyTorch 1.13's
 * torch.optim.SGD with dampening 0 (single-tensor path):
 *
 *   d   = g + wd * w                      (L2 weight decay, added to the gradient)
 *   buf = d                 on the first step (PyTorch creates the buffer as a clone)
 *   buf = momentum * buf + d              afterwards
 *   d   = d + momentum * buf  (Nesterov)  or  d = buf  (classic momentum)
 *   w   = w - lr * d
 *
 * Without momentum no buffer is kept and the update is w -= lr * (g + wd * w).
 * Every operation is written in PyTorch's operand order so that float rounding
 * matches it as closely as possible.
 */
#include "frost/status.h"
#include "optim/optim_internal.h"

int frost_optimizer_sgd_slot_names(const frost_optimizer_config *cfg,
                                   const char *names[FROST_OPTIM_MAX_SLOTS])
{
    if (cfg->momentum == 0.0f)
        return 0;
    names[0] = "momentum";
    return 1;
}

static void sgd_plain(const frost_optimizer_tensor *t, float lr)
{
    float *w = t->w;
    const float *g = t->g;
    const float wd = t->wd, scale = t->grad_scale, neg_lr = -lr;
    const int64_t n = t->n;
#pragma omp parallel for if (n >= FROST_OPTIM_PARALLEL_MIN) num_threads(frost_get_threads()) \
    schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] * scale + wd * w[i];
        w[i] = w[i] + neg_lr * d;
    }
}

static void sgd_momentum(const frost_optimizer_config *cfg, const frost_optimizer_tensor *t,
                         float lr, bool first_step)
{
    float *w = t->w, *buf = t->slot[0];
    const float *g = t->g;
    const float wd = t->wd, scale = t->grad_scale, neg_lr = -lr, mu = cfg->momentum;
    const bool nesterov = cfg->nesterov;
    const int64_t n = t->n;
#pragma omp parallel for if (n >= FROST_OPTIM_PARALLEL_MIN) num_threads(frost_get_threads()) \
    schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] * scale + wd * w[i];
        /* With dampening 0, mu * 0 + d == d as well; the explicit first-step copy
         * keeps the rule right even if the buffer held stale values. */
        float b = first_step ? d : buf[i] * mu + d;
        buf[i] = b;
        float direction = nesterov ? d + mu * b : b;
        w[i] = w[i] + neg_lr * direction;
    }
}

void frost_optimizer_sgd_update(const frost_optimizer_config *cfg, const frost_optimizer_tensor *t,
                                float lr, int64_t step)
{
    if (cfg->momentum == 0.0f)
        sgd_plain(t, lr);
    else
        sgd_momentum(cfg, t, lr, step == 1);
}
