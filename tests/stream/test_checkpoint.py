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
    # A damaged part (the echoes' twins, rows of [time, name, score]) is refused whole.
    for twins in ([[0.0, "tgrequests"]], "tgrequests", [["noon", "tgrequests", 0.6]]):
        data = dump(scorer)
        data["echoes"] = twins
        with pytest.raises(CheckpointError, match="damaged"):
            decode(zlib.compress(json.dumps(data).encode()))


def test_campaign_ids_derive_from_the_founding_event() -> None:
    store = Campaigns()
    first = store.new(0.0, "e1")
    second = store.new(0.0, "e1")
    third = store.new(1.0, "e2")
    names = [store.record(n).id for n in (first, second, third)]
    assert len(set(names)) == 3 and all(n.startswith("c-") and len(n) == 14 for n in names)
    again = Campaigns()
    assert again.record(again.new(5.0, "e2")).id == names[2]  # same founder, same id


def test_cohort_pauses_survive_a_checkpoint_and_version_2_is_read() -> None:
    """A stream whose waves trip cohort scopes, cut while one is paused: the restored
    scorer answers the same; a version 2 checkpoint (no cohorts) is still read."""
    events, _ = simulate(SimConfig(days=11, seed=4, campaigns=("one-domain", "ip-range"),
                                   crowds=(), first_campaign_day=8, files_share=0.05))
    whole = _score(StreamScorer(), events)
    trips = [line["breaker"]["scope"] for line in whole
             if line.get("breaker", {}).get("action") == "trip"]
    assert any("|" in scope for scope in trips), trips
    first = next(i for i, line in enumerate(whole)
                 if "|" in line.get("breaker", {}).get("scope", ""))
    cut = sum(1 for line in whole[:first] if "score" in line) + 1  # just after the trip
    scorer = StreamScorer()
    pieces = _score(scorer, events[:cut])
    assert any("|" in scope for scope in scorer.breaker_state.scopes)
    assert scorer.breaker_state.traffic
    scorer = decode(encode(scorer))
    assert any("|" in scope for scope in scorer.breaker_state.scopes)
    pieces.extend(_score(scorer, events[cut:]))
    assert pieces == whole

    old = StreamScorer()
    _score(old, events[:2000])
    data = dump(old)
    data["version"] = 2
    breaker = data["breaker"]
    del breaker["traffic"], breaker["traffic_pruned_at"]
    for values in breaker["scopes"].values():
        values[-1] = [item[:2] for item in values[-1]]
    restored = decode(zlib.compress(json.dumps(data).encode()))
    assert restored.breaker_state.traffic == {}
    assert all(item[2] == () for s in restored.breaker_state.scopes.values()
               for item in s.flagged)
    assert restored.process(events[2000])[0]["id"] == events[2000]["id"]
