// A room's Zulip stream and topic: picked from what the server's Zulip bot sees
// (`GET /v1/zulip/streams`, `…/streams/{id}/topics`), or typed when Zulip cannot be asked (not
// set up, wrong credentials, unreachable), with the server's reason in words.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText, type Schemas } from "../api/client";
import { serverInfo } from "../api/server";
import "../webhooks.css";

type Stream = Schemas["ZulipStreamOut"];

type Streams =
  | { state: "loading" }
  | { state: "ready"; streams: Stream[] }
  | { state: "error"; message: string; retry: boolean };

type Topics =
  | { state: "none" }
  | { state: "ready"; streamId: number; names: string[] }
  | { state: "error"; streamId: number; message: string };

/** What the server answers `/v1/zulip/streams` where no bot is set up (422). */
const NOT_SET_UP =
  "Zulip is not set up on this server: set REFLECTOR_ZULIP_SITE, REFLECTOR_ZULIP_BOT_EMAIL " +
  "and REFLECTOR_ZULIP_API_KEY";

/** A message from the server as a sentence of the hint. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?)]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function streamsHint(count: number, unknown: boolean): string {
  if (count === 0) {
    return "The Zulip bot sees no stream: type the stream's name, and subscribe the bot to it.";
  }
  if (unknown) {
    return "The bot does not see this stream: posts to it fail until the bot is subscribed.";
  }
  return count === 1
    ? "The stream the Zulip bot sees."
    : `The ${count} streams the Zulip bot sees.`;
}

function describedBy(...ids: (string | false | null | undefined)[]): string | undefined {
  const present = ids.filter(Boolean);
  return present.length > 0 ? present.join(" ") : undefined;
}

export function ZulipFields(props: {
  stream: string;
  topic: string;
  streamError?: string;
  topicError?: string;
  onStream: (value: string) => void;
  onTopic: (value: string) => void;
}) {
  const { stream, topic, streamError, topicError, onStream, onTopic } = props;
  const [streams, setStreams] = useState<Streams>({ state: "loading" });
  const [topics, setTopics] = useState<Topics>({ state: "none" });
  const [reloads, setReloads] = useState(0);
  const [asking, setAsking] = useState(false);
  // After "Ask Zulip again" the focus stays on the stream, whichever control it becomes.
  const retried = useRef(false);

  useEffect(() => {
    // Asking again keeps the last answer (and the button) until the new one is in.
    setStreams((old) => (old.state === "error" ? old : { state: "loading" }));
    setAsking(true);
    // Where no bot is set up (as `/v1/server` says), Zulip is not asked: the answer is known.
    const configured = serverInfo().then(
      (info) => info.integrations.zulip,
      () => true, // unknown: ask, and say what Zulip answers
    );
    configured.then((zulip) =>
      zulip
        ? askStreams()
        : setStreams({ state: "error", message: NOT_SET_UP, retry: false }),
    ).finally(() => setAsking(false));
  }, [reloads]);

  const askStreams = () =>
    api.GET("/v1/zulip/streams").then(
      ({ data, error, response }) =>
        setStreams(
          data
            ? { state: "ready", streams: data }
            : {
                state: "error",
                message: problemText(error, response),
                // Asking again helps when Zulip was down, not when it is not set up.
                retry: response.status >= 500,
              },
        ),
      () => setStreams({ state: "error", message: problemText(undefined), retry: true }),
    );

  useEffect(() => {
    if (!asking && retried.current) {
      retried.current = false;
      const target = streams.state === "error" ? "zulip-retry" : "room-zulip_stream";
      document.getElementById(target)?.focus();
    }
  }, [asking]);

  const chosen =
    streams.state === "ready" ? streams.streams.find((s) => s.name === stream.trim()) : undefined;
  const chosenId = chosen?.stream_id;

  useEffect(() => {
    if (chosenId === undefined) {
      setTopics({ state: "none" });
      return;
    }
    let current = true;
    api
      .GET("/v1/zulip/streams/{stream_id}/topics", { params: { path: { stream_id: chosenId } } })
      .then(
        ({ data, error, response }) => {
          if (!current) return;
          setTopics(
            data
              ? { state: "ready", streamId: chosenId, names: data.map((t) => t.name) }
              : { state: "error", streamId: chosenId, message: problemText(error, response) },
          );
        },
        () => {
          if (current) {
            setTopics({ state: "error", streamId: chosenId, message: problemText(undefined) });
          }
        },
      );
    return () => {
      current = false;
    };
  }, [chosenId]);

  const picking = streams.state === "ready" && streams.streams.length > 0;
  const unknown = picking && stream.trim() !== "" && !chosen;
  const topicList = topics.state === "ready" && topics.names.length > 0;

  return (
    <div class="form-grid zulip-fields">
      <div class="field">
        <label for="room-zulip_stream">Stream</label>
        {picking ? (
          <select
            id="room-zulip_stream"
            value={stream.trim()}
            aria-invalid={streamError ? "true" : undefined}
            aria-describedby={describedBy(
              streamError && "room-zulip_stream-error",
              "room-zulip_stream-hint",
            )}
            onChange={(event) => onStream(event.currentTarget.value)}
          >
            <option value="">No stream</option>
            {streams.streams.map((s) => (
              <option key={s.stream_id} value={s.name}>
                {s.name}
              </option>
            ))}
            {unknown && (
              <option value={stream.trim()}>{stream.trim()} (the bot does not see it)</option>
            )}
          </select>
        ) : (
          <input
            id="room-zulip_stream"
            value={stream}
            maxLength={200}
            autoComplete="off"
            aria-invalid={streamError ? "true" : undefined}
            aria-describedby={describedBy(
              streamError && "room-zulip_stream-error",
              "room-zulip_stream-hint",
            )}
            onInput={(event) => onStream(event.currentTarget.value)}
          />
        )}
        {streamError && (
          <p id="room-zulip_stream-error" class="field-error">
            {streamError}
          </p>
        )}
        <div id="room-zulip_stream-hint" class="hint field-hint" role="status">
          {streams.state === "loading" && "Asking Zulip for the bot's streams…"}
          {streams.state === "ready" && streamsHint(streams.streams.length, unknown)}
          {streams.state === "error" && (
            <span class="zulip-problem">
              The streams could not be listed: {sentence(streams.message)} Type the stream's name
              instead.
            </span>
          )}
        </div>
        {streams.state === "error" && streams.retry && (
          <button
            id="zulip-retry"
            type="button"
            class="small zulip-retry"
            disabled={asking}
            onClick={() => {
              retried.current = true;
              setReloads((n) => n + 1);
            }}
          >
            {asking ? "Asking Zulip…" : "Ask Zulip again"}
          </button>
        )}
      </div>
      <div class="field">
        <label for="room-zulip_topic">Topic</label>
        <input
          id="room-zulip_topic"
          value={topic}
          maxLength={200}
          autoComplete="off"
          list={topicList ? "room-zulip_topic-choices" : undefined}
          aria-invalid={topicError ? "true" : undefined}
          aria-describedby={describedBy(
            topicError && "room-zulip_topic-error",
            "room-zulip_topic-hint",
          )}
          onInput={(event) => onTopic(event.currentTarget.value)}
        />
        {topicList && (
          <datalist id="room-zulip_topic-choices">
            {topics.names.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        )}
        {topicError && (
          <p id="room-zulip_topic-error" class="field-error">
            {topicError}
          </p>
        )}
        <p id="room-zulip_topic-hint" class="hint field-hint">
          {topics.state === "ready" && topics.names.length > 0
            ? `${topics.names.length === 1 ? "Its topic is" : `Its ${topics.names.length} topics are`}` +
              " offered, most recent first; another name starts a new topic." +
              " Empty: the room's name."
            : topics.state === "error"
              ? `The stream's topics could not be listed: ${sentence(topics.message)} ` +
                "Empty: the room's name."
              : "Empty: the room's name."}
        </p>
      </div>
    </div>
  );
}
