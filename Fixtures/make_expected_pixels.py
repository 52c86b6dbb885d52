#!/usr/bin/env python3
"""Reference pixels for the codec tests, decoded by pydicom.

Usage
  python3 Fixtures/make_expected_pixels.py

Writes Fixtures/expected/<fixture name without .dcm>.pixels for each fixture in
SOURCES: every frame's pixels as pydicom's `pixel_array` gives them, as native
little-endian cells (uint8 / '<u2' / '<i2' by BitsAllocated and Pixel
Representation), colour interleaved (R G B R G B ...), frames one after another.
pydicom converts the JPEG baseline fixture's YBR_FULL_422 to RGB.

Requirements (pip): pydicom==3.0.2 numpy pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pyjpegls pillow
(the same as make_fixtures.py). The tests compare their own decoders' output
with these bytes: exactly for lossless syntaxes, within 3 for JPEG baseline
(pydicom decodes it with pylibjpeg-libjpeg, whose chroma upsampling and
rounding differ slightly from libjpeg-turbo's).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom

HERE = Path(__file__).resolve().parent

SOURCES = [
    "mr_rle.dcm",
    "mf_rle.dcm",
    "mf_extended_offset.dcm",
    "xc_jpeg_baseline.dcm",
    "ct_explicit_le.dcm",  # the source of ct_jpeg_lossless_sv1.dcm
    "us_rgb_explicit_le.dcm",  # the source of us_rgb_jpeg_lossless_sv7.dcm
    "ct_jpegls.dcm",
    "ct_j2k.dcm",
]


def native_bytes(ds: pydicom.Dataset) -> bytes:
    arr = ds.pixel_array
    if ds.BitsAllocated == 8:
        dtype = "u1"
    else:
        dtype = "<i2" if ds.PixelRepresentation == 1 else "<u2"
    return np.ascontiguousarray(arr.astype(dtype)).tobytes()


def main() -> int:
    out = HERE / "expected"
    out.mkdir(exist_ok=True)
    for name in SOURCES:
        ds = pydicom.dcmread(HERE / "valid" / name)
        data = native_bytes(ds)
        frames = int(ds.get("NumberOfFrames", 1))
        expected = frames * ds.Rows * ds.Columns * ds.SamplesPerPixel * (ds.BitsAllocated // 8)
        assert len(data) == expected, (name, len(data), expected)
        target = out / (Path(name).stem + ".pixels")
        target.write_bytes(data)
        print(f"{len(data):8d}  expected/{target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
