/*
 * C code generation (frost_int8_export_c): the committed every-op int8 model
 * (tests/fixtures/compat/qat_fixed.int8) is written as C, compiled with the host's C
 * compiler in strict C99 (-std=c99 -Wall -Wextra -Werror -pedantic) with a small main, run
 * on deterministic images, and its outputs must equal the library's runtime bit for bit
 * (with the kernels this CPU selects and with the reference ones). The static arena must be
 * the runtime's planned peak. The same model also runs the whole Fashion-MNIST test set
 * (10,000 images) through the generated C and the runtime, again bit for bit. A
 * squeeze-excite model converted in the test (sigmoid, SiLU, mul) goes through the same
 * checks, and so do binary (BWN) and ternary (TWN) models, whose weights the generated C
 * keeps packed (1 or 2 bits each) and unpacks one output channel at a time, and BNN,
 * Bi-Real and ternary models with binarized inputs (popcount kernels on bit words; border
 * pixels with stride 1 and 2, channel counts on and off multiples of 32, a depthwise and
 * a linear layer), and XNOR-Net models (the float output stage with K of the real input).
 * Without a C compiler the compile-and-run checks are skipped (and the test says so); the
 * generator's refusals are checked either way.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen_sizes.h"
#include "core/util.h"
#include "fixtures/compat_inputs.h"
#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "test_archs.h"

#define FIXED_MODEL "tests/fixtures/compat/qat_fixed.int8"
#define FLOAT_MODEL "tests/fixtures/compat/qat_float.int8"
#define N_RANDOM    3
#define N_IMAGES    (COMPAT_N_IMAGES + N_RANDOM + 2)

static char tmpdir[64];

static bool have_cc(void) { return system("cc --version > /dev/null 2>&1") == 0; }

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* N_IMAGES quantized images: the compat images, uniform random ones in [lo, hi], then one
 * all lo and one all hi (the clamps). */
static uint8_t *make_inputs(const frost_int8_model *m)
{
    const frost_int8_node *in = &m->nodes[0];
    int64_t size = (int64_t)m->in_h * m->in_w * m->in_c;
    CHECK_EQ_INT(size, COMPAT_PIXELS);
    uint8_t *q = malloc((size_t)(N_IMAGES * size));
    float *images = malloc(sizeof(float) * COMPAT_N_IMAGES * COMPAT_PIXELS);
    if (!q || !images) {
        free(q), free(images);
        return NULL;
    }
    compat_make_images(images);
    for (int i = 0; i < COMPAT_N_IMAGES; i++)
        frost_int8_quantize_input(m, images + i * COMPAT_PIXELS, q + i * size);
    uint32_t state = 12345u;
    for (int64_t j = COMPAT_N_IMAGES * size; j < (COMPAT_N_IMAGES + N_RANDOM) * size; j++) {
        state = state * 1664525u + 1013904223u;
        q[j] = (uint8_t)(in->lo + (int32_t)((state >> 16) % (uint32_t)(in->hi - in->lo + 1)));
    }
    memset(q + (N_IMAGES - 2) * size, in->lo, (size_t)size);
    memset(q + (N_IMAGES - 1) * size, in->hi, (size_t)size);
    free(images);
    return q;
}

static bool write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

/* A main for the generated NAME.c: runs every image of argv[1], writes the outputs to
 * argv[2], prints the sizes the header declares. */
