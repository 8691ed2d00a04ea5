#include "cli.h"
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char cli_common_help[] =
    "\ncommon to every command:\n"
    "  -h, --help          this help\n"
    "  --version           print \"frost " FROST_CLI_VERSION "\"\n"
    "  --name value or --name=value; a repeated option: the last one wins; -- ends the\n"
    "  options. Exit status: 0 success, 1 runtime error (files, data, training), 2 usage\n"
    "  error (unknown option, bad value; each one reported on its own line). Output paths\n"
    "  (-o) are checked before any work starts; --threads is at most 4 x the cores.\n"
    "  FROST_MEMORY_LIMIT=SIZE (e.g. 512M, 4G; default: the machine's memory): files, data\n"
    "  and batches that need more are refused before anything is allocated.\n";

/* --- the option tables' bookkeeping ------------------------------------------------- */

static int find_declared(const cli_args *a, const char *name, size_t len)
{
    for (int i = 0; i < a->n_opts; i++)
        if (strlen(a->opt[i]->name) == len && strncmp(a->opt[i]->name, name, len) == 0)
            return i;
    return -1;
}

static int find_short(const cli_args *a, char c)
{
    for (int i = 0; i < a->n_opts; i++)
        if (a->opt[i]->short_name == c)
            return i;
    return -1;
}

/* A bug in the tool (a getter for an option its tables do not declare), not a user error. */
static void internal_error(const cli_args *a, const char *what, const char *name)
{
    fprintf(stderr, "frost %s: internal error: %s --%s\n", a->cmd, what, name);
    abort();
}

static void flatten_tables(cli_args *a)
{
    for (const cli_opt *const *t = a->spec->tables; t && *t; t++)
        for (const cli_opt *o = *t; o->name; o++) {
            if (find_declared(a, o->name, strlen(o->name)) >= 0)
                internal_error(a, "option declared twice:", o->name);
            if (a->n_opts == CLI_MAX_OPTIONS)
                internal_error(a, "too many options, raise CLI_MAX_OPTIONS at", o->name);
            a->opt[a->n_opts++] = o;
        }
}

/* --- error messages --------------------------------------------------------------------- */

static void usage_error(cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void usage_error(cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "frost %s: error: ", a->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    a->errors++;
}

int cli_usage_error(const cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "frost %s: error: ", a->cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see frost %s --help)\n", a->cmd);
    va_end(ap);
    return 2;
}

