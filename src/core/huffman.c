/*
 * Canonical Huffman coding (frost/huffman.h). Alphabets are small (a k-means codebook of at
 * most 256 entries plus a filler symbol), so the two lightest trees are found by a linear
 * scan: O(n^2), simple, and the tie-breaking is plain to read.
 */
#include "frost/huffman.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static frost_status check_alphabet(int n)
{
    if (n < 1 || n > FROST_HUFFMAN_MAX_SYMBOLS)
        return frost_fail(FROST_ERR_ARG, "huffman: alphabet of %d symbols (1..%d)", n,
                          FROST_HUFFMAN_MAX_SYMBOLS);
    return FROST_OK;
}

/* The live tree of least weight; among equal weights the lowest node id (leaves are ids
 * 0..n-1 in symbol order, merged trees get n, n+1, ... as they are made). */
static int lightest(int n_nodes, const uint64_t *weight, const bool *live, int skip)
{
    int best = -1;
    for (int i = 0; i < n_nodes; i++)
        if (live[i] && i != skip && (best < 0 || weight[i] < weight[best]))
            best = i;
    return best;
}

frost_status frost_huffman_lengths(int n, const uint64_t *freq, uint8_t *len)
{
    frost_status s = check_alphabet(n);
    if (s != FROST_OK)
        return s;
    memset(len, 0, (size_t)n);
    int max_nodes = 2 * n;
    uint64_t *weight = calloc((size_t)max_nodes, sizeof *weight);
    int *parent = malloc((size_t)max_nodes * sizeof *parent);
    bool *live = calloc((size_t)max_nodes, sizeof *live);
    if (!weight || !parent || !live) {
        s = frost_fail(FROST_ERR_NOMEM, "huffman: out of memory");
        goto done;
    }
    int used = 0;
    for (int i = 0; i < n; i++) {
        weight[i] = freq[i];
        live[i] = freq[i] > 0;
        parent[i] = -1;
        used += live[i];
    }
    if (used == 1) { /* one symbol: a 1-bit code */
        for (int i = 0; i < n; i++)
            if (live[i])
                len[i] = 1;
        goto done;
    }
    int n_nodes = n;
    for (int merges = 0; merges < used - 1; merges++) {
        int a = lightest(n_nodes, weight, live, -1);
        int b = lightest(n_nodes, weight, live, a);
        weight[n_nodes] = weight[a] + weight[b];
        live[n_nodes] = true;
        parent[n_nodes] = -1;
        live[a] = live[b] = false;
        parent[a] = parent[b] = n_nodes;
        n_nodes++;
    }
    for (int i = 0; i < n; i++) {
        if (freq[i] == 0)
            continue;
        int depth = 0;
        for (int j = i; parent[j] >= 0; j = parent[j])
            depth++;
        if (depth > FROST_HUFFMAN_MAX_LEN) {
            s = frost_fail(FROST_ERR_UNSUPPORTED, "huffman: a code of %d bits (at most %d)", depth,
                           FROST_HUFFMAN_MAX_LEN);
            memset(len, 0, (size_t)n);
            goto done;
        }
        len[i] = (uint8_t)depth;
    }
done:
    free(weight);
    free(parent);
    free(live);
    return s;
}

uint64_t frost_huffman_total_bits(int n, const uint64_t *freq, const uint8_t *len)
{
    uint64_t bits = 0;
    for (int i = 0; i < n; i++)
        bits += freq[i] * len[i];
    return bits;
}

/* Per length: how many codes, and the first (smallest) code of that length. */
typedef struct {
    uint64_t count[FROST_HUFFMAN_MAX_LEN + 1];
    uint64_t first[FROST_HUFFMAN_MAX_LEN + 1];
    int offset[FROST_HUFFMAN_MAX_LEN + 1];      /* index of the length's first symbol in `sorted` */
    uint16_t sorted[FROST_HUFFMAN_MAX_SYMBOLS]; /* symbols by (length, value) */
} canonical_table;

