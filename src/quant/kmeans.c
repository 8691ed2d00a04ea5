/*
 * Deep Compression weight sharing (frost/compress.h): pruning, 1-D k-means with linear
 * initialisation, centroid fine-tuning, and the Huffman-coded size of a clustered layer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "frost/compress.h"
#include "models/graph.h"

void frost_kmeans_linear_init(float mn, float mx, int k, float *c)
{
    for (int j = 0; j < k; j++)
        c[j] = k == 1 ? mn : (float)((double)mn + ((double)mx - mn) * j / (k - 1));
}

/* ---- pruning ---- */

typedef struct {
    float mag;
    int64_t pos;
} magnitude;

static int by_magnitude(const void *a, const void *b)
{
    const magnitude *x = a, *y = b;
    if (x->mag != y->mag)
        return x->mag < y->mag ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Marks the floor(fraction * n) weights of least |w| pruned (earlier position first among
 * equal magnitudes), and every other weight that is exactly 0. */
static frost_status prune(const float *w, int64_t n, float fraction, int16_t *idx)
{
    int64_t count = (int64_t)floor((double)fraction * (double)n);
    magnitude *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (!order)
        return frost_fail(FROST_ERR_NOMEM, "k-means: out of memory pruning %lld weights",
                          (long long)n);
    for (int64_t i = 0; i < n; i++)
        order[i] = (magnitude){fabsf(w[i]), i};
    qsort(order, (size_t)n, sizeof *order, by_magnitude);
    for (int64_t i = 0; i < n; i++)
        idx[i] = w[i] == 0.0f ? FROST_KMEANS_PRUNED : 0;
    for (int64_t i = 0; i < count; i++)
        idx[order[i].pos] = FROST_KMEANS_PRUNED;
    free(order);
    return FROST_OK;
}

/* ---- Lloyd iterations ---- */

/* The nearest of the ascending centroids c[k] (equally near: the lower index). */
static int nearest(const float *c, int k, float x)
{
    int lo = 0, hi = k; /* first centroid >= x */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == k)
        return k - 1;
    if (lo == 0)
        return 0;
    /* the first of equal centroids below x, so ties among duplicates go low too */
    int below = lo - 1;
    while (below > 0 && c[below - 1] == c[below])
        below--;
    double up = (double)c[lo] - x, down = (double)x - c[below];
    return up < down ? lo : below;
}

/* In 1-D with sorted centroids, the nearest centroid never decreases as the weight grows, so
 * each cluster is a run of the sorted weights: an iteration only has to find the k - 1 cut
 * points (binary searches) and take each run's mean from prefix sums, O(k log n) instead of
 * O(n log k). The assignment, and so the result, is the one of the plain algorithm. */
typedef struct {
    float *v;       /* the clustered weights, ascending */
    double *prefix; /* prefix[i] = v[0] + ... + v[i-1], summed in that order */
    int64_t m;
} sorted_weights;

