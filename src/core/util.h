/* Small internal helpers shared by every subsystem: allocation, checks. */
#ifndef FROST_CORE_UTIL_H
#define FROST_CORE_UTIL_H

#include "frost/status.h"

#include <stddef.h>
#include <stdint.h>

/* 64-byte aligned allocation (for AVX2 loads and cache lines); free with frost_free.
 * Returns NULL on failure or when n == 0 overflowed; never aborts. */
void *frost_alloc(size_t bytes);
void *frost_calloc(size_t bytes);
void frost_free(void *p);

/* FROST_OK when `bytes` fit under the memory limit; else FROST_ERR_NOMEM with "<what> needs
 * N MB, more than the memory limit of M MB". Call before allocating what a file or a user
 * setting sized. */
frost_status frost_check_memory(uint64_t bytes, const char *what);

/* Hands a note to the handler set with frost_set_note_handler (or drops it). */
void frost_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checked size arithmetic: returns 0 and sets *out on success, -1 on overflow. */
int frost_mul_size(size_t a, size_t b, size_t *out);

#define FROST_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define FROST_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define FROST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Propagate a failing status. */
#define FROST_TRY(expr)                     \
    do {                                    \
        frost_status frost_try_s_ = (expr); \
        if (frost_try_s_ != FROST_OK)       \
            return frost_try_s_;            \
    } while (0)

#endif
