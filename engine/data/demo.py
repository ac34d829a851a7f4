"""A synthetic, H&E-like demo dataset in BreaKHis layout, made in seconds.

Images are painted in optical density (Beer-Lambert): a hematoxylin map
(nuclei) and an eosin map (fibrous stroma) are mixed with the Ruifrok &
Johnston (Anal. Quant. Cytol. Histol. 2001) stain vectors, so colours look
like a real stain: pink stroma, purple nuclei, white lumens.

* benign: orderly ducts (a white lumen ringed by small, round, regular
  nuclei) and a few slim stromal nuclei;
* malignant: dense clusters of large, irregular (polygonal), unevenly dark
  nuclei of varying size;
* every patient gets a slightly different stain and nuclear size, so a
  patient-grouped split matters; higher magnification shows bigger, fewer nuclei.

Output is deterministic for a seed (same bytes) and idempotent: a hidden
marker written last records the parameters, and a complete dataset with the
same parameters is returned untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ConfigError, DataError
from engine.io_utils import read_json, write_json
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.paths import datasets_dir

GENERATOR_VERSION = 1
MARKER = ".histodesk-demo.json"
TREE = Path("BreaKHis_v1", "histology_slides", "breast")
SUBTYPES = {
    "benign": (("A", "adenosis"), ("F", "fibroadenoma"), ("PT", "phyllodes_tumor"), ("TA", "tubular_adenoma")),
    "malignant": (("DC", "ductal_carcinoma"), ("LC", "lobular_carcinoma"), ("MC", "mucinous_carcinoma"),
                  ("PC", "papillary_carcinoma")),
}
_H = np.array([0.65, 0.70, 0.29], np.float32)  # hematoxylin optical-density vector
_E = np.array([0.21, 0.83, 0.50], np.float32)  # eosin, fitted to a pale pink stroma
_YEAR = "22"
# Fast lossless PNG: level 1, Huffman only (noisy texture gains little from more effort).
_PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def demo_path() -> Path:
    """Default location of the demo dataset: ``datasets_dir()/"demo-breakhis"``."""
    return datasets_dir() / "demo-breakhis"


def _noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Smooth random field with features about ``cell`` pixels wide, unit spread."""
    h, w = shape
    if cell <= 2:
        field = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), cell)
    else:  # large features: upsample a coarse grid, far cheaper than a wide blur
        small = rng.standard_normal((int(h / cell) + 2, int(w / cell) + 2), dtype=np.float32)
        field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return field / (field.std() + 1e-6)


def _fibres(rng: np.random.Generator, shape: tuple[int, int], angle: float, scale: float) -> np.ndarray:
    """Stroma texture: noise smeared along ``angle`` (a motion-blur line kernel)."""
    length = int(7 + 6 * scale) | 1
    kernel = np.zeros((length, length), np.float32)
    c, dx, dy = length // 2, np.cos(angle), np.sin(angle)
    cv2.line(kernel, (int(c - dx * c), int(c - dy * c)), (int(c + dx * c), int(c + dy * c)), 1.0, 1)
    fine = cv2.filter2D(rng.standard_normal(shape, dtype=np.float32), -1, kernel / kernel.sum())
    return fine / (fine.std() + 1e-6)


def _outlines(rng: np.random.Generator, centers: np.ndarray, radii: np.ndarray, irregular: bool) -> np.ndarray:
    """(N, V, 2) int32 outlines: squashed ellipses, or lumpy polygons when ``irregular``."""
    n, v = len(centers), (9 if irregular else 12)
    theta = np.linspace(0, 2 * np.pi, v, endpoint=False) + rng.uniform(0, 2 * np.pi, (n, 1))
    jitter = rng.uniform(0.72, 1.25, (n, v)) if irregular else 1.0
    squash = rng.uniform(0.7, 1.0, (n, 1))
    turn = rng.uniform(0, np.pi, (n, 1))
    x, y = radii[:, None] * jitter * np.cos(theta), radii[:, None] * jitter * squash * np.sin(theta)
    xs = centers[:, :1] + x * np.cos(turn) - y * np.sin(turn)
    ys = centers[:, 1:] + x * np.sin(turn) + y * np.cos(turn)
    return np.round(np.stack([xs, ys], axis=2)).astype(np.int32)


def _paint(hmap: np.ndarray, outlines: np.ndarray, darkness: np.ndarray) -> None:
    """Fill each nucleus outline into the hematoxylin map with its own darkness."""
    for pts, value in zip(outlines, darkness):
        cv2.fillPoly(hmap, [pts], float(value))


