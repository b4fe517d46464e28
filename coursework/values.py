"""Plain-data encoding of answer values, the only thing that leaves the sandbox.

The sandboxed worker encodes what a student's code returned (numbers, strings, lists, dicts,
tensors, arrays) into JSON; the trusted grader decodes it with :func:`decode`, which builds only
Python numbers, strings, lists, dicts and tensors: no pickle, no code, no object of the
student's choosing. Anything else becomes ``Opaque(type name)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Opaque", "decode", "encode"]

_MAX_ITEMS = 200_000  # elements per tensor and items per container, both sides
_MAX_STR = 2_000
_DTYPES = (
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
)


@dataclass(frozen=True)
class Opaque:
    """A value the encoding does not carry (its type name only)."""

    type: str

    def __repr__(self) -> str:
        return f"<{self.type}>"


def _float(x: float) -> Any:
    return x if math.isfinite(x) else {"__float__": repr(x)}


def encode(value: Any, depth: int = 0) -> Any:
    """JSON-ready form of ``value`` (runs in the sandbox, on the student's values)."""
    import numpy as np
    import torch

    if depth > 20:
        return {"__opaque__": "too deep"}
    if value is None or isinstance(value, (bool, str)):
        return value[:_MAX_STR] if isinstance(value, str) else value
    if isinstance(value, int):
        return value if abs(value) < 2**62 else float(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (np.generic,)) and np.ndim(value) == 0:
        value = value.item()
        return encode(value, depth + 1)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.array(value, copy=True)) if value.dtype != object else None
        if value is None:
            return {"__opaque__": "object array"}
        return {**encode(value, depth + 1), "numpy": True}
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.numel() > _MAX_ITEMS:
            return {"__opaque__": f"tensor with {t.numel()} elements"}
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in _DTYPES:
            return {"__opaque__": f"tensor of {dtype}"}
        data = t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)
        flat = [_float(x) if isinstance(x, float) else x for x in data.flatten().tolist()]
        return {
            "__tensor__": flat,
            "dtype": dtype,
            "shape": list(t.shape),
            "requires_grad": bool(value.requires_grad),
        }
    if isinstance(value, (list, tuple)):
        items = [encode(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        return {
            "__dict__": [
                [encode(k, depth + 1), encode(v, depth + 1)]
                for k, v in list(value.items())[:_MAX_ITEMS]
            ]
        }
    return {"__opaque__": type(value).__name__[:100]}


def decode(data: Any, depth: int = 0) -> Any:
    """Inverse of :func:`encode` (runs in the trusted grader, on untrusted JSON)."""
    import torch

    if depth > 22:
        return Opaque("too deep")
    if data is None or isinstance(data, (bool, int, float)):
        return data
    if isinstance(data, str):
        return data[:_MAX_STR]
    if isinstance(data, list):
        return [decode(v, depth + 1) for v in data[:_MAX_ITEMS]]
    if not isinstance(data, dict):
        return Opaque(type(data).__name__)
    if "__float__" in data:
        return (
            float(data["__float__"])
            if data["__float__"] in ("inf", "-inf", "nan")
            else Opaque("float")
        )
    if "__tuple__" in data and isinstance(data["__tuple__"], list):
        return tuple(decode(v, depth + 1) for v in data["__tuple__"][:_MAX_ITEMS])
    if "__dict__" in data and isinstance(data["__dict__"], list):
        out = {}
        for pair in data["__dict__"][:_MAX_ITEMS]:
            if isinstance(pair, list) and len(pair) == 2:
                key = decode(pair[0], depth + 1)
                try:
                    out[key] = decode(pair[1], depth + 1)
                except TypeError:  # unhashable key
                    return Opaque("dict with unhashable keys")
        return out
    if "__tensor__" in data:
        try:
            dtype, shape = data["dtype"], [int(s) for s in data["shape"]]
            flat = [decode(x, depth + 1) for x in data["__tensor__"][:_MAX_ITEMS]]
            if dtype not in _DTYPES or math.prod(shape) != len(flat):
                return Opaque("malformed tensor")
            if not all(isinstance(x, (int, float)) for x in flat):
                return Opaque("malformed tensor")
            t = torch.tensor(flat, dtype=torch.float64).reshape(shape).to(getattr(torch, dtype))
        except (KeyError, TypeError, ValueError, RuntimeError, OverflowError):
            return Opaque("malformed tensor")
        if data.get("requires_grad") is True and t.is_floating_point():
            t.requires_grad_(True)
        return t.numpy() if data.get("numpy") else t
    if "__opaque__" in data:
        return Opaque(str(data["__opaque__"])[:100])
    return Opaque("unknown")