/* The first position of v whose nearest centroid is above j (m if none). */
static int64_t first_above(const sorted_weights *sw, const float *c, int k, int j)
{
    int64_t lo = 0, hi = sw->m;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (nearest(c, k, sw->v[mid]) > j)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* end[j]: one past the last sorted weight of cluster j. Returns whether any end moved. */
static bool find_cuts(const sorted_weights *sw, const float *c, int k, int64_t *end)
{
    bool moved = false;
    for (int j = 0; j < k; j++) {
        int64_t e = j == k - 1 ? sw->m : first_above(sw, c, k, j);
        moved |= e != end[j];
        end[j] = e;
    }
    return moved;
}

static void update_means(const sorted_weights *sw, const int64_t *end, int k, float *c)
{
    int64_t start = 0;
    for (int j = 0; j < k; j++) {
        if (end[j] > start) /* an empty cluster keeps its centroid */
            c[j] = (float)((sw->prefix[end[j]] - sw->prefix[start]) / (double)(end[j] - start));
        start = end[j];
    }
}

static int ascending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static frost_status check_args(const float *w, int64_t n, int bits, float prune_fraction)
{
    if (bits < 1 || bits > FROST_KMEANS_MAX_BITS)
        return frost_fail(FROST_ERR_ARG, "k-means: %d bits (1..%d)", bits, FROST_KMEANS_MAX_BITS);
    if (!(prune_fraction >= 0.0f && prune_fraction < 1.0f))
        return frost_fail(FROST_ERR_ARG, "k-means: prune fraction %g (0 <= p < 1)",
                          (double)prune_fraction);
    if (n < 1)
        return frost_fail(FROST_ERR_ARG, "k-means: %lld weights", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return frost_fail(FROST_ERR_NUMERIC, "k-means: weight %lld is not finite",
                              (long long)i);
    return FROST_OK;
}

static frost_status cluster(const float *w, int64_t n, int bits, float prune_fraction, int max_iter,
                            const float *init, frost_kmeans_layer *out)
{
    memset(out, 0, sizeof *out);
    FROST_TRY(check_args(w, n, bits, prune_fraction));
    int k = 1 << bits;
    out->bits = bits;
    out->k = k;
    out->n = n;
    out->sparse = prune_fraction > 0.0f;
    out->codebook = calloc((size_t)k, sizeof *out->codebook);
    out->idx = calloc((size_t)n, sizeof *out->idx);
    int64_t *end = malloc((size_t)k * sizeof *end);
    sorted_weights sw = {0};
    frost_status s = FROST_OK;
    if (!out->codebook || !out->idx || !end) {
        s = frost_fail(FROST_ERR_NOMEM, "k-means: out of memory for %lld weights", (long long)n);
        goto done;
    }
    if (out->sparse && (s = prune(w, n, prune_fraction, out->idx)) != FROST_OK)
        goto done;
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (out->idx[i] != FROST_KMEANS_PRUNED) {
            mn = fminf(mn, w[i]);
            mx = fmaxf(mx, w[i]);
            out->clustered++;
        }
    if (out->clustered == 0) { /* all pruned: nothing to cluster, the codebook is zeros */
        out->converged = true;
        goto done;
    }
    if (init) {
        memcpy(out->codebook, init, (size_t)k * sizeof *init);
        qsort(out->codebook, (size_t)k, sizeof *out->codebook, ascending);
    } else {
        frost_kmeans_linear_init(mn, mx, k, out->codebook);
    }
    if (max_iter <= 0)
        max_iter = FROST_KMEANS_MAX_ITER;
    sw.m = out->clustered;
    sw.v = malloc((size_t)sw.m * sizeof *sw.v);
    sw.prefix = malloc((size_t)(sw.m + 1) * sizeof *sw.prefix);
    if (!sw.v || !sw.prefix) {
        s = frost_fail(FROST_ERR_NOMEM, "k-means: out of memory for %lld weights", (long long)n);
        goto done;
    }
    for (int64_t i = 0, at = 0; i < n; i++)
        if (out->idx[i] != FROST_KMEANS_PRUNED)
            sw.v[at++] = w[i];
    qsort(sw.v, (size_t)sw.m, sizeof *sw.v, ascending);
    sw.prefix[0] = 0.0;
    for (int64_t i = 0; i < sw.m; i++)
        sw.prefix[i + 1] = sw.prefix[i] + sw.v[i];
    for (int j = 0; j < k; j++)
        end[j] = -1; /* no assignment yet: the first one counts as a change */
    while (out->iterations < max_iter) {
        if (!find_cuts(&sw, out->codebook, k, end)) {
            out->converged = true;
            break;
        }
        update_means(&sw, end, k, out->codebook);
        out->iterations++;
    }
    for (int64_t i = 0; i < n; i++) /* the indices of the final centroids */
        if (out->idx[i] != FROST_KMEANS_PRUNED)
            out->idx[i] = (int16_t)nearest(out->codebook, k, w[i]);
done:
    free(sw.v);
    free(sw.prefix);
    free(end);
    if (s != FROST_OK)
        frost_kmeans_layer_free(out);
    return s;
}

frost_status frost_kmeans_cluster(const float *w, int64_t n, int bits, float prune_fraction,
                                  int max_iter, frost_kmeans_layer *out)
{
    return cluster(w, n, bits, prune_fraction, max_iter, NULL, out);
}

frost_status frost_kmeans_cluster_from(const float *w, int64_t n, int bits, float prune_fraction,
                                       int max_iter, const float *init, frost_kmeans_layer *out)
{
    return cluster(w, n, bits, prune_fraction, max_iter, init, out);
}

void frost_kmeans_layer_free(frost_kmeans_layer *l)
{
    free(l->codebook);
    free(l->idx);
    l->codebook = NULL;
    l->idx = NULL;
}

void frost_kmeans_decode(const frost_kmeans_layer *l, float *w)
{
    for (int64_t i = 0; i < l->n; i++)
        w[i] = l->idx[i] == FROST_KMEANS_PRUNED ? 0.0f : l->codebook[l->idx[i]];
}

void frost_kmeans_centroid_grad(const frost_kmeans_layer *l, const float *dw, double *grad_sum)
{
    memset(grad_sum, 0, (size_t)l->k * sizeof *grad_sum);
    for (int64_t i = 0; i < l->n; i++)
        if (l->idx[i] != FROST_KMEANS_PRUNED)
            grad_sum[l->idx[i]] += dw[i];
}

void frost_kmeans_finetune_step(frost_kmeans_layer *l, const float *dw, float lr, float *w)
{
    double g[1 << FROST_KMEANS_MAX_BITS];
    frost_kmeans_centroid_grad(l, dw, g);
    for (int j = 0; j < l->k; j++)
        l->codebook[j] = (float)((double)l->codebook[j] - (double)lr * g[j]);
    frost_kmeans_decode(l, w);
}

frost_status frost_kmeans_decode_checked(const char *what, int64_t n, const uint8_t *idx8,
                                         const int32_t *idx32, const float *codebook, int n_codes,
                                         float *w)
{
    if (n_codes < 1 || n_codes > (1 << FROST_KMEANS_MAX_BITS) + 1)
        return frost_fail(FROST_ERR_FORMAT, "%s: a codebook of %d values (1..%d)", what, n_codes,
                          (1 << FROST_KMEANS_MAX_BITS) + 1);
    if ((idx8 == NULL) == (idx32 == NULL))
        return frost_fail(FROST_ERR_ARG, "%s: give the indices as uint8 or int32", what);
    for (int j = 0; j < n_codes; j++)
        if (!isfinite(codebook[j]))
            return frost_fail(FROST_ERR_FORMAT, "%s: codebook value %d is not finite", what, j);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = idx8 ? idx8[i] : idx32[i];
        if (j < 0 || j >= n_codes)
            return frost_fail(FROST_ERR_FORMAT,
                              "%s: index %lld of weight %lld is outside the codebook of %d values",
                              what, (long long)j, (long long)i, n_codes);
        w[i] = codebook[j];
    }
    return FROST_OK;
}

/* ---- sizes ---- */

/* The Huffman-coded size of a message given as symbol counts. */
static frost_status huffman_bits(int n_symbols, const uint64_t *freq, uint64_t *bits)
{
    uint8_t len[FROST_HUFFMAN_MAX_SYMBOLS];
    FROST_TRY(frost_huffman_lengths(n_symbols, freq, len));
    *bits = frost_huffman_total_bits(n_symbols, freq, len);
    return FROST_OK;
}

static int bits_for(int symbols)
{
    int b = 0;
    while ((1 << b) < symbols)
        b++;
    return b;
}

/* Counts the stored entries of a sparse layer: per non-zero weight its gap (zeros since the
 * previous entry), with a filler entry (index symbol k) before a gap too long for gap_bits. */
static void count_sparse(const frost_kmeans_layer *l, int gap_bits, uint64_t *index_freq,
                         uint64_t *gap_freq, frost_kmeans_size *z)
{
    int64_t max_gap = ((int64_t)1 << gap_bits) - 1, run = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (l->idx[i] == FROST_KMEANS_PRUNED) {
            run++;
            continue;
        }
        while (run > max_gap) { /* the filler stands for the zero after max_gap zeros */
            gap_freq[max_gap]++;
            index_freq[l->k]++;
            z->fillers++;
            run -= max_gap + 1;
        }
        gap_freq[run]++;
        index_freq[l->idx[i]]++;
        z->nonzero++;
        run = 0;
    }
    z->entries = z->nonzero + z->fillers;
}

