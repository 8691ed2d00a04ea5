/*
 * Fused batch norm + activation (contract and rationale in ops/bn_act.h).
 *
 * All threading and per-channel math is batch norm's own: the training and
 * eval forward and the backward run batchnorm.c's pass drivers
 * (frost_bn_*_pass), and this file only plugs in row kernels that apply the
 * activation on the way out (forward) or mask dy on the way in (backward).
 * That is what keeps the statistics, running values and parameter gradients
 * bit-identical to the unfused ops.
 *
 * Identity needs no fusion: it goes straight to the plain BN functions.
 */
#include "ops/bn_act.h"

#include "core/cpu.h"
#include "ops/act_def.h"
#include "ops/elementwise.h"

/* The kernels are written once for a generic activation kind and called with a
 * constant one, so each kind gets its own branch-free loop. */
#define BN_ACT_INLINE static inline __attribute__((always_inline))

/* A clamp activation fuses into the BN pass; the others need their own. */
bool frost_bn_act_fusable(frost_act_kind act)
{
    float lo, hi;
    return frost_act_clamp(act, &lo, &hi);
}

/* ---- driver glue ---- */

typedef struct {
    void (*stats)(int64_t, int, int64_t, const float *, const float *, double *, double *);
    void (*apply)(frost_act_kind, int64_t, int, int64_t, const float *, const float *,
                  const float *, const float *, float *);
    void (*sums)(frost_act_kind, int64_t, int, int64_t, const float *, const float *, const float *,
                 double *, double *);
    void (*dx)(frost_act_kind, int64_t, int, int64_t, const float *, const float *, const float *,
               const float *, const float *, const float *, const float *, float *, bool);
} bn_act_kernels;

static const bn_act_kernels bn_act_ref = {frost_bn_sums_ref, frost_bn_act_apply_ref,
                                          frost_bn_act_sums_ref, frost_bn_act_dx_ref};
static const bn_act_kernels bn_act_avx2 = {frost_bn_sums_avx2, frost_bn_act_apply_avx2,
                                           frost_bn_act_sums_avx2, frost_bn_act_dx_avx2};

/* Only the sums gain from zmm; apply and dx measured slower than AVX2 (bn_act.h). */
static const bn_act_kernels bn_act_avx512 = {frost_bn_sums_avx512, frost_bn_act_apply_avx2,
                                             frost_bn_act_sums_avx512, frost_bn_act_dx_avx2};

static const bn_act_kernels *bn_act_pick(void)
{
    if (frost_cpu_has_avx512f())
        return &bn_act_avx512;
    return frost_cpu_has_avx2() ? &bn_act_avx2 : &bn_act_ref;
}

/* The tensors of one fused call; a tile's rows start at element row * c + c0. */
typedef struct {
    const bn_act_kernels *k;
    frost_act_kind act;
    int c;
    const float *x, *y, *dy;
    float *out;     /* y (forward) or dx (backward, may be NULL) */
    bool overwrite; /* backward: write dx instead of adding into it */
} bn_act_job;

/* Forward statistics: plain BN sums of x and x*x. */
static void bn_act_stats_rows(const void *ctx, int64_t r0, int64_t rows, int c0, int tc, double *s1,
                              double *s2)
{
    const bn_act_job *b = ctx;
    int64_t at = r0 * b->c + c0;
    b->k->stats(rows, tc, b->c, b->x + at, b->x + at, s1, s2);
}

static void bn_act_apply_rows(const void *ctx, int64_t r0, int64_t rows, int c0, int tc,
                              const frost_bn_consts *k)
{
    const bn_act_job *b = ctx;
    int64_t at = r0 * b->c + c0;
    b->k->apply(b->act, rows, tc, b->c, b->x + at, k->mean, k->scale, k->shift, b->out + at);
}

/* Backward statistics: sums of the masked gradient g and of g*x. */
static void bn_act_grad_sums_rows(const void *ctx, int64_t r0, int64_t rows, int c0, int tc,
                                  double *s1, double *s2)
{
    const bn_act_job *b = ctx;
    int64_t at = r0 * b->c + c0;
    b->k->sums(b->act, rows, tc, b->c, b->dy + at, b->y + at, b->x + at, s1, s2);
}

static void bn_act_dx_rows(const void *ctx, int64_t r0, int64_t rows, int c0, int tc,
                           const frost_bn_consts *k)
{
    const bn_act_job *b = ctx;
    int64_t at = r0 * b->c + c0;
    if (b->out)
        b->k->dx(b->act, rows, tc, b->c, b->x + at, b->y + at, b->dy + at, k->mean, k->scale,
                 k->shift, k->k2, b->out + at, b->overwrite);
}

