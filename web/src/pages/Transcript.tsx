// One transcript: its processing while it runs; then the player, title, summaries, action
// items, topics, the text by speaker (click a word to play from there), sharing and exports.
import { Component, Fragment, type RefObject } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  type ActionItem,
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
import {
  ActionItemsPanel,
  closeOnEscape,
  DeleteButton,
  ShareMenu,
  SpeakerName,
  SummaryPanel,
  TitleEditor,
} from "../components/edit";
import { BackIcon, ChevronIcon, DownloadIcon, PlayIcon } from "../components/icons";
import { type Lane, Player, type PlayerHandle } from "../components/Player";
import { SpeakerTools, UndoBar, useUndo } from "../components/speakers";
import { clock, dateTime, durationWords, speakerLabel } from "../format";
import { Link } from "../router";
import { ProcessingView } from "./Processing";

interface Loaded {
  transcript: TranscriptData;
  segments: Segment[];
  topics: Topic[];
  participants: Participant[];
  actionItems: ActionItem[];
}

type View = { state: "loading" } | { state: "error"; message: string } | { state: "ready"; data: Loaded };

const SPEAKER_COLOURS = 8;
/** A word stays highlighted this long after it ends, through short pauses. */
const WORD_LINGER_SECONDS = 1.5;

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

const IN_PROGRESS = new Set(["uploaded", "processing", "error"]);

