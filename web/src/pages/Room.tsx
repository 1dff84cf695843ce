// A room (`/rooms/<name>`): join its meeting, the platform's call embedded in the page, the
// consent question (once per meeting, the answer kept by the server), the room's running and
// upcoming meetings, and its latest transcripts.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText, type Schemas, type Transcript } from "../api/client";
import {
  asksConsent,
  type Consent,
  labelOf,
  type Meeting,
  type MeetingJoin,
  PLATFORMS,
  participantKey,
  RECORDING_TRIGGERS,
  ROOM_MODES,
  type Room,
  roomSettingsPath,
} from "../api/rooms";
import { ErrorMessage, Loading, StatusBadge } from "../components/common";
import { BackIcon } from "../components/icons";
import { dateTime } from "../format";
import { Link } from "../router";
import "../rooms.css";

type Meetings = Schemas["MeetingsOut"];

/** What the page knows of the room before joining: everything (those who see the room) or
 * nothing but its name (a guest, or a room not shared with the caller). */
type RoomView = { state: "loading" } | { state: "ready"; room: Room | null };

export function RoomPage({ name }: { name: string }) {
  const [view, setView] = useState<RoomView>({ state: "loading" });
  const [meetings, setMeetings] = useState<Meetings | null>(null);
  const [joined, setJoined] = useState<MeetingJoin | null>(null);
  const [joining, setJoining] = useState(false);
  const [joinError, setJoinError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const call = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    document.title = `${name} · Reflector`;
  }, [name]);
  useEffect(() => {
    setView({ state: "loading" });
    api.GET("/v1/rooms/{name}", { params: { path: { name } } }).then(
      ({ data }) => setView({ state: "ready", room: data ?? null }),
      () => setView({ state: "ready", room: null }),
    );
  }, [name]);
  useEffect(() => {
    if (view.state !== "ready" || !view.room) return;
    api.GET("/v1/rooms/{name}/meetings", { params: { path: { name } } }).then(
      ({ data }) => setMeetings(data ?? null),
      () => setMeetings(null),
    );
  }, [view, reloads]);

  const join = async (meetingId?: string) => {
    setJoining(true);
    setJoinError(null);
    try {
      const { data, error, response } = meetingId
        ? await api.POST("/v1/meetings/{meeting_id}/join", {
            params: { path: { meeting_id: meetingId } },
          })
        : await api.POST("/v1/rooms/{name}/meeting", { params: { path: { name } } });
      if (!data) {
        setJoinError(
          response.status === 404
            ? `There is no room named “${name}”. Check the address you were given.`
            : problemText(error, response),
        );
        return;
      }
      setJoined(data);
      setReloads((n) => n + 1);
    } catch {
      setJoinError(problemText(undefined));
    } finally {
      setJoining(false);
    }
  };

  const leave = () => {
    setJoined(null);
    setReloads((n) => n + 1);
  };

  useEffect(() => {
    if (joined) call.current?.focus();
  }, [joined?.meeting.id]);

  if (view.state === "loading") return <Loading label="Opening the room…" />;
  const room = view.room;
  const brief = joined?.room ?? room;

  return (
    <section aria-labelledby="room-heading" class="room-page">
      <Link class="back" href="/rooms">
        <BackIcon />
        Rooms
      </Link>
      <header class="transcript-head">
        <div class="card-row">
          <h1 id="room-heading">{name}</h1>
          {room?.is_owner && (
            <Link class="button" href={roomSettingsPath(name)}>
              Settings
            </Link>
          )}
        </div>
        {brief && (
          <p class="meta">
            <span>{labelOf(PLATFORMS, brief.platform)}</span>
            <span>{labelOf(ROOM_MODES, brief.room_mode)}</span>
            <span>{recordingWords(brief)}</span>
            {brief.is_locked && <span>Locked: people knock to enter</span>}
          </p>
        )}
      </header>

      {!joined ? (
        <div class="panel join-panel">
          <p>
            {brief && brief.recording_type !== "none"
              ? "Meetings in this room are recorded and transcribed."
              : "Join the room's video meeting from this page."}
            {brief?.skip_consent && brief.recording_type !== "none"
              ? " Their audio is kept without asking each participant."
              : ""}
          </p>
          <div class="actions">
            <button type="button" class="primary" disabled={joining} onClick={() => void join()}>
              {joining ? "Joining…" : "Join the meeting"}
            </button>
          </div>
          {joinError && <ErrorMessage message={joinError} onRetry={() => void join()} />}
        </div>
      ) : (
        <section aria-labelledby="call-heading" class="call">
          <div class="call-head">
            <h2 id="call-heading" ref={call} tabIndex={-1}>
              In the meeting
              {joined.join.is_owner && <span class="tag">Host</span>}
            </h2>
            <div class="actions">
              <a class="button" href={joined.join.url} target="_blank" rel="noopener noreferrer">
                Open in a new tab
              </a>
              <button type="button" onClick={leave}>
                Leave
              </button>
              {joined.meeting.recording_type === "cloud" &&
                joined.meeting.recording_trigger === "prompt" && (
                  <StartRecording meeting={joined.meeting} />
                )}
              {joined.join.is_owner && (
                <EndMeeting meeting={joined.meeting} onEnded={leave} />
              )}
            </div>
          </div>
          {asksConsent(joined.room) && <ConsentQuestion meetingId={joined.meeting.id} />}
          <iframe
            class="call-frame"
            src={joined.join.url}
            title={`Video meeting of the room ${name}`}
            allow="camera; microphone; display-capture; fullscreen; autoplay; clipboard-write"
          />
        </section>
      )}

      {room && (
        <MeetingList
          meetings={meetings}
          current={joined?.meeting.id ?? null}
          joining={joining}
          onJoin={(id) => void join(id)}
        />
      )}
      {room && <RoomTranscripts room={room} />}
    </section>
  );
}

