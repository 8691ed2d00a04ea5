/* frost train: train a model (built-in or JSON) on IDX data, with checkpoints and resume. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const help =
    "usage: frost train [MODEL] [options]\n"
    "Train a model on Fashion-MNIST (or any IDX data set) and save a checkpoint after\n"
    "every epoch (atomically). Per-epoch metrics go to a CSV file.\n\n" CLI_MODEL_HELP
    "\n" CLI_DATA_HELP "\ntraining:\n"
    "  --epochs N          epochs (default 10)\n"
    "  --batch N           batch size (default 64)\n"
    "  --opt NAME          sgd (Nesterov momentum), rmsprop, adam, adamw (default sgd)\n"
    "  --lr X              peak learning rate (default 0.1 for sgd, 0.002 otherwise)\n"
    "  --momentum X        sgd/rmsprop momentum (default 0.9)\n"
    "  --no-nesterov       plain momentum for sgd\n"
    "  --wd X              weight decay on conv/linear weights (default 4e-5)\n"
    "  --wd-dw X           on depthwise weights (default 0)\n"
    "  --wd-1d X           on biases and BN parameters (default 0)\n"
    "  --clip X            clip the gradient norm to X (default off)\n"
    "  --sched NAME        cosine (default), step, constant\n"
    "  --warmup E          linear warm-up epochs (default 1)\n"
    "  --step-epochs E --gamma G   step schedule: lr *= G every E epochs\n"
    "  --smoothing X       label smoothing (default 0.1)\n"
    "  --crop-pad N        random-crop padding in pixels (default 2, 0 = off)\n"
    "  --hflip             random horizontal flips\n"
    "  --val N             hold out N training images for validation (default 5000)\n"
    "  --limit N           train on the first N (remaining) training images only\n"
    "  --test-every N      test-set accuracy every N epochs (default 1; 0 = only at the end)\n"
    "  --seed N            seed for init, shuffling, augmentation, dropout (default 1)\n"
    "  --threads N         threads (default: all cores)\n"
    "  -o, --out FILE      checkpoint (default runs/MODEL.safetensors)\n"
    "  --csv FILE          per-epoch metrics (default: checkpoint path + .csv)\n"
    "  --resume            continue from --out if it exists (same settings required)\n"
    "  --checkpoint-every N  also save every N steps inside an epoch (exact resume\n"
    "                      from there; default 0 = at epoch ends only)\n"
    "  --on-nan WHAT       a NaN/Inf loss or gradient, or a diverging loss: stop (default;\n"
    "                      names the step and the layer, exit 1) or rollback (reload the\n"
    "                      last checkpoint, halve the learning rate, go on; gives up\n"
    "                      after --max-rollbacks, default 3)\n"
    "  --max-rollbacks N   rollbacks before giving up (default 3)\n"
    "  --divergence K      diverged when the loss's ~50-step moving average exceeds K x\n"
    "                      max(its lowest so far, ln(classes)/2) after 50 steps\n"
    "                      (default 10; 0 = off, NaN/Inf is still caught)\n"
    "  --quiet             only the final summary\n"
    "\ndata-parallel training (an MPI build, started by mpirun; docs/distributed.md):\n"
    "  mpirun -np N frost train ...  N processes share every batch (--batch is the\n"
    "                      global batch) and sum their gradients; rank 0 prints and\n"
    "                      writes the checkpoint and CSV\n"
    "  --sync-bn           BN statistics over the global batch (SyncBN); default: each\n"
    "                      rank's own images, rank 0's running statistics kept\n"
    "  --bucket-mb MB      gradients are summed in buckets of about MB MiB, each sent\n"
    "                      while backward still runs (default 25)\n"
    "  --simulate-link US,GBPS  benchmarking aid: every sum arrives no sooner than over a\n"
    "                      link of US microseconds per sum and GBPS GB/s (the real\n"
    "                      exchange still runs), to see what overlap hides on one\n"
    "                      machine (bench/mpi_scaling --link)\n"
    "SIGINT (Ctrl-C) or SIGTERM saves the checkpoint at the current step and exits with\n"
    "130 or 143; run the same command with --resume to continue exactly. A second\n"
    "Ctrl-C quits at once without saving.\n"
    "\nquantization-aware training:\n"
    "  --qat               train the fake-quant model (conv+BN folded, weights and\n"
    "                      activations fake-quantized, EMA observers)\n"
    "  --from CKPT         start from this checkpoint's weights and architecture\n"
    "                      (QAT fine-tuning of an FP32 model); model options are ignored;\n"
    "                      --out defaults to CKPT with .qat.safetensors\n"
    "  --qat-delay E       train in float (observers only) for E epochs before fake-quant\n"
    "                      starts, with the same optimizer and schedule: StatAssist's FP\n"
    "                      warm-up (default 1 from scratch, 0 with --from; 0 = plain QAT)\n"
    "  --statassist        the same, spelled as in the paper: --fp-epochs E (default 1)\n"
    "  --gradboost         GradBoost Q-optimizer: statistics during the warm-up, boosted\n"
    "                      gradients from the switch to QAT on\n"
    "  --gradboost-mode M  reference (default: the published code's statistics) or paper\n"
    "  --freeze-bn E       after E epochs (0: from the start) folded BNs use running\n"
    "                      statistics, which keeps per-tensor QAT stable (default: never)\n"
    "  --freeze-observers E  after E epochs the activation ranges stop moving (default: never)\n"
    "  --observer KIND     minmax, ema (default), hist, percentile or entropy\n" CLI_QUANT_HELP;

typedef struct {
    bool tty, quiet;
    double last_print;
} progress_state;

static void print_progress(const frost_progress *p, void *user)
{
    progress_state *st = user;
    if (p->note) { /* a rollback: always said, on stderr */
        if (st->tty && !st->quiet)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "frost train: %s\n", p->note);
        return;
    }
    if (p->epoch_end) {
        if (st->tty && !st->quiet)
            fprintf(stderr, "\r\033[K");
        if (!st->quiet) {
            printf("epoch %d/%d  loss %.4f  train %.2f%%", p->epoch, p->epochs, (double)p->loss,
                   100.0 * p->acc);
            if (p->val_acc >= 0.0f)
                printf("  val %.2f%%", 100.0 * p->val_acc);
            if (p->test_acc >= 0.0f)
                printf("  test %.2f%%", 100.0 * p->test_acc);
            printf("  %.1fs  %.0f img/s\n", p->elapsed_s, p->images_per_s);
            fflush(stdout);
        }
        st->last_print = 0.0;
        return;
    }
    if (st->quiet)
        return;
    double eta = p->images_per_s > 0 ? (double)(p->batches - p->batch_index) * p->elapsed_s /
                                           fmax(p->batch_index, 1)
                                     : 0.0;
    if (st->tty) {
        if (p->elapsed_s - st->last_print < 0.25 && p->batch_index != p->batches)
            return;
        st->last_print = p->elapsed_s;
        int width = 24, done = (int)((double)width * p->batch_index / p->batches);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
        bar[width] = '\0';
        fprintf(stderr,
                "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %d:%02d",
                p->epoch, p->epochs, bar, p->batch_index, p->batches, (double)p->loss,
                100.0 * p->acc, p->images_per_s, (int)eta / 60, (int)eta % 60);
    } else if (p->elapsed_s - st->last_print >= 30.0) {
        st->last_print = p->elapsed_s;
        printf("epoch %d/%d  batch %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %d:%02d\n",
               p->epoch, p->epochs, p->batch_index, p->batches, (double)p->loss, 100.0 * p->acc,
               p->images_per_s, (int)eta / 60, (int)eta % 60);
        fflush(stdout);
    }
}