frost_status frost_kmeans_layer_size(const frost_kmeans_layer *l, int gap_bits,
                                     frost_kmeans_size *z)
{
    memset(z, 0, sizeof *z);
    if (l->sparse && (gap_bits < 1 || gap_bits > 8))
        return frost_fail(FROST_ERR_ARG, "k-means size: %d-bit gaps (1..8)", gap_bits);
    uint64_t index_freq[(1 << FROST_KMEANS_MAX_BITS) + 1] = {0}, gap_freq[256] = {0};
    z->weights = l->n;
    if (l->sparse) {
        z->gap_bits = gap_bits;
        count_sparse(l, gap_bits, index_freq, gap_freq, z);
        FROST_TRY(huffman_bits(1 << gap_bits, gap_freq, &z->gap_bits_huffman));
        z->gap_bits_fixed = (uint64_t)z->entries * (uint64_t)gap_bits;
    } else {
        for (int64_t i = 0; i < l->n; i++)
            index_freq[l->idx[i]]++;
        z->nonzero = z->entries = l->n;
    }
    /* fillers need one more index symbol, which a fixed width must be able to spell */
    int symbols = l->k + (z->fillers > 0);
    z->index_bits_fixed = (uint64_t)z->entries * (uint64_t)bits_for(symbols);
    FROST_TRY(huffman_bits(l->k + 1, index_freq, &z->index_bits_huffman));
    z->codebook_bits = 32u * (uint64_t)l->k;
    z->total_bits_fixed = z->index_bits_fixed + z->gap_bits_fixed + z->codebook_bits;
    z->total_bits = z->index_bits_huffman + z->gap_bits_huffman + z->codebook_bits;
    z->bits_per_weight = (double)z->total_bits / (double)z->weights;
    z->ratio = 32.0 * (double)z->weights / (double)z->total_bits;
    return FROST_OK;
}

