/* The cell JSON of cell search (src/nas/cell.c: `frost cell-search` writes it, the
 * search space's --cells reads it). A pair that parses is well formed and survives its
 * own round trip. */
#include "fuzz_util.h"

#include "frost/cell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    frost_cell_pair p;
    if (frost_cell_pair_from_json(text, &p) == FROST_OK) {
        if (frost_cell_check(&p.normal) != FROST_OK || frost_cell_check(&p.reduce) != FROST_OK)
            abort();
        char *json = frost_cell_pair_to_json(&p);
        frost_cell_pair again;
        if (!json || frost_cell_pair_from_json(json, &again) != FROST_OK)
            abort();
        char *json2 = frost_cell_pair_to_json(&again);
        if (!json2 || strcmp(json, json2) != 0)
            abort();
        char *dot = frost_cell_to_dot(&p.normal, "normal");
        free(dot);
        free(json2);
        free(json);
    }
    free(text);
    return 0;
}