/* Levenshtein distance, capped: only small distances matter for a suggestion. */
static int edit_distance(const char *x, size_t nx, const char *y)
{
    size_t ny = strlen(y);
    if (nx > 40 || ny > 40)
        return 99;
    int row[41];
    for (size_t j = 0; j <= ny; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= nx; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= ny; j++) {
            int up = row[j];
            int sub = diag + (x[i - 1] != y[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[ny];
}

/* The declared option closest to a misspelt one, or NULL when none is close. */
static const char *suggestion(const cli_args *a, const char *name, size_t len)
{
    int limit = len <= 3 ? 1 : 2, best = limit + 1;
    const char *found = NULL;
    for (int i = 0; i < a->n_opts; i++) {
        int d = edit_distance(name, len, a->opt[i]->name);
        if (d < best) {
            best = d;
            found = a->opt[i]->name;
        }
    }
    return found;
}

/* arg: the whole argument; name, len: its option name (without dashes and "=value"). */
static void unknown_option(cli_args *a, const char *arg, const char *name, size_t len)
{
    const char *s = len ? suggestion(a, name, len) : NULL;
    int shown = len ? (int)(name - arg + len) : (int)strlen(arg); /* "--=3": all of it */
    if (s)
        usage_error(a, "unknown option '%.*s'; did you mean --%s? (see frost %s --help)", shown,
                    arg, s, a->cmd);
    else
        usage_error(a, "unknown option '%.*s' (see frost %s --help)", shown, arg, a->cmd);
}

/* --- values ----------------------------------------------------------------------------- */

/* The position of `value` in a "a|b|c" list, or -1. */
static int choice_index(const char *list, const char *value)
{
    size_t n = strlen(value);
    int index = 0;
    for (const char *p = list; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0)
            return index;
        p += len + (bar != NULL);
    }
    return -1;
}

/* "a|b|c" -> "a, b or c" */
static void choices_text(const char *list, char *buf, size_t size)
{
    size_t k = 0;
    const char *last = strrchr(list, '|');
    for (const char *p = list; *p && k + 5 < size; p++) {
        if (*p != '|') {
            buf[k++] = *p;
        } else if (p == last) {
            memcpy(buf + k, " or ", 4);
            k += 4;
        } else {
            memcpy(buf + k, ", ", 2);
            k += 2;
        }
    }
    buf[k] = '\0';
}

static bool parse_long(const char *v, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(v, &end, 10);
    return !errno && end != v && !*end;
}

static bool parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    return !errno && end != v && !*end && isfinite(*out);
}

/* Checks one value against its option's declaration; prints the one error line if bad. */
static bool check_value(cli_args *a, const cli_opt *o, const char *v)
{
    long l;
    double d;
    char list[256];
    switch (o->kind) {
    case CLI_FLAG: return true;
    case CLI_STR: return true;
    case CLI_INT:
        if (parse_long(v, &l) && l >= o->min && l <= o->max)
            return true;
        usage_error(a, "--%s must be an integer in %.0f..%.0f (got '%s')", o->name, o->min, o->max,
                    v);
        return false;
    case CLI_FLOAT:
        /* the bounds as the float the option is stored in */
        if (parse_double(v, &d) && d >= (double)(float)o->min && d <= (double)(float)o->max)
            return true;
        usage_error(a, "--%s must be a number in [%g, %g] (got '%s')", o->name,
                    (double)(float)o->min, (double)(float)o->max, v);
        return false;
    case CLI_CHOICE:
        if ((o->lookup ? o->lookup(v) : choice_index(o->choices, v)) >= 0)
            return true;
        choices_text(o->choices, list, sizeof list);
        usage_error(a, "--%s must be %s (got '%s')", o->name, list, v);
        return false;
    }
    return false;
}

/* Records option i with value v (NULL: missing); the last occurrence wins. */
static void record(cli_args *a, int i, const char *v)
{
    const cli_opt *o = a->opt[i];
    if (o->kind == CLI_FLAG) {
        a->value[i] = "";
        a->count[i]++;
        return;
    }
    if (!v || !*v) {
        usage_error(a, "--%s needs a value", o->name);
        return;
    }
    if (check_value(a, o, v)) {
        a->value[i] = v;
        a->count[i]++;
    }
}

/* An option whose value may be left out: given, with "" when it was. */
static void record_optional(cli_args *a, int i, const char *v)
{
    if (!v) {
        a->value[i] = "";
        a->count[i]++;
        return;
    }
    record(a, i, v);
}

/* The value after option argv[*i] (consumed), or NULL. A following long option is not taken
 * as the value: `--out --quiet` is a missing value, not a file called "--quiet". */
static const char *next_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    const char *v = argv[*i + 1];
    if (v[0] == '-' && v[1] == '-' && v[2])
        return NULL;
    ++*i;
    return v;
}

/* The value of an option whose value may be left out: the next argument unless it is an
 * option ("-" alone is a value: stdin/stdout); NULL when left out. */
static const char *next_optional_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    const char *v = argv[*i + 1];
    if (v[0] == '-' && v[1])
        return NULL;
    ++*i;
    return v;
}

/* --name, --name=value, --name value */
static void parse_long_option(cli_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int k = find_declared(a, name, len);
    if (k < 0) {
        unknown_option(a, arg, name, len);
        /* its value (if any) is not a positional argument: one error is enough */
        if (!eq && *i + 1 < argc && argv[*i + 1][0] != '-')
            ++*i;
        return;
    }
    if (a->opt[k]->kind == CLI_FLAG && eq)
        usage_error(a, "--%s is a flag and takes no value", a->opt[k]->name);
    else if (a->opt[k]->kind == CLI_FLAG)
        record(a, k, NULL);
    else if (a->opt[k]->value_optional && !eq)
        record_optional(a, k, next_optional_value(argc, argv, i));
    else
        record(a, k, eq ? eq + 1 : next_value(argc, argv, i));
}

