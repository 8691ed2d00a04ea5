/*
 * bench_lowbit_kernels: the binary kernels (src/binary) against frost's FP32 and int8
 * engines on the same layers, batch 1, one thread (issue 15's speed targets: a binary 3x3
 * conv >= 10x frost's FP32 conv and >= 2x its int8 conv, 64..512 channels at 56x56..7x7;
 * and the fully connected layers).
 *
 * What is timed for each layer, each the way its engine runs it:
 *  - FP32: frost_fp32_run of a one-conv model (conv -> gap -> linear to 2 classes), minus
 *    frost_fp32_run of the same model without the conv (gap -> linear on an input of the
 *     conv's output shape): the FP32 engine's own conv (im2col tiles + its AVX2 or AVX-512 GEMM
 *    with the bias in registers), as `frost bench` times it per layer. The subtraction
 *    also removes the copy of the image into the engine's arena. Linear layers: a model
 *    that is one linear layer (input 1x1xIN), nothing subtracted (its input copy is
 *    IN floats).
 *  - int8: what the int8 runtime does for a conv node on this CPU: the zero-point padded
 *    copy of the input, then frost_int8_conv_gemm_avx2 over all pixels (im2col tile, int16
 *    GEMM, requantization to uint8), or frost_int8_conv_vnni where the CPU has AVX-512
 *    VNNI; linear: frost_int8_linear_avx2 and the runtime's requantization loop.
 *  - binary, frost_bin_best_path(): frost_bin_conv / frost_bin_linear with the output a
 *    real network uses: packed BN-threshold bits (a layer inside a binary chain: its input
 *    arrives packed from the previous binary layer), or alpha * dot + bias as float (the
 *    last binary layer of a chain); and frost_bin_pack_f32 of the layer's float input on
 *    its own (the first binary layer after a real-valued one packs its input).
 *
 * All contenders of one layer take turns in every round (the order reversed every other
 * round, so drift hits all of them); each sample repeats a call until it lasts >= --min-ms
 * and records the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, as bench/peaks.h: time
 * another process held the core is not counted) and the wall clock. Tables give the median
 * over the rounds and the spread (interquartile range / median). Rates count multiply-adds
 * (a +-1 product for binary); the share of peak divides by this core's measured peak of
 * the instructions that engine runs (bench/peaks.h for FP32 FMA and int8, and here for the
 * binary kernels' XOR + nibble-table popcount).
 *
 *   bench_lowbit_kernels [--rounds N] [--min-ms T] [--out PATH]   (default 21, 3, stdout)
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_args.h"
#include "binary/binary.h"
#include "core/cpu.h"
#include "core/rng.h"
#include "core/timer.h"
#include "frost/cpu.h"
#include "frost/infer.h"
#include "frost/model.h"
#include "int8/kernels.h"
#include "int8/requant.h"
#include "peaks.h"

/* ---- timing ---- */

static double thread_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

typedef void (*run_fn)(void *ctx);

/* One contender: a function that runs the layer once, and its samples (ms per call). */
typedef struct contender {
    const char *name;
    run_fn run;
    void *ctx;
    int calls;
    double *wall, *cpu;
} contender;

typedef struct stats {
    double cpu, wall, spread; /* medians (ms); spread: (q3 - q1) / median of the CPU times */
} stats;

static double quantile_sorted(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

static stats summarize(contender *c, int rounds)
{
    stats s;
    s.wall = frost_median(c->wall, rounds);
    s.cpu = frost_median(c->cpu, rounds); /* sorts c->cpu */
    s.spread =
        (quantile_sorted(c->cpu, rounds, 0.75) - quantile_sorted(c->cpu, rounds, 0.25)) / s.cpu;
    return s;
}

static void sample(contender *c, int round)
{
    double t0 = frost_now_ms(), c0 = thread_cpu_ms();
    for (int i = 0; i < c->calls; i++)
        c->run(c->ctx);
    c->wall[round] = (frost_now_ms() - t0) / c->calls;
    c->cpu[round] = (thread_cpu_ms() - c0) / c->calls;
}

/* Times every contender over `rounds` rounds, taking turns; out[i] gets contender i's stats. */
static void measure(contender *cs, int n, int rounds, double min_ms, stats *out)
{
    for (int i = 0; i < n; i++) {
        cs[i].run(cs[i].ctx); /* warm the caches and the page tables */
        double t0 = thread_cpu_ms();
        cs[i].run(cs[i].ctx);
        double ms = thread_cpu_ms() - t0;
        cs[i].calls = ms > 0 ? (int)(min_ms / ms) + 1 : 1000;
        cs[i].wall = malloc(sizeof(double) * rounds);
        cs[i].cpu = malloc(sizeof(double) * rounds);
    }
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < n; k++)
            sample(&cs[r % 2 ? n - 1 - k : k], r);
    for (int i = 0; i < n; i++) {
        out[i] = summarize(&cs[i], rounds);
        free(cs[i].wall), free(cs[i].cpu);
    }
}

