/* ONNX models (src/io/onnx_read.c, onnx_import.c, src/int8/import_qdq.c): the protobuf
 * reader and both importers, the float one (`frost import`) and the QDQ int8 one. */
#include "fuzz_util.h"

#include "frost/int8.h"
#include "frost/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("model.onnx", data, size);
    frost_model *m = NULL;
    if (frost_onnx_import(path, NULL, &m) == FROST_OK)
        frost_model_free(m);
    if (frost_int8_onnx_is_qdq(path) == 1) {
        frost_int8_model *q = NULL;
        if (frost_int8_import_onnx(path, &q) == FROST_OK)
            frost_int8_free(q);
    }
    return 0;
}
