"""Small cache of image thumbnails (QPixmap) for hover previews and retrieval results."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtGui import QPixmap

from gui.dataset.thumbnails import load_qimage


class ThumbnailCache:
    """``pixmap(path, size)``: decoded once, kept for the ``capacity`` most recent (GUI thread only)."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()

    def pixmap(self, path: str, size: int) -> QPixmap:
        """The thumbnail of ``path`` fitting ``size`` x ``size`` (an empty pixmap when unreadable)."""
        key = (path, size)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        try:
            pix = QPixmap.fromImage(load_qimage(path, 0, size))
        except Exception:  # noqa: BLE001 - a missing/broken file shows as an empty tile
            pix = QPixmap()
        self._items[key] = pix
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return pix
