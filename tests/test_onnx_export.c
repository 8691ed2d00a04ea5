/*
 * FP32 ONNX export (frost_onnx_export): every model of tests/export_models.c exported,
 * imported back with frost_onnx_import and run: the logits equal the original model's
 * within 1e-5 of their scale, and the preprocessing comes back from the file's metadata.
 * The file itself is read with protoc-c's unpacker for what the re-import cannot see
 * (opset, ops, BN kept, average pools excluding padding, the metadata). Refusals: a
 * fake-quant model, a path that cannot be written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_models.h"
#include "frost/frost.h"
#include "harness.h"
#include "io/onnx.h"
#include "models/graph.h"

#define IMAGES 3

static void temp_path(char *path, size_t cap, const char *what)
{
    snprintf(path, cap, "/tmp/frost_fp32_%s_%d.onnx", what, (int)getpid());
}

/* The logits of IMAGES inputs (uniform in [-2, 2)); malloc'd. */
static float *run(frost_model *m, const float *x)
{
    float *out = malloc(sizeof(float) * IMAGES * (size_t)frost_model_classes(m));
    CHECK(out != NULL);
    CHECK_EQ_INT(frost_model_set_batch(m, IMAGES), FROST_OK);
    CHECK_EQ_INT(frost_model_forward(m, x, IMAGES, false), FROST_OK);
    if (out)
        memcpy(out, frost_model_logits(m), sizeof(float) * IMAGES * (size_t)frost_model_classes(m));
    return out;
}

static int count_ops(const Onnx__GraphProto *g, const char *op)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n += strcmp(g->node[i]->op_type, op) == 0;
    return n;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

/* What the file says, beyond the numbers: opset, I/O, one BatchNormalization per BN
 * layer, pools without counting padding, the preprocessing metadata. */
static void check_file(const char *path, const frost_model *m)
{
    Onnx__ModelProto *p = NULL;
    CHECK_EQ_INT(frost_onnx_load(path, &p), FROST_OK);
    if (!p)
        return;
    CHECK_EQ_INT(frost_onnx_opset(p), 13);
    CHECK_EQ_INT((int)p->ir_version, 7);
    const Onnx__GraphProto *g = p->graph;
    CHECK_EQ_INT((int)g->n_input, 1);
    CHECK(strcmp(g->input[0]->name, "input") == 0 && strcmp(g->output[0]->name, "logits") == 0);
    int bn = 0, conv = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        bn += m->nodes[i].op == FROST_OP_BN;
        conv += m->nodes[i].op == FROST_OP_CONV;
    }
    CHECK_EQ_INT(count_ops(g, "BatchNormalization"), bn);
    CHECK_EQ_INT(count_ops(g, "Conv"), conv);
    CHECK_EQ_INT(count_ops(g, "Dropout"), 0);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (strcmp(n->op_type, "AveragePool") == 0) {
            const Onnx__AttributeProto *a = attr(n, "count_include_pad");
            CHECK(a && a->i == 0);
        }
        if (strcmp(n->op_type, "Clip") == 0)
            CHECK_EQ_INT((int)n->n_input, 3); /* opset 13: bounds are inputs */
        if (strcmp(n->op_type, "Conv") == 0)  /* named after the frost layer */
            CHECK(frost_g_find(m, n->name) > 0);
    }
    bool meta = false;
    for (size_t i = 0; i < p->n_metadata_props; i++)
        meta |= strcmp(p->metadata_props[i]->key, "frost.preprocess") == 0 &&
                strstr(p->metadata_props[i]->value, "\"mean\": [") != NULL;
    CHECK(meta);
    frost_onnx_free(p);
}

static void check_preprocess(const frost_model *a, const frost_model *b, const char *name)
{
    frost_preprocess pa = frost_model_preprocess(a), pb = frost_model_preprocess(b);
    int ch = a->in_c == 3 ? 3 : 1;
    bool same = pb.set && pa.bgr == pb.bgr;
    for (int c = 0; c < ch; c++)
        same = same && pa.mean[c] == pb.mean[c] && pa.std[c] == pb.std[c];
    if (!same)
        printf("  %s: preprocessing mean %g std %g bgr %d came back as mean %g std %g bgr %d\n",
               name, (double)pa.mean[0], (double)pa.std[0], pa.bgr, (double)pb.mean[0],
               (double)pb.std[0], pb.bgr);
    CHECK(same);
}

