"""Every test file is somewhere pytest looks: a folder named like one of pytest's default
``norecursedirs`` (dist, build, venv…) is skipped silently, and its tests never run."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# pytest's default norecursedirs (the project does not override them).
SKIPPED_BY_PYTEST = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")
TEST_ROOTS = ("tests", "plugins", "docs/example-plugin")


def test_no_test_file_sits_in_a_folder_pytest_skips():
    tracked = subprocess.run(["git", "ls-files", *TEST_ROOTS], cwd=REPO, capture_output=True, text=True, check=True)
    test_files = [Path(line) for line in tracked.stdout.splitlines() if fnmatch.fnmatch(Path(line).name, "test_*.py")]
    assert len(test_files) > 100
    hidden = [
        str(path)
        for path in test_files
        if any(fnmatch.fnmatch(part, pattern) for part in path.parts[:-1] for pattern in SKIPPED_BY_PYTEST)
    ]
    assert hidden == [], f"pytest never collects these (rename the folder): {hidden}"
