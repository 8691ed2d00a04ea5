/*
 * A growing text buffer with formatted appends (vsnprintf into memory). The library
 * never prints: reports such as a model's layer table are built as strings with this
 * and handed to the caller, who decides where they go.
 */
#ifndef FROST_CORE_STRBUF_H
#define FROST_CORE_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *text; /* NUL-terminated once anything was appended */
    size_t len, cap;
    bool failed; /* an append ran out of memory; later appends do nothing */
} frost_strbuf;

void frost_strbuf_appendf(frost_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void frost_strbuf_vappendf(frost_strbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The text (malloc'd, "" when nothing was appended; the caller frees it), or NULL if an
 * append ran out of memory. Either way b is left empty. */
char *frost_strbuf_finish(frost_strbuf *b);

#endif
