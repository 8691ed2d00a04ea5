/* The communication layer (frost/comm.h). Run alone: the single-process semantics and the
 * refusals. Run under mpirun (CTest's test_core_comm_np2 / _np3 / _np5, label "mpi"): every
 * collective across the ranks, with the sums checked bit for bit against the rank-order
 * sum each rank computes itself from the other ranks' (seeded) inputs, and against rank
 * 0's result. FROST_TEST_RANKS says how many ranks CTest meant; with fewer the test skips
 * (77), saying why (FROST_TEST_SKIP_WHY). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/timer.h"
#include "frost/comm.h"
#include "harness.h"

static frost_comm *comm; /* one per process: MPI cannot start twice */
static int rank, ranks;

/* ---- inputs: rank r's buffer is a fixed function of (r, n, salt) ---- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Magnitudes spread over 2^-20..2^20 with both signs, so the order of the additions shows
 * in the last bits. */
static double input_value(int r, size_t i, uint64_t salt)
{
    uint64_t h = mix(mix(salt * 1000003u + (uint64_t)r) + i);
    double mant = 1.0 + (double)(h >> 11) / 9007199254740992.0;
    int e = (int)((h >> 3) % 41) - 20;
    return (h & 1 ? -mant : mant) * ldexp(1.0, e);
}

static void fill_f32(float *x, size_t n, int r, uint64_t salt)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)input_value(r, i, salt);
}

static void fill_f64(double *x, size_t n, int r, uint64_t salt)
{
    for (size_t i = 0; i < n; i++)
        x[i] = input_value(r, i, salt);
}

/* ((x_0 + x_1) + x_2) + ...; `reverse` adds from the last rank down (the test's teeth). */
static void rank_order_sum_f32(float *out, size_t n, uint64_t salt, bool reverse)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (int k = 0; k < ranks; k++) {
        fill_f32(k ? x : out, n, reverse ? ranks - 1 - k : k, salt);
        for (size_t i = 0; k && i < n; i++)
            out[i] += x[i];
    }
    free(x);
}

static void rank_order_sum_f64(double *out, size_t n, uint64_t salt)
{
    double *x = malloc((n ? n : 1) * sizeof *x);
    for (int k = 0; k < ranks; k++) {
        fill_f64(k ? x : out, n, k, salt);
        for (size_t i = 0; k && i < n; i++)
            out[i] += x[i];
    }
    free(x);
}

/* Every rank's buf equals rank 0's, bit for bit. */
static bool same_on_every_rank(const void *buf, size_t bytes)
{
    void *root = malloc(bytes ? bytes : 1);
    memcpy(root, buf, bytes);
    CHECK_EQ_INT(frost_comm_broadcast(comm, root, bytes, 0), FROST_OK);
    bool same = memcmp(root, buf, bytes) == 0;
    free(root);
    return same;
}

/* Lengths: empty, one, fewer than the ranks, not divisible by 2 or 3, more than 1M; the
 * last sizes summed along the tree (16 KiB: 4096 floats, 2048 doubles) and the first ones
 * past it, so both schedules must give the rank-order sum. */
static const size_t lengths[] = {0, 1, 2, 7, 1000, 2048, 2049, 4096, 4097, 65537, 1000003, 1 << 21};

TEST(sum_f32_is_the_rank_order_sum)
{
    for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
        size_t n = lengths[k];
        float *buf = malloc((n ? n : 1) * sizeof *buf), *want = malloc((n ? n : 1) * sizeof *want);
        fill_f32(buf, n, rank, k);
        rank_order_sum_f32(want, n, k, false);
        CHECK_EQ_INT(frost_comm_allreduce_sum(comm, buf, n, FROST_COMM_F32), FROST_OK);
        if (memcmp(buf, want, n * sizeof *buf) != 0)
            fprintf(stderr, "  rank %d, n=%zu: not the rank-order sum\n", rank, n);
        CHECK(memcmp(buf, want, n * sizeof *buf) == 0);
        CHECK(same_on_every_rank(buf, n * sizeof *buf));
        free(buf);
        free(want);
    }
}

