// A transcript being processed: the pipeline's stages with their progress, followed live from
// the transcript's events; a failure says why, with a button that runs the job again.
import { useRef, useState } from "preact/hooks";
import {
  api,
  problemText,
  type Transcript,
  type TranscriptEvent,
  type TranscriptStatus,
} from "../api/client";
import { useTranscriptEvents } from "../api/transcriptEvents";
import { CheckIcon, RetryIcon } from "../components/icons";
import { clock } from "../format";

/** The pipelines' stages, in order, with what each does: a file's (`pipelines/stages.py`) and,
 * under the same rows, a multitrack recording's (`aliases`, one track per speaker). */
const STAGES = [
  { key: "prepare", aliases: ["prepare_tracks"], label: "Decoding the audio", weight: 5 },
  {
    key: "transcribe",
    aliases: ["transcribe_tracks"],
    label: "Finding speech and transcribing it",
    weight: 60,
  },
  { key: "diarize", aliases: ["segments"], label: "Telling the speakers apart", weight: 15 },
  { key: "summarize", aliases: [], label: "Writing the title, topics and summary", weight: 15 },
  { key: "finish", aliases: [], label: "Finishing", weight: 5 },
] as const;

const PREVIEW_CHARS = 280;

interface Run {
  status: TranscriptStatus | null;
  error: string | null;
  /** Index in STAGES of the stage that started last; -1 before the first. */
  stage: number;
  duration: number;
  /** Seconds of audio transcribed so far. */
  heard: number;
  topics: number;
  preview: string;
}

function freshRun(duration: number): Run {
  return { status: null, error: null, stage: -1, duration, heard: 0, topics: 0, preview: "" };
}

/** The run after one more event; a new run (a retry, a reprocess) starts from nothing. */
function apply(run: Run, event: TranscriptEvent): Run {
  switch (event.type) {
    case "STATUS": {
      const value = event.data.value;
      if (value === "processing" && run.status !== "processing") {
        return { ...freshRun(run.duration), status: value };
      }
      return { ...run, status: value, error: event.data.error ?? null };
    }
    case "PROGRESS": {
      const name = event.data.stage;
      const index = STAGES.findIndex(
        (stage) => stage.key === name || (stage.aliases as readonly string[]).includes(name),
      );
      return index < 0 ? run : { ...run, stage: index };
    }
    case "DURATION":
      return { ...run, duration: event.data.duration };
    case "TRANSCRIPT": {
      const words = "words" in event.data ? event.data.words : event.data.final;
      const last = words[words.length - 1];
      if (!last) return run;
      const text = words.map((word) => word.text).join("");
      return {
        ...run,
        heard: Math.max(run.heard, last.end),
        preview: (run.preview + text).slice(-PREVIEW_CHARS),
      };
    }
    case "TOPIC":
      return { ...run, topics: run.topics + 1 };
    default:
      return run;
  }
}

type StageState = "done" | "running" | "waiting" | "failed";

function stageState(run: Run, index: number): StageState {
  if (run.status === "ended") return "done";
  if (index < run.stage) return "done";
  if (index === run.stage) return run.status === "error" ? "failed" : "running";
  return "waiting";
}

function transcribed(run: Run): number {
  return run.duration > 0 ? Math.min(1, run.heard / run.duration) : 0;
}

function overall(run: Run): number {
  if (run.status === "ended") return 100;
  let total = 0;
  STAGES.forEach((stage, index) => {
    const state = stageState(run, index);
    if (state === "done") total += stage.weight;
    else if (state === "running" && stage.key === "transcribe") {
      total += stage.weight * transcribed(run);
    }
  });
  return Math.min(99, Math.floor(total));
}

