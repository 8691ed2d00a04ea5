/*
 * Packed binary / ternary weights of int8 conv and linear nodes (docs/int8.md#low-bit-layers).
 *
 * A node converted from a binary, BWN or TWN layer has weights -1/0/+1 (its per-channel
 * scale carries the magnitude). The .int8 file stores them packed, one row of whole bytes
 * per output channel:
 *   wbits 1 (every weight +-1): weight i is bit i%8 of byte i/8, 1 = +1, 0 = -1;
 *   wbits 2 (-1/0/+1): weight i is bits 2*(i%4)..2*(i%4)+1 of byte i/4, 0 = 0, 1 = +1,
 *   3 = -1 (two's complement), 2 is invalid.
 * Bits past the last weight of a row are zero. Loading unpacks them into int8 weights, so
 * the int8 kernels (exact for any int8 weights) run them. A TTQ node's codes have two
 * magnitudes: its "levels" give each row's int8 weight of a +1 and of a -1 code.
 */
#include <string.h>

#include "int8/i8model.h"

size_t frost_int8_packed_row_bytes(int wbits, int64_t inner)
{
    return (size_t)((inner * wbits + 7) / 8);
}

int frost_int8_lowbit_wbits(const int8_t *w, int64_t n)
{
    int bits = 1;
    for (int64_t i = 0; i < n; i++) {
        if (w[i] < -1 || w[i] > 1)
            return 8;
        if (w[i] == 0)
            bits = 2;
    }
    return bits;
}

void frost_int8_pack_weights(const int8_t *w, int rows, int64_t inner, int wbits, uint8_t *out)
{
    size_t row = frost_int8_packed_row_bytes(wbits, inner);
    memset(out, 0, row * (size_t)rows);
    int per_byte = 8 / wbits;
    for (int r = 0; r < rows; r++)
        for (int64_t i = 0; i < inner; i++) {
            int8_t v = w[(int64_t)r * inner + i];
            unsigned code = wbits == 1 ? v > 0 : (unsigned)v & 3u;
            out[(size_t)r * row + (size_t)(i / per_byte)] |=
                (uint8_t)(code << (wbits * (int)(i % per_byte)));
        }
}

static bool unpack_failed(frost_int8_unpack_error *bad, const char *problem, int row, int64_t index)
{
    if (bad)
        *bad = (frost_int8_unpack_error){problem, row, index};
    return false;
}

bool frost_int8_unpack_weights(const uint8_t *p, int rows, int64_t inner, int wbits, int8_t *out,
                               frost_int8_unpack_error *bad)
{
    size_t row = frost_int8_packed_row_bytes(wbits, inner);
    int per_byte = 8 / wbits;
    unsigned mask = (1u << wbits) - 1u;
    for (int r = 0; r < rows; r++) {
        const uint8_t *b = p + (size_t)r * row;
        for (int64_t i = 0; i < inner; i++) {
            unsigned code = (b[i / per_byte] >> (wbits * (int)(i % per_byte))) & mask;
            if (wbits == 2 && code == 2)
                return unpack_failed(bad, "the 2-bit code 2 (no ternary weight)", r, i);
            out[(int64_t)r * inner + i] = (int8_t)(wbits == 1  ? (code ? 1 : -1)
                                                   : code == 3 ? -1
                                                               : (int)code);
        }
        int64_t used = inner % per_byte; /* weights in the row's last byte */
        if (used && (b[row - 1] >> (wbits * used)) != 0)
            return unpack_failed(bad, "non-zero padding bits", r, inner);
    }
    return true;
}

void frost_int8_apply_levels(int8_t *w, int rows, int64_t inner, const int8_t *levels)
{
    for (int r = 0; r < rows; r++)
        for (int64_t i = 0; i < inner; i++) {
            int8_t *v = &w[(int64_t)r * inner + i];
            *v = *v > 0 ? levels[2 * r] : *v < 0 ? levels[2 * r + 1] : 0;
        }
}
