// How numbers and dates read on the pages.

/** 3723.4 s -> "1:02:03"; 65 s -> "1:05". */
export function clock(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A duration in words for screen readers and titles: "1 h 2 min", "45 s". */
export function durationWords(seconds: number): string {
  const total = Math.round(seconds);
  if (total < 60) return `${total} s`;
  const h = Math.floor(total / 3600);
  const m = Math.round((total % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function dateTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
}

export const STATUS_LABELS: Record<string, string> = {
  idle: "Waiting for audio",
  uploaded: "Uploaded",
  recording: "Recording",
  processing: "Processing",
  ended: "Done",
  error: "Failed",
};

export function speakerLabel(speaker: number | null, name?: string | null): string {
  if (name) return name;
  return speaker === null ? "Unknown speaker" : `Speaker ${speaker + 1}`;
}
