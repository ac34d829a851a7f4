"""Small cache of image thumbnails (QPixmap) for hover previews and retrieval results, decoded off the GUI thread."""

from __future__ import annotations

from collections import OrderedDict

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel

from gui.dataset.thumbnails import _tile, load_qimage
from gui.tasks import Task, TaskRunner


class ThumbnailCache(QObject):
    """:meth:`show` puts a thumbnail on a label: at once when cached, else a "Loading..." tile until its
    pool thread has decoded it. The ``capacity`` most recent thumbnails are kept (GUI thread only)."""

    def __init__(self, parent: QObject | None = None, capacity: int = 256):
        super().__init__(parent)
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()
        self._pending: dict[int, Task] = {}  # id(label) -> its latest decode
        self._runner = TaskRunner(self, threads=1, name="histodesk-embedding-thumbs")

    def cached(self, path: str, size: int) -> QPixmap | None:
        """The thumbnail of ``path`` at ``size`` if it was decoded already, else None."""
        key = (path, size)
        if key in self._items:
            self._items.move_to_end(key)
        return self._items.get(key)

    def show(self, label: QLabel, path: str, size: int) -> None:
        """Show ``path``'s thumbnail (fitting ``size`` x ``size``) on ``label``; a decode still pending for the
        label is dropped. An unreadable file shows as an "unreadable" tile."""
        previous = self._pending.pop(id(label), None)
        if previous is not None:
            previous.cancel()
        pix = self.cached(path, size)
        if pix is not None:
            label.setPixmap(pix)
            return
        label.setPixmap(_tile("Loading...", "#eceff3", size))
        self._pending[id(label)] = self._runner.submit(
            load_qimage, path, 0, size,
            on_done=lambda image: self._loaded(label, path, size, image),
            on_error=lambda _message: self._loaded(label, path, size, None))

    def shutdown(self) -> None:
        """Drop every pending decode (never blocks)."""
        self._pending.clear()
        self._runner.shutdown()

    def _loaded(self, label: QLabel, path: str, size: int, image: QImage | None) -> None:
        self._pending.pop(id(label), None)
        pix = QPixmap.fromImage(image) if image is not None else _tile("unreadable", "#f8e1e1", size)
        self._items[(path, size)] = pix
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        if shiboken6.isValid(label):  # a retrieval tile may have been replaced meanwhile
            label.setPixmap(pix)