static bool write_main(const char *name)
{
    char upper[40], path[128], text[2048];
    size_t len = strlen(name);
    for (size_t i = 0; i <= len; i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    snprintf(text, sizeof text,
             "#include <stdio.h>\n#include \"%s.h\"\n"
             "int main(int argc, char **argv)\n{\n"
             "    static uint8_t x[%s_INPUT_SIZE];\n"
             "    static %s_output_t y[%s_OUTPUT_SIZE];\n"
             "    FILE *in, *out;\n"
             "    if (argc != 3 || %s_run(NULL, y) != -1 || %s_run(x, NULL) != -1)\n"
             "        return 2;\n"
             "    in = fopen(argv[1], \"rb\");\n    out = fopen(argv[2], \"wb\");\n"
             "    if (!in || !out)\n        return 3;\n"
             "    printf(\"%%lu %%lu %%d %%d\\n\", (unsigned long)%s_ARENA_BYTES,\n"
             "           (unsigned long)%s_CONST_BYTES, %s_OUTPUT_FLOAT, %s_OUTPUT_SIZE);\n"
             "    while (fread(x, 1, sizeof x, in) == sizeof x) {\n"
             "        if (%s_run(x, y) != 0)\n            return 4;\n"
             "        fwrite(y, sizeof y[0], %s_OUTPUT_SIZE, out);\n    }\n"
             "    fclose(in);\n    return fclose(out) != 0;\n}\n",
             name, upper, name, upper, name, name, upper, upper, upper, upper, name, upper);
    snprintf(path, sizeof path, "%s/main.c", tmpdir);
    return write_bytes(path, text, strlen(text));
}

/* Compiles DIR/NAME.c with main.c strictly and runs it over the inputs: the outputs
 * (n_images * out_bytes) in *got, the sizes it printed. */
static bool compile_and_run(const char *name, const uint8_t *q, int64_t in_bytes, void *got,
                            size_t out_bytes, size_t sizes[4])
{
    char cmd[1024], path[128];
    snprintf(path, sizeof path, "%s/in.bin", tmpdir);
    if (!write_main(name) || !write_bytes(path, q, (size_t)in_bytes))
        return false;
    snprintf(cmd, sizeof cmd,
             "cc -std=c99 -Wall -Wextra -Werror -pedantic -ffp-contract=off -O1 -o %s/run "
             "%s/main.c %s/%s.c && %s/run %s/in.bin %s/out.bin > %s/sizes.txt",
             tmpdir, tmpdir, tmpdir, name, tmpdir, tmpdir, tmpdir, tmpdir);
    int rc = system(cmd);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        return false;
    snprintf(path, sizeof path, "%s/sizes.txt", tmpdir);
    FILE *f = fopen(path, "r");
    unsigned long s[4] = {0};
    bool ok = f && fscanf(f, "%lu %lu %lu %lu", &s[0], &s[1], &s[2], &s[3]) == 4;
    if (f)
        fclose(f);
    for (int i = 0; i < 4; i++)
        sizes[i] = s[i];
    snprintf(path, sizeof path, "%s/out.bin", tmpdir);
    f = fopen(path, "rb");
    ok = ok && f && fread(got, 1, out_bytes, f) == out_bytes && fgetc(f) == EOF;
    if (f)
        fclose(f);
    CHECK(ok);
    return ok;
}

/* The RAM the generated kernels need besides the arena (NAME_SCRATCH_BYTES), as
 * docs/interop.md describes it: the longest packed row unpacked to int8 (layers with 8-bit
 * inputs, grouped layers with binarized ones), and for the groups-1 binarized-input layers
 * the largest input's signs (ceil(c / 32) words a pixel; a linear layer's whole input) plus
 * one row of weight bits (a run of ceil(c / 32) words per tap), twice for ternary rows;
 * XNOR-Net convs add the floats A of their input's and K of their output's pixels. */
static size_t expected_scratch(const frost_int8_model *m)
{
    size_t row = 0, xbits = 0, wsign = 0, wnz = 0, xa = 0, xk = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i], *in = &m->nodes[n->in[0]];
        bool conv = n->op == FROST_I8_CONV;
        size_t inner =
            conv ? (size_t)n->k * n->k * (in->c / n->groups) : (size_t)in->h * in->w * in->c;
        if (!n->wbits)
            continue;
        if (conv && n->ain == FROST_I8_AIN_XNOR) { /* floats: A per input, K per output pixel */
            xa = (size_t)in->h * in->w > xa ? (size_t)in->h * in->w : xa;
            xk = (size_t)n->h * n->w > xk ? (size_t)n->h * n->w : xk;
        }
        if (!n->ain || (conv && n->groups > 1)) {
            row = inner > row ? inner : row;
            continue;
        }
        size_t words = conv ? (size_t)(in->c + 31) / 32 : (inner + 31) / 32;
        size_t x = conv ? (size_t)in->h * in->w * words : words;
        size_t w = conv ? (size_t)n->k * n->k * words : words;
        xbits = x > xbits ? x : xbits;
        wsign = w > wsign ? w : wsign;
        if (n->wbits == 2)
            wnz = w > wnz ? w : wnz;
    }
    return row + 4 * (xbits + wsign + wnz + xa + xk);
}