/* ---- the binary kernels' peak ---- */

/* The AVX2 binary kernels' instruction mix on registers: per ymm of 256 +-1 products an XOR,
 * the nibble-table popcount (and, shift, and, two vpshufb, add) and the accumulating add;
 * six independent chains. The input word changes every iteration so nothing is hoisted. */
__attribute__((target("avx2"))) static double peak_binary_ymm(void)
{
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                           2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi64x(1);
    __m256i w[6], acc[6], x = _mm256_set1_epi64x(0x123456789abcdefll);
    for (int j = 0; j < 6; j++) {
        w[j] = _mm256_set1_epi64x((long long)(0x9e3779b97f4a7c15ull * (j + 1)));
        acc[j] = _mm256_setzero_si256();
    }
    double s = peak_cpu_ms();
    for (long it = 0; it < PEAK_ITERS; it++) {
        for (int j = 0; j < 6; j++) {
            __m256i v = _mm256_xor_si256(x, w[j]);
            __m256i lo = _mm256_and_si256(v, low);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
            acc[j] = _mm256_add_epi8(acc[j], _mm256_add_epi8(_mm256_shuffle_epi8(table, lo),
                                                             _mm256_shuffle_epi8(table, hi)));
        }
        x = _mm256_add_epi64(x, one);
    }
    double ms = peak_cpu_ms() - s;
    __m256i t = acc[0];
    for (int j = 1; j < 6; j++)
        t = _mm256_add_epi8(t, acc[j]);
    peak_sink = (double)_mm256_extract_epi8(t, 0);
    return (double)PEAK_ITERS * 6 * 256 / ms / 1e6;
}

/* The AVX-512 VPOPCNTDQ kernels' instruction mix: per zmm of 512 +-1 products an XOR, a
 * vpopcntq and the accumulating add; six independent chains. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static double peak_binary_zmm(void)
{
    const __m512i one = _mm512_set1_epi64(1);
    __m512i w[6], acc[6], x = _mm512_set1_epi64(0x123456789abcdefll);
    for (int j = 0; j < 6; j++) {
        w[j] = _mm512_set1_epi64((long long)(0x9e3779b97f4a7c15ull * (j + 1)));
        acc[j] = _mm512_setzero_si512();
    }
    double s = peak_cpu_ms();
    for (long it = 0; it < PEAK_ITERS; it++) {
        for (int j = 0; j < 6; j++)
            acc[j] = _mm512_add_epi64(acc[j], _mm512_popcnt_epi64(_mm512_xor_si512(x, w[j])));
        x = _mm512_add_epi64(x, one);
    }
    double ms = peak_cpu_ms() - s;
    __m512i t = acc[0];
    for (int j = 1; j < 6; j++)
        t = _mm512_add_epi64(t, acc[j]);
    peak_sink = (double)_mm512_reduce_add_epi64(t);
    return (double)PEAK_ITERS * 6 * 512 / ms / 1e6;
}

typedef struct peaks {
    double fp32, int8, binary; /* G multiply-adds / s, one core; 0 = not measured */
    const char *fp32_name, *int8_name, *binary_name;
} peaks;

static double median3(double (*run)(void))
{
    double r[3] = {run(), run(), run()};
    return frost_median(r, 3);
}

