/*
 * The int8 model (internal): a graph of integer ops in topological order, each with
 * one output tensor stored as uint8 with its own scale S, zero point Z and clamp
 * range [lo, hi] (signed quantized ranges are stored shifted by +128, so kernels
 * only ever see unsigned activations and signed weights).
 *
 * Built by the converter (convert.c) from a fake-quant model, written to and read
 * from a safetensors file (file.c), planned into one activation arena and run
 * (runtime.c) with the kernels declared in kernels.h.
 */
#ifndef FROST_INT8_I8MODEL_H
#define FROST_INT8_I8MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frost/int8.h"

#define FROST_I8_MAX_INPUTS 8
#define FROST_I8_NAME_LEN   64
/* Version 2 adds packed binary / ternary weights ("wbits"), version 3 binarized inputs
 * ("ain") and TTQ's per-channel int8 levels ("levels"); a file is written with the lowest version
 * that holds it, so a model without them is version 1, byte for byte what earlier frost wrote. */
#define FROST_I8_FORMAT_VERSION 3

/* What a conv / linear node does to its input before the dot product ("ain" in the file):
 * nothing, or sign (BNN and Bi-Real: +1 where the stored value >= its zero point, -1
 * elsewhere, padding 0 as in training), docs/int8.md#low-bit-layers. */
typedef enum {
    FROST_I8_AIN_NONE = 0,
    FROST_I8_AIN_SIGN,
    FROST_I8_AIN_XNOR, /* sign, and the output scaled by XNOR-Net's K (beta) of the real input */
    FROST_I8_AIN_COUNT
} frost_int8_ain;

const char *frost_int8_ain_name(frost_int8_ain a); /* "" for none, "sign", "xnor" */
int frost_int8_ain_parse(const char *name);        /* -1 if unknown */

struct frost_int8_bin; /* binact.c: popcount weights and padding corrections */

typedef enum {
    FROST_I8_QUANTIZE = 0, /* float image -> u8 (the model input) */
    FROST_I8_CONV,         /* conv (any k, stride, groups) + bias + requant + fused clamp */
    FROST_I8_LINEAR,       /* fully connected, int8 output */
    FROST_I8_LOGITS,       /* fully connected with float output: S_x S_w[c] acc + b[c] */
    FROST_I8_ADD,          /* requantized elementwise add */
    FROST_I8_MUL,          /* requantized elementwise product (in[1] may be 1x1xC) */
    FROST_I8_CONCAT,       /* channel concat, each input requantized through a table */
    FROST_I8_LUT,          /* u8 -> u8 table: activations (hard-swish, ...) and requant */
    FROST_I8_MAXPOOL,      /* max over the window, then a requant table */
    FROST_I8_AVGPOOL,      /* sum over the valid taps, requantized per tap count */
    FROST_I8_GAP,          /* global average pool */
    FROST_I8_OP_COUNT
} frost_int8_op;

const char *frost_int8_op_name(frost_int8_op op);
int frost_int8_op_parse(const char *name); /* -1 if unknown */

typedef struct {
    char name[FROST_I8_NAME_LEN];
    frost_int8_op op;
    int n_in;
    int in[FROST_I8_MAX_INPUTS]; /* earlier node indices */

    int h, w, c;        /* output shape (one image) */
    float scale;        /* output quantization (LOGITS: unused) */
    int32_t zp, lo, hi; /* stored zero point and clamp, within [0, 255] */

    /* conv / linear / logits; pools use k, stride, pad */
    int k, stride, pad, groups;
    const int8_t *weight;              /* conv [cout][k][k][cin/groups], linear [cout][cin] */
    const int32_t *bias;               /* [cout] q_b = RHAZ(b * 2^acc_shift / (S_x S_w)) */
    int acc_shift;                     /* accumulator scale S_x S_w / 2^acc_shift (0..8): a finer
                                        * grid for the bias, see docs/int8.md; pools and MUL: the
                                        * left shift of the sum / product before requantizing */
    const float *wscale;               /* [cout] S_w per output channel (for export and peers) */
    int wbits;                         /* 0: int8 weights; 1 (+-1) or 2 (-1/0/+1): weight codes
                                        * stored packed (lowbit.c) in wpacked, unpacked in weight */
    const uint8_t *wpacked;            /* [cout][frost_int8_packed_row_bytes] (wbits 1, 2) */
    const int8_t *wlevels;             /* packed TTQ weights: [cout][2], the int8 weight of a
                                        * +1 and of a -1 code; NULL: the codes themselves */
    frost_int8_ain ain;                /* binarized input (then wbits is 1 or 2, the weight
                                        * scales are per +-1 input: S_x is 1) */
    const int32_t *mult, *shift;       /* [cout] requant (M0, e); ADD: 3 pairs; MUL: 1;
                                        * AVGPOOL: per tap count */
    const float *out_scale, *out_bias; /* LOGITS [cout] */
    const uint8_t *lut;                /* [n_in][256]: LUT, CONCAT, MAXPOOL */
    int n_mult;                        /* entries in mult/shift */

    int64_t macs; /* per image */
    int source;   /* converter only: the fake-quant node (or the logits' layer)
                   * of the model it came from, for layer-by-layer tests; -1 */

    /* run time (runtime.c) */
    size_t offset;              /* output bytes in the arena */
    int32_t *bias_eff;          /* bias - Z_x * sum(weights), per output channel */
    float *fscale;              /* conv / linear: S_x S_w[c] / (S_y 2^acc_shift), for float
                                 * requantization (frost_int8_set_float_requant) */
    void *packed;               /* weights laid out for the fast kernels (or NULL) */
    bool packed_vnni;           /* packed for the AVX-512 VNNI GEMM (else int16 AVX2) */
    uint32_t lut_identity;      /* CONCAT / LUT: bit j set when input j's table is y = x (a copy) */
    struct frost_int8_bin *bin; /* ain nodes with groups 1: the popcount form (or NULL) */
} frost_int8_node;

