/* Training safety: a NaN injected in one gradient stops training with the step and the
 * layer named; rollback to the last checkpoint; divergence beyond NaN; a stop request
 * saves a mid-epoch checkpoint that resumes bit for bit; and `frost train` killed with
 * SIGKILL at 20 random moments (mid-epoch, during checkpoint writes) and resumed each time
 * ends with the weights of an uninterrupted run, bit for bit; SIGINT/SIGTERM save, say how
 * to resume and exit with 130/143. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"
#include "models/graph.h"
#include "train_fixture.h"

static char dir[] = "/tmp/frost_safety_XXXXXX";

static void expect_text(const char *text, const char *needle)
{
    if (!strstr(text, needle)) {
        fprintf(stderr, "  expected '%s' in: %s\n", needle, text);
        frost_test_failed_checks++;
    }
}

TEST(nan_in_one_gradient_names_the_step_and_the_layer)
{
    frost_dataset train = synthetic(240, 1);
    frost_model *m = fresh();
    frost_train_config c = config(NULL);
    frost_train_result r;
    /* 15 batches an epoch: global step 20 is epoch 2, batch 5 */
    setenv("FROST_TEST_NAN_GRAD", "dw.weight@20", 1);
    CHECK(frost_train(m, &train, NULL, NULL, &c, NULL, NULL, &r) == FROST_ERR_NUMERIC);
    unsetenv("FROST_TEST_NAN_GRAD");
    expect_text(frost_last_error(), "at epoch 2 batch 5/15 (global step 20)");
    expect_text(frost_last_error(), "the gradient of dw.weight is not finite");
    /* the weights were not updated with the poisoned gradient */
    for (int i = 0; i < m->n_params; i++)
        for (int64_t k = 0; k < m->params[i].numel; k++)
            CHECK(isfinite(m->params[i].data[k]));
    /* a name that is not a parameter is refused, not ignored */
    setenv("FROST_TEST_NAN_GRAD", "nosuch.weight@3", 1);
    CHECK(frost_train(m, &train, NULL, NULL, &c, NULL, NULL, &r) == FROST_ERR_ARG);
    unsetenv("FROST_TEST_NAN_GRAD");
    frost_model_free(m);
    frost_dataset_free(&train);
}

/* A BN running variance that overflowed leaves the loss finite (training uses the batch's
 * statistics) but ruins evaluation and the checkpoint: training stops at that step, naming
 * the statistic. (Seen in a W8 per-tensor QAT run that ended at 10.5% with an infinite
 * running_var.) */
TEST(an_infinite_running_statistic_stops_training)
{
    frost_dataset train = synthetic(240, 1);
    frost_model *m = fresh();
    frost_train_config c = config(NULL);
    frost_train_result r;
    int var = -1;
    for (int i = 0; i < m->n_buffers; i++)
        if (strcmp(m->buffers[i].name, "b2.running_var") == 0)
            var = i;
    CHECK(var >= 0);
    if (var >= 0)
        m->buffers[var].data[3] = INFINITY;
    CHECK(frost_train(m, &train, NULL, NULL, &c, NULL, NULL, &r) == FROST_ERR_NUMERIC);
    expect_text(frost_last_error(), "at epoch 1 batch 1/15 (global step 1)");
    expect_text(frost_last_error(), "the running statistic b2.running_var is not finite");
    frost_model_free(m);
    frost_dataset_free(&train);
}

static int notes;
static void count_notes(const frost_progress *p, void *user)
{
    (void)user;
    if (p->note) {
        notes++;
        CHECK(strstr(p->note, "rollback 1/") != NULL);
    }
}

