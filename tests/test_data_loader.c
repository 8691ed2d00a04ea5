/*
 * Batch loader and augmentation on synthetic in-memory datasets: batch
 * counts, determinism (seed, epoch, thread count, resume point), coverage of
 * every index per epoch, exact normalisation, and crop/flip geometry.
 */
#include "harness.h"

#include "data/data_internal.h"

#include <stdlib.h>
#include <string.h>

/* n images of h x w x c; image i has every byte = i (so an output pixel tells
 * which image it came from), label i % 7. */
static void make_constant_images(frost_dataset *d, int n, int h, int w, int c)
{
    size_t pixels = (size_t)h * w * c;
    d->n = n;
    d->h = h;
    d->w = w;
    d->c = c;
    d->classes = 7;
    d->images = malloc((size_t)n * pixels);
    d->labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        memset(d->images + (size_t)i * pixels, i, pixels);
        d->labels[i] = (uint8_t)(i % 7);
    }
}

/* One image whose pixels are all different: value = 1 + y*w*c + x*c + ch. */
static void make_gradient_image(frost_dataset *d, int h, int w, int c)
{
    d->n = 1;
    d->h = h;
    d->w = w;
    d->c = c;
    d->classes = 1;
    d->images = malloc((size_t)h * w * c);
    d->labels = calloc(1, 1);
    for (int i = 0; i < h * w * c; i++)
        d->images[i] = (uint8_t)(1 + i);
}

/* Runs a whole epoch; returns the images in order of appearance (recovered
 * from pixel 0 of each output image with aug off) in `order`. */
static int epoch_order(frost_loader *l, int epoch, int n, int pixels, int batch, int *order)
{
    float *img = malloc((size_t)batch * pixels * sizeof *img);
    uint8_t *lab = malloc((size_t)batch);
    frost_loader_start_epoch(l, epoch);
    int total = 0, got;
    while ((got = frost_loader_next(l, img, lab)) > 0) {
        for (int i = 0; i < got && total + i < n; i++) {
            int idx = (int)(img[(size_t)i * pixels] * 255.0f + 0.5f);
            order[total + i] = idx;
            CHECK_EQ_INT(lab[i], idx % 7);
        }
        total += got;
    }
    free(img);
    free(lab);
    return total;
}

TEST(batch_counts_and_short_last_batch)
{
    frost_dataset d;
    make_constant_images(&d, 10, 3, 3, 1);
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 4, true, NULL, 1, &l), FROST_OK);
    CHECK_EQ_INT(frost_loader_batches(l), 3);
    float img[4 * 9];
    uint8_t lab[4];
    CHECK_EQ_INT(frost_loader_next(l, img, lab), 4);
    CHECK_EQ_INT(frost_loader_next(l, img, lab), 4);
    CHECK_EQ_INT(frost_loader_next(l, img, lab), 2);
    CHECK_EQ_INT(frost_loader_next(l, img, lab), 0);
    CHECK_EQ_INT(frost_loader_next(l, img, lab), 0);
    frost_loader_start_epoch(l, 1);
    CHECK_EQ_INT(frost_loader_next(l, img, lab), 4);
    frost_loader_free(l);

    CHECK_EQ_INT(frost_loader_create(&d, 5, true, NULL, 1, &l), FROST_OK);
    CHECK_EQ_INT(frost_loader_batches(l), 2);
    frost_loader_free(l);
    CHECK_EQ_INT(frost_loader_create(&d, 64, true, NULL, 1, &l), FROST_OK);
    CHECK_EQ_INT(frost_loader_batches(l), 1);
    frost_loader_free(l);
    frost_dataset_free(&d);
}

TEST(every_index_once_per_epoch)
{
    enum { N = 37, B = 8, P = 4 };
    frost_dataset d;
    make_constant_images(&d, N, 2, 2, 1);
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, B, true, NULL, 99, &l), FROST_OK);
    for (int epoch = 0; epoch < 4; epoch++) {
        int order[N], seen[N] = {0};
        CHECK_EQ_INT(epoch_order(l, epoch, N, P, B, order), N);
        for (int i = 0; i < N; i++) {
            CHECK(order[i] >= 0 && order[i] < N);
            if (order[i] >= 0 && order[i] < N)
                seen[order[i]]++;
        }
        for (int i = 0; i < N; i++)
            CHECK_EQ_INT(seen[i], 1);
    }
    frost_loader_free(l);
    frost_dataset_free(&d);
}

