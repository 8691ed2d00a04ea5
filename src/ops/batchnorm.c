/*
 * Batch normalization over m rows (N*H*W positions) of c channels, NHWC.
 *
 * Semantics follow PyTorch's BatchNorm2d: training normalises with the biased
 * batch variance and updates the running variance with the unbiased one;
 * running = (1-momentum)*running + momentum*batch.
 *
 * Work is split by rows over a static partition. Per-channel sums are
 * accumulated in double per thread, then the per-thread partials are added in
 * thread order, so a fixed thread count gives bit-identical results run to run
 * (no atomics, no dynamic scheduling). Channels are processed in tiles of
 * BN_TILE so the partials live on the stack: the kernels cannot fail.
 *
 * One parallel region walks the tiles; per tile: partial sums -> barrier ->
 * thread 0 reduces them (SyncBN: and sums them over the processes, which is why it is
 * the calling thread, the one allowed to talk to MPI) and derives the per-channel
 * constants -> barrier -> every thread applies them to its rows. The tile's constants are not
 * overwritten until all threads have reached the next tile's barrier, i.e. have finished using
 * them.
 *
 * The drivers (frost_bn_*_pass) call the row kernels through a
 * frost_bn_row_kernels table, so the fused BN + activation (bn_act.c) reuses
 * them with its own kernels; the public functions below plug in plain BN's.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "frost/status.h"
#include "ops/elementwise.h"
#include "ops/ops.h"

#define BN_TILE         256  /* channels per tile; mobile CNN layers mostly fit in one */
#define BN_MAX_THREADS  8    /* BN is memory bound: more threads would not help */
#define BN_BLOCK_FLOATS 4096 /* floats (rows x tile width) per sums call: a block stays in L1 */

typedef struct {
    double s1[BN_TILE], s2[BN_TILE];
} bn_partial;

/* Per-channel constants of one tile, shared by the threads of a region. */
typedef struct {
    float mean[BN_TILE];
    float scale[BN_TILE];
    float shift[BN_TILE]; /* forward: added after scaling; backward: k1 */
    float k2[BN_TILE];    /* backward only */
} bn_tile;

static frost_bn_consts bn_consts(const bn_tile *t)
{
    return (frost_bn_consts){t->mean, t->scale, t->shift, t->k2};
}

static int bn_threads(int64_t m, int c)
{
    int t = frost_ew_threads(m * (int64_t)c);
    return t > BN_MAX_THREADS ? BN_MAX_THREADS : t;
}

/* Rows [*r0, *r1) of thread t out of nth (a static partition of m rows). */
static void bn_rows(int64_t m, int t, int nth, int64_t *r0, int64_t *r1)
{
    *r0 = m * t / nth;
    *r1 = m * (t + 1) / nth;
}

/* This thread's partial sums over rows [r0, r1) of the tile starting at channel c0.
 * Rows go in L1-sized blocks: the AVX2 kernel sweeps a block once per group of
 * channels, and the sums continue across blocks, so the order is unchanged. */
static void bn_tile_sums(const frost_bn_row_kernels *rk, int64_t r0, int64_t r1, int c0, int tc,
                         bn_partial *out)
{
    memset(out->s1, 0, sizeof(double) * (size_t)tc);
    memset(out->s2, 0, sizeof(double) * (size_t)tc);
    int64_t block = BN_BLOCK_FLOATS / tc > 0 ? BN_BLOCK_FLOATS / tc : 1;
    for (int64_t r = r0; r < r1; r += block) {
        int64_t rows = r1 - r < block ? r1 - r : block;
        rk->sums(rk->ctx, r, rows, c0, tc, out->s1, out->s2);
    }
}

/* Adds the partials of threads 1..nth-1 into part[0], in thread order. */
static void bn_reduce(bn_partial *part, int nth, int tc)
{
    for (int t = 1; t < nth; t++)
        for (int j = 0; j < tc; j++) {
            part[0].s1[j] += part[t].s1[j];
            part[0].s2[j] += part[t].s2[j];
        }
}

/* The two-phase pass (sums, then `finish` on one thread, then the row kernels'
 * apply on all) shared by the training forward and the backward. */
