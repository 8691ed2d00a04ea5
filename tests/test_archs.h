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

/* For binarized inputs (BNN, Bi-Real): an 8-bit first conv (8 channels, stride 2), then
 * conv+BN units whose input is binarized: c2 3x3 8 -> 32 (pad 1, 8 channels: a word's
 * tail), c3 3x3 32 -> 40 stride 2 pad 1 (32 channels: a whole word; border pixels on both
 * sides), c4 depthwise 3x3 over 40 (the grouped kernel), c5 1x1 40 -> 40 (two words, the
 * second 8 bits), a binarized linear layer over 7x7x40 = 1960 inputs, the 8-bit classifier.
 * No ReLU (the sign of a ReLU output is always +1): c4 and c5 keep their shapes, so Bi-Real
 * puts shortcuts around them. */
#define FROST_TEST_BINACT_ARCH                                                                   \
    "{\"name\":\"binact\",\"input\":{\"h\":28,\"w\":28,\"c\":1},\"classes\":10,\"layers\":["     \
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"k\":3,\"stride\":2,\"pad\":1},"                \
    "{\"name\":\"b1\",\"op\":\"bn\"},"                                                           \
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":32,\"k\":3,\"stride\":1,\"pad\":1},"               \
    "{\"name\":\"b2\",\"op\":\"bn\"},"                                                           \
    "{\"name\":\"c3\",\"op\":\"conv\",\"out\":40,\"k\":3,\"stride\":2,\"pad\":1},"               \
    "{\"name\":\"b3\",\"op\":\"bn\"},"                                                           \
    "{\"name\":\"c4\",\"op\":\"conv\",\"out\":40,\"k\":3,\"stride\":1,\"pad\":1,\"groups\":40}," \
    "{\"name\":\"b4\",\"op\":\"bn\"},"                                                           \
    "{\"name\":\"c5\",\"op\":\"conv\",\"out\":40,\"k\":1},"                                      \
    "{\"name\":\"b5\",\"op\":\"bn\"},"                                                           \
    "{\"name\":\"fl\",\"op\":\"flatten\"},"                                                      \
    "{\"name\":\"fc1\",\"op\":\"linear\",\"out\":20},"                                           \
    "{\"name\":\"fc2\",\"op\":\"linear\",\"out\":10}]}"

#endif
