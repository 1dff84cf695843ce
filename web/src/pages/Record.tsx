// Record: pick and test a microphone (a live level meter), then stream it to
// WS /v1/transcripts/{id}/record/ws and watch the words come (interim ones, which may still
// change, set apart from final ones), with the elapsed time and topics as they form. Stop, and
// the page moves to the transcript, whose processing runs on every second that was recorded.
// With translation targets, each one's captions (the transcript's TRANSLATION events) show
// beside the words, and a link opens the Listen page, where the translated speech is heard.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText, type Word } from "../api/client";
import { useTranscriptEvents } from "../api/transcriptEvents";
import { type CaptionsByLanguage, captionOf, withCaption } from "../captions";
import { ErrorMessage } from "../components/common";
import { clock, speakerLabel } from "../format";
import { LANGUAGES, languageName } from "../languages";
import { type Capture, microphones, SAMPLE_RATE, startCapture } from "../microphone";
import { Link, navigate } from "../router";
import "../listen.css";

type Phase = "setup" | "connecting" | "recording" | "stopping";

const SPEAKER_COLOURS = 8;
/** The most target languages a live session takes (the server's limit). */
const MAX_TARGETS = 8;
/** Captions shown per language while recording: the latest ones, as subtitles (all of them
 * stay readable on the Listen page). */
const SHOWN_CAPTIONS = 8;

interface LiveMessage {
  type: string;
  final?: Word[];
  interim?: Word[];
  title?: string;
  message?: string;
  code?: string;
}

/** Final words in turns: one per run of a speaker's words (a word without a speaker joins the
 * turn it falls in). */
function liveTurns(words: Word[]): { speaker: number | null; text: string }[] {
  const turns: { speaker: number | null; text: string }[] = [];
  for (const word of words) {
    const last = turns[turns.length - 1];
    const speaker = word.speaker ?? last?.speaker ?? null;
    if (last && last.speaker === speaker) last.text += word.text;
    else turns.push({ speaker, text: word.text });
  }
  return turns;
}

