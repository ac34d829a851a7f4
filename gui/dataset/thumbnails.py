"""Thumbnail grid: a lazy, cached icon view over thousands of images.

Only the rows the view paints ask for a thumbnail (``data()`` with
``DecorationRole``), each key once. Requests go on a bounded stack served
newest first, so after a fast scroll the rows now on screen load before the
ones scrolled past. Decoding runs in a :class:`~gui.tasks.TaskRunner`; a task
makes a :class:`QImage` (never a widget or pixmap) and the runner hands it to
the GUI thread, where the model turns it into a :class:`QPixmap`, keeps it in
a bounded LRU cache and emits ``dataChanged``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from functools import partial

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from engine.data.catalog import ImageRecord
from gui.images import numpy_to_qimage
from gui.tasks import TaskRunner

THUMB_SIZE = 128
CACHE_LIMIT = 2000      # pixmaps kept in the LRU cache
PENDING_LIMIT = 400     # requests waiting for a thread; older ones are dropped
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1


def record_key(record: ImageRecord) -> str:
    """Cache key of a record's image: its path plus page."""
    return f"{record.path}#{record.page}"


def load_qimage(path: str, page: int, size: int) -> QImage:
    """Decode ``path`` and scale it (up or down) to fit ``size`` x ``size``; safe in any thread."""
    from engine.data.imageio import read_image

    image = numpy_to_qimage(read_image(path, page=page))
    w, h = image.width(), image.height()
    if max(w, h) != size:  # small patches (e.g. 50 px) are enlarged to stay visible
        image = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def _tile(text: str, fill: str, size: int = THUMB_SIZE, height: int | None = None) -> QPixmap:
    """A flat placeholder tile with centred text."""
    pix = QPixmap(size, height or size)
    pix.fill(QColor(fill))
    painter = QPainter(pix)
    painter.setPen(QColor("#7a7f87"))
    painter.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return pix