/* With 3 ranks or more, another order gives other bits on these inputs: the check above
 * could tell a sum in the wrong order. (Two ranks cannot: a + b == b + a.) */
TEST(order_shows_in_the_bits)
{
    if (ranks < 3)
        return;
    size_t n = 65537;
    float *fwd = malloc(n * sizeof *fwd), *rev = malloc(n * sizeof *rev);
    rank_order_sum_f32(fwd, n, 42, false);
    rank_order_sum_f32(rev, n, 42, true);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += fwd[i] != rev[i];
    CHECK(differ > n / 100);
    free(fwd);
    free(rev);
}

TEST(sum_f64_is_the_rank_order_sum)
{
    for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
        size_t n = lengths[k];
        double *buf = malloc((n ? n : 1) * sizeof *buf);
        double *want = malloc((n ? n : 1) * sizeof *want);
        fill_f64(buf, n, rank, 100 + k);
        rank_order_sum_f64(want, n, 100 + k);
        CHECK_EQ_INT(frost_comm_allreduce_sum(comm, buf, n, FROST_COMM_F64), FROST_OK);
        CHECK(memcmp(buf, want, n * sizeof *buf) == 0);
        CHECK(same_on_every_rank(buf, n * sizeof *buf));
        free(buf);
        free(want);
    }
}

/* Six sums in flight at once, as gradient buckets would be: mixed types and sizes, polled
 * while "computing" in an order that differs between ranks (so their second phases start
 * in different orders: a backend built on nonblocking collectives fails here), waited for
 * in reverse order. */
enum { SUMS = 6 };

static void *sum_input(int k, size_t n, bool want)
{
    bool f64 = k % 2;
    void *x = malloc((n ? n : 1) * (f64 ? sizeof(double) : sizeof(float)));
    if (want && f64)
        rank_order_sum_f64(x, n, 200 + k);
    else if (want)
        rank_order_sum_f32(x, n, 200 + k, false);
    else if (f64)
        fill_f64(x, n, rank, 200 + k);
    else
        fill_f32(x, n, rank, 200 + k);
    return x;
}

static void poll_sums(frost_comm_request **req, bool *done)
{
    for (int poll = 0; poll < 2000; poll++) {
        bool all = true;
        for (int j = 0; j < SUMS; j++) {
            int k = rank % 2 ? SUMS - 1 - j : j;
            if (!done[k] && frost_comm_test(req[k], &done[k]) != FROST_OK) {
                fprintf(stderr, "  rank %d: frost_comm_test: %s\n", rank, frost_last_error());
                frost_test_failed_checks++;
                return;
            }
            all &= done[k];
        }
        if (all)
            return;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

TEST(split_phase_sums)
{
    const size_t n[SUMS] = {300001, 4097, 1, 65537, 0, 1000};
    void *buf[SUMS], *want[SUMS];
    frost_comm_request *req[SUMS];
    bool done[SUMS] = {false};
    for (int k = 0; k < SUMS; k++) {
        buf[k] = sum_input(k, n[k], false);
        want[k] = sum_input(k, n[k], true);
        CHECK_EQ_INT(frost_comm_allreduce_start(comm, buf[k], n[k],
                                                k % 2 ? FROST_COMM_F64 : FROST_COMM_F32, &req[k]),
                     FROST_OK);
    }
    poll_sums(req, done);
    for (int k = 0; ranks == 1 && k < SUMS; k++)
        CHECK(done[k]); /* nothing to wait for */
    for (int k = SUMS - 1; k >= 0; k--) {
        CHECK_EQ_INT(frost_comm_wait(req[k]), FROST_OK);
        size_t bytes = n[k] * (k % 2 ? sizeof(double) : sizeof(float));
        CHECK(memcmp(buf[k], want[k], bytes) == 0);
        free(buf[k]);
        free(want[k]);
    }
    CHECK_EQ_INT(frost_comm_wait(NULL), FROST_OK);
}

TEST(broadcast_from_every_root)
{
    size_t n = 3 << 20;
    unsigned char *buf = malloc(n);
    for (int root = 0; root < ranks; root++) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(rank == root ? mix(i + (uint64_t)root) : 0xee);
        CHECK_EQ_INT(frost_comm_broadcast(comm, buf, n, root), FROST_OK);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++)
            wrong += buf[i] != (unsigned char)mix(i + (uint64_t)root);
        CHECK_EQ_INT(wrong, 0);
    }
    CHECK_EQ_INT(frost_comm_broadcast(comm, NULL, 0, 0), FROST_OK);
    free(buf);
}

