"""Failures are described in one printable line whatever the file names hold."""

from __future__ import annotations

import errno

from engine.errors import DataError
from engine.failures import describe_error


def test_names_with_newlines_and_undecodable_bytes_stay_on_one_line():
    for exc in (DataError("cannot read /data/new\nline\udcff.png"),
                OSError(errno.ENOSPC, "No space left on device", "/out/a\rb\tc.csv"),
                ValueError("first line\nsecond line")):
        text = describe_error(exc)
        assert "\n" not in text and "\r" not in text and text.isprintable(), repr(text)
        text.encode("utf-8")  # printable and encodable: never a UnicodeEncodeError on a UTF-8 terminal
    assert describe_error(DataError("x/new\nline\udcff.png")) == "x/new\\nline\\xff.png"
