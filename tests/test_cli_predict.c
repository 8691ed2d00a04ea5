/* frost predict on image files: a tiny model trained here on Fashion-MNIST, a few test
 * images written as PGM/PPM/PNG/JPEG, and predict's logits (.npy), top classes and
 * probabilities checked against the library run on the same normalized pixels (the
 * training engine's eval forward, the fake-quant model, frost_int8_run). Plus the errors:
 * corrupt and truncated images, unsupported files, bad --labels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <jpeglib.h>
#include <png.h>

#include "frost/frost.h"
#include "harness.h"

#define N_IMAGES 5
#define CLASSES  10

static char dir[] = "/tmp/frost_predict_XXXXXX";
static char out[16384];
static frost_dataset test_set;

static const char *fashion_names[CLASSES] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                             "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};

/* Runs `frost ARGS` (stdout+stderr captured into out); returns the exit code. */
static int frost(const char *args) { return frost_test_run_cli(dir, args, out, sizeof out); }

/* Exit code 1 and one output line containing `needle`. */
static void expect_error(const char *args, const char *needle)
{
    frost_test_expect_cli_error(dir, args, 1, needle, out, sizeof out);
}

static const char *path_of(const char *name) { return frost_test_path(dir, name); }

static void write_bytes(const char *name, const void *data, size_t size)
{
    frost_test_write_all(path_of(name), data, size);
}

static size_t read_bytes(const char *name, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path_of(name), "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* ---- image writers ---- */

static void write_pgm_binary(const char *name, const uint8_t *px, int h, int w)
{
    unsigned char buf[64 + 28 * 28];
    int n = snprintf((char *)buf, 64, "P5\n# a comment\n%d %d\n255\n", w, h);
    memcpy(buf + n, px, (size_t)h * w);
    write_bytes(name, buf, (size_t)n + (size_t)h * w);
}

static void write_pgm_ascii(const char *name, const uint8_t *px, int h, int w)
{
    FILE *f = fopen(path_of(name), "w");
    fprintf(f, "P2\n%d %d\n255\n", w, h);
    for (int i = 0; i < h * w; i++)
        fprintf(f, "%d%c", px[i], i % w == w - 1 ? '\n' : ' ');
    fclose(f);
}

/* RGB, 2x larger (each pixel repeated 2x2, r = g = b): the luma and the bilinear downscale
 * at the pixel centres give back the 28x28 gray image exactly. */
static void write_ppm_doubled(const char *name, const uint8_t *px, int h, int w)
{
    size_t n = (size_t)4 * h * w * 3;
    unsigned char *buf = malloc(64 + n);
    int hn = snprintf((char *)buf, 64, "P6 %d %d 255\n", 2 * w, 2 * h);
    for (int y = 0; y < 2 * h; y++)
        for (int x = 0; x < 2 * w; x++)
            for (int c = 0; c < 3; c++)
                buf[hn + ((size_t)y * 2 * w + x) * 3 + c] = px[(y / 2) * w + x / 2];
    write_bytes(name, buf, (size_t)hn + n);
    free(buf);
}

static void write_png(const char *name, const uint8_t *px, int h, int w, int c)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    CHECK(png_image_write_to_file(&im, path_of(name), 0, px, 0, NULL) != 0);
}

static void write_jpeg(const char *name, const uint8_t *px, int h, int w)
{
    FILE *f = fopen(path_of(name), "wb");
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 1;
    ci.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)y * w);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
}

static const uint8_t *test_image(int i) { return test_set.images + (size_t)i * 28 * 28; }

/* The five files, one per format, of test images 0..4; names[i] is image i's path. */
static const char *image_names[N_IMAGES] = {"a.pgm", "b.pgm", "c.ppm", "d.png", "e.jpg"};

static void write_images(void)
{
    write_pgm_binary("a.pgm", test_image(0), 28, 28);
    write_pgm_ascii("b.pgm", test_image(1), 28, 28);
    write_ppm_doubled("c.ppm", test_image(2), 28, 28);
    write_png("d.png", test_image(3), 28, 28, 1);
    write_jpeg("e.jpg", test_image(4), 28, 28);
}

/* The normalized pixels of image i as training prepares them; the JPEG is lossy, so its
 * pixels are the decoded ones. */
