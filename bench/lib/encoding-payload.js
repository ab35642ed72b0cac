/**
 * The data of bench/encoding.js publications: objects of the kind applications publish (ids,
 * names, numbers with fractions, booleans, a list), not one long string, so that JSON and
 * MessagePack differ as they would on real data. `payloadOf(100)` is ~100 bytes of JSON,
 * `payloadOf(2048)` ~2 KB; the publisher adds `n` (sequence) and `t` (ms) to each.
 */
export function payloadOf(size) {
  if (size <= 200) return { kind: 'task', id: 4217, title: 'Fix the login form', done: false, score: 0.75 };
  const items = [];
  for (let i = 0; JSON.stringify({ kind: 'board', items }).length < size - 60; i++) {
    items.push({ id: 1000 + i, name: `card ${i}`, score: i * 1.25 + 0.5, done: i % 3 === 0, tags: ['a', 'b'] });
  }
  return { kind: 'board', items };
}
