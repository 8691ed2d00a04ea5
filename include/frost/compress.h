/*
 * Deep Compression weight sharing (docs/kmeans.md): per-layer magnitude pruning, 1-D k-means
 * of the weights into 2^bits shared values (a float codebook plus one index per weight),
 * centroid fine-tuning from summed gradients, and a size report with Huffman-coded indices.
 *
 * Clustering one tensor of n weights:
 *   - Pruning (fraction p > 0): the floor(p * n) weights of least |w| are set to exactly 0
 *     (equal magnitudes: the earlier position first). The layer is then sparse: its weights
 *     that are 0 (pruned or already 0) are not clustered and stay 0; the others are.
 *     Without pruning the layer is dense and every weight, 0 included, gets a centroid.
 *   - k = 2^bits centroids, linearly initialised over the clustered weights:
 *     c_j = min + (max - min) * j / (k - 1).
 *   - Lloyd iterations: every weight goes to the nearest centroid (equally near two: the
 *     lower index), then each centroid becomes the mean of its weights (a centroid with no
 *     weights keeps its value). Stops when no assignment changes, or after max_iter.
 *     In 1-D the centroids stay in ascending order and each cluster is a run of the sorted
 *     weights, so an iteration finds k - 1 cut points and takes means from prefix sums (in
 *     double, over the weights in ascending order): the same on every run and machine.
 *   - Fine-tuning: dL/dc_j = sum of dL/dw_i over the weights with index j;
 *     c_j -= lr * dL/dc_j; then w_i = c_{idx_i} (pruned weights stay 0).
 *
 * Sizes (bits): a compressed layer costs its indices, its codebook (32 bits per centroid)
 * and, when sparse, its index gaps. The indices (and gaps) are counted fixed-width and
 * canonically Huffman-coded (frost/huffman.h). Sparse layers store, for each non-zero weight
 * in order, the number of zeros skipped since the previous stored entry in gap_bits bits
 * (8 for conv, 5 for linear, as the paper does); a run of zeros longer than 2^gap_bits - 1
 * stores a filler entry (gap 2^gap_bits - 1, value 0, an extra index symbol k) first.
 */
#ifndef FROST_COMPRESS_H
#define FROST_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/huffman.h"
#include "frost/model.h"
#include "frost/status.h"

#define FROST_KMEANS_MAX_BITS 8
#define FROST_KMEANS_MAX_ITER 300 /* the default cap of Lloyd iterations */
/* The version of the compressed checkpoint storage (docs/kmeans.md), "frost.kmeans". */
#define FROST_KMEANS_FORMAT_VERSION "1"
#define FROST_KMEANS_PRUNED         (-1) /* the index of a pruned (zero) weight */

/* One clustered tensor. */
typedef struct {
    int bits, k;       /* k = 2^bits */
    int64_t n;         /* weights */
    int64_t clustered; /* weights with a centroid (n when dense) */
    bool sparse;       /* pruned: the weights with index FROST_KMEANS_PRUNED are 0 */
    float *codebook;   /* [k], ascending after clustering (fine-tuning may reorder) */
    int16_t *idx;      /* [n]: 0..k-1, or FROST_KMEANS_PRUNED */
    int iterations;    /* centroid updates made */
    bool converged;    /* the last assignment changed nothing (false: max_iter was reached) */
} frost_kmeans_layer;

/* Prunes (prune_fraction in [0, 1)) and clusters w[n] into 2^bits centroids (1 <= bits <= 8)
 * with at most max_iter Lloyd iterations (<= 0: FROST_KMEANS_MAX_ITER). Fails on
 * non-finite weights. Free with frost_kmeans_layer_free. */
frost_status frost_kmeans_cluster(const float *w, int64_t n, int bits, float prune_fraction,
                                  int max_iter, frost_kmeans_layer *out);
/* The same, starting from given centroids init[2^bits] (any order: they are sorted) instead
 * of the linear initialisation. */
