/*
 * Architectures several tests build (JSON, frost_model_from_json).
 *
 * FROST_TEST_SE_ARCH: a squeeze-excite block on a 1-channel h x w input with 10 classes:
 * conv -> BN -> ReLU, a gate from a global-pool / 1x1 squeeze / ReLU / 1x1 expand /
 * sigmoid branch times the map (a per-channel mul), SiLU, and a same-shape mul of that
 * with the block's input. `tail` is the rest of the layer list after that (from a comma on),
 * e.g. the head.
 */
#ifndef FROST_TEST_ARCHS_H
#define FROST_TEST_ARCHS_H

#define FROST_TEST_SE_LAYERS                                                            \
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":2},"                 \
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"a1\",\"op\":\"act\",\"fn\":\"relu\"}," \
    "{\"name\":\"se_gap\",\"op\":\"gap\"},"                                             \
    "{\"name\":\"se_c1\",\"op\":\"conv\",\"out\":4,\"k\":1,\"bias\":true},"             \
    "{\"name\":\"se_r\",\"op\":\"act\",\"fn\":\"relu\"},"                               \
    "{\"name\":\"se_c2\",\"op\":\"conv\",\"out\":8,\"k\":1,\"bias\":true},"             \
    "{\"name\":\"se_s\",\"op\":\"act\",\"fn\":\"sigmoid\"},"                            \
    "{\"name\":\"se\",\"op\":\"mul\",\"in\":[\"a1\",\"se_s\"]},"                        \
    "{\"name\":\"sw\",\"op\":\"act\",\"fn\":\"silu\"},"                                 \
    "{\"name\":\"sq\",\"op\":\"mul\",\"in\":[\"sw\",\"a1\"]}"

#define FROST_TEST_SE_ARCH(h, w, tail)                                               \
    "{\"name\":\"se\",\"input\":{\"h\":" #h ",\"w\":" #w ",\"c\":1},\"classes\":10," \
    "\"layers\":[" FROST_TEST_SE_LAYERS tail "]}"

/* The head most of them end with: global average pool and a 10-class linear layer. */
#define FROST_TEST_GAP_FC_HEAD \
    ",{\"name\":\"gap\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":10}"

#endif