function recordingWords(room: { recording_type: string; recording_trigger: string }): string {
  if (room.recording_type === "none") return "Not recorded";
  if (room.recording_type === "local") return "Recorded by a participant";
  const trigger = labelOf(
    RECORDING_TRIGGERS,
    room.recording_trigger as Room["recording_trigger"],
  ).toLowerCase();
  return room.recording_trigger === "none" ? "Not recorded" : `Recorded ${trigger}`;
}

type Asked =
  | { state: "loading" }
  | { state: "ready"; consent: Consent; asking: boolean }
  | { state: "error"; message: string };

/** "May this meeting's audio be kept?", asked once per meeting: the server keeps each answer
 * (a signed-in user's, or this browser's by its participant key) and gives it back here. */
function ConsentQuestion({ meetingId }: { meetingId: string }) {
  const [asked, setAsked] = useState<Asked>({ state: "loading" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);
  // Read once: where storage is refused, a new key per render would split the answers.
  const [key] = useState(participantKey);

  useEffect(() => {
    setAsked({ state: "loading" });
    api
      .GET("/v1/meetings/{meeting_id}/consent", {
        params: { path: { meeting_id: meetingId }, query: { participant_key: key } },
      })
      .then(
        ({ data, error: problem, response }) =>
          setAsked(
            data
              ? { state: "ready", consent: data, asking: data.consent_given === null }
              : { state: "error", message: problemText(problem, response) },
          ),
        () => setAsked({ state: "error", message: problemText(undefined) }),
      );
  }, [meetingId, reloads]);

  const asking = asked.state === "ready" && asked.asking;
  useEffect(() => {
    if (asking) heading.current?.focus();
  }, [asking]);

  const answer = async (given: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const { data, error: problem, response } = await api.POST(
        "/v1/meetings/{meeting_id}/consent",
        {
          params: { path: { meeting_id: meetingId } },
          body: { consent_given: given, participant_key: key },
        },
      );
      if (!data) setError(problemText(problem, response));
      else setAsked({ state: "ready", consent: data, asking: false });
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  if (asked.state === "loading") return null;
  if (asked.state === "error") {
    return <ErrorMessage message={asked.message} onRetry={() => setReloads((n) => n + 1)} />;
  }
  const { consent } = asked;
  if (!asked.asking) {
    return (
      <p class="consent-answer" role="status">
        {consent.consent_given
          ? "You agreed that this meeting's audio may be kept."
          : "You asked that this meeting's audio be deleted once it is transcribed " +
            "(the text stays)."}{" "}
        <button
          type="button"
          class="link-button"
          onClick={() => setAsked({ ...asked, asking: true })}
        >
          Change your answer
        </button>
      </p>
    );
  }
  return (
    <div class="consent" role="region" aria-labelledby="consent-heading">
      <h3 id="consent-heading" ref={heading} tabIndex={-1}>
        May this meeting's audio be kept?
      </h3>
      <p>
        The meeting is recorded and transcribed. If you say no, its audio is deleted once it is
        transcribed, for everybody; the text, speakers and summary stay.
      </p>
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => void answer(true)}>
          Yes, keep the audio
        </button>
        <button type="button" disabled={busy} onClick={() => void answer(false)}>
          No, delete the audio
        </button>
        {consent.consent_given !== null && (
          <button
            type="button"
            class="link-button"
            onClick={() => setAsked({ ...asked, asking: false })}
          >
            Keep my answer
          </button>
        )}
      </div>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** A room recorded "when someone asks": one per-participant recording, started from here. */
function StartRecording({ meeting }: { meeting: Meeting }) {
  const [state, setState] = useState<"idle" | "starting" | "recording">("idle");
  const [error, setError] = useState<string | null>(null);

  const start = async () => {
    setState("starting");
    setError(null);
    try {
      const { data, error: problem, response } = await api.POST(
        "/v1/meetings/{meeting_id}/recordings/start",
        { params: { path: { meeting_id: meeting.id } }, body: { type: "raw-tracks" } },
      );
      if (data) {
        setState("recording");
        return;
      }
      setError(problemText(problem, response));
    } catch {
      setError(problemText(undefined));
    }
    setState("idle");
  };

  if (state === "recording") {
    return (
      <span class="tag recording-tag" role="status">
        Recording
      </span>
    );
  }
  return (
    <>
      <button type="button" disabled={state === "starting"} onClick={() => void start()}>
        {state === "starting" ? "Starting…" : "Start recording"}
      </button>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

function EndMeeting({ meeting, onEnded }: { meeting: Meeting; onEnded: () => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);

  const end = async () => {
    setBusy(true);
    setError(null);
    try {
      const { data, error: problem, response } = await api.POST(
        "/v1/meetings/{meeting_id}/deactivate",
        { params: { path: { meeting_id: meeting.id } } },
      );
      if (data) onEnded();
      else setError(problemText(problem, response));
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  if (!asking) {
    return (
      <button type="button" class="danger-outline" onClick={() => setAsking(true)}>
        End for everyone
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-label="End the meeting">
      <p>End the meeting for everyone in it?</p>
      <div class="actions">
        <button
          ref={confirm}
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => void end()}
        >
          End the meeting
        </button>
        <button type="button" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function meetingTitle(meeting: Meeting): string | null {
  const title = meeting.calendar_data?.title;
  return typeof title === "string" && title ? title : null;
}

function MeetingList(props: {
  meetings: Meetings | null;
  current: string | null;
  joining: boolean;
  onJoin: (id: string) => void;
}) {
  const { meetings, current, joining, onJoin } = props;
  if (!meetings) return null;
  const row = (meeting: Meeting, upcoming: boolean) => {
    const title = meetingTitle(meeting) ?? (upcoming ? "Planned meeting" : "Meeting");
    return (
      <li key={meeting.id} class="card meeting-card" data-meeting={meeting.id}>
        <div class="card-row">
          <div>
            <span class="meeting-title">{title}</span>
            <p class="meta">
              <span>
                {upcoming ? "Starts " : "Started "}
                <time dateTime={meeting.start_date}>{dateTime(meeting.start_date)}</time>
              </span>
              {!upcoming && (
                <span>
                  {meeting.num_clients === 0
                    ? "Nobody in it now"
                    : meeting.num_clients === 1
                      ? "1 person in it"
                      : `${meeting.num_clients} people in it`}
                </span>
              )}
              {meeting.end_date && (
                <span>
                  {upcoming ? "Ends " : "Until "}
                  <time dateTime={meeting.end_date}>{dateTime(meeting.end_date)}</time>
                </span>
              )}
            </p>
          </div>
          {meeting.id === current ? (
            <span class="tag">You are in it</span>
          ) : (
            <button
              type="button"
              class="small"
              disabled={joining}
              onClick={() => onJoin(meeting.id)}
            >
              Join<span class="visually-hidden"> {title}</span>
            </button>
          )}
        </div>
      </li>
    );
  };
  return (
    <section aria-labelledby="meetings-heading" class="panel">
      <h2 id="meetings-heading">Meetings</h2>
      {meetings.active.length === 0 ? (
        <p class="hint">No meeting is running now.</p>
      ) : (
        <ul class="cards" aria-label="Running meetings">
          {meetings.active.map((meeting) => row(meeting, false))}
        </ul>
      )}
      {meetings.upcoming.length > 0 && (
        <>
          <h3 class="subhead">Upcoming</h3>
          <ul class="cards" aria-label="Upcoming meetings">
            {meetings.upcoming.map((meeting) => row(meeting, true))}
          </ul>
        </>
      )}
    </section>
  );
}

const RECENT = 5;

function RoomTranscripts({ room }: { room: Room }) {
  const [items, setItems] = useState<Transcript[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    setError(null);
    api
      .GET("/v1/transcripts", {
        params: { query: { room_id: room.id, sort: "-created_at", page: 1, size: RECENT } },
      })
      .then(
        ({ data, error: problem, response }) => {
          if (data) {
            setItems(data.items);
            setTotal(data.total);
          } else setError(problemText(problem, response));
        },
        () => setError(problemText(undefined)),
      );
  }, [room.id, reloads]);

  return (
    <section aria-labelledby="room-transcripts-heading" class="panel">
      <h2 id="room-transcripts-heading">Transcripts</h2>
      {error && <ErrorMessage message={error} onRetry={() => setReloads((n) => n + 1)} />}
      {!items && !error && <Loading label="Loading transcripts…" />}
      {items &&
        (items.length === 0 ? (
          <p class="hint">No meeting of this room has been transcribed yet.</p>
        ) : (
          <>
            <ul class="cards" aria-label="Transcripts of this room">
              {items.map((item) => (
                <li key={item.id} class="card" data-id={item.id}>
                  <div class="card-row">
                    <Link class="card-title" href={`/transcripts/${encodeURIComponent(item.id)}`}>
                      {item.title || item.name || "Untitled transcript"}
                    </Link>
                    <StatusBadge status={item.status} />
                  </div>
                  <p class="meta">
                    <time dateTime={item.created_at}>{dateTime(item.created_at)}</time>
                  </p>
                </li>
              ))}
            </ul>
            <p class="more">
              <Link href={`/?room=${encodeURIComponent(room.id)}`}>
                {total > RECENT
                  ? `See all ${total} transcripts of this room`
                  : "See them with the others"}
              </Link>
            </p>
          </>
        ))}
    </section>
  );
}
