"""Connected components: the in-memory path and the distributed large-star/small-star path."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from pipelines.dedup.components import components_dask, components_in_memory, connected_components


def bfs_labels(src, dst) -> dict[int, int]:
    """Independent reference: breadth-first search, each node labelled by its component's minimum."""
    adj = defaultdict(set)
    for a, b in zip(src, dst, strict=True):
        adj[a].add(b)
        adj[b].add(a)
    label: dict[int, int] = {}
    for start in sorted(adj):
        if start in label:
            continue
        comp, todo = {start}, [start]
        while todo:
            for nb in adj[todo.pop()]:
                if nb not in comp:
                    comp.add(nb)
                    todo.append(nb)
        for n in comp:
            label[n] = min(comp)
    return label


def test_hand_made_graph():
    # two chains, a triangle, a self loop: {1,2,3,4}, {10,11,12}, {7}
    src = [4, 2, 3, 12, 10, 11, 7]
    dst = [3, 1, 2, 10, 11, 12, 7]
    nodes, labels = components_in_memory(np.array(src), np.array(dst))
    assert dict(zip(nodes.tolist(), labels.tolist(), strict=True)) == {
        1: 1, 2: 1, 3: 1, 4: 1, 10: 10, 11: 10, 12: 10, 7: 7}


def test_random_graph_with_long_chain_matches_bfs():
    rng = np.random.default_rng(0)
    src = np.concatenate([rng.integers(0, 5000, 4000) * 3, np.arange(10**6, 10**6 + 500)])
    dst = np.concatenate([rng.integers(0, 5000, 4000) * 3, np.arange(10**6 + 1, 10**6 + 501)])
    nodes, labels = components_in_memory(src, dst)
    assert dict(zip(nodes.tolist(), labels.tolist(), strict=True)) == bfs_labels(src.tolist(), dst.tolist())


def test_empty_edge_set():
    nodes, labels = components_in_memory(np.zeros(0), np.zeros(0))
    assert len(nodes) == len(labels) == 0


def test_distributed_path_matches_in_memory(dask_client):
    import dask
    import dask.dataframe as dd

    # a chain of 5, a star of 5 with large ids (like gids from file 3), and a pair
    g3 = 3 << 32
    src = [1, 2, 3, 4, g3 + 9, g3 + 9, g3 + 9, g3 + 9, 40]
    dst = [2, 3, 4, 5, g3 + 1, g3 + 2, g3 + 3, g3 + 4, 41]
    edges = dd.from_pandas(pd.DataFrame({"u": src, "v": dst}), npartitions=2)
    with dask.config.set({"dataframe.shuffle.method": "tasks"}):  # as dedup does for small inputs
        got = components_dask(edges).compute()
    assert dict(zip(got["node"], got["label"], strict=True)) == bfs_labels(src, dst)
    labels2, method2 = connected_components(edges)
    assert method2 == "in-memory"
    assert dict(zip(labels2["node"], labels2["label"], strict=True)) == bfs_labels(src, dst)