/* Exports m as NAME, compiles and runs it, compares with the runtime. */
static void check_generated(frost_int8_model *m, const char *name)
{
    frost_int8_c_info info = {0};
    CHECK(frost_int8_export_c(m, tmpdir, name, &info) == FROST_OK);
    CHECK_EQ_INT(info.arena_bytes, frost_int8_arena_bytes(m));
    CHECK_EQ_INT(info.scratch_bytes, expected_scratch(m));       /* 0 without packed weights */
    CHECK_EQ_INT(info.const_bytes, frost_test_c_const_bytes(m)); /* the same arrays */
    const frost_int8_node *last = &m->nodes[m->n_nodes - 1];
    CHECK_EQ_INT(info.float_output, last->op == FROST_I8_LOGITS);
    if (!have_cc()) {
        printf("  SKIPPED compiling the generated C: no C compiler (cc) found\n");
        return;
    }
    int classes = frost_int8_classes(m);
    int64_t size = (int64_t)m->in_h * m->in_w * m->in_c;
    size_t elem = info.float_output ? sizeof(float) : 1;
    uint8_t *q = make_inputs(m);
    void *got = malloc((size_t)N_IMAGES * classes * elem);
    size_t sizes[4];
    if (q && got &&
        compile_and_run(name, q, N_IMAGES * size, got, (size_t)N_IMAGES * classes * elem, sizes)) {
        CHECK_EQ_INT(sizes[0], frost_int8_arena_bytes(m)); /* the static arena = the plan */
        CHECK_EQ_INT(sizes[1], info.const_bytes);
        CHECK_EQ_INT(sizes[2], info.float_output);
        CHECK_EQ_INT(sizes[3], classes);
        int mismatches = 0;
        float *want = malloc(sizeof(float) * (size_t)classes);
        for (int reference = 0; want && reference <= 1; reference++) {
            frost_int8_force_reference(m, reference);
            for (int i = 0; i < N_IMAGES; i++) {
                CHECK(frost_int8_run_quantized(m, q + i * size, size, want) == FROST_OK);
                const uint8_t *y = frost_int8_tensor(m, m->n_nodes - 1);
                for (int k = 0; k < classes; k++) {
                    bool same = info.float_output ? memcmp((float *)got + i * classes + k, &want[k],
                                                           sizeof(float)) == 0
                                                  : ((uint8_t *)got)[i * classes + k] == y[k];
                    mismatches += !same;
                }
            }
        }
        frost_int8_force_reference(m, 0);
        CHECK(want != NULL);
        CHECK_EQ_INT(mismatches, 0);
        free(want);
    }
    free(q);
    free(got);
}

TEST(every_op_model_matches_the_runtime_bit_for_bit)
{
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(FIXED_MODEL, &m) == FROST_OK);
    if (!m)
        return;
    CHECK(frost_int8_classes(m) <= 64);
    check_generated(m, "model");
    char path[128];
    snprintf(path, sizeof path, "%s/model.h", tmpdir);
    CHECK(file_exists(path));
    /* the same model gives the same text */
    snprintf(path, sizeof path, "%s/model.c", tmpdir);
    char *text = NULL;
    size_t n = 0;
    CHECK(frost_read_file(path, &text, &n) == FROST_OK);
    uint32_t first = text ? compat_fnv1a(text, n) : 0;
    free(text);
    text = NULL;
    CHECK(frost_int8_export_c(m, tmpdir, NULL, NULL) == FROST_OK);
    CHECK(frost_read_file(path, &text, &n) == FROST_OK);
    CHECK(text && n > 10000 && compat_fnv1a(text, n) == first);
    free(text);
    frost_int8_free(m);
}

/* m cut after its first `count` nodes: the output is then the uint8 tensor of the last one.
 * The runtime's buffers are re-made for the shorter graph. */
static void keep_first_nodes(frost_int8_model *m, int count)
{
    for (int i = count; i < m->n_nodes; i++)
        frost_int8_bin_free(&m->nodes[i]);
    free(m->out);
    frost_free(m->arena);
    frost_free(m->scratch);
    frost_free(m->padded);
    m->out = NULL, m->arena = NULL, m->scratch = NULL, m->padded = NULL;
    m->n_nodes = count;
    const frost_int8_node *last = &m->nodes[m->n_nodes - 1];
    m->classes = last->h * last->w * last->c;
    CHECK(frost_int8_prepare(m) == FROST_OK);
}

