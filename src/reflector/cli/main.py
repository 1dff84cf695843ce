"""Entry point: ``reflector transcribe``, ``live``, ``models``, ``serve``, ``worker``, ``beat``,
``users`` and ``keys``.

Every failure ends with a one-line message on stderr and a non-zero exit code:
1 for a problem with the input or a model, 2 for a wrong command line.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reflector import __version__
from reflector.cli.accounts import keys, users
from reflector.errors import ReflectorError
from reflector.memory import allocator_environment, bound_native_caches
from reflector.settings import Settings, get_settings

if TYPE_CHECKING:
    from reflector.llm import LlmConfig

EXIT_FAILURE = 1
EXIT_USAGE = 2
FORMAT_HELP = (
    "text, timestamped, vtt, srt, json, md or rttm (default: from -o's extension, else text)"
)


class CliError(click.ClickException, ReflectorError):
    """A failure reported to the user as one line."""

    exit_code = EXIT_FAILURE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reflector")
def cli() -> None:
    """Reflector: offline transcripts, speakers and summaries for recordings."""
    from reflector.logging_setup import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


def _choose_format(fmt: str | None, output: Path | None) -> str:
    from reflector.export import FORMATS, format_for_path

    if fmt is None:
        return (format_for_path(output) if output else None) or "text"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise click.UsageError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    return fmt


def _choose_language(language: str) -> str | None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    language = language.lower()
    if language == "auto":
        return None
    if language not in _LANGUAGE_CODES:
        raise click.UsageError(
            f"unknown language '{language}': use 'auto' or a code such as en, de, es, fr"
        )
    return language


def _speaker_hints(exactly: int | None, at_least: int | None, at_most: int | None):
    from reflector.diarization import DiarizationOptions

    try:
        return DiarizationOptions(num_speakers=exactly, min_speakers=at_least, max_speakers=at_most)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _diarizer(settings):
    from reflector.diarization import make_diarizer

    try:
        return make_diarizer(
            settings.diarization_backend,
            url=settings.diarization_url,
            api_key=settings.diarization_api_key,
        )
    except ValueError as exc:
        raise CliError(f"diarization is misconfigured: {exc}") from exc


def _speaker_names(pairs: tuple[str, ...]) -> dict[int, str]:
    """``--speaker-name 2=Maria`` → ``{1: "Maria"}`` (people count speakers from 1)."""
    names: dict[int, str] = {}
    for pair in pairs:
        number, _, name = pair.partition("=")
        if not number.strip().isdigit() or int(number) < 1 or not name.strip():
            raise click.UsageError(f"--speaker-name wants NUMBER=NAME, e.g. 2=Maria, not '{pair}'")
        names[int(number) - 1] = name.strip()
    return names


def _track_names(values: tuple[str, ...], files: tuple[Path, ...]) -> list[str]:
    """Each track's speaker name: ``--speaker-name N=NAME`` for track N, a plain ``NAME`` for
    the next track not named so, else the file's name without its extension."""
    names = [path.stem for path in files]
    numbered: dict[int, str] = {}
    plain: list[str] = []
    for value in values:
        number, equals, name = value.partition("=")
        if equals and number.strip().isdigit():
            if not 1 <= int(number) <= len(files) or not name.strip():
                raise click.UsageError(
                    f"--speaker-name {value}: name a track from 1 to {len(files)}, e.g. 2=Maria"
                )
            numbered[int(number) - 1] = name.strip()
        elif value.strip():
            plain.append(value.strip())
        else:
            raise click.UsageError("--speaker-name needs a name")
    free = [i for i in range(len(files)) if i not in numbered]
    if len(plain) > len(free):
        raise click.UsageError(
            f"{len(values)} --speaker-name options for {len(files)} tracks: one name per track"
        )
    for index, name in zip(free, plain, strict=False):
        numbered[index] = name
    for index, name in numbered.items():
        names[index] = name
    return names


