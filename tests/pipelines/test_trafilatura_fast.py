"""``pipelines/vendored/trafilatura_fast.py`` must give exactly ``trafilatura.extract``'s text, page for page.

The pages: every HTML response in the bundled sample WARCs (real pages from the web-extraction
benchmarks, see samples/SOURCES.md) and the real crawl captures in tests/data/warc.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trafilatura
from warcio.archiveiterator import ArchiveIterator

from pipelines.extract.html_decode import DecodeError, decode_html
from pipelines.vendored import trafilatura_fast
from pipelines.vendored.trafilatura_fast import FastTrafilatura, html2txt_len_upper_bound, load_html

ROOT = Path(__file__).parent.parent.parent
WARCS = sorted((ROOT / "samples").glob("*.warc.gz")) + sorted((ROOT / "tests" / "data" / "warc").glob("*.warc*"))


def _pages() -> list[tuple[str, str]]:
    pages = []
    for path in WARCS:
        with open(path, "rb") as f:
            try:
                for rec in ArchiveIterator(f):
                    ctype = rec.http_headers.get_header("Content-Type", "") if rec.http_headers else ""
                    if rec.rec_type != "response" or "html" not in ctype:
                        continue
                    try:
                        html = decode_html(rec.content_stream().read(), ctype)[0]
                    except DecodeError:
                        continue
                    pages.append((rec.rec_headers.get_header("WARC-Target-URI"), html))
            except Exception:  # the damaged test WARCs end early: their pages before the damage count
                continue
    return pages


PAGES = _pages()
OPTIONS = {"default": {}, "precision": {"favor_precision": True}, "recall": {"favor_recall": True},
           "no tables": {"include_tables": False}}
REFERENCE = """
import json, sys
import trafilatura
pages, options = json.load(sys.stdin)
out = {name: [trafilatura.extract(html, url=url, output_format="txt", with_metadata=False, fast=True,
                                  include_comments=False, deduplicate=False, **opts)
              for url, html in (pages if name == "default" else pages[::3])]
       for name, opts in options.items()}
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def reference() -> dict[str, list[str | None]]:
    """trafilatura.extract's texts, computed in a fresh process: FastTrafilatura replaces some of
    trafilatura's XPaths in its own process, so the reference must come from one where it never ran."""
    run = subprocess.run([sys.executable, "-c", REFERENCE], input=json.dumps([PAGES, OPTIONS]),
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_there_are_enough_real_pages() -> None:
    assert len(PAGES) >= 170


@pytest.mark.parametrize("name", OPTIONS)
def test_same_text_as_trafilatura_on_every_page(name: str, reference: dict) -> None:
    opts = {"fast": True, "include_comments": False, "deduplicate": False, **OPTIONS[name]}
    fx = FastTrafilatura(**opts)
    assert fx.supported == (trafilatura.__version__ == trafilatura_fast.SUPPORTED_VERSION)
    pages = PAGES if name == "default" else PAGES[::3]  # every page for ours, a third for the others
    got = [fx.extract(html, url) for url, html in pages]
    assert len(got) == len(reference[name])
    assert [url for (url, _), a, b in zip(pages, got, reference[name], strict=True) if a != b] == []


def test_guarded_xpaths_select_the_same_nodes() -> None:
    """Every XPath list FastTrafilatura guards selects the same elements as trafilatura's own, page by page."""
    from lxml.etree import XPath
    from trafilatura import main_extractor, xpaths

    lists = {name: getattr(xpaths, name) for name in trafilatura_fast._MAIN_EXTRACTOR_XPATHS}
    lists["RAW_TREE_PRUNE_XPATH"] = xpaths.RAW_TREE_PRUNE_XPATH
    guarded = 0
    for name, original in lists.items():
        for xp in original:
            mine = XPath(trafilatura_fast._guard_retest(xp.path), namespaces={"re": xpaths.REGEXP_NS})
            guarded += mine.path != xp.path
            for _, html in PAGES[::2]:
                tree = load_html(html)
                if tree is not None:
                    assert mine(tree) == xp(tree), name
    assert guarded >= 8
    assert main_extractor.BODY_XPATH is not xpaths.BODY_XPATH or not FastTrafilatura().supported


def test_other_versions_and_options_use_trafilatura_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trafilatura_fast, "SUPPORTED_VERSION", "0.0")
    assert not FastTrafilatura().supported
    monkeypatch.undo()
    assert not FastTrafilatura(fast=False).supported and not FastTrafilatura(include_comments=True).supported
    calls = []
    monkeypatch.setattr(trafilatura, "extract", lambda *a, **k: calls.append(k) or "library")
    assert FastTrafilatura(deduplicate=True).extract(PAGES[0][1], PAGES[0][0]) == "library" and calls


def test_the_html2txt_bound_holds_on_every_page() -> None:
    """The shortcut skips html2txt only when this bound already decides; it must never undercount."""
    from trafilatura.baseline import html2txt

    checked = 0
    for _, html in PAGES:
        tree = load_html(html)
        if tree is not None:
            assert html2txt_len_upper_bound(tree) >= len(html2txt(tree))
            checked += 1
    assert checked >= 170
