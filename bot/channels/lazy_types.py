"""Build aiogram's pydantic models when they are first used, not all at import.

`aiogram.types` ends with a loop that calls `model_rebuild()` on each of its ~450
models so that their forward references resolve. Each rebuild compiles that model's
whole validator, with its own copy of every model it can contain: together about
100 MB of memory and 1.5 s of every start, although a bot validates a handful of them
(an update, a sent message, `True`). The models themselves are declared with pydantic's
`defer_build=True`; only that closing loop builds them.

`install()` puts a finder on `sys.meta_path` that, when `aiogram.types` is first
imported, runs the package with `model_rebuild` noting the namespace it is given instead
of building. Then it adds the names of that namespace to each `aiogram.types` module
(the names its `TYPE_CHECKING` imports refer to), so pydantic builds a model on first
use from the same names the loop would have used. tests/test_lazy_types.py builds every
aiogram type and method this way. Nothing changes when `aiogram.types` was imported
before `install()`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

TARGET = "aiogram.types"


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        from pydantic import BaseModel

        original = BaseModel.__dict__["model_rebuild"]
        noted: dict[str, Any] = {}

        def note(cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True,
                 _parent_namespace_depth: int = 2,
                 _types_namespace: Any = None) -> bool | None:
            if _types_namespace is None or force:  # not the closing loop: as usual
                return original.__func__(
                    cls, force=force, raise_errors=raise_errors,
                    _parent_namespace_depth=_parent_namespace_depth + 1,
                    _types_namespace=_types_namespace)
            noted.update(_types_namespace)
            return None

        BaseModel.model_rebuild = classmethod(note)  # type: ignore[assignment]
        try:
            self.inner.exec_module(module)
        finally:
            BaseModel.model_rebuild = original  # type: ignore[method-assign]
        for name, loaded in list(sys.modules.items()):
            if name.startswith(TARGET + ".") and loaded is not None:
                for key, value in noted.items():
                    loaded.__dict__.setdefault(key, value)


def install() -> None:
    """Defer the building of aiogram's types (once; harmless when already imported)."""
    if TARGET in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
