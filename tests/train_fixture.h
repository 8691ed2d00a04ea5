/* The small training problem test_train_resume and test_train_safety share: an
 * architecture with conv, BN, depthwise, dropout and linear (the dropout makes exact
 * resumes depend on the saved random stream too), a synthetic 3-class data set, the
 * training settings and a freshly initialised model. */
#ifndef FROST_TESTS_TRAIN_FIXTURE_H
#define FROST_TESTS_TRAIN_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "harness.h"

static const char *const arch =
    "{\"name\":\"rs\",\"input\":{\"h\":8,\"w\":8,\"c\":1},\"classes\":3,\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3},{\"name\":\"b1\",\"op\":\"bn\"},"
    "{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"},"
    "{\"name\":\"dw\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":2,\"groups\":8},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"a2\",\"op\":\"act\",\"fn\":\"relu6\"},"
    "{\"name\":\"g\",\"op\":\"gap\"},{\"name\":\"d\",\"op\":\"dropout\",\"p\":0.1},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";

/* Three classes: a bright square top-left, bottom-right, or no square, plus noise. */
static inline frost_dataset synthetic(int n, unsigned seed)
{
    frost_dataset d = {.n = n, .h = 8, .w = 8, .c = 1, .classes = 3};
    d.images = malloc((size_t)n * 64);
    d.labels = malloc((size_t)n);
    float *noise = malloc(sizeof(float) * (size_t)n * 64);
    frost_test_fill_uniform(noise, (long)n * 64, 0.0f, 60.0f, seed);
    for (int i = 0; i < n; i++) {
        int label = i % 3;
        d.labels[i] = (uint8_t)label;
        for (int p = 0; p < 64; p++) {
            int y = p / 8, x = p % 8;
            bool on = (label == 0 && y < 4 && x < 4) || (label == 1 && y >= 4 && x >= 4);
            d.images[(size_t)i * 64 + p] = (uint8_t)(noise[(size_t)i * 64 + p] + (on ? 180 : 0));
        }
    }
    free(noise);
    return d;
}

static inline frost_train_config config(const char *ckpt)
{
    frost_train_config c = frost_train_defaults();
    c.epochs = 3;
    c.batch = 16;
    c.sched.base_lr = 0.05f;
    c.augment = (frost_augment){.mean = 0.3f, .std = 0.3f, .crop_pad = 1, .hflip = true};
    c.checkpoint = ckpt;
    c.quiet = true;
    c.seed = 11;
    return c;
}

static inline frost_model *fresh(void)
{
    frost_model *m = NULL;
    CHECK(frost_model_from_json(arch, "rs", &m) == FROST_OK);
    if (m)
        frost_model_init_weights(m, 11);
    return m;
}

/* Every parameter and buffer of a and b (same architecture) equal bit for bit. */
static inline bool same_weights(const frost_model *a, const frost_model *b)
{
    for (int i = 0; i < a->n_params; i++)
        if (memcmp(a->params[i].data, b->params[i].data,
                   sizeof(float) * (size_t)a->params[i].numel))
            return false;
    for (int i = 0; i < a->n_buffers; i++)
        if (memcmp(a->buffers[i].data, b->buffers[i].data,
                   sizeof(float) * (size_t)a->buffers[i].numel))
            return false;
    return true;
}

#endif
