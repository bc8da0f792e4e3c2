"""Fast construction of frozen, slotted dataclasses on the hot paths.

Events, commands and outbound stanzas are ``@dataclass(frozen=True, slots=True,
kw_only=True)``: immutable, typed, compared and hashed by value.  The price of ``frozen``
is in ``__init__``: the generated code stores every field with ``object.__setattr__``
(a function call per field), because the class's own ``__setattr__`` refuses.  For an
event with fifteen fields that is several microseconds -- more than classifying the
stanza it describes.

:func:`fast_constructor` returns a function with exactly the class's ``__init__``
signature (keyword-only, same defaults and default factories) that builds the *same*
object faster.  It allocates an instance of a private twin class that shares the frozen
class's slot layout but not its ``__setattr__``, stores the fields with plain attribute
assignment, and then sets the instance's ``__class__`` to the frozen class -- which
CPython allows between classes with identical layouts.  The result is indistinguishable
from one made by ``__init__``: ``type(obj) is cls``, it is frozen from then on, and
``==``, ``hash``, ``repr``, ``dataclasses.replace`` and pickling behave as before.  The
twin never escapes this module.

Only classes without ``__post_init__`` qualify (there is nothing to validate for events
built from peer input: the classifiers check values before building them).
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

__all__ = ["fast_constructor", "frozen_setter", "set_class", "unfrozen_twin"]

P = ParamSpec("P")
T = TypeVar("T")


def fast_constructor(cls: Callable[P, T]) -> Callable[P, T]:
    """A faster drop-in for ``cls(...)``; ``cls`` is a frozen, slotted dataclass without
    ``__post_init__``.  Raises ``TypeError`` for any other class."""
    klass = cast("type[Any]", cls)
    if hasattr(klass, "__post_init__"):
        raise TypeError(f"{klass.__name__} checks its fields in __post_init__")
    fields = [f for f in _fields(klass) if f.init]

    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": _twin(klass), "_cls": klass}
    params_src: list[str] = []
    body: list[str] = ["    self = _new(_twin)"]
    for index, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            namespace[f"_d{index}"] = f.default
            params_src.append(f"{f.name}=_d{index}")
            body.append(f"    self.{f.name} = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_f{index}"] = f.default_factory
            namespace["_missing"] = dataclasses.MISSING
            params_src.append(f"{f.name}=_missing")
            body.append(f"    self.{f.name} = _f{index}() if {f.name} is _missing else {f.name}")
        else:
            params_src.append(f.name)
            body.append(f"    self.{f.name} = {f.name}")
    for f in _fields(klass):
        if f.init:
            continue
        # init=False fields get their default, as in __init__
        if f.default_factory is not dataclasses.MISSING:
            namespace[f"_i_{f.name}"] = f.default_factory
            body.append(f"    self.{f.name} = _i_{f.name}()")
        elif f.default is not dataclasses.MISSING:
            namespace[f"_i_{f.name}"] = f.default
            body.append(f"    self.{f.name} = _i_{f.name}")
    body += ["    self.__class__ = _cls", "    return self"]
    star = "*, " if params_src else ""
    source = f"def make({star}{', '.join(params_src)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # generated from the class's own field names (checked above)
    make = namespace["make"]
    make.__qualname__ = make.__name__ = f"new_{klass.__name__}"
    make.__doc__ = f"Build a {klass.__name__} (same signature and result as the class)."
    return cast("Callable[P, T]", make)


#: ``set_class(obj, cls)`` sets ``obj.__class__`` even when ``obj``'s class is frozen: the
#: ``__class__`` descriptor's setter called directly (cheaper than
#: ``object.__setattr__(obj, "__class__", cls)``, with the same layout check).
set_class: Callable[[object, type], None] = object.__dict__["__class__"].__set__


def unfrozen_twin(cls: type[Any]) -> type[Any]:
    """For the hand-written ``__init__`` of a frozen, slotted dataclass (one declared with
    ``init=False`` because it validates and precomputes on a hot path): the class to
    switch ``self`` to while storing the fields.  The ``__init__`` does
    ``set_class(self, twin)``, assigns every field (plain attribute assignment), then
    ``self.__class__ = cls`` -- the same mechanism as :func:`fast_constructor`."""
    _fields(cls)
    return _twin(cls)


def frozen_setter(cls: type[Any]) -> Callable[..., None]:
    """A function ``set_fields(self, **every_field)`` that stores all fields of ``self``, an
    instance of the frozen, slotted dataclass ``cls``, at once, with the mechanism of
    :func:`unfrozen_twin` (whose inline form is cheaper on a hot path: no call with a
    dozen keywords).  Every field must be given, by name."""
    fields = _fields(cls)
    namespace: dict[str, Any] = {"_set_class": set_class, "_twin": _twin(cls), "_cls": cls}
    body = ["    _set_class(self, _twin)"]
    body += [f"    self.{f.name} = {f.name}" for f in fields]
    body.append("    self.__class__ = _cls")
    names = ", ".join(f.name for f in fields)
    source = f"def set_fields(self, *, {names}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # generated from the class's own field names (checked)
    setter: Callable[..., None] = namespace["set_fields"]
    setter.__qualname__ = setter.__name__ = f"set_{cls.__name__}_fields"
    return setter


def _fields(cls: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of a frozen slotted dataclass whose names are plain identifiers."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen slotted dataclass")
    fields = dataclasses.fields(cls)
    if any(not f.name.isidentifier() or keyword.iskeyword(f.name) for f in fields):
        raise TypeError(f"{cls.__name__} has a field name that is not an identifier")
    return fields


def _twin(cls: type[Any]) -> type[Any]:
    """The unfrozen twin of ``cls``: a subclass adding no slots (so instances can switch
    ``__class__`` between the two) whose attribute assignment is the ordinary one.
    Overriding both methods keeps CPython's fast generic setattr slot on the twin."""
    return type(
        f"_{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
        },
    )
