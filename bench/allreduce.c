/* bench_allreduce: the time of frost's rank-ordered float sum (frost_comm_allreduce_sum)
 * against the buffer size, on the ranks mpirun started. bench/mpi_scaling fits a
 * latency + bytes / bandwidth line to it for its scaling model.
 *
 *   mpirun -np 2 build/bench_allreduce [REPEATS]    prints "bytes median_seconds" rows
 *
 * Each size is summed REPEATS times (default 31) after a barrier; the median over the
 * repeats of the slowest rank's time is reported by rank 0. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "frost/comm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 31;
    if (repeats < 1 || repeats > 1000) {
        fprintf(stderr, "usage: bench_allreduce [REPEATS 1..1000]\n");
        return 2;
    }
    frost_comm *c;
    if (frost_comm_create(&c) != FROST_OK) {
        fprintf(stderr, "bench_allreduce: %s\n", frost_last_error());
        return 1;
    }
    int rank = frost_comm_rank(c), ranks = frost_comm_size(c);
    double *times = malloc(sizeof(double) * (size_t)repeats);
    float *buf = malloc(sizeof(float) * ((size_t)1 << 22));
    double *all = malloc(sizeof(double) * (size_t)ranks);
    if (!times || !buf || !all)
        return 1;
    if (rank == 0)
        printf("# frost_comm_allreduce_sum, %d ranks (%s), median of %d\n# bytes seconds\n",
               ranks, frost_comm_backend(c), repeats);
    for (size_t floats = 1; floats <= ((size_t)1 << 22); floats *= 4) {
        for (size_t i = 0; i < floats; i++)
            buf[i] = (float)(i % 7) * 0.25f;
        for (int r = 0; r < repeats; r++) {
            frost_comm_barrier(c);
            double t0 = now_s();
            if (frost_comm_allreduce_sum(c, buf, floats, FROST_COMM_F32) != FROST_OK) {
                fprintf(stderr, "bench_allreduce: %s\n", frost_last_error());
                return 1;
            }
            double t[1] = {now_s() - t0};
            /* the slowest rank's time */
            frost_comm_gather(c, t, sizeof t, all, 0);
            double worst = t[0];
            for (int k = 0; rank == 0 && k < ranks; k++)
                worst = all[k] > worst ? all[k] : worst;
            times[r] = worst;
        }
        qsort(times, (size_t)repeats, sizeof(double), by_value);
        if (rank == 0)
            printf("%zu %.9f\n", floats * sizeof(float), times[repeats / 2]);
    }
    free(times);
    free(buf);
    free(all);
    frost_comm_destroy(c);
    return 0;
}
