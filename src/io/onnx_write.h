/*
 * Writing ONNX files (internal to io/ and the layers above it: the FP32 export in
 * io/onnx_export.c, the QDQ export in int8/export_onnx.c).
 *
 * A builder over protoc-c's generated structs: every piece of the message tree (nodes,
 * attributes, initializers and their bytes, names) is one zeroed allocation recorded in
 * the writer, all freed together by frost_onnxw_free, so callers build the graph without
 * tracking ownership. Builder calls return NULL / false when out of memory; a NULL name
 * or input passed on makes the next call fail too, so a chain of calls needs one check.
 * frost_onnxw_write assembles graph + model, packs and writes the file atomically.
 */
#ifndef FROST_IO_ONNX_WRITE_H
#define FROST_IO_ONNX_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/model.h"
#include "frost/status.h"
#include "onnx.pb-c.h"

#define FROST_ONNXW_MAX_ATTRS  6   /* attributes per node */
#define FROST_ONNXW_NAME_BYTES 160 /* longest name frost_onnxw_name makes, with the NUL */

typedef struct {
    void **allocs;
    size_t n_allocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    Onnx__StringStringEntryProto **meta;
    size_t n_meta, cap_meta;
} frost_onnxw;

/* The error every builder failure means. */
frost_status frost_onnxw_nomem(void);

/* Zeroed memory owned by the writer. */
void *frost_onnxw_alloc(frost_onnxw *w, size_t bytes);
/* A printf-formatted name owned by the writer. */
char *frost_onnxw_name(frost_onnxw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Initializer `name` (kept by pointer) of an ONNX dtype and shape (n_dims 0: a scalar) as
 * raw little-endian bytes copied from data, or zero when data is NULL. Returns the bytes
 * to fill. */
void *frost_onnxw_init(frost_onnxw *w, const char *name, int dtype, int n_dims, const int64_t *dims,
                       const void *data);

/* Appends node `op` named `name` with inputs in[0..n_in) and one output (names kept by
 * pointer). NULL when any name is NULL. */
Onnx__NodeProto *frost_onnxw_node(frost_onnxw *w, const char *op, const char *name, int n_in,
                                  const char *const *in, const char *out);

/* Attributes of node n (false when n is NULL). attr_ints: a list (list true) or one int. */
bool frost_onnxw_attr_ints(frost_onnxw *w, Onnx__NodeProto *n, const char *name, int count,
                           const int64_t *v, bool list);
bool frost_onnxw_attr_int(frost_onnxw *w, Onnx__NodeProto *n, const char *name, int64_t v);
bool frost_onnxw_attr_float(frost_onnxw *w, Onnx__NodeProto *n, const char *name, float v);

/* A model metadata_props entry (strings kept by pointer). */
bool frost_onnxw_meta(frost_onnxw *w, const char *key, const char *value);
/* The "frost.preprocess" entry (FROST_ONNX_PREPROCESS_KEY in io/onnx.h): how images become
 * the input of a model with in_c channels. Both exports write it (FP32 and QDQ), so that
 * whatever reads the file back normalizes images as the model was trained; a model that
 * says nothing (pre->set false) gets frost's Fashion-MNIST defaults, written out. */
bool frost_onnxw_meta_preprocess(frost_onnxw *w, const frost_preprocess *pre, int in_c);

/* A float32 tensor value [N, dims...] with a symbolic batch N. */
Onnx__ValueInfoProto *frost_onnxw_value_info(frost_onnxw *w, const char *name, int n_dims,
                                             const int64_t *dims);

/* What frost_onnxw_write puts around the nodes and initializers. */
typedef struct {
    const char *graph_name, *doc;
    Onnx__ValueInfoProto *input, *output;
    int64_t opset, ir_version;
} frost_onnxw_model;

/* Assembles the graph (the writer's nodes and initializers) and model (default-domain
 * opset, producer frost, metadata) and writes the packed bytes to path atomically. */
frost_status frost_onnxw_write(const frost_onnxw *w, const frost_onnxw_model *desc,
                               const char *path);

void frost_onnxw_free(frost_onnxw *w);

#endif
