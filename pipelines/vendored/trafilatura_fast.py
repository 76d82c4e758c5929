"""Same text as ``trafilatura.extract(html, url=url, fast=True, include_comments=False, deduplicate=False,
output_format="txt", with_metadata=False, favor_precision=P, favor_recall=R, include_tables=T)``, ~20% less CPU.

Only for trafilatura 2.3.1 with fast=True, include_comments=False, deduplicate=False (other versions or options:
plain ``trafilatura.extract``). It re-implements ``bare_extraction`` + ``trafilatura_sequence`` for that option
set (no metadata, no comments, no compare_extraction/justext since fast) and changes only how the same
result is computed (the one change inside trafilatura, 5., keeps every result as it is):

1. our own HTML parser, identical to ``trafilatura.utils.HTML_PARSER`` but with a C-level element class
   lookup (every element an ``HtmlElement``) instead of lxml.html's Python ``HtmlElementClassLookup.lookup``,
   called ~2,300 times per page (trafilatura never uses the form-element subclasses' API);
2. one ``Extractor`` reused across calls; no unused backup copy of the cleaned tree (only read when
   fast=False or comments are on);
3. the recall-escalation gate ``len(text) < 0.2 * len(html2txt(tree))`` first checks a cheap upper bound on
   ``len(html2txt(tree))`` and runs html2txt (copy + BASIC_CLEAN_XPATH + spacing) only when the bound cannot
   decide (on 364 of 781 pages the gate runs; the bound decides 268 of them);
4. ``repair_faulty_html``: the whole-page INVALID_XML_CHARS regex only runs when such a character is
   present; the DOCTYPE step only rebuilds the page string when it changes it;
5. the XPaths with ``re:test(@a, P)`` guarded as ``(@a and re:test(@a, P))``: the raw-tree prune lists
   (our copies) and the lists ``extract_content`` uses (``trafilatura.main_extractor``'s module globals,
   replaced once per process: :func:`install_guarded_xpaths`; same node sets, so same text for any caller).

Checked identical to trafilatura.extract on all 4,172 pages of the 7 web_extraction sets.
"""

from __future__ import annotations

import re
from copy import copy

import trafilatura
from lxml.etree import Element, ElementDefaultClassLookup, XPath
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HTMLParser, HtmlProcessingInstruction, fromstring
from trafilatura import core as _core
from trafilatura.baseline import _BLOCK_ELEMS, baseline, html2txt
from trafilatura.htmlprocessing import convert_tags, prune_unwanted_nodes, tree_cleaning
from trafilatura.main_extractor import extract_content
from trafilatura.settings import DEFAULT_CONFIG, Extractor
from trafilatura.utils import DOCTYPE_TAG, FAULTY_HTML, INVALID_XML_CHARS, normalize_unicode
from trafilatura.xml import xmltotxt
from trafilatura.xpaths import RAW_TREE_PRUNE_XPATH, REGEXP_NS, REMOVE_COMMENTS_AND_LISTS_XPATH, REMOVE_COMMENTS_XPATH

SUPPORTED_VERSION = "2.3.1"

# 1. trafilatura.utils.HTML_PARSER with a C-level class lookup
_PARSER = HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                     remove_pis=True)
_PARSER.set_element_class_lookup(ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity))


# 5. guarded re:test
_ATTRS = r"@[\w-]+(?:\s*\|\s*@[\w-]+)*"  # an attribute, or a union of attributes (@id|@class)


def _guard_retest(path: str) -> str:
    """re:test(A, P) -> (A and re:test(A, P)) for an attribute (or union of attributes) A. lxml's re:test
    reads an absent attribute as '', which P does not match (checked), so the node set is the same; the
    Python-level re:test callback then runs only on elements that carry the attribute."""
    for pat in re.findall(rf"re:test\({_ATTRS}, '([^']*)'", path):
        if re.search(pat, ""):
            return path
    return re.sub(rf"re:test\(({_ATTRS}), ('[^']*'(?:, '[^']*')?)\)", r"((\1) and re:test(\1, \2))", path)


def _guarded(xpaths: list[XPath]) -> list[XPath]:
    return [XPath(_guard_retest(xp.path), namespaces={"re": REGEXP_NS}) for xp in xpaths]