static const cli_opt training_options[] = {
    CLI_OPT_LOOKUP("opt", "sgd|rmsprop|adam|adamw", frost_optimizer_from_name),
    CLI_OPT_INT("epochs", 1, 100000),
    CLI_OPT_INT("batch", 1, 65536),
    CLI_OPT_FLOAT("lr", 1e-9, 100.0),
    CLI_OPT_FLOAT("momentum", 0.0, 0.9999),
    CLI_OPT_FLAG("no-nesterov"),
    CLI_OPT_FLOAT("wd", 0.0, 1.0),
    CLI_OPT_FLOAT("wd-dw", 0.0, 1.0),
    CLI_OPT_FLOAT("wd-1d", 0.0, 1.0),
    CLI_OPT_FLOAT("clip", 0.0, 1e6),
    CLI_OPT_CHOICE("sched", "cosine|step|constant"),
    CLI_OPT_FLOAT("warmup", 0.0, 1000.0),
    CLI_OPT_FLOAT("step-epochs", 0.01, 100000.0),
    CLI_OPT_FLOAT("gamma", 0.0, 1.0),
    CLI_OPT_FLOAT("smoothing", 0.0, 0.99),
    CLI_OPT_INT("crop-pad", 0, 64),
    CLI_OPT_FLAG("hflip"),
    CLI_OPT_INT("seed", 0, 2147483647),
    CLI_OPT_INT("test-every", 0, 100000),
    CLI_OPT_FLAG("resume"),
    CLI_OPT_INT("checkpoint-every", 0, 2147483647),
    CLI_OPT_CHOICE("on-nan", "stop|rollback"),
    CLI_OPT_INT("max-rollbacks", 0, 1000),
    CLI_OPT_FLOAT("divergence", 0.0, 1e30),
    CLI_OPT_FLAG("quiet"),
    CLI_OPT_FLAG("sync-bn"),
    CLI_OPT_FLOAT("bucket-mb", 0.001, 65536),
    CLI_OPT_STR("simulate-link"),
    CLI_OPT_INT("val", 0, 10000000),
    CLI_OPT_INT("limit", 1, 100000000),
    CLI_OPT_INT("threads", 1, 1024),
    CLI_OPT_OUT,
    CLI_OPT_STR("csv"),
    CLI_OPT_END,
};

