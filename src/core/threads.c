/* Thread count shared by OpenMP (our kernels) and OpenBLAS (GEMM). */
#include "frost/status.h"

#include <cblas.h>
#include <omp.h>

static int frost_threads = 0;

void frost_set_threads(int n)
{
    if (n < 1)
        n = omp_get_num_procs();
    frost_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int frost_get_threads(void)
{
    if (frost_threads == 0)
        frost_set_threads(0);
    return frost_threads;
}
