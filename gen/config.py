"""Configuration machinery shared by every block.

A block's configuration is a frozen dataclass deriving from :class:`Config`. Its fields are
declared with :func:`param` (a scalar with its allowed values) or :func:`group` (a nested
configuration). Validation happens in ``__post_init__``, so an invalid configuration object can
never exist; every error is a :class:`~hybridgen.gen.errors.ConfigError` naming the field (as a dotted path)
and what is allowed.

Values come from three places, all going through the same checks:

* keyword arguments in Python (``MacConfig(dtype="bf16")``),
* a preset table in TOML (:meth:`Config.from_dict`),
* ``--set path=value`` overrides on the command line (:meth:`Config.override`), where the text
  is parsed by the declared type of the field (``int``, ``float``, ``bool``, ``str``).
"""

import dataclasses
import typing
from typing import ClassVar

from .errors import ConfigError

__all__ = ["Config", "param", "group"]


def param(default, *, doc, choices=None, min=None, max=None, power_of_two=False):
    """Declare a scalar configuration field.

    Parameters
    ----------
    default :
        Default value.
    doc : str
        One line: what the field controls.
    choices : sequence, optional
        The allowed values (for enumerations such as ``dtype``).
    min, max : int or float, optional
        Inclusive bounds.
    power_of_two : bool
        The value must be a power of two.
    """
    return dataclasses.field(default=default, metadata=dict(
        doc=doc, choices=tuple(choices) if choices is not None else None,
        min=min, max=max, power_of_two=power_of_two))


def group(cls, *, doc):
    """Declare a nested configuration field of :class:`Config` subclass ``cls``."""
    return dataclasses.field(default_factory=cls, metadata=dict(doc=doc))


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _describe_allowed(meta, ftype):
    if meta.get("choices") is not None:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    text = _TYPE_NAMES[ftype]
    lo, hi = meta.get("min"), meta.get("max")
    if meta.get("power_of_two"):
        text = "a power of two"
    if lo is not None and hi is not None:
        text += f" in {lo}..{hi}"
    elif lo is not None:
        text += f" >= {lo}"
    elif hi is not None:
        text += f" <= {hi}"
    return text


