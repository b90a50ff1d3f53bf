"""What the Azure Functions Python worker refuses to load, checked the worker's way, so the local host refuses it
too, at start, with the worker's reason.

This mirrors `Registry.add_indexed_function` of the worker (azure_functions_worker/functions.py in the 4.x
worker that runs Python 3.11; azure_functions_runtime/functions.py in the 3.13+ library, the same rules with other
wording): binding directions, the `context` parameter, parameters against bindings, plain-type annotations, and
each annotation against the binding's own converter from azure-functions (the very registry the worker asks).
tests/worker runs the worker's own code from the package registry on the same functions and checks both agree.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable
from typing import Any

IN, OUT, INOUT = 0, 1, 2  # azure.functions.decorators.core.BindingDirection values, as the worker's protos


class WorkerRefusal(Exception):
    """The worker's FunctionLoadError, word for word: "cannot load the NAME function: REASON"."""

    def __init__(self, function_name: str, reason: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {reason}")
        self.function_name = function_name
        self.reason = reason


def is_generic_type(tp: Any) -> bool:
    """typing_inspect.is_generic_type as the worker vendors it: typing.List[int] is, list[int] (a
    types.GenericAlias) is not, which is why `dict[str, Any]` on a binding is refused."""
    generic_alias = getattr(typing, "_GenericAlias")  # noqa: B009 - private, as the worker uses it
    special_alias = getattr(typing, "_SpecialGenericAlias")  # noqa: B009
    return bool(
        (isinstance(tp, type) and issubclass(tp, typing.Generic))  # type: ignore[arg-type]
        or (isinstance(tp, generic_alias | special_alias)
            and tp.__origin__ not in (typing.Union, tuple, typing.ClassVar, collections.abc.Callable))
    )


def _origin(tp: Any) -> Any:
    return getattr(tp, "__origin__", None)


def _converter(binding_type: str) -> Any:
    from azure.functions import get_binding_registry

    registry = get_binding_registry()
    return registry.get(binding_type) if registry is not None else None


def _has_implicit_output(binding_type: str) -> bool:
    converter = _converter(binding_type)
    if converter is None:  # the worker's GenericBinding: everything but durableClient
        return binding_type != "durableClient"
    return bool(getattr(converter, "has_implicit_output", lambda: False)())


def _check_input(binding_type: str, pytype: type) -> bool:
    converter = _converter(binding_type)
    if converter is None:
        return issubclass(pytype, (str, bytes))
    return bool(converter.check_input_type_annotation(pytype))


def _check_output(binding_type: str, pytype: type) -> bool:
    converter = _converter(binding_type)
    if converter is None:
        return issubclass(pytype, (str, bytes, bytearray))
    return bool(converter.check_output_type_annotation(pytype))


def _is_out(anno: Any) -> bool:
    origin = _origin(anno) if is_generic_type(anno) else None
    target = origin if origin is not None else anno
    return isinstance(target, type) and target.__name__ == "Out"


def check_function(name: str, func: Callable[..., Any], bindings: list[Any]) -> None:
    """Raise WorkerRefusal if the worker would refuse to load `func` with these azure.functions Binding objects."""
    params = dict(inspect.signature(func).parameters)
    annotations = typing.get_type_hints(func)
    bound: dict[str, Any] = {}
    explicit_return = False
    return_binding: str | None = None
    for binding in bindings:
        direction = int(getattr(binding.direction, "value", binding.direction))
        if direction == INOUT:
            raise WorkerRefusal(name, '"inout" bindings are not supported')
        if binding.name == "$return":
            if direction != OUT:
                raise WorkerRefusal(name, '"$return" binding must have direction set to "out"')
            explicit_return = True
            return_binding = binding.type
        else:
            bound[binding.name] = binding
    if "context" in params and "context" not in bound:
        params.pop("context")
        anno = annotations.get("context")
        if "context" in annotations and (not isinstance(anno, type) or anno.__name__ != "Context"):
            raise WorkerRefusal(name, f'the "context" parameter is expected to be of type azure.functions.Context, '
                                      f"got {anno!r}")
    if set(params) - set(bound):
        raise WorkerRefusal(name, "the following parameters are declared in Python but not in the function "
                                  f"definition: {set(params) - set(bound)!r}")
    if set(bound) - set(params):
        raise WorkerRefusal(name, "the following parameters are declared as bindings but are not present in "
                                  f"Python: {set(bound) - set(params)!r}")
    for param in params.values():
        binding = bound[param.name]
        has_anno = param.name in annotations
        anno = annotations.get(param.name)
        is_out = has_anno and _is_out(anno)
        binding_out = int(getattr(binding.direction, "value", binding.direction)) == OUT
        pytype = anno
        if is_out:
            args: tuple[Any, ...] = tuple(getattr(anno, "__args__", ()))
            if len(args) != 1:
                raise WorkerRefusal(name, f"binding {param.name} has invalid Out annotation {anno!r}")
            pytype = args[0]
        if has_anno and not isinstance(pytype, type) and not is_generic_type(pytype):
            raise WorkerRefusal(name, f"binding {param.name} has invalid non-type annotation {anno!r}")
        if binding_out and has_anno and not is_out:
            raise WorkerRefusal(name, f'binding {param.name} is declared to have the "out" direction, but its '
                                      "annotation in Python is not a subclass of azure.functions.Out")
        if not binding_out and is_out:
            raise WorkerRefusal(name, f'binding {param.name} is declared to have the "in" direction, but its '
                                      "annotation is azure.functions.Out in Python")
        if not has_anno or is_generic_type(pytype) or not isinstance(pytype, type):
            continue
        bind_type = "generic" if pytype in (str, bytes) and not _has_implicit_output(binding.type) else binding.type
        fits = _check_output(bind_type, pytype) if is_out else _check_input(bind_type, pytype)
        if not fits:
            raise WorkerRefusal(name, f'type of {param.name} binding "{binding.type}" does not match its Python '
                                      f'annotation "{pytype.__name__}"')
    if explicit_return and "return" in annotations and return_binding:
        anno = annotations["return"]
        if is_generic_type(anno) and _origin(anno) is not None and getattr(_origin(anno), "__name__", "") == "Out":
            raise WorkerRefusal(name, "return annotation should not be azure.functions.Out")
        if not isinstance(anno, type):
            raise WorkerRefusal(name, f"has invalid non-type return annotation {anno!r}")
        if not _check_output(return_binding, anno):
            raise WorkerRefusal(name, f'Python return annotation "{anno.__name__}" does not match binding type '
                                      f'"{return_binding}"')
