/*
 * bench_popcount: speed of the bit-packed binary kernels (src/binary) on every path this CPU
 * runs, on the binary conv layers of a ResNet-20 (Fashion-MNIST, 28x28 input: the 3x3
 * convs of the blocks and the 1x1 projections; stem and classifier stay real) and of a
 * FrostNet-S (224x224 input: a sample of its 1x1 convs, whose depthwise convs stay real), plus
 * the 3x3 shapes of the speed target (64..512 channels, 56x56..7x7), at batch 1 on
 * one thread, and the long-array popcount.
 *
 * Each sample times enough calls to last >= 2 ms; the paths take turns within every round
 * (so machine noise hits all of them) and the table reports each path's median over the
 * rounds. Rate: binary multiply-adds (oh * ow * o * kh * kw * c) per second, "GOP/s".
 *
 *   bench_popcount [--rounds N] [--out PATH]     (default 31 rounds, stdout)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "binary/binary.h"
#include "core/rng.h"
#include "core/timer.h"
#include "frost/cpu.h"

typedef struct bench_shape {
    const char *net, *name;
    int count; /* layers of this shape in the network */
    int h, w, c, o, k, stride, pad;
} bench_shape;

static const bench_shape shapes[] = {
    {"ResNet-20", "s1 3x3 16->16", 6, 28, 28, 16, 16, 3, 1, 1},
    {"ResNet-20", "s2.b1.c1 3x3 16->32 /2", 1, 28, 28, 16, 32, 3, 2, 1},
    {"ResNet-20", "s2 3x3 32->32", 5, 14, 14, 32, 32, 3, 1, 1},
    {"ResNet-20", "s2.proj 1x1 16->32 /2", 1, 28, 28, 16, 32, 1, 2, 0},
    {"ResNet-20", "s3.b1.c1 3x3 32->64 /2", 1, 14, 14, 32, 64, 3, 2, 1},
    {"ResNet-20", "s3 3x3 64->64", 5, 7, 7, 64, 64, 3, 1, 1},
    {"ResNet-20", "s3.proj 1x1 32->64 /2", 1, 14, 14, 32, 64, 1, 2, 0},
    {"FrostNet-S", "s1.b2.expand 1x1 16->48 @112", 1, 112, 112, 16, 48, 1, 1, 0},
    {"FrostNet-S", "s1.b3.expand 1x1 24->72 @56", 1, 56, 56, 24, 72, 1, 1, 0},
    {"FrostNet-S", "s3.b1.expand 1x1 56->168 @28", 1, 28, 28, 56, 168, 1, 1, 0},
    {"FrostNet-S", "s3.b2.expand 1x1 104->312 @14", 1, 14, 14, 104, 312, 1, 1, 0},
    {"FrostNet-S", "s3.b4.project 1x1 360->96 @14", 1, 14, 14, 360, 96, 1, 1, 0},
    {"FrostNet-S", "s4.b2.expand 1x1 192->1440 @7", 1, 7, 7, 192, 1440, 1, 1, 0},
    {"FrostNet-S", "s4.b2.project 1x1 1440->192 @7", 1, 7, 7, 1440, 192, 1, 1, 0},
    {"FrostNet-S", "head 1x1 320->1280 @7", 1, 7, 7, 320, 1280, 1, 1, 0},
    {"3x3 target", "3x3 64->64 @56", 1, 56, 56, 64, 64, 3, 1, 1},
    {"3x3 target", "3x3 128->128 @28", 1, 28, 28, 128, 128, 3, 1, 1},
    {"3x3 target", "3x3 256->256 @14", 1, 14, 14, 256, 256, 3, 1, 1},
    {"3x3 target", "3x3 512->512 @7", 1, 7, 7, 512, 512, 3, 1, 1},
};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

