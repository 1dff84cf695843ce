// Correcting who said what: words chosen in the text (or a typed time range) go to a speaker or
// a participant, speakers are merged, and the last change can be taken back. Every change is
// the server's (`/speakers/assign`, `/speakers/merge`, participants), so the exports follow.
import type { RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Participant, problemText, type Segment } from "../api/client";
import { clock } from "../format";

/** One change that can be taken back: what it was, in words, and how to undo it. */
export interface Change {
  label: string;
  /** null when it was taken back, else the problem in words. */
  revert: () => Promise<string | null>;
}

const UNDO_DEPTH = 20;

/** The changes made on this page, newest last; `undo` takes back the newest. */
export function useUndo() {
  const [changes, setChanges] = useState<Change[]>([]);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState("");
  const push = (change: Change) => {
    setChanges((old) => [...old.slice(-(UNDO_DEPTH - 1)), change]);
    setMessage(`${change.label}. Undo with Ctrl+Z.`);
  };
  const undo = async (): Promise<boolean> => {
    const last = changes[changes.length - 1];
    if (!last || busy) return false;
    setBusy(true);
    let problem: string | null;
    try {
      problem = await last.revert();
    } catch {
      problem = "The server could not be reached. Check that it is running, then try again.";
    }
    setBusy(false);
    if (problem) {
      setMessage(`Could not undo “${last.label}”: ${problem}`);
      return false;
    }
    setChanges((old) => old.slice(0, -1));
    setMessage(`Undone: ${last.label}.`);
    return true;
  };
  return { last: changes[changes.length - 1], busy, message, setMessage, push, undo };
}

export type Undo = ReturnType<typeof useUndo>;

interface Span {
  start: number;
  end: number;
}

interface FlatWord extends Span {
  speaker: number | null;
  key: string;
}

/** Every word with its speaker, in order; a segment without words counts as one. */
function flatWords(segments: Segment[]): FlatWord[] {
  const words: FlatWord[] = [];
  for (const segment of segments) {
    for (const word of segment.words) {
      words.push({
        start: word.start,
        end: word.end,
        speaker: word.speaker ?? segment.speaker,
        key: `${word.start}|${word.end}|${word.text}`,
      });
    }
  }
  return words;
}

/** The assignments that give back to each word the speaker it had `before`: runs of
 * neighbouring words that changed, one per speaker they had. */
export function revertRuns(before: Segment[], after: Segment[]): (Span & { speaker: number })[] {
  const had = new Map(flatWords(before).map((word) => [word.key, word.speaker]));
  const runs: (Span & { speaker: number })[] = [];
  let run: (Span & { speaker: number }) | null = null;
  for (const word of flatWords(after)) {
    const old = had.get(word.key);
    if (old === undefined || old === null || old === word.speaker) {
      run = null;
    } else if (run && run.speaker === old) {
      run.end = word.end;
    } else {
      run = { start: word.start, end: word.end, speaker: old };
      runs.push(run);
    }
  }
  // The server takes a word whose middle lies in the range: a zero-length word still needs one.
  return runs.map((r) => (r.end > r.start ? r : { ...r, end: r.start + 0.001 }));
}

/** Whether a word that had no speaker `before` has one now: the server cannot take a speaker
 * away, so such a change cannot be undone. */
export function gaveFirstSpeaker(before: Segment[], after: Segment[]): boolean {
  const had = new Map(flatWords(before).map((word) => [word.key, word.speaker]));
  return flatWords(after).some((word) => had.get(word.key) === null && word.speaker !== null);
}

type Result = { error?: unknown; response: Response };

function failure({ error, response }: Result): string | null {
  return response.ok ? null : problemText(error, response);
}

/** "1:02.5", "62.5" or "1:01:02" → seconds; NaN when it is none of these. */
export function parseTime(text: string): number {
  const parts = text.trim().split(":");
  if (parts.length > 3 || parts.some((part) => !/^\d+(\.\d+)?$/.test(part))) return Number.NaN;
  return parts.reduce((total, part) => total * 60 + Number(part), 0);
}

function timeText(seconds: number): string {
  const tenths = Math.round((seconds % 1) * 10) % 10;
  return `${clock(seconds)}.${tenths}`;
}

/** The words chosen in `container` (by mouse, touch or keyboard selection) as a time span. */
function selectedSpan(container: HTMLElement, words: Span[]): Span | null {
  const selection = window.getSelection();
  if (!selection || selection.isCollapsed || selection.rangeCount === 0) return null;
  const range = selection.getRangeAt(0);
  if (!container.contains(range.commonAncestorContainer)) return null;
  const common = range.commonAncestorContainer;
  const scope = common instanceof Element ? common : common.parentElement;
  if (!scope) return null;
  // Only the words under the selection's common ancestor are looked at: a few, not thousands.
  const chosen = [
    ...(scope.closest("[data-w]") ? [scope.closest("[data-w]")!] : []),
    ...scope.querySelectorAll("[data-w]"),
  ].filter((element) => range.intersectsNode(element));
  if (chosen.length === 0) return null;
  const first = words[Number((chosen[0] as HTMLElement).dataset.w)];
  const last = words[Number((chosen[chosen.length - 1] as HTMLElement).dataset.w)];
  return first && last ? { start: first.start, end: Math.max(last.end, first.start + 0.001) } : null;
}

