// A file sent to the resumable upload API in chunks: each chunk is a PUT at the byte offset the
// server says it has, so a dropped connection or a reload picks up where the server stands. The
// upload's ids live in localStorage until it completes; the file itself must be chosen again
// after a reload (a page cannot keep it), and is recognised by its name, size and date.
import { api, csrfHeaders, problemText, type Transcript, type Upload } from "./api/client";

export const CHUNK_BYTES = 32 * 1024 * 1024;
/** Seconds between tries after a dropped connection or a busy server; it grows to the last. */
const RETRY_PAUSES = [1, 2, 4, 8, 15, 30];
const MAX_TRIES = 12;
const STORAGE_KEY = "reflector.upload";

export interface SavedUpload {
  transcriptId: string;
  uploadId: string;
  fileName: string;
  size: number;
  lastModified: number;
  summarize: boolean | null;
}

export interface UploadProgress {
  phase: "uploading" | "retrying" | "checking";
  sent: number;
  total: number;
  /** Bytes per second over the last few seconds; null until there is enough to say. */
  rate: number | null;
  secondsLeft: number | null;
  /** While retrying: seconds until the next try. */
  retryIn?: number;
}

/** An upload the server refused, in words; `status` is the HTTP status (0: no answer). */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function savedUpload(): SavedUpload | null {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const saved = JSON.parse(raw) as SavedUpload;
    return typeof saved.transcriptId === "string" && typeof saved.uploadId === "string"
      ? saved
      : null;
  } catch {
    return null;
  }
}

function save(upload: SavedUpload): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(upload));
  } catch {
    // Private mode or a full storage: the upload still works, it only cannot survive a reload.
  }
}

export function forgetUpload(): void {
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing kept, nothing to forget
  }
}

/** Whether `file` is the one an interrupted upload was sending. */
export function sameFile(saved: SavedUpload, file: File): boolean {
  return (
    saved.fileName === file.name &&
    saved.size === file.size &&
    saved.lastModified === file.lastModified
  );
}

/** Bytes per second over a sliding window of recent samples. */
class RateMeter {
  private samples: [number, number][] = [];

  constructor(private readonly windowMs = 5000) {}

  add(bytes: number): void {
    const now = performance.now();
    this.samples.push([now, bytes]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > this.windowMs) {
      this.samples.shift();
    }
  }

  rate(): number | null {
    if (this.samples.length < 2) return null;
    const [t0, b0] = this.samples[0]!;
    const [t1, b1] = this.samples[this.samples.length - 1]!;
    return t1 - t0 < 250 ? null : ((b1 - b0) * 1000) / (t1 - t0);
  }
}

interface Problem {
  detail?: string;
  expected_offset?: number;
}

/** The browser's own SHA-256: native and fast, but only in secure contexts (https, loopback). */
const subtle: SubtleCrypto | undefined = window.isSecureContext
  ? window.crypto?.subtle
  : undefined;

/** `sha256 <hex>` of one chunk, for the server to check the chunk as it arrives; null when it
 * cannot be computed (the chunk then goes without one: the checksum is optional). */
