/* The FP32 inference engine (frost/infer.h): its packed GEMM against the reference kernel,
 * and whole models against the training engine's eval forward of the BN-folded model,
 * with the fast and the reference kernels, on 1 and 2 threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/rng.h"
#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"
#include "ops/pgemm.h"

static float uniform(frost_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * frost_rng_uniform(r);
}

typedef void (*pgemm_fn)(frost_act_kind, int, int, int, int, const float *, int64_t, const float *,
                         float *, int64_t);

/* Random shapes (rows and channels off the 6 x 16 and 12 x 32 tiles, one block or an odd
 * number of them, strided x and y), every activation: the SIMD kernel equals the reference
 * to float rounding and writes nothing outside its rows and channels. */
static void check_pgemm(pgemm_fn simd, uint64_t seed)
{
    frost_rng r;
    frost_rng_seed(&r, seed);
    for (int it = 0; it < 400; it++) {
        int rows = 1 + (int)(frost_rng_uniform(&r) * 40),
            kdim = 1 + (int)(frost_rng_uniform(&r) * 300);
        int cout = 1 + (int)(frost_rng_uniform(&r) * 110);
        int p0 = (int)(frost_rng_uniform(&r) * 3);
        int64_t ldx = kdim + (it % 3), ldy = cout + (it % 4);
        frost_act_kind act = (frost_act_kind)(it % FROST_ACT_COUNT);
        float *x = malloc(sizeof(float) * (size_t)(rows + p0) * ldx);
        float *w = malloc(sizeof(float) * (size_t)cout * kdim), *b = malloc(sizeof(float) * cout);
        float *pk = malloc(sizeof(float) * frost_pgemm_packed_floats(cout, kdim));
        float *y0 = malloc(sizeof(float) * (size_t)(rows + p0) * ldy);
        float *y1 = malloc(sizeof(float) * (size_t)(rows + p0) * ldy);
        for (int64_t i = 0; i < (rows + p0) * ldx; i++)
            x[i] = uniform(&r, -2, 2);
        for (int i = 0; i < cout * kdim; i++)
            w[i] = uniform(&r, -1, 1) / sqrtf((float)kdim);
        for (int i = 0; i < cout; i++)
            b[i] = uniform(&r, -3, 3);
        for (int64_t i = 0; i < (rows + p0) * ldy; i++)
            y0[i] = y1[i] = 1234.5f; /* canaries */
        frost_pgemm_pack(cout, kdim, w, it % 5 ? b : NULL, pk);
        frost_pgemm_ref(act, p0, p0 + rows, kdim, cout, x, ldx, pk, y0, ldy);
        simd(act, p0, p0 + rows, kdim, cout, x, ldx, pk, y1, ldy);
        for (int p = 0; p < rows + p0; p++)
            for (int64_t o = 0; o < ldy; o++) {
                float want = y0[p * ldy + o], got = y1[p * ldy + o];
                if (p < p0 || o >= cout)
                    CHECK_FLOAT_EQ(got, 1234.5f);
                else
                    CHECK_NEAR(got, want, 1e-5, 1e-5);
            }
        free(x), free(w), free(b), free(pk), free(y0), free(y1);
    }
}

/* Called directly, so it stays covered on CPUs where the engine takes AVX-512. */
TEST(test_pgemm_avx2_matches_reference)
{
    if (frost_cpu_has_avx2())
        check_pgemm(frost_pgemm_avx2, 11);
}

TEST(test_pgemm_avx512_matches_reference)
{
    if (!frost_cpu_has_avx512f()) {
        printf("  (no AVX-512 here, or FROST_NO_AVX512: the zmm GEMM is not exercised)\n");
        return;
    }
    check_pgemm(frost_pgemm_avx512, 12);
}

/* BN statistics and gamma/beta away from the identity, so folding them matters. */
static void randomize_bn(frost_model *m, uint64_t seed)
{
    frost_rng r;
    frost_rng_seed(&r, seed);
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == FROST_OP_BN)
            for (int c = 0; c < m->nodes[i].c; c++) {
                m->params[m->nodes[i].gamma].data[c] = uniform(&r, 0.5f, 1.5f);
                m->params[m->nodes[i].beta].data[c] = uniform(&r, -0.5f, 0.5f);
                m->buffers[m->nodes[i].running_mean].data[c] = uniform(&r, -0.5f, 0.5f);
                m->buffers[m->nodes[i].running_var].data[c] = uniform(&r, 0.5f, 1.5f);
            }
}

