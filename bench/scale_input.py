"""Input for bench/scale.py: the real pages, plus new distinct pages recombined from their paragraphs.

How the new pages are made (deterministic for a seed):

1. every real page of ``../shared/data/web_extraction`` (4,172) is read with lxml: its ``<p>`` texts of at
   least 40 characters are its paragraphs, and fastText's lid.176 (the filter step's model) names the page's
   language from them;
2. the paragraphs go into one pool per language;
3. new page ``i``: a real page is drawn as the template (so languages, lengths, layouts and boilerplate follow
   the real mix); each of its paragraphs is replaced by one drawn from its language's pool without
   replacement, the title by the first new paragraph's first words, its charset declaration by UTF-8, and it
   gets a fresh URL, ``https://<lang>.scale-<seed>.example/<i>.html``. Extraction then works as hard as on
   the real page (same DOM, same boilerplate), on text no real page has in that combination.

So a new page is distinct text in a real language with real sentences: exact dedup finds nothing, MinHash
finds the near duplicates that small pools make likely (a realistic rate, not a 16-fold copy of each page).
The run at multiple m holds the first ``base`` real pages (in a fixed pseudo-random order) plus
``(m - 1) * base`` new ones, in ``files`` WARCs.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from _common import WEB_EXTRACTION, add_repo_to_path, import_build_samples

add_repo_to_path()

MIN_PARAGRAPH = 40
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class RealPage:
    capture: object  # build_samples.Capture
    lang: str
    paragraphs: tuple[str, ...]


def real_pages(cache: Path) -> list[RealPage]:
    """Every real page with its language and paragraphs (cached as JSON beside the bench's work folder)."""
    bs = import_build_samples()
    sets = tuple(sorted(p.name for p in WEB_EXTRACTION.iterdir() if p.is_dir()))
    pages = bs.load_pages(WEB_EXTRACTION, sets)
    caps = sorted((bs.page_capture(p) for p in pages), key=lambda c: bs.rank(c.url + c.origin))
    found = json.loads(cache.read_text()) if cache.exists() else None
    if found is None or len(found) != len(caps):
        found = _analyse(caps)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(found))
    return [RealPage(c, f["lang"], tuple(f["paragraphs"])) for c, f in zip(caps, found, strict=True)]


def _analyse(caps: list) -> list[dict]:
    import lxml.html

    from filters.base import build_filter

    langid = build_filter({"type": "langid", "languages": ["en"], "threshold": 0.0})
    out = []
    for c in caps:
        try:
            root = lxml.html.fromstring(c.body)
            paras = [" ".join(p.text_content().split()) for p in root.iter("p")]
        except (ValueError, lxml.etree.ParserError):
            paras = []
        paras = [p for p in paras if len(p) >= MIN_PARAGRAPH]
        out.append({"paragraphs": paras, "lang": ""})
    texts = [" ".join(f["paragraphs"])[:5000] for f in out]
    labels = langid.scores(texts)[0]
    for f, lab in zip(out, labels, strict=True):
        f["lang"] = lab or "und"
    return out


def new_page(i: int, seed: int, template: RealPage, pool: list[str], rng: random.Random) -> object:
    """One recombined page: ``template``'s own HTML (its layout, boilerplate and scripts, so extraction costs
    what it costs on real pages) with each of its paragraphs replaced by one drawn from its language's pool."""
    import lxml.html

    bs = import_build_samples()
    root = lxml.html.fromstring(template.capture.body)
    slots = [p for p in root.iter("p") if len(" ".join(p.text_content().split())) >= MIN_PARAGRAPH]
    paras = rng.sample(pool, min(len(pool), len(slots)))
    for p, text in zip(slots, paras, strict=False):
        for child in list(p):
            p.remove(child)
        p.text = XML_UNSAFE.sub(" ", text)  # a real page's stray control character (lxml refuses them)
    for meta in root.xpath("//meta[@charset] | //meta[@http-equiv]"):
        meta.getparent().remove(meta)
    head = root.find("head")
    if head is not None:
        head.insert(0, lxml.html.fromstring('<meta charset="utf-8">'))
        for t in head.iter("title"):
            t.text = XML_UNSAFE.sub(" ", " ".join(paras[0].split()[:8])) if paras else t.text
    doc = b"<!DOCTYPE html>\n" + lxml.html.tostring(root, encoding="utf-8", method="html")
    url = f"https://{template.lang}.scale-{seed}.example/{i:07d}.html"
    return bs.Capture(url, 200, "OK", "text/html; charset=UTF-8", doc, "text/html", origin="recombined")


def build_input(work: Path, base: int, multiple: int, files: int, seed: int = 0) -> tuple[list[str], int]:
    """WARCs of ``base * multiple`` pages (the first ``base`` real ones, then recombined ones); (paths, pages)."""
    bs = import_build_samples()
    real = real_pages(work / "real_pages.json")
    if base > len(real):
        raise SystemExit(f"--base {base} is more than the {len(real)} real pages")
    folder = work / f"warc-{base}x{multiple}"
    stamp = folder / "_stamp.json"
    paths = [folder / f"scale-{i:05d}.warc.gz" for i in range(files)]
    if stamp.exists() and all(p.exists() for p in paths):
        return [str(p) for p in paths], json.loads(stamp.read_text())["pages"]
    pools: dict[str, list[str]] = {}
    for p in real:
        pools.setdefault(p.lang, []).extend(p.paragraphs)
    usable = [p for p in real if p.paragraphs and len(pools.get(p.lang, [])) >= 3 * len(p.paragraphs)]
    rng = random.Random(seed)
    caps = [p.capture for p in real[:base]]
    for i in range((multiple - 1) * base):
        t = usable[rng.randrange(len(usable))]
        caps.append(new_page(i, seed, t, pools[t.lang], rng))
    folder.mkdir(parents=True, exist_ok=True)
    for path, part in zip(paths, bs.split_round_robin(caps, files), strict=False):
        bs.write_warc(path, part, description="corpus-forge scale benchmark (not for redistribution)")
    stamp.write_text(json.dumps({"pages": len(caps)}))
    return [str(p) for p in paths], len(caps)


if __name__ == "__main__":  # scale_input.py WORK BASE MULTIPLE FILES: prints [paths, pages]
    w, b, m, f = sys.argv[1:5]
    print(json.dumps(build_input(Path(w), int(b), int(m), int(f))))