export function ProcessingView({
  transcript,
  onSettled,
  readOnly = false,
}: {
  transcript: Transcript;
  onSettled: () => void;
  /** Someone else's transcript: its failure is shown, the retry is its owner's. */
  readOnly?: boolean;
}) {
  const run = useRef<Run>(freshRun(transcript.duration));
  const [, rerender] = useState(0);
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<string | null>(null);

  useTranscriptEvents(transcript.id, true, {
    onOpen: () => {
      run.current = freshRun(transcript.duration); // the replay rebuilds it
      rerender((n) => n + 1);
    },
    onEvent: (event) => {
      const before = run.current.status;
      run.current = apply(run.current, event);
      rerender((n) => n + 1);
      const after = run.current.status;
      if (after !== before && (after === "ended" || after === "error")) onSettled();
    },
  });

  const current = run.current;
  // Until the replay says otherwise, the transcript's own status stands.
  const status = current.status ?? transcript.status;
  const error = status === "error" ? (current.error ?? transcript.error) : null;
  const done = overall(current);

  const retry = async () => {
    setRetrying(true);
    setRetryError(null);
    const { error: problem, response } = await api.POST("/v1/transcripts/{transcript_id}/process", {
      params: { path: { transcript_id: transcript.id } },
    });
    setRetrying(false);
    if (!response.ok) setRetryError(problemText(problem, response));
  };

  return (
    <section class="panel processing" aria-labelledby="processing-heading">
      <div class="processing-head">
        <h2 id="processing-heading">{status === "error" ? "Processing failed" : "Processing"}</h2>
        {status !== "error" && <span class="upload-percent">{done}%</span>}
      </div>
      {status !== "error" && (
        <progress
          class="bar"
          max={100}
          value={done}
          aria-label="Processing progress"
          aria-valuetext={`${done}%`}
        />
      )}
      <ol class="stages" aria-label="Stages">
        {STAGES.map((stage, index) => {
          const state = status === "error" && current.stage < 0 ? "waiting" : stageState(current, index);
          return (
            <li
              key={stage.key}
              class={`stage stage-${state}`}
              data-stage={stage.key}
              data-state={state}
              aria-current={state === "running" ? "step" : undefined}
            >
              <StageMark state={state} />
              <span class="stage-label">{stage.label}</span>
              <span class="stage-detail">
                <span class="visually-hidden">{STATE_WORDS[state]}</span>
                {stageDetail(stage.key, state, current)}
              </span>
            </li>
          );
        })}
      </ol>
      {current.preview && status !== "error" && (
        <p class="preview">
          <span class="hint">Heard so far: </span>…{current.preview.trimStart()}
        </p>
      )}
      {status === "error" && (
        <div class="state state-error" role="alert">
          <p>{error ? `Processing failed: ${error}` : "Processing failed."}</p>
          {!readOnly && (
            <button type="button" onClick={() => void retry()} disabled={retrying}>
              <RetryIcon />
              {retrying ? "Starting…" : "Try again"}
            </button>
          )}
        </div>
      )}
      {retryError && (
        <p class="field-error" role="alert">
          Could not start again: {retryError}
        </p>
      )}
    </section>
  );
}

const STATE_WORDS: Record<StageState, string> = {
  done: "Done. ",
  running: "In progress. ",
  waiting: "Waiting. ",
  failed: "Failed. ",
};

function stageDetail(key: string, state: StageState, run: Run): string {
  if (key === "transcribe" && state === "running" && run.duration > 0) {
    const share = Math.floor(transcribed(run) * 100);
    return `${clock(run.heard)} of ${clock(run.duration)} (${share}%)`;
  }
  if (key === "summarize" && state !== "waiting" && run.topics > 0) {
    return run.topics === 1 ? "1 topic" : `${run.topics} topics`;
  }
  return "";
}

function StageMark({ state }: { state: StageState }) {
  if (state === "done") {
    return (
      <span class="stage-mark" aria-hidden="true">
        <CheckIcon />
      </span>
    );
  }
  if (state === "running") return <span class="stage-mark spinner" aria-hidden="true" />;
  if (state === "failed") {
    return (
      <span class="stage-mark" aria-hidden="true">
        ✕
      </span>
    );
  }
  return <span class="stage-mark stage-dot" aria-hidden="true" />;
}
