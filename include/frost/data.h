/*
 * Data: IDX files (MNIST format, raw or gzip), Fashion-MNIST by default,
 * augmentation and a deterministic batch loader.
 */
#ifndef FROST_DATA_H
#define FROST_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "frost/status.h"

#define FROST_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Images as uint8 NHWC; labels uint8 in [0, classes). */
typedef struct {
    int n, h, w, c;
    int classes;     /* max label + 1 */
    uint8_t *images; /* n*h*w*c, owned */
    uint8_t *labels; /* n, owned */
} frost_dataset;

/* Loads an IDX image file (ubyte, 3-D [n,h,w] or 4-D [n,h,w,c]) and an IDX label
 * file (ubyte, 1-D [n]); either may be gzip-compressed. Checks magic, dtype,
 * dimensions, counts and truncation; errors name the file. */
frost_status frost_dataset_load_idx(const char *images_path, const char *labels_path,
                                    frost_dataset *out);
/* Fashion-MNIST from `dir` (NULL = FROST_FASHION_MNIST_DIR); train or test split. */
frost_status frost_dataset_fashion_mnist(const char *dir, bool train, frost_dataset *out);
/* Holds out `n_val` images (chosen by `seed`) of src: *train gets the rest. src is unchanged. */
frost_status frost_dataset_split(const frost_dataset *src, int n_val, uint64_t seed,
                                 frost_dataset *train, frost_dataset *val);
/* The first n images (a copy). */
frost_status frost_dataset_head(const frost_dataset *src, int n, frost_dataset *out);
/* Every image resized to h x w (bilinear, pixel centres aligned as PyTorch's
 * align_corners=False, rounded to the nearest uint8); labels copied. */
frost_status frost_dataset_resize(const frost_dataset *src, int h, int w, frost_dataset *out);
void frost_dataset_free(frost_dataset *d);

typedef struct {
    float mean, std; /* x = (pixel/255 - mean) / std; Fashion-MNIST: 0.2860, 0.3530 */
    int crop_pad;    /* random crop after zero padding by this many pixels (0 = off) */
    bool hflip;      /* random horizontal flip */
} frost_augment;

typedef struct frost_loader frost_loader;

/* Batches of `batch` images; shuffle and augmentation draw from (seed, epoch, index),
 * so an epoch's batches are the same whatever the thread count or resume point.
 * aug == NULL: normalization with mean 0, std 1 and no augmentation. */
frost_status frost_loader_create(const frost_dataset *d, int batch, bool shuffle,
                                 const frost_augment *aug, uint64_t seed, frost_loader **out);
void frost_loader_start_epoch(frost_loader *l, int epoch);
/* Fills images (float NHWC, batch*h*w*c) and labels; returns the count (0 at the epoch's end). */
int frost_loader_next(frost_loader *l, float *images, uint8_t *labels);
int frost_loader_batches(const frost_loader *l);
void frost_loader_free(frost_loader *l);

#endif
