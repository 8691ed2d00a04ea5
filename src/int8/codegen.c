/*
 * C code for microcontrollers (docs/interop.md, "C code for microcontrollers"): an int8
 * model as one C99 source and header with no dependency on frost. The weights become
 * const arrays (flash), every activation lives in one static arena laid out by the
 * runtime's own memory plan (the same offsets), and NAME_run calls one kernel per node in
 * the graph's order. The kernels are emitted as static functions, only those the model
 * uses, written from the reference kernels (kernels_ref.c, requant.h): integer-only
 * fixed-point requantization, so the output is bit for bit what frost's runtime computes.
 * Binary / ternary weights (wbits 1 / 2) stay packed in the const data, 1 or 2 bits each,
 * and their kernels unpack one output channel at a time ("packed binary / ternary weights").
 * Layers with a binarized input (BNN, Bi-Real: "ain": "sign"; XNOR-Net: "xnor") count
 * their integer dot products 32 at a time with XOR and a portable population count
 * ("binarized inputs"). XNOR-Net's output stage is float like the runtime's (K is a real
 * number of the input): with the float logits, the only float code, in models that have it.
 * A LOGITS node (a float classifier) dequantizes its accumulators in float32, only in
 * models that end with one.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "frost/file.h"
#include "int8/i8model.h"

/* What the model needs from the kernel library. */
typedef struct {
    bool conv, linear, logits, add, mul, lut, maxpool, avgpool, gap, requant;
    bool packed_conv, packed_dense; /* wbits 1 / 2 nodes: their kernels reuse conv_t, dense_t */
    bool sign_conv, sign_dense;     /* binarized inputs: their kernels reuse them too */
} needs;

static needs model_needs(const frost_int8_model *m)
{
    needs k = {0};
    for (int i = 1; i < m->n_nodes; i++) {
        /* binarized-input nodes (always packed) have kernels of their own (emit_packed_kernels) */
        bool packed = m->nodes[i].wbits != 0 && !m->nodes[i].ain;
        bool sign = m->nodes[i].ain != FROST_I8_AIN_NONE;
        bool fixed = m->nodes[i].ain != FROST_I8_AIN_XNOR; /* XNOR's output stage is float */
        switch (m->nodes[i].op) {
        case FROST_I8_CONV:
            k.conv |= !packed && !sign, k.packed_conv |= packed, k.sign_conv |= sign;
            k.requant |= fixed;
            break;
        case FROST_I8_LINEAR:
            k.linear |= !packed && !sign, k.packed_dense |= packed, k.sign_dense |= sign;
            k.requant |= fixed;
            break;
        case FROST_I8_LOGITS: k.logits |= !packed, k.packed_dense |= packed; break;
        case FROST_I8_ADD: k.add = k.requant = true; break;
        case FROST_I8_MUL: k.mul = k.requant = true; break;
        case FROST_I8_CONCAT:
        case FROST_I8_LUT: k.lut = true; break;
        case FROST_I8_MAXPOOL: k.maxpool = true; break;
        case FROST_I8_AVGPOOL: k.avgpool = k.requant = true; break;
        case FROST_I8_GAP: k.gap = k.requant = true; break;
        case FROST_I8_QUANTIZE:
        case FROST_I8_OP_COUNT: break;
        }
    }
    return k;
}

/* ---- the kernels, as C text (from kernels_ref.c and requant.h) ---- */

static const char k_requant[] =
    "/* Fixed-point requantization (TFLite / gemmlowp): M = M0 * 2^(e - 31). */\n"
    "static int32_t srdhm(int32_t a, int32_t b)\n"
    "{\n"
    "    int64_t p, nudge;\n"
    "    if (a == INT32_MIN && b == INT32_MIN)\n"
    "        return INT32_MAX;\n"
    "    p = (int64_t)a * (int64_t)b;\n"
    "    nudge = p >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));\n"
    "    return (int32_t)((p + nudge) / ((int64_t)1 << 31)); /* truncating division */\n"
    "}\n\n"
    "/* Rounding divide by 2^e, ties away from zero (>> of a negative value is arithmetic\n"
    " * on every compiler this targets). */\n"
    "static int32_t rdbpot(int32_t x, int32_t e)\n"
    "{\n"
    "    int32_t mask = (int32_t)(((uint32_t)1 << e) - 1);\n"
    "    int32_t rem = x & mask, threshold = (mask >> 1) + (x < 0);\n"
    "    return (x >> e) + (rem > threshold);\n"
    "}\n\n"
    "static uint8_t requant(int32_t acc, int32_t m0, int32_t e, int32_t zp, int32_t lo, "
    "int32_t hi)\n"
    "{\n"
    "    int32_t left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;\n"
    "    int32_t v = rdbpot(srdhm((int32_t)((uint32_t)acc << left), m0), right) + zp;\n"
    "    return (uint8_t)(v < lo ? lo : v > hi ? hi : v);\n"
    "}\n\n";

static const char k_mbqm[] =
    "static int32_t mbqm(int32_t x, int32_t m0, int32_t e)\n"
    "{\n"
    "    int32_t left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;\n"
    "    return rdbpot(srdhm((int32_t)((uint32_t)x << left), m0), right);\n"
    "}\n\n";

static const char k_conv_t[] =
    "/* Convolution, NHWC, weights [cout][k][k][cin/groups]; padding taps are skipped. */\n"
    "typedef struct {\n"
    "    int32_t h, w, cin, oh, ow, cout, k, stride, pad, groups, acc_shift;\n"
    "    int32_t in_zp, out_zp, lo, hi;\n"
    "    const int8_t *weight;\n"
    "    const int32_t *bias, *mult, *shift;\n"
    "} conv_t;\n\n";

static const char k_conv[] =
    "static void conv(const conv_t *p, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    int32_t cpg_in = p->cin / p->groups, cpg_out = p->cout / p->groups;\n"
    "    int32_t oy, ox, co, ky, kx, ci;\n"
    "    for (oy = 0; oy < p->oh; oy++)\n"
    "        for (ox = 0; ox < p->ow; ox++)\n"
    "            for (co = 0; co < p->cout; co++) {\n"
    "                const int8_t *w = p->weight + co * p->k * p->k * cpg_in;\n"
    "                int32_t g = co / cpg_out, acc = 0;\n"
    "                for (ky = 0; ky < p->k; ky++) {\n"
    "                    int32_t iy = oy * p->stride - p->pad + ky;\n"
    "                    if (iy < 0 || iy >= p->h)\n"
    "                        continue;\n"
    "                    for (kx = 0; kx < p->k; kx++) {\n"
    "                        int32_t ix = ox * p->stride - p->pad + kx;\n"
    "                        const uint8_t *xp;\n"
    "                        const int8_t *wp;\n"
    "                        if (ix < 0 || ix >= p->w)\n"
    "                            continue;\n"
    "                        xp = x + (iy * p->w + ix) * p->cin + g * cpg_in;\n"
    "                        wp = w + (ky * p->k + kx) * cpg_in;\n"
    "                        for (ci = 0; ci < cpg_in; ci++)\n"
    "                            acc += (int32_t)wp[ci] * ((int32_t)xp[ci] - p->in_zp);\n"
    "                    }\n"
    "                }\n"
    "                acc = p->bias[co] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "                y[(oy * p->ow + ox) * p->cout + co] =\n"
    "                    requant(acc, p->mult[co], p->shift[co], p->out_zp, p->lo, p->hi);\n"
    "            }\n"
    "}\n\n";

static const char k_dense_t[] = "/* Fully connected: weights [cout][cin]. */\n"
                                "typedef struct {\n"
                                "    int32_t cin, cout, acc_shift, in_zp, out_zp, lo, hi;\n"
                                "    const int8_t *weight;\n"
                                "    const int32_t *bias, *mult, *shift;\n"
                                "    const float *out_scale, *out_bias; /* float logits only */\n"
                                "} dense_t;\n\n";

static const char k_dense_acc[] =
    "static int32_t dense_acc(const dense_t *p, const uint8_t *x, int32_t o)\n"
    "{\n"
    "    const int8_t *w = p->weight + o * p->cin;\n"
    "    int32_t i, acc = 0;\n"
    "    for (i = 0; i < p->cin; i++)\n"
    "        acc += (int32_t)w[i] * ((int32_t)x[i] - p->in_zp);\n"
    "    return p->bias[o] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "}\n\n";

static const char k_linear[] =
    "static void linear(const dense_t *p, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    int32_t o;\n"
    "    for (o = 0; o < p->cout; o++)\n"
    "        y[o] = requant(dense_acc(p, x, o), p->mult[o], p->shift[o], p->out_zp, p->lo, "
    "p->hi);\n"
    "}\n\n";

static const char k_logits[] =
    "/* Float logits: the only float arithmetic in this file (compile with\n"
    " * -ffp-contract=off to get frost's bits: a fused multiply-add rounds once less). */\n"
    "static void logits(const dense_t *p, const uint8_t *x, float *out)\n"
    "{\n"
    "    int32_t o;\n"
    "    for (o = 0; o < p->cout; o++)\n"
    "        out[o] = p->out_scale[o] * (float)dense_acc(p, x, o) + p->out_bias[o];\n"
    "}\n\n";