/* 13 bytes from each rank (an odd size), to the last rank; then in place on rank 0. */
TEST(gather_to_a_root)
{
    enum { B = 13 };
    unsigned char send[B], *recv = calloc((size_t)ranks, B);
    for (int i = 0; i < B; i++)
        send[i] = (unsigned char)(rank * 31 + i);
    int root = ranks - 1;
    CHECK_EQ_INT(frost_comm_gather(comm, send, B, rank == root ? recv : NULL, root), FROST_OK);
    for (int r = 0; rank == root && r < ranks; r++)
        for (int i = 0; i < B; i++)
            CHECK_EQ_INT(recv[r * B + i], (r * 31 + i) & 0xff);
    memset(recv, 0, (size_t)ranks * B);
    memcpy(recv + rank * B, send, B);
    CHECK_EQ_INT(frost_comm_gather(comm, recv + rank * B, B, recv, 0), FROST_OK);
    for (int r = 0; rank == 0 && r < ranks; r++)
        CHECK_EQ_INT(recv[r * B + B - 1], (r * 31 + B - 1) & 0xff);
    free(recv);
}

/* Rank 0 creates a file 300 ms late, before a barrier; after it every rank must see the
 * file (without the barrier the others would look at once). */
TEST(barrier_waits_for_everybody)
{
    char dir[64] = "/tmp/frost_comm_XXXXXX";
    if (rank == 0)
        CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ_INT(frost_comm_broadcast(comm, dir, sizeof dir, 0), FROST_OK);
    char marker[96];
    snprintf(marker, sizeof marker, "%s/marker", dir);
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
    if (rank == 0) {
        nanosleep(&(struct timespec){0, 300000000}, NULL);
        fclose(fopen(marker, "w"));
    }
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
    struct stat st;
    CHECK(stat(marker, &st) == 0);
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
    if (rank == 0)
        CHECK(remove(marker) == 0 && rmdir(dir) == 0);
}

static void expect_refusal(frost_status got, frost_status want, const char *needle)
{
    CHECK_EQ_INT(got, want);
    if (!strstr(frost_last_error(), needle)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", frost_last_error(), needle);
        frost_test_failed_checks++;
    }
}

