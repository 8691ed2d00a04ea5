/*
 * FrostNet Small / Base / Large (clovaai/frostnet, frostnet.py; arXiv 2006.09679;
 * docs/models.md#frostnet-frostnet_s-frostnet_b-frostnet_l).
 *
 *   stem     3x3 conv stride 2 to make_div8(int(32 * min(1, w))), BN, ReLU
 *   S1..S5   Frost bottlenecks (tables below), Cout = make_div8(int(c * w))
 *   head     1x1 conv to 1280 (never width-scaled), BN, ReLU
 *   pool     global average, dropout 0.2, classifier (the reference's 1x1
 *            conv with bias on the 1x1 map, i.e. a linear layer)
 *
 * Frost bottleneck (CascadePreExBottleneck) for (k, e, r, Cout, s) on Cin:
 *   SC module  sq = ReLU(BN(1x1 conv Cin -> R)), R = make_div8(Cin / r);
 *              u = concat(sq, x): N = R + Cin channels, squeezed part first
 *   expand     ReLU(BN(1x1 conv N -> N*e))  (ratio on the concatenated width)
 *   depthwise  ReLU(BN(k x k dw conv, stride s))
 *   project    BN(1x1 conv -> Cout), linear
 *   residual   + x iff s == 1 and Cin == Cout
 * With Cin / r < 8 there is no SC (N = Cin); with e == 1 there is neither SC
 * nor expansion (depthwise + projection on Cin).
 *
 * Layer names: stem.*, s<stage>.b<block>.{sq,cat,expand,dw,project,add},
 * head.*, pool, drop, classifier (stages and blocks count from 1).
 */
#include "models/blocks.h"

#include <stdio.h>

typedef struct {
    int stage; /* S1..S5 */
    int k, e, r, c, s;
} frost_block_row;

/* Tuples (k, e, r, c, s) exactly as frostnet.py (which orders them k, c, e, r, s).
 * The first block's r is unused (e == 1: no SC); the reference writes 1. */
static const frost_block_row small_rows[] = {
    {1, 3, 1, 1, 16, 1},  {1, 5, 3, 4, 24, 2},  {1, 3, 3, 4, 24, 1},  {2, 5, 3, 4, 40, 2},
    {3, 5, 3, 4, 80, 2},  {3, 5, 3, 4, 80, 1},  {3, 3, 3, 4, 80, 1},  {3, 5, 3, 2, 96, 1},
    {3, 5, 3, 4, 96, 1},  {3, 5, 3, 4, 96, 1},  {4, 5, 6, 4, 192, 2}, {4, 5, 6, 4, 192, 1},
    {4, 5, 6, 4, 192, 1}, {5, 5, 6, 2, 320, 1},
};

static const frost_block_row base_rows[] = {
    {1, 3, 1, 1, 16, 1},  {1, 5, 6, 4, 24, 2},  {1, 3, 3, 4, 24, 1},  {2, 5, 3, 4, 40, 2},
    {2, 5, 3, 4, 40, 1},  {3, 5, 3, 4, 80, 2},  {3, 3, 3, 4, 80, 1},  {3, 5, 3, 2, 96, 1},
    {3, 3, 3, 4, 96, 1},  {3, 5, 3, 4, 96, 1},  {3, 5, 3, 4, 96, 1},  {4, 5, 6, 2, 192, 2},
    {4, 5, 3, 2, 192, 1}, {4, 5, 3, 2, 192, 1}, {4, 5, 3, 2, 192, 1}, {5, 5, 6, 2, 320, 1},
};

static const frost_block_row large_rows[] = {
    {1, 3, 1, 1, 16, 1},  {1, 3, 6, 4, 24, 2},  {1, 3, 3, 4, 24, 1},  {2, 5, 6, 4, 40, 2},
    {2, 3, 3, 4, 40, 1},  {3, 5, 6, 4, 80, 2},  {3, 5, 3, 4, 80, 1},  {3, 5, 3, 4, 80, 1},
    {3, 5, 6, 4, 96, 1},  {3, 5, 3, 4, 96, 1},  {3, 3, 3, 4, 96, 1},  {3, 3, 3, 4, 96, 1},
    {4, 5, 6, 2, 192, 2}, {4, 5, 6, 4, 192, 1}, {4, 5, 6, 4, 192, 1}, {4, 5, 3, 4, 192, 1},
    {4, 5, 3, 4, 192, 1}, {5, 5, 6, 2, 320, 1},
};