/* -o FILE or -oFILE */
static void parse_short_option(cli_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    int k = find_short(a, arg[1]);
    if (k < 0) {
        unknown_option(a, arg, arg + 1, strlen(arg + 1));
        return;
    }
    if (a->opt[k]->kind == CLI_FLAG && arg[2])
        usage_error(a, "-%c is a flag and takes no value", arg[1]);
    else if (a->opt[k]->kind == CLI_FLAG)
        record(a, k, NULL);
    else
        record(a, k, arg[2] ? arg + 2 : next_value(argc, argv, i));
}

static void add_positional(cli_args *a, const char *arg)
{
    if (a->n_positional < a->spec->max_positional && a->n_positional < CLI_MAX_POSITIONAL)
        a->positional[a->n_positional++] = arg;
    else
        usage_error(a, "unexpected argument '%s' (see frost %s --help)", arg, a->cmd);
}

/* -h/--help and --version win over everything else on the line (before `--`). */
static bool help_or_version(cli_args *a, int argc, char **argv)
{
    bool help = false, version = false;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
        version |= strcmp(argv[i], "--version") == 0;
    }
    if (help) {
        fputs(a->spec->help, stdout);
        fputs(cli_common_help, stdout);
    } else if (version) {
        printf("frost %s\n", FROST_CLI_VERSION);
    }
    return help || version;
}

/* --- checks against the machine --------------------------------------------------------- */

/* More threads than cores only adds switching (a 2-core machine at --threads 1000 trained
 * 12x slower); a few times the cores is allowed for machines whose count is hidden by a
 * container limit. */
#define CLI_THREADS_PER_CORE 4

static void check_machine_limits(cli_args *a)
{
    int k = find_declared(a, "threads", strlen("threads"));
    if (k < 0 || !a->count[k] || a->opt[k]->kind != CLI_INT)
        return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN), threads = strtol(a->value[k], NULL, 10);
    if (cores > 0 && threads > CLI_THREADS_PER_CORE * cores)
        usage_error(a,
                    "--threads %ld is more than %d x this machine's %ld cores: use at most %ld "
                    "(leaving it out uses every core)",
                    threads, CLI_THREADS_PER_CORE, cores, CLI_THREADS_PER_CORE * cores);
}

/* FROST_MEMORY_LIMIT=N[K|M|G] (bytes, powers of 1024): the library's memory cap. */
static void apply_memory_limit(cli_args *a)
{
    const char *v = getenv("FROST_MEMORY_LIMIT");
    if (!v || !*v)
        return;
    char *end;
    errno = 0;
    double n = strtod(v, &end);
    double unit = *end == 'K' || *end == 'k'   ? 1024.0
                  : *end == 'M' || *end == 'm' ? 1048576.0
                  : *end == 'G' || *end == 'g' ? 1073741824.0
                                               : 1.0;
    if (unit > 1.0)
        end++;
    if (errno || end == v || *end || !(n > 0) || n * unit > 1e18) {
        usage_error(a, "FROST_MEMORY_LIMIT must be a size such as 512M or 4G (got '%s')", v);
        return;
    }
    frost_set_memory_limit((uint64_t)(n * unit));
}

/* The nearest existing ancestor of `path` (the path itself excluded) into buf. */
static void nearest_existing_parent(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    for (;;) {
        char *slash = strrchr(buf, '/');
        while (slash && slash > buf && slash[1] == '\0') { /* "dir/": drop the trailing slash */
            *slash = '\0';
            slash = strrchr(buf, '/');
        }
        if (!slash) {
            snprintf(buf, size, ".");
            return;
        }
        if (slash == buf) {
            buf[1] = '\0'; /* "/" */
            return;
        }
        *slash = '\0';
        struct stat st;
        if (stat(buf, &st) == 0)
            return;
    }
}

