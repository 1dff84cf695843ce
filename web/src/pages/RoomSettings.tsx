// A room's settings: creates a room (`/new-room`) or changes one (`/rooms/<name>/settings`,
// its owner only), and deletes it. Every setting of the API is here; the integrations
// (webhook, Zulip, calendar) are plain fields. What the API refuses is said next to the field
// it concerns, and nothing typed is lost. Zulip's stream and topic are picked from what the
// server's bot sees; the saved calendar's status and the saved webhook's deliveries (with "Send
// a test") are shown next to their fields.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText } from "../api/client";
import {
  type FormProblem,
  formProblem,
  PLATFORMS,
  RECORDING_TRIGGERS,
  RECORDING_TYPES,
  ROOM_MODES,
  type Room,
  type RoomCreate,
  roomPath,
  roomSettingsPath,
} from "../api/rooms";
import { CalendarStatus } from "../components/CalendarStatus";
import { ErrorMessage, Loading } from "../components/common";
import { BackIcon } from "../components/icons";
import { RoomWebhook } from "../components/RoomWebhook";
import { ZulipFields } from "../components/ZulipFields";
import { Link, navigate } from "../router";
import "../rooms.css";

/** The form's values as typed: text stays text until it is sent. */
interface Draft {
  name: string;
  is_shared: boolean;
  is_locked: boolean;
  room_mode: Room["room_mode"];
  recording_type: Room["recording_type"];
  recording_trigger: Room["recording_trigger"];
  platform: Room["platform"];
  skip_consent: boolean;
  webhook_url: string;
  webhook_secret: string;
  zulip_auto_post: boolean;
  zulip_stream: string;
  zulip_topic: string;
  ics_url: string;
  ics_enabled: boolean;
  ics_fetch_interval: string;
}

type Field = keyof Draft;

/** A new room's values: the API's defaults. */
const NEW_ROOM: Draft = {
  name: "",
  is_shared: false,
  is_locked: false,
  room_mode: "normal",
  recording_type: "cloud",
  recording_trigger: "automatic-2nd-participant",
  platform: "daily",
  skip_consent: false,
  webhook_url: "",
  webhook_secret: "",
  zulip_auto_post: false,
  zulip_stream: "",
  zulip_topic: "",
  ics_url: "",
  ics_enabled: false,
  ics_fetch_interval: "300",
};

const OPTIONAL_TEXT = ["webhook_url", "webhook_secret", "zulip_stream", "zulip_topic", "ics_url"];

function draftOf(room: Room): Draft {
  return {
    name: room.name,
    is_shared: room.is_shared,
    is_locked: room.is_locked,
    room_mode: room.room_mode,
    recording_type: room.recording_type,
    recording_trigger: room.recording_trigger,
    platform: room.platform,
    skip_consent: room.skip_consent,
    webhook_url: room.webhook_url ?? "",
    webhook_secret: room.webhook_secret ?? "",
    zulip_auto_post: room.zulip_auto_post,
    zulip_stream: room.zulip_stream ?? "",
    zulip_topic: room.zulip_topic ?? "",
    ics_url: room.ics_url ?? "",
    ics_enabled: room.ics_enabled,
    ics_fetch_interval: String(room.ics_fetch_interval),
  };
}

/** The body the API takes for `fields`; empty optional text is sent as `null` (cleared). */
function bodyOf(draft: Draft, fields: Field[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const field of fields) {
    const value = draft[field];
    if (field === "ics_fetch_interval") body[field] = Number(value);
    else if (field === "name") body[field] = (value as string).trim();
    else if (OPTIONAL_TEXT.includes(field)) body[field] = (value as string).trim() || null;
    else body[field] = value;
  }
  return body;
}

