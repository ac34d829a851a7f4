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


def test_a_damaged_json_file_is_named(tmp_path):
    import pytest

    from engine.errors import CorruptFileError
    from engine.io_utils import read_json

    path = tmp_path / "catalog.json"
    path.write_text("{not json")
    with pytest.raises(CorruptFileError, match=r"catalog\.json is damaged: it is not valid JSON \(line 1 column 2\)"):
        read_json(path)
    with pytest.raises(ValueError):  # still a ValueError for callers that caught the decoder's error
        read_json(path)
