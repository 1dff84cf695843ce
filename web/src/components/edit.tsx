// The transcript page's editors: title, summaries, action items, speaker names, sharing and the
// trash. Each keeps what was typed when the server refuses it, and says why in words.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  type ActionItem,
  api,
  type Participant,
  problemText,
  type ShareMode,
  type Transcript,
} from "../api/client";
import { Markdown } from "../markdown";
import { navigate } from "../router";
import { CheckIcon, ChevronIcon, CopyIcon, EditIcon, ShareIcon, TrashIcon } from "./icons";

/** Runs one save at a time; `error` is the last failure in words. */
function useSave() {
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (work: () => Promise<string | null>): Promise<boolean> => {
    setSaving(true);
    setError(null);
    let problem: string | null;
    try {
      problem = await work();
    } catch {
      problem = "The server could not be reached. Check that it is running, then try again.";
    }
    setSaving(false);
    setError(problem);
    return problem === null;
  };
  return { saving, error, run, clear: () => setError(null) };
}

type Result = { error?: unknown; response: Response };

/** null when the call went through, else its problem in words. */
function outcome({ error, response }: Result): string | null {
  return response.ok ? null : problemText(error, response);
}

function FieldError({ message }: { message: string | null }) {
  return message ? (
    <p class="field-error" role="alert">
      {message}
    </p>
  ) : null;
}

async function patchTranscript(id: string, body: Record<string, unknown>) {
  return api.PATCH("/v1/transcripts/{transcript_id}", {
    params: { path: { transcript_id: id } },
    body,
  });
}

/** Escape closes a disclosure menu (`<details>`) and puts the focus back on its button. */
export function closeOnEscape(event: KeyboardEvent): void {
  const details = event.currentTarget as HTMLDetailsElement;
  if (event.key !== "Escape" || !details.open) return;
  event.preventDefault();
  details.open = false;
  details.querySelector("summary")?.focus();
}

// --- title -------------------------------------------------------------------------------------

