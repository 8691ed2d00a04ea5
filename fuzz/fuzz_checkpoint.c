/* Checkpoints (src/io/checkpoint.c): a safetensors file whose metadata holds the
 * architecture JSON; loading builds the model and then checks and copies every weight,
 * BN statistic and k-means codebook. */
#include "fuzz_util.h"

#include "frost/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("in.safetensors", data, size);
    frost_model *m = NULL;
    if (frost_checkpoint_load_model(path, &m) != FROST_OK)
        return 0;
    frost_kmeans_model *km = NULL;
    if (frost_checkpoint_kmeans_report(path, m, &km) == FROST_OK)
        frost_kmeans_model_free(km);
    frost_model_free(m);
    return 0;
}
