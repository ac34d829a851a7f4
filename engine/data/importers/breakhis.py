"""BreaKHis (Spanhol et al., IEEE TBME 2016): labels from the file names.

Works on the dataset's own tree and on BreaKHis-named files anywhere (e.g. a
third-party resized copy sorted into ``benign/`` and ``malignant/``), because
everything is read from the name itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.data.importers.base import Importer, folder_hints
from engine.registry import register

#: Tumour subtype codes and their full names, as the dataset's folders spell them.
SUBTYPES = {
    "A": "adenosis", "F": "fibroadenoma", "PT": "phyllodes_tumor", "TA": "tubular_adenoma",
    "DC": "ductal_carcinoma", "LC": "lobular_carcinoma", "MC": "mucinous_carcinoma",
    "PC": "papillary_carcinoma",
}
CLASSES = {"B": "benign", "M": "malignant"}

_PATTERNS = (
    # original: SOB_B_A-14-22549AB-100-001.png
    re.compile(r"^(?P<procedure>[A-Z]+)_(?P<cls>[BM])_(?P<code>[A-Z]+)-(?P<year>\d{2})-"
               r"(?P<patient>[0-9A-Z]+)-(?P<mag>\d+)-(?P<number>\d+)$", re.IGNORECASE),
    # resized copies: SOB_B_A_14-22549AB_0.png (no magnification)
    re.compile(r"^(?P<procedure>[A-Z]+)_(?P<cls>[BM])_(?P<code>[A-Z]+)_(?P<year>\d{2})-"
               r"(?P<patient>[0-9A-Z]+)_(?P<number>\d+)$", re.IGNORECASE),
)


def parse_breakhis_name(filename: str) -> dict | None:
    """Parse a BreaKHis file name; None when it does not follow the grammar.

    ``SOB_B_A-14-22549AB-100-001.png`` gives ``label="benign"``,
    ``subtype="adenosis"``, ``patient="22549AB"``, ``case="A-14-22549"``,
    ``magnification="100X"``, ``year="14"``, ``procedure="SOB"``, ``number=1``.
    The resized variant ``SOB_B_A_14-22549AB_0.png`` gives the same but
    ``magnification=None``.

    The patient id is the slide id ("22549AB"), what the README calls the
    patient; the case (:func:`case_of_slide`) groups the slides of one biopsy
    number. An unknown tumour code is kept as the subtype as-is.
    """
    stem = os.path.splitext(os.path.basename(filename))[0]  # not pathlib: this runs per image in every split
    for pattern in _PATTERNS:
        match = pattern.match(stem)
        if match:
            parts = match.groupdict()
            code = parts["code"].upper()
            mag = parts.get("mag")
            return {
                "label": CLASSES[parts["cls"].upper()],
                "subtype": SUBTYPES.get(code, code),
                "patient": parts["patient"].upper(),
                "case": case_of_slide(code, parts["year"], parts["patient"]),
                "magnification": f"{int(mag)}X" if mag else None,
                "year": parts["year"],
                "procedure": parts["procedure"].upper(),
                "number": int(parts["number"]),
            }
    return None


def case_of_slide(code: str, year: str, slide: str) -> str:
    """The case of a BreaKHis slide: tumour code, year and the slide id's number, e.g. ``"A-14-22549"``.

    Slides ``22549AB`` and ``22549CD`` (and ``16184`` / ``16184CD``) carry one
    biopsy number and come from one patient; grouping a split by case keeps
    them on the same side, where grouping by slide id would not.
    """
    digits = re.match(r"\d+", slide)
    return f"{code.upper()}-{year}-{digits.group(0) if digits else slide.upper()}"


def breakhis_case(path: str) -> str | None:
    """The BreaKHis case of an image path (None when the file name is not BreaKHis-named)."""
    parsed = parse_breakhis_name(path)
    return parsed["case"] if parsed else None


@register("importer", "breakhis", description="BreaKHis tree or BreaKHis-named files anywhere")
class BreakhisImporter(Importer):
    """Labels, subtypes, patients and magnifications from BreaKHis file names.

    When a name carries no magnification (resized copies), a parent folder
    named like ``40X`` supplies it; ``train/``/``val/``/``test/`` folders give
    the split.
    """

    name = "breakhis"

    def describe(self, path: Path, root: Path) -> dict:
        """Metadata parsed from the file name, or a skip reason."""
        parsed = parse_breakhis_name(path.name)
        if parsed is None:
            return {"skip": "file name does not follow the BreaKHis pattern "
                            "(e.g. SOB_B_A-14-22549AB-100-001.png)"}
        hints = folder_hints(path.relative_to(root).parts[:-1])
        if parsed["magnification"] is None:
            parsed["magnification"] = hints.get("magnification")
        if "split" in hints:
            parsed["split"] = hints["split"]
        return parsed

    def detect(self, root: Path) -> float:
        """High when most images have BreaKHis names."""
        share, _labels = self.labelled_sample(root)
        return 0.95 * share
