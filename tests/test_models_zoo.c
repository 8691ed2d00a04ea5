/*
 * The built-in model zoo: parameter and MAC counts against independent
 * references, the structure of the blocks, the small-input stride rule and
 * option checking.
 *
 * References:
 *  - FrostNet: the recount table of docs/models.md#frostnet-counts-against-the-published-figures
 *    (Small and Base match the paper's figures), to 0.5%.
 *  - MobileNetV2 and MnasNet-B1: torchvision 0.14, counted by
 *    tests/fixtures/torchvision_counts.py (conv MACs = OH*OW*Cout*k*k*Cin/groups,
 *    linear = in*out), exact.
 *  - ResNet-20: hand count below.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/blocks.h"
#include "models/graph.h"

static frost_model *build(const char *name, float width, int input, int channels, int classes)
{
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = width;
    o.input = input;
    o.in_channels = channels;
    o.classes = classes;
    frost_model *m = NULL;
    frost_status s = frost_model_builtin(name, &o, &m);
    if (s != FROST_OK)
        fprintf(stderr, "  %s w%g %d: %s\n", name, (double)width, input, frost_last_error());
    CHECK_EQ_INT(s, FROST_OK);
    return m;
}

/* The node feeding global pooling: the last feature map. */
static const frost_node *last_map(const frost_model *m)
{
    int pool = frost_g_find(m, "pool");
    CHECK(pool > 0);
    return pool > 0 ? &m->nodes[m->nodes[pool].in[0]] : &m->nodes[0];
}

static const frost_node *node(const frost_model *m, const char *name)
{
    int i = frost_g_find(m, name);
    if (i < 0)
        fprintf(stderr, "  no layer named %s\n", name);
    CHECK(i >= 0);
    return i >= 0 ? &m->nodes[i] : &m->nodes[0];
}

/* ---------------------------------------------------------------- FrostNet */

typedef struct {
    const char *name;
    float width;
    double params_m, macs_m; /* the docs/models.md recount table, millions */
} spec_row;

TEST(frostnet_counts_match_spec_table)
{
    static const spec_row rows[] = {
        {"frostnet_s", 0.5f, 2.35, 101}, {"frostnet_s", 0.75f, 3.48, 212},
        {"frostnet_s", 1.0f, 4.86, 315}, {"frostnet_s", 1.25f, 6.75, 504},
        {"frostnet_b", 0.5f, 2.38, 113}, {"frostnet_b", 0.75f, 3.53, 245},
        {"frostnet_b", 1.0f, 5.00, 363}, {"frostnet_b", 1.25f, 6.94, 582},
        {"frostnet_l", 0.5f, 2.60, 132}, {"frostnet_l", 0.75f, 4.04, 286},
        {"frostnet_l", 1.0f, 5.81, 431}, {"frostnet_l", 1.25f, 8.22, 693},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        frost_model *m = build(rows[i].name, rows[i].width, 224, 3, 1000);
        if (!m)
            continue;
        CHECK_NEAR(frost_model_param_count(m) / 1e6, rows[i].params_m, 0, 0.005);
        CHECK_NEAR(frost_model_macs(m) / 1e6, rows[i].macs_m, 0, 0.005);
        const frost_node *f = last_map(m);
        CHECK_EQ_INT(f->h, 7);
        CHECK_EQ_INT(f->c, 1280);
        frost_model_free(m);
    }
}

/* One block by hand: FrostNet-S 1.0, S3 block 2 = (5, 3, 4, 80, 1) on Cin 80.
 * R = make_div8(80 / 4) = 24, N = 24 + 80 = 104, hidden = 312, 14x14 map. */
