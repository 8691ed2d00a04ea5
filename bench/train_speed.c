/*
 * bench_train_speed: frost side of bench/train_speed (training images/s).
 *
 * One training step = zero grads, forward (training mode), mean softmax
 * cross-entropy, backward, SGD step (momentum 0.9, Nesterov, weight decay per
 * frost's groups). The input is one fixed synthetic batch (N(0,1) pixels,
 * uniform random labels) made once, so no data loading is timed; PyTorch's side
 * (bench/torch_train_speed.py) does the same.
 *
 *   bench_train_speed --model mobilenetv2 --width 0.5 [--repeats R --steps S ...]
 *       standalone: prints images/s per repeat and the median.
 *   bench_train_speed ... --serve
 *       warms up, prints "ready params=N", then for each stdin line "run S" runs
 *       one untimed step and S timed ones and prints "result IMAGES_PER_S SECONDS";
 *       "quit" or end of input stops. The driver interleaves this with PyTorch.
 *   bench_train_speed ... --info             prints "params N macs M"
 *   bench_train_speed ... --dump-arch FILE   writes the architecture JSON
 *   bench_train_speed --peak     the CPU, frost's kernel paths and per-core peaks (peaks.h)
 *
 * Only the public API is used (plus frost_softmax_xent from src/ops/ops.h), so the
 * numbers are what a user of the library gets.
 */
#include "bench_args.h"
#include "frost/frost.h"
#include "ops/ops.h"
#include "peaks.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *model; /* built-in name, or NULL with arch set */
    const char *arch;  /* architecture JSON file instead of a built-in */
    frost_builtin_opts opts;
    int batch, threads, warmup, repeats, steps;
    float lr, momentum, wd, wd_depthwise, wd_1d;
    uint64_t seed;
    const char *dump_arch;
    bool info, serve;
    bool qat; /* train the fake-quant (W8A8 QAT) model instead */
} bench_args;

typedef struct {
    frost_model *model;
    frost_optimizer *opt;
    float *images;   /* batch * h * w * c, NHWC */
    uint8_t *labels; /* batch */
    float *dlogits;  /* batch * classes */
    int batch, classes;
    float lr, last_loss;
} trainer;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_train_speed (--model NAME | --arch FILE) [options] | --peak\n"
            "  --width W (0.5) --input S (28) --in-channels C (1) --classes K (10)\n"
            "  --batch B (64) --threads N (2) --warmup N (5) --repeats R (5) --steps S (20)\n"
            "  --lr X (0.01) --momentum X (0.9) --wd X (4e-5) --wd-depthwise X (0) --wd-1d X (0)\n"
            "  --seed N (1) --info | --dump-arch FILE | --serve\n"
            "  --qat   time quantization-aware training (W8A8, BN folded) instead of FP32\n"
            "built-in models:");
    for (const char *const *n = frost_builtin_names(); *n; n++)
        fprintf(f, " %s", *n);
    fprintf(f, "\n");
}