export function TitleEditor(props: {
  transcript: Transcript;
  title: string;
  onSaved: (transcript: Transcript) => void;
  /** Someone else's transcript, shared with the reader: shown, not editable. */
  readOnly?: boolean;
}) {
  const { transcript, title, onSaved, readOnly = false } = props;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState("");
  const save = useSave();
  const button = useRef<HTMLButtonElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const wasEditing = useRef(false);

  useEffect(() => {
    if (editing) input.current?.focus();
    else if (wasEditing.current) button.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  if (!editing) {
    return (
      <div class="title-row">
        <h1 id="transcript-heading">{title}</h1>
        {!readOnly && (
          <button
            ref={button}
            type="button"
            class="icon-only tiny"
            aria-label="Rename the transcript"
            title="Rename"
            onClick={() => {
              setDraft(transcript.title ?? title);
              save.clear();
              setEditing(true);
            }}
          >
            <EditIcon />
          </button>
        )}
      </div>
    );
  }
  return (
    <form
      class="inline-form"
      onSubmit={async (event) => {
        event.preventDefault();
        let saved: Transcript | undefined;
        const ok = await save.run(async () => {
          const result = await patchTranscript(transcript.id, { title: draft.trim() || null });
          saved = result.data;
          return outcome(result);
        });
        if (ok && saved) {
          onSaved(saved);
          setEditing(false);
        }
      }}
    >
      <h1 id="transcript-heading" class="visually-hidden">
        {title}
      </h1>
      <label for="title-input" class="visually-hidden">
        Title
      </label>
      <input
        ref={input}
        id="title-input"
        class="title-input"
        value={draft}
        maxLength={500}
        onInput={(event) => setDraft(event.currentTarget.value)}
        onKeyDown={(event) => event.key === "Escape" && setEditing(false)}
      />
      <button type="submit" class="primary" disabled={save.saving}>
        Save
      </button>
      <button type="button" onClick={() => setEditing(false)}>
        Cancel
      </button>
      <FieldError message={save.error} />
    </form>
  );
}

// --- summaries -----------------------------------------------------------------------------------

export function SummaryPanel(props: {
  transcript: Transcript;
  onSaved: (transcript: Transcript) => void;
  readOnly?: boolean;
}) {
  const { transcript, onSaved, readOnly = false } = props;
  const [editing, setEditing] = useState(false);
  const [short, setShort] = useState("");
  const [long, setLong] = useState("");
  const save = useSave();
  const first = useRef<HTMLTextAreaElement>(null);
  const edit = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);

  useEffect(() => {
    if (editing) first.current?.focus();
    else if (wasEditing.current) edit.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  const { short_summary: shortSummary, long_summary: longSummary } = transcript;
  return (
    <section aria-labelledby="summary-heading" class="panel">
      <div class="panel-head">
        <h2 id="summary-heading">Summary</h2>
        {!editing && !readOnly && (
          <button
            ref={edit}
            type="button"
            class="small"
            onClick={() => {
              setShort(shortSummary ?? "");
              setLong(longSummary ?? "");
              save.clear();
              setEditing(true);
            }}
          >
            <EditIcon />
            Edit<span class="visually-hidden"> the summary</span>
          </button>
        )}
      </div>
      {editing ? (
        <form
          class="stack"
          onSubmit={async (event) => {
            event.preventDefault();
            let saved: Transcript | undefined;
            const ok = await save.run(async () => {
              const result = await patchTranscript(transcript.id, {
                short_summary: short.trim() || null,
                long_summary: long.trim() || null,
              });
              saved = result.data;
              return outcome(result);
            });
            if (ok && saved) {
              onSaved(saved);
              setEditing(false);
            }
          }}
          onKeyDown={(event) => event.key === "Escape" && setEditing(false)}
        >
          <div class="field">
            <label for="short-summary">Summary</label>
            <textarea
              ref={first}
              id="short-summary"
              rows={4}
              maxLength={20_000}
              value={short}
              aria-describedby="markdown-hint"
              onInput={(event) => setShort(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="long-summary">Full summary</label>
            <textarea
              id="long-summary"
              rows={10}
              maxLength={200_000}
              value={long}
              aria-describedby="markdown-hint"
              onInput={(event) => setLong(event.currentTarget.value)}
            />
          </div>
          <p id="markdown-hint" class="hint">
            Markdown: # headings, - lists, **bold**, *italic*, `code`.
          </p>
          <FieldError message={save.error} />
          <div class="actions">
            <button type="submit" class="primary" disabled={save.saving}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : shortSummary || longSummary ? (
        <>
          {shortSummary && <Markdown source={shortSummary} />}
          {longSummary && longSummary !== shortSummary && (
            <details class="long-summary">
              <summary>Full summary</summary>
              <Markdown source={longSummary} />
            </details>
          )}
        </>
      ) : (
        <p class="hint">{readOnly ? "No summary." : "No summary. Edit to write one."}</p>
      )}
    </section>
  );
}

// --- action items ---------------------------------------------------------------------------------

export function ActionItemsPanel(props: {
  transcriptId: string;
  items: ActionItem[];
  onChanged: (item: ActionItem) => void;
  readOnly?: boolean;
}) {
  const { transcriptId, items, onChanged, readOnly = false } = props;
  if (items.length === 0) return null;
  const steps = items.filter((item) => item.kind === "next_step");
  const decisions = items.filter((item) => item.kind === "decision");
  return (
    <section aria-labelledby="actions-heading" class="panel">
      <h2 id="actions-heading">Action items</h2>
      {steps.length > 0 && (
        <ul class="action-items" aria-label="Next steps">
          {steps.map((item) => (
            <ActionItemRow
                key={item.id}
                transcriptId={transcriptId}
                item={item}
                onChanged={onChanged}
                readOnly={readOnly}
              />
          ))}
        </ul>
      )}
      {decisions.length > 0 && (
        <>
          <h3 class="subhead">Decisions</h3>
          <ul class="action-items" aria-label="Decisions">
            {decisions.map((item) => (
              <ActionItemRow
                key={item.id}
                transcriptId={transcriptId}
                item={item}
                onChanged={onChanged}
                readOnly={readOnly}
              />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function ActionItemRow(props: {
  transcriptId: string;
  item: ActionItem;
  onChanged: (item: ActionItem) => void;
  readOnly: boolean;
}) {
  const { transcriptId, item, onChanged, readOnly } = props;
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(item.text);
  const [person, setPerson] = useState(item.person ?? "");
  const [deadline, setDeadline] = useState(item.deadline ?? "");
  // Ticked at once; unticked again if the server refuses.
  const [done, setDone] = useState(item.done);
  useEffect(() => setDone(item.done), [item.done]);
  const save = useSave();
  const edit = useRef<HTMLButtonElement>(null);
  const firstField = useRef<HTMLInputElement>(null);
  const wasEditing = useRef(false);
  const step = item.kind === "next_step";

  useEffect(() => {
    if (editing) firstField.current?.focus();
    else if (wasEditing.current) edit.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  const patch = (body: Record<string, unknown>) =>
    save.run(async () => {
      const result = await api.PATCH("/v1/transcripts/{transcript_id}/action-items/{item_id}", {
        params: { path: { transcript_id: transcriptId, item_id: item.id } },
        body,
      });
      if (result.data) onChanged(result.data);
      return outcome(result);
    });

  const id = `item-${item.id}`;
  if (editing) {
    return (
      <li class="action-item editing">
        <form
          class="stack"
          onSubmit={async (event) => {
            event.preventDefault();
            const body: Record<string, unknown> = { text: text.trim() };
            if (step) {
              body.person = person.trim() || null;
              body.deadline = deadline.trim() || null;
            }
            if (await patch(body)) setEditing(false);
          }}
          onKeyDown={(event) => event.key === "Escape" && setEditing(false)}
        >
          <div class="field">
            <label for={`${id}-text`}>{step ? "What" : "Decision"}</label>
            <input
              ref={firstField}
              id={`${id}-text`}
              value={text}
              required
              maxLength={5000}
              onInput={(event) => setText(event.currentTarget.value)}
            />
          </div>
          {step && (
            <div class="form-grid">
              <div class="field">
                <label for={`${id}-person`}>Owner</label>
                <input
                  id={`${id}-person`}
                  value={person}
                  maxLength={200}
                  onInput={(event) => setPerson(event.currentTarget.value)}
                />
              </div>
              <div class="field">
                <label for={`${id}-deadline`}>Deadline</label>
                <input
                  id={`${id}-deadline`}
                  value={deadline}
                  maxLength={200}
                  placeholder="e.g. Friday, 2025-03-31"
                  onInput={(event) => setDeadline(event.currentTarget.value)}
                />
              </div>
            </div>
          )}
          <FieldError message={save.error} />
          <div class="actions">
            <button type="submit" class="primary" disabled={save.saving}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      </li>
    );
  }
  return (
    <li class={`action-item${done ? " done" : ""}`} data-id={item.id}>
      {step && (
        <input
          id={id}
          type="checkbox"
          checked={done}
          disabled={save.saving || readOnly}
          onChange={async (event) => {
            const wanted = event.currentTarget.checked;
            setDone(wanted);
            if (!(await patch({ done: wanted }))) setDone(!wanted);
          }}
        />
      )}
      <div class="action-body">
        {step ? <label for={id}>{item.text}</label> : <span>{item.text}</span>}
        {step && (item.person || item.deadline) && (
          <span class="meta">
            {item.person && <span>Owner: {item.person}</span>}
            {item.deadline && <span>Due: {item.deadline}</span>}
          </span>
        )}
        <FieldError message={save.error} />
      </div>
      {!readOnly && (
        <button
          ref={edit}
          type="button"
          class="icon-only"
          aria-label={`Edit “${item.text}”`}
          title="Edit"
          onClick={() => {
            setText(item.text);
            setPerson(item.person ?? "");
            setDeadline(item.deadline ?? "");
            save.clear();
            setEditing(true);
          }}
        >
          <EditIcon />
        </button>
      )}
    </li>
  );
}

// --- speakers ------------------------------------------------------------------------------------

export function SpeakerName(props: {
  transcriptId: string;
  speaker: number;
  name: string;
  participant: Participant | undefined;
  /** The participant as it was (none: the name is new) and as it is now. */
  onSaved: (before: Participant | undefined, after: Participant) => void;
  readOnly?: boolean;
}) {
  const { transcriptId, speaker, name, participant, onSaved, readOnly = false } = props;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(name);
  const save = useSave();
  const input = useRef<HTMLInputElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);

  useEffect(() => {
    if (editing) input.current?.select();
    else if (wasEditing.current) button.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  if (!editing) {
    return (
      <>
        <span class="speaker-label">{name}</span>
        {!readOnly && (
          <button
            ref={button}
            type="button"
            class="icon-only tiny"
            aria-label={`Rename ${name}`}
            title="Rename"
            onClick={() => {
              setDraft(name);
              save.clear();
              setEditing(true);
            }}
          >
            <EditIcon />
          </button>
        )}
      </>
    );
  }
  const id = `speaker-${speaker}-name`;
  return (
    <form
      class="inline-form"
      onSubmit={async (event) => {
        event.preventDefault();
        const value = draft.trim();
        if (!value) return;
        let saved: Participant | undefined;
        const ok = await save.run(async () => {
          const path = { transcript_id: transcriptId };
          const result = participant
            ? await api.PATCH("/v1/transcripts/{transcript_id}/participants/{participant_id}", {
                params: { path: { ...path, participant_id: participant.id } },
                body: { name: value },
              })
            : await api.POST("/v1/transcripts/{transcript_id}/participants", {
                params: { path },
                body: { name: value, speaker },
              });
          saved = result.data;
          return outcome(result);
        });
        if (ok && saved) {
          setEditing(false);
          onSaved(participant, saved);
        }
      }}
    >
      <label for={id} class="visually-hidden">
        Name of {name}
      </label>
      <input
        ref={input}
        id={id}
        class="name-input"
        value={draft}
        required
        maxLength={200}
        onInput={(event) => setDraft(event.currentTarget.value)}
        onKeyDown={(event) => event.key === "Escape" && setEditing(false)}
      />
      <button type="submit" class="small primary" disabled={save.saving}>
        Save
      </button>
      <button type="button" class="small" onClick={() => setEditing(false)}>
        Cancel
      </button>
      <FieldError message={save.error} />
    </form>
  );
}

// --- sharing ------------------------------------------------------------------------------------

const SHARE_MODES: { mode: ShareMode; label: string; hint: string }[] = [
  { mode: "private", label: "Private", hint: "Only you" },
  { mode: "semi-private", label: "Signed-in users", hint: "Anyone signed in to this server with the link" },
  { mode: "public", label: "Public", hint: "Anyone with the link" },
];

export function ShareMenu(props: {
  transcript: Transcript;
  onSaved: (transcript: Transcript) => void;
}) {
  const { transcript, onSaved } = props;
  const save = useSave();
  const [copied, setCopied] = useState(false);
  // Shown as chosen at once; back to what the server has if it refuses.
  const [chosen, setChosen] = useState<ShareMode>(transcript.share_mode);
  useEffect(() => setChosen(transcript.share_mode), [transcript.share_mode]);
  const link = `${window.location.origin}/transcripts/${encodeURIComponent(transcript.id)}`;
  const field = useRef<HTMLInputElement>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      // No clipboard (an insecure origin, a refused permission): select it for Ctrl+C.
      field.current?.select();
    }
  };

  return (
    <details class="popover share" onToggle={() => setCopied(false)} onKeyDown={closeOnEscape}>
      <summary class="secondary">
        <ShareIcon />
        Share
        <ChevronIcon />
      </summary>
      <div class="menu-panel">
        <fieldset disabled={save.saving}>
          <legend>Who can open it</legend>
          {SHARE_MODES.map(({ mode, label, hint }) => (
            <label key={mode} class="choice">
              <input
                type="radio"
                name="share-mode"
                value={mode}
                checked={chosen === mode}
                onChange={async () => {
                  setChosen(mode);
                  let saved: Transcript | undefined;
                  const ok = await save.run(async () => {
                    const result = await patchTranscript(transcript.id, { share_mode: mode });
                    saved = result.data;
                    return outcome(result);
                  });
                  if (ok && saved) onSaved(saved);
                  else setChosen(transcript.share_mode);
                }}
              />
              <span>
                {label}
                <span class="hint"> · {hint}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <FieldError message={save.error} />
        <label for="share-link" class="field-label">
          Link
        </label>
        <div class="copy-row">
          <input id="share-link" ref={field} readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={() => void copy()}>
            {copied ? <CheckIcon /> : <CopyIcon />}
            {copied ? "Copied" : "Copy"}
          </button>
        </div>
        <p class="visually-hidden" aria-live="polite">
          {copied ? "Link copied" : ""}
        </p>
      </div>
    </details>
  );
}

// --- trash --------------------------------------------------------------------------------------

export function DeleteButton({ transcript, title }: { transcript: Transcript; title: string }) {
  const [asking, setAsking] = useState(false);
  const save = useSave();
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);

  if (!asking) {
    return (
      <button type="button" class="danger-outline" onClick={() => setAsking(true)}>
        <TrashIcon />
        Delete
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-label="Confirm deletion">
      <p>Move “{title}” to the trash? It can be restored from there.</p>
      <div class="actions">
        <button
          ref={confirm}
          type="button"
          class="danger"
          disabled={save.saving}
          onClick={async () => {
            const ok = await save.run(async () =>
              outcome(
                await api.DELETE("/v1/transcripts/{transcript_id}", {
                  params: { path: { transcript_id: transcript.id } },
                }),
              ),
            );
            if (ok) navigate("/");
          }}
        >
          Move to trash
        </button>
        <button type="button" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
      <FieldError message={save.error} />
    </div>
  );
}
