"""Local receivers: declared in Metadata.Surge.LocalReceivers, validated with the entry named, and
controllable over HTTP (told to fail for a while, asked what they got)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from infra.runtime.receivers import CONTROL, HttpReceiver, declared_receivers, start_receivers
from infra.template.errors import TemplateError
from infra.template.yaml_loader import read_template_file
from tests.conftest import REPO


def _template(entries: object) -> dict:
    return {"Parameters": {"Url": {"Type": "String"}}, "Metadata": {"Surge": {"LocalReceivers": entries}}}


def _post(url: str, body: dict, key: str | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json", **({"idempotency-key": key} if key else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("Url", "must be a list"),
        (
            [{"Parameter": "Nope"}],
            "'Nope' is not a declared template parameter (at Metadata.Surge.LocalReceivers[0].Parameter)",
        ),
        ([{"Parameter": "Url", "Port": 1}], "unknown keys ['Port']"),
        ([{"Parameter": "Url", "Path": "events"}], "must start with /"),
        ([{"Parameter": "Url"}, {"Parameter": "Url"}], "declared twice for ['Url']"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(entries, message):
    with pytest.raises(TemplateError) as caught:
        declared_receivers(_template(entries))
    assert message in str(caught.value)


def test_the_template_declares_the_data_platform_receiver_and_an_override_wins():
    raw = read_template_file(REPO / "template.yaml")
    assert [(r.parameter, r.path) for r in declared_receivers(raw)] == [("DataPlatformUrl", "/events")]
    assert start_receivers(raw, {"DataPlatformUrl": "https://platform.example.com/events"}) == {}


def test_a_receiver_counts_duplicates_and_refuses_while_told_to_fail():
    receiver = HttpReceiver("/events").start()
    try:
        assert _post(receiver.url, {"n": 1}, "k-1") == (200, {"duplicate": False})
        assert _post(receiver.url, {"n": 1}, "k-1") == (200, {"duplicate": True})
        assert _post(receiver.url, {"n": 2})[0] == 400  # no Idempotency-Key
        status, stats = _post(receiver.base_url + CONTROL + "/fail", {"seconds": 0.5})
        assert status == 200 and stats["failing"] is True
        assert _post(receiver.url, {"n": 3}, "k-3")[0] == 503
        time.sleep(0.6)
        assert _post(receiver.url, {"n": 3}, "k-3") == (200, {"duplicate": False})
        with urllib.request.urlopen(receiver.base_url + CONTROL + "?keys", timeout=5) as answer:
            stats = json.loads(answer.read())
        assert (stats["received"], stats["duplicates"], stats["refused"]) == (2, 1, 1)
        assert stats["keys"] == ["k-1", "k-3"]
    finally:
        receiver.stop()
