// One transcript: title, status, summary, topics, the text by speaker, and its exports.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  api,
  exportUrl,
  type Participant,
  problemText,
  type Segment,
  type Topic,
  type Transcript as TranscriptData,
  type UserEvent,
} from "../api/client";
import { useUserEvents } from "../api/events";
import { EXPORT_FORMATS, type ExportFormat } from "../api/exportFormats";
import { ErrorMessage, Loading, StatusBadge } from "../components/common";
import { BackIcon, ChevronIcon, DownloadIcon } from "../components/icons";
import { clock, dateTime, durationWords, speakerLabel } from "../format";
import { Markdown } from "../markdown";
import { Link } from "../router";

interface Loaded {
  transcript: TranscriptData;
  segments: Segment[];
  topics: Topic[];
  participants: Participant[];
}

type View = { state: "loading" } | { state: "error"; message: string } | { state: "ready"; data: Loaded };

const SPEAKER_COLOURS = 8;

const FORMAT_LABELS: Record<ExportFormat, string> = {
  text: "Plain text (.txt)",
  timestamped: "Text with times (.txt)",
  vtt: "WebVTT captions (.vtt)",
  srt: "SubRip captions (.srt)",
  json: "JSON (.json)",
  md: "Markdown (.md)",
  rttm: "Speaker turns, RTTM (.rttm)",
  zip: "Everything (.zip)",
};

