// Search snippets arrive as escaped text with the matched words in <mark>…</mark>. They are
// split into plain strings here and rendered as text, never as HTML.

export interface SnippetPart {
  text: string;
  match: boolean;
}

const ENTITIES: Record<string, string> = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&#x27;": "'",
  "&#39;": "'",
};

function unescape(text: string): string {
  return text.replace(/&(?:amp|lt|gt|quot|#x27|#39);/g, (entity) => ENTITIES[entity] ?? entity);
}

export function snippetParts(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  const pattern = /<mark>(.*?)<\/mark>/gs;
  let last = 0;
  for (const found of snippet.matchAll(pattern)) {
    const at = found.index ?? 0;
    if (at > last) parts.push({ text: unescape(snippet.slice(last, at)), match: false });
    parts.push({ text: unescape(found[1] ?? ""), match: true });
    last = at + found[0].length;
  }
  if (last < snippet.length) parts.push({ text: unescape(snippet.slice(last)), match: false });
  return parts;
}
