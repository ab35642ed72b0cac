#!/usr/bin/env node
/**
 * msgpackr vs @msgpack/msgpack on a typical publication frame (issue 17), one run:
 * encode and decode of `{type:'publication', channel, offset, data, info}` with data
 * of about 100 B and about 2 KB, ops/s and encoded size, beside JSON for scale.
 *
 *   npm i --no-save --prefix /tmp/mp msgpackr@^2.1.4 @msgpack/msgpack@^3.1.3
 *   MSGPACK_DIR=/tmp/mp node bench/msgpack-codecs.js
 *
 * (Only the chosen library is a dependency of the packages; MSGPACK_DIR names a folder
 * where both are installed, so the comparison can be run again.)
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const dir = process.env.MSGPACK_DIR ?? process.cwd();
const require = createRequire(path.join(path.resolve(dir), 'noop.js'));
const msgpackr = require('msgpackr');
const msgpack = require('@msgpack/msgpack');

function frame(size) {
  const data = { id: 'm-1842', author: 'ada', text: '', ts: 1765148400000, tags: ['chat', 'general'] };
  const base = JSON.stringify(data).length;
  data.text = 'x'.repeat(Math.max(0, size - base));
  return {
    type: 'publication',
    channel: 'chat:room-42',
    offset: 18342,
    data,
    info: { user: 'u-1001', client: '8c1f9c1e-4b0a-4f7e-9a51-0b2b5e1f3c77' },
  };
}

const packr = new msgpackr.Packr({ useRecords: false });
const encoder = new msgpack.Encoder();
const decoder = new msgpack.Decoder();
const codecs = {
  JSON: { encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(b.toString()) },
  msgpackr: { encode: (v) => packr.pack(v), decode: (b) => packr.unpack(b) },
  '@msgpack/msgpack': { encode: (v) => encoder.encode(v), decode: (b) => decoder.decode(b) },
};

function opsPerSec(fn, ms = 700) {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

console.log(`node ${process.version}, msgpackr native extract: ${Boolean(msgpackr.isNativeAccelerationEnabled)}`);
for (const size of [100, 2048]) {
  const f = frame(size);
  const base = {};
  console.log(`\ndata ≈ ${size} B (JSON frame ${JSON.stringify(f).length} B)`);
  console.log('codec              bytes   encode/s   decode/s   encode vs JSON   decode vs JSON');
  for (const [name, c] of Object.entries(codecs)) {
    const bytes = c.encode(f);
    if (JSON.stringify(c.decode(bytes)) !== JSON.stringify(f)) throw new Error(`${name} does not round-trip`);
    const enc = opsPerSec(() => c.encode(f));
    const dec = opsPerSec(() => c.decode(bytes));
    if (name === 'JSON') Object.assign(base, { enc, dec });
    console.log(
      `${name.padEnd(17)} ${String(bytes.length).padStart(6)} ${Math.round(enc).toString().padStart(10)} ${Math.round(dec).toString().padStart(10)}` +
        `   ${(enc / base.enc).toFixed(2).padStart(14)}   ${(dec / base.dec).toFixed(2).padStart(14)}`,
    );
  }
}
