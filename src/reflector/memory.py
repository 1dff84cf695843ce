"""Memory housekeeping for a long-running server: freed memory handed back to the system, and
the objects that live as long as the process kept out of the garbage collector's way.

glibc's allocator keeps freed blocks inside its heaps for reuse and returns pages to the system
only from the top of a heap. After work whose buffers vary in size (speaker embeddings of
phrases of every length, decodes of every length, TTS of sentences of every length) a server
held hundreds of megabytes that were free but still counted in its RSS, which looks like a leak
from the outside: 300 CAM++ embeddings of random lengths left a process at 755 MB, 474 MB after
one ``malloc_trim(0)``. So the server calls it every little while (``run_periodically``).

Python's collector, for its part, walks every container object in a full collection: with the
models and libraries loaded a server holds some 370,000, and each full collection stopped it
for about 190 ms, at random, in the middle of requests (a transcript's 75 ms ``/segments``
answer took 300 ms now and then). :func:`freeze_long_lived_objects` moves what exists once the
server has started (code, models) out of the collector's reach; what requests create is
collected as before. That is process-wide, so only ``reflector serve`` does it
(``freeze_startup_objects``), not an app embedded in another program.

Two more bounds are process-wide too, so the ``reflector`` command sets them as it starts
(:func:`bound_native_caches`), before any thread or model exists:

* oneDNN, inside CTranslate2 and PyTorch, builds kernels for each input shape it meets and
  keeps the last 1,024 of them. Live decodes hear buffers of every length, so each decode added
  a shape: a process grew by about 1 MB a decode (+113 to +128 MB over 120 decodes of
  tiny.en), and would have kept growing to some 800 MB. With :data:`KERNEL_CACHE_CAPACITY`
  kernels it levels off after a few dozen decodes.
* glibc gives threads that allocate at the same moment arenas of their own, up to eight per
  core, and each keeps its own free blocks. :data:`ALLOCATOR_ARENAS` arenas took a 5-minute
  soak's server 100 MB lower (1,083 against 1,181 MB at rest).

Even so, a server running live sessions, speech synthesis and transcription side by side kept
growing under glibc: in a 10-minute soak of the full mix its RSS averaged 996, 1,066 and
1,103 MB over the last three 150 s, still rising, where with jemalloc (a background thread
returning unused pages after a few seconds) it was level after the first 150 s (1,122, 1,122,
1,129 MB). Over 30 minutes jemalloc's server kept growing too (+24 %), until Piper's voice
went without ONNX Runtime's arena under jemalloc (:mod:`reflector.tts.piper`): then +4.8 % over
30 minutes, level in the second half (``docs/benchmarks.md``, the soak). So the
long-running commands (``serve``, ``worker``) start again with it preloaded
where it is installed (:func:`allocator_environment`); ``REFLECTOR_ALLOCATOR=system`` keeps
glibc's.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Callable, Mapping, MutableMapping

from reflector.shutdown import wait_for_event

KERNEL_CACHE_CAPACITY = 64
"""oneDNN kernels kept per process (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``; its default: 1,024)."""
ALLOCATOR_ARENAS = 2
"""glibc malloc arenas per process (``MALLOC_ARENA_MAX``; its default: 8 per core)."""
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
JEMALLOC_SETTINGS = "background_thread:true"
"""Unused pages go back to the system from a thread of jemalloc's own, also while the server
is idle (without it, only when something allocates)."""


def bound_native_caches(environ: MutableMapping[str, str]) -> None:
    """Bound oneDNN's kernel cache and glibc's arenas for this process, unless ``environ`` sets
    them already. Call before the speech engines load and before threads start."""
    environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(KERNEL_CACHE_CAPACITY))
    if "MALLOC_ARENA_MAX" in environ:
        return  # glibc read it when the process started
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, ALLOCATOR_ARENAS)


def allocator_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment in which to run this process again with jemalloc preloaded, or ``None``
    where that is not wanted: jemalloc is preloaded already, ``REFLECTOR_ALLOCATOR`` is
    ``system``, or no jemalloc is installed (Debian's ``libjemalloc2``). Linux only: elsewhere
    the system's loader does not preload this way."""
    if not sys.platform.startswith("linux"):
        return None
    if environ.get("REFLECTOR_ALLOCATOR", "jemalloc").strip().lower() == "system":
        return None
    preloaded = environ.get("LD_PRELOAD", "")
    if "jemalloc" in preloaded:
        return None
    library = ctypes.util.find_library("jemalloc")
    if library is None:
        return None
    return {
        **environ,
        "LD_PRELOAD": f"{library} {preloaded}".strip(),
        "MALLOC_CONF": environ.get("MALLOC_CONF", JEMALLOC_SETTINGS),
    }


def jemalloc_in_use() -> bool:
    """Whether jemalloc serves this process's allocations (preloaded, see
    :func:`allocator_environment`): it hands freed pages back by itself, so engines can leave
    their buffers to it instead of keeping pools of their own."""
    return _mallctl() is not None


@functools.cache
def _mallctl() -> Callable[..., int] | None:
    """jemalloc's control function, or ``None`` where jemalloc is not preloaded."""
    try:
        return getattr(ctypes.CDLL(None), "mallctl", None)
    except OSError:
        return None


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, or ``None`` where the C library is another (musl, macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


_PURGE_ALL_ARENAS = b"arena.4096.purge"  # 4096: jemalloc's MALLCTL_ARENAS_ALL


def release_free_memory() -> bool:
    """Return the free pages of every heap to the system: glibc's, and jemalloc's where it is
    preloaded (its background thread does that too, but only after its decay time, seconds);
    whether any were returned (always ``False`` without glibc). Takes milliseconds; call it
    off the event loop."""
    mallctl = _mallctl()
    if mallctl is not None:
        mallctl(_PURGE_ALL_ARENAS, None, None, None, ctypes.c_size_t(0))
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def run_periodically(stop: asyncio.Event, seconds: float) -> None:
    """:func:`release_free_memory` every ``seconds`` (in a thread) until ``stop`` is set."""
    if seconds <= 0 or _libc() is None:
        return
    while not await wait_for_event(stop, seconds):
        await asyncio.to_thread(release_free_memory)


def freeze_long_lived_objects() -> None:
    """Collect the garbage there is, then keep every object alive now out of later collections
    (``gc.freeze``): for the objects of loaded code and models, which live as long as the
    process. Call once the server has started, and again after loading models."""
    gc.collect()
    gc.freeze()
