/**
 * Every link in the project's markdown resolves: a relative link names a file or folder that
 * exists, and a `#anchor` (in the same file or another markdown file) matches one of the target's
 * headings as GitHub slugs it, or an explicit `<a id>`/`<a name>`. External http(s) links are not
 * fetched (the suite has no network); they are only checked for form, except URLs into this very
 * repository (github.com/<repo>/blob/main/..., as package READMEs write them for npm), which are
 * checked as paths of this tree.
 *
 * Checked files: README.md, docs/**\/*.md, packages/*\/README.md, deploy/**\/*.md,
 * examples/**\/*.md. Links inside fenced code blocks and inline code are not links and are skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// Which files
// ---------------------------------------------------------------------------------------------

/** Markdown files under `dir` (relative to the root), recursively; none when the folder is absent. */
function markdownUnder(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...markdownUnder(rel));
    else if (entry.name.endsWith('.md')) out.push(rel);
  }
  return out;
}

function checkedFiles(): string[] {
  const packageReadmes = readdirSync(join(ROOT, 'packages'))
    .map((p) => join('packages', p, 'README.md'))
    .filter((p) => existsSync(join(ROOT, p)));
  return ['README.md', ...markdownUnder('docs'), ...packageReadmes, ...markdownUnder('deploy'), ...markdownUnder('examples')].sort();
}

// ---------------------------------------------------------------------------------------------
// Reading markdown
// ---------------------------------------------------------------------------------------------

/** The lines of `text` with every fenced code block blanked out (kept as empty lines so line
 *  numbers stay right). A fence is ``` or ~~~ (3 or more), possibly indented (in a list item);
 *  it is closed by a fence of the same character at least as long. */
export function withoutFences(text: string): string[] {
  const lines = text.split(/\r?\n/);
  let open: { ch: string; len: number } | null = null;
  return lines.map((line) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (open) {
      if (m && m[1]![0] === open.ch && m[1]!.length >= open.len && line.trim() === m[1]) open = null;
      return '';
    }
    if (m) {
      open = { ch: m[1]![0]!, len: m[1]!.length };
      return '';
    }
    return line;
  });
}

/** Inline code spans replaced by their content with brackets and parentheses taken out, so
 *  "`[x](y)`" is not read as a link while "[`code`](#target)" still is. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, _ticks, body: string) => body.replace(/[[\]()]/g, ' '));
}

/** GitHub's heading slug: the heading's text as rendered (markup dropped, code kept verbatim),
 *  lower-cased, every character that is not a letter, a digit, `_`, `-` or a space dropped,
 *  and each space turned into `-`. Duplicates get `-1`, `-2`, ... (done by the caller). */
