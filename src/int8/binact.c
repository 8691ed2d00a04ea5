/*
 * Conv / linear nodes with a binarized input (BNN, Bi-Real: "ain": "sign"; XNOR-Net:
 * "ain": "xnor"; docs/int8.md#low-bit-layers).
 *
 * The node reads an ordinary 8-bit tensor and sees +1 where the stored value is >= its zero
 * point (the real value (q - Z) S >= 0: training's sign(0) = +1), -1 elsewhere. Its weights
 * are -1/0/+1 codes and its per-channel weight scale is the layer's alpha (BN folded), so
 * the layer's output is alpha_c * dot + bias_c with an integer dot: the int8 output stage
 * runs on it as on any accumulator whose input scale is 1 (acc = bias + dot * 2^acc_shift,
 * requantized with the node's multipliers).
 *
 * Training pads the binarized input with 0; the popcount kernels (src/binary) pad with -1,
 * so a padded tap adds -w there. The exact dot is the kernel's plus the sum of the weights
 * over the output pixel's padded taps: one integer per output channel for every output
 * pixel that touches the border, computed here once (pad_fix).
 *
 * XNOR-Net scales the product by K, computed from the real input as training does (the
 * dequantized 8-bit values through frost_xnor_conv_k / frost_xnor_linear_beta); that output
 * stage is float: K * alpha_c * dot + bias_c, quantized as the fake-quant quantizes.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "binary/binary.h"
#include "binary/kernels.h"
#include "core/cpu.h"
#include "core/util.h"
#include "frost/quant.h"
#include "int8/i8model.h"
#include "int8/kernels.h"
#include "int8/requant.h"
#include "ops/ops.h"
#include "quant/lowbit.h"

struct frost_int8_bin {
    bool popcount; /* groups 1: w holds the popcount weights (else the reference loop) */
    frost_bin_weights w;
    float *xnor_bias; /* xnor: [cout] the float bias alpha_c * bias_c / 2^acc_shift */
    double *xnor_abs; /* xnor convs whose K xnor_k computes (else NULL): [256] |(q - Z) S| */
    /* sign, the AVX2 output stage: bias_eff zero-padded to rq_stride (cout rounded up to
     * 16) and the frost_rq_pack constants, fixed point and float */
    int rq_stride;
    int32_t *bias16, *rq_fixed, *rq_float;
    int32_t *pad_row; /* [oh * ow]: row of pad_fix for a border pixel, -1 inside */
    int32_t *pad_fix; /* [border pixels][cout]: sum of the weights over the padded taps */
    /* conv nodes whose rows fit the row-gather conv (rows_conv), else frost_bin_conv: the
     * packed input's layout, in words (see "the row-gather conv" below) */
    bool rows;
    int row_lead, row_stride;
    uint64_t *nibbles; /* frost_bin_split_nibbles of the weights for the AVX2 path, or NULL */
    /* [border pixels][blocks * 8]: the weights' base plus pad_fix, the base the row-gather
     * conv hands the kernels at a border pixel (dot = base - 2 differ: corrected for free) */
    int32_t *pad_base;
};

/* The row-gather conv's stack buffers: one output pixel's input row (3x3 taps of 4096
 * channels) and its dots (channels rounded up to 8). Larger nodes take frost_bin_conv. */
enum { ROW_PATCH_WORDS = 576, ROW_DOTS = 1024 };

static const char *const ain_names[] = {"", "sign", "xnor"};

const char *frost_int8_ain_name(frost_int8_ain a)
{
    return (unsigned)a < FROST_I8_AIN_COUNT ? ain_names[a] : "?";
}

int frost_int8_ain_parse(const char *name)
{
    for (int i = 1; i < FROST_I8_AIN_COUNT; i++)
        if (strcmp(name, ain_names[i]) == 0)
            return i;
    return -1;
}

void frost_int8_set_bin_path(frost_int8_model *m, int path) { m->bin_path = path; }

void frost_int8_bin_free(frost_int8_node *n)
{
    if (!n->bin)
        return;
    frost_bin_weights_free(&n->bin->w);
    free(n->bin->xnor_bias);
    free(n->bin->xnor_abs);
    free(n->bin->bias16);
    free(n->bin->rq_fixed);
    free(n->bin->rq_float);
    free(n->bin->pad_row);
    free(n->bin->pad_fix);
    free(n->bin->nibbles);
    free(n->bin->pad_base);
    free(n->bin);
    n->bin = NULL;
}