/* m without its last node, a float classifier: the output is then the uint8 tensor of the
 * node before it. */
static void drop_float_classifier(frost_int8_model *m)
{
    CHECK_EQ_INT(m->nodes[m->n_nodes - 1].op, FROST_I8_LOGITS);
    keep_first_nodes(m, m->n_nodes - 1);
}

/* The same model without its float classifier: the output is then the uint8 tensor of the
 * last concat (under another name, to check the prefix). The runtime's buffers are
 * re-made for the shorter graph. */
TEST(uint8_output_and_a_name_prefix)
{
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(FIXED_MODEL, &m) == FROST_OK);
    if (!m)
        return;
    drop_float_classifier(m);
    check_generated(m, "tiny_net");
    char path[128];
    snprintf(path, sizeof path, "%s/tiny_net.c", tmpdir);
    CHECK(file_exists(path));
    frost_int8_free(m);
}

/* A squeeze-excite block (sigmoid gate, per-channel mul), SiLU and a same-shape mul, ops
 * the committed fixture predates: converted here from a calibrated fake-quant model. */
static const char *se_arch =
    FROST_TEST_SE_ARCH(28, 28,
                       ",{\"name\":\"c2\",\"op\":\"conv\",\"out\":16,\"k\":3,\"stride\":2},"
                       "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":"
                       "\"relu\"}" FROST_TEST_GAP_FC_HEAD);

TEST(squeeze_excite_model_matches_the_runtime_bit_for_bit)
{
    frost_model *f = NULL;
    CHECK(frost_model_from_json(se_arch, "test", &f) == FROST_OK);
    if (!f)
        return;
    frost_model_init_weights(f, 5);
    float *images = malloc(sizeof(float) * COMPAT_N_IMAGES * COMPAT_PIXELS);
    compat_make_images(images);
    frost_qconfig *c = NULL;
    CHECK(frost_qconfig_default(&c) == FROST_OK);
    CHECK(frost_model_quantize(f, c) == FROST_OK);
    frost_qconfig_free(c);
    CHECK(frost_model_set_batch(f, COMPAT_N_IMAGES) == FROST_OK);
    CHECK(frost_model_set_qmode(f, FROST_QMODE_CALIBRATE) == FROST_OK);
    CHECK(frost_model_forward(f, images, COMPAT_N_IMAGES, false) == FROST_OK);
    CHECK(frost_model_set_qmode(f, FROST_QMODE_FIXED) == FROST_OK);
    frost_int8_model *m = NULL;
    CHECK(frost_int8_from_model(f, &m) == FROST_OK);
    int muls = 0, luts = 0;
    for (int i = 0; m && i < m->n_nodes; i++) {
        muls += m->nodes[i].op == FROST_I8_MUL;
        luts += m->nodes[i].op == FROST_I8_LUT; /* sigmoid, silu */
    }
    CHECK_EQ_INT(muls, 2);
    CHECK_EQ_INT(luts, 2);
    if (m)
        check_generated(m, "se_net");
    frost_int8_free(m);
    frost_model_free(f);
    free(images);
}

/* Binary / ternary weights: an 8-bit first conv, then low-bit convs (3x3: 72 weights a
 * row; depthwise 3x3: 9, a row with padding bits; 1x1: 12) and a low-bit hidden linear
 * layer (784), then the classifier (8-bit by default). */
static const char *lowbit_arch =
    "{\"name\":\"lowbit\",\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":12,\"k\":3,\"stride\":1,\"pad\":1},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"c3\",\"op\":\"conv\",\"out\":12,\"k\":3,\"stride\":2,\"pad\":1,\"groups\":12},"
    "{\"name\":\"b3\",\"op\":\"bn\"},{\"name\":\"a3\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"c4\",\"op\":\"conv\",\"out\":16,\"k\":1},"
    "{\"name\":\"b4\",\"op\":\"bn\"},{\"name\":\"a4\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"fl\",\"op\":\"flatten\"},"
    "{\"name\":\"fc1\",\"op\":\"linear\",\"out\":20},"
    "{\"name\":\"a5\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"fc2\",\"op\":\"linear\",\"out\":10}]}";

