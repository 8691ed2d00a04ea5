/*
 * The exported C on a Cortex-M under QEMU (scripts/mcu-run, mcu/): the every-op fixture
 * model runs the first 100 Fashion-MNIST test images on mps2-an386 (Cortex-M4F) and
 * mps2-an500 (Cortex-M7), and every output must equal frost_int8_run_quantized bit for bit.
 * The images and the reference outputs are made here with the library, independently of
 * the `frost export --images` files that scripts/mcu-run compares against. The reported
 * sizes must agree with the memory plan. So must a BNN, a Bi-Real and an XNOR-Net model
 * with binarized inputs (FROST_TEST_BINACT_ARCH, calibrated on those images here, 100
 * images each): the generated popcount kernels (and XNOR's float output stage) give the
 * runtime's outputs bit for bit. Exits 77 (CTest's
 * SKIP_RETURN_CODE) when arm-none-eabi-gcc or qemu-system-arm is missing (`scripts/setup mcu`
 * installs them).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen_sizes.h"
#include "frost/frost.h"
#include "harness.h"
#include "int8/i8model.h"
#include "test_archs.h"

#define MODEL    "tests/fixtures/compat/qat_fixed.int8"
#define N_IMAGES 100
#define CLASSES  10
#define SKIP     77

static char dir[] = "/tmp/frost_mcu_XXXXXX";
static char out[16384];

static bool have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s --version > /dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* The first N_IMAGES test images, normalized as `frost run` does. */
static bool load_images(float *x)
{
    frost_dataset test = {0}, head = {0};
    frost_loader *l = NULL;
    frost_augment train_norm = frost_train_defaults().augment;
    frost_augment norm = {.mean = train_norm.mean, .std = train_norm.std};
    uint8_t label;
    int done = 0;
    bool ok = frost_dataset_fashion_mnist(NULL, false, &test) == FROST_OK &&
              frost_dataset_head(&test, N_IMAGES, &head) == FROST_OK &&
              frost_loader_create(&head, 1, false, &norm, 0, &l) == FROST_OK;
    if (ok) {
        frost_loader_start_epoch(l, 0);
        while (done < N_IMAGES && frost_loader_next(l, x + done * 28 * 28, &label) > 0)
            done++;
    }
    CHECK(ok);
    CHECK_EQ_INT(done, N_IMAGES);
    frost_loader_free(l);
    frost_dataset_free(&head);
    frost_dataset_free(&test);
    return ok && done == N_IMAGES;
}

/* Those images quantized for m. */
static bool quantize_images(const frost_int8_model *m, uint8_t *q)
{
    static float x[N_IMAGES * 28 * 28];
    if (!load_images(x))
        return false;
    for (int i = 0; i < N_IMAGES; i++)
        frost_int8_quantize_input(m, x + i * 28 * 28, q + i * 28 * 28);
    return true;
}

/* Reads exactly n bytes of dir/board/name; false when the size differs. */
static bool read_exact(const char *board, const char *name, void *buf, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s/%s", dir, board, name);
    FILE *f = fopen(path, "rb");
    bool ok = f && fread(buf, 1, n, f) == n && fgetc(f) == EOF;
    if (f)
        fclose(f);
    if (!ok)
        fprintf(stderr, "  %s: missing or not %zu bytes\n", path, n);
    return ok;
}

/* The number after "key=" on mcu-run's last line, or -1. */
static long reported(const char *key)
{
    char needle[64];
    const char *line = strstr(out, "mcu-run: machine=");
    snprintf(needle, sizeof needle, " %s=", key);
    const char *p = line ? strstr(line, needle) : NULL;
    return p ? strtol(p + strlen(needle), NULL, 10) : -1;
}

/* scripts/mcu-run of the model file `path` (m loaded) on `board`, in dir/board. */
static void check_board(frost_int8_model *m, const char *path, const char *board, const uint8_t *q,
                        const float *want)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "rm -rf %s/%s && scripts/mcu-run %s --board %s --images %d --dir %s/%s --timeout 120 "
             "> %s/log 2>&1",
             dir, board, path, board, N_IMAGES, dir, board, dir);
    int rc = system(cmd);
    char log[128];
    snprintf(log, sizeof log, "%s/log", dir);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    if (rc != 0)
        fprintf(stderr, "  %s failed (%d):\n%s\n", cmd, rc, out);
    CHECK_EQ_INT(rc, 0);
    CHECK(strstr(out, "outputs bit-identical to frost's int8 runtime") != NULL);
    /* the images QEMU ran are the ones `frost run` sees, the logits the runtime's */
    static uint8_t ran[N_IMAGES * 28 * 28];
    static float got[N_IMAGES * CLASSES];
    if (read_exact(board, "input.bin", ran, sizeof ran))
        CHECK(memcmp(ran, q, sizeof ran) == 0);
    int mismatches = N_IMAGES;
    if (read_exact(board, "output.bin", got, sizeof got)) {
        mismatches = 0;
        for (int i = 0; i < N_IMAGES; i++)
            mismatches +=
                memcmp(got + i * CLASSES, want + i * CLASSES, sizeof(float) * CLASSES) != 0;
    }
    CHECK_EQ_INT(mismatches, 0);
    /* the sizes: the arena is the plan, it lives in .bss; the const data is in .text */
    CHECK_EQ_INT(reported("images"), N_IMAGES);
    CHECK_EQ_INT(reported("arena"), frost_int8_arena_bytes(m));
    CHECK_EQ_INT(reported("const"), frost_test_c_const_bytes(m));
    CHECK(reported("model_bss") >= (long)frost_int8_arena_bytes(m));
    CHECK(reported("model_text") > (long)frost_int8_weight_bytes(m));
    CHECK(reported("text") >= reported("model_text"));
    CHECK(reported("stack") > 0 && reported("stack") < 4096);
    CHECK_EQ_INT(reported("ram"), reported("data") + reported("bss") + reported("stack"));
    CHECK(reported("instructions_min") > 100000 &&
          reported("instructions_min") <= reported("instructions_mean") &&
          reported("instructions_mean") <= reported("instructions_max"));
}