typedef struct bn_pass bn_pass;
struct bn_pass {
    const frost_bn_row_kernels *rk;
    int64_t m;
    int c;
    /* sum: this process's sums; all: every process's (= sum without SyncBN) over all_m rows */
    void (*finish)(const bn_pass *ps, int c0, int tc, const bn_partial *sum, const bn_partial *all,
                   double all_m, bn_tile *tile);
    frost_bn_sync *sync;
    const float *gamma;
    /* forward (training) */
    const frost_bn_params *p;
    const float *beta;
    float *running_mean, *running_var, *save_mean, *save_invstd;
    /* backward */
    const float *mean_in, *invstd_in;
    float *dgamma, *dbeta;
};

/* SyncBN: *all = the sums of every process and *all_m their row count (one call). */
static void bn_sync_sums(frost_bn_sync *sync, const bn_partial *sum, int tc, int64_t m,
                         bn_partial *all, double *all_m)
{
    double buf[2 * BN_TILE + 1];
    memcpy(buf, sum->s1, sizeof(double) * (size_t)tc);
    memcpy(buf + tc, sum->s2, sizeof(double) * (size_t)tc);
    buf[2 * tc] = (double)m;
    if (sync->status == FROST_OK)
        sync->status = sync->sum(sync->ctx, buf, 2 * tc + 1);
    if (sync->status != FROST_OK) { /* keep going on the local sums; the caller fails */
        *all = *sum;
        *all_m = (double)m;
        return;
    }
    memcpy(all->s1, buf, sizeof(double) * (size_t)tc);
    memcpy(all->s2, buf + tc, sizeof(double) * (size_t)tc);
    *all_m = buf[2 * tc];
}

static void bn_run(const bn_pass *ps)
{
    bn_partial part[BN_MAX_THREADS], all;
    bn_tile tile;
    int c = ps->c;
#pragma omp parallel num_threads(bn_threads(ps->m, c))
    {
        int nth = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t r0, r1;
        bn_rows(ps->m, t, nth, &r0, &r1);
        for (int c0 = 0; c0 < c; c0 += BN_TILE) {
            int tc = c - c0 < BN_TILE ? c - c0 : BN_TILE;
            bn_tile_sums(ps->rk, r0, r1, c0, tc, &part[t]);
#pragma omp barrier
            if (t == 0) {
                bn_reduce(part, nth, tc);
                double all_m = (double)ps->m;
                if (ps->sync)
                    bn_sync_sums(ps->sync, &part[0], tc, ps->m, &all, &all_m);
                ps->finish(ps, c0, tc, &part[0], ps->sync ? &all : &part[0], all_m, &tile);
            }
#pragma omp barrier
            frost_bn_consts k = bn_consts(&tile);
            ps->rk->apply(ps->rk->ctx, r0, r1 - r0, c0, tc, &k);
        }
    }
}

/* Batch statistics of channels [c0, c0+tc) from the reduced sums of x and x^2:
 * saves them, updates the running statistics and fills the tile's constants. */
static void bn_finish_train_tile(const bn_pass *a, int c0, int tc, const bn_partial *local,
                                 const bn_partial *sum, double m, bn_tile *tile)
{
    (void)local; /* the statistics are the batch's, over every process */
    /* PyTorch's running variance is unbiased; with a single row it is undefined,
     * so it falls back to the biased value (0) rather than dividing by zero. */
    double unbias = m > 1.0 ? m / (m - 1.0) : 1.0;
    float mom = a->p->momentum;
    for (int j = 0; j < tc; j++) {
        int ch = c0 + j;
        double mean = sum->s1[j] / m;
        double var = sum->s2[j] / m - mean * mean;
        if (var < 0.0) /* rounding when all values are (nearly) equal */
            var = 0.0;
        float invstd = (float)(1.0 / sqrt(var + (double)a->p->eps));
        tile->mean[j] = (float)mean;
        tile->scale[j] = a->gamma ? a->gamma[ch] * invstd : invstd;
        tile->shift[j] = a->beta ? a->beta[ch] : 0.0f;
        if (a->save_mean)
            a->save_mean[ch] = (float)mean;
        if (a->save_invstd)
            a->save_invstd[ch] = invstd;
        if (a->running_mean)
            a->running_mean[ch] = (1.0f - mom) * a->running_mean[ch] + mom * (float)mean;
        if (a->running_var)
            a->running_var[ch] = (1.0f - mom) * a->running_var[ch] + mom * (float)(var * unbias);
    }
}