static peaks measure_peaks(void)
{
    frost_cpu_info c;
    frost_cpu_describe(&c);
    bench_peak p[PEAK_N];
    bench_peaks_plan(&c, p);
    bench_peaks_measure(p);
    /* the peak of the instructions each engine's kernels take on this CPU */
    bool vnni = !strcmp(c.int8_kernels, "avx512-vnni");
    int int8 = vnni ? PEAK_DPBUSD_ZMM : PEAK_MADDUBS_YMM;
    int fp32 = !strcmp(c.fp32_kernels, "avx512") ? PEAK_FMA_ZMM : PEAK_FMA_YMM;
    peaks k = {.fp32 = p[fp32].gmacs,
               .int8 = p[int8].gmacs,
               .fp32_name = p[fp32].name,
               .int8_name = p[int8].name,
               .binary_name = "binary XOR + nibble popcount ymm"};
    if (frost_bin_best_path() == FROST_BIN_AVX512) {
        k.binary_name = "binary XOR + vpopcntq zmm";
        k.binary = median3(peak_binary_zmm);
    } else if (c.avx2)
        k.binary = median3(peak_binary_ymm);
    return k;
}

static double share(double gmacs, double peak) { return peak > 0 ? 100.0 * gmacs / peak : 0; }

/* ---- FP32 engine ---- */

typedef struct fp32_ctx {
    frost_model *model;
    frost_fp32_model *engine;
    float *image, *out;
    int64_t n;
} fp32_ctx;

static void run_fp32(void *p)
{
    fp32_ctx *c = p;
    frost_fp32_run(c->engine, c->image, c->n, c->out);
}

/* An FP32 engine for the architecture `layers` on an h x w x c input; false on error. */
static bool fp32_make(fp32_ctx *c, int h, int w, int ch, int classes, const char *layers,
                      frost_rng *r)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"format\": \"frost-arch\", \"version\": 1, \"name\": \"bench\", \"input\": "
             "{\"h\": %d, \"w\": %d, \"c\": %d}, \"classes\": %d, \"layers\": [%s]}",
             h, w, ch, classes, layers);
    memset(c, 0, sizeof *c);
    if (frost_model_from_json(json, "bench", &c->model) != FROST_OK)
        return false;
    frost_model_init_weights(c->model, frost_rng_u64(r));
    if (frost_fp32_create(c->model, &c->engine) != FROST_OK)
        return false;
    c->n = (int64_t)h * w * ch;
    c->image = malloc(sizeof(float) * (size_t)c->n);
    c->out = malloc(sizeof(float) * (size_t)classes);
    for (int64_t i = 0; i < c->n; i++)
        c->image[i] = frost_rng_uniform(r) - 0.5f;
    return true;
}

static void fp32_free(fp32_ctx *c)
{
    frost_fp32_free(c->engine);
    frost_model_free(c->model);
    free(c->image), free(c->out);
}

/* ---- int8 engine ---- */

typedef struct int8_ctx {
    frost_int8_conv_args a, pa; /* the layer; what the kernel sees (padded input, no pad) */
    bool vnni;
    int8_t *w;
    int32_t *bias, *bias_eff, *mult, *shift, *acc;
    uint8_t *x, *padded, *y;
    int16_t *xs;
    void *packed, *scratch;
} int8_ctx;

/* The zero-point padded copy of the input, as the runtime makes it (runtime.c pad_rows). */
static void int8_pad(const int8_ctx *c)
{
    const frost_int8_conv_args *a = &c->a;
    int p = a->pad, ch = a->cin;
    size_t row = (size_t)(a->w + 2 * p) * ch;
    for (int r = 0; r < a->h + 2 * p; r++) {
        uint8_t *d = c->padded + row * (size_t)r;
        int y = r - p;
        if (y < 0 || y >= a->h) {
            memset(d, a->in_zp, row);
            continue;
        }
        memset(d, a->in_zp, (size_t)p * ch);
        memcpy(d + (size_t)p * ch, c->x + (size_t)y * a->w * ch, (size_t)a->w * ch);
        memset(d + (size_t)(p + a->w) * ch, a->in_zp, (size_t)p * ch);
    }
}

static void run_int8_conv(void *p)
{
    int8_ctx *c = p;
    int8_pad(c);
    int pixels = c->a.oh * c->a.ow;
    if (c->vnni)
        frost_int8_conv_vnni(&c->pa, c->packed, c->padded, c->y, 0, pixels, c->scratch);
    else
        frost_int8_conv_gemm_avx2(&c->pa, c->packed, c->padded, c->y, 0, pixels, c->scratch);
}