static int64_t inner_of(const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    return n->op == FROST_I8_CONV ? (int64_t)n->k * n->k * (in->c / n->groups)
                                  : (int64_t)in->h * in->w * in->c;
}

static frost_status fail(const frost_int8_node *n, const char *what)
{
    return frost_fail(FROST_ERR_FORMAT, "int8 model: node '%s' (%s, binarized input): %s", n->name,
                      frost_int8_op_name(n->op), what);
}

/* The range [t0, t1) of kernel taps along one axis that land inside an input of `size` for
 * output position o. */
static void valid_taps(int o, int stride, int pad, int k, int size, int *t0, int *t1)
{
    int first = o * stride - pad;
    *t0 = first < 0 ? -first : 0;
    *t1 = first + k > size ? size - first : k;
}

/* pad_row / pad_fix of a conv (the padding correction, see the top of the file). */
static frost_status padding_fix(const frost_int8_model *m, const frost_int8_node *n,
                                struct frost_int8_bin *b)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int pixels = n->h * n->w, border = 0, k = n->k, cin = in->c;
    b->pad_row = malloc((size_t)pixels * sizeof(int32_t));
    if (!b->pad_row)
        return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    for (int oy = 0; oy < n->h; oy++)
        for (int ox = 0; ox < n->w; ox++) {
            int y0, y1, x0, x1;
            valid_taps(oy, n->stride, n->pad, k, in->h, &y0, &y1);
            valid_taps(ox, n->stride, n->pad, k, in->w, &x0, &x1);
            bool inside = y0 == 0 && y1 == k && x0 == 0 && x1 == k;
            b->pad_row[oy * n->w + ox] = inside ? -1 : border++;
        }
    b->pad_fix = calloc((size_t)(border ? border : 1) * (size_t)n->c, sizeof(int32_t));
    if (!b->pad_fix)
        return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    for (int oy = 0; oy < n->h; oy++)
        for (int ox = 0; ox < n->w; ox++) {
            int r = b->pad_row[oy * n->w + ox], y0, y1, x0, x1;
            if (r < 0)
                continue;
            valid_taps(oy, n->stride, n->pad, k, in->h, &y0, &y1);
            valid_taps(ox, n->stride, n->pad, k, in->w, &x0, &x1);
            for (int o = 0; o < n->c; o++) {
                int32_t s = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        if (ky >= y0 && ky < y1 && kx >= x0 && kx < x1)
                            continue; /* a real tap */
                        const int8_t *w = n->weight + (((int64_t)o * k + ky) * k + kx) * cin;
                        for (int ci = 0; ci < cin; ci++)
                            s += w[ci];
                    }
                b->pad_fix[(size_t)r * n->c + o] = s;
            }
        }
    return FROST_OK;
}

/* The popcount weights of a groups-1 node from its -1/0/+1 codes. */
static frost_status popcount_weights(const frost_int8_model *m, const frost_int8_node *n,
                                     struct frost_int8_bin *b)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int64_t inner = inner_of(m, n), count = inner * n->c;
    float *wf = malloc((size_t)count * sizeof(float));
    if (!wf)
        return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    for (int64_t i = 0; i < count; i++)
        wf[i] = (float)n->weight[i];
    int k = n->op == FROST_I8_CONV ? n->k : 1, c = n->op == FROST_I8_CONV ? in->c : (int)inner;
    frost_status s = n->wbits == 1 ? frost_bin_weights_pack(wf, n->c, k, k, c, &b->w)
                                   : frost_bin_weights_pack_ternary(wf, n->c, k, k, c, &b->w);
    free(wf);
    return s;
}

/* The constants of the AVX2 output stage (sign nodes; on an AVX2 CPU only). */
static frost_status vector_output_prepare(frost_int8_node *n)
{
    struct frost_int8_bin *b = n->bin;
    if (!frost_cpu_has_avx2())
        return FROST_OK;
    int stride = (n->c + 15) / 16 * 16;
    b->rq_stride = stride;
    b->bias16 = calloc((size_t)stride, sizeof(int32_t));
    b->rq_fixed = malloc(frost_int8_bin_rq_bytes(stride));
    b->rq_float = malloc(frost_int8_bin_rq_bytes(stride));
    if (!b->bias16 || !b->rq_fixed || !b->rq_float)
        return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    memcpy(b->bias16, n->bias_eff, (size_t)n->c * sizeof(int32_t));
    frost_int8_bin_rq_pack(n->mult, n->shift, NULL, n->c, stride, b->rq_fixed);
    frost_int8_bin_rq_pack(n->mult, n->shift, n->fscale, n->c, stride, b->rq_float);
    return FROST_OK;
}

