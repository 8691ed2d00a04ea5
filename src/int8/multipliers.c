/*
 * The requantization rules of the nodes without weights (add, mul, pools) and the
 * conv / linear accumulator shift: one place for the converter (convert.c) and the QDQ
 * import (import_qdq.c), so that a model and its re-import compute the same integers.
 */
#include "int8/i8model.h"
#include "int8/requant.h"

int frost_int8_weights_acc_shift(int64_t inner)
{
    int s = 0;
    while (s < 8 && ((inner * 255 * 128) << (s + 1)) <= (INT64_C(1) << 30))
        s++;
    return s;
}

/* TFLite's add: both inputs onto a common grid tw = 2 max(S_a, S_b), 20 bits up, then to
 * the output's scale. */
static void add_multipliers(const frost_int8_node *a, const frost_int8_node *b,
                            const frost_int8_node *n, int32_t *mult, int32_t *shift)
{
    double s0 = a->scale, s1 = b->scale, tw = 2.0 * (s0 > s1 ? s0 : s1);
    frost_quantize_multiplier(s0 / tw, &mult[0], &shift[0]);
    frost_quantize_multiplier(s1 / tw, &mult[1], &shift[1]);
    frost_quantize_multiplier(tw / ((double)(1 << 20) * n->scale), &mult[2], &shift[2]);
}

/* The product (a - Za)(b - Zb) shifted left as far as it stays within 2^30, requantized by
 * S_a S_b / (S_y 2^shift). */
static void mul_multiplier(const frost_int8_node *a, const frost_int8_node *b, frost_int8_node *n,
                           int32_t *mult, int32_t *shift)
{
    n->acc_shift = 0;
    while (((INT64_C(255) * 255) << (n->acc_shift + 1)) <= (INT64_C(1) << 30))
        n->acc_shift++;
    frost_quantize_multiplier((double)a->scale * (double)b->scale /
                                  ((double)n->scale * (double)(1 << n->acc_shift)),
                              mult, shift);
}

/* The sum is shifted left before the multiply (as TFLite's add does with 20 bits): a
 * pool's multiplier is near 1/taps, so MBQM's second rounding would otherwise fall on a
 * coarse grid and, as double rounding, miss the float result on ~5% of outputs. One
 * multiplier for a global pool, one per tap count (1..k*k, entry 0 unused) for a pool
 * whose border windows hold fewer taps. */
static void pool_multipliers(const frost_int8_node *in, frost_int8_node *n, int entries,
                             int32_t *mult, int32_t *shift)
{
    bool gap = n->op == FROST_I8_GAP;
    int64_t taps_max = gap ? (int64_t)in->h * in->w : (int64_t)n->k * n->k;
    n->acc_shift = 0;
    while (n->acc_shift < 24 && ((taps_max * 255) << (n->acc_shift + 1)) <= (INT64_C(1) << 30))
        n->acc_shift++;
    for (int e = 0; e < entries; e++) {
        double count = gap ? (double)in->h * in->w : (double)(e ? e : 1);
        frost_quantize_multiplier((double)in->scale / (count * n->scale) /
                                      (double)(INT64_C(1) << n->acc_shift),
                                  &mult[e], &shift[e]);
    }
}

frost_status frost_int8_set_multipliers(frost_int8_model *m, frost_int8_node *n)
{
    const frost_int8_node *a = &m->nodes[n->in[0]];
    const frost_int8_node *b = n->n_in > 1 ? &m->nodes[n->in[1]] : NULL;
    int entries = n->op == FROST_I8_ADD ? 3 : n->op == FROST_I8_AVGPOOL ? n->k * n->k + 1 : 1;
    int32_t *mult = frost_int8_own(m, (size_t)entries * 4);
    int32_t *shift = frost_int8_own(m, (size_t)entries * 4);
    if (!mult || !shift)
        return FROST_ERR_NOMEM; /* frost_int8_own set the error */
    if (n->op == FROST_I8_ADD)
        add_multipliers(a, b, n, mult, shift);
    else if (n->op == FROST_I8_MUL)
        mul_multiplier(a, b, n, mult, shift);
    else
        pool_multipliers(a, n, entries, mult, shift);
    n->mult = mult;
    n->shift = shift;
    n->n_mult = entries;
    return FROST_OK;
}
