/*
 * Canonical Huffman coding (src/core/huffman.c): the textbook example's code lengths and
 * bit count, canonical codes, one symbol, no symbols, and encode -> decode round trips,
 * including refused corrupt input.
 */
#include <stdlib.h>
#include <string.h>

#include "frost/huffman.h"
#include "harness.h"

/* CLRS 16.3: a:45 b:13 c:12 d:16 e:9 f:5 (thousands) -> lengths 1,3,3,3,4,4, 224 bits. */
TEST(test_textbook_lengths)
{
    const uint64_t freq[6] = {45, 13, 12, 16, 9, 5};
    uint8_t len[6];
    CHECK_EQ_INT(frost_huffman_lengths(6, freq, len), FROST_OK);
    const uint8_t want[6] = {1, 3, 3, 3, 4, 4};
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(len[i], want[i]);
    CHECK_EQ_INT(frost_huffman_total_bits(6, freq, len), 224);
    /* canonical: a=0, b=100, c=101, d=110, e=1110, f=1111 */
    uint64_t code[6];
    CHECK_EQ_INT(frost_huffman_codes(6, len, code), FROST_OK);
    const uint64_t want_code[6] = {0x0, 0x4, 0x5, 0x6, 0xE, 0xF};
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(code[i], want_code[i]);
}

/* The total does not depend on the order of equal frequencies. */
TEST(test_total_independent_of_symbol_order)
{
    const uint64_t freq[6] = {5, 9, 16, 12, 13, 45};
    uint8_t len[6];
    CHECK_EQ_INT(frost_huffman_lengths(6, freq, len), FROST_OK);
    CHECK_EQ_INT(frost_huffman_total_bits(6, freq, len), 224);
    const uint64_t flat[4] = {7, 7, 7, 7}; /* all ties: 2 bits each */
    uint8_t l4[4];
    CHECK_EQ_INT(frost_huffman_lengths(4, flat, l4), FROST_OK);
    CHECK_EQ_INT(frost_huffman_total_bits(4, flat, l4), 56);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(l4[i], 2);
}

TEST(test_single_and_empty)
{
    const uint64_t one[3] = {0, 17, 0};
    uint8_t len[3];
    CHECK_EQ_INT(frost_huffman_lengths(3, one, len), FROST_OK);
    CHECK_EQ_INT(len[0], 0);
    CHECK_EQ_INT(len[1], 1);
    CHECK_EQ_INT(len[2], 0);
    CHECK_EQ_INT(frost_huffman_total_bits(3, one, len), 17);
    const uint16_t msg[3] = {1, 1, 1};
    uint8_t buf[1] = {0xFF};
    uint64_t bits = 0;
    CHECK_EQ_INT(frost_huffman_encode(3, len, msg, 3, buf, 1, &bits), FROST_OK);
    CHECK_EQ_INT(bits, 3);
    CHECK_EQ_INT(buf[0] & 0xE0, 0);
    uint16_t back[3] = {9, 9, 9};
    CHECK_EQ_INT(frost_huffman_decode(3, len, buf, bits, 3, back), FROST_OK);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(back[i], 1);

    const uint64_t none[4] = {0};
    uint8_t l4[4] = {9, 9, 9, 9};
    CHECK_EQ_INT(frost_huffman_lengths(4, none, l4), FROST_OK);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(l4[i], 0);
    CHECK_EQ_INT(frost_huffman_total_bits(4, none, l4), 0);
    CHECK_EQ_INT(frost_huffman_encode(4, l4, msg, 0, buf, 1, &bits), FROST_OK);
    CHECK_EQ_INT(bits, 0);
    /* a symbol without a code cannot be encoded */
    CHECK_EQ_INT(frost_huffman_encode(4, l4, msg, 1, buf, 1, &bits), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_huffman_lengths(0, none, l4), FROST_ERR_ARG);
}

/* Random messages over skewed alphabets: decode(encode(x)) == x and the bit count is the
 * total the lengths predict. */
TEST(test_round_trip)
{
    unsigned long long state = 12345;
    for (int trial = 0; trial < 20; trial++) {
        int n = 1 + trial * 13 % 257;
        int64_t count = 1 + trial * 997 % 5000;
        uint16_t *msg = malloc((size_t)count * sizeof *msg);
        uint16_t *back = malloc((size_t)count * sizeof *back);
        uint64_t *freq = calloc((size_t)n, sizeof *freq);
        uint8_t *len = malloc((size_t)n);
        for (int64_t i = 0; i < count; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(state >> 11) / 9007199254740992.0;
            msg[i] = (uint16_t)((int)(u * u * u * n) % n); /* skewed towards 0 */
            freq[msg[i]]++;
        }
        CHECK_EQ_INT(frost_huffman_lengths(n, freq, len), FROST_OK);
        uint64_t want = frost_huffman_total_bits(n, freq, len);
        uint64_t bytes = want / 8 + 1, bits = 0;
        uint8_t *buf = calloc(bytes, 1);
        CHECK_EQ_INT(frost_huffman_encode(n, len, msg, count, buf, bytes, &bits), FROST_OK);
        CHECK_EQ_INT(bits, want);
        CHECK_EQ_INT(frost_huffman_decode(n, len, buf, bits, count, back), FROST_OK);
        CHECK(memcmp(msg, back, (size_t)count * sizeof *msg) == 0);
        /* one bit short: refused, not read past */
        if (bits > 0)
            CHECK_EQ_INT(frost_huffman_decode(n, len, buf, bits - 1, count, back),
                         FROST_ERR_FORMAT);
        free(msg);
        free(back);
        free(freq);
        free(len);
        free(buf);
    }
}

TEST(test_bad_tables_refused)
{
    const uint8_t over[3] = {1, 1, 1}; /* three 1-bit codes: not a prefix code */
    uint64_t code[3];
    CHECK_EQ_INT(frost_huffman_codes(3, over, code), FROST_ERR_FORMAT);
    const uint8_t one[2] = {1, 0}; /* only code "0": the bits "1" match nothing */
    const uint8_t bits1 = 0x80;
    uint16_t out;
    CHECK_EQ_INT(frost_huffman_decode(2, one, &bits1, 8, 1, &out), FROST_ERR_FORMAT);
}

FROST_TEST_MAIN(RUN(test_textbook_lengths); RUN(test_total_independent_of_symbol_order);
                RUN(test_single_and_empty); RUN(test_round_trip); RUN(test_bad_tables_refused))