/* XNOR: the float bias and the float scratch (the dequantized input, its channel means A,
 * the scale K per output pixel). */
static frost_status xnor_prepare(const frost_int8_model *m, frost_int8_node *n, size_t *floats)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    n->bin->xnor_bias = malloc((size_t)n->c * sizeof(float));
    if (!n->bin->xnor_bias)
        return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    for (int c = 0; c < n->c; c++)
        n->bin->xnor_bias[c] =
            (float)((double)n->bias[c] * n->wscale[c] / (double)(1 << n->acc_shift));
    size_t f = (size_t)in->h * in->w * in->c + (size_t)in->h * in->w + (size_t)n->h * n->w;
    *floats = f > *floats ? f : *floats;
    /* xnor_k's table: exact sums need a normal scale and fewer than 2^20 channels */
    if (n->op == FROST_I8_CONV && isnormal(in->scale) && in->scale > 0.0f && in->c < (1 << 20)) {
        n->bin->xnor_abs = malloc(256 * sizeof(double));
        if (!n->bin->xnor_abs)
            return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
        for (int q = 0; q < 256; q++) /* the expression of xnor_scale */
            n->bin->xnor_abs[q] = fabs((double)(((float)q - (float)in->zp) * in->scale));
    }
    return FROST_OK;
}

/* pad_base from pad_row / pad_fix; false when out of memory. */
static bool pad_bases(const frost_int8_node *n, struct frost_int8_bin *b)
{
    int border = 0, padded = b->w.blocks * FROST_BIN_BLOCK;
    for (int p = 0; p < n->h * n->w; p++)
        border = b->pad_row[p] >= border ? b->pad_row[p] + 1 : border;
    b->pad_base = malloc((size_t)(border ? border : 1) * (size_t)padded * sizeof(int32_t));
    if (!b->pad_base)
        return false;
    for (int r = 0; r < border; r++)
        for (int j = 0; j < padded; j++)
            b->pad_base[(size_t)r * padded + j] =
                b->w.base[j] + (j < n->c ? b->pad_fix[(size_t)r * n->c + j] : 0);
    return true;
}

/* The row-gather conv's input layout when the node fits its buffers: `lead` zero words
 * (the left padding's bits sit in them), the row's w * c bits, then zero words for the right
 * padding and for the word past the last one that bits_at reads; `pad` zero rows above and
 * below. Returns the words of the packed input (at least frost_bin_conv's `words`). */
static size_t rows_layout(const frost_int8_model *m, const frost_int8_node *n,
                          struct frost_int8_bin *b, size_t words)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    b->rows = b->w.k_words <= ROW_PATCH_WORDS && b->w.blocks * FROST_BIN_BLOCK <= ROW_DOTS;
    if (!b->rows)
        return words;
    /* The nibble-split kernel (binary weights) loads twice the weight bytes for 3/4 of the
     * vector operations and splits each pixel's row first: on the Zen 3 it was 5% faster
     * with 9 words a row and weights in L1 (64 channels), 7-14% slower with 3-5 words. */
    size_t groups = (size_t)b->w.blocks * b->w.k_words;
    if (!b->w.mask && frost_cpu_has_avx2() && b->w.k_words >= 8 &&
        groups * 2 * FROST_BIN_BLOCK * sizeof(uint64_t) <= 16 * 1024) {
        b->nibbles = malloc(groups * 2 * FROST_BIN_BLOCK * sizeof(uint64_t));
        if (b->nibbles) /* no memory: the plain kernels need none */
            frost_bin_split_nibbles(b->w.bits, groups, b->nibbles);
    }
    if (!pad_bases(n, b)) { /* no memory: frost_bin_conv needs none of this */
        b->rows = false;
        return words;
    }
    int lead = frost_bin_words(n->pad * in->c);
    b->row_lead = lead;
    b->row_stride = lead + frost_bin_words(in->w * in->c) + lead + 1;
    size_t need = (size_t)(in->h + 2 * n->pad) * (size_t)b->row_stride;
    return need > words ? need : words;
}

