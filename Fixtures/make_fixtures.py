#!/usr/bin/env python3
"""Deterministic generator for Strata's DICOM test fixtures.

Usage
  python3 Fixtures/make_fixtures.py
      Rewrites Fixtures/valid/ and Fixtures/malformed/ (the committed fixtures)
      and checks each valid file reads back (pydicom; dcmdump if installed).
  python3 Fixtures/make_fixtures.py --ct-series N --out DIR [--size 512]
      Writes an N-slice CT head series (16-bit signed, BitsStored 12,
      Explicit VR LE) for benchmarks and crash tests. Not committed.
  python3 Fixtures/make_fixtures.py --series N --modality MR|CR|CT --out DIR [--size S]
      Same idea for MR (default 1024x1024) and CR (default 2000x2000).

Requirements (pip): pydicom==3.0.2 numpy pillow pyjpegls pylibjpeg
  pylibjpeg-openjpeg pylibjpeg-libjpeg
  - pyjpegls            encodes ct_jpegls.dcm (JPEG-LS lossless)
  - pylibjpeg-openjpeg  encodes ct_j2k.dcm (JPEG 2000 lossless), via pylibjpeg
  - pillow              encodes xc_jpeg_baseline.dcm (JPEG baseline)
  - pylibjpeg-libjpeg   only lets pydicom decode JPEG baseline and lossless on read-back
  DCMTK's dcmcjpeg (apt install dcmtk; optional, skipped with a message when
  absent) encodes ct_jpeg_lossless_sv1.dcm and us_rgb_jpeg_lossless_sv7.dcm
  (JPEG lossless, process 14), which no pip package encodes.
  RLE and Deflate use pydicom's own encoders / zlib.
  --ct-series / --series need only pydicom and numpy.

Determinism: fixed seeds, UIDs, dates and encoder settings, so re-running with
the same package versions gives identical bytes. A different zlib, libjpeg,
OpenJPEG, CharLS or numpy version may change the compressed bytes (never the
decoded pixels of lossless files).
"""

from __future__ import annotations

import argparse
import io
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

ROOT = "1.2.826.0.1.3680043.10.1453."
IMPLEMENTATION_UID = ROOT + "0.1"
IMPLEMENTATION_VERSION = "STRATA_FIX_1"

HERE = Path(__file__).resolve().parent

# SOP classes
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
VL_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4"
MF_SC_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"
MF_SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"
STUDY_ROOT_REF = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (for refs)


# --------------------------------------------------------------------------
# Patients and studies (different dates 2023-2025 so C-FIND/QIDO is testable)
# --------------------------------------------------------------------------

PATIENTS = {
    "P1": dict(PatientName="Doe^John", PatientID="STRATA-P001",
               PatientBirthDate="19650312", PatientSex="M"),
    "P2": dict(PatientName="Smith^Jane", PatientID="STRATA-P002",
               PatientBirthDate="19780921", PatientSex="F"),
    "P3": dict(PatientName="Garcia^Maria", PatientID="STRATA-P003",
               PatientBirthDate="19900105", PatientSex="F"),
    "P4": dict(PatientName="Müller^Jürgen", PatientID="STRATA-P004",
               PatientBirthDate="19551130", PatientSex="M"),
    "P5": dict(PatientName="Wang^XiaoDong=王^小东", PatientID="STRATA-P005",
               PatientBirthDate="19820704", PatientSex="M"),
}

# key: (study number for UIDs, patient, date, time, accession, description)
STUDIES = {
    "ST1": (1, "P1", "20230314", "091500", "ACC-2023-0001", "CT HEAD W/O CONTRAST"),
    "ST2": (2, "P1", "20240602", "143000", "ACC-2024-0002", "CT HEAD RECONSTRUCTIONS"),
    "ST3": (3, "P2", "20240122", "080000", "ACC-2024-0001", "MR BRAIN"),
    "ST4": (4, "P2", "20241105", "101010", "ACC-2024-0003", "CR CHEST PA"),
    "ST5": (5, "P3", "20250217", "113000", "ACC-2025-0001", "US ABDOMEN"),
    "ST6": (6, "P3", "20250530", "160500", "ACC-2025-0002", "DERMATOLOGY PHOTO"),
    "ST7": (7, "P2", "20230711", "070700", "ACC-2023-0002", "CT SINUS"),
    "ST8": (8, "P3", "20250109", "121200", "ACC-2025-0003", "CT HEAD WITH REQUEST"),
    "ST9": (9, "P4", "20250808", "094500", "ACC-2025-0004", "CT Schädel nativ (Überweisung)"),
    "ST10": (10, "P5", "20231010", "151515", "ACC-2023-0003", "头颅MRI平扫 brain MRI"),
}

STUDY_CHARSET = {"ST9": "ISO_IR 100", "ST10": "ISO_IR 192"}


def study_uid(n: int) -> str:
    return f"{ROOT}1.{n}"


def series_uid(n: int, s: int) -> str:
    return f"{ROOT}2.{n}.{s}"


def sop_uid(n: int, s: int, i: int) -> str:
    return f"{ROOT}3.{n}.{s}.{i}"


def frame_of_ref_uid(n: int) -> str:
    return f"{ROOT}4.{n}"


# --------------------------------------------------------------------------
# Synthetic images: layered soft-edged ellipses + smooth gradients + noise
# --------------------------------------------------------------------------

def smooth(a: np.ndarray, k: int) -> np.ndarray:
    """Separable box blur of width 2k+1 (edge-clamped), via cumulative sums."""
    if k <= 0:
        return a
    out = a.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (k + 1, k)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float64)
        hi = np.take(c, np.arange(2 * k + 1, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - 2 * k - 1), axis=axis)
        out = ((hi - lo) / (2 * k + 1)).astype(np.float32)
    return out


