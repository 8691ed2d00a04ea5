#include "cli.h"
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_init(cli_args *a, const char *cmd, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc > 255 ? 255 : argc;
    a->argv = argv;
}

/* Index of option `name` in argv, or 0. Sets *value to its value (or NULL for a flag). */
static int find_opt(cli_args *a, const char *name, const char **value, bool wants_value)
{
    size_t len = strlen(name);
    for (int i = 1; i < a->argc; i++) {
        const char *s = a->argv[i];
        if (strncmp(s, "--", 2) != 0 || strncmp(s + 2, name, len) != 0)
            continue;
        if (s[2 + len] == '=') {
            a->used[i] = true;
            *value = s + 3 + len;
            return i;
        }
        if (s[2 + len] != '\0')
            continue;
        a->used[i] = true;
        *value = NULL;
        if (wants_value && i + 1 < a->argc) {
            a->used[i + 1] = true;
            *value = a->argv[i + 1];
        }
        return i;
    }
    return 0;
}

bool cli_help(cli_args *a)
{
    for (int i = 1; i < a->argc; i++)
        if (strcmp(a->argv[i], "--help") == 0 || strcmp(a->argv[i], "-h") == 0)
            return true;
    return false;
}

bool cli_flag(cli_args *a, const char *name)
{
    const char *v;
    if (!find_opt(a, name, &v, false))
        return false;
    if (v) {
        fprintf(stderr, "frost %s: error: --%s is a flag and takes no value\n", a->cmd, name);
        a->failed = true;
    }
    return true;
}

const char *cli_str(cli_args *a, const char *name, const char *def)
{
    const char *v;
    if (!find_opt(a, name, &v, true))
        return def;
    if (!v || !*v) {
        fprintf(stderr, "frost %s: error: --%s needs a value\n", a->cmd, name);
        a->failed = true;
        return def;
    }
    return v;
}

int cli_int(cli_args *a, const char *name, int def, int min, int max)
{
    const char *v = cli_str(a, name, NULL);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max) {
        fprintf(stderr, "frost %s: error: --%s must be an integer in %d..%d (got '%s')\n", a->cmd,
                name, min, max, v);
        a->failed = true;
        return def;
    }
    return (int)x;
}

float cli_float(cli_args *a, const char *name, float def, float min, float max)
{
    const char *v = cli_str(a, name, NULL);
    if (!v)
        return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !isfinite(x) || x < min || x > max) {
        fprintf(stderr, "frost %s: error: --%s must be a number in [%g, %g] (got '%s')\n", a->cmd,
                name, (double)min, (double)max, v);
        a->failed = true;
        return def;
    }
    return (float)x;
}

int cli_requant(cli_args *a)
{
    const char *v = cli_str(a, "requant", NULL);
    if (!v)
        return -1;
    if (strcmp(v, "fixed") == 0 || strcmp(v, "float") == 0)
        return strcmp(v, "float") == 0;
    fprintf(stderr, "frost %s: error: --requant must be fixed or float (got '%s')\n", a->cmd, v);
    a->failed = true;
    return -1;
}

bool cli_finish(cli_args *a, int max_positional)
{
    for (int i = 1; i < a->argc; i++) {
        if (a->used[i])
            continue;
        const char *s = a->argv[i];
        if (s[0] == '-' && s[1]) {
            fprintf(stderr, "frost %s: error: unknown option '%s' (see frost %s --help)\n", a->cmd,
                    s, a->cmd);
            a->failed = true;
            /* Its value (if any) is not a positional argument: one error is enough. */
            if (!strchr(s, '=') && i + 1 < a->argc && a->argv[i + 1][0] != '-')
                a->used[++i] = true;
        } else if (a->n_positional < max_positional) {
            a->positional[a->n_positional++] = s;
        } else {
            fprintf(stderr, "frost %s: error: unexpected argument '%s'\n", a->cmd, s);
            a->failed = true;
        }
    }
    return !a->failed;
}