frost_status frost_int8_bin_prepare(frost_int8_model *m, frost_int8_node *n, size_t *x_words,
                                    size_t *dots, size_t *floats)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int64_t inner = inner_of(m, n);
    if (n->op != FROST_I8_CONV && n->op != FROST_I8_LINEAR)
        return fail(n, "only conv and linear nodes binarize their input");
    if (n->wbits != 1 && n->wbits != 2)
        return fail(n, "needs packed binary or ternary weights (\"wbits\" 1 or 2)");
    if (n->acc_shift < 0 || n->acc_shift > 20 || (inner << n->acc_shift) > (INT64_C(1) << 29))
        return fail(n, "accumulator shift outside 0..20 or too many inputs");
    int32_t *be = frost_int8_own(m, (size_t)n->c * 4);
    n->fscale = be ? frost_int8_own(m, (size_t)n->c * sizeof(float)) : NULL;
    if (!n->fscale)
        return FROST_ERR_NOMEM;
    for (int c = 0; c < n->c; c++) {
        if (n->bias[c] > (1 << 29) || n->bias[c] < -(1 << 29))
            return fail(n, "bias out of range");
        be[c] = n->bias[c]; /* +-1 has no zero point to take out */
        n->fscale[c] = n->wscale[c] / n->scale / (float)(1 << n->acc_shift); /* S_x = 1 */
    }
    n->bias_eff = be;
    frost_int8_bin_free(n);
    n->bin = calloc(1, sizeof *n->bin);
    if (!n->bin)
        return frost_fail(FROST_ERR_NOMEM, "int8 model: out of memory");
    size_t d = (size_t)n->h * n->w * n->c;
    *dots = d > *dots ? d : *dots;
    if (n->ain == FROST_I8_AIN_XNOR)
        FROST_TRY(xnor_prepare(m, n, floats));
    else
        FROST_TRY(vector_output_prepare(n));
    n->bin->popcount = n->groups == 1; /* grouped / depthwise: the reference loop */
    if (!n->bin->popcount)
        return FROST_OK;
    FROST_TRY(popcount_weights(m, n, n->bin));
    if (n->op == FROST_I8_CONV)
        FROST_TRY(padding_fix(m, n, n->bin));
    size_t xw = n->op == FROST_I8_CONV ? (size_t)in->h * in->w * (size_t)frost_bin_words(in->c)
                                       : (size_t)frost_bin_words((int)inner);
    if (n->op == FROST_I8_CONV)
        xw = rows_layout(m, n, n->bin, xw);
    *x_words = xw > *x_words ? xw : *x_words;
    return FROST_OK;
}

/* acc = bias + dot * 2^acc_shift, requantized as every conv / linear output. */
static inline uint8_t sign_output(const frost_int8_model *m, const frost_int8_node *n, int o,
                                  int32_t dot)
{
    int32_t acc = n->bias_eff[o] + (int32_t)((uint32_t)dot << n->acc_shift);
    if (m->float_requant)
        return frost_requant_u8_float(acc, n->fscale[o], n->zp, n->lo, n->hi);
    return frost_requant_u8(acc, n->mult[o], n->shift[o], n->zp, n->lo, n->hi);
}

/* The direct loop: dots of +-1 (stored value >= zero point) with zero padding, any groups. */
static void reference_dots(const frost_int8_model *m, const frost_int8_node *n, const uint8_t *x,
                           int32_t *dots)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int zp = in->zp;
    if (n->op == FROST_I8_LINEAR) {
        int64_t inner = inner_of(m, n);
        for (int o = 0; o < n->c; o++) {
            const int8_t *w = n->weight + o * inner;
            int32_t dot = 0;
            for (int64_t i = 0; i < inner; i++)
                dot += x[i] >= zp ? w[i] : -w[i];
            dots[o] = dot;
        }
        return;
    }
    int k = n->k, cg = in->c / n->groups, og = n->c / n->groups;
    for (int oy = 0; oy < n->h; oy++)
        for (int ox = 0; ox < n->w; ox++)
            for (int o = 0; o < n->c; o++) {
                int32_t dot = 0, g = o / og;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * n->stride - n->pad + ky;
                    for (int kx = 0; kx < k && iy >= 0 && iy < in->h; kx++) {
                        int ix = ox * n->stride - n->pad + kx;
                        if (ix < 0 || ix >= in->w)
                            continue; /* padding: 0, as training's conv of sign(x) */
                        const uint8_t *px = x + ((int64_t)iy * in->w + ix) * in->c + g * cg;
                        const int8_t *w = n->weight + (((int64_t)o * k + ky) * k + kx) * cg;
                        for (int ci = 0; ci < cg; ci++)
                            dot += px[ci] >= zp ? w[ci] : -w[ci];
                    }
                }
                dots[((int64_t)oy * n->w + ox) * n->c + o] = dot;
            }
}