TEST(shuffle_depends_on_seed_and_epoch_only)
{
    enum { N = 50, B = 16, P = 4 };
    frost_dataset d;
    make_constant_images(&d, N, 2, 2, 1);
    frost_loader *a = NULL, *b = NULL, *c = NULL, *plain = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, B, true, NULL, 7, &a), FROST_OK);
    CHECK_EQ_INT(frost_loader_create(&d, B, true, NULL, 7, &b), FROST_OK);
    CHECK_EQ_INT(frost_loader_create(&d, B, true, NULL, 8, &c), FROST_OK);
    CHECK_EQ_INT(frost_loader_create(&d, B, false, NULL, 7, &plain), FROST_OK);

    int a0[N], a1[N], a3[N], b3[N], b0[N], c0[N], p0[N], p5[N];
    epoch_order(a, 0, N, P, B, a0);
    epoch_order(a, 1, N, P, B, a1);
    epoch_order(a, 2, N, P, B, a3);
    epoch_order(a, 3, N, P, B, a3);
    /* b jumps straight to epoch 3 (a resumed run), then back to epoch 0. */
    epoch_order(b, 3, N, P, B, b3);
    epoch_order(b, 0, N, P, B, b0);
    epoch_order(c, 0, N, P, B, c0);
    epoch_order(plain, 0, N, P, B, p0);
    epoch_order(plain, 5, N, P, B, p5);

    CHECK(memcmp(a0, b0, sizeof a0) == 0);
    CHECK(memcmp(a3, b3, sizeof a3) == 0);
    CHECK(memcmp(a0, a1, sizeof a0) != 0); /* a new epoch, a new order */
    CHECK(memcmp(a0, c0, sizeof a0) != 0); /* a new seed, a new order */
    int identity = 1, moved = 0;
    for (int i = 0; i < N; i++) {
        identity &= p0[i] == i && p5[i] == i;
        moved += a0[i] != i;
    }
    CHECK(identity);      /* shuffle off: dataset order every epoch */
    CHECK(moved > N / 2); /* shuffled: most samples moved */

    frost_loader_free(a);
    frost_loader_free(b);
    frost_loader_free(c);
    frost_loader_free(plain);
    frost_dataset_free(&d);
}

TEST(normalisation_is_exact_without_augmentation)
{
    frost_dataset d;
    make_gradient_image(&d, 4, 4, 2); /* pixels 1..32 */
    d.images[0] = 0;
    d.images[31] = 255;
    frost_augment aug = {.mean = 0.2860f, .std = 0.3530f, .crop_pad = 0, .hflip = false};
    frost_loader *l = NULL, *raw = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 1, true, &aug, 3, &l), FROST_OK);
    CHECK_EQ_INT(frost_loader_create(&d, 1, true, NULL, 3, &raw), FROST_OK);
    float img[32], img_raw[32];
    uint8_t lab;
    CHECK_EQ_INT(frost_loader_next(l, img, &lab), 1);
    CHECK_EQ_INT(frost_loader_next(raw, img_raw, &lab), 1);
    for (int i = 0; i < 32; i++) {
        float p = (float)d.images[i];
        CHECK_FLOAT_EQ(img[i], (p / 255.0f - 0.2860f) / 0.3530f);
        CHECK_FLOAT_EQ(img_raw[i], p / 255.0f);
    }
    /* Hand-computed ends of the range. */
    CHECK_NEAR(img[0], -0.810198300, 1e-6, 0);
    CHECK_NEAR(img[31], 2.022662890, 1e-6, 0);
    CHECK_NEAR(img_raw[5], 6.0 / 255.0, 1e-7, 0);
    frost_loader_free(l);
    frost_loader_free(raw);
    frost_dataset_free(&d);
}

/* Expected value of output pixel (y, x, ch) of a gradient image under a
 * shift (dy, dx) and flip, with `pad` outside (the definition in
 * data_internal.h, written out independently). */
static float expected_pixel(const frost_dataset *d, const float lut[256], int dy, int dx, bool flip,
                            int y, int x, int ch)
{
    int sy = y + dy, sx = (flip ? d->w - 1 - x : x) + dx;
    if (sy < 0 || sy >= d->h || sx < 0 || sx >= d->w)
        return lut[0];
    return lut[d->images[(sy * d->w + sx) * d->c + ch]];
}