def _summary_writer_loader(llm_config: LlmConfig, llm_backend: str | None, data_dir: Path):
    """A function that loads the summary writer when (and only if) a summary is wanted."""
    from reflector.intelligence import load_writer

    if llm_backend:
        llm_config = replace(llm_config, backend=llm_backend)
    return lambda: load_writer(llm_config, data_dir)


def _write_atomically(path: Path, text: str) -> None:
    """Write next to the target, then rename, so a failure never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@cli.command()
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--multitrack",
    is_flag=True,
    help="The FILEs are one meeting, one track per participant (e.g. a Daily raw-tracks "
    "recording): each track is one speaker, named after its file unless --speaker-name says.",
)
@click.option("-f", "--format", "fmt", help=FORMAT_HELP)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
@click.option("-l", "--language", default="auto", show_default=True, help="Language code or auto.")
@click.option("-m", "--model", help="base, tiny.en or a CTranslate2 model directory.")
@click.option("--translate", is_flag=True, help="Translate the speech into English.")
@click.option("--beam-size", type=click.IntRange(1, 10), help="Beam width (default 5).")
@click.option("--batch-size", type=click.IntRange(1, 64), help="Windows decoded together.")
@click.option("--speakers", type=click.IntRange(1, 64), help="Exactly this many speakers.")
@click.option("--min-speakers", type=click.IntRange(1, 64), help="At least this many speakers.")
@click.option("--max-speakers", type=click.IntRange(1, 64), help="At most this many speakers.")
@click.option("--no-diarize", is_flag=True, help="Do not label speakers.")
@click.option(
    "--summarize/--no-summarize",
    default=None,
    help="Title, topics, summaries, action items and names (default: over a minute long).",
)
@click.option(
    "--llm",
    type=click.Choice(["local", "openai", "extractive"]),
    help="Who writes summaries (default REFLECTOR_LLM_BACKEND, else the bundled local model).",
)
@click.option("--summary-language", help="Language code of the summaries (default: spoken one).")
@click.option(
    "--speaker-name",
    "speaker_name",
    multiple=True,
    metavar="N=NAME",
    help="Name speaker N (as numbered in the output); repeat for more speakers. With "
    "--multitrack, a plain NAME names the next track, in the order of the FILEs.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no notes.")
@click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off.")
def transcribe(
    files: tuple[Path, ...],
    multitrack: bool,
    fmt: str | None,
    output: Path | None,
    language: str,
    model: str | None,
    translate: bool,
    beam_size: int | None,
    batch_size: int | None,
    speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    no_diarize: bool,
    summarize: bool | None,
    llm: str | None,
    summary_language: str | None,
    speaker_name: tuple[str, ...],
    quiet: bool,
    progress: bool | None,
) -> None:
    """Transcribe FILE (any audio or video) to text, subtitles, JSON or Markdown; with
    --multitrack, the FILEs of one meeting, one per participant."""
    from reflector.asr import ModelError
    from reflector.audio import AudioError
    from reflector.cli.progress_bar import progress_bar
    from reflector.diarization import DiarizationError
    from reflector.export import render
    from reflector.intelligence import SummaryOptions
    from reflector.pipelines.file import TranscribeOptions, transcribe_file
    from reflector.pipelines.multitrack import TracksError, TrackSource, transcribe_tracks

    settings = get_settings()
    llm_config = settings.llm
    asr = settings.asr_options(model)
    asr = replace(
        asr, beam_size=beam_size or asr.beam_size, batch_size=batch_size or asr.batch_size
    )
    chosen_format = _choose_format(fmt, output)
    if multitrack and (speakers or min_speakers or max_speakers):
        raise click.UsageError("--speakers, --min-speakers and --max-speakers do not apply to "
                               "--multitrack: each track is one speaker")  # fmt: skip
    if not multitrack and len(files) > 1:
        raise click.UsageError(
            f"{len(files)} FILEs given: transcribe one at a time, or add --multitrack if they "
            "are the tracks of one meeting (one per participant)"
        )
    file = files[0]
    track_names = _track_names(speaker_name, files) if multitrack else []
    diarize = not multitrack and not no_diarize and settings.diarization_backend != "off"
    options = TranscribeOptions.for_asr(
        asr,
        language=_choose_language(language),
        task="translate" if translate else "transcribe",
        diarize=diarize,
        speakers=_speaker_hints(speakers, min_speakers, max_speakers),
        summarize=summarize,
        summary=SummaryOptions(
            language=_choose_language(summary_language or llm_config.summary_language or "auto"),
            name_threshold=llm_config.name_threshold,
            speaker_names={} if multitrack else _speaker_names(speaker_name),
        ),
        max_audio_seconds=settings.max_audio_seconds,
    )
    show_progress = not quiet and (progress if progress is not None else sys.stderr.isatty())
    load_writer = _summary_writer_loader(llm_config, llm, settings.data_dir)
    label = f"{len(files)} tracks" if multitrack else file.name
    try:
        with progress_bar(show_progress, label) as on_progress:
            if multitrack:
                result = transcribe_tracks(
                    [
                        TrackSource(path, name)
                        for path, name in zip(files, track_names, strict=True)
                    ],
                    options,
                    settings.data_dir,
                    on_progress=on_progress,
                    load_writer=load_writer,
                )
            else:
                result = transcribe_file(
                    file,
                    options,
                    settings.data_dir,
                    on_progress=on_progress,
                    diarizer=_diarizer(settings) if diarize else None,
                    load_writer=load_writer,
                )
    except (AudioError, ModelError, DiarizationError, TracksError) as exc:
        raise CliError(str(exc)) from exc

    text = render(result, chosen_format, name=file.stem)
    if output:
        _write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    if not quiet:
        for note in result.notes:
            click.echo(f"reflector: note: {note}", err=True)
        for note in result.summary.notes if result.summary else []:
            click.echo(f"reflector: note: summary: {note}", err=True)


class NetworkRefused(CliError):
    """A setting that would expose the server is refused like a wrong command line."""

    exit_code = EXIT_USAGE


def _refuse_an_open_network(settings: Settings) -> None:
    """Single-user mode answers anyone as the local user: only on loopback, unless told."""
    from reflector.api.hosts import is_loopback

    if (
        settings.auth_mode == "single-user"
        and not is_loopback(settings.host)
        and not settings.allow_unauthenticated_network
    ):
        raise NetworkRefused(
            f"refusing to listen on {settings.host} in single-user mode, where anyone who "
            "reaches the port acts as the local user: set REFLECTOR_AUTH_MODE=multi-user "
            "(formerly REFLECTOR_AUTH_MODE=api-key), or "
            "REFLECTOR_ALLOW_UNAUTHENTICATED_NETWORK=true if a proxy in front authenticates"
        )


@cli.command()
@click.option("--host", help="Interface to listen on (default REFLECTOR_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default REFLECTOR_PORT, 1250).")
def serve(host: str | None, port: int | None) -> None:
    """Run the server: the /v1 API, live events, and jobs (in process by default)."""
    import uvicorn

    from reflector.api.app import create_app

    settings = get_settings()
    updates: dict[str, object] = {
        k: v for k, v in (("host", host), ("port", port)) if v is not None
    }
    if "freeze_startup_objects" not in settings.model_fields_set:
        updates["freeze_startup_objects"] = True  # this process is only the server
    settings = settings.model_copy(update=updates)
    _refuse_an_open_network(settings)
    try:
        app = create_app(settings)
    except ValueError as exc:
        raise CliError(f"the server is misconfigured: {exc}") from exc
    database = "PostgreSQL" if settings.database_url else "SQLite"
    click.echo(
        f"Reflector {__version__} on http://{settings.host}:{settings.port} "
        f"(API docs: /docs; {database}, {settings.storage_backend} storage, "
        f"{settings.jobs_backend} jobs; data: {settings.data_dir})",
        err=True,
    )
    if _only_loopback_names_trusted(settings):
        click.echo(
            f"reflector: note: listening on {settings.host}, but only this machine's names are "
            "trusted as Host: set REFLECTOR_PUBLIC_URL or REFLECTOR_TRUSTED_HOSTS so that "
            "other machines are answered",
            err=True,
        )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


def _only_loopback_names_trusted(settings: Settings) -> bool:
    """Listening on every interface with default trusted hosts answers other machines 400."""
    from reflector.api.hosts import LOOPBACK_NAMES, is_loopback, trusted_hosts

    return not is_loopback(settings.host) and set(trusted_hosts(settings)) <= set(LOOPBACK_NAMES)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--mic", is_flag=True, help="Stream from a microphone instead of a FILE.")
@click.option("--device", metavar="N",
              help="With --mic: microphone number (order of `arecord -l`, from 0) or an ALSA "
              "device name (default: the system's default input).")  # fmt: skip
@click.option("--seconds", type=click.FloatRange(0, min_open=True),
              help="With --mic: stop after this many seconds (default: at Ctrl-C).")  # fmt: skip
@click.option("--speed", type=click.FloatRange(0), default=1.0, show_default=True,
              help="1 is real time, 2 twice as fast, 0 as fast as it can.")  # fmt: skip
@click.option("-l", "--language", default="en", show_default=True, help="Language code.")
@click.option("-m", "--model", help="Whisper model (default REFLECTOR_LIVE_MODEL, tiny.en).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON line per update (final and interim words, timings) "
              "instead of captions.")  # fmt: skip
def live(
    file: Path | None,
    mic: bool,
    device: str | None,
    seconds: float | None,
    speed: float,
    language: str,
    model: str | None,
    as_json: bool,
) -> None:
    """Stream FILE as if it were spoken now, or a microphone (--mic), and print captions.

    With --mic, Ctrl-C stops and prints the final transcript."""
    import json
    import shutil
    import time

    from reflector.asr import ModelError, load_whisper_for, resolve_model
    from reflector.audio import AudioError, decode_file
    from reflector.export.timecode import duration_hms
    from reflector.live.harness import stream_samples
    from reflector.live.microphone import MicrophoneError, open_microphone
    from reflector.live.streaming import LiveOptions, LiveUpdate, StreamingTranscriber
    from reflector.vad import shared_vad

    if mic and file is not None:
        raise click.UsageError("give a FILE or --mic, not both")
    if not mic and file is None:
        raise click.UsageError("give a FILE to stream, or --mic to stream a microphone")
    if not mic and (device is not None or seconds is not None):
        raise click.UsageError("--device and --seconds go with --mic")
    settings = get_settings()
    microphone = None
    try:
        # The microphone first: a missing one is reported before a model loads.
        microphone = open_microphone(device, seconds) if mic else None
        samples = (
            decode_file(file, max_seconds=settings.max_audio_seconds).samples
            if file is not None
            else None
        )
        engine = load_whisper_for(
            settings.asr_options(),
            resolve_model(model or settings.live_model, settings.data_dir),
        )
    except (AudioError, ModelError, MicrophoneError) as exc:
        if microphone is not None:
            microphone.close()
        raise CliError(str(exc)) from exc
    transcriber = StreamingTranscriber(
        engine, shared_vad(), LiveOptions(language=_choose_language(language))
    )
    if transcriber.speakers is not None:  # a few seconds, once: labels from the first word
        transcriber.speakers.wait_until_ready(timeout=60)
    shown = sys.stdout.isatty() and not as_json
    started = time.perf_counter()
    final_words: list[str] = []
    speaking: list[int | None] = [None]

    def with_speakers(words: list) -> str:
        """Words with ``[S1]``-style live speaker tags where the speaker changes."""
        parts = []
        for word in words:
            if word.speaker is not None and word.speaker != speaking[0]:
                speaking[0] = word.speaker
                parts.append(f" [S{word.speaker + 1}]")
            parts.append(word.text)
        return "".join(parts)

    def show(update: LiveUpdate) -> None:
        if as_json:
            click.echo(json.dumps(_update_json(update, time.perf_counter() - started)))
            return
        final = with_speakers(update.final)
        interim = "".join(w.text for w in update.interim)
        final_words.extend(w.text for w in update.final)
        for topic in update.topics:  # on stderr: the captions on stdout stay plain text
            span = f"{duration_hms(topic.start)}-{duration_hms(topic.end)}"
            clear = "\r\033[K" if shown else ""
            click.echo(
                f"{clear}reflector: topic {topic.index + 1} ({span}): {topic.title}", err=True
            )
        if shown:
            # A terminal: final words stay, each batch on its line; the interim ones (grey) are
            # rewritten in place below them, cut to one screen line so no old text is left.
            if final:
                click.echo(f"\r\033[K{final.strip()}")
            tail = interim.strip()[-(shutil.get_terminal_size().columns - 1) :]
            click.echo(f"\r\033[K\033[2m{tail}\033[0m", nl=False)
        elif final:
            click.echo(final.strip())

    if microphone is not None:
        _stream_microphone(transcriber, microphone, show)
    else:
        stream_samples(transcriber, samples, speed=speed, on_update=show)
    if shown:
        click.echo("\r\033[K", nl=False)
        if microphone is not None:  # the captions scrolled by: the whole text once more
            click.echo(f"\nTranscript:\n{''.join(final_words).strip()}")
    stats = transcriber.stats
    click.echo(
        f"reflector: {stats.audio_seconds:.1f} s of audio, {stats.decodes} decodes, "
        f"real-time factor {stats.real_time_factor:.2f}",
        err=True,
    )


def _update_json(update, wall: float) -> dict:
    """One line of ``reflector live --json``: an update's words and when it came."""

    def words(items: list) -> list[dict]:
        return [
            w.model_dump(include={"text", "start", "end", "probability", "speaker"}) for w in items
        ]

    return {
        "final": words(update.final),
        "interim": words(update.interim),
        "audio_time": update.audio_time,
        "wall": round(wall, 3),
        "degraded": update.degraded,
        "skipped": update.skipped,
    }