/** Checks the browser can make alone, before asking the server. */
function localProblems(draft: Draft): FormProblem["fields"] {
  const fields: FormProblem["fields"] = {};
  if (!draft.name.trim()) fields.name = "Give the room a name.";
  if (!/^\d+$/.test(draft.ics_fetch_interval.trim())) {
    fields.ics_fetch_interval = "A whole number of seconds, between 60 and 86,400.";
  }
  return fields;
}

type Loaded =
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "ready"; room: Room | null };

export function RoomSettings({ name }: { name: string | null }) {
  const [loaded, setLoaded] = useState<Loaded>(
    name === null ? { state: "ready", room: null } : { state: "loading" },
  );
  const [reloads, setReloads] = useState(0);
  // A rename saved here changes the address: the form stays as it is, not read again.
  const renamed = useRef<string | null>(null);

  useEffect(() => {
    document.title = name === null ? "New room · Reflector" : `${name}: settings · Reflector`;
  }, [name]);
  useEffect(() => {
    if (name === null) {
      setLoaded({ state: "ready", room: null });
      return;
    }
    if (name === renamed.current) return;
    setLoaded({ state: "loading" });
    api.GET("/v1/rooms/{name}", { params: { path: { name } } }).then(
      ({ data, error, response }) =>
        setLoaded(
          data
            ? { state: "ready", room: data }
            : {
                state: "error",
                message:
                  response.status === 404
                    ? `There is no room named “${name}”, or it is not shared with you.`
                    : problemText(error, response),
              },
        ),
      () => setLoaded({ state: "error", message: problemText(undefined) }),
    );
  }, [name, reloads]);

  return (
    <section aria-labelledby="room-settings-heading" class="room-settings">
      <Link class="back" href={name === null ? "/rooms" : roomPath(name)}>
        <BackIcon />
        {name === null ? "Rooms" : name}
      </Link>
      <div class="page-head">
        <h1 id="room-settings-heading">{name === null ? "New room" : `Settings of ${name}`}</h1>
      </div>
      {loaded.state === "loading" && <Loading label="Loading the room…" />}
      {loaded.state === "error" && (
        <ErrorMessage message={loaded.message} onRetry={() => setReloads((n) => n + 1)} />
      )}
      {loaded.state === "ready" &&
        (loaded.room && !loaded.room.is_owner ? (
          <div class="state state-empty">
            <p>Only the room's owner changes its settings.</p>
            <p class="hint">
              <Link href={roomPath(loaded.room.name)}>Open the room</Link>
            </p>
          </div>
        ) : (
          <RoomForm
            key={loaded.room?.id ?? "new"}
            room={loaded.room}
            onRenamed={(newName) => {
              renamed.current = newName;
              navigate(roomSettingsPath(newName), true);
            }}
          />
        ))}
    </section>
  );
}