/* Does `img` equal the gradient image under (dy, dx, flip)? */
static bool matches(const frost_dataset *d, const float lut[256], const float *img, int dy, int dx,
                    bool flip)
{
    for (int y = 0; y < d->h; y++)
        for (int x = 0; x < d->w; x++)
            for (int ch = 0; ch < d->c; ch++)
                if (img[(y * d->w + x) * d->c + ch] !=
                    expected_pixel(d, lut, dy, dx, flip, y, x, ch))
                    return false;
    return true;
}

TEST(augment_image_hand_computed)
{
    /* 3x3x1 image 1..9, identity normalisation so outputs are p/255. */
    frost_dataset d;
    make_gradient_image(&d, 3, 3, 1);
    float lut[256], out[9];
    frost_augment_make_lut(NULL, lut);

    frost_augment_choice shift = {1, -1, false}; /* out(y,x) = in(y+1, x-1) */
    frost_augment_image(d.images, 3, 3, 1, lut, shift, out);
    const int want_shift[9] = {0, 4, 5, 0, 7, 8, 0, 0, 0};
    for (int i = 0; i < 9; i++)
        CHECK_FLOAT_EQ(out[i], (float)want_shift[i] / 255.0f);

    frost_augment_choice mirror = {0, 0, true};
    frost_augment_image(d.images, 3, 3, 1, lut, mirror, out);
    const int want_mirror[9] = {3, 2, 1, 6, 5, 4, 9, 8, 7};
    for (int i = 0; i < 9; i++)
        CHECK_FLOAT_EQ(out[i], (float)want_mirror[i] / 255.0f);

    /* Crop then flip: out(y,x) = in(y-1, (2-x)+1). */
    frost_augment_choice both = {-1, 1, true};
    frost_augment_image(d.images, 3, 3, 1, lut, both, out);
    const int want_both[9] = {0, 0, 0, 0, 3, 2, 0, 6, 5};
    for (int i = 0; i < 9; i++)
        CHECK_FLOAT_EQ(out[i], (float)want_both[i] / 255.0f);

    /* Padding is black *before* normalisation: (0 - 0.5) / 0.25 = -2. */
    frost_augment norm = {.mean = 0.5f, .std = 0.25f, .crop_pad = 1, .hflip = false};
    frost_augment_make_lut(&norm, lut);
    frost_augment_image(d.images, 3, 3, 1, lut, shift, out);
    CHECK_FLOAT_EQ(out[0], -2.0f);
    CHECK_FLOAT_EQ(out[8], -2.0f);
    CHECK_FLOAT_EQ(out[1], (4.0f / 255.0f - 0.5f) / 0.25f);

    /* Multi-channel: channels move together. */
    frost_dataset rgb;
    make_gradient_image(&rgb, 2, 2, 3);
    float o3[12];
    frost_augment_make_lut(NULL, lut);
    frost_augment_image(rgb.images, 2, 2, 3, lut, mirror, o3);
    for (int ch = 0; ch < 3; ch++) {
        CHECK_FLOAT_EQ(o3[ch], (float)(1 + 3 + ch) / 255.0f);     /* (0,0) <- (0,1) */
        CHECK_FLOAT_EQ(o3[9 + ch], (float)(1 + 6 + ch) / 255.0f); /* (1,1) <- (1,0) */
    }
    frost_dataset_free(&rgb);
    frost_dataset_free(&d);
}

TEST(loader_crop_produces_shifted_images)
{
    frost_dataset d;
    make_gradient_image(&d, 5, 6, 1);
    frost_augment aug = {.mean = 0.25f, .std = 0.5f, .crop_pad = 2, .hflip = false};
    float lut[256];
    frost_augment_make_lut(&aug, lut);
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 1, true, &aug, 11, &l), FROST_OK);
    int hits[5][5] = {{0}};
    float img[30];
    uint8_t lab;
    for (int epoch = 0; epoch < 300; epoch++) {
        frost_loader_start_epoch(l, epoch);
        CHECK_EQ_INT(frost_loader_next(l, img, &lab), 1);
        int found = 0;
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                if (matches(&d, lut, img, dy, dx, false)) {
                    hits[dy + 2][dx + 2]++;
                    found++;
                }
        CHECK_EQ_INT(found, 1); /* exactly one shift explains the output */
    }
    /* 300 draws over 25 shifts (12 expected each): every shift shows up. */
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            CHECK(hits[i][j] > 0);
    frost_loader_free(l);
    frost_dataset_free(&d);
}

