"""Apertium, rule-based and offline: English↔Spanish, French↔Spanish, English↔French via Spanish.

The ``apertium`` command starts a chain of about a dozen processes per call, each loading its
transducer from disk: around 100-400 ms before the first word. Live captions need a few
milliseconds, so each direction runs its chain once and keeps it: the stages of the pair's
``.mode`` file are started in *null-flush* mode (``-z``), where every stage translates and
flushes what it has read whenever a NUL byte arrives. One translation is one write of
``text + NUL`` and one read up to the answering NUL.

The plain-text deformatter and reformatter (``apertium-destxt``/``-retxt``) do not pass NUL
through, so their small job is done here: reserved characters are escaped, and escapes and
"superblanks" (``[...]``, text Apertium must leave alone) are undone on the way back.

Unknown words are not marked: the generator runs with ``-n`` (Apertium's own unmarked
generation, what ``apertium -u`` does), which drops the ``*`` (unknown word), ``#`` (no
generated form) and ``@`` (no bilingual entry) marks without touching a ``#`` or ``*`` the
speaker's text really had.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from reflector.translation.types import (
    DEFAULT_MAX_CHARS,
    CheckedTranslator,
    Pair,
    TranslationError,
    TranslationUnavailableError,
    UnsupportedPairError,
    describe_pairs,
    normalize_pair,
)

APERTIUM_MODES_DIR = Path("/usr/share/apertium") / "modes"
"""Where the Debian packages put the modes; :func:`~reflector.translation.build_translator`
uses ``Settings.apertium_datadir`` (``APERTIUM_DATADIR``) instead."""
PIVOT_LANGUAGES = ("es", "en", "fr")
"""Tried in this order to chain two directions when no direct one exists (the installed pairs
all meet in Spanish)."""

# Apertium names newer pairs with ISO 639-3 codes (``eng-spa``), older ones with 639-1.
_ISO3_TO_ISO1 = {
    "eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "por": "pt", "cat": "ca", "glg": "gl",
    "ita": "it", "oci": "oc", "deu": "de", "ger": "de", "nld": "nl", "ron": "ro", "eus": "eu",
    "arg": "an", "epo": "eo", "swe": "sv", "dan": "da", "nob": "nb", "nno": "nn", "isl": "is",
    "pol": "pl", "rus": "ru", "ukr": "uk", "bel": "be", "ces": "cs", "slk": "sk", "hbs": "sh",
    "bul": "bg", "mkd": "mk", "kaz": "kk", "tat": "tt",
}  # fmt: skip

_RESERVED = frozenset("\\[]^$/@<>{}")
"""Characters with a meaning in Apertium's stream format; escaped with a backslash, as
``apertium-destxt`` does."""
_READ_CHUNK = 65536


@dataclass(frozen=True)
class ApertiumMode:
    """One installed translation direction."""

    source: str
    target: str
    name: str
    """The mode's own name, e.g. ``eng-spa``."""
    path: Path


def _iso1(code: str) -> str | None:
    if len(code) == 2 and code.isalpha():
        return code.lower()
    return _ISO3_TO_ISO1.get(code)


def find_modes(modes_dir: Path = APERTIUM_MODES_DIR) -> dict[Pair, ApertiumMode]:
    """The installed directions, by (source, target) ISO 639-1 codes.

    Variants (``spa-eng_US``) and special modes (``eco-es-fr``) are skipped: one direction per
    pair, the plain one.
    """
    modes: dict[Pair, ApertiumMode] = {}
    if not modes_dir.is_dir():
        return modes
    for path in sorted(modes_dir.glob("*.mode")):
        parts = path.stem.split("-")
        if len(parts) != 2 or "_" in path.stem:
            continue
        source, target = _iso1(parts[0]), _iso1(parts[1])
        if source and target and source != target:
            modes.setdefault((source, target), ApertiumMode(source, target, path.stem, path))
    return modes


def mode_stages(mode_path: Path) -> list[list[str]]:
    """The command lines of a mode's stages, set up for null-flush and unmarked generation.

    A ``.mode`` file is a shell pipeline whose ``$1`` is the generator's option (``-g``
    marks unknown words, ``-n`` does not) and whose ``$2`` is an optional tagger option.
    """
    text = mode_path.read_text(encoding="utf-8").strip()
    stages = []
    for part in text.split("|"):
        words = shlex.split(part)
        if not words:
            raise TranslationUnavailableError(f"{mode_path} has an empty stage")
        program, arguments = words[0], words[1:]
        arguments = [word for word in arguments if word != "$2"]
        if program == "lt-proc":
            arguments = ["-n" if word in ("$1", "-g") else word for word in arguments]
        arguments = [word for word in arguments if word != "$1"]
        stages.append([program, "-z", *arguments])
    return stages


def escape_text(text: str) -> str:
    """Plain text as an Apertium stream: one line, reserved characters escaped.

    ``~`` is the post-generator's own marker, so it goes in a superblank (left untouched);
    line breaks become spaces (captions are one line); NUL would end the request early.
    """
    out = []
    for char in " ".join(text.replace("\0", " ").split()):
        if char in _RESERVED:
            out.append("\\" + char)
        elif char == "~":
            out.append("[~]")
        else:
            out.append(char)
    return "".join(out)


