/* The memory cap (frost_set_memory_limit, FROST_MEMORY_LIMIT in the CLI): what a file, a
 * data set, a model or a batch would need is refused with the numbers before anything is
 * allocated, and everything under the cap works as before. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"

static const char *const arch =
    "{\"name\":\"mem\",\"input\":{\"h\":32,\"w\":32,\"c\":3},\"classes\":4,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":64,\"k\":3},{\"name\":\"g\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":4}]}";

static void expect_limit_error(frost_status s, const char *what)
{
    CHECK_EQ_INT(s, FROST_ERR_NOMEM);
    if (!strstr(frost_last_error(), what) ||
        !strstr(frost_last_error(), "more than the memory limit of 1.0 MB")) {
        fprintf(stderr, "  '%s' lacks '%s' or the limit\n", frost_last_error(), what);
        frost_test_failed_checks++;
    }
}

TEST(batches_files_and_models_over_the_limit_are_refused)
{
    CHECK(frost_memory_limit() > ((uint64_t)1 << 26)); /* default: the machine's memory */
    frost_model *m = NULL;
    CHECK_EQ_INT(frost_model_from_json(arch, "mem", &m), FROST_OK);
    frost_set_memory_limit(1000000);
    CHECK(frost_memory_limit() == 1000000);
    if (m) {
        /* batch 8: 8 x 32 x 32 x 64 floats of conv output alone are 2 MB */
        expect_limit_error(frost_model_set_batch(m, 8),
                           "model 'mem' at batch 8 (activations) needs");
        CHECK_EQ_INT(frost_model_set_batch(m, 1), FROST_OK); /* 0.26 MB + the rest: fits */
    }
    /* a file bigger than the limit is not read */
    char path[64];
    snprintf(path, sizeof path, "/tmp/frost_mem_%d.bin", (int)getpid());
    char *big = calloc(1, 1500000);
    CHECK(big && frost_test_write_all(path, big, 1500000));
    char *data = NULL;
    size_t size = 0;
    expect_limit_error(frost_read_file(path, &data, &size), "needs 1.5 MB");
    CHECK(data == NULL);
    /* a model whose weights alone exceed it (with their gradients: 2 x 4 x 1024 x 256) */
    const char *wide = "{\"name\":\"w\",\"input\":{\"h\":1,\"w\":1,\"c\":1024},\"classes\":256,"
                       "\"layers\":[{\"name\":\"fc\",\"op\":\"linear\",\"out\":256}]}";
    frost_model *w = NULL;
    CHECK(frost_model_from_json(wide, "w", &w) != FROST_OK && w == NULL);
    CHECK(strstr(frost_last_error(), "fc.weight needs 2.1 MB") != NULL);
    frost_set_memory_limit(0); /* back to the default: everything works again */
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_OK);
    CHECK(size == 1500000);
    free(data);
    free(big);
    unlink(path);
    frost_model_free(m);
}

FROST_TEST_MAIN(RUN(batches_files_and_models_over_the_limit_are_refused))