int cli_error(const char *cmd)
{
    fprintf(stderr, "frost %s: error: %s\n", cmd, frost_last_error());
    return 1;
}

void cli_parse_model(cli_args *a, cli_model_opts *mo)
{
    mo->arch = cli_str(a, "arch", NULL);
    mo->name = cli_str(a, "model", NULL);
    mo->positional = NULL;
    mo->o = frost_builtin_defaults();
    mo->o.width = cli_float(a, "width", 1.0f, 0.01f, 8.0f);
    mo->o.input = cli_int(a, "input", 0, 0, 4096);
    mo->o.in_channels = cli_int(a, "in-channels", 0, 0, 4096);
    mo->o.classes = cli_int(a, "classes", 0, 0, 1000000);
    mo->o.act = cli_str(a, "act", NULL);
    mo->o.dropout = cli_float(a, "dropout", -1.0f, -1.0f, 0.99f);
    mo->o.head = cli_int(a, "head", 0, 0, 65536);
}

frost_status cli_build_model(const cli_model_opts *mo, int default_input, int default_channels,
                             int default_classes, frost_model **out)
{
    if (mo->arch)
        return frost_model_load_arch(mo->arch, out);
    frost_builtin_opts o = mo->o;
    if (o.input == 0)
        o.input = default_input;
    if (o.in_channels == 0)
        o.in_channels = default_channels;
    if (o.classes == 0)
        o.classes = default_classes;
    const char *name = mo->name ? mo->name : mo->positional ? mo->positional : "frostnet_s";
    return frost_model_builtin(name, &o, out);
}

static bool exists(const char *p) { return access(p, R_OK) == 0; }

/* dir/base or dir/base.gz, whichever exists (base if neither, for the error message). */
static void idx_path(char *buf, size_t size, const char *dir, const char *base)
{
    snprintf(buf, size, "%s/%s", dir, base);
    if (exists(buf))
        return;
    snprintf(buf, size, "%s/%s.gz", dir, base);
    if (exists(buf))
        return;
    snprintf(buf, size, "%s/%s", dir, base);
}

void cli_parse_data(cli_args *a, cli_data_opts *d)
{
    const char *data = cli_str(a, "data", "fashion-mnist");
    const char *dir = strcmp(data, "fashion-mnist") == 0 ? FROST_FASHION_MNIST_DIR : data;
    idx_path(d->train_images, sizeof d->train_images, dir, "train-images-idx3-ubyte");
    idx_path(d->train_labels, sizeof d->train_labels, dir, "train-labels-idx1-ubyte");
    idx_path(d->test_images, sizeof d->test_images, dir, "t10k-images-idx3-ubyte");
    idx_path(d->test_labels, sizeof d->test_labels, dir, "t10k-labels-idx1-ubyte");
    const char *names[4] = {"train-images", "train-labels", "test-images", "test-labels"};
    char *dst[4] = {d->train_images, d->train_labels, d->test_images, d->test_labels};
    for (int i = 0; i < 4; i++) {
        const char *v = cli_str(a, names[i], NULL);
        if (v)
            snprintf(dst[i], 4096, "%s", v);
    }
}

frost_status cli_load_data(const cli_data_opts *d, bool need_train, bool need_test,
                           frost_dataset *train, frost_dataset *test)
{
    if (need_train)
        FROST_TRY(frost_dataset_load_idx(d->train_images, d->train_labels, train));
    if (need_test) {
        frost_status s = frost_dataset_load_idx(d->test_images, d->test_labels, test);
        if (s != FROST_OK) {
            if (need_train)
                frost_dataset_free(train);
            return s;
        }
    }
    return FROST_OK;
}

