/*
 * The histogram observer: PyTorch 1.13's HistogramObserver, bit for bit.
 *
 * Every step below mirrors one tensor operation of
 * torch/ao/quantization/observer.py (1.13) in the same order and precision:
 * tensors are float32, Python scalars are doubles that torch rounds to float32
 * when they meet a float32 tensor, .item() values are doubles again. Sums and
 * cumulative sums follow ATen's CPU kernels (see cascade_sum and the cumsum
 * notes). The file is built with -ffp-contract=off so no multiply-add is fused.
 *
 * One quirk of 1.13 is reproduced only on request (torch113_int_bounds, used by the
 * parity test): forward() passes int(min) and int(max) as the torch.histc range (see
 * histc_bound). By default frost bins over exactly [min, max], as the observer means to.
 * With the quirk on, Values outside the truncated range are not counted
 * and the bins are labelled with the untruncated [min, max]; when both bounds
 * truncate to the same integer, histc falls back to the batch's own min/max.
 *
 * Differences from PyTorch, all in cases where PyTorch raises or runs out of
 * memory: non-finite values are skipped; the re-binning never materialises
 * PyTorch's (bins * downsample_rate)-long upsampled array; when the old range
 * is too narrow for PyTorch's re-binning grid to exist, the old histogram is
 * dropped as PyTorch itself does for an old range of width 0.
 */
#include "quant/histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    NBINS = FROST_HIST_BINS,
    UPSAMPLE = 128, /* HistogramObserver's default upsample_rate */
    /* Float lanes of ATen's Vectorized<float> on an AVX2 build (Debian's torch
     * reports "CPU capability usage: AVX2"); fixes the order of torch.sum. */
    SUM_LANES = 8,
};

/* Largest downsample rate we accept: keeps NBINS * rate (2^61 at most) inside
 * int64. PyTorch would need rate * 2048 floats of memory long before that. */
#define MAX_DOWNSAMPLE 1125899906842624.0 /* 2^50 */

void frost_histogram_reset(frost_histogram *h) { memset(h, 0, sizeof *h); }

/* ---- ATen reductions, replayed in their exact order ---- */

/* ceil(log2(x)) for x >= 1, as ATen's utils::CeilLog2 (1 for x <= 2). */
static int ceil_log2(int64_t x)
{
    if (x <= 2)
        return 1;
    int bits = 0;
    for (uint64_t v = (uint64_t)(x - 1); v; v >>= 1)
        bits++;
    return bits;
}

/* torch.sum of a contiguous float32 vector on CPU (ATen SumKernel.cpp, cascade_sum
 * -> vectorized_inner_sum -> row_sum -> multi_row_sum), float32 accumulators.
 * The data is read as vectors of SUM_LANES floats; row_sum views them as rows of
 * 4 vectors; multi_row_sum adds rows into a 4-level cascade of accumulators
 * whose level step is 2^max(4, ceil_log2(rows) / 4); leftovers are added after.
 * Summation order changes the rounding, so every stage is kept. Needs n >= SUM_LANES
 * (shorter inputs take another ATen path); only used for NBINS values. */
