#!/usr/bin/env python3
"""Writes names.txt, the first names shipped with backprop-runtime, from the 1990 US
Census lists in the `names` package's source distribution on PyPI.

Standard library only:

    pip download --no-deps names==0.3.0 -d /tmp/dl
    python3 names.py /tmp/dl/names-0.3.0.tar.gz --out .

The package holds names/dist.female.first (4275 rows) and names/dist.male.first (1219
rows), each row a name in capitals, its frequency in percent, the cumulative frequency
and its rank. names.txt holds each name once, in lower case, one a line: the female list
in its order (most frequent first), then the male names not already in it. Every name is
checked to be letters a-z only, so that with `.` as the end the vocabulary is 27.
"""

import argparse
import hashlib
import os
import string
import tarfile

MEMBERS = ["names-0.3.0/names/dist.female.first", "names-0.3.0/names/dist.male.first"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sdist")
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    with open(args.sdist, "rb") as f:
        print("sdist", hashlib.sha256(f.read()).hexdigest())
    names, seen = [], set()
    with tarfile.open(args.sdist) as tar:
        for member in MEMBERS:
            data = tar.extractfile(member).read()
            print(member, len(data), hashlib.sha256(data).hexdigest())
            for line in data.decode("ascii").splitlines():
                if not line.strip():
                    continue
                name = line.split()[0].lower()
                assert set(name) <= set(string.ascii_lowercase), name
                if name not in seen:
                    seen.add(name)
                    names.append(name)
    out = "\n".join(names) + "\n"
    path = os.path.join(args.out, "names.txt")
    with open(path, "w") as f:
        f.write(out)
    print("names.txt", len(names), "names", len(out), "bytes", hashlib.sha256(out.encode()).hexdigest())


if __name__ == "__main__":
    main()
