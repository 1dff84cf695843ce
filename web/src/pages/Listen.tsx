// Listen: a live session with translation, in another language. Pick one of the languages it
// is translated into and hear the translated speech as it comes, with its captions (the one
// being spoken marked). Anyone who may read the transcript may listen. The captions stay
// readable after the session; the speech is only live.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText, type Transcript } from "../api/client";
import { useTranscriptEvents } from "../api/transcriptEvents";
import { type Caption, type CaptionsByLanguage, captionOf, withCaption } from "../captions";
import { ErrorMessage, Loading, StatusBadge } from "../components/common";
import { clock } from "../format";
import { LANGUAGES, languageName } from "../languages";
import { Link } from "../router";
import { listen, type SpeechListener } from "../translatedSpeech";
import "../listen.css";

type Listening = "off" | "on" | "ended";

export function Listen({ id, language: asked }: { id: string; language: string | null }) {
  const [transcript, setTranscript] = useState<Transcript | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [captions, setCaptions] = useState<CaptionsByLanguage>({});
  const [language, setLanguage] = useState(asked ?? "");
  const [listening, setListening] = useState<Listening>("off");
  const [speaking, setSpeaking] = useState<number | null>(null);
  const [heard, setHeard] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const speech = useRef<SpeechListener | null>(null);
  const list = useRef<HTMLOListElement>(null);

  // The sentence being heard stays in sight as the captions grow.
  useEffect(() => {
    if (speaking === null) return;
    list.current?.querySelector(".speaking")?.scrollIntoView({ block: "nearest" });
  }, [speaking]);

  useEffect(() => {
    document.title = "Listen · Reflector";
    api.GET("/v1/transcripts/{transcript_id}", { params: { path: { transcript_id: id } } }).then(
      (answer) => {
        if (answer.data) {
          setTranscript(answer.data);
          document.title = `Listen: ${answer.data.title || answer.data.name} · Reflector`;
        } else setLoadError(problemText(answer.error, answer.response));
      },
      () => setLoadError(problemText(undefined)),
    );
    return () => speech.current?.stop();
  }, [id]);

  useTranscriptEvents(id, transcript !== null, {
    onOpen: () => setCaptions({}),
    onEvent: (event) => {
      const caption = captionOf(event);
      if (caption) {
        setCaptions((held) => withCaption(held, caption));
        // The first language heard is the one to offer, unless one was asked for.
        setLanguage((chosen) => chosen || caption.language);
      } else if (event.type === "STATUS") {
        setTranscript((held) => held && { ...held, status: event.data.value });
      }
    },
  });

  const stopListening = (next: Listening = "off") => {
    speech.current?.stop();
    speech.current = null;
    setListening(next);
    setSpeaking(null);
  };
  const start = () => {
    setError(null);
    if (!language) {
      setError("Choose a language first.");
      return;
    }
    stopListening();
    setHeard(0);
    try {
      speech.current = listen(id, language, {
        onSpeaking: setSpeaking,
        onReceived: setHeard,
        onEnd: () => stopListening("ended"),
        onLost: (reason) => {
          stopListening();
          setError(`${reason} Press Listen to try again.`);
        },
      });
      setListening("on");
    } catch (failure) {
      setError(`This browser cannot play the speech: ${String(failure)}`);
    }
  };

  if (loadError) return <ErrorMessage message={loadError} />;
  if (!transcript) return <Loading label="Loading the transcript…" />;

  const translated = Object.keys(captions).sort((a, b) =>
    languageName(a).localeCompare(languageName(b)),
  );
  const others = LANGUAGES.filter(([code]) => !captions[code]);
  if (language && !captions[language] && !others.some(([code]) => code === language)) {
    others.push([language, languageName(language)]);
  }
  const shown: Caption[] = captions[language] ?? [];
  const live = transcript.status === "recording";
  const title = transcript.title || transcript.name;
  const transcriptHref = `/transcripts/${encodeURIComponent(id)}`;

  return (
    <section aria-labelledby="listen-heading" class="listen">
      <div class="page-head">
        <h1 id="listen-heading">Listen</h1>
        <p class="hint">
          Hear <Link href={transcriptHref}>{title}</Link> in another language while it is
          recorded: the translated speech plays as people talk, with its captions.
        </p>
        <p class="listen-status">
          <StatusBadge status={transcript.status} />
          {!live && (
            <span class="hint">
              {" "}
              Not being recorded now: the speech is only live, the captions below stay.
            </span>
          )}
        </p>
      </div>

      <div class="listen-controls">
        <div class="field">
          <label for="listen-language">Language</label>
          <select
            id="listen-language"
            value={language}
            onChange={(event) => {
              setLanguage(event.currentTarget.value);
              if (listening === "on") stopListening();
            }}
          >
            <option value="">Choose a language</option>
            {translated.length > 0 && (
              <optgroup label="Translated in this meeting">
                {translated.map((code) => (
                  <option key={code} value={code}>
                    {languageName(code)}
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="Other languages">
              {others.map(([code, label]) => (
                <option key={code} value={code}>
                  {label}
                </option>
              ))}
            </optgroup>
          </select>
        </div>
        <div class="actions">
          {listening === "on" ? (
            <button type="button" class="danger" onClick={() => stopListening()}>
              Stop listening
            </button>
          ) : (
            <button type="button" class="primary" onClick={start} disabled={!live}>
              Listen
            </button>
          )}
        </div>
      </div>
      {listening === "on" && (
        <p class="hint" role="status">
          Listening in {languageName(language)}
          {heard > 0
            ? `: ${clock(heard)} of speech so far.`
            : ": speech plays when the next sentence is translated."}
        </p>
      )}
      {listening === "ended" && (
        <p class="hint" role="status">
          The session is over: nothing more will be said.
        </p>
      )}
      {error && <ErrorMessage message={error} />}

      {language && (
        <section class="panel captions" aria-labelledby="captions-heading">
          <h2 id="captions-heading">Captions in {languageName(language)}</h2>
          {shown.length === 0 ? (
            <p class="hint">
              {live
                ? "Captions appear here as sentences are translated."
                : "This meeting has no captions in this language."}
            </p>
          ) : (
            <ol ref={list} class="caption-list" lang={language} aria-live="polite">
              {shown.map((caption) => (
                <li
                  key={caption.index}
                  class={caption.index === speaking ? "caption speaking" : "caption"}
                  aria-current={caption.index === speaking ? "true" : undefined}
                >
                  <span class="caption-time">{clock(caption.start)}</span>
                  <span class="caption-text">{caption.text}</span>
                  <span class="caption-source" lang={transcript.source_language ?? undefined}>
                    {caption.source_text}
                  </span>
                </li>
              ))}
            </ol>
          )}
        </section>
      )}
    </section>
  );
}
