"""Wikipedia removal: by URL (GPT-2 removed Wikipedia from WebText), and by n-gram overlap with a
Wikipedia reference for mirrors and scrapes on other domains.

- :class:`WikipediaUrlFilter` drops ``*.wikipedia.org`` URLs; a :class:`~filters.base.UrlFilter`, so the
  extract stage can apply it before parsing HTML.
- :func:`iter_dump_articles` streams a MediaWiki XML dump (``.xml``, ``.xml.bz2``, ``.xml.gz``) into
  main-namespace articles (redirects skipped); :func:`strip_wikitext` turns wikitext into plain text
  (regular expressions; ``markup="mwparserfromhell"`` uses that package instead when installed).
- :class:`ReferenceNgrams` is the set of n-gram hashes of a reference (dump, text, JSONL or Parquet
  files), optionally a 1-in-``sample`` hash sample for whole dumps; :meth:`ReferenceNgrams.overlap`
  gives each document's fraction of n-grams found in it.
"""

from __future__ import annotations

import html
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from corpus_forge.cache import cached
from corpus_forge.io import cache_dir, file_identity, load_npy, local_file, save_npy
from corpus_forge.text_sources import read_documents
from filters.support.ngrams import (
    DocWords,
    HashSet,
    bitmap_shift,
    sorted_bitmap,
    sorted_unique,
    window_hashes,
    word_bytes,
    word_hashes,
)
from filters.url_filters import DomainSet, WikipediaFilter, url_host

WIKIPEDIA_DOMAINS: tuple[str, ...] = ("wikipedia.org",)


class WikipediaUrlFilter(WikipediaFilter):
    """The decontaminate stage's URL check: the ``wikipedia`` URL filter (``wikipedia.org``, every
    subdomain such as ``en.m.wikipedia.org``, plus mirrors), counted under ``wikipedia_url``."""

    name = "wikipedia_url"
    reason = "wikipedia_url"

    def __init__(self, domains: Iterable[str] = WIKIPEDIA_DOMAINS) -> None:
        wanted = [d.lower().strip().lstrip(".") for d in domains]
        super().__init__(mirrors=[d for d in wanted if d not in self.DOMAINS])
        if not any(d in wanted for d in self.DOMAINS):  # a caller may replace the default domains
            self._domains = DomainSet(wanted)

    def is_wikipedia(self, url: str | None) -> bool:
        return self.domain_set().match(url_host(url))


# ---------------------------------------------------------------- wikitext → text

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_DROP_ELEMENTS = re.compile(
    r"<(ref|math|chem|gallery|timeline|score|syntaxhighlight|source|graph|mapframe|imagemap|hiero)\b[^>]*?"
    r"(/>|>.*?</\1\s*>)", re.S | re.I)
