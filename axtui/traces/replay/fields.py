"""A trace line read as the dict of its fields, checked cheaply: faithful replay's hot path.

orjson parses the line; the dict is accepted as a record when its keys are
RequestRecord's, in order, every value has a type the model takes as it is (a tuple of
value types, checked once per distinct shape and then looked up), every enum holds one of
its values, and the nested attempts, usage and lists pass the same. Anything else goes to
pydantic, which either accepts it (then the record is used as the model writes it:
defaults filled, values coerced) or says why the line is bad. So a line is accepted here
only if `RequestRecord.model_validate_json` would accept it, at a tenth of its cost.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from axtui.records import Attempt, ErrorKind, Outcome, RequestRecord, Usage

NoneType = type(None)


def _takes(annotation: Any) -> frozenset[type]:
    """The JSON value types a field of this annotation takes as they are."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return frozenset().union(*(_takes(a) for a in typing.get_args(annotation)))
    if annotation is NoneType:
        return frozenset({NoneType})
    if origin is list or annotation is list:
        return frozenset({list})
    if origin is dict or annotation is dict:
        return frozenset({dict})
    if annotation is float:
        return frozenset({float, int})  # a JSON integer is a float's value too
    if isinstance(annotation, type) and issubclass(annotation, Enum | BaseModel):
        return frozenset({dict} if issubclass(annotation, BaseModel) else {str})
    return frozenset({annotation})  # str, int, bool: exactly (a bool is no int here)


class _Shape:
    """One model's fields: their order, and which tuples of value types it takes."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.keys = list(model.model_fields)
        self.takes = tuple(_takes(f.annotation) for f in model.model_fields.values())
        self.seen: dict[tuple, bool] = {}  # value types -> taken as they are

    def fits(self, d: dict) -> bool:
        if list(d) != self.keys:
            return False
        sig = tuple(map(type, d.values()))
        ok = self.seen.get(sig)
        return self._judge(sig) if ok is None else ok

    def _judge(self, sig: tuple) -> bool:
        ok = self.seen[sig] = all(t in takes for t, takes in zip(sig, self.takes, strict=True))
        return ok


_RECORD, _ATTEMPT, _USAGE = _Shape(RequestRecord), _Shape(Attempt), _Shape(Usage)
_OUTCOMES = frozenset(o.value for o in Outcome)
_KINDS = frozenset(k.value for k in ErrorKind) | {None}
_STR = {str}


def plain(d: Any) -> bool:
    """Whether `d` (a parsed line) is a record exactly as the model would write it."""
    if type(d) is not dict or list(d) != _RECORD_KEYS:
        return False
    sig = tuple(map(type, d.values()))
    ok = _RECORD_SEEN.get(sig)
    if not (_RECORD.fits(d) if ok is None else ok):
        return False
    if d["outcome"] not in _OUTCOMES or d["error_kind"] not in _KINDS:
        return False
    usage = d["usage"]
    if usage is not None and not _USAGE.fits(usage):
        return False
    tags, caps, flags = d["tags"], d["required_caps"], d["flags"]
    if (tags and set(map(type, tags)) != _STR or caps and set(map(type, caps)) != _STR
            or flags and set(map(type, flags.values())) != _STR):
        return False
    messages = d["messages"]
    if messages is not None and messages and set(map(type, messages)) != {dict}:
        return False
    fits = _ATTEMPT.fits
    for a in d["attempts"]:
        if type(a) is not dict or not fits(a) or a["error_kind"] not in _KINDS:
            return False
        u = a["usage"]
        if u is not None and not _USAGE.fits(u):
            return False
    return True


_RECORD_KEYS, _RECORD_SEEN = _RECORD.keys, _RECORD.seen


def parse(line: bytes) -> tuple[dict, bytes] | ValidationError:
    """The record's fields and its JSON line (the line itself when it is plain, else as
    the model writes it), or pydantic's error for a line that is no record."""
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        d = None
    if d is not None and plain(d):
        return d, line
    try:
        r = RequestRecord.model_validate_json(line)
    except ValidationError as err:
        return err
    text = r.model_dump_json().encode()
    return orjson.loads(text), text
