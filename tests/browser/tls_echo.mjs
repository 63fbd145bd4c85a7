// examples/echo.html over HTTPS, its socket over wss://, against an example
// server started with --tls-cert/--tls-key (tests/tls_interop.rs). The page
// is loaded from https://, connects to wss:// on the same port (the page
// picks the scheme from location.protocol), Chromium's permessage-deflate
// offer gets the expected answer, typed text (Chinese, emoji) and the
// binary button come back, and 1 MiB of binary and a 1.5 MiB text come
// back equal on a second socket.
//
// Chromium trusts the test certificate through CHROMIUM_SPKI_PIN (lib.mjs).
//
//   CHROMIUM_SPKI_PIN=... node tests/browser/tls_echo.mjs https://127.0.0.1:PORT/ <screenshot-dir> <extensions>

import { check, checkExtensions, eventually, ok, scenario } from './lib.mjs';

await scenario('tls_echo', async ({ url, origin, extensions, openPage, screenshot }) => {
  check(url.startsWith('https://'), `the page URL ${url} is not https://`);
  const wsUrl = origin.replace(/^https/, 'wss') + '/ws';
  const page = await openPage('echo page over https');
  const response = await page.goto(url);
  check(response.status() === 200, `GET ${url}: status ${response.status()}`);
  const security = await response.securityDetails();
  check(security !== null, 'the page was not served over TLS');
  ok(`page loaded over ${security.protocol}`);

  await eventually('the status says "connected"', async () => {
    const status = await page.locator('#status').textContent();
    return { ok: status === 'connected', seen: status };
  });
  check((await page.locator('#url').textContent()) === wsUrl, `#url shows ${await page.locator('#url').textContent()}`);
  ok(`connected to ${wsUrl}`);
  await checkExtensions(page, wsUrl, extensions);

  const text = 'hello over wss 你好 🦀🎉';
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
  await eventually(`the echo of ${JSON.stringify(text)}`, async () => {
    const received = await page.locator('#log li.received').allTextContents();
    return { ok: received.includes(`← ${text}`), seen: received };
  });
  ok('typed text echoed over wss://');
  await page.locator('#send-binary').click();
  await eventually('the echo of the 8 binary bytes', async () => {
    const received = await page.locator('#log li.received').allTextContents();
    return { ok: received.includes('← binary, 8 bytes'), seen: received };
  });
  ok('binary button echoed over wss://');
  await screenshot(page, 'tls_echo.png');

  const big = await page.evaluate(async ({ wsUrl }) => {
    const ws = new WebSocket(wsUrl);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot open ${wsUrl}`));
    });
    const queue = [];
    let waiter = null;
    ws.onmessage = (e) => (waiter ? waiter(e.data) : queue.push(e.data));
    const next = () => (queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve) => { waiter = (data) => { waiter = null; resolve(data); }; }));
    const bytes = new Uint8Array(1 << 20);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
    const large = '长消息 wss 🦀 '.repeat(80000);
    ws.send(bytes);
    const back = await next();
    const binaryEqual = back instanceof ArrayBuffer && back.byteLength === bytes.length
      && new Uint8Array(back).every((b, i) => b === bytes[i]);
    ws.send(large);
    const textEqual = (await next()) === large;
    ws.close(1000);
    const closed = await new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
    return { binaryEqual, textEqual, closed, size: new TextEncoder().encode(large).length };
  }, { wsUrl });
  check(big.binaryEqual, '1 MiB of binary did not come back equal');
  check(big.textEqual, `the ${big.size}-byte text did not come back equal`);
  check(big.closed === 1000, `the close ended with ${big.closed}`);
  ok(`1 MiB binary and a ${big.size}-byte text echoed equal over wss://, closed with 1000`);
});
