/*
 * Files written before the op-table / naming / layering refactor (frost at commit 3eb91d9)
 * still load and compute the same: a float checkpoint, a QAT checkpoint and the two int8
 * files converted from it (fixed-point and float requantization), all of one small
 * architecture that uses every op (tests/fixtures/compat/). The expected values are what
 * the old library computed from those files (tests/fixtures/compat_expected.h, written by
 * tests/fixtures/make_compat_fixtures.c, which documents how every file was made).
 *
 * Everything must match bit for bit: the kernels are unchanged, only their wiring moved
 * (and the Release and the ASan/Debug builds both do). The one exception is a CPU where
 * OpenBLAS picks another kernel set than the one the expected float logits came from
 * ("Zen", whose GEMM is Haswell's), or where frost's own training GEMM runs instead
 * (frost-avx512): another summation order changes the last bits (the
 * Nehalem, Sandybridge and Prescott kernels, forced with OPENBLAS_CORETYPE, differ by at
 * most 3e-7 of the largest logit). There the float logits are held to 1e-5 of the largest
 * logit. The fake-quant ones get the same class and 4% of it, because a last-bit change
 * can move an activation across a rounding boundary, which changes it by a whole
 * quantization step. The int8 runtime does not use BLAS and must match exactly everywhere.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/cpu.h"
#include "fixtures/compat_expected.h"
#include "fixtures/compat_inputs.h"
#include "frost/frost.h"
#include "harness.h"

#define CLASSES 10
#define DIR     "tests/fixtures/compat/"

static float images[COMPAT_N_IMAGES * COMPAT_PIXELS];

/* The expected float logits came from OpenBLAS's "Zen" kernels: only the same GEMM gives
 * their bits (frost's own AVX-512 GEMM, the default on such CPUs, sums in another order). */
static bool same_blas_kernels(void)
{
    return frost_cpu_train_gemm() == FROST_TRAIN_GEMM_OPENBLAS &&
           strcmp(openblas_get_corename(), compat_blas_core) == 0;
}

