"""Build aiogram's pydantic models when they are first used, not all at import.

`aiogram.types` ends with a loop that calls `model_rebuild()` on each of its ~450
models so that their forward references resolve. Each rebuild compiles that model's
whole validator, with its own copy of every model it can contain: together about
100 MB of memory and 1.5 s of every start, although a bot validates a handful of them
(an update, a sent message, `True`). The types are declared with pydantic's
`defer_build=True`; only that closing loop builds them. The ~170 method models
(`SendMessage`, ...) are built as they are declared, another 20 MB and 0.5 s.

`install()` puts a finder on `sys.meta_path` that steps in at two imports:

- `aiogram.types` runs with `model_rebuild` noting the namespace it is given instead
  of building. Then the names of that namespace are added to each `aiogram.types`
  module (the names its `TYPE_CHECKING` imports refer to), so pydantic builds a type
  on first use from the same names the loop would have used;
- after `aiogram.methods.base`, the base of the method models gets `defer_build`, so
  that each method model is built when first used too.

tests/test_lazy_types.py builds every aiogram type and method this way. Nothing changes
when aiogram was imported before `install()`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

TYPES = "aiogram.types"
METHODS = "aiogram.methods.base"


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        loader = {TYPES: _TypesLoader, METHODS: _MethodsLoader}.get(fullname)
        if loader is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = loader(spec.loader)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)


class _MethodsLoader(_Loader):
    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        # Read by every method model declared from now on (pydantic merges the config
        # of the bases).
        module.TelegramMethod.model_config["defer_build"] = True


class _TypesLoader(_Loader):
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
            if name.startswith(TYPES + ".") and loaded is not None:
                for key, value in noted.items():
                    loaded.__dict__.setdefault(key, value)


def install() -> None:
    """Defer the building of aiogram's types (once; harmless when already imported)."""
    if TYPES in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
