"""A record's JSON line read as its fields, checked in C: the hot path of every reader of
record lines (faithful replay, the store's ingest of lines, the metrics of a recorder child).

msgspec decodes the line into Structs made from RequestRecord's own fields (so they cannot
drift from it): every field present, no field the model does not know, every value of a
type the model takes as it is (an int for a float; a string of one of an enum's values),
nested attempts and usage alike. Such a line is kept as it is. A line short of fields added
since it was written (a trace from an older axtui) is read again with the model's defaults
filled in, and written again by orjson, in the model's order. Anything else goes to
pydantic, which either accepts it (then the record is used as the model writes it: values
coerced, unknown fields dropped) or says why the line is bad. So a line is accepted here
only if `RequestRecord.model_validate_json` would accept it, at a sixth of its cost.

The fields are read as attributes (`r.route`, `a.deployment`, `u.prompt_tokens`), as a
RequestRecord's are: readers take either. Enums are their plain strings here (members
there), which compare and hash alike. A Struct is read in place, never made into dicts
(that was as dear as the decoding itself).
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any, Literal

import msgspec
import orjson
from pydantic import BaseModel, ValidationError

from axtui.records import RequestRecord

_Made = dict[type[BaseModel], type[msgspec.Struct]]


def _annotation(a: Any, struct: typing.Callable[[type[BaseModel]], type]) -> Any:
    """A model field's annotation as msgspec reads it: nested models as their Structs, an
    enum as the Literal of its values (decoded as plain strings, as orjson gives them)."""
    if isinstance(a, type) and issubclass(a, BaseModel):
        return struct(a)
    if isinstance(a, type) and issubclass(a, enum.Enum):
        return Literal[tuple(m.value for m in a)]  # type: ignore[valid-type]
    origin = typing.get_origin(a)
    if origin is None:
        return a
    args = tuple(_annotation(x, struct) for x in typing.get_args(a))
    if origin in (typing.Union, types.UnionType):
        return typing.Union[args]  # noqa: UP007 (built at run time)
    return origin[args]


def struct_of(model: type[BaseModel], *, every_field: bool, made: _Made | None = None
              ) -> type[msgspec.Struct]:
    """A Struct of `model`'s fields, in its order, refusing unknown fields. `every_field`:
    each one required; else those the model requires, the rest at the model's defaults."""
    made = {} if made is None else made
    if model in made:
        return made[model]
    fields: list[tuple] = []
    for name, f in model.model_fields.items():
        kind = _annotation(f.annotation, lambda m: struct_of(m, every_field=every_field,
                                                             made=made))
        if every_field or f.is_required():
            fields.append((name, kind))
        elif f.default_factory is not None:
            fields.append((name, kind, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((name, kind, f.default))
    made[model] = msgspec.defstruct(f"{model.__name__}Fields", fields, kw_only=True,
                                    forbid_unknown_fields=True)
    return made[model]


_EXACT = msgspec.json.Decoder(struct_of(RequestRecord, every_field=True))
_DEFAULTED = msgspec.json.Decoder(struct_of(RequestRecord, every_field=False))
_Refused = (msgspec.DecodeError, orjson.JSONEncodeError)


def parse(line: bytes | str) -> tuple[Any, bytes | str] | ValidationError:
    """The record's fields (a Struct) and its JSON line (the line itself when it holds
    every field, else as the model writes it), or pydantic's error for a line that is no
    record."""
    try:
        return _EXACT.decode(line), line
    except msgspec.DecodeError:
        pass
    try:  # a record from an older axtui, short of fields added since
        r = _DEFAULTED.decode(line)
        text = orjson.dumps(msgspec.to_builtins(r))
        return r, text if isinstance(line, bytes) else text.decode()
    except _Refused:
        pass
    try:
        model = RequestRecord.model_validate_json(line)
    except ValidationError as err:
        return err
    text = model.model_dump_json()
    return _EXACT.decode(text), text.encode() if isinstance(line, bytes) else text


def fields_of(line: bytes | str) -> Any:
    """The record's fields, or ValueError (pydantic's, naming what is wrong)."""
    got = parse(line)
    if type(got) is tuple:
        return got[0]
    raise got