async function chunkChecksum(chunk: Blob): Promise<string | null> {
  try {
    const digest = new Uint8Array(await subtle!.digest("SHA-256", await chunk.arrayBuffer()));
    return `sha256 ${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  } catch {
    return null;
  }
}

/** One chunk as a PUT, its progress followed as it goes. */
function putChunk(
  url: string,
  body: Blob,
  checksum: string | null,
  signal: AbortSignal,
  onSent: (bytes: number) => void,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    if (checksum) request.setRequestHeader("Upload-Checksum", checksum);
    for (const [name, value] of Object.entries(csrfHeaders())) {
      request.setRequestHeader(name, value);
    }
    request.upload.onprogress = (event) => onSent(event.loaded);
    request.onload = () => {
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(request.responseText);
      } catch {
        parsed = null;
      }
      resolve({ status: request.status, body: parsed });
    };
    request.onerror = () => resolve({ status: 0, body: null });
    request.ontimeout = () => resolve({ status: 0, body: null });
    const abort = () => {
      request.abort();
      reject(new DOMException("The upload was stopped.", "AbortError"));
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    request.onloadend = () => signal.removeEventListener("abort", abort);
    request.send(body);
  });
}

function sleep(seconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(done, seconds * 1000);
    // Back online: try at once instead of waiting out the pause.
    window.addEventListener("online", done);
    signal.addEventListener("abort", stop, { once: true });
    function done() {
      window.clearTimeout(timer);
      window.removeEventListener("online", done);
      signal.removeEventListener("abort", stop);
      resolve();
    }
    function stop() {
      window.clearTimeout(timer);
      window.removeEventListener("online", done);
      reject(new DOMException("The upload was stopped.", "AbortError"));
    }
  });
}

/** The file's SHA-256 in hex, computed in a worker while the chunks go out, so the server
 * can prove it stored every byte as sent: where the browser's own digest is missing (plain
 * http off loopback), in place of the chunks' checksums. Null where workers are unavailable
 * (the checksum is optional). */
function hashInWorker(file: File, signal: AbortSignal): Promise<string | null> {
  let worker: Worker;
  try {
    worker = new Worker(new URL("./hashWorker.ts", import.meta.url), { type: "module" });
  } catch {
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const finish = (digest: string | null) => {
      worker.terminate();
      resolve(digest);
    };
    worker.onmessage = (event: MessageEvent<{ digest?: string; error?: string }>) =>
      finish(event.data.digest ?? null);
    worker.onerror = () => finish(null);
    signal.addEventListener("abort", () => finish(null), { once: true });
    worker.postMessage(file);
  });
}

export interface UploadOptions {
  file: File;
  transcriptId: string;
  /** An interrupted upload of this same file to go on with. */
  uploadId?: string;
  summarize: boolean | null;
  chunkBytes: number;
  signal: AbortSignal;
  onProgress: (progress: UploadProgress) => void;
}

async function openUpload(options: UploadOptions): Promise<Upload> {
  const { file, transcriptId } = options;
  const path = { transcript_id: transcriptId };
  if (options.uploadId) {
    const { data } = await api.GET("/v1/transcripts/{transcript_id}/uploads/{upload_id}", {
      params: { path: { ...path, upload_id: options.uploadId } },
    });
    // An upload the server no longer keeps (expired, refused) is started again.
    if (data && data.status === "open") return data;
  }
  const { data, error, response } = await api.POST("/v1/transcripts/{transcript_id}/uploads", {
    params: { path },
    body: { filename: file.name, size: file.size },
  });
  if (!data) throw new UploadError(problemText(error, response), response.status);
  save({
    transcriptId,
    uploadId: data.id,
    fileName: file.name,
    size: file.size,
    lastModified: file.lastModified,
    summarize: options.summarize,
  });
  return data;
}

/** Sends `file` and starts its processing; resolves with the transcript (now processing).
 * Network failures are retried (the server says where to resume); a refusal rejects with an
 * {@link UploadError} in words. */
export async function uploadFile(options: UploadOptions): Promise<Transcript> {
  const { file, signal, onProgress } = options;
  const upload = await openUpload(options);
  // Each chunk carries its own checksum where the browser can compute it natively; otherwise
  // a worker hashes the whole file (much slower) for `complete`.
  const digest = subtle ? Promise.resolve(null) : hashInWorker(file, signal);
  const url =
    `/v1/transcripts/${encodeURIComponent(upload.transcript_id)}` +
    `/uploads/${encodeURIComponent(upload.id)}`;
  const meter = new RateMeter();
  let offset = upload.received;
  const report = (phase: UploadProgress["phase"], sent: number, retryIn?: number) => {
    const rate = meter.rate();
    onProgress({
      phase,
      sent,
      total: file.size,
      rate,
      secondsLeft: rate ? (file.size - sent) / rate : null,
      retryIn,
    });
  };
  meter.add(offset);
  report("uploading", offset);
  let resent = false;

  for (;;) {
    offset = await sendFrom(offset);
    report("checking", file.size);
    const checksum = await digest;
    const { data, error, response } = await api.POST(
      "/v1/transcripts/{transcript_id}/uploads/{upload_id}/complete",
      {
        params: {
          path: { transcript_id: upload.transcript_id, upload_id: upload.id },
          query: options.summarize === null ? {} : { summarize: options.summarize },
          header: checksum ? { "Upload-Checksum": `sha256 ${checksum}` } : {},
        },
      },
    );
    if (data) break;
    const problem = (error ?? {}) as Problem;
    if (response.status === 409 && typeof problem.expected_offset === "number") {
      offset = problem.expected_offset; // the server's disk lost the end: send it again
      continue;
    }
    if (response.status === 422 && !resent && problemType(error) === "checksum-mismatch") {
      resent = true; // bytes were damaged on the way: a PUT from 0 rewrites them all, once
      offset = 0;
      continue;
    }
    // A refused file (not audio, too long) is gone from the server: nothing to resume.
    if (response.status !== 409) forgetUpload();
    throw new UploadError(problemText(error, response), response.status);
  }
  forgetUpload();
  return (await api.GET("/v1/transcripts/{transcript_id}", {
    params: { path: { transcript_id: upload.transcript_id } },
  })).data!;

  /** Chunks from `start` to the end of the file; returns the file's size. */
  async function sendFrom(start: number): Promise<number> {
    let at = start;
    let tries = 0;
    const checksumOf = (from: number): Promise<string | null> =>
      subtle
        ? chunkChecksum(file.slice(from, Math.min(file.size, from + options.chunkBytes)))
        : Promise.resolve(null);
    let next: { from: number; checksum: Promise<string | null> } | null = null;
    while (at < file.size) {
      const from = at;
      const end = Math.min(file.size, from + options.chunkBytes);
      const checksum = await (next?.from === from ? next.checksum : checksumOf(from));
      // The next chunk is hashed while this one goes out.
      next = end < file.size ? { from: end, checksum: checksumOf(end) } : null;
      const body = file.slice(from, end);
      const answer = await putChunk(`${url}?offset=${from}`, body, checksum, signal, (n) => {
        meter.add(from + n);
        report("uploading", from + n);
      });
      if (answer.status === 200) {
        at = (answer.body as Upload).received;
        tries = 0;
        continue;
      }
      const problem = (answer.body ?? {}) as Problem;
      if (answer.status === 409 && typeof problem.expected_offset === "number") {
        at = problem.expected_offset; // the server has another length: go on from there
        continue;
      }
      // A chunk damaged on the way (its checksum does not match) is sent again, like a
      // dropped one.
      const damaged = answer.status === 422 && problemType(answer.body) === "checksum-mismatch";
      const transient =
        answer.status === 0 || answer.status === 409 || answer.status >= 500 || damaged;
      if (!transient || ++tries > MAX_TRIES) {
        throw new UploadError(
          answer.status === 0
            ? "The connection to the server was lost. Choose the file again to resume."
            : problemText(answer.body, new Response(null, { status: answer.status })),
          answer.status,
        );
      }
      const pause = RETRY_PAUSES[Math.min(tries - 1, RETRY_PAUSES.length - 1)]!;
      report("retrying", at, pause);
      await sleep(pause, signal);
      // Where does the server stand? Only whole chunks count, so ask before sending again.
      const { data } = await api.GET("/v1/transcripts/{transcript_id}/uploads/{upload_id}", {
        params: { path: { transcript_id: upload.transcript_id, upload_id: upload.id } },
      });
      if (data) at = data.received;
    }
    return at;
  }
}

function problemType(error: unknown): string {
  const type = (error as { type?: unknown } | undefined)?.type;
  return typeof type === "string" ? (type.split("/").pop() ?? "") : "";
}