static float cascade_sum(const float *x, int64_t n)
{
    enum { ILP = 4, LEVELS = 4 };
    const int64_t nvec = n / SUM_LANES, rows = nvec / ILP;
    const int power = ceil_log2(rows) / LEVELS > 4 ? ceil_log2(rows) / LEVELS : 4;
    const int64_t step = (int64_t)1 << power, mask = step - 1;
    float acc[LEVELS][ILP][SUM_LANES] = {{{0}}};
    int64_t i = 0;
    while (i + step <= rows) {
        for (int64_t j = 0; j < step; j++, i++)
            for (int k = 0; k < ILP; k++)
                for (int l = 0; l < SUM_LANES; l++)
                    acc[0][k][l] += x[(i * ILP + k) * SUM_LANES + l];
        /* carry level j-1 into level j; stop where the row count is not a multiple */
        for (int j = 1; j < LEVELS; j++) {
            for (int k = 0; k < ILP; k++)
                for (int l = 0; l < SUM_LANES; l++) {
                    acc[j][k][l] += acc[j - 1][k][l];
                    acc[j - 1][k][l] = 0.0f;
                }
            if ((i & (mask << (j * power))) != 0)
                break;
        }
    }
    for (; i < rows; i++)
        for (int k = 0; k < ILP; k++)
            for (int l = 0; l < SUM_LANES; l++)
                acc[0][k][l] += x[(i * ILP + k) * SUM_LANES + l];
    for (int j = 1; j < LEVELS; j++)
        for (int k = 0; k < ILP; k++)
            for (int l = 0; l < SUM_LANES; l++)
                acc[0][k][l] += acc[j][k][l];
    /* row_sum: vectors left over after the rows of 4 go into partial 0, then the
     * 4 partials are folded; vectorized_inner_sum adds the scalar tail, then the lanes. */
    for (int64_t v = rows * ILP; v < nvec; v++)
        for (int l = 0; l < SUM_LANES; l++)
            acc[0][0][l] += x[v * SUM_LANES + l];
    for (int k = 1; k < ILP; k++)
        for (int l = 0; l < SUM_LANES; l++)
            acc[0][0][l] += acc[0][k][l];
    float total = 0.0f;
    for (int64_t t = nvec * SUM_LANES; t < n; t++)
        total += x[t];
    for (int l = 0; l < SUM_LANES; l++)
        total += acc[0][0][l];
    return total;
}

/* torch.cumsum of float32 on CPU: the running sum is kept in double (ATen's
 * acc_type<float, is_cuda = false>) and each output rounded to float32. */
static void cumsum_f32(const float *x, int n, float *out)
{
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += x[i];
        out[i] = (float)acc;
    }
}

/* ---- torch.histc ---- */

/* The histc bound forward() passes for a range end: Python's int(), i.e. truncation
 * toward zero (1.13 calls torch.histc(x, bins, min=int(min_val), max=int(max_val))).
 * truncf is exact: |v| < 2^23 truncates to a small integer, larger floats already
 * are integers. Returning v here instead would give "bins over exactly [min, max]",
 * which is what the observer means to do but not what 1.13 does. */
static float histc_bound(const frost_histogram *h, float v)
{
    return h->torch113_int_bounds ? truncf(v) : v;
}

/* The bin of v for histc's LINEAR_INTERPOLATION path (ATen HistogramKernel.cpp):
 * pos = (int64)((v - lo) * nbins / (hi - lo)) in float32, and v == hi goes to the
 * last bin. The float -> int conversion is guarded: PyTorch's is undefined when the
 * quotient is NaN or huge, which needs a range overflowing float32. */
static int histc_bin(float v, float lo, float hi)
{
    float pos = (v - lo) * (float)NBINS / (hi - lo);
    if (!(pos >= 0.0f))
        return 0;
    if (pos >= (float)(NBINS - 1))
        return NBINS - 1;
    return (int)pos;
}

/* torch.histc(x, NBINS, min=lo, max=hi) added into out, over the finite values of x.
 * bmin/bmax are the batch's finite min/max, which histc uses when lo == hi; if those
 * are equal too, histc widens them to [v - 1, v + 1] (in double, then float32 edges). */
static void histc_add(int64_t n, const float *x, float lo, float hi, float bmin, float bmax,
                      float *out)
{
    if (lo == hi) {
        lo = bmin;
        hi = bmax;
    }
    if (lo == hi) {
        lo = (float)((double)lo - 1.0);
        hi = (float)((double)hi + 1.0);
    }
    /* Values outside [lo, hi] are not counted (NaN fails both tests as well). */
    for (int64_t i = 0; i < n; i++)
        if (x[i] >= lo && x[i] <= hi)
            out[histc_bin(x[i], lo, hi)] += 1.0f;
}

/* ---- forward() ---- */

/* Finite min and max of x; false if x has no finite value. */
static bool finite_minmax(int64_t n, const float *x, float *mn, float *mx)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
    *mn = lo;
    *mx = hi;
    return lo <= hi;
}

/* The first batch (or any batch after a zero-width range): min/max of the batch,
 * histogram replaced by histc over the truncated bounds. */
