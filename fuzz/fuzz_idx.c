/* IDX files (src/data/idx.c), raw or gzip'd: the image and the label file of a data set.
 * The input holds both: a 4-byte little-endian length L, L bytes of the image file, then
 * the label file (fuzz/corpus/idx was made so from real files; see docs/fuzzing.md). */
#include "fuzz_util.h"

#include "frost/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t split =
        (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    data += 4, size -= 4;
    if (split > size)
        split = size;
    const char *images = fuzz_write_file("images.idx", data, split);
    const char *labels = fuzz_write_file("labels.idx", data + split, size - split);
    frost_dataset d;
    if (frost_dataset_load_idx(images, labels, &d) != FROST_OK)
        return 0;
    if (d.n <= 0 || d.classes <= 0 || d.classes > 256)
        abort();
    frost_dataset_free(&d);
    return 0;
}
