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
 *   bench_popcount [--rounds N] [--out FILE.md]     (default 31 rounds, stdout)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct prepared {
    frost_bin_conv_geom g;
    frost_bin_weights w;
    uint64_t *x;
    int32_t *y;
    double macs;
} prepared;

static int prepare(const bench_shape *s, frost_rng *r, prepared *p)
{
    size_t wn = (size_t)s->o * s->k * s->k * s->c;
    float *wt = malloc(sizeof *wt * wn);
    for (size_t i = 0; i < wn; i++)
        wt[i] = frost_rng_uniform(r) - 0.5f;
    frost_status st = frost_bin_weights_pack(wt, s->o, s->k, s->k, s->c, &p->w);
    free(wt);
    p->g = (frost_bin_conv_geom){.n = 1, .h = s->h, .w = s->w, .stride = s->stride, .pad = s->pad};
    if (st != FROST_OK || frost_bin_conv_geom_init(&p->g, &p->w) != FROST_OK) {
        fprintf(stderr, "bench_popcount: %s: %s\n", s->name, frost_last_error());
        return 1;
    }
    size_t xn = (size_t)s->h * s->w * p->w.tap_words;
    p->x = malloc(sizeof *p->x * xn);
    for (size_t i = 0; i < xn; i++)
        p->x[i] = frost_rng_u64(r);
    /* zero tails, as packing leaves them */
    if (s->c % 64)
        for (size_t i = (size_t)p->w.tap_words - 1; i < xn; i += (size_t)p->w.tap_words)
            p->x[i] &= (1ull << (s->c % 64)) - 1;
    p->y = malloc(sizeof *p->y * (size_t)p->g.oh * p->g.ow * s->o);
    p->macs = (double)p->g.oh * p->g.ow * s->o * s->k * s->k * s->c;
    return 0;
}

static double time_calls(const prepared *p, frost_bin_path path, int calls)
{
    frost_bin_output out = {.kind = FROST_BIN_OUT_COUNTS};
    double t0 = frost_now_ms();
    for (int i = 0; i < calls; i++)
        frost_bin_conv(&p->g, p->x, &p->w, &out, p->y, path);
    return (frost_now_ms() - t0) / calls;
}

/* Calls per sample so that one sample lasts >= 2 ms. */
static int calls_for(const prepared *p, frost_bin_path path)
{
    double ms = time_calls(p, path, 1);
    int calls = ms > 0 ? (int)(2.0 / ms) + 1 : 1000;
    return calls > 1000 ? 1000 : calls;
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
    fprintf(f, "  \nLoad average at the start: %.2f %.2f %.2f.\n\n", load[0], load[1], load[2]);
    fprintf(f,
            "Batch 1, one thread, int32 dot products out (`FROST_BIN_OUT_COUNTS`). Each cell is "
            "the **median of %d rounds**; in each round every path runs once, in turn, for at "
            "least 2 ms. The machine is shared with other engineers' builds, so single samples "
            "move by tens of percent: compare paths within this table only. GOP/s counts "
            "binary multiply-adds (one +-1 product each): oh * ow * o * kh * kw * c per layer.\n\n",
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
            fprintf(stderr, "usage: bench_popcount [--rounds N] [--out FILE.md]\n");
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
    double *samples = malloc(sizeof *samples * rounds);
    double *med = calloc((size_t)N_SHAPES * np, sizeof *med);
    fprintf(f, "| network | layer | binary MACs |");
    for (int i = 0; i < np; i++)
        fprintf(f, " %s ms | GOP/s |", frost_bin_path_name(paths[i]));
    fprintf(f, "\n|---|---|---:|");
    for (int i = 0; i < np; i++)
        fprintf(f, "---:|---:|");
    fprintf(f, "\n");
    for (int s = 0; s < N_SHAPES; s++) {
        prepared p;
        if (prepare(&shapes[s], &r, &p))
            return 1;
        int calls[FROST_BIN_PATH_COUNT];
        double *all = malloc(sizeof *all * rounds * np);
        for (int i = 0; i < np; i++)
            calls[i] = calls_for(&p, paths[i]);
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < np; i++)
                all[i * rounds + round] = time_calls(&p, paths[i], calls[i]);
        fprintf(f, "| %s | %s | %.3g M |", shapes[s].net, shapes[s].name, p.macs / 1e6);
        for (int i = 0; i < np; i++) {
            memcpy(samples, all + i * rounds, sizeof *samples * rounds);
            double ms = frost_median(samples, rounds);
            med[s * np + i] = ms;
            fprintf(f, " %.4f | %.1f |", ms, p.macs / ms / 1e6);
        }
        fprintf(f, "\n");
        fflush(f);
        free(all);
        free(p.x), free(p.y);
        frost_bin_weights_free(&p.w);
    }

    /* whole-network sums of the binary layers (shape medians times their layer counts) */
    fprintf(f,
            "\nSum of the medians over the binary layers listed (times each shape's count):\n\n");
    fprintf(f, "| layers | ");
    for (int i = 0; i < np; i++)
        fprintf(f, "%s ms | ", frost_bin_path_name(paths[i]));
    fprintf(f, "\n|---|");
    for (int i = 0; i < np; i++)
        fprintf(f, "---:|");
    fprintf(f, "\n");
    const char *nets[] = {"ResNet-20", "FrostNet-S"};
    for (int n = 0; n < 2; n++) {
        fprintf(f, "| %s (%s) | ", nets[n],
                n == 0 ? "the 18 3x3 and 2 1x1 block convs" : "the 8 sampled 1x1 convs");
        for (int i = 0; i < np; i++) {
            double sum = 0;
            for (int s = 0; s < N_SHAPES; s++)
                if (!strcmp(shapes[s].net, nets[n]))
                    sum += shapes[s].count * med[s * np + i];
            fprintf(f, "%.3f | ", sum);
        }
        fprintf(f, "\n");
    }

    /* long-array popcount */
    fprintf(f, "\nPopcount of one array (`frost_bin_popcount`), Gbit/s (median of %d rounds):\n\n",
            rounds);
    const popcount_case cases[] = {{16, "128 B"}, {512, "4 KiB"}, {131072, "1 MiB"}};
    fprintf(f, "| array |");
    for (int i = 0; i < np; i++)
        fprintf(f, " %s |", frost_bin_path_name(paths[i]));
    fprintf(f, "\n|---|");
    for (int i = 0; i < np; i++)
        fprintf(f, "---:|");
    fprintf(f, "\n");
    volatile uint64_t sink = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long n = cases[c].words;
        uint64_t *a = malloc(sizeof *a * n);
        for (long i = 0; i < n; i++)
            a[i] = frost_rng_u64(&r);
        long reps = 4000000 / n + 1;
        double *all = malloc(sizeof *all * rounds * np);
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < np; i++) {
                double t0 = frost_now_ms();
                for (long k = 0; k < reps; k++)
                    sink += frost_bin_popcount(a, n, paths[i]);
                all[i * rounds + round] = (frost_now_ms() - t0) / reps;
            }
        fprintf(f, "| %s |", cases[c].label);
        for (int i = 0; i < np; i++) {
            memcpy(samples, all + i * rounds, sizeof *samples * rounds);
            double ms = frost_median(samples, rounds);
            fprintf(f, " %.1f |", (double)n * 64 / ms / 1e6);
        }
        fprintf(f, "\n");
        free(all);
        free(a);
    }
    (void)sink;
    free(samples);
    free(med);
    if (out_path)
        fclose(f);
    return 0;
}
