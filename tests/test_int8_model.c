/*
 * The int8 engine against the fake-quant model it was converted from.
 *
 * Layer by layer ("teacher forcing"): every int8 node gets the fake-quant model's own
 * quantized inputs, and its output is compared with the fake-quant output. Table ops
 * (input quantization, activations, concat, max pool) must match exactly; conv, linear,
 * add, mul and average pools round in fixed point instead of float and may differ by one
 * step where the float value sits within rounding error of a tie: bounded here at 1 LSB,
 * on at most 0.01% of the values. The float logits must match to float rounding.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "int8_layers.h"
#include "models/graph.h"

/* W8A8 fake-quant, activation ranges calibrated on the images, then fixed. */
static void quantize_calibrated(frost_model *m, int n_calib, const float *images)
{
    frost_qconfig *c = NULL;
    CHECK(frost_qconfig_default(&c) == FROST_OK);
    CHECK(frost_model_quantize(m, c) == FROST_OK);
    frost_qconfig_free(c);
    CHECK(frost_model_set_batch(m, n_calib) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(m, images, n_calib, false) == FROST_OK);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FIXED) == FROST_OK);
}

/* A quantized, calibrated model with non-trivial BN statistics (random weights). */
static frost_model *make_model(const char *name, const char *act, int n_calib, float *images)
{
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = 0.35f;
    o.input = 28;
    o.in_channels = 1;
    o.classes = 10;
    o.act = act;
    frost_model *m = NULL;
    CHECK(frost_model_builtin(name, &o, &m) == FROST_OK);
    frost_model_init_weights(m, 7);
    frost_rng r;
    frost_rng_seed(&r, 11);
    for (int i = 0; i < m->n_nodes; i++) {
        frost_node *n = &m->nodes[i];
        if (n->op != FROST_OP_BN)
            continue;
        for (int c = 0; c < n->c; c++) {
            m->params[n->gamma].data[c] = 0.5f + frost_rng_uniform(&r);
            m->params[n->beta].data[c] = 0.5f * (frost_rng_uniform(&r) - 0.3f);
            m->buffers[n->running_mean].data[c] = 0.2f * (frost_rng_uniform(&r) - 0.5f);
            m->buffers[n->running_var].data[c] = 0.5f + frost_rng_uniform(&r);
        }
    }
    quantize_calibrated(m, n_calib, images);
    return m;
}

static void random_images(int n, float *x)
{
    frost_rng r;
    frost_rng_seed(&r, 3);
    for (int i = 0; i < n * 28 * 28; i++)
        x[i] = 2.0f * frost_rng_uniform(&r) - 0.8f;
}

/* Layer by layer (int8_layers.h): the table ops exact, the rest within 1 LSB on at most
 * 0.01% of the values, the float logits to float rounding. */
static void compare_layers(frost_model *qm, frost_int8_model *im, int n_img, const float *images,
                           bool reference)
{
    frost_int8_force_reference(im, reference);
    frost_test_layer_counts c = frost_test_compare_layers(qm, im, n_img, images);
    CHECK_EQ_INT(c.exact_differ, 0);
    CHECK_EQ_INT(c.beyond_1lsb, 0);
    CHECK_EQ_INT(c.logits_off, 0);
    CHECK(c.values > 0);
    CHECK(c.differ * 10000 <= c.values); /* ties are rare: measured 0.0003-0.0008% */
    printf("  %lld of %lld values 1 LSB off (%s kernels, %s requantization)\n", (long long)c.differ,
           (long long)c.values, reference ? "reference" : "fast",
           frost_int8_float_requant(im) ? "float" : "fixed-point");
}

/* Whole runs, as frost run and frost bench make them (the runtime's own scheduling: no
 * parallel region at one thread, copies for identity concats, the AVX2 pools): the fast
 * kernels' logits are the reference kernels' to the bit, and not all alike. */
static void fast_run_is_reference_run(frost_int8_model *im, int n_img, const float *images)
{
    int k = im->classes, differ = 0, distinct = 0;
    float *ref = malloc(sizeof(float) * (size_t)(n_img * k)),
          *fast = malloc(sizeof(float) * (size_t)k);
    for (int pass = 0; pass < 2; pass++) {
        frost_int8_force_reference(im, pass == 0);
        for (int b = 0; b < n_img; b++) {
            float *out = pass == 0 ? ref + b * k : fast;
            CHECK(frost_int8_run(im, images + b * 28 * 28, 28 * 28, out) == FROST_OK);
            if (pass == 1)
                differ += memcmp(fast, ref + b * k, sizeof(float) * (size_t)k) != 0;
            else if (b > 0)
                distinct += memcmp(out, ref, sizeof(float) * (size_t)k) != 0;
        }
    }
    CHECK_EQ_INT(differ, 0);
    CHECK(distinct > 0);
    free(ref), free(fast);
}