/* Every layer the file keeps comes back under its name with its op (the last one is
 * called logits); hard-swish and SiLU, written as two ONNX nodes, too. */
static void check_names(const frost_model *m, const frost_model *back)
{
    for (int i = 1; i < m->n_nodes - 1; i++) {
        const frost_node *n = &m->nodes[i];
        if (n->op == FROST_OP_DROPOUT || (n->op == FROST_OP_ACT && n->act == FROST_ACT_IDENTITY))
            continue; /* not in the file */
        int j = frost_g_find(back, n->name);
        if (j < 0 || back->nodes[j].op != n->op ||
            (n->op == FROST_OP_ACT && back->nodes[j].act != n->act)) {
            printf("  %s: layer '%s' (%s) did not come back\n", m->name, n->name,
                   frost_op_name(n->op));
            CHECK(false);
            return;
        }
    }
}

/* Largest |a - b| over the largest |a| (the output's scale). */
static double rel_error(const float *a, const float *b, int n)
{
    double diff = 0.0, scale = 0.0;
    for (int i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - (double)b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

static void round_trip(const char *name)
{
    frost_model *m = NULL, *back = NULL;
    CHECK_EQ_INT(frost_test_export_model(name, 7, &m), FROST_OK);
    if (!m)
        return;
    char path[96];
    temp_path(path, sizeof path, name);
    CHECK_EQ_INT(frost_onnx_export(m, path), FROST_OK);
    check_file(path, m);
    CHECK_EQ_INT(frost_onnx_import(path, NULL, &back), FROST_OK);
    unlink(path);
    if (back) {
        int size = m->in_h * m->in_w * m->in_c, classes = frost_model_classes(m);
        CHECK_EQ_INT(frost_model_classes(back), classes);
        float *x = malloc(sizeof(float) * IMAGES * (size_t)size);
        frost_test_export_fill(x, (long)IMAGES * size, -2.0f, 2.0f, 11);
        float *want = run(m, x), *got = run(back, x);
        double err = want && got ? rel_error(want, got, IMAGES * classes) : 1.0;
        printf("  %-12s %3d layers -> %3d after import, max error %.2e of the output scale\n", name,
               m->n_nodes - 1, back->n_nodes - 1, err);
        CHECK(err <= 1e-5);
        check_preprocess(m, back, name);
        check_names(m, back);
        free(x), free(want), free(got);
    }
    frost_model_free(back);
    frost_model_free(m);
}

TEST(every_test_model_round_trips_through_the_file)
{
    for (int i = 0; frost_test_export_names[i]; i++)
        round_trip(frost_test_export_names[i]);
}

/* The re-import really depends on the weights in the file: changed BN variances show. */
TEST(a_changed_bn_statistic_changes_the_outputs)
{
    frost_model *m = NULL, *back = NULL;
    CHECK_EQ_INT(frost_test_export_model("se", 3, &m), FROST_OK);
    if (!m)
        return;
    char path[96];
    temp_path(path, sizeof path, "bnvar");
    float *x = malloc(sizeof(float) * IMAGES * 144);
    frost_test_export_fill(x, IMAGES * 144, -2.0f, 2.0f, 5);
    float *want = run(m, x);
    float *var = m->buffers[m->nodes[frost_g_find(m, "b1")].running_var].data;
    for (int c = 0; c < 8; c++)
        var[c] *= 4.0f; /* halves b1's output */
    CHECK_EQ_INT(frost_onnx_export(m, path), FROST_OK);
    CHECK_EQ_INT(frost_onnx_import(path, NULL, &back), FROST_OK);
    unlink(path);
    float *got = back ? run(back, x) : NULL;
    CHECK(got && rel_error(want, got, IMAGES * 10) > 1e-3);
    free(x), free(want), free(got);
    frost_model_free(back);
    frost_model_free(m);
}

TEST(given_preprocessing_wins_over_the_files)
{
    frost_model *m = NULL, *back = NULL;
    CHECK_EQ_INT(frost_test_export_model("mixed", 1, &m), FROST_OK);
    char path[96];
    temp_path(path, sizeof path, "pre");
    CHECK_EQ_INT(frost_onnx_export(m, path), FROST_OK);
    frost_preprocess mine = {.set = true, .mean = {0.5f}, .std = {2.0f}};
    frost_onnx_import_opts o = {.pre = &mine};
    CHECK_EQ_INT(frost_onnx_import(path, &o, &back), FROST_OK);
    unlink(path);
    if (back) {
        CHECK(frost_model_preprocess(back).mean[0] == 0.5f);
        CHECK(frost_model_preprocess(back).std[0] == 2.0f);
    }
    frost_model_free(back);
    frost_model_free(m);
}

/* The metadata is checked like the rest of a file: a malformed one is an error naming it. */
TEST(malformed_preprocessing_metadata_is_refused)
{
    frost_model *m = NULL, *back = NULL;
    CHECK_EQ_INT(frost_test_export_model("se", 1, &m), FROST_OK);
    char path[96];
    temp_path(path, sizeof path, "meta");
    CHECK_EQ_INT(frost_onnx_export(m, path), FROST_OK);
    Onnx__ModelProto *p = NULL;
    CHECK_EQ_INT(frost_onnx_load(path, &p), FROST_OK);
    unlink(path);
    static const char *const bad[] = {
        "{\"mean\": [0.1, 0.2], \"std\": [1]}", /* 2 values for 1 channel */
        "{\"mean\": [0.1], \"std\": [0]}",      /* std must be positive */
        "{\"mean\": [0.1], \"std\": [1], \"channels\": \"yuv\"}", "{\"mean\": [0.1]", /* not JSON */
    };
    for (size_t k = 0; p && p->n_metadata_props == 1 && k < sizeof bad / sizeof bad[0]; k++) {
        char *saved = p->metadata_props[0]->value;
        p->metadata_props[0]->value = (char *)bad[k];
        size_t size = onnx__model_proto__get_packed_size(p);
        uint8_t *buf = malloc(size);
        onnx__model_proto__pack(p, buf);
        p->metadata_props[0]->value = saved;
        frost_status s = frost_onnx_import_bytes(buf, size, "meta.onnx", NULL, &back);
        if (s == FROST_OK)
            printf("  metadata %s was accepted\n", bad[k]);
        CHECK(s != FROST_OK && strstr(frost_last_error(), "meta.onnx") != NULL);
        frost_model_free(back);
        back = NULL;
        free(buf);
    }
    CHECK(p && p->n_metadata_props == 1);
    frost_onnx_free(p);
    frost_model_free(m);
}

TEST(fake_quant_models_and_bad_paths_are_refused)
{
    frost_model *m = NULL;
    CHECK_EQ_INT(frost_test_export_model("se", 1, &m), FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(frost_onnx_export(NULL, "/tmp/x.onnx"), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_onnx_export(m, "/nonexistent-dir/x.onnx"), FROST_ERR_IO);
    frost_qconfig *c = NULL;
    CHECK_EQ_INT(frost_qconfig_default(&c), FROST_OK);
    CHECK_EQ_INT(frost_model_quantize(m, c), FROST_OK);
    frost_qconfig_free(c);
    char path[96];
    temp_path(path, sizeof path, "fq");
    CHECK_EQ_INT(frost_onnx_export(m, path), FROST_ERR_UNSUPPORTED);
    CHECK(strstr(frost_last_error(), "'se' is a fake-quant model") != NULL);
    CHECK(strstr(frost_last_error(), "frost convert") != NULL);
    CHECK(access(path, F_OK) != 0); /* nothing written */
    frost_model_free(m);
}

FROST_TEST_MAIN(RUN(every_test_model_round_trips_through_the_file);
                RUN(a_changed_bn_statistic_changes_the_outputs);
                RUN(given_preprocessing_wins_over_the_files);
                RUN(malformed_preprocessing_metadata_is_refused);
                RUN(fake_quant_models_and_bad_paths_are_refused))
