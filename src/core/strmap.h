/*
 * A map from names to ints (internal): open addressing, sized once for the number of keys
 * it will hold. Keys are borrowed, not copied: they must outlive the map (the ONNX readers
 * point them into the parsed model).
 */
#ifndef FROST_CORE_STRMAP_H
#define FROST_CORE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char **keys; /* cap slots, NULL = empty */
    int *vals;
    size_t cap; /* a power of two, at least twice the keys */
} frost_strmap;

/* Room for n keys; false when out of memory (free it anyway). */
bool frost_strmap_init(frost_strmap *m, size_t n);
void frost_strmap_free(frost_strmap *m);
/* Sets key -> val (at most the n keys the map was sized for). */
void frost_strmap_put(frost_strmap *m, const char *key, int val);
/* The value of key; a key not there yet gets the value *count, which is then incremented
 * (numbering keys as they come). */
int frost_strmap_intern(frost_strmap *m, const char *key, int *count);
/* The value of key, or -1. */
int frost_strmap_get(const frost_strmap *m, const char *key);

#endif