static void run_int8_linear(void *p)
{
    int8_ctx *c = p;
    const frost_int8_conv_args *a = &c->a;
    frost_int8_linear_avx2(a->cin, a->cout, a->acc_shift, c->w, c->x, c->bias_eff, c->acc, c->xs);
    for (int o = 0; o < a->cout; o++)
        c->y[o] = frost_requant_u8(c->acc[o], c->mult[o], c->shift[o], a->out_zp, a->lo, a->hi);
}

/* Random int8 weights, uint8 input, biases and multipliers for a k x k conv (k = 1, h = w = 1:
 * a linear layer) the way the converter sets them up. */
static void int8_make(int8_ctx *c, int hw, int cin, int cout, int k, frost_rng *r)
{
    memset(c, 0, sizeof *c);
    frost_int8_conv_args *a = &c->a;
    int pad = k / 2, kdim = k * k * cin;
    *a = (frost_int8_conv_args){.h = hw,
                                .w = hw,
                                .cin = cin,
                                .oh = hw,
                                .ow = hw,
                                .cout = cout,
                                .k = k,
                                .stride = 1,
                                .pad = pad,
                                .groups = 1,
                                .in_zp = 0,
                                .out_zp = 0,
                                .lo = 0,
                                .hi = 255};
    while (a->acc_shift < 8 && ((int64_t)kdim * 255 * 128 << (a->acc_shift + 1)) <= (1 << 30))
        a->acc_shift++; /* the converter's finest accumulator grid that cannot overflow */
    c->w = malloc((size_t)cout * kdim);
    c->bias = malloc(sizeof(int32_t) * cout);
    c->bias_eff = malloc(sizeof(int32_t) * cout);
    c->mult = malloc(sizeof(int32_t) * cout);
    c->shift = malloc(sizeof(int32_t) * cout);
    c->acc = malloc(sizeof(int32_t) * (cout + 16));
    c->xs = malloc(sizeof(int16_t) * (cin + 16));
    size_t in = (size_t)hw * hw * cin, padded = (size_t)(hw + 2 * pad) * (hw + 2 * pad) * cin;
    c->x = malloc(in + 64); /* the runtime's arena leaves 64 bytes after every tensor */
    c->padded = malloc(padded + 64);
    c->y = malloc((size_t)hw * hw * cout + 64);
    for (size_t i = 0; i < (size_t)cout * kdim; i++)
        c->w[i] = (int8_t)((int)frost_rng_below(r, 255) - 127);
    for (size_t i = 0; i < in; i++)
        c->x[i] = (uint8_t)frost_rng_below(r, 256);
    for (int o = 0; o < cout; o++) {
        int64_t sw = 0;
        for (int i = 0; i < kdim; i++)
            sw += c->w[(size_t)o * kdim + i];
        c->bias[o] = (int32_t)frost_rng_below(r, 40001) - 20000;
        c->bias_eff[o] = (int32_t)(c->bias[o] - a->in_zp * sw * (1 << a->acc_shift));
        frost_quantize_multiplier(1.0 / (64.0 * kdim * (1 << a->acc_shift)), &c->mult[o],
                                  &c->shift[o]);
    }
    a->weight = c->w, a->bias = c->bias, a->bias_eff = c->bias_eff;
    a->mult = c->mult, a->shift = c->shift;
    c->pa = *a;
    c->pa.h += 2 * pad, c->pa.w += 2 * pad, c->pa.pad = 0;
    c->vnni = frost_cpu_has_avx512_vnni();
    if (c->vnni) {
        c->packed = malloc(frost_int8_vnni_packed_bytes(cout, kdim));
        frost_int8_vnni_pack(cout, kdim, c->a.acc_shift, c->w, c->bias_eff, c->mult, c->shift, NULL,
                             c->packed);
        c->scratch = malloc(frost_int8_vnni_scratch_bytes(&c->pa) + 64);
    } else {
        c->packed = malloc(frost_int8_gemm_packed_bytes(cout, kdim));
        frost_int8_gemm_pack(cout, kdim, a->acc_shift, c->w, c->bias_eff, c->mult, c->shift, NULL,
                             c->packed);
        c->scratch = malloc(frost_int8_gemm_scratch_bytes(&c->pa) + 64);
    }
}