async function load(id: string): Promise<Loaded> {
  const path = { transcript_id: id };
  const [transcript, segments, topics, participants, actionItems] = await Promise.all([
    api.GET("/v1/transcripts/{transcript_id}", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/segments", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/topics", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/participants", { params: { path } }),
    api.GET("/v1/transcripts/{transcript_id}/action-items", { params: { path } }),
  ]);
  if (!transcript.data) throw new Error(problemText(transcript.error, transcript.response));
  return {
    transcript: transcript.data,
    segments: segments.data ?? [],
    topics: topics.data ?? [],
    participants: participants.data ?? [],
    actionItems: actionItems.data ?? [],
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

  const change = (changes: Partial<Loaded>) =>
    setView((current) =>
      current.state === "ready" ? { state: "ready", data: { ...current.data, ...changes } } : current,
    );

  const onEvent = (event: UserEvent) => {
    if (event.transcript_id !== id) return;
    if (event.type === "TRANSCRIPT_DELETED") {
      // Deleted here (the page is on its way home) or elsewhere: nothing left to read.
      request.current += 1;
      setView({ state: "error", message: "This transcript was moved to the trash." });
      return;
    }
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
      {view.state === "ready" && (
        <TranscriptView
          data={view.data}
          title={title}
          onChange={change}
          onReload={() => refresh(true)}
        />
      )}
    </article>
  );
}

interface FlatWord {
  start: number;
  end: number;
}

/** The index of the word being said at `time`, or -1 between words. */
function wordAt(words: FlatWord[], time: number): number {
  let low = 0;
  let high = words.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (words[middle]!.start <= time) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found >= 0 && time <= words[found]!.end + WORD_LINGER_SECONDS ? found : -1;
}

/** One lane per speaker: their turns, neighbours joined. */
function speakerLanes(segments: Segment[], nameOf: (speaker: number) => string): Lane[] {
  const lanes = new Map<number, Lane>();
  for (const segment of segments) {
    if (segment.speaker === null) continue;
    let lane = lanes.get(segment.speaker);
    if (!lane) {
      lane = { speaker: segment.speaker, name: nameOf(segment.speaker), turns: [] };
      lanes.set(segment.speaker, lane);
    }
    const last = lane.turns[lane.turns.length - 1];
    if (last && segment.start - last[1] < 1) last[1] = Math.max(last[1], segment.end);
    else lane.turns.push([segment.start, segment.end]);
  }
  return [...lanes.values()].sort((a, b) => a.speaker - b.speaker);
}

function TranscriptView(props: {
  data: Loaded;
  title: string;
  onChange: (changes: Partial<Loaded>) => void;
  onReload: () => void;
}) {
  const { data, title, onChange, onReload } = props;
  const { transcript, segments, topics, participants, actionItems } = data;
  const player = useRef<PlayerHandle | null>(null);
  const text = useRef<HTMLOListElement>(null);
  const shownWord = useRef(-1);
  const undo = useUndo();

  const byspeaker = new Map<number, Participant>();
  for (const participant of participants) {
    if (participant.speaker !== null) byspeaker.set(participant.speaker, participant);
  }
  const nameOfSpeaker = (speaker: number) => speakerLabel(speaker, byspeaker.get(speaker)?.name);
  const speakers = [
    ...new Set(segments.map((s) => s.speaker).filter((s): s is number => s !== null)),
  ].sort((a, b) => a - b);
  // The same function while the participants stay: the text's pieces redraw only when it changes.
  const nameOf = useMemo(
    () => (segment: Segment) =>
      segment.speaker === null
        ? speakerLabel(null, segment.speaker_name)
        : (byspeaker.get(segment.speaker)?.name ??
          speakerLabel(segment.speaker, segment.speaker_name)),
    [participants],
  );

  // Every word in order, numbered as the page numbers their elements (`data-w`).
  const words = useMemo(() => {
    const flat: FlatWord[] = [];
    for (const segment of segments) {
      if (segment.words.length === 0) flat.push({ start: segment.start, end: segment.end });
      else for (const word of segment.words) flat.push({ start: word.start, end: word.end });
    }
    return flat;
  }, [segments]);
  const lanes = useMemo(() => speakerLanes(segments, nameOfSpeaker), [segments, participants]);

  // Called on every frame while playing: the highlight moves by touching two elements.
  const onTime = (time: number) => {
    const index = wordAt(words, time);
    if (index === shownWord.current || !text.current) return;
    text.current.querySelector(`[data-w="${shownWord.current}"]`)?.classList.remove("current");
    text.current.querySelector(`[data-w="${index}"]`)?.classList.add("current");
    shownWord.current = index;
  };

  const playable =
    transcript.has_audio && !transcript.audio_deleted && transcript.status === "ended";
  const onTextClick = (event: MouseEvent) => {
    if (!playable) return;
    const selection = window.getSelection();
    if (selection && !selection.isCollapsed) return; // selecting text is not a click on a word
    const word = (event.target as HTMLElement).closest<HTMLElement>("[data-t]");
    if (word) player.current?.seek(Number(word.dataset.t), true);
  };

  // Someone else's transcript shared with the reader (or a public link): read, never edited.
  const readOnly = transcript.shared_with_me;
  const editable = transcript.status === "ended" && !readOnly;
  const path = { transcript_id: transcript.id };
  /** A speaker's new name, and how to take it back: the old name, or no participant at all. */
  const onRenamed = (before: Participant | undefined, after: Participant) => {
    const old = before?.name ?? speakerLabel(after.speaker);
    undo.push({
      label: `${old} renamed to ${after.name}`,
      revert: async () => {
        // A later change taken back (a merge) may have made the participant anew: found again
        // by its speaker.
        const listed = await api.GET("/v1/transcripts/{transcript_id}/participants", {
          params: { path },
        });
        if (!listed.data) return problemText(listed.error, listed.response);
        const now =
          listed.data.find((p) => p.id === after.id) ??
          listed.data.find((p) => after.speaker !== null && p.speaker === after.speaker);
        const result = !now
          ? before
            ? await api.POST("/v1/transcripts/{transcript_id}/participants", {
                params: { path },
                body: { name: before.name, speaker: after.speaker },
              })
            : null
          : before
            ? await api.PATCH("/v1/transcripts/{transcript_id}/participants/{participant_id}", {
                params: { path: { ...path, participant_id: now.id } },
                body: { name: before.name },
              })
            : await api.DELETE("/v1/transcripts/{transcript_id}/participants/{participant_id}", {
                params: { path: { ...path, participant_id: now.id } },
              });
        if (result && !result.response.ok) return problemText(result.error, result.response);
        onReload();
        return null;
      },
    });
    onReload();
  };

  return (
    <>
      <header class="transcript-head">
        <div class="card-row">
          <TitleEditor
            transcript={transcript}
            title={title}
            onSaved={(saved) => onChange({ transcript: saved })}
            readOnly={readOnly}
          />
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
          {transcript.share_mode !== "private" && (
            <span>{transcript.share_mode === "public" ? "Public" : "Shared with signed-in users"}</span>
          )}
        </p>
        <div class="toolbar">
          <ExportMenu id={transcript.id} />
          {!readOnly && (
            <>
              <ShareMenu
                transcript={transcript}
                onSaved={(saved) => onChange({ transcript: saved })}
              />
              <DeleteButton transcript={transcript} title={title} />
            </>
          )}
        </div>
      </header>
      {transcript.status === "idle" && (
        <div class="state state-empty">
          <p>This transcript has no recording yet.</p>
          <p class="hint">
            <Link href="/new">Upload a recording</Link> to make a new transcript.
          </p>
        </div>
      )}
      {transcript.status === "recording" && (
        <div class="notice" role="note">
          <p>This meeting is being recorded now.</p>
          <Link href={`/transcripts/${encodeURIComponent(transcript.id)}/listen`}>
            Listen live in another language
          </Link>
        </div>
      )}
      {IN_PROGRESS.has(transcript.status) && (
        <ProcessingView
          key={transcript.id}
          transcript={transcript}
          onSettled={onReload}
          readOnly={readOnly}
        />
      )}
      {transcript.audio_deleted && (
        <p class="notice audio-deleted" role="note">
          The audio of this meeting was deleted because a participant asked for it; the text,
          speakers and summary stay.
        </p>
      )}
      {playable && (
        <Player
          transcriptId={transcript.id}
          duration={transcript.duration}
          topics={topics}
          lanes={lanes}
          handle={player}
          onTime={onTime}
        />
      )}
      {transcript.status === "ended" && (
        <SummaryPanel
          transcript={transcript}
          onSaved={(saved) => onChange({ transcript: saved })}
          readOnly={readOnly}
        />
      )}
      <ActionItemsPanel
        transcriptId={transcript.id}
        items={actionItems}
        readOnly={readOnly}
        onChanged={(item) =>
          onChange({ actionItems: actionItems.map((old) => (old.id === item.id ? item : old)) })
        }
      />
      {topics.length > 0 && (
        <section aria-labelledby="topics-heading" class="panel">
          <h2 id="topics-heading">Topics</h2>
          <ol class="topics">
            {topics.map((topic) => (
              <li key={topic.id}>
                <TimeButton seconds={topic.start} enabled={playable} player={player} />
                <div>
                  <h3>{topic.title}</h3>
                  {topic.summary && <p>{topic.summary}</p>}
                </div>
              </li>
            ))}
          </ol>
        </section>
      )}
      {(segments.length > 0 || transcript.status === "ended") && (
        <section aria-labelledby="text-heading" class="panel">
          <h2 id="text-heading">Transcript</h2>
          {speakers.length > 0 && (
            <ul class="legend" aria-label="Speakers">
              {speakers.map((speaker) => (
                <li key={speaker} class={`speaker spk-${speaker % SPEAKER_COLOURS}`}>
                  <span class="swatch" aria-hidden="true" />
                  <SpeakerName
                    transcriptId={transcript.id}
                    speaker={speaker}
                    name={nameOfSpeaker(speaker)}
                    participant={byspeaker.get(speaker)}
                    onSaved={onRenamed}
                    readOnly={readOnly}
                  />
                </li>
              ))}
            </ul>
          )}
          {editable && segments.length > 0 && (
            <SpeakerTools
              transcriptId={transcript.id}
              segments={segments}
              words={words}
              speakers={speakers}
              participants={participants}
              nameOfSpeaker={nameOfSpeaker}
              text={text}
              undo={undo}
              onSegments={(changed) => onChange({ segments: changed })}
              onReload={onReload}
            />
          )}
          <UndoBar undo={undo} />
          {playable && segments.length > 0 && (
            <p class="hint">Click a word to play the recording from there.</p>
          )}
          {segments.length === 0 ? (
            <p class="hint">No words yet.</p>
          ) : (
            <TranscriptText
              segments={segments}
              nameOf={nameOf}
              playable={playable}
              player={player}
              text={text}
              onClick={onTextClick}
            />
          )}
        </section>
      )}
    </>
  );
}

/** A word's text as `[space before it, the word]`: recognisers put the space in front of a
 * word. The space stays outside the word's element, so a highlight covers the word alone; a
 * turn's first word has none, a segment's first word gets one if it lacks it. */
function split(text: string, startsTurn: boolean, startsSegment: boolean): [string, string] {
  const body = text.trimStart();
  if (startsTurn) return ["", body];
  const space = text.slice(0, text.length - body.length);
  return [space || (startsSegment ? " " : ""), body];
}

function TimeButton(props: {
  seconds: number;
  enabled: boolean;
  player: { current: PlayerHandle | null };
}) {
  const { seconds, enabled, player } = props;
  if (!enabled) return <span class="time">{clock(seconds)}</span>;
  return (
    <button
      type="button"
      class="time time-button"
      aria-label={`Play from ${clock(seconds)}`}
      onClick={() => player.current?.seek(seconds, true)}
    >
      <PlayIcon />
      {clock(seconds)}
    </button>
  );
}

/** Consecutive segments of one speaker, read as one turn; `firstWord` numbers its first word
 * as the page numbers the words' elements (`data-w`: a segment without words counts as one). */
interface Turn {
  segments: Segment[];
  firstWord: number;
}

function turns(segments: Segment[]): Turn[] {
  const result: Turn[] = [];
  let words = 0;
  for (const segment of segments) {
    const last = result[result.length - 1];
    if (last && last.segments[0]!.speaker === segment.speaker) last.segments.push(segment);
    else result.push({ segments: [segment], firstWord: words });
    words += Math.max(1, segment.words.length);
  }
  return result;
}

/** About this many words go into the page per task while a long transcript comes in: a piece
 * takes a few tens of milliseconds on a slow machine, so the page keeps answering input. */
const WORDS_PER_PIECE = 800;

/** Turns in pieces of about WORDS_PER_PIECE words (whole turns). */
function pieces(all: Turn[]): Turn[][] {
  const result: Turn[][] = [];
  let piece: Turn[] = [];
  let words = 0;
  for (const turn of all) {
    const count = turn.segments.reduce((sum, s) => sum + Math.max(1, s.words.length), 0);
    if (piece.length > 0 && words + count > WORDS_PER_PIECE) {
      result.push(piece);
      piece = [];
      words = 0;
    }
    piece.push(turn);
    words += count;
  }
  if (piece.length > 0) result.push(piece);
  return result;
}

/** Runs `callback` in a task of its own soon, without the 4 ms wait of nested timers. */
function nextTask(callback: () => void): () => void {
  const channel = new MessageChannel();
  channel.port1.onmessage = callback;
  channel.port2.postMessage(null);
  return () => channel.port1.close();
}

interface PieceProps {
  turns: Turn[];
  nameOf: (segment: Segment) => string;
  playable: boolean;
  player: { current: PlayerHandle | null };
}

/** A piece of the text, redrawn only when its own props change: while the pieces after it come
 * in, the ones already in the page cost nothing. */
class TextPiece extends Component<PieceProps> {
  shouldComponentUpdate(next: PieceProps): boolean {
    const now = this.props;
    return (
      next.turns !== now.turns ||
      next.nameOf !== now.nameOf ||
      next.playable !== now.playable ||
      next.player !== now.player
    );
  }

  render() {
    const { turns: piece, nameOf, playable, player } = this.props;
    return (
      <>
        {piece.map((turn) => {
          const first = turn.segments[0]!;
          const colour = first.speaker === null ? "none" : first.speaker % SPEAKER_COLOURS;
          let wordIndex = turn.firstWord;
          return (
            <li key={first.index} class={`segment spk-${colour}`}>
              <div class="segment-head">
                <span class="speaker-name">{nameOf(first)}</span>
                <TimeButton seconds={first.start} enabled={playable} player={player} />
              </div>
              <p class="segment-text">
                {turn.segments.map((segment, i) => {
                  if (segment.words.length === 0) {
                    return (
                      <span key={segment.index} data-w={wordIndex++} data-t={segment.start}>
                        {i > 0 ? " " : ""}
                        {segment.text.trim()}
                      </span>
                    );
                  }
                  return segment.words.map((word, j) => {
                    const [space, body] = split(word.text, i === 0 && j === 0, j === 0);
                    return (
                      <Fragment key={`${segment.index}-${j}`}>
                        {space}
                        <span class="word" data-w={wordIndex++} data-t={word.start}>
                          {body}
                        </span>
                      </Fragment>
                    );
                  });
                })}
              </p>
            </li>
          );
        })}
      </>
    );
  }
}

/** The text by speaker. A long meeting's words (20,000 elements and more) go into the page a
 * piece per task, the first at once: the page shows its start and answers input at once, and
 * the whole text is there (for find in page, selection, the highlight) a moment later. Turns
 * off screen skip layout and paint (`content-visibility` in the styles). */
function TranscriptText(props: {
  segments: Segment[];
  nameOf: (segment: Segment) => string;
  playable: boolean;
  player: { current: PlayerHandle | null };
  text: RefObject<HTMLOListElement>;
  onClick: (event: MouseEvent) => void;
}) {
  const { segments, nameOf, playable, player, text, onClick } = props;
  const all = useMemo(() => pieces(turns(segments)), [segments]);
  // Once the whole text is in, a change (a speaker corrected) redraws it at once, in place.
  const [shown, setShown] = useState(1);
  const complete = shown >= all.length;
  useLayoutEffect(() => {
    if (complete) return;
    return nextTask(() => setShown((count) => count + 1));
  }, [shown, complete]);
  return (
    <ol
      class={`segments${playable ? " playable" : ""}`}
      ref={text}
      onClick={onClick}
      aria-busy={complete ? undefined : "true"}
    >
      {all.slice(0, shown).map((piece) => (
        <TextPiece
          key={piece[0]!.segments[0]!.index}
          turns={piece}
          nameOf={nameOf}
          playable={playable}
          player={player}
        />
      ))}
    </ol>
  );
}

function ExportMenu({ id }: { id: string }) {
  return (
    <details class="menu" onKeyDown={closeOnEscape}>
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
