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

Two variants for the hottest paths: :func:`positional_constructor` takes every field
positionally (no keyword matching: for the inbound message event, fifteen fields), and
:func:`field_storer` stores every field of an object under construction, for a
hand-written ``__init__`` that validates and precomputes (``SendMessage``).  These
``__class__`` swaps are the project's only ones: the rest of the code calls the functions
made here.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

__all__ = ["fast_constructor", "field_storer", "positional_constructor"]

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


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """Like :func:`fast_constructor`, but the function takes every ``init`` field
    positionally, in declaration order, and has no defaults: for the hottest paths,
    where a call with a dozen keywords costs a third more than the stores themselves
    (CPython matches each keyword to its parameter by name).  The generated function is
    positional-only, so a call with the wrong number of values raises ``TypeError``."""
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} checks its fields in __post_init__")
    fields = _fields(cls)
    if any(not f.init for f in fields):
        raise TypeError(f"{cls.__name__} has init=False fields: use fast_constructor")
    return cast("Callable[..., T]", _storing_function(cls, [f.name for f in fields], build=True))


def field_storer(cls: type[Any]) -> Callable[..., None]:
    """For the hand-written ``__init__`` of a frozen, slotted dataclass (one declared with
    ``init=False`` because it validates and precomputes on a hot path): a function
    ``store(self, value, ...)`` taking a value for *every* field, ``init=False`` ones
    included, positionally in declaration order.  It stores them with the mechanism of
    :func:`fast_constructor` (``self`` becomes the unfrozen twin, plain assignments, then
    ``cls`` again), so that ``__init__`` needs no ``object.__setattr__`` per field."""
    return cast(
        "Callable[..., None]",
        _storing_function(cls, [f.name for f in _fields(cls)], build=False),
    )


def _storing_function(cls: type[Any], names: list[str], *, build: bool) -> object:
    """The generated constructor (``build``) or storer: the names are the class's own
    field names, checked by :func:`_fields` to be plain identifiers."""
    set_class = object.__dict__["__class__"].__set__  # works on a frozen instance too
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_set_class": set_class,
        "_twin": _twin(cls),
        "_cls": cls,
    }
    params = ", ".join(names)
    if build:
        head = f"def make({params}, /):\n    self = _new(_twin)\n"
        tail = "    self.__class__ = _cls\n    return self\n"
        name = f"new_{cls.__name__}"
    else:
        head = f"def store(self, {params}, /):\n    _set_class(self, _twin)\n"
        tail = "    self.__class__ = _cls\n"
        name = f"store_{cls.__name__}_fields"
    source = head + "".join(f"    self.{field} = {field}\n" for field in names) + tail
    exec(source, namespace)  # generated from the class's own field names (checked)
    function = namespace["make" if build else "store"]
    function.__qualname__ = function.__name__ = name
    return function


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
