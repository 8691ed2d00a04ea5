/*
 * Status codes, per-thread error messages and the thread count: the part of
 * the API every other header needs (frost.h includes everything).
 *
 * Every library function that can fail returns a frost_status; the readable
 * reason (naming the file, field or argument at fault) is kept per thread and
 * read with frost_last_error(). The library never calls exit() or prints.
 */
#ifndef FROST_STATUS_H
#define FROST_STATUS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FROST_OK = 0,
    FROST_ERR_ARG,         /* a caller passed a nonsense value */
    FROST_ERR_NOMEM,       /* an allocation failed */
    FROST_ERR_IO,          /* open/read/write/rename failed */
    FROST_ERR_FORMAT,      /* a file's contents are corrupt or not what they claim */
    FROST_ERR_SHAPE,       /* shapes that do not chain, or a mismatch with a model */
    FROST_ERR_UNSUPPORTED, /* valid but not implemented */
    FROST_ERR_NUMERIC,     /* NaN/Inf where a finite number is required */
    FROST_STOPPED          /* stopped on request (frost_train_config.stop): not a failure */
} frost_status;

/* Short fixed name of a status ("format error", ...). */
const char *frost_status_name(frost_status s);

/* The detailed message of the last error on this thread ("" if none). */
const char *frost_last_error(void);

/* Record an error message for this thread and return `s` (for `return frost_fail(...)`). */
frost_status frost_fail(frost_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Notes: things a user should hear about that are not errors (a file without a content
 * hash loaded unchecked, say). The library never prints; it hands each note to the
 * handler set here (none by default: notes are dropped). The handler may be called from
 * any thread that loads or trains; `note` is valid during the call only. */
typedef void (*frost_note_fn)(const char *note, void *user);
void frost_set_note_handler(frost_note_fn fn, void *user);

/* Memory cap: a file, data set, model or batch whose size exceeds it is refused before
 * anything is allocated, with the number in the error (FROST_ERR_NOMEM), instead of the
 * operating system killing the process midway. 0 restores the default: the machine's
 * physical memory. The CLI reads it from FROST_MEMORY_LIMIT (e.g. 512M, 4G). */
void frost_set_memory_limit(uint64_t bytes);
uint64_t frost_memory_limit(void);

/* Number of threads used by frost's own kernels and by OpenBLAS (default: all cores). */
void frost_set_threads(int n);
int frost_get_threads(void);

#endif
