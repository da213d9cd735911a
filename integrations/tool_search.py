"""Ranking of short texts against a natural-language query: BM25 (via bm25s) over light stems, and for tools,
the related functions (a "get" beside its "list", the tools a tool's docstring points to) brought next to a hit."""

from __future__ import annotations

import re
from dataclasses import dataclass

import bm25s
import numpy as np

_STOPWORDS = frozenset(
    "a an and any are as at be by can could do does for from get got i in into is it its me my of on or our please "
    "some that the them this to what with would you your".split()
)
# Words people use for the same thing (compared after stemming); each is indexed and searched as the first of
# its group, so "save the PDFs to my drive's directory" meets "upload a file to a folder".
_SYNONYM_GROUPS = (
    ("email", "mail", "message", "inbox", "mailbox"),
    ("folder", "directory", "dir"),
    ("sheet", "spreadsheet", "tab", "worksheet"),
    ("row", "record", "line", "entry"),
    ("file", "document", "doc", "pdf", "xlsx", "docx", "pptx", "csv", "image", "photo", "picture"),
    ("attachment", "attached", "attach"),
    ("link", "url"),
    ("create", "make", "new", "start"),
    ("download", "fetch", "open"),
    ("upload", "save", "store", "put"),
    ("reply", "answer", "respond"),
    ("column", "header"),
    ("label", "tag"),
)
# Phrases that name an action without its verb ("email it to Ann" is "send an email").
_IMPLIED = (
    (re.compile(r"^\s*e-?mail\b|\b(?:by|via|in an?|to an?) e-?mail\b", re.IGNORECASE), "send"),
    (re.compile(r"\bwhat(?:'s| is) in\b|\bcontents? of\b", re.IGNORECASE), "list"),
)
_SUFFIXES = ("ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "s", "e")
_TYPE_NAME = re.compile(r"\b[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*\b")   # FileRef, MailMessage: a tool's own types
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def search_terms(text: str) -> list[str]:
    """Lower-case word stems of `text`: CamelCase and underscores split words, stop words are dropped, and
    common synonyms ("mail", "message" → "email") become one term."""
    words = re.findall(r"[a-z0-9]+", _CAMEL.sub(" ", text).lower())
    stems = (_stem(w) for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit()))
    return [_SYNONYMS.get(s, s) for s in stems]


def _stem(word: str) -> str:
    if word.endswith("ss") or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            return stem + "y" if suffix in ("ies", "ied") else stem
    return word


_SYNONYMS = {_stem(word): _stem(group[0]) for group in _SYNONYM_GROUPS for word in group}