function isTyping(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return Boolean(
    element &&
      (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName)),
  );
}

export function SpeakerTools(props: {
  transcriptId: string;
  segments: Segment[];
  /** The words as the page numbers their elements (`data-w`). */
  words: Span[];
  speakers: number[];
  participants: Participant[];
  nameOfSpeaker: (speaker: number) => string;
  text: RefObject<HTMLElement>;
  undo: Undo;
  onSegments: (segments: Segment[]) => void;
  onReload: () => void;
}) {
  const { transcriptId, segments, words, speakers, participants, nameOfSpeaker, text, undo } = props;
  const { onSegments, onReload } = props;
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [target, setTarget] = useState("");
  const [mergeFrom, setMergeFrom] = useState("");
  const [mergeInto, setMergeInto] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const path = { transcript_id: transcriptId };
  const unplaced = participants.filter((p) => p.speaker === null);
  const nextSpeaker = Math.max(-1, ...speakers) + 1;

  // Choosing words in the text fills in the range.
  useEffect(() => {
    if (!open) return;
    let frame = 0;
    const onChange = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const span = text.current && selectedSpan(text.current, words);
        if (span) {
          setFrom(timeText(span.start));
          setTo(timeText(span.end + 0.05));
        }
      });
    };
    document.addEventListener("selectionchange", onChange);
    return () => {
      cancelAnimationFrame(frame);
      document.removeEventListener("selectionchange", onChange);
    };
  }, [open, words, text]);

  const range = (): Span | null => {
    const start = parseTime(from);
    const end = parseTime(to);
    if (Number.isNaN(start) || Number.isNaN(end)) {
      setProblem("Choose words in the text, or type a start and an end such as 1:05.5.");
      return null;
    }
    if (end <= start) {
      setProblem("The end must come after the start.");
      return null;
    }
    return { start, end };
  };

  const run = async (work: () => Promise<string | null>) => {
    setBusy(true);
    setProblem(null);
    let failed: string | null;
    try {
      failed = await work();
    } catch {
      failed = "The server could not be reached. Check that it is running, then try again.";
    }
    setBusy(false);
    setProblem(failed);
    return failed === null;
  };

  /** Puts back what `before` had, word by word; participants a merge removed come back. */
  const restore = (before: Segment[], removed: Participant[]) => async () => {
    const now = await api.GET("/v1/transcripts/{transcript_id}/segments", { params: { path } });
    if (!now.data) return problemText(now.error, now.response);
    if (gaveFirstSpeaker(before, now.data)) {
      return "Some of these words had no speaker before, and a speaker cannot be taken away: give them to the right speaker instead.";
    }
    let latest = now.data;
    for (const run of revertRuns(before, now.data)) {
      const back = await api.POST("/v1/transcripts/{transcript_id}/speakers/assign", {
        params: { path },
        body: run,
      });
      if (!back.data) return problemText(back.error, back.response);
      latest = back.data;
    }
    for (const person of removed) {
      const added = await api.POST("/v1/transcripts/{transcript_id}/participants", {
        params: { path },
        body: { name: person.name, speaker: person.speaker },
      });
      if (!added.response.ok) return problemText(added.error, added.response);
    }
    onSegments(latest);
    onReload();
    return null;
  };

  const assign = async (choice: string) => {
    const span = range();
    if (!span || !choice) {
      if (!choice) setProblem("Choose who said these words.");
      return;
    }
    const before = segments;
    const body =
      choice.startsWith("p:")
        ? { ...span, participant_id: choice.slice(2) }
        : { ...span, speaker: choice === "new" ? nextSpeaker : Number(choice.slice(2)) };
    const who = choice.startsWith("p:")
      ? (participants.find((p) => p.id === choice.slice(2))?.name ?? "a participant")
      : choice === "new"
        ? `${nameOfSpeaker(nextSpeaker)} (new)`
        : nameOfSpeaker(Number(choice.slice(2)));
    const ok = await run(async () => {
      const result = await api.POST("/v1/transcripts/{transcript_id}/speakers/assign", {
        params: { path },
        body,
      });
      if (result.data) onSegments(result.data);
      return failure(result);
    });
    if (ok) {
      window.getSelection()?.removeAllRanges();
      undo.push({
        label: `${clock(span.start)}–${clock(span.end)} given to ${who}`,
        revert: restore(before, []),
      });
      onReload();
    }
  };

  const merge = async () => {
    const source = Number(mergeFrom);
    const into = Number(mergeInto);
    if (mergeFrom === "" || mergeInto === "" || source === into) {
      setProblem("Choose two different speakers to merge.");
      return;
    }
    const before = segments;
    const removed = participants.filter((p) => p.speaker === source);
    const label = `${nameOfSpeaker(source)} merged into ${nameOfSpeaker(into)}`;
    const ok = await run(async () => {
      const result = await api.POST("/v1/transcripts/{transcript_id}/speakers/merge", {
        params: { path },
        body: { speakers: [source], into },
      });
      if (result.data) onSegments(result.data);
      return failure(result);
    });
    if (ok) {
      setMergeFrom("");
      undo.push({ label, revert: restore(before, removed) });
      onReload();
    }
  };

  // Keys, while nothing is being typed: Ctrl+Z takes back the last change; while the tools are
  // open, 1–9 give the chosen words to that speaker of the legend, N to a new one.
  const latest = useRef({ assign, speakers, undo, open });
  latest.current = { assign, speakers, undo, open };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event.target) || event.altKey) return;
      const { assign: give, speakers: known, undo: history, open: active } = latest.current;
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && !event.shiftKey) {
        if (history.last) {
          event.preventDefault();
          void history.undo();
        }
        return;
      }
      if (!active || event.ctrlKey || event.metaKey) return;
      const digit = /^[1-9]$/.test(event.key) ? Number(event.key) : 0;
      if (digit && known[digit - 1] !== undefined) {
        event.preventDefault();
        void give(`s:${known[digit - 1]}`);
      } else if (event.key === "n" || event.key === "N") {
        event.preventDefault();
        void give("new");
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  return (
    <details
      class="speaker-tools"
      open={open}
      onToggle={(event) => setOpen(event.currentTarget.open)}
    >
      <summary>Correct speakers</summary>
      <div class="speaker-tools-body">
        <form
          class="tool-row"
          aria-label="Give words to a speaker"
          onSubmit={(event) => {
            event.preventDefault();
            void assign(target);
          }}
        >
          <div class="field time-field">
            <label for="assign-from">From</label>
            <input
              id="assign-from"
              inputMode="decimal"
              placeholder="0:00.0"
              value={from}
              onInput={(event) => setFrom(event.currentTarget.value)}
            />
          </div>
          <div class="field time-field">
            <label for="assign-to">To</label>
            <input
              id="assign-to"
              inputMode="decimal"
              placeholder="0:10.0"
              value={to}
              onInput={(event) => setTo(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="assign-speaker">Said by</label>
            <select
              id="assign-speaker"
              value={target}
              onChange={(event) => setTarget(event.currentTarget.value)}
            >
              <option value="">Choose…</option>
              {speakers.map((speaker, index) => (
                <option key={speaker} value={`s:${speaker}`}>
                  {nameOfSpeaker(speaker)}
                  {index < 9 ? ` (${index + 1})` : ""}
                </option>
              ))}
              {unplaced.map((person) => (
                <option key={person.id} value={`p:${person.id}`}>
                  {person.name}
                </option>
              ))}
              <option value="new">A new speaker (N)</option>
            </select>
          </div>
          <button type="submit" class="primary" disabled={busy}>
            Assign
          </button>
        </form>
        {speakers.length > 1 && (
          <form
            class="tool-row"
            aria-label="Merge two speakers"
            onSubmit={(event) => {
              event.preventDefault();
              void merge();
            }}
          >
            <SpeakerSelect
              id="merge-from"
              label="Merge"
              value={mergeFrom}
              speakers={speakers}
              nameOfSpeaker={nameOfSpeaker}
              onChange={setMergeFrom}
            />
            <SpeakerSelect
              id="merge-into"
              label="into"
              value={mergeInto}
              speakers={speakers}
              nameOfSpeaker={nameOfSpeaker}
              onChange={setMergeInto}
            />
            <button type="submit" disabled={busy}>
              Merge
            </button>
          </form>
        )}
        {problem && (
          <p class="field-error" role="alert">
            {problem}
          </p>
        )}
        <p class="hint" id="speaker-keys">
          Select words in the text, or type a time range. Keys: <kbd>1</kbd>–<kbd>9</kbd> give
          the selection to that speaker, <kbd>N</kbd> to a new one, <kbd>Ctrl</kbd>+<kbd>Z</kbd>{" "}
          undoes the last change.
        </p>
      </div>
    </details>
  );
}

/** The last change and a button that takes it back; its outcome is said aloud. */
export function UndoBar({ undo }: { undo: Undo }) {
  return (
    <div class="undo-bar">
      <p class="undo-message" role="status">
        {undo.message}
      </p>
      {undo.last && (
        <button
          type="button"
          class="small"
          disabled={undo.busy}
          aria-keyshortcuts="Control+Z"
          onClick={() => void undo.undo()}
        >
          Undo<span class="visually-hidden">: {undo.last.label}</span>
        </button>
      )}
    </div>
  );
}

/** A labelled choice of one of the transcript's speakers ("" until one is chosen). */
function SpeakerSelect(props: {
  id: string;
  label: string;
  value: string;
  speakers: number[];
  nameOfSpeaker: (speaker: number) => string;
  onChange: (value: string) => void;
}) {
  const { id, label, value, speakers, nameOfSpeaker, onChange } = props;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(event) => onChange(event.currentTarget.value)}>
        <option value="">Choose…</option>
        {speakers.map((speaker) => (
          <option key={speaker} value={String(speaker)}>
            {nameOfSpeaker(speaker)}
          </option>
        ))}
      </select>
    </div>
  );
}