TEST(loader_flip_mirrors_half_the_time)
{
    frost_dataset d;
    make_gradient_image(&d, 3, 4, 2);
    frost_augment aug = {.mean = 0.0f, .std = 1.0f, .crop_pad = 0, .hflip = true};
    float lut[256];
    frost_augment_make_lut(&aug, lut);
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 1, true, &aug, 5, &l), FROST_OK);
    int flips = 0, plain = 0;
    float img[24];
    uint8_t lab;
    for (int epoch = 0; epoch < 400; epoch++) {
        frost_loader_start_epoch(l, epoch);
        CHECK_EQ_INT(frost_loader_next(l, img, &lab), 1);
        bool f = matches(&d, lut, img, 0, 0, true), p = matches(&d, lut, img, 0, 0, false);
        CHECK(f != p);
        flips += f;
        plain += p;
    }
    /* Binomial(400, 0.5): mean 200, sd 10; 150..250 is a 5-sigma band. */
    CHECK(flips > 150 && flips < 250);
    CHECK_EQ_INT(flips + plain, 400);
    frost_loader_free(l);
    frost_dataset_free(&d);
}

TEST(shuffle_is_uniform_enough)
{
    /* Fisher-Yates leaves each element in place with probability 1/n, so over
     * 100 epochs of 10 images about 100 fixed points appear (sd ~ 9.5); a
     * biased shuffle such as Sattolo's (never a fixed point) fails this. */
    enum { N = 10, B = 4, P = 1 };
    frost_dataset d;
    make_constant_images(&d, N, 1, 1, 1);
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, B, true, NULL, 2024, &l), FROST_OK);
    int fixed = 0, first_slot[N] = {0};
    for (int epoch = 0; epoch < 100; epoch++) {
        int order[N];
        epoch_order(l, epoch, N, P, B, order);
        for (int i = 0; i < N; i++)
            fixed += order[i] == i;
        first_slot[order[0]]++;
    }
    CHECK(fixed > 60 && fixed < 140);
    /* Every image leads some epoch (each with probability 1 - 0.9^100). */
    for (int i = 0; i < N; i++)
        CHECK(first_slot[i] > 0);
    frost_loader_free(l);
    frost_dataset_free(&d);
}

TEST(augmentation_differs_between_positions)
{
    /* 256 copies of one image, no shuffle: each output reveals its position's
     * (dy, dx, flip), one of 18. Independent draws agree with probability
     * 1/18 whatever the distance between positions, so a stream that repeats
     * (every batch, say) stands out. */
    enum { N = 256, H = 4, W = 5 };
    frost_dataset one, d;
    make_gradient_image(&one, H, W, 1);
    d = one;
    d.n = N;
    d.images = malloc((size_t)N * H * W);
    d.labels = calloc(N, 1);
    for (int i = 0; i < N; i++)
        memcpy(d.images + (size_t)i * H * W, one.images, H * W);
    frost_augment aug = {.mean = 0.0f, .std = 1.0f, .crop_pad = 1, .hflip = true};
    float lut[256];
    frost_augment_make_lut(&aug, lut);
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(&d, 64, false, &aug, 77, &l), FROST_OK);
    static float img[N * H * W];
    uint8_t lab[N];
    int at = 0, got, code[N];
    while ((got = frost_loader_next(l, img + (size_t)at * H * W, lab + at)) > 0)
        at += got;
    CHECK_EQ_INT(at, N);
    int seen[18] = {0};
    for (int p = 0; p < N; p++) {
        code[p] = -1;
        for (int k = 0; k < 18; k++)
            if (matches(&one, lut, img + (size_t)p * H * W, k / 6 - 1, (k / 2) % 3 - 1, k % 2))
                code[p] = k;
        CHECK(code[p] >= 0);
        if (code[p] >= 0)
            seen[code[p]]++;
    }
    for (int k = 0; k < 18; k++)
        CHECK(seen[k] > 0); /* expected 14 each */
    const int gaps[3] = {1, 64, 128};
    for (int g = 0; g < 3; g++) {
        int same = 0;
        for (int p = 0; p + gaps[g] < N; p++)
            same += code[p] == code[p + gaps[g]];
        CHECK(same < (N - gaps[g]) / 4); /* expected (N - gap) / 18 */
    }
    frost_loader_free(l);
    frost_dataset_free(&d);
    frost_dataset_free(&one);
}

