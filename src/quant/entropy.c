/*
 * TensorRT-style entropy calibration: a histogram of |x| and the threshold that
 * minimizes KL(P || Q). The algorithm and its conventions are described in
 * quant/entropy.h; docs/quantization.md cites the public descriptions it follows.
 * Counts are whole numbers kept in double, so every sum of counts is exact and
 * only the divergence itself rounds.
 */
#include "quant/entropy.h"

#include <math.h>
#include <string.h>

enum { NBINS = FROST_ENTROPY_BINS };

void frost_entropy_hist_reset(frost_entropy_hist *h) { memset(h, 0, sizeof *h); }

/* Largest finite |x| of the batch (0 if none). */
static double batch_abs_max(int64_t n, const float *x)
{
    double amax = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]) && fabs((double)x[i]) > amax)
            amax = fabs((double)x[i]);
    return amax;
}

/* Doubles the bin width until the bins reach amax: bins 2k and 2k+1 become bin k,
 * which is exact (every old bin lies inside one new bin). */
static void widen_to(frost_entropy_hist *h, double amax)
{
    while (amax > h->width * NBINS) {
        for (int k = 0; k < NBINS / 2; k++)
            h->bins[k] = h->bins[2 * k] + h->bins[2 * k + 1];
        memset(h->bins + NBINS / 2, 0, (NBINS / 2) * sizeof h->bins[0]);
        h->width *= 2.0;
    }
}

void frost_entropy_hist_observe(frost_entropy_hist *h, int64_t n, const float *x)
{
    double amax = batch_abs_max(n, x);
    if (amax > 0.0) {
        if (h->width == 0.0)
            h->width = amax / NBINS; /* a power-of-two scaling: width * NBINS == amax */
        widen_to(h, amax);
    }
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        double a = fabs((double)x[i]);
        if (a == 0.0) {
            h->zeros += 1.0;
            continue;
        }
        double pos = a / h->width; /* a <= top, so pos <= NBINS (top itself: last bin) */
        int k = pos >= NBINS - 1 ? NBINS - 1 : (int)pos;
        h->bins[k] += 1.0;
    }
}

/* The bins [start, stop) that quantization level j of a candidate with i bins covers:
 * i / levels bins each, the last level also takes the remainder. */
static void level_bins(int i, int levels, int j, int *start, int *stop)
{
    int merged = i / levels;
    *start = j * merged;
    *stop = j == levels - 1 ? i : *start + merged;
}

/* P[k] of the candidate with i bins: the clipped outliers are folded into bin i-1. */
static double reference_count(const double *bins, int i, double outliers, int k)
{
    return k == i - 1 ? bins[k] + outliers : bins[k];
}

void frost_entropy_expand(const double *bins, const bool *nonzero, int i, int levels, double *q)
{
    for (int j = 0; j < levels; j++) {
        int start, stop, used = 0;
        level_bins(i, levels, j, &start, &stop);
        double sum = 0.0;
        for (int k = start; k < stop; k++) {
            sum += bins[k];
            used += nonzero[k];
        }
        for (int k = start; k < stop; k++)
            q[k] = nonzero[k] ? sum / used : 0.0;
    }
}

/* Sum of bins[start, stop): exact, the counts are whole numbers. */
static double count_sum(const double *bins, int start, int stop)
{
    double s = 0.0;
    for (int k = start; k < stop; k++)
        s += bins[k];
    return s;
}

/* frost_entropy_divergence without an array for Q: each level's share is computed
 * and used in place, in the same bin order as frost_entropy_expand. */
double frost_entropy_divergence(const double *bins, int nbins, int i, int levels)
{
    double total = count_sum(bins, 0, nbins), kept = count_sum(bins, 0, i);
    double outliers = total - kept; /* exact */
    if (total == 0.0)
        return 0.0;
    double kl = 0.0;
    for (int j = 0; j < levels; j++) {
        int start, stop, used = 0;
        level_bins(i, levels, j, &start, &stop);
        double sum = count_sum(bins, start, stop);
        for (int k = start; k < stop; k++)
            used += reference_count(bins, i, outliers, k) != 0.0;
        for (int k = start; k < stop; k++) {
            double pk = reference_count(bins, i, outliers, k);
            if (pk == 0.0)
                continue; /* 0 * log(0 / q) = 0 */
            if (sum == 0.0)
                return INFINITY; /* Q has no mass where P has some */
            double p = pk / total, q = (sum / used) / kept;
            kl += p * log(p / q);
        }
    }
    return kl;
}

/* A candidate must beat the best so far by more than this (relative) to replace it.
 * Exact ties are common (between candidates whose extra bins are empty, no mass moves)
 * and would otherwise be decided by rounding; this way the smallest i of a tie wins. */
#define TIE_TOLERANCE 1e-12

int frost_entropy_best_bins(const double *bins, int nbins, int levels)
{
    int best_i = nbins;
    double best = INFINITY;
    for (int i = levels; i <= nbins; i++) {
        double d = frost_entropy_divergence(bins, nbins, i, levels);
        if (d < best * (1.0 - TIE_TOLERANCE)) {
            best = d;
            best_i = i;
        }
    }
    return best_i;
}

double frost_entropy_threshold(const frost_entropy_hist *h, int levels)
{
    if (h->width == 0.0)
        return 0.0;
    return frost_entropy_best_bins(h->bins, NBINS, levels) * h->width;
}
