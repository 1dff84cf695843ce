// `/sign-in`: a multi-user server's sign-in with an email and a password, or single sign-on.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, problemText, type Schemas } from "../api/client";
import { type Location, navigate } from "../router";

export const SESSION_CHANGED = "reflector-session-changed";

/** Where to go after signing in: only a path on this server (never `//host` or a URL). */
export function safeNext(value: string | null): string {
  if (!value || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) {
    return "/";
  }
  return value.startsWith("/sign-in") ? "/" : value;
}

/** The API's answer to a failed sign-in, in words a person can act on. */
function signInError(error: unknown, response: Response): string {
  if (response.status === 401) {
    return "The email or the password is wrong, or this account has been disabled.";
  }
  if (response.status === 429) {
    const problem = (error ?? {}) as { retry_after?: unknown };
    const wait =
      typeof problem.retry_after === "number"
        ? problem.retry_after
        : Number(response.headers.get("Retry-After"));
    return Number.isFinite(wait) && wait > 0
      ? `Too many sign-in attempts. Try again in ${wait} seconds.`
      : "Too many sign-in attempts. Wait a moment, then try again.";
  }
  return problemText(error, response);
}

export function SignIn({ location }: { location: Location }) {
  const next = safeNext(location.query.get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [methods, setMethods] = useState<Schemas["SignInMethods"] | null>(null);
  const emailField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    emailField.current?.focus();
    void api.GET("/v1/auth/methods").then(({ data }) => setMethods(data ?? null));
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { data, error, response } = await api.POST("/v1/auth/login", {
        body: { email, password },
      });
      if (!data) {
        setError(signInError(error, response));
        return;
      }
      navigate(next, true); // first: the header asks who is in once off this page
      window.dispatchEvent(new Event(SESSION_CHANGED));
    } catch {
      setError(problemText(undefined));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="sign-in" aria-labelledby="sign-in-heading">
      <h1 id="sign-in-heading">Sign in</h1>
      {methods && !methods.multi_user ? (
        <p class="hint">This server has a single user: nobody needs to sign in.</p>
      ) : null}
      <form class="panel sign-in-form" onSubmit={(event) => void submit(event)}>
        <div class="field">
          <label for="sign-in-email">Email</label>
          <input
            id="sign-in-email"
            ref={emailField}
            type="email"
            autoComplete="username"
            required
            value={email}
            onInput={(event) => setEmail(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="sign-in-password">Password</label>
          <input
            id="sign-in-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(event) => setPassword(event.currentTarget.value)}
          />
        </div>
        {error ? (
          <p class="field-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {methods?.oidc ? (
        <p class="sign-in-sso">
          <a
            class="button-link"
            href={`/v1/auth/oidc/login?next=${encodeURIComponent(next)}`}
          >
            Sign in with single sign-on
          </a>
        </p>
      ) : null}
    </section>
  );
}