/* What one timed call computes. */
typedef enum {
    RUN_COUNTS,     /* binary weights, int32 dot products out */
    RUN_FLOAT,      /* binary, alpha * dot + bias to float */
    RUN_BITS,       /* binary, BN + sign thresholds to packed bits */
    RUN_TERNARY,    /* ternary weights x binary activations, int32 */
    RUN_TERNARY_S8, /* ternary weights x int8 activations, int32 */
    RUN_COUNT
} run_kind;

static const char *run_names[RUN_COUNT] = {
    "binary, int32 out", "binary, alpha/bias float out", "binary, BN threshold bits out",
    "ternary x binary, int32 out", "ternary x int8, int32 out"};

typedef struct prepared {
    frost_bin_conv_geom g;
    frost_bin_weights w, tw; /* binary; ternary (only with extras) */
    uint64_t *x;
    int8_t *xs8;
    int32_t *y;
    float *yf, *alpha, *bias;
    uint64_t *yb;
    frost_bin_thresh *th;
    double macs;
} prepared;

static void release(prepared *p)
{
    free(p->x), free(p->xs8), free(p->y), free(p->yf), free(p->alpha), free(p->bias);
    free(p->yb), free(p->th);
    frost_bin_weights_free(&p->w);
    frost_bin_weights_free(&p->tw);
}

/* Random weights and input for shape s; extras: also ternary weights, int8 input and the
 * output stages' parameters. */
static int prepare(const bench_shape *s, frost_rng *r, bool extras, prepared *p)
{
    memset(p, 0, sizeof *p);
    size_t wn = (size_t)s->o * s->k * s->k * s->c;
    float *wt = calloc(wn, sizeof *wt);
    for (size_t i = 0; i < wn; i++)
        wt[i] = frost_rng_uniform(r) - 0.5f;
    frost_status st = frost_bin_weights_pack(wt, s->o, s->k, s->k, s->c, &p->w);
    if (st == FROST_OK && extras) { /* ternary: a third of the weights zero */
        for (size_t i = 0; i < wn; i++)
            wt[i] = (float)((int)frost_rng_below(r, 3) - 1);
        st = frost_bin_weights_pack_ternary(wt, s->o, s->k, s->k, s->c, &p->tw);
    }
    free(wt);
    p->g = (frost_bin_conv_geom){.n = 1, .h = s->h, .w = s->w, .stride = s->stride, .pad = s->pad};
    if (st != FROST_OK || frost_bin_conv_geom_init(&p->g, &p->w) != FROST_OK) {
        fprintf(stderr, "bench_popcount: %s: %s\n", s->name, frost_last_error());
        return 1;
    }
    size_t pixels_in = (size_t)s->h * s->w, pixels = (size_t)p->g.oh * p->g.ow;
    float *xf = malloc(sizeof *xf * pixels_in * s->c);
    for (size_t i = 0; i < pixels_in * s->c; i++)
        xf[i] = frost_rng_uniform(r) - 0.5f;
    p->x = malloc(sizeof *p->x * pixels_in * p->w.tap_words);
    frost_bin_pack_f32(xf, (long)pixels_in, s->c, p->x);
    free(xf);
    p->y = malloc(sizeof *p->y * pixels * s->o);
    p->macs = (double)pixels * s->o * s->k * s->k * s->c;
    if (!extras)
        return 0;
    p->xs8 = malloc(pixels_in * s->c);
    for (size_t i = 0; i < pixels_in * s->c; i++)
        p->xs8[i] = (int8_t)(frost_rng_below(r, 256) - 128);
    p->yf = malloc(sizeof *p->yf * pixels * s->o);
    p->yb = malloc(sizeof *p->yb * pixels * frost_bin_words(s->o));
    p->alpha = malloc(sizeof *p->alpha * s->o);
    p->bias = malloc(sizeof *p->bias * s->o);
    p->th = malloc(sizeof *p->th * s->o);
    for (int j = 0; j < s->o; j++) {
        p->alpha[j] = frost_rng_uniform(r);
        p->bias[j] = frost_rng_uniform(r) - 0.5f;
        p->th[j] = frost_bin_threshold(frost_rng_uniform(r) - 0.5f, frost_rng_uniform(r) - 0.5f,
                                       s->k * s->k * s->c);
    }
    return 0;
}