/* `arch` initialised from `seed`, quantized with `config`, calibrated on the compat
 * images, converted. */
static frost_int8_model *quantized_model(const char *arch, uint64_t seed, const char *config)
{
    frost_model *f = NULL;
    frost_int8_model *m = NULL;
    frost_qconfig *c = NULL;
    float *images = malloc(sizeof(float) * COMPAT_N_IMAGES * COMPAT_PIXELS);
    CHECK(images && frost_model_from_json(arch, "test", &f) == FROST_OK);
    if (f && images) {
        frost_model_init_weights(f, seed);
        compat_make_images(images);
        CHECK(frost_qconfig_parse(config, "test", &c) == FROST_OK);
        CHECK(c && frost_model_quantize(f, c) == FROST_OK);
        CHECK(frost_model_set_batch(f, COMPAT_N_IMAGES) == FROST_OK);
        CHECK(frost_model_set_qmode(f, FROST_QMODE_CALIBRATE) == FROST_OK);
        CHECK(frost_model_forward(f, images, COMPAT_N_IMAGES, false) == FROST_OK);
        CHECK(frost_model_set_qmode(f, FROST_QMODE_FIXED) == FROST_OK);
        CHECK(frost_int8_from_model(f, &m) == FROST_OK);
        if (!m)
            fprintf(stderr, "  convert: %s\n", frost_last_error());
    }
    frost_qconfig_free(c);
    frost_model_free(f);
    free(images);
    return m;
}

/* lowbit_arch quantized with `config`, converted. */
static frost_int8_model *lowbit_model(const char *config)
{
    return quantized_model(lowbit_arch, 9, config);
}

/* The generated NAME.c declares node `node`'s weights packed (nI_packed of `bytes`
 * bytes), not as int8 (nI_weight). */
static void check_packed_in_source(const frost_int8_model *m, const char *name, const char *node,
                                   int wbits, int row_bytes)
{
    int i = 0;
    while (i < m->n_nodes && strcmp(m->nodes[i].name, node) != 0)
        i++;
    CHECK(i < m->n_nodes);
    if (i == m->n_nodes)
        return;
    CHECK_EQ_INT(m->nodes[i].wbits, wbits);
    char path[128], packed[96], weight[64];
    snprintf(path, sizeof path, "%s/%s.c", tmpdir, name);
    snprintf(packed, sizeof packed, "static const uint8_t n%d_packed[%d] = {", i,
             row_bytes * m->nodes[i].c);
    snprintf(weight, sizeof weight, "n%d_weight", i);
    char *text = NULL;
    size_t n = 0;
    CHECK(frost_read_file(path, &text, &n) == FROST_OK);
    CHECK(text && strstr(text, packed) != NULL);
    CHECK(text && strstr(text, weight) == NULL);
    free(text);
}

/* BWN: every low-bit weight +-1, 1 bit each (c2's 72 weights: 9 bytes a row, c3's 9: 2,
 * c4's 12: 2, fc1's 784: 98; nodes are named after their output's layer); the first conv
 * and the classifier stay int8. Also with a uint8 output. */
TEST(bwn_model_keeps_1_bit_weights_and_matches_the_runtime)
{
    frost_int8_model *m = lowbit_model("{\"weights\": {\"scheme\": \"bwn\"}}");
    if (!m)
        return;
    check_generated(m, "bwn_net");
    check_packed_in_source(m, "bwn_net", "a2", 1, 9);
    check_packed_in_source(m, "bwn_net", "a3", 1, 2);
    check_packed_in_source(m, "bwn_net", "a4", 1, 2);
    check_packed_in_source(m, "bwn_net", "fc1", 1, 98);
    CHECK_EQ_INT(m->nodes[1].wbits, 0);
    CHECK_EQ_INT(m->nodes[m->n_nodes - 1].wbits, 0);
    drop_float_classifier(m); /* the output: the ReLU table of the packed linear layer */
    CHECK_EQ_INT(m->nodes[m->n_nodes - 2].wbits, 1);
    check_generated(m, "bwn_u8");
    frost_int8_free(m);
}

