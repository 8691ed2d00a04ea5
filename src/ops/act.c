/*
 * Pointwise activations: identity, ReLU, ReLU6, hard-swish, hard-sigmoid.
 *
 * Forward and backward values follow PyTorch, including the gradient at the
 * kinks (relu: 0 at x <= 0; relu6: dy only for 0 < x < 6; hardswish: 0 for
 * x < -3, dy*(x/3 + 1/2) for -3 <= x <= 3, dy above; hardsigmoid: dy/6 for
 * -3 < x < 3). NaN inputs propagate through the forward pass.
 */
#include <stdbool.h>
#include <string.h>

#include "core/cpu.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

static const char *const act_names[] = {"identity", "relu", "relu6", "hswish", "hsigmoid"};
_Static_assert(sizeof(act_names) / sizeof(act_names[0]) == FROST_ACT_COUNT,
               "one name per activation kind");

const char *frost_act_name(frost_act_kind k)
{
    return (unsigned)k < FROST_ACT_COUNT ? act_names[k] : "unknown";
}

int frost_act_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < FROST_ACT_COUNT; k++)
        if (strcmp(name, act_names[k]) == 0)
            return k;
    return -1;
}

typedef struct {
    frost_act_kind kind;
    const float *x, *dy;
    float *out; /* y for forward, dx for backward */
    void (*fwd)(frost_act_kind, int64_t, const float *, float *);
    void (*bwd)(frost_act_kind, int64_t, const float *, const float *, float *);
} act_job;

static void act_forward_range(void *ctx, int64_t begin, int64_t end)
{
    const act_job *j = ctx;
    j->fwd(j->kind, end - begin, j->x + begin, j->out + begin);
}

static void act_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const act_job *j = ctx;
    j->bwd(j->kind, end - begin, j->x + begin, j->dy + begin, j->out + begin);
}

void frost_act_forward(frost_act_kind k, int64_t n, const float *x, float *y)
{
    if (n <= 0)
        return;
    if (k == FROST_ACT_IDENTITY) {
        if (x != y)
            memcpy(y, x, sizeof(float) * (size_t)n);
        return;
    }
    bool simd = frost_cpu_has_avx2();
    act_job job = {k, x, NULL, y, simd ? frost_act_forward_avx2 : frost_act_forward_ref, NULL};
    frost_parallel_range(n, 1, act_forward_range, &job);
}

void frost_act_backward(frost_act_kind k, int64_t n, const float *x, const float *dy, float *dx)
{
    if (n <= 0 || !dx)
        return;
    bool simd = frost_cpu_has_avx2();
    act_job job = {k, x, dy, dx, NULL, simd ? frost_act_backward_avx2 : frost_act_backward_ref};
    frost_parallel_range(n, 1, act_backward_range, &job);
}

/* ---- portable reference kernels ---- */

/* Written as comparisons that are false for NaN, so NaN passes through. */
static float relu6f(float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); }

void frost_act_forward_ref(frost_act_kind k, int64_t n, const float *x, float *y)
{
    const float sixth = 1.0f / 6.0f;
    switch (k) {
    case FROST_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case FROST_ACT_RELU6:
        for (int64_t i = 0; i < n; i++)
            y[i] = relu6f(x[i]);
        break;
    case FROST_ACT_HSWISH:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * relu6f(x[i] + 3.0f) * sixth;
        break;
    case FROST_ACT_HSIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = relu6f(x[i] + 3.0f) * sixth;
        break;
    default: /* identity */
        if (x != y)
            memmove(y, x, sizeof(float) * (size_t)n);
        break;
    }
}

void frost_act_backward_ref(frost_act_kind k, int64_t n, const float *x, const float *dy,
                            float *dx)
{
    const float sixth = 1.0f / 6.0f, third = 1.0f / 3.0f;
    switch (k) {
    case FROST_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case FROST_ACT_RELU6:
        for (int64_t i = 0; i < n; i++)
            dx[i] += (x[i] > 0.0f && x[i] < 6.0f) ? dy[i] : 0.0f;
        break;
    case FROST_ACT_HSWISH:
        for (int64_t i = 0; i < n; i++) {
            float g = x[i] < -3.0f ? 0.0f : (x[i] <= 3.0f ? x[i] * third + 0.5f : 1.0f);
            dx[i] += g * dy[i];
        }
        break;
    case FROST_ACT_HSIGMOID:
        for (int64_t i = 0; i < n; i++)
            dx[i] += (x[i] > -3.0f && x[i] < 3.0f) ? dy[i] * sixth : 0.0f;
        break;
    default: /* identity */
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i];
        break;
    }
}
