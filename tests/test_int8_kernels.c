/*
 * int8 arithmetic: the worked examples of docs/int8.md#fixed-point-worked-examples, and the AVX2
 * kernels against the reference kernels over thousands of random shapes, strides,
 * paddings, zero points, clamps and multipliers (fixed seed): bit-exact.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/rng.h"
#include "harness.h"
#include "int8/kernels.h"
#include "int8/requant.h"

TEST(test_quantize_multiplier_worked_values)
{
    static const struct {
        double m;
        int32_t m0, e;
    } tv[] = {{.3, 1288490189, -1},          {.5, 1073741824, 0},
              {1.0 / 3, 1431655765, -1},     {1.5, 1610612736, 1},
              {.99999999999, 1073741824, 1}, {0.00000000011641532182693481, 0, 0}}; /* 2^-33 */
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
        int32_t m0, e;
        frost_quantize_multiplier(tv[i].m, &m0, &e);
        CHECK_EQ_INT(m0, tv[i].m0);
        CHECK_EQ_INT(e, tv[i].e);
    }
}

TEST(test_srdhm_rdbpot_mbqm_worked_values)
{
    CHECK_EQ_INT(frost_srdhm(-3, 1 << 30), -1);
    CHECK_EQ_INT(frost_srdhm(3, 1 << 30), 2);
    CHECK_EQ_INT(frost_srdhm(-5, 1 << 30), -2);
    CHECK_EQ_INT(frost_srdhm(5, 1 << 30), 3);
    CHECK_EQ_INT(frost_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    CHECK_EQ_INT(frost_srdhm(12345678, 1518500250), 8729713);
    CHECK_EQ_INT(frost_rdbpot(3, 1), 2);
    CHECK_EQ_INT(frost_rdbpot(-3, 1), -2);
    CHECK_EQ_INT(frost_rdbpot(5, 2), 1);
    CHECK_EQ_INT(frost_rdbpot(-5, 2), -1);
    CHECK_EQ_INT(frost_rdbpot(-6, 2), -2);
    CHECK_EQ_INT(frost_rdbpot(-601, 1), -301);
    int32_t m0, e; /* double rounding at M = .25: 1->1, 5->2, -2->-1, -6->-2 */
    frost_quantize_multiplier(.25, &m0, &e);
    CHECK_EQ_INT(frost_mbqm(1, m0, e), 1);
    CHECK_EQ_INT(frost_mbqm(5, m0, e), 2);
    CHECK_EQ_INT(frost_mbqm(-2, m0, e), -1);
    CHECK_EQ_INT(frost_mbqm(-6, m0, e), -2);
    frost_quantize_multiplier(.3, &m0, &e);
    CHECK_EQ_INT(frost_mbqm(1000, m0, e), 300);
    frost_quantize_multiplier(.0072474, &m0, &e);
    CHECK_EQ_INT(m0, 1992150143);
    CHECK_EQ_INT(e, -7);
    CHECK_EQ_INT(frost_mbqm(12345, m0, e), 89);
    CHECK_EQ_INT(frost_mbqm(-12345, m0, e), -89);
}

/* The FC worked example: x = [.5, -1, 2, .3] at (S, Z) = (.02, -10), two output channels,
 * output (S, Z) = (.015, 5): q_y = 34 and 13. Stored unsigned: Z + 128. */
TEST(test_fully_connected_worked_example)
{
    const int8_t w[8] = {73, -36, 18, -127, 127, -51, 25, 76};
    const int32_t qb[2] = {454, 6350};
    const uint8_t x[4] = {15 + 128, -60 + 128, 90 + 128, 5 + 128};
    int32_t acc[2];
    frost_int8_linear_ref(4, 2, -10 + 128, w, x, acc);
    CHECK_EQ_INT(acc[0] + qb[0], 3974);
    CHECK_EQ_INT(acc[1] + qb[1], 15715);
    double sw[2] = {.7 / 127, .05 / 127};
    int want_m0[2] = {2020100104, 1154342916}, want_e[2] = {-7, -10}, want_q[2] = {34, 13};
    for (int c = 0; c < 2; c++) {
        int32_t m0, e;
        frost_quantize_multiplier(0.02 * sw[c] / 0.015, &m0, &e); /* the example's exact decimals */
        CHECK_EQ_INT(m0, want_m0[c]);
        CHECK_EQ_INT(e, want_e[c]);
        CHECK_EQ_INT(frost_mbqm(acc[c] + qb[c], want_m0[c], want_e[c]) + 5, want_q[c]);
    }
}

/* The ADD worked example: (q=50, S=.05, Z=-3) + (q=-20, S=.02, Z=7) into (.06, -1): 34. */
TEST(test_add_worked_example)
{
    frost_int8_add_args a = {
        .a_zp = -3 + 128, .b_zp = 7 + 128, .out_zp = -1 + 128, .lo = 0, .hi = 255};
    double tw = 2 * .05;
    frost_quantize_multiplier(.05 / tw, &a.mult[0], &a.shift[0]);
    frost_quantize_multiplier(.02 / tw, &a.mult[1], &a.shift[1]);
    frost_quantize_multiplier(tw / ((1 << 20) * .06), &a.mult[2], &a.shift[2]);
    CHECK_EQ_INT(a.mult[1], 1717986918);
    CHECK_EQ_INT(a.shift[1], -2);
    CHECK_EQ_INT(a.mult[2], 1789569707);
    CHECK_EQ_INT(a.shift[2], -19);
    uint8_t x0 = 50 + 128, x1 = -20 + 128, y;
    frost_int8_add_ref(&a, 1, &x0, &x1, &y);
    CHECK_EQ_INT((int)y - 128, 34);
}

/* The MUL worked example: (q=50, S=.05, Z=-3) * (q=-20, S=.02, Z=7) into (.06, -1):
 * 2.65 * -0.54 = -1.431 = -23.85 steps, so q = -24 - 1 = -25. The product -1431 is shifted
 * left by 14 (255^2 << 14 < 2^30) and M = S_a S_b / (S_y 2^14). */
TEST(test_mul_worked_example)
{
    frost_int8_mul_args a = {
        .a_zp = -3 + 128, .b_zp = 7 + 128, .out_zp = -1 + 128, .lo = 0, .hi = 255, .acc_shift = 14};
    frost_quantize_multiplier(.05 * .02 / (.06 * 16384), &a.mult, &a.shift);
    CHECK_EQ_INT(a.mult, 1145324612); /* 1/60 / 2^14 = 0.5333 * 2^-19 */
    CHECK_EQ_INT(a.shift, -19);
    uint8_t x0 = 50 + 128, x1 = -20 + 128, y;
    frost_int8_mul_ref(&a, 1, 1, false, &x0, &x1, &y);
    CHECK_EQ_INT((int)y - 128, -25);
    a.fp = true; /* float requantization: round(-1431 * (1/60)) - 1 */
    a.f = (float)(.05 * .02 / .06);
    frost_int8_mul_ref(&a, 1, 1, false, &x0, &x1, &y);
    CHECK_EQ_INT((int)y - 128, -25);
    /* per channel: 2 pixels x 2 channels times one factor per channel */
    a.fp = false;
    const uint8_t xs[4] = {50 + 128, 10 + 128, -3 + 128, 127 + 128};
    const uint8_t gate[2] = {-20 + 128, 7 + 128}; /* reals -0.54 and 0 */
    uint8_t ys[4];
    frost_int8_mul_ref(&a, 2, 2, true, xs, gate, ys);
    CHECK_EQ_INT((int)ys[0] - 128, -25);
    CHECK_EQ_INT((int)ys[1] - 128, -1); /* times 0: the output zero point */
    CHECK_EQ_INT((int)ys[2] - 128, -1); /* (0 - 0) * -0.54 */
    CHECK_EQ_INT((int)ys[3] - 128, -1);
}

/* The MUL kernel against the exact real product over random zero points, scales, clamps and
 * both shapes of input 1: never more than 1 LSB off, and off only near ties. */
TEST(test_mul_within_one_lsb_of_float)
{
    frost_rng r;
    frost_rng_seed(&r, 77);
    int64_t total = 0, off[2] = {0, 0}, worse = 0;
    enum { PIX = 37, C = 11 };
    uint8_t x0[PIX * C], x1[PIX * C], y[PIX * C];
    for (int t = 0; t < 400; t++) {
        double sa = 0.001 + 0.1 * frost_rng_uniform(&r), sb = 0.001 + 0.1 * frost_rng_uniform(&r);
        double so = sa * sb * (5.0 + 200.0 * frost_rng_uniform(&r));
        bool per_channel = t % 2;
        frost_int8_mul_args a = {.a_zp = (int32_t)(frost_rng_uniform(&r) * 256) % 256,
                                 .b_zp = (int32_t)(frost_rng_uniform(&r) * 256) % 256,
                                 .out_zp = (int32_t)(frost_rng_uniform(&r) * 256) % 256,
                                 .lo = t % 3 == 0 ? 40 : 0,
                                 .hi = t % 5 == 0 ? 200 : 255,
                                 .acc_shift = 14,
                                 .f = (float)(sa * sb / so)};
        frost_quantize_multiplier(sa * sb / (so * 16384), &a.mult, &a.shift);
        for (int i = 0; i < PIX * C; i++) {
            x0[i] = (uint8_t)((int)(frost_rng_uniform(&r) * 256) % 256);
            x1[i] = (uint8_t)((int)(frost_rng_uniform(&r) * 256) % 256);
        }
        for (int fp = 0; fp < 2; fp++) {
            a.fp = fp;
            frost_int8_mul_ref(&a, PIX, C, per_channel, x0, x1, y);
            for (int p = 0; p < PIX; p++)
                for (int c = 0; c < C; c++) {
                    int b = per_channel ? x1[c] : x1[p * C + c];
                    double real = (x0[p * C + c] - a.a_zp) * sa * (b - a.b_zp) * sb;
                    double q = nearbyint(real / so) + a.out_zp;
                    int want = (int)(q < a.lo ? a.lo : q > a.hi ? a.hi : q);
                    int d = abs((int)y[p * C + c] - want);
                    off[fp] += d != 0;
                    worse += d > 1;
                }
        }
        total += PIX * C;
    }
    CHECK_EQ_INT(worse, 0);
    CHECK(off[0] * 1000 <= total); /* fixed point: only where the real value is near a tie */
    CHECK(off[1] * 1000 <= total);
    printf("  %lld / %lld (fixed), %lld (float) of %lld values 1 LSB off\n", (long long)off[0],
           (long long)total, (long long)off[1], (long long)total);
}

/* ---- AVX2 vs reference ---- */

static int irand(frost_rng *r, int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(frost_rng_uniform(r) * (float)(hi - lo + 1)) % (hi - lo + 1);
}

static void random_multipliers(frost_rng *r, int n, int32_t *m0, int32_t *e)
{
    for (int i = 0; i < n; i++) {
        double m = (double)frost_rng_uniform(r) * 0.01 + 1e-5;
        if (irand(r, 0, 9) == 0)
            m *= 300.0; /* sometimes > 1: a left shift */
        frost_quantize_multiplier(m, &m0[i], &e[i]);
    }
}

typedef struct {
    frost_int8_conv_args a;
    int8_t *w;
    int32_t *bias, *bias_eff, *mult, *shift;
    float *fscale; /* a third of the cases: float requantization */
    uint8_t *x, *y_ref, *y_fast;
    void *packed, *scratch;
} conv_case;

/* Set by the stem test: make_conv_case then makes stem-like convs (k x k over 1 or 2
 * channels on an already padded input: kernel rows of at most 8 bytes). */
static bool stem_like_cases;
/* Set by the wide VNNI tests: up to 100 input and output channels (several 16-, 32- and
 * 64-channel blocks, every kind of last block). */
static bool wide_cases;

static void make_conv_case(frost_rng *r, conv_case *c, bool dw)
{
    frost_int8_conv_args *a = &c->a;
    memset(c, 0, sizeof *c);
    a->k = dw ? (irand(r, 0, 1) ? 3 : 5) : (int[]){1, 1, 3, 5}[irand(r, 0, 3)];
    a->stride = irand(r, 1, 2);
    a->pad = irand(r, 0, 3) == 0 ? 0 : irand(r, 0, a->k / 2);
    a->h = irand(r, a->k, a->k + 9);
    a->w = irand(r, a->k, a->k + 9);
    a->cin = dw ? irand(r, 1, 40) : irand(r, 1, 37);
    if (stem_like_cases) {
        a->k = irand(r, 0, 1) ? 3 : 5;
        a->pad = 0;
        a->h = irand(r, a->k, a->k + 20);
        a->w = irand(r, a->k, a->k + 20);
        a->cin = a->k == 3 ? irand(r, 1, 3) : irand(r, 1, 2); /* 3 x 3 and 5 x 2: rows > 8 */
    }
    if (wide_cases) /* half of the GEMM cases in whole quads: 1x1 ones read their input directly */
        a->cin = !dw && irand(r, 0, 1) ? 4 * irand(r, 1, 25) : irand(r, 1, dw ? 150 : 100);
    a->cout = dw ? a->cin : irand(r, 1, wide_cases ? 100 : 40);
    a->groups = dw ? a->cin : 1;
    a->oh = (a->h + 2 * a->pad - a->k) / a->stride + 1;
    a->ow = (a->w + 2 * a->pad - a->k) / a->stride + 1;
    a->in_zp = irand(r, 0, 255);
    a->out_zp = irand(r, 0, 255);
    a->lo = irand(r, 0, 128);
    a->hi = irand(r, a->lo, 255);
    int kdim = a->k * a->k * (a->cin / a->groups);
    while (a->acc_shift < 8 && ((int64_t)kdim * 255 * 128 << (a->acc_shift + 1)) <= (1 << 30) &&
           irand(r, 0, 3))
        a->acc_shift++; /* a finer accumulator grid, as the converter picks it */
    c->w = malloc((size_t)a->cout * kdim);
    c->bias = malloc((size_t)a->cout * 4);
    c->bias_eff = malloc((size_t)a->cout * 4);
    c->mult = malloc((size_t)a->cout * 4);
    c->shift = malloc((size_t)a->cout * 4);
    size_t xin = (size_t)a->h * a->w * a->cin, yout = (size_t)a->oh * a->ow * a->cout;
    c->x = malloc(xin + 32); /* the depthwise kernels may read 31 bytes past the end */
    c->y_ref = malloc(yout);
    c->y_fast = malloc(yout);
    bool extreme = irand(r, 0, 7) == 0; /* worst case: all weights -127 or 127, inputs 255 */
    for (int i = 0; i < a->cout * kdim; i++)
        c->w[i] = extreme ? (int8_t)(irand(r, 0, 1) ? 127 : -127) : (int8_t)irand(r, -127, 127);
    for (size_t i = 0; i < xin; i++)
        c->x[i] = extreme ? 255 : (uint8_t)irand(r, 0, 255);
    random_multipliers(r, a->cout, c->mult, c->shift);
    for (int o = 0; o < a->cout; o++) {
        int64_t sw = 0;
        for (int i = 0; i < kdim; i++)
            sw += c->w[o * kdim + i];
        c->bias[o] = irand(r, -20000, 20000);
        c->bias_eff[o] = (int32_t)(c->bias[o] - a->in_zp * sw * (1 << a->acc_shift));
    }
    a->weight = c->w;
    a->bias = c->bias;
    a->bias_eff = c->bias_eff;
    a->mult = c->mult;
    a->shift = c->shift;
    if (irand(r, 0, 2) == 0) { /* the same multipliers as float scales (some > 1: clamping) */
        c->fscale = malloc((size_t)a->cout * sizeof(float));
        for (int o = 0; o < a->cout; o++)
            c->fscale[o] = (float)ldexp((double)c->mult[o], c->shift[o] - 31);
        a->fscale = c->fscale;
    }
    if (dw) {
        c->packed = malloc(frost_int8_dw_packed_bytes(a->cout, a->k));
        frost_int8_dw_pack(a->cout, a->k, a->acc_shift, c->w, c->bias_eff, c->mult, c->shift,
                           c->fscale, c->packed);
    } else {
        c->packed = malloc(frost_int8_gemm_packed_bytes(a->cout, kdim));
        frost_int8_gemm_pack(a->cout, kdim, a->acc_shift, c->w, c->bias_eff, c->mult, c->shift,
                             c->fscale, c->packed);
        c->scratch = malloc(frost_int8_gemm_scratch_bytes(a));
    }
}

static void free_conv_case(conv_case *c)
{
    free(c->w), free(c->bias), free(c->bias_eff), free(c->mult), free(c->shift), free(c->fscale);
    free(c->x), free(c->y_ref), free(c->y_fast), free(c->packed), free(c->scratch);
}

static void conv_property(bool dw, int cases)
{
    if (!frost_cpu_has_avx2()) {
        printf("  (no AVX2 on this CPU: skipped)\n");
        return;
    }
    frost_rng r;
    frost_rng_seed(&r, dw ? 2024 : 2025);
    int bad = 0;
    for (int t = 0; t < cases; t++) {
        conv_case c;
        make_conv_case(&r, &c, dw);
        frost_int8_conv_ref(&c.a, c.x, c.y_ref);
        int split = irand(&r, 0, c.a.oh); /* two row ranges, as two threads run them */
        if (dw) {
            frost_int8_dwconv_avx2(&c.a, c.packed, c.x, c.y_fast, 0, split);
            frost_int8_dwconv_avx2(&c.a, c.packed, c.x, c.y_fast, split, c.a.oh);
        } else {
            int pix = c.a.oh * c.a.ow, cut = irand(&r, 0, pix); /* pixel ranges */
            frost_int8_conv_gemm_avx2(&c.a, c.packed, c.x, c.y_fast, 0, cut, c.scratch);
            frost_int8_conv_gemm_avx2(&c.a, c.packed, c.x, c.y_fast, cut, pix, c.scratch);
        }
        size_t n = (size_t)c.a.oh * c.a.ow * c.a.cout;
        if (memcmp(c.y_ref, c.y_fast, n) != 0 && bad++ < 3)
            fprintf(stderr, "  case %d: k=%d s=%d p=%d %dx%dx%d -> %d differs\n", t, c.a.k,
                    c.a.stride, c.a.pad, c.a.h, c.a.w, c.a.cin, c.a.cout);
        free_conv_case(&c);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(test_gemm_conv_avx2_matches_reference) { conv_property(false, 2000); }

/* Stem-like convs (k x k over 1-3 channels, unpadded: short kernel rows widened 8 bytes
 * at a time, reads stopping at the input's end), many tiles of pixels. */
TEST(test_gemm_conv_avx2_stem_matches_reference)
{
    stem_like_cases = true;
    conv_property(false, 400);
    stem_like_cases = false;
}

/* The AVX-512 VNNI GEMM against the reference (pixel ranges split like threads), with
 * counts of the paths the cases went through: the input read directly (1x1, stride 1,
 * whole quads) or gathered, a reduction length not a multiple of 4, stride 2, a last
 * block of 16 channels or fewer (the 8 x 16 kernel) or of 17..31 (8 x 32, masked), and
 * the float requantization. */
static void vnni_conv_property(uint64_t seed, int cases)
{
    if (!frost_cpu_has_avx512_vnni()) {
        printf("  (no AVX-512 VNNI on this CPU: skipped)\n");
        return;
    }
    frost_rng r;
    frost_rng_seed(&r, seed);
    int bad = 0, direct = 0, odd_k = 0, stride2 = 0, tail16 = 0, tail32 = 0, fp = 0;
    for (int t = 0; t < cases; t++) {
        conv_case c;
        make_conv_case(&r, &c, false);
        int kdim = c.a.k * c.a.k * c.a.cin;
        direct += c.a.k == 1 && c.a.stride == 1 && c.a.pad == 0 && kdim % 4 == 0;
        odd_k += kdim % 4 != 0;
        stride2 += c.a.stride == 2;
        tail16 += c.a.cout % 32 != 0 && c.a.cout % 32 <= 16;
        tail32 += c.a.cout % 32 > 16;
        fp += c.fscale != NULL;
        void *vp = malloc(frost_int8_vnni_packed_bytes(c.a.cout, kdim));
        void *vs = malloc(frost_int8_vnni_scratch_bytes(&c.a));
        frost_int8_vnni_pack(c.a.cout, kdim, c.a.acc_shift, c.w, c.bias_eff, c.mult, c.shift,
                             c.fscale, vp);
        frost_int8_conv_ref(&c.a, c.x, c.y_ref);
        int pix = c.a.oh * c.a.ow, cut = irand(&r, 0, pix);
        frost_int8_conv_vnni(&c.a, vp, c.x, c.y_fast, 0, cut, vs);
        frost_int8_conv_vnni(&c.a, vp, c.x, c.y_fast, cut, pix, vs);
        if (memcmp(c.y_ref, c.y_fast, (size_t)pix * c.a.cout) != 0 && bad++ < 3)
            fprintf(stderr, "  case %d: k=%d s=%d p=%d %dx%dx%d -> %d shift %d differs\n", t, c.a.k,
                    c.a.stride, c.a.pad, c.a.h, c.a.w, c.a.cin, c.a.cout, c.a.acc_shift);
        free(vp);
        free(vs);
        free_conv_case(&c);
    }
    CHECK_EQ_INT(bad, 0);
    if (stem_like_cases) /* all k x k, unpadded, few channels: the checks below do not apply */
        return;
    int least = cases / 20; /* each path well covered */
    printf("  %d direct, %d odd k, %d stride 2, %d/%d last blocks <= 16/17..31, %d float\n", direct,
           odd_k, stride2, tail16, tail32, fp);
    CHECK(direct >= least && odd_k >= least && stride2 >= least);
    CHECK(tail16 >= least && tail32 >= least && fp >= least);
}

TEST(test_vnni_conv_matches_reference) { vnni_conv_property(2026, 2000); }

/* Stem-like convs (k x k over 1-3 channels, unpadded: the gather's copies of whole kernel
 * rows, reads stopping at the input's end), many tiles of pixels. */
TEST(test_vnni_conv_stem_matches_reference)
{
    stem_like_cases = true;
    vnni_conv_property(2030, 400);
    stem_like_cases = false;
}

/* Wider layers: several pairs of 16-channel blocks, long reductions. */
TEST(test_vnni_conv_wide_matches_reference)
{
    wide_cases = true;
    vnni_conv_property(2028, 600);
    wide_cases = false;
}

TEST(test_depthwise_avx2_matches_reference) { conv_property(true, 2000); }

/* The AVX-512 VNNI depthwise kernel (padding handled by the kernel: border pixels through
 * a zero-point-filled window), with counts of its paths: whole 64-channel blocks, a last block
 * of 33..63 channels (masked zmm store) or of 32 or fewer (two pixels per zmm, an odd last pixel in
 * ymm), and the float requantization. */
static void vnni_dw_property(uint64_t seed, int cases)
{
    if (!frost_cpu_has_avx512_vnni()) {
        printf("  (no AVX-512 VNNI on this CPU: skipped)\n");
        return;
    }
    frost_rng r;
    frost_rng_seed(&r, seed);
    int bad = 0, tried = 0, full = 0, tail64 = 0, tail32 = 0, odd_w = 0, fp = 0, padded = 0;
    for (int t = 0; t < 3 * cases && tried < cases; t++) {
        conv_case c;
        make_conv_case(&r, &c, true);
        tried++;
        padded += c.a.pad > 0;
        full += c.a.cout >= 64;
        tail64 += c.a.cout % 64 > 32;
        tail32 += c.a.cout % 64 != 0 && c.a.cout % 64 <= 32;
        odd_w += c.a.ow % 2;
        fp += c.fscale != NULL;
        void *vp = malloc(frost_int8_dw_vnni_packed_bytes(c.a.cout, c.a.k));
        frost_int8_dw_vnni_pack(c.a.cout, c.a.k, c.a.acc_shift, c.w, c.bias_eff, c.mult, c.shift,
                                c.fscale, vp);
        frost_int8_conv_ref(&c.a, c.x, c.y_ref);
        int cut = irand(&r, 0, c.a.oh);
        frost_int8_dwconv_vnni(&c.a, vp, c.x, c.y_fast, 0, cut);
        frost_int8_dwconv_vnni(&c.a, vp, c.x, c.y_fast, cut, c.a.oh);
        if (memcmp(c.y_ref, c.y_fast, (size_t)c.a.oh * c.a.ow * c.a.cout) != 0 && bad++ < 3)
            fprintf(stderr, "  case %d: k=%d s=%d %dx%dx%d shift %d differs\n", t, c.a.k,
                    c.a.stride, c.a.h, c.a.w, c.a.cin, c.a.acc_shift);
        free(vp);
        free_conv_case(&c);
    }
    CHECK(tried == cases);
    CHECK_EQ_INT(bad, 0);
    int least = cases / 20;
    CHECK(tail32 >= least && odd_w >= least && fp >= least && padded >= least);
    if (wide_cases)
        CHECK(full >= least && tail64 >= least);
}

TEST(test_depthwise_vnni_matches_reference) { vnni_dw_property(2027, 1500); }

/* Wider layers: several 64-channel blocks and every kind of last block. */
TEST(test_depthwise_vnni_wide_matches_reference)
{
    wide_cases = true;
    vnni_dw_property(2029, 600);
    wide_cases = false;
}

/* The AVX2 product against the reference: both layouts, both requantizations, channel
 * counts around the vector width. */
TEST(test_mul_avx2_matches_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    frost_rng r;
    frost_rng_seed(&r, 31);
    int bad = 0;
    for (int t = 0; t < 3000; t++) {
        int pixels = irand(&r, 1, 20), c = irand(&r, 1, 40);
        bool per_channel = t % 2;
        double m = 1e-7 + 1e-3 * frost_rng_uniform(&r);
        frost_int8_mul_args a = {.a_zp = irand(&r, 0, 255),
                                 .b_zp = irand(&r, 0, 255),
                                 .out_zp = irand(&r, 0, 255),
                                 .lo = irand(&r, 0, 60),
                                 .hi = irand(&r, 190, 255),
                                 .acc_shift = irand(&r, 0, 14),
                                 .fp = t % 3 == 0,
                                 .f = (float)(m * 16384)};
        frost_quantize_multiplier(m * (double)(1 << (14 - a.acc_shift)), &a.mult, &a.shift);
        size_t n = (size_t)pixels * c;
        uint8_t *x0 = malloc(n), *x1 = malloc(n), *y0 = malloc(n), *y1 = malloc(n);
        for (size_t i = 0; i < n; i++) {
            x0[i] = (uint8_t)irand(&r, 0, 255);
            x1[i] = (uint8_t)irand(&r, 0, 255);
        }
        frost_int8_mul_ref(&a, pixels, c, per_channel, x0, x1, y0);
        frost_int8_mul_avx2(&a, pixels, c, per_channel, x0, x1, y1);
        bad += memcmp(y0, y1, n) != 0;
        free(x0), free(x1), free(y0), free(y1);
    }
    CHECK_EQ_INT(bad, 0);
}

/* The VNNI kernels' one-rounding MBQM against the scalar two-rounding one: every shift
 * from 31 right to 8 left, multipliers 0, 2^30, 2^31 - 1 and random ones, accumulators
 * over the whole int32 range (the left shift wraps as the scalar's does), 16 and 8 lanes. */
TEST(test_requant_avx512_matches_scalar)
{
    if (!frost_cpu_has_avx512_vnni()) {
        printf("  (no AVX-512 VNNI on this CPU: skipped)\n");
        return;
    }
    frost_rng r;
    frost_rng_seed(&r, 512);
    int bad = 0;
    for (int t = 0; t < 40000; t++) {
        int32_t acc[16], m0[16], e[16], out[16], out8[8];
        for (int i = 0; i < 16; i++) {
            int mk = irand(&r, 0, 9), kind = irand(&r, 0, 9);
            m0[i] = mk == 0   ? 0
                    : mk == 1 ? INT32_C(1) << 30
                    : mk == 2 ? INT32_MAX
                              : (int32_t)((INT64_C(1) << 30) + (int64_t)(frost_rng_u64(&r) >> 34));
            e[i] = irand(&r, -31, 8);
            acc[i] = kind == 0   ? INT32_MIN
                     : kind == 1 ? INT32_MAX
                     : kind < 5  ? irand(&r, -100, 100)
                                 : (int32_t)(frost_rng_u64(&r) >> 32);
        }
        frost_int8_requant16_avx512(acc, m0, e, out);
        frost_int8_requant8_avx512(acc, m0, e, out8);
        for (int i = 0; i < 16; i++)
            bad += out[i] != frost_mbqm(acc[i], m0[i], e[i]);
        for (int i = 0; i < 8; i++)
            bad += out8[i] != frost_mbqm(acc[i], m0[i], e[i]);
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(test_requant_linear_add_avx2_match_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    frost_rng r;
    frost_rng_seed(&r, 99);
    int bad = 0;
    for (int t = 0; t < 20000; t++) {
        int32_t acc[8], m0[8], e[8], out[8];
        random_multipliers(&r, 8, m0, e);
        for (int i = 0; i < 8; i++) {
            int kind = irand(&r, 0, 9);
            acc[i] = kind == 0   ? INT32_MIN
                     : kind == 1 ? INT32_MAX
                     : kind < 5  ? irand(&r, -100, 100)
                                 : (int32_t)(frost_rng_u64(&r) >> 32);
            if (e[i] > 0) /* the left shift must not overflow, as in real multipliers */
                acc[i] = acc[i] / (1 << e[i]) / 2;
        }
        frost_int8_requant8_avx2(acc, m0, e, out);
        for (int i = 0; i < 8; i++)
            bad += out[i] != frost_mbqm(acc[i], m0[i], e[i]);
    }
    CHECK_EQ_INT(bad, 0);
    for (int t = 0; t < 300; t++) { /* fully connected: the same int32 accumulators */
        int cin = irand(&r, 1, 300), cout = irand(&r, 1, 20), zp = irand(&r, 0, 255);
        int sh = irand(&r, 0, 4);
        int8_t *w = malloc((size_t)cin * cout);
        uint8_t *x = malloc((size_t)cin);
        int32_t *be = malloc((size_t)cout * 4), *a0 = malloc((size_t)cout * 4),
                *a1 = malloc((size_t)cout * 4);
        int16_t *xs = malloc((size_t)(cin + 16) * 2);
        for (int i = 0; i < cin * cout; i++)
            w[i] = (int8_t)irand(&r, -127, 127);
        for (int i = 0; i < cin; i++)
            x[i] = (uint8_t)irand(&r, 0, 255);
        for (int o = 0; o < cout; o++) {
            int32_t sw = 0;
            for (int i = 0; i < cin; i++)
                sw += w[o * cin + i];
            be[o] = -zp * sw * (1 << sh);
        }
        frost_int8_linear_ref(cin, cout, zp, w, x, a0);
        for (int o = 0; o < cout; o++)
            a0[o] = (int32_t)((uint32_t)a0[o] << sh);
        frost_int8_linear_avx2(cin, cout, sh, w, x, be, a1, xs);
        bad += memcmp(a0, a1, (size_t)cout * 4) != 0;
        free(w), free(x), free(be), free(a0), free(a1), free(xs);
    }
    CHECK_EQ_INT(bad, 0);
    int shift_kinds[4] = {0};
    for (int t = 0; t < 1000; t++) { /* every other case: float requantization */
        frost_int8_add_args a = {.a_zp = irand(&r, 0, 255),
                                 .b_zp = irand(&r, 0, 255),
                                 .out_zp = irand(&r, 0, 255),
                                 .lo = irand(&r, 0, 100),
                                 .fp = t % 2 == 1};
        a.hi = irand(&r, a.lo, 255);
        double s0 = 0.001 + frost_rng_uniform(&r), s1 = 0.001 + frost_rng_uniform(&r);
        double so = 0.001 + frost_rng_uniform(&r), tw = 2 * (s0 > s1 ? s0 : s1);
        if (t % 4 == 2) /* input multipliers up to 5/3 (e = 1): the general path; larger
                           ones would overflow the reference's int32 sum */
            tw *= 0.3 + 0.7 * frost_rng_uniform(&r);
        if (t % 8 == 4) /* both input multipliers below 1/2 (both e < 0) */
            tw *= 1.1 + frost_rng_uniform(&r);
        frost_quantize_multiplier(s0 / tw, &a.mult[0], &a.shift[0]);
        frost_quantize_multiplier(s1 / tw, &a.mult[1], &a.shift[1]);
        frost_quantize_multiplier(tw / ((1 << 20) * so), &a.mult[2], &a.shift[2]);
        frost_int8_add_float_params(&a, (float)s0, (float)s1, (float)so);
        int n = t % 4 == 0 ? 256 : irand(&r, 1, 100);
        uint8_t x0[256], x1[256], y0[256], y1[256];
        for (int i = 0; i < n; i++) { /* every value of a against random ones of b */
            x0[i] = (uint8_t)(t % 4 == 0 ? i : irand(&r, 0, 255));
            x1[i] = (uint8_t)irand(&r, 0, 255);
        }
        frost_int8_add_ref(&a, n, x0, x1, y0);
        frost_int8_add_avx2(&a, n, x0, x1, y1);
        bad += memcmp(y0, y1, (size_t)n) != 0;
        if (frost_cpu_has_avx512_vnni()) { /* and the 16-lane add, on the same case */
            memset(y1, 0, sizeof y1);
            frost_int8_add_avx512(&a, n, x0, x1, y1);
            bad += memcmp(y0, y1, (size_t)n) != 0;
        }
        int top = a.shift[0] > a.shift[1] ? a.shift[0] : a.shift[1];
        int low = a.shift[0] < a.shift[1] ? a.shift[0] : a.shift[1];
        shift_kinds[a.fp ? 2 : top > 0 ? 1 : 0] += a.fp || top > 0 || (top == 0 && low < 0);
        shift_kinds[3] += !a.fp && top < 0;
    }
    CHECK_EQ_INT(bad, 0);
    /* every path ran: the split one (the larger input's e = 0, the other's < 0, as the
     * converter's multipliers are), input multipliers above 1 (e > 0), float, and the split
     * one with both e < 0 */
    for (int k = 0; k < 4; k++)
        CHECK(shift_kinds[k] > 0);
}

/* The add's two-multiply input scaling against the scalar MBQM: every input byte and zero
 * point, multipliers from the whole [2^30, 2^31) range (and 0), every e from 0 to -31. One
 * LSB here can vanish in the add's output rounding, so it is checked on its own. */
TEST(test_add_input_scaling_avx2_exact)
{
    if (!frost_cpu_has_avx2())
        return;
    frost_rng r;
    frost_rng_seed(&r, 123);
    int bad = 0;
    uint8_t x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (uint8_t)i;
    for (int t = 0; t < 600; t++) {
        int32_t m0 = t == 0   ? 0
                     : t == 1 ? INT32_MAX
                     : t == 2 ? INT32_C(1) << 30
                              : (int32_t)((INT64_C(1) << 30) + (int64_t)(frost_rng_u64(&r) >> 34));
        int32_t e = -(t % 32), zp = irand(&r, 0, 255), out[8];
        for (int i = 0; i < 256; i += 8) {
            frost_int8_add_scaled8_avx2(x + i, zp, m0, e, out);
            for (int j = 0; j < 8; j++)
                bad += out[j] != frost_mbqm((int32_t)((uint32_t)(x[i + j] - zp) << 20), m0, e);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* The AVX2 global average pool against the reference: channel counts around the 16-lane
 * blocks, maps past 257 pixels (the uint16 partial sums), every sum shift the runtime
 * allows, multipliers above and below 1. */
TEST(test_gap_avx2_matches_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    frost_rng r;
    frost_rng_seed(&r, 77);
    int bad = 0;
    for (int t = 0; t < 2000; t++) {
        frost_int8_pool_args a = {.h = irand(&r, 1, t % 10 == 0 ? 40 : 9),
                                  .w = irand(&r, 1, t % 10 == 0 ? 40 : 9),
                                  .c = irand(&r, 1, 70),
                                  .in_zp = irand(&r, 0, 255),
                                  .out_zp = irand(&r, 0, 255),
                                  .lo = irand(&r, 0, 100)};
        a.hi = irand(&r, a.lo, 255);
        a.oh = a.ow = 1;
        a.k = a.stride = 1;
        int64_t n = (int64_t)a.h * a.w;
        while (((n * 255) << (a.acc_shift + 1)) <= (1 << 30) && irand(&r, 0, 3))
            a.acc_shift++; /* within frost_int8_prepare's bound */
        int32_t m0, e;
        random_multipliers(&r, 1, &m0, &e);
        if (irand(&r, 0, 1)) /* the converter's kind: about 1 / (n 2^acc_shift) */
            frost_quantize_multiplier(
                1.0 / ((double)n * (1 << a.acc_shift)) * (0.5 + frost_rng_uniform(&r)), &m0, &e);
        a.mult = &m0;
        a.shift = &e;
        size_t len = (size_t)n * (size_t)a.c;
        uint8_t *x = malloc(len), y0[70], y1[70];
        bool extreme = irand(&r, 0, 7) == 0;
        for (size_t i = 0; i < len; i++)
            x[i] = extreme ? 255 : (uint8_t)irand(&r, 0, 255);
        frost_int8_gap_ref(&a, x, y0);
        frost_int8_gap_avx2(&a, x, y1);
        if (memcmp(y0, y1, (size_t)a.c) != 0 && bad++ < 3)
            fprintf(stderr, "  case %d: %dx%dx%d shift %d differs\n", t, a.h, a.w, a.c,
                    a.acc_shift);
        free(x);
    }
    CHECK_EQ_INT(bad, 0);
}

/* The AVX2 table lookup gives the reference's bytes: random tables, every byte value, runs
 * of 1-200 bytes (32-byte blocks and tails), contiguous rows (one run) and strided ones (a
 * concat's rows), the bytes around each output row left alone. */
TEST(test_lut_rows_avx2_matches_reference)
{
    if (!frost_cpu_has_avx2())
        return;
    frost_rng r;
    frost_rng_seed(&r, 78);
    uint8_t lut[256], x[4096], y0[4096], y1[4096];
    int bad = 0;
    for (int t = 0; t < 500; t++) {
        for (int i = 0; i < 256; i++)
            lut[i] = (uint8_t)irand(&r, 0, 255);
        for (int i = 0; i < 4096; i++)
            x[i] = (uint8_t)(t == 0 ? i : irand(&r, 0, 255)); /* case 0: every value in order */
        int len = irand(&r, 1, 200), rows = irand(&r, 1, 8);
        int x_stride = len + (t % 2 ? 0 : irand(&r, 0, 9));
        int y_stride = len + (t % 3 ? 0 : irand(&r, 0, 9));
        memset(y0, 0xA5, sizeof y0);
        memset(y1, 0xA5, sizeof y1);
        frost_int8_lut_rows(lut, rows, len, x, x_stride, y0, y_stride);
        frost_int8_lut_rows_avx2(lut, rows, len, x, x_stride, y1, y_stride);
        if (memcmp(y0, y1, sizeof y0) != 0 && bad++ < 3)
            fprintf(stderr, "  case %d: %d rows of %d (strides %d, %d) differ\n", t, rows, len,
                    x_stride, y_stride);
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    RUN(test_quantize_multiplier_worked_values);
    RUN(test_srdhm_rdbpot_mbqm_worked_values);
    RUN(test_fully_connected_worked_example);
    RUN(test_add_worked_example);
    RUN(test_mul_worked_example);
    RUN(test_mul_within_one_lsb_of_float);
    RUN(test_gemm_conv_avx2_matches_reference);
    RUN(test_gemm_conv_avx2_stem_matches_reference);
    RUN(test_vnni_conv_matches_reference);
    RUN(test_vnni_conv_wide_matches_reference);
    RUN(test_vnni_conv_stem_matches_reference);
    RUN(test_depthwise_avx2_matches_reference);
    RUN(test_depthwise_vnni_matches_reference);
    RUN(test_depthwise_vnni_wide_matches_reference);
    RUN(test_requant_avx512_matches_scalar);
    RUN(test_requant_linear_add_avx2_match_reference);
    RUN(test_add_input_scaling_avx2_exact);
    RUN(test_mul_avx2_matches_reference);
    RUN(test_gap_avx2_matches_reference);
    RUN(test_lut_rows_avx2_matches_reference);
    return frost_test_summary();
}
