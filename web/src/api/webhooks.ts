// Webhooks: types from the generated schema, and the words the pages use for an endpoint's
// events, a delivery's status and how a try went (a test's result is a delivery too).
import type { Schemas } from "./client";
import { problemText } from "./client";

export type Webhook = Schemas["WebhookOut"];
export type WebhookCreate = Schemas["WebhookCreate"];
export type WebhookUpdate = Schemas["WebhookUpdate"];
export type WebhookEvent = Schemas["WebhookEventType"];
export type Delivery = Schemas["DeliveryOut"];
export type DeliveryPage = Schemas["Page_DeliveryOut_"];

/** Every event an endpoint can ask for, in words; checked against the schema below. */
export const EVENTS: [WebhookEvent, string][] = [
  ["transcript.completed", "A transcript is ready"],
  ["transcript.reprocessed", "A transcript was processed again"],
  ["transcript.failed", "A transcript failed"],
  ["meeting.started", "A room's meeting started"],
  ["meeting.ended", "A room's meeting ended"],
];
// Fails to compile when the server gains an event this list does not have.
const _allEvents: Exclude<WebhookEvent, (typeof EVENTS)[number][0]> extends never
  ? true
  : never = true;
void _allEvents;

export const ALL_EVENTS: WebhookEvent[] = EVENTS.map(([event]) => event);

/** An event type as people read it; `webhook.test` is what "Send a test" sends. */
export function eventLabel(type: string): string {
  if (type === "webhook.test") return "Test";
  return EVENTS.find(([event]) => event === type)?.[1] ?? type;
}

/** Which events an endpoint hears, in a few words. */
export function eventsWords(events: string[]): string {
  if (ALL_EVENTS.every((event) => events.includes(event))) return "Every event";
  return events.map(eventLabel).join(" · ");
}

export const DELIVERY_STATUSES: [Delivery["status"], string][] = [
  ["delivered", "Delivered"],
  ["pending", "Waiting to retry"],
  ["sending", "Sending"],
  ["failed", "Failed"],
];

export function deliveryStatusLabel(delivery: Delivery): string {
  if (delivery.status === "pending" && delivery.attempts === 0) return "Waiting";
  return DELIVERY_STATUSES.find(([status]) => status === delivery.status)?.[1] ?? delivery.status;
}

const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** `404` → "404 Not Found". */
export function httpStatus(status: number): string {
  return REASONS[status] ? `${status} ${REASONS[status]}` : String(status);
}

/** 12.3 → "12 ms"; 1530 → "1.5 s". */
export function latency(ms: number): string {
  return ms < 1000 ? `${Math.max(1, Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(capital) ? capital : `${capital}.`;
}

/** httpx's names for a connection that failed or broke, as the sender reports them. */
const NETWORK_ERROR =
  /^(ConnectError|ConnectTimeout|ReadError|RemoteProtocolError|WriteError)\b:?\s*/;

/** The sender's `error` of a try that got no answer, in words. */
export function tryError(error: string): string {
  if (error === "no answer in time") {
    return "The receiver did not answer in time (it must answer within the server's read timeout).";
  }
  if (error.startsWith("refused: ")) {
    return sentence(`Not sent: ${error.slice("refused: ".length)}`);
  }
  const network = NETWORK_ERROR.exec(error);
  if (network) {
    const detail = error.slice(network[0].length).trim();
    const what =
      network[1] === "ConnectError" || network[1] === "ConnectTimeout"
        ? "The receiver could not be reached: nothing accepted the connection at that address"
        : "The connection to the receiver broke before it answered";
    return sentence(detail ? `${what} (${detail})` : what);
  }
  return sentence(`The try failed: ${error}`);
}

/** How a delivery's last try went, as one or two sentences. */
export function outcomeWords(delivery: Delivery): string {
  const took = delivery.latency_ms != null ? ` in ${latency(delivery.latency_ms)}` : "";
  const answered =
    delivery.response_status != null
      ? `the receiver answered ${httpStatus(delivery.response_status)}${took}`
      : null;
  if (delivery.status === "delivered") {
    return `Delivered: ${answered ?? "the receiver accepted it"}.`;
  }
  if (delivery.status === "sending") return "Being sent now.";
  if (delivery.attempts === 0) return "Not tried yet.";
  let why: string;
  if (answered) {
    why = `${sentence(answered).slice(0, -1)}, which is not a success (2xx).`;
    const status = delivery.response_status!;
    if (status >= 300 && status < 400) {
      why += " Redirects are not followed: register the final URL.";
    }
  } else {
    why = tryError(delivery.error ?? "no answer");
  }
  if (delivery.status === "pending") return `The last try failed. ${why}`;
  if (delivery.error && !answered && delivery.error.startsWith("the endpoint")) {
    return `Given up: ${delivery.error}.`;
  }
  return `Failed. ${why}`;
}

/** A problem of `POST`/`PATCH /v1/webhooks` as messages next to the fields it concerns. */
export interface WebhookProblem {
  url?: string;
  secret?: string;
  events?: string;
  description?: string;
  general?: string;
}

export function webhookProblem(error: unknown, response?: Response): WebhookProblem {
  const problem = (error && typeof error === "object" ? error : {}) as {
    type?: unknown;
    errors?: { location?: unknown; message?: unknown }[];
  };
  const slug = typeof problem.type === "string" ? problem.type.split("/").pop() : undefined;
  if (slug === "unsafe-webhook-url") return { url: problemText(error, response) };
  const found: WebhookProblem = {};
  const rest: string[] = [];
  for (const item of Array.isArray(problem.errors) ? problem.errors : []) {
    const location = typeof item.location === "string" ? item.location.split(".") : [];
    const message = String(item.message ?? "").replace(/^Value error, /, "");
    const field = location[0] === "body" ? location[1] : undefined;
    if (field === "url" && !found.url) {
      found.url = /at least 1/i.test(message) ? "Give the receiver's URL." : sentence(message);
    } else if (field === "secret" && !found.secret) {
      found.secret = /at least/i.test(message)
        ? "At least 16 characters, or leave it empty for a random one."
        : sentence(message);
    } else if (field === "events" && !found.events) {
      found.events = /at least 1/i.test(message) ? "Choose at least one event." : sentence(message);
    } else if (field === "description" && !found.description) {
      found.description = sentence(message);
    } else {
      rest.push(message);
    }
  }
  if (found.url || found.secret || found.events || found.description) {
    return rest.length > 0 ? { ...found, general: rest.join("; ") } : found;
  }
  return { general: problemText(error, response) };
}

/** The result of "Send a test", in words. */
export function testWords(delivery: Delivery): string {
  const outcome = outcomeWords(delivery);
  if (outcome.startsWith("Delivered: ")) {
    return `The test was delivered: ${outcome.slice("Delivered: ".length)}`;
  }
  if (outcome.startsWith("Failed. ")) return `The test failed. ${outcome.slice("Failed. ".length)}`;
  return outcome;
}
