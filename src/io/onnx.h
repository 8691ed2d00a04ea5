/*
 * Reading ONNX files (internal to io/ and the layers above it: the importer, QDQ import).
 *
 * The protobuf structures come from protoc-c (build/generated/onnx.pb-c.h, made from the
 * onnx.proto Debian's python3-onnx ships). Nothing here trusts the file: frost_onnx_load
 * checks the structure every later step relies on (names present, tensor dims
 * non-negative and of bounded size, data as long as the dims say, no external data), and
 * the accessors below check types and counts, each error naming the node or tensor.
 */
#ifndef FROST_IO_ONNX_H
#define FROST_IO_ONNX_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/model.h"
#include "frost/status.h"
#include "onnx.pb-c.h"

/* The opsets of the default domain frost reads: 11 up to the newest Debian's onnx knows. */
#define FROST_ONNX_OPSET_MIN 11
#define FROST_ONNX_OPSET_MAX 17
/* Largest tensor frost accepts from a file (elements): far above any mobile CNN layer. */
#define FROST_ONNX_MAX_NUMEL ((int64_t)1 << 28)
#define FROST_ONNX_MAX_RANK  8
/* The metadata_props key of a model's preprocessing (frost_preprocess) as JSON:
 * {"mean": [m...], "std": [s...], "channels": "rgb"|"bgr"}, one value per input channel
 * (1 or 3). Both exports write it (FP32 and QDQ); the imports use it (the FP32 one when it
 * is given no preprocessing). */
#define FROST_ONNX_PREPROCESS_KEY "frost.preprocess"

/* Reads and checks a model file; free it with frost_onnx_free. */
frost_status frost_onnx_load(const char *path, Onnx__ModelProto **out);
/* The same on bytes in memory (`what` names the source in messages). */
frost_status frost_onnx_parse(const uint8_t *data, size_t size, const char *what,
                              Onnx__ModelProto **out);
void frost_onnx_free(Onnx__ModelProto *m);

/* The model's FROST_ONNX_PREPROCESS_KEY metadata for an input of in_c channels, checked
 * (finite means, positive stds, 1 or in_c values per list): *found false when the file has
 * none (*out untouched), an error naming `path` when it is malformed. */
frost_status frost_onnx_metadata_preprocess(const Onnx__ModelProto *mp, const char *path, int in_c,
                                            frost_preprocess *out, bool *found);

/* The version of the default ("" / "ai.onnx") opset the model imports, or -1. */
int frost_onnx_opset(const Onnx__ModelProto *m);

/* A node's name for messages: its name, or "<op_type> #index" when it has none. */
const char *frost_onnx_node_label(const Onnx__NodeProto *n, int index, char *buf, size_t cap);

/* The nodes g->node[order[0..n)] that `known` rejects, listed into msg for one error:
 * "'label' (domain.op_type, opset N), ..." (", opset N" only when opset >= 0; the first 12,
 * then ", ..."). Returns how many were rejected (0: msg is empty). */
int frost_onnx_list_unknown(const Onnx__GraphProto *g, const int *order, int n,
                            bool (*known)(const Onnx__NodeProto *), int opset, char *msg,
                            size_t cap);

/* Attributes. A missing attribute gives the default; a present one of the wrong type is
 * an error naming the node and the attribute. */
const Onnx__AttributeProto *frost_onnx_attr(const Onnx__NodeProto *n, const char *name);
frost_status frost_onnx_attr_int(const Onnx__NodeProto *n, const char *label, const char *name,
                                 int64_t def, int64_t *out);
frost_status frost_onnx_attr_float(const Onnx__NodeProto *n, const char *label, const char *name,
                                   float def, float *out);
/* Up to `max` integers; *count = 0 when absent. */
frost_status frost_onnx_attr_ints(const Onnx__NodeProto *n, const char *label, const char *name,
                                  int64_t *out, int max, int *count);
/* A string attribute, or `def` when absent (points into the model). */
frost_status frost_onnx_attr_string(const Onnx__NodeProto *n, const char *label, const char *name,
                                    const char *def, const char **out);

/* Tensors (initializers, Constant values). frost_onnx_load has checked dims and sizes. */
int64_t frost_onnx_tensor_numel(const Onnx__TensorProto *t);
/* The values as floats (FLOAT tensors) or int64 (INT64 / INT32 tensors), malloc'd;
 * the caller frees. Other types are an error naming the tensor. */
frost_status frost_onnx_tensor_floats(const Onnx__TensorProto *t, const char *what, float **out);
frost_status frost_onnx_tensor_ints(const Onnx__TensorProto *t, const char *what, int64_t **out);

/* Import with the map from ONNX value names to the frost nodes computing them (tests
 * compare intermediate tensors through it). */
typedef struct frost_onnx_map frost_onnx_map;
#include "frost/io.h"
frost_status frost_onnx_import_mapped(const char *path, const frost_onnx_import_opts *opts,
                                      frost_model **out, frost_onnx_map **map);
/* The same on a file's bytes in memory (`what` names it in messages). */
frost_status frost_onnx_import_bytes(const uint8_t *data, size_t size, const char *what,
                                     const frost_onnx_import_opts *opts, frost_model **out);

/* How an ONNX value is laid out in frost: rank 4 (NCHW in ONNX, NHWC in frost) or rank 2
 * ([N, F]); a rank-2 value flattened from a flat_h x flat_w x flat_c map (flat_h*flat_w > 1)
 * has its features in C,H,W order in ONNX and H,W,C order in frost. */
typedef struct {
    int rank, flat_h, flat_w, flat_c;
} frost_onnx_layout;
/* The node computing ONNX value `value` (layout in *layout, may be NULL), or -1 when the
 * value is not an activation of the imported model. */
int frost_onnx_map_find(const frost_onnx_map *map, const char *value, frost_onnx_layout *layout);
void frost_onnx_map_free(frost_onnx_map *map);

#endif