/* TWN with a ternary classifier too (a "layers" entry overrides the 8-bit default): 2 bits
 * a weight, the float logits computed from packed weights. */
TEST(twn_model_keeps_2_bit_weights_and_matches_the_runtime)
{
    frost_int8_model *m = lowbit_model("{\"weights\": {\"scheme\": \"twn\"}, \"layers\": "
                                       "{\"fc2\": {\"weights\": {\"scheme\": \"twn\"}}}}");
    if (!m)
        return;
    CHECK_EQ_INT(m->nodes[m->n_nodes - 1].op, FROST_I8_LOGITS);
    check_generated(m, "twn_net");
    check_packed_in_source(m, "twn_net", "a2", 2, 18);
    check_packed_in_source(m, "twn_net", "a3", 2, 3);
    check_packed_in_source(m, "twn_net", "a4", 2, 3);
    check_packed_in_source(m, "twn_net", "fc1", 2, 196);
    check_packed_in_source(m, "twn_net", m->nodes[m->n_nodes - 1].name, 2, 5);
    frost_int8_free(m);
}

/* Binarized inputs: FROST_TEST_BINACT_ARCH (test_archs.h). */
static const char *binact_arch = FROST_TEST_BINACT_ARCH;

/* binact_arch quantized with `config`, converted. */
static frost_int8_model *binact_model(const char *config)
{
    return quantized_model(binact_arch, 11, config);
}

/* The generated NAME.c calls `kernel` for node `node` (by the node's name in its comment). */
static void check_kernel_of(const char *name, const char *kernel, const char *node)
{
    char path[128], call[96];
    snprintf(path, sizeof path, "%s/%s.c", tmpdir, name);
    snprintf(call, sizeof call, "    %s(&n", kernel);
    char *text = NULL;
    size_t n = 0;
    CHECK(frost_read_file(path, &text, &n) == FROST_OK);
    const char *at = text ? strstr(text, call) : NULL;
    bool found = false;
    for (; at && !found; at = strstr(at + 1, call)) {
        const char *end = strchr(at, '\n'), *c = strstr(at, "/* ");
        found = c && end && c < end && strncmp(c + 3, node, strlen(node)) == 0 &&
                c[3 + strlen(node)] == ' ';
    }
    if (!found)
        fprintf(stderr, "  %s.c: no %s call for node %s\n", name, kernel, node);
    CHECK(found);
    free(text);
}

/* The model converted with `config`: its binarized-input nodes (`ain`; wbits as given: 1
 * binary, 2 ternary) are c2..c5 and fc1 (named after their BN, or the linear layer; c4 only
 * when `grouped`), the first conv and the classifier stay 8-bit. */
static void check_binact(const char *config, const char *name, int wbits, int want_adds,
                         frost_int8_ain ain, bool grouped)
{
    frost_int8_model *m = binact_model(config);
    if (!m)
        return;
    int bin = 0, adds = 0, ternary = 0, want = grouped ? 5 : 4;
    for (int i = 0; i < m->n_nodes; i++) {
        const frost_int8_node *n = &m->nodes[i];
        bin += n->ain == ain;
        adds += n->op == FROST_I8_ADD;
        ternary += n->ain && n->wbits == 2;
    }
    CHECK_EQ_INT(bin, want);
    CHECK_EQ_INT(adds, want_adds);
    CHECK(wbits == 2 ? ternary == want : ternary < want); /* BWN: a dead channel may be ternary */
    CHECK_EQ_INT(m->nodes[1].ain, FROST_I8_AIN_NONE);
    CHECK_EQ_INT(m->nodes[m->n_nodes - 1].ain, FROST_I8_AIN_NONE);
    check_generated(m, name);
    const char *conv = ain == FROST_I8_AIN_XNOR ? "conv_xnor" : "conv_sign";
    check_kernel_of(name, conv, "b2");
    check_kernel_of(name, conv, "b3");
    if (grouped)
        check_kernel_of(name, ain == FROST_I8_AIN_XNOR ? "conv_xnor_grouped" : "conv_sign_grouped",
                        "b4");
    else
        check_kernel_of(name, "conv", "b4");
    check_kernel_of(name, conv, "b5");
    check_kernel_of(name, ain == FROST_I8_AIN_XNOR ? "linear_xnor" : "linear_sign", "fc1");
    check_packed_in_source(m, name, "b3", wbits, (9 * 32 * wbits + 7) / 8);
    check_packed_in_source(m, name, "fc1", wbits, (1960 * wbits + 7) / 8);
    drop_float_classifier(m); /* the output: fc1's uint8 tensor, a binarized linear layer */
    CHECK_EQ_INT(m->nodes[m->n_nodes - 1].ain, ain);
    char cut[128];
    snprintf(cut, sizeof cut, "%s_u8", name);
    check_generated(m, cut);
    /* every value of b3 (7x7x40, stride 2) and then of b2 (14x14x32), the first binarized
     * convs: far more outputs than the classes, so a rare rounding difference shows */
    for (int at = m->n_nodes - 1; at > 1; at--) {
        const char *node = m->nodes[at].name;
        if (strcmp(node, "b3") != 0 && strcmp(node, "b2") != 0)
            continue;
        CHECK_EQ_INT(m->nodes[at].ain, ain);
        keep_first_nodes(m, at + 1);
        snprintf(cut, sizeof cut, "%s_%s", name, node);
        check_generated(m, cut);
    }
    frost_int8_free(m);
}