static const char k_add[] =
    "/* Elementwise add of two requantized inputs. */\n"
    "typedef struct {\n"
    "    int32_t n, a_zp, b_zp, out_zp, lo, hi;\n"
    "    const int32_t *mult, *shift; /* [3]: a, b, the sum */\n"
    "} add_t;\n\n"
    "static void add(const add_t *p, const uint8_t *a, const uint8_t *b, uint8_t *y)\n"
    "{\n"
    "    int32_t i;\n"
    "    for (i = 0; i < p->n; i++) {\n"
    "        int32_t s0 = mbqm((int32_t)((uint32_t)((int32_t)a[i] - p->a_zp) << 20), "
    "p->mult[0],\n"
    "                          p->shift[0]);\n"
    "        int32_t s1 = mbqm((int32_t)((uint32_t)((int32_t)b[i] - p->b_zp) << 20), "
    "p->mult[1],\n"
    "                          p->shift[1]);\n"
    "        int32_t v = mbqm(s0 + s1, p->mult[2], p->shift[2]) + p->out_zp;\n"
    "        y[i] = (uint8_t)(v < p->lo ? p->lo : v > p->hi ? p->hi : v);\n"
    "    }\n"
    "}\n\n";

static const char k_mul[] =
    "/* Elementwise product, requantized; b has a's size or one value per channel\n"
    " * (b_pixels == 1). */\n"
    "typedef struct {\n"
    "    int32_t pixels, c, b_pixels, acc_shift, a_zp, b_zp, out_zp, lo, hi;\n"
    "    const int32_t *mult, *shift; /* [1] */\n"
    "} mul_t;\n\n"
    "static void mul(const mul_t *p, const uint8_t *a, const uint8_t *b, uint8_t *y)\n"
    "{\n"
    "    int32_t i, ch;\n"
    "    for (i = 0; i < p->pixels; i++) {\n"
    "        const uint8_t *bp = p->b_pixels == 1 ? b : b + i * p->c;\n"
    "        for (ch = 0; ch < p->c; ch++) {\n"
    "            int32_t prod = ((int32_t)a[i * p->c + ch] - p->a_zp) * ((int32_t)bp[ch] - "
    "p->b_zp);\n"
    "            y[i * p->c + ch] = requant((int32_t)((uint32_t)prod << p->acc_shift), "
    "p->mult[0],\n"
    "                                       p->shift[0], p->out_zp, p->lo, p->hi);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char k_lut[] =
    "/* y = lut[x] over rows of len bytes, with strides (concat writes a channel slice). */\n"
    "static void lut_rows(const uint8_t *lut, int32_t rows, int32_t len, const uint8_t *x,\n"
    "                     int32_t x_stride, uint8_t *y, int32_t y_stride)\n"
    "{\n"
    "    int32_t r, i;\n"
    "    for (r = 0; r < rows; r++)\n"
    "        for (i = 0; i < len; i++)\n"
    "            y[r * y_stride + i] = lut[x[r * x_stride + i]];\n"
    "}\n\n";

static const char k_pool_t[] =
    "/* Pools over NHWC; padding taps are skipped. */\n"
    "typedef struct {\n"
    "    int32_t h, w, c, oh, ow, k, stride, pad, acc_shift, in_zp, out_zp, lo, hi;\n"
    "    const int32_t *mult, *shift; /* avgpool: by tap count; gap: [0] */\n"
    "    const uint8_t *lut;          /* maxpool: requant table */\n"
    "} pool_t;\n\n";

static const char k_window[] =
    "/* The window of output (oy, ox) clipped to the input: [y0, y1) x [x0, x1). */\n"
    "static void window(const pool_t *p, int32_t oy, int32_t ox, int32_t *y0, int32_t *y1,\n"
    "                   int32_t *x0, int32_t *x1)\n"
    "{\n"
    "    int32_t iy = oy * p->stride - p->pad, ix = ox * p->stride - p->pad;\n"
    "    *y0 = iy < 0 ? 0 : iy;\n"
    "    *x0 = ix < 0 ? 0 : ix;\n"
    "    *y1 = iy + p->k > p->h ? p->h : iy + p->k;\n"
    "    *x1 = ix + p->k > p->w ? p->w : ix + p->k;\n"
    "}\n\n";

static const char k_maxpool[] =
    "static void maxpool(const pool_t *p, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    int32_t oy, ox, c, iy, ix, y0, y1, x0, x1;\n"
    "    for (oy = 0; oy < p->oh; oy++)\n"
    "        for (ox = 0; ox < p->ow; ox++) {\n"
    "            window(p, oy, ox, &y0, &y1, &x0, &x1);\n"
    "            for (c = 0; c < p->c; c++) {\n"
    "                uint8_t m = 0;\n"
    "                for (iy = y0; iy < y1; iy++)\n"
    "                    for (ix = x0; ix < x1; ix++) {\n"
    "                        uint8_t v = x[(iy * p->w + ix) * p->c + c];\n"
    "                        m = v > m ? v : m;\n"
    "                    }\n"
    "                y[(oy * p->ow + ox) * p->c + c] = p->lut[m];\n"
    "            }\n"
    "        }\n"
    "}\n\n";

static const char k_avgpool[] =
    "static void avgpool(const pool_t *p, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    int32_t oy, ox, c, iy, ix, y0, y1, x0, x1, n;\n"
    "    for (oy = 0; oy < p->oh; oy++)\n"
    "        for (ox = 0; ox < p->ow; ox++) {\n"
    "            window(p, oy, ox, &y0, &y1, &x0, &x1);\n"
    "            n = (y1 - y0) * (x1 - x0);\n"
    "            for (c = 0; c < p->c; c++) {\n"
    "                int32_t acc = 0;\n"
    "                for (iy = y0; iy < y1; iy++)\n"
    "                    for (ix = x0; ix < x1; ix++)\n"
    "                        acc += (int32_t)x[(iy * p->w + ix) * p->c + c] - p->in_zp;\n"
    "                acc = (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "                y[(oy * p->ow + ox) * p->c + c] =\n"
    "                    requant(acc, p->mult[n], p->shift[n], p->out_zp, p->lo, p->hi);\n"
    "            }\n"
    "        }\n"
    "}\n\n";

static const char k_gap[] =
    "static void gap(const pool_t *p, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    int32_t c, i, n = p->h * p->w;\n"
    "    for (c = 0; c < p->c; c++) {\n"
    "        int32_t acc = 0;\n"
    "        for (i = 0; i < n; i++)\n"
    "            acc += (int32_t)x[i * p->c + c] - p->in_zp;\n"
    "        acc = (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "        y[c] = requant(acc, p->mult[0], p->shift[0], p->out_zp, p->lo, p->hi);\n"
    "    }\n"
    "}\n\n";

/* ---- packed binary / ternary weights (docs/int8.md#low-bit-layers) ----
 *
 * A node with wbits 1 or 2 keeps its weights packed in flash, 1 or 2 bits each, in the
 * .int8 file's layout (lowbit.c). Its kernel unpacks one output channel's row at a time
 * into wrow (int8 -1/0/+1, in RAM) and runs the int8 kernel's loops on it, so the int32
 * sums, and hence the outputs, are exactly the int8 kernels'. Why unpack rather than
 * accumulate +-x straight from the bits: the inner loop stays the int8 one (a load and a
 * multiply-accumulate per MAC, one cycle on a Cortex-M4), where reading the bits in it
 * adds a shift, a mask and a select per MAC (and ternary two sums); a conv unpacks each row
 * once per image (output channel outermost), one step per weight against h*w MACs per
 * weight; the cost is one buffer of the longest row in RAM. */

static const char k_row_bytes[] =
    "/* Packed weights: one row of whole bytes per output channel; wbits 1: weight i is bit\n"
    " * i%8 of byte i/8 (1 = +1, 0 = -1); wbits 2: bits 2*(i%4).. of byte i/4 (0 = 0,\n"
    " * 1 = +1, 3 = -1). unpack_row writes one row as int8 into wrow, unpack_row_bits as bits. */\n"
    "static int32_t packed_row_bytes(int32_t n, int32_t wbits) { return (n * wbits + 7) / 8; }\n"
    "\n";

static const char k_unpack[] =
    "static void unpack_row(const uint8_t *p, int32_t n, int32_t wbits)\n"
    "{\n"
    "    int32_t i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        int32_t code;\n"
    "        if (wbits == 1) {\n"
    "            code = (p[i >> 3] >> (i & 7)) & 1;\n"
    "            wrow[i] = (int8_t)(2 * code - 1);\n"
    "        } else {\n"
    "            code = (p[i >> 2] >> 2 * (i & 3)) & 3;\n"
    "            wrow[i] = (int8_t)(code == 3 ? -1 : code);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static const char k_conv_packed_t[] = "/* A conv with packed weights. */\n"
                                      "typedef struct {\n"
                                      "    conv_t c; /* c.weight is unused */\n"
                                      "    const uint8_t *packed;\n"
                                      "    int32_t wbits;\n"
                                      "} conv_packed_t;\n\n";

