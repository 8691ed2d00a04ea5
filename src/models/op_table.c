/*
 * The op table: names, input counts, flags and attributes of every graph op, and the
 * shape / MAC inference with its argument checks (the builders in graph.c, the JSON
 * reader and writer in json.c use these; see op_table.h).
 */
#include "models/op_table.h"

#include <string.h>

#include "core/util.h"

#define ATTR(key_, type_, field_, from_, def_)                                                  \
    {                                                                                           \
        .key = key_, .type = FROST_ATTR_##type_, .offset = offsetof(frost_layer_attrs, field_), \
        .def_from = FROST_DEF_##from_, .def = def_                                              \
    }

/* An op without attributes points at this (one unused entry; n_attrs is 0). */
static const frost_attr_desc no_attrs[] = {ATTR("", INT, out, VALUE, 0)};
static const frost_attr_desc conv_attrs[] = {
    ATTR("out", INT, out, VALUE, 0),       ATTR("k", INT, k, VALUE, 0),
    ATTR("stride", INT, stride, VALUE, 1), ATTR("pad", INT, pad, HALF_K, 0),
    ATTR("groups", INT, groups, VALUE, 1), ATTR("bias", BOOL, bias, VALUE, 0),
};
static const frost_attr_desc bn_attrs[] = {
    ATTR("eps", FLOAT, eps, VALUE, 1e-5),
    ATTR("momentum", FLOAT, momentum, VALUE, 0.1),
};
static const frost_attr_desc act_attrs[] = {ATTR("fn", ACT, act, VALUE, FROST_ACT_IDENTITY)};
static const frost_attr_desc pool_attrs[] = {
    ATTR("k", INT, k, VALUE, 0),
    ATTR("stride", INT, stride, K, 0),
    ATTR("pad", INT, pad, VALUE, 0),
};
static const frost_attr_desc linear_attrs[] = {
    ATTR("out", INT, out, VALUE, 0),
    ATTR("bias", BOOL, bias, VALUE, 1),
};
static const frost_attr_desc dropout_attrs[] = {ATTR("p", FLOAT, p, VALUE, 0.5)};
static const frost_attr_desc mix_attrs[] = {ATTR("none", BOOL, mix_none, VALUE, 0)};

/* Attribute counts, named after their tables for the X-macro below. */
enum {
    no_attrs_count = 0,
    conv_attrs_count = FROST_ARRAY_LEN(conv_attrs),
    bn_attrs_count = FROST_ARRAY_LEN(bn_attrs),
    act_attrs_count = FROST_ARRAY_LEN(act_attrs),
    pool_attrs_count = FROST_ARRAY_LEN(pool_attrs),
    linear_attrs_count = FROST_ARRAY_LEN(linear_attrs),
    dropout_attrs_count = FROST_ARRAY_LEN(dropout_attrs),
    mix_attrs_count = FROST_ARRAY_LEN(mix_attrs),
};

