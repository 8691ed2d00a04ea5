/* Checkpoints and the training loop on a small synthetic data set: save/load
 * round trip, refusal of another architecture, exact resume, learning. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "io/checkpoint.h"
#include "models/graph.h"
#include "train_fixture.h"

static const char *copy_at_epoch = NULL; /* copy the checkpoint when epoch 3 ends */
static void copy_hook(const frost_progress *p, void *user)
{
    (void)user;
    if (p->epoch_end && p->epoch == 3 && copy_at_epoch) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cp %s %s.ep2", copy_at_epoch, copy_at_epoch);
        CHECK(system(cmd) == 0);
    }
}

TEST(learns_and_resumes_exactly)
{
    char dir[] = "/tmp/frost_resume_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ckpt[256], ckpt2[256];
    snprintf(ckpt, sizeof ckpt, "%s/a.safetensors", dir);
    snprintf(ckpt2, sizeof ckpt2, "%s/a.safetensors.ep2", dir);
    frost_dataset train = synthetic(240, 1), test = synthetic(90, 2);

    /* Uninterrupted 3 epochs; the hook keeps the epoch-2 checkpoint. */
    frost_model *full = fresh();
    frost_train_config c = config(ckpt);
    frost_train_result r;
    copy_at_epoch = ckpt;
    CHECK(frost_train(full, &train, NULL, &test, &c, copy_hook, NULL, &r) == FROST_OK);
    copy_at_epoch = NULL;
    CHECK_EQ_INT(r.epochs_run, 3);
    CHECK(r.test_acc >= 0.9f); /* an easy problem: it must be learned */

    /* Resume from the epoch-2 checkpoint: one more epoch, bit-identical result. */
    frost_model *resumed = fresh();
    frost_train_config c2 = config(ckpt2);
    c2.resume = true;
    CHECK(frost_train(resumed, &train, NULL, &test, &c2, NULL, NULL, &r) == FROST_OK);
    CHECK_EQ_INT(r.epochs_run, 1);
    CHECK(same_weights(full, resumed));

    /* Resuming with other settings is refused. */
    frost_model *other = fresh();
    frost_train_config c3 = config(ckpt2);
    c3.resume = true;
    c3.sched.base_lr = 0.2f;
    CHECK(frost_train(other, &train, NULL, &test, &c3, NULL, NULL, &r) == FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "other settings") != NULL);

    /* The saved checkpoint loads as a model with the same weights and accuracy. */
    frost_model *loaded = NULL;
    CHECK(frost_checkpoint_load_model(ckpt, &loaded) == FROST_OK);
    if (loaded) {
        CHECK(same_weights(full, loaded));
        float a1 = 0, a2 = 0;
        CHECK(frost_evaluate(full, &test, &c.augment, 16, &a1, NULL) == FROST_OK);
        CHECK(frost_evaluate(loaded, &test, &c.augment, 16, &a2, NULL) == FROST_OK);
        CHECK_FLOAT_EQ(a1, a2);
    }
    frost_model_free(full);
    frost_model_free(resumed);
    frost_model_free(other);
    frost_model_free(loaded);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(checkpoint_of_another_architecture_is_refused)
{
    const char *path = "/tmp/frost_other_arch.safetensors";
    frost_model *a = fresh();
    CHECK(frost_checkpoint_save_weights(path, a) == FROST_OK);
    const char *arch2 =
        "{\"name\":\"o\",\"input\":{\"h\":8,\"w\":8,\"c\":1},\"classes\":3,\"layers\":["
        "{\"name\":\"c1\",\"op\":\"conv\",\"out\":4,\"k\":3},{\"name\":\"g\",\"op\":\"gap\"},"
        "{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";
    frost_model *b = NULL;
    CHECK(frost_model_from_json(arch2, "o", &b) == FROST_OK);
    if (b) {
        CHECK(frost_checkpoint_load_weights(path, b) == FROST_ERR_SHAPE);
        CHECK(strstr(frost_last_error(), path) != NULL);
    }
    unlink(path);
    frost_model_free(a);
    frost_model_free(b);
}

