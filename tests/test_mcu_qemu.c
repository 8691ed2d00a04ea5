/*
 * The exported C on a Cortex-M under QEMU (scripts/mcu-run, mcu/): the every-op fixture
 * model runs the first 100 Fashion-MNIST test images on mps2-an386 (Cortex-M4F) and
 * mps2-an500 (Cortex-M7), and every output must equal frost_int8_run_quantized bit for bit.
 * The images and the reference outputs are made here with the library, independently of
 * the `frost export --images` files that scripts/mcu-run compares against. The reported
 * sizes must agree with the memory plan. Exits 77 (CTest's SKIP_RETURN_CODE) when
 * arm-none-eabi-gcc or qemu-system-arm is missing (`scripts/setup mcu` installs them).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"

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

/* The first N_IMAGES test images, normalized as `frost run` does and quantized for m. */
static bool quantize_images(const frost_int8_model *m, uint8_t *q)
{
    frost_dataset test = {0}, head = {0};
    frost_loader *l = NULL;
    frost_augment train_norm = frost_train_defaults().augment;
    frost_augment norm = {.mean = train_norm.mean, .std = train_norm.std};
    float x[28 * 28];
    uint8_t label;
    int done = 0;
    bool ok = frost_dataset_fashion_mnist(NULL, false, &test) == FROST_OK &&
              frost_dataset_head(&test, N_IMAGES, &head) == FROST_OK &&
              frost_loader_create(&head, 1, false, &norm, 0, &l) == FROST_OK;
    if (ok) {
        frost_loader_start_epoch(l, 0);
        for (; done < N_IMAGES && frost_loader_next(l, x, &label) > 0; done++)
            frost_int8_quantize_input(m, x, q + done * 28 * 28);
    }
    CHECK(ok);
    CHECK_EQ_INT(done, N_IMAGES);
    frost_loader_free(l);
    frost_dataset_free(&head);
    frost_dataset_free(&test);
    return ok && done == N_IMAGES;
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

static void check_board(frost_int8_model *m, const char *board, const uint8_t *q, const float *want)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "scripts/mcu-run %s --board %s --images %d --dir %s/%s --timeout 120 > %s/log 2>&1",
             MODEL, board, N_IMAGES, dir, board, dir);
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
    CHECK_EQ_INT(reported("const"), frost_int8_weight_bytes(m));
    CHECK(reported("model_bss") >= (long)frost_int8_arena_bytes(m));
    CHECK(reported("model_text") > (long)frost_int8_weight_bytes(m));
    CHECK(reported("text") >= reported("model_text"));
    CHECK(reported("stack") > 0 && reported("stack") < 4096);
    CHECK_EQ_INT(reported("ram"), reported("data") + reported("bss") + reported("stack"));
    CHECK(reported("instructions_min") > 100000 &&
          reported("instructions_min") <= reported("instructions_mean") &&
          reported("instructions_mean") <= reported("instructions_max"));
}

TEST(fashion_images_on_cortex_m4_and_m7_match_the_runtime)
{
    frost_int8_model *m = NULL;
    CHECK(frost_int8_load(MODEL, &m) == FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(frost_int8_classes(m), CLASSES);
    static uint8_t q[N_IMAGES * 28 * 28];
    static float want[N_IMAGES * CLASSES];
    if (quantize_images(m, q)) {
        for (int i = 0; i < N_IMAGES; i++)
            CHECK(frost_int8_run_quantized(m, q + i * 28 * 28, 28 * 28, want + i * CLASSES) ==
                  FROST_OK);
        check_board(m, "an386", q, want);
        check_board(m, "an500", q, want);
    }
    frost_int8_free(m);
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
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return frost_test_summary();
}
