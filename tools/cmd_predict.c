/* frost predict: the top classes of a model for the user's own image files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "core/util.h"

static const char *const help =
    "usage: frost predict MODEL IMAGE... [options]\n"
    "Classifies image files with a model and prints each image's top classes with their\n"
    "probabilities (the softmax of the logits).\n\n"
    "MODEL: an FP32 checkpoint (.safetensors; run by the FP32 inference engine), a\n"
    "fake-quant one (frost quantize / train --qat; the training engine's eval forward) or\n"
    "an int8 model (.int8, .i8; the integer-only runtime) or an ONNX model (.onnx, imported\n"
    "on the fly as frost import does: a QDQ one runs on the int8 runtime).\n\n"
    "IMAGE: .png, .jpg/.jpeg, .pgm or .ppm (P2/P5 gray, P3/P6 RGB). Each is prepared as the\n"
    "training data was: converted to the model's channels (RGB -> gray by the BT.601 luma\n"
    "0.299 R + 0.587 G + 0.114 B; gray -> RGB by copying), resized to the model's input\n"
    "(bilinear, align_corners=False), put in the channel order the model asks for, then\n"
    "normalized with the model's mean and std: x = (pixel / 255 - mean) / std (models that\n"
    "carry none: 0.2860 and 0.3530, Fashion-MNIST's, as frost train uses). Fashion-MNIST\n"
    "garments are light on a black background: give photos the same polarity, or pass\n"
    "--invert for dark objects on a light background.\n\n"
    "  --top K             classes per image (default 5, at most the model's classes)\n"
    "  --labels FILE       class names, one per line (as many as the model has classes);\n"
    "                      default: Fashion-MNIST's names for 10 classes, else the indices\n"
    "  --invert            use 255 - pixel (dark-on-light images)\n"
    "  --json              one JSON object per image and line:\n"
    "                      {\"image\": PATH, \"top\": [{\"class\": I, \"label\": NAME,\n"
    "                      \"prob\": P}, ...]}\n"
    "  -o, --out F.npy     also write the logits: NumPy .npy (v1.0), float32 little-endian,\n"
    "                      shape [images, classes], row i = IMAGE i (np.load reads it)\n"
    "  --threads N         threads (default 1)\n"
    "Stops at the first image that cannot be read (exit status 1; no .npy written).\n";

static const cli_opt options[] = {
    CLI_OPT_INT("top", 1, 1 << 20),
    CLI_OPT_STR("labels"),
    CLI_OPT_FLAG("invert"),
    CLI_OPT_FLAG("json"),
    CLI_OPT_OUT,
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_END,
};

static const char *const fashion_mnist_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---- the model, whatever its kind ---- */

typedef struct {
    frost_int8_model *i8;   /* .int8 */
    frost_fp32_model *fp32; /* FP32 checkpoint */
    frost_model *model;     /* the checkpoint (fake-quant ones run through it) */
    int h, w, c, classes;
    frost_preprocess pre; /* how images become inputs */
} predictor;

static frost_status predictor_load(const char *path, predictor *p)
{
    memset(p, 0, sizeof *p);
    if (cli_is_int8_model(path)) {
        FROST_TRY(frost_int8_load(path, &p->i8));
        frost_int8_input_shape(p->i8, &p->h, &p->w, &p->c);
        p->classes = frost_int8_classes(p->i8);
        p->pre = frost_int8_preprocess(p->i8);
        return FROST_OK;
    }
    FROST_TRY(frost_model_load(path, &p->model)); /* a checkpoint or an .onnx file */
    frost_model_input_shape(p->model, &p->h, &p->w, &p->c);
    p->classes = frost_model_classes(p->model);
    p->pre = frost_model_preprocess(p->model);
    if (frost_model_is_quantized(p->model))
        return frost_model_set_batch(p->model, 1);
    return frost_fp32_create(p->model, &p->fp32);
}

