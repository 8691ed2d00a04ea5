/* .int8 model files (src/int8/file.c): safetensors with the integer graph as JSON in the
 * metadata. A file that loads must also run: a small model runs one image through the
 * integer kernels, which only a fully checked graph survives. */
#include "fuzz_util.h"

#include "frost/int8.h"

/* Larger models load but do not run: a run would take longer than the fuzzer's timeout. */
#define FUZZ_MAX_RUN_INPUT (32 * 32 * 3)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("in.int8", data, size);
    frost_int8_model *m = NULL;
    if (frost_int8_load(path, &m) != FROST_OK)
        return 0;
    int h, w, c;
    frost_int8_input_shape(m, &h, &w, &c);
    int64_t n = (int64_t)h * w * c;
    if (n > 0 && n <= FUZZ_MAX_RUN_INPUT) {
        uint8_t image[FUZZ_MAX_RUN_INPUT];
        memset(image, (int)(size & 0xff), (size_t)n);
        float *out =
            malloc(sizeof(float) * (size_t)(frost_int8_classes(m) > 0 ? frost_int8_classes(m) : 1));
        if (!out)
            abort();
        (void)frost_int8_run_quantized(m, image, n, out);
        free(out);
    }
    frost_int8_free(m);
    return 0;
}
