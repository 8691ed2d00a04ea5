/*
 * ONNX import of torchvision's mobilenet_v2, mnasnet0_5 and resnet18 (random weights,
 * randomized BN statistics, 224x224), exported by Debian's PyTorch at opsets 13 and 17,
 * BN folded and kept: frost's logits and intermediate tensors within 1e-4 of the output's
 * scale. The files (~300 MB) are made at run time by make_onnx_fixtures.py into a
 * temporary folder; without PyTorch the test is skipped (exit 77).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "onnx_cases.h"

#define SCRIPT "tests/fixtures/onnx/make_onnx_fixtures.py"
#define PYTHON "/usr/bin/python3" /* Debian's, where python3-torch lives */

static char dir[256];

static const char *const cases[] = {
    "mobilenet_v2_op13_fold", "mobilenet_v2_op13_bn", "mobilenet_v2_op17_fold",
    "mobilenet_v2_op17_bn",   "mnasnet0_5_op13_fold", "mnasnet0_5_op13_bn",
    "mnasnet0_5_op17_fold",   "mnasnet0_5_op17_bn",   "resnet18_op13_fold",
    "resnet18_op13_bn",       "resnet18_op17_fold",   "resnet18_op17_bn",
};

TEST(torchvision_models_match_pytorch)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, cases[i]);
        CHECK_EQ_INT(frost_test_onnx_case(path, 1e-4), 0);
    }
}

int main(void)
{
    if (system(PYTHON " -c 'import torch, torchvision, onnx' 2>/dev/null") != 0) {
        printf("SKIP: Debian's python3-torch, python3-torchvision and python3-onnx are needed "
               "(scripts/setup installs them)\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "/tmp/frost_onnx_tv_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, PYTHON " " SCRIPT " %s --only big > %s/make.log 2>&1", dir, dir);
    printf("making the ONNX files: %s\n", cmd);
    fflush(stdout);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/make.log", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
        fprintf(stderr, "make_onnx_fixtures.py failed\n");
        return 1;
    }
    RUN(torchvision_models_match_pytorch);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return frost_test_summary();
}