frost_status frost_kmeans_cluster_from(const float *w, int64_t n, int bits, float prune_fraction,
                                       int max_iter, const float *init, frost_kmeans_layer *out);
void frost_kmeans_layer_free(frost_kmeans_layer *l);

/* The linear initialisation of k centroids over [mn, mx]. */
void frost_kmeans_linear_init(float mn, float mx, int k, float *c);

/* w[n] = codebook[idx] (0 where pruned). */
void frost_kmeans_decode(const frost_kmeans_layer *l, float *w);

/* grad_sum[k] = per centroid, the sum of dw over its weights (pruned weights count nowhere). */
void frost_kmeans_centroid_grad(const frost_kmeans_layer *l, const float *dw, double *grad_sum);

/* One fine-tuning step: codebook -= lr * centroid gradient (from dw), then w = decode. */
void frost_kmeans_finetune_step(frost_kmeans_layer *l, const float *dw, float lr, float *w);

/* ---- sizes ---- */
typedef struct {
    int64_t weights, nonzero; /* nonzero: weights with a centroid */
    int64_t entries;          /* stored entries: nonzero, plus fillers when sparse */
    int64_t fillers;          /* filler entries (sparse only) */
    int gap_bits;             /* 0 when dense */
    uint64_t index_bits_fixed, index_bits_huffman; /* entries * bits; Huffman-coded */
    uint64_t gap_bits_fixed, gap_bits_huffman;     /* entries * gap_bits; Huffman-coded */
    uint64_t codebook_bits;                        /* 32 * k */
    uint64_t total_bits_fixed, total_bits;         /* the sums; total_bits uses Huffman */
    double bits_per_weight;                        /* total_bits / weights */
    double ratio;                                  /* 32 * weights / total_bits */
} frost_kmeans_size;

/* The size of a clustered layer (gap_bits: 8 for conv, 5 for linear; used when sparse). */
frost_status frost_kmeans_layer_size(const frost_kmeans_layer *l, int gap_bits,
                                     frost_kmeans_size *out);

/* ---- whole models ---- */
typedef struct {
    int conv_bits, fc_bits; /* 1..8; fc_bits for linear layers */
    float prune;            /* fraction in [0, 1) pruned per layer (0: none) */
    int max_iter;           /* <= 0: FROST_KMEANS_MAX_ITER */
} frost_kmeans_options;

typedef struct {
    char name[96]; /* the weight tensor, "<layer>.weight" */
    int node;      /* the conv / linear node */
    int param;     /* index into the model's params */
    bool linear;
    frost_kmeans_layer layer;
    frost_kmeans_size size;
} frost_kmeans_entry;

typedef struct {
    int n;
    frost_kmeans_entry *layers;
    frost_kmeans_size total; /* sums; ratio and bits per weight over all compressed weights */
} frost_kmeans_model;

/* Clusters every conv / linear weight of a float model (a fake-quant model is refused) and
 * writes the decoded (shared) weights into the model. Free with frost_kmeans_model_free. */
frost_status frost_kmeans_compress_model(frost_model *m, const frost_kmeans_options *o,
                                         frost_kmeans_model **out);
/* One fine-tuning step of every layer from the model's current weight gradients. */
void frost_kmeans_model_finetune_step(frost_kmeans_model *km, frost_model *m, float lr);
/* Computes every layer's size and the total from the layers' indices (compress_model does
 * it; fine-tuning moves centroids only, which leaves the sizes as they are). */
frost_status frost_kmeans_model_sizes(frost_kmeans_model *km);
void frost_kmeans_model_free(frost_kmeans_model *km);

/* Validates and decodes one stored layer: its n indices (idx8, or idx32 when the codebook has
 * more than 256 entries; the other is NULL), each below n_codes, through codebook[n_codes]
 * (finite values) into w[n]. `what` names the tensor in the error. */
frost_status frost_kmeans_decode_checked(const char *what, int64_t n, const uint8_t *idx8,
                                         const int32_t *idx32, const float *codebook, int n_codes,
                                         float *w);

#endif
