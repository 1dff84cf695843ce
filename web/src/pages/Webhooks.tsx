// Webhooks (`/webhooks`): the user's endpoints (a room's webhook is one of them), each with
// "Send a test", its delivery log, editing, a new secret and deleting; a new endpoint's secret is
// shown once. What the API refuses is said next to the field it concerns.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText } from "../api/client";
import { roomSettingsPath } from "../api/rooms";
import {
  ALL_EVENTS,
  EVENTS,
  eventsWords,
  type Webhook,
  type WebhookEvent,
  type WebhookProblem,
  webhookProblem,
} from "../api/webhooks";
import { ErrorMessage, Loading } from "../components/common";
import { ChevronIcon, PlusIcon } from "../components/icons";
import { DeliveryLog, EndpointNotice, SecretOnce, SendTest } from "../components/webhooks";
import { date } from "../format";
import { Link } from "../router";
import "../webhooks.css";

type Listed =
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "ready"; webhooks: Webhook[] };

export function Webhooks() {
  const [listed, setListed] = useState<Listed>({ state: "loading" });
  const [rooms, setRooms] = useState<Record<string, string>>({});
  const [created, setCreated] = useState<Webhook | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    document.title = "Webhooks · Reflector";
  }, []);

  useEffect(() => {
    api.GET("/v1/webhooks").then(
      ({ data, error, response }) =>
        setListed(
          data
            ? { state: "ready", webhooks: data }
            : { state: "error", message: problemText(error, response) },
        ),
      () => setListed({ state: "error", message: problemText(undefined) }),
    );
  }, [reloads]);

  // Room webhooks are named after their room.
  const roomIds =
    listed.state === "ready"
      ? listed.webhooks.flatMap((webhook) => (webhook.room_id ? [webhook.room_id] : []))
      : [];
  const needRooms = roomIds.some((id) => !(id in rooms));
  useEffect(() => {
    if (!needRooms) return;
    api.GET("/v1/rooms", { params: { query: { size: 200 } } }).then(
      ({ data }) => {
        if (data) setRooms(Object.fromEntries(data.items.map((room) => [room.id, room.name])));
      },
      () => undefined,
    );
  }, [needRooms]);

  const replace = (webhook: Webhook) =>
    setListed((old) =>
      old.state === "ready"
        ? { ...old, webhooks: old.webhooks.map((w) => (w.id === webhook.id ? webhook : w)) }
        : old,
    );
  const remove = (id: string) =>
    setListed((old) =>
      old.state === "ready" ? { ...old, webhooks: old.webhooks.filter((w) => w.id !== id) } : old,
    );

  return (
    <section aria-labelledby="webhooks-heading" class="webhooks-page">
      <div class="page-head">
        <h1 id="webhooks-heading">Webhooks</h1>
      </div>
      <p class="hint webhooks-intro">
        Reflector posts signed JSON to these addresses when a transcript is ready, fails or is
        processed again, and when a room's meeting starts or ends. Failed deliveries are tried
        again for three days; an endpoint whose every delivery fails for a day is disabled. A
        room's webhook, set in the room's settings, is listed here too.
      </p>

      <section class="panel" aria-labelledby="new-endpoint-heading">
        <h2 id="new-endpoint-heading">Add an endpoint</h2>
        <EndpointForm
          idPrefix="new-endpoint"
          initial={null}
          submitLabel="Add endpoint"
          onSaved={(webhook) => {
            setCreated(webhook);
            setListed((old) =>
              old.state === "ready" ? { ...old, webhooks: [...old.webhooks, webhook] } : old,
            );
          }}
        />
        {created?.secret && (
          <SecretOnce
            id="created-secret"
            secret={created.secret}
            title={`Copy the signing secret of ${created.url} now.`}
            onDone={() => setCreated(null)}
          />
        )}
      </section>

      <section class="panel" aria-labelledby="endpoints-heading">
        <h2 id="endpoints-heading">Your endpoints</h2>
        {listed.state === "loading" && <Loading label="Loading your endpoints…" />}
        {listed.state === "error" && (
          <ErrorMessage message={listed.message} onRetry={() => setReloads((n) => n + 1)} />
        )}
        {listed.state === "ready" &&
          (listed.webhooks.length === 0 ? (
            <p class="hint">No endpoints yet: add one above, or set a room's webhook.</p>
          ) : (
            <ul class="endpoints" aria-labelledby="endpoints-heading">
              {listed.webhooks.map((webhook) => (
                <EndpointCard
                  key={webhook.id}
                  webhook={webhook}
                  roomName={webhook.room_id ? (rooms[webhook.room_id] ?? null) : null}
                  onChanged={replace}
                  onDeleted={() => remove(webhook.id)}
                />
              ))}
            </ul>
          ))}
      </section>
    </section>
  );
}

