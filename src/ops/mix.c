/*
 * DARTS' mixed op on raw buffers: the softmax-weighted sum of k same-shape inputs and its
 * backward. The weights come in already normalized (models/graph.c frost_mix_weights);
 * the executor turns the dot products g into the gradient of alpha.
 */
#include "ops/elementwise.h"
#include "ops/ops.h"

typedef struct {
    int k;
    const float *w;
    const float *const *xs;
    const float *dy;
    float *y;
    float *const *dxs;
    int64_t n;
    double *g;
} mix_job;

static void mix_forward_range(void *ctx, int64_t begin, int64_t end)
{
    const mix_job *j = ctx;
    for (int64_t e = begin; e < end; e++) {
        float s = j->w[0] * j->xs[0][e];
        for (int i = 1; i < j->k; i++)
            s += j->w[i] * j->xs[i][e];
        j->y[e] = s;
    }
}

void frost_mix_forward(int64_t n, int k, const float *w, const float *const *xs, float *y)
{
    mix_job job = {.k = k, .w = w, .xs = xs, .y = y};
    frost_parallel_range(n, k, mix_forward_range, &job);
}

/* Element ranges: each element's gradient is added by one thread, input by input, so
 * two inputs that are the same tensor (the same dx buffer) do not race. */
static void mix_dx_range(void *ctx, int64_t begin, int64_t end)
{
    const mix_job *j = ctx;
    for (int i = 0; i < j->k; i++) {
        float *dx = j->dxs[i];
        if (!dx)
            continue;
        const float wi = j->w[i];
        for (int64_t e = begin; e < end; e++)
            dx[e] += wi * j->dy[e];
    }
}

/* One item per input: its whole dot product in one thread, in element order. */
static void mix_dot_range(void *ctx, int64_t begin, int64_t end)
{
    const mix_job *j = ctx;
    for (int64_t i = begin; i < end; i++) {
        const float *x = j->xs[i];
        double s = 0.0;
        for (int64_t e = 0; e < j->n; e++)
            s += (double)j->dy[e] * (double)x[e];
        j->g[i] = s;
    }
}

void frost_mix_backward(int64_t n, int k, const float *w, const float *const *xs, const float *dy,
                        float *const *dxs, double *g)
{
    mix_job job = {.k = k, .w = w, .xs = xs, .dy = dy, .dxs = dxs, .n = n, .g = g};
    bool any_dx = false;
    for (int i = 0; i < k; i++)
        any_dx |= dxs[i] != NULL;
    if (any_dx)
        frost_parallel_range(n, k, mix_dx_range, &job);
    frost_parallel_range(k, n, mix_dot_range, &job);
}