/* BNN: binary weights without scale (BinaryConnect) and sign inputs. */
TEST(bnn_model_with_binarized_inputs_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"binary\"}, \"activations\": {\"scheme\": \"sign\"}}",
                 "bnn_net", 1, 0, FROST_I8_AIN_SIGN, true);
}

/* Bi-Real: BWN weights, ApproxSign inputs (sign at inference), real shortcuts around the
 * units of equal shapes (c4, c5): int8 adds between the binarized layers. */
TEST(bireal_model_with_binarized_inputs_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"bireal\"}, "
                 "\"bireal_shortcuts\": true}",
                 "bireal_net", 1, 2, FROST_I8_AIN_SIGN, true);
}

/* Ternary weights with sign inputs: the nonzero mask (wnz) path of the popcount. */
TEST(ternary_model_with_binarized_inputs_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"twn\"}, \"activations\": {\"scheme\": \"sign\"}}",
                 "twn_sign_net", 2, 0, FROST_I8_AIN_SIGN, true);
}

/* The depthwise c4 kept 8-bit (weights and input). */
#define KEEP_C4_8BIT                                                                              \
    "\"layers\": {\"c4\": {\"weights\": {\"scheme\": \"affine\", \"bits\": 8}, \"activations\": " \
    "{\"scheme\": \"affine\"}}}"

/* XNOR-Net: BWN weights and xnor inputs, the float output stage with K of the real input,
 * on groups-1 convs (conv_xnor), the depthwise c4 (conv_xnor_grouped) and the linear layer;
 * then ternary weights with xnor inputs, c4 kept 8-bit. */
TEST(xnor_model_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"xnor\"}}",
                 "xnor_net", 1, 0, FROST_I8_AIN_XNOR, true);
    check_binact("{\"weights\": {\"scheme\": \"twn\"}, \"activations\": {\"scheme\": "
                 "\"xnor\"}, " KEEP_C4_8BIT "}",
                 "twn_xnor_net", 2, 0, FROST_I8_AIN_XNOR, false);
}

/* The Fashion-MNIST test images, normalized as `frost run` does (frost_int8_evaluate) and
 * quantized for m: d->n images in *q (malloc'd). */
static bool quantize_test_set(const frost_int8_model *m, const frost_dataset *d, uint8_t **q)
{
    enum { BATCH = 100 };
    int64_t size = (int64_t)d->h * d->w * d->c;
    frost_augment train_norm = frost_train_defaults().augment;
    frost_augment norm = {.mean = train_norm.mean, .std = train_norm.std};
    frost_loader *l = NULL;
    float *x = malloc(sizeof(float) * BATCH * (size_t)size);
    uint8_t labels[BATCH];
    *q = malloc((size_t)(d->n * size));
    bool ok = x && *q && frost_loader_create(d, BATCH, false, &norm, 0, &l) == FROST_OK;
    int done = 0;
    if (ok) {
        frost_loader_start_epoch(l, 0);
        for (int got; (got = frost_loader_next(l, x, labels)) > 0; done += got)
            for (int i = 0; i < got; i++)
                frost_int8_quantize_input(m, x + i * size, *q + (done + i) * size);
    }
    CHECK_EQ_INT(done, d->n);
    frost_loader_free(l);
    free(x);
    return ok && done == d->n;
}