static void check_output_path(cli_args *a, const cli_opt *o, const char *path)
{
    if (strcmp(path, "-") == 0)
        return;
    struct stat st;
    if (stat(path, &st) == 0) {
        bool dir = S_ISDIR(st.st_mode);
        if (o->path == CLI_PATH_OUT_FILE && dir)
            usage_error(a, "--%s %s is a folder; give a file name (e.g. %s/out)", o->name, path,
                        path);
        else if (o->path == CLI_PATH_OUT_DIR && !dir)
            usage_error(a, "--%s %s exists and is not a folder", o->name, path);
        else if (access(path, W_OK) != 0)
            usage_error(a, "--%s %s is not writable (%s)", o->name, path, strerror(errno));
        return;
    }
    char parent[4096];
    nearest_existing_parent(path, parent, sizeof parent);
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        usage_error(a, "--%s %s: %s is not a folder", o->name, path, parent);
    else if (access(parent, W_OK | X_OK) != 0)
        usage_error(a, "--%s %s: cannot write into %s (%s)", o->name, path, parent,
                    strerror(errno));
}

/* Output paths are checked now, before hours of training end in "cannot open". */
static void check_output_paths(cli_args *a)
{
    for (int i = 0; i < a->n_opts; i++)
        if (a->opt[i]->path != CLI_PATH_NONE && a->count[i] && a->value[i][0])
            check_output_path(a, a->opt[i], a->value[i]);
}

/* The command this process runs, for notes printed by shared helpers (cli_fit_data) that
 * are not handed the parsed arguments; a process runs one command. */
static const char *current_cmd = "frost";

/* The library's notes go to stderr, each distinct one once (a file loaded twice notes
 * once). */
static void print_note(const char *note, void *user)
{
    static char last[512];
    (void)user;
    if (strcmp(note, last) == 0)
        return;
    snprintf(last, sizeof last, "%s", note);
    fprintf(stderr, "frost %s: note: %s\n", current_cmd, note);
}

bool cli_parse(cli_args *a, const cli_spec *spec, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->spec = spec;
    a->cmd = spec->cmd;
    current_cmd = spec->cmd;
    frost_set_note_handler(print_note, NULL);
    flatten_tables(a);
    if (help_or_version(a, argc, argv))
        return false; /* exit_code 0 */
    bool options_end = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_end || arg[0] != '-' || arg[1] == '\0') /* "-": a positional (stdin) */
            add_positional(a, arg);
        else if (strcmp(arg, "--") == 0)
            options_end = true;
        else if (arg[1] == '-')
            parse_long_option(a, argc, argv, &i);
        else
            parse_short_option(a, argc, argv, &i);
    }
    check_machine_limits(a);
    check_output_paths(a);
    apply_memory_limit(a);
    a->exit_code = a->errors ? 2 : 0;
    return a->errors == 0;
}

/* --- getters ---------------------------------------------------------------------------- */

static int getter_index(const cli_args *a, const char *name, int kind)
{
    int i = find_declared(a, name, strlen(name));
    if (i < 0)
        internal_error(a, "a getter for an undeclared option", name);
    if (kind >= 0 && (int)a->opt[i]->kind != kind)
        internal_error(a, "a getter of the wrong kind for", name);
    return i;
}

bool cli_given(const cli_args *a, const char *name)
{
    return a->count[getter_index(a, name, -1)] > 0;
}

bool cli_flag(const cli_args *a, const char *name)
{
    return a->count[getter_index(a, name, CLI_FLAG)] > 0;
}

const char *cli_str(const cli_args *a, const char *name, const char *def)
{
    int i = getter_index(a, name, -1);
    if (a->opt[i]->kind == CLI_FLAG)
        internal_error(a, "a string getter for the flag", name);
    return a->count[i] ? a->value[i] : def;
}

int cli_int(const cli_args *a, const char *name, int def)
{
    int i = getter_index(a, name, CLI_INT);
    return a->count[i] ? (int)strtol(a->value[i], NULL, 10) : def; /* checked when parsed */
}

float cli_float(const cli_args *a, const char *name, float def)
{
    int i = getter_index(a, name, CLI_FLOAT);
    return a->count[i] ? (float)strtod(a->value[i], NULL) : def;
}

