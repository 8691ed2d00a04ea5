/*
 * Adam and AdamW, exactly as PyTorch 1.13's torch.optim.Adam / AdamW
 * (single-tensor path, amsgrad off). With t the 1-based step number:
 *
 *   AdamW only:  w = w * (1 - lr * wd)          (decoupled decay, before the update)
 *   Adam only:   d = g + wd * w                 (L2 decay);  AdamW: d = g
 *   m = beta1 * m + (1 - beta1) * d             (exp_avg, starts at 0)
 *   v = beta2 * v + (1 - beta2) * d * d         (exp_avg_sq, starts at 0)
 *   step_size = lr / (1 - beta1^t)
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps   (eps added to the bias-corrected root)
 *   w = w - step_size * m / denom
 *
 * The scalar factors are computed in double, as Python does, then rounded to
 * float once, as PyTorch does when it applies them to float tensors. Since the
 * bias correction depends on t, a restored optimizer needs its step count
 * (frost_optimizer_set_steps) as well as m and v.
 */
#include <math.h>

#include "frost/status.h"
#include "optim/optim_internal.h"

int frost_optimizer_adam_slot_names(const frost_optimizer_config *cfg,
                                    const char *names[FROST_OPTIM_MAX_SLOTS])
{
    (void)cfg;
    names[0] = "exp_avg";
    names[1] = "exp_avg_sq";
    return 2;
}

void frost_optimizer_adam_update(const frost_optimizer_config *cfg, const frost_optimizer_tensor *t,
                                 float lr, int64_t step)
{
    const bool decoupled = cfg->kind == FROST_OPT_ADAMW;
    const double bias_correction1 = 1.0 - pow((double)cfg->beta1, (double)step);
    const double bias_correction2 = 1.0 - pow((double)cfg->beta2, (double)step);
    const float neg_step_size = (float)(-((double)lr / bias_correction1));
    const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    const float decay = decoupled ? (float)(1.0 - (double)lr * (double)t->wd) : 1.0f;
    const float l2 = decoupled ? 0.0f : t->wd;
    const float beta1 = cfg->beta1, beta2 = cfg->beta2, eps = cfg->eps;
    const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;
    const float scale = t->grad_scale;
    float *w = t->w, *exp_avg = t->slot[0], *exp_avg_sq = t->slot[1];
    const float *g = t->g;
    const int64_t n = t->n;
#pragma omp parallel for if (n >= FROST_OPTIM_PARALLEL_MIN) num_threads(frost_get_threads()) \
    schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float wi = decoupled ? w[i] * decay : w[i];
        float d = g[i] * scale + l2 * wi;
        float m = exp_avg[i] * beta1 + one_minus_beta1 * d;
        float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * d * d;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float denom = sqrtf(v) / bias_correction2_sqrt + eps;
        w[i] = wi + neg_step_size * m / denom;
    }
}
