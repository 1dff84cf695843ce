// The recording's player: a waveform (wavesurfer.js) drawn from the server's peaks, so the
// browser never downloads and decodes the whole file to draw it; the MP3 streams with Range
// requests as it plays. Topic markers and one lane per speaker sit under the waveform.
import type { Ref } from "preact";
import { useEffect, useImperativeHandle, useRef, useState } from "preact/hooks";
import WaveSurfer from "wavesurfer.js";
import { api, type Topic } from "../api/client";
import { clock, durationWords } from "../format";
import { BackwardIcon, ForwardIcon, PauseIcon, PlayIcon } from "./icons";

export interface PlayerHandle {
  /** Moves to `seconds`; `play` starts playback from there. */
  seek(seconds: number, play?: boolean): void;
}

export interface Lane {
  speaker: number;
  name: string;
  /** `[start, end]` in seconds. */
  turns: [number, number][];
}

const SPEEDS = [0.75, 1, 1.25, 1.5, 2];
const SPEAKER_COLOURS = 8;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function colours() {
  return {
    waveColor: cssVar("--wave"),
    progressColor: cssVar("--accent"),
    cursorColor: cssVar("--text"),
  };
}

/** The nonce the server put in the page for this load (see `reflector.api.webapp`): the
 * waveform styles its shadow DOM with a `<style>` element, which the CSP allows only so. */
function styleNonce(): string | undefined {
  return document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content || undefined;
}

