// Summaries are Markdown written by a model or a person. This renders a safe subset (headings,
// lists, paragraphs, bold, italic, code) as elements; raw HTML is shown as the text it is and
// links as their words, so a summary can neither run code nor send the reader elsewhere.
import type { ComponentChildren, VNode } from "preact";

function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|\[([^\]]+)\]\([^)]*\)/g;
  let last = 0;
  for (const found of text.matchAll(pattern)) {
    const at = found.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const [whole, code, strong, em, linkText] = found;
    if (code) out.push(<code>{code.slice(1, -1)}</code>);
    else if (strong) out.push(<strong>{inline(strong.slice(2, -2))}</strong>);
    else if (em) out.push(<em>{inline(em.slice(1, -1))}</em>);
    else if (linkText) out.push(linkText);
    else out.push(whole);
    last = at + whole.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

type Block =
  | { kind: "heading"; level: number; text: string }
  | { kind: "list"; ordered: boolean; items: string[] }
  | { kind: "paragraph"; lines: string[] };

function blocks(source: string): Block[] {
  const result: Block[] = [];
  for (const raw of source.replace(/\r\n?/g, "\n").split("\n")) {
    const line = raw.trimEnd();
    const last = result[result.length - 1];
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (!line.trim()) {
      result.push({ kind: "paragraph", lines: [] });
    } else if (heading) {
      result.push({ kind: "heading", level: heading[1]!.length, text: heading[2]! });
    } else if (bullet || numbered) {
      const ordered = !bullet;
      const item = (bullet ?? numbered)![1]!;
      if (last?.kind === "list" && last.ordered === ordered) last.items.push(item);
      else result.push({ kind: "list", ordered, items: [item] });
    } else if (last?.kind === "paragraph") {
      last.lines.push(line.trim());
    } else if (last?.kind === "list" && /^\s+/.test(raw)) {
      last.items[last.items.length - 1] += ` ${line.trim()}`;
    } else {
      result.push({ kind: "paragraph", lines: [line.trim()] });
    }
  }
  return result.filter((block) => block.kind !== "paragraph" || block.lines.length > 0);
}

/** `source` as elements; headings start at `baseLevel` so they fit under the page's own. */
export function Markdown({ source, baseLevel = 3 }: { source: string; baseLevel?: number }) {
  const nodes: VNode[] = blocks(source).map((block, index) => {
    if (block.kind === "heading") {
      const level = Math.min(6, baseLevel + block.level - 1);
      const Tag = `h${level}` as "h3";
      return <Tag key={index}>{inline(block.text)}</Tag>;
    }
    if (block.kind === "list") {
      const items = block.items.map((item, i) => <li key={i}>{inline(item)}</li>);
      return block.ordered ? <ol key={index}>{items}</ol> : <ul key={index}>{items}</ul>;
    }
    return <p key={index}>{inline(block.lines.join(" "))}</p>;
  });
  return <div class="markdown">{nodes}</div>;
}

/** `source` as one line of plain text, for previews: no heading marks, bullets or emphasis. */
export function markdownText(source: string): string {
  return blocks(source)
    .map((block) =>
      block.kind === "heading"
        ? block.text
        : block.kind === "list"
          ? block.items.join("; ")
          : block.lines.join(" "),
    )
    .join(" · ")
    .replace(/`([^`]+)`/g, "$1")
    .replace(/\*\*([^*]+)\*\*|__([^_]+)__/g, "$1$2")
    .replace(/\*([^*\s][^*]*)\*|_([^_\s][^_]*)_/g, "$1$2")
    .replace(/\[([^\]]+)\]\([^)]*\)/g, "$1");
}
