/* The MPI backend of the communication layer (frost/comm.h; built when CMake's FROST_MPI
 * finds MPI). Each communicator works on its own duplicate of MPI_COMM_WORLD, so its
 * messages never match a program's own, and with MPI_ERRORS_RETURN, so a failing call
 * comes back as a frost error instead of ending the job.
 *
 * The sum is frost's, not MPI_Allreduce's: MPI may add contributions in any order (tree,
 * ring, recursive halving, chosen by message size and tuning), which changes the last
 * bits of a float sum from one run or machine to the next. Here rank r owns the r-th of
 * N contiguous chunks. Phase 1 (a reduce-scatter): every rank sends chunk r of its buffer
 * to rank r, which adds the N contributions in rank order 0..N-1. Phase 2 (an allgather,
 * a pure copy): every owner sends its summed chunk to everybody. Each rank sends (N-1)/N
 * of the buffer in each phase, 2(N-1)/N in all, as a ring allreduce does.
 *
 * A small buffer (at most FROST_COMM_TREE_BYTES) takes a tree instead, because there the
 * per-message latency dominates and the exchange above costs 2(N-1) messages per rank: the
 * ranks' buffers are gathered to rank 0 along a binomial tree (ceil(log2 N) steps, each
 * block kept in rank order), rank 0 adds them in rank order, and the sum comes back down
 * the same tree. Same bits as the exchange (the same additions in the same order), in
 * 2 ceil(log2 N) message steps.
 *
 * The messages are point-to-point (Isend / Irecv) with tags numbered per sum, not
 * nonblocking collectives: collectives must be started in the same order on every rank,
 * and with several sums in flight the phase-2 start depends on which phase 1 finished
 * first, which differs between ranks (seen: MPI_ERR_TRUNCATE with two sums in flight). */
#include "core/comm_backend.h"
#include "core/util.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    MPI_Comm comm;
    MPI_Comm p2p;          /* point-to-point messages: their own duplicate, so a caller's tag
                            * can never match a sum's message on `comm` */
    int tag_limit;         /* MPI_TAG_UB: the largest tag MPI guarantees, >= 32767 */
    uint64_t sums_started; /* numbers the sums: their messages' tags */
} mpi_comm;

/* Buffers up to this size are summed along the tree (above): SyncBN's per-layer sums
 * (16 bytes per channel) and the trainer's per-step agreement. Where the tree stops paying:
 * its root receives N-1 buffers instead of 2(N-1)/N of one, so it wins while a buffer's
 * transfer time is below about two message latencies: 2 x 5 us x 3.1 GB/s = 31 KB on a
 * 25 Gb/s link, a few KB over shared memory. */
#define FROST_COMM_TREE_BYTES 16384

/* The phases of a sum. The exchange: SCATTER then GATHER. The tree: TREE_UP (the
 * children's blocks arrive), TREE_PARENT (this rank's blocks go up, the sum comes down;
 * not on rank 0), TREE_DOWN (the sum goes to the children). Messages going up (or in the
 * scatter) carry the sum's tag `tag`, those coming down (or in the gather) tag + 1. */
enum { SCATTER = 1, GATHER, TREE_UP, TREE_PARENT, TREE_DOWN, DONE };

typedef struct {
    int phase, tag;
    int *counts, *displs; /* chunk r: counts[r] elements from displs[r] */
    MPI_Request *pending; /* this phase's sends and receives, at most 2(N-1) */
    int npending;
    void *contributions; /* the N contributions to this rank's chunk, in rank order (tree:
                          * the buffers of this rank's subtree, in rank order) */
} mpi_sum;

static int comms_open;     /* frost communicators alive in this process */
static bool frost_started; /* frost called MPI_Init, so frost finalizes */

static frost_status mpi_check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return FROST_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return frost_fail(FROST_ERR_IO, "%s failed: %s", what, text);
}

static MPI_Comm comm_of(frost_comm *c) { return ((mpi_comm *)c->impl)->comm; }
static MPI_Datatype mpi_type(frost_comm_type t)
{
    return t == FROST_COMM_F64 ? MPI_DOUBLE : MPI_FLOAT;
}

bool frost_comm_mpi_wanted(void)
{
    int initialized = 0;
    MPI_Initialized(&initialized);
    /* Open MPI's mpirun; PMIx launchers (Open MPI, srun --mpi=pmix); PMI-1/2 (MPICH's
     * hydra, srun --mpi=pmi2). A plain `frost train` sets none of them. */
    return initialized || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") ||
           getenv("PMI_RANK");
}