/* The engine's logits equal the training engine's eval forward on N images, with the
 * fast kernels and the reference ones, on 1 and 2 threads. Returns how many act layers
 * were fused into their conv. */
static int check_engine(frost_model *m, int h, int w, int c)
{
    enum { N = 3 };
    randomize_bn(m, 5);
    const int pix = h * w * c, k = m->classes;
    float *x = malloc(sizeof(float) * N * pix), *out = malloc(sizeof(float) * k);
    frost_rng r;
    frost_rng_seed(&r, 6);
    for (int i = 0; i < N * pix; i++)
        x[i] = uniform(&r, -2, 2);
    CHECK(frost_model_set_batch(m, N) == FROST_OK);
    CHECK(frost_model_forward(m, x, N, false) == FROST_OK);
    frost_fp32_model *e = NULL;
    CHECK(frost_fp32_create(m, &e) == FROST_OK);
    int fused = 0;
    for (int i = 0; e && i < frost_fp32_node_count(e); i++)
        fused += strcmp(frost_fp32_node_op(e, i), "alias") == 0 &&
                 m->nodes[frost_g_find(m, frost_fp32_node_name(e, i))].op == FROST_OP_ACT;
    for (int mode = 0; e && mode < 4; mode++) {
        frost_fp32_force_reference(e, mode & 1);
        frost_set_threads(mode < 2 ? 1 : 2);
        for (int n = 0; n < N; n++) {
            CHECK(frost_fp32_run(e, x + (size_t)n * pix, pix, out) == FROST_OK);
            for (int j = 0; j < k; j++)
                CHECK_NEAR(out[j], frost_model_logits(m)[n * k + j], 1e-4, 1e-3);
        }
    }
    frost_set_threads(1);
    frost_fp32_free(e);
    free(x), free(out);
    return fused;
}

static frost_model *builtin(const char *name, const char *act, int input)
{
    frost_builtin_opts o = frost_builtin_defaults();
    o.width = 0.35f;
    o.input = input;
    o.in_channels = 3;
    o.classes = 10;
    o.act = act;
    frost_model *m = NULL;
    CHECK(frost_model_builtin(name, &o, &m) == FROST_OK);
    if (m)
        frost_model_init_weights(m, 3);
    return m;
}

TEST(test_mobilenetv2_matches_training_forward)
{
    const char *acts[] = {"relu6", "hswish"};
    for (int a = 0; a < 2; a++) {
        frost_model *m = builtin("mobilenetv2", acts[a], 32);
        if (!m)
            return;
        /* every conv -> BN -> act unit runs as one conv with its activation inside */
        CHECK(check_engine(m, 32, 32, 3) >= 30);
        frost_model_free(m);
    }
}

TEST(test_frostnet_matches_training_forward)
{
    frost_model *m = builtin("frostnet_s", NULL, 40);
    if (!m)
        return;
    CHECK(check_engine(m, 40, 40, 3) > 0);
    frost_model_free(m);
}

/* Ops the built-in models do not use: a grouped (not depthwise) conv, a BN that cannot
 * fold (after an add), max and average pools, a concat, dropout and flatten, a conv with
 * two readers (its activation is not fused), a 5x5 depthwise with stride 2 (hardtanh), a hidden
 * linear layer with its activation. */
static const char *other_ops_arch =
    "{\"name\":\"otherops\",\"input\":{\"h\":20,\"w\":20,\"c\":3},\"classes\":7,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":1,\"pad\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"mp\",\"op\":\"maxpool\",\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"g\",\"op\":\"conv\",\"out\":12,\"k\":3,\"stride\":1,\"pad\":1,\"groups\":2},"
    "{\"name\":\"ga\",\"op\":\"act\",\"fn\":\"hswish\"},"
    "{\"name\":\"p\",\"op\":\"conv\",\"in\":[\"mp\"],\"out\":12,\"k\":1,\"bias\":true},"
    "{\"name\":\"add\",\"op\":\"add\",\"in\":[\"ga\",\"p\"]},"
    "{\"name\":\"bn\",\"op\":\"bn\"},"
    "{\"name\":\"pa\",\"op\":\"act\",\"in\":[\"p\"],\"fn\":\"relu\"},"
    "{\"name\":\"mix\",\"op\":\"add\",\"in\":[\"bn\",\"pa\"]},"
    "{\"name\":\"dw\",\"op\":\"conv\",\"out\":12,\"k\":5,\"stride\":2,\"pad\":2,\"groups\":12},"
    "{\"name\":\"dwa\",\"op\":\"act\",\"fn\":\"hardtanh\"}," /* relu6: the MobileNetV2 test */
    "{\"name\":\"ap\",\"op\":\"avgpool\",\"in\":[\"bn\"],\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"dwa\",\"ap\",\"dwa\"]},"
    "{\"name\":\"drop\",\"op\":\"dropout\",\"p\":0.2},"
    "{\"name\":\"fl\",\"op\":\"flatten\"},"
    "{\"name\":\"fc1\",\"op\":\"linear\",\"out\":20},"
    "{\"name\":\"fa\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"fc2\",\"op\":\"linear\",\"out\":7}]}";

