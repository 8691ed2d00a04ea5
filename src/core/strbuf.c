/* Formatted appends into a growing string (see strbuf.h). */
#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `more` bytes plus the NUL; false (and b->failed) when out of memory. */
static bool reserve(frost_strbuf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *t = realloc(b->text, cap);
    if (!t) {
        b->failed = true;
        return false;
    }
    b->text = t;
    b->cap = cap;
    return true;
}

void frost_strbuf_vappendf(frost_strbuf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0)
        b->failed = true; /* an encoding error: the text would be incomplete */
    else if (reserve(b, (size_t)n))
        b->len += (size_t)vsnprintf(b->text + b->len, b->cap - b->len, fmt, again);
    va_end(again);
}

void frost_strbuf_appendf(frost_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    frost_strbuf_vappendf(b, fmt, ap);
    va_end(ap);
}

char *frost_strbuf_finish(frost_strbuf *b)
{
    char *t = b->failed ? NULL : b->text ? b->text : calloc(1, 1);
    if (b->failed)
        free(b->text);
    *b = (frost_strbuf){0};
    return t;
}
