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

/* The normalization of channel k (< 3). */
static void channel_norm(const frost_augment *aug, int k, float *mean, float *std)
{
    *mean = !aug ? 0.0f : aug->per_channel ? aug->ch_mean[k] : aug->mean;
    *std = !aug ? 1.0f : aug->per_channel ? aug->ch_std[k] : aug->std;
}

static void make_lut(float mean, float std, float lut[256])
{
    /* Same float expression a caller would write, so values are bit-exact. */
    for (int p = 0; p < 256; p++)
        lut[p] = ((float)p / 255.0f - mean) / std;
}

void frost_augment_make_lut(const frost_augment *aug, float lut[256])
{
    float mean, std;
    channel_norm(aug, 0, &mean, &std);
    make_lut(mean, std, lut);
}

void frost_augment_make_luts(const frost_augment *aug, float luts[3][256])
{
    for (int k = 0; k < 3; k++) {
        float mean, std;
        channel_norm(aug, k, &mean, &std);
        make_lut(mean, std, luts[k]);
    }
}

/* The table of channel ch: the last one for channels beyond the tables. */
static const float *lut_of(const float (*luts)[256], int n_luts, int ch)
{
    return luts[ch < n_luts ? ch : n_luts - 1];
}

/* One output row: source row `sy` (already known to be inside the image). */
static void augment_row(const uint8_t *src_row, int w, int c, const float (*luts)[256], int n_luts,
                        int dx, bool flip, float *dst_row)
{
    for (int x = 0; x < w; x++) {
        int sx = (flip ? w - 1 - x : x) + dx;
        float *out = dst_row + (size_t)x * c;
        if (sx < 0 || sx >= w) {
            for (int ch = 0; ch < c; ch++)
                out[ch] = lut_of(luts, n_luts, ch)[0];
        } else {
            const uint8_t *in = src_row + (size_t)sx * c;
            for (int ch = 0; ch < c; ch++)
                out[ch] = lut_of(luts, n_luts, ch)[in[ch]];
        }
    }
}

void frost_augment_image_luts(const uint8_t *src, int h, int w, int c, const float (*luts)[256],
                              int n_luts, frost_augment_choice choice, float *dst)
{
    /* Zero padding happens on raw pixels, i.e. before normalisation, so the
     * border is the normalised value of black, not 0.0f. */
    size_t row = (size_t)w * (size_t)c;
    for (int y = 0; y < h; y++) {
        int sy = y + choice.dy;
        float *dst_row = dst + (size_t)y * row;
        if (sy < 0 || sy >= h) {
            for (size_t i = 0; i < row; i++)
                dst_row[i] = lut_of(luts, n_luts, (int)(i % (size_t)c))[0];
            continue;
        }
        augment_row(src + (size_t)sy * row, w, c, luts, n_luts, choice.dx, choice.flip, dst_row);
    }
}

void frost_augment_image(const uint8_t *src, int h, int w, int c, const float lut[256],
                         frost_augment_choice choice, float *dst)
{
    frost_augment_image_luts(src, h, w, c, (const float(*)[256])lut, 1, choice, dst);
}
