/* Quantization config JSON (src/quant/qconfig.c, `frost quantize --qconfig`). A config
 * that parses must parse again from its own JSON, unchanged. */
#include "fuzz_util.h"

#include "frost/qat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    frost_qconfig *c = NULL;
    if (frost_qconfig_parse(text, "fuzz", &c) == FROST_OK) {
        char *json = frost_qconfig_to_json(c);
        frost_qconfig *again = NULL;
        if (!json || frost_qconfig_parse(json, "round trip", &again) != FROST_OK)
            abort();
        char *json2 = frost_qconfig_to_json(again);
        if (!json2 || strcmp(json, json2) != 0)
            abort();
        free(json2);
        free(json);
        frost_qconfig_free(again);
        frost_qconfig_free(c);
    }
    free(text);
    return 0;
}