/* Refused before any message is sent, the same way on every rank (so nobody hangs). */
TEST(refuses_bad_arguments)
{
    float x[4] = {0};
    frost_comm_request *req = (frost_comm_request *)x;
    expect_refusal(frost_comm_broadcast(comm, x, 4, ranks), FROST_ERR_ARG, "is not a rank");
    expect_refusal(frost_comm_broadcast(comm, x, 4, -1), FROST_ERR_ARG, "root -1");
    expect_refusal(frost_comm_broadcast(comm, NULL, 4, 0), FROST_ERR_ARG, "NULL");
    expect_refusal(frost_comm_broadcast(NULL, x, 4, 0), FROST_ERR_ARG, "communicator");
    expect_refusal(frost_comm_gather(comm, x, 4, NULL, rank), FROST_ERR_ARG, "receive");
    expect_refusal(frost_comm_gather(comm, NULL, 4, x, 0), FROST_ERR_ARG, "send");
    expect_refusal(frost_comm_gather(comm, x, (size_t)1 << 31, x, 0), FROST_ERR_UNSUPPORTED,
                   "bytes per rank");
    expect_refusal(frost_comm_allreduce_sum(comm, x, 4, (frost_comm_type)7), FROST_ERR_ARG,
                   "element type 7");
    expect_refusal(frost_comm_allreduce_sum(comm, NULL, 4, FROST_COMM_F32), FROST_ERR_ARG, "NULL");
    expect_refusal(frost_comm_allreduce_sum(comm, x, (size_t)1 << 31, FROST_COMM_F32),
                   FROST_ERR_UNSUPPORTED, "2147483648 elements");
    expect_refusal(frost_comm_allreduce_start(comm, NULL, 4, FROST_COMM_F64, &req), FROST_ERR_ARG,
                   "NULL");
    CHECK(req == NULL);
    expect_refusal(frost_comm_allreduce_start(comm, x, 4, FROST_COMM_F32, NULL), FROST_ERR_ARG,
                   "req is NULL");
    expect_refusal(frost_comm_barrier(NULL), FROST_ERR_ARG, "NULL");
    expect_refusal(frost_comm_create(NULL), FROST_ERR_ARG, "out");
    bool done;
    expect_refusal(frost_comm_test(NULL, &done), FROST_ERR_ARG, "req");
    CHECK_EQ_INT(frost_comm_allreduce_sum(comm, NULL, 0, FROST_COMM_F32), FROST_OK);
}

/* Ranks that disagree on a broadcast's size (a caller's bug): the receiver gets MPI's
 * truncation as a frost error instead of the job ending. Two ranks only: with more, the
 * ranks that relay the broadcast stop at the error and the others wait forever. */
TEST(an_mpi_failure_is_a_frost_error)
{
    if (ranks != 2)
        return;
    char buf[64] = {0};
    frost_status s = frost_comm_broadcast(comm, buf, rank == 0 ? sizeof buf : 8, 0);
    if (rank == 0)
        CHECK_EQ_INT(s, FROST_OK);
    else
        expect_refusal(s, FROST_ERR_IO, "MPI_Bcast failed: MPI_ERR_TRUNCATE");
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
}

/* ---- point-to-point messages ---- */

/* Around a ring, 100 bytes and then 1 MB (large enough for a rendezvous send): rank 0
 * sends first, the others receive first, so blocking sends cannot deadlock. */
TEST(messages_around_a_ring)
{
    if (ranks < 2)
        return;
    int next = (rank + 1) % ranks, prev = (rank + ranks - 1) % ranks;
    const size_t sizes[] = {100, 1 << 20};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        unsigned char *out = malloc(n), *in = malloc(n + 16);
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)mix(i + 1000u * (uint64_t)rank);
        int from = -5, tag = -5;
        size_t got = 0;
        if (rank == 0)
            CHECK_EQ_INT(frost_comm_send(comm, out, n, next, 11 + k), FROST_OK);
        CHECK_EQ_INT(frost_comm_recv(comm, in, n + 16, prev, 11 + k, &from, &tag, &got), FROST_OK);
        if (rank != 0)
            CHECK_EQ_INT(frost_comm_send(comm, out, n, next, 11 + k), FROST_OK);
        CHECK_EQ_INT(from, prev);
        CHECK_EQ_INT(tag, 11 + k);
        CHECK_EQ_INT(got, n);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++)
            wrong += in[i] != (unsigned char)mix(i + 1000u * (uint64_t)prev);
        CHECK_EQ_INT(wrong, 0);
        free(out);
        free(in);
    }
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
}

/* Every other rank sends rank 0 two messages, tags 1 then 2, and a 0-byte one (tag 3);
 * rank 0 takes them from any source with any tag: each sender's come in the order sent.
 * A message with tag 0 waits across a sum (whose own messages also use tag 0 on the
 * collectives' side): they must not mix. */