async function load(id: string): Promise<Loaded> {
  const path = { transcript_id: id };
  const [transcript, segments, topics, participants] = await Promise.all([
    api.GET("/v1/transcripts/{transcript_id}", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/segments", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/topics", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/participants", { params: { path } }),
  ]);
  if (!transcript.data) throw new Error(problemText(transcript.error, transcript.response));
  return {
    transcript: transcript.data,
    segments: segments.data ?? [],
    topics: topics.data ?? [],
    participants: participants.data ?? [],
  };
}

export function TranscriptPage({ id }: { id: string }) {
  const [view, setView] = useState<View>({ state: "loading" });
  const [reloads, setReloads] = useState(0);
  const request = useRef(0);

  const refresh = (quiet: boolean) => {
    const mine = ++request.current;
    if (!quiet) setView({ state: "loading" });
    load(id).then(
      (data) => mine === request.current && setView({ state: "ready", data }),
      (error: Error) =>
        mine === request.current && !quiet && setView({ state: "error", message: error.message }),
    );
  };
  useEffect(() => refresh(false), [id, reloads]);

  const onEvent = (event: UserEvent) => {
    if (event.transcript_id !== id) return;
    if (event.type === "TRANSCRIPT_STATUS") {
      setView((current) =>
        current.state === "ready"
          ? {
              state: "ready",
              data: {
                ...current.data,
                transcript: { ...current.data.transcript, status: event.data.value },
              },
            }
          : current,
      );
    }
    refresh(true);
  };
  useUserEvents({ onEvent, onReconnect: () => refresh(true) });

  const title =
    view.state === "ready"
      ? view.data.transcript.title || view.data.transcript.name || "Untitled transcript"
      : "Transcript";
  useEffect(() => {
    document.title = `${title} · Reflector`;
  }, [title]);

  return (
    <article aria-labelledby="transcript-heading">
      <Link class="back" href="/">
        <BackIcon />
        All transcripts
      </Link>
      {view.state === "loading" && <Loading label="Loading the transcript…" />}
      {view.state === "error" && (
        <>
          <h1 id="transcript-heading">Transcript</h1>
          <ErrorMessage message={view.message} onRetry={() => setReloads((n) => n + 1)} />
        </>
      )}
      {view.state === "ready" && <TranscriptView data={view.data} title={title} />}
    </article>
  );
}

function TranscriptView({ data, title }: { data: Loaded; title: string }) {
  const { transcript, segments, topics, participants } = data;
  const names = new Map<number, string>();
  for (const participant of participants) {
    if (participant.speaker !== null && participant.name) {
      names.set(participant.speaker, participant.name);
    }
  }
  const speakers = [
    ...new Set(segments.map((s) => s.speaker).filter((s): s is number => s !== null)),
  ].sort((a, b) => a - b);
  const nameOf = (segment: Segment) =>
    speakerLabel(
      segment.speaker,
      segment.speaker_name ?? (segment.speaker === null ? null : names.get(segment.speaker)),
    );

  return (
    <>
      <header class="transcript-head">
        <div class="card-row">
          <h1 id="transcript-heading">{title}</h1>
          <StatusBadge status={transcript.status} />
        </div>
        <p class="meta">
          <time dateTime={transcript.created_at}>{dateTime(transcript.created_at)}</time>
          {transcript.duration > 0 && (
            <span title={durationWords(transcript.duration)}>
              <span class="visually-hidden">Duration </span>
              {clock(transcript.duration)}
            </span>
          )}
          {speakers.length > 0 && (
            <span>{speakers.length === 1 ? "1 speaker" : `${speakers.length} speakers`}</span>
          )}
        </p>
        <ExportMenu id={transcript.id} />
      </header>
      {transcript.status === "error" && transcript.error && (
        <ErrorMessage message={`Processing failed: ${transcript.error}`} />
      )}
      {(transcript.status === "processing" || transcript.status === "uploaded") && (
        <p class="state" role="status">
          <span class="spinner" aria-hidden="true" />
          Processing: this page fills in when it is done.
        </p>
      )}
      {(transcript.short_summary || transcript.long_summary) && (
        <section aria-labelledby="summary-heading" class="panel">
          <h2 id="summary-heading">Summary</h2>
          {transcript.short_summary && <Markdown source={transcript.short_summary} />}
          {transcript.long_summary && transcript.long_summary !== transcript.short_summary && (
            <details class="long-summary">
              <summary>Full summary</summary>
              <Markdown source={transcript.long_summary} />
            </details>
          )}
        </section>
      )}
      {topics.length > 0 && (
        <section aria-labelledby="topics-heading" class="panel">
          <h2 id="topics-heading">Topics</h2>
          <ol class="topics">
            {topics.map((topic) => (
              <li key={topic.id}>
                <span class="time">{clock(topic.start)}</span>
                <div>
                  <h3>{topic.title}</h3>
                  {topic.summary && <p>{topic.summary}</p>}
                </div>
              </li>
            ))}
          </ol>
        </section>
      )}
      <section aria-labelledby="text-heading" class="panel">
        <h2 id="text-heading">Transcript</h2>
        {speakers.length > 0 && (
          <ul class="legend" aria-label="Speakers">
            {speakers.map((speaker) => (
              <li key={speaker} class={`speaker spk-${speaker % SPEAKER_COLOURS}`}>
                <span class="swatch" aria-hidden="true" />
                {speakerLabel(speaker, names.get(speaker))}
              </li>
            ))}
          </ul>
        )}
        {segments.length === 0 ? (
          <p class="hint">No words yet.</p>
        ) : (
          <ol class="segments">
            {turns(segments).map((turn) => {
              const first = turn[0]!;
              const colour = first.speaker === null ? "none" : first.speaker % SPEAKER_COLOURS;
              return (
                <li key={first.index} class={`segment spk-${colour}`}>
                  <div class="segment-head">
                    <span class="speaker-name">{nameOf(first)}</span>
                    <span class="time">{clock(first.start)}</span>
                  </div>
                  <p class="segment-text">
                    {turn.map((segment, i) => (
                      <span key={segment.index} data-index={segment.index}>
                        {i > 0 ? " " : ""}
                        {segment.text.trim()}
                      </span>
                    ))}
                  </p>
                </li>
              );
            })}
          </ol>
        )}
      </section>
    </>
  );
}

/** Consecutive segments of one speaker, read as one turn. */
function turns(segments: Segment[]): Segment[][] {
  const result: Segment[][] = [];
  for (const segment of segments) {
    const last = result[result.length - 1];
    if (last && last[0]!.speaker === segment.speaker) last.push(segment);
    else result.push([segment]);
  }
  return result;
}

function ExportMenu({ id }: { id: string }) {
  return (
    <details class="menu">
      <summary>
        <DownloadIcon />
        Export
        <ChevronIcon />
      </summary>
      <ul class="menu-list" aria-label="Export formats">
        {EXPORT_FORMATS.map((format) => (
          <li key={format}>
            <a href={exportUrl(id, format)} download data-format={format}>
              {FORMAT_LABELS[format]}
            </a>
          </li>
        ))}
      </ul>
    </details>
  );
}
