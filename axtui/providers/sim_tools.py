"""What the simulated upstream says when a request offers tools or asks for a schema: a
tool call whose arguments are valid against the tool's JSON Schema, and JSON that follows
a `json_schema` response format, so tool and structured-output flows run on the demo.

When it calls: `tool_choice` "required" or a named function, always; "auto" (or none
given), when the conversation ends on the user's turn (after a tool result it answers in
words, so a tool loop ends); "none", never.
"""

from __future__ import annotations

from typing import Any

import orjson

from axtui.providers.base import ChatRequest

_MAX_DEPTH = 8  # a recursive schema ($ref to itself) stops here


def tool_call_for(request: ChatRequest, call_id: str) -> dict[str, Any] | None:
    """The OpenAI-shaped tool call the sim makes for this request, or None."""
    return tool_call_of(request.tools, request.tool_choice, _users_turn(request.messages),
                        call_id)


def tool_call_of(tools: Any, choice: Any, users_turn: bool, call_id: str
                 ) -> dict[str, Any] | None:
    """The OpenAI-shaped tool call for OpenAI-shaped `tools` and `tool_choice` (the HTTP sim
    passes a request body's, translated if it speaks another wire), or None."""
    fns = [t.get("function") or {} for t in tools or [] if isinstance(t, dict)]
    if not fns or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        fn = next((f for f in fns if f.get("name") == name), None)
        if fn is None:
            return None
    elif choice == "required" or users_turn:
        fn = fns[0]
    else:
        return None
    schema = fn.get("parameters") or {"type": "object", "properties": {}}
    arguments = example(schema, schema)
    if not isinstance(arguments, dict):
        arguments = {}
    return {"id": call_id, "type": "function",
            "function": {"name": str(fn.get("name") or ""),
                         "arguments": orjson.dumps(arguments).decode()}}


def schema_answer(request: ChatRequest) -> str | None:
    """JSON text valid against the `json_schema` response format, or None when none asked."""
    return schema_text(request.response_format)


def schema_text(response_format: Any) -> str | None:
    """JSON text valid against an OpenAI `json_schema` response format, or None."""
    fmt = response_format if isinstance(response_format, dict) else {}
    if fmt.get("type") != "json_schema":
        return None
    schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    return orjson.dumps(example(schema, schema)).decode()


def _users_turn(messages: list[dict[str, Any]]) -> bool:
    return bool(messages) and messages[-1].get("role") == "user"


def example(schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """A value valid against `schema` (the JSON Schema subset tools and structured outputs
    use: types, properties/required, items/minItems, enum, const, anyOf/oneOf/allOf, local
    $ref, numeric and length bounds)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return example(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example(schema[key][0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged = _merge(merged, part)
        return example(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        # every property: strict schemas require them all, and extra optional ones are valid
        return {name: example(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        n = max(1, int(schema.get("minItems") or 0))
        return [example(schema.get("items") or {}, root, depth + 1) for _ in range(n)]
    if kind == "integer":
        return _number(schema, 1, int)
    if kind == "number":
        return _number(schema, 1.5, float)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = "sample"
    lo, hi = int(schema.get("minLength") or 0), schema.get("maxLength")
    text = (text * (lo // len(text) + 1))[: max(lo, len(text))]
    return text[:hi] if isinstance(hi, int) else text


def _number(schema: dict[str, Any], default: float, cast: type) -> Any:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = default
    if isinstance(lo, int | float):
        value = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(hi, int | float) and value > hi:
        value = hi - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
    return cast(value)


def _resolve(ref: Any, root: dict[str, Any]) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(
            node, dict) else None
    return node if isinstance(node, dict) else {}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b}
    if "properties" in a and "properties" in b:
        out["properties"] = {**a["properties"], **b["properties"]}
    return out