TEST(test_other_ops_match_training_forward)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(other_ops_arch, "test", &m) == FROST_OK);
    if (!m)
        return;
    frost_model_init_weights(m, 8);
    CHECK_EQ_INT(check_engine(m, 20, 20, 3), 3); /* a1, ga, dwa; not pa (p has 2 readers) */
    frost_model_free(m);
}

/* Squeeze-excite with swish: SiLU and the sigmoid gate fuse into their convs (BN folded),
 * the gate multiplies the trunk per channel, then a same-shape mul. */
static const char *se_arch =
    "{\"name\":\"se\",\"input\":{\"h\":20,\"w\":20,\"c\":3},\"classes\":7,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":2,\"pad\":1},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"silu\"},"
    "{\"name\":\"sq\",\"op\":\"gap\"},"
    "{\"name\":\"fc1\",\"op\":\"conv\",\"out\":4,\"k\":1,\"bias\":true},"
    "{\"name\":\"r\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"fc2\",\"op\":\"conv\",\"out\":8,\"k\":1,\"bias\":true},"
    "{\"name\":\"gate\",\"op\":\"act\",\"fn\":\"sigmoid\"},"
    "{\"name\":\"se\",\"op\":\"mul\",\"in\":[\"a1\",\"gate\"]},"
    "{\"name\":\"sk\",\"op\":\"conv\",\"in\":[\"a1\"],\"out\":8,\"k\":1},"
    "{\"name\":\"m2\",\"op\":\"mul\",\"in\":[\"se\",\"sk\"]},"
    "{\"name\":\"g\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":7}]}";

TEST(test_squeeze_excite_matches_training_forward)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(se_arch, "test", &m) == FROST_OK);
    if (!m)
        return;
    frost_model_init_weights(m, 9);
    CHECK_EQ_INT(check_engine(m, 20, 20, 3), 3); /* a1, r and gate run inside their convs */
    frost_fp32_model *e = NULL;
    CHECK(frost_fp32_create(m, &e) == FROST_OK);
    int muls = 0;
    int64_t mul_macs = 0;
    for (int i = 0; e && i < frost_fp32_node_count(e); i++)
        if (strcmp(frost_fp32_node_op(e, i), "mul") == 0) {
            muls++;
            mul_macs += frost_fp32_node_macs(e, i);
        }
    CHECK_EQ_INT(muls, 2);
    CHECK_EQ_INT(mul_macs, 2 * 10 * 10 * 8); /* one multiply per output value */
    frost_fp32_free(e);
    frost_model_free(m);
}

TEST(test_bad_input_refused)
{
    frost_model *m = builtin("mobilenetv2", "relu6", 32);
    if (!m)
        return;
    frost_fp32_model *e = NULL;
    CHECK(frost_fp32_create(m, &e) == FROST_OK);
    float x[32 * 32 * 3] = {0}, out[10];
    CHECK(e && frost_fp32_run(e, x, 32 * 32 * 3 - 1, out) == FROST_ERR_ARG);
    CHECK(e && frost_fp32_run(e, NULL, 32 * 32 * 3, out) == FROST_ERR_ARG);
    CHECK(e && frost_fp32_run(e, x, 32 * 32 * 3, out) == FROST_OK);
    frost_fp32_free(e);
    frost_model_free(m);
}

int main(void)
{
    RUN(test_pgemm_avx2_matches_reference);
    RUN(test_pgemm_avx512_matches_reference);
    RUN(test_mobilenetv2_matches_training_forward);
    RUN(test_frostnet_matches_training_forward);
    RUN(test_other_ops_match_training_forward);
    RUN(test_squeeze_excite_matches_training_forward);
    RUN(test_bad_input_refused);
    return frost_test_summary();
}
