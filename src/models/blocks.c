/* Building blocks shared by the built-in models (see blocks.h). */
#include "models/blocks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

frost_act_kind frost_builtin_act(const frost_builtin_spec *o, frost_act_kind model_default)
{
    return o->act >= 0 ? (frost_act_kind)o->act : model_default;
}

float frost_builtin_dropout(const frost_builtin_spec *o, float model_default)
{
    return o->dropout >= 0.0f ? o->dropout : model_default;
}

int frost_builtin_channels(const frost_model *m, int node) { return m->nodes[node].c; }

bool frost_builtin_keeps_shape(int stride, int cin, int cout) { return stride == 1 && cin == cout; }

/* "<prefix>.<part>"; names are far shorter than FROST_NAME_LEN, and graph.c
 * refuses (rather than truncates) a name that would not fit. */
static const char *sub_name(char *buf, size_t len, const char *prefix, const char *part)
{
    snprintf(buf, len, "%s.%s", prefix, part);
    return buf;
}

int frost_builtin_inverted_residual(frost_model *m, const char *prefix, int in,
                                    const frost_builtin_ir_def *d)
{
    char name[2 * FROST_NAME_LEN];
    int x = in;
    if (d->hidden > 0) {
        x = frost_g_conv_bn_act(m, sub_name(name, sizeof name, prefix, "expand"), x, d->hidden, 1,
                                1, 1, d->act);
        if (x < 0)
            return -1;
    }
    int mid = frost_builtin_channels(m, x);
    x = frost_g_conv_bn_act(m, sub_name(name, sizeof name, prefix, "dw"), x, mid, d->k, d->stride,
                            mid, d->act);
    if (x < 0)
        return -1;
    x = frost_g_conv_bn_act(m, sub_name(name, sizeof name, prefix, "project"), x, d->cout, 1, 1, 1,
                            FROST_ACT_IDENTITY);
    if (x < 0 || d->skip < 0)
        return x;
    return frost_g_add(m, sub_name(name, sizeof name, prefix, "add"), x, d->skip);
}

int frost_builtin_tail(frost_model *m, int in, int head_ch, frost_act_kind act, float dropout,
                       int classes)
{
    int x = in;
    if (head_ch > 0) {
        x = frost_g_conv_bn_act(m, "head", x, head_ch, 1, 1, 1, act);
        if (x < 0)
            return -1;
    }
    x = frost_g_gap(m, "pool", x);
    if (x < 0)
        return -1;
    /* p = 0 is an identity: leave the node out rather than run a no-op. */
    if (dropout > 0.0f) {
        x = frost_g_dropout(m, "drop", x, dropout);
        if (x < 0)
            return -1;
    }
    /* FrostNet writes its classifier as a 1x1 conv with bias on the pooled
     * 1x1 map; that is exactly a linear layer with bias. */
    x = frost_g_linear(m, "classifier", x, classes, true);
    if (x < 0)
        return -1;
    return frost_g_finish(m, classes);
}

frost_status frost_builtin_done(const frost_builtin_spec *o, frost_model *m, bool ok,
                                frost_model **out)
{
    if (m && ok) {
        *out = m;
        return FROST_OK;
    }
    /* graph.c reports its failures only as text; the options were validated
     * before building, so a failure is either memory or a shape bug here. */
    char why[512];
    snprintf(why, sizeof why, "%s", frost_last_error());
    frost_status s = strstr(why, "out of memory") ? FROST_ERR_NOMEM : FROST_ERR_SHAPE;
    frost_status r = frost_fail(s, "built-in model %s: %s", o->name, why);
    frost_model_free(m);
    return r;
}

/* ---------------------------------------------------------------- strides */

int frost_builtin_stride_demotions(int input)
{
    if (input <= 0)
        return 0;
    long d = lround(log2(224.0 / (double)input)) - 1;
    return (int)(d < 0 ? 0 : d > 2 ? 2 : d);
}

frost_builtin_stride_plan frost_builtin_stride_plan_for(int input)
{
    return (frost_builtin_stride_plan){.demote_left = frost_builtin_stride_demotions(input)};
}

int frost_builtin_stride_take(frost_builtin_stride_plan *plan, int nominal_stride)
{
    if (nominal_stride == 2 && plan->demote_left > 0) {
        plan->demote_left--;
        return 1;
    }
    return nominal_stride;
}