static void normalized_input(int i, float *x)
{
    const uint8_t *px = test_image(i);
    frost_image img = {0};
    if (i == 4) {
        CHECK_EQ_INT(frost_image_load(path_of("e.jpg"), &img), FROST_OK);
        CHECK(img.h == 28 && img.w == 28 && img.c == 1);
        px = img.pixels;
    }
    for (int k = 0; k < 28 * 28; k++)
        x[k] = px ? ((float)px[k] / 255.0f - 0.2860f) / 0.3530f : 0.0f;
    frost_image_free(&img);
}

/* ---- reading the results ---- */

/* Parses the .npy predict wrote: header checked, rows*CLASSES floats into v. */
static bool read_npy(const char *name, int rows, float *v)
{
    static unsigned char buf[1 << 16];
    size_t n = read_bytes(name, buf, sizeof buf);
    if (n < 10 || memcmp(buf, "\x93NUMPY\x01\x00", 8) != 0)
        return false;
    size_t hlen = buf[8] | (size_t)buf[9] << 8, data = 10 + hlen;
    char header[256], shape[64];
    if (hlen >= sizeof header || data % 64 != 0 || buf[data - 1] != '\n')
        return false;
    memcpy(header, buf + 10, hlen);
    header[hlen] = '\0';
    snprintf(shape, sizeof shape, "'shape': (%d, %d)", rows, CLASSES);
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False") ||
        !strstr(header, shape))
        return false;
    if (n != data + (size_t)rows * CLASSES * 4)
        return false;
    memcpy(v, buf + data, (size_t)rows * CLASSES * 4); /* little-endian host */
    return true;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* The gap between the best and second-best logit: top-1 comparisons need a clear winner. */
static float margin(const float *v, int n)
{
    int b = argmax(v, n);
    float second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != b && v[i] > second)
            second = v[i];
    return v[b] - second;
}

/* ---- tests ---- */

TEST(train_tiny_models)
{
    char args[2048];
    write_bytes("tiny.json", frost_test_tiny_arch, strlen(frost_test_tiny_arch));
    snprintf(args, sizeof args,
             "train --arch %s --epochs 1 --limit 2000 --val 0 --batch 50 --lr 0.3 --warmup 0 "
             "--out %s --quiet --threads 2",
             path_of("tiny.json"), path_of("t.safetensors"));
    CHECK_EQ_INT(frost(args), 0);
    snprintf(args, sizeof args, "quantize %s --calib 128 --observer minmax --out %s --threads 2",
             path_of("t.safetensors"), path_of("q.safetensors"));
    CHECK_EQ_INT(frost(args), 0);
    snprintf(args, sizeof args, "convert %s -o %s", path_of("q.safetensors"), path_of("q.int8"));
    CHECK_EQ_INT(frost(args), 0);
    write_images();
}

/* Logits of the checkpoint's eval forward on the images' normalized pixels. */
static void reference_logits(const char *ckpt, float *ref)
{
    frost_model *m = NULL;
    CHECK_EQ_INT(frost_checkpoint_load_model(path_of(ckpt), &m), FROST_OK);
    if (!m)
        return;
    CHECK_EQ_INT(frost_model_set_batch(m, 1), FROST_OK);
    float x[28 * 28];
    for (int i = 0; i < N_IMAGES; i++) {
        normalized_input(i, x);
        CHECK_EQ_INT(frost_model_forward(m, x, 1, false), FROST_OK);
        memcpy(ref + i * CLASSES, frost_model_logits(m), sizeof(float) * CLASSES);
    }
    frost_model_free(m);
}

static void predict_matches(const char *ckpt, float tol)
{
    char args[2048];
    float ref[N_IMAGES * CLASSES], got[N_IMAGES * CLASSES];
    reference_logits(ckpt, ref);
    snprintf(args, sizeof args, "predict %s %s %s %s %s %s --top 1 -o %s", path_of(ckpt),
             path_of(image_names[0]), path_of(image_names[1]), path_of(image_names[2]),
             path_of(image_names[3]), path_of(image_names[4]), path_of("l.npy"));
    CHECK_EQ_INT(frost(args), 0);
    CHECK(read_npy("l.npy", N_IMAGES, got));
    const char *p = out;
    for (int i = 0; i < N_IMAGES; i++) {
        for (int k = 0; k < CLASSES; k++)
            CHECK_NEAR(got[i * CLASSES + k], ref[i * CLASSES + k], tol, tol);
        /* the printed top-1: "PATH\n  PROB  NAME\n" */
        const char *img = strstr(p, image_names[i]);
        CHECK(img != NULL);
        if (!img)
            return;
        const char *line = strchr(img, '\n');
        char name[64] = "";
        double prob = -1;
        CHECK(line && sscanf(line + 1, " %lf %63[^\n]", &prob, name) == 2);
        if (margin(ref + i * CLASSES, CLASSES) > 1e-3f) {
            if (strcmp(name, fashion_names[argmax(ref + i * CLASSES, CLASSES)]) != 0) {
                fprintf(stderr, "  %s image %d: top-1 '%s', library says '%s'\n", ckpt, i, name,
                        fashion_names[argmax(ref + i * CLASSES, CLASSES)]);
                frost_test_failed_checks++;
            }
        }
        CHECK(prob > 0.0 && prob <= 1.0);
        p = line ? line : p;
    }
}