TEST(any_source_any_tag_in_order)
{
    if (ranks < 2)
        return;
    int word = rank * 100;
    if (rank != 0) {
        CHECK_EQ_INT(frost_comm_send(comm, &word, sizeof word, 0, 0), FROST_OK);
    }
    float x[4] = {1, 2, 3, 4};
    CHECK_EQ_INT(frost_comm_allreduce_sum(comm, x, 4, FROST_COMM_F32), FROST_OK);
    CHECK(x[3] == 4.0f * (float)ranks);
    if (rank != 0) {
        for (int t = 1; t <= 2; t++) {
            word = rank * 100 + t;
            CHECK_EQ_INT(frost_comm_send(comm, &word, sizeof word, 0, t), FROST_OK);
        }
        CHECK_EQ_INT(frost_comm_send(comm, NULL, 0, 0, 3), FROST_OK);
    } else {
        int seen[8] = {0};
        for (int k = 0; k < 4 * (ranks - 1); k++) {
            int got = -1, from = -1, tag = -1;
            size_t bytes = 99;
            CHECK_EQ_INT(frost_comm_recv(comm, &got, sizeof got, FROST_COMM_ANY_SOURCE,
                                         FROST_COMM_ANY_TAG, &from, &tag, &bytes),
                         FROST_OK);
            CHECK(from > 0 && from < ranks && from < 8);
            if (from <= 0 || from >= 8)
                continue;
            CHECK_EQ_INT(tag, seen[from]); /* tags 0, 1, 2, 3 from each sender, in order */
            CHECK_EQ_INT(bytes, tag == 3 ? 0 : sizeof got);
            if (tag < 3)
                CHECK_EQ_INT(got, from * 100 + tag);
            seen[from]++;
        }
    }
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
}

/* Rank 1 sends 64 bytes and then 4: rank 0 polls with probe until the first is there,
 * receives it into 8 bytes (refused, consumed), then gets the second. */
TEST(probe_and_a_message_too_long)
{
    if (ranks < 2)
        return;
    char big[64];
    memset(big, 'x', sizeof big);
    if (rank == 1) {
        CHECK_EQ_INT(frost_comm_send(comm, big, sizeof big, 0, 5), FROST_OK);
        CHECK_EQ_INT(frost_comm_send(comm, "abc", 4, 0, 5), FROST_OK);
    } else if (rank == 0) {
        bool ready = false;
        int from = -1, tag = -1;
        size_t bytes = 0;
        for (int i = 0; i < 20000 && !ready; i++) {
            CHECK_EQ_INT(
                frost_comm_probe(comm, FROST_COMM_ANY_SOURCE, 5, &ready, &from, &tag, &bytes),
                FROST_OK);
            if (!ready)
                nanosleep(&(struct timespec){0, 100000}, NULL);
        }
        CHECK(ready);
        CHECK_EQ_INT(from, 1);
        CHECK_EQ_INT(tag, 5);
        CHECK_EQ_INT(bytes, 64);
        char small[8] = {0};
        expect_refusal(frost_comm_recv(comm, small, sizeof small, 1, 5, NULL, NULL, NULL),
                       FROST_ERR_FORMAT, "64 bytes from rank 1");
        CHECK_EQ_INT(frost_comm_recv(comm, small, sizeof small, 1, 5, NULL, NULL, &bytes),
                     FROST_OK);
        CHECK_EQ_INT(bytes, 4);
        CHECK(strcmp(small, "abc") == 0);
        CHECK_EQ_INT(frost_comm_probe(comm, 1, 5, &ready, NULL, NULL, NULL), FROST_OK);
        CHECK(!ready);
    }
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
}

/* Refused on every rank before anything is sent: to itself, outside the ranks, bad tags,
 * NULL buffers, a receive only this rank could answer. */
