"""Retrieval data (adaptx.readers parses it): "tatoeba" (LASER's two line-aligned files, the English
side the spec's extra file; hub: google/xtreme tatoeba.<iso3>) and "bucc" (BUCC 2018's id<TAB>sentence
files, the English side and the gold pairs the spec's extra files; hub: google/xtreme bucc18.<lang>)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import readers
from .base import DataFormat, Read, register_format


@dataclass(frozen=True)
class SentencePair:
    """A retrieval example (Tatoeba): a sentence and its English translation."""

    source: str
    target: str


@dataclass(frozen=True)
class MiningSource:
    """A BUCC source sentence and the id of its gold English partner (None: it has none)."""

    id: str
    sentence: str
    gold: str | None

    @property
    def label(self) -> int:
        # the stratum of seeded samples: a sample keeps the file's share of sentences with a partner
        return int(self.gold is not None)


def _pairs(sources: list[str], targets: list[str]) -> Read:
    return Read([SentencePair(a, b) for a, b in zip(sources, targets)])


def _mining(data: readers.BuccData) -> Read:
    """The source sentences, each with its gold partner; the English sentences are the shared context."""
    partner = {src: tgt for src, tgt in data.gold}
    sources = [MiningSource(i, text, partner.get(i)) for i, text in zip(data.src_ids, data.src_sentences)]
    return Read(sources, {"targets": list(zip(data.tgt_ids, data.tgt_sentences))})


def _tatoeba(task, spec, path, extra) -> Read:
    return _pairs(*readers.read_tatoeba(path, extra[0]))


def _tatoeba_from_hub(task, spec, ds, lang: str, where: str) -> Read:
    return _pairs(*readers.tatoeba_from_hub(ds, where))


def _bucc(task, spec, path, extra) -> Read:
    return _mining(readers.read_bucc(path, extra[0], extra[1]))


def _bucc_from_hub(task, spec, ds, lang: str, where: str) -> Read:
    return _mining(readers.bucc_from_hub(ds, where))


register_format(DataFormat("tatoeba", local=_tatoeba, hub=_tatoeba_from_hub))
register_format(DataFormat("bucc", local=_bucc, hub=_bucc_from_hub))