#define OP_INFO_(id, name_, min_in_, max_in_, flags_, attrs_) \
    [FROST_OP_##id] = {.name = name_,                         \
                       .min_in = min_in_,                     \
                       .max_in = max_in_,                     \
                       .flags = flags_,                       \
                       .attrs = attrs_,                       \
                       .n_attrs = attrs_##_count},
/* Declared without a size: a row missing from the list fails the count below. */
static const frost_op_info op_info[] = {FROST_OP_LIST(OP_INFO_)};
#undef OP_INFO_
_Static_assert(FROST_ARRAY_LEN(op_info) == FROST_OP_COUNT, "one description per op");

const frost_op_info *frost_op_info_of(frost_op op)
{
    static const frost_op_info unknown = {.name = "?", .attrs = no_attrs};
    return ((unsigned)op < FROST_OP_COUNT) ? &op_info[op] : &unknown;
}

const char *frost_op_name(frost_op op) { return frost_op_info_of(op)->name; }

int frost_op_from_name(const char *name)
{
    for (int i = 0; name && i < FROST_OP_COUNT; i++)
        if (!(op_info[i].flags & FROST_OPF_INTERNAL) && strcmp(op_info[i].name, name) == 0)
            return i;
    return -1;
}

void *frost_layer_attr_field(frost_layer_attrs *a, const frost_attr_desc *d)
{
    return (char *)a + d->offset;
}

void frost_layer_attr_set_default(frost_layer_attrs *a, const frost_attr_desc *d)
{
    double v = d->def;
    switch (d->def_from) {
    case FROST_DEF_VALUE: break;
    case FROST_DEF_HALF_K: v = a->k / 2; break;
    case FROST_DEF_K: v = a->k; break;
    }
    void *f = frost_layer_attr_field(a, d);
    switch (d->type) {
    case FROST_ATTR_INT: *(int *)f = (int)v; break;
    case FROST_ATTR_FLOAT: *(float *)f = (float)v; break;
    case FROST_ATTR_BOOL: *(bool *)f = v != 0.0; break;
    case FROST_ATTR_ACT: *(frost_act_kind *)f = (frost_act_kind)(int)v; break;
    }
}

void frost_layer_attrs_default(frost_op op, frost_layer_attrs *a)
{
    memset(a, 0, sizeof *a);
    const frost_op_info *info = frost_op_info_of(op);
    for (int i = 0; i < info->n_attrs; i++)
        frost_layer_attr_set_default(a, &info->attrs[i]);
}

/* ---------------------------------------------------------------- shape inference */

static int infer_conv(const char *name, const frost_layer_attrs *a, const frost_hwc *x,
                      frost_hwc *y, int64_t *macs)
{
    if (a->out <= 0 || a->k <= 0 || a->stride <= 0 || a->pad < 0 || a->groups <= 0 || a->k > 64 ||
        a->stride > 64 || a->pad > 64 || a->out > 65536)
        return frost_fail(FROST_ERR_ARG,
                          "layer '%s': conv needs out>0, 0<k<=64, 0<stride<=64, 0<=pad<=64, "
                          "groups>0 (got out=%d k=%d stride=%d pad=%d groups=%d)",
                          name, a->out, a->k, a->stride, a->pad, a->groups),
               -1;
    if (x->c % a->groups || a->out % a->groups)
        return frost_fail(FROST_ERR_SHAPE,
                          "layer '%s': groups=%d must divide in channels %d and out %d", name,
                          a->groups, x->c, a->out),
               -1;
    y->h = frost_conv_out_dim(x->h, a->k, a->stride, a->pad);
    y->w = frost_conv_out_dim(x->w, a->k, a->stride, a->pad);
    y->c = a->out;
    if (y->h <= 0 || y->w <= 0 || a->pad >= a->k)
        return frost_fail(FROST_ERR_SHAPE,
                          "layer '%s': a %dx%d kernel with pad %d does not fit a %dx%d input", name,
                          a->k, a->k, a->pad, x->h, x->w),
               -1;
    *macs = (int64_t)y->h * y->w * y->c * a->k * a->k * (x->c / a->groups);
    return 0;
}

static int infer_pool(const char *name, const frost_layer_attrs *a, const frost_hwc *x,
                      frost_hwc *y)
{
    if (a->k <= 0 || a->stride <= 0 || a->pad < 0 || 2 * a->pad > a->k)
        return frost_fail(
                   FROST_ERR_ARG,
                   "layer '%s': pool needs k>0, stride>0, 0<=pad<=k/2 (k=%d stride=%d pad=%d)",
                   name, a->k, a->stride, a->pad),
               -1;
    *y = (frost_hwc){frost_conv_out_dim(x->h, a->k, a->stride, a->pad),
                     frost_conv_out_dim(x->w, a->k, a->stride, a->pad), x->c};
    if (y->h <= 0 || y->w <= 0)
        return frost_fail(FROST_ERR_SHAPE, "layer '%s': a %dx%d pool does not fit a %dx%d input",
                          name, a->k, a->k, x->h, x->w),
               -1;
    return 0;
}

static int infer_linear(const char *name, const frost_layer_attrs *a, const frost_hwc *x,
                        frost_hwc *y, int64_t *macs)
{
    int64_t fin = (int64_t)x->h * x->w * x->c;
    if (a->out <= 0 || a->out > 1000000 || fin > 100000000)
        return frost_fail(FROST_ERR_ARG,
                          "layer '%s': linear needs 0 < out <= 1e6 (got %d, in %lld)", name, a->out,
                          (long long)fin),
               -1;
    *y = (frost_hwc){1, 1, a->out};
    *macs = fin * a->out;
    return 0;
}

static int infer_bn(const char *name, const frost_layer_attrs *a, const frost_hwc *x, frost_hwc *y)
{
    if (!(a->eps > 0.0f && a->eps < 1.0f) || !(a->momentum >= 0.0f && a->momentum <= 1.0f))
        return frost_fail(FROST_ERR_ARG, "layer '%s': bn needs 0<eps<1 and 0<=momentum<=1", name),
               -1;
    *y = *x;
    return 0;
}

static int infer_same_shape(const char *name, const char *what, int n_in, const frost_hwc *in,
                            bool channels_too)
{
    for (int i = 1; i < n_in; i++)
        if (in[i].h != in[0].h || in[i].w != in[0].w || (channels_too && in[i].c != in[0].c))
            return frost_fail(FROST_ERR_SHAPE, "layer '%s': %s of %dx%dx%d and %dx%dx%d (input %d)",
                              name, what, in[0].h, in[0].w, in[0].c, in[i].h, in[i].w, in[i].c, i),
                   -1;
    return 0;
}

/* mul: input 1 is input 0's shape, or 1x1xC (one factor per channel). One multiply per
 * output value is counted as a MAC. */
static int infer_mul(const char *name, const frost_hwc *in, frost_hwc *y, int64_t *macs)
{
    const frost_hwc *a = &in[0], *b = &in[1];
    bool same = b->h == a->h && b->w == a->w && b->c == a->c;
    bool per_channel = b->h == 1 && b->w == 1 && b->c == a->c;
    if (!same && !per_channel)
        return frost_fail(FROST_ERR_SHAPE,
                          "layer '%s': mul of %dx%dx%d by %dx%dx%d: input 1 must have input 0's "
                          "shape or be 1x1x%d (one factor per channel; put the full-size "
                          "tensor first)",
                          name, a->h, a->w, a->c, b->h, b->w, b->c, a->c),
               -1;
    *y = *a;
    *macs = (int64_t)a->h * a->w * a->c;
    return 0;
}

int frost_op_infer(frost_op op, const char *name, const frost_layer_attrs *a, int n_in,
                   const frost_hwc *in, frost_hwc *out, int64_t *macs)
{
    const frost_op_info *info = frost_op_info_of(op);
    *macs = 0;
    if (n_in < info->min_in || n_in > info->max_in)
        return frost_fail(FROST_ERR_ARG, "layer '%s': %s takes %d..%d inputs (got %d)", name,
                          info->name, info->min_in, info->max_in, n_in),
               -1;
    switch (op) {
    case FROST_OP_INPUT:
        return frost_fail(FROST_ERR_ARG, "layer '%s': the input node is created with the model",
                          name),
               -1;
    case FROST_OP_CONV: return infer_conv(name, a, &in[0], out, macs);
    case FROST_OP_BN: return infer_bn(name, a, &in[0], out);
    case FROST_OP_ACT:
        if ((unsigned)a->act >= FROST_ACT_COUNT)
            return frost_fail(FROST_ERR_ARG, "layer '%s': unknown activation %d", name,
                              (int)a->act),
                   -1;
        *out = in[0];
        return 0;
    case FROST_OP_MAXPOOL:
    case FROST_OP_AVGPOOL: return infer_pool(name, a, &in[0], out);
    case FROST_OP_GAP: *out = (frost_hwc){1, 1, in[0].c}; return 0;
    case FROST_OP_LINEAR: return infer_linear(name, a, &in[0], out, macs);
    case FROST_OP_ADD: *out = in[0]; return infer_same_shape(name, "add", n_in, in, true);
    case FROST_OP_MUL: return infer_mul(name, in, out, macs);
    case FROST_OP_CONCAT:
        *out = in[0];
        for (int i = 1; i < n_in; i++)
            out->c += in[i].c;
        return infer_same_shape(name, "concat", n_in, in, false);
    case FROST_OP_DROPOUT:
        if (!(a->p >= 0.0f && a->p < 1.0f))
            return frost_fail(FROST_ERR_ARG, "layer '%s': dropout p must be in [0, 1) (got %g)",
                              name, (double)a->p),
                   -1;
        *out = in[0];
        return 0;
    case FROST_OP_FLATTEN: *out = (frost_hwc){1, 1, in[0].h * in[0].w * in[0].c}; return 0;
    case FROST_OP_MIX: /* one multiply-add per input and output value */
        *out = in[0];
        *macs = (int64_t)n_in * in[0].h * in[0].w * in[0].c;
        return infer_same_shape(name, "mix", n_in, in, true);
    case FROST_OP_FAKEQUANT: *out = in[0]; return 0;
    case FROST_OP_COUNT: break;
    }
    return frost_fail(FROST_ERR_ARG, "layer '%s': unknown op %d", name, (int)op), -1;
}
