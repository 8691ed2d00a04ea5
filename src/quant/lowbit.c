/*
 * Binary and ternary weight schemes and binary activations: forward maps and their
 * straight-through backward rules (formulas and worked values in docs/lowbit.md).
 * Sums run in double so a group's mean does not depend on its length's rounding.
 */
#include <math.h>

#include "quant/lowbit.h"

float frost_binary_glorot_h(int64_t fan_in, int64_t fan_out)
{
    return (float)sqrt(1.5 / (double)(fan_in + fan_out));
}

void frost_binary_forward(int64_t n, const float *w, float h, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = frost_sign1(w[i]) * h;
}

void frost_binary_stochastic_forward(int64_t n, const float *w, float h, frost_rng *rng, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float p = (w[i] / h + 1.0f) * 0.5f; /* hard sigmoid */
        p = p < 0.0f ? 0.0f : p > 1.0f ? 1.0f : p;
        y[i] = frost_rng_uniform(rng) < p ? h : -h; /* u in [0, 1): p = 1 always gives +H */
    }
}

void frost_binary_clip(int64_t n, float *w, float h)
{
    for (int64_t i = 0; i < n; i++)
        w[i] = w[i] < -h ? -h : w[i] > h ? h : w[i];
}

static double mean_abs(int64_t n, const float *w)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += fabs((double)w[i]);
    return n > 0 ? s / (double)n : 0.0;
}

void frost_bwn_forward(int groups, int64_t inner, const float *w, float *alpha, float *y)
{
    for (int g = 0; g < groups; g++) {
        const float *wg = w + (int64_t)g * inner;
        alpha[g] = (float)mean_abs(inner, wg);
        for (int64_t i = 0; i < inner; i++)
            y[(int64_t)g * inner + i] = alpha[g] * frost_sign1(wg[i]);
    }
}

void frost_bwn_backward(int groups, int64_t inner, const float *w, const float *alpha,
                        const float *dy, float *dw)
{
    float inv_n = 1.0f / (float)inner;
    for (int g = 0; g < groups; g++)
        for (int64_t i = (int64_t)g * inner; i < (int64_t)(g + 1) * inner; i++)
            dw[i] += dy[i] * (inv_n + (fabsf(w[i]) <= 1.0f ? alpha[g] : 0.0f));
}

void frost_twn_forward(int groups, int64_t inner, const float *w, float *delta, float *a, float *y)
{
    for (int g = 0; g < groups; g++) {
        const float *wg = w + (int64_t)g * inner;
        float *yg = y + (int64_t)g * inner;
        float d = (float)(0.7 * mean_abs(inner, wg));
        double kept = 0.0;
        int64_t n_kept = 0;
        for (int64_t i = 0; i < inner; i++)
            if (fabsf(wg[i]) > d) {
                kept += fabs((double)wg[i]);
                n_kept++;
            }
        float s = n_kept ? (float)(kept / (double)n_kept) : 0.0f;
        for (int64_t i = 0; i < inner; i++)
            yg[i] = wg[i] > d ? s : wg[i] < -d ? -s : 0.0f;
        delta[g] = d;
        a[g] = s;
    }
}

static float ttq_threshold(int64_t n, const float *w, float t)
{
    float mx = 0.0f;
    for (int64_t i = 0; i < n; i++)
        mx = fmaxf(mx, fabsf(w[i]));
    return t * mx;
}

float frost_ttq_forward(int64_t n, const float *w, float t, float wp, float wn, float *y)
{
    float thr = ttq_threshold(n, w, t);
    for (int64_t i = 0; i < n; i++)
        y[i] = w[i] > thr ? wp : w[i] < -thr ? -wn : 0.0f;
    return thr;
}

