/*
 * Learning-rate schedules, evaluated per optimizer step (frost_schedule_lr).
 *
 * Notation: S = steps_per_epoch (taken as 1 if smaller), s = the 0-based step,
 * W = warm-up steps = warmup_epochs * S rounded to the nearest integer (halves
 * up; 0 = no warm-up), T = total steps = epochs * S. All arithmetic is double.
 *
 *   constant:          lr(s) = base_lr for every s (no warm-up).
 *
 *   warm-up (cosine and step), s < W:
 *                      lr(s) = base_lr * (s + 1) / W
 *                      a line from 0 that reaches base_lr at the last warm-up step.
 *
 *   cosine, s >= W:    t = (s - W) / (T - W - 1), clamped to [0, 1]
 *                      (t = 1 when T - W - 1 <= 0)
 *                      lr(s) = final_lr + (base_lr - final_lr) * 0.5 * (1 + cos(pi * t))
 *                      so the first step after warm-up uses base_lr, the last step
 *                      (s = T - 1) uses exactly final_lr, and later steps stay there.
 *
 *   step, s >= W:      k = floor((s - W) / (step_epochs * S))
 *                      lr(s) = base_lr * gamma^k   (step_epochs <= 0: no decay)
 *                      step_epochs may be fractional (e.g. 2.4): the decay then falls
 *                      on the first step at or past each multiple.
 */
#include <float.h>
#include <math.h>

#include "frost/optim.h"

static const double PI = 3.14159265358979323846;

static double warmup_lr(const frost_schedule *s, int64_t step, int64_t warmup_steps)
{
    return (double)s->base_lr * (double)(step + 1) / (double)warmup_steps;
}

static double cosine_lr(const frost_schedule *s, int64_t step, int64_t warmup_steps,
                        int64_t total_steps)
{
    const int64_t span = total_steps - warmup_steps - 1;
    double t = span > 0 ? (double)(step - warmup_steps) / (double)span : 1.0;
    t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
    const double base = s->base_lr, final = s->final_lr;
    return final + (base - final) * 0.5 * (1.0 + cos(PI * t));
}

static double step_decay_lr(const frost_schedule *s, int64_t step, int64_t warmup_steps,
                            int64_t steps_per_epoch)
{
    const double interval = (double)s->step_epochs * (double)steps_per_epoch;
    if (!(interval > 0.0))
        return s->base_lr;
    /* step_epochs is a float: 2.4f is 2.4000001, which would move an exact boundary
     * (step 24 of 10-step epochs) one step late. The relative slack absorbs that
     * representation error, which is at most FLT_EPSILON / 2. */
    const double periods = (double)(step - warmup_steps) / interval * (1.0 + 4.0 * FLT_EPSILON);
    return (double)s->base_lr * pow((double)s->gamma, floor(periods));
}

float frost_schedule_lr(const frost_schedule *s, int64_t step, int64_t steps_per_epoch)
{
    if (!s)
        return 0.0f;
    if (steps_per_epoch < 1)
        steps_per_epoch = 1;
    if (step < 0)
        step = 0;
    if (s->kind == FROST_SCHED_CONSTANT)
        return s->base_lr;

    const double warmup = s->warmup_epochs > 0.0f ? (double)s->warmup_epochs : 0.0;
    const int64_t warmup_steps = (int64_t)floor(warmup * (double)steps_per_epoch + 0.5);
    if (step < warmup_steps)
        return (float)warmup_lr(s, step, warmup_steps);

    const int64_t total_steps = (int64_t)(s->epochs > 0 ? s->epochs : 0) * steps_per_epoch;
    switch (s->kind) {
    case FROST_SCHED_COSINE: return (float)cosine_lr(s, step, warmup_steps, total_steps);
    case FROST_SCHED_STEP: return (float)step_decay_lr(s, step, warmup_steps, steps_per_epoch);
    case FROST_SCHED_CONSTANT: break;
    }
    return s->base_lr;
}