def _stroma(rng, hmap, lumen, scale: float, angle: float) -> None:
    """Slim fibroblast nuclei along the fibres, and a few empty (fat/crack) spaces."""
    h, w = hmap.shape
    for _ in range(int(max(4, 30 / scale ** 2))):
        center = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (max(2, int(4 * scale)), max(1, int(1.1 * scale)))
        cv2.ellipse(hmap, center, axes, float(np.degrees(angle)), 0, 360, float(rng.uniform(0.6, 0.9)), -1)
    for _ in range(int(rng.integers(0, 3))):
        center = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(4, 14) * scale), int(rng.uniform(2, 6) * scale))
        cv2.ellipse(lumen, center, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)


def _benign(rng, hmap, lumen, scale: float) -> None:
    """Ducts: a white lumen ringed by small, regular, evenly spaced round nuclei."""
    h, w = hmap.shape
    r_nuc = 2.6 * scale
    for _ in range(max(1, int(round(rng.uniform(2, 5) / scale)))):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        a, b = rng.uniform(12, 26) * scale, rng.uniform(9, 19) * scale
        cv2.ellipse(lumen, (int(cx), int(cy)), (int(a), int(b)), 0, 0, 360, 1.0, -1)
        for layer in range(2):
            ra, rb = a + r_nuc * (1.3 + 2.2 * layer), b + r_nuc * (1.3 + 2.2 * layer)
            count = int(np.pi * (ra + rb) / (2.4 * r_nuc))
            t = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 1)
            centers = np.stack([cx + ra * np.cos(t), cy + rb * np.sin(t)], axis=1)
            outlines = _outlines(rng, centers, r_nuc * rng.uniform(0.9, 1.1, count), irregular=False)
            _paint(hmap, outlines, rng.uniform(0.85, 1.0, count))


def _malignant(rng, hmap, lumen, scale: float) -> None:
    """Sheets and clusters of large, pleomorphic, hyperchromatic nuclei."""
    h, w = hmap.shape
    clusters = rng.uniform((0, 0), (w, h), size=(int(rng.integers(2, 5)), 2))
    count = int(max(15, rng.uniform(130, 190) / scale ** 1.6))
    spread = 0.18 * min(w, h) * scale ** 0.3
    centers = clusters[rng.integers(len(clusters), size=count)] + rng.normal(0, spread, (count, 2))
    radii = 4.6 * scale * rng.lognormal(0.0, 0.28, count)
    _paint(hmap, _outlines(rng, centers, radii, irregular=True), rng.uniform(0.9, 1.6, count))
    if rng.random() < 0.3:
        cv2.circle(lumen, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(8 * scale), 1.0, -1)


def render_image(label: str, magnification: str, size: tuple[int, int], stain: np.ndarray,
                 rng: np.random.Generator, nucleus_scale: float = 1.0) -> np.ndarray:
    """One synthetic H&E image (``uint8`` RGB, ``size`` = (width, height)).

    ``stain`` is the patient's (2, 3) pair of hematoxylin/eosin OD vectors and
    ``nucleus_scale`` the patient's relative nuclear size.
    """
    w, h = size
    scale = (int(magnification.rstrip("Xx")) / 40.0) ** 0.5 * nucleus_scale
    angle = rng.uniform(0, np.pi)
    hmap: np.ndarray = np.zeros((h, w), np.float32)
    lumen: np.ndarray = np.zeros((h, w), np.float32)
    _stroma(rng, hmap, lumen, scale, angle)
    (_malignant if label == "malignant" else _benign)(rng, hmap, lumen, scale)
    hmap = cv2.GaussianBlur(hmap, (0, 0), 0.7 + 0.3 * scale) * (1 + 0.2 * _noise(rng, (h, w), 0.8))
    lumen = cv2.GaussianBlur(lumen, (0, 0), 1.5 * scale)
    emap = 0.45 + 0.07 * _fibres(rng, (h, w), angle, scale) + 0.1 * _noise(rng, (h, w), 40)
    emap = np.clip(emap, 0.08, None) * (1 - 0.93 * lumen)
    hmap = (np.clip(hmap, 0, None) + 0.07) * (1 - 0.9 * lumen)
    od = hmap[..., None] * stain[0] + emap[..., None] * stain[1] + 0.02
    od += 0.02 * rng.standard_normal(od.shape, dtype=np.float32)
    return np.clip(255.0 * np.exp(-od), 0, 255).astype(np.uint8)


