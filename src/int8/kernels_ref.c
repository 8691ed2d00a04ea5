/*
 * Reference int8 kernels: plain C loops written straight from the arithmetic in
 * kernels.h and requant.h. They are the oracle for the AVX2 kernels and run
 * everywhere else.
 */
#include "int8/kernels.h"
#include "int8/requant.h"

static uint8_t clamp_u8(int32_t v, int32_t lo, int32_t hi)
{
    return (uint8_t)(v < lo ? lo : v > hi ? hi : v);
}

static int32_t conv_acc(const frost_int8_conv_args *a, const uint8_t *x, int oy, int ox, int co)
{
    int cpg_in = a->cin / a->groups, cpg_out = a->cout / a->groups;
    int g = co / cpg_out;
    const int8_t *w = a->weight + (int64_t)co * a->k * a->k * cpg_in;
    int32_t acc = 0;
    for (int ky = 0; ky < a->k; ky++) {
        int iy = oy * a->stride - a->pad + ky;
        if (iy < 0 || iy >= a->h)
            continue;
        for (int kx = 0; kx < a->k; kx++) {
            int ix = ox * a->stride - a->pad + kx;
            if (ix < 0 || ix >= a->w)
                continue;
            const uint8_t *xp = x + ((int64_t)iy * a->w + ix) * a->cin + g * cpg_in;
            const int8_t *wp = w + (ky * a->k + kx) * cpg_in;
            for (int ci = 0; ci < cpg_in; ci++)
                acc += (int32_t)wp[ci] * ((int32_t)xp[ci] - a->in_zp);
        }
    }
    return a->bias[co] + (int32_t)((uint32_t)acc << a->acc_shift);
}

void frost_int8_conv_ref(const frost_int8_conv_args *a, const uint8_t *x, uint8_t *y)
{
    for (int oy = 0; oy < a->oh; oy++)
        for (int ox = 0; ox < a->ow; ox++)
            for (int co = 0; co < a->cout; co++) {
                int32_t acc = conv_acc(a, x, oy, ox, co);
                y[((int64_t)oy * a->ow + ox) * a->cout + co] =
                    a->fscale
                        ? frost_requant_u8_float(acc, a->fscale[co], a->out_zp, a->lo, a->hi)
                        : frost_requant_u8(acc, a->mult[co], a->shift[co], a->out_zp, a->lo, a->hi);
            }
}

void frost_int8_add_float_params(frost_int8_add_args *a, float s_a, float s_b, float s_y)
{
    /* float32 operations in exactly this order, one of them fused as ONNX Runtime's build
     * fuses it (int8/ is built with -ffp-contract=off: nothing else is fused) */
    a->fa = s_a / s_y;
    a->fb = s_b / s_y;
    float zb = a->fb * (float)a->b_zp;
    a->fixed = (float)a->out_zp - fmaf(a->fa, (float)a->a_zp, zb);
}

static int32_t add_one(const frost_int8_add_args *a, uint8_t x0, uint8_t x1)
{
    if (a->fp)
        return frost_round_clamped(fmaf((float)x0, a->fa, fmaf((float)x1, a->fb, a->fixed)));
    int32_t s0 = frost_mbqm((int32_t)(((uint32_t)(x0 - a->a_zp)) << 20), a->mult[0], a->shift[0]);
    int32_t s1 = frost_mbqm((int32_t)(((uint32_t)(x1 - a->b_zp)) << 20), a->mult[1], a->shift[1]);
    return frost_mbqm(s0 + s1, a->mult[2], a->shift[2]) + a->out_zp;
}

void frost_int8_add_ref(const frost_int8_add_args *a, int64_t n, const uint8_t *x0,
                        const uint8_t *x1, uint8_t *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = clamp_u8(add_one(a, x0[i], x1[i]), a->lo, a->hi);
}

static int32_t mul_one(const frost_int8_mul_args *a, uint8_t x0, uint8_t x1)
{
    int32_t prod = ((int32_t)x0 - a->a_zp) * ((int32_t)x1 - a->b_zp);
    if (a->fp)
        return frost_round_clamped((float)prod * a->f) + a->out_zp;
    return frost_mbqm((int32_t)((uint32_t)prod << a->acc_shift), a->mult, a->shift) + a->out_zp;
}

