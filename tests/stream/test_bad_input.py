"""Bad input: a clear per-line error, the rest of the stream still scored, nothing dropped."""

from __future__ import annotations

import json

import pytest

from detector.stream import EventError, StreamScorer, score_lines

GOOD = {"id": "g1", "ts": "2024-03-26T10:00:00Z", "type": "account.created",
        "account": {"username": "alice"}}


def _run(lines: list[str]) -> list[dict]:
    return [o for o in score_lines(lines) if "breaker" not in o]


def _good(i: int, minute: int = 0) -> str:
    event = dict(GOOD, id=f"g{i}", ts=f"2024-03-26T10:{minute:02d}:00Z",
                 account={"username": f"user{i}"})
    return json.dumps(event)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"id": "x", "ts": "2024-03-26T10:00:00Z", "type": "account.deleted", '
         '"account": {"username": "a"}}', "unknown event type 'account.deleted'"),
        ('{"ts": "2024-03-26T10:00:00Z", "type": "account.created", "account": {"username": "a"}}',
         "missing field 'id'"),
        ('{"id": "x", "type": "account.created", "account": {"username": "a"}}',
         "missing field 'ts'"),
        ('{"id": "x", "ts": "2024-03-26T10:00:00Z", "account": {"username": "a"}}',
         "missing field 'type'"),
        ('{"id": "x", "ts": "2024-03-26T10:00:00Z", "type": "account.created"}',
         "missing field 'account.username'"),
        ('{"id": "x", "ts": "2024-03-26T10:00:00Z", "type": "account.created", "account": {}}',
         "missing field 'account.username'"),
        ('{"id": "x", "ts": "yesterday", "type": "account.created", "account": {"username": "a"}}',
         "not an ISO 8601 timestamp"),
        ('{"id": "x", "ts": "2024-03-26T10:00:00Z", "type": "project.created", '
         '"account": {"username": "a"}, "project": {"name": "p", "files": {"setup.py": 3}}}',
         "'project.files' must map file paths to text"),
        ('{"id": "x", "ts": "2024-03-26T10:00:00Z", "type": "account.created", '
         '"account": {"username": "a", "email": 5}}', "'account.email' must be a string"),
    ],
)
def test_bad_line_gets_its_own_error_and_the_stream_goes_on(line: str, message: str) -> None:
    out = _run([_good(1, 0), line, _good(2, 1)])
    assert len(out) == 3
    assert out[0]["id"] == "g1" and out[0]["decision"] == "allow"
    assert out[1]["line"] == 2 and message in out[1]["error"]
    assert out[2]["id"] == "g2" and "decision" in out[2]


def test_error_names_the_event_id_when_it_has_one() -> None:
    line = json.dumps({"id": "e9", "ts": "2024-03-26T10:00:00Z", "type": "nope",
                       "account": {"username": "a"}})
    (out,) = _run([line])
    assert out["line"] == 1 and out["id"] == "e9" and "unknown event type" in out["error"]


def test_out_of_order_timestamp_is_rejected_not_reordered() -> None:
    out = _run([_good(1, 30), _good(2, 10), _good(3, 40)])
    assert [o.get("id") for o in out] == ["g1", "g2", "g3"]
    assert "earlier than an event already scored" in out[1]["error"]
    assert out[1]["line"] == 2
    assert "decision" in out[2]


def test_duplicate_id_is_an_error_and_the_first_decision_stands() -> None:
    out = _run([_good(1, 0), _good(1, 5), _good(2, 6)])
    assert out[0]["decision"] == "allow"
    assert out[1] == {"line": 2, "id": "g1", "error": "duplicate id 'g1'"}
    assert out[2]["id"] == "g2"


def test_blank_lines_are_skipped_but_numbering_follows_the_file() -> None:
    out = _run([_good(1, 0), "\n", "{oops"])
    assert len(out) == 2 and out[1]["line"] == 3


def test_process_raises_event_error_and_leaves_state_unchanged() -> None:
    scorer = StreamScorer()
    scorer.process(json.loads(_good(1, 30)))
    with pytest.raises(EventError, match="earlier than"):
        scorer.process(json.loads(_good(2, 0)))
    # The rejected id was not recorded: it can be sent again in order.
    assert scorer.process(json.loads(_good(2, 31)))[0]["id"] == "g2"


def test_every_input_line_has_exactly_one_output(campaign_stream) -> None:
    events, _ = campaign_stream
    lines = [json.dumps(e) for e in events[:300]]
    lines.insert(50, "garbage")
    lines.insert(120, lines[10])  # duplicate id
    out = [o for o in score_lines(lines) if "breaker" not in o]
    assert len(out) == len(lines)
    assert sum("error" in o for o in out) == 2