/* FP32 checkpoint (the FP32 inference engine: BN folded, so equal to float rounding) and
 * fake-quant checkpoint (the eval forward itself). */
TEST(predict_equals_library_forward)
{
    predict_matches("t.safetensors", 1e-4f);
    predict_matches("q.safetensors", 1e-6f);
}

/* The int8 model: the logits frost_int8_run gives on the same normalized pixels. */
TEST(predict_int8_equals_int8_run)
{
    frost_int8_model *m = NULL;
    CHECK_EQ_INT(frost_int8_load(path_of("q.int8"), &m), FROST_OK);
    if (!m)
        return;
    float ref[N_IMAGES * CLASSES], got[N_IMAGES * CLASSES], x[28 * 28];
    for (int i = 0; i < N_IMAGES; i++) {
        normalized_input(i, x);
        CHECK_EQ_INT(frost_int8_run(m, x, 28 * 28, ref + i * CLASSES), FROST_OK);
    }
    frost_int8_free(m);
    char args[2048];
    snprintf(args, sizeof args, "predict %s %s %s %s %s %s --json -o %s", path_of("q.int8"),
             path_of(image_names[0]), path_of(image_names[1]), path_of(image_names[2]),
             path_of(image_names[3]), path_of(image_names[4]), path_of("i8.npy"));
    CHECK_EQ_INT(frost(args), 0);
    CHECK(read_npy("i8.npy", N_IMAGES, got));
    const char *line = out;
    for (int i = 0; i < N_IMAGES; i++) {
        for (int k = 0; k < CLASSES; k++)
            CHECK_FLOAT_EQ(got[i * CLASSES + k], ref[i * CLASSES + k]);
        cJSON *o = cJSON_Parse(line);
        cJSON *top = cJSON_GetObjectItem(o, "top"), *first = cJSON_GetArrayItem(top, 0);
        CHECK(o && cJSON_GetArraySize(top) == 5); /* the default --top */
        CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(o, "image")), image_names[i]));
        if (first && margin(ref + i * CLASSES, CLASSES) > 1e-6f)
            CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "class")),
                         argmax(ref + i * CLASSES, CLASSES));
        cJSON_Delete(o);
        line = strchr(line, '\n');
        CHECK(line != NULL);
        if (!line)
            return;
        line++;
    }
}

/* The int8 model exported as ONNX QDQ and predicted from the .onnx (imported on the fly):
 * the same logits as the .int8 on the same images. The file must carry how images are
 * normalized: its input quantization was calibrated for the training normalization, and
 * an import that assumed x = pixel / 255 instead gave chance-level answers. */
TEST(predict_exported_onnx_equals_int8)
{
    char args[2048];
    snprintf(args, sizeof args, "export %s --onnx %s", path_of("q.int8"), path_of("q.onnx"));
    CHECK_EQ_INT(frost(args), 0);
    float ref[N_IMAGES * CLASSES], got[N_IMAGES * CLASSES];
    const char *models[2] = {"q.int8", "q.onnx"}, *npy[2] = {"from_int8.npy", "from_onnx.npy"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "predict %s %s %s %s %s %s --top 1 -o %s", path_of(models[k]),
                 path_of(image_names[0]), path_of(image_names[1]), path_of(image_names[2]),
                 path_of(image_names[3]), path_of(image_names[4]), path_of(npy[k]));
        CHECK_EQ_INT(frost(args), 0);
        CHECK(read_npy(npy[k], N_IMAGES, k ? got : ref));
    }
    int same = 0;
    for (int i = 0; i < N_IMAGES * CLASSES; i++)
        same += got[i] == ref[i];
    CHECK_EQ_INT(same, N_IMAGES * CLASSES);
}