static frost_status build_table(int n, const uint8_t *len, canonical_table *t)
{
    frost_status s = check_alphabet(n);
    if (s != FROST_OK)
        return s;
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++) {
        if (len[i] > FROST_HUFFMAN_MAX_LEN)
            return frost_fail(FROST_ERR_FORMAT, "huffman: code length %d of symbol %d (at most %d)",
                              len[i], i, FROST_HUFFMAN_MAX_LEN);
        if (len[i])
            t->count[len[i]]++;
    }
    uint64_t code = 0;
    int offset = 0;
    for (int l = 1; l <= FROST_HUFFMAN_MAX_LEN; l++) {
        code <<= 1;
        t->first[l] = code;
        t->offset[l] = offset;
        /* codes of this length are first..first+count-1, all below 2^l */
        if (t->count[l] > ((uint64_t)1 << l) - code)
            return frost_fail(FROST_ERR_FORMAT, "huffman: code lengths are not a prefix code");
        code += t->count[l];
        offset += (int)t->count[l];
    }
    int at[FROST_HUFFMAN_MAX_LEN + 1];
    memcpy(at, t->offset, sizeof at);
    for (int i = 0; i < n; i++)
        if (len[i])
            t->sorted[at[len[i]]++] = (uint16_t)i;
    return FROST_OK;
}

frost_status frost_huffman_codes(int n, const uint8_t *len, uint64_t *code)
{
    canonical_table *t = malloc(sizeof *t);
    if (!t)
        return frost_fail(FROST_ERR_NOMEM, "huffman: out of memory");
    frost_status s = build_table(n, len, t);
    for (int i = 0; s == FROST_OK && i < n; i++)
        code[i] = 0;
    for (int l = 1; s == FROST_OK && l <= FROST_HUFFMAN_MAX_LEN; l++)
        for (uint64_t j = 0; j < t->count[l]; j++)
            code[t->sorted[t->offset[l] + (int)j]] = t->first[l] + j;
    free(t);
    return s;
}

frost_status frost_huffman_encode(int n, const uint8_t *len, const uint16_t *msg, int64_t count,
                                  uint8_t *out, uint64_t out_bytes, uint64_t *bits)
{
    *bits = 0;
    uint64_t *code = malloc((size_t)FROST_HUFFMAN_MAX_SYMBOLS * sizeof *code);
    if (!code)
        return frost_fail(FROST_ERR_NOMEM, "huffman: out of memory");
    frost_status s = frost_huffman_codes(n, len, code);
    uint64_t pos = 0;
    for (int64_t i = 0; s == FROST_OK && i < count; i++) {
        int sym = msg[i];
        if (sym >= n || len[sym] == 0) {
            s = frost_fail(FROST_ERR_ARG, "huffman: symbol %d at %lld has no code", sym,
                           (long long)i);
            break;
        }
        if (pos + len[sym] > out_bytes * 8) {
            s = frost_fail(FROST_ERR_ARG, "huffman: output buffer of %llu bytes is too small",
                           (unsigned long long)out_bytes);
            break;
        }
        for (int b = len[sym] - 1; b >= 0; b--, pos++) {
            uint8_t mask = (uint8_t)(0x80u >> (pos & 7));
            if ((code[sym] >> b) & 1u)
                out[pos >> 3] |= mask;
            else
                out[pos >> 3] &= (uint8_t)~mask;
        }
    }
    free(code);
    *bits = s == FROST_OK ? pos : 0;
    return s;
}

frost_status frost_huffman_decode(int n, const uint8_t *len, const uint8_t *in, uint64_t n_bits,
                                  int64_t count, uint16_t *msg)
{
    canonical_table *t = malloc(sizeof *t);
    if (!t)
        return frost_fail(FROST_ERR_NOMEM, "huffman: out of memory");
    frost_status s = build_table(n, len, t);
    uint64_t pos = 0;
    for (int64_t i = 0; s == FROST_OK && i < count; i++) {
        uint64_t code = 0;
        int l = 0;
        for (;;) {
            if (l == FROST_HUFFMAN_MAX_LEN) {
                s = frost_fail(FROST_ERR_FORMAT, "huffman: no code matches at bit %llu",
                               (unsigned long long)pos);
                break;
            }
            if (pos >= n_bits) {
                s = frost_fail(FROST_ERR_FORMAT,
                               "huffman: the data ends after %lld of %lld symbols", (long long)i,
                               (long long)count);
                break;
            }
            code = (code << 1) | ((in[pos >> 3] >> (7 - (pos & 7))) & 1u);
            pos++;
            l++;
            if (code - t->first[l] < t->count[l] && code >= t->first[l]) {
                msg[i] = t->sorted[t->offset[l] + (int)(code - t->first[l])];
                break;
            }
        }
    }
    free(t);
    return s;
}
