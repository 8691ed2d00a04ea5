/* frost compress end to end on real Fashion-MNIST: a tiny model trained here, compressed to
 * 8 and 4 bits (with one epoch of centroid fine-tuning) and to 2 bits with pruning; the
 * compressed checkpoints' test accuracy within stated margins of FP32, `frost eval` giving
 * exactly the accuracy the fine-tuning reported (the file holds the shared weights), `frost
 * info` showing the compressed size, and bad input refused with one clear line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"

static char dir[] = "/tmp/frost_compress_XXXXXX";
static char out[16384];

static int frost(const char *args) { return frost_test_run_cli(dir, args, out, sizeof out); }

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* The first n images of a Fashion-MNIST split as raw IDX files <stem>-images / -labels in
 * dir: every command then reads a few thousand images, not the whole gzip-compressed set. */
static bool write_subset(bool train, int n, const char *stem)
{
    frost_dataset d = {0};
    if (frost_dataset_fashion_mnist(NULL, train, &d) != FROST_OK || d.n < n) {
        fprintf(stderr, "  Fashion-MNIST: %s\n", frost_last_error());
        frost_dataset_free(&d);
        return false;
    }
    char path[300];
    snprintf(path, sizeof path, "%s/%s-images", dir, stem);
    FILE *f = fopen(path, "wb");
    put_be32(f, 0x00000803);
    put_be32(f, (uint32_t)n);
    put_be32(f, (uint32_t)d.h);
    put_be32(f, (uint32_t)d.w);
    fwrite(d.images, 1, (size_t)n * (size_t)(d.h * d.w), f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s-labels", dir, stem);
    f = fopen(path, "wb");
    put_be32(f, 0x00000801);
    put_be32(f, (uint32_t)n);
    fwrite(d.labels, 1, (size_t)n, f);
    fclose(f);
    frost_dataset_free(&d);
    return true;
}

/* The data options naming the subsets. */
static char data_args[1024];

/* The test accuracy `frost eval` prints for a checkpoint in dir (percent), or -1. */
static double eval_accuracy(const char *name)
{
    char args[2048];
    snprintf(args, sizeof args, "eval %s/%s --threads 2 %s", dir, name, data_args);
    if (frost(args) != 0) {
        fprintf(stderr, "  frost %s failed: %s", args, out);
        return -1;
    }
    const char *acc = strstr(out, "accuracy ");
    return acc ? atof(acc + 9) : -1;
}

/* Exit code non-zero, one line of output containing `needle`. */
static void expect_error(const char *args, const char *needle)
{
    frost_test_expect_cli_error(dir, args, 0, needle, out, sizeof out);
}

static void write_file(const char *name, const void *data, size_t size)
{
    frost_test_write_all(frost_test_path(dir, name), data, size);
}

TEST(compress_end_to_end)
{
    char args[4096];
    /* real Fashion-MNIST: the first 2500 training images (500 held out) and the first 2000
     * test images */
    CHECK(write_subset(true, 2500, "train") && write_subset(false, 2000, "test"));
    snprintf(data_args, sizeof data_args,
             "--train-images %s/train-images --train-labels %s/train-labels "
             "--test-images %s/test-images --test-labels %s/test-labels",
             dir, dir, dir, dir);
    write_file("tiny.json", frost_test_tiny_arch, strlen(frost_test_tiny_arch));
    snprintf(args, sizeof args,
             "train --arch %s/tiny.json --epochs 2 --val 500 --batch 50 --lr 0.3 "
             "--warmup 0 --out %s/t.safetensors --quiet --threads 2 %s",
             dir, dir, data_args);
    CHECK_EQ_INT(frost(args), 0);
    double fp32 = eval_accuracy("t.safetensors");
    CHECK(fp32 > 30.0);

    /* 8 bits, no fine-tuning: within 0.5 points (measured here: -0.2) */
    snprintf(args, sizeof args, "compress %s/t.safetensors --bits 8 -o %s/k8.safetensors", dir,
             dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "c2.weight") && strstr(out, "total") && strstr(out, "k8.safetensors"));
    double k8 = eval_accuracy("k8.safetensors");
    CHECK(fabs(k8 - fp32) <= 0.5);

    /* 4 bits plus one epoch of centroid fine-tuning on the same 2000 images: at most 1 point
     * below FP32 (measured here: +2.1, as the under-trained model also gets one more epoch
     * for its biases and BN; 4 bits without fine-tuning measured +1.4 on this model and -5.5
     * on one trained on other images, too noisy a number for a test) */
    snprintf(args, sizeof args,
             "compress %s/t.safetensors --bits 4 --finetune-epochs 1 --finetune-lr 0.001 "
             "--limit 2000 --batch 50 --threads 2 -o %s/k4.safetensors %s",
             dir, dir, data_args);
    CHECK_EQ_INT(frost(args), 0);
    const char *ft = strstr(out, "test accuracy ");
    double reported = ft ? atof(ft + 14) : -1;
    /* 2608 weights: 3 codebooks of 16 floats; the index bits depend on the data */
    CHECK(strstr(out, "total                           -      2608      2608") != NULL);
    double k4 = eval_accuracy("k4.safetensors");
    CHECK(k4 >= fp32 - 1.0);
    CHECK_NEAR(k4, reported, 0.005, 0); /* the file holds the fine-tuned shared weights */

    /* info: the compressed size from the file */
    snprintf(args, sizeof args, "info %s/k4.safetensors", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "bits per weight") && strstr(out, "smaller than FP32"));
    CHECK(strstr(out, "c1.weight                       4       144       144") != NULL);

    /* 2 bits with half the weights pruned: half are zeros, gaps are counted */
    snprintf(args, sizeof args,
             "compress %s/t.safetensors --bits 2 --prune 0.5 -o %s/k2p.safetensors", dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "c2.weight                       2      2304      1152") != NULL);
    CHECK(eval_accuracy("k2p.safetensors") > 10.0);

    /* the compressed model goes on through PTQ and conversion unchanged */
    snprintf(args, sizeof args,
             "quantize %s/k4.safetensors --calib 256 -o %s/k4.ptq.safetensors --threads 2 %s", dir,
             dir, data_args);
    CHECK_EQ_INT(frost(args), 0);
    snprintf(args, sizeof args, "convert %s/k4.ptq.safetensors -o %s/k4.int8", dir, dir);
    CHECK_EQ_INT(frost(args), 0);

    /* bad input: one line each */
    expect_error("compress --bits 4", "give one FP32 checkpoint");
    snprintf(args, sizeof args, "compress %s/t.safetensors", dir);
    expect_error(args, "--bits N is required");
    snprintf(args, sizeof args, "compress %s/t.safetensors --bits 9", dir);
    expect_error(args, "--bits");
    snprintf(args, sizeof args, "compress %s/t.safetensors --bits 4 --prune 1", dir);
    expect_error(args, "--prune");
    snprintf(args, sizeof args, "compress %s/k4.ptq.safetensors --bits 4", dir);
    expect_error(args, "fake-quantized");
    /* a compressed file edited to another storage version, and one cut short */
    char path[300], *data = NULL;
    size_t size = 0;
    snprintf(path, sizeof path, "%s/k4.safetensors", dir);
    CHECK_EQ_INT(frost_read_file(path, &data, &size), FROST_OK);
    if (data) {
        char *v = frost_test_find_bytes(data, size, "\"frost.kmeans\":\"1\"");
        CHECK(v != NULL);
        if (v)
            v[16] = '7';
        write_file("edited.safetensors", data, size);
        snprintf(args, sizeof args, "eval %s/edited.safetensors", dir);
        expect_error(args, "content hash mismatch"); /* the edit is caught first */
        frost_test_drop_content_hash(data, size);    /* as if another tool wrote it */
        write_file("edited.safetensors", data, size);
        CHECK(frost(args) != 0);
        CHECK(strstr(out, "k-means storage version '7'") && strstr(out, "note: ") &&
              strstr(out, "has no content hash"));
        write_file("cut.safetensors", data, size - 100);
        snprintf(args, sizeof args, "info %s/cut.safetensors", dir);
        expect_error(args, "cut.safetensors");
    }
    free(data);
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

FROST_TEST_MAIN(if (!mkdtemp(dir)) return 1; RUN(compress_end_to_end); cleanup())
