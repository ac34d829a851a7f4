"""The project's own exception types.

Every error a user can cause (a bad file, a bad setting, missing weights) is
raised as a :class:`HistoDeskError` subclass whose message says what to do.
The CLI prints the message without a traceback; the GUI shows it in a dialog.
"""


class HistoDeskError(Exception):
    """Base class for errors caused by user input or the environment."""


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
