// Rooms, meetings and consent: types from the generated schema, the words the pages show for
// each setting, and the problems of `/v1/rooms` turned into one message per form field.
import type { Schemas } from "./client";
import { problemText } from "./client";

export type Room = Schemas["RoomOut"];
export type RoomCreate = Schemas["RoomCreate"];
export type RoomPatch = Schemas["RoomPatch"];
export type Meeting = Schemas["MeetingOut"];
export type MeetingJoin = Schemas["MeetingJoinOut"];
export type Consent = Schemas["ConsentOut"];
export type CalendarSync = Schemas["CalendarSyncOut"];

export const PLATFORMS: [Room["platform"], string][] = [
  ["daily", "Daily"],
  ["whereby", "Whereby"],
];

export const ROOM_MODES: [Room["room_mode"], string][] = [
  ["normal", "Small: up to 4 people"],
  ["group", "Group: up to 200 people"],
];

export const RECORDING_TYPES: [Room["recording_type"], string][] = [
  ["cloud", "By the platform, then transcribed here"],
  ["local", "By a participant, on their own computer"],
  ["none", "Not recorded"],
];

export const RECORDING_TRIGGERS: [Room["recording_trigger"], string][] = [
  ["automatic-2nd-participant", "When a second person joins"],
  ["automatic", "When the first person joins"],
  ["prompt", "When a participant starts it"],
  ["none", "Never"],
];

export function labelOf<T extends string>(choices: [T, string][], value: T): string {
  return choices.find(([key]) => key === value)?.[1] ?? value;
}

/** The room's page, where its meeting is joined. */
export function roomPath(name: string): string {
  return `/rooms/${encodeURIComponent(name)}`;
}

export function roomSettingsPath(name: string): string {
  return `${roomPath(name)}/settings`;
}

/** What the room page asks before the call: whether this meeting's audio may be kept. */
export function asksConsent(room: { skip_consent: boolean; recording_type: string }): boolean {
  return !room.skip_consent && room.recording_type !== "none";
}

const PARTICIPANT_KEY = "reflector.participant-key";

/** This browser's own random id, so a guest's consent is theirs and a later answer replaces
 * it (a signed-in user's answers are theirs anyway; the server ignores the key then). */
export function participantKey(): string {
  try {
    const kept = window.localStorage.getItem(PARTICIPANT_KEY);
    if (kept && /^[A-Za-z0-9_-]{16,128}$/.test(kept)) return kept;
  } catch {
    // Storage refused (private mode): a key for this page only.
  }
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  const key = btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  try {
    window.localStorage.setItem(PARTICIPANT_KEY, key);
  } catch {
    // As above.
  }
  return key;
}

export interface FormProblem {
  /** One message per field of the form, in words. */
  fields: Partial<Record<keyof RoomCreate, string>>;
  /** What belongs to no single field (or the whole message when nothing does). */
  general: string | null;
}

const FRIENDLY: Partial<Record<keyof RoomCreate, (message: string) => string | null>> = {
  name: (message) =>
    /pattern/i.test(message)
      ? "Use lower-case letters, digits and single dashes between them, like team-sync."
      : /at least 1/i.test(message)
        ? "Give the room a name."
        : /at most/i.test(message)
          ? "At most 60 characters."
          : null,
  ics_fetch_interval: (message) =>
    /greater|less|integer/i.test(message) ? "Between 60 and 86,400 seconds." : null,
};

/** A problem of `POST`/`PATCH /v1/rooms` as messages next to the fields they concern. */
export function formProblem(error: unknown, response?: Response): FormProblem {
  const fields: FormProblem["fields"] = {};
  const problem = (error && typeof error === "object" ? error : {}) as {
    type?: unknown;
    errors?: { location?: unknown; message?: unknown }[];
  };
  const slug = typeof problem.type === "string" ? problem.type.split("/").pop() : undefined;
  if (slug === "room-name-taken") {
    fields.name = "Another room has this name: choose another.";
    return { fields, general: null };
  }
  if (slug === "unsafe-webhook-url") {
    // The server will not call this address (its own network, or a name that does not resolve).
    fields.webhook_url = problemText(error, response);
    return { fields, general: null };
  }
  const rest: string[] = [];
  for (const item of Array.isArray(problem.errors) ? problem.errors : []) {
    const location = typeof item.location === "string" ? item.location.split(".") : [];
    const message = String(item.message ?? "").replace(/^Value error, /, "");
    const field =
      location[0] === "body" ? (location[1] as keyof RoomCreate | undefined) : undefined;
    if (field && !fields[field]) {
      fields[field] = FRIENDLY[field]?.(message) ?? message;
    } else {
      rest.push(message);
    }
  }
  if (Object.keys(fields).length > 0) {
    return { fields, general: rest.length > 0 ? rest.join("; ") : null };
  }
  return { fields, general: problemText(error, response) };
}
