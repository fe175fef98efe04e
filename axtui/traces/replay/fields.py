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


_REQUIRED = object()


class _Shape:
    """One model's fields: their order, and which tuples of value types it takes."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.keys = list(model.model_fields)
        self.takes = tuple(_takes(f.annotation) for f in model.model_fields.values())
        self.seen: dict[tuple, bool] = {}  # value types -> taken as they are
        self.known = frozenset(self.keys)
        self.defaults = {k: _REQUIRED if f.is_required() else f.get_default(
            call_default_factory=True) for k, f in model.model_fields.items()}
        self.template = dict(self.defaults)
        self.plans: dict[tuple, tuple[str, ...] | bool] = {}

    def fill(self, d: dict) -> dict | None:
        """`d` with the fields it lacks at their defaults, in the model's order (a record
        written before a field existed), or None when it lacks a required one or has a
        field the model does not know. Judged once per distinct set of keys."""
        keys = tuple(d)
        fresh = self.plans.get(keys)
        if fresh is None:
            fresh = self.plans[keys] = self._plan(keys)
        if fresh is False:
            return None
        out = self.template.copy()  # the model's order; update() keeps each key's place
        out.update(d)
        for k in fresh:  # missing mutable defaults: a list or dict of the record's own
            out[k] = type(self.defaults[k])()
        return out

    def _plan(self, keys: tuple) -> tuple[str, ...] | bool:
        if not self.known.issuperset(keys):
            return False
        missing = [k for k in self.keys if k not in keys]
        if any(self.defaults[k] is _REQUIRED for k in missing):
            return False
        return tuple(k for k in missing if isinstance(self.defaults[k], list | dict))

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


def filled(d: dict) -> dict | None:
    """A record written by an older axtui (fewer fields, here or in its attempts and
    usage) with the missing fields at their defaults, or None if that does not make it."""
    r = _RECORD.fill(d)
    if r is None:
        return None
    usage = r["usage"]
    if type(usage) is dict and list(usage) != _USAGE.keys:
        r["usage"] = usage = _USAGE.fill(usage)
        if usage is None:
            return None
    attempts = r["attempts"]
    if type(attempts) is list:
        fixed = []
        for a in attempts:
            if type(a) is dict and list(a) != _ATTEMPT.keys:
                a = _ATTEMPT.fill(a)
                if a is None:
                    return None
            if type(a) is dict and type(u := a.get("usage")) is dict and list(u) != _USAGE.keys:
                u = _USAGE.fill(u)
                if u is None:
                    return None
                a = {**a, "usage": u}
            fixed.append(a)
        r["attempts"] = fixed
    return r


def parse(line: bytes) -> tuple[dict, bytes] | ValidationError:
    """The record's fields and its JSON line (the line itself when it is plain, else as
    the model writes it), or pydantic's error for a line that is no record. A record from
    an older axtui, short of fields added since, takes the cheap path too: its missing
    fields at their defaults, the line written again by orjson."""
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        d = None
    if type(d) is dict:
        if plain(d):
            return d, line
        r = filled(d)
        if r is not None and plain(r):
            return r, orjson.dumps(r)
    try:
        r = RequestRecord.model_validate_json(line)
    except ValidationError as err:
        return err
    text = r.model_dump_json().encode()
    return orjson.loads(text), text