void frost_bn_train_pass(const frost_bn_row_kernels *rk, const frost_bn_params *p, int64_t m, int c,
                         const float *gamma, const float *beta, float *running_mean,
                         float *running_var, float *save_mean, float *save_invstd)
{
    if (m <= 0 || c <= 0)
        return;
    bn_pass ps = {.rk = rk,
                  .m = m,
                  .c = c,
                  .finish = bn_finish_train_tile,
                  .sync = p->sync,
                  .gamma = gamma,
                  .p = p,
                  .beta = beta,
                  .running_mean = running_mean,
                  .running_var = running_var,
                  .save_mean = save_mean,
                  .save_invstd = save_invstd};
    bn_run(&ps);
}

/* Eval-mode constants of channels [c0, c0+tc): each thread derives its own copy,
 * which costs tc square roots and saves a barrier. */
static void bn_eval_tile(const frost_bn_params *p, int c0, int tc, const float *gamma,
                         const float *beta, const float *running_mean, const float *running_var,
                         bn_tile *tile)
{
    for (int j = 0; j < tc; j++) {
        int ch = c0 + j;
        float invstd = 1.0f / sqrtf(running_var[ch] + p->eps);
        tile->mean[j] = running_mean[ch];
        tile->scale[j] = gamma ? gamma[ch] * invstd : invstd;
        tile->shift[j] = beta ? beta[ch] : 0.0f;
    }
}

void frost_bn_eval_pass(const frost_bn_row_kernels *rk, const frost_bn_params *p, int64_t m, int c,
                        const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var)
{
    if (m <= 0 || c <= 0)
        return;
#pragma omp parallel num_threads(bn_threads(m, c))
    {
        int nth = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t r0, r1;
        bn_rows(m, t, nth, &r0, &r1);
        bn_tile tile; /* private: every thread fills its own */
        for (int c0 = 0; c0 < c; c0 += BN_TILE) {
            int tc = c - c0 < BN_TILE ? c - c0 : BN_TILE;
            bn_eval_tile(p, c0, tc, gamma, beta, running_mean, running_var, &tile);
            frost_bn_consts k = bn_consts(&tile);
            rk->apply(rk->ctx, r0, r1 - r0, c0, tc, &k);
        }
    }
}

/* From the reduced sums of dy and dy*x over channels [c0, c0+tc): adds the
 * parameter gradients and fills the constants of
 *   dx = gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat)),  xhat = (x-mean)*invstd,
 * written as scale*(dy - k1 - (x-mean)*k2). sum(dy*(x-mean)) is taken as
 * sum(dy*x) - mean*sum(dy) in double, where the cancellation is harmless. Under SyncBN
 * dgamma and dbeta take this process's sums (the gradient sum over processes adds them
 * up later) and dx the sums over every process. */
static void bn_finish_back_tile(const bn_pass *a, int c0, int tc, const bn_partial *local,
                                const bn_partial *all, double m, bn_tile *tile)
{
    for (int j = 0; j < tc; j++) {
        int ch = c0 + j;
        double mean = a->mean_in[ch], invstd = a->invstd_in[ch];
        double local_dy = local->s1[j];
        double local_dy_xc = local->s2[j] - mean * local_dy; /* sum dy*(x-mean) */
        if (a->dbeta)
            a->dbeta[ch] += (float)local_dy;
        if (a->dgamma)
            a->dgamma[ch] += (float)(local_dy_xc * invstd);
        double sum_dy = all->s1[j];
        double sum_dy_xc = all->s2[j] - mean * sum_dy;
        tile->mean[j] = a->mean_in[ch];
        tile->scale[j] = (float)(a->gamma ? a->gamma[ch] * invstd : invstd);
        tile->shift[j] = (float)(sum_dy / m);
        tile->k2[j] = (float)(sum_dy_xc / m * invstd * invstd);
    }
}

