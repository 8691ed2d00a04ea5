/*
 * Files: safetensors (weights), atomic writes, and training checkpoints.
 *
 * safetensors layout: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string", ...}}, then the raw data. Readable by
 * numpy / PyTorch's safetensors package. Reading never trusts the file: the
 * header size, JSON, dtypes, shapes, offsets (in range, no overlap, matching
 * the shape) are all checked.
 */
#ifndef FROST_IO_H
#define FROST_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/status.h"

typedef enum { FROST_DT_F32 = 0, FROST_DT_I32, FROST_DT_I8, FROST_DT_U8, FROST_DT_I64 } frost_dtype;

typedef struct {
    const char *name;
    frost_dtype dtype;
    int ndim; /* 0..4 */
    int64_t shape[4];
    const void *data; /* little-endian, numel * dtype size bytes */
} frost_st_tensor;

typedef struct {
    const char *key, *value;
} frost_st_meta;

/* Writes atomically: a temporary file in the same folder, fsync, rename. On any
 * failure nothing is left behind and the old file (if any) is untouched. */
frost_status frost_st_write(const char *path, const frost_st_tensor *tensors, int n,
                            const frost_st_meta *meta, int n_meta);

typedef struct frost_st_file frost_st_file;
frost_status frost_st_read(const char *path, frost_st_file **out);
/* The same checks, on a read-only memory map of the file (no copy of the data). */
frost_status frost_st_map(const char *path, frost_st_file **out);
int frost_st_count(const frost_st_file *f);
/* i-th tensor in file order; its data points into the loaded file. */
const frost_st_tensor *frost_st_get(const frost_st_file *f, int i);
const frost_st_tensor *frost_st_find(const frost_st_file *f, const char *name);
/* Metadata value or NULL. */
const char *frost_st_meta_get(const frost_st_file *f, const char *key);
void frost_st_close(frost_st_file *f);

/* frost_read_file and frost_write_file_atomic */
#include "frost/file.h"

/* ---- checkpoints: weights + BN stats (+ optimizer state) + architecture JSON ---- */
#include "frost/model.h"

/* Loads the model a checkpoint describes (architecture from its metadata, then weights). */
frost_status frost_checkpoint_load_model(const char *path, frost_model **out);
/* Loads weights and BN statistics into an existing model; every tensor must be there with
 * the same shape (a checkpoint of another architecture is refused, naming the tensor). */
frost_status frost_checkpoint_load_weights(const char *path, frost_model *m);
/* Saves weights + BN statistics + architecture (no optimizer state). */
frost_status frost_checkpoint_save_weights(const char *path, const frost_model *m);
/* The same with extra metadata entries (e.g. how a PTQ model was calibrated); read them
 * back with frost_st_read + frost_st_meta_get. */
frost_status frost_checkpoint_save_weights_meta(const char *path, const frost_model *m,
                                                const frost_st_meta *meta, int n_meta);

/* ---- k-means compressed checkpoints (docs/kmeans.md) ---- */
#include "frost/compress.h"

/* Saves m (whose clustered weights hold their decoded values) with the weights km clustered
 * stored as indices + codebook. The loaders above decode them to float. */
frost_status frost_checkpoint_save_kmeans(const char *path, const frost_model *m,
                                          const frost_kmeans_model *km);
/* The k-means layers of a checkpoint of m's architecture, rebuilt from its indices and
 * codebooks with their sizes (*out has n == 0 for an uncompressed checkpoint). Every stored
 * layer is checked as the loaders check it. */
frost_status frost_checkpoint_kmeans_report(const char *path, const frost_model *m,
                                            frost_kmeans_model **out);

/* ---- ONNX import (docs/interop.md): a float model exported by PyTorch & co. ---- */
typedef struct {
    const char *name; /* the model's name; NULL: the file name without ".onnx" */
    /* how images become the input (frost/model.h), stored with the model; NULL: what the
     * file's "frost.preprocess" metadata says (frost_onnx_export writes it), else pixel / 255
     * (mean 0, std 1), RGB, what torchvision's ToTensor() alone gives */
    const frost_preprocess *pre;
} frost_onnx_import_opts;

/* Reads an ONNX model (opsets 11..17; the ops docs/interop.md lists) into a frost model
 * with its weights, NCHW turned into frost's NHWC. Nodes frost cannot run are all listed
 * in one error; opts may be NULL. */
frost_status frost_onnx_import(const char *path, const frost_onnx_import_opts *opts,
                               frost_model **out);
/* Writes a float model as FP32 ONNX (opset 13, NCHW; docs/interop.md, "FP32 ONNX export"):
 * input "input" float32 [N, C, H, W], output "logits" float32 [N, classes], BN kept, the
 * preprocessing in the metadata. A fake-quant model or a layer with no ONNX form is
 * refused, naming it. */
frost_status frost_onnx_export(const frost_model *m, const char *path);
/* Whether a path names an ONNX file (".onnx"). */
bool frost_path_is_onnx(const char *path);
/* A model from a checkpoint, or from an ONNX file imported with default options. */
frost_status frost_model_load(const char *path, frost_model **out);

#endif