def _stream_microphone(transcriber, microphone, show) -> None:
    """Captions until the capture ends or Ctrl-C; what was captured before is still decoded.

    The first Ctrl-C only asks to stop (so the last words become final and are printed); a
    second one leaves at once."""
    import signal
    import threading

    from reflector.live.microphone import MicrophoneError, stream_microphone

    stop = threading.Event()

    def interrupted(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        with microphone:
            click.echo(f"reflector: listening to {microphone.description}; Ctrl-C stops", err=True)
            stream_microphone(transcriber, microphone, stop, show)
    except MicrophoneError as exc:
        raise CliError(str(exc)) from exc
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        click.echo("reflector: stopped", err=True)
    if microphone.dropped_seconds:
        click.echo(
            f"reflector: note: {microphone.dropped_seconds:.1f} s of audio were dropped "
            "(decoding fell behind); a faster model or machine avoids that",
            err=True,
        )


@cli.command()
def models() -> None:
    """List the bundled models: whether installed, where, their source packages and licences."""
    from rich.console import Console
    from rich.table import Table

    from reflector.asr import bundled_model_status
    from reflector.diarization.campplus import campplus_model_status
    from reflector.llm import llm_model_status
    from reflector.tts.piper import piper_model_status

    settings = get_settings()
    table = Table("model", "installed", "description", "source package", "licence")
    table.add_column("location", overflow="fold")  # a path is worth more whole than short
    rows = [
        *(("", status) for status in bundled_model_status(settings.data_dir)),
        ("", campplus_model_status()),
        ("", piper_model_status()),
        *(("summaries: ", status) for status in llm_model_status(settings.data_dir)),
    ]
    for role, status in rows:
        table.add_row(
            status.name,
            "yes" if status.installed else "no",
            role + status.description,
            _package_list(status.packages),
            status.licence,
            str(status.path) if status.path else status.note,
        )
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    click.echo(
        f"speech: {settings.asr_model} (REFLECTOR_ASR_MODEL); summaries: {settings.llm_backend}"
        f" backend, {settings.llm_model} (REFLECTOR_LLM_BACKEND, REFLECTOR_LLM_MODEL); "
        f"data: {settings.data_dir}"
    )


def _package_list(packages: tuple[str, ...]) -> str:
    # Six numbered part packages read better as one range than as six names.
    if len(packages) > 2 and all(p.rstrip("0123456789").endswith("-part") for p in packages):
        return f"{packages[0]} … {packages[-1]}"
    return ", ".join(packages)


def _celery_app_or_fail():
    """The Celery app, once the broker answers; a clear error instead of endless retries."""
    from reflector.bus import redact_url
    from reflector.jobs.celery_app import app

    broker = app.conf.broker_url
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:
        raise CliError(
            f"cannot reach the job broker at {redact_url(broker)} ({exc}); start Redis or set "
            "REFLECTOR_CELERY_BROKER_URL / REFLECTOR_REDIS_URL"
        ) from exc
    return app


def _run_celery(app, argv: list[str]) -> None:
    code = app.start(argv)
    if code:
        raise click.exceptions.Exit(code)


@cli.command()
@click.option(
    "-Q",
    "--queues",
    default="audio,llm,quick",
    show_default=True,
    help="Comma-separated queues to take work from: audio, llm, quick.",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Tasks run at once (one job already uses every core).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "solo"]),
    default="prefork",
    show_default=True,
    help="prefork: tasks in child processes (a crash loses only the child); solo: in this one.",
)
def worker(queues: str, concurrency: int, pool: str) -> None:
    """Run a job worker for the distributed mode (REFLECTOR_JOBS_BACKEND=celery)."""
    from reflector.jobs.celery_app import QUEUES

    chosen = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if not chosen or unknown:
        raise click.UsageError(
            f"unknown queue {', '.join(unknown) or '(none given)'}: choose from {', '.join(QUEUES)}"
        )
    settings = get_settings()
    if settings.bus_backend == "memory":
        click.echo(
            "reflector: note: REFLECTOR_BUS_BACKEND=memory: live events from this worker will not "
            "reach the server (they are still stored); set it to redis",
            err=True,
        )
    app = _celery_app_or_fail()
    _run_celery(
        app,
        [
            "worker",
            f"--queues={','.join(chosen)}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            # Several workers may share a host: the pid keeps their names apart.
            f"--hostname=reflector-{os.getpid()}@%h",
        ],
    )


