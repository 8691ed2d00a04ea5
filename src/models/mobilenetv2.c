/*
 * MobileNetV2 (Sandler et al. 2018), layer for layer as torchvision's
 * mobilenet_v2 (torchvision/models/mobilenetv2.py):
 *
 *   stem     3x3 conv stride 2 to make_div8(32 w), BN, ReLU6
 *   blocks   inverted residuals (t, c, n, s) below, Cout = make_div8(c w),
 *            hidden = Cin * t, no expansion conv when t == 1,
 *            residual iff stride 1 and Cin == Cout
 *   head     1x1 conv to make_div8(1280 max(1, w)), BN, ReLU6
 *   pool     global average, dropout 0.2, linear classifier with bias
 *
 * Options: act replaces ReLU6 everywhere (e.g. "relu", which quantizes
 * better); head replaces the head width. Names: stem.*, s<stage>.b<block>.*
 * (stages are the 7 rows of the table, counted from 1), head.*, pool, drop,
 * classifier.
 */
#include "models/blocks.h"

#include <stdio.h>

typedef struct {
    int t, c, n, s;
} mbv2_row;

static const mbv2_row mbv2_rows[] = {
    {1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2},  {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

#define MBV2_STEM    32
#define MBV2_HEAD    1280
#define MBV2_DROPOUT 0.2f

static bool build(frost_model *m, const frost_builtin_spec *o)
{
    frost_act_kind act = frost_builtin_act(o, FROST_ACT_RELU6);
    frost_builtin_stride_plan plan = frost_builtin_stride_plan_for(o->input);
    double w = o->width;
    int x = frost_g_conv_bn_act(m, "stem", 0, frost_make_div8((float)(MBV2_STEM * w)), 3,
                                frost_builtin_stride_take(&plan, 2), 1, act);
    if (x < 0)
        return false;
    for (int stage = 0; stage < (int)(sizeof mbv2_rows / sizeof mbv2_rows[0]); stage++) {
        const mbv2_row *row = &mbv2_rows[stage];
        int cout = frost_make_div8((float)(row->c * w));
        for (int i = 0; i < row->n; i++) {
            char prefix[FROST_NAME_LEN];
            snprintf(prefix, sizeof prefix, "s%d.b%d", stage + 1, i + 1);
            int cin = frost_builtin_channels(m, x);
            int stride = frost_builtin_stride_take(&plan, i == 0 ? row->s : 1);
            frost_builtin_ir_def d = {
                .hidden = row->t == 1 ? 0 : cin * row->t,
                .cout = cout,
                .k = 3,
                .stride = stride,
                .act = act,
                .skip = frost_builtin_keeps_shape(stride, cin, cout) ? x : -1,
            };
            x = frost_builtin_inverted_residual(m, prefix, x, &d);
            if (x < 0)
                return false;
        }
    }
    int head = o->head > 0 ? o->head : frost_make_div8((float)(MBV2_HEAD * (w > 1.0 ? w : 1.0)));
    return frost_builtin_tail(m, x, head, act, frost_builtin_dropout(o, MBV2_DROPOUT),
                              o->classes) == 0;
}

frost_status frost_builtin_mobilenetv2(const frost_builtin_spec *o, frost_model **out)
{
    frost_model *m = frost_g_new(o->name, o->input, o->input, o->in_channels);
    return frost_builtin_done(o, m, m && build(m, o), out);
}
