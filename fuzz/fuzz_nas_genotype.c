/* Search-space genotypes (src/nas/space.c): the short string form ("r28.m360n...", the
 * cache key of `frost search` runs) and the JSON form, both in the four-block space and in
 * a space with searched cells. A genotype that parses passes frost_nas_check and survives
 * its round trip through both forms. */
#include "fuzz_util.h"

#include "frost/cell.h"
#include "frost/nas.h"

static void round_trip(const frost_nas_space *space, const frost_nas_genotype *g)
{
    if (frost_nas_check(g, space) != FROST_OK)
        abort();
    char buf[256];
    frost_nas_to_string(g, buf, sizeof buf);
    frost_nas_genotype a, b;
    if (frost_nas_from_string_in(space, buf, &a) != FROST_OK || !frost_nas_equal(g, &a))
        abort();
    char *json = frost_nas_to_json(g);
    if (!json || frost_nas_from_json_in(space, json, &b) != FROST_OK || !frost_nas_equal(g, &b))
        abort();
    free(json);
    int index[FROST_NAS_DECISIONS];
    (void)frost_nas_to_indices(g, space, index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    static frost_cell_pair cells;
    static int have_cells;
    if (!have_cells) {
        const char *pair =
            "{\"normal\": {\"nodes\": 2, \"edges\": [[0, 0, \"sep_conv_3\"], "
            "[1, 0, \"skip\"], [1, 1, \"max_pool_3\"]]}, \"reduce\": {\"nodes\": 2, "
            "\"edges\": [[0, 0, \"mbconv_3\"], [1, 0, \"skip\"], [1, 1, \"mbconv_3\"]]}}";
        if (frost_cell_pair_from_json(pair, &cells) != FROST_OK)
            abort();
        have_cells = 1;
    }
    frost_nas_space plain = frost_nas_space_default(), with_cells = plain;
    with_cells.cells = &cells;
    const frost_nas_space *spaces[2] = {&plain, &with_cells};
    for (int i = 0; i < 2; i++) {
        frost_nas_genotype g;
        if (frost_nas_from_string_in(spaces[i], text, &g) == FROST_OK)
            round_trip(spaces[i], &g);
        if (frost_nas_from_json_in(spaces[i], text, &g) == FROST_OK)
            round_trip(spaces[i], &g);
    }
    free(text);
    return 0;
}
