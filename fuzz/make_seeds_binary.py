#!/usr/bin/env python3
"""Binary seeds for fuzz/make_seeds.sh: small images (Netpbm written here, PNG by zlib,
JPEG by ImageMagick when it is installed) and IDX data sets cut from Fashion-MNIST."""
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import zlib

out = sys.argv[1]
FASHION = "/usr/share/datasets/fashion-mnist"


def write(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def gradient(h, w, c):
    return bytes((7 * y + 13 * x + 50 * k) & 255 for y in range(h) for x in range(w) for k in range(c))


def png(h, w, c, bits=8):
    color = {1: 0, 3: 2, 4: 6}[c]
    rows = b"".join(b"\0" + gradient(h, w, c)[y * w * c:(y + 1) * w * c] for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


write("image", "gray.pgm", b"P5\n# a comment\n6 5\n255\n" + gradient(5, 6, 1))
write("image", "rgb.ppm", b"P6\n4 3\n255\n" + gradient(3, 4, 3))
write("image", "ascii.pgm", b"P2\n3 2\n65535\n0 1000 65535\n7 8 9\n")
write("image", "ascii.ppm", b"P3\n2 1\n15\n1 2 3 4 5 15\n")
write("image", "gray.png", png(5, 6, 1))
write("image", "rgb.png", png(4, 4, 3))
write("image", "rgba.png", png(3, 5, 4))
# JPEG: libjpeg (libjpeg-dev, a build dependency) through a few lines of C
JPEG_WRITER = r"""
#include <stdio.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
    int c = argv[2][0] - '0', w = 8, h = 6;
    FILE *f = fopen(argv[1], "wb");
    struct jpeg_compress_struct ci; struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); jpeg_create_compress(&ci); jpeg_stdio_dest(&ci, f);
    ci.image_width = w; ci.image_height = h; ci.input_components = c;
    ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci); jpeg_set_quality(&ci, 80, TRUE);
    if (argc > 3) jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[8 * 3];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * c; x++) row[x] = (unsigned char)(7 * y + 13 * x);
        JSAMPROW r = row; jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci); jpeg_destroy_compress(&ci); fclose(f); return 0;
}
"""
with tempfile.TemporaryDirectory() as tmp:
    src, exe = os.path.join(tmp, "w.c"), os.path.join(tmp, "w")
    open(src, "w").write(JPEG_WRITER)
    subprocess.run(["cc", "-o", exe, src, "-ljpeg"], check=True)
    for name, args in (("gray.jpg", ["1"]), ("rgb.jpg", ["3"]), ("progressive.jpg", ["3", "p"])):
        subprocess.run([exe, os.path.join(out, "image", name)] + args, check=True)

def idx(dims, payload):
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def pair(images, labels):
    return struct.pack("<I", len(images)) + images + labels


def fashion(name, n):
    with gzip.open(os.path.join(FASHION, name)) as f:
        head = f.read(16 if "images" in name else 8)
        return f.read(n * 784 if "images" in name else n)


if os.path.exists(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")):
    pixels, labels = fashion("t10k-images-idx3-ubyte.gz", 2), fashion("t10k-labels-idx1-ubyte.gz", 2)
else:
    pixels, labels = gradient(2 * 28, 28, 1), bytes([3, 7])
images3 = idx([2, 28, 28], pixels)
write("idx", "fashion2.bin", pair(images3, idx([2], labels)))
write("idx", "fashion2_gz.bin", pair(gzip.compress(images3), gzip.compress(idx([2], labels))))
write("idx", "rgb4d.bin", pair(idx([3, 2, 2, 3], gradient(6, 2, 3)), idx([3], bytes([0, 1, 2]))))