void frost_bn_act_forward_train(const frost_bn_params *p, frost_act_kind act, int64_t m, int c,
                                const float *x, const float *gamma, const float *beta,
                                float *running_mean, float *running_var, float *save_mean,
                                float *save_invstd, float *y)
{
    if (act == FROST_ACT_IDENTITY || !frost_bn_act_fusable(act)) {
        frost_bn_forward_train(p, m, c, x, gamma, beta, running_mean, running_var, save_mean,
                               save_invstd, y);
        if (act != FROST_ACT_IDENTITY && m > 0 && c > 0)
            frost_act_forward(act, m * c, y, y);
        return;
    }
    bn_act_job b = {.k = bn_act_pick(), .act = act, .c = c, .x = x, .out = y};
    frost_bn_row_kernels rk = {bn_act_stats_rows, bn_act_apply_rows, &b};
    frost_bn_train_pass(&rk, p, m, c, gamma, beta, running_mean, running_var, save_mean,
                        save_invstd);
}

void frost_bn_act_forward_eval(const frost_bn_params *p, frost_act_kind act, int64_t m, int c,
                               const float *x, const float *gamma, const float *beta,
                               const float *running_mean, const float *running_var, float *y)
{
    if (act == FROST_ACT_IDENTITY || !frost_bn_act_fusable(act)) {
        frost_bn_forward_eval(p, m, c, x, gamma, beta, running_mean, running_var, y);
        if (act != FROST_ACT_IDENTITY && m > 0 && c > 0)
            frost_act_forward(act, m * c, y, y);
        return;
    }
    bn_act_job b = {.k = bn_act_pick(), .act = act, .c = c, .x = x, .out = y};
    frost_bn_row_kernels rk = {NULL, bn_act_apply_rows, &b};
    frost_bn_eval_pass(&rk, p, m, c, gamma, beta, running_mean, running_var);
}

static void bn_act_backward(frost_bn_sync *sync, frost_act_kind act, int64_t m, int c,
                            const float *x, const float *y, const float *gamma,
                            const float *save_mean, const float *save_invstd, const float *dy,
                            float *dx, bool overwrite, float *dgamma, float *dbeta)
{
    if (!frost_bn_act_fusable(act) || (!dx && !dgamma && !dbeta))
        return;
    if (act == FROST_ACT_IDENTITY) {
        if (overwrite)
            frost_bn_backward_write(sync, m, c, x, gamma, save_mean, save_invstd, dy, dx, dgamma,
                                    dbeta);
        else
            frost_bn_backward(sync, m, c, x, gamma, save_mean, save_invstd, dy, dx, dgamma, dbeta);
        return;
    }
    bn_act_job b = {.k = bn_act_pick(),
                    .act = act,
                    .c = c,
                    .x = x,
                    .y = y,
                    .dy = dy,
                    .out = dx,
                    .overwrite = overwrite};
    frost_bn_row_kernels rk = {bn_act_grad_sums_rows, bn_act_dx_rows, &b};
    frost_bn_backward_pass(sync, &rk, m, c, gamma, save_mean, save_invstd, dgamma, dbeta);
}

void frost_bn_act_backward(frost_bn_sync *sync, frost_act_kind act, int64_t m, int c,
                           const float *x, const float *y, const float *gamma,
                           const float *save_mean, const float *save_invstd, const float *dy,
                           float *dx, float *dgamma, float *dbeta)
{
    bn_act_backward(sync, act, m, c, x, y, gamma, save_mean, save_invstd, dy, dx, false, dgamma,
                    dbeta);
}

void frost_bn_act_backward_write(frost_bn_sync *sync, frost_act_kind act, int64_t m, int c,
                                 const float *x, const float *y, const float *gamma,
                                 const float *save_mean, const float *save_invstd, const float *dy,
                                 float *dx, float *dgamma, float *dbeta)
{
    bn_act_backward(sync, act, m, c, x, y, gamma, save_mean, save_invstd, dy, dx, true, dgamma,
                    dbeta);
}

/* ---- portable reference kernels ----
 * The expressions are those of frost_bn_*_ref and frost_act_*_ref (comparisons
 * false for NaN, so NaN propagates), hence bit-identical to the unfused ref path. */

BN_ACT_INLINE float act_ref(frost_act_kind k, float v) { return frost_act_value(k, v); }