def _check_scalar(name, value, ftype, meta):
    """Check type and allowed values of one scalar field; return the (normalized) value."""
    allowed = _describe_allowed(meta, ftype)
    if ftype is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    type_ok = isinstance(value, ftype) and not (ftype is not bool and isinstance(value, bool))
    if not type_ok:
        raise ConfigError(name, f"must be {allowed}, not {value!r}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ConfigError(name, f"must be {allowed}, not {value!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(name, f"must be {allowed}, not {value!r}")
    if meta.get("power_of_two") and (value < 1 or value & (value - 1)):
        raise ConfigError(name, f"must be {allowed}, not {value!r}")
    return value


def _parse_text(name, text, ftype, meta):
    """Parse the text of a ``--set`` override by the declared field type."""
    allowed = _describe_allowed(meta, ftype)
    try:
        if ftype is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if ftype is int:
            return int(text, 0)
        if ftype is float:
            return float(text)
        return text
    except ValueError:
        raise ConfigError(name, f"must be {allowed}, not {text!r}") from None


def _prefixed(err, prefix):
    return ConfigError(f"{prefix}.{err.field}" if prefix else err.field, err.message)


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class of every block configuration (subclasses are frozen dataclasses).

    Class attributes a block configuration sets:

    ``block`` : str
        Name of the block kind (``"mac"``); presets name it in their ``block`` key.
    ``derived`` : tuple of str
        Names of properties written to the JSON sidecar under ``derived`` (latency, widths, ...).
    ``synth_abc`` : str
        The ABC script ``hybridgen synth`` uses unless ``--abc`` is given (``"full"``; blocks
        holding the softplus unit say ``"nofraig"``, docs/timing.md).

    Subclasses put cross-field rules in :meth:`check` and raise :class:`ConfigError` there.
    """

    block: ClassVar[str] = ""
    derived: ClassVar[tuple] = ()
    synth_abc: ClassVar[str] = "full"

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            ftype = hints[f.name]
            if isinstance(ftype, type) and issubclass(ftype, Config):
                if not isinstance(value, ftype):
                    raise ConfigError(f.name, f"must be a table of {ftype.__name__} fields, "
                                              f"not {value!r}")
                continue
            object.__setattr__(self, f.name, _check_scalar(f.name, value, ftype, f.metadata))
        self.check()

    def check(self):
        """Cross-field rules; raise :class:`ConfigError` naming a field when one is broken."""

    # -- construction from presets and overrides ---------------------------------------------

    @classmethod
    def field_types(cls):
        hints = typing.get_type_hints(cls)
        return {f.name: (hints[f.name], f) for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values, *, prefix=""):
        """Build from a mapping (a TOML table); nested configurations are nested tables.

        Raises
        ------
        ConfigError
            For an unknown field, a wrong type or a value out of range; the field is named by its
            dotted path below ``prefix``.
        """
        types = cls.field_types()
        kwargs = {}
        for key, value in values.items():
            path = f"{prefix}.{key}" if prefix else key
            if key not in types:
                raise ConfigError(path, "unknown field; allowed fields: " + ", ".join(types))
            ftype, _ = types[key]
            if isinstance(ftype, type) and issubclass(ftype, Config):
                if not isinstance(value, dict):
                    raise ConfigError(path, f"must be a table of fields, not {value!r}")
                value = ftype.from_dict(value, prefix=path)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except ConfigError as err:
            raise _prefixed(err, prefix) from None

    def override(self, assignments, *, prefix=""):
        """Return a copy with ``--set`` style assignments applied.

        Parameters
        ----------
        assignments : iterable of str
            Each ``"path=value"``; ``path`` may be dotted for nested fields
            (``memory.data_width=512``), ``value`` is parsed by the field's declared type.

        Each value is parsed and range-checked on its own, in the order given (a later
        assignment of the same field wins); the cross-field rules (``check``) run once, on the
        configuration with every assignment applied, so overrides that are valid only together
        (``--set rows=256 --set cols=16`` from 128 x 32 under a ``rows x cols`` limit) are
        accepted whatever their order.
        """
        changes = {}
        for assignment in assignments:
            path, sep, text = assignment.partition("=")
            path = path.strip()
            if not sep or not path:
                raise ConfigError("--set", f"expected field=value, not {assignment!r}")
            self._parse_assignment(path.split("."), text.strip(), prefix, changes)
        return self._apply_changes(changes, prefix) if changes else self

    def _parse_assignment(self, parts, text, prefix, changes):
        """Parse one dotted assignment into the nested dict ``changes`` (no cross-field check)."""
        types = self.field_types()
        name = parts[0]
        path = f"{prefix}.{name}" if prefix else name
        if name not in types:
            raise ConfigError(path, "unknown field; allowed fields: " + ", ".join(types))
        ftype, field = types[name]
        if isinstance(ftype, type) and issubclass(ftype, Config):
            if len(parts) == 1:
                raise ConfigError(path, "is a group of fields; set one of them: " +
                                  ", ".join(f"{path}.{n}" for n in ftype.field_types()))
            getattr(self, name)._parse_assignment(parts[1:], text, path,
                                                  changes.setdefault(name, {}))
        else:
            if len(parts) > 1:
                raise ConfigError(path, f"is {_TYPE_NAMES[ftype]}, it has no field "
                                        f"{'.'.join(parts[1:])!r}")
            changes[name] = _parse_text(path, text, ftype, field.metadata)

    def _apply_changes(self, changes, prefix):
        """A copy with the parsed ``changes`` (nested groups first), validated once."""
        values = {}
        for name, change in changes.items():
            if isinstance(change, dict):
                path = f"{prefix}.{name}" if prefix else name
                values[name] = getattr(self, name)._apply_changes(change, path)
            else:
                values[name] = change
        try:
            return dataclasses.replace(self, **values)
        except ConfigError as err:
            raise _prefixed(err, prefix) from None

    # -- serialization -------------------------------------------------------------------------

    def to_dict(self):
        """Plain nested dict of the field values (what a preset table would hold)."""
        return {f.name: (getattr(self, f.name).to_dict()
                         if isinstance(getattr(self, f.name), Config) else getattr(self, f.name))
                for f in dataclasses.fields(self)}

    def derived_values(self):
        """Dict of the derived figures named in ``derived`` (nested groups included)."""
        values = {name: getattr(self, name) for name in self.derived}
        for f in dataclasses.fields(self):
            sub = getattr(self, f.name)
            if isinstance(sub, Config) and sub.derived_values():
                values[f.name] = sub.derived_values()
        return values

    def to_json(self):
        """The resolved configuration as JSON-ready data: ``{"config": ..., "derived": ...}``."""
        return {"config": self.to_dict(), "derived": self.derived_values()}

    @classmethod
    def describe_fields(cls, prefix=""):
        """Yield ``(dotted path, type name, default, allowed, doc)`` for every scalar field."""
        for name, (ftype, field) in cls.field_types().items():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(ftype, type) and issubclass(ftype, Config):
                yield from ftype.describe_fields(path)
            else:
                yield (path, ftype.__name__, field.default,
                       _describe_allowed(field.metadata, ftype), field.metadata["doc"])
