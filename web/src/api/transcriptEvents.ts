// One transcript's events over WS /v1/transcripts/{id}/events: the server replays the stored
// ones, then forwards new ones. After a reconnect the replay comes again, so `onOpen` tells
// the page to start over from an empty state.
import { useEffect, useRef } from "preact/hooks";
import type { TranscriptEvent } from "./client";

export interface TranscriptEventHandlers {
  onOpen: () => void;
  onEvent: (event: TranscriptEvent) => void;
}

export function transcriptEventsUrl(id: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/v1/transcripts/${encodeURIComponent(id)}/events`;
}

export function useTranscriptEvents(
  id: string,
  enabled: boolean,
  handlers: TranscriptEventHandlers,
): void {
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    if (!enabled) return;
    let socket: WebSocket | undefined;
    let retry: number | undefined;
    let pause = 1000;
    let closed = false;

    const connect = () => {
      socket = new WebSocket(transcriptEventsUrl(id));
      socket.onopen = () => {
        pause = 1000;
        latest.current.onOpen();
      };
      socket.onmessage = (message) => {
        try {
          latest.current.onEvent(JSON.parse(String(message.data)) as TranscriptEvent);
        } catch {
          // A message this version does not understand is skipped, not fatal.
        }
      };
      socket.onclose = () => {
        if (closed) return;
        retry = window.setTimeout(connect, pause);
        pause = Math.min(pause * 2, 30_000);
      };
    };
    connect();
    return () => {
      closed = true;
      window.clearTimeout(retry);
      socket?.close();
    };
  }, [id, enabled]);
}
