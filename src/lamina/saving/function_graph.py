"""Loading an op graph (``function_trace`` writes them) as a callable, in safe mode too.

Every node's op name goes through ``op_table.lookup`` (a dict: nothing is imported or looked
up by attribute), every argument is decoded strictly (a tensor reference must name a slot
made *before* the node, so forward references and cycles cannot be written down), and the
sizes are bounded. Then the graph is checked on the ``meta`` device at batch 2: each node
must accept its arguments (a wrong arity is refused here) and give the shapes its ``specs``
say, and none may make a tensor of more than ``MAX_ELEMENTS`` values. No saved source is
parsed, compiled or run; the graph runs only when the layer is called.

A node ``"op": "module:<name>"`` calls the torch module the layer passes as the argument
``<name>`` (one of the config's ``"modules"``; ``nets.0`` / ``heads.mean`` for an item of a
list or dict argument; never anything but an ``nn.Module``): the module the loader rebuilt
from the layer's config, with the file's weights. The meta check takes such a node's
outputs from its specs, since the module is only known when the function is called.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
from collections.abc import Callable
from typing import Any, cast

import torch

from lamina.core.tensor import flatten
from lamina.saving import op_table
from lamina.saving.function_config import (
    FunctionDeserializationError,
    UnsafeFunctionError,
    _decode,
)

__all__ = ["MAX_ELEMENTS", "MAX_NODES", "GraphFunction"]

MAX_NODES = 10_000
MAX_ELEMENTS = 1 << 31
"""The most values a node of a saved graph may make at batch size 2."""
_MAX_DEPTH = 16
_MAX_INT = 1 << 48
_TAGS = (
    "tensor",
    "constant",
    "tuple",
    "dict",
    "slice",
    "ellipsis",
    "dtype",
    "device",
    "batch",
    "float",
)


_PLAIN = (int, float, bool, str, type(None))
_MODULE_PATH = re.compile(r"[A-Za-z_]\w{0,99}(\.(\d{1,4}|[A-Za-z_]\w{0,99}))?", re.ASCII)


class _Ref:
    __slots__ = ("index", "kind")

    def __init__(self, kind: str, index: int) -> None:
        self.kind, self.index = kind, index


class _Batch:
    __slots__ = ("a", "c")

    def __init__(self, a: int, c: int) -> None:
        self.a, self.c = a, c


class _DeviceOfInputs:
    pass


_DEVICE = _DeviceOfInputs()


class _Graph:
    """One decoded graph: constants, nodes (op, args, kwargs, output count, specs), outputs."""

    def __init__(
        self,
        config: Any,
        inputs: int,
        fail: Callable[[str], Exception],
        modules: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(config, dict) or set(config) != {"constants", "nodes", "outputs"}:
            raise fail("a graph must be a dict of 'constants', 'nodes' and 'outputs'")
        constants, nodes = config["constants"], config["nodes"]
        if not isinstance(constants, list) or not isinstance(nodes, list):
            raise fail("a graph's 'constants' and 'nodes' must be lists")
        if len(nodes) > MAX_NODES or len(constants) > MAX_NODES:
            raise fail(f"a graph may have at most {MAX_NODES:,} nodes and constants")
        self.fail = fail
        self.modules = modules
        self.constants: list[Any] = []
        for i, value in enumerate(constants):
            decoded = _decode(value, f"constant {i}")
            if not isinstance(decoded, torch.Tensor) and not hasattr(decoded, "__array__"):
                raise fail(f"constant {i} must be a tensor or an array")
            self.constants.append(decoded)
        self.slots = inputs
        self.nodes: list[tuple[str, Callable[..., Any] | None, Any, Any, int, list[Any]]] = []
        for i, node in enumerate(nodes):
            self.nodes.append(self.node(i, node))
        self.outputs = self.value(config["outputs"], "the outputs", 0)
        if not any(isinstance(leaf, _Ref) for leaf in _leaves(self.outputs)):
            raise fail("a graph must return at least one tensor")

    def node(
        self, i: int, node: Any
    ) -> tuple[str, Callable[..., Any] | None, Any, Any, int, list[Any]]:
        where = f"node {i}"
        if not isinstance(node, dict) or set(node) != {"op", "args", "kwargs", "outputs", "specs"}:
            raise self.fail(f"{where} must be a dict of op, args, kwargs, outputs and specs")
        op = node["op"]
        module = isinstance(op, str) and op.startswith("module:")
        fn = None if module else op_table.lookup(op)
        if module and op[7:] not in self.modules:
            raise self.fail(f"{where} calls the module {op[7:80]!r}, which 'modules' does not list")
        if fn is None and not module:
            raise UnsafeFunctionError(
                f"{where} names the op {str(op)[:80]!r}, which is not in lamina's table of ops"
            )
        args, kwargs, count, specs = node["args"], node["kwargs"], node["outputs"], node["specs"]
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise self.fail(f"{where} ({op}): 'args' must be a list and 'kwargs' a dict")
        if type(count) is not int or not 0 <= count <= 1024:
            raise self.fail(f"{where} ({op}): 'outputs' must be a small int")
        if not isinstance(specs, list) or len(specs) != count:
            raise self.fail(f"{where} ({op}): 'specs' must hold one spec per output")
        for key in kwargs:
            if not isinstance(key, str) or not key.isidentifier():
                raise self.fail(f"{where} ({op}): bad keyword {str(key)[:40]!r}")
        decoded = (
            self.value(args, where, 0),
            {k: self.value(v, where, 0) for k, v in kwargs.items()},
        )
        self.slots += count
        return op, fn, decoded[0], decoded[1], count, [_spec(s, where, self.fail) for s in specs]

    def value(self, value: Any, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail(f"{where}: an argument is nested more than {_MAX_DEPTH} levels deep")
        if value is None or isinstance(value, bool) or type(value) is float:
            return value
        if type(value) is int:
            if abs(value) > _MAX_INT:
                raise self.fail(f"{where}: the int {value} is out of range")
            return value
        if isinstance(value, str):
            if len(value) > 200:
                raise self.fail(f"{where}: a string argument is longer than 200 characters")
            return value
        if isinstance(value, list):
            return [self.value(v, where, depth + 1) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            raise self.fail(f"{where}: unexpected argument {str(value)[:60]}")
        ((tag, body),) = value.items()
        if tag in ("tensor", "constant"):
            limit = self.slots if tag == "tensor" else len(self.constants)
            if type(body) is not int or not 0 <= body < limit:
                raise self.fail(
                    f"{where}: {tag} {str(body)[:20]} does not exist yet (there are {limit}); "
                    "a node may only use what earlier nodes made"
                )
            return _Ref(tag, body)
        if tag == "tuple" and isinstance(body, list):
            return tuple(self.value(v, where, depth + 1) for v in body)
        if tag == "dict" and isinstance(body, list):
            if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in body):
                raise self.fail(f"{where}: a dict must be a list of [string key, value] pairs")
            return {k: self.value(v, where, depth + 1) for k, v in body}
        if tag == "slice" and isinstance(body, list) and len(body) == 3:
            return slice(*(self.value(v, where, depth + 1) for v in body))
        if tag == "ellipsis" and body is None:
            return Ellipsis
        if tag == "dtype" and body in op_table.DTYPES:
            return op_table.DTYPES[body]
        if tag == "device" and body is None:
            return _DEVICE
        if (
            tag == "batch"
            and isinstance(body, list)
            and len(body) == 2
            and all(type(v) is int and abs(v) <= _MAX_INT for v in body)
        ):
            return _Batch(*body)
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        raise self.fail(
            f"{where}: unexpected argument {str(value)[:60]}; expected plain JSON or one of "
            f"{', '.join(_TAGS)}"
        )

    def run(
        self,
        inputs: list[Any],
        batch: int,
        device: torch.device,
        check: bool = False,
        modules: dict[str, Any] | None = None,
    ) -> Any:
        slots = list(inputs)
        constants = [c.to(device) if isinstance(c, torch.Tensor) else c for c in self.constants]

        def fill(value: Any) -> Any:
            kind = type(value)
            if kind in _PLAIN:
                return value
            if kind is _Ref:
                return slots[value.index] if value.kind == "tensor" else constants[value.index]
            if kind is list:
                return [fill(v) for v in value]
            if isinstance(value, _Batch):
                return value.a * batch + value.c
            if value is _DEVICE:
                return device
            if isinstance(value, tuple):
                return tuple(fill(v) for v in value)
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, slice):
                return slice(fill(value.start), fill(value.stop), fill(value.step))
            return value

        for i, (op, fn, args, kwargs, count, specs) in enumerate(self.nodes):
            if fn is None:  # "module:<name>"
                if check:
                    shapes = _shapes(specs, batch)
                    if any(math.prod(shape) > MAX_ELEMENTS for shape, _ in shapes):
                        raise UnsafeFunctionError(f"node {i} ({op}): a spec is too big")
                    out = [torch.empty(shape, dtype=dtype) for shape, dtype in shapes]
                else:
                    out = cast("dict[str, Any]", modules)[op[7:]](*fill(args), **fill(kwargs))
            elif check:
                out = self.check_node(i, op, fn, fill(args), fill(kwargs), count, specs, batch)
            else:
                out = fn(*fill(args), **fill(kwargs))
            if count == 1 and isinstance(out, torch.Tensor):
                slots.append(out)
                continue
            leaves = [t for t in flatten(_plain(out)) if isinstance(t, torch.Tensor)]
            if len(leaves) != count:
                raise FunctionDeserializationError(
                    f"node {i} ({op}) made {len(leaves)} tensors, the graph says {count}"
                )
            slots.extend(leaves)
        return fill(self.outputs)

    def check_node(
        self,
        i: int,
        op: str,
        fn: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        count: int,
        specs: list[Any],
        batch: int,
    ) -> Any:
        where = f"node {i} ({op})"
        shapes = [s for s, _ in _shapes(specs, batch)]
        for shape in shapes:
            if math.prod(shape) > MAX_ELEMENTS:
                raise UnsafeFunctionError(f"{where}: its spec {shape} is too big")
        try:
            out = fn(*args, **kwargs)
        except TypeError as error:
            raise self.fail(f"{where} does not take these arguments: {error}") from None
        except Exception:
            # Ops whose output shape depends on values (nonzero, unique) do not run on meta:
            # their outputs are taken from the specs.
            return [torch.empty(s, dtype=d, device="meta") for s, (_, d) in zip(shapes, specs)]
        leaves = [t for t in flatten(_plain(out)) if isinstance(t, torch.Tensor)]
        if len(leaves) != count:
            raise self.fail(f"{where} makes {len(leaves)} tensors, the graph says {count}")
        for leaf, (shape, _) in zip(leaves, specs):
            if leaf.numel() > MAX_ELEMENTS:
                raise UnsafeFunctionError(
                    f"{where} makes a tensor of shape {tuple(leaf.shape)}, more than "
                    f"{MAX_ELEMENTS:,} values"
                )
            if len(leaf.shape) != len(shape) or any(
                d is not None and d != n for d, n in zip(shape, leaf.shape)
            ):
                raise self.fail(
                    f"{where} makes shape {tuple(leaf.shape)}, but its spec says {shape}"
                )
        return out


def _shapes(specs: list[Any], batch: int) -> list[tuple[list[int], torch.dtype]]:
    return [([batch if d is None else d for d in shape], dtype) for shape, dtype in specs]


def _plain(value: Any) -> Any:
    """Named tuples of results (``torch.return_types.max``) as plain tuples."""
    if isinstance(value, tuple) and type(value) is not tuple:
        return tuple(value)
    return value


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]


def _spec(spec: Any, where: str, fail: Callable[[str], Exception]) -> tuple[list[Any], Any]:
    if (
        not isinstance(spec, list)
        or len(spec) != 2
        or not isinstance(spec[0], list)
        or len(spec[0]) > 32
        or not all(d is None or (type(d) is int and 0 <= d <= MAX_ELEMENTS) for d in spec[0])
        or spec[1] not in op_table.DTYPES
    ):
        raise fail(f"{where}: a spec must be [shape, dtype], got {str(spec)[:60]}")
    return spec[0], op_table.DTYPES[spec[1]]


def _structure(value: Any, fail: Callable[[str], Exception], depth: int = 0) -> Any:
    """The inputs' structure: None for a tensor, lists, {"tuple": [...]}, {"dict": [...]}."""
    if depth > _MAX_DEPTH:
        raise fail("the inputs are nested too deeply")
    if value is None:
        return None
    if isinstance(value, list):
        return [_structure(v, fail, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((tag, body),) = value.items()
        if tag == "tuple" and isinstance(body, list):
            return tuple(_structure(v, fail, depth + 1) for v in body)
        if (
            tag == "dict"
            and isinstance(body, list)
            and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in body)
        ):
            return {k: _structure(v, fail, depth + 1) for k, v in body}
    raise fail(f"bad inputs structure {str(value)[:60]}")


class GraphFunction:
    """A function, loaded from its op graph.

    Called like the original: a function layer's as ``fn(inputs, **arguments)`` (plus
    ``training=``/``mask=`` when the original declared them); a loss, activation,
    regularizer, initializer or constraint with the positional arguments it was traced with
    (``"positional"`` in the config: ``fn(y_true, y_pred)``, ``fn(shape, dtype)``). The plain
    arguments it was traced with are fixed, so others are refused.
    """

    def __init__(self, config: dict[str, Any], where: str = "") -> None:
        name = str(config.get("name"))

        def fail(message: str) -> Exception:
            return FunctionDeserializationError(f"{where}function {name!r}: {message}.")

        self.__name__ = self.__qualname__ = name
        self.__lamina_config__ = copy.deepcopy(config)
        self.structure = _structure(config.get("inputs"), fail)
        # The structure of the masks it was traced with ("mask_inputs": null is one mask).
        self.masked = "mask_inputs" in config
        masks = _structure(config["mask_inputs"], fail) if self.masked else []
        self.mask_count = len(flatten(masks))
        count = len(flatten(self.structure)) + self.mask_count
        specs = config.get("input_specs")
        if not isinstance(specs, list) or len(specs) != count:
            raise fail("'input_specs' must hold one spec per input")
        self.input_specs = [_spec(s, "input_specs", fail) for s in specs]
        batch = config.get("batch")
        if batch is not None and not (
            isinstance(batch, list)
            and len(batch) == 2
            and all(type(v) is int for v in batch)
            and 0 <= batch[0] < count
            and 0 <= batch[1] < len(self.input_specs[batch[0]][0])
        ):
            raise fail(f"bad 'batch' {str(batch)[:40]}")
        self.batch = batch
        keywords = config.get("keywords", [])
        if not isinstance(keywords, list) or not set(keywords) <= {"training", "mask"}:
            raise fail("'keywords' may only name training and mask")
        self.keywords = tuple(keywords)
        graphs = config.get("graphs")
        if not isinstance(graphs, dict) or set(graphs) not in (
            {"any"},
            {"training", "inference"},
        ):
            raise fail("'graphs' must hold 'any', or 'training' and 'inference'")
        modules = config.get("modules", [])
        if not (
            isinstance(modules, list)
            and len(modules) <= 64
            and all(isinstance(m, str) and _MODULE_PATH.fullmatch(m) for m in modules)
        ):
            raise fail("'modules' must be a list of argument names (net, nets.0, nets.key)")
        self.modules = tuple(modules)
        self.graphs = {key: _Graph(g, count, fail, self.modules) for key, g in graphs.items()}
        arguments = config.get("arguments", {})
        if not isinstance(arguments, dict):
            raise fail("'arguments' must be a dict")
        self.arguments = {str(k): _decode(v, f"argument {k}") for k, v in arguments.items()}
        positional = config.get("positional")
        if positional is not None and not (
            isinstance(positional, list)
            and len(positional) <= 16
            and all(isinstance(n, str) and n.isidentifier() for n in positional)
            and len(set(positional)) == len(positional)
            and isinstance(self.structure, list)
            and len([n for n in positional if n not in self.arguments]) == len(self.structure)
        ):
            raise fail("'positional' must name each tensor input and plain argument once")
        self.positional = None if positional is None else tuple(positional)
        names = self.positional or ("inputs",)
        parameters = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
        parameters += [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
            for k, v in self.arguments.items()
            if k not in ("training", "mask", *names)
        ]
        roots = dict.fromkeys(m.split(".")[0] for m in self.modules)
        parameters += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in roots]
        parameters += [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None)
            for k in self.keywords
        ]
        self.__signature__ = inspect.Signature(parameters)
        self.check()

    def check(self) -> None:
        """Run every graph on meta tensors at batch 2 (see the module docstring)."""
        inputs = [
            torch.empty([2 if d is None else d for d in shape], dtype=dtype, device="meta")
            for shape, dtype in self.input_specs
        ]
        with torch.device("meta"), torch.no_grad():
            for graph in self.graphs.values():
                graph.run(inputs, 2, torch.device("meta"), check=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        names = self.positional or ("inputs",)
        if len(args) > len(names):
            raise TypeError(
                f"{self.__name__}: takes {len(names)} positional arguments ({', '.join(names)}), "
                f"got {len(args)}"
            )
        given = dict(zip(names, args))
        for name in names[len(args) :]:
            if name in kwargs:
                given[name] = kwargs.pop(name)
            elif name in self.arguments:  # a plain value left out: the traced one
                given[name] = self.arguments[name]
            else:
                raise TypeError(f"{self.__name__}: missing argument {name!r}")
        if self.positional is None:
            inputs = given["inputs"]
        else:
            inputs = [given[n] for n in names if n not in self.arguments]
            kwargs.update({n: given[n] for n in names if n in self.arguments})
        training = kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
        masks: list[Any] = []
        if self.masked:
            masks = flatten(mask) if mask is not None else []
            if len(masks) != self.mask_count or not all(isinstance(m, torch.Tensor) for m in masks):
                raise TypeError(
                    f"{self.__name__}: was traced with the masks of its {self.mask_count} "
                    f"inputs and needs them as mask=, got {str(mask)[:60]}"
                )
        roots = dict.fromkeys(m.split(".")[0] for m in self.modules)
        given_modules = {root: kwargs.pop(root, None) for root in roots}
        modules = {}
        for path in self.modules:
            root, _, item = path.partition(".")
            module = given_modules[root]
            if item and isinstance(module, (list, tuple)) and item.isdigit():
                module = module[int(item)] if int(item) < len(module) else None
            elif item:
                module = module.get(item) if isinstance(module, dict) else None
            if not isinstance(module, torch.nn.Module):
                raise TypeError(
                    f"{self.__name__}: calls the module argument {path!r}; pass it as "
                    f"{root}=<the module{'s' if item else ''}> (got {type(module).__name__})"
                )
            modules[path] = module
        for key, value in kwargs.items():
            if key not in self.arguments or not _same(value, self.arguments[key]):
                raise TypeError(
                    f"{self.__name__}: was saved as an op graph traced with arguments "
                    f"{sorted(self.arguments)}; it cannot take {key}={str(value)[:40]}. Save "
                    f"the model again from the original function to change its arguments."
                )
        flat = flatten(inputs) + masks
        if len(flat) != len(self.input_specs):
            raise TypeError(
                f"{self.__name__}: expected {len(self.input_specs)} input tensors, got {len(flat)}"
            )
        first = flat[0] if flat else None
        device = first.device if isinstance(first, torch.Tensor) else torch.get_default_device()
        batch = 0 if self.batch is None else int(flat[self.batch[0]].shape[self.batch[1]])
        key = "any" if "any" in self.graphs else ("training" if training else "inference")
        return self.graphs[key].run(flat, batch, device, modules=modules)

    def __repr__(self) -> str:
        return f"<op graph of {self.__name__}>"


def _same(value: Any, saved: Any) -> bool:
    if isinstance(value, torch.Tensor) or hasattr(value, "__array__"):
        return True  # tensors were stored in the graph as constants
    if isinstance(value, (list, tuple)) and isinstance(saved, (list, tuple)):
        return len(value) == len(saved) and all(_same(v, s) for v, s in zip(value, saved))
    try:
        return bool(value == saved)
    except Exception:
        return False
