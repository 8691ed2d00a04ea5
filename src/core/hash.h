/* A fast 64-bit non-cryptographic hash, for content checks of the files frost writes: it
 * catches corruption (a flipped bit, a truncated or swapped tensor), not tampering. */
#ifndef FROST_CORE_HASH_H
#define FROST_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash of n bytes, chained through `seed` (hash piece after piece by passing the previous
 * result). The same on every machine: words are read little-endian. */
uint64_t frost_hash64(const void *data, size_t n, uint64_t seed);

#endif
