/*
 * RMSprop (non-centered), exactly as PyTorch 1.13's torch.optim.RMSprop
 * (single-tensor path):
 *
 *   d   = g + wd * w                          (L2 weight decay)
 *   sq  = alpha * sq + (1 - alpha) * d * d    (square_avg, starts at 0)
 *   avg = sqrt(sq) + eps                      (eps added after the square root)
 *   momentum > 0:  buf = momentum * buf + d / avg;  w = w - lr * buf   (buf starts at 0)
 *   momentum = 0:  w = w - lr * d / avg
 *
 * Note PyTorch's default alpha is 0.99; frost's default is 0.9 (TensorFlow's),
 * set in frost_optimizer_defaults, not here.
 */
#include <math.h>

#include "frost/status.h"
#include "optim/optim_internal.h"

int frost_optimizer_rmsprop_slot_names(const frost_optimizer_config *cfg,
                                       const char *names[FROST_OPTIM_MAX_SLOTS])
{
    names[0] = "square_avg";
    if (cfg->momentum == 0.0f)
        return 1;
    names[1] = "momentum";
    return 2;
}

void frost_optimizer_rmsprop_update(const frost_optimizer_config *cfg,
                                    const frost_optimizer_tensor *t, float lr, int64_t step)
{
    (void)step; /* non-centered RMSprop has no bias correction */
    float *w = t->w, *square_avg = t->slot[0], *buf = t->slot[1];
    const float *g = t->g;
    const float wd = t->wd, scale = t->grad_scale, neg_lr = -lr;
    const float alpha = cfg->alpha, one_minus_alpha = 1.0f - cfg->alpha;
    const float eps = cfg->eps, mu = cfg->momentum;
    const int64_t n = t->n;
#pragma omp parallel for if (n >= FROST_OPTIM_PARALLEL_MIN) num_threads(frost_get_threads()) \
    schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] * scale + wd * w[i];
        float sq = square_avg[i] * alpha + one_minus_alpha * d * d;
        square_avg[i] = sq;
        float avg = sqrtf(sq) + eps;
        if (mu != 0.0f) {
            float b = buf[i] * mu + d / avg;
            buf[i] = b;
            w[i] = w[i] + neg_lr * b;
        } else {
            w[i] = w[i] + neg_lr * d / avg;
        }
    }
}
