// Spoken languages offered for a recording: ones Whisper knows, by their ISO 639-1 codes.
const CODES = [
  "ar", "bg", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "he", "hi",
  "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "ru",
  "sk", "sl", "sr", "sv", "sw", "th", "tr", "uk", "ur", "vi", "zh",
] as const;

const names = new Intl.DisplayNames(["en"], { type: "language" });

export function languageName(code: string): string {
  try {
    return names.of(code) ?? code;
  } catch {
    return code;
  }
}

/** `[code, name]`, by name. */
export const LANGUAGES: [string, string][] = CODES.map(
  (code): [string, string] => [code, languageName(code)],
).sort((a, b) => a[1].localeCompare(b[1]));