bool cli_parse_qconfig(cli_args *a, const char *default_observer, frost_qconfig **out)
{
    const char *file = cli_str(a, "qconfig", NULL);
    int wbits = cli_int(a, "w-bits", -1, 2, 8);
    int abits = cli_int(a, "a-bits", -1, 2, 8);
    bool per_tensor = cli_flag(a, "per-tensor");
    const char *obs_name = cli_str(a, "observer", default_observer);
    int obs = obs_name ? frost_observer_kind_parse(obs_name) : -1;
    *out = NULL;
    if (obs_name && obs < 0) {
        fprintf(stderr, "frost %s: error: --observer must be minmax, ema, hist or percentile (got '%s')\n",
                a->cmd, obs_name);
        a->failed = true;
        return false;
    }
    if (a->failed)
        return false;
    frost_status s = file ? frost_qconfig_load(file, out) : frost_qconfig_default(out);
    if (s == FROST_OK) /* an explicit --observer wins over the file, the file over the default */
        s = frost_qconfig_set_defaults(*out, wbits, abits, per_tensor ? 0 : -1,
                                       cli_str(a, "observer", NULL) ? obs : -1);
    if (s == FROST_OK && obs >= 0)
        s = frost_qconfig_default_observer(*out, obs);
    if (s != FROST_OK) {
        cli_error(a->cmd);
        frost_qconfig_free(*out);
        *out = NULL;
        a->failed = true;
        return false;
    }
    return true;
}

frost_status cli_calibrate(frost_model *m, const frost_dataset *calib, int batch)
{
    frost_augment norm = frost_train_defaults().augment;
    float acc;
    frost_status s = frost_model_set_qmode(m, FROST_QMODE_CALIBRATE);
    if (s == FROST_OK)
        s = frost_evaluate(m, calib, &norm, batch, &acc, NULL);
    return s == FROST_OK ? frost_model_set_qmode(m, FROST_QMODE_FIXED) : s;
}

frost_status cli_load_ptq_inputs(const cli_data_opts *data, const char *ckpt, int calib_n,
                                 uint64_t seed, cli_ptq_inputs *in)
{
    frost_dataset full = {0}, rest = {0};
    *in = (cli_ptq_inputs){0};
    frost_status s = cli_load_data(data, true, true, &full, &in->test);
    if (s == FROST_OK) /* a seeded random subset of the training split */
        s = calib_n >= full.n ? frost_dataset_head(&full, full.n, &in->calib)
                              : frost_dataset_split(&full, calib_n, seed, &rest, &in->calib);
    frost_dataset_free(&full);
    frost_dataset_free(&rest);
    if (s == FROST_OK)
        s = frost_checkpoint_load_model(ckpt, &in->model);
    if (s == FROST_OK && frost_model_is_quantized(in->model))
        s = frost_fail(FROST_ERR_ARG,
                       "%s is already quantized; give the FP32 checkpoint (frost eval reports "
                       "a quantized one's accuracy)",
                       ckpt);
    if (s != FROST_OK)
        cli_free_ptq_inputs(in);
    return s;
}

void cli_free_ptq_inputs(cli_ptq_inputs *in)
{
    frost_model_free(in->model);
    frost_dataset_free(&in->test);
    frost_dataset_free(&in->calib);
    *in = (cli_ptq_inputs){0};
}

frost_status cli_load_proxy_data(const cli_data_opts *data, int n_train, int n_val,
                                 uint64_t seed, frost_dataset *tr, frost_dataset *va)
{
    frost_dataset full = {0}, test = {0}, rest = {0};
    frost_status s = cli_load_data(data, true, false, &full, &test);
    if (s == FROST_OK && n_train + n_val > full.n)
        s = frost_fail(FROST_ERR_ARG, "--train %d + --val %d exceed the %d training images",
                       n_train, n_val, full.n);
    if (s == FROST_OK)
        s = frost_dataset_split(&full, n_val, seed, &rest, va);
    if (s == FROST_OK)
        s = frost_dataset_head(&rest, n_train, tr);
    frost_dataset_free(&full);
    frost_dataset_free(&test);
    frost_dataset_free(&rest);
    return s;
}
