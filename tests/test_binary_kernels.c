/*
 * Bit-packed binary / ternary kernels (src/binary): the conventions' worked example, popcount
 * against __builtin_popcountll, every conv / linear path against a plain integer conv of
 * +-1 values with -1 padding (random shapes, fixed seed), the paths bit-exact with each
 * other, the BN + sign threshold against the float expression at every reachable dot
 * product, ternary kernels against their references, and the run-time path choice.
 * A path this CPU lacks (AVX-512 VPOPCNTDQ on an AVX2-only CPU) prints SKIPPED.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "binary/binary.h"
#include "binary/kernels.h"
#include "core/cpu.h"
#include "core/rng.h"
#include "frost/cpu.h"
#include "harness.h"

static frost_rng rng;

static int rand_int(int lo, int hi)
{
    return lo + (int)frost_rng_below(&rng, (uint32_t)(hi - lo + 1));
}

/* +-1 with probability 1/2 each. */
static float rand_pm1(void) { return frost_rng_below(&rng, 2) ? 1.0f : -1.0f; }

/* The paths this CPU runs; says SKIPPED once for each one it cannot. */
static int available_paths(frost_bin_path *paths)
{
    static bool said;
    int n = 0;
    for (int p = 0; p < FROST_BIN_PATH_COUNT; p++) {
        if (frost_bin_path_available((frost_bin_path)p))
            paths[n++] = (frost_bin_path)p;
        else if (!said)
            printf("  SKIPPED the %s path: this CPU (or the environment) lacks it\n",
                   frost_bin_path_name((frost_bin_path)p));
    }
    said = true;
    return n;
}

/* ---- the conventions ---- */

TEST(test_worked_example_xor_and_unmasked_xnor)
{
    /* a = 0b01101, b = 0b01011, element 0 in bit 0: a = [+1,-1,+1,+1,-1], b = [+1,+1,-1,+1,-1] */
    const float a[5] = {1, -1, 1, 1, -1}, b[5] = {1, 1, -1, 1, -1};
    uint64_t pa, pb;
    frost_bin_pack_f32(a, 1, 5, &pa);
    frost_bin_pack_f32(b, 1, 5, &pb);
    CHECK_EQ_INT(pa, 0x0d); /* 0b01101, tail zero */
    CHECK_EQ_INT(pb, 0x0b);
    int n = 5;
    CHECK_EQ_INT(n - 2 * frost_bin_popcount64(pa ^ pb), 1);
    /* XNOR over the 5 valid bits: 3 agree, 2 * 3 - 5 = 1 as well */
    CHECK_EQ_INT(2 * frost_bin_popcount64(~(pa ^ pb) & 0x1f) - n, 1);
    /* unmasked XNOR counts the zero tails as agreements: 6 in a byte, 62 in the word */
    CHECK_EQ_INT(2 * frost_bin_popcount64(~(pa ^ pb) & 0xff) - n, 7);
    CHECK(2 * frost_bin_popcount64(~(pa ^ pb)) - n != 1);
    /* the same through the packed linear layer on every path */
    frost_bin_weights w;
    CHECK_EQ_INT(frost_bin_weights_pack(b, 1, 1, 1, 5, &w), FROST_OK);
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    for (int i = 0; i < np; i++) {
        int32_t dot = 99;
        frost_bin_output out = {.kind = FROST_BIN_OUT_COUNTS};
        CHECK_EQ_INT(frost_bin_linear(1, &pa, &w, &out, &dot, paths[i]), FROST_OK);
        CHECK_EQ_INT(dot, 1);
    }
    frost_bin_weights_free(&w);
}

TEST(test_pack_layouts)
{
    /* 70 channels: two words per pixel, bit i%64 of word i/64, the second word's tail zero */
    float x[2 * 70];
    for (int i = 0; i < 140; i++)
        x[i] = (i % 3 == 0) ? -0.5f : (i % 7 == 0 ? 0.0f : 2.0f);
    uint64_t p[4];
    frost_bin_pack_f32(x, 2, 70, p);
    for (int px = 0; px < 2; px++)
        for (int i = 0; i < 128; i++) {
            int bit = (int)((p[px * 2 + i / 64] >> (i % 64)) & 1);
            CHECK_EQ_INT(bit, i < 70 ? x[px * 70 + i] >= 0.0f : 0);
        }
    /* int8 with zero point 3: +1 where q >= 3 */
    int8_t q[70];
    for (int i = 0; i < 70; i++)
        q[i] = (int8_t)(i * 37 % 256 - 128);
    uint64_t pq[2];
    frost_bin_pack_s8(q, 1, 70, 3, pq);
    for (int i = 0; i < 70; i++)
        CHECK_EQ_INT((pq[i / 64] >> (i % 64)) & 1, q[i] >= 3);
    CHECK_EQ_INT(pq[1] >> 6, 0);
    /* weights: a row is the 9 * 70 bits in OHWI order (10 words), blocked by 8 output
     * channels; channel 9 of 10 lives in block 1 lane 1, the rest of block 1 is zero */
    int o = 10, kh = 3, kw = 3, c = 70;
    float *wt = malloc(sizeof *wt * o * kh * kw * c);
    for (int i = 0; i < o * kh * kw * c; i++)
        wt[i] = rand_pm1();
    frost_bin_weights w;
    CHECK_EQ_INT(frost_bin_weights_pack(wt, o, kh, kw, c, &w), FROST_OK);
    CHECK_EQ_INT(w.tap_words, 2);
    CHECK_EQ_INT(w.k_words, 10);
    CHECK_EQ_INT(w.blocks, 2);
    for (int oc = 0; oc < 16; oc++)
        for (int i = 0; i < 640; i++) {
            uint64_t word = w.bits[((oc / 8) * w.k_words + i / 64) * 8 + oc % 8];
            int want = oc < o && i < 630 ? wt[oc * 630 + i] > 0 : 0;
            CHECK_EQ_INT((word >> (i % 64)) & 1, want);
        }
    frost_bin_weights_free(&w);
    free(wt);
}

