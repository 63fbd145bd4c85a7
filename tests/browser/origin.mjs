// Cross-site WebSocket hijacking, tried from a real browser: the example's
// own page (same origin) connects, while a page served from another origin
// (a tiny HTTP server this script starts on another port) that opens
// `new WebSocket("ws://127.0.0.1:PORT/ws")` is refused before the upgrade:
// the socket's onerror and onclose fire (1006), onopen never does, and Chromium reports a 403 for the handshake. (A
// data: page, Origin null, is not tried here: Chromium's local network
// access checks block it before any request; tests/origin.rs and the raw
// requests in tests/origin_examples.rs cover `null`.)
//
//   node tests/browser/origin.mjs http://127.0.0.1:PORT/ <screenshot-dir> <extensions>

import { createServer } from 'node:http';
import { check, eventually, ok, scenario } from './lib.mjs';

/// A page that opens a WebSocket to `target` and records what happens.
const ATTACK = (target) => `<!doctype html><meta charset="utf-8"><title>elsewhere</title>
<p id="state">connecting</p>
<script>
  window.__events = [];
  const ws = new WebSocket(${JSON.stringify(target)});
  ws.onopen = () => { window.__events.push('open'); document.getElementById('state').textContent = 'OPEN: hijacked'; };
  ws.onmessage = (e) => window.__events.push('message');
  ws.onerror = () => window.__events.push('error');
  ws.onclose = (e) => { window.__events.push('close ' + e.code); document.getElementById('state').textContent = 'refused: ' + e.code; };
</script>`;

/// The events an attacking page saw, once its socket has closed.
async function refused(page, what) {
  const { seen } = await eventually(`${what}: the socket closes`, async () => {
    const events = await page.evaluate(() => window.__events);
    return { ok: events.some((e) => e.startsWith('close')), seen: events };
  });
  check(!seen.includes('open'), `${what}: the WebSocket OPENED (events ${JSON.stringify(seen)})`);
  check(seen.includes('error'), `${what}: no error event (events ${JSON.stringify(seen)})`);
  check(seen.includes('close 1006'), `${what}: not closed with 1006 (events ${JSON.stringify(seen)})`);
  ok(`${what}: onerror and onclose (1006) fired, never onopen`);
}

await scenario('origin', async ({ url, origin, openPage, screenshot }) => {
  const wsUrl = origin.replace(/^http/, 'ws') + '/ws';

  // The example's own page: same origin, it connects.
  const own = await openPage('own page');
  await own.goto(`${url}?name=tester`);
  await eventually('the page\'s own WebSocket opens', async () => {
    const open = await own.evaluate(() => window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).length);
    return { ok: open === 1, seen: open };
  });
  const ownShake = own.handshakes.find((h) => h.response);
  check(ownShake && ownShake.request.origin === origin, `own page: Origin sent ${JSON.stringify(ownShake && ownShake.request)}`);
  check(ownShake.response.status === 101, `own page: status ${ownShake.response.status}`);
  ok(`the page at ${url} (Origin ${origin}) opened its WebSocket: 101`);

  // Another origin: the same host on another port.
  const evil = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(ATTACK(wsUrl));
  });
  await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
  const evilOrigin = `http://127.0.0.1:${evil.address().port}`;
  try {
    const attacker = await openPage('other origin');
    await attacker.goto(`${evilOrigin}/`);
    await refused(attacker, `a page from ${evilOrigin}`);
    // Chromium records no response for a failed handshake in DevTools,
    // but says which status it got on the page's console.
    const { request } = attacker.handshakes[0] || { request: {} };
    check(request.origin === evilOrigin, `other origin: Origin sent ${JSON.stringify(request)}`);
    await eventually('Chromium reports the 403', async () => ({
      ok: attacker.console.some((line) => line.includes('Unexpected response code: 403')),
      seen: attacker.console,
    }));
    ok(`Chromium sent Origin ${evilOrigin} and the server answered 403`);
    await screenshot(attacker, 'origin-refused.png');
  } finally {
    evil.close();
  }

  // The own page is still connected.
  const open = await own.evaluate(() => window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).length);
  check(open === 1, `own page: its WebSocket is no longer open (${open})`);
  ok('the own page\'s WebSocket is still open');
});