/* ---- whole models ---- */

static void add_size(frost_kmeans_size *t, const frost_kmeans_size *z)
{
    t->weights += z->weights;
    t->nonzero += z->nonzero;
    t->entries += z->entries;
    t->fillers += z->fillers;
    t->index_bits_fixed += z->index_bits_fixed;
    t->index_bits_huffman += z->index_bits_huffman;
    t->gap_bits_fixed += z->gap_bits_fixed;
    t->gap_bits_huffman += z->gap_bits_huffman;
    t->codebook_bits += z->codebook_bits;
    t->total_bits_fixed += z->total_bits_fixed;
    t->total_bits += z->total_bits;
}

frost_status frost_kmeans_model_sizes(frost_kmeans_model *km)
{
    memset(&km->total, 0, sizeof km->total);
    for (int i = 0; i < km->n; i++) {
        frost_kmeans_entry *e = &km->layers[i];
        FROST_TRY(frost_kmeans_layer_size(&e->layer, e->linear ? 5 : 8, &e->size));
        add_size(&km->total, &e->size);
    }
    if (km->total.total_bits > 0) {
        km->total.bits_per_weight = (double)km->total.total_bits / (double)km->total.weights;
        km->total.ratio = 32.0 * (double)km->total.weights / (double)km->total.total_bits;
    }
    return FROST_OK;
}

static frost_status check_options(const frost_kmeans_options *o)
{
    if (o->conv_bits < 1 || o->conv_bits > FROST_KMEANS_MAX_BITS || o->fc_bits < 1 ||
        o->fc_bits > FROST_KMEANS_MAX_BITS)
        return frost_fail(FROST_ERR_ARG, "k-means: %d conv bits and %d linear bits (1..%d each)",
                          o->conv_bits, o->fc_bits, FROST_KMEANS_MAX_BITS);
    if (!(o->prune >= 0.0f && o->prune < 1.0f))
        return frost_fail(FROST_ERR_ARG, "k-means: prune fraction %g (0 <= p < 1)",
                          (double)o->prune);
    return FROST_OK;
}

frost_status frost_kmeans_compress_model(frost_model *m, const frost_kmeans_options *o,
                                         frost_kmeans_model **out)
{
    *out = NULL;
    FROST_TRY(check_options(o));
    if (m->quant.active)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "k-means: model '%s' is fake-quantized; compress its float model",
                          m->name);
    frost_kmeans_model *km = calloc(1, sizeof *km);
    if (!km || !(km->layers = calloc((size_t)m->n_nodes, sizeof *km->layers))) {
        free(km);
        return frost_fail(FROST_ERR_NOMEM, "k-means: out of memory");
    }
    frost_status s = FROST_OK;
    for (int ni = 0; ni < m->n_nodes && s == FROST_OK; ni++) {
        const frost_node *nd = &m->nodes[ni];
        if ((nd->op != FROST_OP_CONV && nd->op != FROST_OP_LINEAR) || nd->weight < 0)
            continue;
        frost_param *p = &m->params[nd->weight];
        frost_kmeans_entry *e = &km->layers[km->n];
        snprintf(e->name, sizeof e->name, "%s", p->name);
        e->node = ni;
        e->param = nd->weight;
        e->linear = nd->op == FROST_OP_LINEAR;
        s = frost_kmeans_cluster(p->data, p->numel, e->linear ? o->fc_bits : o->conv_bits, o->prune,
                                 o->max_iter, &e->layer);
        if (s != FROST_OK) { /* name the layer (the message is copied: fail rewrites it) */
            char why[256];
            snprintf(why, sizeof why, "%s", frost_last_error());
            s = frost_fail(s, "%s: %s", p->name, why);
            break;
        }
        km->n++;
        frost_kmeans_decode(&e->layer, p->data);
    }
    if (s == FROST_OK)
        s = frost_kmeans_model_sizes(km);
    if (s != FROST_OK) {
        frost_kmeans_model_free(km);
        return s;
    }
    *out = km;
    return FROST_OK;
}

void frost_kmeans_model_finetune_step(frost_kmeans_model *km, frost_model *m, float lr)
{
    for (int i = 0; i < km->n; i++) {
        frost_param *p = &m->params[km->layers[i].param];
        frost_kmeans_finetune_step(&km->layers[i].layer, p->grad, lr, p->data);
    }
}

void frost_kmeans_model_free(frost_kmeans_model *km)
{
    if (!km)
        return;
    for (int i = 0; i < km->n; i++)
        frost_kmeans_layer_free(&km->layers[i].layer);
    free(km->layers);
    free(km);
}
