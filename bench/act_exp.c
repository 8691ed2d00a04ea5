/*
 * bench_act_exp: the activation kernels that need e^x (sigmoid, SiLU), forward and
 * backward, reference (expf per element) against AVX2 (x86/exp_avx2.h), each called
 * directly on one thread over an array of N floats (default 2^20), x uniform in [-8, 8].
 *
 * Every round times one call of each path in turn (so machine noise hits both); the table
 * gives each path's median, min and max over the rounds in ns per element, and the
 * ratio of the medians. For direction only: a shared machine is noisy, look at min/max.
 *
 *   bench_act_exp [--rounds N] [--n ELEMENTS]      (default 11 rounds, 1048576 elements)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "core/cpu.h"
#include "core/rng.h"
#include "core/timer.h"
#include "ops/elementwise.h"

typedef struct {
    frost_act_kind kind;
    int grad;
} act_case;

static double time_call(const act_case *c, int simd, long n, const float *x, const float *dy,
                        float *out)
{
    double t0 = frost_now_ms();
    if (c->grad)
        (simd ? frost_act_backward_avx2 : frost_act_backward_ref)(c->kind, n, x, dy, out);
    else
        (simd ? frost_act_forward_avx2 : frost_act_forward_ref)(c->kind, n, x, out);
    return (frost_now_ms() - t0) * 1e6 / (double)n; /* ns per element */
}

int main(int argc, char **argv)
{
    int rounds = 11, n = 1 << 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc &&
            parse_int(argv[i + 1], 1, 10000, &rounds))
            i++;
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc &&
                 parse_int(argv[i + 1], 8, 1 << 28, &n))
            i++;
        else {
            fprintf(stderr, "usage: %s [--rounds N] [--n ELEMENTS]\n", argv[0]);
            return 2;
        }
    }
    if (!frost_cpu_has_avx2()) {
        fprintf(stderr, "no AVX2 on this CPU: nothing to compare\n");
        return 1;
    }
    float *x = malloc(sizeof(float) * (size_t)n), *dy = malloc(sizeof(float) * (size_t)n);
    float *out = calloc((size_t)n, sizeof(float));
    double *t = malloc(sizeof(double) * (size_t)rounds * 2);
    if (!x || !dy || !out || !t)
        return 1;
    frost_rng rng;
    frost_rng_seed(&rng, 1);
    for (int i = 0; i < n; i++) {
        x[i] = -8.0f + 16.0f * frost_rng_uniform(&rng);
        dy[i] = -1.0f + 2.0f * frost_rng_uniform(&rng);
    }
    const act_case cases[] = {
        {FROST_ACT_SILU, 0}, {FROST_ACT_SILU, 1}, {FROST_ACT_SIGMOID, 0}, {FROST_ACT_SIGMOID, 1}};
    printf("%d elements, %d rounds, one thread; ns/element: median [min, max]\n", n, rounds);
    printf("%-10s %-30s %-30s %s\n", "kernel", "reference", "AVX2", "ref/AVX2");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        time_call(&cases[c], 0, n, x, dy, out); /* warm up both, touch the pages */
        time_call(&cases[c], 1, n, x, dy, out);
        for (int r = 0; r < rounds; r++)
            for (int simd = 0; simd < 2; simd++) /* alternate, reference first */
                t[simd * rounds + r] = time_call(&cases[c], simd, n, x, dy, out);
        double med[2], lo[2], hi[2];
        for (int simd = 0; simd < 2; simd++) {
            med[simd] = frost_median(t + simd * rounds, rounds); /* sorts */
            lo[simd] = t[simd * rounds];
            hi[simd] = t[simd * rounds + rounds - 1];
        }
        char a[64], b[64], name[32];
        snprintf(name, sizeof name, "%s%s", frost_act_name(cases[c].kind),
                 cases[c].grad ? "'" : "");
        snprintf(a, sizeof a, "%.3f [%.3f, %.3f]", med[0], lo[0], hi[0]);
        snprintf(b, sizeof b, "%.3f [%.3f, %.3f]", med[1], lo[1], hi[1]);
        printf("%-10s %-30s %-30s %.2fx\n", name, a, b, med[0] / med[1]);
    }
    free(x), free(dy), free(out), free(t);
    return 0;
}
