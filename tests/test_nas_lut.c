/* The per-layer latency table (frost/nas.h): a measured network is predicted from its own
 * layers alone, close to its measured total; a network at another resolution shares no
 * layer and falls back to the per-op fits; bad settings are refused. */
#include <math.h>
#include <stdlib.h>

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
    CHECK(predicted > 0.5 * measured && predicted < 2.0 * measured);
    /* recording again adds samples, no keys */
    CHECK(frost_nas_lut_measure(lut, &a, &space, true, &measured) == FROST_OK);
    CHECK_EQ_INT(frost_nas_lut_size(lut), size);
    /* 20x20 input: every layer's shape differs, all estimated by the per-op fits */
    CHECK(frost_nas_lut_predict(lut, &b, &space, &predicted, &layers, &missing) == FROST_OK);
    CHECK(missing > 0 && missing >= layers - 2 && predicted > 0.0);
    frost_nas_lut_free(lut);
    CHECK(frost_nas_lut_create(0, 5, false, &lut) == FROST_ERR_ARG && lut == NULL);
}

int main(void)
{
    RUN(test_lut_predicts_measured_networks);
    return frost_test_summary();
}