int cli_choice(const cli_args *a, const char *name, int def)
{
    int i = getter_index(a, name, CLI_CHOICE);
    if (!a->count[i])
        return def;
    const cli_opt *o = a->opt[i];
    return o->lookup ? o->lookup(a->value[i]) : choice_index(o->choices, a->value[i]);
}

int cli_requant(const cli_args *a)
{
    return cli_choice(a, "requant", -1); /* "fixed|float": 0 or 1 */
}

int cli_error(const char *cmd)
{
    fprintf(stderr, "frost %s: error: %s\n", cmd, frost_last_error());
    return 1;
}

void cli_print_cpu(bool int8_reference)
{
    frost_cpu_info cpu;
    frost_cpu_describe(&cpu);
    if (int8_reference)
        cpu.int8_kernels = "reference";
    char text[FROST_CPU_TEXT_MAX];
    frost_cpu_text(&cpu, text, sizeof text);
    printf("CPU: %s\n", text);
}

const cli_opt cli_model_options[] = {
    CLI_OPT_STR("arch"),
    CLI_OPT_STR("model"),
    CLI_OPT_FLOAT("width", 0.01, 8.0),
    CLI_OPT_INT("input", 1, 4096),
    CLI_OPT_INT("in-channels", 1, 4096),
    CLI_OPT_INT("classes", 2, 1000000),
    CLI_OPT_STR("act"), /* the model builder names the activations it knows */
    CLI_OPT_FLOAT("dropout", -1.0, 0.99),
    CLI_OPT_INT("head", 1, 65536),
    CLI_OPT_END,
};