/* This thread's CPU time in ms: unlike the wall clock it stops while another process has
 * the core, so it shows the kernel's own speed on a busy machine. */
static double thread_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

typedef struct sample {
    double wall, cpu; /* ms per call */
} sample;

static void run_once(const prepared *p, frost_bin_path path, run_kind kind)
{
    frost_bin_output counts = {.kind = FROST_BIN_OUT_COUNTS};
    frost_bin_output fl = {.kind = FROST_BIN_OUT_FLOAT, .alpha = p->alpha, .bias = p->bias};
    frost_bin_output bits = {.kind = FROST_BIN_OUT_BITS, .thresh = p->th};
    switch (kind) {
    case RUN_COUNTS: frost_bin_conv(&p->g, p->x, &p->w, &counts, p->y, path); break;
    case RUN_FLOAT: frost_bin_conv(&p->g, p->x, &p->w, &fl, p->yf, path); break;
    case RUN_BITS: frost_bin_conv(&p->g, p->x, &p->w, &bits, p->yb, path); break;
    case RUN_TERNARY: frost_bin_conv(&p->g, p->x, &p->tw, &counts, p->y, path); break;
    case RUN_TERNARY_S8: frost_bin_conv_ternary_s8(&p->g, p->xs8, 0, &p->tw, p->y, path); break;
    case RUN_COUNT: break;
    }
}

static sample time_calls(const prepared *p, frost_bin_path path, run_kind kind, int calls)
{
    double t0 = frost_now_ms(), c0 = thread_cpu_ms();
    for (int i = 0; i < calls; i++)
        run_once(p, path, kind);
    return (sample){(frost_now_ms() - t0) / calls, (thread_cpu_ms() - c0) / calls};
}

/* Calls per sample so that one sample lasts >= 2 ms. */
static int calls_for(const prepared *p, frost_bin_path path, run_kind kind)
{
    double ms = time_calls(p, path, kind, 1).wall;
    int calls = ms > 0 ? (int)(2.0 / ms) + 1 : 1000;
    return calls > 1000 ? 1000 : calls;
}

/* One table row: the paths take turns in every round; per path the wall-clock median (ms)
 * and GOP/s by wall clock and by thread CPU time. med (if not NULL) receives per path the
 * wall-clock median at [2 * i] and the CPU-time median at [2 * i + 1]. */
static void measure_row(FILE *f, const prepared *p, const frost_bin_path *paths, int np,
                        run_kind kind, int rounds, double *med)
{
    int calls[FROST_BIN_PATH_COUNT];
    double *wall = malloc(sizeof *wall * rounds * np), *cpu = malloc(sizeof *cpu * rounds * np);
    for (int i = 0; i < np; i++)
        calls[i] = calls_for(p, paths[i], kind);
    for (int round = 0; round < rounds; round++)
        for (int i = 0; i < np; i++) {
            sample t = time_calls(p, paths[i], kind, calls[i]);
            wall[i * rounds + round] = t.wall;
            cpu[i * rounds + round] = t.cpu;
        }
    for (int i = 0; i < np; i++) {
        double ms = frost_median(wall + i * rounds, rounds);
        double cpu_ms = frost_median(cpu + i * rounds, rounds);
        if (med)
            med[2 * i] = ms, med[2 * i + 1] = cpu_ms;
        fprintf(f, " %.4f | %.1f | %.1f |", ms, p->macs / ms / 1e6, p->macs / cpu_ms / 1e6);
    }
    fprintf(f, "\n");
    fflush(f);
    free(wall), free(cpu);
}

