/*
 * The real Fashion-MNIST files (Debian's dataset-fashion-mnist package).
 * Reference numbers were read from the files independently with Python's
 * gzip module: first labels, per-class counts, pixel sums, mean and std.
 */
#include "harness.h"

#include "frost/frost.h" /* not frost/data.h alone: see src/data/data_internal.h */

#include <string.h>

static long image_sum(const frost_dataset *d, int i)
{
    long s = 0;
    size_t pixels = (size_t)d->h * d->w * d->c;
    for (size_t k = 0; k < pixels; k++)
        s += d->images[(size_t)i * pixels + k];
    return s;
}

static void check_histogram(const frost_dataset *d, int per_class)
{
    int hist[256] = {0};
    for (int i = 0; i < d->n; i++)
        hist[d->labels[i]]++;
    for (int k = 0; k < 10; k++)
        CHECK_EQ_INT(hist[k], per_class);
}

TEST(train_split)
{
    frost_dataset d;
    frost_status s = frost_dataset_fashion_mnist(NULL, true, &d);
    if (s != FROST_OK)
        fprintf(stderr, "  %s\n", frost_last_error());
    CHECK_EQ_INT(s, FROST_OK);
    if (s != FROST_OK)
        return;
    CHECK_EQ_INT(d.n, 60000);
    CHECK_EQ_INT(d.h, 28);
    CHECK_EQ_INT(d.w, 28);
    CHECK_EQ_INT(d.c, 1);
    CHECK_EQ_INT(d.classes, 10);
    CHECK_EQ_INT(d.labels[0], 9); /* ankle boot */
    CHECK_EQ_INT(d.labels[1], 0);
    CHECK_EQ_INT(d.labels[59999], 5);
    check_histogram(&d, 6000);
    CHECK_EQ_INT(image_sum(&d, 0), 76247);
    CHECK_EQ_INT(image_sum(&d, 59999), 16684);
    /* The normalisation constants quoted in data.h. */
    double sum = 0, sq = 0, total = 60000.0 * 784.0;
    for (size_t i = 0; i < (size_t)60000 * 784; i++) {
        double v = d.images[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    double mean = sum / total, std = sqrt(sq / total - mean * mean);
    CHECK_NEAR(mean, 0.2860406, 1e-6, 0);
    CHECK_NEAR(std, 0.3530242, 1e-6, 0);
    frost_dataset_free(&d);
}

TEST(test_split_from_explicit_dir)
{
    frost_dataset d;
    frost_status s = frost_dataset_fashion_mnist(FROST_FASHION_MNIST_DIR, false, &d);
    CHECK_EQ_INT(s, FROST_OK);
    if (s != FROST_OK)
        return;
    CHECK_EQ_INT(d.n, 10000);
    CHECK_EQ_INT(d.h, 28);
    CHECK_EQ_INT(d.w, 28);
    CHECK_EQ_INT(d.c, 1);
    CHECK_EQ_INT(d.classes, 10);
    CHECK_EQ_INT(d.labels[0], 9);
    CHECK_EQ_INT(d.labels[1], 2);
    check_histogram(&d, 1000);
    CHECK_EQ_INT(image_sum(&d, 0), 33456);
    CHECK_EQ_INT(image_sum(&d, 9999), 24390);

    /* A held-out split of the real data keeps every image once. */
    frost_dataset tr, va;
    CHECK_EQ_INT(frost_dataset_split(&d, 1000, 2024, &tr, &va), FROST_OK);
    CHECK_EQ_INT(tr.n, 9000);
    CHECK_EQ_INT(va.n, 1000);
    long label_sum = 0, split_sum = 0;
    for (int i = 0; i < d.n; i++)
        label_sum += d.labels[i];
    for (int i = 0; i < tr.n; i++)
        split_sum += tr.labels[i];
    for (int i = 0; i < va.n; i++)
        split_sum += va.labels[i];
    CHECK_EQ_INT(split_sum, label_sum);
    CHECK_EQ_INT(label_sum, 45000); /* 1000 of each class 0..9 */
    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    frost_dataset_free(&d);
}

TEST(loader_over_real_data)
{
    frost_dataset full, d;
    CHECK_EQ_INT(frost_dataset_fashion_mnist(NULL, false, &full), FROST_OK);
    CHECK_EQ_INT(frost_dataset_head(&full, 1000, &d), FROST_OK);
    frost_dataset_free(&full);
    frost_augment aug = {.mean = 0.2860f, .std = 0.3530f, .crop_pad = 2, .hflip = true};
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 128, true, &aug, 42, &l), FROST_OK);
    CHECK_EQ_INT(frost_loader_batches(l), 8);
    static float img[128 * 784];
    uint8_t lab[128];
    int total = 0, got, hist[10] = {0};
    double lo = 1e9, hi = -1e9;
    while ((got = frost_loader_next(l, img, lab)) > 0) {
        for (int i = 0; i < got; i++)
            hist[lab[i] < 10 ? lab[i] : 0]++;
        for (int i = 0; i < got * 784; i++) {
            lo = img[i] < lo ? img[i] : lo;
            hi = img[i] > hi ? img[i] : hi;
        }
        total += got;
    }
    CHECK_EQ_INT(total, 1000);
    int want[10] = {0};
    for (int i = 0; i < d.n; i++)
        want[d.labels[i]]++;
    for (int k = 0; k < 10; k++)
        CHECK_EQ_INT(hist[k], want[k]);
    /* Values stay within the normalised range of [0, 255]. */
    CHECK_NEAR(lo, (0.0 - 0.2860) / 0.3530, 1e-5, 0);
    CHECK_NEAR(hi, (1.0 - 0.2860) / 0.3530, 1e-5, 0);
    frost_loader_free(l);
    frost_dataset_free(&d);
}

FROST_TEST_MAIN(RUN(train_split); RUN(test_split_from_explicit_dir); RUN(loader_over_real_data))
