/*
 * Softmax cross-entropy with label smoothing, PyTorch semantics
 * (F.cross_entropy(..., label_smoothing=eps), mean reduction): the target of a
 * row is t = (1-eps)*onehot(label) + eps/k, and
 *   loss = logsumexp(z) - sum_j t_j z_j,   dloss/dz = softmax(z) - t.
 * Work is in double and shifted by the row maximum, so large logits neither
 * overflow nor lose the small terms. A batch is tens of rows of ~10 classes:
 * one thread is plenty, and keeps the sum order fixed.
 */
#include <math.h>

#include "ops/ops.h"

typedef struct {
    double loss;
    int argmax;
} xent_row;

/* One row: its loss, its argmax (first maximum), and, if d is non-NULL,
 * d[j] = (softmax_j - t_j) * inv_n. */
static xent_row xent_one_row(int k, const float *z, int label, double eps, double inv_n, float *d)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[best])
            best = j;
    double zmax = z[best], sum_exp = 0.0, sum_z = 0.0;
    for (int j = 0; j < k; j++) {
        sum_exp += exp((double)z[j] - zmax);
        sum_z += z[j];
    }
    double lse = zmax + log(sum_exp);
    double off = eps / k; /* smoothing mass per class */
    xent_row r = {lse - (1.0 - eps) * z[label] - off * sum_z, best};
    if (d)
        for (int j = 0; j < k; j++) {
            double target = off + (j == label ? 1.0 - eps : 0.0);
            d[j] = (float)((exp((double)z[j] - zmax) / sum_exp - target) * inv_n);
        }
    return r;
}

float frost_softmax_xent(int n, int k, const float *logits, const uint8_t *labels, float smoothing,
                         float *dlogits, int *correct)
{
    double total = 0.0, inv_n = n > 0 ? 1.0 / n : 0.0;
    int right = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * k;
        float *d = dlogits ? dlogits + (int64_t)i * k : NULL;
        if (labels[i] >= k) {
            /* A label outside [0, k) has no defined loss: report NaN (which the
             * trainer's finiteness check catches) and give it no gradient. */
            total = NAN;
            for (int j = 0; d && j < k; j++)
                d[j] = 0.0f;
            continue;
        }
        xent_row r = xent_one_row(k, z, labels[i], smoothing, inv_n, d);
        total += r.loss;
        right += r.argmax == labels[i];
    }
    if (correct)
        *correct = right;
    return n > 0 ? (float)(total * inv_n) : 0.0f;
}