static void int8_free(int8_ctx *c)
{
    free(c->w), free(c->bias), free(c->bias_eff), free(c->mult), free(c->shift), free(c->acc);
    free(c->xs), free(c->x), free(c->padded), free(c->y), free(c->packed), free(c->scratch);
}

/* ---- binary kernels ---- */

typedef struct bin_ctx {
    frost_bin_conv_geom g;
    frost_bin_weights w;
    frost_bin_path path;
    bool linear;
    float *xf, *alpha, *bias, *yf;
    uint64_t *x, *xpacked, *ybits;
    frost_bin_thresh *th;
    long pixels_in;
} bin_ctx;

static void run_bin_pack(void *p)
{
    bin_ctx *c = p;
    frost_bin_pack_f32(c->xf, c->pixels_in, c->w.c, c->xpacked);
}

static void run_bin_float(void *p)
{
    bin_ctx *c = p;
    frost_bin_output out = {.kind = FROST_BIN_OUT_FLOAT, .alpha = c->alpha, .bias = c->bias};
    if (c->linear)
        frost_bin_linear(1, c->x, &c->w, &out, c->yf, c->path);
    else
        frost_bin_conv(&c->g, c->x, &c->w, &out, c->yf, c->path);
}

static void run_bin_bits(void *p)
{
    bin_ctx *c = p;
    frost_bin_output out = {.kind = FROST_BIN_OUT_BITS, .thresh = c->th};
    if (c->linear)
        frost_bin_linear(1, c->x, &c->w, &out, c->ybits, c->path);
    else
        frost_bin_conv(&c->g, c->x, &c->w, &out, c->ybits, c->path);
}

static bool bin_make(bin_ctx *c, int hw, int cin, int cout, int k, bool linear, frost_rng *r)
{
    memset(c, 0, sizeof *c);
    size_t wn = (size_t)cout * k * k * cin;
    float *wt = malloc(sizeof *wt * wn);
    for (size_t i = 0; i < wn; i++)
        wt[i] = frost_rng_uniform(r) - 0.5f;
    frost_status s = frost_bin_weights_pack(wt, cout, k, k, cin, &c->w);
    free(wt);
    c->g = (frost_bin_conv_geom){.n = 1, .h = hw, .w = hw, .stride = 1, .pad = k / 2};
    if (s != FROST_OK || frost_bin_conv_geom_init(&c->g, &c->w) != FROST_OK)
        return false;
    c->linear = linear;
    c->path = frost_bin_best_path();
    c->pixels_in = (long)hw * hw;
    size_t in = (size_t)c->pixels_in * cin, out_pixels = (size_t)c->g.oh * c->g.ow;
    c->xf = malloc(sizeof *c->xf * in);
    for (size_t i = 0; i < in; i++)
        c->xf[i] = frost_rng_uniform(r) - 0.5f;
    c->x = malloc(sizeof *c->x * c->pixels_in * c->w.tap_words);
    c->xpacked = malloc(sizeof *c->x * c->pixels_in * c->w.tap_words);
    frost_bin_pack_f32(c->xf, c->pixels_in, cin, c->x);
    c->yf = malloc(sizeof *c->yf * out_pixels * cout);
    c->ybits = malloc(sizeof *c->ybits * out_pixels * frost_bin_words(cout));
    c->alpha = malloc(sizeof *c->alpha * cout);
    c->bias = malloc(sizeof *c->bias * cout);
    c->th = malloc(sizeof *c->th * cout);
    for (int j = 0; j < cout; j++) {
        c->alpha[j] = frost_rng_uniform(r);
        c->bias[j] = frost_rng_uniform(r) - 0.5f;
        c->th[j] = frost_bin_threshold(frost_rng_uniform(r) - 0.5f, frost_rng_uniform(r) - 0.5f,
                                       k * k * cin);
    }
    return true;
}

static void bin_free(bin_ctx *c)
{
    frost_bin_weights_free(&c->w);
    free(c->xf), free(c->x), free(c->xpacked), free(c->yf), free(c->ybits);
    free(c->alpha), free(c->bias), free(c->th);
}

/* ---- the tables ---- */

typedef struct layer {
    const char *label;
    int hw, cin, cout, k; /* k = 0: a linear layer (hw = 1) */
} layer;

