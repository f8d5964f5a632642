"""Conformance of raw ECS response bodies to botocore's ECS service model.

boto3's parser is forgiving: it silently drops members it does not know, and turns
an ISO-8601 string into a datetime just as happily as an epoch number. A server can
therefore "work with boto3" while sending bodies that the JS SDK, Terraform or the
AWS CLI v2 reject. This module checks the RAW body (bytes as sent on the wire)
against ``operation_model.output_shape`` from the loaded botocore model:

* every member present must exist in the shape (no unknown members, no nulls);
* members the shape marks required must be present;
* types must match: structure -> object, list -> array, map -> object,
  string -> string (and in the enum when the shape has one),
  integer/long -> integer (never a boolean), boolean -> boolean,
  double/float -> number, timestamp -> epoch seconds number (never a string),
  blob -> base64 string;
* an error response is a JSON object whose ``__type`` names an exception the model
  lists for that operation (or a generic AWS JSON protocol error) and whose
  ``message`` is a string (SDKs generate typed exceptions only for modeled errors).

``attach(client)`` registers a handler on ``after-call.ecs`` so that every call a
boto3 client makes is checked; a violation raises ``ConformanceError`` (an
``AssertionError``) naming the JSON path, which fails the test.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ConformanceError", "validate_shape", "validate_response", "attach"]


class ConformanceError(AssertionError):
    """A response body does not match the botocore service model."""


# Error codes the AWS JSON 1.1 protocol itself produces, outside any service model.
GENERIC_ERROR_CODES = frozenset(
    {
        "SerializationException",
        "UnknownOperationException",
        "InternalFailure",
        "ServiceUnavailable",
        "ThrottlingException",
        "ValidationException",
        "IncompleteSignature",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "AccessDeniedException",
    }
)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_shape(shape, value: Any, path: str = "$") -> list[str]:
    """Return a list of violations of ``value`` (decoded JSON) against ``shape``."""
    errors: list[str] = []
    _check(shape, value, path, errors)
    return errors


def _check(shape, value: Any, path: str, errors: list[str]) -> None:
    t = shape.type_name
    if value is None:
        errors.append(f"{path}: null value for {t} shape {shape.name} (omit absent members)")
        return
    if t == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object (structure {shape.name}), got {_kind(value)}")
            return
        wire_to_member = {}
        for member_name, member_shape in shape.members.items():
            wire = member_shape.serialization.get("name", member_name)
            wire_to_member[wire] = member_shape
        for key, sub in value.items():
            member_shape = wire_to_member.get(key)
            if member_shape is None:
                errors.append(f"{path}.{key}: unknown member (not in structure {shape.name})")
                continue
            _check(member_shape, sub, f"{path}.{key}", errors)
        for req in getattr(shape, "required_members", []) or []:
            wire = shape.members[req].serialization.get("name", req)
            if wire not in value:
                errors.append(f"{path}.{wire}: required member of {shape.name} is missing")
    elif t == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected array (list {shape.name}), got {_kind(value)}")
            return
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", errors)
    elif t == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object (map {shape.name}), got {_kind(value)}")
            return
        for key, sub in value.items():
            _check(shape.key, key, f"{path}<key {key!r}>", errors)
            _check(shape.value, sub, f"{path}[{key!r}]", errors)
    elif t == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string ({shape.name}), got {_kind(value)} {value!r}")
            return
        enum = getattr(shape, "enum", None) or []
        if enum and value not in enum:
            errors.append(f"{path}: {value!r} is not in enum {shape.name} {list(enum)}")
    elif t in ("integer", "long"):
        if not _is_int(value):
            errors.append(f"{path}: expected integer ({shape.name}), got {_kind(value)} {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean ({shape.name}), got {_kind(value)} {value!r}")
    elif t in ("double", "float"):
        if not _is_number(value):
            errors.append(f"{path}: expected number ({shape.name}), got {_kind(value)} {value!r}")
    elif t == "timestamp":
        if not _is_number(value):
            errors.append(
                f"{path}: expected epoch-seconds number (timestamp {shape.name}), "
                f"got {_kind(value)} {value!r}"
            )
    elif t == "blob":
        if not isinstance(value, str):
            errors.append(f"{path}: expected base64 string (blob {shape.name}), got {_kind(value)}")
    else:
        errors.append(f"{path}: shape type {t!r} ({shape.name}) is not supported by the checker")


def _known_error_codes(service_model) -> set[str]:
    codes = set(GENERIC_ERROR_CODES)
    for name in service_model.shape_names:
        shape = service_model.shape_for(name)
        if shape.metadata.get("exception"):
            codes.add(shape.metadata.get("error", {}).get("code", name))
    return codes


def validate_response(operation_model, status_code: int, body: bytes) -> list[str]:
    """Check one raw HTTP response of ``operation_model`` and return its violations."""
    errors: list[str] = []
    text = body.decode("utf-8", errors="replace") if body else ""
    try:
        doc = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        return [f"$: body is not JSON ({exc}): {text[:200]!r}"]

    if status_code >= 300:
        if not isinstance(doc, dict):
            return [f"$: error body must be a JSON object, got {_kind(doc)}"]
        code = doc.get("__type")
        if not isinstance(code, str) or not code:
            errors.append(f"$.__type: error body lacks a string __type: {text[:200]!r}")
        else:
            short = code.rsplit("#", 1)[-1].split(":", 1)[0]
            if short not in _known_error_codes(operation_model.service_model):
                errors.append(f"$.__type: {code!r} is not an error code of the ECS model")
            elif short not in GENERIC_ERROR_CODES and short not in {
                    e.metadata.get("error", {}).get("code", e.name)
                    for e in operation_model.error_shapes}:
                errors.append(f"$.__type: {code!r} is not an error the model lists for "
                              f"{operation_model.name}")
        for key in ("message", "Message"):
            if key in doc and not isinstance(doc[key], str):
                errors.append(f"$.{key}: expected string, got {_kind(doc[key])}")
        return errors

    shape = operation_model.output_shape
    if shape is None:
        if doc not in ({}, None):
            errors.append(f"$: operation {operation_model.name} has no output, body is {text[:200]!r}")
        return errors
    if not isinstance(doc, dict):
        return [f"$: response body must be a JSON object, got {_kind(doc)}"]
    _check(shape, doc, "$", errors)
    return errors


def attach(client) -> None:
    """Check every response ``client`` receives; raise ConformanceError on a violation."""

    def _after_call(http_response, model, **_kwargs):
        errors = validate_response(model, http_response.status_code, http_response.content)
        if errors:
            raise ConformanceError(
                f"{model.name} response (HTTP {http_response.status_code}) does not conform "
                f"to the botocore ECS model:\n  " + "\n  ".join(errors)
            )

    client.meta.events.register(
        "after-call.ecs", _after_call, unique_id=f"ecsd-conformance-{id(client)}"
    )
