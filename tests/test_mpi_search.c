/* The distributed search (docs/distributed.md) through `mpirun -np N frost search`, against
 * the same search on one rank. Latency is faked (FROST_TEST_FAKE_LATENCY: MACs / 1e6) so
 * that rewards, and with them the proposals, can be compared between runs; the trained
 * accuracies are real. Label "mpi": CTest runs it as two tests,
 *   test_mpi_search_same    1 rank vs 2 ranks, evolution + successive halving: the same log;
 *   test_mpi_search_token   3 ranks, real latency: timed by one worker at a time (a trace
 *                           of the token), the same genotypes and accuracies as 1 rank;
 *   test_mpi_search_resume  3 ranks, rank 1 dies mid-candidate (FROST_TEST_DIE_AFTER): the
 *                           job fails, every finished result is on disk (log.csv or
 *                           pending.csv) and right; the same command on 2 ranks finishes
 *                           with the log of an uninterrupted 1-rank run.
 * It skips (77, saying why) without the MPI backend or mpirun (FROST_MPIRUN). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *mpirun;
static char dir[64] = "/tmp/frost_mpi_search_XXXXXX";
static bool fake_latency = true; /* FROST_TEST_FAKE_LATENCY=1 (else 0: measured) */

/* `[mpirun -np N] frost search ARGS -o DIR/OUT` with FROST_TEST_FAKE_LATENCY and the
 * variable `env` ("NAME=VALUE", or NULL) set on every rank; output into DIR/OUT.txt; the
 * exit code. */
static int search(int ranks, const char *env, const char *args, const char *out)
{
    const char *bin = frost_test_bin() ? frost_test_bin() : "build/frost";
    char launcher[512] = "", cmd[4096], name[64] = "";
    if (env)
        snprintf(name, sizeof name, " -x %.*s", (int)strcspn(env, "="), env);
    if (ranks > 1)
        snprintf(launcher, sizeof launcher,
                 "%s -np %d --oversubscribe --allow-run-as-root -x FROST_TEST_FAKE_LATENCY "
                 "-x OMP_WAIT_POLICY%s ",
                 mpirun, ranks, name);
    snprintf(cmd, sizeof cmd,
             "FROST_TEST_FAKE_LATENCY=%d OMP_WAIT_POLICY=PASSIVE %s %s%s search %s -o %s/%s "
             "> %s/%s.txt 2>&1",
             fake_latency, env ? env : "", launcher, bin, args, dir, out, dir, out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void show(const char *out)
{
    char name[64];
    snprintf(name, sizeof name, "%s.txt", out);
    size_t n;
    char *text = frost_test_read_all(frost_test_path(dir, name), &n);
    fprintf(stderr, "---- %s/%s ----\n%s\n", dir, name, text ? text : "(none)");
    free(text);
}

/* A log line without its timing columns (train_seconds, eval_seconds: wall times), or a
 * pending.csv line reduced to the same fields where it has them. */
static void drop_timings(const char *line, char *out, size_t n)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", line);
    out[0] = 0;
    int col = 1;
    for (char *f = strtok(copy, ","); f; f = strtok(NULL, ","), col++)
        if (col != 9 && col != 13) {
            strncat(out, f, n - strlen(out) - 1);
            strncat(out, ",", n - strlen(out) - 1);
        }
}

/* The log's lines (the header dropped) without timings, into lines[]; their count. */
static int log_lines(const char *out, char lines[][512], int max)
{
    char name[128];
    snprintf(name, sizeof name, "%s/log.csv", out);
    size_t n;
    char *text = frost_test_read_all(frost_test_path(dir, name), &n);
    int k = 0;
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l && k < max;
         l = strtok_r(NULL, "\n", &save))
        if (strncmp(l, "step,", 5) != 0)
            drop_timings(l, lines[k++], 512);
    free(text);
    return k;
}

