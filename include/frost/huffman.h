/*
 * Canonical Huffman coding of small alphabets (the k-means weight indices and the sparse
 * index gaps of docs/kmeans.md; any alphabet of up to FROST_HUFFMAN_MAX_SYMBOLS symbols).
 *
 * Code lengths come from the textbook construction: repeatedly merge the two lightest
 * trees. Ties are broken the same way every time (the lighter tree first; among equal
 * weights the tree made earlier, leaves in symbol order before merged trees), so the
 * lengths are reproducible; the total bit count sum(freq * length) is the same for every
 * tie-breaking. Symbols of frequency 0 get no code (length 0). One used symbol alone gets
 * a 1-bit code (a 0-bit code could not say how many symbols there were). No symbol used:
 * all lengths 0, 0 bits.
 *
 * Canonical codes (as DEFLATE assigns them): symbols sorted by (length, symbol value) get
 * consecutive codes, the code growing by one and shifted left whenever the length grows.
 * A decoder needs only the lengths. Bits are written most significant bit first, into
 * bytes filled from their top bit.
 */
#ifndef FROST_HUFFMAN_H
#define FROST_HUFFMAN_H

#include <stdint.h>

#include "frost/status.h"

#define FROST_HUFFMAN_MAX_SYMBOLS 512
#define FROST_HUFFMAN_MAX_LEN     63 /* longer codes are refused (they need > 10^13 symbols) */

/* Code lengths len[n] for frequencies freq[n]. Fails on n outside 1..MAX_SYMBOLS or a
 * code longer than FROST_HUFFMAN_MAX_LEN. */
frost_status frost_huffman_lengths(int n, const uint64_t *freq, uint8_t *len);

/* sum(freq[s] * len[s]): the size in bits of the coded message. */
uint64_t frost_huffman_total_bits(int n, const uint64_t *freq, const uint8_t *len);

/* The canonical code of each symbol (its low len[s] bits; 0 where len[s] == 0). Fails if the
 * lengths are not a valid prefix code (Kraft sum above 1) or too long. */
frost_status frost_huffman_codes(int n, const uint8_t *len, uint64_t *code);

/* Encodes msg[count] (symbols < n, each with a code) into out[out_bytes]; *bits is the
 * number of bits written. Fails if a symbol has no code or out is too small. */
frost_status frost_huffman_encode(int n, const uint8_t *len, const uint16_t *msg, int64_t count,
                                  uint8_t *out, uint64_t out_bytes, uint64_t *bits);

/* Decodes count symbols from the first n_bits bits of in. Never trusts the input: a code
 * that is not in the table or a message shorter than count symbols is a format error. */
frost_status frost_huffman_decode(int n, const uint8_t *len, const uint8_t *in, uint64_t n_bits,
                                  int64_t count, uint16_t *msg);

#endif