void frost_bn_backward_pass(frost_bn_sync *sync, const frost_bn_row_kernels *rk, int64_t m, int c,
                            const float *gamma, const float *save_mean, const float *save_invstd,
                            float *dgamma, float *dbeta)
{
    if (m <= 0 || c <= 0)
        return;
    bn_pass ps = {.rk = rk,
                  .m = m,
                  .c = c,
                  .finish = bn_finish_back_tile,
                  .sync = sync,
                  .gamma = gamma,
                  .mean_in = save_mean,
                  .invstd_in = save_invstd,
                  .dgamma = dgamma,
                  .dbeta = dbeta};
    bn_run(&ps);
}

/* ---- plain batch norm: the drivers with BN's own tile kernels ---- */

typedef struct {
    void (*sums)(int64_t, int, int64_t, const float *, const float *, double *, double *);
    void (*apply)(int64_t, int, int64_t, const float *, const float *, const float *, const float *,
                  float *);
    void (*dx)(int64_t, int, int64_t, const float *, const float *, const float *, const float *,
               const float *, const float *, float *, bool);
} bn_kernels;

static const bn_kernels bn_ref = {frost_bn_sums_ref, frost_bn_apply_ref, frost_bn_dx_ref};
static const bn_kernels bn_avx2 = {frost_bn_sums_avx2, frost_bn_apply_avx2, frost_bn_dx_avx2};

/* AVX-512 only widens the statistics (the hot part); apply and dx stay AVX2. */
static const bn_kernels bn_avx512 = {frost_bn_sums_avx512, frost_bn_apply_avx2, frost_bn_dx_avx2};

static const bn_kernels *bn_pick(void)
{
    if (frost_cpu_has_avx512f())
        return &bn_avx512;
    return frost_cpu_has_avx2() ? &bn_avx2 : &bn_ref;
}

/* The tensors of one plain BN call; offsets are row * c + c0. */
typedef struct {
    const bn_kernels *k;
    int c;
    const float *a, *b; /* the sums are over a and a*b */
    const float *x, *dy;
    float *out;     /* y (forward) or dx (backward, may be NULL) */
    bool overwrite; /* backward: write dx instead of adding into it */
} bn_plain;

static void bn_plain_sums(const void *ctx, int64_t r0, int64_t rows, int c0, int tc, double *s1,
                          double *s2)
{
    const bn_plain *b = ctx;
    int64_t at = r0 * b->c + c0;
    b->k->sums(rows, tc, b->c, b->a + at, b->b + at, s1, s2);
}

/* y = (x - mean) * scale + shift */
static void bn_plain_apply(const void *ctx, int64_t r0, int64_t rows, int c0, int tc,
                           const frost_bn_consts *k)
{
    const bn_plain *b = ctx;
    int64_t at = r0 * b->c + c0;
    b->k->apply(rows, tc, b->c, b->x + at, k->mean, k->scale, k->shift, b->out + at);
}

static void bn_plain_dx(const void *ctx, int64_t r0, int64_t rows, int c0, int tc,
                        const frost_bn_consts *k)
{
    const bn_plain *b = ctx;
    int64_t at = r0 * b->c + c0;
    if (b->out)
        b->k->dx(rows, tc, b->c, b->x + at, b->dy + at, k->mean, k->scale, k->shift, k->k2,
                 b->out + at, b->overwrite);
}

void frost_bn_forward_train(const frost_bn_params *p, int64_t m, int c, const float *x,
                            const float *gamma, const float *beta, float *running_mean,
                            float *running_var, float *save_mean, float *save_invstd, float *y)
{
    bn_plain b = {.k = bn_pick(), .c = c, .a = x, .b = x, .x = x, .out = y};
    frost_bn_row_kernels rk = {bn_plain_sums, bn_plain_apply, &b};
    frost_bn_train_pass(&rk, p, m, c, gamma, beta, running_mean, running_var, save_mean,
                        save_invstd);
}

void frost_bn_forward_eval(const frost_bn_params *p, int64_t m, int c, const float *x,
                           const float *gamma, const float *beta, const float *running_mean,
                           const float *running_var, float *y)
{
    bn_plain b = {.k = bn_pick(), .c = c, .x = x, .out = y};
    frost_bn_row_kernels rk = {NULL, bn_plain_apply, &b};
    frost_bn_eval_pass(&rk, p, m, c, gamma, beta, running_mean, running_var);
}

