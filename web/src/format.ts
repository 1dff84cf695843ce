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

/** 1536 -> "1.5 KB"; decimal units, as file managers show sizes. */
export function bytes(count: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return count === 1 ? "1 byte" : `${count} bytes`;
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** Time left in words: "about 3 min left", "12 s left". */
export function timeLeft(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${durationWords(seconds)} left`;
}

/** A calendar date without the time, for deadlines and key expiry. */
export function date(iso: string): string {
  const parsed = new Date(iso);
  return Number.isNaN(parsed.getTime())
    ? iso
    : parsed.toLocaleDateString(undefined, { dateStyle: "medium" });
}