@cli.command()
def beat() -> None:
    """Run the scheduler of the distributed mode (one per installation): resends lost jobs."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = _celery_app_or_fail()
    _run_celery(app, ["beat"])


cli.add_command(users)
cli.add_command(keys)


_LONG_RUNNING = frozenset({"serve", "worker"})
"""Commands that run for days: they get the allocator that keeps their memory level."""


def _restart_with_steady_allocator() -> None:
    """Run this command again, in this process, with jemalloc preloaded (see
    ``reflector.memory``), when it is a long-running one and jemalloc is there to be had."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command not in _LONG_RUNNING:
        return
    environ = allocator_environment(os.environ)
    if environ is None:
        return
    with contextlib.suppress(OSError):  # it cannot be started again: run as it is
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, turning every error into one line on stderr and an exit code."""
    if argv is None:  # the process's own command line, not a call from other code
        _restart_with_steady_allocator()
    # OpenMP threads (PyTorch, CTranslate2, llama.cpp) otherwise busy-wait between tasks, which
    # makes them several times slower when anything else shares the cores (llama.cpp generated
    # 2.5 instead of 5.8 tokens/s on 2 busy cores). Must precede the libraries' loading; an
    # explicit setting is kept. The server and workers start here too.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    bound_native_caches(os.environ)  # a server or worker otherwise grows with every shape
    try:
        cli.main(args=argv, prog_name="reflector", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message(), err=True)  # the help text itself
        return EXIT_USAGE
    except click.UsageError as exc:
        click.echo(f"reflector: error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"reflector: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("reflector: interrupted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