# The XPaths that extract_content evaluates (module globals of trafilatura.main_extractor), guarded the same
# way. Installed once per process by FastTrafilatura (trafilatura 2.3.1 only): it changes how fast, never
# what, any trafilatura call in the process selects.
_MAIN_EXTRACTOR_XPATHS = ("BODY_XPATH", "OVERALL_DISCARD_XPATH", "PRECISION_DISCARD_XPATH", "TEASER_DISCARD_XPATH",
                          "COMMENTS_XPATH", "COMMENTS_DISCARD_XPATH")
_installed = False


def install_guarded_xpaths() -> None:
    """Replace trafilatura.main_extractor's XPath lists by their guarded equivalents (idempotent)."""
    global _installed
    if _installed:
        return
    from trafilatura import main_extractor

    for name in _MAIN_EXTRACTOR_XPATHS:
        setattr(main_extractor, name, _guarded(getattr(main_extractor, name)))
    _installed = True


_RAW_PRUNE = _guarded(RAW_TREE_PRUNE_XPATH)
_COMMENTS_AND_LISTS_PRUNE = _guarded(REMOVE_COMMENTS_AND_LISTS_XPATH)
_COMMENTS_PRUNE = _guarded(REMOVE_COMMENTS_XPATH)

# 4. repair_faulty_html
_INVALID_CHARS = tuple(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])


