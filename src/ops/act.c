/*
 * Pointwise activations: names, the threaded drivers and the reference kernels.
 * What each activation computes is defined once, in ops/act_def.h.
 */
#include <stdbool.h>
#include <string.h>

#include "core/cpu.h"
#include "ops/act_def.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

#define ACT_NAME_(id, name) [FROST_ACT_##id] = name,
static const char *const act_names[] = {FROST_ACT_LIST(ACT_NAME_)};
#undef ACT_NAME_
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

/* ---- portable reference kernels: the scalar definitions of ops/act_def.h ---- */

void frost_act_forward_ref(frost_act_kind k, int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = frost_act_value(k, x[i]);
}

void frost_act_backward_ref(frost_act_kind k, int64_t n, const float *x, const float *dy, float *dx)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += frost_act_grad(k, x[i], dy[i]);
}
