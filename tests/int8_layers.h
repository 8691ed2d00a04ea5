/*
 * Layer-by-layer comparison of an int8 model with the fake-quant model it was converted
 * from ("teacher forcing"), shared by the int8 engine tests: every int8 node gets the
 * fake-quant model's own quantized inputs, and its output is compared with the fake-quant
 * output on the node's grid. The helper only counts; each test asserts its own bounds.
 */
#ifndef FROST_TEST_INT8_LAYERS_H
#define FROST_TEST_INT8_LAYERS_H

#include <stdint.h>

#include "frost/frost.h"
#include "int8/i8model.h"

typedef struct {
    int64_t values;       /* uint8 output values compared (logits apart) */
    int64_t differ;       /* of them, values that differ at all */
    int64_t beyond_1lsb;  /* values more than 1 step off */
    int64_t exact_differ; /* values that differ at a node that must be exact (table ops) */
    int64_t logits_off;   /* float logits farther than 1e-4 (abs + rel) from the model's */
} frost_test_layer_counts;

/* Table ops (input quantization, lookup tables, concat, max pool) must match exactly; the
 * others round in fixed point and may land one step off on a tie. */
bool frost_test_int8_exact_op(frost_int8_op op);

/* The fake-quant model's value of int8 node t for image b, quantized to t's stored grid. */
void frost_test_quantized_value(const frost_model *qm, const frost_int8_node *t, int b, uint8_t *q);

/* Runs qm on images[n_img] and every int8 node of im on qm's inputs (the kernels im is set
 * to); prints each node that is off by more than its rule allows (and, with
 * FROST_TEST_VERBOSE set, every node with differences) to stderr. */
frost_test_layer_counts frost_test_compare_layers(frost_model *qm, frost_int8_model *im, int n_img,
                                                  const float *images);

#endif