/* Sign bits (1 where x >= zp) of `pixels` runs of c stored values, tails zero. */
static void pack_signs(const uint8_t *x, int64_t pixels, int c, int zp, uint64_t *out)
{
    if (frost_cpu_has_avx2()) {
        frost_int8_bin_pack_signs_avx2(x, pixels, c, zp, out);
        return;
    }
    int words = frost_bin_words(c);
    for (int64_t p = 0; p < pixels; p++) {
        const uint8_t *px = x + p * c;
        uint64_t *dst = out + p * words;
        for (int w = 0; w < words; w++) {
            int end = (w + 1) * 64 < c ? 64 : c - w * 64;
            uint64_t v = 0;
            for (int b = 0; b < end; b++)
                v |= (uint64_t)(px[w * 64 + b] >= zp) << b;
            dst[w] = v;
        }
    }
}

/* The popcount path: dots with the kernels' -1 padding corrected to 0; false if the
 * kernel failed (out of memory for its scratch). */
static bool popcount_dots(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x,
                          int32_t *dots)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    const struct frost_int8_bin *b = n->bin;
    frost_bin_output counts = {.kind = FROST_BIN_OUT_COUNTS};
    frost_bin_path path = (frost_bin_path)m->bin_path;
    if (n->op == FROST_I8_LINEAR) {
        pack_signs(x, 1, (int)inner_of(m, n), in->zp, m->bin_x);
        return frost_bin_linear(1, m->bin_x, &b->w, &counts, dots, path) == FROST_OK;
    }
    pack_signs(x, (int64_t)in->h * in->w, in->c, in->zp, m->bin_x);
    frost_bin_conv_geom g = {.n = 1, .h = in->h, .w = in->w, .stride = n->stride, .pad = n->pad};
    if (frost_bin_conv(&g, m->bin_x, &b->w, &counts, dots, path) != FROST_OK)
        return false;
    for (int p = 0; p < n->h * n->w; p++) {
        int r = b->pad_row[p];
        for (int o = 0; r >= 0 && o < n->c; o++)
            dots[(size_t)p * n->c + o] += b->pad_fix[(size_t)r * n->c + o];
    }
    return true;
}

/* XNOR's scale from the real input, as training computes it (frost_xnor_conv_k /
 * frost_xnor_linear_beta on the dequantized values (q - Z) S): K per output pixel. */
static const float *xnor_scale(const frost_int8_model *m, const frost_int8_node *n,
                               const uint8_t *x)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    int64_t len = (int64_t)in->h * in->w * in->c;
    float *xf = m->bin_f, *a = xf + len, *k = a + (int64_t)in->h * in->w;
    for (int64_t i = 0; i < len; i++)
        xf[i] = ((float)x[i] - (float)in->zp) * in->scale;
    if (n->op == FROST_I8_LINEAR) {
        frost_xnor_linear_beta(1, len, xf, k);
        return k;
    }
    frost_conv_params p = {.kh = n->k,
                           .kw = n->k,
                           .stride = n->stride,
                           .pad_h = n->pad,
                           .pad_w = n->pad,
                           .groups = n->groups,
                           .cin = in->c,
                           .cout = n->c};
    frost_shape4 s = {1, in->h, in->w, in->c};
    frost_xnor_conv_k(&p, s, xf, a, k);
    return k;
}

/* K of an xnor conv as xnor_scale computes it, without the float copy of the input. A pixel's
 * channel mean sums the table xnor_abs[q] = |(q - Z) S| in double, four partial sums: every
 * |(q - Z) S| is a float of at least S, so a multiple of S's float ulp u, and below 256 S,
 * so a sum of fewer than 2^20 of them is an integer times u below 2^49 u: exact in double in
 * any order, hence equal to frost_xnor_conv_k's sequential sum. The box filter over the
 * means is frost_xnor_conv_k's loop (same order). */
