"""``stats.json`` examples are the same between identical runs (issue #14, item 8): partitions finish in any
order, and the merged counters (examples included) must not depend on it."""

from __future__ import annotations

from corpus_forge.runner import merge_markers
from pipelines.karma import scan_dump


def test_merged_examples_do_not_depend_on_completion_order(data_dir):
    markers = []
    for name in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz"):
        c = scan_dump(str(data_dir / "karma" / name)).counters
        markers.append({"key": name, "input": name, **c.to_dict()})
    a = merge_markers(markers).to_dict()
    b = merge_markers(markers[::-1]).to_dict()  # the other file finished first
    assert a["examples"] and any(len(v) > 1 for v in a["examples"].values())
    assert a == b
