// The signed-in user's events (created, status changed, deleted) over WS /v1/events, kept open
// with a growing pause between reconnects; `onReconnect` lets a page re-read what it missed.
import { useEffect, useRef } from "preact/hooks";
import type { UserEvent } from "./client";

export interface UserEventHandlers {
  onEvent: (event: UserEvent) => void;
  onReconnect?: () => void;
}

export function eventsUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/v1/events`;
}

export function useUserEvents(handlers: UserEventHandlers): void {
  const latest = useRef(handlers);
  latest.current = handlers;

  useEffect(() => {
    let socket: WebSocket | undefined;
    let retry: number | undefined;
    let pause = 1000;
    let opened = false;
    let closed = false;

    const connect = () => {
      socket = new WebSocket(eventsUrl());
      socket.onopen = () => {
        if (opened) latest.current.onReconnect?.();
        opened = true;
        pause = 1000;
      };
      socket.onmessage = (message) => {
        try {
          latest.current.onEvent(JSON.parse(String(message.data)) as UserEvent);
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
  }, []);
}
