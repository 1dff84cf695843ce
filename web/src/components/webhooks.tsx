// Pieces of the webhooks page that a room's settings use too: a secret shown once, "Send a
// test" with its result in words, the notice of a disabled or failing endpoint, and an
// endpoint's delivery log (newest first, read again every few seconds while it is shown).
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, problemText } from "../api/client";
import {
  type Delivery,
  DELIVERY_STATUSES,
  type DeliveryPage,
  deliveryStatusLabel,
  eventLabel,
  httpStatus,
  latency,
  outcomeWords,
  testWords,
  type Webhook,
} from "../api/webhooks";
import { dateTime } from "../format";
import { CheckIcon, CopyIcon, RetryIcon } from "./icons";
import "../webhooks.css";

/** How often a shown delivery log is read again. */
export const LOG_REFRESH_MS = 5000;
const LOG_PAGE_SIZE = 20;

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A moment to the second: deliveries come seconds apart. */
export function moment(iso: string): string {
  const parsed = new Date(iso);
  return Number.isNaN(parsed.getTime()) ? iso : timeFormat.format(parsed);
}

/** A signing secret, shown only this once, with a Copy button. */
export function SecretOnce(props: {
  id: string;
  secret: string;
  title: string;
  onDone: () => void;
}) {
  const { id, secret, title, onDone } = props;
  const [copied, setCopied] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    field.current?.focus();
    field.current?.select();
  }, [secret]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      // No clipboard (an insecure origin, a refusal): leave it selected for Ctrl+C.
      field.current?.select();
    }
  };
  return (
    <div class="notice new-key secret-once" role="status">
      <p>
        <strong>{title}</strong> It is shown only this once: receivers check each delivery's{" "}
        <code>Reflector-Signature</code> with it.
      </p>
      <label for={id} class="visually-hidden">
        The signing secret
      </label>
      <div class="copy-row">
        <input id={id} ref={field} readOnly value={secret} class="mono" spellcheck={false} />
        <button type="button" onClick={() => void copy()}>
          {copied ? <CheckIcon /> : <CopyIcon />}
          {copied ? "Copied" : "Copy"}
          <span class="visually-hidden"> the secret</span>
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

/** "Send a test": one `webhook.test` delivery now, and how it went in words. */
export function SendTest(props: { webhook: Webhook; onSent?: (delivery: Delivery) => void }) {
  const { webhook, onSent } = props;
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Delivery | null>(null);
  const [error, setError] = useState<string | null>(null);
  const resultId = `test-result-${webhook.id}`;

  const send = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const { data, error: problem, response } = await api.POST("/v1/webhooks/{webhook_id}/test", {
        params: { path: { webhook_id: webhook.id } },
      });
      if (!data) {
        setError(problemText(problem, response));
        return;
      }
      setResult(data);
      onSent?.(data);
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="send-test">
      <button
        type="button"
        disabled={busy}
        aria-describedby={result || error ? resultId : undefined}
        onClick={() => void send()}
      >
        {busy ? "Sending a test…" : "Send a test"}
      </button>
      <div id={resultId} class="test-result-box" role="status">
        {result && (
          <p
            class={`test-result ${result.status === "delivered" ? "test-ok" : "test-failed"}`}
            data-status={result.status}
          >
            {testWords(result)}
          </p>
        )}
        {result?.response_preview && result.status !== "delivered" && (
          <details class="answer">
            <summary>What the receiver answered</summary>
            <pre>{result.response_preview}</pre>
          </details>
        )}
        {error && <p class="field-error">{error}</p>}
      </div>
    </div>
  );
}

