/*
 * Structural ops (element-wise add, channel concat, inverted dropout), the
 * vector add used to accumulate gradients, and the threading helpers shared by
 * the element-wise ops.
 */
#include <omp.h>
#include <string.h>

#include "frost/status.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

int frost_ew_threads(int64_t work)
{
    int t = frost_get_threads();
    int64_t by_work = work / FROST_EW_MIN_PER_THREAD;
    if (by_work < t)
        t = by_work < 1 ? 1 : (int)by_work;
    return t;
}

void frost_parallel_range(int64_t n, int64_t floats_per_item, frost_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    int nth = frost_ew_threads(n * floats_per_item);
    if (nth <= 1) {
        fn(ctx, 0, n);
        return;
    }
#pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        /* Small items are grouped by 16 so chunk borders fall on cache lines. */
        int64_t align = floats_per_item >= 16 ? 1 : 16;
        int64_t chunk = ((n + T - 1) / T + align - 1) / align * align;
        int64_t begin = chunk * t, end = begin + chunk < n ? begin + chunk : n;
        if (begin < end)
            fn(ctx, begin, end);
    }
}

/* ---- add ---- */

typedef struct {
    const float *a, *b;
    float *y;
} add_job;

static void add_range(void *ctx, int64_t begin, int64_t end)
{
    const add_job *j = ctx;
    for (int64_t i = begin; i < end; i++)
        j->y[i] = j->a[i] + j->b[i];
}

void frost_add_forward(int64_t n, const float *a, const float *b, float *y)
{
    add_job job = {a, b, y};
    frost_parallel_range(n, 1, add_range, &job);
}

static void add_inplace_range(void *ctx, int64_t begin, int64_t end)
{
    const add_job *j = ctx;
    for (int64_t i = begin; i < end; i++)
        j->y[i] += j->a[i];
}

void frost_vec_add_inplace(int64_t n, const float *x, float *y)
{
    add_job job = {x, NULL, y};
    frost_parallel_range(n, 1, add_inplace_range, &job);
}

/* ---- concat along channels: row r of y is [x0 row r | x1 row r | ...] ---- */

typedef struct {
    int k;
    const int *ci;
    int total; /* channels of y */
    const float *const *xs;
    const float *dy;
    float *y;
    float *const *dxs;
} concat_job;

static void concat_forward_range(void *ctx, int64_t begin, int64_t end)
{
    const concat_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        float *yr = j->y + r * j->total;
        for (int i = 0; i < j->k; i++) {
            memcpy(yr, j->xs[i] + r * j->ci[i], sizeof(float) * (size_t)j->ci[i]);
            yr += j->ci[i];
        }
    }
}

static void concat_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const concat_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *dyr = j->dy + r * j->total;
        for (int i = 0; i < j->k; i++) {
            int ci = j->ci[i];
            if (j->dxs[i]) {
                float *dxr = j->dxs[i] + r * ci;
                for (int ch = 0; ch < ci; ch++)
                    dxr[ch] += dyr[ch];
            }
            dyr += ci;
        }
    }
}

static int concat_channels(int k, const int *ci)
{
    int total = 0;
    for (int i = 0; i < k; i++)
        total += ci[i];
    return total;
}

void frost_concat_forward(int64_t m, int k, const int *ci, const float *const *xs, float *y)
{
    concat_job job = {k, ci, concat_channels(k, ci), xs, NULL, y, NULL};
    frost_parallel_range(m, job.total, concat_forward_range, &job);
}

void frost_concat_backward(int64_t m, int k, const int *ci, const float *dy, float *const *dxs)
{
    concat_job job = {k, ci, concat_channels(k, ci), NULL, dy, NULL, dxs};
    frost_parallel_range(m, job.total, concat_backward_range, &job);
}

/* ---- inverted dropout ---- */

void frost_dropout_forward(int64_t n, float p, frost_rng *rng, const float *x, float *mask,
                           float *y)
{
    /* p <= 0 keeps everything and draws nothing, so turning dropout off does not
     * shift the random stream; p >= 1 drops everything (PyTorch gives zeros). */
    if (p <= 0.0f || p >= 1.0f) {
        float keep = p <= 0.0f ? 1.0f : 0.0f;
        for (int64_t i = 0; i < n; i++) {
            mask[i] = keep;
            y[i] = keep != 0.0f ? x[i] : 0.0f;
        }
        return;
    }
    /* Sequential on purpose: the mask must depend on the seed only, not on the
     * thread count; dropout sits before the classifier where n is small. */
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        mask[i] = frost_rng_uniform(rng) >= p ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

typedef struct {
    const float *mask, *dy;
    float *dx;
} dropout_job;

static void dropout_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const dropout_job *j = ctx;
    for (int64_t i = begin; i < end; i++)
        j->dx[i] += j->dy[i] * j->mask[i];
}

void frost_dropout_backward(int64_t n, const float *mask, const float *dy, float *dx)
{
    if (!dx)
        return;
    dropout_job job = {mask, dy, dx};
    frost_parallel_range(n, 1, dropout_backward_range, &job);
}
