"""A scorer restored from its checkpoint answers exactly as the one that never stopped."""

from __future__ import annotations

import json
import zlib

import pytest

from detector.stream import StreamScorer
from detector.stream.campaigns import Campaigns
from detector.stream.checkpoint import VERSION, CheckpointError, decode, dump, encode
from detector.stream.simulate import SimConfig, simulate


@pytest.fixture(scope="module")
def stream() -> list[dict]:
    """12 days with the first campaigns from day 8: 8 days of history, then waves."""
    events, _ = simulate(SimConfig(days=12, seed=3, scale=0.5, files_share=0.05))
    return events


def _score(scorer: StreamScorer, events: list[dict]) -> list[dict]:
    out = []
    for event in events:
        out.extend(scorer.process(event))
        out.append({"relabels": scorer.relabels()})
    return out


def test_checkpoints_restore_the_whole_state_event_for_event(stream: list[dict]) -> None:
    whole = _score(StreamScorer(), stream)
    campaigns = [line["campaign"] for line in whole if line.get("campaign")]
    assert len(campaigns) >= 20, "the stream must hold a wave for this test to mean much"
    assert any(line.get("breaker") for line in whole)
    assert any(line.get("relabels", ({}, {}))[0] for line in whole)

    # cut at several points, waves included; every piece starts from the last checkpoint
    cuts = [len(stream) * k // 7 for k in range(1, 7)]
    scorer = StreamScorer()
    pieces: list[dict] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        pieces.extend(_score(scorer, stream[start:cut]))
        blob = encode(scorer)
        scorer = decode(blob)
        start = cut
    assert pieces == whole
    assert json.loads(zlib.decompress(blob))["version"] == VERSION


def test_a_checkpoint_of_another_version_or_damaged_is_refused() -> None:
    scorer = StreamScorer()
    data = dump(scorer)
    data["version"] = VERSION + 1
    with pytest.raises(CheckpointError, match="version"):
        decode(zlib.compress(json.dumps(data).encode()))
    with pytest.raises(CheckpointError, match="damaged"):
        decode(b"not a checkpoint")


def test_campaign_ids_derive_from_the_founding_event() -> None:
    store = Campaigns()
    first = store.new(0.0, "e1")
    second = store.new(0.0, "e1")
    third = store.new(1.0, "e2")
    names = [store.record(n).id for n in (first, second, third)]
    assert len(set(names)) == 3 and all(n.startswith("c-") and len(n) == 14 for n in names)
    again = Campaigns()
    assert again.record(again.new(5.0, "e2")).id == names[2]  # same founder, same id