static const char k_conv_packed[] =
    "/* Convolution with packed weights: conv's loops, output channel outermost so that each\n"
    " * row is unpacked once. */\n"
    "static void conv_packed(const conv_packed_t *q, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const conv_t *p = &q->c;\n"
    "    int32_t cpg_in = p->cin / p->groups, cpg_out = p->cout / p->groups;\n"
    "    int32_t inner = p->k * p->k * cpg_in, row = packed_row_bytes(inner, q->wbits);\n"
    "    int32_t oy, ox, co, ky, kx, ci;\n"
    "    for (co = 0; co < p->cout; co++) {\n"
    "        int32_t g = co / cpg_out;\n"
    "        unpack_row(q->packed + co * row, inner, q->wbits);\n"
    "        for (oy = 0; oy < p->oh; oy++)\n"
    "            for (ox = 0; ox < p->ow; ox++) {\n"
    "                int32_t acc = 0;\n"
    "                for (ky = 0; ky < p->k; ky++) {\n"
    "                    int32_t iy = oy * p->stride - p->pad + ky;\n"
    "                    if (iy < 0 || iy >= p->h)\n"
    "                        continue;\n"
    "                    for (kx = 0; kx < p->k; kx++) {\n"
    "                        int32_t ix = ox * p->stride - p->pad + kx;\n"
    "                        const uint8_t *xp;\n"
    "                        const int8_t *wp;\n"
    "                        if (ix < 0 || ix >= p->w)\n"
    "                            continue;\n"
    "                        xp = x + (iy * p->w + ix) * p->cin + g * cpg_in;\n"
    "                        wp = wrow + (ky * p->k + kx) * cpg_in;\n"
    "                        for (ci = 0; ci < cpg_in; ci++)\n"
    "                            acc += (int32_t)wp[ci] * ((int32_t)xp[ci] - p->in_zp);\n"
    "                    }\n"
    "                }\n"
    "                acc = p->bias[co] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "                y[(oy * p->ow + ox) * p->cout + co] =\n"
    "                    requant(acc, p->mult[co], p->shift[co], p->out_zp, p->lo, p->hi);\n"
    "            }\n"
    "    }\n"
    "}\n\n";

static const char k_dense_packed_t[] = "/* A fully connected layer with packed weights. */\n"
                                       "typedef struct {\n"
                                       "    dense_t d; /* d.weight is unused */\n"
                                       "    const uint8_t *packed;\n"
                                       "    int32_t wbits;\n"
                                       "} dense_packed_t;\n\n";

static const char k_dense_packed[] =
    "/* Fully connected with packed weights: each row is used once, unpacked as it is. */\n"
    "static int32_t dense_packed_acc(const dense_packed_t *q, const uint8_t *x, int32_t o)\n"
    "{\n"
    "    const dense_t *p = &q->d;\n"
    "    int32_t i, acc = 0;\n"
    "    unpack_row(q->packed + o * packed_row_bytes(p->cin, q->wbits), p->cin, q->wbits);\n"
    "    for (i = 0; i < p->cin; i++)\n"
    "        acc += (int32_t)wrow[i] * ((int32_t)x[i] - p->in_zp);\n"
    "    return p->bias[o] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "}\n\n";

static const char k_linear_packed[] =
    "static void linear_packed(const dense_packed_t *q, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const dense_t *p = &q->d;\n"
    "    int32_t o;\n"
    "    for (o = 0; o < p->cout; o++)\n"
    "        y[o] = requant(dense_packed_acc(q, x, o), p->mult[o], p->shift[o], p->out_zp, p->lo,\n"
    "                       p->hi);\n"
    "}\n\n";

static const char k_logits_packed[] =
    "static void logits_packed(const dense_packed_t *q, const uint8_t *x, float *out)\n"
    "{\n"
    "    const dense_t *p = &q->d;\n"
    "    int32_t o;\n"
    "    for (o = 0; o < p->cout; o++)\n"
    "        out[o] = p->out_scale[o] * (float)dense_packed_acc(q, x, o) + p->out_bias[o];\n"
    "}\n\n";

/* ---- binarized inputs (docs/int8.md#binarized-inputs-bnn-bi-real-xnor-net) ----
 *
 * BNN, Bi-Real ("ain": "sign") and XNOR-Net ("xnor") layers see +1 where the stored input
 * is >= its zero point, -1 elsewhere and 0 in the padding (training's conv of sign(x)), so
 * their dot product is an integer; a sign layer's output stage is the int8 one with that
 * integer as the sum (acc = bias + dot * 2^acc_shift, requant), XNOR's is float (below).
 * The groups-1 kernels count 32 products at a time: the input's signs packed once per
 * layer (xbits), one output channel's weights unpacked to bit words (wsign, and wnz for
 * ternary rows), one run of words per kernel tap so that a tap's channels start a word.
 * A binary tap is len - 2 popcount(x ^ w), a ternary one popcount(nz) - 2 popcount(nz &
 * (x ^ w)); the Cortex-M has no popcount instruction, so it is the SWAR bit trick (a dozen
 * ALU instructions, no table in flash). Padding taps are skipped, as the int8 conv skips
 * them, so the sum is exactly the runtime's reference loop (binact.c reference_dots) and
 * needs no correction (the runtime's popcount kernels pad with -1 and add it back). The
 * grouped (depthwise) kernel is that reference loop on an int8 row, as in the runtime. */

static const char k_sign_bits[] =
    "/* Binarized inputs (BNN, Bi-Real, XNOR-Net): +1 where the stored input is >= its zero\n"
    " * point, -1 elsewhere, 0 in the padding. xbits holds the input's signs, wsign / wnz one\n"
    " * output channel's weights (1 = +1 / 1 = nonzero, ternary rows only), each run of n\n"
    " * values (one kernel tap's channels) starting a 32-bit word, the tails 0. */\n"
    "static int32_t popcount32(uint32_t v)\n"
    "{\n"
    "    v = v - ((v >> 1) & 0x55555555u);\n"
    "    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);\n"
    "    v = (v + (v >> 4)) & 0x0f0f0f0fu;\n"
    "    return (int32_t)((v * 0x01010101u) >> 24);\n"
    "}\n\n"
    "/* The signs of `runs` runs of n stored values into xbits (1 where x >= zp). */\n"
    "static void pack_signs(const uint8_t *x, int32_t runs, int32_t n, int32_t zp)\n"
    "{\n"
    "    int32_t r, i, words = (n + 31) / 32;\n"
    "    for (r = 0; r < runs; r++) {\n"
    "        uint32_t *dst = xbits + r * words;\n"
    "        const uint8_t *src = x + r * n;\n"
    "        for (i = 0; i < words; i++)\n"
    "            dst[i] = 0;\n"
    "        for (i = 0; i < n; i++)\n"
    "            dst[i >> 5] |= (uint32_t)(src[i] >= zp) << (i & 31);\n"
    "    }\n"
    "}\n\n"
    "/* One output channel's packed row, `runs` runs of n weights, into wsign (and wnz). */\n"
    "static void unpack_row_bits(const uint8_t *p, int32_t runs, int32_t n, int32_t wbits)\n"
    "{\n"
    "    int32_t r, i, words = (n + 31) / 32;\n"
    "    for (i = 0; i < runs * words; i++) {\n"
    "        wsign[i] = 0;\n"
    "        if (wbits == 2)\n"
    "            wnz[i] = 0;\n"
    "    }\n"
    "    for (r = 0; r < runs; r++)\n"
    "        for (i = 0; i < n; i++) {\n"
    "            int32_t j = r * n + i, at = r * words + (i >> 5), code;\n"
    "            uint32_t bit = (uint32_t)1 << (i & 31);\n"
    "            if (wbits == 1) {\n"
    "                if ((p[j >> 3] >> (j & 7)) & 1)\n"
    "                    wsign[at] |= bit;\n"
    "                continue;\n"
    "            }\n"
    "            code = (p[j >> 2] >> 2 * (j & 3)) & 3;\n"
    "            if (code == 1)\n"
    "                wsign[at] |= bit;\n"
    "            if (code != 0)\n"
    "                wnz[at] |= bit;\n"
    "        }\n"
    "}\n\n"
    "/* The dot product of n +-1 inputs (x) and weights (s, and nz for ternary, else 0). */\n"
    "static int32_t bin_dot(const uint32_t *x, const uint32_t *s, const uint32_t *nz, int32_t n)\n"
    "{\n"
    "    int32_t i, words = (n + 31) / 32, d = 0;\n"
    "    if (!nz) {\n"
    "        for (i = 0; i < words; i++)\n"
    "            d += popcount32(x[i] ^ s[i]); /* the tails are 0 ^ 0 */\n"
    "        return n - 2 * d;\n"
    "    }\n"
    "    for (i = 0; i < words; i++)\n"
    "        d += popcount32(nz[i]) - 2 * popcount32(nz[i] & (x[i] ^ s[i]));\n"
    "    return d;\n"
    "}\n\n";

static const char k_window_bits[] =
    "/* The dot product of output pixel (oy, ox) of a groups-1 conv over its window, from\n"
    " * xbits (the input's signs) and the unpacked row; padding taps are skipped (0). */\n"
    "static int32_t window_bits_dot(const conv_t *p, int32_t wbits, int32_t oy, int32_t ox)\n"
    "{\n"
    "    int32_t words = (p->cin + 31) / 32, ky, kx, acc = 0;\n"
    "    for (ky = 0; ky < p->k; ky++) {\n"
    "        int32_t iy = oy * p->stride - p->pad + ky;\n"
    "        if (iy < 0 || iy >= p->h)\n"
    "            continue;\n"
    "        for (kx = 0; kx < p->k; kx++) {\n"
    "            int32_t ix = ox * p->stride - p->pad + kx, t = ky * p->k + kx;\n"
    "            if (ix < 0 || ix >= p->w)\n"
    "                continue;\n"
    "            acc += bin_dot(xbits + (iy * p->w + ix) * words, wsign + t * words,\n"
    "                           wbits == 2 ? wnz + t * words : 0, p->cin);\n"
    "        }\n"
    "    }\n"
    "    return acc;\n"
    "}\n\n";

