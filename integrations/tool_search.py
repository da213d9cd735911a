"""BM25 ranking (via bm25s) of short tool descriptions against a natural-language query."""

from __future__ import annotations

import re

import bm25s

_STOPWORDS = frozenset(
    "a an and any are as at be by do for from i in into is it me my of on or our please "
    "some that the this to with you your".split()
)


def search_terms(text: str) -> list[str]:
    """Lower-case word stems of `text`; underscores separate words, stop words are dropped."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [_stem(w) for w in words if w not in _STOPWORDS]


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


class SearchIndex:
    """An immutable BM25 index over documents given as plain text."""

    def __init__(self, documents: list[str]) -> None:
        self._size = len(documents)
        corpus = [search_terms(d) or ["_"] for d in documents]
        self._vocabulary = {term for terms in corpus for term in terms}
        self._bm25 = bm25s.BM25()
        if documents:
            self._bm25.index(corpus, show_progress=False)

    def rank(self, query: str, limit: int) -> list[int]:
        """Indexes of the documents matching `query`, best first, at most `limit`."""
        terms = [t for t in search_terms(query) if t in self._vocabulary]
        if not terms or not self._size or limit < 1:
            return []
        positions, scores = self._bm25.retrieve([terms], k=min(limit, self._size), show_progress=False)
        return [int(p) for p, s in zip(positions[0], scores[0]) if s > 0]
