/*
 * Per-sample augmentation: normalisation through a 256-entry table, random
 * crop after zero padding, random horizontal flip. The random choices are made
 * separately (frost_augment_choose) from the pixel work (frost_augment_image),
 * so the loader can draw them from a per-sample stream and the tests can apply
 * a known shift.
 */
#include "data/data_internal.h"

frost_augment_choice frost_augment_choose(frost_rng *r, const frost_augment *aug)
{
    frost_augment_choice c = {0, 0, false};
    if (!aug)
        return c;
    if (aug->crop_pad > 0) {
        /* Crop window top-left in the padded image is in [0, 2*pad]; relative to
         * the original image that is an offset in [-pad, pad]. */
        uint32_t span = 2 * (uint32_t)aug->crop_pad + 1;
        c.dy = (int)frost_rng_below(r, span) - aug->crop_pad;
        c.dx = (int)frost_rng_below(r, span) - aug->crop_pad;
    }
    if (aug->hflip)
        c.flip = frost_rng_uniform(r) < 0.5f;
    return c;
}

void frost_augment_make_lut(const frost_augment *aug, float lut[256])
{
    float mean = aug ? aug->mean : 0.0f, std = aug ? aug->std : 1.0f;
    /* Same float expression a caller would write, so values are bit-exact. */
    for (int p = 0; p < 256; p++)
        lut[p] = ((float)p / 255.0f - mean) / std;
}

/* One output row: source row `sy` (already known to be inside the image). */
static void augment_row(const uint8_t *src_row, int w, int c, const float lut[256], int dx,
                        bool flip, float pad, float *dst_row)
{
    for (int x = 0; x < w; x++) {
        int sx = (flip ? w - 1 - x : x) + dx;
        float *out = dst_row + (size_t)x * c;
        if (sx < 0 || sx >= w) {
            for (int ch = 0; ch < c; ch++)
                out[ch] = pad;
        } else {
            const uint8_t *in = src_row + (size_t)sx * c;
            for (int ch = 0; ch < c; ch++)
                out[ch] = lut[in[ch]];
        }
    }
}

void frost_augment_image(const uint8_t *src, int h, int w, int c, const float lut[256],
                         frost_augment_choice choice, float *dst)
{
    /* Zero padding happens on raw pixels, i.e. before normalisation, so the
     * border is the normalised value of black, not 0.0f. */
    float pad = lut[0];
    size_t row = (size_t)w * (size_t)c;
    for (int y = 0; y < h; y++) {
        int sy = y + choice.dy;
        float *dst_row = dst + (size_t)y * row;
        if (sy < 0 || sy >= h) {
            for (size_t i = 0; i < row; i++)
                dst_row[i] = pad;
            continue;
        }
        augment_row(src + (size_t)sy * row, w, c, lut, choice.dx, choice.flip, pad, dst_row);
    }
}