/* Returns 0, or 2 after printing what is wrong (the exit status for bad usage). */
static int parse_args(int argc, char **argv, bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->opts = frost_builtin_defaults();
    a->opts.width = 0.5f;
    a->opts.input = 28;
    a->opts.in_channels = 1;
    a->opts.classes = 10;
    a->batch = 64, a->threads = 2, a->warmup = 5, a->repeats = 5, a->steps = 20;
    a->lr = 0.01f, a->momentum = 0.9f, a->wd = 4e-5f;
    a->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes_value = true;
        int seed = 0;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(k, "--info")) {
            a->info = true, takes_value = false;
        } else if (!strcmp(k, "--qat")) {
            a->qat = true;
            takes_value = false;
        } else if (!strcmp(k, "--serve")) {
            a->serve = true, takes_value = false;
        } else if (!v) {
            fprintf(stderr, "bench_train_speed: %s needs a value\n", k);
            return 2;
        } else if (!strcmp(k, "--model")) {
            a->model = v;
        } else if (!strcmp(k, "--arch")) {
            a->arch = v;
        } else if (!strcmp(k, "--dump-arch")) {
            a->dump_arch = v;
        } else if (!strcmp(k, "--width")) {
            ok = parse_float(v, 0.01f, 4.0f, &a->opts.width);
        } else if (!strcmp(k, "--input")) {
            ok = parse_int(v, 1, 4096, &a->opts.input);
        } else if (!strcmp(k, "--in-channels")) {
            ok = parse_int(v, 1, 4096, &a->opts.in_channels);
        } else if (!strcmp(k, "--classes")) {
            ok = parse_int(v, 2, 1 << 20, &a->opts.classes);
        } else if (!strcmp(k, "--batch")) {
            ok = parse_int(v, 1, 1 << 16, &a->batch);
        } else if (!strcmp(k, "--threads")) {
            ok = parse_int(v, 1, 1024, &a->threads);
        } else if (!strcmp(k, "--warmup")) {
            ok = parse_int(v, 0, 1 << 20, &a->warmup);
        } else if (!strcmp(k, "--repeats")) {
            ok = parse_int(v, 1, 1 << 20, &a->repeats);
        } else if (!strcmp(k, "--steps")) {
            ok = parse_int(v, 1, 1 << 20, &a->steps);
        } else if (!strcmp(k, "--lr")) {
            ok = parse_float(v, 0.0f, 100.0f, &a->lr);
        } else if (!strcmp(k, "--momentum")) {
            ok = parse_float(v, 0.0f, 0.999999f, &a->momentum);
        } else if (!strcmp(k, "--wd")) {
            ok = parse_float(v, 0.0f, 1.0f, &a->wd);
        } else if (!strcmp(k, "--wd-depthwise")) {
            ok = parse_float(v, 0.0f, 1.0f, &a->wd_depthwise);
        } else if (!strcmp(k, "--wd-1d")) {
            ok = parse_float(v, 0.0f, 1.0f, &a->wd_1d);
        } else if (!strcmp(k, "--seed")) {
            ok = parse_int(v, 0, 1 << 30, &seed);
            a->seed = (uint64_t)seed;
        } else {
            fprintf(stderr, "bench_train_speed: unknown option %s\n", k);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "bench_train_speed: bad value '%s' for %s\n", v, k);
            return 2;
        }
        if (takes_value)
            i++;
    }
    if (!a->model == !a->arch) {
        fprintf(stderr, "bench_train_speed: give exactly one of --model NAME or --arch FILE\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

static frost_status build_model(const bench_args *a, frost_model **out)
{
    if (a->arch)
        return frost_model_load_arch(a->arch, out);
    frost_status s = frost_model_builtin(a->model, &a->opts, out);
    if (s == FROST_OK)
        frost_model_init_weights(*out, a->seed);
    if (s == FROST_OK && a->qat) {
        frost_qconfig *qc = NULL;
        s = frost_qconfig_default(&qc);
        if (s == FROST_OK)
            s = frost_model_quantize(*out, qc); /* starts in QAT mode */
        frost_qconfig_free(qc);
    }
    return s;
}

static frost_status dump_arch(const frost_model *m, const char *path)
{
    char *json = frost_model_to_json(m);
    if (!json)
        return frost_fail(FROST_ERR_NOMEM, "architecture of %s: out of memory",
                          frost_model_name(m));
    frost_status s = frost_write_file_atomic(path, json, strlen(json));
    free(json);
    return s;
}

static void trainer_free(trainer *t)
{
    frost_optimizer_free(t->opt);
    frost_model_free(t->model);
    free(t->images);
    free(t->labels);
    free(t->dlogits);
    memset(t, 0, sizeof *t);
}

/* Takes ownership of the model. */
static frost_status trainer_init(trainer *t, frost_model *m, const bench_args *a)
{
    memset(t, 0, sizeof *t);
    t->model = m;
    t->batch = a->batch;
    t->classes = frost_model_classes(m);
    t->lr = a->lr;
    int h, w, c;
    frost_model_input_shape(m, &h, &w, &c);
    size_t pixels = (size_t)a->batch * (size_t)h * (size_t)w * (size_t)c;
    t->images = malloc(pixels * sizeof *t->images);
    t->labels = malloc((size_t)a->batch);
    t->dlogits = malloc((size_t)a->batch * (size_t)t->classes * sizeof *t->dlogits);
    if (!t->images || !t->labels || !t->dlogits)
        return frost_fail(FROST_ERR_NOMEM, "bench: buffers for batch %d", a->batch);

    /* The same kind of synthetic batch as the PyTorch side: N(0,1) pixels, uniform labels. */
    frost_rng rng;
    frost_rng_seed(&rng, a->seed + 1000);
    for (size_t i = 0; i < pixels; i++)
        t->images[i] = frost_rng_normal(&rng);
    for (int i = 0; i < a->batch; i++)
        t->labels[i] = (uint8_t)frost_rng_below(&rng, (uint32_t)t->classes);

    frost_status s = frost_model_set_batch(m, a->batch);
    if (s != FROST_OK)
        return s;
    frost_model_seed_dropout(m, a->seed);

    frost_optimizer_config cfg = frost_optimizer_defaults(FROST_OPT_SGD);
    cfg.momentum = a->momentum;
    cfg.nesterov = true;
    cfg.wd = a->wd;
    cfg.wd_depthwise = a->wd_depthwise;
    cfg.wd_1d = a->wd_1d;
    cfg.clip_norm = 0.0f;
    return frost_optimizer_create(&cfg, m, &t->opt);
}

static frost_status train_step(trainer *t)
{
    frost_model_zero_grad(t->model);
    frost_status s = frost_model_forward(t->model, t->images, t->batch, true);
    if (s != FROST_OK)
        return s;
    t->last_loss = frost_softmax_xent(t->batch, t->classes, frost_model_logits(t->model), t->labels,
                                      0.0f, t->dlogits, NULL);
    s = frost_model_backward(t->model, t->dlogits);
    if (s != FROST_OK)
        return s;
    return frost_optimizer_step(t->opt, t->lr);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One untimed step (the threads may have slept during the other framework's turn), then
 * `steps` timed ones. */
static frost_status timed_steps(trainer *t, int steps, double *images_per_s, double *seconds)
{
    frost_status s = train_step(t);
    double t0 = now_seconds();
    for (int i = 0; i < steps && s == FROST_OK; i++)
        s = train_step(t);
    *seconds = now_seconds() - t0;
    if (s != FROST_OK)
        return s;
    if (!isfinite(t->last_loss))
        return frost_fail(FROST_ERR_NUMERIC, "bench: loss is %g (diverged): lower --lr",
                          (double)t->last_loss);
    *images_per_s = (double)steps * t->batch / *seconds;
    return FROST_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static frost_status run_standalone(trainer *t, const bench_args *a)
{
    printf("frost %s, threads %d, batch %d, model %s, params %lld\n", FROST_VERSION_STRING,
           frost_get_threads(), a->batch, frost_model_name(t->model),
           (long long)frost_model_param_count(t->model));
    double *rates = malloc((size_t)a->repeats * sizeof *rates);
    if (!rates)
        return frost_fail(FROST_ERR_NOMEM, "bench: %d repeats", a->repeats);
    frost_status s = FROST_OK;
    for (int r = 0; r < a->repeats && s == FROST_OK; r++) {
        double seconds;
        s = timed_steps(t, a->steps, &rates[r], &seconds);
        if (s == FROST_OK)
            printf("repeat %d: %.1f img/s (%.3f s for %d steps)\n", r + 1, rates[r], seconds,
                   a->steps);
    }
    if (s == FROST_OK)
        printf("median %.1f img/s\n", median(rates, a->repeats));
    free(rates);
    return s;
}

static frost_status run_served(trainer *t)
{
    printf("ready params=%lld\n", (long long)frost_model_param_count(t->model));
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        int steps;
        char word[16], extra[2];
        int n = sscanf(line, "%15s %d %1s", word, &steps, extra);
        if (n <= 0)
            continue;
        if (!strcmp(word, "quit"))
            break;
        if (!strcmp(word, "run") && n == 2 && steps > 0) {
            double ips, seconds;
            frost_status s = timed_steps(t, steps, &ips, &seconds);
            if (s != FROST_OK)
                return s;
            printf("result %.3f %.6f\n", ips, seconds);
        } else {
            printf("error unknown command '%.*s'\n", (int)strcspn(line, "\n"), line);
            fflush(stdout);
            return frost_fail(FROST_ERR_ARG, "bench: unknown command");
        }
        fflush(stdout);
    }
    return FROST_OK;
}

static int fail(const char *what, frost_status s)
{
    fprintf(stderr, "bench_train_speed: %s: %s: %s\n", what, frost_status_name(s),
            frost_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--peak")) {
        bench_print_peaks(stdout);
        return 0;
    }
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    frost_set_threads(a.threads);

    frost_model *m = NULL;
    frost_status s = build_model(&a, &m);
    if (s != FROST_OK)
        return fail(a.arch ? a.arch : a.model, s);
    if (a.dump_arch) {
        s = dump_arch(m, a.dump_arch);
        if (s != FROST_OK) {
            frost_model_free(m);
            return fail(a.dump_arch, s);
        }
    }
    if (a.info) {
        printf("params %lld macs %lld\n", (long long)frost_model_param_count(m),
               (long long)frost_model_macs(m));
    }
    if (a.info || a.dump_arch) {
        frost_model_free(m);
        return 0;
    }

    trainer t;
    s = trainer_init(&t, m, &a);
    for (int i = 0; i < a.warmup && s == FROST_OK; i++)
        s = train_step(&t);
    if (s == FROST_OK)
        s = a.serve ? run_served(&t) : run_standalone(&t, &a);
    trainer_free(&t);
    return s == FROST_OK ? 0 : fail("training", s);
}