static frost_status start_mpi(void)
{
    int initialized = 0, finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized)
        return frost_fail(FROST_ERR_UNSUPPORTED,
                          "MPI was finalized in this process and cannot start again: "
                          "keep one communicator for the program's lifetime");
    MPI_Initialized(&initialized);
    if (initialized)
        return FROST_OK;
    int provided = 0;
    FROST_TRY(
        mpi_check(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread"));
    frost_started = true;
    return FROST_OK;
}

/* Finalizes MPI when frost started it and no frost communicator is left. */
static void stop_mpi_if_unused(void)
{
    if (comms_open == 0 && frost_started) {
        MPI_Finalize();
        frost_started = false;
    }
}

static void mpi_close(frost_comm *c)
{
    mpi_comm *m = c->impl;
    MPI_Comm_free(&m->p2p);
    MPI_Comm_free(&m->comm);
    free(m);
    comms_open--;
    stop_mpi_if_unused();
}

static frost_status mpi_barrier(frost_comm *c)
{
    return mpi_check(MPI_Barrier(comm_of(c)), "MPI_Barrier");
}

/* MPI counts are int: large buffers go in pieces of 1 GiB. */
static frost_status mpi_broadcast(frost_comm *c, void *buf, size_t bytes, int root)
{
    const size_t piece = (size_t)1 << 30;
    for (size_t at = 0; at < bytes; at += piece) {
        int n = (int)FROST_MIN(piece, bytes - at);
        FROST_TRY(
            mpi_check(MPI_Bcast((char *)buf + at, n, MPI_BYTE, root, comm_of(c)), "MPI_Bcast"));
    }
    return FROST_OK;
}

static frost_status mpi_gather(frost_comm *c, const void *send, size_t bytes, void *recv, int root)
{
    const void *from = send;
    if (c->rank == root && send == (const char *)recv + (size_t)root * bytes)
        from = MPI_IN_PLACE;
    return mpi_check(
        MPI_Gather(from, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, root, comm_of(c)),
        "MPI_Gather");
}

/* ---- point-to-point ---- */

static MPI_Comm p2p_of(frost_comm *c) { return ((mpi_comm *)c->impl)->p2p; }
static int mpi_source(int source)
{
    return source == FROST_COMM_ANY_SOURCE ? MPI_ANY_SOURCE : source;
}
static int mpi_tag(int tag) { return tag == FROST_COMM_ANY_TAG ? MPI_ANY_TAG : tag; }

static frost_status mpi_send(frost_comm *c, const void *buf, size_t bytes, int dest, int tag)
{
    return mpi_check(MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, p2p_of(c)), "MPI_Send");
}

/* A matched probe (MPI_Mprobe) takes the message out of the queue, so a receive from any
 * source gets exactly the message whose size was checked, even with other threads or
 * senders around; a message that is too long is still received (into scratch) and refused. */
