/*
 * Structural ops (element-wise add and product, channel concat, inverted dropout), the
 * vector add used to accumulate gradients, and the threading helpers shared by
 * the element-wise ops.
 */
#include <omp.h>
#include <stdbool.h>
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

/* ---- product: y = a * b, b of the same shape or one value per channel and image ---- */

typedef struct {
    int64_t hw;
    int c;
    bool per_channel;
    const float *a, *b, *dy;
    float *y, *da, *db;
} mul_job;

/* b's row for pixel row r (r counts pixels over all images). */
static const float *mul_b_row(const mul_job *j, int64_t r)
{
    return j->b + (j->per_channel ? r / j->hw : r) * j->c;
}

static void mul_forward_range(void *ctx, int64_t begin, int64_t end)
{
    const mul_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *ar = j->a + r * j->c, *br = mul_b_row(j, r);
        float *yr = j->y + r * j->c;
        for (int ch = 0; ch < j->c; ch++)
            yr[ch] = ar[ch] * br[ch];
    }
}

void frost_mul_forward(int n, int64_t hw, int c, const float *a, const float *b, bool per_channel,
                       float *y)
{
    mul_job job = {.hw = hw, .c = c, .per_channel = per_channel, .a = a, .b = b, .y = y};
    frost_parallel_range((int64_t)n * hw, c, mul_forward_range, &job);
}

/* da over pixel rows, and db when b has a value per pixel. */
static void mul_backward_rows(void *ctx, int64_t begin, int64_t end)
{
    const mul_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        const float *ar = j->a + r * j->c, *br = mul_b_row(j, r), *dyr = j->dy + r * j->c;
        float *dar = j->da ? j->da + r * j->c : NULL;
        float *dbr = j->db && !j->per_channel ? j->db + r * j->c : NULL;
        for (int ch = 0; ch < j->c; ch++) {
            if (dar)
                dar[ch] += dyr[ch] * br[ch];
            if (dbr)
                dbr[ch] += dyr[ch] * ar[ch];
        }
    }
}

/* db of a per-channel b: each image's sum over its pixels, in pixel order (one image per
 * item, so the result does not depend on the thread count). */
static void mul_backward_gate(void *ctx, int64_t begin, int64_t end)
{
    const mul_job *j = ctx;
    for (int64_t img = begin; img < end; img++) {
        float *dbr = j->db + img * j->c;
        for (int64_t p = 0; p < j->hw; p++) {
            const float *ar = j->a + (img * j->hw + p) * j->c,
                        *dyr = j->dy + (img * j->hw + p) * j->c;
            for (int ch = 0; ch < j->c; ch++)
                dbr[ch] += dyr[ch] * ar[ch];
        }
    }
}

void frost_mul_backward(int n, int64_t hw, int c, const float *a, const float *b, bool per_channel,
                        const float *dy, float *da, float *db)
{
    mul_job job = {
        .hw = hw, .c = c, .per_channel = per_channel, .a = a, .b = b, .dy = dy, .da = da, .db = db};
    if (da || (db && !per_channel))
        frost_parallel_range((int64_t)n * hw, c, mul_backward_rows, &job);
    if (db && per_channel)
        frost_parallel_range(n, hw * c, mul_backward_gate, &job);
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

void frost_dropout_forward(int n, int64_t per_image, float p, const frost_rng *root, int64_t first,
                           const float *x, float *mask, float *y)
{
    int64_t total = (int64_t)n * per_image;
    /* p <= 0 keeps everything and draws nothing; p >= 1 drops everything (PyTorch gives
     * zeros). */
    if (p <= 0.0f || p >= 1.0f) {
        float keep = p <= 0.0f ? 1.0f : 0.0f;
        for (int64_t i = 0; i < total; i++) {
            mask[i] = keep;
            y[i] = keep != 0.0f ? x[i] : 0.0f;
        }
        return;
    }
    /* One stream per image, so the mask depends on the image's global index only; dropout
     * sits before the classifier where the work is small, so it stays sequential. */
    float scale = 1.0f / (1.0f - p);
    for (int i = 0; i < n; i++) {
        frost_rng rng = frost_rng_fork(root, (uint64_t)(first + i));
        int64_t at = (int64_t)i * per_image;
        for (int64_t k = 0; k < per_image; k++) {
            mask[at + k] = frost_rng_uniform(&rng) >= p ? scale : 0.0f;
            y[at + k] = x[at + k] * mask[at + k];
        }
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
