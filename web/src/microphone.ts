// The microphone as 16 kHz mono float samples (what the live API takes), in blocks of 100 ms,
// with the level of each block for a meter. The browser resamples: the audio context runs at
// 16 kHz whatever the device's rate.
import workletUrl from "./recorderWorklet.ts?worker&url";

export const SAMPLE_RATE = 16000;

export interface Capture {
  stop(): void;
}

/** Starts capturing from `deviceId` (or the default microphone); `onBlock` gets each block
 * and its level (RMS, 0 to 1). Rejects with a message in words when the microphone cannot be
 * used. */
export async function startCapture(
  deviceId: string | undefined,
  onBlock: (samples: Float32Array, level: number) => void,
): Promise<Capture> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser cannot record here (a microphone needs HTTPS or localhost).");
  }
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        deviceId: deviceId ? { exact: deviceId } : undefined,
        channelCount: 1,
        echoCancellation: true,
        noiseSuppression: true,
      },
    });
  } catch (error) {
    const name = (error as DOMException).name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      throw new Error("Microphone access was refused. Allow it in the browser's site settings.");
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      throw new Error("No microphone was found. Connect one, or choose another.");
    }
    if (name === "NotReadableError") {
      throw new Error("The microphone is in use by another program or cannot be opened.");
    }
    throw new Error(`The microphone could not be opened: ${String(error)}`);
  }
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  try {
    await context.audioWorklet.addModule(workletUrl);
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
    throw new Error(`The browser could not start recording: ${String(error)}`);
  }
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, "reflector-capture", {
    processorOptions: { blockSize: SAMPLE_RATE / 10 },
  });
  capture.port.onmessage = (event: MessageEvent<Float32Array>) => {
    const samples = event.data;
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    onBlock(samples, Math.min(1, Math.sqrt(sum / samples.length) * 4));
  };
  source.connect(capture);
  // Nothing is played back: the node only needs to be pulled, so it goes to a silent gain.
  const silent = context.createGain();
  silent.gain.value = 0;
  capture.connect(silent).connect(context.destination);
  await context.resume();
  return {
    stop() {
      capture.port.onmessage = null;
      source.disconnect();
      capture.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      void context.close();
    },
  };
}

/** The audio inputs; their names show once the page may use the microphone. */
export async function microphones(): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((device) => device.kind === "audioinput");
}
