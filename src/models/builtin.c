/*
 * The built-in model zoo: names, default options and option checks. The
 * architectures live in frostnet.c, mobilenetv2.c, mnasnet.c and resnet.c, built
 * from blocks.c's pieces; docs/models.md describes them.
 *
 * Small inputs (the stride rule every model follows, in blocks.c). The ImageNet models downsample
 * 32x (224 -> 7). On 28x28 Fashion-MNIST that would leave a 1x1 map after the third stage, so, as
 * the usual CIFAR adaptation of MobileNetV2 does, the first few stride-2 layers (the stem first,
 * then the blocks in order) run at stride 1 instead. For an input of S pixels the number demoted is
 *
 *     d = clamp(round(log2(224 / S)) - 1, 0, 2)
 *
 *     S = 28, 32  -> d = 2: 8x downsampling, ends at 4x4
 *     S = 56      -> d = 1: 16x, ends at 4x4
 *     S = 112     -> d = 0: 32x, ends at 4x4 (unchanged model)
 *     S >= 160    -> d = 0: unchanged (7x7 at 224)
 *
 * The CIFAR-style ResNet is already built for small inputs and is never demoted.
 */
#include "models/blocks.h"

#include <math.h>
#include <string.h>

#include "core/util.h"

/* ---------------------------------------------------------------- names */

static frost_status build_frostnet_s(const frost_builtin_spec *o, frost_model **out)
{
    return frost_builtin_frostnet(o, 's', out);
}

static frost_status build_frostnet_b(const frost_builtin_spec *o, frost_model **out)
{
    return frost_builtin_frostnet(o, 'b', out);
}

static frost_status build_frostnet_l(const frost_builtin_spec *o, frost_model **out)
{
    return frost_builtin_frostnet(o, 'l', out);
}

static const struct {
    const char *name;
    frost_status (*build)(const frost_builtin_spec *o, frost_model **out);
} zoo[] = {
    {"frostnet_s", build_frostnet_s},         {"frostnet_b", build_frostnet_b},
    {"frostnet_l", build_frostnet_l},         {"mobilenetv2", frost_builtin_mobilenetv2},
    {"mnasnet_b1", frost_builtin_mnasnet_b1}, {"resnet", frost_builtin_resnet20},
};

/* The public list: the same names, NULL-terminated. */
static const char *const builtin_names[] = {
    "frostnet_s", "frostnet_b", "frostnet_l", "mobilenetv2", "mnasnet_b1", "resnet", NULL,
};
_Static_assert(FROST_ARRAY_LEN(builtin_names) == FROST_ARRAY_LEN(zoo) + 1, "one name per model");

const char *const *frost_builtin_names(void) { return builtin_names; }

frost_builtin_opts frost_builtin_defaults(void)
{
    return (frost_builtin_opts){
        .width = 1.0f,
        .input = 224,
        .in_channels = 3,
        .classes = 1000,
        .act = NULL,
        .dropout = -1.0f,
        .head = 0,
    };
}

/* ---------------------------------------------------------------- options */

/* Activations a whole network can be built from (identity would make it
 * linear, hsigmoid is a gate, not a trunk activation). */
static int parse_act(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "relu") == 0)
        return FROST_ACT_RELU;
    if (strcmp(s, "relu6") == 0)
        return FROST_ACT_RELU6;
    if (strcmp(s, "hswish") == 0)
        return FROST_ACT_HSWISH;
    return -2;
}

/* float widths such as 0.35f are not the decimal the user meant; the
 * reference code computes int(c * w) with Python's double 0.35, and the two
 * disagree at exact multiples (40 * 0.35 = 14 in double but 13.9999998 from
 * the float). Snap to 6 decimals to compute with the intended value. */
static double intended_width(float w) { return nearbyint((double)w * 1e6) / 1e6; }

static frost_status check_opts(const char *name, const frost_builtin_opts *o, frost_builtin_spec *z)
{
    if (!(o->width > 0.0f && o->width <= 4.0f))
        return frost_fail(FROST_ERR_ARG, "built-in model %s: option width = %g must be in (0, 4]",
                          name, (double)o->width);
    if (o->input < 8 || o->input > 1024)
        return frost_fail(FROST_ERR_ARG, "built-in model %s: option input = %d must be in 8..1024",
                          name, o->input);
    if (o->in_channels < 1 || o->in_channels > 4096)
        return frost_fail(FROST_ERR_ARG,
                          "built-in model %s: option in_channels = %d must be in 1..4096", name,
                          o->in_channels);
    if (o->classes < 2 || o->classes > 1000000)
        return frost_fail(FROST_ERR_ARG,
                          "built-in model %s: option classes = %d must be in 2..1000000", name,
                          o->classes);
    int act = parse_act(o->act);
    if (act == -2)
        return frost_fail(FROST_ERR_ARG,
                          "built-in model %s: option act = '%s' is unknown (use relu, relu6 or "
                          "hswish)",
                          name, o->act);
    if (isnan(o->dropout) || o->dropout >= 1.0f)
        return frost_fail(FROST_ERR_ARG,
                          "built-in model %s: option dropout = %g must be below 1 (< 0 = default)",
                          name, (double)o->dropout);
    if (o->head < 0 || o->head > 65536)
        return frost_fail(FROST_ERR_ARG,
                          "built-in model %s: option head = %d must be in 0..65536 (0 = default)",
                          name, o->head);
    *z = (frost_builtin_spec){
        .name = name,
        .width = intended_width(o->width),
        .input = o->input,
        .in_channels = o->in_channels,
        .classes = o->classes,
        .act = act,
        .dropout = o->dropout,
        .head = o->head,
    };
    return FROST_OK;
}

/* ---------------------------------------------------------------- entry */

frost_status frost_model_builtin(const char *name, const frost_builtin_opts *opts,
                                 frost_model **out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_model_builtin: out is NULL");
    *out = NULL;
    if (!name)
        return frost_fail(FROST_ERR_ARG, "frost_model_builtin: model name is NULL");
    for (size_t i = 0; i < FROST_ARRAY_LEN(zoo); i++) {
        if (strcmp(name, zoo[i].name) != 0)
            continue;
        frost_builtin_opts defaults = frost_builtin_defaults();
        frost_builtin_spec z;
        FROST_TRY(check_opts(zoo[i].name, opts ? opts : &defaults, &z));
        return zoo[i].build(&z, out);
    }
    return frost_fail(FROST_ERR_ARG,
                      "unknown built-in model '%s' (known: frostnet_s, frostnet_b, frostnet_l, "
                      "mobilenetv2, mnasnet_b1, resnet)",
                      name);
}