static bool same_logs(const char *a, const char *b)
{
    static char la[64][512], lb[64][512];
    int na = log_lines(a, la, 64), nb = log_lines(b, lb, 64);
    bool same = na == nb && na > 0;
    for (int i = 0; same && i < na; i++)
        same = strcmp(la[i], lb[i]) == 0;
    if (!same) {
        fprintf(stderr, "  %s/log.csv (%d lines) and %s/log.csv (%d lines) differ:\n", a, na, b,
                nb);
        for (int i = 0; i < na || i < nb; i++)
            if (i >= na || i >= nb || strcmp(la[i], lb[i]) != 0)
                fprintf(stderr, "  line %d:\n    %s\n    %s\n", i + 1, i < na ? la[i] : "",
                        i < nb ? lb[i] : "");
    }
    return same;
}

static const char *const same_args =
    "--target-ms 0.3 --controller evolution --population 3 --tournament 2 --halving 2 "
    "--halving-rungs 1 --budget 4 --train 32 --val 32 --epochs 2 --reps 2 --width 0.2 "
    "--threads 1";

TEST(two_ranks_log_what_one_rank_logs)
{
    CHECK_EQ_INT(search(1, NULL, same_args, "one"), 0);
    int rc = search(2, NULL, same_args, "two");
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        show("two");
    CHECK(same_logs("one", "two"));
    /* rank 0 alone speaks: the header line and the candidates once each */
    size_t n;
    char *text = frost_test_read_all(frost_test_path(dir, "two.txt"), &n);
    CHECK(text && strstr(text, "distributed: rank 0 runs the controller, 1 worker ranks train"));
    int headers = 0;
    for (const char *p = text; p && (p = strstr(p, "search: evolution")); p++)
        headers++;
    CHECK_EQ_INT(headers, 1);
    CHECK(text && !strstr(text, "rank 1"));
    free(text);
    CHECK(access(frost_test_path(dir, "two/pending.csv"), F_OK) != 0); /* gone when done */
}

/* Random proposals (all known at once: both workers busy from the start). */
static const char *const resume_args =
    "--target-ms 0.3 --controller random --budget 4 --train 32 --val 32 --epochs 2 --reps 2 "
    "--width 0.2 --threads 1";

/* Every line of a pending.csv (step,genotype,rung,int8_acc,...) agrees with the reference
 * log's line for its step: the same genotype, rung and int8 accuracy. */
static int check_pending(char ref[][512], int nref)
{
    size_t n;
    char *text = frost_test_read_all(frost_test_path(dir, "die/pending.csv"), &n);
    int lines = 0;
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "step,", 5) == 0)
            continue;
        int step = 0, rung = -1;
        char g[128] = "", acc[32] = "", want[256];
        CHECK(sscanf(l, "%d,%127[^,],%d,%31[^,]", &step, g, &rung, acc) == 4);
        CHECK(step >= 1 && step <= nref);
        if (step < 1 || step > nref)
            continue;
        snprintf(want, sizeof want, "%d,%s,%.6f,", step, g, atof(acc));
        if (strncmp(ref[step - 1], want, strlen(want)) != 0)
            fprintf(stderr, "  pending '%s' is not the reference's '%s'\n", l, ref[step - 1]);
        CHECK(strncmp(ref[step - 1], want, strlen(want)) == 0);
        lines++;
    }
    free(text);
    return lines;
}