TEST(point_to_point_refusals)
{
    char b[4] = {0};
    bool ready = true;
    expect_refusal(frost_comm_send(comm, b, 4, rank, 1), FROST_ERR_ARG, "this rank");
    expect_refusal(frost_comm_send(comm, b, 4, ranks, 1), FROST_ERR_ARG, "not a rank");
    expect_refusal(frost_comm_send(comm, b, 4, -1, 1), FROST_ERR_ARG, "not a rank");
    if (ranks > 1) {
        int other = rank == 0 ? 1 : 0;
        expect_refusal(frost_comm_send(comm, b, 4, other, -1), FROST_ERR_ARG, "tag -1");
        expect_refusal(frost_comm_send(comm, b, 4, other, FROST_COMM_TAG_MAX + 1), FROST_ERR_ARG,
                       "tag 32768");
        expect_refusal(frost_comm_send(comm, NULL, 4, other, 1), FROST_ERR_ARG, "NULL");
        expect_refusal(frost_comm_recv(comm, NULL, 4, other, 1, NULL, NULL, NULL), FROST_ERR_ARG,
                       "NULL");
        expect_refusal(frost_comm_recv(comm, b, 4, other, -7, NULL, NULL, NULL), FROST_ERR_ARG,
                       "tag -7");
    }
    expect_refusal(frost_comm_recv(comm, b, 4, rank, 1, NULL, NULL, NULL), FROST_ERR_ARG,
                   "wait forever");
    expect_refusal(frost_comm_recv(comm, b, 4, ranks, 1, NULL, NULL, NULL), FROST_ERR_ARG,
                   "not a rank");
    expect_refusal(frost_comm_probe(comm, rank, 1, &ready, NULL, NULL, NULL), FROST_ERR_ARG,
                   "wait forever");
    CHECK(!ready);
    expect_refusal(frost_comm_probe(comm, 0, 1, NULL, NULL, NULL, NULL), FROST_ERR_ARG, "ready");
    expect_refusal(frost_comm_send(NULL, b, 4, 0, 1), FROST_ERR_ARG, "communicator");
    if (ranks == 1) /* nobody else: any source is only this rank */
        expect_refusal(frost_comm_recv(comm, b, 4, FROST_COMM_ANY_SOURCE, FROST_COMM_ANY_TAG, NULL,
                                       NULL, NULL),
                       FROST_ERR_ARG, "wait forever");
}

/* ---- one process ---- */

TEST(one_process_is_rank_0_of_1)
{
    CHECK_EQ_INT(frost_comm_rank(comm), 0);
    CHECK_EQ_INT(frost_comm_size(comm), 1);
    CHECK(strcmp(frost_comm_backend(comm), "single") == 0);
    const char *built = frost_comm_built_backends();
    CHECK(strcmp(built, "single") == 0 || strcmp(built, "single, mpi") == 0);
}

/* The sum over one rank leaves every bit alone: signed zeros, subnormals, NaN payloads. */
TEST(one_process_sum_keeps_the_bits)
{
    float f[5] = {-0.0f, 1e-45f, 3.5f, -1e30f, 0};
    uint32_t nan_bits = 0x7fc01234u;
    memcpy(&f[4], &nan_bits, 4);
    float f0[5];
    memcpy(f0, f, sizeof f);
    CHECK_EQ_INT(frost_comm_allreduce_sum(comm, f, 5, FROST_COMM_F32), FROST_OK);
    CHECK(memcmp(f, f0, sizeof f) == 0);
    double d[3] = {-0.0, 5e-324, 1.0 / 3}, d0[3];
    memcpy(d0, d, sizeof d);
    frost_comm_request *r = NULL;
    bool done = false;
    CHECK_EQ_INT(frost_comm_allreduce_start(comm, d, 3, FROST_COMM_F64, &r), FROST_OK);
    CHECK_EQ_INT(frost_comm_test(r, &done), FROST_OK);
    CHECK(done);
    CHECK_EQ_INT(frost_comm_wait(r), FROST_OK);
    CHECK(memcmp(d, d0, sizeof d) == 0);
}