struct frost_int8_model {
    char name[FROST_I8_NAME_LEN];
    int in_h, in_w, in_c, classes;
    frost_preprocess pre; /* the float model's (frost/model.h) */
    frost_int8_node *nodes;
    int n_nodes;

    /* storage: the file the tensors point into, and owned arrays (converter) */
    struct frost_st_file *file;
    void **owned;
    int n_owned, cap_owned;

    /* run time */
    uint8_t *arena;
    size_t arena_bytes;
    void *scratch; /* per-thread conv scratch, then the linear accumulators */
    size_t scratch_bytes, thread_scratch;
    uint8_t *padded; /* depthwise input with its zero-point border */
    size_t padded_bytes;
    bool use_avx2;
    bool float_requant; /* conv / linear / add outputs requantized in float (requant.h) */
    int bin_path;       /* ain nodes: the frost_bin_path of the popcount kernels */
    uint64_t *bin_x;    /* ain nodes: the packed signs of the input (in scratch) */
    int32_t *bin_dot;   /* ain nodes: the popcount dot products (in scratch, after bin_x) */
    float *bin_f;       /* xnor nodes: the real input, A and K (in scratch, after bin_dot) */
    float *out;         /* [classes] output of the last run */
};

/* Memory for an array the model owns (freed with it); NULL on failure (error set). */
void *frost_int8_own(frost_int8_model *m, size_t bytes);

/* The rules the converter and the QDQ import share (multipliers.c), so that a model and its
 * re-import compute the same integers: the conv / linear accumulator shift (the largest in
 * 0..8 keeping every sum within 2^30), and the multipliers (owned by m) and accumulator
 * shift of an ADD, MUL, AVGPOOL or GAP node from its inputs' scales and its own. */
int frost_int8_weights_acc_shift(int64_t inner);
frost_status frost_int8_set_multipliers(frost_int8_model *m, frost_int8_node *n);

/* Packed binary / ternary weights (lowbit.c): bytes per output channel; the bits a set of
 * weights needs (1: all +-1, 2: -1/0/+1, 8: other); packing; unpacking, false on an
 * invalid code or non-zero padding bits, with what and where in *bad (may be NULL). */
typedef struct {
    const char *problem; /* "the 2-bit code 2 (no ternary weight)", "non-zero padding bits" */
    int row;             /* output channel */
    int64_t index;       /* weight of the row (for padding: the first padding position) */
} frost_int8_unpack_error;
size_t frost_int8_packed_row_bytes(int wbits, int64_t inner);
int frost_int8_lowbit_wbits(const int8_t *w, int64_t n);
void frost_int8_pack_weights(const int8_t *w, int rows, int64_t inner, int wbits, uint8_t *out);
bool frost_int8_unpack_weights(const uint8_t *p, int rows, int64_t inner, int wbits, int8_t *out,
                               frost_int8_unpack_error *bad);
/* TTQ's levels: replaces each code of row r (-1/0/+1, in place) by its int8 weight,
 * levels[r][0] for +1, levels[r][1] for -1, 0 for 0. */
void frost_int8_apply_levels(int8_t *w, int rows, int64_t inner, const int8_t *levels);

/* Binarized-input nodes (binact.c): preparation (bias, float scales, popcount weights,
 * padding corrections, scratch sizes), running (the popcount kernels, or the direct
 * reference loop when the model runs its reference kernels, or a grouped conv) and freeing. */
frost_status frost_int8_bin_prepare(frost_int8_model *m, frost_int8_node *n, size_t *x_words,
                                    size_t *dots, size_t *floats);
void frost_int8_bin_run(frost_int8_model *m, const frost_int8_node *n, const uint8_t *x,
                        uint8_t *y);
void frost_int8_bin_free(frost_int8_node *n);
/* Tests: which popcount path ain nodes take (frost_bin_path; the default is the best). */
void frost_int8_set_bin_path(frost_int8_model *m, int path);

/* Checks node i against its inputs (counts, indices, shapes, ranges). */
frost_status frost_int8_check_node(const frost_int8_model *m, int i);

/* Prepares a loaded or converted model for running: validation of every node against
 * its inputs, weight packing, memory plan, arena. */
frost_status frost_int8_prepare(frost_int8_model *m);

/* frost_int8_prepare(m) when s is FROST_OK, then *out = m; on any failure m is freed. */
frost_status frost_int8_finish(frost_int8_model *m, frost_status s, frost_int8_model **out);

/* frost_int8_import_onnx on a file's bytes in memory (`what` names it in messages). */
frost_status frost_int8_import_onnx_bytes(const uint8_t *data, size_t size, const char *what,
                                          frost_int8_model **out);

/* Runs node i only (inputs must already sit in the arena); for layer-by-layer tests. */
void frost_int8_run_node(frost_int8_model *m, int i);
/* The arena bytes of node i's output tensor (valid after frost_int8_prepare). */
uint8_t *frost_int8_tensor(frost_int8_model *m, int i);

#endif