function recordUrl(id: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/v1/transcripts/${encodeURIComponent(id)}/record/ws`;
}

export function Record() {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [deviceId, setDeviceId] = useState("");
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("en");
  const [targets, setTargets] = useState<string[]>([]);
  const [captions, setCaptions] = useState<CaptionsByLanguage>({});
  const [phase, setPhase] = useState<Phase>("setup");
  const [testing, setTesting] = useState(false);
  const [level, setLevel] = useState(0);
  const [seconds, setSeconds] = useState(0);
  const [finals, setFinals] = useState<Word[]>([]);
  const [interim, setInterim] = useState<Word[]>([]);
  const [topics, setTopics] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [transcriptId, setTranscriptId] = useState<string | null>(null);
  const capture = useRef<Capture | null>(null);
  const socket = useRef<WebSocket | null>(null);
  const sent = useRef(0);
  /** What the server said when it refused the stream, kept for when the socket closes. */
  const refusal = useRef<string | null>(null);
  const phaseRef = useRef(phase);
  phaseRef.current = phase;

  useEffect(() => {
    document.title = "Record · Reflector";
    microphones().then(setDevices, () => setDevices([]));
    return () => {
      capture.current?.stop();
      socket.current?.close(); // the server keeps and processes what it received
    };
  }, []);

  useTranscriptEvents(
    transcriptId ?? "",
    transcriptId !== null && targets.length > 0 && (phase === "recording" || phase === "stopping"),
    {
      onOpen: () => setCaptions({}),
      onEvent: (event) => {
        const caption = captionOf(event);
        if (caption) setCaptions((held) => withCaption(held, caption));
      },
    },
  );

  const stopCapture = () => {
    capture.current?.stop();
    capture.current = null;
    setTesting(false);
    setLevel(0);
  };

  /** Opens the microphone; each block goes to the socket once it is open. */
  const open = async (id: string) => {
    stopCapture();
    capture.current = await startCapture(id || undefined, (samples, blockLevel) => {
      setLevel(blockLevel);
      const live = socket.current;
      if (live && live.readyState === WebSocket.OPEN && phaseRef.current === "recording") {
        live.send(samples.buffer);
        sent.current += samples.length;
        setSeconds(Math.floor(sent.current / SAMPLE_RATE));
      }
    });
    // Now that the page may use the microphone, the devices have names.
    setDevices(await microphones());
  };
  const test = async () => {
    setError(null);
    if (testing) {
      stopCapture();
      return;
    }
    try {
      await open(deviceId);
      setTesting(true);
    } catch (failure) {
      setError((failure as Error).message);
    }
  };

  const start = async () => {
    setError(null);
    if (targets.length > 0 && !language) {
      setError("Choose the spoken language: captions are translated from it.");
      return;
    }
    refusal.current = null;
    setCaptions({});
    setPhase("connecting");
    setFinals([]);
    setInterim([]);
    setTopics([]);
    sent.current = 0;
    setSeconds(0);
    try {
      if (!capture.current) await open(deviceId);
    } catch (failure) {
      setPhase("setup");
      setError((failure as Error).message);
      return;
    }
    const created = await api
      .POST("/v1/transcripts", {
        body: {
          name: name.trim() || `Recording ${new Date().toLocaleString()}`,
          source: "live",
          source_language: language || null,
        },
      })
      .catch(() => null);
    if (!created?.data) {
      stopCapture();
      setPhase("setup");
      setError(created ? problemText(created.error, created.response) : problemText(undefined));
      return;
    }
    const id = created.data.id;
    setTranscriptId(id);
    const live = new WebSocket(recordUrl(id));
    live.binaryType = "arraybuffer";
    socket.current = live;
    live.onopen = () => {
      live.send(
        JSON.stringify({
          type: "config",
          sample_rate: SAMPLE_RATE,
          format: "f32le",
          language: language || null,
          translate_to: targets,
        }),
      );
      setPhase("recording");
      setTesting(false);
    };
    live.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      let data: LiveMessage;
      try {
        data = JSON.parse(message.data) as LiveMessage;
      } catch {
        return;
      }
      if (data.type === "transcript") {
        if (data.final?.length) setFinals((old) => [...old, ...data.final!]);
        setInterim(data.interim ?? []);
      } else if (data.type === "topic" && data.title) {
        setTopics((old) => [...old, data.title!]);
      } else if (data.type === "error") {
        refusal.current =
          data.code === "bad-config"
            ? // e.g. "cannot translate 'en' into 'de'": the languages by name.
              `The server cannot record with these settings: ${(data.message ?? "").replace(
                /'([a-z]{2,3})'/g,
                (_, code: string) => languageName(code),
              )}.`
            : (data.message ?? "The server refused the audio.");
        setError(refusal.current);
      } else if (data.type === "stopped") {
        navigate(`/transcripts/${encodeURIComponent(id)}`);
      }
    };
    live.onclose = (event) => {
      socket.current = null;
      stopCapture();
      if (phaseRef.current === "stopping") {
        navigate(`/transcripts/${encodeURIComponent(id)}`);
        return;
      }
      setPhase("setup");
      setError(
        refusal.current ??
          (event.reason
            ? `The server ended the recording: ${event.reason}`
            : "The connection to the server was lost. What was recorded until then is kept and processed."),
      );
    };
  };

  const stop = () => {
    setPhase("stopping");
    stopCapture();
    const live = socket.current;
    if (live && live.readyState === WebSocket.OPEN) live.send(JSON.stringify({ type: "stop" }));
    else if (transcriptId) navigate(`/transcripts/${encodeURIComponent(transcriptId)}`);
  };

  const busy = phase !== "setup";
  return (
    <section aria-labelledby="record-heading" class="record">
      <div class="page-head">
        <h1 id="record-heading">Record</h1>
        <p class="hint">
          Record a meeting from a microphone: the words appear as they are said, and the whole
          recording is transcribed, with speakers and a summary, when you stop. Have a file
          instead? <Link href="/new">Upload it</Link>.
        </p>
      </div>

      <div class="form-grid">
        <div class="field">
          <label for="microphone">Microphone</label>
          <select
            id="microphone"
            value={deviceId}
            disabled={busy}
            onChange={async (event) => {
              const id = event.currentTarget.value;
              setDeviceId(id);
              if (testing) {
                try {
                  await open(id);
                } catch (failure) {
                  setError((failure as Error).message);
                }
              }
            }}
          >
            <option value="">Default microphone</option>
            {devices
              .filter((device) => device.deviceId && device.deviceId !== "default")
              .map((device, index) => (
                <option key={device.deviceId} value={device.deviceId}>
                  {device.label || `Microphone ${index + 1}`}
                </option>
              ))}
          </select>
        </div>
        <div class="field">
          <label for="record-name">Name</label>
          <input
            id="record-name"
            value={name}
            maxLength={500}
            disabled={busy}
            placeholder="e.g. Weekly sync"
            onInput={(event) => setName(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="record-language">Spoken language</label>
          <select
            id="record-language"
            value={language}
            disabled={busy}
            onChange={(event) => {
              const spoken = event.currentTarget.value;
              setLanguage(spoken);
              setTargets((chosen) => chosen.filter((code) => code !== spoken));
            }}
          >
            <option value="">Detect automatically</option>
            {LANGUAGES.map(([code, label]) => (
              <option key={code} value={code}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="record-translate">Translate captions into</label>
          <select
            id="record-translate"
            value=""
            disabled={busy || !language || targets.length >= MAX_TARGETS}
            aria-describedby="record-translate-hint"
            onChange={(event) => {
              const code = event.currentTarget.value;
              if (code) setTargets((chosen) => [...chosen, code]);
            }}
          >
            <option value="">
              {targets.length >= MAX_TARGETS ? "No more languages" : "Add a language…"}
            </option>
            {LANGUAGES.filter(([code]) => code !== language && !targets.includes(code)).map(
              ([code, label]) => (
                <option key={code} value={code}>
                  {label}
                </option>
              ),
            )}
          </select>
          <p id="record-translate-hint" class="hint field-hint">
            {language
              ? "Captions and speech in other languages, while you record."
              : "Choose the spoken language to translate."}
          </p>
          {targets.length > 0 && (
            <ul class="chips" aria-label="Translation languages">
              {targets.map((code) => (
                <li key={code} class="chip">
                  {languageName(code)}
                  <button
                    type="button"
                    disabled={busy}
                    aria-label={`Remove ${languageName(code)}`}
                    onClick={() => setTargets((chosen) => chosen.filter((held) => held !== code))}
                  >
                    <span aria-hidden="true">×</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>

      <div class="meter-row">
        <span id="level-label" class="field-label">
          Input level
        </span>
        <meter
          class="level"
          min={0}
          max={1}
          low={0.05}
          high={0.9}
          optimum={0.3}
          value={level}
          aria-labelledby="level-label"
        />
        {phase === "recording" && (
          <span class="recording-time" role="timer" aria-label="Recorded">
            <span class="rec-dot" aria-hidden="true" />
            {clock(seconds)}
          </span>
        )}
      </div>
      {testing && phase === "setup" && (
        <p class="hint" role="status">
          Speak: the bar moves when the microphone hears you.
        </p>
      )}

      {error && <ErrorMessage message={error} />}

      <div class="actions">
        {phase === "setup" && (
          <>
            <button type="button" class="primary" onClick={() => void start()}>
              <span class="rec-dot" aria-hidden="true" />
              Start recording
            </button>
            <button type="button" onClick={() => void test()} aria-pressed={testing}>
              {testing ? "Stop the test" : "Test the microphone"}
            </button>
          </>
        )}
        {phase === "connecting" && (
          <button type="button" disabled>
            Connecting…
          </button>
        )}
        {phase === "recording" && (
          <button type="button" class="danger" onClick={stop}>
            Stop
          </button>
        )}
        {phase === "stopping" && (
          <button type="button" disabled>
            Saving the recording…
          </button>
        )}
      </div>

      {(busy || finals.length > 0) && (
        <section class="panel live" aria-labelledby="live-heading">
          <h2 id="live-heading">Live transcript</h2>
          <div class="live-text" aria-live="polite" aria-atomic="false">
            {finals.length === 0 && interim.length === 0 && (
              <p class="hint">Words appear here as they are said.</p>
            )}
            {liveTurns(finals).map((turn, index, all) => (
              <p
                key={index}
                class={`live-turn spk-${turn.speaker == null ? "none" : turn.speaker % SPEAKER_COLOURS}`}
              >
                {turn.speaker != null && (
                  <span class="speaker-name">{speakerLabel(turn.speaker)}: </span>
                )}
                <span class="final">{turn.text.trimStart()}</span>
                {index === all.length - 1 && interim.length > 0 && (
                  <span class="interim" aria-hidden="true">
                    {interim.map((word) => word.text).join("")}
                  </span>
                )}
              </p>
            ))}
            {finals.length === 0 && interim.length > 0 && (
              <p class="live-turn">
                <span class="interim" aria-hidden="true">
                  {interim.map((word) => word.text).join("").trimStart()}
                </span>
              </p>
            )}
          </div>
          {busy && transcriptId && targets.length > 0 && (
            <div class="captions-grid">
              {targets.map((code) => {
                const shown = (captions[code] ?? []).slice(-SHOWN_CAPTIONS);
                const listenHref =
                  `/transcripts/${encodeURIComponent(transcriptId)}/listen` +
                  `?language=${encodeURIComponent(code)}`;
                return (
                  <section
                    key={code}
                    class="captions"
                    data-language={code}
                    aria-labelledby={`captions-${code}`}
                  >
                    <h3 id={`captions-${code}`} class="subhead">
                      Captions in {languageName(code)}
                    </h3>
                    {shown.length === 0 ? (
                      <p class="hint">Translated sentences appear here.</p>
                    ) : (
                      <ol class="caption-list" lang={code} aria-live="polite">
                        {shown.map((caption) => (
                          <li key={caption.index} class="caption">
                            <span class="caption-time">{clock(caption.start)}</span>
                            <span class="caption-text">{caption.text}</span>
                          </li>
                        ))}
                      </ol>
                    )}
                    {/* A new tab: leaving this page would end the recording. */}
                    <p>
                      <a href={listenHref} target="_blank" rel="noopener">
                        Listen in {languageName(code)}
                        <span class="visually-hidden"> (opens in a new tab)</span>
                      </a>
                    </p>
                  </section>
                );
              })}
            </div>
          )}
          {topics.length > 0 && (
            <>
              <h3 class="subhead">Topics so far</h3>
              <ul class="live-topics">
                {topics.map((topic, index) => (
                  <li key={index}>{topic}</li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}
    </section>
  );
}
