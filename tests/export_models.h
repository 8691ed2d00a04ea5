/*
 * The models the FP32 ONNX export is checked on (tests/test_onnx_export.c against frost's
 * own re-import, tests/check_onnx_export_ort.py against ONNX Runtime through
 * tests/ort/fp32_dump.c): every zoo model at width 0.25 on 32x32x3 inputs, a
 * squeeze-excite model with sigmoid / SiLU / mul, and a 28x28x1 model with every other op
 * the export writes (max / padded average pool, concat, relu6, hard-sigmoid, hard-swish,
 * identity, a fully connected channel gate, a flatten of a 3x3 map into a linear layer,
 * BN on a fully connected output, dropout).
 *
 * Weights are random and so are BN's gamma, beta, running mean and running variance and
 * every bias, so that swapping BN's inputs or dropping a bias changes the outputs; each
 * model also gets a preprocessing of its own to carry through the file.
 */
#ifndef FROST_TEST_EXPORT_MODELS_H
#define FROST_TEST_EXPORT_MODELS_H

#include <stdint.h>

#include "frost/model.h"

/* The names frost_test_export_model builds, NULL-terminated. */
extern const char *const frost_test_export_names[];

/* Builds model `name` with random weights from `seed`. */
frost_status frost_test_export_model(const char *name, uint64_t seed, frost_model **out);

/* Fills x[n] with uniform values in [lo, hi) (a small LCG: no harness needed). */
void frost_test_export_fill(float *x, long n, float lo, float hi, uint64_t seed);

#endif