class Canvas:
    """Float image in normalised coordinates x,y in [-1, 1] (y down).

    paint() blends a soft-edged ellipse over the current content, touching
    only the ellipse's bounding box so large images stay fast.
    """

    def __init__(self, rows: int, cols: int, fill: float = 0.0):
        self.rows, self.cols = rows, cols
        self.img = np.full((rows, cols), fill, dtype=np.float32)
        self.x = ((np.arange(cols, dtype=np.float32) + 0.5) / cols) * 2 - 1
        self.y = ((np.arange(rows, dtype=np.float32) + 0.5) / rows) * 2 - 1
        self.edge = 1.2 * 2.0 / min(rows, cols)  # ~1.2 px soft edge

    def weight(self, cx, cy, a, b, theta=0.0):
        """(row slice, col slice, weight in [0,1]) for an ellipse, or None."""
        if a <= 0 or b <= 0:
            return None
        ext = max(a, b) + 2 * self.edge
        c0, c1 = np.searchsorted(self.x, [cx - ext, cx + ext])
        r0, r1 = np.searchsorted(self.y, [cy - ext, cy + ext])
        if c0 >= c1 or r0 >= r1:
            return None
        dx = self.x[c0:c1][None, :] - cx
        dy = self.y[r0:r1][:, None] - cy
        ct, st = np.cos(theta), np.sin(theta)
        u, v = dx * ct + dy * st, -dx * st + dy * ct
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        w = np.clip(0.5 + (1.0 - r) * min(a, b) / self.edge, 0.0, 1.0)
        return slice(r0, r1), slice(c0, c1), w

    def paint(self, cx, cy, a, b, value, theta=0.0):
        hit = self.weight(cx, cy, a, b, theta)
        if hit:
            rs, cs, w = hit
            self.img[rs, cs] += (np.float32(value) - self.img[rs, cs]) * w

    def add(self, cx, cy, a, b, delta, theta=0.0):
        hit = self.weight(cx, cy, a, b, theta)
        if hit:
            rs, cs, w = hit
            self.img[rs, cs] += np.float32(delta) * w


def head_ct_hu(size: int, z: float, seed: int, noise: float = 6.0) -> np.ndarray:
    """Axial head slice in HU. z in [-1, 1]: skull base (-1) to vertex (+1).

    Outside the circular reconstruction FOV the value is NaN (becomes padding).
    """
    cv = Canvas(size, size, -1000.0)
    s = float(np.sqrt(max(0.0, 1.0 - (0.92 * z) ** 2)))  # head narrows with |z|
    hy = -0.04  # head centre slightly above image centre (table below)
    # patient table: a curved band below the head
    tb = Canvas(size, size)
    tb.paint(0.0, 2.45, 1.9, 1.62, 1.0)
    tb.paint(0.0, 2.45, 1.86, 1.58, 0.0)
    cv.img += tb.img * 1150.0
    if s > 0.05:
        cv.paint(0, hy, 0.74 * s, 0.88 * s, 45.0)                    # scalp
        cv.paint(0, hy, 0.70 * s, 0.84 * s, 950.0)                   # outer table
        cv.paint(0, hy, 0.675 * s, 0.815 * s, 560.0)                 # diploe
        cv.paint(0, hy, 0.655 * s, 0.795 * s, 980.0)                 # inner table
        cv.paint(0, hy, 0.635 * s, 0.775 * s, 38.0)                  # grey matter
        cv.paint(0, hy + 0.01, 0.57 * s, 0.70 * s, 27.0)             # white matter
        # gyri: small grey-matter blobs just inside the cortex
        for k in range(14):
            ang = 2 * np.pi * k / 14 + 0.35 * z
            cv.paint(0.56 * s * np.cos(ang), hy + 0.69 * s * np.sin(ang),
                     0.06 * s, 0.035 * s, 37.0, ang)
        if abs(z) < 0.55:  # lateral ventricles, largest mid-brain
            vs = np.sqrt(1 - (z / 0.55) ** 2)
            for sx in (-1, 1):
                cv.paint(sx * 0.085, hy - 0.05, 0.06 * vs, 0.26 * vs, 6.0, sx * 0.18)
            cv.paint(0, hy + 0.22, 0.025 * vs, 0.05 * vs, 6.0)       # third ventricle
        if -0.2 < z < 0.5:  # basal ganglia
            for sx in (-1, 1):
                cv.paint(sx * 0.22, hy + 0.02, 0.07, 0.12, 40.0, -sx * 0.3)
        if z < -0.35:  # orbits and sinuses near the skull base
            e = np.sqrt(max(0.0, 1 - ((z + 0.7) / 0.35) ** 2))
            for sx in (-1, 1):
                cv.paint(sx * 0.26, hy - 0.62 * s, 0.14 * e, 0.12 * e, 900.0)
                cv.paint(sx * 0.26, hy - 0.62 * s, 0.12 * e, 0.10 * e, 12.0)
            cv.paint(0, hy - 0.45 * s, 0.12 * e, 0.16 * e, -850.0)
        if 0.1 < z < 0.45:  # a small hyperdense lesion
            cv.paint(-0.3, hy - 0.25, 0.05, 0.04, 65.0)
        # beam-hardening cupping + slight left/right gradient inside the head
        rr = cv.x[None, :] ** 2 + (cv.y[:, None] - hy) ** 2
        inside = Canvas(size, size)
        inside.paint(0, hy, 0.635 * s, 0.775 * s, 1.0)
        cv.img += inside.img * (10.0 * rr + 4.0 * cv.x[None, :])
    rng = np.random.default_rng(seed)
    cv.img += rng.standard_normal((size, size), dtype=np.float32) * np.float32(noise)
    fov = cv.x[None, :] ** 2 + cv.y[:, None] ** 2 > 1.0
    cv.img[fov] = np.nan
    return cv.img


def ct_stored(hu: np.ndarray, intercept: int = -1024, pad: int = -2000) -> np.ndarray:
    """HU -> signed 12-bit stored values; NaN (outside FOV) -> padding value."""
    out = np.where(np.isnan(hu), pad, np.rint(hu) - intercept)
    return np.clip(out, -2048, 2047).astype(np.int16)