static frost_status predictor_run(predictor *p, const float *input, float *logits)
{
    int64_t n = (int64_t)p->h * p->w * p->c;
    if (p->i8)
        return frost_int8_run(p->i8, input, n, logits);
    if (p->fp32)
        return frost_fp32_run(p->fp32, input, n, logits);
    FROST_TRY(frost_model_forward(p->model, input, 1, false));
    memcpy(logits, frost_model_logits(p->model), sizeof *logits * (size_t)p->classes);
    return FROST_OK;
}

static void predictor_free(predictor *p)
{
    frost_int8_free(p->i8);
    frost_fp32_free(p->fp32);
    frost_model_free(p->model);
}

/* ---- class names ---- */

typedef struct {
    char *text;   /* the file, its lines NUL-terminated in place */
    char **names; /* classes entries, or NULL: built-in names / indices */
} label_set;

static frost_status labels_load(const char *path, int classes, label_set *l)
{
    size_t size;
    FROST_TRY(frost_read_file(path, &l->text, &size));
    l->names = calloc((size_t)classes, sizeof *l->names);
    if (!l->names)
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    /* trailing newlines end the list; every line before them is a name */
    while (size > 0 && (l->text[size - 1] == '\n' || l->text[size - 1] == '\r'))
        l->text[--size] = '\0';
    int n = 0;
    for (char *line = l->text, *next; size > 0 && line; line = next, n++) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        if (n < classes)
            l->names[n] = line;
    }
    if (n != classes)
        return frost_fail(FROST_ERR_FORMAT,
                          "%s: %d class names (one per line), the model has %d classes", path, n,
                          classes);
    return FROST_OK;
}

/* The name of class k into buf (which it may return). */
static const char *label_of(const label_set *l, int classes, int k, char *buf, size_t n)
{
    if (l->names)
        return l->names[k];
    if (classes == 10)
        return fashion_mnist_names[k];
    snprintf(buf, n, "%d", k);
    return buf;
}

/* ---- results ---- */

/* Softmax of the logits (in double, shifted by the maximum) into prob. */
static void softmax(const float *logits, int n, double *prob)
{
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += prob[i] = exp((double)logits[i] - (double)mx);
    for (int i = 0; i < n; i++)
        prob[i] /= sum;
}

/* The k most probable classes, most probable first (ties: the lower index). */
static void top_k(const double *prob, int n, int k, int *idx)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            bool taken = false;
            for (int t = 0; t < j && !taken; t++)
                taken = idx[t] == i;
            if (!taken && (best < 0 || prob[i] > prob[best]))
                best = i;
        }
        idx[j] = best;
    }
}

static void print_text(const char *image, const double *prob, const int *idx, int k,
                       const label_set *l, int classes)
{
    printf("%s\n", image);
    for (int j = 0; j < k; j++) {
        char buf[32];
        printf("  %8.4f  %s\n", prob[idx[j]], label_of(l, classes, idx[j], buf, sizeof buf));
    }
}

static bool print_json(const char *image, const double *prob, const int *idx, int k,
                       const label_set *l, int classes)
{
    cJSON *o = cJSON_CreateObject(), *top = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "image", image);
    cJSON_AddItemToObject(o, "top", top);
    for (int j = 0; j < k; j++) {
        char buf[32];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "class", idx[j]);
        cJSON_AddStringToObject(e, "label", label_of(l, classes, idx[j], buf, sizeof buf));
        cJSON_AddNumberToObject(e, "prob", prob[idx[j]]);
        cJSON_AddItemToArray(top, e);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return false;
    printf("%s\n", text);
    free(text);
    return true;
}

/* NumPy .npy v1.0: magic "\x93NUMPY", version 1 0, the header's length (uint16 LE), then a
 * Python dict literal padded with spaces and ended by '\n' so the data starts at a multiple
 * of 64 bytes, then the float32 values (little-endian, row-major). */
