"""E-mail keys: mailbox normalization and registrable domains put one sender in one cohort."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from detector.stream import StreamScorer, score_lines
from detector.stream.accounts import mailbox_key, registrable_domain
from detector.stream.simulate import SimConfig, simulate


def test_mailbox_key_folds_what_the_provider_delivers_to_one_mailbox() -> None:
    assert mailbox_key("J.Smith+pypi@GoogleMail.com") == "jsmith@gmail.com"
    assert mailbox_key("jsmith@gmail.com") == "jsmith@gmail.com"
    assert mailbox_key("jane+x@outlook.com") == "jane@outlook.com"
    # Dots matter at most providers, and unknown domains keep their tags.
    assert mailbox_key("j.smith@outlook.com") == "j.smith@outlook.com"
    assert mailbox_key("a.b+c@example.org") == "a.b+c@example.org"
    assert mailbox_key(None) is None and mailbox_key("no-at-sign") is None


def test_registrable_domain_follows_the_public_suffix_list() -> None:
    assert registrable_domain("a1.mx.evil.co.uk") == "evil.co.uk"
    assert registrable_domain("cs.example-uni.edu") == "example-uni.edu"
    assert registrable_domain("gmail.com") == "gmail.com"
    assert registrable_domain("co.uk") == "co.uk"  # a public suffix itself


def test_a_subdomain_rotating_wave_lands_in_one_cohort() -> None:
    events, _ = simulate(SimConfig(days=6, seed=3, campaigns=(), crowds=()))
    end = datetime.fromisoformat(events[-1]["ts"]).timestamp()
    wave = []
    for i in range(40):
        ts = datetime.fromtimestamp(end + 60 + i * 45, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        wave.append({"id": f"w{i}", "ts": ts, "type": "account.created",
                     "account": {"username": f"{'abcdefgh'[i % 8]}{'xyzw'[i % 4]}dev{i}",
                                 "email": f"u{i}@m{i}.rotating-mail.com"}})
    scorer = StreamScorer()
    out = [d for d in score_lines((json.dumps(e) + "\n" for e in events + wave), scorer=scorer)
           if d.get("id", "").startswith("w") and "decision" in d]
    linked = {d["campaign"] for d in out[15:] if d["campaign"]}
    assert len(linked) == 1
    campaign = next(c for c in scorer.campaigns() if c["id"] in linked)
    assert "email domain *.rotating-mail.com" in campaign["traits"]
    assert len(campaign["accounts"]) >= 30
