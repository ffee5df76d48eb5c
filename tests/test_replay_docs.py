"""docs/replay.md's examples need nothing but the installed package (issue 11).

tests/test_docs.py runs them from the repository, where a path such as ``tests/fixtures/...``
would still resolve. Here they run in a fresh interpreter from an empty folder, so an example
works only if its data ship with the package (``sample_log``, ``shipped_mapping``) or are built
in the example. (Checked by hand from a built wheel too: see the note of issue 11.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = """
import re, sys
from pathlib import Path
text = Path(sys.argv[1]).read_text(encoding="utf-8")
namespace = {"__name__": "doc"}
for number, block in enumerate(re.findall(r"^```python\\n(.*?)^```", text, re.DOTALL | re.MULTILINE), 1):
    exec(compile(block, f"block {number}", "exec"), namespace)
print("ran", number)
"""


def test_replay_examples_run_from_an_empty_folder(tmp_path: Path) -> None:
    """Every Python block of docs/replay.md runs with an empty current folder and no repository
    path on ``sys.path``; none names a file of the repository."""
    doc = ROOT / "docs" / "replay.md"
    blocks = re.findall(r"^```python\n(.*?)^```", doc.read_text(encoding="utf-8"),
                        re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 8
    for block in blocks:
        assert "tests/" not in block and "shared/data" not in block and "fixtures" not in block
    done = subprocess.run([sys.executable, "-P", "-c", RUNNER, str(doc)], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"ran {len(blocks)}")
    assert list(tmp_path.iterdir()) == []  # the examples write only into their own temp folders