static const char k_conv_sign[] =
    "/* Convolution with a binarized input, groups 1: the input's signs packed once, output\n"
    " * channel outermost (one row's bits at a time). */\n"
    "static void conv_sign(const conv_packed_t *q, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const conv_t *p = &q->c;\n"
    "    int32_t row = packed_row_bytes(p->k * p->k * p->cin, q->wbits);\n"
    "    int32_t oy, ox, co, acc;\n"
    "    pack_signs(x, p->h * p->w, p->cin, p->in_zp);\n"
    "    for (co = 0; co < p->cout; co++) {\n"
    "        unpack_row_bits(q->packed + co * row, p->k * p->k, p->cin, q->wbits);\n"
    "        for (oy = 0; oy < p->oh; oy++)\n"
    "            for (ox = 0; ox < p->ow; ox++) {\n"
    "                acc = window_bits_dot(p, q->wbits, oy, ox);\n"
    "                acc = p->bias[co] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "                y[(oy * p->ow + ox) * p->cout + co] =\n"
    "                    requant(acc, p->mult[co], p->shift[co], p->out_zp, p->lo, p->hi);\n"
    "            }\n"
    "    }\n"
    "}\n\n";

/* XNOR-Net inputs ("ain": "xnor"): the dot products as for sign, then the runtime's float
 * output stage (binact.c frost_int8_bin_run, xnor_scale): K * (alpha_c * dot) + bias_c with
 * K from the dequantized input as training computes it (frost_xnor_conv_k,
 * frost_xnor_linear_beta: sums of |x| in double, the rest in float), quantized as
 * frost_quantize_one. Every operation is the runtime's, in its order, and IEEE single and
 * double arithmetic rounds the same everywhere (no fused multiply-add: -ffp-contract=off),
 * so the bits match; on a Cortex-M4F the double sums run in software (libgcc). */
static const char k_xnor_common[] =
    "/* XNOR-Net inputs: K * (alpha_c * dot) + bias_c in float, K from the real input\n"
    " * (x - zp) * S as frost computes it (sums of |x| in double), quantized as frost's\n"
    " * fake-quant (compile with -ffp-contract=off to keep frost's bits). */\n"
    "static float mean_abs(const uint8_t *x, int32_t n, int32_t zp, float scale)\n"
    "{\n"
    "    double s = 0.0;\n"
    "    int32_t i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        double v = (double)(((float)x[i] - (float)zp) * scale);\n"
    "        s += v < 0.0 ? -v : v;\n"
    "    }\n"
    "    return n > 0 ? (float)(s / (double)n) : 0.0f;\n"
    "}\n\n"
    "/* zp + v / S rounded half to even, clamped (NaN: zp); the two float adds round. */\n"
    "static uint8_t quantize_float(float v, float inv, int32_t zp, int32_t lo, int32_t hi)\n"
    "{\n"
    "    float r = v * inv, q;\n"
    "    if (r != r)\n"
    "        return (uint8_t)zp;\n"
    "    if (r > -4194304.0f && r < 4194304.0f)\n"
    "        r = (r + 12582912.0f) - 12582912.0f;\n"
    "    q = (float)zp + r;\n"
    "    return (uint8_t)(q < (float)lo ? lo : q > (float)hi ? hi : (int32_t)q);\n"
    "}\n\n";

static const char k_conv_xnor_t[] =
    "/* Convolution with an XNOR-Net input: A (the mean |x| of each input pixel over all its\n"
    " * channels) in xa, K (A summed over each output pixel's window / k^2) in xk. */\n"
    "typedef struct {\n"
    "    conv_packed_t q; /* q.c.bias, mult, shift are unused */\n"
    "    const float *alpha, *bias;\n"
    "    float in_scale, out_inv; /* the input's scale, 1 / the output's */\n"
    "} conv_xnor_t;\n\n"
    "static void xnor_k(const conv_xnor_t *z, const uint8_t *x)\n"
    "{\n"
    "    const conv_t *p = &z->q.c;\n"
    "    int32_t i, oy, ox, ky, kx;\n"
    "    float inv = 1.0f / (float)(p->k * p->k);\n"
    "    for (i = 0; i < p->h * p->w; i++)\n"
    "        xa[i] = mean_abs(x + i * p->cin, p->cin, p->in_zp, z->in_scale);\n"
    "    for (oy = 0; oy < p->oh; oy++)\n"
    "        for (ox = 0; ox < p->ow; ox++) {\n"
    "            double s = 0.0;\n"
    "            for (ky = 0; ky < p->k; ky++) {\n"
    "                int32_t iy = oy * p->stride - p->pad + ky;\n"
    "                for (kx = 0; kx < p->k && iy >= 0 && iy < p->h; kx++) {\n"
    "                    int32_t ix = ox * p->stride - p->pad + kx;\n"
    "                    if (ix >= 0 && ix < p->w)\n"
    "                        s += (double)xa[iy * p->w + ix];\n"
    "                }\n"
    "            }\n"
    "            xk[oy * p->ow + ox] = (float)s * inv;\n"
    "        }\n"
    "}\n\n"
    "/* Output (oy, ox, co) of an XNOR conv from its dot product. */\n"
    "static void xnor_out(const conv_xnor_t *z, int32_t oy, int32_t ox, int32_t co, int32_t dot,\n"
    "                     uint8_t *y)\n"
    "{\n"
    "    const conv_t *p = &z->q.c;\n"
    "    float v = xk[oy * p->ow + ox] * (z->alpha[co] * (float)dot) + z->bias[co];\n"
    "    y[(oy * p->ow + ox) * p->cout + co] =\n"
    "        quantize_float(v, z->out_inv, p->out_zp, p->lo, p->hi);\n"
    "}\n\n";

static const char k_conv_xnor[] =
    "/* Groups 1: the dot products on bit words, as conv_sign. */\n"
    "static void conv_xnor(const conv_xnor_t *z, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const conv_t *p = &z->q.c;\n"
    "    int32_t row = packed_row_bytes(p->k * p->k * p->cin, z->q.wbits), oy, ox, co;\n"
    "    xnor_k(z, x);\n"
    "    pack_signs(x, p->h * p->w, p->cin, p->in_zp);\n"
    "    for (co = 0; co < p->cout; co++) {\n"
    "        unpack_row_bits(z->q.packed + co * row, p->k * p->k, p->cin, z->q.wbits);\n"
    "        for (oy = 0; oy < p->oh; oy++)\n"
    "            for (ox = 0; ox < p->ow; ox++)\n"
    "                xnor_out(z, oy, ox, co, window_bits_dot(p, z->q.wbits, oy, ox), y);\n"
    "    }\n"
    "}\n\n";

static const char k_conv_xnor_grouped[] =
    "/* Grouped (depthwise): the dot products as conv_sign_grouped. */\n"
    "static void conv_xnor_grouped(const conv_xnor_t *z, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const conv_t *p = &z->q.c;\n"
    "    int32_t inner = p->k * p->k * (p->cin / p->groups);\n"
    "    int32_t row = packed_row_bytes(inner, z->q.wbits), oy, ox, co;\n"
    "    xnor_k(z, x);\n"
    "    for (co = 0; co < p->cout; co++) {\n"
    "        unpack_row(z->q.packed + co * row, inner, z->q.wbits);\n"
    "        for (oy = 0; oy < p->oh; oy++)\n"
    "            for (ox = 0; ox < p->ow; ox++)\n"
    "                xnor_out(z, oy, ox, co,\n"
    "                         window_signs_dot(p, x, co / (p->cout / p->groups), oy, ox), y);\n"
    "    }\n"
    "}\n\n";

static const char k_linear_xnor[] =
    "/* Fully connected with an XNOR-Net input: beta = the mean |x| of the whole input. */\n"
    "typedef struct {\n"
    "    dense_packed_t q; /* q.d.bias, mult, shift are unused */\n"
    "    const float *alpha, *bias;\n"
    "    float in_scale, out_inv;\n"
    "} dense_xnor_t;\n\n"
    "static void linear_xnor(const dense_xnor_t *z, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const dense_t *p = &z->q.d;\n"
    "    int32_t o, row = packed_row_bytes(p->cin, z->q.wbits);\n"
    "    float beta = mean_abs(x, p->cin, p->in_zp, z->in_scale), v;\n"
    "    pack_signs(x, 1, p->cin, p->in_zp);\n"
    "    for (o = 0; o < p->cout; o++) {\n"
    "        unpack_row_bits(z->q.packed + o * row, 1, p->cin, z->q.wbits);\n"
    "        v = beta * (z->alpha[o] *\n"
    "                    (float)bin_dot(xbits, wsign, z->q.wbits == 2 ? wnz : 0, p->cin)) +\n"
    "            z->bias[o];\n"
    "        y[o] = quantize_float(v, z->out_inv, p->out_zp, p->lo, p->hi);\n"
    "    }\n"
    "}\n\n";

