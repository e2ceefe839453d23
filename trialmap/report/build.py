"""Rebuild ``world_paths.json``, the report's precomputed SVG paths of the default world.

    python -m trialmap.report.build

Only needed after the vendored boundaries or the path settings change (the report
falls back to computing the paths, and tests/test_report.py fails, when the file is stale).
"""

from __future__ import annotations

import json
import sys

from trialmap import boundaries
from trialmap.report import PATHS_FILE, SIMPLIFY_M, SVG_UNIT_M, world_paths, world_paths_key


def main() -> int:
    view_box, countries, names, other, tiny = world_paths(boundaries.load_world(), SVG_UNIT_M, SIMPLIFY_M)
    data = {"key": world_paths_key(SVG_UNIT_M, SIMPLIFY_M), "view_box": list(view_box),
            "countries": countries, "names": names, "other": list(other), "tiny": sorted(tiny)}
    tmp = PATHS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(PATHS_FILE)
    print(f"wrote {PATHS_FILE} ({PATHS_FILE.stat().st_size:,} bytes)")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