static void start_over(frost_histogram *h, int64_t n, const float *x, float bmin, float bmax)
{
    h->min = bmin;
    h->max = bmax;
    memset(h->bins, 0, sizeof h->bins);
    histc_add(n, x, histc_bound(h, bmin), histc_bound(h, bmax), bmin, bmax, h->bins);
    h->seen = true;
}

/* _adjust_min_max: a common grid for old and new histograms. The old bins are split
 * UPSAMPLE ways (width hbw); the new range covers a whole number `ds` of old-bin-widths
 * per new bin, so cmax is pushed up by the slack e. Returns false if the grid does not
 * exist in float32 (hbw underflows to 0 or the ratio overflows), where PyTorch fails. */
typedef struct {
    float cmin, cmax; /* combined range, cmax relaxed */
    int64_t ds;       /* downsample_rate: fine cells per new bin */
    int64_t start;    /* fine cell of the old min */
} merge_grid;

static bool adjust_min_max(const frost_histogram *h, float cmin, float cmax, merge_grid *g)
{
    float hbw = (h->max - h->min) / (float)(NBINS * UPSAMPLE);
    float old_span = (float)NBINS * hbw; /* self.bins * hist_bin_width */
    float ratio = ceilf((cmax - cmin) / old_span);
    if (!(ratio >= 1.0f && ratio <= (float)MAX_DOWNSAMPLE))
        return false;
    g->ds = (int64_t)ratio;
    float e = (float)g->ds * old_span - (cmax - cmin);
    g->cmin = cmin;
    g->cmax = cmax + e; /* only the max moves, so a one-sided range keeps min 0 */
    /* torch.round is round-half-even, as nearbyintf in the default rounding mode */
    float start = nearbyintf((h->min - cmin) / hbw);
    if (!(start >= 0.0f && start <= (float)NBINS * (float)MAX_DOWNSAMPLE))
        return false;
    g->start = (int64_t)start;
    return true;
}

/* _combine_histograms: new_bins += old histogram re-binned onto the grid g.
 * PyTorch builds a zero array of NBINS * ds fine cells, writes the old bins
 * (each repeated UPSAMPLE times) from cell g->start, takes the float64 cumsum,
 * reads it at the last cell of each new bin, differences it (the previous value
 * rounded to float32 first, as it passes through a float32 tensor), divides by
 * UPSAMPLE in double and rounds to float32. The zero cells add exactly nothing to
 * the running sum, so walking only the written cells gives the same doubles.
 * If the written cells would run past the array, PyTorch raises; they are dropped. */
static void combine_histograms(float *new_bins, const float *old, const merge_grid *g)
{
    const int64_t written = (int64_t)NBINS * UPSAMPLE;
    const int64_t len = (int64_t)NBINS * g->ds;
    int64_t m = 0;         /* next written cell, relative to g->start */
    double integral = 0.0; /* cumsum up to the current cell */
    float prev_f32 = 0.0f; /* shifted_integral_histogram[k]: the previous value as float32 */
    for (int64_t k = 0; k < NBINS; k++) {
        int64_t last_cell = (k + 1) * g->ds - 1;
        while (m < written && g->start + m <= last_cell && g->start + m < len) {
            integral += (double)old[m / UPSAMPLE];
            m++;
        }
        double interpolated = (integral - (double)prev_f32) / UPSAMPLE;
        new_bins[k] = new_bins[k] + (float)interpolated;
        prev_f32 = (float)integral;
    }
}

/* forward() for a batch after the first: widen the range, re-bin, add. */
static frost_status merge_batch(frost_histogram *h, int64_t n, const float *x, float bmin,
                                float bmax)
{
    float cmin = bmin < h->min ? bmin : h->min; /* torch.min / torch.max (no NaN here) */
    float cmax = bmax > h->max ? bmax : h->max;
    merge_grid g;
    if (!adjust_min_max(h, cmin, cmax, &g)) {
        start_over(h, n, x, bmin, bmax);
        return FROST_OK;
    }
    float *bins = calloc(NBINS, sizeof *bins);
    if (!bins)
        return frost_fail(FROST_ERR_NOMEM, "out of memory in a histogram observer");
    histc_add(n, x, histc_bound(h, g.cmin), histc_bound(h, g.cmax), bmin, bmax, bins);
    if (g.cmin == h->min && g.cmax == h->max) {
        for (int i = 0; i < NBINS; i++) /* same grid: combined_histogram += histogram */
            bins[i] = bins[i] + h->bins[i];
    } else {
        combine_histograms(bins, h->bins, &g);
    }
    memcpy(h->bins, bins, sizeof h->bins);
    free(bins);
    h->min = g.cmin;
    h->max = g.cmax;
    return FROST_OK;
}

