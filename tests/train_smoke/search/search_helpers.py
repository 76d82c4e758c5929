"""Three real sources, two evaluation texts and a small tokenizer for the mix search tests.

- ``web``: the 20 Dolma CCNet web documents of tests/data/text (two JSONL files);
- ``books``: the two public-domain books of tests/data/train_smoke, cut into documents of 40 lines;
- ``wiki``: the 15 Wikipedia pages of tests/data/text/wiki (one document per file);
- evaluation: the first 3,000 characters of each shipped evaluation text (Pride and Prejudice, WikiText-2).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import yaml

TESTS = Path(__file__).parents[2]
TEXT = TESTS / "data" / "text"
BOOKS = TESTS / "data" / "train_smoke"
EVAL = TESTS.parent / "train_smoke" / "eval_texts"


def _read(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def make_sources(root: Path) -> dict[str, Path]:
    web, books = root / "web", root / "books"
    web.mkdir(parents=True)
    books.mkdir()
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        shutil.copy(TEXT / name, web / name)
    with open(books / "books.jsonl", "w", encoding="utf-8") as f:
        for book in ("chesterton-brown", "austen-persuasion"):
            lines = _read(BOOKS / f"{book}.txt.gz").splitlines()
            for i in range(0, len(lines), 40):
                f.write(json.dumps({"id": f"{book}-{i}", "text": "\n".join(lines[i : i + 40])}) + "\n")
    return {"web": web, "books": books, "wiki": TEXT / "wiki"}


def make_eval(root: Path) -> list[Path]:
    root.mkdir(parents=True)
    out = []
    for name in ("pride_and_prejudice", "wikitext2_test"):
        p = root / f"{name}.txt"
        p.write_text(_read(EVAL / f"{name}.txt.gz")[:3000], encoding="utf-8")
        out.append(p)
    return out


def make_tokenizer(out: Path, vocab_size: int = 512) -> Path:
    from tokenize_bpe.export import export
    from tokenize_bpe.train_merges import chunk_text, resolve_pattern, train_ranks

    texts = [_read(p) for p in sorted((TEXT / "books").glob("*.txt.gz")) + sorted((TEXT / "wiki").glob("*.txt.gz"))]
    chunks = [c for t in texts for c in chunk_text(t, 1 << 16)]
    export(train_ranks(chunks, vocab_size, "gpt2"), resolve_pattern("gpt2"), out)
    return out


def write_search(path: Path, tokenizer: Path, sources: dict[str, Path], evals: list[Path], **kw) -> Path:
    """A small search: 5 proxies of a tiny model at 8,192 tokens, verification at 8,192 tokens over 2 seeds."""
    spec = {"tokenizer": str(tokenizer), "sources": {k: str(v) for k, v in sources.items()},
            "bounds": {"web": {"max": 0.9}}, "proxies": 5, "model": "tiny", "tokens": 8192, "seed": 0,
            "eval": [str(e) for e in evals], "verify": {"tokens": 8192, "seeds": [0, 1]},
            "candidates": 2000, "top_k": 20, "val_fraction": 0.1,
            "train": {"block_size": 32, "batch_size": 4, "val_tokens": 1024, "eval_every": 10_000}, **kw}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
