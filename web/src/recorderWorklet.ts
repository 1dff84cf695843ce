// Runs on the audio thread: hands the microphone's samples (mono, at the context's rate) to the
// page in blocks of 100 ms, copied, so the page can send them while the next block fills.
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}
declare function registerProcessor(name: string, processor: unknown): void;

class Capture extends AudioWorkletProcessor {
  private block: Float32Array;
  private filled = 0;

  /** `processorOptions.blockSize`: samples per block (the page knows the rate). */
  constructor(options: { processorOptions?: { blockSize?: number } }) {
    super(options);
    this.block = new Float32Array(Math.max(128, options.processorOptions?.blockSize ?? 1600));
  }

  process(inputs: Float32Array[][]): boolean {
    const channel = inputs[0]?.[0];
    if (!channel) return true;
    let offset = 0;
    while (offset < channel.length) {
      const take = Math.min(channel.length - offset, this.block.length - this.filled);
      this.block.set(channel.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.block.length) {
        const full = this.block;
        this.block = new Float32Array(full.length); // before the transfer empties `full`
        this.filled = 0;
        this.port.postMessage(full, [full.buffer]);
      }
    }
    return true;
  }
}

registerProcessor("reflector-capture", Capture);