def unescape_output(stream: str) -> str:
    """An Apertium output stream as plain text: escapes undone, superblank brackets dropped."""
    out = []
    index, length = 0, len(stream)
    while index < length:
        char = stream[index]
        if char == "\\" and index + 1 < length:
            out.append(stream[index + 1])
            index += 2
            continue
        if char in "[]":
            index += 1
            continue
        out.append(char)
        index += 1
    # A dropped word (English "I" has no Spanish counterpart) leaves its blanks behind.
    return re.sub(r"[ \t]{2,}", " ", "".join(out)).strip()


_live_pipelines: weakref.WeakSet[ApertiumPipeline] = weakref.WeakSet()


@atexit.register
def _close_pipelines() -> None:
    for pipeline in list(_live_pipelines):
        pipeline.close()


class ApertiumPipeline:
    """One direction's stages, running as long as this object: started on first use,
    restarted when a stage dies, stopped by :meth:`close` or at interpreter exit.

    A lock serialises requests: the stream is one conversation, so two threads must not
    interleave their writes.
    """

    def __init__(self, mode: ApertiumMode, *, timeout: float = 15.0) -> None:
        self.mode = mode
        self.timeout = timeout
        """Seconds one translation may take (the first includes loading the transducers)."""
        self.stages = mode_stages(mode.path)
        self.starts = 0
        """How often the stages were started (1 + restarts)."""
        self._requests = 0
        self._processes: list[subprocess.Popen[bytes]] = []
        self._owner = os.getpid()
        """The process that started the stages: a forked child must not use or stop them."""
        self._stderr: IO[bytes] | None = None
        self._lock = threading.Lock()
        _live_pipelines.add(self)

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of the running stages, first to last (empty before the first call)."""
        return tuple(process.pid for process in self._processes)

    @property
    def alive(self) -> bool:
        if not self._processes or self._owner != os.getpid():
            return False
        return all(process.poll() is None for process in self._processes)

    def _start(self) -> None:
        missing = sorted({argv[0] for argv in self.stages if shutil.which(argv[0]) is None})
        if missing:
            raise TranslationUnavailableError(
                f"Apertium's {', '.join(missing)} not found; install the Debian packages "
                "apertium, apertium-eng-spa and apertium-fr-es"
            )
        # Stages complain on stderr; keep it in a file (a pipe nobody reads would fill up
        # and block them) so a failure can say what went wrong.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the stages)
        env = {**os.environ, "LC_ALL": "C.UTF-8"}  # the tools need a UTF-8 locale
        previous = None
        try:
            for argv in self.stages:
                process = subprocess.Popen(
                    argv,
                    stdin=previous if previous is not None else subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=self._stderr,
                    env=env,
                )
                if previous is not None:
                    previous.close()  # only the next stage may hold it, or EOF never arrives
                previous = process.stdout
                self._processes.append(process)
        except OSError as error:
            self._stop()
            raise TranslationUnavailableError(f"cannot start Apertium: {error}") from error
        self._owner = os.getpid()
        self.starts += 1

    def _stop(self) -> None:
        processes, self._processes = self._processes, []
        if self._owner != os.getpid():
            # Inherited through fork: the stages serve the parent. Drop our copies of the
            # pipes and start our own on demand.
            for process in processes:
                for stream in (process.stdin, process.stdout):
                    with contextlib.suppress(OSError):
                        if stream:
                            stream.close()
            self._stderr = None
            return
        for process in processes:
            with contextlib.suppress(OSError):
                if process.stdin:
                    process.stdin.close()
        for process in processes:
            with contextlib.suppress(OSError):
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
            with contextlib.suppress(OSError):
                if process.stdout:
                    process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError):
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 400))
            tail = self._stderr.read().decode("utf-8", errors="replace").strip()
            return f": {tail}" if tail else ""
        return ""

    def _exchange(self, text: str) -> str:
        """Send one text and read its translation.

        Raises ``OSError``/``EOFError`` if a stage died and ``TimeoutError`` if the answer
        does not come. The text travels between two superblanks carrying a request number,
        which Apertium passes through untouched: an answer without them is not this text's
        (a dying chain flushes an empty answer on its way down) and counts as a dead stage.
        The closing superblank also gives the last word the blank the bilingual lookup needs
        to see where it ends (without one, ``lt-proc -b`` waits for more input).
        """
        first, last = self._processes[0], self._processes[-1]
        assert first.stdin is not None and last.stdout is not None
        self._requests += 1
        tag = f"[{self._requests}]"
        pending = memoryview((tag + escape_text(text) + tag).encode("utf-8") + b"\0")
        # Write and read together: a long text's answer could fill the last pipe before the
        # request is written, and a blocking write would then wait forever.
        write_fd, read_fd = first.stdin.fileno(), last.stdout.fileno()
        os.set_blocking(write_fd, False)
        poller = select.poll()
        poller.register(write_fd, select.POLLOUT)
        poller.register(read_fd, select.POLLIN)
        answer = bytearray()
        deadline = time.monotonic() + self.timeout
        while not answer.endswith(b"\0"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            for fd, _ in poller.poll(remaining * 1000):
                if fd == write_fd:
                    with contextlib.suppress(BlockingIOError):
                        pending = pending[os.write(write_fd, pending[:_READ_CHUNK]) :]
                    if not pending:
                        poller.unregister(write_fd)
                else:
                    chunk = os.read(read_fd, _READ_CHUNK)
                    if not chunk:
                        raise EOFError
                    answer += chunk
        decoded = answer[:-1].decode("utf-8", errors="replace")
        if not (decoded.startswith(tag) and decoded.endswith(tag) and len(decoded) >= 2 * len(tag)):
            raise EOFError(f"answer out of step: {decoded[:80]!r}")
        return unescape_output(decoded[len(tag) : len(decoded) - len(tag)])

    def translate(self, text: str) -> str:
        """``text`` (already checked) through this direction; restarts dead stages once."""
        with self._lock:
            for attempt in (1, 2):
                if not self.alive:
                    self._stop()
                    self._start()
                try:
                    answer = self._exchange(text)
                except (OSError, EOFError) as error:
                    # A stage died (killed, out of memory): start afresh and ask again once.
                    detail = self._stderr_tail()
                    self._stop()
                    if attempt == 2:
                        raise TranslationUnavailableError(
                            f"Apertium {self.mode.name} stopped while translating{detail}"
                        ) from error
                    continue
                except TimeoutError as error:
                    # The stream is out of step now; only a fresh start fixes that.
                    detail = self._stderr_tail()
                    self._stop()
                    raise TranslationError(
                        f"Apertium {self.mode.name} gave no answer within {self.timeout:g} s"
                        f"{detail}"
                    ) from error
                return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the stages; the next :meth:`translate` starts them again."""
        with self._lock:
            self._stop()