static const float *xnor_k(const frost_int8_model *m, const frost_int8_node *n, const uint8_t *x)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    const double *tab = n->bin->xnor_abs;
    int c = in->c, pixels = in->h * in->w;
    float *a = m->bin_f, *k = a + pixels;
    for (int p = 0; p < pixels; p++) {
        const uint8_t *px = x + (size_t)p * c;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        int i = 0;
        for (; i + 4 <= c; i += 4) {
            s0 += tab[px[i]];
            s1 += tab[px[i + 1]];
            s2 += tab[px[i + 2]];
            s3 += tab[px[i + 3]];
        }
        for (; i < c; i++)
            s0 += tab[px[i]];
        a[p] = (float)(((s0 + s1) + (s2 + s3)) / (double)c);
    }
    if (m->use_avx2) {
        frost_int8_xnor_box_avx2(a, in->h, in->w, n->k, n->stride, n->pad, n->h, n->w, k);
        return k;
    }
    float inv = 1.0f / (float)(n->k * n->k);
    for (int oy = 0; oy < n->h; oy++) {
        int y0, y1;
        valid_taps(oy, n->stride, n->pad, n->k, in->h, &y0, &y1);
        for (int ox = 0; ox < n->w; ox++) {
            int x0, x1; /* the taps inside, in frost_xnor_conv_k's order */
            valid_taps(ox, n->stride, n->pad, n->k, in->w, &x0, &x1);
            int at = (oy * n->stride - n->pad) * in->w + ox * n->stride - n->pad;
            double s = 0.0;
            for (int ky = y0; ky < y1; ky++)
                for (int kx = x0; kx < x1; kx++)
                    s += a[at + ky * in->w + kx];
            k[oy * n->w + ox] = (float)s * inv;
        }
    }
    return k;
}

/* XNOR's output K * alpha_c * dot + bias_c in float, quantized as the fake-quant does, for
 * `pixels` pixels from pixel p0 on. */
static void xnor_outputs(const frost_int8_model *m, const frost_int8_node *n, const float *k,
                         int p0, int pixels, const int32_t *dots, uint8_t *y)
{
    const float *bias = n->bin->xnor_bias;
    if (m->use_avx2) {
        frost_int8_xnor_output_avx2(pixels, n->c, dots, k + p0, n->wscale, bias, n->scale, n->zp,
                                    n->lo, n->hi, y);
        return;
    }
    for (int p = 0; p < pixels; p++)
        for (int o = 0; o < n->c; o++) {
            float v = k[p0 + p] * (n->wscale[o] * (float)dots[(size_t)p * n->c + o]) + bias[o];
            y[(size_t)p * n->c + o] = (uint8_t)frost_quantize_one(v, n->scale, n->zp, n->lo, n->hi);
        }
}

/* ---- the row-gather conv ----
 *
 * The signs of the input are packed as one bit string per image row (pixel ix's c bits at
 * bit ix * c of the row, no word padding per pixel; rows_layout), so the kw taps of a kernel
 * row are one run of kw * c bits, read with two shifts per word, and an output pixel's row
 * in the weights' layout (binary.h: the kh * kw taps' c bits back to back) is kh such runs
 * appended. frost_bin_conv instead appends the kh * kw taps one pixel at a time, which cost
 * as much as the popcounts on 16-64 channel layers. Zero bits are -1 values, so padding
 * is the popcount kernels' -1 padding and pad_fix corrects it as for frost_bin_conv. Each
 * output row is finished (padding correction, output stage) while its dots are in L1. */

/* The packed input of the row-gather conv (rows_layout). */
static void pack_rows(const frost_int8_model *m, const frost_int8_node *n, const uint8_t *x)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    const struct frost_int8_bin *b = n->bin;
    size_t stride = (size_t)b->row_stride, run = (size_t)in->w * in->c;
    memset(m->bin_x, 0, (size_t)(in->h + 2 * n->pad) * stride * sizeof(uint64_t));
    for (int iy = 0; iy < in->h; iy++)
        pack_signs(x + iy * run, 1, (int)run, in->zp,
                   m->bin_x + (iy + n->pad) * stride + b->row_lead);
}

/* 64 bits of a packed row from bit `at` on (the row has a word past the last one read). */
static inline uint64_t bits_at(const uint64_t *row, size_t at)
{
    size_t q = at / 64;
    unsigned r = (unsigned)(at % 64);
    /* (next << 1) << (63 - r): no shift by 64 when r is 0 */
    return (row[q] >> r) | ((row[q + 1] << 1) << (63 - r));
}

