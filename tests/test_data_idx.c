/*
 * IDX reader and dataset helpers: tiny hand-made IDX files (raw and gzip)
 * written under /tmp, every malformed-input case, split and head.
 */
#include "harness.h"

#include "frost/frost.h" /* not frost/data.h alone: see src/data/data_internal.h */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- writing test files ------------------------------------------------- */

static char path_buf[8][256];

/* A per-process file name under /tmp, so parallel ctest runs do not collide. */
static const char *tmp_path(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "/tmp/frost_test_data_idx_%ld_%s",
             (long)getpid(), name);
    return path_buf[slot];
}

static void write_raw(const char *path, const uint8_t *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_EQ_INT(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static void write_gzip(const char *path, const uint8_t *bytes, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    CHECK(gz != NULL);
    if (!gz)
        return;
    if (len)
        CHECK_EQ_INT(gzwrite(gz, bytes, (unsigned)len), len);
    CHECK_EQ_INT(gzclose(gz), Z_OK);
}

static void write_file(const char *path, const uint8_t *bytes, size_t len, bool gzip)
{
    if (gzip)
        write_gzip(path, bytes, len);
    else
        write_raw(path, bytes, len);
}

/* Builds an IDX image: header (dtype, dims) + payload. Returns its length. */
static size_t make_idx(uint8_t *buf, int dtype, int ndims, const uint32_t *dims,
                       const uint8_t *payload, size_t payload_len)
{
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (uint8_t)dtype;
    buf[3] = (uint8_t)ndims;
    size_t at = 4;
    for (int i = 0; i < ndims; i++) {
        buf[at++] = (uint8_t)(dims[i] >> 24);
        buf[at++] = (uint8_t)(dims[i] >> 16);
        buf[at++] = (uint8_t)(dims[i] >> 8);
        buf[at++] = (uint8_t)dims[i];
    }
    if (payload_len)
        memcpy(buf + at, payload, payload_len);
    return at + payload_len;
}

/* Three 2x3 images with pixels 10*i + k and labels {0, 3, 1}. */
static const uint8_t good_pixels[18] = {0,  1,  2,  3,  4,  5,  10, 11, 12,
                                        13, 14, 15, 20, 21, 22, 23, 24, 255};
static const uint8_t good_labels[3] = {0, 3, 1};
static const uint32_t good_image_dims[3] = {3, 2, 3};
static const uint32_t good_label_dims[1] = {3};

static void write_good_pair(const char *images, const char *labels, bool gz_images, bool gz_labels)
{
    uint8_t buf[256];
    size_t len = make_idx(buf, 0x08, 3, good_image_dims, good_pixels, sizeof good_pixels);
    write_file(images, buf, len, gz_images);
    len = make_idx(buf, 0x08, 1, good_label_dims, good_labels, sizeof good_labels);
    write_file(labels, buf, len, gz_labels);
}

static bool contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

/* Loading must fail with `want`, leave `out` empty and mention `needle`
 * (normally the bad file's path) and, if given, `needle2`. */
static void expect_load_fails(const char *images, const char *labels, frost_status want,
                              const char *needle, const char *needle2, int line)
{
    frost_dataset d;
    memset(&d, 0xAB, sizeof d);
    frost_status s = frost_dataset_load_idx(images, labels, &d);
    const char *msg = frost_last_error();
    bool ok = s == want && contains(msg, needle) && (!needle2 || contains(msg, needle2)) &&
              d.images == NULL && d.labels == NULL && d.n == 0;
    if (!ok)
        fprintf(stderr, "  (line %d) status %d (want %d), message: %s\n", line, (int)s, (int)want,
                msg);
    CHECK(ok);
    frost_dataset_free(&d);
}
#define EXPECT_LOAD_FAILS(img, lab, want, n1, n2) \
    expect_load_fails(img, lab, want, n1, n2, __LINE__)

static void check_good_dataset(const frost_dataset *d)
{
    CHECK_EQ_INT(d->n, 3);
    CHECK_EQ_INT(d->h, 2);
    CHECK_EQ_INT(d->w, 3);
    CHECK_EQ_INT(d->c, 1);
    CHECK_EQ_INT(d->classes, 4); /* max label 3 + 1 */
    CHECK(d->images && memcmp(d->images, good_pixels, sizeof good_pixels) == 0);
    CHECK(d->labels && memcmp(d->labels, good_labels, sizeof good_labels) == 0);
}

/* ---- good files --------------------------------------------------------- */

TEST(loads_raw_files)
{
    const char *img = tmp_path(0, "raw-images"), *lab = tmp_path(1, "raw-labels");
    write_good_pair(img, lab, false, false);
    frost_dataset d;
    CHECK_EQ_INT(frost_dataset_load_idx(img, lab, &d), FROST_OK);
    check_good_dataset(&d);
    frost_dataset_free(&d);
    CHECK(d.images == NULL && d.labels == NULL);
    unlink(img);
    unlink(lab);
}

TEST(loads_gzip_and_mixed_files)
{
    const char *img = tmp_path(0, "images.gz"), *lab = tmp_path(1, "labels.gz");
    for (int mix = 0; mix < 3; mix++) {
        write_good_pair(img, lab, mix != 1, mix != 2);
        frost_dataset d;
        CHECK_EQ_INT(frost_dataset_load_idx(img, lab, &d), FROST_OK);
        check_good_dataset(&d);
        frost_dataset_free(&d);
    }
    unlink(img);
    unlink(lab);
}

TEST(loads_4d_images_as_nhwc)
{
    const char *img = tmp_path(0, "images4d"), *lab = tmp_path(1, "labels4d");
    uint8_t pixels[2 * 2 * 2 * 3], buf[256];
    for (int i = 0; i < (int)sizeof pixels; i++)
        pixels[i] = (uint8_t)(7 * i + 1);
    uint32_t dims[4] = {2, 2, 2, 3}, ldims[1] = {2};
    uint8_t labels[2] = {7, 2};
    write_gzip(img, buf, make_idx(buf, 0x08, 4, dims, pixels, sizeof pixels));
    write_raw(lab, buf, make_idx(buf, 0x08, 1, ldims, labels, 2));
    frost_dataset d;
    CHECK_EQ_INT(frost_dataset_load_idx(img, lab, &d), FROST_OK);
    CHECK_EQ_INT(d.n, 2);
    CHECK_EQ_INT(d.h, 2);
    CHECK_EQ_INT(d.w, 2);
    CHECK_EQ_INT(d.c, 3);
    CHECK_EQ_INT(d.classes, 8);
    CHECK(memcmp(d.images, pixels, sizeof pixels) == 0);
    CHECK_EQ_INT(d.images[23], 7 * 23 + 1);
    CHECK_EQ_INT(d.labels[0], 7);
    frost_dataset_free(&d);
    unlink(img);
    unlink(lab);
}

/* ---- bad files ---------------------------------------------------------- */

TEST(missing_file_names_path_and_reason)
{
    const char *img = tmp_path(0, "img-exists"), *lab = tmp_path(1, "lab-exists");
    const char *missing = tmp_path(2, "no-such-file.gz");
    write_good_pair(img, lab, false, false);
    unlink(missing);
    EXPECT_LOAD_FAILS(missing, lab, FROST_ERR_IO, missing, strerror(ENOENT));
    EXPECT_LOAD_FAILS(img, missing, FROST_ERR_IO, missing, strerror(ENOENT));
    unlink(img);
    unlink(lab);
}

/* Writes `bad` as the image file (raw and gzip) next to good labels and
 * expects a format error naming it and containing `needle`. */
static void expect_bad_images(const uint8_t *bad, size_t len, const char *needle, int line)
{
    const char *img = tmp_path(0, "bad-images"), *lab = tmp_path(1, "good-labels");
    uint8_t buf[64];
    write_raw(lab, buf, make_idx(buf, 0x08, 1, good_label_dims, good_labels, 3));
    for (int gz = 0; gz < 2; gz++) {
        write_file(img, bad, len, gz);
        expect_load_fails(img, lab, FROST_ERR_FORMAT, img, needle, line);
    }
    unlink(img);
    unlink(lab);
}

static void expect_bad_labels(const uint8_t *bad, size_t len, const char *needle, int line)
{
    const char *img = tmp_path(0, "good-images"), *lab = tmp_path(1, "bad-labels");
    uint8_t buf[64];
    write_raw(img, buf, make_idx(buf, 0x08, 3, good_image_dims, good_pixels, 18));
    for (int gz = 0; gz < 2; gz++) {
        write_file(lab, bad, len, gz);
        expect_load_fails(img, lab, FROST_ERR_FORMAT, lab, needle, line);
    }
    unlink(img);
    unlink(lab);
}

TEST(bad_magic)
{
    uint8_t buf[64];
    size_t len = make_idx(buf, 0x08, 3, good_image_dims, good_pixels, 18);
    buf[0] = 0x1f; /* not the two leading zero bytes */
    expect_bad_images(buf, len, "magic", __LINE__);
    len = make_idx(buf, 0x08, 1, good_label_dims, good_labels, 3);
    buf[1] = 0x01;
    expect_bad_labels(buf, len, "magic", __LINE__);
}

TEST(unsupported_and_invalid_dtype)
{
    uint8_t buf[64];
    /* int16 (0x0B) is valid IDX but not something we read. */
    size_t len = make_idx(buf, 0x0B, 3, good_image_dims, good_pixels, 18);
    expect_bad_images(buf, len, "unsupported IDX dtype 0x0B", __LINE__);
    len = make_idx(buf, 0x0D, 1, good_label_dims, good_labels, 3);
    expect_bad_labels(buf, len, "unsupported IDX dtype 0x0D", __LINE__);
    len = make_idx(buf, 0x07, 3, good_image_dims, good_pixels, 18);
    expect_bad_images(buf, len, "invalid IDX dtype 0x07", __LINE__);
}

TEST(wrong_number_of_dimensions)
{
    uint8_t buf[64];
    uint32_t dims2[2] = {3, 6}, dims5[5] = {3, 2, 3, 1, 1};
    size_t len = make_idx(buf, 0x08, 2, dims2, good_pixels, 18);
    expect_bad_images(buf, len, "header has 2", __LINE__);
    len = make_idx(buf, 0x08, 5, dims5, good_pixels, 18);
    expect_bad_images(buf, len, "header has 5", __LINE__);
    uint32_t ldims2[2] = {3, 1};
    len = make_idx(buf, 0x08, 2, ldims2, good_labels, 3);
    expect_bad_labels(buf, len, "header has 2", __LINE__);
    /* Label and image files swapped. */
    len = make_idx(buf, 0x08, 3, good_image_dims, good_pixels, 18);
    expect_bad_labels(buf, len, "header has 3", __LINE__);
}

TEST(zero_and_absurd_dimensions)
{
    uint8_t buf[64];
    uint32_t zero[3] = {3, 0, 3};
    expect_bad_images(buf, make_idx(buf, 0x08, 3, zero, NULL, 0), "dimension 1 is zero", __LINE__);
    uint32_t lzero[1] = {0};
    expect_bad_labels(buf, make_idx(buf, 0x08, 1, lzero, NULL, 0), "dimension 0 is zero", __LINE__);
    /* 0xFFFFFFFF^3 overflows 64 bits if multiplied naively. */
    uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    expect_bad_images(buf, make_idx(buf, 0x08, 3, huge, good_pixels, 18), "absurd", __LINE__);
    /* Each size fits an int, the product (2^33 bytes) is over the cap. */
    uint32_t big[4] = {65536, 256, 256, 2};
    expect_bad_images(buf, make_idx(buf, 0x08, 4, big, good_pixels, 18), "more than", __LINE__);
    uint32_t lbig[1] = {0x80000000u};
    expect_bad_labels(buf, make_idx(buf, 0x08, 1, lbig, good_labels, 3), "absurd", __LINE__);
}

TEST(truncated_header_and_data)
{
    uint8_t buf[64] = {0};
    expect_bad_images(buf, 0, "truncated IDX header (0 of 4", __LINE__); /* empty file */
    size_t len = make_idx(buf, 0x08, 3, good_image_dims, good_pixels, 18);
    expect_bad_images(buf, 3, "truncated IDX header (3 of 4", __LINE__);
    expect_bad_images(buf, 10, "truncated IDX header (6 of 12", __LINE__);
    expect_bad_images(buf, len - 1, "header promises 18 bytes, file has 17", __LINE__);
    expect_bad_images(buf, 16, "header promises 18 bytes, file has 0", __LINE__);
    len = make_idx(buf, 0x08, 1, good_label_dims, good_labels, 3);
    expect_bad_labels(buf, len - 2, "header promises 3 bytes, file has 1", __LINE__);
}

TEST(trailing_garbage)
{
    uint8_t buf[64];
    size_t len = make_idx(buf, 0x08, 3, good_image_dims, good_pixels, 18);
    buf[len] = 0;
    expect_bad_images(buf, len + 1, "trailing data", __LINE__);
    len = make_idx(buf, 0x08, 1, good_label_dims, good_labels, 3);
    memcpy(buf + len, "junk", 4);
    expect_bad_labels(buf, len + 4, "trailing data", __LINE__);
}

/* Reads a file whole (test helper). */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

TEST(damaged_gzip_streams)
{
    const char *img = tmp_path(0, "damaged.gz"), *lab = tmp_path(1, "labels-ok");
    const char *good = tmp_path(2, "good.gz");
    write_good_pair(good, lab, true, false);
    uint8_t gz[512];
    size_t len = slurp(good, gz, sizeof gz);
    CHECK(len > 18);

    /* Cut inside the compressed data: the payload comes up short. */
    write_raw(img, gz, len / 2);
    EXPECT_LOAD_FAILS(img, lab, FROST_ERR_FORMAT, img, NULL);
    /* Only the 8-byte trailer (CRC, length) missing: all data is there, but the
     * stream is still incomplete. */
    write_raw(img, gz, len - 8);
    EXPECT_LOAD_FAILS(img, lab, FROST_ERR_FORMAT, img, "cut off");
    /* A wrong CRC in the trailer. */
    uint8_t bad[512];
    memcpy(bad, gz, len);
    bad[len - 8] ^= 0x5A;
    write_raw(img, bad, len);
    EXPECT_LOAD_FAILS(img, lab, FROST_ERR_FORMAT, img, "corrupt gzip");

    unlink(img);
    unlink(lab);
    unlink(good);
}

TEST(image_label_count_mismatch)
{
    const char *img = tmp_path(0, "mm-images"), *lab = tmp_path(1, "mm-labels");
    uint8_t buf[64];
    write_raw(img, buf, make_idx(buf, 0x08, 3, good_image_dims, good_pixels, 18));
    uint32_t two[1] = {2};
    write_gzip(lab, buf, make_idx(buf, 0x08, 1, two, good_labels, 2));
    EXPECT_LOAD_FAILS(img, lab, FROST_ERR_FORMAT, img, lab);
    CHECK(contains(frost_last_error(), "3 images"));
    CHECK(contains(frost_last_error(), "2 labels"));
    unlink(img);
    unlink(lab);
}

TEST(null_arguments)
{
    frost_dataset d;
    CHECK_EQ_INT(frost_dataset_load_idx(NULL, "x", &d), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_dataset_load_idx("x", "y", NULL), FROST_ERR_ARG);
    frost_dataset_free(NULL);
}

TEST(fashion_mnist_missing_dir_names_file)
{
    frost_dataset d;
    const char *dir = tmp_path(3, "no-such-dir");
    CHECK_EQ_INT(frost_dataset_fashion_mnist(dir, true, &d), FROST_ERR_IO);
    CHECK(contains(frost_last_error(), dir));
    CHECK(contains(frost_last_error(), "train-images-idx3-ubyte.gz"));
    CHECK_EQ_INT(frost_dataset_fashion_mnist(dir, false, &d), FROST_ERR_IO);
    CHECK(contains(frost_last_error(), "t10k-images-idx3-ubyte.gz"));
    CHECK(d.images == NULL);
}

/* ---- split and head ----------------------------------------------------- */

/* n images of 2x2x1 whose pixels all equal the index; label = index % 5. */
static void make_indexed(frost_dataset *d, int n)
{
    d->n = n;
    d->h = d->w = 2;
    d->c = 1;
    d->classes = 5;
    d->images = malloc((size_t)n * 4);
    d->labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        memset(d->images + 4 * i, i, 4);
        d->labels[i] = (uint8_t)(i % 5);
    }
}

/* Checks both halves are consistent images of the source, in source order,
 * and together hold every index exactly once; returns a bitmask of val. */
static uint64_t check_split(const frost_dataset *src, const frost_dataset *tr,
                            const frost_dataset *va)
{
    int seen[64] = {0};
    uint64_t val_mask = 0;
    const frost_dataset *parts[2] = {tr, va};
    for (int p = 0; p < 2; p++) {
        int prev = -1;
        for (int i = 0; i < parts[p]->n; i++) {
            int idx = parts[p]->images[4 * i];
            CHECK(idx >= 0 && idx < src->n);
            CHECK(idx > prev); /* source order kept */
            prev = idx;
            CHECK_EQ_INT(parts[p]->images[4 * i + 3], idx);
            CHECK_EQ_INT(parts[p]->labels[i], idx % 5);
            seen[idx]++;
            if (p == 1)
                val_mask |= 1ULL << idx;
        }
        CHECK_EQ_INT(parts[p]->classes, 5);
        CHECK_EQ_INT(parts[p]->h, 2);
    }
    for (int i = 0; i < src->n; i++)
        CHECK_EQ_INT(seen[i], 1);
    return val_mask;
}

TEST(split_is_deterministic_and_disjoint)
{
    frost_dataset src, tr, va, tr2, va2;
    make_indexed(&src, 40);
    CHECK_EQ_INT(frost_dataset_split(&src, 10, 42, &tr, &va), FROST_OK);
    CHECK_EQ_INT(tr.n, 30);
    CHECK_EQ_INT(va.n, 10);
    uint64_t m1 = check_split(&src, &tr, &va);
    CHECK_EQ_INT(__builtin_popcountll(m1), 10);

    CHECK_EQ_INT(frost_dataset_split(&src, 10, 42, &tr2, &va2), FROST_OK);
    CHECK(check_split(&src, &tr2, &va2) == m1);
    CHECK(memcmp(tr.images, tr2.images, 30 * 4) == 0);
    frost_dataset_free(&tr2);
    frost_dataset_free(&va2);

    /* Another seed picks another validation set (C(40,10) possibilities). */
    CHECK_EQ_INT(frost_dataset_split(&src, 10, 43, &tr2, &va2), FROST_OK);
    CHECK(check_split(&src, &tr2, &va2) != m1);
    frost_dataset_free(&tr2);
    frost_dataset_free(&va2);

    /* The source is untouched. */
    for (int i = 0; i < 40; i++)
        CHECK_EQ_INT(src.images[4 * i], i);

    frost_dataset_free(&tr);
    frost_dataset_free(&va);
    frost_dataset_free(&src);
}

TEST(split_edges)
{
    frost_dataset src, tr, va;
    make_indexed(&src, 8);
    CHECK_EQ_INT(frost_dataset_split(&src, 0, 1, &tr, &va), FROST_OK);
    CHECK_EQ_INT(tr.n, 8);
    CHECK_EQ_INT(va.n, 0);
    check_split(&src, &tr, &va);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);

    CHECK_EQ_INT(frost_dataset_split(&src, 8, 1, &tr, &va), FROST_OK);
    CHECK_EQ_INT(tr.n, 0);
    CHECK(check_split(&src, &tr, &va) == 0xFF);
    frost_dataset_free(&tr);
    frost_dataset_free(&va);

    CHECK_EQ_INT(frost_dataset_split(&src, 9, 1, &tr, &va), FROST_ERR_ARG);
    CHECK_EQ_INT(frost_dataset_split(&src, -1, 1, &tr, &va), FROST_ERR_ARG);
    CHECK(tr.images == NULL && va.images == NULL);
    CHECK_EQ_INT(frost_dataset_split(NULL, 1, 1, &tr, &va), FROST_ERR_ARG);
    frost_dataset_free(&src);
}