/* The runtime's logits for the quantized test images, then the C export of m (written as
 * `path`) on both Cortex-M boards against them. */
static void check_both_boards(frost_int8_model *m, const char *path)
{
    static uint8_t q[N_IMAGES * 28 * 28];
    static float want[N_IMAGES * CLASSES];
    if (!quantize_images(m, q))
        return;
    for (int i = 0; i < N_IMAGES; i++)
        CHECK(frost_int8_run_quantized(m, q + i * 28 * 28, 28 * 28, want + i * CLASSES) ==
              FROST_OK);
    check_board(m, path, "an386", q, want);
    check_board(m, path, "an500", q, want);
}

TEST(fashion_images_on_cortex_m4_and_m7_match_the_runtime)
{
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(MODEL, &m) == FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(frost_int8_classes(m), CLASSES);
    check_both_boards(m, MODEL);
    frost_int8_free(m);
}

/* FROST_TEST_BINACT_ARCH quantized with `config`, calibrated on the test images x,
 * converted, saved as dir/NAME.int8 (path) and loaded back (the model mcu-run exports). */
static frost_int8_model *binact_model(const char *config, const float *x, const char *name,
                                      char *path, size_t path_len)
{
    frost_model *f = NULL;
    frost_qconfig *c = NULL;
    frost_int8_model *m = NULL, *back = NULL;
    snprintf(path, path_len, "%s/%s.int8", dir, name);
    CHECK(frost_model_from_json(FROST_TEST_BINACT_ARCH, "test", &f) == FROST_OK);
    CHECK(frost_qconfig_parse(config, "test", &c) == FROST_OK);
    if (f && c) {
        frost_model_init_weights(f, 11);
        CHECK(frost_model_quantize(f, c) == FROST_OK);
        CHECK(frost_model_set_batch(f, N_IMAGES) == FROST_OK);
        CHECK(frost_model_set_qmode(f, FROST_QMODE_CALIBRATE) == FROST_OK);
        CHECK(frost_model_forward(f, x, N_IMAGES, false) == FROST_OK);
        CHECK(frost_model_set_qmode(f, FROST_QMODE_FIXED) == FROST_OK);
        CHECK(frost_int8_from_model(f, &m) == FROST_OK);
    }
    CHECK(m && frost_int8_save(m, path) == FROST_OK);
    CHECK(m && frost_int8_load(path, &back) == FROST_OK);
    frost_int8_free(m);
    frost_qconfig_free(c);
    frost_model_free(f);
    return back;
}

/* A model with binarized inputs (`ain`) on both boards: c2, c3, c5 and fc1 on the popcount
 * kernels, c4 on the grouped one (`binarized` nodes in all; `adds`: Bi-Real's shortcuts). */
static void check_binact(const char *config, const char *name, frost_int8_ain ain, int binarized,
                         int adds)
{
    static float x[N_IMAGES * 28 * 28];
    char path[128];
    if (!load_images(x))
        return;
    frost_int8_model *m = binact_model(config, x, name, path, sizeof path);
    if (!m)
        return;
    int bin = 0, add = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        bin += m->nodes[i].ain == ain;
        add += m->nodes[i].op == FROST_I8_ADD;
    }
    CHECK_EQ_INT(bin, binarized);
    CHECK_EQ_INT(add, adds);
    CHECK_EQ_INT(frost_int8_classes(m), CLASSES);
    check_both_boards(m, path);
    frost_int8_free(m);
}

TEST(bnn_model_on_cortex_m4_and_m7_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"binary\"}, \"activations\": {\"scheme\": \"sign\"}}",
                 "bnn", FROST_I8_AIN_SIGN, 5, 0);
}

TEST(bireal_model_on_cortex_m4_and_m7_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"bireal\"}, "
                 "\"bireal_shortcuts\": true}",
                 "bireal", FROST_I8_AIN_SIGN, 5, 2);
}

/* XNOR-Net: the float output stage with K's sums in double, which the Cortex-M4F's
 * single-precision FPU leaves to software, must still give frost's bits (c4 on the grouped
 * XNOR kernel). */
TEST(xnor_model_on_cortex_m4_and_m7_matches_the_runtime)
{
    check_binact("{\"weights\": {\"scheme\": \"bwn\"}, \"activations\": {\"scheme\": \"xnor\"}}",
                 "xnor", FROST_I8_AIN_XNOR, 5, 0);
}

int main(void)
{
    if (!have("arm-none-eabi-gcc") || !have("qemu-system-arm")) {
        printf("SKIPPED: arm-none-eabi-gcc or qemu-system-arm not found "
               "(scripts/setup mcu installs them)\n");
        return SKIP;
    }
    if (!mkdtemp(dir))
        return 1;
    RUN(fashion_images_on_cortex_m4_and_m7_match_the_runtime);
    RUN(bnn_model_on_cortex_m4_and_m7_matches_the_runtime);
    RUN(bireal_model_on_cortex_m4_and_m7_matches_the_runtime);
    RUN(xnor_model_on_cortex_m4_and_m7_matches_the_runtime);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return frost_test_summary();
}