/* k runs of `run` bits, from bit `start` of k consecutive packed rows, appended into patch
 * (zero tail). Inlined with constant k and run for the common 3x3 layers: the compiler then
 * unrolls the loops and drops the bit writer's branches (a quarter of a 16-channel layer's
 * time went to this gather before). */
static inline __attribute__((always_inline)) void
gather_runs(const uint64_t *row, size_t stride, size_t start, int k, int run, uint64_t *patch)
{
    uint64_t cur = 0;
    int pos = 0; /* bits of cur filled */
    for (int ky = 0; ky < k; ky++, row += stride)
        for (int done = 0; done < run; done += 64) {
            int len = run - done < 64 ? run - done : 64;
            uint64_t v = bits_at(row, start + (size_t)done);
            v &= len < 64 ? (UINT64_C(1) << len) - 1 : ~UINT64_C(0);
            cur |= v << pos;
            if (pos + len < 64) {
                pos += len;
                continue;
            }
            *patch++ = cur;
            cur = pos ? v >> (64 - pos) : 0;
            pos = pos + len - 64;
        }
    if (pos)
        *patch = cur;
}

#define LOW32 UINT64_C(0xffffffff)
#define LOW48 UINT64_C(0xffffffffffff)

/* The input row of output pixel (oy, ox) in the weights' layout (zero tail). */
static void gather_rows(const frost_int8_model *m, const frost_int8_node *n, int oy, int ox,
                        uint64_t *patch)
{
    const struct frost_int8_bin *b = n->bin;
    int c = m->nodes[n->in[0]].c;
    /* the first tap's bit, >= 0: the lead words hold at least pad * c zero bits */
    size_t start = (size_t)((int64_t)b->row_lead * 64 + (int64_t)(ox * n->stride - n->pad) * c);
    size_t stride = (size_t)b->row_stride;
    const uint64_t *row = m->bin_x + (size_t)oy * n->stride * stride;
    if (n->k == 3 && c == 16) { /* three runs of 48 bits into 144 */
        uint64_t r0 = bits_at(row, start) & LOW48, r1 = bits_at(row + stride, start) & LOW48,
                 r2 = bits_at(row + 2 * stride, start) & LOW48;
        patch[0] = r0 | r1 << 48;
        patch[1] = r1 >> 16 | r2 << 32;
        patch[2] = r2 >> 32;
    } else if (n->k == 3 && c == 32) { /* three runs of 64 + 32 bits into 288 */
        const uint64_t *r1 = row + stride, *r2 = row + 2 * stride;
        uint64_t a1 = bits_at(r1, start);
        patch[0] = bits_at(row, start);
        patch[1] = (bits_at(row, start + 64) & LOW32) | a1 << 32;
        patch[2] = a1 >> 32 | bits_at(r1, start + 64) << 32;
        patch[3] = bits_at(r2, start);
        patch[4] = bits_at(r2, start + 64) & LOW32;
    } else if (c % 64 == 0) { /* whole words: each kernel row is k * c / 64 of them, copied */
        int words = n->k * c / 64;
        const uint64_t *src = row + start / 64;
        for (int ky = 0; ky < n->k; ky++, src += stride, patch += words)
            for (int j = 0; j < words; j++)
                patch[j] = src[j];
    } else {
        gather_runs(row, stride, start, n->k, n->k * c, patch);
    }
}

#define LOW_NIBBLES UINT64_C(0x0f0f0f0f0f0f0f0f)

/* One pixel's dots with the weights' base or a border pixel's (pad_base): fn, or
 * (nibbles) the nibble-split AVX2 kernel. */
static inline void pixel_dots(const frost_bin_weights *w, const uint64_t *nibbles,
                              frost_bin_dots_fn fn, const uint64_t *patch, const int32_t *base,
                              int32_t *d)
{
    if (!nibbles) {
        fn(patch, w->bits, w->mask, w->k_words, w->blocks, base, d);
        return;
    }
    uint64_t xn[2 * ROW_PATCH_WORDS];
    for (int k = 0; k < w->k_words; k++) {
        xn[2 * k] = patch[k] & LOW_NIBBLES;
        xn[2 * k + 1] = (patch[k] >> 4) & LOW_NIBBLES;
    }
    frost_bin_dots_nibbles_avx2(xn, nibbles, w->k_words, w->blocks, base, d);
}

