/* Per-thread error messages and status names (see include/frost/frost.h). */
#include "core/util.h"
#include "frost/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *frost_status_name(frost_status s)
{
    switch (s) {
    case FROST_OK: return "ok";
    case FROST_ERR_ARG: return "invalid argument";
    case FROST_ERR_NOMEM: return "out of memory";
    case FROST_ERR_IO: return "I/O error";
    case FROST_ERR_FORMAT: return "format error";
    case FROST_ERR_SHAPE: return "shape error";
    case FROST_ERR_UNSUPPORTED: return "unsupported";
    case FROST_ERR_NUMERIC: return "numeric error";
    case FROST_STOPPED: return "stopped";
    }
    return "unknown error";
}

const char *frost_last_error(void) { return last_error; }

frost_status frost_fail(frost_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

static frost_note_fn note_handler;
static void *note_user;

void frost_set_note_handler(frost_note_fn fn, void *user)
{
    note_handler = fn;
    note_user = user;
}

void frost_note(const char *fmt, ...)
{
    if (!note_handler)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    note_handler(text, note_user);
}
