// Node `ws` client against an echo server (tests/interop.rs).
//
//     node tests/peers/node_client.js ws://127.0.0.1:PORT/ws EXTENSIONS
//
// Offers permessage-deflate (ws' default) on every connection and checks
// that the server answered with the Sec-WebSocket-Extensions EXTENSIONS (""
// for none) and that ws put exactly that into use. Checks that every message
// comes back with the same type and bytes (sizes across the three length
// forms, non-ASCII text, fragmented messages; compressed both ways when the
// extension is on, from 1 KiB up on ws' side), that a ping with a payload
// gets its pong, and that the close handshake is clean with the code echoed. Prints one line per check on stdout; on the first
// mismatch prints what went wrong on stderr and exits 1.
//
// For a wss:// URL (tests/tls_interop.rs), PEER_CA_FILE names the PEM file of
// the CA to trust (ws' `ca` option): the certificate is verified against it
// and the URL's host.
'use strict';

const fs = require('fs');
const TLS = process.env.PEER_CA_FILE ? { ca: fs.readFileSync(process.env.PEER_CA_FILE) } : {};

const WebSocket = require('ws');

const TIMEOUT_MS = 10000; // for any one receive, pong or close
const CLOSE_WITHIN_MS = 3000; // for the whole close handshake, TCP close included
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20];

class Mismatch extends Error {}

function check(condition, message) {
  if (!condition) throw new Mismatch(message);
}

function textOf(size) {
  let s = '';
  for (let i = 0; i < size; i++) s += String.fromCharCode(97 + (i % 26));
  return s;
}

function bytesOf(size) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = i % 251;
  return b;
}

function describe(data, isBinary) {
  const kind = isBinary ? 'binary' : 'text';
  const head = isBinary ? data.subarray(0, 20).toString('hex') : JSON.stringify(data.slice(0, 40));
  return `${kind} of ${data.length} ${isBinary ? 'bytes' : 'chars'}: ${head}${data.length > 40 ? '...' : ''}`;
}

// A socket whose events are awaited one at a time, with a timeout each.
class Peer {
  constructor(url, extensions) {
    // Compression stays at its default: permessage-deflate is offered.
    this.ws = new WebSocket(url, { handshakeTimeout: TIMEOUT_MS, maxPayload: 0, ...TLS });
    this.extensions = extensions;
    this.queue = [];
    this.waiters = [];
    this.ws.on('message', (data, isBinary) => this.push({ type: 'message', data, isBinary }));
    this.ws.on('pong', (data) => this.push({ type: 'pong', data }));
    this.ws.on('close', (code, reason) => this.push({ type: 'close', code, reason: reason.toString() }));
    this.ws.on('error', (error) => this.push({ type: 'error', error }));
    this.ws.on('upgrade', (response) => { this.response = response; });
  }