/** Creates an endpoint (`initial` null) or changes one: URL, description, events, secret. */
function EndpointForm(props: {
  idPrefix: string;
  initial: Webhook | null;
  submitLabel: string;
  onSaved: (webhook: Webhook) => void;
  onCancel?: () => void;
}) {
  const { idPrefix, initial, submitLabel, onSaved, onCancel } = props;
  const [url, setUrl] = useState(initial?.url ?? "");
  const [description, setDescription] = useState(initial?.description ?? "");
  const [events, setEvents] = useState<WebhookEvent[]>(() =>
    initial ? ALL_EVENTS.filter((event) => initial.events.includes(event)) : ALL_EVENTS,
  );
  const [secret, setSecret] = useState("");
  const [problem, setProblem] = useState<WebhookProblem>({});
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const id = (field: string) => `${idPrefix}-${field}`;

  const focusFirst = (found: WebhookProblem) => {
    const first = (["url", "description", "events", "secret"] as const).find((f) => found[f]);
    if (first) {
      const target = first === "events" ? `#${id("event-0")}` : `#${id(first)}`;
      form.current?.querySelector<HTMLElement>(target)?.focus();
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const local: WebhookProblem = {};
    if (!url.trim()) local.url = "Give the receiver's URL.";
    if (events.length === 0) local.events = "Choose at least one event.";
    if (secret.trim() && secret.trim().length < 16) {
      local.secret = "At least 16 characters, or leave it empty for a random one.";
    }
    if (Object.keys(local).length > 0) {
      setProblem(local);
      focusFirst(local);
      return;
    }
    setBusy(true);
    setProblem({});
    try {
      const result = initial
        ? await api.PATCH("/v1/webhooks/{webhook_id}", {
            params: { path: { webhook_id: initial.id } },
            body: {
              ...(url.trim() !== initial.url ? { url: url.trim() } : {}),
              description: description.trim(),
              events,
              rotate_secret: false,
            },
          })
        : await api.POST("/v1/webhooks", {
            body: {
              url: url.trim(),
              description: description.trim(),
              events,
              ...(secret.trim() ? { secret: secret.trim() } : {}),
            },
          });
      if (!result.data) {
        const found = webhookProblem(result.error, result.response);
        setProblem(found);
        focusFirst(found);
        return;
      }
      onSaved(result.data);
      if (!initial) {
        setUrl("");
        setDescription("");
        setEvents(ALL_EVENTS);
        setSecret("");
      }
    } catch {
      setProblem({ general: problemText(undefined) });
    } finally {
      setBusy(false);
    }
  };

  const toggle = (event: WebhookEvent, on: boolean) =>
    setEvents((old) =>
      on
        ? ALL_EVENTS.filter((e) => e === event || old.includes(e))
        : old.filter((e) => e !== event),
    );

  return (
    <form ref={form} class="endpoint-form" onSubmit={submit} noValidate>
      <div class="form-grid">
        <Field
          id={id("url")}
          label="Receiver URL"
          error={problem.url}
          hint="http:// or https://; it must answer a POST with any 2xx within 10 seconds."
        >
          <input
            id={id("url")}
            type="url"
            value={url}
            maxLength={2000}
            placeholder="https://"
            autoComplete="off"
            spellcheck={false}
            aria-invalid={problem.url ? "true" : undefined}
            aria-describedby={describedBy(id("url"), problem.url, true)}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </Field>
        <Field id={id("description")} label="Description (optional)" error={problem.description}>
          <input
            id={id("description")}
            value={description}
            maxLength={200}
            autoComplete="off"
            aria-invalid={problem.description ? "true" : undefined}
            aria-describedby={describedBy(id("description"), problem.description, false)}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </Field>
      </div>
      <fieldset
        class="events"
        aria-describedby={problem.events ? `${id("events")}-error` : undefined}
      >
        <legend>Events to send</legend>
        <div class="event-choices">
          {EVENTS.map(([event, label], index) => (
            <div class="check" key={event}>
              <input
                id={id(`event-${index}`)}
                type="checkbox"
                checked={events.includes(event)}
                onChange={(e) => toggle(event, e.currentTarget.checked)}
              />
              <label for={id(`event-${index}`)}>
                {label} <code class="event-type">{event}</code>
              </label>
            </div>
          ))}
        </div>
        {problem.events && (
          <p id={`${id("events")}-error`} class="field-error">
            {problem.events}
          </p>
        )}
      </fieldset>
      {!initial && (
        <Field
          id={id("secret")}
          label="Signing secret (optional)"
          error={problem.secret}
          hint="At least 16 characters. Leave it empty and a random one is made and shown once."
        >
          <input
            id={id("secret")}
            type="password"
            value={secret}
            maxLength={200}
            autoComplete="new-password"
            spellcheck={false}
            aria-invalid={problem.secret ? "true" : undefined}
            aria-describedby={describedBy(id("secret"), problem.secret, true)}
            onInput={(e) => setSecret(e.currentTarget.value)}
          />
        </Field>
      )}
      {problem.general && (
        <p class="field-error" role="alert">
          {problem.general}
        </p>
      )}
      {(problem.url || problem.events || problem.secret || problem.description) && (
        <p class="visually-hidden" role="alert">
          Not saved: see the message next to the field.
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {!initial && <PlusIcon />}
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function describedBy(id: string, error: string | undefined, hint: boolean): string | undefined {
  const ids = [error ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean);
  return ids.length > 0 ? ids.join(" ") : undefined;
}

function Field(props: {
  id: string;
  label: string;
  error?: string;
  hint?: string;
  children: ComponentChildren;
}) {
  const { id, label, error, hint, children } = props;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {error && (
        <p id={`${id}-error`} class="field-error">
          {error}
        </p>
      )}
      {hint && (
        <p id={`${id}-hint`} class="hint field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}

type Asking = null | "delete" | "rotate";

function EndpointCard(props: {
  webhook: Webhook;
  roomName: string | null;
  onChanged: (webhook: Webhook) => void;
  onDeleted: () => void;
}) {
  const { webhook, roomName, onChanged, onDeleted } = props;
  const [editing, setEditing] = useState(false);
  const [asking, setAsking] = useState<Asking>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [logOpen, setLogOpen] = useState(false);
  const [logRefresh, setLogRefresh] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  const editButton = useRef<HTMLButtonElement>(null);
  const logId = `log-${webhook.id}`;
  const label = webhook.description || webhook.url;

  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);

  const rotate = async () => {
    setBusy(true);
    setError(null);
    try {
      const { data, error: problem, response } = await api.PATCH("/v1/webhooks/{webhook_id}", {
        params: { path: { webhook_id: webhook.id } },
        body: { rotate_secret: true },
      });
      if (!data) {
        setError(problemText(problem, response));
        return;
      }
      setAsking(null);
      setSecret(data.secret ?? null);
      onChanged({ ...data, secret: null });
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      const { error: problem, response } = await api.DELETE("/v1/webhooks/{webhook_id}", {
        params: { path: { webhook_id: webhook.id } },
      });
      if (response.ok) onDeleted();
      else setError(problemText(problem, response));
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class="card endpoint" data-id={webhook.id} data-enabled={String(webhook.enabled)}>
      <div class="endpoint-head">
        <div class="endpoint-main">
          <h3 class="endpoint-url">
            <code>{webhook.url}</code>
          </h3>
          {webhook.description && <p class="endpoint-description">{webhook.description}</p>}
          <p class="meta">
            <span>{eventsWords(webhook.events)}</span>
            {webhook.room_id && (
              <span>
                Webhook of the room{" "}
                {roomName ? <Link href={roomSettingsPath(roomName)}>{roomName}</Link> : "…"}
              </span>
            )}
            <span>
              Secret <code>{webhook.secret_prefix}…</code>
            </span>
            <span>Added {date(webhook.created_at)}</span>
          </p>
        </div>
        <span class={`status ${webhook.enabled ? "endpoint-on" : "endpoint-disabled"}`}>
          <span class="status-dot" aria-hidden="true" />
          {webhook.enabled ? "On" : "Disabled"}
        </span>
      </div>
      <EndpointNotice webhook={webhook} onChanged={onChanged} />
      <div class="actions endpoint-actions">
        <SendTest
          webhook={webhook}
          onSent={() => {
            setLogOpen(true);
            setLogRefresh((n) => n + 1);
          }}
        />
        <button
          type="button"
          class="log-toggle"
          aria-expanded={logOpen}
          aria-controls={logOpen ? logId : undefined}
          onClick={() => setLogOpen((open) => !open)}
        >
          <ChevronIcon />
          Delivery log
        </button>
        <button
          ref={editButton}
          type="button"
          aria-expanded={editing}
          onClick={() => setEditing((open) => !open)}
        >
          Edit<span class="visually-hidden"> {label}</span>
        </button>
        <button type="button" onClick={() => setAsking("rotate")}>
          New secret<span class="visually-hidden"> for {label}</span>
        </button>
        <button type="button" class="danger-outline" onClick={() => setAsking("delete")}>
          Delete<span class="visually-hidden"> {label}</span>
        </button>
      </div>
      {asking === "rotate" && (
        <div class="confirm" role="group" aria-label={`New secret for ${label}`}>
          <p>
            Make a new signing secret? The current one stops working at once: a receiver that
            checks signatures refuses deliveries until it has the new one.
          </p>
          <div class="actions">
            <button
              ref={confirm}
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => void rotate()}
            >
              Make a new secret
            </button>
            <button type="button" onClick={() => setAsking(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {asking === "delete" && (
        <div class="confirm" role="group" aria-label={`Delete ${label}`}>
          <p>
            Delete this endpoint and its delivery log?
            {webhook.room_id ? " The room's webhook URL and secret are cleared too." : ""}
          </p>
          <div class="actions">
            <button
              ref={confirm}
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => void remove()}
            >
              Delete the endpoint
            </button>
            <button type="button" onClick={() => setAsking(null)}>
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
      {secret && (
        <SecretOnce
          id={`secret-${webhook.id}`}
          secret={secret}
          title="Copy the new signing secret now."
          onDone={() => setSecret(null)}
        />
      )}
      {editing && (
        <div class="endpoint-edit">
          <EndpointForm
            idPrefix={`edit-${webhook.id}`}
            initial={webhook}
            submitLabel="Save changes"
            onSaved={(saved) => {
              onChanged(saved);
              setEditing(false);
              editButton.current?.focus();
            }}
            onCancel={() => {
              setEditing(false);
              editButton.current?.focus();
            }}
          />
        </div>
      )}
      {logOpen && (
        <div id={logId}>
          <DeliveryLog webhook={webhook} refresh={logRefresh} />
        </div>
      )}
    </li>
  );
}