/* The packers (AVX2 on this CPU, else scalar) against their rules, x >= 0 and q >= zero,
 * bit by bit: channel counts around the 8-, 32- and 64-element steps, -0.0 (+1), NaN (-1),
 * infinities, and every int8 zero point from -128 to 127. */
TEST(test_pack_special_values_and_odd_widths)
{
    const int widths[] = {1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 130, 200};
    const float special[] = {-0.0f, 0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-45f, -1e-45f};
    for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
        int c = widths[k], words = frost_bin_words(c);
        long pixels = 3;
        float *x = malloc(sizeof *x * pixels * c);
        int8_t *q = malloc((size_t)pixels * c);
        for (long i = 0; i < pixels * c; i++) {
            x[i] = i % 5 == 0 ? special[i / 5 % 8] : frost_rng_uniform(&rng) - 0.5f;
            q[i] = (int8_t)(frost_rng_below(&rng, 256) - 128);
        }
        uint64_t *p = malloc(sizeof *p * pixels * words);
        memset(p, 0xff, sizeof *p * pixels * words);
        frost_bin_pack_f32(x, pixels, c, p);
        int bad = 0;
        for (long px = 0; px < pixels; px++)
            for (int i = 0; i < 64 * words; i++) {
                int bit = (int)((p[px * words + i / 64] >> (i % 64)) & 1);
                bad += bit != (i < c && x[px * c + i] >= 0.0f);
            }
        CHECK_EQ_INT(bad, 0);
        for (int zero = -128; zero <= 127; zero += zero == -128 || zero >= 120 ? 1 : 17) {
            memset(p, 0xff, sizeof *p * pixels * words);
            frost_bin_pack_s8(q, pixels, c, (int8_t)zero, p);
            bad = 0;
            for (long px = 0; px < pixels; px++)
                for (int i = 0; i < 64 * words; i++) {
                    int bit = (int)((p[px * words + i / 64] >> (i % 64)) & 1);
                    bad += bit != (i < c && q[px * c + i] >= zero);
                }
            CHECK_EQ_INT(bad, 0);
        }
        free(x), free(q), free(p);
    }
}

/* ---- popcount ---- */

TEST(test_popcount_odd_lengths)
{
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    uint64_t *buf = malloc(sizeof *buf * 5000);
    for (int bits = 1; bits <= 300; bits++) {
        int words = frost_bin_words(bits);
        for (int i = 0; i < words; i++)
            buf[i] = frost_rng_u64(&rng);
        if (bits % 64)
            buf[words - 1] &= (1ull << (bits % 64)) - 1; /* the zero tail of a packed row */
        uint64_t want = 0;
        for (int i = 0; i < words; i++)
            want += (uint64_t)__builtin_popcountll(buf[i]);
        for (int p = 0; p < np; p++)
            CHECK_EQ_INT(frost_bin_popcount(buf, words, paths[p]), want);
    }
    /* long rows: Harley-Seal's 64-word blocks, plus the 4-word and single-word tails */
    const long lengths[] = {63, 64, 65, 127, 128, 1000, 1027, 4099};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        uint64_t want = 0;
        for (long i = 0; i < lengths[l]; i++) {
            buf[i] = frost_rng_u64(&rng);
            if (i % 5 == 0)
                buf[i] = ~0ull; /* saturated words, the carry-save worst case */
            want += (uint64_t)__builtin_popcountll(buf[i]);
        }
        for (int p = 0; p < np; p++)
            CHECK_EQ_INT(frost_bin_popcount(buf, lengths[l], paths[p]), want);
    }
    /* the per-word portable popcount */
    for (int i = 0; i < 1000; i++) {
        uint64_t v = frost_rng_u64(&rng) >> (i % 64);
        CHECK_EQ_INT(frost_bin_popcount64(v), __builtin_popcountll(v));
    }
    free(buf);
}

/* ---- conv against a plain +-1 conv ---- */

typedef struct conv_case {
    int n, h, w, c, o, k, stride, pad;
} conv_case;