export function Player(props: {
  transcriptId: string;
  duration: number;
  topics: Topic[];
  lanes: Lane[];
  handle: Ref<PlayerHandle | null>;
  onTime: (seconds: number) => void;
}) {
  const { transcriptId, duration, topics, lanes, handle, onTime } = props;
  const audio = useRef<HTMLAudioElement>(null);
  const container = useRef<HTMLDivElement>(null);
  const surfer = useRef<WaveSurfer | null>(null);
  const [playing, setPlaying] = useState(false);
  const [second, setSecond] = useState(0);
  const [speed, setSpeed] = useState(1);
  const [problem, setProblem] = useState<string | null>(null);
  const latestOnTime = useRef(onTime);
  latestOnTime.current = onTime;
  // Where playback is, or is going: a seek lands only once the media has data there, so the
  // element's own currentTime can lag behind several quick key presses.
  const position = useRef(0);

  useEffect(() => {
    let cancelled = false;
    let created: WaveSurfer | null = null;
    const media = audio.current!;
    const scheme = window.matchMedia("(prefers-color-scheme: dark)");
    const recolour = () => created?.setOptions(colours());

    api
      .GET("/v1/transcripts/{transcript_id}/waveform", {
        params: { path: { transcript_id: transcriptId } },
      })
      .then(({ data }) => {
        if (cancelled || !container.current) return;
        // Without stored peaks (an old transcript) the line is flat; the audio still plays.
        const peaks = data?.peaks.length ? data.peaks : [0, 0];
        created = WaveSurfer.create({
          container: container.current,
          media,
          peaks: [peaks],
          duration: data?.duration || duration || 1,
          height: 64,
          barWidth: 2,
          barGap: 1,
          barRadius: 2,
          normalize: true,
          dragToSeek: true,
          cspNonce: styleNonce(),
          ...colours(),
        });
        // While paused, the position moves only by a seek (ours, or a click or drag on the
        // waveform): a late report of where the media was is not a move.
        created.on("interaction", (time) => {
          position.current = time;
          setSecond(Math.floor(time));
          latestOnTime.current(time);
        });
        created.on("timeupdate", (time) => {
          const now = media.paused ? position.current : time;
          position.current = now;
          setSecond(Math.floor(now));
          latestOnTime.current(now);
        });
        created.on("play", () => setPlaying(true));
        created.on("pause", () => setPlaying(false));
        created.on("finish", () => setPlaying(false));
        surfer.current = created;
      });
    scheme.addEventListener("change", recolour);
    const onError = () => setProblem("The recording could not be loaded, so it cannot be played.");
    media.addEventListener("error", onError);
    return () => {
      cancelled = true;
      scheme.removeEventListener("change", recolour);
      media.removeEventListener("error", onError);
      created?.destroy();
      surfer.current = null;
    };
  }, [transcriptId]);

  const seek = (seconds: number, play = false) => {
    const target = Math.max(0, Math.min(seconds, duration || seconds));
    const media = audio.current!;
    position.current = target;
    // Straight to the element, not wavesurfer's setTime: that drops a seek made while an
    // earlier one is still landing (two quick key presses), the element takes the last one.
    media.currentTime = target;
    setSecond(Math.floor(target));
    latestOnTime.current(target);
    if (play) media.play().catch(() => undefined); // a refused autoplay leaves it paused
  };
  useImperativeHandle(handle, () => ({ seek }), [duration]);

  const toggle = () => {
    const media = audio.current!;
    if (media.paused) media.play().catch(() => undefined);
    else media.pause();
  };

  const onKey = (event: KeyboardEvent) => {
    const now = position.current;
    const moves: Record<string, number> = {
      ArrowLeft: now - 5,
      ArrowRight: now + 5,
      PageDown: now - 30,
      PageUp: now + 30,
      Home: 0,
      End: duration,
    };
    if (event.key in moves) {
      event.preventDefault();
      seek(moves[event.key]!);
    } else if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      toggle();
    }
  };

  const at = (seconds: number) => `${duration > 0 ? (seconds / duration) * 100 : 0}%`;

  return (
    <section class="player panel" aria-label="Recording">
      <audio
        ref={audio}
        preload="metadata"
        src={`/v1/transcripts/${encodeURIComponent(transcriptId)}/audio.mp3`}
      />
      <div class="player-controls">
        <button
          type="button"
          class="play"
          onClick={toggle}
          aria-label={playing ? "Pause" : "Play"}
          aria-keyshortcuts="Space"
        >
          {playing ? <PauseIcon /> : <PlayIcon />}
        </button>
        <button type="button" class="icon-only" onClick={() => seek(position.current - 10)} aria-label="Back 10 seconds">
          <BackwardIcon />
        </button>
        <button type="button" class="icon-only" onClick={() => seek(position.current + 10)} aria-label="Forward 10 seconds">
          <ForwardIcon />
        </button>
        <span class="player-time" aria-live="off">
          <span class="current-time">{clock(second)}</span> / {clock(duration)}
        </span>
        <label class="speed">
          <span class="visually-hidden">Playback speed</span>
          <select
            value={String(speed)}
            onChange={(event) => {
              const rate = Number(event.currentTarget.value);
              setSpeed(rate);
              audio.current!.playbackRate = rate;
            }}
          >
            {SPEEDS.map((rate) => (
              <option key={rate} value={String(rate)}>
                {rate}×
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="timeline">
        <div
          class="waveform"
          ref={container}
          role="slider"
          tabIndex={0}
          aria-label="Position in the recording"
          aria-valuemin={0}
          aria-valuemax={Math.round(duration)}
          aria-valuenow={second}
          aria-valuetext={`${durationWords(second)} of ${durationWords(duration)}`}
          onKeyDown={onKey}
        />
        {topics.length > 0 && (
          <ol class="topic-markers" aria-label="Topics in the recording">
            {topics.map((topic, index) => (
              <li key={topic.id} style={{ left: at(topic.start) }}>
                <button
                  type="button"
                  class="topic-marker"
                  title={`${clock(topic.start)} ${topic.title}`}
                  aria-label={`Topic ${index + 1}: ${topic.title}, at ${clock(topic.start)}`}
                  onClick={() => seek(topic.start, true)}
                >
                  {index + 1}
                </button>
              </li>
            ))}
          </ol>
        )}
        {lanes.length > 1 && (
          <div class="lanes" aria-hidden="true">
            {lanes.map((lane) => (
              <div key={lane.speaker} class={`lane spk-${lane.speaker % SPEAKER_COLOURS}`}>
                <span class="lane-name">{lane.name}</span>
                <div class="lane-track">
                  {lane.turns.map(([start, end]) => (
                    <span
                      key={start}
                      class="lane-turn"
                      style={{ left: at(start), width: at(Math.max(end - start, 0.2)) }}
                      onClick={() => seek(start, true)}
                    />
                  ))}
                </div>
              </div>
            ))}
          </div>
        )}
      </div>
      {problem && (
        <p class="field-error" role="alert">
          {problem}
        </p>
      )}
    </section>
  );
}
