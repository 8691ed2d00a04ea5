/* Images for `frost predict` (src/data/image.c): Netpbm, PNG (libpng) and JPEG (libjpeg).
 * The loader picks the format by the extension, so the input is named after its magic
 * bytes (anything else is tried as Netpbm). An image that loads is turned into a model
 * input, as predict does. */
#include "fuzz_util.h"

#include "frost/data.h"

static const char *name_for(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "\x89PNG", 4) == 0)
        return "in.png";
    if (size >= 2 && data[0] == 0xff && data[1] == 0xd8)
        return "in.jpg";
    return "in.pgm";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(name_for(data, size), data, size);
    frost_image img;
    if (frost_image_load(path, &img) != FROST_OK)
        return 0;
    /* A large image is legal (up to FROST_IMAGE_MAX_PIXELS) but resizing it under ASan
     * takes longer than the fuzzer's timeout; the resize is the same for any size. */
    if ((int64_t)img.h * img.w > ((int64_t)1 << 22)) {
        frost_image_free(&img);
        return 0;
    }
    float input[28 * 28 * 3];
    if (frost_image_to_input(&img, 28, 28, 1, true, NULL, input) != FROST_OK ||
        frost_image_to_input(&img, 16, 20, 3, false, NULL, input) != FROST_OK)
        abort();
    frost_image_free(&img);
    return 0;
}
