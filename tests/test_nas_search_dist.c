/* The distributed search in the library (frost_nas_search with a communicator), with a
 * stand-in evaluator (no training), so that long searches take no time. Alone it checks
 * that a one-rank communicator changes nothing; under mpirun (CTest's
 * test_nas_search_dist_np2 / _np3, label "mpi") that the log of a search on every rank is
 * the one-rank log, with exactly the same evaluations (a duplicate on its way to a worker is
 * a cache hit, as on one rank); and that a worker's failed evaluation stops the search with
 * its rank in the message, keeps what came back early (pending.csv), and a rerun finishes
 * with the one-rank log. FROST_TEST_RANKS as in test_core_comm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost/comm.h"
#include "frost/nas.h"
#include "harness.h"

static frost_comm *comm;
static int rank, ranks;
static int evaluations;  /* this rank's calls of the stand-in */
static int fail_at = -1; /* the stand-in fails on this rank at this call (counting from 0) */

/* Accuracy from the genotype's hash and the image count, latency from the hash: with
 * evolution on a population of 2 and halving, genotypes recur (mutations a canonical form
 * undoes), so duplicates reach the same promotion window. */
static frost_status fake_evaluate(const frost_nas_genotype *g, const frost_nas_space *space,
                                  const frost_dataset *train, const frost_dataset *val,
                                  const frost_nas_eval_config *cfg, frost_nas_result *out,
                                  void *user)
{
    (void)space, (void)val, (void)cfg, (void)user;
    if (evaluations++ == fail_at)
        return frost_fail(FROST_ERR_IO, "stand-in failure");
    uint64_t h = frost_nas_hash(g), mix = h ^ ((uint64_t)train->n * 0x9e3779b97f4a7c15ull);
    if (h % 9 == 4) /* a training that diverges: a failed line, the same whoever trains it */
        return frost_fail(FROST_ERR_NUMERIC, "stand-in: the loss is nan");
    *out = (frost_nas_result){.int8_acc = 0.5 + 0.3 * (double)(h % 1000) / 1000 +
                                          0.1 * (double)(mix >> 40 & 0xff) / 255,
                              .latency_ms = 0.2 + (double)(h >> 20 & 0xff) / 1275,
                              .train_acc = 0.5,
                              .params = 1000,
                              .macs = 10000,
                              .train_seconds = 0.001 * train->n,
                              .fp32_acc = 0.6};
    return FROST_OK;
}

static frost_dataset train, val;
static char dir[64] = "/tmp/frost_search_dist_XXXXXX";

static frost_nas_search_config config(const char *out, frost_comm *c)
{
    frost_nas_search_config cfg = {0};
    cfg.controller = frost_nas_controller_defaults(FROST_NAS_EVOLUTION);
    cfg.controller.population = 2;
    cfg.controller.tournament = 2;
    cfg.budget = 96;
    cfg.reward = frost_nas_reward_soft(0.3);
    cfg.eval = frost_nas_eval_defaults();
    static char path[128]; /* one search at a time */
    snprintf(path, sizeof path, "%s/%s", dir, out);
    cfg.out_dir = path;
    cfg.halving = (frost_nas_halving){.eta = 2, .rungs = 2};
    cfg.evaluate = fake_evaluate;
    cfg.comm = c;
    return cfg;
}

/* log.csv without the eval_seconds column (wall time), malloc'd. */
static char *log_of(const char *out)
{
    char name[96];
    snprintf(name, sizeof name, "%s/log.csv", out);
    size_t n;
    char *text = frost_test_read_all(frost_test_path(dir, name), &n), *w = text;
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        int col = 0;
        for (char *p = line; p < end; p++) {
            col += *p == ',';
            if (col != 12 || *p == ',') /* eval_seconds is the 13th column */
                *w++ = *p;
        }
        *w++ = '\n';
        line = end + 1;
    }
    if (w)
        *w = 0;
    return text;
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Every rank's count of evaluations, summed on rank 0 (its own is 0 in a distributed run). */
static int total_evaluations(void)
{
    int all[64] = {0};
    CHECK_EQ_INT(frost_comm_gather(comm, &evaluations, sizeof evaluations, all, 0), FROST_OK);
    int sum = 0;
    for (int r = 0; r < ranks && r < 64; r++)
        sum += all[r];
    return sum;
}

static char *reference;
static int reference_evaluations;

/* Prints the first line where a log differs from the reference (what a failing compare
 * needs to be understood). */
static void show_first_difference(const char *got, const char *want)
{
    for (int line = 1; got && want && *got && *want; line++) {
        const char *g_end = strchr(got, '\n'), *w_end = strchr(want, '\n');
        int g_len = g_end ? (int)(g_end - got) : (int)strlen(got);
        int w_len = w_end ? (int)(w_end - want) : (int)strlen(want);
        if (g_len != w_len || strncmp(got, want, (size_t)g_len) != 0) {
            fprintf(stderr, "  line %d differs:\n    got  %.*s\n    want %.*s\n", line, g_len, got,
                    w_len, want);
            return;
        }
        got += g_len + (g_end != NULL);
        want += w_len + (w_end != NULL);
    }
}