TEST(head_copies_the_first_images)
{
    frost_dataset src, h;
    make_indexed(&src, 12);
    CHECK_EQ_INT(frost_dataset_head(&src, 5, &h), FROST_OK);
    CHECK_EQ_INT(h.n, 5);
    CHECK_EQ_INT(h.classes, 5);
    CHECK(h.images != src.images);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(h.images[4 * i + 2], i);
        CHECK_EQ_INT(h.labels[i], i % 5);
    }
    frost_dataset_free(&h);
    /* More than there is: everything. */
    CHECK_EQ_INT(frost_dataset_head(&src, 100, &h), FROST_OK);
    CHECK_EQ_INT(h.n, 12);
    CHECK(memcmp(h.images, src.images, 48) == 0);
    frost_dataset_free(&h);
    CHECK_EQ_INT(frost_dataset_head(&src, -1, &h), FROST_ERR_ARG);
    frost_dataset_free(&src);
}

/* Worked values: 2x2 -> 1x1 is the mean of the four pixels (the centre lies between
 * them); 1x2 -> 1x4 interpolates between the centres and repeats the edges; the same
 * size copies. */
TEST(resize_worked_values)
{
    uint8_t img[4] = {0, 100, 200, 40}, lab[1] = {3};
    frost_dataset src =
                      {.n = 1, .h = 2, .w = 2, .c = 1, .classes = 4, .images = img, .labels = lab},
                  r;
    CHECK_EQ_INT(frost_dataset_resize(&src, 1, 1, &r), FROST_OK);
    CHECK_EQ_INT(r.images[0], 85);
    CHECK_EQ_INT(r.labels[0], 3);
    frost_dataset_free(&r);
    CHECK_EQ_INT(frost_dataset_resize(&src, 2, 2, &r), FROST_OK);
    CHECK(memcmp(r.images, img, 4) == 0);
    frost_dataset_free(&r);
    uint8_t row[2] = {0, 100};
    frost_dataset line = {
        .n = 1, .h = 1, .w = 2, .c = 1, .classes = 4, .images = row, .labels = lab};
    CHECK_EQ_INT(frost_dataset_resize(&line, 1, 4, &r), FROST_OK);
    CHECK_EQ_INT(r.images[0], 0);
    CHECK_EQ_INT(r.images[1], 25);
    CHECK_EQ_INT(r.images[2], 75);
    CHECK_EQ_INT(r.images[3], 100);
    frost_dataset_free(&r);
    CHECK_EQ_INT(frost_dataset_resize(&src, 0, 4, &r), FROST_ERR_ARG);
}

FROST_TEST_MAIN(RUN(loads_raw_files); RUN(loads_gzip_and_mixed_files); RUN(loads_4d_images_as_nhwc);
                RUN(missing_file_names_path_and_reason); RUN(bad_magic);
                RUN(unsupported_and_invalid_dtype); RUN(wrong_number_of_dimensions);
                RUN(zero_and_absurd_dimensions); RUN(truncated_header_and_data);
                RUN(trailing_garbage); RUN(damaged_gzip_streams); RUN(image_label_count_mismatch);
                RUN(null_arguments); RUN(fashion_mnist_missing_dir_names_file);
                RUN(split_is_deterministic_and_disjoint); RUN(split_edges);
                RUN(head_copies_the_first_images); RUN(resize_worked_values))
