/* Formatted writes without the printf family (see textfile.h). */
#include "io/textfile.h"

#include <stdarg.h>
#include <stdlib.h>

bool frost_file_printf(FILE *f, const char *fmt, ...)
{
    char small[512]; /* every line the library writes fits; longer ones take the heap */
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    char *text = small;
    if (n >= (int)sizeof small) {
        text = malloc((size_t)n + 1);
        if (text)
            vsnprintf(text, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    bool ok = n >= 0 && text && fwrite(text, 1, (size_t)n, f) == (size_t)n;
    if (text != small)
        free(text);
    return ok;
}