/* --top capped at the classes, probabilities summing to 1 in decreasing order, names from
 * --labels, --invert on an inverted file giving the same logits. */
TEST(top_labels_invert)
{
    char args[2048];
    const char *labels = "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n";
    write_bytes("labels.txt", labels, strlen(labels));
    snprintf(args, sizeof args, "predict %s %s --top 50 --json --labels %s",
             path_of("t.safetensors"), path_of("d.png"), path_of("labels.txt"));
    CHECK_EQ_INT(frost(args), 0);
    cJSON *o = cJSON_Parse(out), *top = cJSON_GetObjectItem(o, "top");
    CHECK_EQ_INT(cJSON_GetArraySize(top), CLASSES);
    const char *names[CLASSES] = {"zero", "one", "two",   "three", "four",
                                  "five", "six", "seven", "eight", "nine"};
    double sum = 0, prev = 2;
    for (int j = 0; j < cJSON_GetArraySize(top); j++) {
        cJSON *e = cJSON_GetArrayItem(top, j);
        double p = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "prob"));
        int k = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "class"));
        CHECK(p <= prev && p >= 0);
        CHECK(k >= 0 && k < CLASSES &&
              strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "label")), names[k]) == 0);
        sum += p;
        prev = p;
    }
    CHECK_NEAR(sum, 1.0, 1e-9, 0);
    cJSON_Delete(o);
    snprintf(args, sizeof args, "predict %s %s %s --top 3", path_of("t.safetensors"),
             path_of("a.pgm"), path_of("b.pgm"));
    CHECK_EQ_INT(frost(args), 0);
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_INT(lines, 2 * (1 + 3));
    /* --invert: a dark-on-light copy of image 3 gives the original's logits */
    uint8_t inv[28 * 28];
    for (int k = 0; k < 28 * 28; k++)
        inv[k] = (uint8_t)(255 - test_image(3)[k]);
    write_png("inv.png", inv, 28, 28, 1);
    float a[CLASSES], b[CLASSES];
    snprintf(args, sizeof args, "predict %s %s -o %s", path_of("t.safetensors"), path_of("d.png"),
             path_of("a.npy"));
    CHECK_EQ_INT(frost(args), 0);
    snprintf(args, sizeof args, "predict %s %s --invert -o %s", path_of("t.safetensors"),
             path_of("inv.png"), path_of("b.npy"));
    CHECK_EQ_INT(frost(args), 0);
    CHECK(read_npy("a.npy", 1, a) && read_npy("b.npy", 1, b));
    for (int k = 0; k < CLASSES; k++)
        CHECK_FLOAT_EQ(a[k], b[k]);
    /* an RGB PNG of the same gray image: the luma gives the gray back */
    uint8_t rgb[28 * 28 * 3];
    for (int k = 0; k < 28 * 28 * 3; k++)
        rgb[k] = test_image(3)[k / 3];
    write_png("rgb.png", rgb, 28, 28, 3);
    snprintf(args, sizeof args, "predict %s %s -o %s", path_of("t.safetensors"), path_of("rgb.png"),
             path_of("b.npy"));
    CHECK_EQ_INT(frost(args), 0);
    CHECK(read_npy("b.npy", 1, b));
    for (int k = 0; k < CLASSES; k++)
        CHECK_FLOAT_EQ(a[k], b[k]);
}

/* Copies the first `keep` bytes of file `from` to `to`. */
static void truncate_copy(const char *from, const char *to, size_t keep)
{
    static unsigned char buf[1 << 16];
    size_t n = read_bytes(from, buf, sizeof buf);
    CHECK(n > keep);
    write_bytes(to, buf, keep);
}

/* e.jpg with its scan cut after `keep` bytes of entropy-coded data and the end-of-image
 * marker appended: a file that ends properly but whose pixels are missing. */
