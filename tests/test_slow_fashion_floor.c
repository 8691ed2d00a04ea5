/* Accuracy floor on real data: a small depthwise-separable CNN trained briefly
 * on Fashion-MNIST must reach a known test accuracy. Catches anything that
 * silently breaks learning (a wrong gradient sign, a BN or loader bug) that the
 * unit tests could miss. Labelled "slow": runs in the Release build only. */
#include <stdio.h>

#include "frost/frost.h"
#include "harness.h"

static const char *const arch =
    "{\"name\":\"floor\",\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":24,\"k\":3,\"stride\":1},{\"name\":\"b1\",\"op\":"
    "\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"dw1\",\"op\":\"conv\",\"out\":24,\"k\":3,\"stride\":2,\"groups\":24},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"pw1\",\"op\":\"conv\",\"out\":48,\"k\":1},{\"name\":\"b3\",\"op\":\"bn\"},"
    "{\"name\":\"a3\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"dw2\",\"op\":\"conv\",\"out\":48,\"k\":3,\"stride\":2,\"groups\":48},"
    "{\"name\":\"b4\",\"op\":\"bn\"},{\"name\":\"a4\",\"op\":\"act\",\"fn\":\"relu6\"},"
    "{\"name\":\"pw2\",\"op\":\"conv\",\"out\":96,\"k\":1},{\"name\":\"b5\",\"op\":\"bn\"},"
    "{\"name\":\"a5\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"g\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":10}]}";

TEST(short_run_reaches_the_floor)
{
    frost_dataset full = {0}, train = {0}, test = {0};
    CHECK(frost_dataset_fashion_mnist(NULL, true, &full) == FROST_OK);
    CHECK(frost_dataset_fashion_mnist(NULL, false, &test) == FROST_OK);
    CHECK(frost_dataset_head(&full, 20000, &train) == FROST_OK);
    frost_model *m = NULL;
    CHECK(frost_model_from_json(arch, "floor", &m) == FROST_OK);
    if (!m || train.n == 0)
        return;
    frost_set_threads(2);
    frost_train_config c = frost_train_defaults();
    c.epochs = 2;
    c.sched.base_lr = 0.2f;
    c.sched.warmup_epochs = 0.2f;
    c.quiet = true;
    frost_model_init_weights(m, c.seed);
    frost_train_result r;
    CHECK(frost_train(m, &train, NULL, &test, &c, NULL, NULL, &r) == FROST_OK);
    printf("test accuracy %.2f%% after %d epochs on %d images (%.1fs)\n", 100.0 * r.test_acc,
           r.epochs_run, train.n, r.seconds);
    CHECK(r.test_acc >= 0.78f); /* measured 80.8% (seed 1, 2 threads); chance is 10% */
    frost_model_free(m);
    frost_dataset_free(&full);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
}

FROST_TEST_MAIN(RUN(short_run_reaches_the_floor))