static const char k_window_signs[] =
    "/* The dot product of output pixel (oy, ox), channel group g, of a grouped conv with a\n"
    " * binarized input: +-w of the unpacked int8 row (few channels per group: no bits). */\n"
    "static int32_t window_signs_dot(const conv_t *p, const uint8_t *x, int32_t g, int32_t oy,\n"
    "                                int32_t ox)\n"
    "{\n"
    "    int32_t cpg_in = p->cin / p->groups, ky, kx, ci, acc = 0;\n"
    "    for (ky = 0; ky < p->k; ky++) {\n"
    "        int32_t iy = oy * p->stride - p->pad + ky;\n"
    "        if (iy < 0 || iy >= p->h)\n"
    "            continue;\n"
    "        for (kx = 0; kx < p->k; kx++) {\n"
    "            int32_t ix = ox * p->stride - p->pad + kx;\n"
    "            const uint8_t *xp;\n"
    "            const int8_t *wp;\n"
    "            if (ix < 0 || ix >= p->w)\n"
    "                continue;\n"
    "            xp = x + (iy * p->w + ix) * p->cin + g * cpg_in;\n"
    "            wp = wrow + (ky * p->k + kx) * cpg_in;\n"
    "            for (ci = 0; ci < cpg_in; ci++)\n"
    "                acc += xp[ci] >= p->in_zp ? wp[ci] : -wp[ci];\n"
    "        }\n"
    "    }\n"
    "    return acc;\n"
    "}\n\n";

static const char k_conv_sign_grouped[] =
    "/* Grouped (depthwise) convolution with a binarized input, output channel outermost. */\n"
    "static void conv_sign_grouped(const conv_packed_t *q, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const conv_t *p = &q->c;\n"
    "    int32_t inner = p->k * p->k * (p->cin / p->groups);\n"
    "    int32_t row = packed_row_bytes(inner, q->wbits), oy, ox, co, acc;\n"
    "    for (co = 0; co < p->cout; co++) {\n"
    "        unpack_row(q->packed + co * row, inner, q->wbits);\n"
    "        for (oy = 0; oy < p->oh; oy++)\n"
    "            for (ox = 0; ox < p->ow; ox++) {\n"
    "                acc = window_signs_dot(p, x, co / (p->cout / p->groups), oy, ox);\n"
    "                acc = p->bias[co] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "                y[(oy * p->ow + ox) * p->cout + co] =\n"
    "                    requant(acc, p->mult[co], p->shift[co], p->out_zp, p->lo, p->hi);\n"
    "            }\n"
    "    }\n"
    "}\n\n";

static const char k_linear_sign[] =
    "/* Fully connected with a binarized input: its signs packed once, one row at a time. */\n"
    "static void linear_sign(const dense_packed_t *q, const uint8_t *x, uint8_t *y)\n"
    "{\n"
    "    const dense_t *p = &q->d;\n"
    "    int32_t o, acc, row = packed_row_bytes(p->cin, q->wbits);\n"
    "    pack_signs(x, 1, p->cin, p->in_zp);\n"
    "    for (o = 0; o < p->cout; o++) {\n"
    "        unpack_row_bits(q->packed + o * row, 1, p->cin, q->wbits);\n"
    "        acc = bin_dot(xbits, wsign, q->wbits == 2 ? wnz : 0, p->cin);\n"
    "        acc = p->bias[o] + (int32_t)((uint32_t)acc << p->acc_shift);\n"
    "        y[o] = requant(acc, p->mult[o], p->shift[o], p->out_zp, p->lo, p->hi);\n"
    "    }\n"
    "}\n\n";

