/* The frost CLI on bad input: every case exits non-zero with a one-line error
 * naming the file/field, and leaves nothing half-written. Plus --help and --version on
 * every command, the option conventions (repeats, -o, --, usage errors with exit 2) and
 * a tiny end-to-end train -> eval -> info run on Fashion-MNIST. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frost/frost.h"
#include "harness.h"

static char dir[] = "/tmp/frost_cli_XXXXXX";
static char out[32768]; /* frost info of a searched network prints about 12 KB */

/* Runs `frost ARGS` (stdout+stderr captured into out); returns the exit code. */
static int frost(const char *args) { return frost_test_run_cli(dir, args, out, sizeof out); }

/* frost_cpu_text for this process (the CLI child sees the same CPU and environment). */
static const char *cpu_text(bool int8_reference)
{
    static char text[FROST_CPU_TEXT_MAX];
    frost_cpu_info c;
    frost_cpu_describe(&c);
    if (int8_reference)
        c.int8_kernels = "reference";
    frost_cpu_text(&c, text, sizeof text);
    return text;
}

static long file_size(const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void write_file(const char *name, const void *data, size_t size)
{
    frost_test_write_all(frost_test_path(dir, name), data, size);
}

/* Exit code must be non-zero and the output one line containing `needle`. */
static void expect_error(const char *args, const char *needle)
{
    frost_test_expect_cli_error(dir, args, 0, needle, out, sizeof out);
}

static int count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A usage error: exit code 2, exactly `errors` error lines (each naming its option), and no
 * option reported unknown unless `unknown` names one. */
static void expect_usage_errors(const char *args, int errors, const char *const *needles,
                                const char *unknown)
{
    int rc = frost(args);
    bool ok = rc == 2 && count_lines(out, "error:") == errors && count_lines(out, "\n") == errors;
    for (int i = 0; i < errors && needles && needles[i]; i++)
        ok = ok && strstr(out, needles[i]) != NULL;
    ok = ok && count_lines(out, "unknown option") == (unknown ? 1 : 0);
    if (unknown)
        ok = ok && strstr(out, unknown) != NULL;
    if (!ok) {
        fprintf(stderr, "  frost %s\n  -> rc %d, want exit 2 with %d error line(s), got: %s", args,
                rc, errors, out);
        frost_test_failed_checks++;
    }
}

static bool file_exists(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

/* Whether two files in dir have the same bytes. */
static bool same_files(const char *a, const char *b)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s", dir, a, dir, b);
    return system(cmd) == 0;
}

TEST(help_on_every_command)
{
    const char *cmds[] = {
        "--help",          "train --help",       "eval --help",           "info --help",
        "quantize --help", "sensitivity --help", "convert --help",        "run --help",
        "predict --help",  "bench --help",       "eval-candidate --help", "search --help",
        "export --help",   "compress --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        CHECK_EQ_INT(frost(cmds[i]), 0);
        CHECK(strstr(out, "usage: frost") != NULL);
    }
    CHECK_EQ_INT(frost(""), 2);
    CHECK_EQ_INT(frost("frobnicate"), 2);
    CHECK(strstr(out, "unknown command 'frobnicate'") != NULL);
    /* every command's help lists the shared conventions, -o where the command writes a file */
    const char *with_out[] = {"train", "quantize", "convert", "search", "compress"};
    for (size_t i = 0; i < sizeof with_out / sizeof *with_out; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s -h", with_out[i]);
        CHECK_EQ_INT(frost(args), 0);
        CHECK(strstr(out, "-o, --out") && strstr(out, "--version") && strstr(out, "last one wins"));
    }
}

/* --version on every command (and at the top level): "frost X.Y.Z", exit 0, even next to
 * options that would be errors. */
TEST(version_everywhere)
{
    const char *cmds[] = {"--version",
                          "version",
                          "train --version",
                          "eval --version",
                          "quantize --version",
                          "convert --version",
                          "run --version",
                          "predict --version",
                          "bench --version",
                          "info --version",
                          "sensitivity --version",
                          "search --version",
                          "eval-candidate --version",
                          "export --version",
                          "train --epochs banana --version"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        CHECK_EQ_INT(frost(cmds[i]), 0);
        if (strcmp(out, "frost " FROST_VERSION_STRING "\n") != 0) {
            fprintf(stderr, "  frost %s -> '%s'\n", cmds[i], out);
            frost_test_failed_checks++;
        }
    }
    CHECK_EQ_INT(frost("train --lr x --help"), 0); /* help wins over a bad value too */
    CHECK(strstr(out, "usage: frost train") != NULL);
}

/* One bad value is one error line naming the option; it never makes later options unknown. */
TEST(bad_values_and_unknown_options)
{
    const char *opt[] = {"--opt", "sgd, rmsprop, adam or adamw", NULL};
    expect_usage_errors("train --opt nosuch --epochs 2 --batch 8 --quiet", 1, opt, NULL);
    const char *epochs[] = {"--epochs must be an integer in 1..100000 (got 'abc')", NULL};
    expect_usage_errors("train --epochs abc --opt adam --wd 0 --quiet", 1, epochs, NULL);
    const char *two[] = {"--lr", "--sched must be cosine, step or constant", NULL};
    expect_usage_errors("train --lr banana --sched sometimes --epochs 2 --quiet", 2, two, NULL);
    const char *thr[] = {"--threads", NULL};
    expect_usage_errors("convert x.safetensors --threads 0 --compare", 1, thr, NULL);
    /* values checked against the machine and zero never silently meaning "default" */
    const char *many[] = {"--threads 1000 is more than 4 x this machine's", NULL};
    expect_usage_errors("train --threads 1000 --epochs 1", 1, many, NULL);
    const char *zeros[] = {"--input must be an integer in 1..",
                           "--classes must be an integer in 2..",
                           "--head must be an integer in 1..", "--threads must be", NULL};
    expect_usage_errors("train --input 0 --classes 0 --head 0 --threads 0", 4, zeros, NULL);
    const char *div[] = {"--divergence 0.5: 0 (off) or a factor above 1", NULL};
    expect_usage_errors("train --divergence 0.5 --epochs 1", 1, div, NULL); /* before the data */
    /* output paths checked before any work */
    const char *dir_out[] = {"--out", "is a folder; give a file name", NULL};
    char args[512];
    snprintf(args, sizeof args, "train --epochs 1 -o %s", dir);
    expect_usage_errors(args, 1, dir_out, NULL);
    write_file("plain", "x", 1);
    const char *under_file[] = {"plain is not a folder", NULL};
    snprintf(args, sizeof args, "train --epochs 1 -o %s/plain/sub/m.safetensors", dir);
    expect_usage_errors(args, 1, under_file, NULL);
    const char *not_dir[] = {"exists and is not a folder", NULL};
    snprintf(args, sizeof args, "cell-search --epochs 1 -o %s/plain", dir);
    expect_usage_errors(args, 1, not_dir, NULL);
    /* the memory cap: refused before loading, with the numbers; a bad size is a usage error */
    setenv("FROST_MEMORY_LIMIT", "1M", 1);
    expect_error("train --epochs 1 --limit 10", "more than the memory limit of 1.0 MB");
    CHECK(strstr(out, "needs 47.0 MB") != NULL); /* the Fashion-MNIST training images */
    setenv("FROST_MEMORY_LIMIT", "lots", 1);
    const char *bad_limit[] = {"FROST_MEMORY_LIMIT must be a size such as 512M", NULL};
    expect_usage_errors("info frostnet_s", 1, bad_limit, NULL);
    unsetenv("FROST_MEMORY_LIMIT");
    const char *obs[] = {"--observer must be minmax, ema, hist, percentile or entropy", NULL};
    expect_usage_errors("quantize x.safetensors --observer kl --calib 64 --w-bits 4", 1, obs, NULL);
    const char *ctrl[] = {"--controller", NULL};
    expect_usage_errors("search --controller lstm --target-ms 1 --budget 3 -o /tmp/x --seed 2", 1,
                        ctrl, NULL);
    const char *bits[] = {"--w-bits must be an integer in 2..8", "--a-bits", NULL};
    expect_usage_errors("eval-candidate --random 1 --w-bits 9 --a-bits 1 --per-tensor", 2, bits,
                        NULL);
    expect_usage_errors("search --target-ms 1 --budget 3 -o /tmp/x --w-bits 1 --a-bits 9", 2, bits,
                        NULL);
    const char *split[] = {"--split must be test or train", NULL};
    expect_usage_errors("run m.int8 --split val --limit 3 --threads 1", 1, split, NULL);
    /* a missing value; a flag given a value */
    const char *missing[] = {"--out needs a value", NULL};
    expect_usage_errors("convert q.safetensors --limit 3 --out", 1, missing, NULL);
    expect_usage_errors("convert q.safetensors --out --compare", 1, missing, NULL);
    const char *flag[] = {"--compare is a flag", NULL};
    expect_usage_errors("convert q.safetensors --compare=yes --limit 3", 1, flag, NULL);
    /* unknown options: exit 2, one line each, a suggestion when one is close */
    expect_usage_errors("train --epoch 3 --quiet", 1, NULL,
                        "unknown option '--epoch'; did you mean --epochs?");
    expect_usage_errors("eval c.safetensors --frobnicate 3 --batch 8", 1, NULL, "'--frobnicate'");
    expect_usage_errors("bench m.int8 -x", 1, NULL, "'-x'");
    const char *extra[] = {"unexpected argument 'b.safetensors'", NULL};
    expect_usage_errors("eval a.safetensors b.safetensors", 1, extra, NULL);
    /* `--` ends the options: "--x" is then a file name (a runtime error, exit 1) */
    CHECK_EQ_INT(frost("run -- --x.int8"), 1);
    CHECK(strstr(out, "--x.int8") && !strstr(out, "unknown option"));
}

TEST(nonsense_values)
{
    expect_error("train --epochs -3", "--epochs");
    expect_error("train --batch 0", "--batch");
    expect_error("train --lr banana", "--lr");
    expect_error("train --opt sgdd", "--opt");
    expect_error("train --epochs 1 --frobnicate 3", "--frobnicate");
    expect_error("info frostnet_s --width -1", "--width");
    expect_error("info nosuchnet", "nosuchnet");
    expect_error("eval", "checkpoint");
    expect_error("train --epochs 1 --gradboost --gradboost-mode sometimes", "--gradboost-mode");
    expect_error("train --epochs 1 --statassist --fp-epochs 0", "--fp-epochs");
    expect_error("eval-candidate r28.m360n", "fewer than 7 stages");
    expect_error("eval-candidate r28.m360n.m360n.m360n.m360n.m360n.m360n.x360n", "stage 7");
    expect_error("eval-candidate r27.m360n.m360n.m360n.m360n.m360n.m360n.m360n", "resolution 27");
    expect_error("eval-candidate", "give one genotype");
    expect_error("eval-candidate --random 1 --train 60000 --val 1000", "exceed");
    expect_error("eval-candidate --random 1 --epochs 2 --fp-epochs 2", "--fp-epochs (2)");
    expect_error("search --budget 3 --out /tmp/x", "--target-ms T is required");
    expect_error("search --target-ms 1 --out /tmp/x", "--budget N is required");
    expect_error("search --target-ms 1 --budget 3", "--out DIR is required");
    expect_error("search --target-ms 1 --budget 3 --out /tmp/x --controller lstm", "--controller");
    expect_error("search --target-ms 1 --budget 3 --out /tmp/x --ppo-batch 1", "--ppo-batch");
    expect_error("search --target-ms 1 --budget 9 --out /tmp/x --halving 1", "--halving");
    expect_error("search --target-ms 1 --budget 3 --out /tmp/x --reward medium", "--reward");
    expect_error("search --target-ms 1 --budget 3 --out /tmp/x --objective mean",
                 "--objective must be int8 or min");
}

TEST(missing_and_corrupt_files)
{
    char args[1024];
    expect_error("train --train-images /nonexistent/imgs.gz --epochs 1", "/nonexistent/imgs.gz");
    /* An IDX file with the wrong magic. */
    unsigned char bad[16] = {0x00, 0x00, 0x09, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2};
    write_file("bad-idx", bad, sizeof bad);
    snprintf(args, sizeof args, "train --train-images %s/bad-idx --epochs 1", dir);
    expect_error(args, "bad-idx");
    /* A truncated IDX file (header promises 2x2 pixels of 1 image, holds 1 byte). */
    unsigned char trunc[17] = {0x00, 0x00, 0x08, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 7};
    write_file("trunc-idx", trunc, sizeof trunc);
    snprintf(args, sizeof args, "train --train-images %s/trunc-idx --epochs 1", dir);
    expect_error(args, "trunc-idx");
    /* An architecture with an unknown layer type and one with impossible shapes. */
    const char *unk = "{\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
                      "{\"name\":\"x1\",\"op\":\"teleport\"}]}";
    write_file("unknown.json", unk, strlen(unk));
    snprintf(args, sizeof args, "info --arch %s/unknown.json", dir);
    expect_error(args, "teleport");
    const char *imp = "{\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["
                      "{\"name\":\"huge\",\"op\":\"conv\",\"out\":8,\"k\":31,\"pad\":0}]}";
    write_file("impossible.json", imp, strlen(imp));
    snprintf(args, sizeof args, "info --arch %s/impossible.json", dir);
    expect_error(args, "huge");
    /* info given a folder, another file, or an architecture without --arch */
    snprintf(args, sizeof args, "info %s", dir);
    expect_error(args, "is a folder; info takes a built-in model name, a checkpoint");
    snprintf(args, sizeof args, "info %s/bad-idx", dir);
    expect_error(args, "is not a model file frost recognises");
    snprintf(args, sizeof args, "info %s/impossible.json", dir);
    expect_error(args, "huge");
    /* A corrupt checkpoint. */
    write_file("corrupt.safetensors", "\x10\0\0\0\0\0\0\0{\"a\":", 13);
    snprintf(args, sizeof args, "eval %s/corrupt.safetensors", dir);
    expect_error(args, "corrupt.safetensors");
}

TEST(train_eval_info_end_to_end)
{
    char args[2048];
    write_file("tiny.json", frost_test_tiny_arch, strlen(frost_test_tiny_arch));
    snprintf(args, sizeof args,
             "train --arch %s/tiny.json --epochs 2 --limit 2000 --val 500 --batch 50 --lr 0.3 "
             "--warmup 0 "
             "--out %s/t.safetensors --quiet --threads 2",
             dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "test accuracy") != NULL);
    snprintf(args, sizeof args, "eval %s/t.safetensors", dir);
    CHECK_EQ_INT(frost(args), 0);
    const char *acc = strstr(out, "accuracy ");
    CHECK(acc && atof(acc + 9) > 30.0); /* 80 steps of a tiny model: far above chance (10%) */
    snprintf(args, sizeof args, "info %s/t.safetensors", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "total: 2682 params") != NULL); /* 144 + 32 + 2304 + 32 + 170 */
    char want[FROST_CPU_TEXT_MAX + 16];
    snprintf(want, sizeof want, "written on: %s\n", cpu_text(false));
    CHECK(strstr(out, want) != NULL); /* the "frost.cpu" the trainer's checkpoint records */
    /* files from before "frost.cpu": loaded as before, no line */
    CHECK_EQ_INT(frost("info tests/fixtures/compat/float.safetensors"), 0);
    CHECK(strstr(out, "total:") != NULL && strstr(out, "written on:") == NULL);
    /* Resume with another architecture: refused, checkpoint untouched. */
    snprintf(args, sizeof args,
             "train --model resnet --width 0.25 --epochs 2 --limit 2000 --val 500 --batch 50 "
             "--out %s/t.safetensors --resume --quiet",
             dir);
    CHECK(frost(args) != 0);
    CHECK(strstr(out, "t.safetensors") != NULL);
    snprintf(args, sizeof args, "eval %s/t.safetensors", dir);
    CHECK_EQ_INT(frost(args), 0);
    /* No temporary files left behind. */
    snprintf(args, sizeof args, "ls %s | grep -c tmp > %s/count.txt", dir, dir);
    CHECK(system(args) != -1);
    snprintf(args, sizeof args, "%s/count.txt", dir);
    FILE *f = fopen(args, "r");
    int count = -1;
    CHECK(f && fscanf(f, "%d", &count) == 1);
    if (f)
        fclose(f);
    CHECK_EQ_INT(count, 0);
}

