import { render } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { LogoIcon } from "./components/icons";
import { Browse } from "./pages/Browse";
import { TranscriptPage } from "./pages/Transcript";
import { Link, type Location, useLocation } from "./router";
import "./styles.css";

function Page({ location }: { location: Location }) {
  const transcript = /^\/transcripts\/([^/]+)\/?$/.exec(location.path);
  if (transcript) return <TranscriptPage id={decodeURIComponent(transcript[1]!)} />;
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
          <a href="/docs">API</a>
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page location={location} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
