"""The command line's parser class: usage errors as every CLI error, one line on stderr (exit
status 2, argparse's), instead of argparse's usage block. Subcommand parsers inherit it."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

_INVALID_CHOICE = re.compile(r"argument (?P<name>.+?): invalid choice: '(?P<choice>[^']*)'")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.match(message)
        if found and found["name"] in self._subcommand_names():
            message = f'unknown command "{found["choice"]}" for "{self.prog}"'
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")

    def _subcommand_names(self) -> set[str]:
        """How argparse names this parser's subcommand argument in its messages."""
        return {str(a.metavar or a.dest) for a in self._actions
                if isinstance(a, argparse._SubParsersAction)}