#define FROSTNET_HEAD    1280
#define FROSTNET_DROPOUT 0.2f

/* The SC module: returns the concatenation [squeezed, x], or x itself when
 * the block is too narrow for it (Cin / r < 8, the reference's "MB" mode). */
static int squeeze_concat(frost_model *m, const char *prefix, int x, int r, frost_act_kind act)
{
    int cin = frost_builtin_channels(m, x);
    if (cin / r < 8)
        return x;
    char name[2 * FROST_NAME_LEN];
    snprintf(name, sizeof name, "%s.sq", prefix);
    int sq = frost_g_conv_bn_act(m, name, x, frost_make_div8((float)(cin / r)), 1, 1, 1, act);
    if (sq < 0)
        return -1;
    snprintf(name, sizeof name, "%s.cat", prefix);
    int parts[2] = {sq, x};
    return frost_g_concat(m, name, 2, parts);
}

static int frost_bottleneck(frost_model *m, const char *prefix, int x, const frost_block_row *row,
                            int cout, int stride, frost_act_kind act)
{
    int cin = frost_builtin_channels(m, x);
    int u = x, hidden = 0;
    if (row->e != 1) {
        u = squeeze_concat(m, prefix, x, row->r, act);
        if (u < 0)
            return -1;
        hidden = frost_builtin_channels(m, u) * row->e;
    }
    frost_builtin_ir_def d = {
        .hidden = hidden,
        .cout = cout,
        .k = row->k,
        .stride = stride,
        .act = act,
        .skip = frost_builtin_keeps_shape(stride, cin, cout) ? x : -1,
    };
    return frost_builtin_inverted_residual(m, prefix, u, &d);
}

#define ROWS(a) (int)(sizeof(a) / sizeof((a)[0]))

static const frost_block_row *rows_for(char size, int *n)
{
    switch (size) {
    case 's': *n = ROWS(small_rows); return small_rows;
    case 'b': *n = ROWS(base_rows); return base_rows;
    default: *n = ROWS(large_rows); return large_rows;
    }
}

static bool build(frost_model *m, const frost_builtin_spec *o, const frost_block_row *rows,
                  int n_rows)
{
    frost_act_kind act = frost_builtin_act(o, FROST_ACT_RELU);
    frost_builtin_stride_plan plan = frost_builtin_stride_plan_for(o->input);
    double w = o->width;
    /* int() truncation before make_div8, as the reference does. */
    int stem_ch = frost_make_div8((float)(int)(32.0 * (w < 1.0 ? w : 1.0)));
    int x =
        frost_g_conv_bn_act(m, "stem", 0, stem_ch, 3, frost_builtin_stride_take(&plan, 2), 1, act);
    if (x < 0)
        return false;
    for (int i = 0, block = 0; i < n_rows; i++) {
        block = (i > 0 && rows[i].stage == rows[i - 1].stage) ? block + 1 : 1;
        char prefix[FROST_NAME_LEN];
        snprintf(prefix, sizeof prefix, "s%d.b%d", rows[i].stage, block);
        int cout = frost_make_div8((float)(int)(rows[i].c * w));
        x = frost_bottleneck(m, prefix, x, &rows[i], cout,
                             frost_builtin_stride_take(&plan, rows[i].s), act);
        if (x < 0)
            return false;
    }
    int head = o->head > 0 ? o->head : FROSTNET_HEAD;
    return frost_builtin_tail(m, x, head, act, frost_builtin_dropout(o, FROSTNET_DROPOUT),
                              o->classes) == 0;
}

frost_status frost_builtin_frostnet(const frost_builtin_spec *o, char size, frost_model **out)
{
    int n_rows;
    const frost_block_row *rows = rows_for(size, &n_rows);
    frost_model *m = frost_g_new(o->name, o->input, o->input, o->in_channels);
    return frost_builtin_done(o, m, m && build(m, o, rows, n_rows), out);
}
