"""Embedders for the semantic cache: text in, a vector out, and the cosine of two vectors.
Both work with no network at run time.

`NgramEmbedder` (the default, no dependencies): character 3- to 5-grams of the lower-cased
words, hashed into 2^20 buckets (crc32: stable across processes), weighted TF-IDF
(sublinear term frequency; IDF from the turns this cache has stored, smoothed, as it was
when a vector was made), as unit-length sparse vectors. It catches rephrasings that keep most of
the words ("What's the capital of France?" against "what is the capital of france"), not
synonyms.

`WordLlamaEmbedder` (`pip install axtui[semantic]`): wordllama's static token embeddings,
whose wheel ships its model; loaded from the package's own folder with downloads off.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from typing import Any, Protocol
from zlib import crc32

_WORD = re.compile(r"\w+")
_MASK = (1 << 20) - 1  # 2^20 buckets
# pseudo-documents holding no n-gram: a young cache weighs n-grams almost evenly (with one
# stored turn, plain IDF would count every n-gram it lacks 1.7 times), a full one by rarity
PRIOR_DOCS = 10
NgramVector = tuple[dict[int, float], frozenset[int]]  # (unit vector, its buckets)


class Embedder(Protocol):
    name: str

    def embed(self, text: str) -> Any: ...

    def learn(self, vector: Any) -> None:
        """A vector is being stored (an embedder weighing by corpus counts counts it)."""

    def forget(self, vector: Any) -> None:
        """A stored vector left."""

    def similarity(self, a: Any, b: Any) -> float: ...


class NgramEmbedder:
    name = "ngram"

    def __init__(self, n_min: int = 3, n_max: int = 5) -> None:
        self.n_min, self.n_max = n_min, n_max
        self.docs = 0
        self.df: Counter[int] = Counter()  # bucket -> stored turns that hold it

    def _counts(self, text: str) -> Counter[int]:
        padded = " " + " ".join(_WORD.findall(text.lower())) + " "
        lo, hi = self.n_min, self.n_max + 1
        if padded.isascii():  # one byte a character: slice the bytes (twice as fast)
            b = padded.encode()
            return Counter([crc32(b[i:i + n]) & _MASK for n in range(lo, hi)
                            for i in range(len(b) - n + 1)])
        return Counter([crc32(padded[i:i + n].encode()) & _MASK for n in range(lo, hi)
                        for i in range(len(padded) - n + 1)])

    def embed(self, text: str) -> NgramVector:
        counts = self._counts(text)
        get, log = self.df.get, math.log
        prior = 1 + PRIOR_DOCS  # idf = log((prior + docs) / (prior + df)) + 1
        base = log(prior + self.docs) + 1.0
        vec = {b: (1.0 if tf == 1 else 1.0 + log(tf)) * (base - log(prior + get(b, 0)))
               for b, tf in counts.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        return {b: w / norm for b, w in vec.items()}, frozenset(counts)

    def learn(self, vector: NgramVector) -> None:
        self.docs += 1
        self.df.update(vector[1])

    def forget(self, vector: NgramVector) -> None:
        self.docs -= 1
        self.df.subtract(vector[1])
        for b in vector[1]:
            if self.df[b] <= 0:
                del self.df[b]

    def similarity(self, a: NgramVector, b: NgramVector) -> float:
        x, y = a[0], b[0]
        if len(x) > len(y):
            x, y = y, x
        get = y.get
        return sum(w * get(k, 0.0) for k, w in x.items())


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

    def embed(self, text: str) -> list[float]:
        return self.model.embed([text], norm=True)[0].tolist()

    def learn(self, vector: Any) -> None:
        return None  # static embeddings: nothing to count

    def forget(self, vector: Any) -> None:
        return None

    def similarity(self, a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))


def make_embedder(name: str) -> Embedder:
    """`ngram` or `wordllama`; ValueError naming the extra when wordllama is missing."""
    if name == "wordllama":
        try:
            return WordLlamaEmbedder()
        except ImportError:
            raise ValueError("embedder = \"wordllama\" needs the semantic extra: "
                             "pip install 'axtui[semantic]'") from None
    return NgramEmbedder()
