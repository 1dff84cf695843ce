// A room's saved webhook as an endpoint: the room's `webhook_url` is one of the owner's
// endpoints in `GET /v1/webhooks` (with the room's `room_id`), so it gets "Send a test", the
// disabled notice and its delivery log here too.
import { useEffect, useState } from "preact/hooks";
import { api, problemText } from "../api/client";
import type { Room } from "../api/rooms";
import type { Webhook } from "../api/webhooks";
import { Link } from "../router";
import { ChevronIcon } from "./icons";
import { DeliveryLog, EndpointNotice, SendTest } from "./webhooks";
import "../webhooks.css";

type Found =
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "ready"; webhook: Webhook | null };

export function RoomWebhook({ room }: { room: Room }) {
  const [found, setFound] = useState<Found>({ state: "loading" });
  const [logOpen, setLogOpen] = useState(false);
  const [logRefresh, setLogRefresh] = useState(0);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    if (!room.webhook_url) return;
    setFound({ state: "loading" });
    api.GET("/v1/webhooks").then(
      ({ data, error, response }) =>
        setFound(
          data
            ? { state: "ready", webhook: data.find((w) => w.room_id === room.id) ?? null }
            : { state: "error", message: problemText(error, response) },
        ),
      () => setFound({ state: "error", message: problemText(undefined) }),
    );
  }, [room.id, room.webhook_url, room.webhook_secret, reloads]);

  if (!room.webhook_url) {
    return <p class="hint">Save a webhook URL to send a test and see its deliveries here.</p>;
  }
  if (found.state === "loading") return <p class="hint">Looking for the webhook's deliveries…</p>;
  if (found.state === "error") {
    return (
      <div class="room-webhook">
        <p class="field-error" role="alert">
          The webhook's deliveries could not be read: {found.message}
        </p>
        <button type="button" class="small" onClick={() => setReloads((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  }
  const webhook = found.webhook;
  if (!webhook) {
    return <p class="hint">The deliveries of this room's webhook are shown to the room's owner.</p>;
  }
  return (
    <div class="room-webhook" data-webhook={webhook.id}>
      <p class="hint">
        Deliveries go to the saved URL, <code>{webhook.url}</code>. Its events and secret are on
        the <Link href="/webhooks">Webhooks</Link> page too.
      </p>
      <EndpointNotice
        webhook={webhook}
        onChanged={(changed) => setFound({ state: "ready", webhook: changed })}
      />
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
          aria-controls={logOpen ? `room-log-${webhook.id}` : undefined}
          onClick={() => setLogOpen((open) => !open)}
        >
          <ChevronIcon />
          Delivery log
        </button>
      </div>
      {logOpen && (
        <div id={`room-log-${webhook.id}`}>
          <DeliveryLog webhook={webhook} refresh={logRefresh} headingLevel={4} />
        </div>
      )}
    </div>
  );
}
