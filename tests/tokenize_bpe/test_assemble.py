"""A shard task keeps one token file open at a time, however many files its documents come from."""

from __future__ import annotations

import weakref

import numpy as np

from tokenize_bpe import assemble
from tokenize_bpe.pack import write_planned_shard
from tokenize_bpe.shards import open_tokens, read_idx, read_src

EOT = 999


def _files(tmp_path, n_files: int, rng) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """``n_files`` work token files, each a few documents of <|endoftext|> + random ids; their starts."""
    paths, tokens, starts = [], [], []
    for f in range(n_files):
        lengths = rng.integers(2, 40, size=rng.integers(1, 6))
        docs = [np.concatenate([[EOT], rng.integers(0, EOT, size=n - 1)]) for n in lengths]
        arr = np.concatenate(docs).astype(np.uint16)
        path = tmp_path / f"f{f:03d}.tokens.npy"
        np.save(path, arr)
        paths.append(str(path))
        tokens.append(arr)
        starts.append(np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    return paths, tokens, starts


def test_a_shard_from_sixty_files_opens_each_once_and_never_two_at_a_time(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    paths, tokens, starts = _files(tmp_path, 60, rng)
    # the split's order: every document of every file, shuffled across files (as a mix interleaves its sources)
    docs = [(f, int(s), int(e - s)) for f in range(60) for s, e in zip(starts[f], [*starts[f][1:], tokens[f].size],
                                                                      strict=True)]
    order = rng.permutation(len(docs))
    files = np.array([docs[i][0] for i in order], np.int32)
    offsets = np.array([docs[i][1] for i in order], np.int64)
    lengths = np.array([docs[i][2] for i in order], np.int64)
    split_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    stream = np.concatenate([tokens[f][o : o + n] for f, o, n in zip(files, offsets, lengths, strict=True)])
    live, opened, most = [0], [], [0]

    def counting_open(path):
        arr = np.load(path, mmap_mode="r")
        live[0] += 1
        most[0] = max(most[0], live[0])
        opened.append(path)
        weakref.finalize(arr, lambda: live.__setitem__(0, live[0] - 1))
        return arr

    monkeypatch.setattr(assemble, "open_token_file", counting_open)
    lo, hi = 37, int(stream.size) - 11  # a shard that starts and ends inside documents
    i0, i1 = int(np.searchsorted(split_starts, lo, side="right")) - 1, int(np.searchsorted(split_starts, hi))
    a = {"files": files[i0:i1], "offsets": offsets[i0:i1], "lengths": lengths[i0:i1],
         "source": (files[i0:i1] % 2).astype(np.int32), "starts": split_starts[i0:i1]}
    out = tmp_path / "train-00000.bin"
    shard = write_planned_shard((str(tmp_path / "done"), 0, lo, hi, a, str(out), 1, paths, ["even", "odd"], "p"))
    assert np.array_equal(open_tokens(out), stream[lo:hi])
    assert most[0] == 1 and sorted(opened) == sorted(set(opened)) and len(set(opened)) == len(set(a["files"]))
    whole = a["starts"] >= lo
    assert np.array_equal(read_idx(out), a["starts"][whole] - lo)
    assert np.array_equal(read_src(out), a["source"][whole]) and shard["head_source"] == int(a["source"][0])
    odd = sum(min(hi, s + n) - max(lo, s) for s, n, f in zip(a["starts"], a["lengths"], a["files"], strict=True)
              if f % 2)
    assert shard["tokens_per_source"]["odd"] == odd and sum(shard["tokens_per_source"].values()) == hi - lo