TEST(one_rank_reference)
{
    if (rank == 0) {
        frost_nas_search_config cfg = config("ref", NULL);
        frost_nas_space space = frost_nas_space_default();
        evaluations = 0;
        CHECK_EQ_INT(frost_nas_search(&space, &train, &val, &cfg), FROST_OK);
        reference_evaluations = evaluations;
        reference = log_of("ref");
        /* lines cached although new to this run: genotypes that recurred */
        int cached = count_lines(reference, ",1,1,") + count_lines(reference, ",1,2,");
        int failed = count_lines(reference, ",0.000000,0.000000,0.000000,");
        printf("  reference: %d evaluations for %d lines, %d promoted cache hits, %d failed\n",
               evaluations, count_lines(reference, "\n") - 1, cached, failed);
        CHECK(cached >= 2);
        CHECK(failed >= 2); /* numeric failures are lines of the log on any number of ranks */
    }
    evaluations = 0;
}

TEST(every_rank_logs_what_one_rank_logs)
{
    frost_nas_space space = frost_nas_space_default();
    frost_nas_search_config cfg = config("all", comm);
    CHECK_EQ_INT(frost_nas_search(&space, &train, &val, &cfg), FROST_OK);
    int total = total_evaluations();
    if (rank == 0) {
        char *got = log_of("all");
        if (!got || !reference || strcmp(got, reference) != 0)
            show_first_difference(got, reference);
        CHECK(got && reference && strcmp(got, reference) == 0);
        CHECK_EQ_INT(total, reference_evaluations);
        if (ranks > 1)
            CHECK_EQ_INT(evaluations, 0); /* rank 0 trains nothing */
        free(got);
        CHECK(access(frost_test_path(dir, "all/pending.csv"), F_OK) != 0);
    }
    evaluations = 0;
}

/* The last rank fails its 6th evaluation: rank 0 stops with that error (naming the rank);
 * then every rank searches again in the same folder and the log comes out as on one rank. */
TEST(a_failed_worker_stops_the_search_and_a_rerun_finishes_it)
{
    if (ranks < 2)
        return;
    frost_nas_space space = frost_nas_space_default();
    frost_nas_search_config cfg = config("fail", comm);
    fail_at = rank == ranks - 1 ? 5 : -1;
    frost_status s = frost_nas_search(&space, &train, &val, &cfg);
    fail_at = -1;
    char want[64];
    snprintf(want, sizeof want, "rank %d, step ", ranks - 1);
    if (rank == 0 || rank == ranks - 1) {
        CHECK_EQ_INT(s, FROST_ERR_IO);
        CHECK(strstr(frost_last_error(), rank == 0 ? want : "stand-in failure") != NULL);
    } else {
        CHECK_EQ_INT(s, FROST_OK); /* told to stop */
    }
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
    evaluations = 0;
    CHECK_EQ_INT(frost_nas_search(&space, &train, &val, &cfg), FROST_OK);
    int total = total_evaluations();
    if (rank == 0) {
        char *got = log_of("fail");
        if (!got || !reference || strcmp(got, reference) != 0)
            show_first_difference(got, reference);
        CHECK(got && reference && strcmp(got, reference) == 0);
        CHECK(total < reference_evaluations); /* the first run's results were kept */
        printf("  rerun after the failure: %d of %d evaluations\n", total, reference_evaluations);
        free(got);
    }
}

static int skip(const char *why)
{
    printf("skipped: %s\n", why);
    frost_comm_destroy(comm);
    return 77;
}

int main(void)
{
    if (frost_comm_create(&comm) != FROST_OK) {
        fprintf(stderr, "frost_comm_create: %s\n", frost_last_error());
        return 1;
    }
    rank = frost_comm_rank(comm), ranks = frost_comm_size(comm);
    const char *want = getenv("FROST_TEST_RANKS"), *why = getenv("FROST_TEST_SKIP_WHY");
    if (want && atoi(want) != ranks)
        return skip(why && *why ? why : "expected more ranks: not started by mpirun");
    if (rank == 0)
        CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ_INT(frost_comm_broadcast(comm, dir, sizeof dir, 0), FROST_OK);
    train = (frost_dataset){.n = 90, .h = 28, .w = 28, .c = 1, .classes = 10};
    train.images = calloc(90 * 28 * 28, 1);
    train.labels = calloc(90, 1);
    val = (frost_dataset){.n = 20, .h = 28, .w = 28, .c = 1, .classes = 10};
    val.images = calloc(20 * 28 * 28, 1);
    val.labels = calloc(20, 1);
    RUN(one_rank_reference);
    RUN(every_rank_logs_what_one_rank_logs);
    RUN(a_failed_worker_stops_the_search_and_a_rerun_finishes_it);
    free(reference);
    frost_dataset_free(&train);
    frost_dataset_free(&val);
    int failed = frost_test_summary();
    if (rank == 0 && failed == 0) {
        char cmd[96];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    frost_comm_destroy(comm);
    return failed;
}
