// Node `ws` echo server with permessage-deflate (threshold 0: every message
// compressed), for our client (tests/deflate_interop.rs).
//
//     node tests/peers/deflate_node_server.js
//
// Prints `listening on PORT` first. Echoes every message with its type; for
// the text `extensions?` answers with the Sec-WebSocket-Extensions it sent.
// Exits when its standard input closes.
'use strict';

const { WebSocketServer } = require('ws');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 0 },
  maxPayload: 0,
});

server.on('headers', (headers, request) => {
  request.sentExtensions = (headers.find((h) => /^sec-websocket-extensions:/i.test(h)) || '')
    .replace(/^sec-websocket-extensions:\s*/i, '');
});

server.on('connection', (ws, request) => {
  ws.on('error', (error) => console.error(`deflate_node_server: ${error.message}`));
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString('utf8') === 'extensions?') {
      ws.send(request.sentExtensions);
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
});

server.on('listening', () => console.log(`listening on ${server.address().port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
