"""Run one benchmark module of :mod:`trialmap.bench` by name."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import trialmap.bench


def available() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(trialmap.bench.__path__) if not m.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in names:
        if argv and argv[0] not in {"-h", "--help"}:
            print(f"trialmap.bench: error: no benchmark {argv[0]!r}", file=sys.stderr)  # noqa: T201
        print("usage: python -m trialmap.bench NAME [options]\nbenchmarks: " + ", ".join(names))  # noqa: T201
        return 2 if argv and argv[0] not in {"-h", "--help"} else 0
    module = importlib.import_module(f"trialmap.bench.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
