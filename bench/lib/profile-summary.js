/**
 * Summarizes a V8 .cpuprofile: self time by function and by file.
 * Used by `bench/run.js --profile`; also a CLI:
 *   node bench/lib/profile-summary.js bench/out/prof/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function shortUrl(url) {
  if (!url) return '';
  let u = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (u.startsWith(ROOT + path.sep)) u = u.slice(ROOT.length + 1);
  return u;
}

/** Returns {totalMs, functions:[{name, where, selfMs, pct}], files:[{file, selfMs, pct}]} */
export function summarizeProfile(profile, top = 15) {
  const totalSamples = profile.samples?.length || profile.nodes.reduce((s, n) => s + (n.hitCount || 0), 0) || 1;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const msPerSample = totalMs / totalSamples;
  const hits = new Map();
  if (profile.samples) for (const id of profile.samples) hits.set(id, (hits.get(id) || 0) + 1);
  const byFn = new Map();
  const byFile = new Map();
  for (const node of profile.nodes) {
    const count = profile.samples ? hits.get(node.id) || 0 : node.hitCount || 0;
    if (count === 0) continue;
    const cf = node.callFrame;
    const file = shortUrl(cf.url) || '(native/vm)';
    const name = cf.functionName || '(anonymous)';
    const where = cf.url ? `${file}:${cf.lineNumber + 1}` : '';
    const key = name + '\u0000' + where;
    byFn.set(key, { name, where, samples: (byFn.get(key)?.samples || 0) + count });
    const fileKey = cf.url ? file : name.startsWith('(') ? name : '(native/vm)';
    byFile.set(fileKey, (byFile.get(fileKey) || 0) + count);
  }
  const pct = (n) => (100 * n) / totalSamples;
  const functions = [...byFn.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, top)
    .map((f) => ({ name: f.name, where: f.where, selfMs: f.samples * msPerSample, pct: pct(f.samples) }));
  const files = [...byFile.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([file, n]) => ({ file, selfMs: n * msPerSample, pct: pct(n) }));
  return { totalMs, samples: totalSamples, functions, files };
}

export function formatSummary(summary, title) {
  const lines = [`${title} (${summary.totalMs.toFixed(0)} ms, ${summary.samples} samples)`, '  top self time by function:'];
  for (const f of summary.functions) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  lines.push('  self time by file:');
  for (const f of summary.files) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.file}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/lib/profile-summary.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), Number(process.argv[3] || 25));
  console.log(formatSummary(summary, path.basename(file)));
}