frost_status frost_histogram_observe(frost_histogram *h, int64_t n, const float *x)
{
    float bmin, bmax;
    if (!finite_minmax(n, x, &bmin, &bmax))
        return FROST_OK; /* like an empty tensor: nothing changes */
    /* PyTorch restarts when uninitialized and also when min == max (same_values),
     * discarding the old counts in the latter case. */
    if (!h->seen || h->min == h->max) {
        start_over(h, n, x, bmin, bmax);
        return FROST_OK;
    }
    return merge_batch(h, n, x, bmin, bmax);
}

/* ---- _non_linear_param_search ---- */

/* torch.div(a, b, rounding_mode='floor') for float32 (c10::div_floor_floating):
 * Python's floor division built on fmod, which differs from floorf(a / b) when
 * a / b rounds up to an integer. */
static float div_floor(float a, float b)
{
    if (b == 0.0f)
        return a / b;
    float mod = fmodf(a, b);
    float div = (a - mod) / b;
    if (mod != 0.0f && (b < 0.0f) != (mod < 0.0f))
        div -= 1.0f;
    if (div == 0.0f)
        return copysignf(0.0f, a / b);
    float floordiv = floorf(div);
    if (div - floordiv > 0.5f)
        floordiv += 1.0f;
    return floordiv;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* _get_norm: density * (end^3 - begin^3) / 3, float32, products left to right. */
static float get_norm(float begin, float end, float density)
{
    float norm = (end * end * end - begin * begin * begin) / 3.0f;
    return density * norm;
}

/* The constants of _compute_quantization_error for one candidate [start, end] bin
 * range: the Python doubles, and their float32 roundings where they meet tensors. */
typedef struct {
    float bin_width;  /* (float)bin_width */
    float dst_width;  /* (float)dst_bin_width */
    float half;       /* (float)(dst_bin_width / 2) */
    float neg_half;   /* (float)(-dst_bin_width / 2) */
    float dst_max;    /* dst_nbins - 1 */
    float inner_norm; /* _get_norm(tensor(-w/2), tensor(w/2), 1) without the density */
} qerr_consts;

/* The float32 L2 error of bin i, the three terms of _compute_quantization_error. */
static float bin_error(const qerr_consts *c, int i, int start, float count)
{
    float begin = (float)(i - start) * c->bin_width; /* (arange - start) * bin_width */
    float end = begin + c->bin_width;
    float dst_begin = clampf(div_floor(begin, c->dst_width), 0.0f, c->dst_max);
    float dst_begin_center = (dst_begin + 0.5f) * c->dst_width;
    float dst_end = clampf(div_floor(end, c->dst_width), 0.0f, c->dst_max);
    float density = count / c->bin_width;
    /* the part of src bin i inside its first dst bin */
    float norm = 0.0f + get_norm(begin - dst_begin_center, c->half, density);
    /* the dst bins it covers completely */
    norm = norm + (dst_end - dst_begin - 1.0f) * (density * c->inner_norm);
    /* the part inside its last dst bin */
    float dst_end_center = dst_end * c->dst_width + c->half;
    norm = norm + get_norm(c->neg_half, end - dst_end_center, density);
    return norm;
}

/* _compute_quantization_error(start, end): the summed L2 error (a Python float) of
 * quantizing the histogram to dst_bins levels over bins [start, end]. */
static double quant_error(const frost_histogram *h, int dst_bins, int start, int end,
                          float *scratch)
{
    double bin_width = ((double)h->max - (double)h->min) / NBINS; /* from .item() */
    double dst_width = bin_width * (double)(end - start + 1) / (double)dst_bins;
    if (dst_width == 0.0)
        return 0.0;
    qerr_consts c;
    c.bin_width = (float)bin_width;
    c.dst_width = (float)dst_width;
    c.half = (float)(dst_width / 2);
    c.neg_half = (float)(-dst_width / 2);
    c.dst_max = (float)(dst_bins - 1);
    /* torch.tensor(w/2)^3 - torch.tensor(-w/2)^3, / 3, all float32 */
    c.inner_norm = (c.half * c.half * c.half - c.neg_half * c.neg_half * c.neg_half) / 3.0f;
    for (int i = 0; i < NBINS; i++)
        scratch[i] = bin_error(&c, i, start, h->bins[i]);
    return (double)cascade_sum(scratch, NBINS);
}

/* One step of the search: from [*start, *end], the candidate that drops the
 * tail holding 1e-5 more of the mass on whichever side frees more bins. Returns
 * false (and leaves the candidate equal) when the bins do not move. */
typedef struct {
    const float *csum; /* cumulative counts (float32) */
    double total;      /* torch.sum(histogram).item() */
    double alpha, beta;
} search_state;

static bool next_candidate(search_state *s, int start, int end, int *ns, int *ne)
{
    double next_alpha = s->alpha + 1e-5, next_beta = s->beta - 1e-5;
    /* cSum[l] < next_alpha * total: the Python float is rounded to float32 to meet
     * the float32 element */
    float lo_mass = (float)(next_alpha * s->total), hi_mass = (float)(next_beta * s->total);
    int l = start, r = end;
    while (l < end && s->csum[l] < lo_mass)
        l++;
    while (r > start && s->csum[r] > hi_mass)
        r--;
    *ns = start;
    *ne = end;
    if (l - start > end - r) {
        *ns = l;
        s->alpha = next_alpha;
    } else {
        *ne = r;
        s->beta = next_beta;
    }
    return *ns != start || *ne != end;
}

/* Runs the search; returns the chosen [start, end] bins through the pointers. */
static void search_bins(const frost_histogram *h, int dst_bins, float *scratch, const float *csum,
                        int *start_bin, int *end_bin)
{
    search_state s = {csum, (double)cascade_sum(h->bins, NBINS), 0.0, 1.0};
    int start = 0, end = NBINS - 1;
    double norm_min = INFINITY;
    while (s.alpha < s.beta) {
        int ns, ne;
        if (!next_candidate(&s, start, end, &ns, &ne))
            continue;
        double norm = quant_error(h, dst_bins, ns, ne, scratch);
        if (norm > norm_min)
            break;
        norm_min = norm;
        start = ns;
        end = ne;
    }
    *start_bin = start;
    *end_bin = end;
}

void frost_histogram_search(const frost_histogram *h, int dst_bins, float *mn, float *mx)
{
    /* Two NBINS scratch arrays (per-bin errors, cumulative counts) on the stack:
     * 16 KiB, and this function has no way to report an allocation failure. */
    float scratch[NBINS], csum[NBINS];
    cumsum_f32(h->bins, NBINS, csum);
    int start, end;
    search_bins(h, dst_bins, scratch, csum, &start, &end);
    /* new_min = min_val + bin_width * start_bin, bin_width a float32 tensor */
    float bin_width = (h->max - h->min) / (float)NBINS;
    *mn = h->min + bin_width * (float)start;
    *mx = h->min + bin_width * (float)(end + 1);
}

/* ---- percentile ---- */

/* Upper edge of bin i; the last bin's is max itself (no rounding on the way). */
static float upper_edge(const frost_histogram *h, int i)
{
    if (i >= NBINS - 1)
        return h->max;
    double lo = h->min, hi = h->max;
    return (float)(lo + (hi - lo) * (double)(i + 1) / NBINS);
}

float frost_histogram_quantile(const frost_histogram *h, double p)
{
    if (!(p > 0.0))
        return h->min;
    if (p >= 1.0)
        return h->max;
    double total = 0.0;
    for (int i = 0; i < NBINS; i++)
        total += h->bins[i];
    double target = p * total, cum = 0.0;
    for (int i = 0; i < NBINS; i++) {
        cum += h->bins[i];
        if (cum >= target)
            return upper_edge(h, i);
    }
    return h->max;
}