def _patient_style(seed: int, patient_index: int) -> tuple[np.ndarray, float]:
    """A patient's stain vectors (slightly shifted H and E) and relative nuclear size."""
    rng = np.random.default_rng([seed, 7, patient_index])
    h = np.clip(_H + rng.normal(0, 0.04, 3), 0.05, None) * rng.uniform(0.85, 1.15)
    e = np.clip(_E + rng.normal(0, 0.04, 3), 0.02, None) * rng.uniform(0.8, 1.2)
    return np.stack([h, e]).astype(np.float32), float(rng.uniform(0.9, 1.1))


def _plan(patients_per_class: int, magnifications: tuple[str, ...], images: int) -> list[tuple]:
    """(label, code, subtype, patient index, magnification, image number) for every image."""
    plan: list[tuple] = []
    index = 0
    for label in ("benign", "malignant"):
        for p in range(patients_per_class):
            index += 1
            code, subtype = SUBTYPES[label][p % len(SUBTYPES[label])]
            for mag in magnifications:
                plan.extend((label, code, subtype, index, mag, n) for n in range(1, images + 1))
    return plan


def _image_path(dest: Path, label: str, code: str, subtype: str, patient: int, mag: str, number: int) -> Path:
    slide = f"SOB_{label[0].upper()}_{code}-{_YEAR}-DEMO{patient:02d}"
    return dest / TREE / label / "SOB" / subtype / slide / mag / f"{slide}-{mag[:-1]}-{number:03d}.png"


def _validate(patients_per_class: int, magnifications: tuple[str, ...], images: int, size: tuple[int, int]) -> None:
    if patients_per_class < 1 or images < 1:
        raise ConfigError("The demo needs at least one patient per class and one image per patient.")
    if not magnifications or not all(m[:-1].isdigit() and m[-1] == "X" and int(m[:-1]) > 0 for m in magnifications):
        raise ConfigError(f"Magnifications must look like '40X' or '100X'; got {list(magnifications)}.")
    if min(size) < 32:
        raise ConfigError(f"Demo images must be at least 32 x 32 pixels; got {size}.")


def generate_demo(dest: Path | None = None, *, patients_per_class: int = 4,
                  magnifications: tuple[str, ...] = ("40X", "100X"), images_per_patient_mag: int = 10,
                  size: tuple[int, int] = (350, 230), seed: int = 0, progress: ProgressFn = null_progress,
                  cancel: CancelToken | None = None) -> Path:
    """Write the synthetic BreaKHis-layout dataset to ``dest`` and return ``dest``.

    ``size`` is (width, height). Files follow BreaKHis naming, e.g.
    ``.../benign/SOB/adenosis/SOB_B_A-22-DEMO01/40X/SOB_B_A-22-DEMO01-40-001.png``.
    Returns at once if ``dest`` already holds a complete demo made with the
    same parameters; a partial or different demo is replaced. Refuses
    (:class:`DataError`) to overwrite a ``BreaKHis_v1`` folder it did not make.
    """
    dest = Path(dest) if dest is not None else demo_path()
    magnifications = tuple(m.upper() for m in magnifications)
    size = (int(size[0]), int(size[1]))
    _validate(patients_per_class, magnifications, images_per_patient_mag, size)
    params = {"generator_version": GENERATOR_VERSION, "patients_per_class": patients_per_class,
              "magnifications": list(magnifications), "images_per_patient_mag": images_per_patient_mag,
              "size": list(size), "seed": seed}
    marker = dest / MARKER
    previous = read_json(marker) if marker.is_file() else None
    if previous == {"params": params, "complete": True}:
        return dest
    if (dest / TREE.parts[0]).exists():
        if previous is None:
            raise DataError(f"{dest} already holds a BreaKHis_v1 folder that the demo generator did not "
                            "make; choose an empty folder for the demo.")
        shutil.rmtree(dest / TREE.parts[0])
    write_json(marker, {"params": params, "complete": False})
    plan = _plan(patients_per_class, magnifications, images_per_patient_mag)
    eta = EtaEstimator(len(plan))
    styles: dict[int, tuple[np.ndarray, float]] = {}
    for step, (label, code, subtype, patient, mag, number) in enumerate(plan, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if patient not in styles:
            styles[patient] = _patient_style(seed, patient)
        rng = np.random.default_rng([seed, patient, int(mag[:-1]), number])
        rgb = render_image(label, mag, size, styles[patient][0], rng, styles[patient][1])
        path = _image_path(dest, label, code, subtype, patient, mag, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _PNG_OPTIONS)
        if not ok:
            raise DataError(f"Could not encode demo image {path.name}.")
        path.write_bytes(png.tobytes())
        if step % 8 == 0 or step == len(plan):
            progress(Progress("demo", step, len(plan), message=f"Painting demo images ({step}/{len(plan)})",
                              eta_s=eta.eta(step)))
    write_json(marker, {"params": params, "complete": True})
    return dest