class SearchIndex:
    """An immutable BM25 index over documents given as plain text."""

    def __init__(self, documents: list[str], weights: list[float] | None = None, length_norm: float = 0.75) -> None:
        """`weights` scale each document's score (1 each by default); `length_norm` is BM25's b."""
        self._size = len(documents)
        self._weights = np.ones(self._size) if weights is None else np.asarray(weights, dtype=float)
        corpus = [search_terms(d) or ["_"] for d in documents]
        self._vocabulary = {term for terms in corpus for term in terms}
        self._bm25 = bm25s.BM25(b=length_norm)
        if documents:
            self._bm25.index(corpus, show_progress=False)

    def scored(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(index, score) of the documents matching `query`, best first, at most `limit`."""
        terms = [t for t in search_terms(query) if t in self._vocabulary]
        if not terms or not self._size or limit < 1:
            return []
        scores = self._bm25.get_scores(terms) * self._weights
        best = np.argpartition(-scores, limit - 1)[:limit] if limit < self._size else np.arange(self._size)
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(p), float(scores[p])) for p in best if scores[p] > 0]

    def rank(self, query: str, limit: int) -> list[int]:
        """Indexes of the documents matching `query`, best first, at most `limit`."""
        return [i for i, _ in self.scored(query, limit)]


@dataclass(frozen=True)
class ToolDocument:
    """What tool search reads of one tool."""

    name: str   # e.g. outlook_list_messages, or server__tool for an MCP server's tool
    summary: str
    doc: str
    signature: str   # `async def name(p: Type, …) -> Type`: parameter names and types are searched too


# MCP servers' tools (named server__tool) rank after the built-in tools of equal relevance: their descriptions
# are the server's word (untrusted, and could be written to capture searches), the built-in ones are ours.
EXTERNAL_MARK = "__"
EXTERNAL_WEIGHT = 0.6
# A related tool follows a hit when it matches the request at least this much (a share of the hit's score).
RELATED_SHARE = 0.25
RELATED_PER_HIT = 3
# BM25's length normalisation, lowered from 0.75: a tool documented at length must not lose to a one-liner.
LENGTH_NORM = 0.3


class ToolIndex:
    """Tools ranked for a request. A tool's related functions follow it when they match the request too, so a
    search for "emails with attachments" also shows how to download one."""

    _CANDIDATES = 40   # hits considered before related functions are brought up

    def __init__(self, tools: list[ToolDocument]) -> None:
        weights = [EXTERNAL_WEIGHT if EXTERNAL_MARK in t.name else 1.0 for t in tools]
        self._index = SearchIndex([_document_text(t) for t in tools], weights, LENGTH_NORM)
        self._related = _relations(tools)

    def rank(self, query: str, limit: int) -> list[int]:
        """Indexes of the tools for `query`, best first, at most `limit`. A request of several steps ("list the
        mail with attachments and upload them") is also ranked step by step, the lists taken in turn."""
        rankings = [self._rank_one(_with_implied(part), limit) for part in (query, *_steps(query))]
        chosen: list[int] = []
        for rank in range(limit):
            for ranking in rankings:
                if rank < len(ranking) and ranking[rank] not in chosen:
                    chosen.append(ranking[rank])
        return chosen[:limit]

    def _rank_one(self, query: str, limit: int) -> list[int]:
        hits = self._index.scored(query, max(limit, self._CANDIDATES))
        score = dict(hits)
        chosen: list[int] = []
        for i, _ in hits:
            if i not in chosen:
                chosen.append(i)
            close = [j for j in self._related[i] if score.get(j, 0.0) >= RELATED_SHARE * score[i]]
            for j in sorted(close, key=score.__getitem__, reverse=True)[:RELATED_PER_HIT]:
                if j not in chosen:
                    chosen.append(j)
            if len(chosen) >= limit:
                break
        return chosen[:limit]


_STEP_BREAK = re.compile(r"[,;.]|\b(?:and then|then|and|after that)\b", re.IGNORECASE)


def _with_implied(query: str) -> str:
    return " ".join([query, *(verb for phrase, verb in _IMPLIED if phrase.search(query))])


def _steps(query: str) -> list[str]:
    """The steps of a request of several, as separate queries; none for a request of one step."""
    steps = [s for s in _STEP_BREAK.split(query) if len(search_terms(s)) >= 2]
    return steps if len(steps) > 1 else []


def _document_text(tool: ToolDocument) -> str:
    # The name counts twice and the summary opens the docstring: they say what the tool is. The signature's
    # words (parameter names and types) count once each: a type named in three places is still one hint.
    name = tool.name.replace("_", " ")
    signature = tool.signature.removeprefix(f"async def {tool.name}")
    return f"{name} {name} {tool.summary} {tool.doc} {' '.join(dict.fromkeys(re.findall(r'[A-Za-z0-9]+', signature)))}"


def _relations(tools: list[ToolDocument]) -> list[tuple[int, ...]]:
    """For each tool: the tools its docstring names (and those naming it), the tools that return a type it takes
    (or take one it returns: a FileRef from a download goes to an upload), and its list/get/search siblings."""
    position = {t.name: i for i, t in enumerate(tools)}
    related: list[dict[int, None]] = [{} for _ in tools]
    mentioned = re.compile(r"\b[a-z][a-z0-9]*(?:__?[a-z0-9]+)+\b")
    for i, tool in enumerate(tools):
        for name in mentioned.findall(tool.doc):
            j = position.get(name)
            if j is not None and j != i:
                related[i][j] = None
                related[j][i] = None
    takes: dict[str, list[int]] = {}
    gives: dict[str, list[int]] = {}
    for i, tool in enumerate(tools):
        parameters, _, returns = tool.signature.partition(") ->")
        for type_name in set(_TYPE_NAME.findall(parameters)):
            takes.setdefault(type_name, []).append(i)
        for type_name in set(_TYPE_NAME.findall(returns)):
            gives.setdefault(type_name, []).append(i)
    for type_name, consumers in takes.items():
        for i in consumers:
            for j in gives.get(type_name, ()):
                if j != i:
                    related[i][j] = None
                    related[j][i] = None
    by_resource: dict[tuple[str, str], list[int]] = {}
    for i, tool in enumerate(tools):
        key = _resource(tool.name)
        if key is not None:
            by_resource.setdefault(key, []).append(i)
    for group in by_resource.values():
        for i in group:
            related[i].update((j, None) for j in group if j != i)
    return [tuple(r) for r in related]


def _resource(name: str) -> tuple[str, str] | None:
    """(service, resource) for names such as outlook_list_messages or box__get_file; None for other shapes."""
    service, _, rest = name.partition("__") if "__" in name else name.partition("_")
    verb, _, resource = rest.partition("_")
    if verb not in ("list", "get", "search", "read", "find") or not resource:
        return None
    return service, _stem(resource.replace("_", ""))
