/*
 * The histogram behind the HISTOGRAM and PERCENTILE observers (internal).
 *
 * Behaves as PyTorch's HistogramObserver (torch/ao/quantization/observer.py,
 * torch 1.13): FROST_HIST_BINS bins over [min, max] of everything seen; when a
 * batch widens the range, the old histogram is upsampled and re-binned into the
 * new range (PyTorch's _combine_histograms); the range for a b-bit target is
 * chosen by the L2-error search (_non_linear_param_search). Non-finite values
 * are skipped.
 */
#ifndef FROST_QUANT_HISTOGRAM_H
#define FROST_QUANT_HISTOGRAM_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/status.h"

#define FROST_HIST_BINS 2048

typedef struct {
    bool seen;                   /* any finite value observed */
    float min, max;              /* range of the bins */
    float bins[FROST_HIST_BINS]; /* counts (float, as PyTorch keeps them) */
    /* PyTorch 1.13 bins with int(min), int(max) as histc's range, which drops values outside
     * the truncated range (a bug); set after frost_histogram_reset to reproduce it (parity tests).
     */
    bool torch113_int_bounds;
} frost_histogram;

void frost_histogram_reset(frost_histogram *h);
/* Adds n values (PyTorch HistogramObserver.forward). Fails only on allocation failure. */
frost_status frost_histogram_observe(frost_histogram *h, int64_t n, const float *x);
/* The L2-optimal range for a target with dst_bins levels (256 for 8 bits). Requires h->seen. */
void frost_histogram_search(const frost_histogram *h, int dst_bins, float *mn, float *mx);
/* The value below which fraction p (0..1] of the counts lies (upper edge of that bin). */
float frost_histogram_quantile(const frost_histogram *h, double p);

#endif