function RoomForm(props: { room: Room | null; onRenamed: (name: string) => void }) {
  const { room: initial, onRenamed } = props;
  const [room, setRoom] = useState(initial);
  const [draft, setDraft] = useState<Draft>(initial ? draftOf(initial) : NEW_ROOM);
  const [problem, setProblem] = useState<FormProblem>({ fields: {}, general: null });
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [showSecret, setShowSecret] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const creating = room === null;

  const set = <K extends Field>(field: K, value: Draft[K]) => {
    setDraft((old) => ({ ...old, [field]: value }));
    setSaved(null);
  };

  // After a refusal, the first field in error gets the focus (its message is read with it).
  const focusFirstError = (fields: FormProblem["fields"]) => {
    const first = (Object.keys(NEW_ROOM) as Field[]).find((field) => fields[field]);
    if (first) form.current?.querySelector<HTMLElement>(`#room-${first}`)?.focus();
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const local = localProblems(draft);
    if (Object.keys(local).length > 0) {
      setProblem({ fields: local, general: null });
      focusFirstError(local);
      return;
    }
    setBusy(true);
    setProblem({ fields: {}, general: null });
    setSaved(null);
    try {
      if (creating) {
        const { data, error, response } = await api.POST("/v1/rooms", {
          body: bodyOf(draft, Object.keys(NEW_ROOM) as Field[]) as RoomCreate,
        });
        if (!data) {
          const found = formProblem(error, response);
          setProblem(found);
          focusFirstError(found.fields);
          return;
        }
        navigate(`/rooms?created=${encodeURIComponent(data.name)}`);
        return;
      }
      const before = draftOf(room);
      const changed = (Object.keys(NEW_ROOM) as Field[]).filter(
        (field) =>
          (typeof draft[field] === "string"
            ? (draft[field] as string).trim()
            : draft[field]) !==
          (typeof before[field] === "string" ? (before[field] as string).trim() : before[field]),
      );
      if (changed.length === 0) {
        setSaved("Nothing to save: no setting changed.");
        return;
      }
      const { data, error, response } = await api.PATCH("/v1/rooms/{name}", {
        params: { path: { name: room.name } },
        body: bodyOf(draft, changed),
      });
      if (!data) {
        const found = formProblem(error, response);
        setProblem(found);
        focusFirstError(found.fields);
        return;
      }
      setRoom(data);
      setDraft(draftOf(data));
      setSaved("Saved. Meetings opened from now on use these settings.");
      if (data.name !== room.name) onRenamed(data.name);
    } catch {
      setProblem({ fields: {}, general: problemText(undefined) });
    } finally {
      setBusy(false);
    }
  };

  const errors = problem.fields;
  const cloud = draft.recording_type === "cloud";
  return (
    <>
      <form ref={form} class="room-form" onSubmit={submit} noValidate>
        <section class="panel" aria-labelledby="room-room-heading">
          <h2 id="room-room-heading">Room</h2>
          <TextField
            id="room-name"
            label="Name"
            value={draft.name}
            error={errors.name}
            maxLength={60}
            required
            autoComplete="off"
            spellcheck={false}
            hint={
              <>
                Lower-case letters, digits and dashes. It is the room's address:{" "}
                <code>
                  {window.location.origin}/rooms/{draft.name.trim() || "name"}
                </code>
                . Anybody who knows it can join the room's meetings.
              </>
            }
            onValue={(value) => set("name", value)}
          />
          <Check
            id="room-is_shared"
            label="Shared"
            hint="Every signed-in user sees the room and its transcripts; only you change it."
            checked={draft.is_shared}
            error={errors.is_shared}
            onValue={(value) => set("is_shared", value)}
          />
        </section>

        <section class="panel" aria-labelledby="room-meetings-heading">
          <h2 id="room-meetings-heading">Meetings</h2>
          <div class="form-grid wide">
            <Select
              id="room-platform"
              label="Video platform"
              value={draft.platform}
              choices={PLATFORMS}
              error={errors.platform}
              onValue={(value) => set("platform", value as Draft["platform"])}
            />
            <Select
              id="room-room_mode"
              label="Size"
              value={draft.room_mode}
              choices={ROOM_MODES}
              error={errors.room_mode}
              onValue={(value) => set("room_mode", value as Draft["room_mode"])}
            />
            <Select
              id="room-recording_type"
              label="Recording"
              value={draft.recording_type}
              choices={RECORDING_TYPES}
              error={errors.recording_type}
              onValue={(value) => set("recording_type", value as Draft["recording_type"])}
            />
            <Select
              id="room-recording_trigger"
              label="Recording starts"
              value={draft.recording_trigger}
              choices={RECORDING_TRIGGERS}
              error={errors.recording_trigger}
              hint={cloud ? undefined : "Only for recordings by the platform."}
              disabled={!cloud}
              onValue={(value) => set("recording_trigger", value as Draft["recording_trigger"])}
            />
          </div>
          <Check
            id="room-is_locked"
            label="Locked"
            hint="People knock, and the room's owner lets them in."
            checked={draft.is_locked}
            error={errors.is_locked}
            onValue={(value) => set("is_locked", value)}
          />
          <Check
            id="room-skip_consent"
            label="Keep the audio without asking"
            hint={
              "Participants are not asked whether the recording's audio may be kept. Without " +
              "this, one “no” deletes the audio once the meeting is transcribed (the text stays)."
            }
            checked={draft.skip_consent}
            error={errors.skip_consent}
            onValue={(value) => set("skip_consent", value)}
          />
        </section>

        <section class="panel" aria-labelledby="room-integrations-heading">
          <h2 id="room-integrations-heading">Integrations</h2>
          <h3 class="subhead">Webhook</h3>
          <p class="hint">Called when a transcript of this room is finished.</p>
          <div class="form-grid">
            <TextField
              id="room-webhook_url"
              label="Webhook URL"
              type="url"
              value={draft.webhook_url}
              error={errors.webhook_url}
              maxLength={2000}
              placeholder="https://"
              autoComplete="off"
              onValue={(value) => set("webhook_url", value)}
            />
            <div class="field">
              <label for="room-webhook_secret">Webhook secret</label>
              <div class="secret-box">
                <input
                  id="room-webhook_secret"
                  type={showSecret ? "text" : "password"}
                  value={draft.webhook_secret}
                  maxLength={200}
                  autoComplete="new-password"
                  spellcheck={false}
                  aria-invalid={errors.webhook_secret ? "true" : undefined}
                  aria-describedby={errors.webhook_secret ? "room-webhook_secret-error" : undefined}
                  onInput={(event) => set("webhook_secret", event.currentTarget.value)}
                />
                <button
                  type="button"
                  aria-pressed={showSecret}
                  onClick={() => setShowSecret((shown) => !shown)}
                >
                  {showSecret ? "Hide" : "Show"}
                  <span class="visually-hidden"> the secret</span>
                </button>
              </div>
              <FieldError id="room-webhook_secret-error" message={errors.webhook_secret} />
            </div>
          </div>
          {room && <RoomWebhook room={room} />}

          <h3 class="subhead">Zulip</h3>
          <Check
            id="room-zulip_auto_post"
            label="Post each transcript's summary to Zulip"
            checked={draft.zulip_auto_post}
            error={errors.zulip_auto_post}
            onValue={(value) => set("zulip_auto_post", value)}
          />
          <ZulipFields
            stream={draft.zulip_stream}
            topic={draft.zulip_topic}
            streamError={errors.zulip_stream}
            topicError={errors.zulip_topic}
            onStream={(value) => set("zulip_stream", value)}
            onTopic={(value) => set("zulip_topic", value)}
          />

          <h3 class="subhead">Calendar</h3>
          <p class="hint">
            Events of an ICS calendar that link to this room become its upcoming meetings.
          </p>
          <Check
            id="room-ics_enabled"
            label="Read the calendar"
            checked={draft.ics_enabled}
            error={errors.ics_enabled}
            onValue={(value) => set("ics_enabled", value)}
          />
          <div class="form-grid">
            <TextField
              id="room-ics_url"
              label="Calendar (ICS) URL"
              type="url"
              value={draft.ics_url}
              error={errors.ics_url}
              maxLength={2000}
              placeholder="https://"
              autoComplete="off"
              onValue={(value) => set("ics_url", value)}
            />
            <TextField
              id="room-ics_fetch_interval"
              label="Read every (seconds)"
              type="number"
              inputMode="numeric"
              min={60}
              max={86400}
              step={60}
              value={draft.ics_fetch_interval}
              error={errors.ics_fetch_interval}
              onValue={(value) => set("ics_fetch_interval", value)}
            />
          </div>
          {room && <CalendarStatus room={room} onSynced={setRoom} />}
        </section>

        {problem.general && <ErrorMessage message={problem.general} />}
        {Object.keys(errors).length > 0 && !problem.general && (
          <p class="field-error" role="alert">
            {Object.keys(errors).length === 1
              ? "One setting needs a change: see the message next to it."
              : "Some settings need a change: see the messages next to them."}
          </p>
        )}
        {saved && (
          <p class="notice" role="status">
            {saved}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {creating ? "Create room" : "Save changes"}
          </button>
          <Link class="button" href={room ? roomPath(room.name) : "/rooms"}>
            {room ? "Back to the room" : "Cancel"}
          </Link>
        </div>
      </form>
      {room && <DeleteRoom room={room} />}
    </>
  );
}

function FieldError({ id, message }: { id: string; message?: string }) {
  return message ? (
    <p id={id} class="field-error">
      {message}
    </p>
  ) : null;
}

function describedBy(id: string, error?: string, hint?: unknown): string | undefined {
  const ids = [error ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean);
  return ids.length > 0 ? ids.join(" ") : undefined;
}

function TextField(props: {
  id: string;
  label: string;
  value: string;
  error?: string;
  hint?: ComponentChildren;
  type?: string;
  maxLength?: number;
  min?: number;
  max?: number;
  step?: number;
  placeholder?: string;
  required?: boolean;
  autoComplete?: string;
  spellcheck?: boolean;
  inputMode?: "numeric";
  onValue: (value: string) => void;
}) {
  const { id, label, error, hint, onValue, ...input } = props;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        {...input}
        type={input.type ?? "text"}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy(id, error, hint)}
        onInput={(event) => onValue(event.currentTarget.value)}
      />
      <FieldError id={`${id}-error`} message={error} />
      {hint && (
        <p id={`${id}-hint`} class="hint field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}

function Select(props: {
  id: string;
  label: string;
  value: string;
  choices: [string, string][];
  error?: string;
  hint?: string;
  disabled?: boolean;
  onValue: (value: string) => void;
}) {
  const { id, label, value, choices, error, hint, disabled, onValue } = props;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy(id, error, hint)}
        onChange={(event) => onValue(event.currentTarget.value)}
      >
        {choices.map(([key, text]) => (
          <option key={key} value={key}>
            {text}
          </option>
        ))}
      </select>
      <FieldError id={`${id}-error`} message={error} />
      {hint && (
        <p id={`${id}-hint`} class="hint field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}

function Check(props: {
  id: string;
  label: string;
  hint?: string;
  checked: boolean;
  error?: string;
  onValue: (value: boolean) => void;
}) {
  const { id, label, hint, checked, error, onValue } = props;
  return (
    <div class="check">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy(id, error, hint)}
        onChange={(event) => onValue(event.currentTarget.checked)}
      />
      <div>
        <label for={id}>{label}</label>
        {hint && (
          <p id={`${id}-hint`} class="hint field-hint">
            {hint}
          </p>
        )}
        <FieldError id={`${id}-error`} message={error} />
      </div>
    </div>
  );
}

function DeleteRoom({ room }: { room: Room }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      const { error: problem, response } = await api.DELETE("/v1/rooms/{name}", {
        params: { path: { name: room.name } },
      });
      if (response.ok) navigate(`/rooms?deleted=${encodeURIComponent(room.name)}`);
      else setError(problemText(problem, response));
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel danger-zone" aria-labelledby="delete-room-heading">
      <h2 id="delete-room-heading">Delete the room</h2>
      <p class="hint">
        Its meetings are deleted with it; the transcripts recorded in it stay with their owner.
      </p>
      {!asking ? (
        <button type="button" class="danger-outline" onClick={() => setAsking(true)}>
          Delete room
        </button>
      ) : (
        <div class="confirm" role="group" aria-label={`Delete ${room.name}`}>
          <p>Delete “{room.name}”? Its address stops working at once.</p>
          <div class="actions">
            <button
              ref={confirm}
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => void remove()}
            >
              Delete “{room.name}”
            </button>
            <button type="button" onClick={() => setAsking(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