  push(event) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(event);
    else this.queue.push(event);
  }

  next(what) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Mismatch(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`));
      }, TIMEOUT_MS);
      const waiter = (event) => { clearTimeout(timer); resolve(event); };
      this.waiters.push(waiter);
    });
  }

  async expect(type, what) {
    const event = await this.next(what);
    if (event.type === 'error') throw new Mismatch(`${what}: socket error: ${event.error.message}`);
    check(event.type === type, `${what}: expected a ${type} event, got ${JSON.stringify(event)}`);
    return event;
  }

  async open() {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Mismatch('handshake timed out')), TIMEOUT_MS);
      this.ws.once('open', () => { clearTimeout(timer); resolve(); });
      this.ws.once('error', (e) => { clearTimeout(timer); reject(new Mismatch(`handshake failed: ${e.message}`)); });
    });
    check(this.response.statusCode === 101, `handshake status ${this.response.statusCode}`);
    // The 101 carried the expected extensions ("" for no header), and ws uses them.
    const answered = this.response.headers['sec-websocket-extensions'] || '';
    check(answered === this.extensions,
      `the server answered extensions ${JSON.stringify(answered)}, expected ${JSON.stringify(this.extensions)}`);
    const inUse = this.extensions ? 'permessage-deflate' : '';
    check(this.ws.extensions === inUse, `ws uses the extensions ${JSON.stringify(this.ws.extensions)}, expected ${JSON.stringify(inUse)}`);
  }

  // `sent` is sent as one message, or as fragments if it is an array of
  // [data, options] pairs; the echo must equal `expected` in type and bytes.
  async echo(sent, expected, isBinary, what) {
    if (Array.isArray(sent)) {
      sent.forEach(([data, options]) => this.ws.send(data, options));
    } else {
      this.ws.send(sent, { binary: isBinary });
    }
    what = what || describe(expected, isBinary);
    const event = await this.expect('message', what);
    check(event.isBinary === isBinary, `${what}: echo has the wrong type (binary: ${event.isBinary})`);
    const got = isBinary ? event.data : event.data.toString('utf8');
    const same = isBinary ? Buffer.compare(got, expected) === 0 : got === expected;
    check(same, `${what}: echo differs: ${describe(got, isBinary)}`);
    console.log(`ok echo ${what.slice(0, 60)}`);
  }

  // Closes and checks the handshake: the code is echoed (ws reports 1006
  // if the TCP connection ended without a close frame), and the server
  // closes TCP at once (§7.1.1), well before ws' own 30 s timeout.
  async close(code, reason) {
    const start = Date.now();
    this.ws.close(code, reason);
    const event = await this.expect('close', `the close handshake (${code})`);
    const elapsed = Date.now() - start;
    check(event.code === code, `server answered close ${code} with code ${event.code}`);
    check(elapsed < CLOSE_WITHIN_MS, `close ${code} took ${elapsed} ms (server slow to close TCP?)`);
    console.log(`ok close: code ${event.code}, reason ${JSON.stringify(event.reason)}`);
  }
}

async function run(url, extensions) {
  let peer = new Peer(url, extensions);
  await peer.open();
  console.log(`ok extensions: ${JSON.stringify(extensions)}`);

  for (const size of SIZES) {
    await peer.echo(textOf(size), textOf(size), false);
    await peer.echo(bytesOf(size), bytesOf(size), true);
  }
  const chinese = '你好，世界！WebSocket 测试 🦀🎉👋🏽 ñ';
  await peer.echo(chinese, chinese, false, 'Chinese + emoji text');
  const large = '狗🐕'.repeat(40000);
  await peer.echo(large, large, false, 'large Chinese + emoji text');

  // Fragments: `fin: false` sends a frame that does not end the message.
  await peer.echo(
    [['frag', { fin: false }], ['men', { fin: false }], ['ted 文字 ', { fin: false }], ['🎉', { fin: true }]],
    'fragmented 文字 🎉', false, 'fragmented text (4 frames)');
  await peer.echo(
    [[Buffer.from([0, 1]), { binary: true, fin: false }], [Buffer.alloc(0), { binary: true, fin: false }],
      [Buffer.alloc(70000, 2), { binary: true, fin: false }], [Buffer.from([0xff]), { binary: true, fin: true }]],
    Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(70000, 2), Buffer.from([0xff])]), true,
    'fragmented binary (4 frames, one empty, one 70000 bytes)');
  // A text message whose fragments split code points (UTF-8 is validated
  // across fragments, not per frame).
  const bytes = Buffer.from('🦀中', 'utf8');
  await peer.echo(
    [[bytes.subarray(0, 1), { binary: false, fin: false }], [bytes.subarray(1, 3), { binary: false, fin: false }],
      [bytes.subarray(3, 6), { binary: false, fin: false }], [bytes.subarray(6), { binary: false, fin: true }]],
    '🦀中', false, 'fragmented text splitting code points');

  // Pings with a payload (at most 125 bytes) are answered with the same payload.
  for (const payload of [Buffer.from('node-ping'), Buffer.alloc(0), Buffer.from([...Array(125).keys()])]) {
    peer.ws.ping(payload);
    const pong = await peer.expect('pong', `the pong for a ${payload.length}-byte ping`);
    check(Buffer.compare(pong.data, payload) === 0,
      `pong payload ${pong.data.toString('hex')} differs from ping payload ${payload.toString('hex')}`);
    console.log(`ok pong for a ping with ${payload.length} bytes`);
  }

  // A ping between the fragments of a message is answered at once, and the
  // message still arrives whole.
  peer.ws.send('before ', { fin: false });
  peer.ws.ping(Buffer.from('mid-message'));
  const pong = await peer.expect('pong', 'the pong for a ping between fragments');
  check(pong.data.toString() === 'mid-message', `pong payload ${pong.data}`);
  await peer.echo([['after', { fin: true }]], 'before after', false, 'text with a ping between its fragments');

  // Many messages in flight before the first echo is read: order is kept.
  const batch = [];
  for (let i = 0; i < 200; i++) batch.push(i % 2 ? [`message ${i} ✓`, false] : [bytesOf(i * 5), true]);
  batch.forEach(([data, binary]) => peer.ws.send(data, { binary }));
  for (const [i, [data, binary]] of batch.entries()) {
    const event = await peer.expect('message', `pipelined message ${i}`);
    const got = binary ? event.data : event.data.toString('utf8');
    const same = event.isBinary === binary && (binary ? Buffer.compare(got, data) === 0 : got === data);
    check(same, `pipelined message ${i}: got ${describe(got, event.isBinary)}`);
  }
  console.log('ok 200 pipelined messages in order');

  await peer.close(1000, 'bye from node 再见');

  peer = new Peer(url, extensions);
  await peer.open();
  await peer.echo('second connection', 'second connection', false);
  await peer.close(4000, 'application code');

  // A close frame without a code: the server answers with one without a
  // code too (ws reports that as 1005) or with 1000.
  peer = new Peer(url, extensions);
  await peer.open();
  const start = Date.now();
  peer.ws.close();
  const closed = await peer.expect('close', 'the close handshake without a code');
  check(closed.code === 1005 || closed.code === 1000, `close without a code answered with ${closed.code}`);
  check(Date.now() - start < CLOSE_WITHIN_MS, `close without a code took ${Date.now() - start} ms`);
  console.log(`ok close without a code: answered with ${closed.code}`);

  // An overlong encoding (0xC0 0x80) in a text message: the server fails
  // the connection with 1007 (§8.1).
  peer = new Peer(url, extensions);
  await peer.open();
  peer.ws.send(Buffer.from([0x61, 0xc0, 0x80]), { binary: false });
  const failed = await peer.next('the close after invalid UTF-8');
  check(failed.type === 'close' && failed.code === 1007,
    `invalid UTF-8: expected close 1007, got ${JSON.stringify(failed)}`);
  console.log('ok invalid UTF-8 closed with 1007');
}

if (process.argv.length !== 4) {
  console.error('usage: node node_client.js ws://HOST:PORT/PATH EXTENSIONS');
  process.exit(2);
}
run(process.argv[2], process.argv[3]).then(
  () => { console.log('node_client: all checks passed'); process.exit(0); },
  (error) => {
    if (error instanceof Mismatch) console.error(`node_client: MISMATCH: ${error.message}`);
    else console.error('node_client: FAILED with an exception:', error);
    process.exit(1);
  });
