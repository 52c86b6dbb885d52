"""The real-file corpus: every file with pixel data among pydicom's own test files and the pydicom-data package
(both pinned in requirements.txt) that pydicom itself decodes, and what pydicom reads from each: the independent
oracle for what Strata keeps and gives back."""

from __future__ import annotations

import copy
import functools
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_files
from pydicom.pixels import apply_color_lut

from conftest import LOSSY_SYNTAXES

# 124 files with pinned pydicom 3.0.2 and pydicom-data 1.0.0: fewer means a package is missing or changed.
EXPECTED_CORPUS_SIZE = 124

@functools.cache
def corpus_files() -> tuple[Path, ...]:
    """Every file pydicom finds among its test files that has Pixel Data it can decode."""
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = sorted({Path(p) for p in get_testdata_files("*")}, key=lambda p: p.name)
        for path in paths:
            try:
                ds = pydicom.dcmread(path)
                if "PixelData" in ds:
                    ds.pixel_array
                    found.append(path)
            except Exception:
                continue
    return tuple(found)


def read(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def pixels(ds: pydicom.Dataset) -> np.ndarray:
    """pydicom's reading of the samples, by the dataset's own header, shaped (frames, rows, columns[, samples])."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = ds.pixel_array
    return array if int(ds.get("NumberOfFrames", 1) or 1) > 1 else array[np.newaxis]


def displayed_colour(ds: pydicom.Dataset) -> np.ndarray:
    """The samples as colours when the image is a palette image (the lookup applied), else as `pixels` reads them."""
    array = pixels(ds)
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        if not ds.file_meta._tsyntax_encoding[1] and "RedPaletteColorLookupTableData" in ds:
            # pydicom 3.0.2 reads plain (not segmented) palette data in the machine's byte order, not the file's:
            # the tables of a big-endian file are swapped to little endian first.
            ds = copy.deepcopy(ds)
            for colour in ("Red", "Green", "Blue"):
                keyword = f"{colour}PaletteColorLookupTableData"
                ds[keyword].value = np.frombuffer(ds[keyword].value, ">u2").astype("<u2").tobytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return apply_color_lut(array, ds)
    return array


def syntax_of(ds: pydicom.Dataset) -> str:
    return str(ds.file_meta.TransferSyntaxUID)


def is_lossy_original(ds: pydicom.Dataset) -> bool:
    return syntax_of(ds) in LOSSY_SYNTAXES or str(ds.get("LossyImageCompression", "00")) == "01"
