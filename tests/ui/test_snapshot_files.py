"""Every snapshot file belongs to a test: syrupy finds unused snapshots only in one process,
and the suite runs in pytest-xdist workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SNAPSHOTS = HERE / "__snapshots__"


def test_every_snapshot_file_has_its_test() -> None:
    # The tests collected in a process of their own: this run may have picked only some.
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", str(HERE)],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent.parent,
    ).stdout
    # tests/ui/test_x.py::test_y[80x24] -> __snapshots__/test_x/test_y[80x24].svg
    tests = {
        f"{Path(module).stem}/{name}.svg"
        for module, _, name in (line.partition("::") for line in listed.splitlines())
        if name
    }
    files = sorted(str(path.relative_to(SNAPSHOTS)) for path in SNAPSHOTS.glob("*/*.svg"))
    assert files, "no snapshot files found"
    assert [name for name in files if name not in tests] == []
