// Headless Chromium (which offers permessage-deflate by default) against
// our echo_server (tests/deflate_interop.rs).
//
//     node tests/peers/deflate_chromium.mjs http://127.0.0.1:PORT/ EXTENSIONS
//
// Drives Debian's /usr/bin/chromium through the playwright-core that
// tests/browser/setup.sh installs (no browser download). Opens the echo
// page, then from the page's JavaScript opens a WebSocket to /ws, checks
// that permessage-deflate was agreed with exactly the parameters EXTENSIONS
// (`WebSocket.extensions`) and that text and binary messages from empty to
// 1 MiB come back unchanged, sent in a row (with context takeover the
// windows carry over). Prints one line per check and "deflate_chromium: all
// checks passed"; exits 1 on the first failure.

import { chromium } from '../browser/node_modules/playwright-core/index.mjs';

const [url, expected] = process.argv.slice(2);
if (process.argv.length !== 4) {
  console.error('usage: node deflate_chromium.mjs http://HOST:PORT/ EXTENSIONS');
  process.exit(2);
}
const watchdog = setTimeout(() => { console.error('deflate_chromium: timed out'); process.exit(1); }, 60000);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 15000,
});
let failed = false;
try {
  const page = await browser.newPage();
  await page.goto(url);
  const wsUrl = url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
  const result = await page.evaluate(async ({ wsUrl, expected }) => {
    const log = [];
    const ws = new WebSocket(wsUrl);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('open failed')); });
    log.push(`extensions: ${ws.extensions}`);
    if (ws.extensions !== expected) return { ok: false, log, why: `agreed ${JSON.stringify(ws.extensions)}, expected ${JSON.stringify(expected)}` };
    const queue = [];
    let waiter = null;
    ws.onmessage = (e) => { if (waiter) { const w = waiter; waiter = null; w(e.data); } else queue.push(e.data); };
    const next = () => queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiter = r; });
    const words = ['deflate ', 'window ', 'message ', '狗🐕 '];
    for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20]) {
      let text = '';
      const parts = [];
      let n = 0;
      for (let i = 0; n < size; i++) { const w = words[i % 4]; parts.push(w); n += new TextEncoder().encode(w).length; }
      text = parts.join('');
      ws.send(text);
      const got = await next();
      if (got !== text) return { ok: false, log, why: `text of ${text.length} chars differs` };
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
      ws.send(bytes);
      const back = new Uint8Array(await next());
      if (back.length !== size || back.some((b, i) => b !== bytes[i])) return { ok: false, log, why: `binary of ${size} bytes differs` };
      log.push(`echo ok: ${size} bytes text and binary`);
    }
    ws.close(1000);
    return { ok: true, log };
  }, { wsUrl, expected });
  for (const line of result.log) console.log(line);
  if (!result.ok) { console.error(`deflate_chromium: FAIL: ${result.why}`); failed = true; }
} catch (e) {
  console.error(`deflate_chromium: FAIL: ${e.message}`);
  failed = true;
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
if (failed) process.exit(1);
console.log('deflate_chromium: all checks passed');
