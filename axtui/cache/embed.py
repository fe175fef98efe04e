"""Embedders for the semantic cache: text in, a vector out, and the cosine of two vectors.
Both work with no network at run time.

`NgramEmbedder` (the default, no dependencies): character 3- to 5-grams of the lower-cased
words, hashed into 2^20 buckets (crc32: stable across processes), weighted TF-IDF
(sublinear term frequency; IDF from the turns this cache holds now, smoothed), compared by
cosine. It catches rephrasings that keep most of
the words ("What's the capital of France?" against "what is the capital of france"), not
synonyms.

`WordLlamaEmbedder` (`pip install axtui[semantic]`): wordllama's static token embeddings,
whose wheel ships its model; loaded from the package's own folder with downloads off.
"""

from __future__ import annotations

import math
import re
import threading
from array import array
from collections import Counter
from itertools import repeat
from operator import mul
from typing import Any, Protocol
from zlib import crc32

_WORD = re.compile(r"\w+")
_BUCKETS = 1 << 20
_MASK = _BUCKETS - 1
# pseudo-documents holding no n-gram: a young cache weighs n-grams almost evenly (with one
# stored turn, plain IDF would count every n-gram it lacks 1.7 times), a full one by rarity
PRIOR_DOCS = 10


class Embedder(Protocol):
    name: str

    def embed(self, text: str) -> Any: ...

    def learn(self, vector: Any) -> None:
        """A vector is being stored (an embedder weighing by corpus counts counts it)."""

    def forget(self, vector: Any) -> None:
        """A stored vector left."""

    def similarity(self, a: Any, b: Any) -> float:
        """The cosine of a query `a` and a stored `b`."""


class NgramVector:
    """A turn's n-grams and their (sublinear) term frequencies as parallel arrays: 0.9 KB
    for a 150-gram turn. IDF is applied when vectors are compared, with the counts as they
    are then, so a turn stored into an empty cache compares like one stored last. A query
    also keeps, per n-gram, its TF-IDF unit weight times the IDF (one dot product with a
    stored turn's TFs is then their TF-IDF dot product)."""

    __slots__ = ("buckets", "tfs", "query", "norm", "norm_docs")

    def __init__(self, tfs: dict[int, float], query: dict[int, float] | None) -> None:
        self.buckets = array("I", tfs)
        self.tfs = array("f", tfs.values())
        self.query = query
        self.norm = 0.0  # of the TF-IDF vector, as of `norm_docs` stored turns
        self.norm_docs = -1


class NgramEmbedder:
    name = "ngram"

    def __init__(self, n_min: int = 3, n_max: int = 5) -> None:
        self.n_min, self.n_max = n_min, n_max
        self.docs = 0
        self.df = array("I", bytes(4 * _BUCKETS))  # bucket -> stored turns holding it (4 MiB)

    def _counts(self, text: str) -> Counter[int]:
        padded = " " + " ".join(_WORD.findall(text.lower())) + " "
        lo, hi = self.n_min, self.n_max + 1
        if padded.isascii():  # one byte a character: slice the bytes (twice as fast)
            b = padded.encode()
            return Counter([crc32(b[i:i + n]) & _MASK for n in range(lo, hi)
                            for i in range(len(b) - n + 1)])
        return Counter([crc32(padded[i:i + n].encode()) & _MASK for n in range(lo, hi)
                        for i in range(len(padded) - n + 1)])

    def _idf(self) -> tuple[float, float]:
        """(base, prior): idf(bucket) = base - log(prior + df[bucket])."""
        prior = 1 + PRIOR_DOCS  # idf = log((prior + docs) / (prior + df)) + 1
        return math.log(prior + self.docs) + 1.0, prior

    def embed(self, text: str) -> NgramVector:
        log = math.log
        tfs = {b: 1.0 if n == 1 else 1.0 + log(n) for b, n in self._counts(text).items()}
        df = self.df
        base, prior = self._idf()
        idf = {b: base - log(prior + df[b]) for b in tfs}
        norm = math.sqrt(sum((tf * idf[b]) ** 2 for b, tf in tfs.items())) or 1.0
        return NgramVector(tfs, {b: tf * idf[b] * idf[b] / norm for b, tf in tfs.items()})

    def learn(self, vector: NgramVector) -> None:
        self.docs += 1
        df = self.df
        for b in vector.buckets:
            df[b] += 1
        vector.query = None  # kept in an index: the arrays are enough
        self._refresh(vector)

    def forget(self, vector: NgramVector) -> None:
        self.docs -= 1
        df = self.df
        for b in vector.buckets:
            df[b] -= 1

    def rarest(self, vector: NgramVector, n: int, *, stored_only: bool = False) -> list[int]:
        """The vector's `n` rarest n-grams; `stored_only`: among those some stored turn has
        (a query's rarest are often words no stored turn has, which find nothing)."""
        df = self.df
        buckets = [b for b in vector.buckets if df[b]] if stored_only else vector.buckets
        return sorted(buckets, key=df.__getitem__)[:n]

    def similarity(self, a: NgramVector, b: NgramVector) -> float:
        """The cosine of query `a`'s TF-IDF vector and stored `b`'s, weighted now (`b`'s
        norm is refreshed whenever the stored turns have changed by a tenth since)."""
        assert a.query is not None, "the first vector is a query (embed()'s, not stored)"
        dot = sum(map(mul, map(a.query.get, b.buckets, repeat(0.0)), b.tfs))
        if abs(self.docs - b.norm_docs) > b.norm_docs // 10:
            self._refresh(b)
        return dot / b.norm if b.norm else 0.0

    def _refresh(self, v: NgramVector) -> None:
        df, log = self.df, math.log
        base, prior = self._idf()
        v.norm = math.sqrt(sum((tf * (base - log(prior + df[k]))) ** 2
                               for k, tf in zip(v.buckets, v.tfs, strict=True)))
        v.norm_docs = self.docs


_WORDLLAMA: Any = None
_WORDLLAMA_LOCK = threading.Lock()


def wordllama_model() -> Any:
    """The model, loaded once per process from the installed package (no download)."""
    global _WORDLLAMA
    with _WORDLLAMA_LOCK:
        if _WORDLLAMA is None:
            import os

            import wordllama
            from wordllama import WordLlama

            _WORDLLAMA = WordLlama.load(cache_dir=os.path.dirname(wordllama.__file__),
                                        disable_download=True)
        return _WORDLLAMA


class WordLlamaEmbedder:
    name = "wordllama"

    def __init__(self) -> None:
        self.model = wordllama_model()

    def embed(self, text: str) -> array:
        return array("f", self.model.embed([text], norm=True)[0].tobytes())

    def learn(self, vector: Any) -> None:
        return None  # static embeddings: nothing to count

    def forget(self, vector: Any) -> None:
        return None

    def similarity(self, a: array, b: array) -> float:
        return sum(map(mul, a, b))


def make_embedder(name: str) -> Embedder:
    """`ngram` or `wordllama`; ValueError naming the extra when wordllama is missing."""
    if name == "wordllama":
        try:
            return WordLlamaEmbedder()
        except ImportError:
            raise ValueError("embedder = \"wordllama\" needs the semantic extra: "
                             "pip install 'axtui[semantic]'") from None
    return NgramEmbedder()