static void bn_backward(frost_bn_sync *sync, int64_t m, int c, const float *x, const float *gamma,
                        const float *save_mean, const float *save_invstd, const float *dy,
                        float *dx, bool overwrite, float *dgamma, float *dbeta)
{
    if (!dx && !dgamma && !dbeta)
        return;
    bn_plain b = {.k = bn_pick(),
                  .c = c,
                  .a = dy,
                  .b = x,
                  .x = x,
                  .dy = dy,
                  .out = dx,
                  .overwrite = overwrite};
    frost_bn_row_kernels rk = {bn_plain_sums, bn_plain_dx, &b};
    frost_bn_backward_pass(sync, &rk, m, c, gamma, save_mean, save_invstd, dgamma, dbeta);
}

void frost_bn_backward(frost_bn_sync *sync, int64_t m, int c, const float *x, const float *gamma,
                       const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                       float *dgamma, float *dbeta)
{
    bn_backward(sync, m, c, x, gamma, save_mean, save_invstd, dy, dx, false, dgamma, dbeta);
}

void frost_bn_backward_write(frost_bn_sync *sync, int64_t m, int c, const float *x,
                             const float *gamma, const float *save_mean, const float *save_invstd,
                             const float *dy, float *dx, float *dgamma, float *dbeta)
{
    bn_backward(sync, m, c, x, gamma, save_mean, save_invstd, dy, dx, true, dgamma, dbeta);
}

void frost_bn_backward_eval(const frost_bn_params *p, int64_t m, int c, const float *x,
                            const float *gamma, const float *running_mean, const float *running_var,
                            const float *dy, float *dx, float *dgamma, float *dbeta)
{
    double *sg = calloc((size_t)c * 2, sizeof(double));
    float *invstd = malloc((size_t)c * sizeof(float));
    if (!sg || !invstd) { /* tiny; cannot fail in practice, and must not crash */
        free(sg);
        free(invstd);
        return;
    }
    for (int j = 0; j < c; j++)
        invstd[j] = 1.0f / sqrtf(running_var[j] + p->eps);
    for (int64_t r = 0; r < m; r++) {
        const float *xr = x + r * c, *dyr = dy + r * c;
        for (int j = 0; j < c; j++) {
            sg[j] += (double)dyr[j] * (double)((xr[j] - running_mean[j]) * invstd[j]);
            sg[c + j] += (double)dyr[j];
            if (dx)
                dx[r * c + j] += dyr[j] * gamma[j] * invstd[j];
        }
    }
    for (int j = 0; j < c; j++) {
        if (dgamma)
            dgamma[j] += (float)sg[j];
        if (dbeta)
            dbeta[j] += (float)sg[c + j];
    }
    free(sg);
    free(invstd);
}

/* ---- portable reference kernels ---- */

void frost_bn_sums_ref(int64_t rows, int tc, int64_t ld, const float *a, const float *b, double *s1,
                       double *s2)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * ld, *br = b + r * ld;
        for (int j = 0; j < tc; j++) {
            double av = ar[j];
            s1[j] += av;
            s2[j] += av * (double)br[j];
        }
    }
}

void frost_bn_apply_ref(int64_t rows, int tc, int64_t ld, const float *x, const float *mean,
                        const float *scale, const float *shift, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        float *yr = y + r * ld;
        for (int j = 0; j < tc; j++)
            yr[j] = (xr[j] - mean[j]) * scale[j] + shift[j];
    }
}

void frost_bn_dx_ref(int64_t rows, int tc, int64_t ld, const float *x, const float *dy,
                     const float *mean, const float *scale, const float *k1, const float *k2,
                     float *dx, bool overwrite)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld, *dyr = dy + r * ld;
        float *dxr = dx + r * ld;
        for (int j = 0; j < tc; j++)
            dxr[j] = (overwrite ? 0.0f : dxr[j]) +
                     scale[j] * ((dyr[j] - k1[j]) - (xr[j] - mean[j]) * k2[j]);
    }
}