def repair_html(html: str, beginning: str) -> str:
    """trafilatura.utils.repair_faulty_html, same result, cheaper on clean pages."""
    if any(c in html for c in _INVALID_CHARS):  # 29 substring scans: ~3x faster than the regex scan
        html = INVALID_XML_CHARS.sub("", html)
    if "doctype" in beginning:
        i = html.find("\n")
        firstline = html if i < 0 else html[:i]
        fixed = DOCTYPE_TAG.sub("", firstline, count=1)
        if i < 0:
            html = fixed + "\n"  # as firstline + "\n" + "" in the original
        elif fixed != firstline:
            html = fixed + html[i:]
    for line in html[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            html = FAULTY_HTML.sub(r"\1>", html, count=1)
            break
    return html


def _from_bytes(html: str) -> HtmlElement | None:
    try:
        return fromstring(html.encode("utf8", "surrogatepass"), parser=_PARSER)
    except Exception:
        return None


def load_html(html: str) -> HtmlElement | None:
    """trafilatura.utils.load_html for a str (decode_file is the identity on str)."""
    beginning = html[:50].lower()
    check_flag = "html" not in beginning
    html = repair_html(html, beginning)
    tree = None
    fallback_parse = False
    try:
        tree = fromstring(html, parser=_PARSER)
    except ValueError:  # "Unicode strings with encoding declaration are not supported."
        tree = _from_bytes(html)
        fallback_parse = True
    except Exception:
        pass
    if (tree is None or len(tree) < 1) and not fallback_parse:
        tree = _from_bytes(html)
    if tree is not None and check_flag and len(tree) < 2:
        tree = None
    return tree


# 3. the escalation gate
_BLOCK_TAGS = tuple(sorted(_BLOCK_ELEMS))


def html2txt_len_upper_bound(tree: HtmlElement) -> int:
    """U >= len(html2txt(tree)). html2txt = " ".join(X.split()), X the text of a copy of <body> (or the
    tree) with some subtrees deleted (tails kept), control characters removed from some text/tails and
    two spaces inserted per block element. With Y = body.text_content():
    - X's non-space characters are a subsequence of Y's minus those of the childless <script>/<style>
      (always deleted by BASIC_CLEAN_XPATH; pairwise disjoint), so nonws(X) <= A;
    - len(html2txt) = nonws(X) + ntok(X) - 1 and ntok(X) <= nonws(X); also ntok(X) <= ntok(Y)
      - sum(max(0, ntok(r) - 2)) + 2 * nblock: cutting a substring r out of Y removes its inner tokens
      (all but the two at its ends) and may merge neighbours; deleting other subtrees or characters never
      adds a token; each inserted space adds at most one."""
    body = tree.find(".//body")
    if body is None:
        body = tree
    parts = body.text_content().split()
    nonws, ntok = sum(map(len, parts)), len(parts)
    for el in body.iter("script", "style"):
        if len(el) == 0 and el.text:
            r = el.text.split()
            nonws -= sum(map(len, r))
            ntok -= max(0, len(r) - 2)
    nblock = sum(1 for _ in body.iter(*_BLOCK_TAGS))
    return nonws + min(nonws, ntok + 2 * nblock)


def _escalate(temp_text: str, tree: HtmlElement) -> bool:
    """len(temp_text) < ESCALATION_PAGE_SHARE * len(html2txt(tree)), html2txt only when needed."""
    share = _core.ESCALATION_PAGE_SHARE
    if len(temp_text) >= share * html2txt_len_upper_bound(tree):
        return False  # share * len(html2txt) <= share * U <= len(temp_text)
    return len(temp_text) < share * len(html2txt(tree))


class FastTrafilatura:
    """``FastTrafilatura(**opts).extract(html, url)`` == ``trafilatura.extract(html, url=url, **opts,
    output_format="txt", with_metadata=False)``. Build one per process (holds compiled XPaths)."""

    def __init__(self, *, fast: bool = True, favor_precision: bool = False, favor_recall: bool = False,
                 include_comments: bool = False, include_tables: bool = True, deduplicate: bool = False) -> None:
        self.kwargs = dict(fast=fast, favor_precision=favor_precision, favor_recall=favor_recall,
                           include_comments=include_comments, include_tables=include_tables,
                           deduplicate=deduplicate, output_format="txt", with_metadata=False)
        self.supported = (trafilatura.__version__ == SUPPORTED_VERSION and fast and not include_comments
                          and not deduplicate)
        if self.supported:
            install_guarded_xpaths()
        # 2. one Extractor for all calls (url only feeds options.url/source, unused on this path)
        self.options = Extractor(config=DEFAULT_CONFIG, output_format="txt", fast=fast,
                                 precision=favor_precision, recall=favor_recall, comments=include_comments,
                                 tables=include_tables, dedup=deduplicate, with_metadata=False)
        self._empty_comments = xmltotxt(Element("body"), self.options.formatting)

    def extract(self, html: str, url: str | None = None) -> str | None:
        if not self.supported:
            return trafilatura.extract(html, url=url, **self.kwargs)
        options = self.options
        try:  # bare_extraction
            tree = load_html(html)
            if tree is None:
                raise ValueError
            postbody, temp_text = self._sequence(tree, options, url)
            # max_tree_size is unset in the default config; comments are off, so len_comments = 0
            if len(temp_text) < options.min_output_size and 0 < options.min_output_comm_size:
                raise ValueError
        except (TypeError, ValueError):
            return None
        # determine_returnstring for txt without metadata; commentsbody is an empty <body>
        text = xmltotxt(postbody, options.formatting)
        return normalize_unicode(f"{text}\n{self._empty_comments}".strip())

    @staticmethod
    def _prepare(tree: HtmlElement, options: Extractor, url: str | None) -> HtmlElement:
        return convert_tags(tree_cleaning(copy(tree), options), options, url)

    def _sequence(self, tree: HtmlElement, options: Extractor, url: str | None):
        """core.trafilatura_sequence with comments off and fast on."""
        is_forum = _core._forum_thread_page(tree)
        tree = prune_unwanted_nodes(tree, _RAW_PRUNE)
        if options.focus == "precision" or not is_forum:
            tree = prune_unwanted_nodes(tree, _COMMENTS_AND_LISTS_PRUNE)
        cleaned_tree = self._prepare(tree, options, url)
        if options.focus == "precision" and not is_forum:
            cleaned_tree = prune_unwanted_nodes(cleaned_tree, _COMMENTS_PRUNE)
        postbody, temp_text = extract_content(cleaned_tree, options)
        # 3. baseline rescue
        if len(temp_text) < options.min_extracted_size and options.focus != "precision":
            b_body, b_text, b_len = baseline(tree)
            if b_len > len(temp_text):
                postbody, temp_text = b_body, b_text
        # 4. recall escalation (no justext candidate in fast mode; esc_tree = tree with comments off)
        if (options.focus == "balanced" and 0 < len(temp_text) < _core.ESCALATION_MAX_LENGTH
                and _escalate(temp_text, tree)):
            r_options = copy(options)
            r_options.focus = "recall"
            r_text = ""
            try:
                r_body, r_text = extract_content(self._prepare(tree, r_options, url), r_options)
            except Exception:
                pass
            if (len(r_text) >= options.min_extracted_size
                    and len(r_text) > _core.ESCALATION_ACCEPT_RATIO * len(temp_text)):
                postbody, temp_text = r_body, r_text
        return postbody, temp_text
