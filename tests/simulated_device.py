"""A second device on a CPU-only machine, so device bugs fail tests in CI.

`Elsewhere` tensors hold real CPU data but report the `meta` device. Inside `simulated_device()`, factories asked
for that device make them, and any op that mixes one with a CPU tensor of one or more dimensions raises, as CUDA
does (0-dim CPU tensors mix freely there too, so they are let through here). `.cpu()`, `.item()` and `bool()` work,
so code with data-dependent control flow (reverse diffusion, early stops) runs for real.
"""

from __future__ import annotations

import contextlib

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

DEVICE = torch.device("meta")
COPIES = {torch.ops.aten.copy_.default, torch.ops.aten._to_copy.default}
INDEXING = {torch.ops.aten.index.Tensor, torch.ops.aten.index_put.default, torch.ops.aten.index_put_.default,
            torch.ops.aten._index_put_impl_.default}  # CUDA tensors take CPU indices


class DeviceMixed(RuntimeError):
    """An op was given tensors on two devices."""


class Elsewhere(torch.Tensor):
    """A CPU tensor that says it lives on DEVICE."""

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        return torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(), dtype=elem.dtype,
            device=DEVICE, requires_grad=elem.requires_grad)

    def __init__(self, elem: torch.Tensor):
        self.elem = elem

    def __repr__(self) -> str:
        return f"Elsewhere({self.elem!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


def _is_here(device) -> bool:
    return device is not None and torch.device(device).type == DEVICE.type


def _run(func, args, kwargs):
    tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
    ours = any(isinstance(a, Elsewhere) for a in tensors)
    if any(a.device.type == "meta" and not isinstance(a, Elsewhere) for a in tensors):
        raise DeviceMixed(f"{func} got a meta tensor without data (made outside the simulated device's factories)")
    indices = {id(a) for a in tree_leaves(args[1])} if func in INDEXING else set()
    others = [a for a in tensors if not isinstance(a, Elsewhere) and a.dim() > 0 and id(a) not in indices]
    if ours and others and func not in COPIES:
        raise DeviceMixed(f"{func} mixes {DEVICE} with {sorted({str(a.device) for a in others})} tensors of shapes "
                          f"{[tuple(a.shape) for a in others]}")
    made_here = _is_here(kwargs.get("device"))
    if made_here:
        kwargs = {**kwargs, "device": torch.device("cpu")}
    moved_out = ours and kwargs.get("device") is not None and not made_here
    unwrap = lambda a: a.elem if isinstance(a, Elsewhere) else a  # noqa: E731
    out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs))
    if moved_out or not (ours or made_here):
        return out
    if func is torch.ops.aten.copy_.default and not isinstance(args[0], Elsewhere):
        return out
    return tree_map(lambda a: Elsewhere(a) if isinstance(a, torch.Tensor) and not isinstance(a, Elsewhere) else a, out)


class _Dispatch(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


class _Functions(TorchFunctionMode):
    """torch.tensor/as_tensor/asarray copy their data below the dispatcher; make them on the CPU and move them."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.tolist and isinstance(args[0], Elsewhere):
            return args[0].elem.tolist()
        if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__) and isinstance(args[0], Elsewhere):
            index = tuple(torch.tensor(i) if isinstance(i, list) else i for i in (args[1] if isinstance(args[1], tuple) else (args[1],)))
            return func(args[0], index, *args[2:], **kwargs)
        if func in (torch.tensor, torch.as_tensor, torch.asarray) and _is_here(kwargs.get("device")):
            if isinstance(args[0], Elsewhere):
                return func(*args, **{**kwargs, "device": None})
            return func(*args, **{**kwargs, "device": "cpu"}).to(DEVICE)
        return func(*args, **kwargs)


@contextlib.contextmanager
def simulated_device():
    """Inside: DEVICE is a device with data, and tensors on two devices in one op raise DeviceMixed."""
    with _Functions(), _Dispatch():
        yield DEVICE


def on_device(*tensors: torch.Tensor) -> bool:
    return all(isinstance(t, Elsewhere) and t.device == DEVICE for t in tensors)