export function githubSlug(heading: string): string {
  // Code spans keep their content verbatim (`Promise<T>` stays); outside them, link targets, HTML
  // tags and emphasis markers are markup, not text.
  const text = heading
    .split(/(`+[^`]*`+)/)
    .map((part) =>
      part.startsWith('`')
        ? part.replace(/`/g, '')
        : part
            .replace(/\]\([^)]*\)/g, '')
            .replace(/<[^>]+>/g, '')
            .replace(/\*+/g, '')
            .replace(/(^|\W)_+|_+(?=\W|$)/g, '$1'),
    )
    .join('');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers: heading slugs (ATX `#` headings and setext underlines),
 *  numbered as GitHub's slugger does for repeats (`x`, `x-1`, `x-2`, skipping taken ones), and
 *  explicit `<a id="...">` / `<a name="...">`. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const occurrences = new Map<string, number>();
  const add = (heading: string) => {
    const base = githubSlug(heading);
    let slug = base;
    while (occurrences.has(slug)) {
      const n = occurrences.get(base)! + 1;
      occurrences.set(base, n);
      slug = `${base}-${n}`;
    }
    occurrences.set(slug, 0);
    anchors.add(slug);
  };
  const lines = withoutFences(text);
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$/.exec(line);
    const prev = lines[i - 1] ?? '';
    if (atx) add(atx[1] ?? '');
    else if (/^ {0,3}(=+|-+)\s*$/.test(line) && prev.trim() !== '' && !/^\s*([#>|*+-]|\d+[.)])/.test(prev)) add(prev);
    for (const a of line.matchAll(/<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']/gi)) anchors.add(a[1]!);
  });
  return anchors;
}

export interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links and images `[text](target "title")`, reference definitions `[id]: target`, and
 *  HTML `href`/`src` attributes, outside code. Link text may wrap over lines. */
export function linksOf(file: string, text: string): Link[] {
  const lines = withoutFences(text).map(withoutCodeSpans);
  const joined = lines.join('\n');
  const lineAt = (index: number) => joined.slice(0, index).split('\n').length;
  const links: Link[] = [];
  const inline = /\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
  for (const m of joined.matchAll(inline)) {
    // Only a `](` that closes a `[` opened earlier on the way back is a link.
    if (!opensBracket(joined, m.index!)) continue;
    links.push({ file, line: lineAt(m.index!), target: m[1]!.replace(/^<|>$/g, '') });
  }
  for (const m of joined.matchAll(/^ {0,3}\[[^\]]+\]:\s+(<[^>]*>|\S+)/gm)) {
    links.push({ file, line: lineAt(m.index!), target: m[1]!.replace(/^<|>$/g, '') });
  }
  for (const m of joined.matchAll(/<(?:a|img)\s[^>]*\b(?:href|src)\s*=\s*["']([^"']*)["']/gi)) {
    links.push({ file, line: lineAt(m.index!), target: m[1]! });
  }
  return links;
}

/** Whether the `]` at `index` closes a `[` (balanced, at most a few lines back). */
function opensBracket(text: string, index: number): boolean {
  let depth = 0;
  for (let i = index - 1, newlines = 0; i >= 0 && newlines < 6; i--) {
    const c = text[i];
    if (c === '\n') newlines++;
    if (c === ']') depth++;
    if (c === '[') {
      if (depth === 0) return true;
      depth--;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

/** `https://github.com/<owner>/<repo>/(blob|tree)/main/` for this repository, from the packages'
 *  `repository.url` (package READMEs are read on npm, so they link into the repository by URL);
 *  such links are checked like relative ones. Null while no package names its repository. */
function ownRepositoryPrefix(): RegExp | null {
  for (const dir of readdirSync(join(ROOT, 'packages'))) {
    const file = join(ROOT, 'packages', dir, 'package.json');
    if (!existsSync(file)) continue;
    const repo = (JSON.parse(readFileSync(file, 'utf8')) as { repository?: { url?: string } | string }).repository;
    const url = typeof repo === 'string' ? repo : repo?.url;
    const m = url ? /github\.com[/:]([\w.-]+\/[\w.-]+?)(?:\.git)?$/.exec(url) : null;
    if (m) return new RegExp(`^https://github\\.com/${m[1]!.replace(/\./g, '\\.')}/(?:blob|tree)/main/`);
  }
  return null;
}
const OWN_REPO = ownRepositoryPrefix();

const anchorCache = new Map<string, Set<string>>();
function anchorsOfFile(abs: string): Set<string> {
  let set = anchorCache.get(abs);
  if (!set) {
    set = anchorsOf(readFileSync(abs, 'utf8'));
    anchorCache.set(abs, set);
  }
  return set;
}

/** What is wrong with `link`, or null when it resolves. */
export function problemWith(link: Link): string | null {
  let { target } = link;
  if (target === '') return 'empty link';
  // A URL into this repository's main branch names a file of this tree: checked as a path from the root.
  if (OWN_REPO?.test(target)) {
    target = target.replace(OWN_REPO, '');
    const problem = problemWith({ file: 'README.md', line: link.line, target: target === '' ? '.' : target });
    return problem && `${problem} (a URL into this repository)`;
  }
  if (/^https?:/i.test(target)) {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return 'not a valid URL';
    }
    if (!/^https?:\/\/[^/?#]+/i.test(target) || !url.hostname.includes('.') && url.hostname !== 'localhost' && !/^\d/.test(url.hostname)) {
      return 'a URL without a proper host';
    }
    return null;
  }
  if (/^mailto:[^@\s]+@[^@\s]+$/i.test(target)) return null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return `unexpected scheme (only http(s), mailto and relative links are checked)`;
  if (target.startsWith('/')) return 'absolute path: GitHub resolves it against the site, not the repository; use a relative link';

  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash)).replace(/\?.*$/, '');
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  const abs = pathPart === '' ? join(ROOT, link.file) : resolve(ROOT, dirname(link.file), pathPart);
  if (relative(ROOT, abs).startsWith('..')) return 'points outside the repository';
  if (!existsSync(abs)) return `no such file: ${relative(ROOT, abs)}`;
  if (anchor === null) return null;
  if (anchor === '') return 'empty anchor';
  if (statSync(abs).isDirectory() || !abs.endsWith('.md')) return `anchor on a file that is not markdown: ${relative(ROOT, abs)}`;
  if (!anchorsOfFile(abs).has(anchor)) return `no heading or <a id> for #${anchor} in ${relative(ROOT, abs)}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('markdown reading', () => {
  it('slugs headings as GitHub does', () => {
    expect(githubSlug('7. Tokens')).toBe('7-tokens');
    expect(githubSlug('`tidings dev`')).toBe('tidings-dev');
    expect(githubSlug('Where settings come from')).toBe('where-settings-come-from');
    expect(githubSlug('16. HTTP transports: SSE and long-polling')).toBe('16-http-transports-sse-and-long-polling');
    expect(githubSlug('`useChannel(channel, options?)`')).toBe('usechannelchannel-options');
    expect(githubSlug('**Bold** and _emphasis_ with `snake_case`')).toBe('bold-and-emphasis-with-snake_case');
    expect(githubSlug('A [link](./x.md) in it')).toBe('a-link-in-it');
    expect(githubSlug('Live dashboard — counters')).toBe('live-dashboard--counters');
    expect(githubSlug('`Promise<T>` & <em>HTML</em>')).toBe('promiset--html');
  });

  it('numbers repeated headings, reads <a id>, and ignores headings inside code fences', () => {
    const anchors = anchorsOf(
      ['# Top', '## Example', '## Example', '## Example-1', '<a id="custom"></a>', '```sh', '# not a heading', '```', '   ~~~', '## Nor this', '   ~~~', 'Setext', '------'].join('\n'),
    );
    expect([...anchors].sort()).toEqual(['custom', 'example', 'example-1', 'example-1-1', 'setext', 'top']);
  });

  it('finds inline, wrapped, reference and HTML links, but not those in code', () => {
    const text = [
      'See [the doc](./a.md#x) and [a wrapped',
      'link](b.md "title") and ![img](pic.png).',
      '`[not](a-link.md)` and [`code` text](#code)',
      '```md',
      '[inside](fence.md)',
      '```',
      '[ref]: ./ref.md',
      '<a href="html.md">x</a>',
    ].join('\n');
    expect(linksOf('f.md', text).map((l) => `${l.line}:${l.target}`)).toEqual(['1:./a.md#x', '2:b.md', '2:pic.png', '3:#code', '7:./ref.md', '8:html.md']);
  });

  it('reports a missing file, a missing anchor and a malformed URL', () => {
    expect(problemWith({ file: 'README.md', line: 1, target: 'docs/nope.md' })).toMatch(/no such file/);
    expect(problemWith({ file: 'README.md', line: 1, target: 'docs/protocol.md#no-such-heading' })).toMatch(/no heading/);
    expect(problemWith({ file: 'README.md', line: 1, target: 'https://exa mple.com' })).toMatch(/URL/);
    expect(problemWith({ file: 'README.md', line: 1, target: 'https://github.com/x/y' })).toBeNull();
    expect(problemWith({ file: 'README.md', line: 1, target: '#quick-start' })).toBeNull();
    if (OWN_REPO) {
      const base = OWN_REPO.source.replace(/\\/g, '').replace('(?:blob|tree)', 'blob').slice(1);
      expect(problemWith({ file: 'packages/client/README.md', line: 1, target: `${base}docs/client.md#16-worked-examples` })).toBeNull();
      expect(problemWith({ file: 'packages/client/README.md', line: 1, target: `${base}docs/nope.md` })).toMatch(/no such file.*URL into this repository/);
    }
  });
});

describe('documentation links', () => {
  const files = checkedFiles();

  it('checks the README and the docs folder', () => {
    expect(files).toContain('README.md');
    expect(files).toContain('docs/protocol.md');
    expect(files).toContain('docs/README.md');
  });

  it('every relative link and anchor resolves, and every external link is well-formed', () => {
    const broken: string[] = [];
    let count = 0;
    for (const file of files) {
      for (const link of linksOf(file, readFileSync(join(ROOT, file), 'utf8'))) {
        count++;
        const problem = problemWith(link);
        if (problem) broken.push(`${link.file}:${link.line}: (${link.target}) ${problem}`);
      }
    }
    expect(count).toBeGreaterThan(100);
    expect(broken).toEqual([]);
  });

  it('docs/README.md maps every document of docs/, and the root README links to the map', () => {
    const map = linksOf('docs/README.md', readFileSync(join(ROOT, 'docs/README.md'), 'utf8')).map((l) => l.target.replace(/#.*$/, ''));
    const unlisted = files.filter((f) => /^docs\/[^/]+\.md$/.test(f) && f !== 'docs/README.md').filter((f) => !map.includes(f.slice('docs/'.length)));
    expect(unlisted).toEqual([]);
    expect(linksOf('README.md', readFileSync(join(ROOT, 'README.md'), 'utf8')).map((l) => l.target)).toContain('docs/README.md');
  });

  it('configuration.md does not call itself a draft', () => {
    const prose = withoutFences(readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8')).join('\n');
    expect(prose).not.toMatch(/\bdraft\b/i);
  });
});
