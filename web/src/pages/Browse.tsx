// Home: the user's transcripts, newest first, or the server's full-text search; statuses follow
// WS /v1/events without a reload. What is shown (search, status, page) lives in the URL.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  api,
  problemText,
  type SearchHit,
  STATUSES,
  type Transcript,
  type TranscriptStatus,
  type UserEvent,
} from "../api/client";
import { useUserEvents } from "../api/events";
import { Empty, ErrorMessage, Loading, StatusBadge } from "../components/common";
import { RoomFilter } from "../components/RoomFilter";
import { SearchIcon } from "../components/icons";
import { clock, dateTime, durationWords, STATUS_LABELS } from "../format";
import { markdownText } from "../markdown";
import { Link, type Location, navigate } from "../router";
import { snippetParts } from "../snippet";

const PAGE_SIZE = 20;

type Results =
  | { kind: "list"; items: Transcript[]; total: number; pages: number }
  | { kind: "search"; items: SearchHit[]; total: number; pages: number };

type View =
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "ready"; results: Results };

interface Filters {
  q: string;
  status: TranscriptStatus | "";
  /** A room's id: only the transcripts recorded in it. */
  room: string;
  page: number;
}

function readFilters(query: URLSearchParams): Filters {
  const status = query.get("status") ?? "";
  const page = Number.parseInt(query.get("page") ?? "1", 10);
  return {
    q: (query.get("q") ?? "").trim(),
    status: (STATUSES as readonly string[]).includes(status) ? (status as TranscriptStatus) : "",
    room: (query.get("room") ?? "").slice(0, 64),
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

function urlOf(filters: Filters): string {
  const query = new URLSearchParams();
  if (filters.q) query.set("q", filters.q);
  if (filters.status) query.set("status", filters.status);
  if (filters.room) query.set("room", filters.room);
  if (filters.page > 1) query.set("page", String(filters.page));
  const text = query.toString();
  return text ? `/?${text}` : "/";
}

async function load(filters: Filters): Promise<Results> {
  if (filters.q) {
    const { data, error, response } = await api.GET("/v1/search", {
      params: { query: { q: filters.q, page: filters.page, size: PAGE_SIZE } },
    });
    if (!data) throw new Error(problemText(error, response));
    return { kind: "search", items: data.items, total: data.total, pages: data.pages };
  }
  const { data, error, response } = await api.GET("/v1/transcripts", {
    params: {
      query: {
        status: filters.status || null,
        room_id: filters.room || null,
        sort: "-created_at",
        page: filters.page,
        size: PAGE_SIZE,
      },
    },
  });
  if (!data) throw new Error(problemText(error, response));
  return { kind: "list", items: data.items, total: data.total, pages: data.pages };
}

export function Browse({ location }: { location: Location }) {
  const filters = readFilters(location.query);
  const [view, setView] = useState<View>({ state: "loading" });
  const [draft, setDraft] = useState(filters.q);
  const [announcement, setAnnouncement] = useState("");
  const [reloads, setReloads] = useState(0);
  const request = useRef(0);
  const shown = useRef(view);
  shown.current = view;

  const key = urlOf(filters);
  useEffect(() => setDraft(filters.q), [filters.q]);
  useEffect(() => {
    document.title = filters.q ? `“${filters.q}” · Reflector` : "Transcripts · Reflector";
  }, [filters.q]);

  // `quiet` keeps what is shown while it re-reads (after an event), instead of a spinner.
  const refresh = (quiet: boolean) => {
    const mine = ++request.current;
    if (!quiet) setView({ state: "loading" });
    load(filters).then(
      (results) => mine === request.current && setView({ state: "ready", results }),
      (error: Error) =>
        mine === request.current &&
        (!quiet || shown.current.state !== "ready") &&
        setView({ state: "error", message: error.message }),
    );
  };
  useEffect(() => refresh(false), [key, reloads]);

  const onEvent = (event: UserEvent) => {
    if (event.type === "TRANSCRIPT_STATUS") {
      const status = event.data.value;
      const current = shown.current;
      if (current.state === "ready" && current.results.kind === "list") {
        const changed = current.results.items.find((item) => item.id === event.transcript_id);
        if (changed) {
          const items = current.results.items.map((item) =>
            item === changed ? { ...item, status } : item,
          );
          const next: View = { state: "ready", results: { ...current.results, items } };
          shown.current = next; // a second event before the next render builds on this one
          setView(next);
          setAnnouncement(`${changed.title || changed.name}: ${STATUS_LABELS[status] ?? status}`);
        }
      }
      // A finished transcript has a new title and duration: read the page again, quietly.
      if (status === "ended" || status === "error") refresh(true);
    } else {
      refresh(true);
    }
  };
  useUserEvents({ onEvent, onReconnect: () => refresh(true) });

  const go = (next: Partial<Filters>) => navigate(urlOf({ ...filters, page: 1, ...next }));

  return (
    <section aria-labelledby="browse-heading">
      <div class="page-head">
        <h1 id="browse-heading">Transcripts</h1>
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          go({ q: draft.trim() });
        }}
      >
        <div class="field search-field">
          <label for="search">Search</label>
          <div class="search-box">
            <input
              id="search"
              type="search"
              name="q"
              value={draft}
              maxLength={500}
              placeholder="Words, titles, summaries"
              onInput={(event) => setDraft(event.currentTarget.value)}
            />
            <button type="submit" class="icon-button" aria-label="Search">
              <SearchIcon />
            </button>
          </div>
        </div>
        <div class="field">
          <label for="status">Status</label>
          <select
            id="status"
            value={filters.status}
            disabled={Boolean(filters.q)}
            aria-describedby={filters.q ? "status-note" : undefined}
            onChange={(event) => go({ status: event.currentTarget.value as TranscriptStatus })}
          >
            <option value="">Any status</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {STATUS_LABELS[status]}
              </option>
            ))}
          </select>
          {filters.q && (
            <span id="status-note" class="hint">
              Search covers every status and room
            </span>
          )}
        </div>
        <RoomFilter
          value={filters.room}
          disabled={Boolean(filters.q)}
          describedBy={filters.q ? "status-note" : undefined}
          onChange={(room) => go({ room })}
        />
      </form>
      {filters.q && (
        <p class="search-summary">
          Results for <strong>“{filters.q}”</strong>{" "}
          <button type="button" class="link-button" onClick={() => go({ q: "" })}>
            Clear search
          </button>
        </p>
      )}
      <p class="visually-hidden" aria-live="polite">
        {announcement}
      </p>
      {view.state === "loading" && <Loading label="Loading transcripts…" />}
      {view.state === "error" && (
        <ErrorMessage message={view.message} onRetry={() => setReloads((n) => n + 1)} />
      )}
      {view.state === "ready" && (
        <>
          <ResultList results={view.results} filters={filters} />
          <Pagination
            page={filters.page}
            pages={view.results.pages}
            total={view.results.total}
            onPage={(page) => navigate(urlOf({ ...filters, page }))}
          />
        </>
      )}
    </section>
  );
}