static const layer LAYERS[] = {
    {"ResNet-18 3x3 64->64 @56", 56, 64, 64, 3},
    {"ResNet-18 3x3 128->128 @28", 28, 128, 128, 3},
    {"ResNet-18 3x3 256->256 @14", 14, 256, 256, 3},
    {"ResNet-18 3x3 512->512 @7", 7, 512, 512, 3},
    {"3x3 64->64 @28", 28, 64, 64, 3},
    {"3x3 128->128 @14", 14, 128, 128, 3},
    {"3x3 256->256 @28", 28, 256, 256, 3},
    {"3x3 512->512 @14", 14, 512, 512, 3},
    {"linear 512->512", 1, 512, 512, 0},
    {"linear 512->1000 (ResNet-18 fc)", 1, 512, 1000, 0},
    {"linear 1024->1024", 1, 1024, 1024, 0},
    {"linear 1024->4096", 1, 1024, 4096, 0},
    {"linear 4096->1024", 1, 4096, 1024, 0},
};
#define N_LAYERS (int)(sizeof LAYERS / sizeof LAYERS[0])

enum { C_FP32, C_FP32_TAIL, C_INT8, C_BIN_BITS, C_BIN_FLOAT, C_BIN_PACK, C_COUNT };

typedef struct row {
    double macs;
    stats s[C_COUNT];
    double fp32_cpu, fp32_wall; /* the FP32 layer alone (conv: model minus tail) */
} row;

/* Times one layer's contenders; false when a setup failed. */
static bool measure_layer(const layer *l, int rounds, double min_ms, frost_rng *r, row *out)
{
    bool linear = l->k == 0;
    int k = linear ? 1 : l->k;
    fp32_ctx fp, tail;
    int8_ctx i8;
    bin_ctx b;
    char layers[512];
    bool ok;
    if (linear) {
        snprintf(layers, sizeof layers, "{\"name\": \"fc\", \"op\": \"linear\", \"out\": %d}",
                 l->cout);
        ok = fp32_make(&fp, 1, 1, l->cin, l->cout, layers, r);
        memset(&tail, 0, sizeof tail);
    } else {
        const char *head = "{\"name\": \"pool\", \"op\": \"gap\"}, {\"name\": \"fc\", \"op\": "
                           "\"linear\", \"out\": 2}";
        snprintf(layers, sizeof layers,
                 "{\"name\": \"conv\", \"op\": \"conv\", \"out\": %d, \"k\": %d, \"stride\": 1, "
                 "\"pad\": %d, \"bias\": true}, %s",
                 l->cout, k, k / 2, head);
        ok = fp32_make(&fp, l->hw, l->hw, l->cin, 2, layers, r) &&
             fp32_make(&tail, l->hw, l->hw, l->cout, 2, head, r);
    }
    int8_make(&i8, l->hw, l->cin, l->cout, k, r);
    ok = ok && bin_make(&b, l->hw, l->cin, l->cout, k, linear, r);
    if (!ok) {
        fprintf(stderr, "bench_lowbit_kernels: %s: %s\n", l->label, frost_last_error());
        return false;
    }
    contender cs[C_COUNT] = {
        [C_FP32] = {"fp32", run_fp32, &fp, 0, NULL, NULL},
        [C_FP32_TAIL] = {"fp32 tail", run_fp32, &tail, 0, NULL, NULL},
        [C_INT8] = {"int8", linear ? run_int8_linear : run_int8_conv, &i8, 0, NULL, NULL},
        [C_BIN_BITS] = {"binary bits", run_bin_bits, &b, 0, NULL, NULL},
        [C_BIN_FLOAT] = {"binary float", run_bin_float, &b, 0, NULL, NULL},
        [C_BIN_PACK] = {"binary pack", run_bin_pack, &b, 0, NULL, NULL},
    };
    out->macs = (double)l->hw * l->hw * l->cout * k * k * l->cin;
    if (linear) { /* no tail to subtract: time the others only */
        contender rest[C_COUNT - 1];
        stats rs[C_COUNT - 1];
        rest[0] = cs[C_FP32];
        memcpy(rest + 1, cs + C_INT8, sizeof cs[0] * (C_COUNT - C_INT8));
        measure(rest, C_COUNT - 1, rounds, min_ms, rs);
        out->s[C_FP32] = rs[0];
        out->s[C_FP32_TAIL] = (stats){0, 0, 0};
        memcpy(out->s + C_INT8, rs + 1, sizeof rs[0] * (C_COUNT - C_INT8));
    } else {
        measure(cs, C_COUNT, rounds, min_ms, out->s);
    }
    out->fp32_cpu = out->s[C_FP32].cpu - out->s[C_FP32_TAIL].cpu;
    out->fp32_wall = out->s[C_FP32].wall - out->s[C_FP32_TAIL].wall;
    fp32_free(&fp);
    if (!linear)
        fp32_free(&tail);
    int8_free(&i8);
    bin_free(&b);
    return true;
}

