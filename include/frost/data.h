/*
 * Data: IDX files (MNIST format, raw or gzip), Fashion-MNIST by default,
 * augmentation, a deterministic batch loader and single images from PGM/PPM/PNG/JPEG files.
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
    /* per channel instead (RGB models): channel k < 3 uses ch_mean[k], ch_std[k] */
    bool per_channel;
    float ch_mean[3], ch_std[3];
    int crop_pad; /* random crop after zero padding by this many pixels (0 = off) */
    bool hflip;   /* random horizontal flip */
} frost_augment;

/* An image read from a file (frost predict): uint8 HWC, c = 1 (gray) or 3 (RGB). */
typedef struct {
    int h, w, c;
    uint8_t *pixels; /* h*w*c, owned */
} frost_image;

/* Largest image accepted (pixels): a corrupt header cannot make us ask for absurd memory. */
#define FROST_IMAGE_MAX_PIXELS ((int64_t)1 << 26)

/* Reads an image file, the format chosen by its extension (case-insensitive):
 *   .pgm .ppm .pnm  Netpbm P2/P5 (gray) and P3/P6 (RGB), maxval up to 65535 (scaled to 0..255)
 *   .png            libpng: palette, 16-bit and low-bit-depth images become 8-bit gray or
 *                   RGB; an alpha channel is dropped
 *   .jpg .jpeg      libjpeg: gray or colour (YCbCr/RGB; CMYK is refused)
 * Other extensions are refused. Truncated or corrupt files get an error naming the file,
 * never a crash. */
frost_status frost_image_load(const char *path, frost_image *out);
void frost_image_free(frost_image *img);

/* A model input (h*w*c floats, HWC) from an image, as the training data was prepared:
 *  1. channels: RGB -> gray by the BT.601 luma (299 R + 587 G + 114 B) / 1000, rounded;
 *     gray -> RGB by replication (c must be 1 or 3);
 *  2. resized to h x w as frost_dataset_resize does (bilinear, align_corners=False,
 *     rounded to uint8); no resize when the size already matches;
 *  3. inverted (255 - p) when `invert` (dark-on-light photos for a white-on-black model);
 *  4. normalized as the loader does: (p / 255 - mean) / std (norm NULL: mean 0, std 1). */
frost_status frost_image_to_input(const frost_image *img, int h, int w, int c, bool invert,
                                  const frost_augment *norm, float *out);

typedef struct frost_loader frost_loader;

/* Batches of `batch` images; shuffle and augmentation draw from (seed, epoch, index),
 * so an epoch's batches are the same whatever the thread count or resume point.
 * aug == NULL: normalization with mean 0, std 1 and no augmentation. */
frost_status frost_loader_create(const frost_dataset *d, int batch, bool shuffle,
                                 const frost_augment *aug, uint64_t seed, frost_loader **out);
void frost_loader_start_epoch(frost_loader *l, int epoch);
/* Fills images (float NHWC, batch*h*w*c) and labels; returns the count (0 at the epoch's end). */
int frost_loader_next(frost_loader *l, float *images, uint8_t *labels);
/* Data-parallel training: the next batch of the epoch, of which only part `part` of
 * `parts` is filled: images [*first, *first + *count) of the batch, where part p of a
 * batch of c images is [c*p/parts, c*(p+1)/parts) (so the parts differ by one image at
 * most; images and labels need room for ceil(batch/parts)). The images are the ones
 * frost_loader_next would put there, augmentation included. Returns the batch's full size
 * (0 at the epoch's end); *count may be 0 when the batch has fewer images than parts. */
int frost_loader_next_part(frost_loader *l, int part, int parts, float *images, uint8_t *labels,
                           int *first, int *count);
int frost_loader_batches(const frost_loader *l);
/* Skips the first `batches` batches of the current epoch (after frost_loader_start_epoch):
 * the next batch is the one an uninterrupted epoch would give there (resuming mid-epoch). */
void frost_loader_seek(frost_loader *l, int batches);
void frost_loader_free(frost_loader *l);

#endif
