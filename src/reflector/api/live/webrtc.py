"""Live audio over WebRTC: one aiortc peer connection per stream.

The browser offers an audio track (Opus, 48 kHz) and, optionally, a data channel; the answer
receives the track only. Decoded frames are resampled to 16 kHz mono float32 and handed on in
pieces of 100 ms. The data channel carries ``STOP`` from the client and live updates (JSON)
back to it. The stream ends at ``STOP``, when the peer closes, when the connection fails (a
vanished peer stops answering ICE consent checks), or when it never connects at all.

No STUN server is used unless configured: the default works on localhost and a LAN, and nothing
is sent to a third party.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from reflector.audio import SAMPLE_RATE
from reflector.errors import BadInputError

CONNECT_TIMEOUT = 20.0
"""Seconds for a new peer to connect; an answer nobody uses must not hold a transcript."""
STOP_GRACE = 0.3
"""After STOP, audio still in flight (RTP and the data channel are separate streams)."""
PIECE_SECONDS = 0.1
STOP_MESSAGES = {"STOP", '{"type":"stop"}', '{"type": "stop"}'}


class OfferError(BadInputError, ValueError):
    """An SDP offer that cannot start a stream; the message says why."""

    problem_type = "bad-sdp"


def check_offer(sdp: str) -> None:
    """Refuse what is not an SDP offer with an audio track we can receive."""
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("not an SDP offer: it must begin with 'v=0'")
    try:
        description = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError) as error:
        raise OfferError(f"the SDP offer cannot be parsed: {error}") from None
    audio = [m for m in description.media if m.kind == "audio"]
    if not audio:
        raise OfferError("the offer has no audio track (m=audio): add a microphone track")
    if not any(m.direction in (None, "sendrecv", "sendonly") for m in audio):
        raise OfferError("the offer's audio track does not send (direction recvonly/inactive)")


class LivePeer:
    """One client's connection: its audio goes to :meth:`stream`, :meth:`send` talks back."""

    def __init__(self, ice_servers: list[str] | None = None) -> None:
        servers = [RTCIceServer(urls=url) for url in ice_servers or []]
        # An explicit empty list: aiortc would otherwise ask a public STUN server.
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self._audio: MediaStreamTrack | None = None
        self._channel: RTCDataChannel | None = None
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self.end_reason: str | None = None
        """``stop``, ``closed``, ``failed``, ``track-ended`` or ``never-connected``."""
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._pc.on("track", self._on_track)
        self._pc.on("datachannel", self._on_datachannel)
        self._pc.on("connectionstatechange", self._on_state)

    async def accept_offer(self, sdp: str) -> None:
        """Take the client's offer; raises :class:`OfferError` when it is unusable."""
        check_offer(sdp)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except (ValueError, KeyError, IndexError) as error:
            raise OfferError(f"the SDP offer is not usable: {error}") from None
        for transceiver in self._pc.getTransceivers():
            # Audio is received, never sent; other media (video) is declined.
            transceiver.direction = "recvonly" if transceiver.kind == "audio" else "inactive"

    async def answer(self) -> str:
        """The SDP answer, with every local candidate in it (no trickle ICE)."""
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return self._pc.localDescription.sdp

    async def send(self, message: dict[str, Any]) -> None:
        """Tell the client on the data channel, if there is one; a vanished client is ignored."""
        self._send_now(message)

    def _send_now(self, message: dict[str, Any]) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            with contextlib.suppress(Exception):
                channel.send(json.dumps(message))

    async def stream(self, feed: Callable[[np.ndarray], Awaitable[None]]) -> str:
        """Hand the audio to ``feed`` until the stream ends; returns why it ended."""
        try:
            await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            self._end("never-connected")
        if self._audio is not None and not self._ended.is_set():
            reader = asyncio.create_task(self._read(self._audio, feed))
            await self._ended.wait()
            if self.end_reason == "stop":
                await asyncio.sleep(STOP_GRACE)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        else:
            await self._ended.wait()
        await self._flush(feed)
        return self.end_reason or "closed"

    async def close(self) -> None:
        self._end("closed")
        await self._pc.close()

    # --- internals ---------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        if not self._ended.is_set():
            self.end_reason = reason
            self._ended.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._audio is None:
            self._audio = track

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        self._channel = channel

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            text = message.decode(errors="replace") if isinstance(message, bytes) else message
            if text.strip() in STOP_MESSAGES:
                self._end("stop")
            else:
                reply = {"type": "error", "code": "bad-message", "message": 'send "STOP" to stop'}
                self._send_now(reply)

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed", "disconnected"):
            self._connected.set()  # nothing to wait for any more
            self._end(state)

    async def _read(self, track: MediaStreamTrack, feed: Callable[[np.ndarray], Awaitable[None]]):
        resampler = _Resampler()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self._end("track-ended")
                return
            samples = resampler.resample(frame)
            if samples.size:
                self._pending.append(samples)
                self._pending_samples += samples.size
            if self._pending_samples >= PIECE_SECONDS * SAMPLE_RATE:
                await self._flush(feed)

    async def _flush(self, feed: Callable[[np.ndarray], Awaitable[None]]) -> None:
        if not self._pending:
            return
        piece = np.concatenate(self._pending)
        self._pending, self._pending_samples = [], 0
        await feed(piece)


class _Resampler:
    """Decoded WebRTC frames (Opus: 48 kHz, usually stereo s16) → 16 kHz mono float32."""

    def __init__(self) -> None:
        self._resampler = self._new()

    @staticmethod
    def _new() -> av.AudioResampler:
        return av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def resample(self, frame: av.AudioFrame) -> np.ndarray:
        frame.pts = None  # count samples, not timestamps: lost packets must not add silence
        try:
            out = self._resampler.resample(frame)
        except ValueError:
            # The sender changed its format mid-stream (e.g. a renegotiated codec): start over.
            self._resampler = self._new()
            out = self._resampler.resample(frame)
        parts = [f.to_ndarray().reshape(-1) for f in out]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


async def close_peers(peers: set[LivePeer]) -> None:
    """Close every open peer: their streams end and their sessions wrap up."""
    await asyncio.gather(*(peer.close() for peer in list(peers)), return_exceptions=True)
