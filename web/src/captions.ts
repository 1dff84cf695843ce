// Translated captions of a live session: the transcript's TRANSLATION events, one list per
// language, in the order of their sentences. The events replay after a reconnect, so a caption
// already held is replaced, never added twice.
import type { Schemas, TranscriptEvent } from "./api/client";

export type Caption = Schemas["CaptionData"];
export type CaptionsByLanguage = Record<string, Caption[]>;

/** The caption carried by `event`, if it is a translation. */
export function captionOf(event: TranscriptEvent): Caption | null {
  return event.type === "TRANSLATION" ? event.data : null;
}

/** `captions` with `caption` in its place (by sentence number); a new object, for state. */
export function withCaption(captions: CaptionsByLanguage, caption: Caption): CaptionsByLanguage {
  const list = captions[caption.language] ?? [];
  const at = list.findIndex((held) => held.index >= caption.index);
  let next: Caption[];
  if (at === -1) next = [...list, caption];
  else if (list[at]!.index === caption.index) {
    next = list.map((held, i) => (i === at ? caption : held));
  }
  else next = [...list.slice(0, at), caption, ...list.slice(at)];
  return { ...captions, [caption.language]: next };
}