/* Every batch of an epoch, concatenated. */
static void run_epoch(const frost_dataset *d, int batch, const frost_augment *aug, uint64_t seed,
                      int epoch, float *images, uint8_t *labels)
{
    frost_loader *l = NULL;
    CHECK_EQ_INT(frost_loader_create(d, batch, true, aug, seed, &l), FROST_OK);
    if (!l)
        return;
    frost_loader_start_epoch(l, epoch);
    size_t pixels = (size_t)d->h * d->w * d->c;
    int at = 0, got;
    while ((got = frost_loader_next(l, images + (size_t)at * pixels, labels + at)) > 0)
        at += got;
    CHECK_EQ_INT(at, d->n);
    frost_loader_free(l);
}

TEST(augmented_batches_independent_of_threads_and_batch_size)
{
    /* Large enough that the fill really runs in parallel. */
    enum { N = 300, H = 28, W = 28, C = 1 };
    frost_dataset d;
    d.n = N;
    d.h = H;
    d.w = W;
    d.c = C;
    d.classes = 10;
    d.images = malloc((size_t)N * H * W * C);
    d.labels = malloc(N);
    for (size_t i = 0; i < (size_t)N * H * W * C; i++)
        d.images[i] = (uint8_t)((i * 2654435761u) >> 24);
    for (int i = 0; i < N; i++)
        d.labels[i] = (uint8_t)(i % 10);
    frost_augment aug = {.mean = 0.2860f, .std = 0.3530f, .crop_pad = 3, .hflip = true};
    size_t total = (size_t)N * H * W * C;
    float *a = malloc(total * sizeof *a), *b = malloc(total * sizeof *b);
    float *c = malloc(total * sizeof *c);
    uint8_t la[N], lb[N], lc[N];

    frost_set_threads(1);
    run_epoch(&d, 64, &aug, 1234, 2, a, la);
    frost_set_threads(2);
    run_epoch(&d, 64, &aug, 1234, 2, b, lb);
    CHECK(memcmp(a, b, total * sizeof *a) == 0);
    CHECK(memcmp(la, lb, N) == 0);
    /* Augmentation follows the position in the epoch, not the batch layout. */
    run_epoch(&d, 7, &aug, 1234, 2, c, lc);
    CHECK(memcmp(a, c, total * sizeof *a) == 0);
    /* And it does change with the epoch. */
    run_epoch(&d, 64, &aug, 1234, 3, c, lc);
    CHECK(memcmp(a, c, total * sizeof *a) != 0);

    free(a);
    free(b);
    free(c);
    frost_set_threads(0);
    frost_dataset_free(&d);
}

TEST(create_rejects_bad_arguments)
{
    frost_dataset d;
    make_constant_images(&d, 4, 3, 3, 1);
    frost_loader *l = (frost_loader *)&d; /* must be reset to NULL on failure */
    CHECK_EQ_INT(frost_loader_create(&d, 0, true, NULL, 1, &l), FROST_ERR_ARG);
    CHECK(l == NULL);
    frost_augment bad_std = {.mean = 0.5f, .std = 0.0f, .crop_pad = 0, .hflip = false};
    CHECK_EQ_INT(frost_loader_create(&d, 2, true, &bad_std, 1, &l), FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "std") != NULL);
    frost_augment bad_pad = {.mean = 0.5f, .std = 1.0f, .crop_pad = 4, .hflip = false};
    CHECK_EQ_INT(frost_loader_create(&d, 2, true, &bad_pad, 1, &l), FROST_ERR_ARG);
    CHECK(strstr(frost_last_error(), "crop_pad") != NULL);
    CHECK_EQ_INT(frost_loader_create(NULL, 2, true, NULL, 1, &l), FROST_ERR_ARG);
    frost_dataset empty = {0};
    CHECK_EQ_INT(frost_loader_create(&empty, 2, true, NULL, 1, &l), FROST_ERR_ARG);
    frost_loader_free(NULL);
    frost_dataset_free(&d);
}

FROST_TEST_MAIN(RUN(batch_counts_and_short_last_batch); RUN(every_index_once_per_epoch);
                RUN(shuffle_depends_on_seed_and_epoch_only);
                RUN(normalisation_is_exact_without_augmentation); RUN(augment_image_hand_computed);
                RUN(loader_crop_produces_shifted_images); RUN(loader_flip_mirrors_half_the_time);
                RUN(shuffle_is_uniform_enough); RUN(augmentation_differs_between_positions);
                RUN(augmented_batches_independent_of_threads_and_batch_size);
                RUN(create_rejects_bad_arguments))
