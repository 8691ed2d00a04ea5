/*
 * bench_nas_lut: how well the per-layer latency table predicts whole networks. Builds the
 * table from TRAIN random genotypes of the search space (their int8 networks measured
 * layer by layer), then measures TEST other random genotypes and compares: RMSE, mean
 * absolute percentage error, Spearman rank correlation (what a search needs: the order),
 * and how many layers the table had to estimate. Prints a table and writes
 * bench/results/nas_lut.md.
 *
 *   bench_nas_lut [TRAIN [TEST [THREADS]]]     defaults 60 30 1
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "frost/frost.h"
#include "frost/nas.h"

static void ranks(const double *v, int n, double *r)
{
    for (int i = 0; i < n; i++) {
        int less = 0, equal = 0;
        for (int j = 0; j < n; j++)
            less += v[j] < v[i], equal += v[j] == v[i];
        r[i] = less + (equal + 1) / 2.0;
    }
}

static double pearson(const double *x, const double *y, int n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++)
        mx += x[i] / n, my += y[i] / n;
    for (int i = 0; i < n; i++)
        sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx),
            syy += (y[i] - my) * (y[i] - my);
    return sxy / sqrt(sxx * syy);
}

int main(int argc, char **argv)
{
    int n_train = argc > 1 ? atoi(argv[1]) : 60, n_test = argc > 2 ? atoi(argv[2]) : 30;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (n_train < 1 || n_test < 3 || threads < 1) {
        fprintf(stderr, "usage: bench_nas_lut [TRAIN >= 1 [TEST >= 3 [THREADS]]]\n");
        return 2;
    }
    frost_nas_space space = frost_nas_space_default();
    frost_nas_lut *lut = NULL;
    if (frost_nas_lut_create(threads, 20, false, &lut) != FROST_OK)
        return 1;
    uint64_t rng = 1001;
    for (int i = 0; i < n_train; i++) {
        frost_nas_genotype g;
        double ms;
        frost_nas_sample(&space, &rng, &g);
        if (frost_nas_lut_measure(lut, &g, &space, true, &ms) != FROST_OK) {
            fprintf(stderr, "bench_nas_lut: %s\n", frost_last_error());
            return 1;
        }
        fprintf(stderr, "\rtable: %d/%d networks, %d layer keys", i + 1, n_train,
                frost_nas_lut_size(lut));
    }
    fprintf(stderr, "\n");
    double *meas = calloc((size_t)n_test, sizeof *meas),
           *pred = calloc((size_t)n_test, sizeof *pred);
    double se = 0, ape = 0;
    long layers_all = 0, missing_all = 0;
    rng = 2002; /* other genotypes than the table's */
    for (int i = 0; i < n_test; i++) {
        frost_nas_genotype g;
        int layers, missing;
        frost_nas_sample(&space, &rng, &g);
        if (frost_nas_lut_measure(lut, &g, &space, false, &meas[i]) != FROST_OK ||
            frost_nas_lut_predict(lut, &g, &space, &pred[i], &layers, &missing) != FROST_OK) {
            fprintf(stderr, "bench_nas_lut: %s\n", frost_last_error());
            return 1;
        }
        se += (pred[i] - meas[i]) * (pred[i] - meas[i]);
        ape += fabs(pred[i] - meas[i]) / meas[i];
        layers_all += layers, missing_all += missing;
    }
    double rm[1024], rp[1024];
    int n = n_test < 1024 ? n_test : 1024;
    ranks(meas, n, rm);
    ranks(pred, n, rp);
    double rmse = sqrt(se / n_test), mape = 100 * ape / n_test, rho = pearson(rm, rp, n);
    double lo = meas[0], hi = meas[0];
    for (int i = 1; i < n_test; i++)
        lo = meas[i] < lo ? meas[i] : lo, hi = meas[i] > hi ? meas[i] : hi;
    char table[2048];
    snprintf(table, sizeof table,
             "| table from | layer keys | tested on | latency range ms | RMSE ms | MAPE | "
             "Spearman rho | layers estimated (not in the table) |\n"
             "|---|---|---|---|---|---|---|---|\n"
             "| %d random networks | %d | %d other random networks | %.3f - %.3f | %.4f | "
             "%.1f%% | %.3f | %.1f%% |\n",
             n_train, frost_nas_lut_size(lut), n_test, lo, hi, rmse, mape, rho,
             100.0 * (double)missing_all / (double)layers_all);
    printf("%s", table);
    FILE *f = fopen("bench/results/nas_lut.md", "w");
    if (f) {
        fprintf(f,
                "# NAS latency predictor: per-layer lookup table vs measured int8 latency\n\n"
                "Made by `build/bench_nas_lut %d %d %d` (bench/nas_lut.c): the search space's "
                "default (Fashion-MNIST 28x28, width 0.35), int8 fixed-point, %d thread(s), "
                "medians of 20 runs. Predicted latency = sum of the table's per-layer "
                "medians; layers the table lacks come from a per-op linear fit on work.\n\n%s",
                n_train, n_test, threads, threads, table);
        fclose(f);
    }
    free(meas);
    free(pred);
    frost_nas_lut_free(lut);
    return 0;
}
