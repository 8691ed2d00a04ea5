/* safetensors (src/io/safetensors.c): both readers, the loaded copy and the memory map,
 * must accept and refuse the same files, and every tensor they hand out must lie inside
 * the file with the bytes its shape needs. */
#include "fuzz_util.h"

#include "frost/io.h"

static int64_t dtype_size(frost_dtype dt)
{
    return dt == FROST_DT_I64 ? 8 : (dt == FROST_DT_F32 || dt == FROST_DT_I32) ? 4 : 1;
}

/* Touches every byte a tensor claims, so ASan sees any that lie outside the file. */
static unsigned checksum(const frost_st_file *f)
{
    unsigned sum = 0;
    for (int i = 0; i < frost_st_count(f); i++) {
        const frost_st_tensor *t = frost_st_get(f, i);
        int64_t n = dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++)
            n *= t->shape[d];
        for (int64_t k = 0; k < n; k++)
            sum += ((const uint8_t *)t->data)[k];
        if (frost_st_find(f, t->name) == NULL)
            abort();
    }
    (void)frost_st_meta_get(f, "format");
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("in.safetensors", data, size);
    frost_st_file *a = NULL, *b = NULL;
    frost_status sa = frost_st_read(path, &a);
    frost_status sb = frost_st_map(path, &b);
    if ((sa == FROST_OK) != (sb == FROST_OK))
        abort(); /* the two readers disagree */
    if (sa == FROST_OK) {
        if (frost_st_count(a) != frost_st_count(b) || checksum(a) != checksum(b))
            abort();
        frost_st_close(a);
        frost_st_close(b);
    }
    return 0;
}