static const cli_opt qat_options[] = {
    CLI_OPT_FLAG("qat"),
    CLI_OPT_STR("from"),
    CLI_OPT_INT("qat-delay", 0, 100000),
    CLI_OPT_FLAG("statassist"),
    CLI_OPT_INT("fp-epochs", 1, 100000),
    CLI_OPT_FLAG("gradboost"),
    CLI_OPT_CHOICE("gradboost-mode", "reference|paper"),
    CLI_OPT_INT("freeze-bn", 0, 100000),
    CLI_OPT_INT("freeze-observers", 0, 100000),
    CLI_OPT_END,
};

static void read_training(const cli_args *a, frost_train_config *c)
{
    int kind = cli_choice(a, "opt", FROST_OPT_SGD);
    c->optim = frost_optimizer_defaults(kind);
    c->epochs = cli_int(a, "epochs", 10);
    c->batch = cli_int(a, "batch", 64);
    c->sched.base_lr = cli_float(a, "lr", kind == FROST_OPT_SGD ? 0.1f : 0.002f);
    c->optim.momentum = cli_float(a, "momentum", c->optim.momentum);
    /* Nesterov needs momentum (as in PyTorch); --momentum 0 means plain SGD. */
    if (cli_flag(a, "no-nesterov") || c->optim.momentum == 0.0f)
        c->optim.nesterov = false;
    c->optim.wd = cli_float(a, "wd", c->optim.wd);
    c->optim.wd_depthwise = cli_float(a, "wd-dw", c->optim.wd_depthwise);
    c->optim.wd_1d = cli_float(a, "wd-1d", c->optim.wd_1d);
    c->optim.clip_norm = cli_float(a, "clip", 0.0f);
    int sched = cli_choice(a, "sched", 0); /* "cosine|step|constant" */
    c->sched.kind = sched == 0   ? FROST_SCHED_COSINE
                    : sched == 1 ? FROST_SCHED_STEP
                                 : FROST_SCHED_CONSTANT;
    c->sched.warmup_epochs = cli_float(a, "warmup", 1.0f);
    c->sched.step_epochs = cli_float(a, "step-epochs", 30.0f);
    c->sched.gamma = cli_float(a, "gamma", 0.1f);
    c->label_smoothing = cli_float(a, "smoothing", 0.1f);
    c->augment.crop_pad = cli_int(a, "crop-pad", 2);
    c->augment.hflip = cli_flag(a, "hflip");
    c->seed = (uint64_t)cli_int(a, "seed", 1);
    c->test_every = cli_int(a, "test-every", 1);
    c->resume = cli_flag(a, "resume");
    c->quiet = cli_flag(a, "quiet");
    c->checkpoint_every = cli_int(a, "checkpoint-every", 0);
    c->on_nan = cli_choice(a, "on-nan", 0) == 1 ? FROST_ON_NAN_ROLLBACK : FROST_ON_NAN_STOP;
    c->max_rollbacks = cli_int(a, "max-rollbacks", c->max_rollbacks);
    c->divergence_factor = cli_float(a, "divergence", c->divergence_factor);
    c->sync_bn = cli_flag(a, "sync-bn");
    c->bucket_bytes = (size_t)((double)cli_float(a, "bucket-mb", 25.0f) * (1 << 20));
}