def head_mr(size: int, z: float, seed: int) -> np.ndarray:
    """T1-weighted-looking head slice, unsigned 12-bit."""
    cv = Canvas(size, size, 0.0)
    s = float(np.sqrt(max(0.0, 1.0 - (0.92 * z) ** 2)))
    if s > 0.05:
        cv.paint(0, 0, 0.80 * s, 0.92 * s, 3300.0)            # scalp fat (bright)
        cv.paint(0, 0, 0.76 * s, 0.88 * s, 250.0)             # skull (dark)
        cv.paint(0, 0, 0.72 * s, 0.84 * s, 700.0)             # CSF rim
        cv.paint(0, 0, 0.70 * s, 0.82 * s, 1500.0)            # grey matter
        cv.paint(0, 0.01, 0.62 * s, 0.74 * s, 2200.0)         # white matter
        for k in range(16):
            ang = 2 * np.pi * k / 16 - 0.3 * z
            cv.paint(0.62 * s * np.cos(ang), 0.74 * s * np.sin(ang),
                     0.07 * s, 0.03 * s, 1450.0, ang)
        if abs(z) < 0.55:
            vs = np.sqrt(1 - (z / 0.55) ** 2)
            for sx in (-1, 1):
                cv.paint(sx * 0.09, -0.05, 0.065 * vs, 0.28 * vs, 600.0, sx * 0.18)
        # receive-coil bias field: smooth multiplicative gradient
        bias = 0.85 + 0.3 * (0.5 + 0.5 * cv.y[:, None]) * (1.0 - 0.2 * cv.x[None, :] ** 2)
        cv.img *= bias.astype(np.float32)
    rng = np.random.default_rng(seed)
    n = rng.standard_normal((2, size, size), dtype=np.float32) * np.float32(25.0)
    img = np.sqrt((cv.img + n[0]) ** 2 + n[1] ** 2)  # Rician magnitude noise
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def chest_cr(rows: int, cols: int, seed: int, bits: int = 10) -> np.ndarray:
    """Chest radiograph for MONOCHROME1 (high value = dark = more exposure)."""
    top = (1 << bits) - 1
    cv = Canvas(rows, cols, 0.97 * top)                         # direct exposure
    cv.paint(0, 0.15, 0.82, 1.05, 0.45 * top)                   # body soft tissue
    for sx in (-1, 1):
        cv.paint(sx * 0.38, -0.05, 0.30, 0.62, 0.78 * top, sx * 0.08)  # lungs
    cv.paint(0.08, 0.25, 0.26, 0.30, 0.40 * top)                # heart
    cv.paint(0, 0.2, 0.07, 0.85, 0.22 * top)                    # spine
    # ribs: darken (lower value) curved bands over the lungs
    y = cv.y[:, None]
    x = cv.x[None, :]
    ribs = 0.5 + 0.5 * np.cos(2 * np.pi * (y * 3.2 + 0.35 * x ** 2) * 1.8)
    lungs = (cv.img > 0.6 * top) & (cv.img < 0.9 * top)
    cv.img -= np.where(lungs, (ribs ** 6) * 0.12 * top, 0).astype(np.float32)
    cv.img = smooth(cv.img, max(1, min(rows, cols) // 200))
    rng = np.random.default_rng(seed)
    cv.img += rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.006 * top)
    return np.clip(np.rint(cv.img), 0, top).astype(np.uint16)


def us_rgb(rows: int, cols: int, seed: int) -> np.ndarray:
    """Ultrasound sector with speckle, a cyst and a colour-Doppler patch."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    ox, oy = cols / 2, -rows * 0.15                            # probe apex
    r = np.hypot(xx - ox, yy - oy)
    ang = np.arctan2(xx - ox, yy - oy)
    sector = (np.abs(ang) < 0.62) & (r > rows * 0.2) & (r < rows * 1.12)
    speckle = smooth(rng.rayleigh(1.0, (rows, cols)).astype(np.float32), 1)
    tissue = 110 + 40 * np.sin(r / rows * 9.0) - 0.5 * (r - rows * 0.2)
    cv = Canvas(rows, cols, 1.0)
    cv.paint(0.15, 0.25, 0.22, 0.18, 0.12)                     # anechoic cyst
    gray = np.where(sector, tissue * speckle * cv.img, 0.0)
    rgb = np.repeat(np.clip(gray, 0, 255)[..., None], 3, axis=2)
    flow = Canvas(rows, cols)
    flow.paint(-0.25, 0.1, 0.12, 0.3, 1.0, 0.4)
    f = (flow.img > 0.5) & sector
    vel = np.sin(yy / rows * 6.0)                              # signed flow speed
    toward, away = f & (vel >= 0), f & (vel < 0)
    rgb[toward] = np.stack([55 + 200 * vel, 20 + 0 * vel, 20 + 0 * vel], -1)[toward]  # red
    rgb[away] = np.stack([20 + 0 * vel, 40 + 0 * vel, 55 - 200 * vel], -1)[away]      # blue
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def skin_photo(rows: int, cols: int, seed: int) -> np.ndarray:
    """8-bit RGB 'dermatology photo': skin gradient with a pigmented lesion."""
    rng = np.random.default_rng(seed)
    y = np.linspace(-1, 1, rows, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, cols, dtype=np.float32)[None, :]
    zero = np.zeros((rows, cols), dtype=np.float32)
    base = np.stack([220 - 25 * y + 10 * x, 175 - 20 * y + zero, 150 - 15 * y + zero], -1)
    les = Canvas(rows, cols)
    les.paint(0.1, -0.05, 0.32, 0.24, 1.0, 0.5)
    les.add(0.02, 0.0, 0.15, 0.11, 0.6, 0.2)
    w = les.img[..., None]
    lesion = np.array([120, 70, 45], dtype=np.float32)
    img = base * (1 - 0.8 * np.minimum(w, 1)) + lesion * 0.8 * np.minimum(w, 1) - 30 * np.maximum(w - 1, 0)
    img += smooth(rng.standard_normal((rows, cols)).astype(np.float32), 1)[..., None] * 6
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Dataset construction
# --------------------------------------------------------------------------

def base_dataset(study: str, series_no: int, instance_no: int, sop_class: str,
                 modality: str, series_desc: str, body_part: str | None) -> Dataset:
    """Patient / general study / general series / general image modules."""
    n, pkey, date, tm, acc, desc = STUDIES[study]
    ds = Dataset()
    if study in STUDY_CHARSET:
        ds.SpecificCharacterSet = STUDY_CHARSET[study]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if modality in ("CT", "MR") else ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid(n, series_no, instance_no)
    ds.StudyDate = date
    ds.SeriesDate = date
    ds.ContentDate = date
    ds.StudyTime = tm
    ds.SeriesTime = tm
    ds.ContentTime = tm
    ds.AccessionNumber = acc
    ds.Modality = modality
    ds.Manufacturer = "Strata Fixtures"
    ds.InstitutionName = "Strata Test Hospital"
    ds.ReferringPhysicianName = "Welby^Marcus^^Dr."
    ds.StudyDescription = desc
    ds.SeriesDescription = series_desc
    for k, v in PATIENTS[pkey].items():
        setattr(ds, k, v)
    if body_part:
        ds.BodyPartExamined = body_part
    ds.StudyInstanceUID = study_uid(n)
    ds.SeriesInstanceUID = series_uid(n, series_no)
    ds.StudyID = f"S{n:04d}"
    ds.SeriesNumber = series_no
    ds.InstanceNumber = instance_no
    return ds


def set_pixels(ds: Dataset, arr: np.ndarray, bits_stored: int, photometric: str) -> None:
    """Image pixel module + native (little endian) PixelData from arr.

    arr is (rows, cols), (rows, cols, 3) or (frames, rows, cols).
    """
    rgb = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")
    frames = arr.shape[0] if (arr.ndim == 3 and not rgb) or arr.ndim == 4 else 1
    rows, cols = (arr.shape[1:3] if frames > 1 else arr.shape[:2])
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = photometric
    if rgb:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
    # native LE until written, so pixel_array / encoders work in memory
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def ct_module(ds: Dataset, for_uid: str, z_mm: float, pixel_mm: float) -> None:
    """CT image + image plane + frame of reference attributes."""
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.KVP = "120"
    ds.SliceThickness = "5"
    ds.ImagePositionPatient = [f"{-pixel_mm * ds.Columns / 2:.2f}",
                               f"{-pixel_mm * ds.Rows / 2:.2f}", f"{z_mm:.2f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = f"{z_mm:.2f}"
    ds.PixelSpacing = [f"{pixel_mm:.4g}", f"{pixel_mm:.4g}"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = ["40", "600"]
    ds.WindowWidth = ["80", "2800"]
    ds.WindowCenterWidthExplanation = ["BRAIN", "BONE"]
    ds.PixelPaddingValue = -2000
    ds["PixelPaddingValue"].VR = "SS"


def mr_module(ds: Dataset, for_uid: str, z_mm: float, pixel_mm: float) -> None:
    """MR image + image plane + frame of reference attributes."""
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = "500"
    ds.EchoTime = "12"
    ds.EchoTrainLength = 1
    ds.MagneticFieldStrength = "1.5"
    ds.SliceThickness = "4"
    ds.ImagePositionPatient = [f"{-pixel_mm * ds.Columns / 2:.2f}",
                               f"{-pixel_mm * ds.Rows / 2:.2f}", f"{z_mm:.2f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [f"{pixel_mm:.4g}", f"{pixel_mm:.4g}"]
    ds.WindowCenter = "1600"
    ds.WindowWidth = "3200"


def sc_module(ds: Dataset, frame_time_ms: str = "100") -> None:
    """SC equipment + multi-frame module attributes."""
    ds.ConversionType = "WSD"
    ds.FrameTime = frame_time_ms
    ds.FrameIncrementPointer = 0x00181063  # -> FrameTime
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"


def ct_slice(study: str, series_no: int, inst: int, size: int, z: float, seed: int) -> Dataset:
    ds = base_dataset(study, series_no, inst, CT_IMAGE, "CT", "Axial 5mm", "HEAD")
    set_pixels(ds, ct_stored(head_ct_hu(size, z, seed)), 12, "MONOCHROME2")
    ct_module(ds, frame_of_ref_uid(STUDIES[study][0]), z_mm=60.0 * z, pixel_mm=240.0 / size)
    return ds


def mf_frames(size: int, n: int, seed: int, offset: int = 0) -> np.ndarray:
    """n CT-phantom frames as unsigned 16-bit (stored = HU + 1024, pad 0)."""
    frames = [np.clip(np.nan_to_num(head_ct_hu(size, -0.3 + 0.2 * k, seed + k), nan=-1024.0)
                      + 1024 + offset, 0, 65535) for k in range(n)]
    return np.rint(np.stack(frames)).astype(np.uint16)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def to_bytes(ds: Dataset, ts: str) -> bytes:
    """Part 10 file bytes (preamble, DICM, file meta) for ds in syntax ts."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    uid = UID(ts)
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True,
                     implicit_vr=uid.is_implicit_VR, little_endian=uid.is_little_endian)
    return buf.getvalue()


