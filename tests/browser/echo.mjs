// examples/echo.html against examples/echo_server.rs in headless Chromium:
// typed text (Chinese, emoji, 100 KB) and the binary button come back as
// they were sent, Chromium's permessage-deflate offer gets the answer
// expected (the extension with its parameters, or none), a compressible
// text of 1.5 MiB, a small one and a binary message of 1 MiB come back
// equal through it, and the page reconnects by itself when the server
// restarts.
//
//   node tests/browser/echo.mjs http://127.0.0.1:PORT/ <screenshot-dir> <extensions>

import { check, checkExtensions, eventually, ok, restartServer, scenario } from './lib.mjs';

await scenario('echo', async ({ url, origin, extensions, openPage, screenshot }) => {
  const wsUrl = origin.replace(/^http/, 'ws') + '/ws';
  const page = await openPage('echo page');
  await page.goto(url);

  // Connected: the status pill, the URL shown, the buttons enabled.
  await eventually('the status says "connected"', async () => {
    const status = await page.locator('#status').textContent();
    const className = await page.locator('#status').getAttribute('class');
    return { ok: status === 'connected' && className === 'connected', seen: { status, className } };
  });
  check((await page.locator('#url').textContent()) === wsUrl, `#url shows ${await page.locator('#url').textContent()}`);
  check(await page.locator('#send').isEnabled(), '#send is disabled while connected');
  check(await page.locator('#send-binary').isEnabled(), '#send-binary is disabled while connected');
  ok(`connected to ${wsUrl}`);

  // Permessage-deflate offered by Chromium, answered as expected.
  await checkExtensions(page, wsUrl, extensions);

  const logItems = async (className) => page.locator(`#log li.${className}`).allTextContents();

  // Typed text, sent with Enter, then with the Send button.
  const typed = [
    { text: 'hello 你好，世界！ WebSocket 测试 🦀🎉👋🏽 ñ', how: 'Enter' },
    { text: '狗🐕 second line, sent by the button', how: 'click' },
  ];
  for (const { text, how } of typed) {
    await page.locator('#input').fill(text);
    if (how === 'Enter') await page.locator('#input').press('Enter');
    else await page.locator('#send').click();
    await eventually(`the echo of ${JSON.stringify(text)} (sent with ${how}) in the log`, async () => {
      const received = await logItems('received');
      return { ok: received.includes(`← ${text}`), seen: received };
    });
    check((await page.locator('#input').inputValue()) === '', `the input is not cleared after ${how}`);
    ok(`typed ${JSON.stringify(text)}, sent with ${how}, echoed`);
  }

  // The binary button: 8 bytes out, the same 8 bytes back as a binary message.
  await page.locator('#send-binary').click();
  await eventually('the echo of the 8 binary bytes in the log', async () => {
    const received = await logItems('received');
    return { ok: received.includes('← binary, 8 bytes'), seen: received.map((r) => r.slice(0, 40)) };
  });
  ok('binary button: "← binary, 8 bytes" in the log');

  await screenshot(page, 'echo.png');

  // A long text: a 64-bit length frame from Chromium, its echo from the server.
  const long = '长'.repeat(20000) + '🦀'.repeat(10000) + 'end';
  await page.locator('#input').fill(long);
  await page.locator('#send').click();
  await eventually(`the echo of a ${Buffer.byteLength(long)}-byte text`, async () => {
    const received = await logItems('received');
    return { ok: received.includes(`← ${long}`), seen: received.map((r) => r.slice(0, 40)) };
  });
  ok(`a ${Buffer.byteLength(long)}-byte text echoed`);

  // What crossed the wire, as Chromium saw it: every message came back
  // with the same type and bytes, in order.
  const expected = [...typed.map((t) => t.text), Buffer.from([0, 1, 2, 3, 252, 253, 254, 255]), long];
  const same = (a, b) => (Buffer.isBuffer(a) ? Buffer.isBuffer(b) && a.equals(b) : a === b);
  check(page.wsSent.length === expected.length, `Chromium sent ${page.wsSent.length} messages, expected ${expected.length}`);
  check(page.wsReceived.length === expected.length, `Chromium received ${page.wsReceived.length} messages, expected ${expected.length}`);
  expected.forEach((message, i) => {
    check(same(page.wsSent[i], message), `sent message ${i} differs from what was typed`);
    check(same(page.wsReceived[i], message), `received message ${i} is not the echo of message ${i}`);
  });
  ok(`all ${expected.length} messages echoed with the same type and bytes, in order`);

  // Sent and received lines pair up in the log, nothing twice.
  const sent = await logItems('sent');
  const received = await logItems('received');
  check(sent.length === 4 && received.length === 4, `log: ${sent.length} sent, ${received.length} received lines`);

  // Large and small messages through the extension, on a second socket of
  // the page's own (its log stays short): a compressible text of 1.5 MiB, a
  // small text (over the server's 16-byte threshold, so compressed both
  // ways), 1 MiB of binary. Each comes back equal.
  const big = await page.evaluate(async ({ wsUrl }) => {
    const ws = new WebSocket(wsUrl);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot open ${wsUrl}`));
    });
    const received = [];
    let waiter = null;
    ws.onmessage = (e) => (waiter ? waiter(e.data) : received.push(e.data));
    const next = () => (received.length
      ? Promise.resolve(received.shift())
      : new Promise((resolve) => { waiter = (data) => { waiter = null; resolve(data); }; }));
    const words = ['echo ', 'deflate ', 'window ', '长消息 ', '🦀 ', 'the ', 'a ', 'message '];
    const parts = [];
    let seed = 12345;
    for (let n = 0; n < 1.5 * (1 << 20);) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const w = words[seed % words.length];
      parts.push(w);
      n += new TextEncoder().encode(w).length;
    }
    const large = parts.join('');
    const small = 'small message 小 🦀';
    const bytes = new Uint8Array(1 << 20);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i % 7) * 31 + (i >> 12);
    const results = [];
    for (const [what, message] of [['1.5 MiB text', large], ['small text', small], ['1 MiB binary', bytes]]) {
      ws.send(message);
      const back = await next();
      const equal = typeof message === 'string'
        ? back === message
        : back instanceof ArrayBuffer && back.byteLength === message.length
          && new Uint8Array(back).every((b, i) => b === message[i]);
      const size = typeof message === 'string' ? new TextEncoder().encode(message).length : message.length;
      results.push({ what, size, equal });
    }
    const negotiated = ws.extensions;
    ws.close(1000);
    await new Promise((resolve) => { ws.onclose = resolve; });
    return { results, negotiated };
  }, { wsUrl });
  check(big.negotiated === extensions,
    `the second socket negotiated ${JSON.stringify(big.negotiated)}, expected ${JSON.stringify(extensions)}`);
  for (const { what, size, equal } of big.results) {
    check(equal, `the ${what} (${size} bytes) did not come back equal`);
    ok(`${what} (${size} bytes) echoed equal with extensions ${JSON.stringify(big.negotiated)}`);
  }
  check(big.results[0].size >= 1 << 20, `the large text is only ${big.results[0].size} bytes`);

  // The server goes away and comes back on the same port: the page shows
  // the loss, reconnects by itself and echoes again.
  await restartServer();
  await eventually('the page reconnects after the server restart', async () => {
    const status = await page.locator('#status').textContent();
    const info = await logItems('info');
    const reconnected = status === 'connected' && info.filter((i) => i.startsWith('connected to')).length === 2;
    return { ok: reconnected, seen: { status, info } };
  }, 8000);
  const info = await logItems('info');
  check(info.some((i) => i.startsWith('closed (code 1006)')), `no "closed (code 1006)" line in the log: ${JSON.stringify(info)}`);
  await page.locator('#input').fill('again 再来 🔁');
  await page.locator('#input').press('Enter');
  await eventually('the echo after the reconnect', async () => {
    const received = await logItems('received');
    return { ok: received.at(-1) === '← again 再来 🔁', seen: received.slice(-2).map((r) => r.slice(0, 40)) };
  });
  await checkExtensions(page, wsUrl, extensions);
  ok('the page reconnected by itself after the server restart and echoes again');
});