/* The signal that asked training to stop (0 = none): the handler only sets it, frost_train
 * polls it between steps, saves and returns FROST_STOPPED. */
static volatile sig_atomic_t stop_signal;

static void request_stop(int sig) { stop_signal = sig; }

/* SA_RESETHAND: a second Ctrl-C kills at once (the checkpoint on disk stays whole). */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = request_stop;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Exit code of a stop: 128 + the signal, as a shell reports a process it killed. */
static int report_stop(const frost_train_result *r, const char *out, int sig, bool lead)
{
    const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    if (!lead) /* data-parallel: rank 0 says it */
        return 128 + sig;
    if (r->stop_saved)
        fprintf(stderr,
                "frost train: %s: stopped at epoch %d after batch %d; checkpoint saved in %s\n"
                "frost train: to continue, run the same command with --resume\n",
                name, r->stop_epoch + 1, r->stop_batch, out);
    else
        fprintf(stderr, "frost train: %s: stopped; %s\n", name, frost_last_error());
    return 128 + sig;
}

/* QAT settings; false (after saying why) when they contradict each other. Options that only
 * mean something with --qat are checked once the model is known (see cmd_train). */
static bool read_qat(const cli_args *a, frost_train_config *c)
{
    bool statassist = cli_flag(a, "statassist");
    c->qat_delay_epochs = cli_int(a, "qat-delay", cli_given(a, "from") ? 0 : 1);
    if (statassist)
        c->qat_delay_epochs = cli_int(a, "fp-epochs", 1);
    if (cli_flag(a, "gradboost")) {
        c->optim.gradboost = true;
        c->optim.gb_seed = c->seed;
        c->optim.gb_mode = cli_choice(a, "gradboost-mode", 0) == 1; /* "reference|paper" */
    }
    c->qat_freeze_bn_epoch = cli_int(a, "freeze-bn", -1);
    c->qat_freeze_observers_epoch = cli_int(a, "freeze-observers", -1);
    if (cli_given(a, "fp-epochs") && !statassist) {
        cli_usage_error(a, "--fp-epochs goes with --statassist");
        return false;
    }
    if (!cli_flag(a, "qat") && cli_quant_given(a)) {
        cli_usage_error(a, "the quantization options (--qconfig, --w-bits, --a-bits, "
                           "--per-tensor, --observer, --w-scheme, --a-scheme) need --qat");
        return false;
    }
    return true;
}

/* Both paths name one existing file (or are the same string). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static void make_parent_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0777); /* only one level (runs/); an error shows up at the first save */
    }
}

/* The processes training together: MPI's when mpirun started this one. A launcher with
 * several processes and a frost without MPI would train N separate copies writing the same
 * files: refused. */
static frost_status open_comm(frost_comm **comm)
{
    frost_status s = frost_comm_create(comm);
    if (s != FROST_OK)
        return s;
    const char *launched = getenv("OMPI_COMM_WORLD_SIZE");
    if (frost_comm_size(*comm) == 1 && launched && atoi(launched) > 1) {
        frost_comm_destroy(*comm);
        *comm = NULL;
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "started by mpirun with %s processes, but this frost was built "
                          "without MPI (%s): run scripts/setup mpi and rebuild",
                          launched, frost_comm_built_backends());
    }
    return FROST_OK;
}

static int train_with(int argc, char **argv, frost_comm *comm);

int cmd_train(int argc, char **argv)
{
    frost_comm *comm = NULL;
    if (open_comm(&comm) != FROST_OK)
        return cli_error("train");
    int rc = train_with(argc, argv, comm);
    frost_comm_destroy(comm);
    return rc;
}

