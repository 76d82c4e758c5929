"""Build the demo quality classifier shipped as ``filters/models/quality_demo.ftz`` (+ ``.json``).

Positive (reference text, as GPT-3 used WebText, books and Wikipedia): WikiText-2 articles, excerpts of
17 Project Gutenberg books, and the human-corrected article bodies of the Scrapinghub
article-extraction benchmark. Negative (raw crawl, as GPT-3 used unfiltered Common Crawl): the whole
visible text of real crawled pages (menus, footers and all, like a Common Crawl WET record), from
trafilatura's evaluation pages and Mozilla Readability's test pages, English only.

    python pipelines/quality/train_demo_model.py --build-data ../shared/data   # refresh the bundled text
    python pipelines/quality/train_demo_model.py                                # train from it

The bundled text lives in ``filters/data/quality_demo/`` (see its SOURCES.md); training is seeded and
single-threaded, so the same text gives the same model.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "filters", "models")  # the model ships with the quality filter
DATA = os.path.join(ROOT, "filters", "data", "quality_demo")


def _gz(path: str) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read()


def _write_jsonl_gz(path: str, rows: list[dict]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        for r in rows:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))


def build_data(shared: str, budget: int = 320_000) -> None:
    """Sample real text from ``shared`` (the team's data folder) into ``filters/data/quality_demo``."""
    import trafilatura

    from filters.langid import LanguageIdFilter

    rng = random.Random(0)
    pos: list[dict] = []
    # WikiText-2 (raw test split): articles start with " = Title = "; undo its tokenisation a little.
    wiki = _gz(os.path.join(shared, "wikipedia/wikitext2_raw_test/wikitext-2-raw-test.txt.gz")).replace("\r", "")
    arts = [a for a in wiki.split("\n = ") if a.strip()]
    used = 0
    for a in arts:
        title, _, body = a.partition(" = \n")
        body = "\n".join(ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("="))
        for a_, b_ in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" , ", ", "), (" . ", ". "),
                       (" 's", "'s"), (" ; ", "; "), (" : ", ": "), ("( ", "("), (" )", ")")):
            body = body.replace(a_, b_)
        if len(body) > 1500 and used < budget * 0.4:
            pos.append({"source": f"wikitext-2-raw-test: {title.strip()[:60]}", "text": body[:6000]})
            used += min(len(body), 6000)
    # Gutenberg: one excerpt from the middle of each book.
    for f in sorted(glob.glob(os.path.join(shared, "text/gutenberg_nltk/*.txt.gz"))):
        book = _gz(f).replace("\r", "")
        mid = len(book) // 2
        start = book.find("\n\n", mid) + 2
        pos.append({"source": f"gutenberg_nltk/{os.path.basename(f)}", "text": book[start:start + 6000]})
    # Scrapinghub AEB: human-corrected article bodies.
    with open(os.path.join(shared, "web_extraction/scrapinghub_aeb/ground-truth.json"), encoding="utf-8") as fh:
        gt = json.load(fh)
    keys = sorted(gt)
    rng.shuffle(keys)
    for k in keys[:45]:
        body = gt[k]["articleBody"]
        if len(body) > 1000:
            pos.append({"source": f"scrapinghub_aeb: {gt[k].get('url', k)}", "text": body[:4000]})

    # Negative: all visible text of crawled pages (WET-like), English pages only.
    lid = LanguageIdFilter(languages=["en"], threshold=0.65)
    pages = sorted(glob.glob(os.path.join(shared, "web_extraction/trafilatura_eval/*/*.html.gz")))
    pages += sorted(glob.glob(os.path.join(shared, "web_extraction/readability_testpages/*/source.html.gz")))
    rng.shuffle(pages)
    neg: list[dict] = []
    total_pos = sum(len(r["text"]) for r in pos)
    total_neg = 0
    for p in pages:
        if total_neg >= total_pos:
            break
        text = trafilatura.html2txt(_gz(p)) or ""
        text = "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())
        if len(text) < 1500:
            continue
        import pyarrow as pa

        res = lid.filter_table(pa.table({"id": ["x"], "text": [text]}))
        if not res.keep[0]:
            continue
        neg.append({"source": os.path.relpath(p, shared), "text": text[:5000]})
        total_neg += min(len(text), 5000)
    os.makedirs(DATA, exist_ok=True)
    _write_jsonl_gz(os.path.join(DATA, "positive.jsonl.gz"), pos)
    _write_jsonl_gz(os.path.join(DATA, "negative.jsonl.gz"), neg)
    print(f"positive: {len(pos)} documents, {total_pos:,} chars; negative: {len(neg)} documents, {total_neg:,} chars")


def train_demo() -> dict:
    from pipelines.quality.train_classifier import QualityTrainConfig, train

    cfg = QualityTrainConfig(dim=16, bucket=50_000, epoch=25, lr=0.2, cutoff=20_000, chunk_chars=1000, min_chars=200)
    with tempfile.TemporaryDirectory() as tmp:
        stats = train([os.path.join(DATA, "positive.jsonl.gz")], [os.path.join(DATA, "negative.jsonl.gz")],
                      tmp, cfg)
        shutil.copyfile(os.path.join(tmp, stats["model"]), os.path.join(MODELS, "quality_demo.ftz"))
    stats["model"] = "quality_demo.ftz"
    stats["positive_sources"] = ["filters/data/quality_demo/positive.jsonl.gz"]
    stats["negative_sources"] = ["filters/data/quality_demo/negative.jsonl.gz"]
    stats["trained_by"] = "pipelines/quality/train_demo_model.py"
    with open(os.path.join(MODELS, "quality_demo.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    print(json.dumps(stats["heldout"]), stats["model_bytes"], "bytes")
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-data", metavar="SHARED_DATA", help="first re-sample the bundled text from here")
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    if args.build_data:
        build_data(args.build_data)
    train_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
