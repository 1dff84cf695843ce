// New transcript: drop or choose a recording, send it in resumable chunks with its progress,
// then go to the transcript page, which follows its processing. An upload cut by a reload or a
// lost connection goes on from where the server stands once the same file is chosen again.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText } from "../api/client";
import { type ServerInfo, serverInfo } from "../api/server";
import { ErrorMessage } from "../components/common";
import { UploadIcon } from "../components/icons";
import { bytes, timeLeft } from "../format";
import { LANGUAGES, languageName } from "../languages";
import { Link, navigate } from "../router";
import {
  CHUNK_BYTES,
  forgetUpload,
  type SavedUpload,
  sameFile,
  savedUpload,
  UploadError,
  type UploadProgress,
  uploadFile,
} from "../upload";

type Summaries = "auto" | "yes" | "no";

const SUMMARIES: Record<Summaries, boolean | null> = { auto: null, yes: true, no: false };

/** "weekly-sync_2024.m4a" -> "weekly-sync 2024" */
function nameFromFile(file: File): string {
  return file.name.replace(/\.[^.]+$/, "").replace(/[_]+/g, " ").trim() || file.name;
}

function percent(progress: UploadProgress): number {
  return progress.total ? Math.floor((progress.sent / progress.total) * 100) : 100;
}

async function deleteTranscript(id: string): Promise<void> {
  // Best effort: an idle transcript this page made for an upload that did not happen.
  await api
    .DELETE("/v1/transcripts/{transcript_id}", {
      params: { path: { transcript_id: id }, query: { permanent: true } },
    })
    .catch(() => undefined);
}

