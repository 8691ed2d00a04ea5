#include "core/util.h"
#include "frost/tensor.h"

#include <stdlib.h>
#include <string.h>

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
