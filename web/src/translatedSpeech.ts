// Translated speech of a live session, played as it comes: WS
// /v1/transcripts/{id}/translations/{language}/speech sends a JSON header per piece of speech
// (`{"type": "speech", index, text, format: "s16le", sample_rate}`) followed by its audio as one
// binary message, and `{"type": "end"}` when the session is over. Pieces are queued back to back
// on one Web Audio clock, so they neither overlap nor leave gaps of their own.

interface SpeechHeader {
  type: "speech";
  index: number;
  text: string;
  format: string;
  sample_rate: number;
}

export interface SpeechHandlers {
  /** A caption's sentence starts being heard. */
  onSpeaking: (index: number) => void;
  /** Seconds of speech received so far. */
  onReceived: (seconds: number) => void;
  /** The session is over: nothing more will come. */
  onEnd: () => void;
  /** The connection closed before the end (`reason` in words). */
  onLost: (reason: string) => void;
}

export interface SpeechListener {
  stop(): void;
}

/** A short lead so the first piece does not start before the context is running. */
const LEAD_SECONDS = 0.05;

export function speechUrl(id: string, language: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const path = `/v1/transcripts/${encodeURIComponent(id)}/translations/${encodeURIComponent(language)}`;
  return `${scheme}://${window.location.host}${path}/speech`;
}

/** 16-bit little-endian PCM as floats in [-1, 1]. */
function samplesOf(pcm: ArrayBuffer): Float32Array<ArrayBuffer> {
  const view = new DataView(pcm);
  const samples = new Float32Array(Math.floor(pcm.byteLength / 2));
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
  return samples;
}

/** Starts listening; call it from a click, as browsers start audio only after a gesture. */
export function listen(id: string, language: string, handlers: SpeechHandlers): SpeechListener {
  const context = new AudioContext();
  void context.resume();
  const socket = new WebSocket(speechUrl(id, language));
  socket.binaryType = "arraybuffer";
  let header: SpeechHeader | null = null;
  let playhead = 0;
  let received = 0;
  let ended = false;
  let stopped = false;
  const timers = new Set<number>();

  const play = (pcm: ArrayBuffer, piece: SpeechHeader) => {
    const samples = samplesOf(pcm);
    if (samples.length === 0) return;
    const buffer = context.createBuffer(1, samples.length, piece.sample_rate);
    buffer.copyToChannel(samples, 0);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const at = Math.max(playhead, context.currentTime + LEAD_SECONDS);
    source.start(at);
    playhead = at + buffer.duration;
    received += buffer.duration;
    handlers.onReceived(received);
    const timer = window.setTimeout(
      () => {
        timers.delete(timer);
        handlers.onSpeaking(piece.index);
      },
      Math.max(0, (at - context.currentTime) * 1000),
    );
    timers.add(timer);
  };

  socket.onmessage = (message) => {
    if (typeof message.data !== "string") {
      if (header) play(message.data as ArrayBuffer, header);
      header = null;
      return;
    }
    let data: { type?: string };
    try {
      data = JSON.parse(message.data) as { type?: string };
    } catch {
      return;
    }
    if (data.type === "speech") header = data as SpeechHeader;
    else if (data.type === "end") {
      ended = true;
      handlers.onEnd();
    }
  };
  socket.onclose = (event) => {
    if (stopped || ended) return;
    handlers.onLost(
      event.code === 1008
        ? `The server refused: ${event.reason || "you may not read this transcript"}.`
        : "The connection to the server was lost.",
    );
  };

  return {
    stop() {
      stopped = true;
      socket.close();
      timers.forEach((timer) => window.clearTimeout(timer));
      void context.close();
    },
  };
}