TEST(rollback_reloads_the_checkpoint_and_goes_on)
{
    frost_dataset train = synthetic(240, 1), test = synthetic(90, 2);
    const char *ckpt = frost_test_path(dir, "rollback.safetensors");
    frost_model *m = fresh();
    frost_train_config c = config(ckpt);
    c.on_nan = FROST_ON_NAN_ROLLBACK;
    c.checkpoint_every = 4;
    frost_train_result r = {0};
    notes = 0;
    setenv("FROST_TEST_NAN_GRAD", "fc.bias@22", 1); /* fires once */
    CHECK(frost_train(m, &train, NULL, &test, &c, count_notes, NULL, &r) == FROST_OK);
    CHECK_EQ_INT(r.rollbacks, 1);
    CHECK_EQ_INT(notes, 1);
    CHECK(r.test_acc >= 0.8f); /* it still learns, at half the learning rate */
    frost_st_file *f = NULL;
    CHECK(frost_st_read(ckpt, &f) == FROST_OK);
    if (f) { /* a resumed run keeps the lowered rate */
        CHECK(frost_st_meta_get(f, "train.lr_scale") != NULL);
        frost_st_close(f);
    }
    /* no rollbacks allowed: the first trouble gives up, saying why */
    remove(ckpt);
    frost_model *m2 = fresh();
    c.max_rollbacks = 0;
    setenv("FROST_TEST_NAN_GRAD", "fc.bias@22", 1);
    CHECK(frost_train(m2, &train, NULL, &test, &c, NULL, NULL, &r) == FROST_ERR_NUMERIC);
    expect_text(frost_last_error(), "gradient of fc.bias");
    expect_text(frost_last_error(), "gave up after 0 rollbacks");
    /* without a checkpoint there is nothing to roll back to */
    frost_model *m3 = fresh();
    c.checkpoint = NULL;
    c.max_rollbacks = 3;
    setenv("FROST_TEST_NAN_GRAD", "fc.bias@22", 1);
    CHECK(frost_train(m3, &train, NULL, &test, &c, NULL, NULL, &r) == FROST_ERR_NUMERIC);
    expect_text(frost_last_error(), "no checkpoint to roll back to");
    unsetenv("FROST_TEST_NAN_GRAD");
    frost_model_free(m);
    frost_model_free(m2);
    frost_model_free(m3);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
}

TEST(an_exploding_loss_stops_training)
{
    frost_dataset train = synthetic(480, 1);
    frost_model *m = fresh();
    frost_train_config c = config(NULL);
    c.optim = frost_optimizer_defaults(FROST_OPT_ADAM);
    c.sched.base_lr = 100.0f; /* the case: Adam at a huge learning rate */
    c.sched.warmup_epochs = 0.0f;
    c.epochs = 4;
    frost_train_result r;
    frost_status s = frost_train(m, &train, NULL, NULL, &c, NULL, NULL, &r);
    CHECK(s == FROST_ERR_NUMERIC);
    if (s == FROST_ERR_NUMERIC && !strstr(frost_last_error(), "is not finite"))
        expect_text(frost_last_error(), "divergence rule");
    expect_text(frost_last_error(), "global step");
    /* the same run with the rule off goes to the end (loss far above chance) */
    frost_model *m2 = fresh();
    c.divergence_factor = 0.0f;
    s = frost_train(m2, &train, NULL, NULL, &c, NULL, NULL, &r);
    CHECK(s == FROST_OK || strstr(frost_last_error(), "is not finite") != NULL);
    frost_model_free(m);
    frost_model_free(m2);
    frost_dataset_free(&train);
}

static volatile sig_atomic_t stop_flag;
static void stop_at_epoch2_batch5(const frost_progress *p, void *user)
{
    (void)user;
    if (!p->epoch_end && p->epoch == 2 && p->batch_index == 5)
        stop_flag = 1;
}

/* A fresh model, quantized for QAT (default config: EMA observers) when qat. */
static frost_model *fresh_for(bool qat)
{
    frost_model *m = fresh();
    if (m && qat) {
        frost_qconfig *q = NULL;
        CHECK(frost_qconfig_default(&q) == FROST_OK);
        CHECK(frost_model_quantize(m, q) == FROST_OK);
        frost_qconfig_free(q);
    }
    return m;
}

/* QAT: one float epoch first (StatAssist's schedule), then fake-quant with GradBoost, BN
 * frozen from epoch 3: the stop at epoch 2 falls inside QAT, so the checkpoint must carry
 * the observers' ranges and GradBoost's stream for the resume to be exact. */
static frost_train_config stop_config(const char *ckpt, bool qat)
{
    frost_train_config c = config(ckpt);
    if (qat) {
        c.qat_delay_epochs = 1;
        c.qat_freeze_bn_epoch = 2;
        c.optim.gradboost = true;
        c.optim.gb_seed = c.seed;
    }
    return c;
}

