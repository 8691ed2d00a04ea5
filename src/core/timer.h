/* Wall-clock timing helpers shared by the latency code (int8 runtime, frost bench, the
 * benchmark programs): a monotonic clock in milliseconds and the median of samples. */
#ifndef FROST_CORE_TIMER_H
#define FROST_CORE_TIMER_H

#include <stdlib.h>
#include <time.h>

static inline double frost_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static inline int frost_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n > 0 samples (sorts v in place; the mean of the middle two when n is even). */
static inline double frost_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, frost_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