/* Integer conv of +-1 (or -1/0/+1) values, NHWC x OHWI, padded with `pad_value`. */
static void reference_conv(const conv_case *cc, const float *x, const float *wt, float pad_value,
                           int oh, int ow, int32_t *y)
{
    for (int b = 0; b < cc->n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int oc = 0; oc < cc->o; oc++) {
                    float s = 0;
                    for (int ky = 0; ky < cc->k; ky++)
                        for (int kx = 0; kx < cc->k; kx++) {
                            int iy = oy * cc->stride - cc->pad + ky;
                            int ix = ox * cc->stride - cc->pad + kx;
                            bool in = iy >= 0 && iy < cc->h && ix >= 0 && ix < cc->w;
                            for (int ch = 0; ch < cc->c; ch++) {
                                float xv =
                                    in ? x[(((size_t)b * cc->h + iy) * cc->w + ix) * cc->c + ch]
                                       : pad_value;
                                s += xv * wt[(((size_t)oc * cc->k + ky) * cc->k + kx) * cc->c + ch];
                            }
                        }
                    y[(((size_t)b * oh + oy) * ow + ox) * cc->o + oc] = (int32_t)s;
                }
}

static conv_case random_case(int i)
{
    static const int channels[] = {1, 3, 16, 31, 63, 64, 65, 100, 130};
    conv_case cc;
    cc.n = rand_int(1, 2);
    cc.c = channels[i % 9];
    static const int kernels[] = {1, 3, 5, 3};
    cc.k = kernels[(i / 9) % 4];
    cc.stride = rand_int(1, 2);
    cc.pad = rand_int(0, cc.k / 2);
    cc.h = rand_int(cc.k, 9) | 1; /* odd heights */
    cc.w = rand_int(cc.k, 8);
    cc.o = rand_int(1, 19);
    return cc;
}

/* The folded BN expression the threshold must reproduce (binary.h). */
static bool bn_sign(float s, float t, int32_t d)
{
    volatile float prod = s * (float)d;
    return prod + t >= 0.0f;
}

static void check_conv_case(const conv_case *cc, bool ternary)
{
    size_t in_n = (size_t)cc->n * cc->h * cc->w * cc->c,
           w_n = (size_t)cc->o * cc->k * cc->k * cc->c;
    float *x = malloc(sizeof *x * in_n), *wt = malloc(sizeof *wt * w_n);
    for (size_t i = 0; i < in_n; i++)
        x[i] = rand_pm1();
    for (size_t i = 0; i < w_n; i++)
        wt[i] = ternary ? (float)rand_int(-1, 1) : rand_pm1();
    int tw = frost_bin_words(cc->c);
    uint64_t *xp = malloc(sizeof *xp * (size_t)cc->n * cc->h * cc->w * tw);
    frost_bin_pack_f32(x, (long)cc->n * cc->h * cc->w, cc->c, xp);
    frost_bin_weights w;
    frost_status st = ternary ? frost_bin_weights_pack_ternary(wt, cc->o, cc->k, cc->k, cc->c, &w)
                              : frost_bin_weights_pack(wt, cc->o, cc->k, cc->k, cc->c, &w);
    CHECK_EQ_INT(st, FROST_OK);
    frost_bin_conv_geom g = {
        .n = cc->n, .h = cc->h, .w = cc->w, .stride = cc->stride, .pad = cc->pad};
    CHECK_EQ_INT(frost_bin_conv_geom_init(&g, &w), FROST_OK);
    size_t out_n = (size_t)cc->n * g.oh * g.ow * cc->o;
    int32_t *want = malloc(sizeof *want * out_n), *got = malloc(sizeof *got * out_n);
    reference_conv(cc, x, wt, -1.0f, g.oh, g.ow, want);

    /* output stages: alpha / bias, and BN thresholds with some negative scales and ties */
    float *alpha = malloc(sizeof *alpha * cc->o), *bias = malloc(sizeof *bias * cc->o);
    float *bs = malloc(sizeof *bs * cc->o), *bt = malloc(sizeof *bt * cc->o);
    frost_bin_thresh *th = malloc(sizeof *th * cc->o);
    int n_bits = cc->k * cc->k * cc->c;
    for (int j = 0; j < cc->o; j++) {
        alpha[j] = 0.01f + frost_rng_uniform(&rng);
        bias[j] = frost_rng_uniform(&rng) - 0.5f;
        bs[j] = (frost_rng_uniform(&rng) - 0.5f) * 2.0f;
        bt[j] = (frost_rng_uniform(&rng) - 0.5f) * (float)n_bits * 0.5f;
        if (j % 3 == 0) { /* a tie: z = 0 exactly at dot = 2 */
            bs[j] = j % 2 ? -0.5f : 0.5f;
            bt[j] = j % 2 ? 1.0f : -1.0f;
        }
        th[j] = frost_bin_threshold(bs[j], bt[j], n_bits);
    }
    int ow_words = frost_bin_words(cc->o);
    size_t pixels = (size_t)cc->n * g.oh * g.ow;
    float *yf = malloc(sizeof *yf * out_n);
    uint64_t *yb = malloc(sizeof *yb * pixels * ow_words);

    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    for (int p = 0; p < np; p++) {
        frost_bin_output counts = {.kind = FROST_BIN_OUT_COUNTS};
        memset(got, 0x55, sizeof *got * out_n);
        CHECK_EQ_INT(frost_bin_conv(&g, xp, &w, &counts, got, paths[p]), FROST_OK);
        int bad = 0;
        for (size_t i = 0; i < out_n; i++)
            bad += got[i] != want[i];
        if (bad)
            fprintf(stderr, "  %s %s: n%d %dx%dx%d -> %d k%d s%d p%d: %d of %zu differ\n",
                    frost_bin_path_name(paths[p]), ternary ? "ternary" : "binary", cc->n, cc->h,
                    cc->w, cc->c, cc->o, cc->k, cc->stride, cc->pad, bad, out_n);
        CHECK_EQ_INT(bad, 0);

        frost_bin_output fl = {.kind = FROST_BIN_OUT_FLOAT, .alpha = alpha, .bias = bias};
        CHECK_EQ_INT(frost_bin_conv(&g, xp, &w, &fl, yf, paths[p]), FROST_OK);
        for (size_t i = 0; i < out_n; i++) {
            int j = (int)(i % cc->o);
            if (yf[i] != alpha[j] * (float)want[i] + bias[j]) {
                CHECK_FLOAT_EQ(yf[i], alpha[j] * (float)want[i] + bias[j]);
                break;
            }
        }

        frost_bin_output bits = {.kind = FROST_BIN_OUT_BITS, .thresh = th};
        memset(yb, 0xff, sizeof *yb * pixels * ow_words);
        CHECK_EQ_INT(frost_bin_conv(&g, xp, &w, &bits, yb, paths[p]), FROST_OK);
        bad = 0;
        for (size_t px = 0; px < pixels; px++)
            for (int j = 0; j < ow_words * 64; j++) {
                int bit = (int)((yb[px * ow_words + j / 64] >> (j % 64)) & 1);
                int expect = j < cc->o ? bn_sign(bs[j], bt[j], want[px * cc->o + j]) : 0;
                bad += bit != expect;
            }
        CHECK_EQ_INT(bad, 0);
    }
    free(x), free(wt), free(xp), free(want), free(got), free(alpha), free(bias), free(bs);
    free(bt), free(th), free(yf), free(yb);
    frost_bin_weights_free(&w);
}

