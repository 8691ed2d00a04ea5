/* The per-layer latency table (frost/nas.h): a measured network is predicted from its own
 * layers alone, close to its measured total; a network at another resolution shares no
 * layer and falls back to the per-op fits; bad settings are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frost/frost.h"
#include "frost/nas.h"
#include "harness.h"

TEST(test_lut_predicts_measured_networks)
{
    frost_nas_space space = frost_nas_space_default();
    frost_nas_lut *lut = NULL;
    CHECK(frost_nas_lut_create(1, 5, false, &lut) == FROST_OK);
    if (!lut)
        return;
    frost_nas_genotype a, b;
    CHECK(frost_nas_from_string("r28.m310n.m360n.f53+n.g360w.m560s.d310n.m310n", &a) == FROST_OK);
    CHECK(frost_nas_from_string("r20.m310n.m360n.f53+n.g360w.m560s.d310n.m310n", &b) == FROST_OK);
    double measured = 0, predicted = 0;
    int layers = 0, missing = -1;
    CHECK(frost_nas_lut_measure(lut, &a, &space, true, &measured) == FROST_OK);
    int size = frost_nas_lut_size(lut);
    CHECK(size > 10);
    CHECK(frost_nas_lut_predict(lut, &a, &space, &predicted, &layers, &missing) == FROST_OK);
    CHECK_EQ_INT(missing, 0);
    CHECK(layers >= size); /* repeated layers share a key */
    /* the sum of per-layer medians against the median of whole runs: the same work,
     * timed separately (per-layer clock reads, a noisy shared machine) */
    printf("  measured %.4f ms, predicted from %d layers (%d keys) %.4f ms\n", measured, layers,
           size, predicted);
#ifndef __SANITIZE_ADDRESS__
    /* Under ASan the instrumentation outside the layers (and a loaded CI machine) makes
     * whole-network times 3-8x the per-layer sum; the bound holds for real builds. */
    CHECK(predicted > 0.5 * measured && predicted < 2.0 * measured);
#endif
    /* recording again adds samples, no keys */
    CHECK(frost_nas_lut_measure(lut, &a, &space, true, &measured) == FROST_OK);
    CHECK_EQ_INT(frost_nas_lut_size(lut), size);
    /* 20x20 input: every layer's shape differs, all estimated by the per-op fits */
    CHECK(frost_nas_lut_predict(lut, &b, &space, &predicted, &layers, &missing) == FROST_OK);
    CHECK(missing > 0 && missing >= layers - 2 && predicted > 0.0);
    frost_nas_lut_free(lut);
    CHECK(frost_nas_lut_create(0, 5, false, &lut) == FROST_ERR_ARG && lut == NULL);
}

/* The prediction is the sum of the table's entries over the network's layers, exactly:
 * a table filled by hand with a distinct value per key. */
TEST(test_lut_sums_its_entries)
{
    frost_nas_space space = frost_nas_space_default();
    frost_nas_lut *lut = NULL;
    CHECK(frost_nas_lut_create(1, 3, false, &lut) == FROST_OK);
    if (!lut)
        return;
    frost_nas_genotype g;
    CHECK(frost_nas_from_string("r24.m310n.g360n.m53+n.d310w.f560s.m36-n.m310n", &g) == FROST_OK);
    static char keys[400][FROST_NAS_KEY_LEN];
    int n = 0;
    CHECK(frost_nas_lut_keys(lut, &g, &space, keys, 400, &n) == FROST_OK);
    CHECK(n > 20 && n <= 400);
    double want = 0;
    for (int i = 0; i < n; i++) {
        int first = i; /* a key's value: 1 us times the index of its first layer */
        for (int j = 0; j < i; j++)
            if (strcmp(keys[j], keys[i]) == 0) {
                first = j;
                break;
            }
        if (first == i) {
            char op[16];
            sscanf(keys[i], "%15s", op);
            CHECK(frost_nas_lut_record(lut, keys[i], op, 1.0, 0.001 * (i + 1)) == FROST_OK);
        }
        want += 0.001 * (first + 1);
    }
    double got = -1;
    int layers = 0, missing = -1;
    CHECK(frost_nas_lut_predict(lut, &g, &space, &got, &layers, &missing) == FROST_OK);
    CHECK_EQ_INT(layers, n);
    CHECK_EQ_INT(missing, 0);
    CHECK_NEAR(got, want, 1e-12, 1e-12);
    CHECK(frost_nas_lut_record(lut, "x", "nosuchop", 1.0, 0.1) == FROST_ERR_ARG);
    frost_nas_lut_free(lut);
}

int main(void)
{
    RUN(test_lut_sums_its_entries);
    RUN(test_lut_predicts_measured_networks);
    return frost_test_summary();
}