static void write_cut_scan_jpeg(const char *to, size_t keep)
{
    static unsigned char buf[1 << 16];
    size_t n = read_bytes("e.jpg", buf, sizeof buf), sos = 0;
    for (size_t i = 0; i + 1 < n && !sos; i++)
        if (buf[i] == 0xff && buf[i + 1] == 0xda)
            sos = i;
    size_t scan = sos + 2 + ((size_t)buf[sos + 2] << 8 | buf[sos + 3]); /* after the header */
    CHECK(sos > 0 && scan + keep + 2 < n);
    buf[scan + keep] = 0xff;
    buf[scan + keep + 1] = 0xd9;
    write_bytes(to, buf, scan + keep + 2);
}

TEST(bad_images_and_options)
{
    char args[2048], model[400];
    snprintf(model, sizeof model, "%s", path_of("t.safetensors")); /* path_of's buffers rotate */
    truncate_copy("d.png", "trunc.png", 60);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("trunc.png"));
    expect_error(args, "trunc.png: corrupt or truncated PNG");
    truncate_copy("e.jpg", "trunc.jpg", 200);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("trunc.jpg"));
    expect_error(args, "trunc.jpg: corrupt or truncated JPEG");
    truncate_copy("a.pgm", "trunc.pgm", 100);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("trunc.pgm"));
    expect_error(args, "trunc.pgm: truncated");
    write_bytes("junk.png", "this is no PNG at all", 21);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("junk.png"));
    expect_error(args, "junk.png: not a PNG file");
    /* found by fuzz/fuzz_image: libjpeg fills a scan cut short by a marker with grey and
     * only warns ("premature end of data segment"); such a file must be refused too */
    write_cut_scan_jpeg("cut.jpg", 40);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("cut.jpg"));
    expect_error(args, "cut.jpg: corrupt or truncated JPEG: Corrupt JPEG data");
    write_bytes("junk.jpg", "\xff\xd8\xff\xe0 not really", 15);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("junk.jpg"));
    expect_error(args, "junk.jpg: corrupt or truncated JPEG");
    write_bytes("huge.pgm", "P5 100000 100000 255\n\0\0", 23);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("huge.pgm"));
    expect_error(args, "huge.pgm: image size");
    write_bytes("bad.pgm", "P2 2 2 255\n1 2 300 4\n", 21);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("bad.pgm"));
    expect_error(args, "bad.pgm: a pixel value 300 outside 0..255");
    write_bytes("x.gif", "GIF89a", 6);
    snprintf(args, sizeof args, "predict %s %s", model, path_of("x.gif"));
    expect_error(args, "unsupported image type '.gif'");
    snprintf(args, sizeof args, "predict %s %s", model, path_of("missing.png"));
    expect_error(args, "missing.png: cannot open");
    /* models */
    write_bytes("m.onnx", "onnx", 4);
    snprintf(args, sizeof args, "predict %s %s", path_of("m.onnx"), path_of("a.pgm"));
    expect_error(args, "m.onnx: not an ONNX model");
    /* labels: a wrong count, a missing file */
    write_bytes("nine.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\n", 18);
    snprintf(args, sizeof args, "predict %s %s --labels %s", model, path_of("a.pgm"),
             path_of("nine.txt"));
    expect_error(args, "9 class names (one per line), the model has 10 classes");
    snprintf(args, sizeof args, "predict %s %s --labels %s", model, path_of("a.pgm"),
             path_of("none.txt"));
    expect_error(args, "none.txt");
    /* usage errors */
    snprintf(args, sizeof args, "predict %s", model);
    CHECK_EQ_INT(frost(args), 2);
    CHECK(strstr(out, "at least one image") != NULL);
    snprintf(args, sizeof args, "predict %s %s --top 0", model, path_of("a.pgm"));
    CHECK_EQ_INT(frost(args), 2);
    /* nothing written when an image fails */
    snprintf(args, sizeof args, "predict %s %s %s -o %s", model, path_of("a.pgm"),
             path_of("trunc.png"), path_of("none.npy"));
    CHECK_EQ_INT(frost(args), 1);
    CHECK(access(path_of("none.npy"), F_OK) != 0);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    if (frost_dataset_fashion_mnist(NULL, false, &test_set) != FROST_OK) {
        fprintf(stderr, "Fashion-MNIST: %s\n", frost_last_error());
        return 1;
    }
    RUN(train_tiny_models);
    RUN(predict_equals_library_forward);
    RUN(predict_int8_equals_int8_run);
    RUN(predict_exported_onnx_equals_int8);
    RUN(top_labels_invert);
    RUN(bad_images_and_options);
    frost_dataset_free(&test_set);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return frost_test_summary();
}
