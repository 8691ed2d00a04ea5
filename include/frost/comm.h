/*
 * The communication layer: a group of processes (ranks) that exchange buffers. It is the
 * foundation of data-parallel training (docs/data-parallel.md) and the distributed search
 * (docs/distributed.md).
 *
 * Backends. The single-process backend is always built: one rank, every collective is a
 * copy or nothing. The MPI backend is built when CMake's FROST_MPI finds MPI (AUTO, the
 * default) or is told to (ON); frost_comm_create takes it when the process was started by
 * an MPI launcher (mpirun, srun with PMIx/PMI) or the program has initialized MPI itself.
 * A frost program started without mpirun never touches MPI, even in an MPI build.
 *
 * Deterministic sums. frost_comm_allreduce_sum does not use MPI's reductions, whose
 * order depends on the algorithm MPI picks (message sizes, rank count, tuning). Element i
 * of the result is always ((x_0[i] + x_1[i]) + x_2[i]) + ... + x_{N-1}[i] in the element's
 * own type, x_r being rank r's buffer, and every rank ends with the same bits. The result
 * therefore does not depend on timing, on how a caller splits a buffer into pieces, or on
 * MPI's tuning; it does depend on the number of ranks.
 *
 * Rules for every collective: every rank calls it, in the same order as the other ranks,
 * with the same count, type, size and root (only the buffers' contents differ). Call from
 * one thread (the one that created the communicator). Every function returns a
 * frost_status; a failing MPI call becomes FROST_ERR_IO with MPI's message, never an abort.
 */
#ifndef FROST_COMM_H
#define FROST_COMM_H

#include "frost/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct frost_comm frost_comm;
typedef struct frost_comm_request frost_comm_request;

typedef enum {
    FROST_COMM_F32, /* float */
    FROST_COMM_F64  /* double */
} frost_comm_type;

/* The backends this library was built with: "single" or "single, mpi". */
const char *frost_comm_built_backends(void);

/* A communicator over every rank of the job (MPI_COMM_WORLD's ranks), or a single-process
 * one when not launched by MPI. Starts MPI (thread level FUNNELED) when frost has to. */
frost_status frost_comm_create(frost_comm **out);
/* Frees it; the last communicator destroyed finalizes MPI if frost started it. MPI cannot
 * start twice in one process: create one communicator for the program's lifetime. */
void frost_comm_destroy(frost_comm *c);

int frost_comm_rank(const frost_comm *c);
int frost_comm_size(const frost_comm *c);
/* "single" or "mpi". */
const char *frost_comm_backend(const frost_comm *c);

frost_status frost_comm_barrier(frost_comm *c);
/* Copies `bytes` bytes of root's buf into every rank's buf. */
frost_status frost_comm_broadcast(frost_comm *c, void *buf, size_t bytes, int root);
/* Root's recv[r * bytes .. (r+1) * bytes) receives rank r's send (root's own included;
 * send may be recv + root * bytes on the root). recv is unused on the other ranks (NULL is
 * fine there). bytes <= INT_MAX. */
frost_status frost_comm_gather(frost_comm *c, const void *send, size_t bytes, void *recv, int root);

/* ---- point-to-point messages (the distributed search's tasks and results) ----
 * Unlike the collectives, only the two ranks concerned call these. Messages between the
 * same two ranks with the same tag arrive in the order they were sent. Tags are
 * 0..FROST_COMM_TAG_MAX; they never match the collectives' own messages. A rank cannot send
 * to itself (FROST_ERR_ARG; with one rank there is nobody to send to), and a receive that
 * could only be answered by this rank is refused instead of waiting forever. */
#define FROST_COMM_ANY_SOURCE (-1)
#define FROST_COMM_ANY_TAG    (-1)
#define FROST_COMM_TAG_MAX    32767
/* Sends `bytes` bytes of buf to rank dest; returns once buf may be reused (a large message
 * may wait until dest receives it). bytes <= INT_MAX. */
frost_status frost_comm_send(frost_comm *c, const void *buf, size_t bytes, int dest, int tag);
/* Waits for a message from `source` (or FROST_COMM_ANY_SOURCE) with `tag` (or
 * FROST_COMM_ANY_TAG) and copies it into buf. A message longer than max_bytes is consumed
 * and refused (FROST_ERR_FORMAT, naming both sizes), so the next receive sees the next one.
 * *from, *got_tag and *bytes (each may be NULL) tell the sender, the tag and the length. */
frost_status frost_comm_recv(frost_comm *c, void *buf, size_t max_bytes, int source, int tag,
                             int *from, int *got_tag, size_t *bytes);
/* Without waiting: *ready tells whether such a message has arrived (then *from, *got_tag and
 * *bytes, each may be NULL, describe it; frost_comm_recv with that source and tag takes it). */
frost_status frost_comm_probe(frost_comm *c, int source, int tag, bool *ready, int *from,
                              int *got_tag, size_t *bytes);

/* In place: buf[count] becomes the deterministic sum over ranks described above.
 * count <= INT_MAX on every backend, so a program that runs on one rank runs on N. */
frost_status frost_comm_allreduce_sum(frost_comm *c, void *buf, size_t count, frost_comm_type type);

/* The same sum in two halves, so that computation can run while the data travels: start
 * sends, frost_comm_test moves it on without blocking (MPI progresses mostly inside MPI
 * calls, so call it now and then), frost_comm_wait finishes it and frees the request.
 * buf must not be read or written between start and wait. Several sums may be in flight;
 * start them in the same order on every rank (they may be waited for in any order). On
 * failure *req is NULL. */
frost_status frost_comm_allreduce_start(frost_comm *c, void *buf, size_t count,
                                        frost_comm_type type, frost_comm_request **req);
/* *done tells whether the sum has finished (buf then holds it; still call wait). */
frost_status frost_comm_test(frost_comm_request *req, bool *done);
/* Blocks until the sum is in buf; frees req whatever the outcome (NULL: nothing to do). */
frost_status frost_comm_wait(frost_comm_request *req);

/* A simulated network link, for measuring what overlap hides on one machine
 * (bench/mpi_scaling): every sum started afterwards is reported finished (test) or
 * returned (wait) no earlier than latency_us + 2(N-1)/N x bytes / rate after its start, as
 * if a network card moved it while the ranks compute, after the sums already on the link
 * (one link: they queue); the real exchange still happens.
 * 0 GB/s: latency only; 0 and 0: off (the default). Give every rank the same values.
 * Nothing changes with one rank. */
frost_status frost_comm_simulate_link(frost_comm *c, double latency_us, double gbytes_per_s);

/* In place: buf[count] becomes the element-wise maximum over ranks, the same on every rank
 * (a maximum does not depend on the order; NaN is ignored unless every rank has it). For a
 * minimum pass negated values. Gathers to rank 0 and broadcasts: meant for a few values,
 * such as QAT observer ranges. */
frost_status frost_comm_allreduce_max(frost_comm *c, float *buf, size_t count);

#endif
