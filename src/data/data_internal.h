/*
 * Internal pieces of the data subsystem, shared by idx.c, augment.c, loader.c
 * and the unit tests (which check the augmentation on hand-made images).
 */
#ifndef FROST_DATA_INTERNAL_H
#define FROST_DATA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"
#include "frost/data.h"

/* Largest IDX payload we accept (bytes): far above Fashion-MNIST (47 MB), and
 * small enough that a corrupt header cannot make us ask for absurd memory. */
#define FROST_IDX_MAX_BYTES ((uint64_t)1 << 31)

/* The random decisions for one sample. The output pixel (y, x) comes from
 * input pixel (y + dy, x' + dx) where x' = w-1-x if flip, else x; pixels that
 * fall outside the image are padding. */
typedef struct {
    int dy, dx; /* crop offset in [-crop_pad, crop_pad] */
    bool flip;  /* mirror left-right */
} frost_augment_choice;

/* Draws one sample's choice from r. Always the same number of draws for a given
 * aug, so the stream layout never depends on earlier outcomes. aug may be NULL. */
frost_augment_choice frost_augment_choose(frost_rng *r, const frost_augment *aug);

/* lut[p] = ((float)p / 255 - mean) / std for every byte value p. aug == NULL
 * means mean 0, std 1. */
void frost_augment_make_lut(const frost_augment *aug, float lut[256]);
/* The tables of channels 0, 1, 2 (the same three unless aug->per_channel). */
void frost_augment_make_luts(const frost_augment *aug, float luts[3][256]);

/* Writes one normalised, shifted and possibly mirrored HWC image to dst.
 * Padding takes lut[0]: the value a raw black (0) pixel maps to, i.e. the image
 * is zero-padded *before* normalisation, as torchvision's RandomCrop on a
 * uint8/[0,1] image followed by Normalize would do. */
void frost_augment_image(const uint8_t *src, int h, int w, int c, const float lut[256],
                         frost_augment_choice choice, float *dst);
/* The same with one table per channel (channels beyond n_luts use the last). */
void frost_augment_image_luts(const uint8_t *src, int h, int w, int c, const float (*luts)[256],
                              int n_luts, frost_augment_choice choice, float *dst);

/* Bilinear resize of one uint8 HWC image (sh x sw -> h x w, c channels): pixel centres
 * aligned as PyTorch's align_corners=False, rounded to the nearest uint8. Shared by
 * frost_dataset_resize and the image files of frost_image_to_input, so a user's image
 * is resized exactly as a data set is. */
void frost_image_resize_u8(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int h, int w);

#endif