_pipelines: dict[Path, ApertiumPipeline] = {}
_pipelines_lock = threading.Lock()


def shared_pipeline(mode: ApertiumMode) -> ApertiumPipeline:
    """The process-wide pipeline of a mode: every translator in this process shares it."""
    key = mode.path.resolve()
    with _pipelines_lock:
        pipeline = _pipelines.get(key)
        if pipeline is None:
            pipeline = _pipelines[key] = ApertiumPipeline(mode)
        return pipeline


def _tools_installed() -> bool:
    return all(shutil.which(tool) for tool in ("lt-proc", "apertium-tagger", "apertium-transfer"))


class ApertiumTranslator(CheckedTranslator):
    """:class:`~reflector.translation.types.Translator` over the installed Apertium pairs.

    Pairs without a direct direction are chained through a pivot language both sides reach
    (English→French is English→Spanish→French). ``context`` is ignored: rules translate
    sentence by sentence.
    """

    name = "apertium"

    def __init__(
        self, modes_dir: Path = APERTIUM_MODES_DIR, *, max_chars: int = DEFAULT_MAX_CHARS
    ) -> None:
        self.modes_dir = modes_dir
        self.max_chars = max_chars
        self._modes: dict[Pair, ApertiumMode] | None = None

    @property
    def modes(self) -> dict[Pair, ApertiumMode]:
        if self._modes is None:
            self._modes = find_modes(self.modes_dir) if _tools_installed() else {}
        return self._modes

    def route(self, source: str, target: str) -> list[ApertiumMode] | None:
        """The directions that make up ``source → target``, or ``None`` if none do."""
        direct = self.modes.get((source, target))
        if direct is not None:
            return [direct]
        for pivot in PIVOT_LANGUAGES:
            first, second = self.modes.get((source, pivot)), self.modes.get((pivot, target))
            if first is not None and second is not None:
                return [first, second]
        return None

    def pairs(self) -> set[Pair]:
        languages = {language for pair in self.modes for language in pair}
        return {
            (source, target)
            for source in languages
            for target in languages
            if source != target and self.route(source, target) is not None
        }

    def pipeline(self, source: str, target: str) -> ApertiumPipeline:
        """The running process chain of one direct direction (to watch or restart it)."""
        source, target = normalize_pair(source, target)
        mode = self.modes.get((source, target))
        if mode is None:
            raise UnsupportedPairError(f"Apertium has no direct {source}→{target} direction")
        return shared_pipeline(mode)

    def _translate(self, text: str, source: str, target: str, context: Sequence[str]) -> str:
        route = self.route(source, target)
        if route is None:
            raise UnsupportedPairError(
                f"Apertium cannot translate {source}→{target}; installed: "
                f"{describe_pairs(self.pairs())}"
            )
        for mode in route:
            text = shared_pipeline(mode).translate(text)
            if not text:  # nothing survived (e.g. only an interjection the rules drop)
                break
        return text

    def close(self) -> None:
        """Stop this translator's process chains (they start again when next used)."""
        for mode in self.modes.values():
            key = mode.path.resolve()
            with _pipelines_lock:
                pipeline = _pipelines.get(key)
            if pipeline is not None:
                pipeline.close()
