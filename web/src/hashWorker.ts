// Computes a File's SHA-256 off the page's thread, a slice at a time, so the memory it needs
// stays small however large the file (the browser's own digest wants the whole file at once).
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

const SLICE_BYTES = 8 * 1024 * 1024;
// This file runs as a worker; the app's types describe a window.
const scope = self as unknown as { postMessage(message: unknown): void };

self.onmessage = async (event: MessageEvent<File>) => {
  const file = event.data;
  try {
    const hash = sha256.create();
    for (let offset = 0; offset < file.size; offset += SLICE_BYTES) {
      const slice = file.slice(offset, offset + SLICE_BYTES);
      hash.update(new Uint8Array(await slice.arrayBuffer()));
    }
    scope.postMessage({ digest: bytesToHex(hash.digest()) });
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};
