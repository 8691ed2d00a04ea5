/*
 * Command-line numbers for the bench programs: the whole string must be a number inside
 * [lo, hi] (no trailing text, no overflow), else the parser returns false and the caller
 * reports the option.
 */
#ifndef FROST_BENCH_ARGS_H
#define FROST_BENCH_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static inline bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static inline bool parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static inline bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

#endif