static frost_status write_npy(const char *path, const float *v, int rows, int cols)
{
    char dict[128];
    int dn = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    size_t header = (10 + (size_t)dn + 1 + 63) / 64 * 64, n = (size_t)rows * cols;
    unsigned char *buf = malloc(header + 4 * n);
    if (!buf)
        return frost_fail(FROST_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((header - 10) & 0xff);
    buf[9] = (unsigned char)((header - 10) >> 8);
    memset(buf + 10, ' ', header - 10);
    memcpy(buf + 10, dict, (size_t)dn);
    buf[header - 1] = '\n';
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int b = 0; b < 4; b++)
            buf[header + 4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    frost_status s = frost_write_file_atomic(path, buf, header + 4 * n);
    free(buf);
    return s;
}

/* ---- the command ---- */

typedef struct {
    int top;
    bool invert, json;
    const char *labels, *out;
} predict_opts;

/* Classifies one image: logits into `logits`, the report printed. */
static frost_status predict_image(predictor *p, const char *path, const predict_opts *o,
                                  const label_set *l, float *input, float *logits)
{
    frost_image img;
    FROST_TRY(frost_image_load(path, &img));
    if (p->pre.bgr && img.c == 3) /* files are RGB; the model wants BGR */
        for (int64_t i = 0; i < (int64_t)img.h * img.w; i++) {
            uint8_t r = img.pixels[3 * i];
            img.pixels[3 * i] = img.pixels[3 * i + 2];
            img.pixels[3 * i + 2] = r;
        }
    frost_augment norm = frost_augment_for(&p->pre, frost_train_defaults().augment);
    frost_status s = frost_image_to_input(&img, p->h, p->w, p->c, o->invert, &norm, input);
    frost_image_free(&img);
    if (s == FROST_OK)
        s = predictor_run(p, input, logits);
    if (s != FROST_OK)
        return s;
    double *prob = malloc(sizeof *prob * (size_t)p->classes);
    int *idx = malloc(sizeof *idx * (size_t)o->top);
    if (!prob || !idx) {
        free(prob);
        free(idx);
        return frost_fail(FROST_ERR_NOMEM, "out of memory");
    }
    softmax(logits, p->classes, prob);
    top_k(prob, p->classes, o->top, idx);
    if (o->json) {
        if (!print_json(path, prob, idx, o->top, l, p->classes))
            s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    } else {
        print_text(path, prob, idx, o->top, l, p->classes);
    }
    free(prob);
    free(idx);
    return s;
}

static frost_status predict_all(predictor *p, const char *const *images, int n, predict_opts *o)
{
    label_set l = {0};
    frost_status s = FROST_OK;
    if (o->labels)
        s = labels_load(o->labels, p->classes, &l);
    if (o->top > p->classes)
        o->top = p->classes;
    float *input = malloc(sizeof *input * (size_t)p->h * p->w * p->c);
    float *logits = malloc(sizeof *logits * (size_t)n * p->classes);
    if (s == FROST_OK && (!input || !logits))
        s = frost_fail(FROST_ERR_NOMEM, "out of memory");
    for (int i = 0; s == FROST_OK && i < n; i++)
        s = predict_image(p, images[i], o, &l, input, logits + (size_t)i * p->classes);
    if (s == FROST_OK && o->out)
        s = write_npy(o->out, logits, n, p->classes);
    free(input);
    free(logits);
    free(l.names);
    free(l.text);
    return s;
}

int cmd_predict(int argc, char **argv)
{
    static const cli_opt *const tables[] = {options, NULL};
    static const cli_spec spec = {"predict", help, tables, CLI_MAX_POSITIONAL};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    predict_opts o = {
        .top = cli_int(&a, "top", 5),
        .invert = cli_flag(&a, "invert"),
        .json = cli_flag(&a, "json"),
        .labels = cli_str(&a, "labels", NULL),
        .out = cli_str(&a, "out", NULL),
    };
    int threads = cli_int(&a, "threads", 1);
    if (a.n_positional < 2)
        return cli_usage_error(&a, "give a model and at least one image");
    frost_set_threads(threads);
    predictor p;
    frost_status s = predictor_load(a.positional[0], &p);
    if (s == FROST_OK)
        s = predict_all(&p, a.positional + 1, a.n_positional - 1, &o);
    predictor_free(&p);
    return s == FROST_OK ? 0 : cli_error("predict");
}
