"""``pip install .`` (not only ``-e``) installs search_space/ and strategies/ under nni_autotsnet."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_subpackages_under_nni_autotsnet(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("nni_autotsnet-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert all(t.startswith("nni_autotsnet") for t in tops), tops  # nothing generic at the top of site-packages
    for path in ("nni_autotsnet/search_space/space.py", "nni_autotsnet/search_space/presets/S.yaml",
                 "nni_autotsnet/strategies/__init__.py", "nni_autotsnet/models/builder.py",
                 "nni_autotsnet/latency/measure.py"):
        assert path in names
    # the installed wheel works on its own, away from the source tree
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True)
    code = ("import nni_autotsnet.search_space as s, sys; "
            "assert s.__file__.startswith(sys.argv[1]), s.__file__; "
            "print(s.load_preset('S').crop)")
    out = subprocess.run([sys.executable, "-c", code, str(target)], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "160"