TEST(frostnet_block_structure)
{
    frost_model *m = build("frostnet_s", 1.0f, 224, 3, 1000);
    if (!m)
        return;
    const frost_node *sq = node(m, "s3.b2.sq.conv");
    CHECK_EQ_INT(sq->c, 24);
    CHECK_EQ_INT(sq->conv.kh, 1);
    const frost_node *cat = node(m, "s3.b2.cat");
    CHECK_EQ_INT(cat->c, 104);
    CHECK_EQ_INT(cat->n_in, 2);
    /* squeezed features first, then the block's input */
    CHECK_EQ_INT(cat->in[0], frost_g_find(m, "s3.b2.sq.act"));
    CHECK_EQ_INT(cat->in[1], frost_g_find(m, "s3.b1.project.bn"));
    const frost_node *dw = node(m, "s3.b2.dw.conv");
    CHECK_EQ_INT(dw->c, 312);
    CHECK_EQ_INT(dw->conv.groups, 312);
    CHECK_EQ_INT(dw->conv.kh, 5);
    CHECK_EQ_INT(dw->conv.pad_h, 2);
    CHECK_EQ_INT(dw->h, 14);
    /* expansion reads the concatenation; 1x1 conv MACs 14*14*312*104 */
    const frost_node *ex = node(m, "s3.b2.expand.conv");
    CHECK_EQ_INT(ex->in[0], frost_g_find(m, "s3.b2.cat"));
    CHECK_EQ_INT(ex->macs, 14 * 14 * 312 * 104);
    /* residual adds the plain input, not the concatenation */
    const frost_node *add = node(m, "s3.b2.add");
    CHECK_EQ_INT(add->in[1], frost_g_find(m, "s3.b1.project.bn"));
    /* S1 block 1 (e = 1): no SC, no expansion, depthwise on the 32-channel stem,
     * no residual (32 -> 16) */
    CHECK_EQ_INT(frost_g_find(m, "s1.b1.expand.conv"), -1);
    CHECK_EQ_INT(frost_g_find(m, "s1.b1.sq.conv"), -1);
    CHECK_EQ_INT(frost_g_find(m, "s1.b1.add"), -1);
    CHECK_EQ_INT(node(m, "s1.b1.dw.conv")->c, 32);
    /* S2 block 1 on Cin 24: 24 / 4 < 8, so no SC */
    CHECK_EQ_INT(frost_g_find(m, "s2.b1.sq.conv"), -1);
    CHECK_EQ_INT(node(m, "s2.b1.expand.conv")->c, 72);
    /* the classifier is a linear 1280 -> 1000 with bias after 0.2 dropout */
    const frost_node *fc = node(m, "classifier");
    CHECK_EQ_INT(fc->op, FROST_OP_LINEAR);
    CHECK(fc->bias);
    CHECK_EQ_INT(fc->macs, 1280 * 1000);
    CHECK_FLOAT_EQ(node(m, "drop")->p, 0.2f);
    CHECK_EQ_INT(node(m, "head.conv")->c, 1280);
    /* every activation of FrostNet is ReLU */
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_OP_ACT)
            CHECK_EQ_INT(m->nodes[i].act, FROST_ACT_RELU);
    frost_model_free(m);
}

/* ---------------------------------------------------------------- torchvision */

typedef struct {
    const char *name;
    float width;
    int64_t params, macs; /* printed by tests/fixtures/torchvision_counts.py */
} tv_row;

TEST(mobilenetv2_and_mnasnet_match_torchvision)
{
    static const tv_row rows[] = {
        {"mobilenetv2", 1.0f, 3504872, 300774272}, {"mobilenetv2", 0.5f, 1968680, 97131840},
        {"mobilenetv2", 0.35f, 1677128, 59285808}, {"mobilenetv2", 1.4f, 6108776, 582195824},
        {"mnasnet_b1", 1.0f, 4383312, 314415872},  {"mnasnet_b1", 0.5f, 2218512, 104455968},
        {"mnasnet_b1", 1.3f, 6282256, 526362432},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        frost_model *m = build(rows[i].name, rows[i].width, 224, 3, 1000);
        if (!m)
            continue;
        CHECK_EQ_INT(frost_model_param_count(m), rows[i].params);
        CHECK_EQ_INT(frost_model_macs(m), rows[i].macs);
        CHECK_EQ_INT(last_map(m)->h, 7);
        frost_model_free(m);
    }
}