static int train_with(int argc, char **argv, frost_comm *comm)
{
    static const cli_opt *const tables[] = {training_options,  qat_options,      cli_quant_options,
                                            cli_model_options, cli_data_options, NULL};
    static const cli_spec spec = {"train", help, tables, 1};
    cli_args a;
    if (!cli_parse(&a, &spec, argc, argv))
        return a.exit_code;
    if (a.n_positional == 1)
        return cli_usage_error(&a, "give the model with --model %s", a.positional[0]);
    frost_train_config cfg = frost_train_defaults();
    read_training(&a, &cfg);
    bool lead = frost_comm_rank(comm) == 0; /* the rank that prints */
    cfg.comm = comm;
    if (!lead)
        cfg.quiet = true;
    if (cfg.divergence_factor > 0.0f && cfg.divergence_factor <= 1.0f)
        return cli_usage_error(&a,
                               "--divergence %g: 0 (off) or a factor above 1 (of the loss's "
                               "moving average)",
                               cfg.divergence_factor);
    if (!read_qat(&a, &cfg))
        return 2;
    const char *link = cli_str(&a, "simulate-link", NULL);
    double link_us = 0, link_gbps = 0;
    char link_end = 0;
    if (link && sscanf(link, "%lf,%lf%c", &link_us, &link_gbps, &link_end) != 2)
        return cli_usage_error(&a, "--simulate-link %s: give US,GBPS, e.g. 5,3.1", link);
    if (link && frost_comm_simulate_link(comm, link_us, link_gbps) != FROST_OK)
        return cli_error("train");
    int val_n = cli_int(&a, "val", 5000);
    int limit = cli_int(&a, "limit", 0);
    int threads = cli_int(&a, "threads", 0);
    const char *out = cli_str(&a, "out", NULL);
    const char *csv = cli_str(&a, "csv", NULL);
    bool qat = cli_flag(&a, "qat");
    const char *from = cli_str(&a, "from", NULL);
    bool qat_flags = cli_flag(&a, "statassist") || cli_given(&a, "qat-delay") ||
                     cli_given(&a, "freeze-bn") || cli_given(&a, "freeze-observers");
    frost_qconfig *qc = NULL;
    if (qat && !cli_parse_qconfig(&a, "ema", &qc))
        return 1;
    bool ok = true;
    frost_dataset full = {0}, test = {0}, train = {0}, val = {0};
    frost_model *m = NULL;
    cli_model_opts mo;
    cli_data_opts data;
    cli_parse_model(&a, &mo);
    cli_parse_data(&a, &data);
    frost_status s = cli_load_data(&data, true, true, &full, &test);
    if (s == FROST_OK && from)
        s = frost_model_load(from, &m);
    else if (s == FROST_OK)
        s = cli_build_model(&mo, full.h, full.c, full.classes < 2 ? 2 : full.classes, &m);
    if (s == FROST_OK) /* a searched network's 20 or 24 px input: the data resized to it */
        s = cli_fit_data_to_model(m, &full, &test);
    if (s == FROST_OK && from && qat && frost_model_is_quantized(m))
        fprintf(stderr, "frost train: note: %s is already quantized; its config is kept\n", from);
    else if (s == FROST_OK && qat)
        s = frost_model_quantize(m, qc);
    if (ok && s == FROST_OK && qat_flags && !frost_model_is_quantized(m)) {
        fprintf(stderr, "frost train: error: --statassist, --qat-delay, --freeze-bn and "
                        "--freeze-observers need --qat\n");
        ok = false;
    }
    if (ok && s == FROST_OK && val_n >= full.n) {
        fprintf(stderr, "frost train: error: --val %d leaves no training images (%d in total)\n",
                val_n, full.n);
        ok = false;
    }
    frost_qconfig_free(qc);
    if (!ok || s != FROST_OK) {
        int rc = ok ? cli_error("train") : 2;
        frost_model_free(m);
        frost_dataset_free(&full);
        frost_dataset_free(&test);
        return rc;
    }
    frost_set_threads(threads);
    frost_preprocess pre = frost_model_preprocess(m);
    cfg.augment = frost_augment_for(&pre, cfg.augment); /* an imported model's own */

    if (val_n > 0)
        s = frost_dataset_split(&full, val_n, cfg.seed, &train, &val);
    else
        s = frost_dataset_head(&full, full.n, &train);
    frost_dataset_free(&full);
    if (s == FROST_OK && limit > 0 && limit < train.n) {
        frost_dataset sub;
        s = frost_dataset_head(&train, limit, &sub);
        frost_dataset_free(&train);
        train = sub;
    }
    char out_default[4000], csv_default[4200];
    if (!out && from) { /* next to the starting checkpoint, never over it */
        size_t n = strlen(from), e = strlen(".safetensors");
        if (n > e && strcmp(from + n - e, ".safetensors") == 0)
            n -= e;
        snprintf(out_default, sizeof out_default, "%.*s.%s.safetensors", (int)n, from,
                 frost_model_is_quantized(m) ? "qat" : "ft");
        out = out_default;
    } else if (!out) {
        snprintf(out_default, sizeof out_default, "runs/%s.safetensors", frost_model_name(m));
        out = out_default;
    }
    if (s == FROST_OK && from && same_file(from, out))
        s = frost_fail(FROST_ERR_ARG,
                       "--out %s is the --from checkpoint; training would overwrite it", out);
    if (!csv) {
        snprintf(csv_default, sizeof csv_default, "%s.csv", out);
        csv = csv_default;
    }
    make_parent_dir(out);
    cfg.checkpoint = out;
    cfg.csv = csv;
    if (s == FROST_OK && !cfg.quiet)
        printf("training %s (%.3fM params, %.2fM MACs/image) on %d images (%d held out), "
               "test %d, %d epochs, batch %d, %d threads\n",
               frost_model_name(m), (double)frost_model_param_count(m) / 1e6,
               (double)frost_model_macs(m) / 1e6, train.n, val.n, test.n, cfg.epochs, cfg.batch,
               frost_get_threads());
    if (s == FROST_OK && !from)
        frost_model_init_weights(m, cfg.seed); /* a resumed run overwrites these */
    if (s == FROST_OK && !cfg.quiet && frost_model_is_quantized(m))
        printf("quantization-aware training: %s%s\n", frost_model_qconfig_json(m),
               from ? " (fine-tuning)" : " (from scratch)");
    progress_state st = {.tty = isatty(fileno(stderr)), .quiet = cfg.quiet};
    frost_train_result r = {0};
    stop_signal = 0;
    cfg.stop = &stop_signal;
    if (s == FROST_OK) {
        install_stop_handlers();
        s = frost_train(m, &train, val.n ? &val : NULL, &test, &cfg, print_progress, &st, &r);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    if (s == FROST_STOPPED && st.tty && !cfg.quiet)
        fprintf(stderr, "\r\033[K");
    if (s == FROST_OK && lead && cfg.resume && r.epochs_run == 0)
        printf("%s already holds all %d epochs; nothing to do\n", out, cfg.epochs);
    if (s == FROST_OK && lead && r.epochs_run > 0)
        printf("done: test accuracy %.2f%%  (%d epochs in %.1fs, %.0f img/s)  checkpoint %s\n",
               100.0 * r.test_acc, r.epochs_run, r.seconds, r.images_per_s, out);
    if (s == FROST_OK && lead && frost_comm_size(comm) > 1)
        printf("data-parallel: %d ranks%s, %.2f MB of gradients summed per step in %d "
               "bucket(s); backward's end waited %.2fs for them in all, other exchanges "
               "%.2fs\n",
               frost_comm_size(comm), cfg.sync_bn ? ", SyncBN" : "",
               (double)r.allreduce_floats * 4e-6, r.buckets, r.comm_wait_s, r.comm_sync_s);
    if (s == FROST_OK && lead && r.rollbacks > 0)
        printf("note: %d rollback(s) after NaN/divergence, each halving the learning rate\n",
               r.rollbacks);
    int rc = s == FROST_OK        ? 0
             : s == FROST_STOPPED ? report_stop(&r, out, stop_signal ? stop_signal : SIGINT, lead)
                                  : cli_error("train");
    frost_model_free(m);
    frost_dataset_free(&train);
    frost_dataset_free(&val);
    frost_dataset_free(&test);
    return rc;
}
