"""The project's own exception types.

Every error a user can cause (a bad file, a bad setting, missing weights) is
raised as a :class:`HistoDeskError` subclass whose message says what to do.
The CLI prints the message without a traceback; the GUI shows it in a dialog.
"""

from typing import TypeVar


class HistoDeskError(Exception):
    """Base class for errors caused by user input or the environment.

    ``what`` and ``step`` (set by :func:`with_step`) split a message into what happened and the next step's
    key, so a front end without a command line words that step itself (the message names the CLI command).
    """

    what: str = ""
    step: str = ""


class ConfigError(HistoDeskError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(HistoDeskError):
    """A dataset cannot be read or is unusable (no images, one class...)."""


class ImageReadError(DataError):
    """One image file cannot be decoded (empty, truncated, not an image)."""


class ImageTooLargeError(ImageReadError):
    """An image exceeds the pixel budget and was refused without decoding."""


class WeightsUnavailableError(HistoDeskError):
    """Pretrained weights could not be downloaded or found locally."""


class UntrustedFileError(HistoDeskError):
    """A model or weights file was refused because it is unsafe or malformed."""


class CancelledError(HistoDeskError):
    """A job was cancelled through its :class:`engine.jobs.CancelToken`."""


class RunLockedError(HistoDeskError):
    """Another live process is writing the run (its ``run.lock`` names the owner)."""


class RunVanishedError(HistoDeskError):
    """The run folder was deleted or moved while a job was writing it."""


class CorruptFileError(DataError, ValueError):
    """A file HistoDesk wrote (JSON) is no longer readable: damaged, truncated or edited by hand.

    Also a ``ValueError``, so code that caught the decoder's error keeps working.
    """


E = TypeVar("E", bound=HistoDeskError)


def with_step(error: E, what: str, step: str) -> E:
    """``error`` (whose message is ``what`` plus the command-line hint) remembering ``what`` and the next
    ``step``'s key ("continue_batch", "overwrite_batch", "export_run", "reexport_package", "evaluate_run");
    returns it."""
    error.what, error.step = what, step
    return error
