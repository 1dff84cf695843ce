"""Streaming into a transcript over WebRTC (``POST /v1/transcripts/{id}/record/webrtc``).

A real aiortc client plays a generated speech file into the running server (Opus over RTP,
DTLS, SCTP data channel), as a browser would.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import light_server, wait_for_status

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def loopback_only():
    """ICE offers every interface but loopback; here both peers live on this machine, so they
    meet on 127.0.0.1 and no packet goes to any other address."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("aioice.ice.get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
        yield


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with light_server(tmp_path_factory.mktemp("webrtc")) as client:
        yield client


def _new(server) -> str:
    return server.post("/v1/transcripts", json={"name": "webrtc"}).json()["id"]


def _url(tid: str) -> str:
    return f"/v1/transcripts/{tid}/record/webrtc"


@dataclass
class Client:
    """A WebRTC peer that plays a file and collects what the data channel brings."""

    pc: RTCPeerConnection
    player: MediaPlayer
    channel: object
    messages: list[dict] = field(default_factory=list)
    played: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        await self.pc.close()
        self.player.audio.stop()  # ends the player's decoding thread

    async def wait_for_final_words(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(m.get("final") for m in self.messages):
            assert time.monotonic() < deadline, "no final words came back"
            await asyncio.sleep(0.1)


async def _offer(path) -> Client:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    player = MediaPlayer(str(path))
    pc.addTrack(player.audio)
    channel = pc.createDataChannel("control")
    client = Client(pc, player, channel)

    @channel.on("message")
    def on_message(message: str) -> None:
        client.messages.append(json.loads(message))
        if client.messages[-1]["type"] == "stopped":
            client.stopped.set()

    player.audio.on("ended", client.played.set)
    await pc.setLocalDescription(await pc.createOffer())
    return client


async def _connect(server, tid: str, path) -> Client:
    client = await _offer(path)
    body = {"sdp": client.pc.localDescription.sdp, "type": "offer"}
    response = await asyncio.to_thread(server.post, _url(tid), json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "answer" and answer["sdp"].startswith("v=0")
    await client.pc.setRemoteDescription(RTCSessionDescription(**answer))
    return client


def test_stream_gives_live_words_then_a_processed_transcript(server, piper_clip):
    tid = _new(server)

    async def session() -> list[dict]:
        client = await _connect(server, tid, piper_clip.path)
        await asyncio.wait_for(client.played.wait(), piper_clip.duration + 30)
        client.channel.send("STOP")
        await asyncio.wait_for(client.stopped.wait(), 60)
        await client.close()
        return client.messages

    messages = asyncio.run(session())
    words = [w for m in messages if m["type"] == "transcript" for w in m["final"]]
    live_text = "".join(w["text"] for w in words)
    # Opus at 48 kHz and back to 16 kHz costs Whisper nothing noticeable on clean speech.
    assert word_error_rate(piper_clip.text, live_text) <= 0.25, live_text
    assert any(m["type"] == "transcript" and m["interim"] for m in messages)
    # Everything played arrived (the first packets may be lost while the connection settles).
    assert messages[-1]["duration"] == pytest.approx(piper_clip.duration, abs=0.5)

    done = wait_for_status(server, tid, {"ended", "error"})
    assert done["status"] == "ended" and done["source"] == "live" and done["has_audio"]
    segments = server.get(f"/v1/transcripts/{tid}/segments").json()
    assert "security checklist" in " ".join(s["text"] for s in segments).lower()
    with server.websocket_connect(f"/v1/transcripts/{tid}/events") as events:
        first = events.receive_json()
    assert first["type"] in {"TRANSCRIPT", "STATUS"}


@pytest.mark.parametrize(
    ("sdp", "says"),
    [
        ("hello, I am not an offer", "must begin with 'v=0'"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "no audio track"),
        (
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n",
            "ICE",
        ),
    ],
    ids=["garbage", "no-audio", "no-ice-credentials"],
)
def test_malformed_sdp_is_a_400_and_the_transcript_stays_idle(server, sdp, says):
    tid = _new(server)
    response = server.post(_url(tid), json={"sdp": sdp, "type": "offer"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/bad-sdp") and says in problem["detail"], problem
    assert server.get(f"/v1/transcripts/{tid}").json()["status"] == "idle"


def test_wrong_request_shapes_are_refused(server):
    tid = _new(server)
    assert server.post(_url(tid), json={"sdp": "v=0", "type": "answer"}).status_code == 422
    assert server.post(_url(tid), content=b"{not json").status_code == 422
    missing = server.post(_url("no-such-transcript"), json={"sdp": "v=0", "type": "offer"})
    assert missing.status_code == 404


def test_a_second_offer_into_one_transcript_is_a_409(server, piper_clip):
    tid = _new(server)

    async def session():
        first = await _connect(server, tid, piper_clip.path)
        second = await _offer(piper_clip.path)
        body = {"sdp": second.pc.localDescription.sdp, "type": "offer"}
        refused = await asyncio.to_thread(server.post, _url(tid), json=body)
        await second.close()
        await first.wait_for_final_words()
        first.channel.send("hello?")  # not a command: answered, and the stream goes on
        while not any(m["type"] == "error" for m in first.messages):
            await asyncio.sleep(0.05)
        first.channel.send("STOP")
        await asyncio.wait_for(first.stopped.wait(), 60)
        await first.close()
        return refused, first.messages

    refused, messages = asyncio.run(session())
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/transcript-busy") and "recording" in problem["detail"]
    assert wait_for_status(server, tid, {"ended", "error"})["status"] == "ended"
    error = next(m for m in messages if m["type"] == "error")
    assert error["code"] == "bad-message" and "STOP" in error["message"]


def test_a_client_that_vanishes_keeps_its_audio(server, piper_clip):
    tid = _new(server)

    async def session() -> None:
        client = await _connect(server, tid, piper_clip.path)
        await client.wait_for_final_words()
        await client.close()  # no STOP: the connection just goes away

    asyncio.run(session())
    done = wait_for_status(server, tid, {"ended", "error"})
    assert done["status"] == "ended", done
    assert 1.0 <= done["duration"] < piper_clip.duration - 1.0, done
    assert server.get(f"/v1/transcripts/{tid}/segments").json()


def test_a_client_that_goes_silent_is_noticed_and_its_audio_kept(server, piper_clip):
    tid = _new(server)
    loop, client = _connected_until_words(server, tid, piper_clip.path)
    # The client's loop stops running, as in a crashed tab or a cable pulled: no more audio, no
    # close, and no answers to the server's ICE consent checks.
    started = time.monotonic()
    wait_for_status(server, tid, {"uploaded", "processing", "ended", "error"}, timeout=90)
    noticed = time.monotonic() - started
    done = wait_for_status(server, tid, {"ended", "error"})
    loop.run_until_complete(client.close())
    loop.close()
    assert done["status"] == "ended" and done["has_audio"], done
    assert noticed < 50, noticed  # consent expires after about 30 s without answers


def test_a_client_that_never_connects_frees_the_transcript(server, piper_clip):
    tid = _new(server)

    async def session() -> None:
        client = await _offer(piper_clip.path)
        body = {"sdp": client.pc.localDescription.sdp, "type": "offer"}
        response = await asyncio.to_thread(server.post, _url(tid), json=body)
        assert response.status_code == 200
        await client.close()  # the answer is never used

    asyncio.run(session())
    assert server.get(f"/v1/transcripts/{tid}").json()["status"] == "recording"
    done = wait_for_status(server, tid, {"idle"}, timeout=60)
    assert not done["has_audio"]


def test_shutdown_closes_the_peer_and_keeps_the_audio(tmp_path, piper_clip):
    client_state: dict = {}

    with light_server(tmp_path) as server:
        tid = _new(server)
        loop, client = _connected_until_words(server, tid, piper_clip.path)
    # The server is gone: its side of the connection was closed, not left to time out.
    client_state["after"] = loop.run_until_complete(_state_after(client))
    loop.run_until_complete(client.close())
    loop.close()
    assert client_state["after"] in {"closed", "failed"}

    with light_server(tmp_path) as server:  # the job queued at shutdown runs on restart
        done = wait_for_status(server, tid, {"ended", "error"})
        assert done["status"] == "ended" and done["has_audio"], done
        assert 1.0 <= done["duration"] < piper_clip.duration


def _connected_until_words(server, tid: str, path) -> tuple[asyncio.AbstractEventLoop, Client]:
    """A client on an event loop of its own, streaming until the server has sent final words.
    The loop is then left stopped, like a frozen tab's, until the test runs it again."""

    async def until_words() -> Client:
        client = await _connect(server, tid, path)
        await client.wait_for_final_words()
        return client

    loop = asyncio.new_event_loop()
    return loop, loop.run_until_complete(until_words())


async def _state_after(client: Client, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while client.pc.connectionState not in {"closed", "failed"} and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return client.pc.connectionState
