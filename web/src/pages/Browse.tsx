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
import { RetryIcon, SearchIcon, TrashIcon } from "../components/icons";
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
  /** The trash: transcripts moved there, to restore or delete for good. */
  trash: boolean;
  page: number;
}

function readFilters(query: URLSearchParams): Filters {
  const status = query.get("status") ?? "";
  const page = Number.parseInt(query.get("page") ?? "1", 10);
  return {
    q: (query.get("q") ?? "").trim(),
    status: (STATUSES as readonly string[]).includes(status) ? (status as TranscriptStatus) : "",
    room: (query.get("room") ?? "").slice(0, 64),
    trash: query.get("trash") === "1",
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

function urlOf(filters: Filters): string {
  const query = new URLSearchParams();
  if (filters.q) query.set("q", filters.q);
  if (filters.status) query.set("status", filters.status);
  if (filters.room) query.set("room", filters.room);
  if (filters.trash) query.set("trash", "1");
  if (filters.page > 1) query.set("page", String(filters.page));
  const text = query.toString();
  return text ? `/?${text}` : "/";
}

async function load(filters: Filters): Promise<Results> {
  if (filters.q && !filters.trash) {
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
        deleted: filters.trash,
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
  // The last card action, said in words; a move to the trash can be undone from here.
  const [notice, setNotice] = useState<Notice | null>(null);
  const noticeRef = useRef<HTMLDivElement>(null);
  const [reloads, setReloads] = useState(0);
  const request = useRef(0);
  const shown = useRef(view);
  shown.current = view;

  const key = urlOf(filters);
  useEffect(() => setDraft(filters.q), [filters.q]);
  useEffect(() => {
    document.title = filters.trash
      ? "Trash · Reflector"
      : filters.q
        ? `“${filters.q}” · Reflector`
        : "Transcripts · Reflector";
  }, [filters.q, filters.trash]);

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
  useEffect(() => setNotice(null), [key]);

  /** A card's action went through: say so, keep the focus on the page, read the list again. */
  const onDone = (done: Notice) => {
    setNotice(done);
    // The card may be gone with the focus in it: the notice takes the focus instead.
    requestAnimationFrame(() => noticeRef.current?.focus());
    refresh(true);
  };

  return (
    <section aria-labelledby="browse-heading">
      <div class="page-head page-head-row">
        <h1 id="browse-heading">{filters.trash ? "Trash" : "Transcripts"}</h1>
        {filters.trash ? (
          <Link href="/">All transcripts</Link>
        ) : (
          <Link class="trash-link" href="/?trash=1">
            <TrashIcon />
            Trash
          </Link>
        )}
      </div>
      {filters.trash && (
        <p class="hint">
          Transcripts in the trash can be restored, or deleted for good with their audio.
        </p>
      )}
      {notice && (
        <div class="notice" role="status" tabIndex={-1} ref={noticeRef}>
          <p>{notice.text}</p>
          {notice.undo && (
            <button
              type="button"
              class="small"
              onClick={async () => {
                const problem = await notice.undo!();
                setNotice({ text: problem ?? "Restored." });
                refresh(true);
              }}
            >
              Undo
            </button>
          )}
        </div>
      )}
      {!filters.trash && <form
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
      </form>}
      {filters.q && !filters.trash && (
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
          <ResultList results={view.results} filters={filters} onDone={onDone} />
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

function ResultList(props: { results: Results; filters: Filters; onDone: (done: Notice) => void }) {
  const { results, filters, onDone } = props;
  if (results.items.length === 0) {
    return (
      <Empty>
        {filters.trash ? (
          <p>The trash is empty.</p>
        ) : filters.q ? (
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
    <ul class="cards" aria-label={filters.trash ? "Transcripts in the trash" : "Transcripts"}>
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
          {/* Someone else's transcript: only its owner may trash or reprocess it. */}
          {!item.shared_with_me && (
            <CardActions item={item} trash={filters.trash} onDone={onDone} />
          )}
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

interface Notice {
  text: string;
  /** Takes the action back; null when it went through, else the problem in words. */
  undo?: () => Promise<string | null>;
}

type Asking = null | "reprocess" | "destroy";

const REPROCESSABLE = new Set(["ended", "error"]);

async function restore(id: string): Promise<string | null> {
  const { error, response } = await api.POST("/v1/transcripts/{transcript_id}/restore", {
    params: { path: { transcript_id: id } },
  });
  return response.ok ? null : problemText(error, response);
}

/** A card's own actions: process again and move to the trash; in the trash, restore and
 * delete for good. The two that cannot be taken back ask first. */
function CardActions(props: { item: Transcript; trash: boolean; onDone: (done: Notice) => void }) {
  const { item, trash, onDone } = props;
  const [asking, setAsking] = useState<Asking>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  const title = item.title || item.name || "Untitled transcript";
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);

  const act = async (work: () => Promise<{ error?: unknown; response: Response }>, done: Notice) => {
    setBusy(true);
    setProblem(null);
    let failed: string | null;
    try {
      const { error, response } = await work();
      failed = response.ok ? null : problemText(error, response);
    } catch {
      failed = "The server could not be reached. Check that it is running, then try again.";
    }
    setBusy(false);
    if (failed) {
      setProblem(failed);
      return;
    }
    setAsking(null);
    onDone(done);
  };
  const path = { params: { path: { transcript_id: item.id } } };
  const hidden = <span class="visually-hidden"> “{title}”</span>;

  if (asking) {
    const destroy = asking === "destroy";
    return (
      <div
        class={destroy ? "confirm" : "confirm confirm-neutral"}
        role="group"
        aria-label={destroy ? "Confirm deletion" : "Confirm processing"}
      >
        <p>
          {destroy
            ? `Delete “${title}” for good, with its audio? This cannot be undone.`
            : `Process “${title}” again? Its text, speakers, topics and summary are made anew.`}
        </p>
        <div class="actions">
          <button
            ref={confirm}
            type="button"
            class={destroy ? "danger" : "primary"}
            disabled={busy}
            onClick={() =>
              destroy
                ? act(
                    () =>
                      api.DELETE("/v1/transcripts/{transcript_id}", {
                        params: { path: { transcript_id: item.id }, query: { permanent: true } },
                      }),
                    { text: `“${title}” was deleted for good.` },
                  )
                : act(() => api.POST("/v1/transcripts/{transcript_id}/process", path), {
                    text: `“${title}” is being processed again.`,
                  })
            }
          >
            {destroy ? "Delete for good" : "Process again"}
          </button>
          <button type="button" onClick={() => setAsking(null)}>
            Cancel
          </button>
        </div>
        {problem && (
          <p class="field-error" role="alert">
            {problem}
          </p>
        )}
      </div>
    );
  }
  return (
    <div class="card-actions">
      {trash ? (
        <>
          <button
            type="button"
            class="small"
            disabled={busy}
            onClick={() =>
              act(() => api.POST("/v1/transcripts/{transcript_id}/restore", path), {
                text: `“${title}” was restored.`,
              })
            }
          >
            Restore{hidden}
          </button>
          <button type="button" class="small danger-outline" onClick={() => setAsking("destroy")}>
            <TrashIcon />
            Delete for good{hidden}
          </button>
        </>
      ) : (
        <>
          {REPROCESSABLE.has(item.status) && item.has_audio && !item.audio_deleted && (
            <button type="button" class="small" onClick={() => setAsking("reprocess")}>
              <RetryIcon />
              Process again{hidden}
            </button>
          )}
          <button
            type="button"
            class="small"
            disabled={busy}
            onClick={() =>
              act(() => api.DELETE("/v1/transcripts/{transcript_id}", path), {
                text: `“${title}” was moved to the trash.`,
                undo: () => restore(item.id),
              })
            }
          >
            <TrashIcon />
            Move to trash{hidden}
          </button>
        </>
      )}
      {problem && (
        <p class="field-error" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}