/** A disabled endpoint's notice (with "Enable again"), or a warning while every try fails. */
export function EndpointNotice(props: { webhook: Webhook; onChanged: (webhook: Webhook) => void }) {
  const { webhook, onChanged } = props;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const enable = async () => {
    setBusy(true);
    setError(null);
    try {
      const { data, error: problem, response } = await api.PATCH("/v1/webhooks/{webhook_id}", {
        params: { path: { webhook_id: webhook.id } },
        body: { enabled: true, rotate_secret: false },
      });
      if (data) onChanged(data);
      else setError(problemText(problem, response));
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  if (!webhook.enabled) {
    return (
      <div class="endpoint-off" role="status">
        <p>
          <strong>Disabled:</strong> nothing is sent to this endpoint
          {webhook.disabled_at ? ` since ${dateTime(webhook.disabled_at)}` : ""}.
        </p>
        {webhook.disabled_reason ? (
          <p class="off-reason">{webhook.disabled_reason}</p>
        ) : (
          <p class="hint">Send a test to check the receiver, then enable the endpoint.</p>
        )}
        <p class="hint">Events missed while it was disabled are not sent later.</p>
        <button type="button" class="primary" disabled={busy} onClick={() => void enable()}>
          Enable again
        </button>
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
      </div>
    );
  }
  if (webhook.failing_since) {
    return (
      <p class="endpoint-failing">
        Every delivery since {dateTime(webhook.failing_since)} has failed. After a day of failures
        the endpoint is disabled.
      </p>
    );
  }
  return null;
}

type Log =
  | { state: "loading" }
  | { state: "error"; message: string; page: DeliveryPage | null }
  | { state: "ready"; page: DeliveryPage };

/** An endpoint's deliveries, newest first, read again every few seconds while shown. */
export function DeliveryLog(props: { webhook: Webhook; refresh: number; headingLevel?: 3 | 4 }) {
  const { webhook, refresh, headingLevel = 3 } = props;
  const [log, setLog] = useState<Log>({ state: "loading" });
  const [status, setStatus] = useState<"" | Delivery["status"]>("");
  const [page, setPage] = useState(1);
  const [readAt, setReadAt] = useState<Date | null>(null);
  const latest = useRef(0);
  const headingId = `log-heading-${webhook.id}`;

  const load = useCallback(async () => {
    const ticket = ++latest.current;
    try {
      const { data, error, response } = await api.GET("/v1/webhooks/{webhook_id}/deliveries", {
        params: {
          path: { webhook_id: webhook.id },
          query: { page, size: LOG_PAGE_SIZE, ...(status ? { status } : {}) },
        },
      });
      if (ticket !== latest.current) return; // a newer read is on its way
      if (data) {
        setLog({ state: "ready", page: data });
        setReadAt(new Date());
      } else {
        const message = problemText(error, response);
        setLog((old) => ({
          state: "error",
          message,
          page: old.state === "ready" ? old.page : null,
        }));
      }
    } catch {
      if (ticket !== latest.current) return;
      setLog((old) => ({
        state: "error",
        message: problemText(undefined),
        page: old.state === "ready" ? old.page : null,
      }));
    }
  }, [webhook.id, page, status]);

  useEffect(() => {
    void load();
  }, [load, refresh]);

  // Read again every few seconds while the tab is in view: retries land without a click.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") void load();
    }, LOG_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [load]);

  const shown = log.state === "ready" ? log.page : log.state === "error" ? log.page : null;
  const Heading = headingLevel === 3 ? "h3" : "h4";
  return (
    <section class="delivery-log" aria-labelledby={headingId}>
      <div class="log-head">
        <Heading id={headingId}>Delivery log</Heading>
        <div class="log-tools">
          <label for={`log-status-${webhook.id}`} class="visually-hidden">
            Show deliveries
          </label>
          <select
            id={`log-status-${webhook.id}`}
            value={status}
            onChange={(event) => {
              setStatus(event.currentTarget.value as typeof status);
              setPage(1);
            }}
          >
            <option value="">All deliveries</option>
            {DELIVERY_STATUSES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
          <button type="button" class="small" onClick={() => void load()}>
            <RetryIcon />
            Refresh<span class="visually-hidden"> the delivery log</span>
          </button>
        </div>
      </div>
      <p class="hint log-when">
        Newest first.{" "}
        {readAt ? `Read at ${readAt.toLocaleTimeString()}; read again every 5 s.` : "Reading…"}
      </p>
      {log.state === "loading" && (
        <p class="state" role="status">
          <span class="spinner" aria-hidden="true" />
          Loading the deliveries…
        </p>
      )}
      {log.state === "error" && (
        <p class="field-error" role="alert">
          The delivery log could not be read: {log.message}
        </p>
      )}
      {shown &&
        (shown.items.length === 0 ? (
          <p class="hint log-empty">
            {status
              ? "No delivery with this status."
              : "Nothing sent yet. Events are delivered as they happen; " +
                "“Send a test” sends one now."}
          </p>
        ) : (
          <>
            <ol class="deliveries" aria-label={`Deliveries to ${webhook.url}`}>
              {shown.items.map((delivery) => (
                <DeliveryItem key={delivery.id} delivery={delivery} />
              ))}
            </ol>
            {shown.pages > 1 && (
              <nav class="log-pages" aria-label="Pages of the delivery log">
                <button
                  type="button"
                  class="small"
                  disabled={page <= 1}
                  onClick={() => setPage(page - 1)}
                >
                  Newer
                </button>
                <span>
                  Page {shown.page} of {shown.pages} ({shown.total} deliveries)
                </span>
                <button
                  type="button"
                  class="small"
                  disabled={page >= shown.pages}
                  onClick={() => setPage(page + 1)}
                >
                  Older
                </button>
              </nav>
            )}
          </>
        ))}
    </section>
  );
}

function DeliveryItem({ delivery }: { delivery: Delivery }) {
  const tries = delivery.attempts === 1 ? "1 try" : `${delivery.attempts} tries`;
  const failedOrWaiting =
    delivery.status !== "delivered" && delivery.status !== "sending" && delivery.attempts > 0;
  return (
    <li class="delivery" data-id={delivery.id} data-status={delivery.status}>
      <div class="delivery-head">
        <span class={`status delivery-${delivery.status}`}>
          <span class="status-dot" aria-hidden="true" />
          {deliveryStatusLabel(delivery)}
        </span>
        <span class="delivery-event">{eventLabel(delivery.event_type)}</span>
        <time class="delivery-time" dateTime={delivery.created_at}>
          {moment(delivery.created_at)}
        </time>
      </div>
      <p class="meta">
        <span>
          {delivery.response_status != null
            ? `Answer: ${httpStatus(delivery.response_status)}`
            : delivery.attempts > 0 && delivery.status !== "sending"
              ? "No answer"
              : "Not sent yet"}
        </span>
        {delivery.latency_ms != null && <span>Took {latency(delivery.latency_ms)}</span>}
        <span>{tries}</span>
        {delivery.next_attempt_at && <span>Next try {moment(delivery.next_attempt_at)}</span>}
      </p>
      {failedOrWaiting && <p class="delivery-outcome">{outcomeWords(delivery)}</p>}
      {delivery.response_preview && (
        <details class="answer">
          <summary>What the receiver answered</summary>
          <pre>{delivery.response_preview}</pre>
        </details>
      )}
    </li>
  );
}