static frost_status mpi_recv(frost_comm *c, void *buf, size_t max_bytes, int source, int tag,
                             int *from, int *got_tag, size_t *bytes)
{
    MPI_Message msg;
    MPI_Status st;
    FROST_TRY(mpi_check(MPI_Mprobe(mpi_source(source), mpi_tag(tag), p2p_of(c), &msg, &st),
                        "MPI_Mprobe"));
    int count = 0;
    FROST_TRY(mpi_check(MPI_Get_count(&st, MPI_BYTE, &count), "MPI_Get_count"));
    *from = st.MPI_SOURCE;
    *got_tag = st.MPI_TAG;
    *bytes = (size_t)count;
    void *into = buf, *scratch = NULL;
    if ((size_t)count > max_bytes && !(into = scratch = malloc((size_t)count)))
        return frost_fail(FROST_ERR_NOMEM, "frost_comm_recv: out of memory for %d bytes", count);
    frost_status s =
        mpi_check(MPI_Mrecv(into, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
    free(scratch);
    if (s == FROST_OK && scratch)
        return frost_fail(FROST_ERR_FORMAT,
                          "frost_comm_recv: a message of %d bytes from rank %d (tag %d), more "
                          "than the %zu bytes expected",
                          count, *from, *got_tag, max_bytes);
    return s;
}

static frost_status mpi_probe(frost_comm *c, int source, int tag, bool *ready, int *from,
                              int *got_tag, size_t *bytes)
{
    int flag = 0, count = 0;
    MPI_Status st;
    FROST_TRY(mpi_check(MPI_Iprobe(mpi_source(source), mpi_tag(tag), p2p_of(c), &flag, &st),
                        "MPI_Iprobe"));
    *ready = flag != 0;
    if (!flag)
        return FROST_OK;
    FROST_TRY(mpi_check(MPI_Get_count(&st, MPI_BYTE, &count), "MPI_Get_count"));
    *from = st.MPI_SOURCE;
    *got_tag = st.MPI_TAG;
    *bytes = (size_t)count;
    return FROST_OK;
}

static void free_sum(mpi_sum *s)
{
    free(s->counts);
    free(s->pending);
    free(s->contributions);
    free(s);
}

/* The chunks: rank r owns elements [count*r/N, count*(r+1)/N). */
static frost_status plan_sum(mpi_sum *s, const frost_comm *c, size_t count, size_t elem)
{
    int n = c->size;
    s->counts = calloc((size_t)n * 2, sizeof(int));
    s->pending = malloc((size_t)n * 2 * sizeof *s->pending);
    if (!s->counts || !s->pending)
        return frost_fail(FROST_ERR_NOMEM, "allreduce: out of memory");
    s->displs = s->counts + n;
    for (int r = 0; r < n; r++) {
        s->displs[r] = (int)(count * (uint64_t)r / (uint64_t)n);
        s->counts[r] = (int)(count * (uint64_t)(r + 1) / (uint64_t)n) - s->displs[r];
    }
    int mine = s->counts[c->rank];
    s->contributions = malloc((size_t)n * (size_t)(mine ? mine : 1) * elem);
    if (!s->contributions)
        return frost_fail(FROST_ERR_NOMEM, "allreduce: out of memory for %d x %d elements", n,
                          mine);
    return FROST_OK;
}

/* Posts a receive of n elements from rank `peer` and a send of m elements to it (either
 * skipped when empty: both sides know every chunk's length). */
static frost_status post_pair(frost_comm_request *r, mpi_sum *s, int peer, void *into, int n,
                              const void *from, int m, int tag)
{
    MPI_Datatype t = mpi_type(r->type);
    MPI_Comm comm = comm_of(r->comm);
    if (n > 0)
        FROST_TRY(mpi_check(MPI_Irecv(into, n, t, peer, tag, comm, &s->pending[s->npending++]),
                            "MPI_Irecv (allreduce)"));
    if (m > 0)
        FROST_TRY(mpi_check(MPI_Isend(from, m, t, peer, tag, comm, &s->pending[s->npending++]),
                            "MPI_Isend (allreduce)"));
    return FROST_OK;
}

/* Phase 1: chunk p of buf goes to rank p; rank p's contribution to this rank's chunk
 * lands in slot p of the scratch (this rank's own is copied). */
static frost_status begin_scatter_phase(frost_comm_request *r, mpi_sum *s)
{
    const frost_comm *c = r->comm;
    size_t elem = frost_comm_type_size(r->type);
    int mine = s->counts[c->rank];
    char *buf = r->buf, *slots = s->contributions;
    memcpy(slots + (size_t)c->rank * mine * elem, buf + (size_t)s->displs[c->rank] * elem,
           (size_t)mine * elem);
    s->phase = SCATTER;
    for (int p = 0; p < c->size; p++)
        if (p != c->rank)
            FROST_TRY(post_pair(r, s, p, slots + (size_t)p * mine * elem, mine,
                                buf + (size_t)s->displs[p] * elem, s->counts[p], s->tag));
    return FROST_OK;
}

/* The owner's sum, rank 0's contribution first: out = ((x0 + x1) + x2) + ... */
static void add_in_rank_order(void *out, const void *contributions, int ranks, int len,
                              frost_comm_type type)
{
    if (type == FROST_COMM_F64) {
        const double *x = contributions;
        double *o = out;
        memcpy(o, x, (size_t)len * sizeof *o);
        for (int r = 1; r < ranks; r++)
            for (int i = 0; i < len; i++)
                o[i] += x[(size_t)r * len + i];
    } else {
        const float *x = contributions;
        float *o = out;
        memcpy(o, x, (size_t)len * sizeof *o);
        for (int r = 1; r < ranks; r++)
            for (int i = 0; i < len; i++)
                o[i] += x[(size_t)r * len + i];
    }
}

/* ---- the tree (small buffers) ----
 * Rank r's subtree is ranks [r, r + span) (cut at N): span is r's lowest set bit, or for
 * rank 0 the smallest power of two >= N. Its children are r + m for m = 1, 2, 4, ... below
 * span, child r + m bringing the blocks of ranks [r + m, r + 2m); its parent is r - span. */
static int tree_span(int rank, int ranks)
{
    if (rank > 0)
        return rank & -rank;
    int span = 1;
    while (span < ranks)
        span *= 2;
    return span;
}

static int subtree_size(int rank, int ranks)
{
    return FROST_MIN(tree_span(rank, ranks), ranks - rank);
}

static frost_status plan_tree(mpi_sum *s, const frost_comm *c, size_t count, size_t elem)
{
    s->pending = malloc((size_t)c->size * 2 * sizeof *s->pending);
    size_t blocks = (size_t)subtree_size(c->rank, c->size);
    s->contributions = malloc(blocks * (count ? count : 1) * elem);
    if (!s->pending || !s->contributions)
        return frost_fail(FROST_ERR_NOMEM, "allreduce: out of memory for %zu x %zu elements",
                          blocks, count);
    return FROST_OK;
}

/* This rank's buffer is block 0 of its subtree's; each child's blocks are received into
 * their place, all at once (the places do not overlap). */
static frost_status begin_tree_up(frost_comm_request *r, mpi_sum *s)
{
    const frost_comm *c = r->comm;
    size_t row = r->count * frost_comm_type_size(r->type);
    char *blocks = s->contributions;
    memcpy(blocks, r->buf, row);
    s->phase = TREE_UP;
    s->npending = 0;
    int span = tree_span(c->rank, c->size);
    for (int m = 1; m < span && c->rank + m < c->size; m *= 2) {
        int n = FROST_MIN(m, c->size - c->rank - m) * (int)r->count;
        FROST_TRY(post_pair(r, s, c->rank + m, blocks + (size_t)m * row, n, NULL, 0, s->tag));
    }
    return FROST_OK;
}

/* The sum goes to every child (the largest subtree first: it has the most to pass on). */
static frost_status begin_tree_down(frost_comm_request *r, mpi_sum *s)
{
    const frost_comm *c = r->comm;
    s->phase = TREE_DOWN;
    s->npending = 0;
    for (int m = tree_span(c->rank, c->size) / 2; m >= 1; m /= 2)
        if (c->rank + m < c->size)
            FROST_TRY(post_pair(r, s, c->rank + m, NULL, 0, r->buf, (int)r->count, s->tag + 1));
    return FROST_OK;
}

/* Every block of the subtree is here: rank 0 adds them in rank order and sends the sum
 * down; another rank sends its blocks up and waits for the sum from its parent (into buf,
 * which the send does not read). */
static frost_status tree_up_done(frost_comm_request *r, mpi_sum *s)
{
    const frost_comm *c = r->comm;
    if (c->rank == 0) {
        add_in_rank_order(r->buf, s->contributions, c->size, (int)r->count, r->type);
        return begin_tree_down(r, s);
    }
    int parent = c->rank - tree_span(c->rank, c->size);
    int n = subtree_size(c->rank, c->size) * (int)r->count;
    s->phase = TREE_PARENT;
    s->npending = 0;
    FROST_TRY(post_pair(r, s, parent, NULL, 0, s->contributions, n, s->tag));
    return post_pair(r, s, parent, r->buf, (int)r->count, NULL, 0, s->tag + 1);
}

static frost_status mpi_allreduce_start(frost_comm *c, frost_comm_request *r)
{
    mpi_comm *m = c->impl;
    mpi_sum *s = calloc(1, sizeof *s);
    if (!s)
        return frost_fail(FROST_ERR_NOMEM, "allreduce: out of memory");
    r->impl = s;
    /* every rank starts its sums in the same order, so the k-th sum has the same tags
     * everywhere: its messages never match another sum's, whatever finishes first */
    s->tag = 2 * (int)(m->sums_started++ % (uint64_t)(m->tag_limit / 2));
    size_t elem = frost_comm_type_size(r->type);
    bool tree = r->count * elem <= FROST_COMM_TREE_BYTES;
    FROST_TRY(tree ? plan_tree(s, c, r->count, elem) : plan_sum(s, c, r->count, elem));
    if (r->count == 0) { /* every rank agrees: nothing to send (and buf may be NULL) */
        s->phase = DONE;
        return FROST_OK;
    }
    return tree ? begin_tree_up(r, s) : begin_scatter_phase(r, s);
}

/* Phase 1 has finished: sum this rank's chunk into buf, send it to every rank and receive
 * theirs in place (a pure copy). */
static frost_status begin_gather_phase(frost_comm_request *r, mpi_sum *s)
{
    const frost_comm *c = r->comm;
    size_t elem = frost_comm_type_size(r->type);
    char *buf = r->buf, *mine = buf + (size_t)s->displs[c->rank] * elem;
    add_in_rank_order(mine, s->contributions, c->size, s->counts[c->rank], r->type);
    s->phase = GATHER;
    s->npending = 0;
    for (int p = 0; p < c->size; p++)
        if (p != c->rank)
            FROST_TRY(post_pair(r, s, p, buf + (size_t)s->displs[p] * elem, s->counts[p], mine,
                                s->counts[c->rank], s->tag + 1));
    return FROST_OK;
}

static const char *phase_name(int phase)
{
    static const char *names[] = {"", "scatter phase", "gather phase", "tree, up",
                                  "tree, from the parent", "tree, down"};
    return phase >= SCATTER && phase < DONE ? names[phase] : "done";
}

/* The phase whose messages have all arrived or left: start the next one. */
static frost_status next_phase(frost_comm_request *r, mpi_sum *s)
{
    switch (s->phase) {
    case SCATTER:
        return begin_gather_phase(r, s);
    case TREE_UP:
        return tree_up_done(r, s);
    case TREE_PARENT:
        return begin_tree_down(r, s);
    default: /* GATHER, TREE_DOWN */
        s->phase = DONE;
        s->npending = 0;
        return FROST_OK;
    }
}

static frost_status mpi_allreduce_advance(frost_comm_request *r, bool block, bool *done)
{
    mpi_sum *s = r->impl;
    while (s->phase != DONE) {
        int finished = 1;
        int rc = block ? MPI_Waitall(s->npending, s->pending, MPI_STATUSES_IGNORE)
                       : MPI_Testall(s->npending, s->pending, &finished, MPI_STATUSES_IGNORE);
        char what[64];
        snprintf(what, sizeof what, "allreduce, %s", phase_name(s->phase));
        FROST_TRY(mpi_check(rc, what));
        if (!finished)
            break;
        FROST_TRY(next_phase(r, s));
    }
    *done = s->phase == DONE;
    return FROST_OK;
}

/* A sum abandoned after an error may still have messages on the way into its scratch:
 * that memory is left to MPI rather than freed under it. */
static void mpi_allreduce_free(frost_comm_request *r)
{
    mpi_sum *s = r->impl;
    bool idle = true;
    for (int i = 0; s && i < s->npending; i++)
        idle &= s->pending[i] == MPI_REQUEST_NULL;
    if (s && idle)
        free_sum(s);
    r->impl = NULL;
}

static const frost_comm_ops mpi_ops = {
    .name = "mpi",
    .close = mpi_close,
    .barrier = mpi_barrier,
    .broadcast = mpi_broadcast,
    .gather = mpi_gather,
    .send = mpi_send,
    .recv = mpi_recv,
    .probe = mpi_probe,
    .allreduce_start = mpi_allreduce_start,
    .allreduce_advance = mpi_allreduce_advance,
    .allreduce_free = mpi_allreduce_free,
};

static frost_status read_tag_limit(mpi_comm *m)
{
    int *ub = NULL, found = 0;
    FROST_TRY(mpi_check(MPI_Comm_get_attr(m->comm, MPI_TAG_UB, &ub, &found), "MPI_TAG_UB"));
    m->tag_limit = found && ub && *ub >= 32767 ? *ub : 32767;
    return FROST_OK;
}

frost_status frost_comm_mpi_open(frost_comm *c)
{
    FROST_TRY(start_mpi());
    mpi_comm *m = calloc(1, sizeof *m);
    if (!m) {
        stop_mpi_if_unused();
        return frost_fail(FROST_ERR_NOMEM, "frost_comm_create: out of memory");
    }
    if (frost_started) /* a program that started MPI keeps its own choice for the world */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    frost_status s = mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &m->comm), "MPI_Comm_dup");
    if (s == FROST_OK)
        s = mpi_check(MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN),
                      "MPI_Comm_set_errhandler");
    if (s == FROST_OK) /* a duplicate keeps the error handler */
        s = mpi_check(MPI_Comm_dup(m->comm, &m->p2p), "MPI_Comm_dup");
    if (s == FROST_OK)
        s = mpi_check(MPI_Comm_rank(m->comm, &c->rank), "MPI_Comm_rank");
    if (s == FROST_OK)
        s = mpi_check(MPI_Comm_size(m->comm, &c->size), "MPI_Comm_size");
    if (s == FROST_OK)
        s = read_tag_limit(m);
    if (s != FROST_OK) {
        free(m);
        stop_mpi_if_unused();
        return s;
    }
    c->ops = &mpi_ops;
    c->impl = m;
    comms_open++;
    return FROST_OK;
}
