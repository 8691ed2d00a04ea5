/*
 * The ENTROPY observer's histogram and threshold search (internal): TensorRT's
 * KL-divergence calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017).
 *
 * The histogram counts |x| in FROST_ENTROPY_BINS equal bins over [0, top]. The
 * first batch with a non-zero value sets top = max|x|; a later, larger value
 * doubles the bin width (adjacent pairs of bins merge) until it fits, so re-binning
 * is exact and memory stays fixed. Exact zeros are counted apart, not in bin 0:
 * every quantization grid represents 0 exactly, and a ReLU output's spike at 0
 * would otherwise dominate the divergence (NVIDIA's pytorch-quantization works
 * around the same spike by overwriting bin 0 with bin 1).
 *
 * The search tries every threshold of i bins, levels <= i <= nbins, and keeps the i
 * with the smallest KL(P || Q) (the smallest i on a tie; a later candidate must be
 * better by more than 1e-12 relative, so rounding cannot break a tie):
 *   P = bins[0 .. i-1], with the count of bins[i ..] (the clipped outliers) added
 *       to P[i-1];
 *   Q = bins[0 .. i-1] merged into `levels` groups of i / levels consecutive bins
 *       (the last group also takes the i % levels bins left over), each group's
 *       sum spread evenly over the bins of the group where P is non-zero; bins where
 *       P is zero stay zero;
 * P and Q are normalized to sum 1; a candidate where Q is zero and P is not has an
 * infinite divergence (it is never chosen). The threshold is the upper edge of
 * bin i-1, i * width.
 */
#ifndef FROST_QUANT_ENTROPY_H
#define FROST_QUANT_ENTROPY_H

#include <stdbool.h>
#include <stdint.h>

#define FROST_ENTROPY_BINS 2048

typedef struct {
    double width;                    /* bin width; 0 until a non-zero |x| is seen */
    double zeros;                    /* exact zeros (kept out of the bins) */
    double bins[FROST_ENTROPY_BINS]; /* counts of |x| in [k * width, (k + 1) * width) */
} frost_entropy_hist;

void frost_entropy_hist_reset(frost_entropy_hist *h);
/* Adds the finite values of x (as |x|). */
void frost_entropy_hist_observe(frost_entropy_hist *h, int64_t n, const float *x);
/* The threshold T minimizing KL(P || Q) for `levels` quantization levels over [0, T];
 * 0 if no non-zero value was seen. */
double frost_entropy_threshold(const frost_entropy_hist *h, int levels);

/* The search on any histogram (tests feed hand-made ones): the number of bins i of the
 * best threshold, levels <= i <= nbins. Needs 2 <= levels <= nbins. */
int frost_entropy_best_bins(const double *bins, int nbins, int levels);
/* KL(P || Q) of the candidate that keeps the first i bins (INFINITY if Q misses P). */
double frost_entropy_divergence(const double *bins, int nbins, int i, int levels);
/* Q of that candidate before normalizing: bins[0 .. i-1] quantized to `levels` groups and
 * expanded back (zeros stay zeros), written to q[0 .. i-1]. nonzero[k] says where P (the
 * bins with the outliers folded into bin i-1) is non-zero. */
void frost_entropy_expand(const double *bins, const bool *nonzero, int i, int levels, double *q);

#endif
