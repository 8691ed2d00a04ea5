/* Internal checkpoint helpers shared by the trainer and the CLI. */
#ifndef FROST_IO_CHECKPOINT_H
#define FROST_IO_CHECKPOINT_H

#include "core/param.h"
#include "frost/io.h"
#include "frost/optim.h"

/* Saves weights, BN statistics, the architecture and, if opt != NULL, the optimizer
 * state, plus extra metadata (e.g. the epoch), atomically. */
frost_status frost_checkpoint_save(const char *path, const frost_model *m,
                                   const frost_optimizer *opt, const frost_st_meta *extra,
                                   int n_extra);
/* Copies weights + BN statistics from an opened file into m (shapes checked). */
frost_status frost_checkpoint_apply_weights(const frost_st_file *f, const char *path,
                                            frost_model *m);
/* Copies the optimizer state (all of it must be present) into opt. */
frost_status frost_checkpoint_apply_optimizer(const frost_st_file *f, const char *path,
                                              frost_optimizer *opt);

/* The k-means tensors of weight p ("<name>.kmeans_idx", "<name>.kmeans_codebook"): both NULL
 * when p is stored as float; otherwise both present and their dtypes and shapes checked
 * (index values are checked when decoding). */
frost_status frost_checkpoint_kmeans_tensors(const frost_st_file *f, const char *path,
                                             const frost_param *p, const frost_st_tensor **idx,
                                             const frost_st_tensor **codebook);

#endif
