/*
 * Fully connected layer: y[n, out] = x[n, in] * w[out, in]^T + b, as sgemm calls.
 * Used on the classifier head, where n is the batch, so the bias gradient is a
 * short serial column sum (fixed order, hence deterministic).
 */
#include "ops/ops.h"
#include "ops/sgemm.h"

#include <string.h>

void frost_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b,
                          float *y)
{
    if (n <= 0 || out <= 0)
        return;
    /* the GEMM accumulates onto the bias rows (beta = 1) when there is a bias */
    if (b)
        for (int r = 0; r < n; r++)
            memcpy(y + (size_t)r * out, b, (size_t)out * sizeof *b);
    if (in > 0)
        frost_sgemm(false, true, n, out, in, x, in, w, in, b ? 1.0f : 0.0f, y, out);
    else if (!b)
        memset(y, 0, (size_t)n * out * sizeof *y);
}

void frost_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy,
                           float *dx, float *dw, float *db)
{
    if (n <= 0 || out <= 0)
        return;
    if (in > 0) {
        /* dX[n, in] += dY[n, out] * W[out, in] */
        if (dx)
            frost_sgemm(false, false, n, in, out, dy, out, w, in, 1.0f, dx, in);
        /* dW[out, in] += dY^T X */
        frost_sgemm(true, false, out, in, n, dy, out, x, in, 1.0f, dw, in);
    }
    if (db)
        for (int r = 0; r < n; r++)
            for (int j = 0; j < out; j++)
                db[j] += dy[(size_t)r * out + j];
}