TEST(mobilenetv2_options)
{
    frost_builtin_opts o = frost_builtin_defaults();
    frost_model *m = NULL;
    CHECK_EQ_INT(frost_model_builtin("mobilenetv2", &o, &m), FROST_OK);
    if (!m)
        return;
    int acts = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_OP_ACT) {
            CHECK_EQ_INT(m->nodes[i].act, FROST_ACT_RELU6);
            acts++;
        }
    CHECK_EQ_INT(acts, 1 + 2 * 17 - 1 + 1); /* stem, 2 per block (block 1 has no expansion), head */
    /* residual blocks: 10 of the 17 (stride 1 and Cin == Cout) */
    int adds = 0;
    for (int i = 0; i < m->n_nodes; i++)
        adds += m->nodes[i].op == FROST_OP_ADD;
    CHECK_EQ_INT(adds, 10);
    frost_model_free(m);

    o.act = "relu";
    o.dropout = 0.0f;
    o.head = 512;
    o.classes = 10;
    CHECK_EQ_INT(frost_model_builtin("mobilenetv2", &o, &m), FROST_OK);
    if (!m)
        return;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_OP_ACT)
            CHECK_EQ_INT(m->nodes[i].act, FROST_ACT_RELU);
    CHECK_EQ_INT(frost_g_find(m, "drop"), -1); /* p = 0: no dropout layer */
    CHECK_EQ_INT(node(m, "head.conv")->c, 512);
    /* 3,504,872 - (320*1280 + 2*1280) - (1280*1000 + 1000) + (320*512 + 2*512) + (512*10 + 10) */
    CHECK_EQ_INT(frost_model_param_count(m), 3504872 - (320 * 1280 + 2 * 1280) -
                                                 (1280 * 1000 + 1000) + (320 * 512 + 2 * 512) +
                                                 (512 * 10 + 10));
    CHECK_EQ_INT(frost_model_classes(m), 10);
    frost_model_free(m);
}

/* ---------------------------------------------------------------- ResNet */

TEST(resnet20_counts_by_hand)
{
    frost_model *m = build("resnet", 1.0f, 32, 3, 10);
    if (!m)
        return;
    int64_t convs = 3 * 9 * 16                        /* stem */
                    + 6 * (16 * 9 * 16)               /* s1: 3 blocks x 2 convs */
                    + 32 * 9 * 16 + 5 * (32 * 9 * 32) /* s2 */
                    + 64 * 9 * 32 + 5 * (64 * 9 * 64) /* s3 */
                    + 32 * 16 + 64 * 32;              /* option-B projections */
    int64_t bn = 2 * (16 + 6 * 16 + 7 * 32 + 7 * 64); /* gamma + beta per channel */
    int64_t fc = 64 * 10 + 10;
    CHECK_EQ_INT(frost_model_param_count(m), convs + bn + fc); /* 272,474 */
    int64_t macs = 32 * 32 * (3 * 9 * 16 + 6 * 16 * 9 * 16) +
                   16 * 16 * (32 * 9 * 16 + 5 * 32 * 9 * 32 + 32 * 16) +
                   8 * 8 * (64 * 9 * 32 + 5 * 64 * 9 * 64 + 64 * 32) + 64 * 10;
    CHECK_EQ_INT(frost_model_macs(m), macs);
    const frost_node *f = last_map(m);
    CHECK_EQ_INT(f->h, 8);
    CHECK_EQ_INT(f->c, 64);
    CHECK_EQ_INT(node(m, "s2.b1.proj.conv")->conv.stride, 2);
    CHECK_EQ_INT(frost_g_find(m, "s1.b1.proj.conv"), -1); /* identity shortcut in s1 */
    CHECK_EQ_INT(frost_g_find(m, "drop"), -1);
    CHECK_EQ_INT(frost_g_find(m, "head.conv"), -1);
    frost_model_free(m);
}

/* frost info's table, built by the library as text: one row per layer between the two
 * header lines and the totals. */
TEST(resnet20_info_text)
{
    frost_model *m = build("resnet", 1.0f, 32, 3, 10);
    if (!m)
        return;
    char *text = frost_model_info_text(m);
    CHECK(text != NULL);
    if (text) {
        int lines = 0;
        for (const char *p = text; *p; p++)
            lines += *p == '\n';
        CHECK_EQ_INT(lines, 2 + (m->n_nodes - 1) + 1);
        const char *head = "model resnet: input 32x32x3, 10 classes\n#    layer";
        CHECK(strncmp(text, head, strlen(head)) == 0);
        char total[128];
        snprintf(total, sizeof total, "\ntotal: %lld params (0.272M), %lld MACs (40.81M) per image",
                 (long long)frost_model_param_count(m), (long long)frost_model_macs(m));
        CHECK(strstr(text, total) != NULL);
        CHECK(strstr(text, "\n1    stem.conv                    conv3    32x32x16") != NULL);
    }
    free(text);
    frost_model_free(m);
}

