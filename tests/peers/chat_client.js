// Node `ws` client in the room of examples/chat_server.rs (tests/chat_server.rs).
//
//     node tests/peers/chat_client.js 'ws://127.0.0.1:PORT/ws?name=NAME' EXTENSIONS
//
// The test's own client, named "rust", is already in the room. This joins
// (offering permessage-deflate, ws' default) and checks that the server
// answered with the Sec-WebSocket-Extensions EXTENSIONS ("" for none) and
// that ws put exactly that into use. Then it says hello to the room (Chinese
// and emoji), sends a long message (compressed both ways when the extension
// is on: ws compresses messages of 1 KiB or more), sends "rust" a private
// message and waits for its answer, checks that a binary message is refused
// with an error, and closes with 1000. Every message must arrive in the
// order the server's protocol implies. Prints one line per check; on the
// first mismatch prints what went wrong on stderr and exits 1.
'use strict';

const WebSocket = require('ws');

const TIMEOUT_MS = 10000; // for any one message or the close
// A room message long enough for the server to compress (it sends messages
// under 512 bytes as they are); tests/chat_server.rs expects the same text.
const LONG = '长消息 long message 🦀 '.repeat(100);

class Mismatch extends Error {}

function check(condition, message) {
  if (!condition) throw new Mismatch(message);
}

// A socket whose events are awaited one at a time, with a timeout each.
class Peer {
  constructor(url) {
    this.ws = new WebSocket(url, { handshakeTimeout: TIMEOUT_MS });
    this.queue = [];
    this.waiters = [];
    this.ws.on('message', (data, isBinary) => this.push({ type: 'message', data, isBinary }));
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
      const timer = setTimeout(() => reject(new Mismatch(`timed out waiting for ${what}`)), TIMEOUT_MS);
      this.waiters.push((event) => { clearTimeout(timer); resolve(event); });
    });
  }

  async open() {
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', (e) => reject(new Mismatch(`handshake failed: ${e.message}`)));
    });
  }

  // The next message: a JSON text frame of type `kind` with `fields`.
  async expect(kind, fields = {}) {
    const event = await this.next(`a ${kind} message`);
    if (event.type === 'error') throw new Mismatch(`${kind}: socket error: ${event.error.message}`);
    check(event.type === 'message', `expected a ${kind} message, got ${JSON.stringify(event)}`);
    check(!event.isBinary, `expected a text frame for ${kind}`);
    const text = event.data.toString('utf8');
    const message = JSON.parse(text);
    check(message.type === kind, `expected a ${kind} message, got ${text}`);
    for (const [key, value] of Object.entries(fields)) {
      check(message[key] === value, `${kind}: ${key} is ${JSON.stringify(message[key])}, expected ${JSON.stringify(value)}`);
    }
    check(Number.isInteger(message.time), `${kind} without a server timestamp: ${text}`);
    console.log(`ok ${kind}: ${text}`);
    return message;
  }
}

async function run(url, extensions) {
  const name = new URL(url).searchParams.get('name');
  const peer = new Peer(url);
  await peer.open();
  // The 101 carried `extensions` ("" for no header), and ws uses it.
  const answered = peer.response.headers['sec-websocket-extensions'] || '';
  check(answered === extensions, `the server answered extensions ${JSON.stringify(answered)}, expected ${JSON.stringify(extensions)}`);
  const inUse = extensions ? 'permessage-deflate' : '';
  check(peer.ws.extensions === inUse, `ws uses the extensions ${JSON.stringify(peer.ws.extensions)}, expected ${JSON.stringify(inUse)}`);
  console.log(`ok extensions: ${JSON.stringify(answered)}`);
  const welcome = await peer.expect('welcome', { you: name });
  check(welcome.users.includes('rust'), `rust is not online: ${JSON.stringify(welcome)}`);
  await peer.expect('join', { user: name });

  const hello = `hello from ${name} 你好 🦀`;
  peer.ws.send(JSON.stringify({ text: hello }));
  await peer.expect('message', { from: name, text: hello });
  peer.ws.send(JSON.stringify({ text: LONG }));
  await peer.expect('message', { from: name, text: LONG });

  peer.ws.send(JSON.stringify({ text: 'psst, rust', to: 'rust' }));
  await peer.expect('private', { from: name, to: 'rust', text: 'psst, rust' });
  await peer.expect('private', { from: 'rust', to: name, text: 'hi back 👋' });

  peer.ws.send(Buffer.from([0, 1, 2]), { binary: true });
  const error = await peer.expect('error');
  check(error.error.includes('binary'), `unexpected error text: ${error.error}`);

  peer.ws.close(1000, 'bye');
  const closed = await peer.next('the close handshake');
  check(closed.type === 'close' && closed.code === 1000, `close 1000 answered with ${JSON.stringify(closed)}`);
  console.log('ok close 1000');
}

if (process.argv.length !== 4) {
  console.error("usage: node chat_client.js 'ws://HOST:PORT/ws?name=NAME' EXTENSIONS");
  process.exit(2);
}
run(process.argv[2], process.argv[3]).then(
  () => { console.log('chat_client.js: all checks passed'); process.exit(0); },
  (error) => {
    if (error instanceof Mismatch) console.error(`chat_client.js: MISMATCH: ${error.message}`);
    else console.error('chat_client.js: FAILED with an exception:', error);
    process.exit(1);
  });