/* The dots of output row oy with the padding corrected (pad_base), at dots + oy * ow * c. */
static void row_dots(const frost_int8_model *m, const frost_int8_node *n, frost_bin_dots_fn fn,
                     int oy, int32_t *dots)
{
    const struct frost_int8_bin *b = n->bin;
    const frost_bin_weights *w = &b->w;
    const uint64_t *nibbles = m->bin_path == FROST_BIN_AVX2 ? b->nibbles : NULL;
    uint64_t patch[ROW_PATCH_WORDS];
    int32_t tmp[ROW_DOTS];
    bool in_place = n->c % FROST_BIN_BLOCK == 0; /* else the kernel writes past the pixel */
    for (int ox = 0; ox < n->w; ox++) {
        int p = oy * n->w + ox;
        int32_t *d = dots + (size_t)p * n->c;
        int r = b->pad_row[p];
        const int32_t *base =
            r < 0 ? w->base : b->pad_base + (size_t)r * w->blocks * FROST_BIN_BLOCK;
        gather_rows(m, n, oy, ox, patch);
        pixel_dots(w, nibbles, fn, patch, base, in_place ? d : tmp);
        if (!in_place)
            memcpy(d, tmp, (size_t)n->c * sizeof(int32_t));
    }
}

/* acc = bias + dot * 2^acc_shift requantized, `pixels` pixels of a sign node. */
static void sign_outputs(const frost_int8_model *m, const frost_int8_node *n, int64_t pixels,
                         const int32_t *dots, uint8_t *y)
{
    const struct frost_int8_bin *b = n->bin;
    if (m->use_avx2 && b->rq_fixed) {
        bool fp = m->float_requant;
        frost_int8_bin_output_avx2(pixels, n->c, dots, n->acc_shift, b->bias16,
                                   fp ? b->rq_float : b->rq_fixed, b->rq_stride, fp, n->zp, n->lo,
                                   n->hi, y);
        return;
    }
    for (int64_t p = 0; p < pixels; p++)
        for (int o = 0; o < n->c; o++)
            y[p * n->c + o] = sign_output(m, n, o, dots[p * n->c + o]);
}

/* Output rows [r0, r1): dots and outputs, row by row (k: an xnor node's K). */
static void rows_share(const frost_int8_model *m, const frost_int8_node *n, frost_bin_dots_fn fn,
                       const float *k, int r0, int r1, uint8_t *y)
{
    size_t row = (size_t)n->w * n->c;
    for (int oy = r0; oy < r1; oy++) {
        const int32_t *d = m->bin_dot + oy * row;
        row_dots(m, n, fn, oy, m->bin_dot);
        if (k)
            xnor_outputs(m, n, k, oy * n->w, n->w, d, y + oy * row);
        else
            sign_outputs(m, n, n->w, d, y + oy * row);
    }
}

/* The row-gather conv of a node (k: an xnor node's K). */
static void rows_conv(frost_int8_model *m, const frost_int8_node *n, const float *k,
                      const uint8_t *x, uint8_t *y)
{
    frost_bin_path path = (frost_bin_path)m->bin_path;
    frost_bin_dots_fn fn =
        frost_bin_dots_for(frost_bin_path_available(path) ? path : FROST_BIN_REF);
    pack_rows(m, n, x);
    /* one thread for small layers, as frost_bin_conv (waking a second costs more) */
    double work = (double)n->h * n->w * n->bin->w.blocks * n->bin->w.k_words;
    int threads = work < 50000.0 ? 1 : frost_get_threads();
    threads = threads < 1 ? 1 : threads > n->h ? n->h : threads;
    if (threads == 1) {
        rows_share(m, n, fn, k, 0, n->h, y);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        rows_share(m, n, fn, k, n->h * t / nt, n->h * (t + 1) / nt, y);
    }
}

void frost_int8_bin_run(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x, uint8_t *y)
{
    const struct frost_int8_bin *b = n->bin;
    bool fast = m->use_avx2 && b->popcount, xnor = n->ain == FROST_I8_AIN_XNOR;
    if (fast && b->rows && (!xnor || b->xnor_abs)) {
        rows_conv(m, n, xnor ? xnor_k(m, n, x) : NULL, x, y);
        return;
    }
    int32_t *dots = m->bin_dot;
    int pixels = n->h * n->w;
    if (!fast || !popcount_dots(m, n, x, dots))
        reference_dots(m, n, x, dots); /* the reference kernels, grouped, or no memory */
    if (xnor)
        xnor_outputs(m, n, xnor_scale(m, n, x), 0, pixels, dots, y);
    else
        sign_outputs(m, n, pixels, dots, y);
}
