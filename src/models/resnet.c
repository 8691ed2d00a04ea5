/*
 * A small ResNet for small inputs: the CIFAR ResNet-20 of He et al. 2016
 * (section 4.2), with option-B shortcuts.
 *
 *   stem     3x3 conv stride 1 to 16w, BN, ReLU
 *   s1..s3   3 BasicBlocks each, 16w / 32w / 64w channels; the first block
 *            of s2 and s3 has stride 2
 *   pool     global average, [dropout if asked], linear classifier with bias
 *
 * BasicBlock: c1 = ReLU(BN(3x3 conv, stride s)); c2 = BN(3x3 conv);
 * shortcut = x, or BN(1x1 conv, stride s) when the shape changes (option B:
 * a learned projection, where the paper's CIFAR models use option A, zero
 * padding, which has no parameters); out = ReLU(c2 + shortcut).
 *
 * Widths are make_div8(c * w) (16/32/64 at w = 1). The network is built for
 * 28-32 pixel inputs and downsamples 4x (28 -> 7, 32 -> 8); the small-input
 * stride rule does not apply, and there is no head conv (the head option is
 * ignored). No dropout by default, as in the paper.
 *
 * Names: stem.*, s<stage>.b<block>.{c1,c2,proj}.*, .add, .act; pool, classifier.
 */
#include "models/blocks.h"

#include <stdio.h>

#define RESNET_STAGES 3
#define RESNET_BLOCKS 3

static const int resnet_channels[RESNET_STAGES] = {16, 32, 64};

static int basic_block(frost_model *m, const char *prefix, int x, int cout, int stride,
                       frost_act_kind act)
{
    char name[2 * FROST_NAME_LEN];
    int cin = frost_builtin_channels(m, x);
    snprintf(name, sizeof name, "%s.c1", prefix);
    int y = frost_g_conv_bn_act(m, name, x, cout, 3, stride, 1, act);
    if (y < 0)
        return -1;
    snprintf(name, sizeof name, "%s.c2", prefix);
    y = frost_g_conv_bn_act(m, name, y, cout, 3, 1, 1, FROST_ACT_IDENTITY);
    if (y < 0)
        return -1;
    int shortcut = x;
    if (!frost_builtin_keeps_shape(stride, cin, cout)) {
        snprintf(name, sizeof name, "%s.proj", prefix);
        shortcut = frost_g_conv_bn_act(m, name, x, cout, 1, stride, 1, FROST_ACT_IDENTITY);
        if (shortcut < 0)
            return -1;
    }
    snprintf(name, sizeof name, "%s.add", prefix);
    y = frost_g_add(m, name, y, shortcut);
    if (y < 0)
        return -1;
    snprintf(name, sizeof name, "%s.act", prefix);
    return frost_g_act(m, name, y, act);
}

static bool build(frost_model *m, const frost_builtin_spec *o)
{
    frost_act_kind act = frost_builtin_act(o, FROST_ACT_RELU);
    int x =
        frost_g_conv_bn_act(m, "stem", 0, frost_make_div8((float)(16 * o->width)), 3, 1, 1, act);
    if (x < 0)
        return false;
    for (int stage = 0; stage < RESNET_STAGES; stage++) {
        int cout = frost_make_div8((float)(resnet_channels[stage] * o->width));
        for (int b = 0; b < RESNET_BLOCKS; b++) {
            char prefix[FROST_NAME_LEN];
            snprintf(prefix, sizeof prefix, "s%d.b%d", stage + 1, b + 1);
            x = basic_block(m, prefix, x, cout, (stage > 0 && b == 0) ? 2 : 1, act);
            if (x < 0)
                return false;
        }
    }
    return frost_builtin_tail(m, x, 0, act, frost_builtin_dropout(o, 0.0f), o->classes) == 0;
}

frost_status frost_builtin_resnet20(const frost_builtin_spec *o, frost_model **out)
{
    frost_model *m = frost_g_new(o->name, o->input, o->input, o->in_channels);
    return frost_builtin_done(o, m, m && build(m, o), out);
}