/* PTQ, QAT fine-tuning and sensitivity on the checkpoint of the previous test. */
/* The row of layer `name` in frost info's quantized-layers table `table`, its columns after
 * the name joined by single spaces, is `want`. */
static void check_qlayer_row(const char *table, const char *name, const char *want)
{
    char key[64], cols[5][32], got[200] = "";
    snprintf(key, sizeof key, "\n%s ", name);
    const char *row = strstr(table, key);
    if (row && sscanf(row, " %*s %31s %31s %31s %31s %31s", cols[0], cols[1], cols[2], cols[3],
                      cols[4]) == 5)
        snprintf(got, sizeof got, "%s %s %s %s %s", cols[0], cols[1], cols[2], cols[3], cols[4]);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  frost info: layer %s is '%s', want '%s'\n", name, got, want);
        frost_test_failed_checks++;
    }
}

TEST(quantize_qat_sensitivity_end_to_end)
{
    char args[2048];
    snprintf(args, sizeof args,
             "quantize %s/t.safetensors --calib 256 --observer minmax --out %s/q.safetensors "
             "--threads 2",
             dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    const char *fp = strstr(out, "FP32         test accuracy"),
               *fq = strstr(out, "fake-quant   test accuracy");
    CHECK(fp && fq);
    double acc_fp = fp ? atof(fp + 27) : 0, acc_q = fq ? atof(fq + 27) : 0;
    CHECK(acc_fp > 30.0 && acc_q > acc_fp - 3.0); /* W8A8 per-channel barely moves a tiny net */
    /* the file says how it was calibrated */
    char qpath[600];
    snprintf(qpath, sizeof qpath, "%s/q.safetensors", dir);
    frost_st_file *qf = NULL;
    CHECK_EQ_INT(frost_st_read(qpath, &qf), FROST_OK);
    const char *calib = qf ? frost_st_meta_get(qf, "frost.calibration") : NULL;
    CHECK(calib && strcmp(calib, "{\"split\": \"train\", \"images\": 256, \"seed\": 1}") == 0);
    frost_st_close(qf);
    snprintf(args, sizeof args, "eval %s/q.safetensors", dir); /* the saved fake-quant model */
    CHECK_EQ_INT(frost(args), 0);
    const char *acc = strstr(out, "accuracy ");
    CHECK(acc && fabs(atof(acc + 9) - acc_q) < 0.006);
    snprintf(args, sizeof args, "quantize %s/q.safetensors", dir);
    expect_error(args, "already quantized");
    snprintf(args, sizeof args, "quantize %s/t.safetensors --w-bits 9", dir);
    expect_error(args, "--w-bits");
    snprintf(args, sizeof args, "quantize %s/t.safetensors --observer kl", dir);
    expect_error(args, "--observer");
    /* binary/ternary schemes (docs/lowbit.md): PTQ with TWN weights records the scheme (c2
     * only: the first and last layer stay 8-bit), converts (ternary codes as int8 weights)
     * and benches, and a binarized input straight after a ReLU is refused */
    snprintf(args, sizeof args,
             "quantize %s/t.safetensors --calib 64 --w-scheme twn --out %s/tw.safetensors "
             "--threads 2",
             dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    char twpath[600];
    snprintf(twpath, sizeof twpath, "%s/tw.safetensors", dir);
    frost_st_file *tf = NULL;
    CHECK_EQ_INT(frost_st_read(twpath, &tf), FROST_OK);
    const char *tq = tf ? frost_st_meta_get(tf, "frost.quant") : NULL;
    CHECK(tq && strstr(tq, "\"scheme\":\"twn\""));
    frost_st_close(tf);
    /* info: each quantized layer's weight bits and scheme, input scheme, output bits */
    snprintf(args, sizeof args, "info %s/tw.safetensors", dir);
    CHECK_EQ_INT(frost(args), 0);
    const char *ql = strstr(out, "quantized layers");
    CHECK(ql != NULL);
    check_qlayer_row(ql, "c1", "8 affine affine 8 -");
    check_qlayer_row(ql, "c2", "2 twn affine 8 -");
    check_qlayer_row(ql, "fc", "8 affine affine - -"); /* the float logits */
    snprintf(args, sizeof args, "convert %s/tw.safetensors --compare --limit 500", dir);
    CHECK_EQ_INT(frost(args), 0); /* ternary weights run in the int8 engine */
    const char *twfq = strstr(out, "fake-quant "), *twi8 = strstr(out, "int8 ");
    CHECK(twfq && twi8 && fabs(atof(twfq + 11) - atof(twi8 + 5)) <= 0.5);
    snprintf(args, sizeof args, "bench %s/tw.int8 --reps 2", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "INT8 (fixed-point requant) total:") != NULL);
    snprintf(args, sizeof args, "info %s/tw.int8 --memory", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "peak activations") != NULL);
    /* packed weights at their packed size: a2 (c2, BN and ReLU) has 16 x 144 ternary
     * weights, 36 bytes a channel: 576 + 16 x (int32 bias, multiplier, shift) = 768 */
    const char *a2row = strstr(out, "\na2 ");
    long a2bytes = -1;
    CHECK(a2row && sscanf(a2row, " a2 %*s %*s %ld", &a2bytes) == 1);
    CHECK_EQ_INT(a2bytes, 768);
    snprintf(args, sizeof args, "quantize %s/t.safetensors --calib 64 --a-scheme sign", dir);
    expect_error(args, "comes from the ReLU 'a1'");
    snprintf(args, sizeof args, "quantize %s/t.safetensors --w-scheme ternary", dir);
    expect_error(args, "--w-scheme");
    const char *bad = "{\"layers\": {\"c9\": {\"weights\": {\"bits\": 4}}}}";
    write_file("bad-q.json", bad, strlen(bad));
    snprintf(args, sizeof args, "quantize %s/t.safetensors --calib 64 --qconfig %s/bad-q.json", dir,
             dir);
    expect_error(args, "'c9' does not exist");
    const char *w4 =
        "{\"weights\": {\"bits\": 4}, \"layers\": {\"c1\": {\"weights\": {\"bits\": 8}}}}";
    write_file("w4.json", w4, strlen(w4));
    snprintf(
        args, sizeof args,
        "train --from %s/t.safetensors --qat --qconfig %s/w4.json --epochs 1 --limit 1000 --val 0 "
        "--batch 50 --lr 0.02 --warmup 0 --out %s/qat.safetensors --quiet --threads 2",
        dir, dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    snprintf(args, sizeof args, "eval %s/qat.safetensors", dir);
    CHECK_EQ_INT(frost(args), 0);
    acc = strstr(out, "accuracy ");
    CHECK(acc && atof(acc + 9) > 30.0);
    /* --from never overwrites its checkpoint: the default --out sits next to it */
    snprintf(
        args, sizeof args,
        "train --from %s/t.safetensors --qat --epochs 1 --limit 200 --val 0 --batch 50 --quiet",
        dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "t.qat.safetensors") != NULL);
    snprintf(args, sizeof args,
             "train --from %s/t.safetensors --qat --epochs 1 --out %s/t.safetensors", dir, dir);
    expect_error(args, "would overwrite");
    /* resuming with another quantization config is refused */
    snprintf(
        args, sizeof args,
        "train --from %s/t.safetensors --qat --w-bits 4 --epochs 1 --limit 200 --val 0 --batch 50 "
        "--out %s/t.qat.safetensors --resume --quiet",
        dir, dir);
    CHECK(frost(args) != 0 && strstr(out, "another quantization config"));
    expect_error("train --epochs 1 --freeze-bn 1", "need --qat");
    expect_error("train --epochs 1 --statassist", "need --qat");
    snprintf(args, sizeof args,
             "sensitivity %s/t.safetensors --calib 128 --test-limit 500 --threads 2", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "c1 ") && strstr(out, "fc ") && strstr(out, "every layer quantized"));
}

