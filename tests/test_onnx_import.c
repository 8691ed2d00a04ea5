/*
 * ONNX import: PyTorch exports (tests/fixtures/onnx/, made by make_onnx_fixtures.py) give
 * frost the same logits and intermediate tensors within 1e-4 of their scale.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "onnx_cases.h"

#define FIXTURES "tests/fixtures/onnx"

TEST(committed_cases_match_pytorch)
{
    const char *only = getenv("FROST_ONNX_CASE");
    DIR *d = opendir(only ? only : FIXTURES);
    int cases = 0;
    if (only) {
        closedir(d);
        CHECK_EQ_INT(frost_test_onnx_case(only, 1e-4), 0);
        return;
    }
    CHECK(d != NULL);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char dir[512], manifest[600];
        snprintf(dir, sizeof dir, "%s/%s", FIXTURES, e->d_name);
        snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
        FILE *f = e->d_name[0] == '.' ? NULL : fopen(manifest, "r");
        if (!f)
            continue;
        fclose(f);
        CHECK_EQ_INT(frost_test_onnx_case(dir, 1e-4), 0);
        cases++;
    }
    if (d)
        closedir(d);
    CHECK(cases >= 4);
}

FROST_TEST_MAIN(RUN(committed_cases_match_pytorch))
