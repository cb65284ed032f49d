"""lamina's evaluator for saved function source: checks the AST, then runs it without ``exec``.

``compile_function`` walks the AST of one ``def`` or ``lambda`` once and turns every node into a
small Python closure over pre-resolved objects; a node the policy does not allow raises
``Refusal`` with its line. Nothing of the source is ever passed to ``eval``, ``exec`` or
``compile``, and nothing runs while checking, so refusing a hostile file has no side effects.

What is allowed (everything else is refused): parameters and local names; constants; tuple,
list, set and dict literals (with ``*``/``**`` unpacking); subscripts and slices; arithmetic,
bitwise, comparison, boolean and unary operators; conditional expressions; list/set/dict
comprehensions and generator expressions (evaluated eagerly); ``if``; ``for`` over anything
(with ``break``/``continue``/``else``); assignments to names, tuples and subscripts (also
augmented); ``return``; ``pass``; docstrings; calls to names the environment binds as callables,
to allowlisted dotted names (``torch.nn.functional.relu``) and to methods in the attribute
allowlist. Refused: ``while``, imports, ``global``/``nonlocal``, nested ``def``/``lambda``/
``class``, ``try``/``with``/``raise``/``assert``/``del``, f-strings, ``%`` formatting of strings,
walrus, ``yield``/``await``, attributes starting with ``_`` or not on the allowlist, decorators.

Time and memory stay bounded: source size, node count and nesting depth are capped before the
walk (so no RecursionError), integer ``**``/``<<``/``*`` refuse results past ``MAX_INT_BITS``,
sequence repetition and ``range`` past ``MAX_SEQUENCE_LENGTH``, and all loops of one call
(including calls into other safely loaded functions) share ``MAX_LOOP_ITERATIONS``. Constant
subexpressions are folded with the same guards at load time, so ``10**10**10`` is refused before
anything runs. Tensor sizes are not bounded: like a layer's units, they are the model's business.

The package is split by job: ``policy`` (errors, name bindings, parsing with its size caps,
and the static checks and messages that refuse constructs), ``guards`` (the runtime bounds:
guarded operators and builtins, the loop budget), ``expressions``, ``calls`` and
``statements`` (the compiler from AST nodes to closures, each extending the one before), and
``function`` (``SafeFunction`` and ``compile_function``, which ties the others together). This
module re-exports what the rest of lamina uses.
"""

from __future__ import annotations

from lamina.saving._safe_eval.expressions import Fn as Fn
from lamina.saving._safe_eval.function import SafeFunction as SafeFunction
from lamina.saving._safe_eval.function import compile_function as compile_function
from lamina.saving._safe_eval.guards import MAX_INT_BITS as MAX_INT_BITS
from lamina.saving._safe_eval.guards import MAX_LOOP_ITERATIONS as MAX_LOOP_ITERATIONS
from lamina.saving._safe_eval.guards import MAX_SEQUENCE_LENGTH as MAX_SEQUENCE_LENGTH
from lamina.saving._safe_eval.guards import safe_builtins as safe_builtins
from lamina.saving._safe_eval.policy import MAX_DEPTH as MAX_DEPTH
from lamina.saving._safe_eval.policy import MAX_NODES as MAX_NODES
from lamina.saving._safe_eval.policy import MAX_SOURCE_CHARS as MAX_SOURCE_CHARS
from lamina.saving._safe_eval.policy import Binding as Binding
from lamina.saving._safe_eval.policy import Callee as Callee
from lamina.saving._safe_eval.policy import Forbidden as Forbidden
from lamina.saving._safe_eval.policy import (
    FunctionDeserializationError as FunctionDeserializationError,
)
from lamina.saving._safe_eval.policy import Module as Module
from lamina.saving._safe_eval.policy import Refusal as Refusal
from lamina.saving._safe_eval.policy import Resolver as Resolver
from lamina.saving._safe_eval.policy import UnsafeFunctionError as UnsafeFunctionError
from lamina.saving._safe_eval.policy import Value as Value
from lamina.saving._safe_eval.policy import parse_function_source as parse_function_source

__all__ = [
    "MAX_LOOP_ITERATIONS",
    "Forbidden",
    "FunctionDeserializationError",
    "Refusal",
    "SafeFunction",
    "UnsafeFunctionError",
    "compile_function",
    "parse_function_source",
]
