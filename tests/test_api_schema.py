"""Every operation in the OpenAPI schema, fed generated requests (valid and invalid ones).

Schemathesis drives the real app in-process on SQLite with a few transcripts that have segments,
topics, participants and action items. No request may get a 5xx, and every error must be a
problem document (``application/problem+json``). Path ids are sometimes swapped for the ids of
the seeded transcripts, so the handlers behind the 404 are exercised too.

Nothing is left out: the upload bodies are raw bytes that the schema does not describe (so the
generated requests send empty or arbitrary bodies, which must fail cleanly), and the WebSocket
routes are not part of the OpenAPI schema at all.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi

from reflector.api.app import create_app
from reflector.db import repository
from reflector.db.engine import make_engine, make_sessionmaker
from reflector.db.tables import TranscriptRow
from reflector.domain import MeetingSummary, Segment, Word
from reflector.domain.summary import ActionItems, Decision, NextStep, Participant, Topic
from reflector_testkit.servers import running_client, server_settings

PROBLEM = "application/problem+json"
SEEDED = 4
EXAMPLES = 20
"""Per operation and mode (valid, invalid): about 40 operations run in well under a minute."""
LINES = (
    (0, "Good morning everyone, let's review the release plan."),
    (1, "The billing service went live on Tuesday."),
    (0, "Who reviews the security checklist before Friday?"),
    (1, "I will take it and send notes to the team."),
)


def _segments() -> list[Segment]:
    segments, clock = [], 0.0
    for speaker, line in LINES:
        words = []
        for token in line.split():
            words.append(Word(text=" " + token, start=clock, end=clock + 0.3, speaker=speaker))
            clock += 0.35
        segments.append(
            Segment(
                text=line, start=words[0].start, end=words[-1].end, speaker=speaker, words=words
            )
        )
        clock += 0.5
    return segments


def _summary(index: int) -> MeetingSummary:
    return MeetingSummary(
        title=f"Release review {index}",
        short_summary="The team reviewed the release and the security checklist.",
        long_summary="## Release\nThe billing service is live.\n## Security\nA review is due.",
        topics=[
            Topic(
                title="Release",
                summary="Billing is live.",
                start=0,
                duration=4,
                first_segment=0,
                last_segment=1,
            ),
            Topic(
                title="Security",
                summary="Checklist review.",
                start=4,
                duration=5,
                first_segment=2,
                last_segment=3,
            ),
        ],
        action_items=ActionItems(
            decisions=[Decision(text="Ship the billing service", decided_by="Ana", time=0.0)],
            next_steps=[
                NextStep(
                    task="Review the security checklist", owner="Ben", deadline="Friday", time=4.0
                )
            ],
        ),
        participants=[Participant(speaker=0, name="Ana", confidence=0.9, evidence=["I'm Ana"])],
        speaker_names={0: "Ana"},
    )


Seeded = dict[str, dict[str, list[str]]]
"""Transcript id -> path parameter name -> ids of that transcript's participants, items, uploads."""


async def _seed(database_url: str) -> Seeded:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    seeded: Seeded = {}
    try:
        async with sessions() as session:
            for index in range(SEEDED):
                row = TranscriptRow(
                    user_id=repository.LOCAL_USER_ID,
                    name=f"Planning {index}",
                    status="ended",
                    source_language="en",
                    duration=12.5,
                    waveform=[0.1, 0.5, 0.2],
                    share_mode=("private", "public")[index % 2],
                )
                session.add(row)
                await session.flush()
                await repository.replace_segments(session, row.id, _segments())
                await repository.replace_summary(session, row.id, _summary(index))
                await session.flush()
                seeded[row.id] = {
                    "participant_id": [
                        p.id for p in await repository.load_participants(session, row.id)
                    ],
                    "item_id": [i.id for i in await repository.load_action_items(session, row.id)],
                }
            await session.commit()
    finally:
        await engine.dispose()
    return seeded


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory):
    data_dir: Path = tmp_path_factory.mktemp("schema-server")
    config = server_settings(data_dir, None, auth_mode="single-user")
    with running_client(config) as client:
        seeded = asyncio.run(_seed(config.resolved_database_url()))
        for transcript_id, children in seeded.items():
            opened = client.post(f"/v1/transcripts/{transcript_id}/uploads", json={"size": 64})
            assert opened.status_code == 201, opened.text
            children["upload_id"] = [opened.json()["id"]]
    return create_app(config), seeded


def _aim_at_seeded(case, seeded: Seeded) -> None:
    """Three in four generated ids become real ones (chosen by the generated value), so requests
    reach the handlers behind the 404: the transcript's, then its participant's, item's, upload's.
    """
    parameters = case.path_parameters or {}
    generated = parameters.get("transcript_id")
    if generated is None:
        return
    pick = zlib.crc32(str(generated).encode())
    if pick % 4 == 0:
        return
    transcript_id = list(seeded)[pick % len(seeded)]
    parameters["transcript_id"] = transcript_id
    for name, choices in seeded[transcript_id].items():
        if name in parameters and choices:
            parameters[name] = choices[pick % len(choices)]


def _destroys_transcripts(operation) -> bool:
    return operation.method.upper() == "DELETE" and operation.path.endswith("{transcript_id}")


def _content_type(response) -> str:
    value = response.headers.get("content-type", [""])
    return value[0] if isinstance(value, list) else value


def _check(case, client, seeded: Seeded, statuses: Counter) -> None:
    _aim_at_seeded(case, seeded)
    response = case.call_and_validate(session=client, checks=[not_a_server_error])
    statuses[response.status_code] += 1
    if response.status_code >= 400:
        assert _content_type(response).startswith(PROBLEM), (
            f"{case.method} {case.formatted_path} -> {response.status_code} "
            f"{_content_type(response)}: {response.text[:300]}"
        )


def test_no_server_errors_and_errors_are_problems(seeded_app):
    app, seeded = seeded_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deleting the seeded transcripts comes last, so every other operation can still reach them.
    operations.sort(key=_destroys_transcripts)
    assert len(operations) > 20
    # The ASGI client runs the app's lifespan once, around the whole run, on its own event loop.
    with asgi.get_client(app) as client:
        try:
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                    @given(case=operation.as_strategy(mode))
                    @settings(
                        max_examples=EXAMPLES,
                        deadline=None,
                        database=None,
                        derandomize=True,
                        phases=[Phase.explicit, Phase.generate],
                        suppress_health_check=list(HealthCheck),
                    )
                    def run(case) -> None:
                        _check(case, client, seeded, statuses)

                    try:
                        run()
                    except Unsatisfiable:
                        # No invalid request exists (no parameters, or only free-form strings).
                        assert mode is GenerationMode.NEGATIVE, operation.label
                    except Exception as error:  # keep going: report every broken operation
                        failures.append(f"{operation.label} ({mode}): {error}")
        finally:
            asgi.shutdown_lifespans()
    assert not failures, "\n\n".join(failures)
    # The run reached the handlers (not only the 404 for made-up ids) and the validation errors.
    assert statuses[200] > 50 and statuses[404] and statuses[422], statuses