void cli_parse_model(const cli_args *a, cli_model_opts *mo)
{
    mo->arch = cli_str(a, "arch", NULL);
    mo->name = cli_str(a, "model", NULL);
    mo->positional = NULL;
    mo->o = frost_builtin_defaults();
    mo->o.width = cli_float(a, "width", 1.0f);
    mo->o.input = cli_int(a, "input", 0);
    mo->o.in_channels = cli_int(a, "in-channels", 0);
    mo->o.classes = cli_int(a, "classes", 0);
    mo->o.act = cli_str(a, "act", NULL);
    mo->o.dropout = cli_float(a, "dropout", -1.0f);
    mo->o.head = cli_int(a, "head", 0);
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

const cli_opt cli_data_options[] = {
    CLI_OPT_STR("data"),        CLI_OPT_STR("train-images"), CLI_OPT_STR("train-labels"),
    CLI_OPT_STR("test-images"), CLI_OPT_STR("test-labels"),  CLI_OPT_END,
};

void cli_parse_data(const cli_args *a, cli_data_opts *d)
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

static bool loaded(const frost_dataset *d) { return d && d->images; }

/* Resizes *d to h x w in place (the old images freed). */
static frost_status resize_in_place(frost_dataset *d, int h, int w)
{
    frost_dataset resized;
    FROST_TRY(frost_dataset_resize(d, h, w, &resized));
    frost_dataset_free(d);
    *d = resized;
    return FROST_OK;
}

static frost_status check_channels(const frost_dataset *d, int h, int w, int c)
{
    if (!loaded(d) || d->c == c)
        return FROST_OK;
    return frost_fail(FROST_ERR_SHAPE,
                      "the data's images are %dx%dx%d but the model takes %dx%dx%d: frost resizes "
                      "images to the model's input size, but never changes their channels",
                      d->h, d->w, d->c, h, w, c);
}

/* "training and test", "training" or "test": the loaded sets that need resizing. */
static const char *which_sets(bool train, bool test)
{
    return train && test ? "training and test" : train ? "training" : "test";
}

frost_status cli_fit_data(int h, int w, int c, frost_dataset *train, frost_dataset *test)
{
    static bool noted; /* one note per process (convert loads the test set twice) */
    FROST_TRY(check_channels(train, h, w, c));
    FROST_TRY(check_channels(test, h, w, c));
    bool resize_train = loaded(train) && (train->h != h || train->w != w);
    bool resize_test = loaded(test) && (test->h != h || test->w != w);
    if (!resize_train && !resize_test)
        return FROST_OK;
    if (!noted) {
        const frost_dataset *d = resize_train ? train : test;
        fprintf(stderr,
                "frost %s: note: resizing the %dx%d %s images to the model's %dx%d input "
                "(bilinear, as frost search trains its candidates)\n",
                current_cmd, d->h, d->w, which_sets(resize_train, resize_test), h, w);
        noted = true;
    }
    if (resize_train)
        FROST_TRY(resize_in_place(train, h, w));
    if (resize_test)
        FROST_TRY(resize_in_place(test, h, w));
    return FROST_OK;
}

frost_status cli_fit_data_to_model(const frost_model *m, frost_dataset *train, frost_dataset *test)
{
    int h, w, c;
    frost_model_input_shape(m, &h, &w, &c);
    return cli_fit_data(h, w, c, train, test);
}

frost_status cli_fit_data_to_int8(const frost_int8_model *m, frost_dataset *train,
                                  frost_dataset *test)
{
    int h, w, c;
    frost_int8_input_shape(m, &h, &w, &c);
    return cli_fit_data(h, w, c, train, test);
}

/* frost_observer_kind_parse, for a table (it takes no NULL). */
static int observer_lookup(const char *name) { return frost_observer_kind_parse(name); }

const cli_opt cli_quant_options[] = {
    CLI_OPT_STR("qconfig"),
    CLI_OPT_INT("w-bits", 2, 8),
    CLI_OPT_INT("a-bits", 2, 8),
    CLI_OPT_FLAG("per-tensor"),
    CLI_OPT_LOOKUP("observer", "minmax|ema|hist|percentile|entropy", observer_lookup),
    CLI_OPT_LOOKUP("w-scheme", "affine|binary|binary_stochastic|bwn|twn|ttq", frost_wscheme_parse),
    CLI_OPT_LOOKUP("a-scheme", "affine|sign|bireal|xnor", frost_ascheme_parse),
    CLI_OPT_FLAG("bireal-shortcuts"),
    CLI_OPT_END,
};

bool cli_quant_given(const cli_args *a)
{
    for (const cli_opt *o = cli_quant_options; o->name; o++)
        if (cli_given(a, o->name))
            return true;
    return false;
}

bool cli_parse_qconfig(const cli_args *a, const char *default_observer, frost_qconfig **out)
{
    const char *file = cli_str(a, "qconfig", NULL);
    int wbits = cli_int(a, "w-bits", -1);
    int abits = cli_int(a, "a-bits", -1);
    bool per_tensor = cli_flag(a, "per-tensor");
    int obs = cli_choice(a, "observer",
                         default_observer ? frost_observer_kind_parse(default_observer) : -1);
    *out = NULL;
    frost_status s = file ? frost_qconfig_load(file, out) : frost_qconfig_default(out);
    if (s == FROST_OK) /* an explicit --observer wins over the file, the file over the default */
        s = frost_qconfig_set_defaults(*out, wbits, abits, per_tensor ? 0 : -1,
                                       cli_given(a, "observer") ? obs : -1);
    if (s == FROST_OK && obs >= 0)
        s = frost_qconfig_default_observer(*out, obs);
    if (s == FROST_OK) /* an explicit scheme wins over the file's model-wide one */
        s = frost_qconfig_set_schemes(*out, cli_str(a, "w-scheme", NULL),
                                      cli_str(a, "a-scheme", NULL));
    if (s == FROST_OK && cli_flag(a, "bireal-shortcuts"))
        s = frost_qconfig_set_shortcuts(*out, true);
    if (s != FROST_OK) {
        cli_error(a->cmd);
        frost_qconfig_free(*out);
        *out = NULL;
        return false;
    }
    return true;
}

bool cli_is_int8_model(const char *path)
{
    size_t n = strlen(path);
    if ((n > 5 && strcasecmp(path + n - 5, ".int8") == 0) ||
        (n > 3 && strcasecmp(path + n - 3, ".i8") == 0))
        return true;
    return frost_path_is_onnx(path) && frost_int8_onnx_is_qdq(path) == 1;
}

size_t cli_model_stem_len(const char *path)
{
    static const char *const ext[] = {".safetensors", ".onnx"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(path + n - e, ext[i]) == 0)
            return n - e;
    }
    return n;
}

