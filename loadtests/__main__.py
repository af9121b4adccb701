"""`python -m loadtests COMMAND ...`: a small dispatcher over the load-test tools.

    python -m loadtests run --list-size 10000 --users 10 --run-time 30s
    python -m loadtests seed --database-url URL --out DIR
    python -m loadtests synth --list-size 1000000 --checks 100000 --seed 7 --out DIR
    python -m loadtests bench-matcher --data DIR

Each command is a module of this package with a ``main(argv) -> int``; add a line to
``COMMANDS`` for a new one.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("loadtests.run", "seed, start the service, run locust, check thresholds, verify"),
    "seed": ("loadtests.seed", "seed a migrated database for the locust scenarios"),
    "synth": ("loadtests.synth", "write a synthetic list, checks and truth"),
    "bench-matcher": ("loadtests.bench_matcher", "the matcher's own benchmark"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print("usage: python -m loadtests COMMAND [ARGS...]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<14} {help_text}")
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    code: int = module.main(args[1:])
    return code


if __name__ == "__main__":
    sys.exit(main())
