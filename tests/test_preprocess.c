/*
 * A model's preprocessing (per-channel mean/std, channel order): stored in the
 * architecture JSON and checked on reading; the loader and image input normalize each
 * channel with its own mean and std (bit-exact with the float expression).
 */
#include <stdlib.h>
#include <string.h>

#include "frost/data.h"
#include "frost/model.h"
#include "frost/train.h"
#include "harness.h"

static const char *arch(const char *input_extra)
{
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"p\", \"input\": {\"h\": 2, \"w\": 2, \"c\": 3%s}, \"classes\": 2,"
             " \"layers\": [{\"name\": \"g\", \"op\": \"gap\"},"
             " {\"name\": \"fc\", \"op\": \"linear\", \"out\": 2}]}",
             input_extra);
    return text;
}

TEST(architecture_json_keeps_preprocessing)
{
    frost_model *m = NULL, *again = NULL;
    CHECK_EQ_INT(frost_model_from_json(
                     arch(", \"mean\": [0.1, 0.2, 0.3], \"std\": [0.5, 0.25, 2], \"channels\": "
                          "\"bgr\""),
                     "t", &m),
                 FROST_OK);
    if (!m)
        return;
    frost_preprocess p = frost_model_preprocess(m);
    CHECK(p.set && p.bgr);
    CHECK_FLOAT_EQ(p.mean[1], 0.2f);
    CHECK_FLOAT_EQ(p.std[2], 2.0f);
    char *json = frost_model_to_json(m);
    CHECK_EQ_INT(frost_model_from_json(json, "again", &again), FROST_OK);
    frost_preprocess q = again ? frost_model_preprocess(again) : (frost_preprocess){0};
    CHECK(q.set && q.bgr);
    for (int i = 0; i < 3; i++) {
        CHECK_FLOAT_EQ(q.mean[i], p.mean[i]);
        CHECK_FLOAT_EQ(q.std[i], p.std[i]);
    }
    free(json);
    frost_model_free(again);
    frost_model_free(m);
    /* one number means every channel; no preprocessing: not set */
    CHECK_EQ_INT(frost_model_from_json(arch(", \"mean\": [0.5], \"std\": [0.25]"), "t", &m),
                 FROST_OK);
    p = m ? frost_model_preprocess(m) : (frost_preprocess){0};
    CHECK(p.set && !p.bgr && p.mean[2] == 0.5f && p.std[2] == 0.25f);
    frost_model_free(m);
    CHECK_EQ_INT(frost_model_from_json(arch(""), "t", &m), FROST_OK);
    CHECK(m && !frost_model_preprocess(m).set);
    frost_model_free(m);
}

static void expect_bad(const char *extra, const char *needle)
{
    frost_model *m = NULL;
    frost_status s = frost_model_from_json(arch(extra), "bad.json", &m);
    if (s == FROST_OK || !strstr(frost_last_error(), needle)) {
        fprintf(stderr, "  %s: want '%s', got: %s\n", extra, needle,
                s == FROST_OK ? "accepted" : frost_last_error());
        frost_test_failed_checks++;
    }
    frost_model_free(m);
}

TEST(bad_preprocessing_is_refused)
{
    expect_bad(", \"mean\": [0.1, 0.2]", "needs both 'mean' and 'std'");
    expect_bad(", \"mean\": [0.1, 0.2], \"std\": [1, 1, 1]",
               "'input.mean' must be a list of 1 or 3");
    expect_bad(", \"mean\": [0], \"std\": [0]", "the std positive");
    expect_bad(", \"mean\": [0], \"std\": [1], \"channels\": \"rbg\"", "'input.channels'");
    expect_bad(", \"mean\": [\"a\"], \"std\": [1]", "must hold numbers");
}

TEST(loader_and_images_normalize_per_channel)
{
    frost_preprocess pre = {.set = true, .mean = {0.1f, 0.2f, 0.3f}, .std = {0.5f, 0.25f, 2.0f}};
    frost_augment base = frost_train_defaults().augment;
    base.crop_pad = 0;
    frost_augment a = frost_augment_for(&pre, base);
    uint8_t pixels[3] = {255, 0, 51}, label = 0;
    frost_dataset d = {
        .n = 1, .h = 1, .w = 1, .c = 3, .classes = 1, .images = pixels, .labels = &label};
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 1, false, &a, 1, &l), FROST_OK);
    float x[3];
    uint8_t y;
    CHECK_EQ_INT(frost_loader_next(l, x, &y), 1);
    for (int k = 0; k < 3; k++)
        CHECK_FLOAT_EQ(x[k], ((float)pixels[k] / 255.0f - pre.mean[k]) / pre.std[k]);
    frost_loader_free(l);
    /* the same through an image file's path */
    frost_image img = {.h = 1, .w = 1, .c = 3, .pixels = pixels};
    float z[3];
    CHECK_EQ_INT(frost_image_to_input(&img, 1, 1, 3, false, &a, z), FROST_OK);
    for (int k = 0; k < 3; k++)
        CHECK_FLOAT_EQ(z[k], x[k]);
    /* without preprocessing: the defaults (Fashion-MNIST's), one table for all channels */
    frost_augment plain = frost_augment_for(NULL, base);
    CHECK(!plain.per_channel && plain.mean == 0.2860f);
}

FROST_TEST_MAIN(RUN(architecture_json_keeps_preprocessing); RUN(bad_preprocessing_is_refused);
                RUN(loader_and_images_normalize_per_channel))
