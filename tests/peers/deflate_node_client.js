// Node `ws` client with permessage-deflate against a server that speaks it
// (tests/deflate_interop.rs): our echo_server.
//
//     node tests/peers/deflate_node_client.js ws://127.0.0.1:PORT/ws POLICY
//
// POLICY is how the server was started: `no-context-takeover` (its
// default: it adds server_no_context_takeover and client_no_context_takeover
// to every answer) or `context-takeover` (--deflate-context-takeover: it
// answers each offer as asked). For each parameter combination, checks that
// the server answered with exactly the parameters that follow from the
// offer and the policy, and that messages from empty to 1 MiB (compressible
// text, incompressible binary, fragmented) come back unchanged. Exits 1 on
// the first mismatch.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const TIMEOUT_MS = 10000;
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20];

// [name, ws' perMessageDeflate option, the parameters the offer asks for]
const COMBOS = [
  ['default', { threshold: 0 }, {}],
  ['server_no_context_takeover', { threshold: 0, serverNoContextTakeover: true }, { snct: true }],
  ['client_no_context_takeover', { threshold: 0, clientNoContextTakeover: true }, { cnct: true }],
  ['server_max_window_bits=9', { threshold: 0, serverMaxWindowBits: 9 }, { smwb: 9 }],
  ['client_max_window_bits=10', { threshold: 0, clientMaxWindowBits: 10 }, { cmwb: 10 }],
  ['everything', {
    threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true,
    serverMaxWindowBits: 11, clientMaxWindowBits: 9,
  }, { snct: true, cnct: true, smwb: 11, cmwb: 9 }],
  ['ws threshold (small messages uncompressed)', true, {}],
];

// The Sec-WebSocket-Extensions the server answers an offer asking for
// `asked` with, under `policy`.
function expectedAnswer(asked, policy) {
  const noTakeover = policy === 'no-context-takeover';
  let out = 'permessage-deflate';
  if (asked.snct || noTakeover) out += '; server_no_context_takeover';
  if (asked.cnct || noTakeover) out += '; client_no_context_takeover';
  if (asked.smwb) out += `; server_max_window_bits=${asked.smwb}`;
  if (asked.cmwb) out += `; client_max_window_bits=${asked.cmwb}`;
  return out;
}

class Mismatch extends Error {}

function check(condition, message) {
  if (!condition) throw new Mismatch(message);
}

function textOf(size) {
  // Compressible text of `size` UTF-8 bytes: ASCII words, then padding.
  const words = ['deflate ', 'window ', 'message ', '狗🐕 '];
  const out = [];
  let n = 0;
  for (let i = 0; ; i++) {
    const w = words[(i * 7) % words.length];
    const len = Buffer.byteLength(w);
    if (n + len > size) break;
    out.push(w);
    n += len;
  }
  return out.join('') + 'x'.repeat(size - n);
}

function open(url, perMessageDeflate) {
  const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 0, handshakeTimeout: TIMEOUT_MS });
  let accepted = null;
  ws.on('upgrade', (response) => { accepted = response.headers['sec-websocket-extensions'] || ''; });
  const queue = [];
  const waiters = [];
  const push = (e) => { const w = waiters.shift(); if (w) w(e); else queue.push(e); };
  ws.on('message', (data, isBinary) => push({ data, isBinary }));
  ws.on('error', (error) => push({ error }));
  ws.on('close', (code) => push({ closed: code }));
  const next = (what) => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Mismatch(`timeout waiting for ${what}`)), TIMEOUT_MS);
      waiters.push((e) => { clearTimeout(timer); resolve(e); });
    });
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, next, accepted }));
    ws.once('error', (e) => reject(new Mismatch(`handshake failed: ${e.message}`)));
  });
}

async function echo(peer, data, isBinary, what) {
  peer.ws.send(data, { binary: isBinary });
  const e = await peer.next(what);
  check(!e.error && e.closed === undefined, `${what}: ${e.error ? e.error.message : 'closed ' + e.closed}`);
  check(e.isBinary === isBinary, `${what}: wrong type`);
  const same = isBinary ? Buffer.compare(e.data, data) === 0 : e.data.toString('utf8') === data;
  check(same, `${what}: echo differs (${e.data.length} bytes)`);
}

async function runCombo(url, name, options, asked, policy) {
  const expected = expectedAnswer(asked, policy);
  const peer = await open(url, options);
  check(peer.accepted === expected, `${name}: the server answered ${JSON.stringify(peer.accepted)}, expected ${JSON.stringify(expected)}`);
  for (const size of SIZES) {
    await echo(peer, textOf(size), false, `${name}: text of ${size} bytes`);
    await echo(peer, crypto.randomBytes(size), true, `${name}: random binary of ${size} bytes`);
    await echo(peer, Buffer.alloc(size), true, `${name}: ${size} zero bytes`);
  }
  // Fragments (fin: false), compressed.
  const parts = ['frag', 'men', 'ted 文字 ', '🎉'.repeat(1000)];
  parts.forEach((p, i) => peer.ws.send(p, { fin: i === parts.length - 1, compress: true }));
  const e = await peer.next('fragmented');
  check(e.data && e.data.toString('utf8') === parts.join(''), `${name}: fragmented text differs`);
  // Pipelined.
  const batch = [];
  for (let i = 0; i < 100; i++) batch.push(textOf(i * 37));
  batch.forEach((m) => peer.ws.send(m));
  for (const [i, m] of batch.entries()) {
    const got = await peer.next(`pipelined ${i}`);
    check(got.data && got.data.toString('utf8') === m, `${name}: pipelined message ${i} differs`);
  }
  peer.ws.close(1000, 'bye');
  const closed = await peer.next('close');
  check(closed.closed === 1000, `${name}: close answered with ${JSON.stringify(closed)}`);
  console.log(`ok ${name}: accepted ${JSON.stringify(peer.accepted)}`);
}

async function run(url, policy) {
  for (const [name, options, asked] of COMBOS) await runCombo(url, name, options, asked, policy);
}

const [url, policy] = process.argv.slice(2);
if (process.argv.length !== 4 || !['no-context-takeover', 'context-takeover'].includes(policy)) {
  console.error('usage: node deflate_node_client.js ws://HOST:PORT/PATH no-context-takeover|context-takeover');
  process.exit(2);
}
run(url, policy).then(
  () => { console.log('deflate_node_client: all checks passed'); process.exit(0); },
  (error) => {
    if (error instanceof Mismatch) console.error(`deflate_node_client: MISMATCH: ${error.message}`);
    else console.error('deflate_node_client: FAILED with an exception:', error);
    process.exit(1);
  });
