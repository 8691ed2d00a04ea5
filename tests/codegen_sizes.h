/*
 * What the C export's const data should hold, for the tests that check its size report
 * (test_int8_codegen on the host, test_mcu_qemu on the Cortex-M builds).
 */
#ifndef FROST_TEST_CODEGEN_SIZES_H
#define FROST_TEST_CODEGEN_SIZES_H

#include <stddef.h>

#include "frost/frost.h"
#include "int8/i8model.h"

/* The model's parameters (frost_int8_weight_bytes), except that an XNOR-Net node holds its
 * float alpha and bias (8 bytes a channel) in place of the int32 bias and multipliers,
 * which its float output stage does not use. */
static inline size_t frost_test_c_const_bytes(const frost_int8_model *m)
{
    size_t b = frost_int8_weight_bytes(m);
    for (int i = 1; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        if (n->ain == FROST_I8_AIN_XNOR)
            b = b - (size_t)n->c * 4 - (size_t)n->n_mult * 8 + (size_t)n->c * 8;
    }
    return b;
}

#endif