def bare_bytes(ds: Dataset, implicit: bool = True, little: bool = True) -> bytes:
    """Dataset encoding only: no preamble, no DICM, no file meta."""
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    return fp.getvalue()


def encode_frames(ds: Dataset, ts: str, plugin: str, **kw) -> list[bytes]:
    """Encode each frame of ds's native PixelData with a fixed pydicom plugin."""
    enc = get_encoder(ts)
    n = int(ds.get("NumberOfFrames", 1))
    return [enc.encode(ds, index=i, encoding_plugin=plugin, **kw) for i in range(n)]


def set_encapsulated(ds: Dataset, data: bytes) -> None:
    ds.PixelData = data
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def splice(raw: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the unique occurrence of old with new (asserting uniqueness)."""
    assert raw.count(old) == 1, (old, raw.count(old))
    return raw.replace(old, new)


def pixel_data_offset(raw: bytes, explicit: bool = True) -> int:
    """Offset of the top-level (7FE0,0010) tag (last occurrence)."""
    tag = b"\xe0\x7f\x10\x00" + (b"OW" if explicit else b"")
    off = raw.rfind(tag)
    assert off > 0
    return off


# --------------------------------------------------------------------------
# Valid fixtures
# --------------------------------------------------------------------------

def build_valid() -> dict[str, tuple[bytes, np.ndarray, bool]]:
    """name -> (file bytes, expected decoded pixels, lossless?)."""
    out: dict[str, tuple[bytes, np.ndarray, bool]] = {}

    def add(name, raw, expected, lossless=True):
        out[name] = (raw, np.array(expected), lossless)

    # 1, 2: two slices of one CT series (Implicit / Explicit VR LE)
    ds = ct_slice("ST1", 1, 1, 128, 0.05, seed=101)
    add("ct_implicit_le.dcm", to_bytes(ds, ImplicitVRLittleEndian), ds.pixel_array)
    ds = ct_slice("ST1", 1, 2, 128, 0.15, seed=102)
    add("ct_explicit_le.dcm", to_bytes(ds, ExplicitVRLittleEndian), ds.pixel_array)

    # 3: MR, different patient
    ds = base_dataset("ST3", 1, 1, MR_IMAGE, "MR", "T1 SE AX", "HEAD")
    set_pixels(ds, head_mr(128, 0.1, seed=301), 12, "MONOCHROME2")
    mr_module(ds, frame_of_ref_uid(3), 4.0, 240.0 / 128)
    add("mr_explicit_le.dcm", to_bytes(ds, ExplicitVRLittleEndian), ds.pixel_array)

    # 4: CR, MONOCHROME1, 10 bits, Explicit VR Big Endian (OW bytes swapped)
    ds = base_dataset("ST4", 1, 1, CR_IMAGE, "CR", "PA", "CHEST")
    arr = chest_cr(128, 160, seed=401)
    set_pixels(ds, arr, 10, "MONOCHROME1")
    ds.PixelData = arr.astype(">u2").tobytes()
    ds.ViewPosition = "PA"
    ds.ImagerPixelSpacing = ["2.5", "2.5"]
    ds.WindowCenter = "512"
    ds.WindowWidth = "1024"
    add("cr_explicit_be.dcm", to_bytes(ds, ExplicitVRBigEndian), arr)

    # 5: US RGB 96x64 (Columns x Rows), 8-bit, PlanarConfiguration 0
    ds = base_dataset("ST5", 1, 1, US_IMAGE, "US", "Liver", "ABDOMEN")
    arr = us_rgb(64, 96, seed=501)
    set_pixels(ds, arr, 8, "RGB")
    add("us_rgb_explicit_le.dcm", to_bytes(ds, ExplicitVRLittleEndian), arr)

    # 6: multi-frame 64x64x4, 16 bits stored (uses the top bit), Deflated
    ds = base_dataset("ST2", 1, 1, MF_SC_WORD, "OT", "MF recon deflated", "HEAD")
    arr = mf_frames(64, 4, seed=601, offset=33000)
    set_pixels(ds, arr, 16, "MONOCHROME2")
    sc_module(ds)
    add("mf_deflated.dcm", to_bytes(ds, DeflatedExplicitVRLittleEndian), arr)

    # 7: MR 64x64 16-bit, RLE Lossless, basic offset table present
    ds = base_dataset("ST3", 2, 1, MR_IMAGE, "MR", "T1 SE AX low-res RLE", "HEAD")
    arr = head_mr(64, 0.2, seed=701)
    set_pixels(ds, arr, 12, "MONOCHROME2")
    mr_module(ds, frame_of_ref_uid(3), 8.0, 240.0 / 64)
    set_encapsulated(ds, encapsulate(encode_frames(ds, RLELossless, "pydicom"), has_bot=True))
    add("mr_rle.dcm", to_bytes(ds, RLELossless), arr)

    # 8: multi-frame 8-bit RLE, 3 frames, non-empty basic offset table
    ds = base_dataset("ST2", 2, 1, MF_SC_BYTE, "OT", "MF recon 8-bit RLE", "HEAD")
    arr = (mf_frames(64, 3, seed=801) >> 4).clip(0, 255).astype(np.uint8)
    set_pixels(ds, arr, 8, "MONOCHROME2")
    sc_module(ds)
    del ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType
    set_encapsulated(ds, encapsulate(encode_frames(ds, RLELossless, "pydicom"), has_bot=True))
    add("mf_rle.dcm", to_bytes(ds, RLELossless), arr)

    # 9: JPEG-LS lossless, JPEG 2000 lossless (signed CT), JPEG baseline (XC)
    ds = ct_slice("ST1", 2, 1, 128, 0.25, seed=901)
    arr = ds.pixel_array.copy()
    ds.SeriesDescription = "Axial 5mm JPEG-LS/J2K"
    set_encapsulated(ds, encapsulate(encode_frames(ds, JPEGLSLossless, "pyjpegls"), has_bot=False))
    add("ct_jpegls.dcm", to_bytes(ds, JPEGLSLossless), arr)

    ds = ct_slice("ST1", 2, 2, 128, 0.35, seed=902)
    arr = ds.pixel_array.copy()
    ds.SeriesDescription = "Axial 5mm JPEG-LS/J2K"
    set_encapsulated(ds, encapsulate(encode_frames(ds, JPEG2000Lossless, "pylibjpeg"), has_bot=True))
    add("ct_j2k.dcm", to_bytes(ds, JPEG2000Lossless), arr)

    add("xc_jpeg_baseline.dcm", *build_jpeg_baseline())

    # 10: encapsulated multi-frame with Extended Offset Table, empty BOT
    ds = base_dataset("ST2", 3, 1, MF_SC_WORD, "OT", "MF recon RLE EOT", "HEAD")
    arr = mf_frames(64, 4, seed=1001)
    set_pixels(ds, arr, 12, "MONOCHROME2")
    sc_module(ds)
    data, eot, eot_len = encapsulate_extended(encode_frames(ds, RLELossless, "pydicom"))
    set_encapsulated(ds, data)
    ds.ExtendedOffsetTable = eot
    ds.ExtendedOffsetTableLengths = eot_len
    add("mf_extended_offset.dcm", to_bytes(ds, RLELossless), arr)

    # 11: bare Implicit VR LE dataset (CT), no preamble / DICM / meta
    ds = ct_slice("ST1", 1, 3, 128, 0.25, seed=1101)
    add("no_preamble_implicit.dcm", bare_bytes(ds), ds.pixel_array)

    # 16, 17: JPEG lossless (process 14), which only DCMTK here can encode
    for name, raw, expected in build_dcmtk_lossless():
        add(name, raw, expected)

    add("odd_and_private.dcm", *build_odd_and_private())
    add("sequences.dcm", *build_sequences())

    # 14, 15: character sets
    ds = ct_slice("ST9", 1, 1, 64, 0.0, seed=1401)
    ds.SeriesDescription = "Schädel axial 5mm Weichteil"
    ds.InstitutionName = "Universitätsklinik Köln"
    add("latin1_name.dcm", to_bytes(ds, ExplicitVRLittleEndian), ds.pixel_array)

    ds = base_dataset("ST10", 1, 1, MR_IMAGE, "MR", "T1 轴位 axial", "HEAD")
    set_pixels(ds, head_mr(64, -0.1, seed=1501), 12, "MONOCHROME2")
    mr_module(ds, frame_of_ref_uid(10), -4.0, 240.0 / 64)
    ds.InstitutionName = "北京协和医院"
    add("utf8_name.dcm", to_bytes(ds, ExplicitVRLittleEndian), ds.pixel_array)
    return out


def build_jpeg_baseline():
    """XC 128x96 RGB photo, JPEG baseline (Pillow, 4:2:2), frame in 2 fragments."""
    from PIL import Image

    arr = skin_photo(96, 128, seed=951)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=90, subsampling=1,
                                     optimize=False, progressive=False)
    jpeg = buf.getvalue()
    ds = base_dataset("ST6", 1, 1, VL_PHOTO, "XC", "Lesion left forearm", "ARM")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    set_pixels(ds, arr, 8, "RGB")
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = f"{arr.nbytes / len(jpeg):.2f}"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.AcquisitionContextSequence = Sequence()
    set_encapsulated(ds, encapsulate([jpeg], fragments_per_frame=2, has_bot=False))
    return to_bytes(ds, JPEGBaseline8Bit), arr, False


def build_dcmtk_lossless() -> list[tuple[str, bytes, np.ndarray]]:
    """JPEG lossless files encoded by DCMTK's dcmcjpeg (pydicom cannot encode process 14).

    ct_jpeg_lossless_sv1.dcm holds the pixels of ct_explicit_le.dcm (same phantom slice) as its own
    series; us_rgb_jpeg_lossless_sv7.dcm those of us_rgb_explicit_le.dcm. Skipped, with a message,
    when dcmcjpeg is not installed.
    """
    dcmcjpeg = shutil.which("dcmcjpeg")
    if not dcmcjpeg:
        print("skipped ct_jpeg_lossless_sv1.dcm and us_rgb_jpeg_lossless_sv7.dcm: DCMTK's dcmcjpeg is not installed")
        return []
    ct = ct_slice("ST1", 3, 1, 128, 0.15, seed=102)  # the phantom of ct_explicit_le.dcm
    ct.SeriesDescription = "Axial 5mm JPEG lossless"
    us = base_dataset("ST5", 2, 1, US_IMAGE, "US", "Liver JPEG lossless", "ABDOMEN")
    set_pixels(us, us_rgb(64, 96, seed=501), 8, "RGB")  # the pixels of us_rgb_explicit_le.dcm
    jobs = [
        # 1.2.840.10008.1.2.4.70, selection value 1 (first-order prediction)
        ("ct_jpeg_lossless_sv1.dcm", ct, ["+e1"]),
        # 1.2.840.10008.1.2.4.57, selection value 7: (Ra + Rb) / 2
        ("us_rgb_jpeg_lossless_sv7.dcm", us, ["+el", "+sv", "7"]),
    ]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ds, options in jobs:
            expected = ds.pixel_array.copy()
            source, target = Path(tmp) / "in.dcm", Path(tmp) / name
            source.write_bytes(to_bytes(ds, ExplicitVRLittleEndian))
            r = subprocess.run([dcmcjpeg, *options, str(source), str(target)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"dcmcjpeg {name}: {r.stderr.strip()}")
            out.append((name, target.read_bytes(), expected))
    return out


def build_odd_and_private():
    """Private block, odd-length LO, wrong (0008,0000), no (0002,0000)."""
    ds = ct_slice("ST7", 1, 1, 64, -0.5, seed=1201)
    arr = ds.pixel_array.copy()
    ds.InstitutionName = "Odd Length Clinic"  # 17 chars; pydicom pads to 18
    ds.add_new(0x00090010, "LO", "STRATA TEST")
    ds.add_new(0x00091001, "LO", "private long string")
    ds.add_new(0x00091002, "OB", bytes(range(0, 250, 25)))  # 10 bytes
    ds.add_new(0x00091003, "UN", b"STRATA-UN-VALUE\x00")
    raw = to_bytes(ds, ExplicitVRLittleEndian)
    # pydicom never writes retired group lengths: insert a wrong (0008,0000)
    # (value 4; the real group is far longer) as the dataset's first element
    start = 144 + struct.unpack_from("<I", raw, 140)[0]
    assert raw[start:start + 2] == b"\x08\x00"
    raw = raw[:start] + b"\x08\x00\x00\x00UL\x04\x00" + struct.pack("<I", 4) + raw[start:]
    # odd length: drop the pad space and set the 16-bit length to 17
    raw = splice(raw, b"\x08\x00\x80\x00LO\x12\x00Odd Length Clinic ",
                 b"\x08\x00\x80\x00LO\x11\x00Odd Length Clinic")
    # remove (0002,0000) FileMetaInformationGroupLength (first meta element)
    assert raw[128:132] == b"DICM" and raw[132:138] == b"\x02\x00\x00\x00UL"
    raw = raw[:132] + raw[144:]
    return raw, arr, True


def implicit_item(ds: Dataset, undefined: bool) -> bytes:
    body = bare_bytes(ds, implicit=True)
    if undefined:
        return (b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body
                + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00")
    return b"\xfe\xff\x00\xe0" + struct.pack("<I", len(body)) + body


def build_sequences():
    """Defined/undefined length sequences and items, nesting, empty sequences,
    and a private UN of undefined length holding implicit VR LE items."""
    ds = ct_slice("ST8", 1, 1, 64, 0.3, seed=1301)
    arr = ds.pixel_array.copy()

    def code(value, scheme, meaning):
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
        return c

    # defined-length sequence with two defined-length items
    refs = []
    for k in (1, 2):
        it = Dataset()
        it.ReferencedSOPClassUID = STUDY_ROOT_REF
        it.ReferencedSOPInstanceUID = f"{ROOT}5.{k}"
        refs.append(it)
    ds.ReferencedStudySequence = Sequence(refs)

    # empty sequences: defined length 0 and undefined length (just a delimiter)
    ds.ReferencedPatientSequence = Sequence()
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds["ReferencedPerformedProcedureStepSequence"].is_undefined_length = True
    # a sequence holding one empty item
    ds.PerformedProtocolCodeSequence = Sequence([Dataset()])

    # undefined-length sequence -> undefined-length item -> nested sequences
    concept = code("121050", "DCM", "Equivalent meaning of concept name")
    ctx = Dataset()
    ctx.ValueType = "CODE"
    ctx.ConceptNameCodeSequence = Sequence([concept])         # level 3
    proto = code("P-HEAD-01", "99STRATA", "Head routine")
    proto.ProtocolContextSequence = Sequence([ctx])           # level 2
    proto["ProtocolContextSequence"].is_undefined_length = True
    ctx.is_undefined_length_sequence_item = True
    item1 = Dataset()
    item1.RequestedProcedureID = "RP-0001"
    item1.ScheduledProcedureStepID = "SPS-0001"
    item1.ScheduledProtocolCodeSequence = Sequence([proto])   # level 1
    item1.is_undefined_length_sequence_item = True
    item2 = Dataset()  # second item with defined length
    item2.RequestedProcedureID = "RP-0002"
    item2.ScheduledProcedureStepID = "SPS-0002"
    ds.RequestAttributesSequence = Sequence([item1, item2])
    ds["RequestAttributesSequence"].is_undefined_length = True

    # private UN of undefined length: placeholder, spliced after writing
    ds.add_new(0x00110010, "LO", "STRATA SEQ")
    ds.add_new(0x00111010, "UN", b"UN-PLACEHOLDER")
    raw = to_bytes(ds, ExplicitVRLittleEndian)
    a = code("T-A0100", "SRT", "Brain")
    b = Dataset()
    b.PatientID = "NESTED-ID"
    b.ReferencedStudySequence = Sequence([code("X1", "99STRATA", "inner")])
    un_value = (implicit_item(a, undefined=True) + implicit_item(b, undefined=False)
                + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    raw = splice(raw, b"\x11\x00\x10\x10UN\x00\x00\x0e\x00\x00\x00UN-PLACEHOLDER",
                 b"\x11\x00\x10\x10UN\x00\x00\xff\xff\xff\xff" + un_value)
    # check the encodings we asked pydicom for actually happened
    for tag in (b"\x40\x00\x75\x02", b"\x40\x00\x40\x04", b"\x08\x00\x11\x11"):
        assert tag + b"SQ\x00\x00\xff\xff\xff\xff" in raw, tag
    assert b"\x08\x00\x20\x11SQ\x00\x00\x00\x00\x00\x00" in raw  # empty, defined
    assert b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" in raw             # item delimiter
    return raw, arr, True


# --------------------------------------------------------------------------
# Malformed fixtures (byte surgery on valid ones)
# --------------------------------------------------------------------------

def build_malformed(valid: dict[str, tuple]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    ct = valid["ct_explicit_le.dcm"][0]
    ct_impl = valid["ct_implicit_le.dcm"][0]
    pix = pixel_data_offset(ct)
    pix_len = struct.unpack_from("<I", ct, pix + 8)[0]

    out["truncated.dcm"] = ct[: pix + 12 + pix_len // 2 + 1]

    # Implicit VR: every length is 4 bytes. The last header element before
    # PixelData gets a length that runs 64 bytes past the end of the file.
    ipix = pixel_data_offset(ct_impl, explicit=False)
    off = last_element_before(ct_impl, 132 + 12 + struct.unpack_from("<I", ct_impl, 140)[0], ipix)
    b = bytearray(ct_impl)
    struct.pack_into("<I", b, off + 4, len(b) - (off + 8) + 64)
    out["length_past_end.dcm"] = bytes(b)

    b = bytearray(ct)
    struct.pack_into("<I", b, pix + 8, 0xFFFFFFF0)
    out["absurd_length.dcm"] = bytes(b)

    seq = valid["sequences.dcm"][0]
    out["bad_item_delimiter.dcm"] = splice(
        seq, b"\x40\x00\x75\x02SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0",
        b"\x40\x00\x75\x02SQ\x00\x00\xff\xff\xff\xff\x34\x12\x78\x56")

    out["not_dicom.dcm"] = (b"This is not a DICOM file.\n"
                            b"It is plain text that happens to end in .dcm.\n")
    out["empty.dcm"] = b""
    meta_len = struct.unpack_from("<I", ct, 140)[0]
    out["meta_only.dcm"] = ct[: 144 + meta_len]
    return out


def last_element_before(raw: bytes, start: int, end: int) -> int:
    """Offset of the last top-level Implicit VR LE element in raw[start:end]."""
    off, last = start, start
    while off < end:
        last = off
        off += 8 + struct.unpack_from("<I", raw, off + 4)[0]
    assert off == end
    return last


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------

def verify(valid: dict[str, tuple], vdir: Path) -> bool:
    """Every valid file must parse and decode to its expected pixels."""
    ok = True
    dcmdump = shutil.which("dcmdump")
    for name, (_, expected, lossless) in valid.items():
        path = vdir / name
        try:
            ds = pydicom.dcmread(path, force=True)
            if "TransferSyntaxUID" not in ds.file_meta:  # bare dataset
                ds.file_meta.TransferSyntaxUID = (
                    ImplicitVRLittleEndian if ds.original_encoding[0] else ExplicitVRLittleEndian)
            px = ds.pixel_array
            assert px.shape == expected.shape, (px.shape, expected.shape)
            if lossless:
                assert np.array_equal(px, expected), "pixel mismatch"
            else:  # JPEG baseline: pydicom decodes to RGB; check PSNR
                mse = np.mean((px.astype(float) - expected.astype(float)) ** 2)
                psnr = 10 * np.log10(255 ** 2 / max(mse, 1e-9))
                assert psnr > 30, f"PSNR {psnr:.1f}"
            assert ds.SOPInstanceUID and ds.PatientID
        except Exception as e:  # noqa: BLE001
            ok = False
            print(f"FAIL pydicom {name}: {e}")
        if dcmdump:
            r = subprocess.run([dcmdump, "-q", str(path)], capture_output=True,
                               encoding="latin-1")
            if r.returncode != 0 or "E:" in r.stderr:
                ok = False
                print(f"FAIL dcmdump {name}: rc={r.returncode} {r.stderr.strip()[:300]}")
    return ok


# --------------------------------------------------------------------------
# Bulk series for benchmarks (not committed)
# --------------------------------------------------------------------------

SERIES_DEFAULT_SIZE = {"CT": 512, "MR": 1024, "CR": 2000}
SERIES_CODE = {"CT": 1, "MR": 2, "CR": 3}


def bulk_dataset(modality: str, n: int, i: int, size: int) -> Dataset:
    """Instance i (1-based) of an n-image bulk series; one study per run shape."""
    key = f"{SERIES_CODE[modality]}.{n}.{size}"
    z = -0.95 + 1.9 * (i - 1) / max(1, n - 1)
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20250101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = f"BENCH-{modality}-{n}"
    ds.Modality = modality
    ds.Manufacturer = "Strata Fixtures"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"Synthetic {modality} bulk series"
    ds.SeriesDescription = f"{n} images {size}px"
    ds.PatientName = "Bench^Phantom"
    ds.PatientID = f"STRATA-BENCH-{modality}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = f"{ROOT}9.1.{key}"
    ds.SeriesInstanceUID = f"{ROOT}9.2.{key}"
    ds.SOPInstanceUID = f"{ROOT}9.3.{key}.{i}"
    ds.StudyID = f"B{SERIES_CODE[modality]}"
    ds.SeriesNumber = 1
    ds.InstanceNumber = i
    if modality == "CT":
        ds.SOPClassUID = CT_IMAGE
        ds.BodyPartExamined = "HEAD"
        set_pixels(ds, ct_stored(head_ct_hu(size, z, seed=100000 + i)), 12, "MONOCHROME2")
        ct_module(ds, f"{ROOT}9.4.{key}", z_mm=5.0 * (i - 1), pixel_mm=240.0 / size)
    elif modality == "MR":
        ds.SOPClassUID = MR_IMAGE
        ds.BodyPartExamined = "HEAD"
        set_pixels(ds, head_mr(size, z, seed=200000 + i), 12, "MONOCHROME2")
        mr_module(ds, f"{ROOT}9.4.{key}", z_mm=4.0 * (i - 1), pixel_mm=240.0 / size)
    else:
        ds.SOPClassUID = CR_IMAGE
        ds.BodyPartExamined = "CHEST"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        set_pixels(ds, chest_cr(size, size, seed=300000 + i, bits=12), 12, "MONOCHROME1")
        ds.ImagerPixelSpacing = [f"{430.0 / size:.4g}"] * 2
        ds.WindowCenter, ds.WindowWidth = "2048", "4096"
    return ds


def write_series(modality: str, n: int, out: Path, size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for i in range(1, n + 1):
        ds = bulk_dataset(modality, n, i, size)
        (out / f"{modality.lower()}_{i:04d}.dcm").write_bytes(to_bytes(ds, ExplicitVRLittleEndian))
    print(f"wrote {n} {modality} images {size}x{size} to {out} in {time.time() - t0:.1f}s")


# --------------------------------------------------------------------------

def write_dir(d: Path, files: dict[str, bytes]) -> None:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for name, raw in files.items():
        (d / name).write_bytes(raw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ct-series", type=int, metavar="N", help="write an N-slice CT series")
    ap.add_argument("--series", type=int, metavar="N", help="write N images of --modality")
    ap.add_argument("--modality", choices=sorted(SERIES_CODE), default=None)
    ap.add_argument("--out", type=Path, help="output directory for --ct-series/--series")
    ap.add_argument("--size", type=int, help="image rows/columns (default by modality)")
    ap.add_argument("--no-verify", action="store_true", help="skip read-back checks")
    args = ap.parse_args()

    if args.ct_series is not None or args.series is not None:
        if args.ct_series is not None and args.modality not in (None, "CT"):
            ap.error("--ct-series is CT only; use --series N --modality ...")
        if args.out is None:
            ap.error("--out is required")
        modality = args.modality or "CT"
        n = args.ct_series if args.ct_series is not None else args.series
        write_series(modality, n, args.out, args.size or SERIES_DEFAULT_SIZE[modality])
        return 0

    valid = build_valid()
    malformed = build_malformed(valid)
    vdir, mdir = HERE / "valid", HERE / "malformed"
    write_dir(vdir, {k: v[0] for k, v in valid.items()})
    write_dir(mdir, malformed)
    for d, names in ((vdir, valid), (mdir, malformed)):
        for name in names:
            print(f"{(d / name).stat().st_size:8d}  {d.name}/{name}")
    if not args.no_verify and not verify(valid, vdir):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