static void stop_and_resume(bool qat)
{
    frost_dataset train = synthetic(240, 1), test = synthetic(90, 2);
    const char *ckpt = frost_test_path(dir, qat ? "stop-qat.safetensors" : "stop.safetensors");
    frost_model *full = fresh_for(qat);
    frost_train_config c = stop_config(NULL, qat);
    frost_train_result r = {0};
    CHECK(frost_train(full, &train, NULL, &test, &c, NULL, NULL, &r) == FROST_OK);

    frost_model *part = fresh_for(qat);
    c = stop_config(ckpt, qat);
    c.stop = &stop_flag;
    c.resume = true;
    stop_flag = 0;
    CHECK(frost_train(part, &train, NULL, &test, &c, stop_at_epoch2_batch5, NULL, &r) ==
          FROST_STOPPED);
    CHECK_EQ_INT(r.stop_epoch, 1);
    CHECK_EQ_INT(r.stop_batch, 5);
    CHECK(r.stop_saved);
    expect_text(frost_last_error(), "stopped at epoch 2 after batch 5/15");
    stop_flag = 0;
    frost_model *resumed = fresh_for(qat);
    CHECK(frost_train(resumed, &train, NULL, &test, &c, NULL, NULL, &r) == FROST_OK);
    CHECK_EQ_INT(r.epochs_run, 2);
    CHECK(same_weights(full, resumed));
    /* the same loss to the bit: with QAT, the same quantization ranges too */
    float acc_full, loss_full, acc_resumed, loss_resumed;
    CHECK(frost_evaluate(full, &test, &c.augment, 32, &acc_full, &loss_full) == FROST_OK);
    CHECK(frost_evaluate(resumed, &test, &c.augment, 32, &acc_resumed, &loss_resumed) == FROST_OK);
    CHECK(memcmp(&loss_full, &loss_resumed, sizeof loss_full) == 0 && acc_full == acc_resumed);
    CHECK(!qat || frost_model_is_quantized(resumed));
    frost_model_free(full);
    frost_model_free(part);
    frost_model_free(resumed);
    frost_dataset_free(&train);
    frost_dataset_free(&test);
}

TEST(a_stop_request_saves_mid_epoch_and_resumes_exactly) { stop_and_resume(false); }
TEST(a_stop_during_qat_resumes_exactly) { stop_and_resume(true); }

/* ---- the CLI: data as IDX files, runs as child processes ---- */

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

static void write_idx(const frost_dataset *d, const char *images, const char *labels)
{
    FILE *f = fopen(frost_test_path(dir, images), "wb");
    CHECK(f != NULL);
    put_be32(f, 0x803);
    put_be32(f, (uint32_t)d->n);
    put_be32(f, 8);
    put_be32(f, 8);
    fwrite(d->images, 1, (size_t)d->n * 64, f);
    fclose(f);
    f = fopen(frost_test_path(dir, labels), "wb");
    CHECK(f != NULL);
    put_be32(f, 0x801);
    put_be32(f, (uint32_t)d->n);
    fwrite(d->labels, 1, (size_t)d->n, f);
    fclose(f);
}

static void write_cli_inputs(void)
{
    frost_dataset train = synthetic(528, 1), test = synthetic(48, 2);
    write_idx(&train, "train-images", "train-labels");
    write_idx(&test, "test-images", "test-labels");
    frost_test_write_all(frost_test_path(dir, "rs.json"), arch, strlen(arch));
    frost_dataset_free(&train);
    frost_dataset_free(&test);
}