static void layer_by_layer(const char *name, const char *act)
{
    enum { N = 16 };
    float *x = malloc(sizeof(float) * N * 28 * 28);
    random_images(N, x);
    frost_model *qm = make_model(name, act, N, x);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(qm, &im) == FROST_OK);
    for (int fp = 0; im && fp < 2; fp++) { /* both requantization modes, both kernel sets */
        CHECK(frost_int8_set_float_requant(im, fp) == FROST_OK);
        compare_layers(qm, im, 4, x, true);
        compare_layers(qm, im, 4, x, false);
        fast_run_is_reference_run(im, 3, x); /* 3 images: the reference kernels are slow */
    }
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

/* Every op the converter maps, including those the built-in models do not use: max and
 * average pools (padding excluded from the count), a conv without BN (bias, ReLU), a
 * standalone BN-less activation, hard-sigmoid, a squeeze-excite block (sigmoid gate, mul
 * per channel), SiLU, a same-shape mul, a hardtanh (a clamp to [-1, 1]: the output range
 * of its conv), a flatten, and a hidden int8 linear layer before the float logits. */
static const char *all_ops_arch =
    "{\"name\":\"allops\",\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":1,\"pad\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu6\"},"
    "{\"name\":\"mp\",\"op\":\"maxpool\",\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"in\":[\"mp\"],\"out\":8,\"k\":5,\"stride\":1,"
    "\"pad\":2,\"groups\":8},{\"name\":\"b2\",\"op\":\"bn\"},"
    "{\"name\":\"hs\",\"op\":\"act\",\"fn\":\"hswish\"},"
    "{\"name\":\"c3\",\"op\":\"conv\",\"in\":[\"mp\"],\"out\":8,\"k\":1,\"bias\":true},"
    "{\"name\":\"r3\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"add\",\"op\":\"add\",\"in\":[\"hs\",\"r3\"]},"
    /* squeeze-excite: gap, 1x1 conv, relu, 1x1 conv, sigmoid, times the trunk per channel */
    "{\"name\":\"se_gap\",\"op\":\"gap\",\"in\":[\"add\"]},"
    "{\"name\":\"se_c1\",\"op\":\"conv\",\"out\":4,\"k\":1,\"bias\":true},"
    "{\"name\":\"se_r\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"se_c2\",\"op\":\"conv\",\"out\":8,\"k\":1,\"bias\":true},"
    "{\"name\":\"se_s\",\"op\":\"act\",\"fn\":\"sigmoid\"},"
    "{\"name\":\"se\",\"op\":\"mul\",\"in\":[\"add\",\"se_s\"]},"
    "{\"name\":\"sw\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"m2\",\"op\":\"mul\",\"in\":[\"sw\",\"r3\"]},"
    "{\"name\":\"hsg\",\"op\":\"act\",\"in\":[\"m2\"],\"fn\":\"hsigmoid\"},"
    "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"hsg\",\"mp\",\"r3\"]},"
    "{\"name\":\"ap\",\"op\":\"avgpool\",\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"c4\",\"op\":\"conv\",\"out\":16,\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"b4\",\"op\":\"bn\"},{\"name\":\"a4\",\"op\":\"act\",\"fn\":\"hardtanh\"},"
    "{\"name\":\"fl\",\"op\":\"flatten\"},"
    "{\"name\":\"fc1\",\"op\":\"linear\",\"out\":24},"
    "{\"name\":\"fc2\",\"op\":\"linear\",\"out\":10}]}";

TEST(test_every_op_matches_fake_quant)
{
    enum { N = 16 };
    float *x = malloc(sizeof(float) * N * 28 * 28);
    random_images(N, x);
    frost_model *m = NULL;
    CHECK(frost_model_from_json(all_ops_arch, "test", &m) == FROST_OK);
    if (!m) {
        free(x);
        return;
    }
    quantize_calibrated(m, N, x);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(m, &im) == FROST_OK);
    int seen[FROST_I8_OP_COUNT] = {0};
    for (int i = 0; im && i < im->n_nodes; i++)
        seen[im->nodes[i].op]++;
    for (int op = 0; op < FROST_I8_OP_COUNT; op++) /* GAP: in every built-in model below */
        if (!seen[op] && op != FROST_I8_GAP) {
            fprintf(stderr, "  op %s not in the test graph\n",
                    frost_int8_op_name((frost_int8_op)op));
            frost_test_failed_checks++;
        }
    for (int fp = 0; im && fp < 2; fp++) {
        CHECK(frost_int8_set_float_requant(im, fp) == FROST_OK);
        compare_layers(m, im, 4, x, true);
        compare_layers(m, im, 4, x, false);
    }
    frost_int8_free(im);
    frost_model_free(m);
    free(x);
}

