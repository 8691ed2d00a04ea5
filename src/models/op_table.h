/*
 * What frost knows about each graph op, in one place (docs/design.md, "Adding an op").
 *
 * FROST_OP_LIST is the single list of graph ops. It generates the frost_op enum, the
 * op-name table and the per-op description (input count, attributes, flags) below.
 * Every stage that lowers ops (builders, training executor, FP32 engine, int8 converter,
 * quantization) does so in a switch over frost_op with no `default:`, so -Wswitch
 * (an error here) names each place a new op must reach.
 *
 * Building with FROST_CHECKLIST_DUMMY defined adds a dummy op and a dummy activation
 * to the lists; tests/check_op_checklist.sh expects that build to fail at every stage.
 */
#ifndef FROST_MODELS_OP_TABLE_H
#define FROST_MODELS_OP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"

/* Flags: questions stages ask about an op, answered here instead of in their own code. */
enum {
    /* its output is a new value range: quantization puts a fake-quant after it (unless
     * it is inside a conv-BN-act unit) and the int8 engine gives it its own scale */
    FROST_OPF_NEW_RANGE = 1 << 0,
    /* at inference its output is its input (same bytes): engines alias the tensor */
    FROST_OPF_ALIAS = 1 << 1,
    /* has a weight tensor (quantized per layer, target of BN folding) */
    FROST_OPF_WEIGHTED = 1 << 2,
    /* inserted by frost, never written to or read from an architecture file */
    FROST_OPF_INTERNAL = 1 << 3,
};

#ifdef FROST_CHECKLIST_DUMMY
#define FROST_OP_LIST_EXTRA(X) X(DUMMY, "dummy", 1, 1, FROST_OPF_NEW_RANGE, no_attrs)
#else
#define FROST_OP_LIST_EXTRA(X)
#endif

/* X(ID, name, min inputs, max inputs, flags, attribute table (op_table.c)) */
#define FROST_OP_LIST(X)                                                              \
    X(INPUT, "input", 0, 0, FROST_OPF_NEW_RANGE | FROST_OPF_INTERNAL, no_attrs)       \
    X(CONV, "conv", 1, 1, FROST_OPF_NEW_RANGE | FROST_OPF_WEIGHTED, conv_attrs)       \
    X(BN, "bn", 1, 1, FROST_OPF_NEW_RANGE, bn_attrs)                                  \
    X(ACT, "act", 1, 1, FROST_OPF_NEW_RANGE, act_attrs)                               \
    X(MAXPOOL, "maxpool", 1, 1, FROST_OPF_NEW_RANGE, pool_attrs)                      \
    X(AVGPOOL, "avgpool", 1, 1, FROST_OPF_NEW_RANGE, pool_attrs)                      \
    X(GAP, "gap", 1, 1, FROST_OPF_NEW_RANGE, no_attrs)                                \
    X(LINEAR, "linear", 1, 1, FROST_OPF_NEW_RANGE | FROST_OPF_WEIGHTED, linear_attrs) \
    X(ADD, "add", 2, 2, FROST_OPF_NEW_RANGE, no_attrs)                                \
    /* a * b, b of a's shape or 1x1xC (per-channel gate, as in squeeze-excite) */     \
    X(MUL, "mul", 2, 2, FROST_OPF_NEW_RANGE, no_attrs)                                \
    X(CONCAT, "concat", 2, 8, FROST_OPF_NEW_RANGE, no_attrs)                          \
    X(DROPOUT, "dropout", 1, 1, FROST_OPF_ALIAS, dropout_attrs)                       \
    X(FLATTEN, "flatten", 1, 1, FROST_OPF_ALIAS, no_attrs)                            \
    /* quantizes its input's output; inserted by frost_model_quantize */              \
    X(FAKEQUANT, "fakequant", 1, 1, FROST_OPF_INTERNAL, no_attrs)                     \
    /* DARTS' mixed op: softmax(alpha)-weighted sum (cell-search supernets only) */   \
    X(MIX, "mix", 1, 8, FROST_OPF_NEW_RANGE, mix_attrs)                               \
    FROST_OP_LIST_EXTRA(X)

#define FROST_OP_ENUM_(id, name, min_in, max_in, flags, attrs) FROST_OP_##id,
typedef enum { FROST_OP_LIST(FROST_OP_ENUM_) FROST_OP_COUNT } frost_op;
#undef FROST_OP_ENUM_

/* Every attribute an op can have; each op uses the fields its attribute table lists. */
typedef struct {
    int out; /* conv: output channels; linear: outputs */
    int k, stride, pad, groups;
    bool bias;
    float eps, momentum; /* bn */
    frost_act_kind act;  /* act */
    float p;             /* dropout */
    bool mix_none;       /* mix: DARTS' "none" (zero) candidate with its own alpha, last */
} frost_layer_attrs;

typedef enum { FROST_ATTR_INT, FROST_ATTR_FLOAT, FROST_ATTR_BOOL, FROST_ATTR_ACT } frost_attr_type;

/* Where an absent attribute takes its value from. */
typedef enum {
    FROST_DEF_VALUE,  /* `def` */
    FROST_DEF_HALF_K, /* k / 2 (conv padding) */
    FROST_DEF_K       /* k (pool stride) */
} frost_attr_default;

/* One attribute as architecture files (and importers) spell it. */
typedef struct {
    const char *key;
    frost_attr_type type;
    size_t offset; /* of the field in frost_layer_attrs */
    frost_attr_default def_from;
    double def;
} frost_attr_desc;

typedef struct {
    const char *name;
    int min_in, max_in;
    unsigned flags;
    const frost_attr_desc *attrs; /* in the order files write them */
    int n_attrs;
} frost_op_info;

/* The description of a valid op. */
const frost_op_info *frost_op_info_of(frost_op op);
const char *frost_op_name(frost_op op);
/* The op called `name` (architecture-file spelling), or -1. Internal ops are not found. */
int frost_op_from_name(const char *name);
static inline bool frost_op_has(frost_op op, unsigned flag)
{
    return (frost_op_info_of(op)->flags & flag) != 0;
}

/* The defaults of every attribute of `op` (the dependent ones resolved against a->k). */
void frost_layer_attrs_default(frost_op op, frost_layer_attrs *a);
/* Sets one attribute to its default; a dependent default reads a->k, which tables list
 * before the attributes that depend on it. */
void frost_layer_attr_set_default(frost_layer_attrs *a, const frost_attr_desc *d);
/* Pointer to the field an attribute describes. */
void *frost_layer_attr_field(frost_layer_attrs *a, const frost_attr_desc *d);

/* Output shape and multiply-adds per image of `op` with attributes `a` on inputs of
 * shapes in[0..n_in) ({h, w, c} each). Checks the attributes and shapes; on failure
 * returns -1 with an error naming layer `name`. */
typedef struct {
    int h, w, c;
} frost_hwc;
int frost_op_infer(frost_op op, const char *name, const frost_layer_attrs *a, int n_in,
                   const frost_hwc *in, frost_hwc *out, int64_t *macs);

#endif