/* The generated C on the whole Fashion-MNIST test set (10,000 images) gives the runtime's
 * logits bit for bit (what `frost run` computes from these images). */
TEST(whole_fashion_mnist_test_set_matches_the_runtime)
{
    frost_int8_model *m = NULL;
    frost_dataset test = {0};
    CHECK(frost_int8_load(FIXED_MODEL, &m) == FROST_OK);
    CHECK(frost_dataset_fashion_mnist(NULL, false, &test) == FROST_OK);
    if (!m || !test.images) {
        frost_int8_free(m);
        return;
    }
    CHECK_EQ_INT(test.n, 10000);
    frost_int8_c_info info = {0};
    CHECK(frost_int8_export_c(m, tmpdir, "fashion", &info) == FROST_OK);
    CHECK_EQ_INT(info.arena_bytes, frost_int8_arena_bytes(m));
    CHECK(info.float_output);
    int classes = frost_int8_classes(m);
    int64_t size = (int64_t)test.h * test.w * test.c;
    uint8_t *q = NULL;
    float *got = malloc(sizeof(float) * (size_t)(test.n * classes));
    size_t sizes[4];
    if (have_cc() && got && quantize_test_set(m, &test, &q) &&
        compile_and_run("fashion", q, test.n * size, got,
                        sizeof(float) * (size_t)(test.n * classes), sizes)) {
        CHECK_EQ_INT(sizes[0], frost_int8_arena_bytes(m)); /* the static arena = the plan */
        int mismatches = 0;
        for (int i = 0; i < test.n; i++) {
            float want[64];
            CHECK(frost_int8_run_quantized(m, q + i * size, size, want) == FROST_OK);
            mismatches += memcmp(got + i * classes, want, sizeof(float) * (size_t)classes) != 0;
        }
        CHECK_EQ_INT(mismatches, 0);
    } else if (!have_cc()) {
        printf("  SKIPPED compiling the generated C: no C compiler (cc) found\n");
    }
    free(q);
    free(got);
    frost_dataset_free(&test);
    frost_int8_free(m);
}

TEST(refusals)
{
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(FLOAT_MODEL, &m) == FROST_OK);
    if (!m)
        return;
    CHECK(frost_int8_export_c(m, tmpdir, "floaty", NULL) == FROST_ERR_UNSUPPORTED);
    CHECK(strstr(frost_last_error(), "float requantization") != NULL);
    CHECK(frost_int8_set_float_requant(m, 0) == FROST_OK);
    CHECK(frost_int8_export_c(m, tmpdir, "9lives", NULL) == FROST_ERR_ARG);
    CHECK(frost_int8_export_c(m, tmpdir, "a-b", NULL) == FROST_ERR_ARG);
    CHECK(frost_int8_export_c(m, "/nonexistent/dir", NULL, NULL) == FROST_ERR_IO);
    char path[128];
    snprintf(path, sizeof path, "%s/floaty.c", tmpdir);
    CHECK(!file_exists(path));
    frost_int8_free(m);
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/frost_codegen_XXXXXX");
    if (!mkdtemp(tmpdir))
        tmpdir[0] = 0;
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

FROST_TEST_MAIN(make_tmpdir(), RUN(every_op_model_matches_the_runtime_bit_for_bit),
                RUN(uint8_output_and_a_name_prefix),
                RUN(squeeze_excite_model_matches_the_runtime_bit_for_bit),
                RUN(bwn_model_keeps_1_bit_weights_and_matches_the_runtime),
                RUN(twn_model_keeps_2_bit_weights_and_matches_the_runtime),
                RUN(bnn_model_with_binarized_inputs_matches_the_runtime),
                RUN(bireal_model_with_binarized_inputs_matches_the_runtime),
                RUN(ternary_model_with_binarized_inputs_matches_the_runtime),
                RUN(xnor_model_matches_the_runtime),
                RUN(whole_fashion_mnist_test_set_matches_the_runtime), RUN(refusals),
                remove_tmpdir())