/* convert -> run -> bench -> info --memory on the quantized checkpoint of the test above,
 * and the int8 commands on bad input. */
TEST(int8_end_to_end)
{
    char args[2048];
    snprintf(args, sizeof args, "convert %s/q.safetensors --compare --limit 2000", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "q.int8") != NULL); /* the default output sits next to the input */
    const char *fq = strstr(out, "fake-quant "), *i8 = strstr(out, "int8 ");
    CHECK(fq && i8 && fabs(atof(fq + 11) - atof(i8 + 5)) <= 0.5);
    double acc_i8 = i8 ? atof(i8 + 5) : -1.0; /* `out` is overwritten by the next command */
    snprintf(args, sizeof args, "run %s/q.int8 --limit 2000", dir);
    CHECK_EQ_INT(frost(args), 0);
    const char *acc = strstr(out, "int8 accuracy ");
    CHECK(acc && fabs(atof(acc + 14) - acc_i8) < 0.006); /* the same model */
    char cpu[FROST_CPU_TEXT_MAX + 16];
    snprintf(cpu, sizeof cpu, "CPU: %s\n", cpu_text(false));
    CHECK(strstr(out, cpu) == out); /* the first line says what made the numbers */
    snprintf(args, sizeof args, "run %s/q.int8 --limit 500 --reference", dir);
    CHECK_EQ_INT(frost(args), 0);
    snprintf(cpu, sizeof cpu, "CPU: %s\n", cpu_text(true));
    CHECK(strstr(out, cpu) == out && strstr(out, "kernels: int8 reference, fp32 "));
    snprintf(args, sizeof args, "bench %s/q.int8 --reps 5", dir);
    CHECK_EQ_INT(frost(args), 0);
    snprintf(cpu, sizeof cpu, "CPU: %s\n", cpu_text(false));
    CHECK(strstr(out, cpu) == out);
    CHECK(strstr(out, "a1") && strstr(out, "INT8 (fixed-point requant) total:")); /* c1 + a1 */
    /* float requantization: saved in the file, same accuracy to a few images */
    snprintf(args, sizeof args, "convert %s/q.safetensors --out %s/qf.int8 --requant float", dir,
             dir);
    CHECK_EQ_INT(frost(args), 0);
    snprintf(args, sizeof args, "run %s/qf.int8 --limit 2000", dir);
    CHECK_EQ_INT(frost(args), 0);
    const char *accf = strstr(out, "int8 accuracy ");
    CHECK(accf && fabs(atof(accf + 14) - acc_i8) <= 0.15);
    snprintf(args, sizeof args, "bench %s/qf.int8 --reps 3", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "INT8 (float requant) total:") != NULL);
    snprintf(args, sizeof args, "bench %s/qf.int8 --reps 3 --requant fixed", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "INT8 (fixed-point requant) total:") != NULL);
    snprintf(args, sizeof args, "bench %s/qf.int8 --requant half", dir);
    expect_error(args, "--requant must be fixed or float");
    snprintf(args, sizeof args, "bench %s/t.safetensors --reps 5", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "FP32 (BN folded) total:") != NULL);
    snprintf(args, sizeof args, "info %s/q.int8", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "peak activations (arena)") != NULL);
    /* bad input */
    snprintf(args, sizeof args, "convert %s/t.safetensors --out %s/x.int8", dir, dir);
    expect_error(args, "FP32 checkpoint");
    snprintf(args, sizeof args, "run %s/t.safetensors", dir);
    expect_error(args, "frost.int8");
    snprintf(args, sizeof args, "bench %s/q.safetensors", dir);
    expect_error(args, "fake-quant checkpoint");
    write_file("trunc.int8", "\x40\0\0\0\0\0\0\0{", 9);
    snprintf(args, sizeof args, "run %s/trunc.int8", dir);
    expect_error(args, "trunc.int8");
    expect_error("bench /nonexistent/m.int8", "/nonexistent/m.int8");
    expect_error("info --memory", "--memory");
}