export function NewTranscript() {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("");
  const [summaries, setSummaries] = useState<Summaries>("auto");
  const [dragging, setDragging] = useState(false);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [resume, setResume] = useState<SavedUpload | null>(savedUpload);
  const [info, setInfo] = useState<ServerInfo | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const running = useRef<AbortController | null>(null);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = "New transcript · Reflector";
    serverInfo().then(setInfo, () => setInfo(null)); // the page works without it
    return () => running.current?.abort();
  }, []);

  const busy = progress !== null;

  const check = (chosen: File): string | null => {
    if (chosen.size === 0) return `“${chosen.name}” is empty: choose a recording with sound in it.`;
    const limit = info?.limits.max_upload_bytes;
    if (limit && chosen.size > limit) {
      return `“${chosen.name}” is ${bytes(chosen.size)}; this server takes files up to ${bytes(limit)}.`;
    }
    return null;
  };

  const start = async (chosen: File, saved: SavedUpload | null) => {
    const controller = new AbortController();
    running.current = controller;
    setError(null);
    setProgress({ phase: "uploading", sent: 0, total: chosen.size, rate: null, secondsLeft: null });
    let transcriptId = saved?.transcriptId ?? null;
    let lastTenth = -1;
    try {
      if (!transcriptId) {
        const created = await api.POST("/v1/transcripts", {
          body: {
            name: name.trim() || nameFromFile(chosen),
            source: "file",
            source_language: language || null,
          },
        });
        if (!created.data) {
          throw new UploadError(problemText(created.error, created.response), created.response.status);
        }
        transcriptId = created.data.id;
      }
      await uploadFile({
        file: chosen,
        transcriptId,
        uploadId: saved?.uploadId,
        summarize: saved ? saved.summarize : SUMMARIES[summaries],
        chunkBytes: Math.min(CHUNK_BYTES, info?.limits.upload_chunk_bytes ?? CHUNK_BYTES),
        signal: controller.signal,
        onProgress: (next) => {
          setProgress(next);
          const tenth = Math.floor(percent(next) / 10);
          if (tenth !== lastTenth) {
            lastTenth = tenth;
            setAnnouncement(`Uploaded ${tenth * 10}%`);
          }
        },
      });
      setResume(null);
      navigate(`/transcripts/${encodeURIComponent(transcriptId)}`);
    } catch (failure) {
      if (controller.signal.aborted) return;
      setProgress(null);
      const resumable = failure instanceof UploadError && failure.status === 0;
      if (resumable) {
        setResume(savedUpload());
      } else if (transcriptId) {
        // Refused (not audio, too large, …): the transcript made for it goes too, and the
        // form keeps what was typed, for another file.
        forgetUpload();
        setResume(null);
        void deleteTranscript(transcriptId);
      }
      setError(
        failure instanceof Error ? failure.message : "The upload failed. Please try again.",
      );
    } finally {
      if (running.current === controller) running.current = null;
    }
  };

  const choose = (chosen: File | undefined) => {
    if (!chosen || busy) return;
    setError(null);
    const problem = check(chosen);
    if (problem) {
      setFile(null);
      setError(problem);
      return;
    }
    setFile(chosen);
    if (resume && sameFile(resume, chosen)) {
      void start(chosen, resume); // the same file as the interrupted upload: go on at once
    }
  };

  const cancel = async () => {
    const saved = savedUpload();
    running.current?.abort();
    running.current = null;
    setProgress(null);
    setAnnouncement("Upload cancelled");
    forgetUpload();
    setResume(null);
    if (saved) await deleteTranscript(saved.transcriptId);
  };

  const discard = async () => {
    if (!resume) return;
    forgetUpload();
    setResume(null);
    await deleteTranscript(resume.transcriptId);
  };

  const englishOnly = info?.models.transcription.endsWith(".en") ?? false;

  return (
    <section aria-labelledby="new-heading" class="new">
      <div class="page-head">
        <h1 id="new-heading">New transcript</h1>
        <p class="hint">
          Upload a recording of a meeting (any audio or video file). Reflector writes down what
          was said, tells the speakers apart and summarises it. Or{" "}
          <Link href="/record">record from a microphone</Link>.
        </p>
      </div>

      {resume && !busy && (
        <div class="notice" role="status">
          <p>
            The upload of <strong>{resume.fileName}</strong> ({bytes(resume.size)}) stopped before
            it finished. Choose the same file again to go on where it stopped.
          </p>
          <button type="button" onClick={() => void discard()}>
            Discard it
          </button>
        </div>
      )}

      <form
        class="new-form"
        onSubmit={(event) => {
          event.preventDefault();
          if (file && !busy) void start(file, resume && sameFile(resume, file) ? resume : null);
          else if (!file) input.current?.focus();
        }}
      >
        <div
          class={`dropzone${dragging ? " dragging" : ""}${busy ? " disabled" : ""}`}
          onDragEnter={(event) => {
            event.preventDefault();
            if (!busy) setDragging(true);
          }}
          onDragOver={(event) => {
            event.preventDefault();
            if (event.dataTransfer) event.dataTransfer.dropEffect = busy ? "none" : "copy";
          }}
          onDragLeave={(event) => {
            if (!event.currentTarget.contains(event.relatedTarget as Node | null)) {
              setDragging(false);
            }
          }}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            choose(event.dataTransfer?.files[0]);
          }}
        >
          <input
            ref={input}
            id="file"
            type="file"
            class="file-input"
            accept="audio/*,video/*"
            disabled={busy}
            aria-describedby="file-hint"
            onChange={(event) => {
              choose(event.currentTarget.files?.[0]);
              event.currentTarget.value = ""; // choosing the same file again still counts
            }}
          />
          <label for="file" class="dropzone-label">
            <UploadIcon />
            <span class="dropzone-title">
              {file ? file.name : "Drop a recording here, or choose a file"}
            </span>
            <span id="file-hint" class="hint">
              {file
                ? `${bytes(file.size)} · choose another file to replace it`
                : `Audio or video${info ? `, up to ${bytes(info.limits.max_upload_bytes)}` : ""}`}
            </span>
          </label>
        </div>

        <div class="form-grid">
          <div class="field">
            <label for="name">Name</label>
            <input
              id="name"
              type="text"
              value={name}
              maxLength={500}
              disabled={busy}
              placeholder={file ? nameFromFile(file) : "From the file's name"}
              onInput={(event) => setName(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="language">Spoken language</label>
            <select
              id="language"
              value={language}
              disabled={busy}
              aria-describedby={englishOnly ? "language-note" : undefined}
              onChange={(event) => setLanguage(event.currentTarget.value)}
            >
              <option value="">Detect automatically</option>
              {LANGUAGES.map(([code, label]) => (
                <option key={code} value={code}>
                  {label}
                </option>
              ))}
            </select>
            {englishOnly && info && (
              <span id="language-note" class="hint">
                This server's model ({info.models.transcription}) understands{" "}
                {languageName("en")} only.
              </span>
            )}
          </div>
          <div class="field">
            <label for="summaries">Title, topics and summary</label>
            <select
              id="summaries"
              value={summaries}
              disabled={busy}
              onChange={(event) => setSummaries(event.currentTarget.value as Summaries)}
            >
              <option value="auto">For recordings over a minute</option>
              <option value="yes">Always</option>
              <option value="no">Never</option>
            </select>
          </div>
        </div>

        {error && <ErrorMessage message={error} />}

        {progress ? (
          <UploadStatus progress={progress} fileName={file?.name ?? ""} onCancel={cancel} />
        ) : (
          <div class="actions">
            <button type="submit" class="primary">
              <UploadIcon />
              Upload and transcribe
            </button>
          </div>
        )}
        <p class="visually-hidden" aria-live="polite">
          {announcement}
        </p>
      </form>
    </section>
  );
}

function UploadStatus(props: {
  progress: UploadProgress;
  fileName: string;
  onCancel: () => void;
}) {
  const { progress, fileName, onCancel } = props;
  const done = percent(progress);
  const details: string[] = [`${bytes(progress.sent)} of ${bytes(progress.total)}`];
  if (progress.phase === "uploading" && progress.rate) {
    details.push(`${(progress.rate / 1e6).toFixed(1)} MB/s`);
    if (progress.secondsLeft !== null) details.push(timeLeft(progress.secondsLeft));
  }
  let state = "Uploading";
  if (progress.phase === "retrying") {
    state = `Connection lost; trying again in ${progress.retryIn ?? 1} s`;
  } else if (progress.phase === "checking") {
    state = "Checking the file";
  }
  return (
    <div class="upload-status" role="group" aria-labelledby="upload-state">
      <div class="upload-head">
        <span id="upload-state">
          <strong>{fileName}</strong> · {state}
        </span>
        <span class="upload-percent">{done}%</span>
      </div>
      <progress
        class="bar"
        max={100}
        value={done}
        aria-label="Upload progress"
        aria-valuetext={`${done}%`}
      />
      <div class="upload-foot">
        <span class="meta upload-details">{details.join(" · ")}</span>
        <button type="button" onClick={onCancel} disabled={progress.phase === "checking"}>
          Cancel
        </button>
      </div>
    </div>
  );
}
