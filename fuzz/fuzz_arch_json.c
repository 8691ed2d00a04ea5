/* Architecture JSON (src/models/json.c, graph.c): what `frost train --arch` and every
 * checkpoint's metadata hold. A model that parses must survive its own round trip: its
 * JSON parses again into a model that writes the same JSON. */
#include "fuzz_util.h"

#include "frost/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    frost_model *m = NULL;
    if (frost_model_from_json(text, "fuzz", &m) == FROST_OK) {
        char *json = frost_model_to_json(m);
        frost_model *again = NULL;
        if (!json || frost_model_from_json(json, "round trip", &again) != FROST_OK)
            abort();
        char *json2 = frost_model_to_json(again);
        if (!json2 || strcmp(json, json2) != 0)
            abort();
        free(json2);
        free(json);
        frost_model_free(again);
        frost_model_free(m);
    }
    free(text);
    return 0;
}
