"""The built wheel carries every file the package loads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "tiered_cache": ROOT / "core" / "tiered_cache",
    "langchain_tiered_cache": ROOT / "langchain_tiered_cache",
    "llamaindex_tiered_cache": ROOT / "llamaindex_tiered_cache",
    "tiered_cache_demo": ROOT / "tiered_cache_demo",
}


@pytest.mark.slow
def test_the_wheel_has_every_module_and_data_file(tmp_path: Path) -> None:
    # A copy of what the build reads, so that it leaves nothing behind in the checkout.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in PACKAGES.values():
        shutil.copytree(folder, src / folder.relative_to(ROOT), ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=src,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("tiered_cache-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"{name}/{path.relative_to(folder).as_posix()}"
        for name, folder in PACKAGES.items()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected <= names, sorted(expected - names)
    for data in (
        "tiered_cache/py.typed",
        "tiered_cache/rules/verifier_weights.json",
        "tiered_cache/rules/verifier_judge_weights.json",
        "tiered_cache/rules/judge/judge.json",
        "tiered_cache/rules/judge/judge.npz",
        "tiered_cache/rules/judge/judge-int8.onnx",
        "tiered_cache/rules/contrast_pairs.txt",
        "tiered_cache/fillers.txt",
    ):
        assert data in names
    assert not any(n.startswith(("core/", "tests/", "benchmarks/")) for n in names)
    (points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    entry = zipfile.ZipFile(wheel).read(points).decode()
    assert "[tiered_cache.cli]\ndemo = tiered_cache_demo.cli:register" in entry
