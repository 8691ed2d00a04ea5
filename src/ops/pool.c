/*
 * Pooling on NHWC tensors: max (with argmax for backward), average (padding
 * excluded from the count) and global average.
 *
 * Output size is floor((in + 2*pad - k) / stride) + 1, the same rule as
 * frost_conv_out_dim and PyTorch's ceil_mode=False.
 *
 * Forward passes split the output rows over threads (each output is written
 * once). Backward passes scatter into dx, and windows of one image overlap, so
 * they split by image: every image is handled by one thread in a fixed order,
 * which keeps the result deterministic.
 */
#include <math.h>
#include <stdbool.h>

#include "ops/elementwise.h"
#include "ops/ops.h"

static int pool_out_dim(int in, const frost_pool_params *p)
{
    int span = in + 2 * p->pad - p->k;
    return (span < 0 || p->stride <= 0) ? 0 : span / p->stride + 1;
}

/* Input index of tap 0 for output position o; the taps inside [0, in) are [*lo, *hi). */
static int pool_taps(int o, int in, const frost_pool_params *p, int *lo, int *hi)
{
    int start = o * p->stride - p->pad;
    *lo = start < 0 ? -start : 0;
    *hi = in - start < p->k ? in - start : p->k;
    return start;
}

typedef struct {
    const frost_pool_params *p;
    frost_shape4 in;
    int oh, ow;
    const float *x, *dy;
    float *y, *dx;
    int32_t *argmax;
    const int32_t *argmax_in;
} pool_job;

/* ---- max pool ---- */

/* One output pixel: the first valid tap initialises it (as PyTorch does, so an
 * all -inf window still gets an index), later taps win when strictly greater or
 * NaN (NaN propagates). A window entirely in the padding gives 0 and index -1. */
static void maxpool_pixel(const pool_job *j, int n, int oy, int ox, float *yo, int32_t *ao)
{
    int c = j->in.c, ky0, ky1, kx0, kx1;
    int iy = pool_taps(oy, j->in.h, j->p, &ky0, &ky1);
    int ix = pool_taps(ox, j->in.w, j->p, &kx0, &kx1);
    bool first = true;
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            int64_t idx = (((int64_t)n * j->in.h + iy + ky) * j->in.w + ix + kx) * c;
            const float *xi = j->x + idx;
            for (int ch = 0; ch < c; ch++) {
                float v = xi[ch];
                if (first || v > yo[ch] || isnan(v)) {
                    yo[ch] = v;
                    ao[ch] = (int32_t)(idx + ch);
                }
            }
            first = false;
        }
    if (first)
        for (int ch = 0; ch < c; ch++) {
            yo[ch] = 0.0f;
            ao[ch] = -1;
        }
}

static void maxpool_forward_rows(void *ctx, int64_t begin, int64_t end)
{
    const pool_job *j = ctx;
    for (int64_t row = begin; row < end; row++) /* row = n*oh + oy */
        for (int ox = 0; ox < j->ow; ox++) {
            int64_t o = (row * j->ow + ox) * j->in.c;
            maxpool_pixel(j, (int)(row / j->oh), (int)(row % j->oh), ox, j->y + o, j->argmax + o);
        }
}

void frost_maxpool_forward(const frost_pool_params *p, frost_shape4 in, const float *x, float *y,
                           int32_t *argmax)
{
    pool_job j = {.p = p,
                  .in = in,
                  .oh = pool_out_dim(in.h, p),
                  .ow = pool_out_dim(in.w, p),
                  .x = x,
                  .y = y,
                  .argmax = argmax};
    frost_parallel_range((int64_t)in.n * j.oh, (int64_t)j.ow * in.c * p->k * p->k,
                         maxpool_forward_rows, &j);
}

static void maxpool_backward_images(void *ctx, int64_t begin, int64_t end)
{
    const pool_job *j = ctx;
    int64_t per_image = (int64_t)j->oh * j->ow * j->in.c;
    for (int64_t i = begin * per_image; i < end * per_image; i++)
        if (j->argmax_in[i] >= 0)
            j->dx[j->argmax_in[i]] += j->dy[i];
}

void frost_maxpool_backward(const frost_pool_params *p, frost_shape4 in, const float *dy,
                            const int32_t *argmax, float *dx)
{
    if (!dx)
        return;
    pool_job j = {.p = p,
                  .in = in,
                  .oh = pool_out_dim(in.h, p),
                  .ow = pool_out_dim(in.w, p),
                  .dy = dy,
                  .dx = dx,
                  .argmax_in = argmax};
    frost_parallel_range(in.n, (int64_t)j.oh * j.ow * in.c, maxpool_backward_images, &j);
}

/* ---- average pool (count_include_pad = False) ---- */

