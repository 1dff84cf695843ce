// How a room's saved calendar was read (`GET /v1/rooms/{name}/ics/status`): the outcome in
// words, when it was last read and is read next, the events found for the room; and "Read the
// calendar now". A calendar URL or switch just saved is read at once, so a calendar that cannot
// be fetched or read is said next to the fields that set it.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText, type Schemas } from "../api/client";
import type { CalendarSync, Room } from "../api/rooms";
import { dateTime } from "../format";
import "../webhooks.css";

type CalendarStatusOut = Schemas["CalendarStatusOut"];

function capital(text: string): string {
  const trimmed = text.trim();
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(first) ? first : `${first}.`;
}

/** The outcome of the last reading, in words, and whether it went well. */
export function calendarWords(status: CalendarStatusOut): { text: string; ok: boolean | null } {
  if (!status.url_set) return { text: "No calendar URL is saved.", ok: null };
  if (status.status === null) {
    return status.enabled
      ? {
          text: "Not read yet: it is read at the server's next round, or now with the button.",
          ok: null,
        }
      : { text: "Not read: reading is off.", ok: null };
  }
  if (status.status === "ok") return { text: "Read without problems.", ok: true };
  return { text: capital(status.status), ok: false };
}

function events(count: number): string {
  return count === 1 ? "1 event" : `${count} events`;
}

export function CalendarStatus(props: { room: Room; onSynced: (room: Room) => void }) {
  const { room, onSynced } = props;
  const [status, setStatus] = useState<CalendarStatusOut | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<CalendarSync | null>(null);
  const [syncError, setSyncError] = useState<string | null>(null);
  const saved = `${room.ics_url ?? ""}|${room.ics_enabled}`;
  const seen = useRef(saved);
  const active = Boolean(room.ics_url && room.ics_enabled);

  const load = async () => {
    setLoadError(null);
    try {
      const { data, error, response } = await api.GET("/v1/rooms/{name}/ics/status", {
        params: { path: { name: room.name } },
      });
      if (data) setStatus(data);
      else setLoadError(problemText(error, response));
    } catch {
      setLoadError(problemText(undefined));
    }
  };

  const sync = async () => {
    setBusy(true);
    setSyncError(null);
    setResult(null);
    try {
      const { data, error, response } = await api.POST("/v1/rooms/{name}/ics/sync", {
        params: { path: { name: room.name } },
      });
      if (!data) {
        setSyncError(problemText(error, response));
        return;
      }
      setResult(data);
      setStatus(data);
      onSynced({
        ...room,
        ics_status: data.status,
        ics_last_sync: data.last_sync,
        ics_events_found: data.events_found,
      });
    } catch {
      setSyncError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  // Read on opening and after a new interval was saved; when a new URL or the switch was
  // saved, the calendar itself is read now.
  useEffect(() => {
    if (saved !== seen.current) {
      seen.current = saved;
      setResult(null);
      if (active) {
        void sync();
        return;
      }
    }
    void load();
  }, [saved, room.ics_fetch_interval]);

  if (!room.ics_url) return null;
  const words = status ? calendarWords(status) : null;
  return (
    <div class="calendar-status" aria-labelledby="calendar-status-heading" role="group">
      <h4 id="calendar-status-heading" class="calendar-status-heading">
        The saved calendar
      </h4>
      {loadError && (
        <p class="field-error" role="alert">
          Its status could not be read: {loadError}
        </p>
      )}
      {!status && !loadError && <p class="hint">Reading its status…</p>}
      {status && words && (
        <dl class="facts calendar-facts">
          <dt>Status</dt>
          <dd
            class={words.ok === false ? "calendar-problem" : words.ok ? "calendar-ok" : undefined}
            data-ok={words.ok === null ? undefined : String(words.ok)}
          >
            {words.text}
          </dd>
          <dt>Last read</dt>
          <dd>{status.last_sync ? dateTime(status.last_sync) : "Not yet"}</dd>
          <dt>Next read</dt>
          <dd>
            {status.next_sync
              ? dateTime(status.next_sync)
              : status.enabled
                ? "At the server's next round"
                : "Not planned: reading is off"}
          </dd>
          <dt>Events found</dt>
          <dd>
            {status.last_sync
              ? `${events(status.events_found)} for this room, from an hour ago to a day ahead`
              : "None yet"}
          </dd>
        </dl>
      )}
      <div class="calendar-actions">
        <button type="button" class="small" disabled={busy || !active} onClick={() => void sync()}>
          {busy ? "Reading the calendar…" : "Read the calendar now"}
        </button>
        {!active && <span class="hint">Tick “Read the calendar” and save first.</span>}
      </div>
      <div role="status" class="calendar-result">
        {result &&
          (result.ok ? (
            <p class="calendar-ok">
              Read now: {events(result.events_found)} for this room
              {result.not_modified ? " (the calendar had not changed)" : ""};{" "}
              {result.created} new,{" "}
              {result.updated} changed, {result.cancelled} cancelled meetings.
            </p>
          ) : (
            <p class="field-error">
              Read now, with a problem: {result.status ?? "no answer"}. No meeting was changed.
            </p>
          ))}
        {syncError && <p class="field-error">{syncError}</p>}
      </div>
    </div>
  );
}
