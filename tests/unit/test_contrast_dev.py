"""The contrast dev set is reproducible from its seeded generator and split by frame."""

from __future__ import annotations

import json

from benchmarks.data.make_contrast import OUT, generate


def test_the_committed_file_is_what_the_generator_writes() -> None:
    rows = generate()
    with OUT.open() as fh:
        assert [json.loads(line) for line in fh] == rows
    assert len(rows) >= 1000


def test_split_by_frame_and_every_trap_has_twins() -> None:
    rows = generate()
    splits: dict[str, set[str]] = {}
    for row in rows:
        splits.setdefault(str(row["frame"]), set()).add(str(row["split"]))
    assert all(len(s) == 1 for s in splits.values())
    assert {"build", "report"} == set().union(*splits.values())
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(str(row["group"]), []).append(str(row["variant"]))
    for variants in groups.values():
        assert sorted(variants) == ["near_repeat", "near_repeat", "reworded", "trap", "trap"]