TEST(one_process_broadcast_and_gather)
{
    char buf[6] = "hello", out[6] = {0};
    CHECK_EQ_INT(frost_comm_broadcast(comm, buf, 6, 0), FROST_OK);
    CHECK(strcmp(buf, "hello") == 0);
    CHECK_EQ_INT(frost_comm_gather(comm, buf, 6, out, 0), FROST_OK);
    CHECK(strcmp(out, "hello") == 0);
    CHECK_EQ_INT(frost_comm_barrier(comm), FROST_OK);
}

/* The simulated link: with several ranks a sum is not done before latency + 2(N-1)/N x
 * bytes / rate has passed since its start (test says not done, wait blocks that long) and
 * still holds the rank-order sum; with one rank nothing changes. Lower bounds only (a
 * loaded machine may take longer, never shorter). */
TEST(simulated_link_delays_sums)
{
    expect_refusal(frost_comm_simulate_link(NULL, 1, 1), FROST_ERR_ARG, "comm is NULL");
    expect_refusal(frost_comm_simulate_link(comm, -1, 1), FROST_ERR_ARG, "out of range");
    expect_refusal(frost_comm_simulate_link(comm, 1, NAN), FROST_ERR_ARG, "out of range");
    size_t n = 250000; /* 1 MB of floats */
    float *buf = malloc(n * sizeof *buf), *want = malloc(n * sizeof *want);
    fill_f32(buf, n, rank, 7);
    rank_order_sum_f32(want, n, 7, false);
    /* 20 ms + 2(N-1)/N MB at 0.05 GB/s: 40 ms (N = 2) to 52 ms (N = 5) */
    CHECK_EQ_INT(frost_comm_simulate_link(comm, 20000, 0.05), FROST_OK);
    double t0 = frost_now_ms();
    frost_comm_request *r = NULL;
    CHECK_EQ_INT(frost_comm_allreduce_start(comm, buf, n, FROST_COMM_F32, &r), FROST_OK);
    bool done = false;
    nanosleep(&(struct timespec){0, 5000000}, NULL);
    for (int i = 0; i < 20 && !done; i++) /* the real exchange finishes within the first ms */
        CHECK_EQ_INT(frost_comm_test(r, &done), FROST_OK);
    double floor_ms = ranks > 1 ? 20.0 + 2.0 * (ranks - 1) / ranks * 1e6 / 0.05e9 * 1e3 : 0.0;
    if (ranks > 1)
        CHECK(!done || frost_now_ms() - t0 >= floor_ms);
    else
        CHECK(done); /* one rank: no link, nothing to wait for */
    CHECK_EQ_INT(frost_comm_wait(r), FROST_OK);
    double took = frost_now_ms() - t0;
    if (took < floor_ms)
        fprintf(stderr, "  rank %d: the sum took %.1f ms, less than the link's %.1f\n", rank, took,
                floor_ms);
    CHECK(took >= floor_ms);
    CHECK(memcmp(buf, want, n * sizeof *buf) == 0);
    CHECK_EQ_INT(frost_comm_simulate_link(comm, 0, 0), FROST_OK);
    free(buf);
    free(want);
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
    if (ranks == 1) {
        RUN(one_process_is_rank_0_of_1);
        RUN(one_process_sum_keeps_the_bits);
        RUN(one_process_broadcast_and_gather);
    }
    RUN(refuses_bad_arguments);
    RUN(sum_f32_is_the_rank_order_sum);
    RUN(order_shows_in_the_bits);
    RUN(sum_f64_is_the_rank_order_sum);
    RUN(split_phase_sums);
    RUN(broadcast_from_every_root);
    RUN(gather_to_a_root);
    RUN(barrier_waits_for_everybody);
    RUN(point_to_point_refusals);
    RUN(messages_around_a_ring);
    RUN(any_source_any_tag_in_order);
    RUN(probe_and_a_message_too_long);
    RUN(simulated_link_delays_sums);
    RUN(an_mpi_failure_is_a_frost_error); /* last: it leaves a broadcast half done */
    frost_comm_destroy(comm);
    return frost_test_summary();
}
