"""`vbs`: the command line and the composition root (it may import api and batch).

Each group of subcommands lives in a module of ``vbs/commands/`` exposing
``register(subparsers)``, which adds its parsers and sets ``handler`` (a function taking
the parsed namespace and returning an exit code). Heavy imports stay inside handlers so
that ``vbs --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "vbs.commands.servers",
    "vbs.commands.accounts",
    "vbs.commands.audit",
    "vbs.commands.serve",
    "vbs.commands.batch",
    "vbs.commands.purge",
    "vbs.commands.screen",
    "vbs.commands.listcmd",
    "vbs.commands.cases",
    "vbs.commands.match",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vbs", description="Vetting and barring check service.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