class ThumbnailModel(QAbstractListModel):
    """List model of image records; thumbnails load lazily in ``threads`` background threads."""

    thumbnail_loaded = Signal(str)  # key; mostly for tests and status displays

    def __init__(self, parent: QObject | None = None, *, thumb_size: int = THUMB_SIZE,
                 cache_limit: int = CACHE_LIMIT, threads: int = 2):
        super().__init__(parent)
        self._records: list[ImageRecord] = []
        self._rows: dict[str, list[int]] = {}
        self._cache: OrderedDict[str, QIcon] = OrderedDict()  # QIcon wrapping the QPixmap
        self._cache_limit = cache_limit
        self._requested: set[str] = set()
        self._pending: OrderedDict[str, ImageRecord] = OrderedDict()
        self._in_flight = 0
        self._failed: dict[str, str] = {}
        self.thumb_size = thumb_size
        self._runner = TaskRunner(self, threads=threads, name="histodesk-thumbnails")
        self.set_tile_height(thumb_size)

    def set_tile_height(self, height: int) -> None:
        """Height of the placeholder tiles (their width is the thumbnail size)."""
        self._placeholder = QIcon(_tile("loading...", "#e9ebee", self.thumb_size, height))
        self._broken = QIcon(_tile("unreadable", "#f6dcdc", self.thumb_size, height))

    # --- Qt model interface -------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        """Number of records shown (0 under a valid parent: this is a flat list)."""
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        """File name, thumbnail (requested on first paint), tooltip or the record."""
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(record.path)  # pathlib is ~10x slower per call
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(record)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{record.path}\nclass: {record.label}   patient: {record.patient or '-'}   "
                    f"magnification: {record.magnification or '-'}")
        if role == RECORD_ROLE:
            return record
        return None

    # --- public API -----------------------------------------------------------
    def set_records(self, records: list[ImageRecord]) -> None:
        """Show ``records``; cached thumbnails are kept, queued requests dropped."""
        self.beginResetModel()
        self._records = list(records)
        rows: dict[str, list[int]] = {}
        for i, r in enumerate(self._records):
            rows.setdefault(f"{r.path}#{r.page}", []).append(i)
        self._rows = rows
        for key in self._pending:
            self._requested.discard(key)
        self._pending.clear()
        self.endResetModel()

    def records(self) -> list[ImageRecord]:
        """The records currently shown, in row order."""
        return list(self._records)

    def record(self, row: int) -> ImageRecord | None:
        """The record at ``row``, or None."""
        return self._records[row] if 0 <= row < len(self._records) else None

    def is_loaded(self, row: int) -> bool:
        """True when the thumbnail of ``row`` is in the cache."""
        rec = self.record(row)
        return rec is not None and record_key(rec) in self._cache

    def requested_count(self) -> int:
        """Distinct thumbnails requested so far (loaded, failed, queued or decoding)."""
        return len(self._requested)

    def failed_count(self) -> int:
        """Thumbnails that could not be decoded (shown as "unreadable" tiles)."""
        return len(self._failed)

    def loaded_count(self) -> int:
        """Thumbnails in the cache."""
        return len(self._cache)

    def shutdown(self, wait_ms: int = 2000) -> None:
        """Drop queued work and wait up to ``wait_ms`` for running decodes (call before deletion)."""
        self._pending.clear()
        self._runner.shutdown(wait_ms)
        self._in_flight = 0
        self._requested = set(self._cache) | set(self._failed)  # dropped requests are asked again if painted

    # --- internals ------------------------------------------------------------
    def _thumbnail(self, record: ImageRecord) -> QIcon:
        key = record_key(record)
        pix = self._cache.get(key)
        if pix is not None:
            self._cache.move_to_end(key)
            return pix
        if key in self._failed:
            return self._broken
        if key not in self._requested:
            self._requested.add(key)
            self._pending[key] = record
            if len(self._pending) > PENDING_LIMIT:  # forget the oldest: scrolled past
                old, _ = self._pending.popitem(last=False)
                self._requested.discard(old)
            self._dispatch()
        return self._placeholder

    def _dispatch(self) -> None:
        """Start the newest pending requests while threads are free."""
        while self._pending and self._in_flight < 2 * self._runner.threads:
            key, rec = self._pending.popitem(last=True)
            self._in_flight += 1
            self._runner.submit(load_qimage, rec.path, rec.page, self.thumb_size,
                                on_done=partial(self._on_loaded, key), on_error=partial(self._on_failed, key))

    def _on_loaded(self, key: str, image: QImage) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self._cache[key] = QIcon(QPixmap.fromImage(image))  # an icon scales to the view's iconSize
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_limit:
            old, _ = self._cache.popitem(last=False)
            self._requested.discard(old)  # re-requested if painted again
        self._emit_changed(key)
        self.thumbnail_loaded.emit(key)
        self._dispatch()

    def _on_failed(self, key: str, reason: str) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self._failed[key] = reason
        self._emit_changed(key)
        self._dispatch()

    def _emit_changed(self, key: str) -> None:
        rows = self._rows.get(key)
        if rows:
            role = [Qt.ItemDataRole.DecorationRole]
            self.dataChanged.emit(self.index(rows[0]), self.index(rows[-1]), role)


class ThumbnailGridWidget(QListView):
    """Icon-mode list of thumbnails; uniform items keep layout O(1) per row."""

    def __init__(self, parent: QWidget | None = None, *, thumb_size: int = THUMB_SIZE):
        super().__init__(parent)
        self.thumb_model = ThumbnailModel(self, thumb_size=thumb_size)
        self.setModel(self.thumb_model)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.thumb_size = thumb_size
        self._fit_tiles(1.0)
        self.setSpacing(4)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)

    def set_records(self, records: list[ImageRecord]) -> None:
        """Show ``records`` and scroll back to the top."""
        sample = [r.height / r.width for r in records[:50] if r.width > 0 and r.height > 0]
        self._fit_tiles(sorted(sample)[len(sample) // 2] if sample else 1.0)
        self.thumb_model.set_records(records)
        self.scrollToTop()

    def _fit_tiles(self, aspect: float) -> None:
        """Size grid cells for the typical height/width ``aspect``: no big gaps under wide images."""
        size = self.thumb_size
        height = round(size * min(1.0, max(0.5, aspect)))
        self.thumb_model.set_tile_height(height)
        self.setIconSize(QSize(size, height))
        self.setGridSize(QSize(size + 24, height + 30))

    def current_record(self) -> ImageRecord | None:
        """The selected record, or None."""
        index = self.currentIndex()
        return self.thumb_model.record(index.row()) if index.isValid() else None

    def closeEvent(self, event) -> None:
        """Stop background decoding when the view closes."""
        self.thumb_model.shutdown()
        super().closeEvent(event)