void frost_ttq_backward(int64_t n, const float *w, float thr, float wp, float wn, const float *dy,
                        float *dw, float *dwp, float *dwn)
{
    double sp = 0.0, sn = 0.0;
    int64_t np = 0, nn = 0;
    for (int64_t i = 0; i < n; i++) {
        if (w[i] > thr) {
            dw[i] += wp * dy[i];
            sp += dy[i];
            np++;
        } else if (w[i] < -thr) {
            dw[i] += wn * dy[i];
            sn += dy[i];
            nn++;
        } else {
            dw[i] += dy[i];
        }
    }
    /* the mean, not the sum: a sum over thousands of weights made SGD's steps on the
     * scales hundreds of times larger than on the weights (docs/lowbit.md) */
    *dwp += np ? (float)(sp / (double)np) : 0.0f;
    *dwn -= nn ? (float)(sn / (double)nn) : 0.0f;
}

void frost_ttq_keep_positive(float *scales)
{
    if (scales[0] == 0.0f && scales[1] == 0.0f) /* not started: the first forward sets them */
        return;
    for (int k = 0; k < 2; k++)
        scales[k] = fmaxf(scales[k], FROST_TTQ_MIN_SCALE);
}

void frost_ttq_init_scales(int64_t n, const float *w, float t, float *wp, float *wn)
{
    float thr = ttq_threshold(n, w, t);
    double sp = 0.0, sn = 0.0;
    int64_t np = 0, nn = 0;
    for (int64_t i = 0; i < n; i++) {
        if (w[i] > thr) {
            sp += w[i];
            np++;
        } else if (w[i] < -thr) {
            sn -= w[i];
            nn++;
        }
    }
    *wp = np ? (float)(sp / (double)np) : 1e-3f;
    *wn = nn ? (float)(sn / (double)nn) : 1e-3f;
}

void frost_sign_forward(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = frost_sign1(x[i]);
}

void frost_sign_backward(int64_t n, const float *x, const float *dy, float *dx)
{
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) <= 1.0f)
            dx[i] += dy[i];
}

float frost_approx_sign_grad(float x)
{
    if (x >= -1.0f && x < 0.0f)
        return 2.0f + 2.0f * x;
    if (x >= 0.0f && x < 1.0f)
        return 2.0f - 2.0f * x;
    return 0.0f;
}

void frost_approx_sign_backward(int64_t n, const float *x, const float *dy, float *dx)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * frost_approx_sign_grad(x[i]);
}

void frost_xnor_conv_k(const frost_conv_params *p, frost_shape4 in, const float *x, float *a,
                       float *k)
{
    int oh = frost_conv_out_dim(in.h, p->kh, p->stride, p->pad_h);
    int ow = frost_conv_out_dim(in.w, p->kw, p->stride, p->pad_w);
    int64_t pixels = (int64_t)in.n * in.h * in.w;
    for (int64_t i = 0; i < pixels; i++)
        a[i] = (float)mean_abs(in.c, x + i * in.c);
    float inv = 1.0f / (float)(p->kh * p->kw);
    for (int n = 0; n < in.n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double s = 0.0;
                for (int ky = 0; ky < p->kh; ky++) {
                    int iy = oy * p->stride - p->pad_h + ky;
                    for (int kx = 0; kx < p->kw && iy >= 0 && iy < in.h; kx++) {
                        int ix = ox * p->stride - p->pad_w + kx;
                        if (ix >= 0 && ix < in.w)
                            s += a[((int64_t)n * in.h + iy) * in.w + ix];
                    }
                }
                k[((int64_t)n * oh + oy) * ow + ox] = (float)s * inv;
            }
}

void frost_xnor_linear_beta(int n, int64_t in, const float *x, float *beta)
{
    for (int i = 0; i < n; i++)
        beta[i] = (float)mean_abs(in, x + (int64_t)i * in);
}

void frost_xnor_scale_rows(int64_t rows, int c, const float *k, const float *b, float *y)
{
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < c; j++) {
            float bias = b ? b[j] : 0.0f;
            y[r * c + j] = k[r] * (y[r * c + j] - bias) + bias;
        }
}