TEST(test_frostnet_layers_match_fake_quant) { layer_by_layer("frostnet_s", NULL); }
TEST(test_mobilenetv2_relu6_layers_match_fake_quant) { layer_by_layer("mobilenetv2", "relu6"); }
TEST(test_mobilenetv2_hswish_layers_match_fake_quant) { layer_by_layer("mobilenetv2", "hswish"); }

/* A conv channel whose weights are almost zero next to an ordinary BN bias (seen in a
 * searched network: weights below 1e-6, bias -1.4): its weight scale is so small that the
 * bias falls off the int32 grid. The converter first coarsens the layer's bias grid (one
 * channel 1e-3 of its weights: fits at a smaller shift), then raises the scale of a
 * channel that fits at no shift (1e-9 of its weights), instead of refusing the model; the
 * layers still match fake-quant within 1 LSB everywhere. */
TEST(test_near_zero_channels_convert)
{
    enum { N = 8 };
    float *x = malloc(sizeof(float) * N * 28 * 28);
    random_images(N, x);
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = 0.35f, o.input = 28, o.in_channels = 1, o.classes = 10;
    frost_model *m = NULL;
    CHECK(frost_model_builtin("mobilenetv2", &o, &m) == FROST_OK);
    frost_model_init_weights(m, 7);
    int conv = -1; /* the second conv: its BN follows, its input is not the image */
    for (int i = 0, seen = 0; i < m->n_nodes && conv < 0; i++)
        if (m->nodes[i].op == FROST_OP_CONV && seen++ == 1)
            conv = i;
    CHECK(conv >= 0);
    /* by value: quantizing the model below adds nodes, which may move m->nodes */
    char name[64];
    snprintf(name, sizeof name, "%s", m->nodes[conv].name);
    frost_param *w = &m->params[m->nodes[conv].weight];
    int64_t inner = w->numel / m->nodes[conv].c;
    for (int64_t i = 0; i < inner; i++) {
        w->data[0 * inner + i] *= 1e-3f;
        w->data[1 * inner + i] *= 1e-9f;
    }
    int bn = conv + 1;
    CHECK(m->nodes[bn].op == FROST_OP_BN);
    m->params[m->nodes[bn].beta].data[0] = -1.4f;
    m->params[m->nodes[bn].beta].data[1] = 1.4f;
    quantize_calibrated(m, N, x);
    frost_int8_model *im = NULL;
    frost_status s = frost_int8_from_model(m, &im);
    if (s != FROST_OK)
        fprintf(stderr, "  %s\n", frost_last_error());
    CHECK_EQ_INT(s, FROST_OK);
    /* the int8 node is the fused conv + BN + activation, named after its last part */
    size_t block = (size_t)(strrchr(name, '.') - name) + 1; /* "s1.b1.dw." */
    int shift = -1;
    for (int i = 0; im && i < im->n_nodes; i++)
        if (strncmp(im->nodes[i].name, name, block) == 0)
            shift = im->nodes[i].acc_shift;
    printf("  the layer's bias grid: shift %d (default %d)\n", shift,
           frost_int8_weights_acc_shift(inner));
    /* coarser for the 1e-3 channel, not down to 0 for the hopeless one */
    CHECK(shift > 0 && shift < frost_int8_weights_acc_shift(inner));
    if (im) {
        frost_test_layer_counts c = frost_test_compare_layers(m, im, N, x);
        CHECK_EQ_INT(c.exact_differ, 0);
        CHECK_EQ_INT(c.beyond_1lsb, 0);
        CHECK(c.values > 0);
    }
    frost_int8_free(im);
    frost_model_free(m);
    free(x);
}

/* ---- files ---- */

static frost_int8_model *small_converted(frost_model **qm_out, float **x_out)
{
    enum { N = 8 };
    float *x = malloc(sizeof(float) * N * 28 * 28);
    random_images(N, x);
    frost_model *qm = make_model("mobilenetv2", "hswish", N, x);
    frost_int8_model *im = NULL;
    CHECK(frost_int8_from_model(qm, &im) == FROST_OK);
    *qm_out = qm;
    *x_out = x;
    return im;
}

