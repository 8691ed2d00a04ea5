/*
 * MnasNet-B1 (Tan et al. 2019), the structure of torchvision's mnasnet1_0
 * (torchvision/models/mnasnet.py, version 2: the stem is width-scaled too),
 * with the depth multiplier = the width option:
 *
 *   stem     3x3 conv stride 2 to d0, BN, ReLU
 *   sep      3x3 depthwise on d0, BN, ReLU; 1x1 conv to d1, BN (no skip)
 *   s1..s6   stacks of inverted residuals (k, expansion, repeats, stride):
 *            (3,3,3,2) (5,3,3,2) (5,6,3,2) (3,6,2,1) (5,6,4,2) (3,6,1,1)
 *            to d2..d7; residual iff stride 1 and Cin == Cout
 *   head     1x1 conv to 1280 (not width-scaled), BN, ReLU
 *   pool     global average, dropout 0.2, linear classifier with bias
 *
 * d = make_div8({32, 16, 24, 40, 80, 96, 192, 320} * w) (torchvision's
 * _round_to_multiple_of is the same rounding). One difference: torchvision
 * uses BN momentum 0.0003 (TensorFlow's 0.9997); frost keeps 0.1 like every
 * other model, since a few epochs on Fashion-MNIST would leave momentum-0.0003
 * running statistics near their initial values.
 */
#include "models/blocks.h"

#include <stdio.h>

typedef struct {
    int k, e, n, s;
} mnas_row;

static const mnas_row mnas_rows[] = {
    {3, 3, 3, 2}, {5, 3, 3, 2}, {5, 6, 3, 2}, {3, 6, 2, 1}, {5, 6, 4, 2}, {3, 6, 1, 1},
};

static const int mnas_depths[8] = {32, 16, 24, 40, 80, 96, 192, 320};

#define MNAS_HEAD    1280
#define MNAS_DROPOUT 0.2f

static bool build(frost_model *m, const frost_builtin_spec *o)
{
    frost_act_kind act = frost_builtin_act(o, FROST_ACT_RELU);
    frost_builtin_stride_plan plan = frost_builtin_stride_plan_for(o->input);
    int d[8];
    for (int i = 0; i < 8; i++)
        d[i] = frost_make_div8((float)(mnas_depths[i] * o->width));

    int x = frost_g_conv_bn_act(m, "stem", 0, d[0], 3, frost_builtin_stride_take(&plan, 2), 1, act);
    if (x < 0)
        return false;
    frost_builtin_ir_def sep = {
        .hidden = 0, .cout = d[1], .k = 3, .stride = 1, .act = act, .skip = -1};
    x = frost_builtin_inverted_residual(m, "sep", x, &sep);
    if (x < 0)
        return false;
    for (int stage = 0; stage < 6; stage++) {
        const mnas_row *row = &mnas_rows[stage];
        for (int i = 0; i < row->n; i++) {
            char prefix[FROST_NAME_LEN];
            snprintf(prefix, sizeof prefix, "s%d.b%d", stage + 1, i + 1);
            int cin = frost_builtin_channels(m, x), cout = d[stage + 2];
            int stride = frost_builtin_stride_take(&plan, i == 0 ? row->s : 1);
            frost_builtin_ir_def b = {
                .hidden = cin * row->e,
                .cout = cout,
                .k = row->k,
                .stride = stride,
                .act = act,
                .skip = frost_builtin_keeps_shape(stride, cin, cout) ? x : -1,
            };
            x = frost_builtin_inverted_residual(m, prefix, x, &b);
            if (x < 0)
                return false;
        }
    }
    int head = o->head > 0 ? o->head : MNAS_HEAD;
    return frost_builtin_tail(m, x, head, act, frost_builtin_dropout(o, MNAS_DROPOUT),
                              o->classes) == 0;
}

frost_status frost_builtin_mnasnet_b1(const frost_builtin_spec *o, frost_model **out)
{
    frost_model *m = frost_g_new(o->name, o->input, o->input, o->in_channels);
    return frost_builtin_done(o, m, m && build(m, o), out);
}