static void table_head(FILE *f, const char *first, const frost_bin_path *paths, int np)
{
    fprintf(f, "| %s |", first);
    for (int i = 0; i < np; i++)
        fprintf(f, " %s ms | GOP/s | GOP/s cpu |", frost_bin_path_name(paths[i]));
    fprintf(f, "\n|---|---|---:|");
    for (int i = 0; i < np; i++)
        fprintf(f, "---:|---:|---:|");
    fprintf(f, "\n");
}

typedef struct popcount_case {
    long words;
    const char *label;
} popcount_case;

static void write_header(FILE *f, const frost_bin_path *paths, int np, int rounds)
{
    frost_cpu_info cpu;
    char text[FROST_CPU_TEXT_MAX];
    frost_cpu_describe(&cpu);
    frost_cpu_text(&cpu, text, sizeof text);
    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(la);
    }
    fprintf(f, "# Binary kernel speed (bench_popcount)\n\n");
    fprintf(f, "CPU: %s  \n", text);
    fprintf(f, "Binary kernels chosen at run time: %s. Paths measured:",
            frost_bin_path_name(frost_bin_best_path()));
    for (int i = 0; i < np; i++)
        fprintf(f, " %s%s", frost_bin_path_name(paths[i]), i + 1 < np ? "," : ".");
    errno = 0;
    int nice_value = getpriority(PRIO_PROCESS, 0);
    fprintf(f, "  \nLoad average at the start: %.2f %.2f %.2f; this process ran at nice %d.\n\n",
            load[0], load[1], load[2], errno ? 0 : nice_value);
    fprintf(f,
            "Batch 1, one thread, int32 dot products out (`FROST_BIN_OUT_COUNTS`). Each cell is "
            "the **median of %d rounds**; in each round every path runs once, in turn, for at "
            "least 2 ms. The machine is shared with other engineers' builds, so single samples "
            "move by tens of percent: compare paths within this table only. GOP/s counts "
            "binary multiply-adds (one +-1 product each): oh * ow * o * kh * kw * c per layer. "
            "\"ms\" and \"GOP/s\" are wall-clock medians; \"GOP/s cpu\" is the median over the "
            "same runs of this thread's CPU time, which does not count the time another "
            "process held the core (it still counts the caches and the core's other "
            "hardware thread shared with it).\n\n",
            rounds);
}