function ResultList({ results, filters }: { results: Results; filters: Filters }) {
  if (results.items.length === 0) {
    return (
      <Empty>
        {filters.q ? (
          <p>No transcript mentions “{filters.q}”.</p>
        ) : filters.room ? (
          <p>
            No transcript {filters.status ? `is “${STATUS_LABELS[filters.status]}” ` : ""}in this
            room.
          </p>
        ) : filters.status ? (
          <p>No transcript is “{STATUS_LABELS[filters.status]}”.</p>
        ) : (
          <>
            <p>No transcripts yet.</p>
            <p class="hint">
              <Link href="/new">Upload a recording</Link> or{" "}
              <Link href="/record">record one</Link>; recordings sent through the{" "}
              <a href="/docs">API</a> show here too, and follow along while they are processed.
            </p>
          </>
        )}
      </Empty>
    );
  }
  if (results.kind === "search") {
    return (
      <ul class="cards" aria-label="Search results">
        {results.items.map((hit) => (
          <li key={hit.id} class="card">
            <Link class="card-title" href={`/transcripts/${encodeURIComponent(hit.id)}`}>
              {hit.title || "Untitled transcript"}
            </Link>
            <p class="snippet">
              {snippetParts(hit.snippet).map((part, i) =>
                part.match ? <mark key={i}>{part.text}</mark> : part.text,
              )}
            </p>
          </li>
        ))}
      </ul>
    );
  }
  return (
    <ul class="cards" aria-label="Transcripts">
      {results.items.map((item) => (
        <li key={item.id} class="card" data-id={item.id}>
          <div class="card-row">
            <Link class="card-title" href={`/transcripts/${encodeURIComponent(item.id)}`}>
              {item.title || item.name || "Untitled transcript"}
            </Link>
            <StatusBadge status={item.status} />
          </div>
          <p class="meta">
            <time dateTime={item.created_at}>{dateTime(item.created_at)}</time>
            {item.duration > 0 && (
              <span title={durationWords(item.duration)}>
                <span class="visually-hidden">Duration </span>
                {clock(item.duration)}
              </span>
            )}
            {item.source !== "file" && <span>{item.source === "live" ? "Live" : "Room"}</span>}
          </p>
          {item.short_summary && <p class="card-summary">{markdownText(item.short_summary)}</p>}
        </li>
      ))}
    </ul>
  );
}

function Pagination(props: {
  page: number;
  pages: number;
  total: number;
  onPage: (page: number) => void;
}) {
  const { page, pages, total, onPage } = props;
  if (pages <= 1) {
    return <p class="count">{total === 1 ? "1 transcript" : `${total} transcripts`}</p>;
  }
  return (
    <nav class="pagination" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span aria-current="page">
        Page {page} of {pages} <span class="hint">({total})</span>
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
