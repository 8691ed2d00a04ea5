/*
 * Tensors: float32, row-major, at most 4 dimensions.
 *
 * Layout decision: activations are NHWC ([batch, height, width, channels]),
 * because 1x1 convolutions (most of a mobile CNN's work) then become one GEMM
 * over the whole batch, depthwise kernels vectorize along channels, and the
 * int8 engine uses the same order. Conv weights are OHWI
 * ([out, kh, kw, in/groups]); linear weights are [out, in].
 */
#ifndef FROST_TENSOR_H
#define FROST_TENSOR_H

#include <stdint.h>

#define FROST_MAX_DIMS 4

typedef struct {
    int ndim;
    int64_t shape[FROST_MAX_DIMS];
    float *data; /* owned by whoever created the tensor (model, arena, caller) */
} frost_tensor;

/* Product of the shape (1 for ndim == 0). */
int64_t frost_tensor_numel(const frost_tensor *t);

#endif
