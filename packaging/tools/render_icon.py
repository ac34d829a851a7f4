"""Render resources/icons/histodesk.svg to the PNG (256x256) and, where Pillow can, .ico/.icns icons."""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


def render(size: int = 256) -> Path:
    """Rasterise the SVG with QtSvg into ``histodesk.png``; returns its path."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1] + ["-platform", "offscreen"])
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(ICONS / "histodesk.svg")).render(painter)
    painter.end()
    out = ICONS / "histodesk.png"
    image.save(str(out))
    return out


def convert(png: Path) -> None:
    """Write histodesk.ico (Windows) and histodesk.icns (macOS) from the PNG with Pillow."""
    from PIL import Image

    img = Image.open(png)
    img.save(ICONS / "histodesk.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    img.save(ICONS / "histodesk.icns")


if __name__ == "__main__":
    convert(render())
    print("icons written to", ICONS)
