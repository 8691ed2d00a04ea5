/*
 * Comparing an imported ONNX model with PyTorch's outputs (test helper).
 *
 * A case folder (tests/fixtures/onnx/README.md) holds model.onnx, input.npy (NCHW),
 * one .npy per checked tensor and manifest.json naming them: the first is the logits,
 * the others intermediate tensors. frost_test_onnx_case imports the model, runs it on the
 * input and checks every tensor within `rtol` of the reference's largest magnitude.
 */
#ifndef FROST_TEST_ONNX_CASES_H
#define FROST_TEST_ONNX_CASES_H

/* Returns the number of failed checks (printing each); 0 when every tensor matches. */
int frost_test_onnx_case(const char *dir, double rtol);

#endif
