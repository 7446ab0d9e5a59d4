"""Command handlers named when the parser is built, imported when they run.

`daskhub-lite --help` builds every subcommand's parser; if it imported every handler it would
load Helm's engine, the kubernetes client, kr8s and distributed (two seconds) to print text.
`handlers("pkg.module").cmd_x` is a function that imports `pkg.module` on its first call and
runs its `cmd_x`."""

from __future__ import annotations

import importlib
from typing import Any, Callable


class handlers:  # noqa: N801 - used like a module: `cli = handlers("...")`, `cli.cmd_install`
    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Callable[[Any], int]:
        if name.startswith("__"):
            raise AttributeError(name)
        module = self._module

        def run(args: Any) -> int:
            return int(getattr(importlib.import_module(module), name)(args))

        run.__name__ = run.__qualname__ = name
        run.__module__ = module
        return run