/* A tiny IDX data set (random 28x28 images, labels 0..9) in DIR/small with the MNIST file
 * names `--data DIR` reads: these tests are about options, not accuracy, and must be fast. */
static void write_small_dataset(int n_train, int n_test)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/small", dir);
    CHECK(system(cmd) == 0);
    const char *names[2][2] = {{"small/train-images-idx3-ubyte", "small/train-labels-idx1-ubyte"},
                               {"small/t10k-images-idx3-ubyte", "small/t10k-labels-idx1-ubyte"}};
    int counts[2] = {n_train, n_test};
    unsigned state = 12345;
    for (int k = 0; k < 2; k++) {
        int n = counts[k];
        size_t size = 16 + (size_t)n * 28 * 28;
        unsigned char *img = calloc(size, 1), *lab = calloc(8 + (size_t)n, 1);
        unsigned char ih[16] = {0, 0,  8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)n, 0, 0,
                                0, 28, 0, 0, 0, 28};
        unsigned char lh[8] = {0, 0, 8, 1, 0, 0, (unsigned char)(n >> 8), (unsigned char)n};
        memcpy(img, ih, sizeof ih);
        memcpy(lab, lh, sizeof lh);
        for (size_t i = 16; i < size; i++)
            img[i] = (unsigned char)((state = state * 1103515245u + 12345u) >> 24);
        for (int i = 0; i < n; i++)
            lab[8 + i] = (unsigned char)(i % 10);
        write_file(names[k][0], img, size);
        write_file(names[k][1], lab, 8 + (size_t)n);
        free(img);
        free(lab);
    }
}

