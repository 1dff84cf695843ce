import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api/client";
import { LogoIcon, PlusIcon } from "./components/icons";
import { Browse } from "./pages/Browse";
import { Listen } from "./pages/Listen";
import { NewTranscript } from "./pages/New";
import { Record } from "./pages/Record";
import { RoomPage } from "./pages/Room";
import { Rooms } from "./pages/Rooms";
import { RoomSettings } from "./pages/RoomSettings";
import { Settings } from "./pages/Settings";
import { SESSION_CHANGED, SignIn } from "./pages/SignIn";
import { TranscriptPage } from "./pages/Transcript";
import { Webhooks } from "./pages/Webhooks";
import { Link, type Location, navigate, useLocation } from "./router";
import "./styles.css";

function Page({ location }: { location: Location }) {
  const transcript = /^\/transcripts\/([^/]+)\/?$/.exec(location.path);
  if (transcript) return <TranscriptPage id={decodeURIComponent(transcript[1]!)} />;
  const listening = /^\/transcripts\/([^/]+)\/listen\/?$/.exec(location.path);
  if (listening) {
    const id = decodeURIComponent(listening[1]!);
    return <Listen key={id} id={id} language={location.query.get("language")} />;
  }
  if (location.path === "/new") return <NewTranscript />;
  if (location.path === "/record") return <Record />;
  if (location.path === "/settings") return <Settings />;
  if (location.path === "/sign-in") return <SignIn location={location} />;
  if (location.path === "/webhooks") return <Webhooks />;
  // A room's settings live under its own address, so every room name stays free.
  const room = /^\/rooms\/([^/]+)(\/settings)?\/?$/.exec(location.path);
  if (room) {
    const name = decodeURIComponent(room[1]!);
    return room[2] ? (
      <RoomSettings key="room-settings" name={name} />
    ) : (
      <RoomPage key={name} name={name} />
    );
  }
  if (location.path === "/rooms" || location.path === "/rooms/") {
    return <Rooms location={location} />;
  }
  if (location.path === "/new-room") return <RoomSettings key="new" name={null} />;
  if (location.path === "/" || location.path === "/index.html") {
    return <Browse location={location} />;
  }
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{location.path}</code>. <Link href="/">See all transcripts</Link>.
      </p>
    </section>
  );
}

/** Who is signed in, with a way out; shown only on a multi-user server (a single-user
 * server's local user has no email and never signs in). */
function Account() {
  const [email, setEmail] = useState<string | null>(null);
  useEffect(() => {
    const load = () => {
      if (window.location.pathname === "/sign-in") {
        setEmail(null);
        return;
      }
      void api.GET("/v1/me").then(({ data }) => setEmail(data?.email ?? null));
    };
    load();
    window.addEventListener(SESSION_CHANGED, load);
    return () => window.removeEventListener(SESSION_CHANGED, load);
  }, []);
  if (!email) return null;
  const signOut = async () => {
    await api.POST("/v1/auth/logout");
    setEmail(null);
    navigate("/sign-in");
  };
  return (
    <div class="account">
      <span class="account-email">{email}</span>
      <button type="button" class="small" onClick={() => void signOut()}>
        Sign out
      </button>
    </div>
  );
}

function App() {
  const location = useLocation();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After a page change inside the app, move focus to the new page as a full load would.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
    window.scrollTo(0, 0);
  }, [location.path]);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link class="brand" href="/">
          <LogoIcon />
          Reflector
        </Link>
        <nav aria-label="Main">
          <Link
            class="nav-new"
            href="/new"
            aria-current={location.path === "/new" ? "page" : undefined}
          >
            <PlusIcon />
            New
          </Link>
          <Link
            href="/rooms"
            aria-current={
              location.path.startsWith("/rooms") || location.path === "/new-room"
                ? "page"
                : undefined
            }
          >
            Rooms
          </Link>
          <Link href="/webhooks" aria-current={location.path === "/webhooks" ? "page" : undefined}>
            Webhooks
          </Link>
          <Link href="/settings" aria-current={location.path === "/settings" ? "page" : undefined}>
            Settings
          </Link>
          <a href="/docs">API</a>
        </nav>
        <Account />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page location={location} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