static void emit_kernels(frost_strbuf *b, needs k)
{
    const char *parts[] = {
        k.requant ? k_requant : "",
        k.add ? k_mbqm : "",
        k.conv || k.packed_conv || k.sign_conv ? k_conv_t : "",
        k.conv ? k_conv : "",
        k.linear || k.logits || k.packed_dense || k.sign_dense ? k_dense_t : "",
        k.linear || k.logits ? k_dense_acc : "",
        k.linear ? k_linear : "",
        k.logits ? k_logits : "",
        k.add ? k_add : "",
        k.mul ? k_mul : "",
        k.lut ? k_lut : "",
        k.maxpool || k.avgpool || k.gap ? k_pool_t : "",
        k.maxpool || k.avgpool ? k_window : "",
        k.maxpool ? k_maxpool : "",
        k.avgpool ? k_avgpool : "",
        k.gap ? k_gap : "",
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        frost_strbuf_appendf(b, "%s", parts[i]);
}

/* ---- constants ---- */

/* A float as an exact C99 literal (hex), e.g. 0x1.99999ap-4f. */
static void append_float(frost_strbuf *b, float v) { frost_strbuf_appendf(b, "%af", (double)v); }

static void emit_i8(frost_strbuf *b, const char *name, const int8_t *v, int64_t n, size_t *bytes)
{
    frost_strbuf_appendf(b, "static const int8_t %s[%lld] = {", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        frost_strbuf_appendf(b, "%s%d,", i % 20 ? " " : "\n    ", v[i]);
    frost_strbuf_appendf(b, "\n};\n");
    *bytes += (size_t)n;
}

static void emit_u8(frost_strbuf *b, const char *name, const uint8_t *v, int64_t n, size_t *bytes)
{
    frost_strbuf_appendf(b, "static const uint8_t %s[%lld] = {", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        frost_strbuf_appendf(b, "%s%u,", i % 20 ? " " : "\n    ", (unsigned)v[i]);
    frost_strbuf_appendf(b, "\n};\n");
    *bytes += (size_t)n;
}

static void emit_i32(frost_strbuf *b, const char *name, const int32_t *v, int64_t n, size_t *bytes)
{
    frost_strbuf_appendf(b, "static const int32_t %s[%lld] = {", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        frost_strbuf_appendf(b, "%s%ld,", i % 8 ? " " : "\n    ", (long)v[i]);
    frost_strbuf_appendf(b, "\n};\n");
    *bytes += (size_t)n * 4;
}

static void emit_f32(frost_strbuf *b, const char *name, const float *v, int64_t n, size_t *bytes)
{
    frost_strbuf_appendf(b, "static const float %s[%lld] = {", name, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        frost_strbuf_appendf(b, "%s", i % 4 ? " " : "\n    ");
        append_float(b, v[i]);
        frost_strbuf_appendf(b, ",");
    }
    frost_strbuf_appendf(b, "\n};\n");
    *bytes += (size_t)n * 4;
}

/* Values per output channel of a conv / linear weight. */
static int64_t weight_inner(const frost_int8_model *m, const frost_int8_node *n)
{
    const frost_int8_node *in = &m->nodes[n->in[0]];
    if (n->op == FROST_I8_CONV)
        return (int64_t)n->k * n->k * (in->c / n->groups);
    return (int64_t)in->h * in->w * in->c;
}

/* The node's name, safe inside a C comment. */
static void append_comment_name(frost_strbuf *b, const char *name)
{
    for (const char *p = name; *p; p++)
        frost_strbuf_appendf(b, "%c", isalnum((unsigned char)*p) || strchr("._-", *p) ? *p : '_');
}

/* A binarized-input node whose kernel runs on bit words (groups 1): conv_sign, conv_xnor,
 * linear_sign, linear_xnor (grouped ones use the int8 row). */
static bool sign_bits_node(const frost_int8_node *n)
{
    return n->ain && (n->op != FROST_I8_CONV || n->groups == 1);
}

/* The RAM the packed and binarized-input kernels use besides the arena: wrow (bytes, the
 * longest row unpacked to int8), xbits (32-bit words, the signs of the largest binarized
 * input), wsign and wnz (words, one output channel's weight bits; wnz for ternary rows). */
typedef struct {
    int64_t wrow, xbits, wsign, wnz;
    int64_t xa, xk; /* floats: XNOR convs' A (input pixels) and K (output pixels) */
} scratch_sizes;

static int64_t most(int64_t a, int64_t b) { return a > b ? a : b; }

static scratch_sizes scratch_of(const frost_int8_model *m)
{
    scratch_sizes s = {0};
    for (int i = 1; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i], *in = n->n_in ? &m->nodes[n->in[0]] : NULL;
        if (!n->wbits)
            continue;
        int64_t inner = weight_inner(m, n);
        bool conv = n->op == FROST_I8_CONV;
        if (conv && n->ain == FROST_I8_AIN_XNOR) {
            s.xa = most(s.xa, (int64_t)in->h * in->w);
            s.xk = most(s.xk, (int64_t)n->h * n->w);
        }
        if (!sign_bits_node(n)) {
            s.wrow = most(s.wrow, inner);
            continue;
        }
        int64_t words = conv ? (in->c + 31) / 32 : (inner + 31) / 32;
        int64_t row = conv ? (int64_t)n->k * n->k * words : words;
        s.xbits = most(s.xbits, conv ? (int64_t)in->h * in->w * words : words);
        s.wsign = most(s.wsign, row);
        if (n->wbits == 2)
            s.wnz = most(s.wnz, row);
    }
    return s;
}

static int64_t scratch_bytes(scratch_sizes s)
{
    return s.wrow + 4 * (s.xbits + s.wsign + s.wnz + s.xa + s.xk);
}

/* The packed-weight and binarized-input kernels the model uses (after the int8 ones: they
 * reuse conv_t, dense_t and requant), with their RAM buffers. */
static void emit_packed_kernels(frost_strbuf *b, const frost_int8_model *m)
{
    scratch_sizes s = scratch_of(m);
    bool conv = false, dense = false, linear = false, logits = false;
    bool sign_conv = false, sign_grouped = false, sign_linear = false;
    bool xnor_conv = false, xnor_grouped = false, xnor_linear = false;
    for (int i = 1; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        bool packed = n->wbits && !n->ain, c = n->op == FROST_I8_CONV;
        bool sign = n->ain == FROST_I8_AIN_SIGN, xnor = n->ain == FROST_I8_AIN_XNOR;
        conv |= packed && c;
        linear |= packed && n->op == FROST_I8_LINEAR;
        logits |= packed && n->op == FROST_I8_LOGITS;
        sign_conv |= sign && c && n->groups == 1;
        sign_grouped |= sign && c && n->groups > 1;
        sign_linear |= sign && !c;
        xnor_conv |= xnor && c && n->groups == 1;
        xnor_grouped |= xnor && c && n->groups > 1;
        xnor_linear |= xnor && !c;
    }
    dense = linear || logits || sign_linear || xnor_linear;
    if (!s.wrow && !s.xbits)
        return;
    frost_strbuf_appendf(b, "%s", k_row_bytes);
    if (s.wrow)
        frost_strbuf_appendf(b,
                             "/* One output channel's packed weights, unpacked (RAM: %lld bytes, "
                             "the longest row). */\n"
                             "static int8_t wrow[%lld];\n\n%s",
                             (long long)s.wrow, (long long)s.wrow, k_unpack);
    if (s.xbits)
        frost_strbuf_appendf(b,
                             "/* Binarized inputs: the signs of one layer's input and one output "
                             "channel's weight bits\n * (RAM: %lld bytes; wnz only for ternary "
                             "rows). */\n"
                             "static uint32_t xbits[%lld], wsign[%lld], wnz[%lld];\n\n%s",
                             (long long)(4 * (s.xbits + s.wsign + s.wnz)), (long long)s.xbits,
                             (long long)s.wsign, (long long)(s.wnz ? s.wnz : 1), k_sign_bits);
    if (s.xa)
        frost_strbuf_appendf(b,
                             "/* XNOR-Net convs: A of each input pixel, K of each output pixel "
                             "(RAM: %lld bytes). */\n"
                             "static float xa[%lld], xk[%lld];\n\n",
                             (long long)(4 * (s.xa + s.xk)), (long long)s.xa, (long long)s.xk);
    const char *parts[] = {
        conv || sign_conv || sign_grouped || xnor_conv || xnor_grouped ? k_conv_packed_t : "",
        dense ? k_dense_packed_t : "",
        conv ? k_conv_packed : "",
        linear || logits ? k_dense_packed : "",
        linear ? k_linear_packed : "",
        logits ? k_logits_packed : "",
        sign_conv || xnor_conv ? k_window_bits : "",
        sign_grouped || xnor_grouped ? k_window_signs : "",
        sign_conv ? k_conv_sign : "",
        sign_grouped ? k_conv_sign_grouped : "",
        sign_linear ? k_linear_sign : "",
        xnor_conv || xnor_grouped || xnor_linear ? k_xnor_common : "",
        xnor_conv || xnor_grouped ? k_conv_xnor_t : "",
        xnor_conv ? k_conv_xnor : "",
        xnor_grouped ? k_conv_xnor_grouped : "",
        xnor_linear ? k_linear_xnor : "",
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        frost_strbuf_appendf(b, "%s", parts[i]);
}

/* The packed weights of node i as nI_packed (the bytes the .int8 file stores). */
static void emit_packed_weights(frost_strbuf *b, const frost_int8_model *m, int i, size_t *bytes)
{
    const frost_int8_node *n = &m->nodes[i];
    size_t row = frost_int8_packed_row_bytes(n->wbits, weight_inner(m, n));
    frost_strbuf_appendf(b, "/* %s weights, %d bit(s) each, %zu bytes per output channel */\n",
                         n->wbits == 1 ? "binary (+-1)" : "ternary (-1/0/+1)", n->wbits, row);
    char name[64];
    snprintf(name, sizeof name, "n%d_packed", i);
    emit_u8(b, name, n->wpacked, (int64_t)row * n->c, bytes);
}

/* The parameter struct of a conv / linear / logits node with packed weights: the int8
 * kernel's struct (weight NULL) wrapped with the packed rows. */
static void emit_packed_params(frost_strbuf *b, const frost_int8_model *m, int i)
{
    const frost_int8_node *n = &m->nodes[i];
    const frost_int8_node *in = &m->nodes[n->in[0]];
    bool xnor = n->ain == FROST_I8_AIN_XNOR;
    char arrays[64] = "0, 0, 0"; /* XNOR: its float alpha and bias instead */
    if (!xnor)
        snprintf(arrays, sizeof arrays, "n%d_bias, n%d_mult, n%d_shift", i, i, i);
    if (n->op == FROST_I8_CONV)
        frost_strbuf_appendf(b,
                             "static const %s n%d = {%s{%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, "
                             "%d, %ld, %ld, %ld, %ld,\n    0, %s}, n%d_packed, %d}",
                             xnor ? "conv_xnor_t" : "conv_packed_t", i, xnor ? "{" : "", in->h,
                             in->w, in->c, n->h, n->w, n->c, n->k, n->stride, n->pad, n->groups,
                             n->acc_shift, (long)in->zp, (long)n->zp, (long)n->lo, (long)n->hi,
                             arrays, i, n->wbits);
    else if (n->op == FROST_I8_LINEAR)
        frost_strbuf_appendf(
            b,
            "static const %s n%d = {%s{%lld, %d, %d, %ld, %ld, %ld, %ld, 0, %s, 0, "
            "0},\n    n%d_packed, %d}",
            xnor ? "dense_xnor_t" : "dense_packed_t", i, xnor ? "{" : "",
            (long long)weight_inner(m, n), n->c, n->acc_shift, (long)in->zp, (long)n->zp,
            (long)n->lo, (long)n->hi, arrays, i, n->wbits);
    else
        frost_strbuf_appendf(b,
                             "static const dense_packed_t n%d = {{%lld, %d, %d, %ld, 0, 0, 0, 0, "
                             "n%d_bias, 0, 0,\n    n%d_scale, n%d_fbias}, n%d_packed, %d}",
                             i, (long long)weight_inner(m, n), n->c, n->acc_shift, (long)in->zp, i,
                             i, i, i, n->wbits);
    if (xnor) { /* the input's scale, 1 / the output's (frost_quantize_one's inverse) */
        frost_strbuf_appendf(b, ",\n    n%d_alpha, n%d_xbias, ", i, i);
        append_float(b, in->scale);
        frost_strbuf_appendf(b, ", ");
        append_float(b, 1.0f / n->scale);
        frost_strbuf_appendf(b, "}");
    }
    frost_strbuf_appendf(b, ";\n");
}

/* The call of a conv / linear / logits node with packed weights (binarized inputs too). */
static void emit_packed_call(frost_strbuf *b, const frost_int8_model *m, int i)
{
    const frost_int8_node *n = &m->nodes[i];
    size_t x = m->nodes[n->in[0]].offset, y = n->offset;
    const char *kernel = n->op == FROST_I8_CONV ? "conv_packed" : "linear_packed";
    if (n->ain == FROST_I8_AIN_XNOR && n->op == FROST_I8_CONV)
        kernel = n->groups == 1 ? "conv_xnor" : "conv_xnor_grouped";
    else if (n->ain == FROST_I8_AIN_XNOR)
        kernel = "linear_xnor";
    else if (n->ain && n->op == FROST_I8_CONV)
        kernel = n->groups == 1 ? "conv_sign" : "conv_sign_grouped";
    else if (n->ain)
        kernel = "linear_sign";
    if (n->op != FROST_I8_LOGITS)
        frost_strbuf_appendf(b, "    %s(&n%d, A(%zu), A(%zu));", kernel, i, x, y);
    else
        frost_strbuf_appendf(b, "    logits_packed(&n%d, A(%zu), output);", i, x);
    frost_strbuf_appendf(b, " /* ");
    append_comment_name(b, n->name);
    frost_strbuf_appendf(b, " */\n");
}

/* An XNOR node's float output stage: nI_alpha (its per-channel scale) and nI_xbias, the
 * float bias the runtime derives from the int32 one (binact.c xnor_prepare), in place of
 * the int32 bias and multipliers. */
static void emit_xnor_arrays(frost_strbuf *b, const frost_int8_model *m, int i, size_t *bytes)
{
    const frost_int8_node *n = &m->nodes[i];
    float *bias = malloc((size_t)n->c * sizeof(float));
    char name[64];
    (void)m;
    for (int c = 0; bias && c < n->c; c++)
        bias[c] = (float)((double)n->bias[c] * n->wscale[c] / (double)(1 << n->acc_shift));
    snprintf(name, sizeof name, "n%d_alpha", i);
    emit_f32(b, name, n->wscale, n->c, bytes);
    snprintf(name, sizeof name, "n%d_xbias", i);
    if (bias)
        emit_f32(b, name, bias, n->c, bytes);
    free(bias);
}

/* The arrays of node i: nI_weight (or nI_packed), nI_bias, nI_mult, nI_shift, nI_lut, nI_scale,
 * nI_fbias. */
static void emit_arrays(frost_strbuf *b, const frost_int8_model *m, int i, size_t *bytes)
{
    const frost_int8_node *n = &m->nodes[i];
    char name[64];
    frost_strbuf_appendf(b, "/* node %d: ", i);
    append_comment_name(b, n->name);
    frost_strbuf_appendf(b, " (%s) */\n", frost_int8_op_name(n->op));
    if (n->weight && n->wbits) {
        emit_packed_weights(b, m, i, bytes);
    } else if (n->weight) {
        snprintf(name, sizeof name, "n%d_weight", i);
        emit_i8(b, name, n->weight, n->c * weight_inner(m, n), bytes);
    }
    if (n->ain == FROST_I8_AIN_XNOR) {
        emit_xnor_arrays(b, m, i, bytes);
        return;
    }
    if (n->weight) {
        snprintf(name, sizeof name, "n%d_bias", i);
        emit_i32(b, name, n->bias, n->c, bytes);
    }
    if (n->n_mult > 0) {
        snprintf(name, sizeof name, "n%d_mult", i);
        emit_i32(b, name, n->mult, n->n_mult, bytes);
        snprintf(name, sizeof name, "n%d_shift", i);
        emit_i32(b, name, n->shift, n->n_mult, bytes);
    }
    if (n->lut) {
        snprintf(name, sizeof name, "n%d_lut", i);
        emit_u8(b, name, n->lut, (int64_t)256 * n->n_in, bytes);
    }
    if (n->op == FROST_I8_LOGITS) {
        snprintf(name, sizeof name, "n%d_scale", i);
        emit_f32(b, name, n->out_scale, n->c, bytes);
        snprintf(name, sizeof name, "n%d_fbias", i);
        emit_f32(b, name, n->out_bias, n->c, bytes);
    }
}

/* The kernel's parameter struct for node i (constant, in flash too). */
static void emit_params(frost_strbuf *b, const frost_int8_model *m, int i)
{
    const frost_int8_node *n = &m->nodes[i];
    const frost_int8_node *in = n->n_in ? &m->nodes[n->in[0]] : NULL;
    if (n->wbits) {
        emit_packed_params(b, m, i);
        return;
    }
    switch (n->op) {
    case FROST_I8_CONV:
        frost_strbuf_appendf(b,
                             "static const conv_t n%d = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, "
                             "%d, %ld, %ld, %ld, %ld,\n    n%d_weight, n%d_bias, n%d_mult, "
                             "n%d_shift};\n",
                             i, in->h, in->w, in->c, n->h, n->w, n->c, n->k, n->stride, n->pad,
                             n->groups, n->acc_shift, (long)in->zp, (long)n->zp, (long)n->lo,
                             (long)n->hi, i, i, i, i);
        break;
    case FROST_I8_LINEAR:
        frost_strbuf_appendf(b,
                             "static const dense_t n%d = {%lld, %d, %d, %ld, %ld, %ld, %ld, "
                             "n%d_weight, n%d_bias,\n    n%d_mult, n%d_shift, 0, 0};\n",
                             i, (long long)weight_inner(m, n), n->c, n->acc_shift, (long)in->zp,
                             (long)n->zp, (long)n->lo, (long)n->hi, i, i, i, i);
        break;
    case FROST_I8_LOGITS:
        frost_strbuf_appendf(b,
                             "static const dense_t n%d = {%lld, %d, %d, %ld, 0, 0, 0, n%d_weight, "
                             "n%d_bias, 0, 0,\n    n%d_scale, n%d_fbias};\n",
                             i, (long long)weight_inner(m, n), n->c, n->acc_shift, (long)in->zp, i,
                             i, i, i);
        break;
    case FROST_I8_ADD:
        frost_strbuf_appendf(b,
                             "static const add_t n%d = {%lld, %ld, %ld, %ld, %ld, %ld, n%d_mult, "
                             "n%d_shift};\n",
                             i, (long long)n->h * n->w * n->c, (long)in->zp,
                             (long)m->nodes[n->in[1]].zp, (long)n->zp, (long)n->lo, (long)n->hi, i,
                             i);
        break;
    case FROST_I8_MUL: {
        const frost_int8_node *in1 = &m->nodes[n->in[1]];
        frost_strbuf_appendf(b,
                             "static const mul_t n%d = {%d, %d, %d, %d, %ld, %ld, %ld, %ld, %ld, "
                             "n%d_mult, n%d_shift};\n",
                             i, n->h * n->w, n->c, in1->h * in1->w, n->acc_shift, (long)in->zp,
                             (long)in1->zp, (long)n->zp, (long)n->lo, (long)n->hi, i, i);
        break;
    }
    case FROST_I8_MAXPOOL:
    case FROST_I8_AVGPOOL:
    case FROST_I8_GAP: {
        bool max = n->op == FROST_I8_MAXPOOL;
        char mult[64] = "0, 0", lut[32] = "0";
        if (n->n_mult > 0)
            snprintf(mult, sizeof mult, "n%d_mult, n%d_shift", i, i);
        if (max)
            snprintf(lut, sizeof lut, "n%d_lut", i);
        frost_strbuf_appendf(b,
                             "static const pool_t n%d = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %ld, "
                             "%ld, %ld, %ld,\n    %s, %s};\n",
                             i, in->h, in->w, in->c, n->h, n->w, n->k, n->stride, n->pad,
                             n->acc_shift, (long)in->zp, (long)n->zp, (long)n->lo, (long)n->hi,
                             mult, lut);
        break;
    }
    case FROST_I8_QUANTIZE:
    case FROST_I8_CONCAT:
    case FROST_I8_LUT:
    case FROST_I8_OP_COUNT: break; /* no parameter struct: plain arguments */
    }
}

/* ---- the run function ---- */

static void emit_call(frost_strbuf *b, const frost_int8_model *m, int i)
{
    const frost_int8_node *n = &m->nodes[i];
    size_t x = n->n_in ? m->nodes[n->in[0]].offset : 0, y = n->offset;
    long long pixels = (long long)n->h * n->w;
    switch (n->op) {
    case FROST_I8_QUANTIZE: break;
    case FROST_I8_CONV: frost_strbuf_appendf(b, "    conv(&n%d, A(%zu), A(%zu));", i, x, y); break;
    case FROST_I8_LINEAR:
        frost_strbuf_appendf(b, "    linear(&n%d, A(%zu), A(%zu));", i, x, y);
        break;
    case FROST_I8_LOGITS: frost_strbuf_appendf(b, "    logits(&n%d, A(%zu), output);", i, x); break;
    case FROST_I8_ADD:
        frost_strbuf_appendf(b, "    add(&n%d, A(%zu), A(%zu), A(%zu));", i, x,
                             m->nodes[n->in[1]].offset, y);
        break;
    case FROST_I8_MUL:
        frost_strbuf_appendf(b, "    mul(&n%d, A(%zu), A(%zu), A(%zu));", i, x,
                             m->nodes[n->in[1]].offset, y);
        break;
    case FROST_I8_LUT:
        frost_strbuf_appendf(b, "    lut_rows(n%d_lut, %lld, %d, A(%zu), %d, A(%zu), %d);", i,
                             pixels, n->c, x, n->c, y, n->c);
        break;
    case FROST_I8_CONCAT: {
        int off = 0;
        for (int j = 0; j < n->n_in; j++) {
            const frost_int8_node *xj = &m->nodes[n->in[j]];
            frost_strbuf_appendf(
                b, "%s    lut_rows(n%d_lut + %d, %lld, %d, A(%zu), %d, A(%zu), %d);", j ? "\n" : "",
                i, 256 * j, pixels, xj->c, xj->offset, xj->c, y + (size_t)off, n->c);
            off += xj->c;
        }
        break;
    }
    case FROST_I8_MAXPOOL:
        frost_strbuf_appendf(b, "    maxpool(&n%d, A(%zu), A(%zu));", i, x, y);
        break;
    case FROST_I8_AVGPOOL:
        frost_strbuf_appendf(b, "    avgpool(&n%d, A(%zu), A(%zu));", i, x, y);
        break;
    case FROST_I8_GAP: frost_strbuf_appendf(b, "    gap(&n%d, A(%zu), A(%zu));", i, x, y); break;
    case FROST_I8_OP_COUNT: break;
    }
    frost_strbuf_appendf(b, " /* ");
    append_comment_name(b, n->name);
    frost_strbuf_appendf(b, " */\n");
}

static bool ends_in_logits(const frost_int8_model *m)
{
    return m->nodes[m->n_nodes - 1].op == FROST_I8_LOGITS;
}

static void emit_run(frost_strbuf *b, const frost_int8_model *m, const char *name,
                     const char *upper)
{
    const frost_int8_node *first = &m->nodes[0], *last = &m->nodes[m->n_nodes - 1];
    frost_strbuf_appendf(b,
                         "/* The activations: every tensor at the offset frost's memory plan "
                         "gave it. */\n"
                         "static uint8_t arena[%s_ARENA_BYTES];\n"
                         "#define A(offset) (arena + (offset))\n\n"
                         "int %s_run(const uint8_t *input, %s_output_t *output)\n{\n"
                         "    int32_t i;\n"
                         "    if (!input || !output)\n"
                         "        return -1;\n"
                         "    for (i = 0; i < %s_INPUT_SIZE; i++)\n"
                         "        arena[%zu + i] = input[i];\n",
                         upper, name, name, upper, first->offset);
    for (int i = 1; i < m->n_nodes; i++) {
        if (m->nodes[i].wbits)
            emit_packed_call(b, m, i);
        else
            emit_call(b, m, i);
    }
    if (last->op != FROST_I8_LOGITS)
        frost_strbuf_appendf(b,
                             "    for (i = 0; i < %s_OUTPUT_SIZE; i++)\n"
                             "        output[i] = arena[%zu + i];\n",
                             upper, last->offset);
    frost_strbuf_appendf(b, "    return 0;\n}\n");
}

static bool has_xnor(const frost_int8_model *m)
{
    for (int i = 1; i < m->n_nodes; i++)
        if (m->nodes[i].ain == FROST_I8_AIN_XNOR)
            return true;
    return false;
}

/* What of the generated code is float (the header's "Integer-only ...%s"). */
static const char *float_note(const frost_int8_model *m)
{
    bool logits = ends_in_logits(m), xnor = has_xnor(m);
    if (xnor && logits)
        return ",\n * except the float logits of the last layer and the output stage of the "
               "XNOR-Net\n"
               " * layers (float, with sums in double: K of the real input, as frost computes it)";
    if (xnor)
        return ",\n * except the output stage of the XNOR-Net layers (float, with sums in double:\n"
               " * K of the real input, as frost computes it)";
    return logits ? ",\n * except the float logits of the last layer" : "";
}

static void emit_header(frost_strbuf *b, const frost_int8_model *m, const char *name,
                        const char *upper, size_t const_bytes)
{
    const frost_int8_node *first = &m->nodes[0], *last = &m->nodes[m->n_nodes - 1];
    frost_strbuf_appendf(b, "/*\n * %s: the int8 model '", name);
    append_comment_name(b, m->name);
    frost_strbuf_appendf(
        b,
        "' as portable C99, generated by frost (do not edit).\n"
        " *\n"
        " * %s_run(input, output) runs one image: input is %s_INPUT_SIZE uint8 values, NHWC\n"
        " * (%s_INPUT_H x %s_INPUT_W x %s_INPUT_C), quantized as\n"
        " *     u8 = clamp(%s_INPUT_ZERO_POINT + round_half_even(x / %s_INPUT_SCALE),\n"
        " *                %s_INPUT_MIN, %s_INPUT_MAX)\n"
        " * from the image normalized as in training. It returns 0 (-1 for a NULL pointer).\n"
        " * No allocation: the activations live in one static arena of %s_ARENA_BYTES bytes,\n"
        " * so the function is not reentrant. Integer-only fixed-point arithmetic%s.\n"
        " */\n"
        "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n"
        "#define %s_INPUT_H %d\n#define %s_INPUT_W %d\n#define %s_INPUT_C %d\n"
        "#define %s_INPUT_SIZE %lld\n#define %s_INPUT_SCALE ",
        name, upper, upper, upper, upper, upper, upper, upper, upper, upper, float_note(m), upper,
        upper, upper, m->in_h, upper, m->in_w, upper, m->in_c, upper,
        (long long)m->in_h * m->in_w * m->in_c, upper);
    append_float(b, first->scale);
    frost_strbuf_appendf(b,
                         " /* %.9g */\n#define %s_INPUT_ZERO_POINT %ld\n#define %s_INPUT_MIN "
                         "%ld\n#define %s_INPUT_MAX %ld\n\n",
                         (double)first->scale, upper, (long)first->zp, upper, (long)first->lo,
                         upper, (long)first->hi);
    if (ends_in_logits(m)) {
        frost_strbuf_appendf(b,
                             "/* The output: %d float logits (the last layer's accumulators "
                             "times its float scale, plus its bias). */\n"
                             "#define %s_OUTPUT_SIZE %d\n#define %s_OUTPUT_FLOAT 1\n"
                             "typedef float %s_output_t;\n\n",
                             m->classes, upper, m->classes, upper, name);
    } else {
        frost_strbuf_appendf(b,
                             "/* The output: %d uint8 values; real value = (u8 - "
                             "%s_OUTPUT_ZERO_POINT) * %s_OUTPUT_SCALE. */\n"
                             "#define %s_OUTPUT_SIZE %d\n#define %s_OUTPUT_FLOAT 0\n"
                             "#define %s_OUTPUT_SCALE ",
                             m->classes, upper, upper, upper, m->classes, upper, upper);
        append_float(b, last->scale);
        frost_strbuf_appendf(b,
                             " /* %.9g */\n#define %s_OUTPUT_ZERO_POINT %ld\n"
                             "typedef uint8_t %s_output_t;\n\n",
                             (double)last->scale, upper, (long)last->zp, name);
    }
    frost_strbuf_appendf(b,
                         "/* RAM: the static activation arena (frost's memory plan) and the "
                         "scratch: one row of\n * unpacked weights when the model has packed "
                         "binary / ternary weights, and for layers\n * with binarized inputs "
                         "the sign bits of their input and one row of weight bits; else\n * "
                         "none. Flash: %s_CONST_BYTES of "
                         "weights (packed ones as stored), biases, multipliers and\n * tables, "
                         "plus the code and the per-layer parameters. */\n"
                         "#define %s_ARENA_BYTES %zu\n#define %s_SCRATCH_BYTES %lld\n"
                         "#define %s_CONST_BYTES %zu\n\n"
                         "int %s_run(const uint8_t *input, %s_output_t *output);\n\n#endif\n",
                         upper, upper, m->arena_bytes, upper,
                         (long long)scratch_bytes(scratch_of(m)), upper, const_bytes, name, name);
}

/* ---- entry point ---- */

static frost_status check_exportable(const frost_int8_model *m, const char *dir, const char *name)
{
    if (!m || !dir || !name)
        return frost_fail(FROST_ERR_ARG, "C export: NULL argument");
    bool ident = isalpha((unsigned char)name[0]) || name[0] == '_';
    for (const char *p = name; *p; p++)
        ident = ident && (isalnum((unsigned char)*p) || *p == '_');
    if (!ident || strlen(name) > 32)
        return frost_fail(FROST_ERR_ARG,
                          "C export: name '%s' is not a C identifier of at most 32 characters",
                          name);
    if (m->float_requant)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "C export: model '%s' uses float requantization; the generated code "
                          "is integer-only fixed point (convert the checkpoint again with "
                          "--requant fixed)",
                          m->name);
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        /* the packed kernels unpack -1/0/+1 codes; TTQ's per-channel levels are not emitted */
        if (n->wlevels)
            return frost_fail(FROST_ERR_UNSUPPORTED,
                              "C export: node '%s' has TTQ weights (two levels per channel); the "
                              "C export does not support them yet (docs/int8.md#low-bit-layers)",
                              n->name);
        for (int c = 0; n->op == FROST_I8_LOGITS && c < n->c; c++)
            if (!isfinite(n->out_scale[c]) || !isfinite(n->out_bias[c]))
                return frost_fail(FROST_ERR_NUMERIC, "C export: node '%s' has a non-finite scale",
                                  n->name);
    }
    return FROST_OK;
}

static frost_status write_text(frost_strbuf *b, const char *dir, const char *name, const char *ext)
{
    char *text = frost_strbuf_finish(b);
    if (!text)
        return frost_fail(FROST_ERR_NOMEM, "C export: out of memory");
    size_t len = strlen(dir) + strlen(name) + 8;
    char *path = malloc(len);
    frost_status s = path ? FROST_OK : frost_fail(FROST_ERR_NOMEM, "C export: out of memory");
    if (s == FROST_OK) {
        snprintf(path, len, "%s/%s.%s", dir, name, ext);
        s = frost_write_file_atomic(path, text, strlen(text));
    }
    free(path);
    free(text);
    return s;
}

frost_status frost_int8_export_c(const frost_int8_model *m, const char *dir, const char *name,
                                 frost_int8_c_info *info)
{
    if (!name)
        name = "model";
    FROST_TRY(check_exportable(m, dir, name));
    char upper[40];
    size_t len = strlen(name);
    for (size_t i = 0; i <= len; i++)
        upper[i] = (char)toupper((unsigned char)name[i]);

    frost_strbuf src = {0};
    size_t const_bytes = 0;
    frost_strbuf_appendf(&src, "/* %s.c: the int8 model '", name);
    append_comment_name(&src, m->name);
    frost_strbuf_appendf(&src,
                         "', generated by frost (do not edit); the API is in %s.h. */\n"
                         "#include \"%s.h\"\n\n",
                         name, name);
    emit_kernels(&src, model_needs(m));
    emit_packed_kernels(&src, m);
    for (int i = 1; i < m->n_nodes; i++) {
        emit_arrays(&src, m, i, &const_bytes);
        emit_params(&src, m, i);
        frost_strbuf_appendf(&src, "\n");
    }
    emit_run(&src, m, name, upper);

    frost_strbuf hdr = {0};
    emit_header(&hdr, m, name, upper, const_bytes);

    frost_status s = write_text(&hdr, dir, name, "h");
    if (s == FROST_OK)
        s = write_text(&src, dir, name, "c");
    else
        free(frost_strbuf_finish(&src));
    if (s == FROST_OK && info)
        *info = (frost_int8_c_info){.const_bytes = const_bytes,
                                    .arena_bytes = m->arena_bytes,
                                    .scratch_bytes = (size_t)scratch_bytes(scratch_of(m)),
                                    .float_output = ends_in_logits(m)};
    return s;
}