/* ---------------------------------------------------------------- small inputs */

TEST(stride_rule)
{
    CHECK_EQ_INT(frost_builtin_stride_demotions(224), 0);
    CHECK_EQ_INT(frost_builtin_stride_demotions(160), 0);
    CHECK_EQ_INT(frost_builtin_stride_demotions(112), 0);
    CHECK_EQ_INT(frost_builtin_stride_demotions(64), 1);
    CHECK_EQ_INT(frost_builtin_stride_demotions(56), 1);
    CHECK_EQ_INT(frost_builtin_stride_demotions(32), 2);
    CHECK_EQ_INT(frost_builtin_stride_demotions(28), 2);
    CHECK_EQ_INT(frost_builtin_stride_demotions(8), 2);
    CHECK_EQ_INT(frost_builtin_stride_demotions(1024), 0);
    frost_builtin_stride_plan p = frost_builtin_stride_plan_for(28);
    CHECK_EQ_INT(frost_builtin_stride_take(&p, 1), 1);
    CHECK_EQ_INT(frost_builtin_stride_take(&p, 2), 1);
    CHECK_EQ_INT(frost_builtin_stride_take(&p, 1), 1);
    CHECK_EQ_INT(frost_builtin_stride_take(&p, 2), 1);
    CHECK_EQ_INT(frost_builtin_stride_take(&p, 2), 2);
    CHECK_EQ_INT(frost_builtin_stride_take(&p, 2), 2);

    /* MobileNetV2's final map: 28, 32, 56, 112 -> 4x4; 224 -> 7x7 */
    static const int sizes[] = {28, 32, 56, 112, 224};
    static const int finals[] = {4, 4, 4, 4, 7};
    for (int i = 0; i < 5; i++) {
        frost_model *m = build("mobilenetv2", 1.0f, sizes[i], 3, 10);
        if (!m)
            continue;
        CHECK_EQ_INT(last_map(m)->h, finals[i]);
        frost_model_free(m);
    }
    /* at 28, the stem and the first stride-2 block (s2.b1) run at stride 1 */
    frost_model *m = build("mobilenetv2", 1.0f, 28, 1, 10);
    if (m) {
        CHECK_EQ_INT(node(m, "stem.conv")->conv.stride, 1);
        CHECK_EQ_INT(node(m, "s2.b1.dw.conv")->conv.stride, 1);
        CHECK_EQ_INT(node(m, "s3.b1.dw.conv")->conv.stride, 2);
        frost_model_free(m);
    }
    /* a demoted block whose widths match gains the residual: at w0.35, 16w and
     * 24w both round to 8, so s2.b1 adds its input at 28 but not at 224 */
    m = build("mobilenetv2", 0.35f, 28, 1, 10);
    if (m) {
        CHECK(frost_g_find(m, "s2.b1.add") > 0);
        frost_model_free(m);
    }
    m = build("mobilenetv2", 0.35f, 224, 3, 10);
    if (m) {
        CHECK_EQ_INT(frost_g_find(m, "s2.b1.add"), -1);
        frost_model_free(m);
    }
    /* MnasNet at 28: the stem and s1.b1 are demoted, s2.b1 keeps stride 2 */
    m = build("mnasnet_b1", 1.0f, 28, 1, 10);
    if (m) {
        CHECK_EQ_INT(node(m, "stem.conv")->conv.stride, 1);
        CHECK_EQ_INT(node(m, "s1.b1.dw.conv")->conv.stride, 1);
        CHECK_EQ_INT(node(m, "s2.b1.dw.conv")->conv.stride, 2);
        frost_model_free(m);
    }
}