/* Repeated options (the last wins, none reported unknown), --name=value, and -o FILE on the
 * commands that write one file. */
TEST(repeats_and_short_out)
{
    char args[2048];
    write_small_dataset(200, 100);
    write_file("tiny.json", frost_test_tiny_arch, strlen(frost_test_tiny_arch));
    snprintf(
        args, sizeof args,
        "train --arch %s/tiny.json --data %s/small --epochs 4 --epochs=1 --val 0 --batch 50 "
        "--warmup 0 --quiet --quiet --threads 2 --out %s/ignored.safetensors -o %s/r.safetensors",
        dir, dir, dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "(1 epochs in") != NULL); /* the last --epochs */
    CHECK(strstr(out, "unknown") == NULL);
    CHECK(file_exists("r.safetensors") && file_exists("r.safetensors.csv"));
    CHECK(!file_exists("ignored.safetensors"));
    snprintf(args, sizeof args,
             "quantize %s/r.safetensors --data %s/small --calib 64 --calib 128 --observer hist "
             "--observer minmax -o %s/rq.safetensors --threads 2",
             dir, dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "calibrating on 128 training images") != NULL);
    CHECK(strstr(out, "\"observer\": \"minmax\"") || strstr(out, "\"observer\":\"minmax\""));
    CHECK(file_exists("rq.safetensors"));
    /* the entropy (KL) observer calibrates the same small model */
    snprintf(args, sizeof args,
             "quantize %s/r.safetensors --data %s/small --calib 64 --observer entropy "
             "-o %s/re.safetensors --threads 2",
             dir, dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "\"observer\": \"entropy\"") || strstr(out, "\"observer\":\"entropy\""));
    CHECK(strstr(out, "fake-quant   test accuracy") != NULL);
    CHECK(file_exists("re.safetensors"));
    snprintf(args, sizeof args, "convert %s/rq.safetensors -o%s/rq-short.int8", dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "rq-short.int8") && file_exists("rq-short.int8"));
    snprintf(args, sizeof args,
             "convert %s/rq.safetensors --requant float --requant fixed -o %s/rq.i8", dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(file_exists("rq.i8") && !file_exists("rq.int8"));
    snprintf(args, sizeof args, "bench %s/rq.i8 --reps 2 --reps 3", dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "INT8 (fixed-point requant) total:") && strstr(out, "median of 3 runs"));
}