static double gmacs(double macs, double ms) { return ms > 0 ? macs / ms / 1e6 : 0; }

static void print_times_head(FILE *f)
{
    fprintf(f, "| layer | MMAC | FP32 ms | GMAC/s | %% peak | int8 ms | GMAC/s | %% peak | "
               "binary bits-out ms | G/s | %% peak | binary float-out ms | G/s | pack ms | "
               "spread FP32 / int8 / bits / float / pack |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
}

static void print_times(FILE *f, const layer *l, const row *w, const peaks *pk)
{
    const stats *s = w->s;
    double fp = gmacs(w->macs, w->fp32_cpu), i8 = gmacs(w->macs, s[C_INT8].cpu),
           bb = gmacs(w->macs, s[C_BIN_BITS].cpu), bf = gmacs(w->macs, s[C_BIN_FLOAT].cpu);
    fprintf(f,
            "| %s | %.1f | %.3f | %.1f | %.0f%% | %.3f | %.1f | %.0f%% | %.4f | %.0f | %.0f%% | "
            "%.4f | %.0f | %.4f | %.0f%% / %.0f%% / %.0f%% / %.0f%% / %.0f%% |\n",
            l->label, w->macs / 1e6, w->fp32_cpu, fp, share(fp, pk->fp32), s[C_INT8].cpu, i8,
            share(i8, pk->int8), s[C_BIN_BITS].cpu, bb, share(bb, pk->binary), s[C_BIN_FLOAT].cpu,
            bf, s[C_BIN_PACK].cpu, 100 * s[C_FP32].spread, 100 * s[C_INT8].spread,
            100 * s[C_BIN_BITS].spread, 100 * s[C_BIN_FLOAT].spread, 100 * s[C_BIN_PACK].spread);
}

static void print_ratios_head(FILE *f)
{
    fprintf(f, "| layer | FP32 / bits-out | FP32 / float-out | FP32 / (pack + float-out) | "
               "int8 / bits-out | int8 / float-out | int8 / (pack + float-out) | "
               "wall: FP32 / bits-out | wall: int8 / bits-out |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

static void print_ratios(FILE *f, const layer *l, const row *w)
{
    const stats *s = w->s;
    double bits = s[C_BIN_BITS].cpu, fl = s[C_BIN_FLOAT].cpu, packed = fl + s[C_BIN_PACK].cpu;
    double i8 = s[C_INT8].cpu;
    fprintf(f, "| %s | **%.1fx** | %.1fx | %.1fx | **%.1fx** | %.1fx | %.1fx | %.1fx | %.1fx |\n",
            l->label, w->fp32_cpu / bits, w->fp32_cpu / fl, w->fp32_cpu / packed, i8 / bits,
            i8 / fl, i8 / packed, w->fp32_wall / s[C_BIN_BITS].wall,
            s[C_INT8].wall / s[C_BIN_BITS].wall);
}

static void read_load(double load[3])
{
    load[0] = load[1] = load[2] = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(la);
    }
}

static void write_header(FILE *f, int argc, char **argv, const peaks *pk, const double load[3])
{
    frost_cpu_info cpu;
    char text[FROST_CPU_TEXT_MAX];
    frost_cpu_describe(&cpu);
    frost_cpu_text(&cpu, text, sizeof text);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(f, "# Binary kernels vs frost's FP32 and int8 engines (bench_lowbit_kernels)\n\n");
    fprintf(f, "Command: `bench_lowbit_kernels");
    for (int i = 1; i < argc; i++)
        fprintf(f, " %s", argv[i]);
    fprintf(f, "` (built by `cmake --build build --target bench_lowbit_kernels`)\n\n");
    fprintf(f, "- CPU: %s (model \"%s\", family %d model %d)\n", text, cpu.model, cpu.family,
            cpu.model_id);
    fprintf(f,
            "- Kernels timed: FP32 the FP32 engine's conv / linear (its %s FMA GEMM); int8 %s "
            "(%s); binary the %s path\n",
            cpu.fp32_kernels, cpu.int8_kernels,
            strcmp(cpu.int8_kernels, "avx512-vnni")
                ? "this CPU has no AVX-512 VNNI: the int16 vpmaddwd GEMM of the AVX2 path, not "
                  "the VNNI kernels the issue's target names"
                : "the 512-bit VNNI vpdpbusd kernels",
            frost_bin_path_name(frost_bin_best_path()));
    fprintf(f,
            "- Measured per-core peaks (thread CPU time, median of 3): %s %.1f GMAC/s; %s "
            "%.1f GMAC/s; %s %.0f G/s (+-1 products)\n",
            pk->fp32_name, pk->fp32, pk->int8_name, pk->int8, pk->binary_name, pk->binary);
    fprintf(f, "- Date %s; load average (1/5/15 min) at the start %.2f %.2f %.2f (2 cores)\n\n",
            date, load[0], load[1], load[2]);
}

static void write_notes(FILE *f, int rounds, double min_ms)
{
    fprintf(f,
            "Batch 1, one thread. Every cell is a **median of %d rounds** of this thread's CPU "
            "time; within a round the contenders of a layer take turns (order reversed every "
            "other round), each sample repeating the call for at least %.0f ms. FP32 = the "
            "FP32 engine running conv -> gap -> linear minus the same engine running gap -> "
            "linear (the conv alone, as `frost bench` reports a layer). int8 = the runtime's "
            "zero-point padding plus its conv kernel with requantization to uint8 (linear: "
            "the AVX2 kernel and the requantization loop). Binary bits-out = frost_bin_conv "
            "with BN-threshold bits out, input already packed (a layer inside a binary chain); "
            "float-out = alpha * dot + bias to float; pack = frost_bin_pack_f32 of the layer's "
            "float input (the first binary layer after a real-valued one). Binary G/s counts "
            "+-1 multiply-adds. Spread = interquartile range / median of the CPU times.\n\n",
            rounds, min_ms);
}

int main(int argc, char **argv)
{
    int rounds = 21;
    double min_ms = 3.0;
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc &&
            parse_int(argv[i + 1], 1, 1000, &rounds))
            i++;
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc &&
                 parse_double(argv[i + 1], 0.1, 1000, &min_ms))
            i++;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else {
            fprintf(
                stderr,
                "usage: bench_lowbit_kernels [--rounds N (1..1000)] [--min-ms T] [--out PATH]\n");
            return 2;
        }
    }
    (void)bench_print_peaks; /* peaks.h's report: this program writes its own header */
    frost_set_threads(1);
    double load[3];
    read_load(load);
    peaks pk = measure_peaks();
    row rows[N_LAYERS];
    frost_rng r;
    frost_rng_seed(&r, 15);
    for (int i = 0; i < N_LAYERS; i++) {
        if (!measure_layer(&LAYERS[i], rounds, min_ms, &r, &rows[i]))
            return 1;
        fprintf(stderr, "%s done\n", LAYERS[i].label);
    }
    double end_load[3];
    read_load(end_load);
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "bench_lowbit_kernels: cannot write %s\n", out_path);
        return 1;
    }
    write_header(f, argc, argv, &pk, load);
    write_notes(f, rounds, min_ms);
    fprintf(f, "## Speed-up of the binary layer (thread CPU time)\n\n");
    print_ratios_head(f);
    for (int i = 0; i < N_LAYERS; i++)
        print_ratios(f, &LAYERS[i], &rows[i]);
    fprintf(f, "\n## Times, rates and shares of peak (thread CPU time)\n\n");
    print_times_head(f);
    for (int i = 0; i < N_LAYERS; i++)
        print_times(f, &LAYERS[i], &rows[i], &pk);
    fprintf(f, "\nLoad average at the end: %.2f %.2f %.2f.\n", end_load[0], end_load[1],
            end_load[2]);
    if (out_path)
        fclose(f);
    return 0;
}