/* Loads a file that must be refused with a message; a model that loads anyway must run. */
static bool loads(const char *path)
{
    frost_int8_model *m = NULL;
    frost_status s = frost_int8_load(path, &m);
    if (s == FROST_OK) {
        float x[28 * 28] = {0};
        CHECK(frost_int8_run(m, x, 28 * 28, NULL) == FROST_OK);
        frost_int8_free(m);
        return true;
    }
    CHECK(m == NULL && strlen(frost_last_error()) > 0);
    return false;
}

/* frost info's memory table, built by the library as text: a header, one row per node
 * (the first one the input), the totals. */
static void check_memory_text(const frost_int8_model *m)
{
    char *text = frost_int8_memory_text(m);
    CHECK(text != NULL);
    if (!text)
        return;
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_INT(lines, 1 + frost_int8_node_count(m) + 1);
    const char *head = "layer                        op       output            weights  act bytes"
                       "     offset\ninput                        quantize 28x28x1  ";
    CHECK(strncmp(text, head, strlen(head)) == 0);
    char totals[160];
    snprintf(totals, sizeof totals, "\nweights: %zu bytes; peak activations (arena): %zu bytes; ",
             frost_int8_weight_bytes(m), frost_int8_arena_bytes(m));
    CHECK(strstr(text, totals) != NULL);
    free(text);
}

