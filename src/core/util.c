#include "core/util.h"
#include "frost/tensor.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *frost_alloc(size_t bytes)
{
    if (bytes == 0)
        bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes)
        return NULL;
    return aligned_alloc(64, rounded);
}

void *frost_calloc(size_t bytes)
{
    void *p = frost_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void frost_free(void *p) { free(p); }

int frost_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int64_t frost_tensor_numel(const frost_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* 0: not set, the physical memory applies. Set once by the application at start. */
static uint64_t memory_limit;

void frost_set_memory_limit(uint64_t bytes) { memory_limit = bytes; }

uint64_t frost_memory_limit(void)
{
    if (memory_limit)
        return memory_limit;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
}

frost_status frost_check_memory(uint64_t bytes, const char *what)
{
    uint64_t limit = frost_memory_limit();
    if (bytes <= limit)
        return FROST_OK;
    return frost_fail(FROST_ERR_NOMEM,
                      "%s needs %.1f MB, more than the memory limit of %.1f MB (%s)", what,
                      (double)bytes / 1e6, (double)limit / 1e6,
                      memory_limit ? "set by the application, FROST_MEMORY_LIMIT in the CLI"
                                   : "this machine's memory");
}
