"""``GET /v1/transcripts/{id}/segments`` and ``/topics``, on SQLite and PostgreSQL: built
straight from the stored rows, they are byte for byte the JSON of the ``SegmentOut`` and
``TopicOut`` models (names, defaults of words stored without every field, non-ASCII text,
words without a speaker), gzipped when large and the client accepts it, as they are otherwise,
and only for those who may read them."""

from __future__ import annotations

import gzip
import random

import pytest
from pydantic import TypeAdapter
from sqlalchemy import insert

from reflector.api.compressed import GZIP_MINIMUM, accepts_gzip
from reflector.api.schemas import from_row
from reflector.api.transcripts import service
from reflector.api.transcripts.schemas import SegmentOut, TopicOut
from reflector.db import repository
from reflector.db.tables import ParticipantRow, SegmentRow, TopicRow
from reflector.domain import Segment, Word
from reflector_testkit.people import make_person, make_transcript
from reflector_testkit.servers import running_on

_MODELS = TypeAdapter(list[SegmentOut])
_TOPIC_MODELS = TypeAdapter(list[TopicOut])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"segments-{request.param}")
    with running_on(request.param, data_dir, auth_mode="multi-user") as client:
        yield client


def _segments(count: int, seed: int) -> list[Segment]:
    rng = random.Random(seed)
    vocabulary = ("budget", "Überprüfung", "naïve", "über", "東京", "ok,", "1e-05", '"quoted"')
    segments = []
    clock = 0.0
    for n in range(count):
        speaker = None if n % 7 == 3 else rng.randrange(4)
        words = []
        for i in range(rng.randint(3, 15)):
            start = clock + rng.random() * 0.3
            clock = start + rng.random() * 0.5 + 1e-6
            words.append(
                Word(
                    text=(" " if i else "") + rng.choice(vocabulary),
                    start=start,
                    end=clock,
                    probability=rng.choice((rng.random(), 0.0, 1.0, 1e-5)),
                    speaker=speaker,
                )
            )
        text = "".join(w.text for w in words)
        segments.append(
            Segment(text=text, speaker=speaker, start=words[0].start, end=clock, words=words)
        )
    return segments


def _stored(server, transcript_id: str, segments: list[Segment], names: dict[int, str]) -> None:
    async def store() -> None:
        async with server.app.state.reflector.sessions() as session:
            await repository.replace_segments(session, transcript_id, segments)
            session.add_all(
                ParticipantRow(transcript_id=transcript_id, speaker=speaker, name=name)
                for speaker, name in names.items()
            )
            # A word written without probability and speaker, and times as integers: the
            # models fill in the defaults and write floats, and so must the answer.
            await session.execute(
                insert(SegmentRow),
                [
                    {
                        "transcript_id": transcript_id,
                        "position": len(segments),
                        "speaker": 2,
                        "start": 9000,
                        "end": 9001,
                        "text": "Bare",
                        "confidence": 1,
                        "words": [{"text": "Bare", "start": 9000, "end": 9001}],
                    }
                ],
            )
            await session.commit()

    server.portal.call(store)


def _from_models(server, transcript_id: str) -> bytes:
    """What the answer was when it was built from the models."""

    async def build() -> bytes:
        async with server.app.state.reflector.sessions() as session:
            loaded = await repository.load_segments(session, transcript_id)
            names = await service.speaker_names(session, transcript_id)
            return _MODELS.dump_json(service.segments_out(loaded, names))

    return server.portal.call(build)


