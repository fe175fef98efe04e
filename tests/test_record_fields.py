"""The record-line check (msgspec, record_fields.py) accepts exactly what the model accepts:
a record with every field as it is, a lenient one as the model writes it, anything else as
a bad line with pydantic's reason; its fields read as the model's attributes do."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from pydantic import ValidationError

from axtui.record_fields import parse
from axtui.records import ErrorKind, RequestRecord
from tests.store.factory import attempt, record


def line_of(r: RequestRecord) -> bytes:
    return r.model_dump_json().encode()


def test_a_record_as_the_model_writes_it_is_taken_as_it_is():
    line = line_of(record(attempts=[attempt(), attempt(error_kind=ErrorKind.timeout)]))
    fields, kept = parse(line)
    assert kept is line
    assert msgspec.to_builtins(fields) == orjson.loads(line)
    assert fields.__struct_fields__ == tuple(RequestRecord.model_fields)
    assert RequestRecord.model_validate(msgspec.to_builtins(fields)) == \
        RequestRecord.model_validate_json(line)


def test_a_record_missing_optional_fields_is_taken_as_the_model_writes_it():
    d = orjson.loads(line_of(record()))
    for optional in ("tags", "flags", "messages", "reason"):
        del d[optional]
    fields, kept = parse(orjson.dumps(d))
    assert fields.flags == {} and fields.tags == []
    assert kept == RequestRecord.model_validate(d).model_dump_json().encode()


@pytest.mark.parametrize("loosen", [
    lambda d: d.update(cost_nano="12"),
    lambda d: d.update(latency_ms=True),
])
def test_a_value_the_model_coerces_is_taken_coerced(loosen):
    d = orjson.loads(line_of(record()))
    loosen(d)
    fields, kept = parse(orjson.dumps(d))
    assert kept == RequestRecord.model_validate(d).model_dump_json().encode()
    assert type(fields.cost_nano) is int and type(fields.latency_ms) is float


@pytest.mark.parametrize("spoil", [
    lambda d: d.update(outcome="sideways"),
    lambda d: d["attempts"][0].update(error_kind="gremlins"),
    lambda d: d["attempts"][0].update(usage={"prompt_tokens": "many"}),
    lambda d: d.update(flags={"f": 3}),
    lambda d: d.update(tags=[1]),
    lambda d: d.pop("started_at"),
])
def test_a_line_the_model_refuses_is_refused_with_its_reason(spoil):
    d = orjson.loads(line_of(record()))
    spoil(d)
    got = parse(orjson.dumps(d))
    assert isinstance(got, ValidationError)


def test_a_record_from_an_older_axtui_takes_the_cheap_path_with_its_new_fields_defaulted():
    """A trace recorded before fields were added (here: every field after `flags`, and the
    attempts' and usage's newest) reads as the model would read it, without pydantic."""
    r = record(attempts=[attempt()])
    d = orjson.loads(line_of(r))
    newest = list(d)[list(d).index("flags") + 1:]
    for k in newest:
        del d[k]
    del d["usage"]["cache_write_tokens"]
    del d["attempts"][0]["usage"]["cache_write_tokens"]
    fields, kept = parse(orjson.dumps(d))
    assert fields.__struct_fields__ == tuple(RequestRecord.model_fields)
    assert RequestRecord.model_validate(msgspec.to_builtins(fields)) == \
        RequestRecord.model_validate(d)
    assert kept == RequestRecord.model_validate(d).model_dump_json().encode()
    assert orjson.loads(kept) == msgspec.to_builtins(fields)


@pytest.mark.parametrize("add", [
    lambda d: d.update(from_the_future=1),
    lambda d: d["attempts"][0].update(from_the_future=1),
    lambda d: d["usage"].update(from_the_future=1),
])
def test_a_field_the_model_does_not_know_is_dropped_as_the_model_drops_it(add):
    d = orjson.loads(line_of(record(attempts=[attempt()])))
    add(d)
    fields, kept = parse(orjson.dumps(d))
    assert kept == RequestRecord.model_validate(d).model_dump_json().encode()
    assert "from_the_future" not in kept.decode()


def test_the_check_is_made_from_the_models_own_fields():
    """A field added to the model is one the check knows, with its type and default."""
    from axtui.record_fields import struct_of
    from axtui.records import Attempt, Usage

    made: dict = {}
    exact = struct_of(RequestRecord, every_field=True, made=made)
    assert exact.__struct_fields__ == tuple(RequestRecord.model_fields)
    assert made[Attempt].__struct_fields__ == tuple(Attempt.model_fields)
    assert made[Usage].__struct_fields__ == tuple(Usage.model_fields)


def test_a_line_read_as_str_keeps_its_str():
    line = line_of(record(id="str-line")).decode()
    fields, kept = parse(line)
    assert kept is line and fields.id == "str-line"


def test_fields_of_names_what_is_wrong_with_a_line_that_is_no_record():
    from axtui.record_fields import fields_of

    with pytest.raises(ValueError, match="started_at"):
        fields_of(orjson.dumps({k: v for k, v in orjson.loads(line_of(record())).items()
                                if k != "started_at"}))


def test_a_records_fields_fold_into_the_rollups_exactly_as_the_model_does():
    """Every reader takes a model or the fields of its line alike (as attributes)."""
    from axtui.store.rollups import RollupDelta

    records = [record(id="a", attempts=[attempt("p/a", error_kind=ErrorKind.timeout),
                                        attempt("p/b")]),
               record(id="b", attempts=[attempt("p/a")], ttft_ms=80.0),
               record(id="c", attempts=[])]
    from_models = RollupDelta().add_all(records)
    from_lines = RollupDelta().add_all(parse(line_of(r))[0] for r in records)
    assert from_lines.counter_rows() == from_models.counter_rows()
    assert from_lines.histogram_rows() == from_models.histogram_rows()
    assert from_lines.error_rows() == from_models.error_rows()
