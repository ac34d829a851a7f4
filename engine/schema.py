"""Validated settings: shared constrained types and one way to turn pydantic errors into messages.

Every user-editable input (training and SSL configs, CLI values, package.json,
curation files, study grids) is validated by a pydantic v2 schema before
anything runs. The types here carry the ranges once, for example::

    from pydantic.dataclasses import dataclass
    from engine.schema import SCHEMA_CONFIG, PositiveInt, PositiveFiniteFloat, validate

    @dataclass(config=SCHEMA_CONFIG)
    class Options:
        batch_size: PositiveInt = 32
        lr: PositiveFiniteFloat = 1e-3

    opts = validate(Options, {"batch_size": 0}, "predict")   # ConfigError naming the field

:func:`validate` raises :class:`~engine.errors.ConfigError` whose message
names the field (``predict.batch_size``), the value given and what is
allowed, one line per problem, so the CLI can print it and exit with code 2
before a run folder exists.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ArgsKwargs
from typing_extensions import dataclass_transform

from engine.errors import ConfigError

#: pydantic config of every schema: unknown keys are refused, assignments are re-validated.
SCHEMA_CONFIG = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=False)

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFiniteFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFiniteFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
OpenUnitFloat = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]  # (0, 1]
HalfOpenUnitFloat = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]  # [0, 1)

T = TypeVar("T")


@dataclass_transform(field_specifiers=(dataclasses.field, Field))  # type checkers see the generated __init__
def schema(cls: type[T]) -> type[T]:
    """Make ``cls`` a validated pydantic dataclass whose errors are :class:`ConfigError`.

    Construction (``Cls(a=1)``) and assignment (``obj.a = 2``) raise ConfigError naming the
    field, as :func:`validate` does for dicts, so callers catch one exception type.
    """
    from pydantic.dataclasses import dataclass as pydantic_dataclass

    made = pydantic_dataclass(config=SCHEMA_CONFIG)(cls)
    init, setattr_ = made.__init__, made.__setattr__
    where = made.__name__

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - installed as the class's __init__
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, where)) from None

    def __setattr__(self, name: str, value: Any) -> None:  # noqa: N807 - installed as the class's __setattr__
        try:
            setattr_(self, name, value)
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, where)) from None

    __init__.__doc__, __init__.__wrapped__ = init.__doc__, init  # type: ignore[attr-defined]
    made.__init__, made.__setattr__ = __init__, __setattr__  # type: ignore[method-assign]
    return typing.cast("type[T]", made)

_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(cls: Any) -> TypeAdapter:
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


def _location(where: str, loc: tuple) -> str:
    parts = [where] if where else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif str(item).startswith(("function-", "literal[", "union[")) or item in ("dataclass-args",):
            continue  # pydantic's internal validator steps, not user-facing names
        else:
            parts.append(str(item))
    return ".".join(parts) or "value"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_errors(exc: ValidationError, where: str = "") -> str:
    """Every problem as ``where.field: got VALUE; MESSAGE``, joined into one line with " | "."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = _location(where, tuple(err.get("loc", ())))
        kind = err.get("type", "")
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            lines.append(f"{loc}: unknown setting")
            continue
        if kind == "missing" or kind == "missing_argument":
            lines.append(f"{loc}: required setting is missing")
            continue
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        ctx = err.get("ctx") or {}
        if kind == "literal_error" and "expected" in ctx:
            msg = f"allowed values are {ctx['expected']}"
        if isinstance(err.get("input"), (dict, ArgsKwargs)) and kind == "value_error":  # a rule over several settings
            lines.append(f"{loc}: {msg[0].lower() + msg[1:] if msg else msg}")
            continue
        lines.append(f"{loc}: got {_short(err.get('input'))}; {msg[0].lower() + msg[1:] if msg else msg}")
    return " | ".join(dict.fromkeys(lines))