/* frost export --c DIR: the C files and the sizes (the generated code itself is checked in
 * test_int8_codegen); float-requantized models are refused there. --onnx FILE: the one-line
 * summary, both requantizations export (the file itself: test_int8_onnx_export), the note
 * on rounded biases, and its option mistakes. An FP32 checkpoint exports as FP32 ONNX (the
 * file: test_onnx_export), which imports back with its preprocessing; --c, --onnx-weights
 * and fake-quant checkpoints are refused. */
/* A copy of a compatibility fixture (written before files carried a content hash) as frost
 * writes files today, so commands on it print no "no content hash" note. */
static const char *hashed_copy(const char *fixture, const char *name)
{
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    frost_st_file *f = NULL;
    CHECK_EQ_INT(frost_st_read(fixture, &f), FROST_OK);
    frost_st_tensor t[256];
    frost_st_meta meta[16];
    int n = frost_st_count(f), n_meta = 0;
    CHECK(n <= 256);
    for (int i = 0; i < n && i < 256; i++)
        t[i] = *frost_st_get(f, i);
    static const char *const keys[] = {"format",      "frost.version", "frost.arch",  "frost.quant",
                                       "frost.int8",  "frost.kmeans",  "optim.steps", "optim.gb_k",
                                       "train.epoch", "train.config"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        if (frost_st_meta_get(f, keys[k]))
            meta[n_meta++] = (frost_st_meta){keys[k], frost_st_meta_get(f, keys[k])};
    CHECK_EQ_INT(frost_st_write(path, t, n < 256 ? n : 256, meta, n_meta), FROST_OK);
    frost_st_close(f);
    return path;
}

TEST(export_c_and_onnx)
{
    char args[600];
    const char *fixed = hashed_copy("tests/fixtures/compat/qat_fixed.int8", "qat_fixed.int8");
    const char *flt = hashed_copy("tests/fixtures/compat/qat_float.int8", "qat_float.int8");
    snprintf(args, sizeof args, "export %s --c %s/mcu --name tiny", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "flash: 5440 bytes of const data") != NULL);
    CHECK(strstr(out, "RAM:   7872 bytes peak: the static arena 7872 + scratch 0") != NULL);
    CHECK(file_exists("mcu/tiny.c") && file_exists("mcu/tiny.h"));
    /* --images: the quantized test images and the runtime's float logits for them (their
     * values are checked against the library in test_mcu_qemu) */
    snprintf(args, sizeof args, "export %s --c %s/mcu --name tiny --images 3", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "tiny_images.u8 (3)") != NULL);
    CHECK_EQ_INT(file_size("mcu/tiny_images.u8"), 3 * 28 * 28);
    CHECK_EQ_INT(file_size("mcu/tiny_expected.bin"), 3 * 10 * sizeof(float));
    snprintf(args, sizeof args, "export %s --c %s/mcu --images 10001", fixed, dir);
    expect_error(args, "--images 10001: the test split has 10000 images");
    const char *no_target[] = {"--c DIR or --onnx FILE", NULL};
    snprintf(args, sizeof args, "export %s", fixed);
    expect_usage_errors(args, 1, no_target, NULL);
    snprintf(args, sizeof args, "export %s --c %s/f", flt, dir);
    expect_error(args, "float requantization");
    CHECK(!file_exists("f/model.c"));

    snprintf(args, sizeof args, "export %s --onnx %s/m.onnx", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "m.onnx: ONNX QDQ (opset 13, int8 weights), 15 int8 layers, input "
                      "float32 [N, 1, 28, 28] NCHW, output float32 [N, 10]") != NULL);
    CHECK(file_exists("m.onnx"));
    CHECK(strstr(out,
                 "note: 5 conv/linear/classifier layers keep biases off ONNX's int32 bias grid") &&
          strstr(out, "frost convert --bias-grid onnx"));
    /* `frost run` of the exported file: the same model, so the same accuracy on real test
     * images (the file carries the training normalization its input quantization is for;
     * without it the run normalized as x = pixel / 255 and was at chance) */
    snprintf(args, sizeof args, "run %s --limit 2000", fixed);
    CHECK_EQ_INT(frost(args), 0);
    const char *acc = strstr(out, "int8 accuracy ");
    double acc_int8 = acc ? atof(acc + 14) : -1.0;
    CHECK(acc_int8 > 50.0); /* a trained model: chance is 10% */
    snprintf(args, sizeof args, "run %s/m.onnx --limit 2000", dir);
    CHECK_EQ_INT(frost(args), 0);
    acc = strstr(out, "int8 accuracy ");
    CHECK(acc && atof(acc + 14) == acc_int8);
    /* frost import of it says so too, and the .int8 it writes keeps it */
    snprintf(args, sizeof args, "import %s/m.onnx -o %s/m_back.int8", dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "preprocessing: x = (pixel/255 - 0.286) / 0.353") != NULL);
    snprintf(args, sizeof args, "run %s/m_back.int8 --limit 2000", dir);
    CHECK_EQ_INT(frost(args), 0);
    acc = strstr(out, "int8 accuracy ");
    CHECK(acc && atof(acc + 14) == acc_int8);
    /* the output as -o: --onnx -o FILE and -o FILE.onnx write the same file; --c -o DIR */
    snprintf(args, sizeof args, "export %s --onnx -o %s/m_o.onnx", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(same_files("m.onnx", "m_o.onnx"));
    snprintf(args, sizeof args, "export %s -o %s/m_oo.onnx --onnx", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(same_files("m.onnx", "m_oo.onnx"));
    snprintf(args, sizeof args, "export %s --out %s/m_out.onnx", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(same_files("m.onnx", "m_out.onnx"));
    snprintf(args, sizeof args, "export %s --c -o %s/mcu_o --name tiny", fixed, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(same_files("mcu/tiny.c", "mcu_o/tiny.c") && same_files("mcu/tiny.h", "mcu_o/tiny.h"));
    const char *no_file[] = {"--onnx needs its FILE: --onnx FILE or --onnx -o FILE", NULL};
    snprintf(args, sizeof args, "export %s --onnx", fixed);
    expect_usage_errors(args, 1, no_file, NULL);
    const char *twice[] = {"--onnx took 'x.onnx' as its FILE and -o gives", NULL};
    snprintf(args, sizeof args, "export %s --onnx x.onnx -o %s/y.onnx", fixed, dir);
    expect_usage_errors(args, 1, twice, NULL);
    const char *what[] = {"say what to write there: --onnx -o FILE (ONNX) or --c -o DIR", NULL};
    snprintf(args, sizeof args, "export %s -o %s/out", fixed, dir);
    expect_usage_errors(args, 1, what, NULL);
    CHECK(!file_exists("x.onnx") && !file_exists("y.onnx") && !file_exists("out"));
    snprintf(args, sizeof args, "export %s --onnx %s/f.onnx --onnx-weights uint8", flt, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "(opset 13, uint8 weights)") && file_exists("f.onnx"));
    const char *both[] = {"without --c", NULL};
    snprintf(args, sizeof args, "export %s --onnx %s/m.onnx --c %s/mcu", fixed, dir, dir);
    expect_usage_errors(args, 1, both, NULL);
    const char *alone[] = {"--onnx-weights goes with --onnx", NULL};
    snprintf(args, sizeof args, "export %s --c %s/mcu --onnx-weights uint8", fixed, dir);
    expect_usage_errors(args, 1, alone, NULL);
    snprintf(args, sizeof args, "export %s --onnx /nonexistent-dir/m.onnx", fixed);
    expect_error(args, "/nonexistent-dir/m.onnx");

    const char *fp32 = hashed_copy("tests/fixtures/compat/float.safetensors", "float.safetensors");
    snprintf(args, sizeof args, "export %s --onnx %s/fp.onnx", fp32, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "fp.onnx: FP32 ONNX (opset 13), 21 layers, input float32 [N, 1, 28, 28] "
                      "NCHW, output float32 [N, 10]") != NULL);
    CHECK(strstr(out, "note:") == NULL);
    snprintf(args, sizeof args, "import %s/fp.onnx -o %s/fp_back.safetensors", dir, dir);
    CHECK_EQ_INT(frost(args), 0);
    CHECK(strstr(out, "preprocessing: x = (pixel/255 - 0.286) / 0.353") != NULL);
    const char *fp32_weights[] = {"--onnx-weights is for int8 models", NULL};
    snprintf(args, sizeof args, "export %s --onnx %s/fp.onnx --onnx-weights uint8", fp32, dir);
    expect_usage_errors(args, 1, fp32_weights, NULL);
    snprintf(args, sizeof args, "export %s --c %s/fpc", fp32, dir);
    expect_error(args, "--c needs an int8 model (.int8)");
    snprintf(args, sizeof args, "export %s --onnx %s/fq.onnx",
             hashed_copy("tests/fixtures/compat/qat.safetensors", "qat.safetensors"), dir);
    expect_error(args, "is a fake-quant model: convert it (frost convert) and export the .int8");
    CHECK(!file_exists("fq.onnx"));
}

/* eval-candidate --arch-out: the genotype's network as architecture JSON, untrained, with the
 * MACs and parameters the search logged for it (bench/results/nas-runs/cache.csv). */
TEST(eval_candidate_writes_arch)
{
    char args[512];
    snprintf(args, sizeof args,
             "eval-candidate r20.m36+w.g36+n.m51-n.f56-w.m31-n.m51-n.m510w --arch-out %s/nas.json",
             dir);
    CHECK(frost(args) == 0);
    snprintf(args, sizeof args, "info --arch %s/nas.json", dir);
    CHECK(frost(args) == 0);
    CHECK(strstr(out, "total: 177090 params (0.177M), 6244416 MACs") != NULL);
    snprintf(args, sizeof args, "eval-candidate r20.m36 --arch-out %s/bad.json", dir);
    CHECK(frost(args) == 1 && !file_exists("bad.json"));
}

/* eval-candidate --blocks DIR: 'c' genotypes need the cells (refused without, naming the
 * option; a missing cell file is named); with them the network has the cell blocks. */
TEST(eval_candidate_with_blocks)
{
    char args[600], cells[300];
    snprintf(cells, sizeof cells, "%s/cells", dir);
    CHECK(mkdir(cells, 0777) == 0);
    FILE *f = fopen(frost_test_path(cells, "cell.json"), "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"normal\": {\"nodes\": 2, \"edges\": [[0, 0, \"sep_conv_3\"], [1, 0, \"skip\"], "
          "[1, 1, \"max_pool_3\"]]}, \"reduce\": {\"nodes\": 2, \"edges\": [[0, 0, "
          "\"mbconv_3\"], [1, 0, \"skip\"], [1, 1, \"mbconv_3\"]]}}\n",
          f);
    fclose(f);
    const char *g = "r28.c310n.m360n.c31+n.m360n.m360n.m360n.m310n";
    snprintf(args, sizeof args, "eval-candidate %s --arch-out %s/c.json", g, dir);
    expect_error(args, "block 'c' needs --blocks DIR");
    snprintf(args, sizeof args, "eval-candidate %s --blocks %s/nothere --arch-out %s/c.json", g,
             dir, dir);
    expect_error(args, "nothere/cell.json");
    snprintf(args, sizeof args, "eval-candidate %s --blocks %s --arch-out %s/c.json", g, cells,
             dir);
    CHECK(frost(args) == 0);
    snprintf(args, sizeof args, "info --arch %s/c.json", dir);
    CHECK(frost(args) == 0);
    CHECK(strstr(out, "s3.b1.n1.0.reduce.conv") != NULL && strstr(out, "s1.b1.out") != NULL);
    snprintf(args, sizeof args, "eval-candidate --model frostnet_s --blocks %s", cells);
    expect_error(args, "--blocks");

    /* frost cell-search: a given cell pair as a network; bad arguments refused */
    snprintf(args, sizeof args, "cell-search -o %s/cs --from %s/cell.json --final-cells 3", dir,
             cells);
    CHECK(frost(args) == 0);
    snprintf(args, sizeof args, "info --arch %s/cs/network.arch.json", dir);
    CHECK(frost(args) == 0);
    /* cell 0 is normal (its max pool), cells 1 and 2 are reductions (stride-2 skip: a conv) */
    CHECK(strstr(out, "c0.n1.1.pool") != NULL && strstr(out, "c1.n1.0.reduce.conv") != NULL);
    snprintf(args, sizeof args, "cell-search --from %s/cell.json", cells);
    expect_error(args, "-o DIR");
    snprintf(args, sizeof args, "cell-search -o %s/cs --ops skip,nosuch", dir);
    expect_error(args, "nosuch");
    snprintf(args, sizeof args, "cell-search -o %s/cs --w-bits 4", dir);
    expect_error(args, "--qat");
    snprintf(args, sizeof args, "cell-search -o %s/cs --from %s/c.json", dir, dir);
    expect_error(args, "c.json"); /* an architecture file, not a cell file */
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(help_on_every_command);
    RUN(version_everywhere);
    RUN(bad_values_and_unknown_options);
    RUN(nonsense_values);
    RUN(missing_and_corrupt_files);
    RUN(train_eval_info_end_to_end);
    RUN(quantize_qat_sensitivity_end_to_end);
    RUN(int8_end_to_end);
    RUN(repeats_and_short_out);
    RUN(export_c_and_onnx);
    RUN(eval_candidate_writes_arch);
    RUN(eval_candidate_with_blocks);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return frost_test_summary();
}