@pytest.mark.parametrize("count", [0, 3, 600])
def test_segments_are_the_models_json_byte_for_byte(server, count):
    ann, bob = make_person(server, "ann"), make_person(server, "bob")
    row = make_transcript(server, ann.id)
    _stored(server, row.id, _segments(count, seed=count), {0: "Ana", 2: "Chloé"})
    url = f"/v1/transcripts/{row.id}/segments"
    expected = _from_models(server, row.id)

    plain = server.get(url, headers={**ann.key_headers(), "Accept-Encoding": "identity"})
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"] == "application/json"
    assert "content-encoding" not in plain.headers
    assert plain.content == expected
    body = plain.json()
    assert body[-1]["words"] == [
        {"start": 9000.0, "end": 9001.0, "text": "Bare", "probability": 1.0, "speaker": None}
    ]
    assert body[-1]["speaker_name"] == "Chloé"
    assert [s["index"] for s in body] == list(range(count + 1))

    zipped = server.get(url, headers={**ann.key_headers(), "Accept-Encoding": "gzip, br"})
    assert zipped.status_code == 200
    assert zipped.content == expected  # decoded by the client
    large = len(expected) >= GZIP_MINIMUM
    assert zipped.headers.get("content-encoding") == ("gzip" if large else None)
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert server.get(url, headers=bob.key_headers()).status_code == 404
    assert server.get(url).status_code == 401


def test_large_answers_are_valid_gzip_on_the_wire(server):
    ann = make_person(server, "ann")
    row = make_transcript(server, ann.id)
    _stored(server, row.id, _segments(600, seed=1), {})
    url = f"/v1/transcripts/{row.id}/segments"
    with server.stream("GET", url, headers={**ann.key_headers(), "Accept-Encoding": "gzip"}) as r:
        wire = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    expected = _from_models(server, row.id)
    assert int(r.headers["content-length"]) == len(wire) < len(expected) / 2
    assert gzip.decompress(wire) == expected


@pytest.mark.parametrize(
    ("header", "taken"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, GZIP;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, br", False),
        ("identity", False),
        ("", False),
        ("deflate", False),
        ("gzip;q=nonsense", False),
        ("*;q=0, gzip", True),
        ("gzip;q=0, *", False),
    ],
)
def test_accept_encoding_is_read_like_a_browser_sends_it(header, taken):
    assert accepts_gzip(header) is taken


def _topics_from_models(server, transcript_id: str) -> bytes:
    """What ``/topics`` answered when it was built from the models."""

    async def build() -> bytes:
        async with server.app.state.reflector.sessions() as session:
            found = await repository.load_topics(session, transcript_id)
            loaded = await repository.load_segments(session, transcript_id)
            topics = []
            for topic in found:
                covered = list(range(topic.first_segment, min(topic.last_segment + 1, len(loaded))))
                words = [w for i in covered for w in loaded[i].words]
                per_speaker: dict[str, list[Word]] = {}
                for word in words:
                    per_speaker.setdefault(str(word.speaker), []).append(word)
                topics.append(
                    from_row(
                        TopicOut,
                        topic,
                        segments=covered,
                        words=words,
                        words_per_speaker=per_speaker,
                    )
                )
            return _TOPIC_MODELS.dump_json(topics)

    return server.portal.call(build)


def test_topics_are_the_models_json_byte_for_byte(server):
    ann, bob = make_person(server, "ann"), make_person(server, "bob")
    row = make_transcript(server, ann.id)
    url = f"/v1/transcripts/{row.id}/topics"
    assert server.get(url, headers=ann.key_headers()).content == b"[]"
    _stored(server, row.id, _segments(400, seed=5), {1: "Ben"})
    spans = [(0, 99), (100, 250), (251, 399), (390, 999)]  # the last runs past the end

    async def add() -> None:
        async with server.app.state.reflector.sessions() as session:
            session.add_all(
                TopicRow(
                    transcript_id=row.id,
                    position=n,
                    title=f"Topic {n} ✓",
                    summary="Über the budget.",
                    start=first * 2,
                    duration=60,
                    first_segment=first,
                    last_segment=last,
                    keyphrases=["budget"],
                )
                for n, (first, last) in enumerate(spans)
            )
            await session.commit()

    server.portal.call(add)
    expected = _topics_from_models(server, row.id)
    plain = server.get(url, headers={**ann.key_headers(), "Accept-Encoding": "identity"})
    assert plain.status_code == 200, plain.text
    assert plain.content == expected
    assert [t["segments"][-1] for t in plain.json()] == [99, 250, 399, 400]
    zipped = server.get(url, headers={**ann.key_headers(), "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == expected
    assert server.get(url, headers=bob.key_headers()).status_code == 404