static int argmax(const float *v)
{
    int best = 0;
    for (int i = 1; i < CLASSES; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static float max_abs(const float *v, int n)
{
    float m = 0.0f;
    for (int i = 0; i < n; i++)
        m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

/* Bit-exact on the expected values' BLAS kernels; elsewhere as the header comment says. */
static void check_logits(const float *got, const float want[][CLASSES], bool fake_quant)
{
    bool exact = same_blas_kernels();
    for (int i = 0; i < COMPAT_N_IMAGES; i++) {
        const float *g = got + i * CLASSES, *w = want[i];
        float scale = max_abs(w, CLASSES);
        for (int k = 0; k < CLASSES; k++) {
            if (exact)
                CHECK_FLOAT_EQ(g[k], w[k]);
            else if (fake_quant)
                CHECK_NEAR(g[k], w[k], 0.04 * scale, 0.0);
            else
                CHECK_NEAR(g[k], w[k], 1e-5 * scale, 0.0);
        }
        if (!exact && fake_quant)
            CHECK_EQ_INT(argmax(g), argmax(w));
    }
}

static void forward(frost_model *m, float *logits)
{
    CHECK(frost_model_set_batch(m, COMPAT_N_IMAGES) == FROST_OK);
    CHECK(frost_model_forward(m, images, COMPAT_N_IMAGES, false) == FROST_OK);
    memcpy(logits, frost_model_logits(m), sizeof(float) * COMPAT_N_IMAGES * CLASSES);
}

/* The file's metadata value `key` equals `want`. */
static void check_meta(const char *path, const char *key, const char *want)
{
    frost_st_file *f = NULL;
    CHECK(frost_st_read(path, &f) == FROST_OK);
    const char *v = f ? frost_st_meta_get(f, key) : NULL;
    CHECK(v && strcmp(v, want) == 0);
    frost_st_close(f);
}

/* The architecture round trips: the loaded model writes the JSON the old writer wrote,
 * both as the old library printed it and as the old trainer stored it in the file. */
static void check_arch(const char *path, const frost_model *m, const char *old_json, int64_t params,
                       int64_t macs)
{
    char *json = frost_model_to_json(m);
    CHECK(json && strcmp(json, old_json) == 0);
    if (json)
        check_meta(path, "frost.arch", json);
    free(json);
    CHECK_EQ_INT(frost_model_param_count(m), params);
    CHECK_EQ_INT(frost_model_macs(m), macs);
}

TEST(inputs_are_the_generators)
{
    CHECK_EQ_INT(compat_fnv1a(images, sizeof images), compat_images_fnv);
}

TEST(float_checkpoint)
{
    frost_model *m = NULL;
    CHECK(frost_checkpoint_load_model(DIR "float.safetensors", &m) == FROST_OK);
    if (!m)
        return;
    CHECK(!frost_model_is_quantized(m));
    check_arch(DIR "float.safetensors", m, compat_float_arch_json, compat_float_params,
               compat_float_macs);
    float logits[COMPAT_N_IMAGES * CLASSES];
    forward(m, logits);
    check_logits(logits, compat_float_logits, false);
    frost_model_free(m);
}

TEST(qat_checkpoint)
{
    frost_model *m = NULL;
    CHECK(frost_checkpoint_load_model(DIR "qat.safetensors", &m) == FROST_OK);
    if (!m)
        return;
    CHECK(frost_model_is_quantized(m));
    const char *qc = frost_model_qconfig_json(m);
    CHECK(qc && strcmp(qc, compat_qat_qconfig_json) == 0);
    check_meta(DIR "qat.safetensors", "frost.quant", compat_qat_qconfig_json);
    check_arch(DIR "qat.safetensors", m, compat_qat_arch_json, compat_qat_params, compat_qat_macs);
    float logits[COMPAT_N_IMAGES * CLASSES];
    forward(m, logits); /* loaded with fixed ranges: the inference-time fake-quant model */
    check_logits(logits, compat_qat_logits, true);
    CHECK(frost_model_set_qmode(m, FROST_QMODE_FLOAT) == FROST_OK);
    forward(m, logits);
    check_logits(logits, compat_qat_float_mode_logits, false);
    frost_model_free(m);
}

struct int8_expected {
    const char *file;
    int float_requant;
    float input_scale;
    int input_zp;
    uint32_t quantized_input_fnv;
    int64_t macs;
    size_t weight_bytes, arena_bytes;
    int nodes;
    const char *const (*node_names)[2];
    const float (*out)[CLASSES];
};

/* Every image through the runtime, with the kernels this CPU selects and with the
 * reference ones, from float and from already quantized input: all bit-exact. */
static void check_int8_outputs(frost_int8_model *m, const struct int8_expected *e)
{
    static uint8_t q[COMPAT_N_IMAGES * COMPAT_PIXELS];
    for (int i = 0; i < COMPAT_N_IMAGES; i++)
        frost_int8_quantize_input(m, images + i * COMPAT_PIXELS, q + i * COMPAT_PIXELS);
    CHECK_EQ_INT(compat_fnv1a(q, sizeof q), e->quantized_input_fnv);
    for (int reference = 0; reference <= 1; reference++) {
        frost_int8_force_reference(m, reference);
        for (int i = 0; i < COMPAT_N_IMAGES; i++) {
            float out[CLASSES], out_q[CLASSES];
            CHECK(frost_int8_run(m, images + i * COMPAT_PIXELS, COMPAT_PIXELS, out) == FROST_OK);
            CHECK(frost_int8_run_quantized(m, q + i * COMPAT_PIXELS, COMPAT_PIXELS, out_q) ==
                  FROST_OK);
            for (int k = 0; k < CLASSES; k++) {
                CHECK_FLOAT_EQ(out[k], e->out[i][k]);
                CHECK_FLOAT_EQ(out_q[k], e->out[i][k]);
            }
        }
    }
    frost_int8_force_reference(m, 0);
}

static void check_int8_file(const struct int8_expected *e)
{
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(e->file, &m) == FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(frost_int8_float_requant(m), e->float_requant);
    float scale;
    int zp;
    frost_int8_input_qparams(m, &scale, &zp);
    CHECK_FLOAT_EQ(scale, e->input_scale);
    CHECK_EQ_INT(zp, e->input_zp);
    CHECK_EQ_INT(frost_int8_classes(m), CLASSES);
    CHECK_EQ_INT(frost_int8_macs(m), e->macs);
    CHECK_EQ_INT(frost_int8_weight_bytes(m), e->weight_bytes);
    CHECK_EQ_INT(frost_int8_arena_bytes(m), e->arena_bytes);
    CHECK_EQ_INT(frost_int8_node_count(m), e->nodes);
    for (int i = 0; i < e->nodes && i < frost_int8_node_count(m); i++) {
        CHECK(strcmp(frost_int8_node_name(m, i), e->node_names[i][0]) == 0);
        CHECK(strcmp(frost_int8_node_op(m, i), e->node_names[i][1]) == 0);
    }
    check_int8_outputs(m, e);
    frost_int8_free(m);
}

TEST(int8_fixed_point_requant)
{
    const struct int8_expected e = {DIR "qat_fixed.int8",
                                    compat_i8fixed_float_requant,
                                    compat_i8fixed_input_scale,
                                    compat_i8fixed_input_zp,
                                    compat_i8fixed_quantized_input_fnv,
                                    compat_i8fixed_macs,
                                    compat_i8fixed_weight_bytes,
                                    compat_i8fixed_arena_bytes,
                                    compat_i8fixed_nodes,
                                    compat_i8fixed_node_names,
                                    compat_i8fixed_out};
    CHECK_EQ_INT(e.float_requant, 0);
    CHECK_EQ_INT(e.nodes,
                 (int)(sizeof compat_i8fixed_node_names / sizeof *compat_i8fixed_node_names));
    check_int8_file(&e);
}

TEST(int8_float_requant)
{
    const struct int8_expected e = {DIR "qat_float.int8",
                                    compat_i8float_float_requant,
                                    compat_i8float_input_scale,
                                    compat_i8float_input_zp,
                                    compat_i8float_quantized_input_fnv,
                                    compat_i8float_macs,
                                    compat_i8float_weight_bytes,
                                    compat_i8float_arena_bytes,
                                    compat_i8float_nodes,
                                    compat_i8float_node_names,
                                    compat_i8float_out};
    CHECK_EQ_INT(e.float_requant, 1);
    CHECK_EQ_INT(e.nodes,
                 (int)(sizeof compat_i8float_node_names / sizeof *compat_i8float_node_names));
    check_int8_file(&e);
}

/* `frost info` reads the old files (the CLI path: parsing, printing the layer table). */
static void check_info(const char *args, const char *needle)
{
    const char *bin = frost_test_bin();
    if (!bin)
        bin = "build/frost";
    char cmd[512], text[8192];
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p)
        return;
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = '\0';
    int rc = pclose(p);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    if (!strstr(text, needle)) {
        fprintf(stderr, "  frost info %s: no '%s' in:\n%s", args, needle, text);
        frost_test_failed_checks++;
    }
}

TEST(cli_info_reads_old_files)
{
    check_info(DIR "float.safetensors", "total: 2774 params (0.003M), 127080 MACs");
    check_info(DIR "qat.safetensors", "total: 2774 params (0.003M), 127080 MACs");
    check_info(DIR "qat_fixed.int8 --memory", "peak activations (arena): 7872 bytes");
}

FROST_TEST_MAIN(compat_make_images(images), RUN(inputs_are_the_generators), RUN(float_checkpoint),
                RUN(qat_checkpoint), RUN(int8_fixed_point_requant), RUN(int8_float_requant),
                RUN(cli_info_reads_old_files))