TEST(bad_training_settings_are_refused)
{
    frost_model *m = fresh();
    frost_dataset d = synthetic(30, 3);
    frost_train_config c = config(NULL);
    c.epochs = -1;
    CHECK(frost_train(m, &d, NULL, NULL, &c, NULL, NULL, NULL) == FROST_ERR_ARG);
    c = config(NULL);
    c.batch = 0;
    CHECK(frost_train(m, &d, NULL, NULL, &c, NULL, NULL, NULL) == FROST_ERR_ARG);
    c = config(NULL);
    c.sched.base_lr = 1e30f; /* diverges: reported, not silently NaN */
    c.label_smoothing = 0.0f;
    frost_status s = frost_train(m, &d, NULL, NULL, &c, NULL, NULL, NULL);
    CHECK(s == FROST_ERR_NUMERIC);
    d.h = 9; /* data that does not fit the model */
    c = config(NULL);
    CHECK(frost_train(m, &d, NULL, NULL, &c, NULL, NULL, NULL) == FROST_ERR_SHAPE);
    d.h = 8;
    frost_dataset_free(&d);
    frost_model_free(m);
}

TEST(same_seed_same_result)
{
    frost_dataset train = synthetic(120, 4);
    frost_model *a = fresh(), *b = fresh(), *c = fresh();
    frost_train_config cfg = config(NULL);
    cfg.epochs = 2;
    CHECK(frost_train(a, &train, NULL, NULL, &cfg, NULL, NULL, NULL) == FROST_OK);
    CHECK(frost_train(b, &train, NULL, NULL, &cfg, NULL, NULL, NULL) == FROST_OK);
    CHECK(same_weights(a, b));
    cfg.seed = 12; /* another seed: another shuffle, augmentation and dropout */
    CHECK(frost_train(c, &train, NULL, NULL, &cfg, NULL, NULL, NULL) == FROST_OK);
    CHECK(!same_weights(a, c));
    frost_model_free(a);
    frost_model_free(b);
    frost_model_free(c);
    frost_dataset_free(&train);
}

/* c2 feeds both b2 and the add, whose backward runs first: b2 must then add into c2's
 * gradient; b2 is a BN without an activation, b3 one before a non-fusable activation. */
static const char *const residual_arch =
    "{\"name\":\"rr\",\"input\":{\"h\":8,\"w\":8,\"c\":1},\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3},{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":8,\"k\":1},{\"name\":\"b2\",\"op\":\"bn\"},"
    "{\"name\":\"s\",\"op\":\"add\",\"in\":[\"c2\",\"b2\"]},"
    "{\"name\":\"c3\",\"op\":\"conv\",\"out\":8,\"k\":3,\"groups\":8},"
    "{\"name\":\"b3\",\"op\":\"bn\"},{\"name\":\"a3\",\"op\":\"act\",\"fn\":\"hswish\"},"
    "{\"name\":\"g\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

/* Trains a fresh model of the architecture (quantized: QAT) with input gradients written
 * where nothing was added yet, or, with FROST_GRAD_CLEAR, always cleared then added. */
static frost_model *trained(const char *json, bool qat, bool clear, const frost_dataset *train)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(json, "wr", &m) == FROST_OK);
    if (!m)
        return NULL;
    frost_model_init_weights(m, 5);
    if (qat) {
        frost_qconfig *q = NULL;
        CHECK(frost_qconfig_default(&q) == FROST_OK);
        CHECK(frost_model_quantize(m, q) == FROST_OK);
        frost_qconfig_free(q);
    }
    frost_train_config c = config(NULL);
    c.epochs = 3;
    c.qat_delay_epochs = qat ? 1 : 0;
    c.qat_freeze_bn_epoch = qat ? 2 : c.qat_freeze_bn_epoch; /* the frozen-BN backward too */
    if (clear)
        setenv("FROST_GRAD_CLEAR", "1", 1);
    CHECK(frost_train(m, train, NULL, NULL, &c, NULL, NULL, NULL) == FROST_OK);
    unsetenv("FROST_GRAD_CLEAR");
    return m;
}

TEST(written_gradients_give_the_same_bits)
{
    frost_dataset train = synthetic(96, 7);
    const char *const archs[] = {arch, residual_arch};
    for (int a = 0; a < 2; a++)
        for (int qat = 0; qat < 2; qat++) {
            frost_model *w = trained(archs[a], qat, false, &train);
            frost_model *c = trained(archs[a], qat, true, &train);
            CHECK(w && c && same_weights(w, c));
            frost_model_free(w);
            frost_model_free(c);
        }
    frost_dataset_free(&train);
}

FROST_TEST_MAIN(RUN(learns_and_resumes_exactly); RUN(same_seed_same_result);
                RUN(written_gradients_give_the_same_bits);
                RUN(checkpoint_of_another_architecture_is_refused);
                RUN(bad_training_settings_are_refused))