/* argv of `frost train` on the IDX files into OUT with EPOCHS epochs (static storage). */
static char *const *train_argv(const char *out, int epochs)
{
    static char bufs[16][512];
    static char *argv[40];
    int n = 0;
    const char *bin = frost_test_bin() ? frost_test_bin() : "build/frost";
#define ARG(...) (snprintf(bufs[n], sizeof bufs[n], __VA_ARGS__), argv[n] = bufs[n], n++)
    ARG("%s", bin);
    ARG("train");
    ARG("--arch=%s/rs.json", dir);
    ARG("--train-images=%s/train-images", dir);
    ARG("--train-labels=%s/train-labels", dir);
    ARG("--test-images=%s/test-images", dir);
    ARG("--test-labels=%s/test-labels", dir);
    ARG("--out=%s/%s", dir, out);
    ARG("--epochs=%d", epochs);
#undef ARG
    static char *const fixed[] = {"--batch=16",   "--val=48", "--lr=0.05",
                                  "--threads=1",  "--resume", "--checkpoint-every=2",
                                  "--crop-pad=1", "--hflip",  "--seed=5"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = fixed[i];
    argv[n] = NULL;
    return argv;
}

/* Starts the command with its output in LOG; the child only calls async-signal-safe
 * functions before exec (the parent may have OpenMP threads). */
static pid_t spawn(char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, int *signaled)
{
    int st = 0;
    waitpid(pid, &st, 0);
    *signaled = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(char *const *argv)
{
    int sig;
    return wait_exit(spawn(argv, frost_test_path(dir, "log.txt")), &sig);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Every tensor and the position of two checkpoints, bit for bit. */
static bool same_checkpoint(const char *a, const char *b)
{
    frost_st_file *fa = NULL, *fb = NULL;
    bool same = frost_st_read(a, &fa) == FROST_OK && frost_st_read(b, &fb) == FROST_OK &&
                frost_st_count(fa) == frost_st_count(fb);
    for (int i = 0; same && i < frost_st_count(fa); i++) {
        const frost_st_tensor *ta = frost_st_get(fa, i);
        const frost_st_tensor *tb = frost_st_find(fb, ta->name);
        int64_t n = 1;
        for (int k = 0; k < ta->ndim; k++)
            n *= ta->shape[k];
        same = tb && tb->dtype == ta->dtype && tb->ndim == ta->ndim &&
               memcmp(tb->shape, ta->shape, sizeof ta->shape) == 0 &&
               memcmp(ta->data, tb->data, (size_t)n * 4) == 0;
        if (!same)
            fprintf(stderr, "  %s differs between %s and %s\n", ta->name, a, b);
    }
    const char *ea = same ? frost_st_meta_get(fa, "train.epoch") : NULL;
    const char *eb = same ? frost_st_meta_get(fb, "train.epoch") : NULL;
    if (!ea || !eb || strcmp(ea, eb) != 0)
        fprintf(stderr, "  %s and %s: not both readable at the same epoch (%s, %s)\n", a, b,
                ea ? ea : "-", eb ? eb : "-");
    same = same && ea && eb && strcmp(ea, eb) == 0;
    frost_st_close(fa);
    frost_st_close(fb);
    return same;
}

/* Removes the temp files killed writers left ("<name>.tmp.<pid>"); returns how many. */
static int remove_temp_files(const char *name)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t len = strlen(name);
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, name, len) == 0 && strncmp(e->d_name + len, ".tmp.", 5) == 0) {
            remove(frost_test_path(dir, e->d_name));
            n++;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* train.epoch and train.batch of a checkpoint (-1 when it cannot be read). */
static void checkpoint_position(const char *path, int *epoch, int *batch)
{
    frost_st_file *f = NULL;
    *epoch = *batch = -1;
    if (frost_st_read(path, &f) != FROST_OK)
        return;
    const char *e = frost_st_meta_get(f, "train.epoch"), *b = frost_st_meta_get(f, "train.batch");
    *epoch = e ? atoi(e) : -1;
    *batch = b ? atoi(b) : 0;
    frost_st_close(f);
}

TEST(sigkill_at_20_random_moments_then_resume_is_bit_exact)
{
    const int epochs = 6;
    char *const *argv = train_argv("ref.safetensors", epochs);
    double duration = 1e9; /* the faster of two runs: the first may be slowed by cold caches */
    for (int i = 0; i < 2; i++) {
        remove(frost_test_path(dir, "ref.safetensors")); /* --resume would continue it */
        double t0 = now_s();
        CHECK_EQ_INT(run(argv), 0);
        duration = fmin(duration, now_s() - t0);
    }

    char killed[300], ref[300]; /* frost_test_path's buffers are reused */
    snprintf(killed, sizeof killed, "%s", frost_test_path(dir, "killed.safetensors"));
    snprintf(ref, sizeof ref, "%s", frost_test_path(dir, "ref.safetensors"));
    argv = train_argv("killed.safetensors", epochs);
    unsigned long long rng = 20261205; /* seeded: the same kill times on every run */
    int mid_epoch = 0, during_write = 0, finished_early = 0, last_epoch = -1, last_batch = -1;
    int progressed = 0;
    int kills = 0;
    for (int attempt = 0; kills < 20 && attempt < 100; attempt++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        double delay = duration * (double)(rng >> 11) / 9007199254740992.0;
        int sig;
        pid_t pid = spawn(argv, frost_test_path(dir, "log.txt"));
        sleep_s(delay);
        kill(pid, SIGKILL);
        int rc = wait_exit(pid, &sig);
        if (sig != SIGKILL) { /* it finished first: the next kill starts from the end */
            CHECK_EQ_INT(rc, 0);
            finished_early++;
            remove(killed); /* start over: the next kill lands in training again */
            continue;
        }
        kills++;
        during_write += remove_temp_files("killed.safetensors");
        int e, b;
        checkpoint_position(killed, &e, &b);
        if (access(killed, F_OK) == 0)
            CHECK(e >= 0); /* whatever the moment, the checkpoint on disk reads */
        mid_epoch += b > 0;
        progressed += e != last_epoch || b != last_batch;
        last_epoch = e;
        last_batch = b;
    }
    CHECK_EQ_INT(run(argv), 0); /* the last resume runs to the end */
    CHECK(same_checkpoint(ref, killed));
    fprintf(stderr,
            "  uninterrupted run %.2fs; 20 kills: %d left a mid-epoch checkpoint, %d hit a "
            "checkpoint write, %d moved the position (%d runs ended before their kill and were "
            "restarted)\n",
            duration, mid_epoch, during_write, progressed, finished_early);
    CHECK(mid_epoch > 0);
    CHECK_EQ_INT(kills, 20);
}

/* Waits until the path exists (the child's first checkpoint). */
static bool wait_for_file(const char *path, double timeout)
{
    double t0 = now_s();
    while (access(path, F_OK) != 0) {
        if (now_s() - t0 > timeout)
            return false;
        sleep_s(0.001);
    }
    return true;
}

static void stop_with_signal(int signo, int want_rc)
{
    const int epochs = 20;
    char ref[32], out[32];
    snprintf(ref, sizeof ref, "ref%d.safetensors", signo);
    snprintf(out, sizeof out, "sig%d.safetensors", signo);
    CHECK_EQ_INT(run(train_argv(ref, epochs)), 0);
    char path[300], log[300], ref_path[300];
    snprintf(path, sizeof path, "%s", frost_test_path(dir, out));
    snprintf(log, sizeof log, "%s", frost_test_path(dir, "siglog.txt"));
    snprintf(ref_path, sizeof ref_path, "%s", frost_test_path(dir, ref));
    pid_t pid = spawn(train_argv(out, epochs), log);
    CHECK(wait_for_file(path, 30.0));
    kill(pid, signo);
    int sig, rc = wait_exit(pid, &sig);
    CHECK_EQ_INT(rc, want_rc);
    size_t size = 0;
    char *text = frost_test_read_all(log, &size);
    if (text) {
        expect_text(text, "stopped at epoch");
        expect_text(text, "checkpoint saved in");
        expect_text(text, "--resume");
        expect_text(text, signo == SIGINT ? "SIGINT" : "SIGTERM");
    }
    free(text);
    CHECK_EQ_INT(run(train_argv(out, epochs)), 0);
    CHECK(same_checkpoint(ref_path, path));
}

TEST(sigint_and_sigterm_save_and_exit_130_143)
{
    stop_with_signal(SIGINT, 130);
    stop_with_signal(SIGTERM, 143);
}

TEST(cli_names_the_layer_of_a_nan_gradient)
{
    setenv("FROST_TEST_NAN_GRAD", "c1.weight@7", 1);
    char *const *argv = train_argv("nan.safetensors", 2);
    CHECK_EQ_INT(run(argv), 1);
    unsetenv("FROST_TEST_NAN_GRAD");
    size_t size = 0;
    char *text = frost_test_read_all(frost_test_path(dir, "log.txt"), &size);
    if (text) {
        expect_text(text, "frost train: error: training diverged at epoch 1 batch 7/30 (global "
                          "step 7): the gradient of c1.weight is not finite");
    }
    free(text);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    write_cli_inputs();
    RUN(nan_in_one_gradient_names_the_step_and_the_layer);
    RUN(rollback_reloads_the_checkpoint_and_goes_on);
    RUN(an_exploding_loss_stops_training);
    RUN(a_stop_request_saves_mid_epoch_and_resumes_exactly);
    RUN(a_stop_during_qat_resumes_exactly);
    RUN(an_infinite_running_statistic_stops_training);
    RUN(sigkill_at_20_random_moments_then_resume_is_bit_exact);
    RUN(sigint_and_sigterm_save_and_exit_130_143);
    RUN(cli_names_the_layer_of_a_nan_gradient);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return frost_test_summary();
}