void frost_int8_mul_ref(const frost_int8_mul_args *a, int64_t pixels, int c, bool per_channel,
                        const uint8_t *x0, const uint8_t *x1, uint8_t *y)
{
    for (int64_t p = 0; p < pixels; p++) {
        const uint8_t *ap = x0 + p * c, *bp = per_channel ? x1 : x1 + p * c;
        uint8_t *yp = y + p * c;
        for (int ch = 0; ch < c; ch++)
            yp[ch] = clamp_u8(mul_one(a, ap[ch], bp[ch]), a->lo, a->hi);
    }
}

void frost_int8_lut_rows(const uint8_t *lut, int64_t rows, int len, const uint8_t *x, int x_stride,
                         uint8_t *y, int y_stride)
{
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *xr = x + r * x_stride;
        uint8_t *yr = y + r * y_stride;
        for (int i = 0; i < len; i++)
            yr[i] = lut[xr[i]];
    }
}

/* The window of output (oy, ox) clipped to the input: [y0, y1) x [x0, x1). */
static void window(const frost_int8_pool_args *a, int oy, int ox, int *y0, int *y1, int *x0,
                   int *x1)
{
    int iy = oy * a->stride - a->pad, ix = ox * a->stride - a->pad;
    *y0 = iy < 0 ? 0 : iy;
    *x0 = ix < 0 ? 0 : ix;
    *y1 = iy + a->k > a->h ? a->h : iy + a->k;
    *x1 = ix + a->k > a->w ? a->w : ix + a->k;
}

void frost_int8_maxpool_ref(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y)
{
    for (int oy = 0; oy < a->oh; oy++)
        for (int ox = 0; ox < a->ow; ox++) {
            int y0, y1, x0, x1;
            window(a, oy, ox, &y0, &y1, &x0, &x1);
            uint8_t *yo = y + ((int64_t)oy * a->ow + ox) * a->c;
            for (int c = 0; c < a->c; c++) {
                uint8_t m = 0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        uint8_t v = x[((int64_t)iy * a->w + ix) * a->c + c];
                        m = v > m ? v : m;
                    }
                yo[c] = a->lut[m];
            }
        }
}

void frost_int8_avgpool_ref(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y)
{
    for (int oy = 0; oy < a->oh; oy++)
        for (int ox = 0; ox < a->ow; ox++) {
            int y0, y1, x0, x1;
            window(a, oy, ox, &y0, &y1, &x0, &x1);
            int n = (y1 - y0) * (x1 - x0);
            uint8_t *yo = y + ((int64_t)oy * a->ow + ox) * a->c;
            for (int c = 0; c < a->c; c++) {
                int32_t acc = 0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        acc += (int32_t)x[((int64_t)iy * a->w + ix) * a->c + c] - a->in_zp;
                acc = (int32_t)((uint32_t)acc << a->acc_shift);
                yo[c] = frost_requant_u8(acc, a->mult[n], a->shift[n], a->out_zp, a->lo, a->hi);
            }
        }
}

void frost_int8_gap_ref(const frost_int8_pool_args *a, const uint8_t *x, uint8_t *y)
{
    int64_t n = (int64_t)a->h * a->w;
    for (int c = 0; c < a->c; c++) {
        int32_t acc = 0;
        for (int64_t p = 0; p < n; p++)
            acc += (int32_t)x[p * a->c + c] - a->in_zp;
        acc = (int32_t)((uint32_t)acc << a->acc_shift);
        y[c] = frost_requant_u8(acc, a->mult[0], a->shift[0], a->out_zp, a->lo, a->hi);
    }
}

void frost_int8_linear_ref(int cin, int cout, int32_t in_zp, const int8_t *w, const uint8_t *x,
                           int32_t *acc)
{
    for (int o = 0; o < cout; o++) {
        int32_t s = 0;
        const int8_t *wo = w + (int64_t)o * cin;
        for (int i = 0; i < cin; i++)
            s += (int32_t)wo[i] * ((int32_t)x[i] - in_zp);
        acc[o] = s;
    }
}
