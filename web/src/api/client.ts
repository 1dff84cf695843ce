// The one way the app talks to the server: typed by the generated schema, same origin.
import createClient, { type Middleware } from "openapi-fetch";
import { navigate } from "../router";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Transcript = Schemas["TranscriptOut"];
export type TranscriptStatus = Schemas["TranscriptStatus"];
export type Segment = Schemas["SegmentOut"];
export type Topic = Schemas["TopicOut"];
export type Participant = Schemas["ParticipantOut"];
export type SearchHit = Schemas["SearchHitOut"];
export type UserEvent = Schemas["UserEvent"];
export type Word = Schemas["Word"];
export type ActionItem = Schemas["ActionItemOut"];
export type ApiKey = Schemas["ApiKeyOut"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type Upload = Schemas["UploadOut"];
export type ShareMode = Transcript["share_mode"];
/** Any event of `GET`/`WS /v1/transcripts/{id}/events`, told apart by `type`. */
export type TranscriptEvent =
  paths["/v1/transcripts/{transcript_id}/events"]["get"]["responses"][200]["content"]["application/json"][number];

/** Every status, in the order a transcript goes through them; checked against the schema. */
export const STATUSES = [
  "idle",
  "uploaded",
  "recording",
  "processing",
  "ended",
  "error",
] as const satisfies readonly TranscriptStatus[];
// Fails to compile when the server gains a status this list does not have.
const _allStatuses: Exclude<TranscriptStatus, (typeof STATUSES)[number]> extends never
  ? true
  : never = true;
void _allStatuses;

const CSRF_COOKIE = "reflector_csrf";
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return undefined;
}

/** A browser signed in with a cookie proves each write with the CSRF cookie's value. */
const csrf: Middleware = {
  onRequest({ request }) {
    const token = cookie(CSRF_COOKIE);
    if (token && WRITES.has(request.method)) request.headers.set("X-CSRF-Token", token);
    return request;
  },
};

/** The CSRF header for a write sent without `api` (an upload's chunks go by XMLHttpRequest,
 * the one way to follow a request body's progress). */
export function csrfHeaders(): Record<string, string> {
  const token = cookie(CSRF_COOKIE);
  return token ? { "X-CSRF-Token": token } : {};
}

/** On a multi-user server, a 401 means nobody (or an ended session) is signed in: the app
 * goes to the sign-in page, which comes back here afterwards. A failed sign-in itself
 * (`/v1/auth/…`) is left to the page that asked, and so is the header's "who is signed in"
 * (`/v1/me`): someone signed out may read a public transcript. */
const signInOn401: Middleware = {
  onResponse({ request, response }) {
    const path = new URL(request.url).pathname;
    const here = window.location.pathname;
    const quiet = path.startsWith("/v1/auth/") || path === "/v1/me";
    if (response.status === 401 && !quiet && here !== "/sign-in") {
      const next = here + window.location.search;
      navigate(`/sign-in?next=${encodeURIComponent(next)}`, true);
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(csrf, signInOn401);

/** An API error in words: the problem's detail (RFC 9457), else its title, else the status. */
export function problemText(error: unknown, response?: Response): string {
  if (error && typeof error === "object") {
    const problem = error as { detail?: unknown; title?: unknown };
    if (typeof problem.detail === "string" && problem.detail) return problem.detail;
    if (Array.isArray(problem.detail) && problem.detail.length > 0) {
      const first = problem.detail[0] as { msg?: unknown };
      if (typeof first?.msg === "string") return first.msg;
    }
    if (typeof problem.title === "string" && problem.title) return problem.title;
  }
  if (response?.status === 401) return "You need to sign in to see this.";
  if (response) return `The server answered ${response.status} ${response.statusText}`.trim();
  return "The server could not be reached. Check that it is running, then try again.";
}

/** The URL of a transcript's export in one of the formats the API lists. */
export function exportUrl(id: string, format: string): string {
  return `/v1/transcripts/${encodeURIComponent(id)}/export?format=${encodeURIComponent(format)}`;
}
