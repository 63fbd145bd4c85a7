// Node `ws` echo server for our client (tests/interop.rs).
//
//     node tests/peers/node_echo_server.js
//
// Listens on 127.0.0.1 on a port the OS picks and prints `listening on PORT`
// as its first line. Echoes every text and binary message with its type.
// Accepts the subprotocol `interop.v1` when a client offers it. Two text
// commands drive the server's side of control frames:
//
// * `ping:PAYLOAD`: the server pings with PAYLOAD and answers `pong ok` once
//   the matching pong arrives (`pong missing` after 5 s).
// * `close:CODE:REASON`: the server starts the close handshake.
//
// Exits when its standard input closes, so it cannot outlive the test.
//
// With PEER_TLS_CERT and PEER_TLS_KEY (PEM files; tests/tls_interop.rs) it
// serves wss:// instead of ws://, from an https server.
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const SUBPROTOCOL = 'interop.v1';

const tls = process.env.PEER_TLS_CERT
  ? https.createServer({
    cert: fs.readFileSync(process.env.PEER_TLS_CERT),
    key: fs.readFileSync(process.env.PEER_TLS_KEY),
  })
  : null;

const server = new WebSocketServer({
  ...(tls ? { server: tls } : { host: '127.0.0.1', port: 0 }),
  perMessageDeflate: false,
  maxPayload: 0, // no limit
  handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
});

server.on('connection', (ws) => {
  ws.on('error', (error) => console.error(`node_echo_server: ${error.message}`));
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text !== null && text.startsWith('ping:')) {
      const payload = Buffer.from(text.slice('ping:'.length), 'utf8');
      const timer = setTimeout(() => {
        ws.off('pong', onPong);
        ws.send('pong missing');
      }, 5000);
      const onPong = (data) => {
        if (Buffer.compare(data, payload) !== 0) return;
        clearTimeout(timer);
        ws.off('pong', onPong);
        ws.send('pong ok');
      };
      ws.on('pong', onPong);
      ws.ping(payload);
    } else if (text !== null && text.startsWith('close:')) {
      const [, code, ...reason] = text.split(':');
      ws.close(Number(code), reason.join(':'));
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
});

if (tls) {
  tls.listen(0, '127.0.0.1', () => console.log(`listening on ${tls.address().port}`));
} else {
  server.on('listening', () => {
    console.log(`listening on ${server.address().port}`);
  });
}

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
