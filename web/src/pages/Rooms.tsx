// Rooms: the caller's rooms and the shared ones, by name, each with its address, how its
// meetings go, and links to open it and (for its owner) to change it.
import { useEffect, useState } from "preact/hooks";
import { api, problemText } from "../api/client";
import {
  labelOf,
  PLATFORMS,
  ROOM_MODES,
  type Room,
  roomPath,
  roomSettingsPath,
} from "../api/rooms";
import { Empty, ErrorMessage, Loading } from "../components/common";
import { PlusIcon } from "../components/icons";
import { Link, type Location, navigate } from "../router";
import "../rooms.css";

const PAGE_SIZE = 50;

type View =
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "ready"; rooms: Room[]; total: number; pages: number };

export function Rooms({ location }: { location: Location }) {
  const page = Math.max(1, Number.parseInt(location.query.get("page") ?? "1", 10) || 1);
  const created = location.query.get("created");
  const deleted = location.query.get("deleted");
  const [view, setView] = useState<View>({ state: "loading" });
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    document.title = "Rooms · Reflector";
  }, []);
  useEffect(() => {
    setView({ state: "loading" });
    api.GET("/v1/rooms", { params: { query: { page, size: PAGE_SIZE } } }).then(
      ({ data, error, response }) =>
        setView(
          data
            ? { state: "ready", rooms: data.items, total: data.total, pages: data.pages }
            : { state: "error", message: problemText(error, response) },
        ),
      () => setView({ state: "error", message: problemText(undefined) }),
    );
  }, [page, reloads]);

  return (
    <section aria-labelledby="rooms-heading">
      <div class="page-head rooms-head">
        <h1 id="rooms-heading">Rooms</h1>
        <Link class="button primary" href="/new-room">
          <PlusIcon />
          New room
        </Link>
      </div>
      <p class="hint rooms-intro">
        A room is a lasting address for video meetings on Daily or Whereby. Its recordings become
        transcripts here.
      </p>
      {(created || deleted) && (
        <p class="notice" role="status">
          {created ? (
            <span>
              Room <Link href={roomPath(created)}>{created}</Link> created.
            </span>
          ) : (
            <span>Room “{deleted}” deleted. Its transcripts stay.</span>
          )}
        </p>
      )}
      {view.state === "loading" && <Loading label="Loading rooms…" />}
      {view.state === "error" && (
        <ErrorMessage message={view.message} onRetry={() => setReloads((n) => n + 1)} />
      )}
      {view.state === "ready" &&
        (view.rooms.length === 0 ? (
          <Empty>
            <p>No rooms yet.</p>
            <p class="hint">
              <Link href="/new-room">Create a room</Link> to hold meetings and transcribe them.
            </p>
          </Empty>
        ) : (
          <>
            <ul class="cards" aria-label="Rooms">
              {view.rooms.map((room) => (
                <RoomCard key={room.id} room={room} />
              ))}
            </ul>
            {view.pages > 1 ? (
              <nav class="pagination" aria-label="Pages">
                <button
                  type="button"
                  disabled={page <= 1}
                  onClick={() => navigate(`/rooms?page=${page - 1}`)}
                >
                  Previous
                </button>
                <span aria-current="page">
                  Page {page} of {view.pages}
                </span>
                <button
                  type="button"
                  disabled={page >= view.pages}
                  onClick={() => navigate(`/rooms?page=${page + 1}`)}
                >
                  Next
                </button>
              </nav>
            ) : (
              <p class="count">{view.total === 1 ? "1 room" : `${view.total} rooms`}</p>
            )}
          </>
        ))}
    </section>
  );
}

function RoomCard({ room }: { room: Room }) {
  return (
    <li class="card room-card" data-room={room.name}>
      <div class="card-row">
        <div class="room-card-main">
          <Link class="card-title" href={roomPath(room.name)}>
            {room.name}
          </Link>
          <p class="meta">
            <span>{labelOf(PLATFORMS, room.platform)}</span>
            <span>{labelOf(ROOM_MODES, room.room_mode).split(":")[0]}</span>
            <span>
              {room.recording_type === "none"
                ? "Not recorded"
                : room.recording_type === "local"
                  ? "Recorded locally"
                  : "Recorded"}
            </span>
            {room.is_shared && <span class="tag">Shared</span>}
            {room.is_locked && <span class="tag">Locked</span>}
            {!room.is_owner && <span>Someone else's</span>}
          </p>
        </div>
        <div class="room-card-actions">
          <Link class="button" href={roomPath(room.name)}>
            Open<span class="visually-hidden"> {room.name}</span>
          </Link>
          {room.is_owner && (
            <Link class="button" href={roomSettingsPath(room.name)}>
              Settings<span class="visually-hidden"> of {room.name}</span>
            </Link>
          )}
        </div>
      </div>
    </li>
  );
}
