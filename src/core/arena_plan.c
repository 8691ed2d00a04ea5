/* Activation arena planning (see arena_plan.h). */
#include "core/arena_plan.h"

#include <stdbool.h>
#include <stdlib.h>

#include "frost/status.h"

static size_t aligned(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

frost_status frost_arena_plan(int n, const size_t *bytes, const int *last, size_t *offset,
                              size_t *peak)
{
    int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    bool *placed = calloc((size_t)(n > 0 ? n : 1), sizeof(bool));
    if (!order || !placed) {
        free(order), free(placed);
        return frost_fail(FROST_ERR_NOMEM, "arena plan: out of memory");
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort by size, descending; stable */
        for (int j = i; j > 0 && bytes[order[j]] > bytes[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    *peak = 0;
    for (int a = 0; a < n; a++) {
        int i = order[a];
        size_t size = aligned(bytes[i]), off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < n; j++) {
                if (!placed[j] || last[j] < i || last[i] < j)
                    continue; /* not alive together */
                size_t o = offset[j], e = o + aligned(bytes[j]);
                if (off < e && o < off + size) {
                    off = e;
                    moved = true;
                }
            }
        }
        offset[i] = off;
        placed[i] = true;
        *peak = off + size > *peak ? off + size : *peak;
    }
    free(order), free(placed);
    return FROST_OK;
}

frost_status frost_arena_plan_graph(int n, const frost_arena_node *nodes, size_t *offset,
                                    size_t *peak)
{
    int *last = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    size_t *bytes = malloc((size_t)(n > 0 ? n : 1) * sizeof(size_t));
    if (!last || !bytes) {
        free(last), free(bytes);
        return frost_fail(FROST_ERR_NOMEM, "out of memory planning the arena");
    }
    for (int i = 0; i < n; i++) {
        last[i] = i;
        bytes[i] = nodes[i].bytes;
    }
    for (int i = 0; i < n; i++) {
        int t = nodes[i].tensor;
        last[t] = i > last[t] ? i : last[t];
        for (int k = 0; k < nodes[i].n_in; k++) {
            int u = nodes[nodes[i].in[k]].tensor;
            last[u] = i > last[u] ? i : last[u];
        }
    }
    if (n > 0)
        last[nodes[n - 1].tensor] = n;
    frost_status s = frost_arena_plan(n, bytes, last, offset, peak);
    free(last), free(bytes);
    return s;
}