def validate(cls: type[T], data: Any, where: str = "") -> T:
    """``data`` (a mapping, or an instance) validated as ``cls``; ConfigError naming each bad field."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'settings'}: expected a mapping of settings, got {type(data).__name__}.")
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(_with_valid_keys(cls, describe_errors(exc, where), exc)) from None
    except RecursionError:
        raise ConfigError(f"{where or 'settings'}: nested too deeply to be a valid setting.") from None


def _with_valid_keys(cls: Any, message: str, exc: ValidationError) -> str:
    """Append the valid keys of the top-level schema when an unknown key was given there."""
    unknown = ("unexpected_keyword_argument", "extra_forbidden")
    unknown_top = [e for e in exc.errors(include_url=False) if e.get("type") in unknown and len(e.get("loc", ())) == 1]
    if unknown_top and hasattr(cls, "__dataclass_fields__"):
        message += f" (valid settings: {', '.join(sorted(cls.__dataclass_fields__))})"
    return message


def check_value(type_: Any, value: Any, name: str) -> Any:
    """Validate one value (a CLI flag, say) against an annotated type; ConfigError naming ``name``."""
    try:
        return _adapter(type_).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, name).replace(f"{name}.", f"{name}: ", 1)) from None


def number_list(text: str, kind: type = float, name: str = "value") -> list:
    """``"0.1,0.25,1"`` (``;`` or ``/`` also separate) as a list of ``kind`` numbers (a CLI flag, a GUI field);
    ConfigError naming ``name`` when an item is not a number."""
    try:
        return [kind(x) for x in re.split(r"[,;/]", text) if x.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated numbers, got '{text}'.") from None


def choices(cls: Any, field: str) -> list[str]:
    """The allowed values of a ``Literal`` field of schema ``cls`` (for argparse choices and GUI lists)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    tp = hints[field]
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    values: list[Any] = []
    for arg in typing.get_args(tp) if typing.get_origin(tp) is not typing.Literal else [tp]:
        if typing.get_origin(arg) is typing.Literal:
            values.extend(typing.get_args(arg))
    if typing.get_origin(tp) is typing.Literal:
        values = list(typing.get_args(tp))
    return [v for v in values if v is not None]


class Bounds(NamedTuple):
    """The numeric range a schema field allows: ``lo``/``hi`` (``None`` = unbounded) and whether each is included."""

    lo: float | None
    hi: float | None
    lo_inclusive: bool = True
    hi_inclusive: bool = True


def _fields(cls: Any) -> dict[str, Any]:
    fields = getattr(cls, "__pydantic_fields__", None)
    if not isinstance(fields, dict):
        raise TypeError(f"{getattr(cls, '__name__', cls)!r} is not a pydantic schema")
    return fields


def _constraints(tp: Any) -> list[Any]:
    """The constraint objects (annotated_types Ge/Gt/Le/Lt/Interval) inside an annotation, through Optional."""
    found: list[Any] = []
    while True:
        if typing.get_origin(tp) is Annotated:
            for item in typing.get_args(tp)[1:]:
                found.extend(getattr(item, "metadata", None) or [item])
            tp = typing.get_args(tp)[0]
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if type(None) in typing.get_args(tp) and len(args) == 1:  # Optional[X]
            tp = args[0]
            continue
        return found


def _owner(cls: Any, field: str) -> tuple[Any, str]:
    """The schema class holding the last part of a dotted ``field`` ("optim.lr") and that part's name."""
    *path, name = field.split(".")
    for part in path:
        tp = _fields(cls)[part].annotation
        while typing.get_origin(tp) is Annotated or type(None) in typing.get_args(tp):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0]
        cls = tp
    if name not in _fields(cls):
        raise KeyError(f"{cls.__name__} has no setting '{name}'")
    return cls, name


def bounds(cls: Any, field: str) -> Bounds:
    """The range schema ``cls`` allows for numeric ``field`` ("epochs", or dotted "optim.lr"), read from its
    ``Field(ge=, gt=, le=, lt=)`` constraints (for spin boxes and help text); the tightest one wins."""
    owner, name = _owner(cls, field)
    info = _fields(owner)[name]
    lo: tuple[float, bool] | None = None
    hi: tuple[float, bool] | None = None
    for item in list(info.metadata) + _constraints(info.annotation):
        for attr, inclusive in (("ge", True), ("gt", False)):
            value = getattr(item, attr, None)
            if value is not None and (lo is None or (value, not inclusive) > (lo[0], not lo[1])):
                lo = (value, inclusive)
        for attr, inclusive in (("le", True), ("lt", False)):
            value = getattr(item, attr, None)
            if value is not None and (hi is None or (value, inclusive) < (hi[0], hi[1])):
                hi = (value, inclusive)
    return Bounds(lo[0] if lo else None, hi[0] if hi else None, lo[1] if lo else True, hi[1] if hi else True)