int main(int argc, char **argv)
{
    int rounds = 31;
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_popcount [--rounds N] [--out PATH]\n");
            return 2;
        }
    }
    if (rounds < 1)
        rounds = 1;
    frost_set_threads(1);
    frost_bin_path paths[FROST_BIN_PATH_COUNT];
    int np = 0;
    for (int p = 0; p < FROST_BIN_PATH_COUNT; p++)
        if (frost_bin_path_available((frost_bin_path)p))
            paths[np++] = (frost_bin_path)p;
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "bench_popcount: cannot write %s\n", out_path);
        return 1;
    }
    write_header(f, paths, np, rounds);

    frost_rng r;
    frost_rng_seed(&r, 7);
    double *med = calloc((size_t)N_SHAPES * np * 2, sizeof *med);
    table_head(f, "network | layer | binary MACs", paths, np);
    for (int s = 0; s < N_SHAPES; s++) {
        prepared p;
        if (prepare(&shapes[s], &r, false, &p))
            return 1;
        fprintf(f, "| %s | %s | %.3g M |", shapes[s].net, shapes[s].name, p.macs / 1e6);
        measure_row(f, &p, paths, np, RUN_COUNTS, rounds, med + s * np * 2);
        release(&p);
    }

    /* whole-network sums of the binary layers (shape medians times their layer counts) */
    fprintf(f, "\nSum of the medians over the binary layers listed (times each shape's count), "
               "by wall clock and by thread CPU time:\n\n| layers |");
    for (int i = 0; i < np; i++)
        fprintf(f, " %s ms | ms cpu |", frost_bin_path_name(paths[i]));
    fprintf(f, "\n|---|");
    for (int i = 0; i < np; i++)
        fprintf(f, "---:|---:|");
    fprintf(f, "\n");
    const char *nets[] = {"ResNet-20", "FrostNet-S"};
    for (int n = 0; n < 2; n++) {
        fprintf(f, "| %s (%s) |", nets[n],
                n == 0 ? "the 18 3x3 and 2 1x1 block convs" : "the 8 sampled 1x1 convs");
        for (int i = 0; i < np; i++) {
            double wall = 0, cpu = 0;
            for (int s = 0; s < N_SHAPES; s++)
                if (!strcmp(shapes[s].net, nets[n])) {
                    wall += shapes[s].count * med[(s * np + i) * 2];
                    cpu += shapes[s].count * med[(s * np + i) * 2 + 1];
                }
            fprintf(f, " %.3f | %.3f |", wall, cpu);
        }
        fprintf(f, "\n");
    }

    /* output stages and ternary kernels on two of the shapes above */
    fprintf(f, "\nOutput stages and ternary weights (ternary x int8 runs the int8 multiply-add "
               "kernel: AVX2 on the avx2 and avx512 paths, plain C on reference and popcnt; "
               "a third of the ternary weights are zero, counted as work all the same):\n\n");
    table_head(f, "layer | kernel | MACs", paths, np);
    const int staged[] = {5, 16}; /* ResNet-20 s3 3x3 64->64, 3x3 128->128 @28 */
    for (size_t k = 0; k < sizeof staged / sizeof staged[0]; k++) {
        prepared p;
        if (prepare(&shapes[staged[k]], &r, true, &p))
            return 1;
        for (int kind = 0; kind < RUN_COUNT; kind++) {
            fprintf(f, "| %s | %s | %.3g M |", shapes[staged[k]].name, run_names[kind],
                    p.macs / 1e6);
            measure_row(f, &p, paths, np, (run_kind)kind, rounds, NULL);
        }
        release(&p);
    }

    /* long-array popcount */
    fprintf(f,
            "\nPopcount of one array (`frost_bin_popcount`), Gbit/s, median of %d rounds by "
            "wall clock and by thread CPU time:\n\n| array |",
            rounds);
    for (int i = 0; i < np; i++)
        fprintf(f, " %s | cpu |", frost_bin_path_name(paths[i]));
    fprintf(f, "\n|---|");
    for (int i = 0; i < np; i++)
        fprintf(f, "---:|---:|");
    fprintf(f, "\n");
    const popcount_case cases[] = {{16, "128 B"}, {512, "4 KiB"}, {131072, "1 MiB"}};
    volatile uint64_t sink = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long n = cases[c].words;
        uint64_t *a = malloc(sizeof *a * n);
        for (long i = 0; i < n; i++)
            a[i] = frost_rng_u64(&r);
        long reps = 4000000 / n + 1;
        double *wall = malloc(sizeof *wall * rounds * np), *cpu = malloc(sizeof *cpu * rounds * np);
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < np; i++) {
                double t0 = frost_now_ms(), c0 = thread_cpu_ms();
                for (long k = 0; k < reps; k++)
                    sink += frost_bin_popcount(a, n, paths[i]);
                wall[i * rounds + round] = (frost_now_ms() - t0) / reps;
                cpu[i * rounds + round] = (thread_cpu_ms() - c0) / reps;
            }
        fprintf(f, "| %s |", cases[c].label);
        for (int i = 0; i < np; i++)
            fprintf(f, " %.1f | %.1f |",
                    (double)n * 64 / frost_median(wall + i * rounds, rounds) / 1e6,
                    (double)n * 64 / frost_median(cpu + i * rounds, rounds) / 1e6);
        fprintf(f, "\n");
        free(wall), free(cpu);
        free(a);
    }
    (void)sink;
    free(med);
    if (out_path)
        fclose(f);
    return 0;
}