/* The activation's derivative (0 or 1), read from its output. */
BN_ACT_INLINE bool keep_ref(frost_act_kind k, float y)
{
    switch (k) {
    case FROST_ACT_RELU: return y > 0.0f;
    case FROST_ACT_RELU6: return y > 0.0f && y < 6.0f;
    case FROST_ACT_HARDTANH: return y > -1.0f && y < 1.0f;
    case FROST_ACT_IDENTITY:
    case FROST_ACT_HSWISH: /* not a clamp: never fused (frost_bn_act_fusable) */
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: break;
    }
    return true;
}

BN_ACT_INLINE void apply_rows_ref(frost_act_kind k, int64_t rows, int tc, int64_t ld,
                                  const float *x, const float *mean, const float *scale,
                                  const float *shift, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        float *yr = y + r * ld;
        for (int j = 0; j < tc; j++)
            yr[j] = act_ref(k, (xr[j] - mean[j]) * scale[j] + shift[j]);
    }
}

void frost_bn_act_apply_ref(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                            const float *mean, const float *scale, const float *shift, float *y)
{
    switch (act) {
    case FROST_ACT_RELU:
        apply_rows_ref(FROST_ACT_RELU, rows, tc, ld, x, mean, scale, shift, y);
        break;
    case FROST_ACT_RELU6:
        apply_rows_ref(FROST_ACT_RELU6, rows, tc, ld, x, mean, scale, shift, y);
        break;
    case FROST_ACT_HARDTANH:
        apply_rows_ref(FROST_ACT_HARDTANH, rows, tc, ld, x, mean, scale, shift, y);
        break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT:
        apply_rows_ref(FROST_ACT_IDENTITY, rows, tc, ld, x, mean, scale, shift, y);
        break;
    }
}

BN_ACT_INLINE void sums_rows_ref(frost_act_kind k, int64_t rows, int tc, int64_t ld,
                                 const float *dy, const float *y, const float *x, double *s1,
                                 double *s2)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * ld, *yr = y + r * ld, *xr = x + r * ld;
        for (int j = 0; j < tc; j++) {
            double g = keep_ref(k, yr[j]) ? dyr[j] : 0.0f;
            s1[j] += g;
            s2[j] += g * (double)xr[j];
        }
    }
}

void frost_bn_act_sums_ref(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *dy,
                           const float *y, const float *x, double *s1, double *s2)
{
    switch (act) {
    case FROST_ACT_RELU: sums_rows_ref(FROST_ACT_RELU, rows, tc, ld, dy, y, x, s1, s2); break;
    case FROST_ACT_RELU6: sums_rows_ref(FROST_ACT_RELU6, rows, tc, ld, dy, y, x, s1, s2); break;
    case FROST_ACT_HARDTANH:
        sums_rows_ref(FROST_ACT_HARDTANH, rows, tc, ld, dy, y, x, s1, s2);
        break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT: sums_rows_ref(FROST_ACT_IDENTITY, rows, tc, ld, dy, y, x, s1, s2); break;
    }
}

BN_ACT_INLINE void dx_rows_ref(frost_act_kind k, int64_t rows, int tc, int64_t ld, const float *x,
                               const float *y, const float *dy, const float *mean,
                               const float *scale, const float *k1, const float *k2, float *dx,
                               bool overwrite)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld, *yr = y + r * ld, *dyr = dy + r * ld;
        float *dxr = dx + r * ld;
        for (int j = 0; j < tc; j++) {
            float g = keep_ref(k, yr[j]) ? dyr[j] : 0.0f;
            dxr[j] =
                (overwrite ? 0.0f : dxr[j]) + scale[j] * ((g - k1[j]) - (xr[j] - mean[j]) * k2[j]);
        }
    }
}

void frost_bn_act_dx_ref(frost_act_kind act, int64_t rows, int tc, int64_t ld, const float *x,
                         const float *y, const float *dy, const float *mean, const float *scale,
                         const float *k1, const float *k2, float *dx, bool overwrite)
{
    switch (act) {
    case FROST_ACT_RELU:
        dx_rows_ref(FROST_ACT_RELU, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    case FROST_ACT_RELU6:
        dx_rows_ref(FROST_ACT_RELU6, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    case FROST_ACT_HARDTANH:
        dx_rows_ref(FROST_ACT_HARDTANH, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    case FROST_ACT_IDENTITY: /* and the non-clamps, which never fuse */
    case FROST_ACT_HSWISH:
    case FROST_ACT_HSIGMOID:
    case FROST_ACT_SIGMOID:
    case FROST_ACT_SILU:
    case FROST_ACT_COUNT:
        dx_rows_ref(FROST_ACT_IDENTITY, rows, tc, ld, x, y, dy, mean, scale, k1, k2, dx, overwrite);
        break;
    }
}