frost_augment cli_model_norm(const frost_model *m)
{
    frost_preprocess pre = frost_model_preprocess(m);
    return frost_augment_for(&pre, frost_train_defaults().augment);
}

frost_status cli_calibrate(frost_model *m, const frost_dataset *calib, int batch)
{
    frost_augment norm = cli_model_norm(m);
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
        s = frost_model_load(ckpt, &in->model);
    if (s == FROST_OK && frost_model_is_quantized(in->model))
        s = frost_fail(FROST_ERR_ARG,
                       "%s is already quantized; give the FP32 checkpoint (frost eval reports "
                       "a quantized one's accuracy)",
                       ckpt);
    if (s == FROST_OK)
        s = cli_fit_data_to_model(in->model, &in->calib, &in->test);
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

const cli_opt cli_nas_eval_options[] = {
    CLI_OPT_INT("train", 10, 1 << 24),
    CLI_OPT_INT("val", 10, 1 << 24),
    CLI_OPT_INT("epochs", 1, 1000),
    CLI_OPT_INT("fp-epochs", 0, 999),
    CLI_OPT_FLAG("no-gradboost"),
    CLI_OPT_INT("batch", 1, 4096),
    CLI_OPT_FLOAT("lr", 1e-6, 10.0),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_INT("latency-threads", 1, 1024),
    CLI_OPT_INT("reps", 1, 100000),
    CLI_OPT_REQUANT,
    CLI_OPT_FLOAT("width", 0.05, 4.0),
    CLI_OPT_INT("w-bits", 2, 8),
    CLI_OPT_INT("a-bits", 2, 8),
    CLI_OPT_FLAG("per-tensor"),
    CLI_OPT_STR("blocks"),
    CLI_OPT_END,
};

frost_status cli_read_cells(const char *path, frost_cell_pair *pair)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return frost_fail(FROST_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool whole = feof(f);
    fclose(f);
    if (!whole)
        return frost_fail(FROST_ERR_FORMAT, "%s: larger than a cell file can be (64 KB)", path);
    buf[n] = 0;
    frost_status s = frost_cell_pair_from_json(buf, pair);
    if (s == FROST_OK)
        return s;
    char why[300];
    snprintf(why, sizeof why, "%s", frost_last_error());
    return frost_fail(s, "%s: %s", path, why);
}

frost_status cli_nas_blocks(const cli_args *a, frost_cell_pair *pair, frost_nas_space *space,
                            char *path, size_t path_size)
{
    const char *dir = cli_str(a, "blocks", NULL);
    path[0] = 0;
    if (!dir)
        return FROST_OK;
    snprintf(path, path_size, "%s/cell.json", dir);
    FROST_TRY(cli_read_cells(path, pair));
    space->cells = pair;
    return FROST_OK;
}

void cli_parse_nas_eval(const cli_args *a, frost_nas_eval_config *cfg, frost_nas_space *space,
                        int *n_train, int *n_val)
{
    *n_train = cli_int(a, "train", 8000);
    *n_val = cli_int(a, "val", 2000);
    cfg->epochs = cli_int(a, "epochs", cfg->epochs);
    cfg->fp_epochs = cli_int(a, "fp-epochs", cfg->fp_epochs);
    cfg->gradboost = !cli_flag(a, "no-gradboost");
    cfg->batch = cli_int(a, "batch", cfg->batch);
    cfg->lr = cli_float(a, "lr", cfg->lr);
    cfg->train_threads = cli_int(a, "threads", 0);
    cfg->latency_threads = cli_int(a, "latency-threads", 1);
    cfg->latency_reps = cli_int(a, "reps", cfg->latency_reps);
    cfg->float_requant = cli_requant(a) == 1;
    space->width = cli_float(a, "width", space->width);
    cfg->weight_bits = cli_int(a, "w-bits", cfg->weight_bits);
    cfg->act_bits = cli_int(a, "a-bits", cfg->act_bits);
    cfg->per_tensor = cli_flag(a, "per-tensor");
}

frost_status cli_load_proxy_data(const cli_data_opts *data, int n_train, int n_val, uint64_t seed,
                                 frost_dataset *tr, frost_dataset *va)
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