TEST(test_file_round_trip_and_wrong_input_size)
{
    frost_model *qm;
    float *x;
    frost_int8_model *im = small_converted(&qm, &x), *back = NULL;
    char path[128]; /* per process: CTest runs this binary twice at once (VNNI and AVX2) */
    snprintf(path, sizeof path, "/tmp/frost_test_int8_rt_%ld.int8", (long)getpid());
    CHECK(frost_int8_save(im, path) == FROST_OK);
    CHECK(frost_int8_load(path, &back) == FROST_OK);
    if (back) {
        float a[10], b[10];
        for (int i = 0; i < 8; i++) {
            CHECK(frost_int8_run(im, x + i * 784, 784, a) == FROST_OK);
            CHECK(frost_int8_run(back, x + i * 784, 784, b) == FROST_OK);
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
        CHECK(frost_int8_run(back, x, 783, a) == FROST_ERR_SHAPE);
        CHECK(frost_int8_arena_bytes(back) == frost_int8_arena_bytes(im));
        CHECK(!frost_int8_float_requant(back));
        check_memory_text(back);
    }
    frost_int8_free(back);
    back = NULL;
    /* the requantization mode is part of the file */
    CHECK(im && frost_int8_set_float_requant(im, 1) == FROST_OK);
    CHECK(im && frost_int8_save(im, path) == FROST_OK);
    CHECK(frost_int8_load(path, &back) == FROST_OK);
    if (back) {
        CHECK(frost_int8_float_requant(back));
        float a[10], b[10];
        for (int i = 0; i < 8; i++) {
            CHECK(frost_int8_run(im, x + i * 784, 784, a) == FROST_OK);
            CHECK(frost_int8_run(back, x + i * 784, 784, b) == FROST_OK);
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
    }
    frost_int8_free(back);
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
    remove(path);
}

/* Two threads run a whole image in one parallel region with a barrier between nodes
 * (run_nodes); one thread, or node by node, must give the same bits. The model has conv
 * nodes big enough to be split (>= 100k multiply-adds), so both threads do work. */
TEST(test_two_threads_in_one_region_match_one_thread)
{
    frost_model *qm;
    float *x;
    frost_int8_model *im = small_converted(&qm, &x);
    int split = 0;
    for (int i = 1; im && i < im->n_nodes; i++) {
        const frost_int8_node *n = &im->nodes[i];
        int64_t per_out =
            n->groups > 1 ? (int64_t)n->k * n->k : (int64_t)n->k * n->k * im->nodes[n->in[0]].c;
        split += n->op == FROST_I8_CONV && (int64_t)n->h * n->w * n->c * per_out >= 100000;
    }
    CHECK(split >= 3);
    for (int requant = 0; im && requant < 2; requant++) {
        CHECK(frost_int8_set_float_requant(im, requant) == FROST_OK);
        size_t arena = frost_int8_arena_bytes(im);
        uint8_t *after_region = malloc(arena);
        for (int i = 0; i < 8; i++) {
            float one[10], region[10];
            frost_set_threads(1);
            CHECK(frost_int8_run(im, x + i * 784, 784, one) == FROST_OK);
            frost_set_threads(2);
            CHECK(frost_int8_run(im, x + i * 784, 784, region) == FROST_OK);
            CHECK(memcmp(one, region, sizeof one) == 0);
            memcpy(after_region, im->arena, arena); /* every tensor the run left */
            frost_int8_quantize_input(im, x + i * 784, frost_int8_tensor(im, 0));
            for (int j = 1; j < im->n_nodes; j++) /* a fork and join per node */
                frost_int8_run_node(im, j);
            CHECK(memcmp(after_region, im->arena, arena) == 0);
        }
        free(after_region);
    }
    frost_set_threads(0);
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
}

/* Replaces the first `from` in the file with `to` (same length); false if absent. */
static bool patch(char *b, size_t n, const char *from, const char *to)
{
    char *at = frost_test_find_bytes(b, n, from);
    if (at)
        memcpy(at, to, strlen(to));
    return at != NULL;
}

TEST(test_corrupt_files_are_refused)
{
    frost_model *qm;
    float *x;
    frost_int8_model *im = small_converted(&qm, &x);
    char good[128], bad[128];
    snprintf(good, sizeof good, "/tmp/frost_test_int8_good_%ld.int8", (long)getpid());
    snprintf(bad, sizeof bad, "/tmp/frost_test_int8_bad_%ld.int8", (long)getpid());
    CHECK(frost_int8_save(im, good) == FROST_OK);
    size_t n = 0;
    char *orig = frost_test_read_all(good, &n), *b = malloc(n);
    CHECK(n > 1000);
    /* truncated anywhere: refused */
    size_t cuts[] = {0, 4, 8, 9, 100, n / 3, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        frost_test_write_all(bad, orig, cuts[i]);
        CHECK(!loads(bad));
    }
    /* targeted edits of the graph JSON (escaped inside the header) and the header */
    static const char *const edits[][2] = {
        {"\\\"version\\\":1", "\\\"version\\\":9"},             /* unknown version */
        {"frost-int8", "frost-int9"},                           /* wrong format name */
        {"\\\"op\\\":\\\"conv\\\"", "\\\"op\\\":\\\"conx\\\""}, /* unknown op */
        {"\\\"shape\\\":[14,14,", "\\\"shape\\\":[15,14,"},     /* shapes do not chain */
        {"\\\"in\\\":[1]", "\\\"in\\\":[9]"},                   /* input after the node */
        {"\\\"k\\\":3", "\\\"k\\\":0"},                         /* kernel out of range */
        {"\\\"zp\\\":", "\\\"zq\\\":"},                         /* missing field */
        {"\\\"groups\\\":1", "\\\"groups\\\":7"},               /* groups do not divide */
        {"\\\"requant\\\":\\\"fixed\\\"", "\\\"requant\\\":\\\"fixxd\\\""}, /* unknown mode */
        {"\"dtype\":\"I8\"", "\"dtype\":\"U8\""},                           /* wrong dtype */
        {"\"data_offsets\":[0,", "\"data_offsets\":[9,"}, /* offsets out of place */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(b, orig, n);
        bool found = patch(b, n, edits[i][0], edits[i][1]);
        if (!found)
            fprintf(stderr, "  pattern %s not in the file\n", edits[i][0]);
        CHECK(found);
        frost_test_drop_content_hash(b, n);
        frost_test_write_all(bad, b, n);
        bool ok = loads(bad);
        if (ok)
            fprintf(stderr, "  edit %s -> %s was accepted\n", edits[i][0], edits[i][1]);
        CHECK(!ok);
    }
    /* random byte flips: refused or, if only tensor data changed, loads and runs safely */
    frost_rng r;
    frost_rng_seed(&r, 5);
    int refused = 0;
    for (int t = 0; t < 300; t++) {
        memcpy(b, orig, n);
        frost_test_drop_content_hash(b, n); /* as from another tool: data flips may load */
        for (int k = 0; k < 3; k++)
            b[frost_rng_u64(&r) % n] ^= (char)(1 + frost_rng_u64(&r) % 255);
        frost_test_write_all(bad, b, n);
        refused += !loads(bad);
    }
    CHECK(refused > 0);
    free(orig);
    free(b);
    frost_int8_free(im);
    frost_model_free(qm);
    free(x);
    remove(good);
    remove(bad);
}

int main(void)
{
    RUN(test_every_op_matches_fake_quant);
    RUN(test_frostnet_layers_match_fake_quant);
    RUN(test_mobilenetv2_relu6_layers_match_fake_quant);
    RUN(test_mobilenetv2_hswish_layers_match_fake_quant);
    RUN(test_near_zero_channels_convert);
    RUN(test_file_round_trip_and_wrong_input_size);
    RUN(test_two_threads_in_one_region_match_one_thread);
    RUN(test_corrupt_files_are_refused);
    return frost_test_summary();
}