TEST(a_dead_worker_loses_nothing_and_the_rerun_finishes_the_log)
{
    static char ref[64][512], got[64][512];
    CHECK_EQ_INT(search(1, NULL, resume_args, "ref"), 0);
    int nref = log_lines("ref", ref, 64);
    CHECK_EQ_INT(nref, 4);
    /* rank 1 takes step 1 and "crashes" 3 s into it; rank 2 meanwhile finishes later steps */
    int rc = search(3, "FROST_TEST_DIE_AFTER=0", resume_args, "die");
    CHECK(rc != 0);
    int logged = log_lines("die", got, 64), pending = check_pending(ref, nref);
    fprintf(stderr, "  after the crash: %d lines in log.csv, %d in pending.csv\n", logged, pending);
    CHECK_EQ_INT(logged, 0); /* step 1 never came back, so nothing could be logged */
    CHECK(pending >= 1);     /* but what rank 2 finished is on disk */
    if (rc == 0 || pending < 1)
        show("die");
    rc = search(2, NULL, resume_args, "die");
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        show("die");
    CHECK(same_logs("ref", "die"));
    CHECK(access(frost_test_path(dir, "die/pending.csv"), F_OK) != 0);
}

/* Real latency (no fake): the workers time under rank 0's token. Random proposals do not
 * depend on the rewards, so the genotypes and accuracies must still be those of one rank;
 * the token trace must show one timing at a time, one per candidate. */
static const char *const token_args =
    "--target-ms 2 --controller random --budget 6 --train 32 --val 32 --epochs 2 --reps 5 "
    "--width 0.2 --threads 1";

/* Columns 1-3 (step, genotype, int8_acc) of each log line, joined. */
static void first_columns(const char *out, char *buf, size_t n)
{
    static char lines[64][512];
    int k = log_lines(out, lines, 64);
    buf[0] = 0;
    for (int i = 0; i < k; i++) {
        char *third = lines[i];
        for (int c = 0; c < 3 && third; c++)
            third = strchr(third + 1, ',');
        snprintf(buf + strlen(buf), n - strlen(buf), "%.*s\n", third ? (int)(third - lines[i]) : 0,
                 lines[i]);
    }
}

TEST(latency_is_timed_by_one_rank_at_a_time)
{
    char trace[128], env[200];
    snprintf(trace, sizeof trace, "%s/token.txt", dir);
    snprintf(env, sizeof env, "FROST_TEST_TOKEN_TRACE=%s", trace);
    fake_latency = false;
    CHECK_EQ_INT(search(1, NULL, token_args, "tok1"), 0);
    int rc = search(3, env, token_args, "tok3");
    fake_latency = true;
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        show("tok3");
    static char a[8192], b[8192];
    first_columns("tok1", a, sizeof a);
    first_columns("tok3", b, sizeof b);
    CHECK(strlen(a) > 20 && strcmp(a, b) == 0);
    size_t n;
    char *text = frost_test_read_all(trace, &n);
    int takes = 0, overlaps = 0, held_by = -1;
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save)) {
        int r = -1;
        char what[8] = "";
        CHECK(sscanf(l, "%d %7s", &r, what) == 2);
        bool take = strcmp(what, "take") == 0;
        overlaps += take ? held_by != -1 : held_by != r;
        held_by = take ? r : -1;
        takes += take;
    }
    CHECK_EQ_INT(overlaps, 0);
    CHECK_EQ_INT(takes, 6); /* one timing per candidate, all trained by workers */
    CHECK_EQ_INT(held_by, -1);
    free(text);
}

int main(int argc, char **argv)
{
    const char *why = getenv("FROST_TEST_SKIP_WHY");
    mpirun = getenv("FROST_MPIRUN");
    if ((why && *why) || !mpirun || !*mpirun) {
        printf("skipped: %s\n", why && *why ? why : "FROST_MPIRUN is not set (run it by ctest)");
        return 77;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *part = argc > 1 ? argv[1] : "all";
    if (strcmp(part, "same") == 0 || strcmp(part, "all") == 0)
        RUN(two_ranks_log_what_one_rank_logs);
    if (strcmp(part, "token") == 0 || strcmp(part, "all") == 0)
        RUN(latency_is_timed_by_one_rank_at_a_time);
    if (strcmp(part, "resume") == 0 || strcmp(part, "all") == 0)
        RUN(a_dead_worker_loses_nothing_and_the_rerun_finishes_the_log);
    int failed = frost_test_summary();
    if (failed == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return failed;
}