TEST(every_builtin_builds_for_fashion_mnist)
{
    static const float widths[] = {0.35f, 0.5f, 1.0f};
    const char *const *names = frost_builtin_names();
    int n = 0;
    for (; names[n]; n++)
        for (int w = 0; w < 3; w++) {
            frost_model *m = build(names[n], widths[w], 28, 1, 10);
            if (!m)
                continue;
            const frost_node *f = last_map(m);
            /* the ImageNet models end at 4x4; the CIFAR-style ResNet
             * downsamples 4x and ends at 7x7 */
            int want = strcmp(names[n], "resnet") == 0 ? 7 : 4;
            CHECK_EQ_INT(f->h, want);
            CHECK_EQ_INT(f->w, want);
            CHECK_EQ_INT(frost_model_classes(m), 10);
            int h, wd, c;
            frost_model_input_shape(m, &h, &wd, &c);
            CHECK_EQ_INT(h * 1000 + wd * 10 + c, 28 * 1000 + 28 * 10 + 1);
            CHECK_EQ_INT(node(m, "stem.conv")->conv.cin, 1);
            CHECK(strcmp(frost_model_name(m), names[n]) == 0);
            frost_model_free(m);
        }
    CHECK_EQ_INT(n, 6);
}

/* ---------------------------------------------------------------- bad options */

static void expect_refused(const char *name, frost_builtin_opts o, const char *mentions)
{
    static frost_model sentinel;
    frost_model *m = &sentinel; /* must come back NULL */
    frost_status s = frost_model_builtin(name, &o, &m);
    CHECK_EQ_INT(s, FROST_ERR_ARG);
    CHECK(m == NULL);
    if (!strstr(frost_last_error(), mentions)) {
        fprintf(stderr, "  message '%s' does not mention '%s'\n", frost_last_error(), mentions);
        CHECK(0);
    }
}

TEST(bad_options_are_refused)
{
    frost_builtin_opts d = frost_builtin_defaults(), o;
    o = d, o.width = 0.0f;
    expect_refused("mobilenetv2", o, "width");
    o = d, o.width = -1.0f;
    expect_refused("frostnet_s", o, "width");
    o = d, o.width = 4.5f;
    expect_refused("mnasnet_b1", o, "width");
    o = d, o.width = NAN;
    expect_refused("resnet", o, "width");
    o = d, o.input = 7;
    expect_refused("mobilenetv2", o, "input");
    o = d, o.input = 1025;
    expect_refused("frostnet_b", o, "input");
    o = d, o.classes = 1;
    expect_refused("frostnet_l", o, "classes");
    o = d, o.in_channels = 0;
    expect_refused("mobilenetv2", o, "in_channels");
    o = d, o.act = "gelu";
    expect_refused("mobilenetv2", o, "act");
    o = d, o.dropout = 1.0f;
    expect_refused("mobilenetv2", o, "dropout");
    o = d, o.head = -3;
    expect_refused("mobilenetv2", o, "head");
    expect_refused("mobilenet_v3", d, "mobilenet_v3");
    frost_model *m = NULL;
    CHECK_EQ_INT(frost_model_builtin(NULL, &d, &m), FROST_ERR_ARG);
    /* NULL options mean the defaults */
    CHECK_EQ_INT(frost_model_builtin("resnet", NULL, &m), FROST_OK);
    if (m)
        CHECK_EQ_INT(frost_model_classes(m), 1000);
    frost_model_free(m);
}

TEST(defaults)
{
    frost_builtin_opts d = frost_builtin_defaults();
    CHECK_FLOAT_EQ(d.width, 1.0f);
    CHECK_EQ_INT(d.input, 224);
    CHECK_EQ_INT(d.in_channels, 3);
    CHECK_EQ_INT(d.classes, 1000);
    CHECK(d.act == NULL);
    CHECK(d.dropout < 0.0f);
    CHECK_EQ_INT(d.head, 0);
}

FROST_TEST_MAIN(RUN(frostnet_counts_match_spec_table), RUN(frostnet_block_structure),
                RUN(mobilenetv2_and_mnasnet_match_torchvision), RUN(mobilenetv2_options),
                RUN(resnet20_counts_by_hand), RUN(resnet20_info_text), RUN(stride_rule),
                RUN(every_builtin_builds_for_fashion_mnist), RUN(bad_options_are_refused),
                RUN(defaults))