_TAG = re.compile(r"</?[a-zA-Z][^>]*?/?>")
_TEMPLATE = re.compile(r"\{\{(?:(?!\{\{|\}\})[\s\S])*\}\}")  # innermost {{...}}
_TABLE = re.compile(r"\{\|(?:(?!\{\||\|\})[\s\S])*\|\}")  # innermost {| ... |}
_LINK = re.compile(r"\[\[((?:(?!\[\[|\]\])[\s\S])*)\]\]")  # innermost [[...]]
_EXTLINK = re.compile(r"\[(?:https?:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_BOLD_ITALIC = re.compile(r"'{2,}")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.M)
_LIST_PREFIX = re.compile(r"^[*#:;]+\s*", re.M)
_MAGIC = re.compile(r"__[A-Z]+__")
_BLANKS = re.compile(r"\n{3,}")
_DROP_NAMESPACES = ("file", "image", "category", "media")
_INTERWIKI = re.compile(r"^:?[a-z]{2,3}(-[a-z]+)?:")


def _link_text(m: re.Match[str]) -> str:
    inner = m.group(1)
    target, _, label = inner.partition("|")
    prefix = target.split(":", 1)[0].strip().lower() if ":" in target else ""
    if prefix in _DROP_NAMESPACES or _INTERWIKI.match(target.strip()):
        return ""
    if label:
        return label.rsplit("|", 1)[-1] if prefix else label
    return target.lstrip(":")


def _sub_until_stable(pattern: re.Pattern[str], repl: Any, text: str, limit: int = 50) -> str:
    for _ in range(limit):
        new = pattern.sub(repl, text)
        if new == text:
            return new
        text = new
    return text


def strip_wikitext(text: str) -> str:
    """Plain text of an article's wikitext: templates, tables, references, files, categories, markup and
    HTML tags removed; links replaced by their label; headings and list items kept as lines."""
    text = _COMMENT.sub("", text)
    text = _DROP_ELEMENTS.sub("", text)
    text = _sub_until_stable(_TEMPLATE, "", text)
    text = _sub_until_stable(_TABLE, "", text)
    text = _sub_until_stable(_LINK, _link_text, text)
    text = _EXTLINK.sub(lambda m: m.group(1) or "", text)
    text = _TAG.sub("", text)
    text = _BOLD_ITALIC.sub("", text)
    text = _HEADING.sub(r"\2", text)
    text = _LIST_PREFIX.sub("", text)
    text = _MAGIC.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ")
    lines = [ln.strip() for ln in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def strip_wikitext_mwparser(text: str) -> str:
    """The same with mwparserfromhell's ``strip_code`` (``pip install mwparserfromhell``)."""
    try:
        import mwparserfromhell
    except ImportError as err:
        raise ImportError("wikipedia markup 'mwparserfromhell' needs: pip install mwparserfromhell") from err
    out = mwparserfromhell.parse(text).strip_code(normalize=True, collapse=True)
    return _BLANKS.sub("\n\n", out).strip()


# ---------------------------------------------------------------- MediaWiki XML dumps


@dataclass(frozen=True)
class WikiArticle:
    title: str
    page_id: str
    text: str  # plain text (markup stripped)


def _open_binary(path: str):
    import fsspec

    return fsspec.open(path, "rb", compression="infer").open()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_dump_articles(
    path: str, markup: str = "regex", namespaces: tuple[str, ...] = ("0",), *,
    shard: tuple[int, int] = (0, 1), skipped: dict[str, int] | None = None,
) -> Iterator[WikiArticle]:
    """Stream a MediaWiki XML export (``pages-articles``) page by page, in constant memory.

    Yields the articles of the given namespaces (main only by default) that are not redirects, with
    their wikitext stripped to plain text. Raises ``ValueError`` naming the file on malformed XML.
    ``shard=(i, k)`` strips only every k-th page from the i-th (k readers of one file share the
    markup-stripping, the expensive part); ``skipped`` counts the pages of the shard not yielded, by reason.
    """
    index, shards = shard
    seen = -1
    strip = strip_wikitext_mwparser if markup == "mwparserfromhell" else strip_wikitext
    with _open_binary(path) as f:
        ctx = ET.iterparse(f, events=("end",))
        try:
            for _, elem in ctx:
                if _local(elem.tag) != "page":
                    continue
                seen += 1
                if seen % shards != index:
                    elem.clear()
                    continue
                fields: dict[str, str] = {}
                redirect = False
                for child in elem.iter():
                    name = _local(child.tag)
                    if name == "redirect":
                        redirect = True
                    elif name in ("title", "ns", "text") or (name == "id" and "id" not in fields):
                        fields.setdefault(name, child.text or "")
                elem.clear()
                wikitext = fields.get("text", "")
                why = "redirect" if redirect or wikitext.lstrip().lower().startswith("#redirect") else \
                    "other_namespace" if fields.get("ns", "0") not in namespaces else None
                if why:
                    if skipped is not None:
                        skipped[why] = skipped.get(why, 0) + 1
                    continue
                yield WikiArticle(fields.get("title", ""), fields.get("id", ""), strip(wikitext))
        except ET.ParseError as err:
            raise ValueError(f"{path}: not a readable MediaWiki XML dump: {err}") from None


def _is_dump(path: str) -> bool:
    base = re.sub(r"\.(gz|bz2|xz|zst)$", "", os.path.basename(path).lower())
    if base.endswith(".xml"):
        return True
    if base.endswith((".txt", ".jsonl", ".json", ".parquet")):
        return False
    with _open_binary(path) as f:
        return f.read(4096).lstrip().startswith(b"<mediawiki")


def iter_reference_texts(path: str, markup: str = "regex", chunk_chars: int = 1 << 20, *,
                         shard: tuple[int, int] = (0, 1), skipped: dict[str, int] | None = None) -> Iterator[str]:
    """Texts of a Wikipedia reference: a MediaWiki dump (articles), Parquet/JSONL (``text`` field) or
    plain text (read in chunks of whole lines). ``shard=(i, k)``: every k-th text from the i-th."""
    if _is_dump(path):
        for art in iter_dump_articles(path, markup, shard=shard, skipped=skipped):
            yield art.text
        return
    index, shards = shard
    for i, text in enumerate(_iter_plain_texts(path, chunk_chars)):
        if i % shards == index:
            yield text


def _iter_plain_texts(path: str, chunk_chars: int) -> Iterator[str]:
    """Texts of a text, JSONL or Parquet reference file, through the one text reader."""
    for batch in read_documents(path, chunk_chars=chunk_chars):
        yield from (t for t in batch.texts if t)


# ---------------------------------------------------------------- reference n-grams

WIKI_NGRAM = 13
WIKI_THRESHOLD = 0.5  # fraction of a document's n-grams found in Wikipedia (see tests/decontam)


def _sampled(h: np.ndarray, sample: int) -> np.ndarray:
    return h if sample <= 1 else h[h % np.uint64(sample) == 0]


@dataclass
class ReferenceNgrams:
    """Hashes of a reference's word n-grams (1 in ``sample`` of them, chosen by hash, when sample > 1).

    Opened from a saved set (:meth:`open`: a ``wikiref`` output or :meth:`save`), the keys are memory-mapped:
    8 B an n-gram in the page cache, once per node; each process holds only its bitmap, itself mapped from this
    node's cache (2 B an n-gram up to 512 MiB). Such a set pickles as its path, so a broadcast context carries
    a path, not the keys.
    """

    n: int
    sample: int
    hashes: HashSet
    texts: int = 0
    path: str | None = None  # the saved set this was opened from

    def __reduce__(self) -> tuple[Any, tuple]:
        if self.path is not None:
            return ReferenceNgrams.open, (self.path, self.n, self.sample)
        return ReferenceNgrams, (self.n, self.sample, self.hashes, self.texts)

    @classmethod
    def open(cls, path: str, n: int = WIKI_NGRAM, sample: int = 1) -> ReferenceNgrams:
        """A saved set, memory-mapped; once per process (reopened when the file changes)."""
        return cached("wikipedia.reference", [file_identity(path), n, sample], lambda: cls._open(path, n, sample))

    @classmethod
    def _open(cls, path: str, n: int, sample: int) -> ReferenceNgrams:
        keys = np.load(local_file(path), mmap_mode="r", allow_pickle=False)
        if keys.dtype != np.dtype("<u8") or keys.ndim != 1:
            raise ValueError(f"{path}: not a reference n-gram set (dtype {keys.dtype}, shape {keys.shape})")
        shift = bitmap_shift(len(keys))
        bitmap = _node_bitmap(path, keys, shift)
        if bitmap is None:  # not sorted unique (a set saved by other means): sorted in this process's memory
            return cls(n, sample, HashSet.build(np.asarray(keys)))
        return cls(n, sample, HashSet(keys, bitmap, shift), path=path)

    @classmethod
    def build(
        cls, paths: Iterable[str], n: int = WIKI_NGRAM, sample: int = 1, markup: str = "regex"
    ) -> ReferenceNgrams:
        """From reference files (see :func:`iter_reference_texts`; ``.npy``: a set saved by :meth:`save`). One
        saved set is opened memory-mapped (:meth:`open`); anything else is built in this process's memory."""
        paths = list(paths)
        if len(paths) == 1 and paths[0].endswith(".npy"):
            return cls.open(paths[0], n, sample)
        saved: list[np.ndarray] = []
        texts: list[Iterable[str]] = []
        for path in paths:
            if path.endswith(".npy"):
                saved.append(load_npy(path))
            else:
                texts.append(iter_reference_texts(path, markup))
        return cls.from_texts(chain.from_iterable(texts), n, sample, saved)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], n: int = WIKI_NGRAM, sample: int = 1, extra: list[np.ndarray] | None = None
    ) -> ReferenceNgrams:
        parts = list(extra or [])
        count = 0
        for text in texts:
            count += 1
            parts.append(_sampled(window_hashes(word_hashes(word_bytes(text)), n), sample))
            if len(parts) > 4096:
                parts = [sorted_unique(np.concatenate(parts))]
        keys = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        return cls(n, sample, HashSet.build(keys), count)

    def save(self, path: str) -> None:
        """Save the keys as ``.npy`` (load again by listing that file as a reference)."""
        save_npy(path, self.hashes.keys)

    def saved(self, path: str) -> ReferenceNgrams:
        """This set memory-mapped from ``path`` (saved there first unless it was opened from a file)."""
        if self.path is not None:
            return self
        self.save(path)
        return ReferenceNgrams.open(path, self.n, self.sample)

    def __len__(self) -> int:
        return len(self.hashes)

    def overlap(self, dw: DocWords) -> tuple[np.ndarray, np.ndarray]:
        """Per document: (fraction of its sampled n-grams in the reference, number of sampled n-grams)."""
        ndocs = len(dw.start) - 1
        w, p = dw.windows(self.n)
        if self.sample > 1:
            sel = w % np.uint64(self.sample) == 0
            w, p = w[sel], p[sel]
        doc = dw.doc_of_word[p] if len(p) else np.empty(0, dtype=np.int64)
        total = np.bincount(doc, minlength=ndocs)
        hit = np.bincount(doc[self.hashes.contains(w)], minlength=ndocs)
        frac = np.divide(hit, total, out=np.zeros(ndocs, dtype=np.float64), where=total > 0)
        return frac, total


def _node_bitmap(path: str, keys: np.ndarray, shift: int) -> np.ndarray | None:
    """The bitmap of a saved set, built once per node into :func:`~corpus_forge.io.cache_dir` and mapped from
    there (in this process's memory when the cache cannot be written); None when the keys are not sorted."""
    import hashlib

    tag = hashlib.sha1(repr(file_identity(path)).encode()).hexdigest()[:20]
    local = os.path.join(cache_dir(), f"{tag}-bitmap-{shift}.npy")
    if not os.path.exists(local):
        bitmap = sorted_bitmap(keys, shift)
        if bitmap is None:
            return None
        try:
            save_npy(local, bitmap)
        except OSError:
            return bitmap
    return np.load(local, mmap_mode="r", allow_pickle=False)