TEST(test_binary_conv_random_shapes)
{
    for (int i = 0; i < 36; i++) {
        conv_case cc = random_case(i);
        check_conv_case(&cc, false);
    }
    /* a wide layer: rows longer than the AVX2 byte accumulators' 31 steps */
    conv_case wide = {.n = 1, .h = 5, .w = 4, .c = 300, .o = 9, .k = 3, .stride = 2, .pad = 1};
    check_conv_case(&wide, false);
    /* large enough to be split over two threads (by output rows, images included) */
    frost_set_threads(2);
    conv_case big = {.n = 2, .h = 19, .w = 20, .c = 128, .o = 64, .k = 3, .stride = 1, .pad = 1};
    check_conv_case(&big, false);
    check_conv_case(&big, true);
    frost_set_threads(1);
}

TEST(test_whole_word_patches)
{
    /* channels a multiple of 64 take the word-copy patch gather: strides, paddings and
     * kernels that put taps on every border, rows of one to four words per tap */
    const conv_case cases[] = {
        {.n = 2, .h = 7, .w = 6, .c = 64, .o = 16, .k = 3, .stride = 1, .pad = 1},
        {.n = 1, .h = 9, .w = 8, .c = 128, .o = 9, .k = 3, .stride = 2, .pad = 1},
        {.n = 1, .h = 6, .w = 7, .c = 192, .o = 8, .k = 5, .stride = 1, .pad = 2},
        {.n = 1, .h = 5, .w = 5, .c = 256, .o = 3, .k = 3, .stride = 2, .pad = 0},
        {.n = 1, .h = 4, .w = 6, .c = 64, .o = 70, .k = 1, .stride = 1, .pad = 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_conv_case(&cases[i], false);
        check_conv_case(&cases[i], true);
    }
}

/* Thresholds at the ends of int32 (the AVX2 bit stage compares with thr - 1 or -thr, which
 * must not wrap) and around 0, with and without flip, against the scalar rule on the int32
 * counts of the same conv: 70 channels, so the second output word is partial. */
TEST(test_bit_output_extreme_thresholds)
{
    conv_case cc = {.n = 1, .h = 5, .w = 6, .c = 64, .o = 70, .k = 3, .stride = 1, .pad = 1};
    const int32_t thr[] = {INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1, 0, 1, -1};
    size_t in_n = (size_t)cc.h * cc.w * cc.c, w_n = (size_t)cc.o * 9 * cc.c;
    float *x = malloc(sizeof *x * in_n), *wt = malloc(sizeof *wt * w_n);
    for (size_t i = 0; i < in_n; i++)
        x[i] = rand_pm1();
    for (size_t i = 0; i < w_n; i++)
        wt[i] = rand_pm1();
    uint64_t *xp = malloc(sizeof *xp * in_n / 64);
    frost_bin_pack_f32(x, cc.h * cc.w, cc.c, xp);
    frost_bin_weights w;
    CHECK_EQ_INT(frost_bin_weights_pack(wt, cc.o, 3, 3, cc.c, &w), FROST_OK);
    frost_bin_conv_geom g = {.n = 1, .h = cc.h, .w = cc.w, .stride = 1, .pad = 1};
    CHECK_EQ_INT(frost_bin_conv_geom_init(&g, &w), FROST_OK);
    size_t pixels = (size_t)g.oh * g.ow;
    int32_t *dot = malloc(sizeof *dot * pixels * cc.o);
    frost_bin_output counts = {.kind = FROST_BIN_OUT_COUNTS};
    CHECK_EQ_INT(frost_bin_conv(&g, xp, &w, &counts, dot, FROST_BIN_REF), FROST_OK);
    frost_bin_thresh th[70];
    for (int j = 0; j < cc.o; j++) /* the small ones near typical dot products */
        th[j] = (frost_bin_thresh){.thr = j < 14 ? thr[j % 7] : (j % 41) - 20, .flip = (j / 7) % 2};
    uint64_t *yb = malloc(sizeof *yb * pixels * 2);
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    for (int p = 0; p < np; p++) {
        frost_bin_output bits = {.kind = FROST_BIN_OUT_BITS, .thresh = th};
        memset(yb, 0xff, sizeof *yb * pixels * 2);
        CHECK_EQ_INT(frost_bin_conv(&g, xp, &w, &bits, yb, paths[p]), FROST_OK);
        int bad = 0, ones = 0;
        for (size_t px = 0; px < pixels; px++)
            for (int j = 0; j < 128; j++) {
                int bit = (int)((yb[px * 2 + j / 64] >> (j % 64)) & 1);
                int64_t d = j < cc.o ? dot[px * cc.o + j] : 0;
                int expect = j < cc.o && (th[j].flip ? -d : d) >= th[j].thr;
                bad += bit != expect;
                ones += bit;
            }
        CHECK_EQ_INT(bad, 0);
        CHECK(ones > 0 && ones < (int)pixels * cc.o); /* both kinds of bit occur */
    }
    /* one pixel at a time (a linear layer at batch 1 takes the direct comparison): the same
     * weights as a 576-feature linear layer over each output pixel's patch */
    frost_bin_weights lw;
    CHECK_EQ_INT(frost_bin_weights_pack(wt, cc.o, 1, 1, 9 * cc.c, &lw), FROST_OK);
    uint64_t patch[9], word[2];
    for (int p = 0; p < np; p++) {
        int bad = 0;
        for (int oy = 0; oy < g.oh; oy++)
            for (int ox = 0; ox < g.ow; ox++) {
                for (int t = 0; t < 9; t++) { /* the patch, -1 (zero words) in the padding */
                    int iy = oy + t / 3 - 1, ix = ox + t % 3 - 1;
                    bool in = iy >= 0 && iy < cc.h && ix >= 0 && ix < cc.w;
                    patch[t] = in ? xp[iy * cc.w + ix] : 0;
                }
                frost_bin_output bits = {.kind = FROST_BIN_OUT_BITS, .thresh = th};
                CHECK_EQ_INT(frost_bin_linear(1, patch, &lw, &bits, word, paths[p]), FROST_OK);
                size_t px = (size_t)oy * g.ow + ox;
                for (int j = 0; j < 128; j++)
                    bad += (int)((word[j / 64] >> (j % 64)) & 1) !=
                           (int)((yb[px * 2 + j / 64] >> (j % 64)) & 1);
            }
        CHECK_EQ_INT(bad, 0);
    }
    frost_bin_weights_free(&lw);
    free(x), free(wt), free(xp), free(dot), free(yb);
    frost_bin_weights_free(&w);
}

TEST(test_ternary_binary_conv_random_shapes)
{
    for (int i = 0; i < 36; i++) {
        conv_case cc = random_case(i);
        check_conv_case(&cc, true);
    }
}

TEST(test_linear)
{
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    const int features[] = {1, 10, 64, 65, 200, 1000};
    for (size_t f = 0; f < sizeof features / sizeof features[0]; f++) {
        conv_case cc = {.n = 3, .h = 1, .w = 1, .c = features[f], .o = 11, .k = 1, .stride = 1};
        float *x = malloc(sizeof *x * cc.n * cc.c), *wt = malloc(sizeof *wt * cc.o * cc.c);
        for (int i = 0; i < cc.n * cc.c; i++)
            x[i] = rand_pm1();
        for (int i = 0; i < cc.o * cc.c; i++)
            wt[i] = rand_pm1();
        int32_t want[3 * 11], got[3 * 11];
        reference_conv(&cc, x, wt, -1.0f, 1, 1, want);
        uint64_t *xp = malloc(sizeof *xp * cc.n * frost_bin_words(cc.c));
        frost_bin_pack_f32(x, cc.n, cc.c, xp);
        frost_bin_weights w;
        CHECK_EQ_INT(frost_bin_weights_pack(wt, cc.o, 1, 1, cc.c, &w), FROST_OK);
        for (int p = 0; p < np; p++) {
            frost_bin_output out = {.kind = FROST_BIN_OUT_COUNTS};
            CHECK_EQ_INT(frost_bin_linear(cc.n, xp, &w, &out, got, paths[p]), FROST_OK);
            CHECK(!memcmp(got, want, sizeof want));
        }
        frost_bin_weights_free(&w);
        free(x), free(wt), free(xp);
    }
}

/* Every bit differs (x all +1, w all -1) over rows of 1..70 words: each byte count grows by
 * 8 a word, the case that overflows byte accumulators not flushed within 31 steps. */
TEST(test_worst_case_rows)
{
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    for (int words = 1; words <= 70; words += 3) {
        int c = words * 64 - (words % 2); /* odd rows end in a partial word */
        float *x = malloc(sizeof *x * c), *wt = malloc(sizeof *wt * 9 * c);
        for (int i = 0; i < c; i++)
            x[i] = 1.0f;
        for (int i = 0; i < 9 * c; i++)
            wt[i] = i < 8 * c ? -1.0f : 1.0f; /* eight opposite rows, one equal */
        /* 16 rows: enough pixels for the nibble-split AVX2 kernel (conv.c), which flushes
         * its byte counts every 31 words as well */
        uint64_t *xp = malloc(sizeof *xp * words * 16);
        for (int r = 0; r < 16; r++)
            frost_bin_pack_f32(x, 1, c, xp + r * words);
        frost_bin_weights w;
        CHECK_EQ_INT(frost_bin_weights_pack(wt, 9, 1, 1, c, &w), FROST_OK);
        for (int p = 0; p < np; p++) {
            int32_t y[16 * 9];
            frost_bin_output out = {.kind = FROST_BIN_OUT_COUNTS};
            CHECK_EQ_INT(frost_bin_linear(16, xp, &w, &out, y, paths[p]), FROST_OK);
            int bad = 0;
            for (int j = 0; j < 16 * 9; j++)
                bad += y[j] != (j % 9 < 8 ? -c : c);
            CHECK_EQ_INT(bad, 0);
        }
        frost_bin_weights_free(&w);
        free(x), free(wt), free(xp);
    }
}

/* ---- BN + sign threshold ---- */

TEST(test_threshold_ties_and_negative_scales)
{
    const int n = 9;
    /* z = 0.5 d - 1.5: zero at d = 3, which is +1 (sign(0) = +1) */
    frost_bin_thresh t = frost_bin_threshold(0.5f, -1.5f, n);
    CHECK_EQ_INT(t.flip, 0);
    CHECK_EQ_INT(t.thr, 3);
    /* z = -0.25 d + 0.5: zero at d = 2; +1 for d <= 2, stored as -d >= -2 */
    t = frost_bin_threshold(-0.25f, 0.5f, n);
    CHECK_EQ_INT(t.flip, 1);
    CHECK_EQ_INT(t.thr, -2);
    /* constant z: always or never */
    t = frost_bin_threshold(0.0f, 0.0f, n);
    CHECK(!t.flip && t.thr <= -n);
    t = frost_bin_threshold(0.0f, -1e-3f, n);
    CHECK(!t.flip && t.thr > n);
    t = frost_bin_threshold(NAN, 1.0f, n);
    CHECK(!t.flip && t.thr > n);
    /* thresholds beyond the reachable range clamp */
    t = frost_bin_threshold(1.0f, 1e9f, n);
    CHECK(!t.flip && t.thr <= -n);
    t = frost_bin_threshold(-1.0f, 1e9f, n);
    CHECK(t.flip && -t.thr >= n);

    /* BN with a negative gamma, folded: gamma -2, var + eps 4, mean 3, beta 0, alpha 1, bias
     * 0 gives z = -(d - 3): +1 for d <= 3, and the tie d = 3 is +1 */
    float s, tt;
    frost_bin_bn_affine(1.0f, 0.0f, -2.0f, 0.0f, 3.0f, 3.0f, 1.0f, &s, &tt);
    CHECK_FLOAT_EQ(s, -1.0f);
    CHECK_FLOAT_EQ(tt, 3.0f);
    t = frost_bin_threshold(s, tt, n);
    for (int d = -n; d <= n; d++)
        CHECK_EQ_INT((t.flip ? -d : d) >= t.thr, d <= 3);
}

/* At every reachable dot product, for random scales: the threshold equals the float
 * expression, and away from z ~ 0 also sign(BN(x)) computed unfolded. */
TEST(test_threshold_matches_float_bn)
{
    int mismatches = 0, unfolded_bad = 0;
    for (int i = 0; i < 3000; i++) {
        int n = rand_int(1, 600);
        float gamma = (frost_rng_uniform(&rng) - 0.5f) * 4.0f,
              beta = frost_rng_uniform(&rng) - 0.5f;
        float mean = (frost_rng_uniform(&rng) - 0.5f) * (float)n * 0.3f;
        float var = frost_rng_uniform(&rng) * n, eps = 1e-5f;
        float alpha = 0.001f + frost_rng_uniform(&rng), bias = frost_rng_uniform(&rng) - 0.5f;
        if (i % 10 == 0)
            gamma = 0.0f;
        float s, t;
        frost_bin_bn_affine(alpha, bias, gamma, beta, mean, var, eps, &s, &t);
        frost_bin_thresh th = frost_bin_threshold(s, t, n);
        for (int d = -n; d <= n; d++) {
            bool got = (th.flip ? -d : d) >= th.thr;
            mismatches += got != bn_sign(s, t, d);
            double z = gamma * ((alpha * (double)d + bias) - mean) / sqrt((double)var + eps) + beta;
            /* the folded float form rounds s and t: trust it away from z's rounding noise */
            double scale = fabs((double)s * d) + fabs((double)t);
            if (fabs(z) > 1e-5 * scale + 1e-6)
                unfolded_bad += got != (z >= 0);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(unfolded_bad, 0);
}

/* ---- ternary weights x int8 activations ---- */

TEST(test_ternary_int8_conv)
{
    for (int i = 0; i < 31; i++) {
        conv_case cc = random_case(i);
        if (i == 30) { /* large enough for two threads */
            cc = (conv_case){
                .n = 2, .h = 16, .w = 15, .c = 64, .o = 32, .k = 3, .stride = 1, .pad = 1};
            frost_set_threads(2);
        }
        int8_t pad_value = (int8_t)rand_int(-128, 127);
        size_t in_n = (size_t)cc.n * cc.h * cc.w * cc.c, w_n = (size_t)cc.o * cc.k * cc.k * cc.c;
        float *xf = malloc(sizeof *xf * in_n), *wt = malloc(sizeof *wt * w_n);
        int8_t *x = malloc(in_n);
        for (size_t j = 0; j < in_n; j++) {
            /* the extremes -128 and 127 often: the offset and pair sums must not overflow */
            int v = j % 4 == 0 ? (j % 8 ? -128 : 127) : rand_int(-128, 127);
            x[j] = (int8_t)v;
            xf[j] = (float)v;
        }
        for (size_t j = 0; j < w_n; j++)
            wt[j] = (float)rand_int(-1, 1);
        frost_bin_weights w;
        CHECK_EQ_INT(frost_bin_weights_pack_ternary(wt, cc.o, cc.k, cc.k, cc.c, &w), FROST_OK);
        frost_bin_conv_geom g = {
            .n = cc.n, .h = cc.h, .w = cc.w, .stride = cc.stride, .pad = cc.pad};
        CHECK_EQ_INT(frost_bin_conv_geom_init(&g, &w), FROST_OK);
        size_t out_n = (size_t)cc.n * g.oh * g.ow * cc.o;
        int32_t *want = malloc(sizeof *want * out_n), *got = malloc(sizeof *got * out_n);
        reference_conv(&cc, xf, wt, (float)pad_value, g.oh, g.ow, want);
        frost_bin_path paths[FROST_BIN_PATH_COUNT];
        int np = available_paths(paths);
        for (int p = 0; p < np; p++) {
            memset(got, 0x55, sizeof *got * out_n);
            CHECK_EQ_INT(frost_bin_conv_ternary_s8(&g, x, pad_value, &w, got, paths[p]), FROST_OK);
            CHECK(!memcmp(got, want, sizeof *got * out_n));
        }
        frost_bin_weights_free(&w);
        free(xf), free(wt), free(x), free(want), free(got);
    }
    frost_set_threads(1);
}

/* Long rows of extreme values: int16 partial sums of the AVX2 kernel reach 64 * 510 and
 * would wrap if they ran one vector longer; 5 channels cover the 4-channel and the single
 * channel loops. */
TEST(test_ternary_int8_worst_case)
{
    const int c = 4100, o = 5;
    int8_t *x = malloc(c);
    float *wt = malloc(sizeof *wt * o * c);
    for (int j = 0; j < o * c; j++)
        wt[j] = j / c % 2 ? -1.0f : 1.0f; /* channels +1, -1, +1, -1, +1 */
    frost_bin_weights w;
    CHECK_EQ_INT(frost_bin_weights_pack_ternary(wt, o, 1, 1, c, &w), FROST_OK);
    frost_bin_conv_geom g = {.n = 1, .h = 1, .w = 1, .stride = 1, .pad = 0};
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = available_paths(paths);
    const int8_t values[] = {127, -128};
    for (int v = 0; v < 2; v++) {
        memset(x, (uint8_t)values[v], c);
        for (int p = 0; p < np; p++) {
            int32_t y[5];
            CHECK_EQ_INT(frost_bin_conv_ternary_s8(&g, x, 0, &w, y, paths[p]), FROST_OK);
            for (int j = 0; j < o; j++)
                CHECK_EQ_INT(y[j], (j % 2 ? -1 : 1) * c * values[v]);
        }
    }
    frost_bin_weights_free(&w);
    free(x), free(wt);
}

/* ---- path choice ---- */

/* frost_cpu_describe (core, below binary/) names the path the kernels take, and its text
 * line (frost --version, bench, checkpoints) says it. */
static void check_cpu_text_names_best_path(void)
{
    frost_cpu_info c;
    frost_cpu_describe(&c);
    const char *best = frost_bin_path_name(frost_bin_best_path());
    CHECK(c.binary_kernels && strcmp(c.binary_kernels, best) == 0);
    char text[FROST_CPU_TEXT_MAX], want[64];
    frost_cpu_text(&c, text, sizeof text);
    snprintf(want, sizeof want, ", binary %s, ", best);
    if (!strstr(text, want)) {
        fprintf(stderr, "  cpu text '%s' lacks '%s'\n", text, want);
        frost_test_failed_checks++;
    }
}

TEST(test_path_choice_and_overrides)
{
    unsetenv("FROST_NO_AVX512");
    unsetenv("FROST_NO_SIMD");
    frost_cpu_forget();
    __builtin_cpu_init();
    bool cpu_has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
    frost_bin_path best = frost_bin_best_path();
    if (cpu_has)
        CHECK_EQ_INT(best, FROST_BIN_AVX512);
    else {
        printf("  SKIPPED the AVX-512 VPOPCNTDQ kernels: this CPU lacks the instructions "
               "(checked: the feature test picks %s)\n",
               frost_bin_path_name(best));
        CHECK_EQ_INT(best, frost_cpu_has_avx2() ? FROST_BIN_AVX2 : FROST_BIN_REF);
        /* asking for it anyway is an error, not a crash */
        uint64_t xw = 0;
        int32_t y;
        frost_bin_weights w;
        float one = 1.0f;
        CHECK_EQ_INT(frost_bin_weights_pack(&one, 1, 1, 1, 1, &w), FROST_OK);
        frost_bin_output out = {.kind = FROST_BIN_OUT_COUNTS};
        CHECK_EQ_INT(frost_bin_linear(1, &xw, &w, &out, &y, FROST_BIN_AVX512),
                     FROST_ERR_UNSUPPORTED);
        CHECK(strstr(frost_last_error(), "avx512-vpopcntdq") != NULL);
        frost_bin_weights_free(&w);
    }
    check_cpu_text_names_best_path();
    setenv("FROST_NO_AVX512", "1", 1);
    frost_cpu_forget();
    CHECK(!frost_bin_path_available(FROST_BIN_AVX512));
    CHECK_EQ_INT(frost_bin_best_path(), frost_cpu_has_avx2() ? FROST_BIN_AVX2 : FROST_BIN_REF);
    check_cpu_text_names_best_path();
    setenv("FROST_NO_SIMD", "1", 1);
    frost_cpu_forget();
    CHECK_EQ_INT(frost_bin_best_path(), FROST_BIN_REF);
    check_cpu_text_names_best_path();
    CHECK(!frost_bin_path_available(FROST_BIN_POPCNT));
    unsetenv("FROST_NO_AVX512");
    unsetenv("FROST_NO_SIMD");
    frost_cpu_forget();
}

TEST(test_bad_arguments)
{
    frost_bin_weights w;
    float wt[9] = {1, -1, 1, -1, 1, -1, 1, -1, 1};
    CHECK_EQ_INT(frost_bin_weights_pack(NULL, 1, 1, 1, 1, &w), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_bin_weights_pack(wt, 0, 1, 1, 1, &w), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_bin_weights_pack_ternary(wt, 1, 3, 3, 1, NULL), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_bin_weights_pack(wt, 1, 3, 3, 1, &w), FROST_OK);
    frost_bin_conv_geom g = {.n = 1, .h = 1, .w = 1, .stride = 1, .pad = 0};
    CHECK_EQ_INT(frost_bin_conv_geom_init(&g, &w), FROST_ERR_SHAPE); /* 3x3 over 1x1 */
    g.pad = 3;
    CHECK_EQ_INT(frost_bin_conv_geom_init(&g, &w), FROST_ERR_ARG);
    g.pad = 1;
    CHECK_EQ_INT(frost_bin_conv_geom_init(&g, &w), FROST_OK);
    CHECK_EQ_INT(g.oh, 1);
    uint64_t x = 1;
    int32_t y;
    frost_bin_output bits = {.kind = FROST_BIN_OUT_BITS}; /* no thresholds */
    CHECK_EQ_INT(frost_bin_conv(&g, &x, &w, &bits, &y, FROST_BIN_REF), FROST_ERR_ARG);
    /* one +1 pixel in the middle, eight -1 padding taps: the centre weight 1 times +1, plus
     * minus the sum of the other eight weights (which is 0) */
    frost_bin_output counts = {.kind = FROST_BIN_OUT_COUNTS};
    CHECK_EQ_INT(frost_bin_conv(&g, &x, &w, &counts, &y, FROST_BIN_REF), FROST_OK);
    int32_t want = 0;
    for (int i = 0; i < 9; i++)
        want += (int32_t)wt[i] * (i == 4 ? 1 : -1);
    CHECK_EQ_INT(y, want);
    CHECK_EQ_INT(y, 1);
    frost_bin_weights_free(&w);
}

FROST_TEST_MAIN(frost_rng_seed(&rng, 15), RUN(test_worked_example_xor_and_unmasked_xnor),
                RUN(test_pack_layouts), RUN(test_pack_special_values_and_odd_widths),
                RUN(test_popcount_odd_lengths), RUN(test_binary_conv_random_shapes),
                RUN(test_whole_word_patches), RUN(test_bit_output_extreme_thresholds),
                RUN(test_ternary_binary_conv_random_shapes), RUN(test_linear),
                RUN(test_worst_case_rows), RUN(test_threshold_ties_and_negative_scales),
                RUN(test_threshold_matches_float_bn), RUN(test_ternary_int8_conv),
                RUN(test_ternary_int8_worst_case), RUN(test_path_choice_and_overrides),
                RUN(test_bad_arguments))