static void avgpool_pixel(const pool_job *j, int n, int oy, int ox, float *yo)
{
    int c = j->in.c, ky0, ky1, kx0, kx1;
    int iy = pool_taps(oy, j->in.h, j->p, &ky0, &ky1);
    int ix = pool_taps(ox, j->in.w, j->p, &kx0, &kx1);
    for (int ch = 0; ch < c; ch++)
        yo[ch] = 0.0f;
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            const float *xi = j->x + (((int64_t)n * j->in.h + iy + ky) * j->in.w + ix + kx) * c;
            for (int ch = 0; ch < c; ch++)
                yo[ch] += xi[ch];
        }
    int count = (ky1 - ky0) * (kx1 - kx0);
    if (count > 0)
        for (int ch = 0; ch < c; ch++)
            yo[ch] /= (float)count;
}

static void avgpool_forward_rows(void *ctx, int64_t begin, int64_t end)
{
    const pool_job *j = ctx;
    for (int64_t row = begin; row < end; row++)
        for (int ox = 0; ox < j->ow; ox++)
            avgpool_pixel(j, (int)(row / j->oh), (int)(row % j->oh), ox,
                          j->y + (row * j->ow + ox) * j->in.c);
}

void frost_avgpool_forward(const frost_pool_params *p, frost_shape4 in, const float *x, float *y)
{
    pool_job j = {
        .p = p, .in = in, .oh = pool_out_dim(in.h, p), .ow = pool_out_dim(in.w, p), .x = x, .y = y};
    frost_parallel_range((int64_t)in.n * j.oh, (int64_t)j.ow * in.c * p->k * p->k,
                         avgpool_forward_rows, &j);
}

static void avgpool_backward_pixel(const pool_job *j, int n, int oy, int ox, const float *dyo)
{
    int c = j->in.c, ky0, ky1, kx0, kx1;
    int iy = pool_taps(oy, j->in.h, j->p, &ky0, &ky1);
    int ix = pool_taps(ox, j->in.w, j->p, &kx0, &kx1);
    float count = (float)((ky1 - ky0) * (kx1 - kx0));
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
            float *dxi = j->dx + (((int64_t)n * j->in.h + iy + ky) * j->in.w + ix + kx) * c;
            for (int ch = 0; ch < c; ch++)
                dxi[ch] += dyo[ch] / count;
        }
}

static void avgpool_backward_images(void *ctx, int64_t begin, int64_t end)
{
    const pool_job *j = ctx;
    for (int64_t n = begin; n < end; n++)
        for (int oy = 0; oy < j->oh; oy++)
            for (int ox = 0; ox < j->ow; ox++)
                avgpool_backward_pixel(j, (int)n, oy, ox,
                                       j->dy + ((n * j->oh + oy) * j->ow + ox) * j->in.c);
}

void frost_avgpool_backward(const frost_pool_params *p, frost_shape4 in, const float *dy, float *dx)
{
    if (!dx)
        return;
    pool_job j = {.p = p,
                  .in = in,
                  .oh = pool_out_dim(in.h, p),
                  .ow = pool_out_dim(in.w, p),
                  .dy = dy,
                  .dx = dx};
    frost_parallel_range(in.n, (int64_t)j.oh * j.ow * in.c * p->k * p->k, avgpool_backward_images,
                         &j);
}

/* ---- global average pool: [N,H,W,C] -> [N,C] ---- */

static void gap_forward_images(void *ctx, int64_t begin, int64_t end)
{
    const pool_job *j = ctx;
    int c = j->in.c;
    int64_t hw = (int64_t)j->in.h * j->in.w;
    for (int64_t n = begin; n < end; n++) {
        float *yn = j->y + n * c;
        const float *xn = j->x + n * hw * c;
        for (int ch = 0; ch < c; ch++)
            yn[ch] = 0.0f;
        for (int64_t q = 0; q < hw; q++)
            for (int ch = 0; ch < c; ch++)
                yn[ch] += xn[q * c + ch];
        for (int ch = 0; ch < c && hw > 0; ch++)
            yn[ch] /= (float)hw;
    }
}

void frost_gap_forward(frost_shape4 in, const float *x, float *y)
{
    pool_job j = {.in = in, .x = x, .y = y};
    frost_parallel_range(in.n, (int64_t)in.h * in.w * in.c, gap_forward_images, &j);
}

static void gap_backward_images(void *ctx, int64_t begin, int64_t end)
{
    const pool_job *j = ctx;
    int c = j->in.c;
    int64_t hw = (int64_t)j->in.h * j->in.w;
    for (int64_t n = begin; n < end; n++) {
        const float *dyn = j->dy + n * c;
        float *dxn = j->dx + n * hw * c;
        for (int64_t q = 0; q < hw; q++)
            for (int ch = 0; ch < c; ch++)
                dxn[q * c + ch] += dyn[ch] / (float)hw;
    }
}

void frost_gap_backward(frost_shape4 in, const float *dy, float *dx)
{
    if (!dx)
        return;
    pool_job j = {.in = in, .dy = dy, .dx = dx};
    frost_parallel_range(in.n, (int64_t)in.h * in.w * in.c, gap_backward_images, &j);
}
