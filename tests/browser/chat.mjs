// examples/chat.html against examples/chat_server.rs in headless Chromium,
// three users in three separate browser contexts: join notices and the
// online list, room messages seen once by everyone with the sender's name
// and the server's time, a private message seen by its two parties only, an
// error for a recipient who is not online, a refused duplicate nickname, a
// leave notice, and every page back by itself after a server restart; the
// name of the server the page is on, where the server gives one.
//
//   node tests/browser/chat.mjs http://127.0.0.1:PORT/ <screenshot-dir>

import { check, checkExtensions, eventually, ok, restartServer, scenario } from './lib.mjs';

// Nicknames that need percent-encoding in the WebSocket URL's query.
const A = 'wukong';
const B = '八戒';
const C = '沙僧 🐢';

await scenario('chat', async ({ url, origin, extensions, openPage, screenshot }) => {
  const wsUrl = origin.replace(/^http/, 'ws') + '/ws';

  /// Everything a chat page shows, in one round trip.
  const view = (page) =>
    page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      statusClass: document.getElementById('status').className,
      me: document.getElementById('me').textContent,
      users: [...document.querySelectorAll('#users li')].map((li) => li.textContent),
      myself: [...document.querySelectorAll('#users li.me')].map((li) => li.textContent),
      count: document.getElementById('count').textContent,
      recipients: [...document.getElementById('to').options].map((o) => o.value),
      lines: [...document.querySelectorAll('#messages li')].map((li) => ({
        kind: li.className,
        from: li.dataset.from ?? null,
        shownFrom: li.querySelector('.from')?.textContent ?? null,
        time: li.querySelector('.time')?.textContent ?? '',
        text: li.querySelector('.text')?.textContent ?? '',
      })),
    }));
  const lines = async (page, kind) => (await view(page)).lines.filter((l) => l.kind === kind);
  const sorted = (names) => [...names].sort();

  /// Waits until `page` shows `names` online (in any order), with itself
  /// marked, and offers the others as recipients.
  async function waitForUsers(page, me, names) {
    await eventually(`${page.label}: the online list is ${JSON.stringify(names)}`, async () => {
      const v = await view(page);
      const others = sorted(names.filter((n) => n !== me));
      const good =
        JSON.stringify(sorted(v.users)) === JSON.stringify(sorted(names)) &&
        v.count === String(names.length) &&
        JSON.stringify(v.myself) === JSON.stringify([me]) &&
        v.recipients[0] === '' &&
        JSON.stringify(sorted(v.recipients.slice(1))) === JSON.stringify(others);
      return { ok: good, seen: { users: v.users, count: v.count, myself: v.myself, recipients: v.recipients } };
    });
  }

  /// Waits until `page` shows the notice `text` (exactly once).
  async function waitForNotice(page, text) {
    await eventually(`${page.label}: the notice "${text}"`, async () => {
      const notices = (await lines(page, 'notice')).map((l) => l.text);
      return { ok: notices.includes(text), seen: notices };
    });
    const count = (await lines(page, 'notice')).filter((l) => l.text === text).length;
    check(count === 1, `${page.label}: the notice "${text}" appears ${count} times`);
  }

  async function waitConnected(page, me) {
    await eventually(`${page.label}: connected as ${me}`, async () => {
      const v = await view(page);
      return { ok: v.status === 'connected' && v.me === `as ${me}`, seen: { status: v.status, me: v.me } };
    });
  }

  // --- A joins with the nickname box and the Join button.
  const a = await openPage(`page ${A}`);
  await a.goto(url);
  check((await a.locator('#url').textContent()) === wsUrl, `#url shows ${await a.locator('#url').textContent()}`);
  check(await a.locator('#input').isDisabled(), 'the message input is enabled before joining');
  await a.locator('#name').fill(A);
  await a.locator('#join').click();
  await waitConnected(a, A);
  await waitForUsers(a, A, [A]);
  ok(`${A} joined with the Join button and is alone online`);

  // --- The server's name, where the server tells it (axum_chat: in its
  // /health and in the welcome): the page shows "on server NAME". A server
  // without /health (chat_server) sends no name, and the page shows none.
  const health = await fetch(`${origin}/health`);
  const serverName = health.ok ? (await health.json()).server : null;
  check(health.ok || health.status === 404, `GET /health answered ${health.status}`);
  check(!health.ok || typeof serverName === 'string' && serverName !== '', `/health has no server name`);
  const welcome = a.wsReceived.map((payload) => JSON.parse(payload)).find((e) => e.type === 'welcome');
  check(welcome !== undefined, `page ${A}: no welcome on the wire`);
  check((welcome.server ?? null) === serverName, `the welcome names server ${welcome.server}, /health ${serverName}`);
  const label = await a.locator('#server').textContent();
  const expected = serverName === null ? '' : `on server ${serverName}`;
  check(label === expected, `page ${A} shows the server label "${label}", expected "${expected}"`);
  ok(serverName === null ? 'no server name, no label' : `the page shows "${label}"`);

  // --- B joins by pressing Enter in the nickname box.
  const b = await openPage(`page ${B}`);
  await b.goto(url);
  await b.locator('#name').fill(B);
  await b.locator('#name').press('Enter');
  await waitConnected(b, B);
  for (const [page, me] of [[a, A], [b, B]]) await waitForUsers(page, me, [A, B]);
  await waitForNotice(a, `${B} joined`);
  ok(`${B} joined with Enter; both pages list ${A} and ${B}`);

  // --- C joins through the page's ?name= link.
  const c = await openPage(`page ${C}`);
  await c.goto(`${url}?name=${encodeURIComponent(C)}`);
  await waitConnected(c, C);
  for (const [page, me] of [[a, A], [b, B], [c, C]]) await waitForUsers(page, me, [A, B, C]);
  await waitForNotice(a, `${C} joined`);
  await waitForNotice(b, `${C} joined`);
  ok(`${C} joined through ?name=; every page lists all three, marks itself and offers the other two as recipients`);

  // --- Room messages: A with Enter, B with the Send button, C with Enter.
  // Each appears exactly once in every page, with its sender, in one order.
  const room = [
    { page: a, from: A, text: '大家好 🎉 hello room <b>not bold</b>', how: 'Enter' },
    { page: b, from: B, text: '俺老猪来也 🐷', how: 'click' },
    { page: c, from: C, text: '大师兄，师父被妖怪抓走了！🙏', how: 'Enter' },
  ];
  for (const { page, from, text, how } of room) {
    check((await page.locator('#to').inputValue()) === '', `${page.label}: the recipient is not "Everyone"`);
    await page.locator('#input').fill(text);
    if (how === 'Enter') await page.locator('#input').press('Enter');
    else await page.locator('#send').click();
    for (const other of [a, b, c]) {
      await eventually(`${other.label}: the room message from ${from} (sent with ${how})`, async () => {
        const got = (await lines(other, 'message')).filter((l) => l.text === text);
        return { ok: got.length >= 1, seen: (await lines(other, 'message')).map((l) => `${l.from}: ${l.text}`) };
      });
    }
    check((await page.locator('#input').inputValue()) === '', `${page.label}: the input is not cleared after sending`);
  }
  for (const page of [a, b, c]) {
    const got = await lines(page, 'message');
    const expected = room.map(({ from, text }) => `${from}: ${text}`);
    check(
      JSON.stringify(got.map((l) => `${l.from}: ${l.text}`)) === JSON.stringify(expected),
      `${page.label}: room messages ${JSON.stringify(got)}, expected exactly ${JSON.stringify(expected)}`,
    );
    for (const line of got) {
      check(line.shownFrom === line.from, `${page.label}: the line shows sender ${line.shownFrom}, not ${line.from}`);
      check(/\d/.test(line.time), `${page.label}: no time on "${line.text}"`);
    }
    check(
      (await page.locator('#messages b').count()) === 0,
      `${page.label}: a message was parsed as HTML`,
    );
  }
  ok('3 room messages: each shown once in every page, with its sender and time, in the same order; HTML shown as text');

  // What the server sent, as Chromium received it: JSON events with the
  // server's timestamp.
  for (const page of [a, b, c]) {
    const events = page.wsReceived.map((payload) => JSON.parse(payload));
    const messages = events.filter((e) => e.type === 'message');
    check(messages.length === room.length, `${page.label}: ${messages.length} "message" events on the wire`);
    for (const event of events) {
      check(
        typeof event.time === 'number' && Math.abs(event.time - Date.now()) < 60000,
        `${page.label}: event without a current server time: ${JSON.stringify(event)}`,
      );
    }
  }
  ok('every event on the wire is JSON with the server time in ms');

  // --- A private message from A to B: B and A see it, C does not.
  const secret = '悄悄话 🤫 只给八戒';
  await a.locator('#to').selectOption(B);
  await a.locator('#input').fill(secret);
  await a.locator('#input').press('Enter');
  const privateLine = `→ ${B} (private): ${secret}`;
  for (const page of [a, b]) {
    await eventually(`${page.label}: the private message from ${A} to ${B}`, async () => {
      const got = (await lines(page, 'private')).map((l) => `${l.from}: ${l.text}`);
      return { ok: got.includes(`${A}: ${privateLine}`), seen: got };
    });
  }
  // C sends a room message after A and B have the private one: once C has
  // its own message back, anything for C sent before it has arrived too.
  const barrier = 'barrier 🚧';
  await c.locator('#input').fill(barrier);
  await c.locator('#input').press('Enter');
  for (const page of [a, b, c]) {
    await eventually(`${page.label}: ${C}'s message after the private one`, async () => {
      const got = (await lines(page, 'message')).map((l) => l.text);
      return { ok: got.includes(barrier), seen: got };
    });
  }
  for (const [page, want] of [[a, 1], [b, 1], [c, 0]]) {
    const got = await lines(page, 'private');
    check(got.length === want, `${page.label}: ${got.length} private lines, expected ${want}: ${JSON.stringify(got)}`);
    const onWire = page.wsReceived.filter((p) => p.includes(secret)).length;
    check(onWire === want, `${page.label}: the secret arrived ${onWire} times on the wire, expected ${want}`);
  }
  check((await a.locator('#to').inputValue()) === B, `page ${A}: the recipient changed by itself`);
  ok(`the private message from ${A} to ${B} is in ${A}'s and ${B}'s pages once, not in ${C}'s (nor on its wire)`);

  await screenshot(a, 'chat-a.png');
  await screenshot(b, 'chat-b.png');
  await screenshot(c, 'chat-c.png');

  // --- A private message to someone who is not online: an error for the
  // sender only. The page offers only online users, so send it raw.
  const errorsBefore = { b: (await lines(b, 'error')).length, a: (await lines(a, 'error')).length };
  await b.evaluate(() => {
    const socket = window.__sockets.find((s) => s.readyState === WebSocket.OPEN);
    socket.send(JSON.stringify({ text: 'hello?', to: '白骨精' }));
  });
  await eventually(`page ${B}: an error for a private message to someone offline`, async () => {
    const got = (await lines(b, 'error')).map((l) => l.text);
    return { ok: got.length === errorsBefore.b + 1 && got.at(-1).includes('白骨精'), seen: got };
  });
  check((await lines(a, 'error')).length === errorsBefore.a, `page ${A} got ${B}'s error`);
  ok(`a private message to an offline user: "${(await lines(b, 'error')).at(-1).text}" in ${B}'s page only`);

  // --- A second page asking for A's nickname is refused; A keeps it.
  const dup = await openPage(`second page asking for ${A}`);
  await dup.goto(url);
  await dup.locator('#name').fill(A);
  await dup.locator('#join').click();
  await eventually(`${dup.label}: refused`, async () => {
    const v = await view(dup);
    const errors = v.lines.filter((l) => l.kind === 'error').map((l) => l.text);
    return { ok: v.statusClass === 'refused' && errors.some((e) => e.includes('taken')), seen: { status: v.status, errors } };
  });
  await new Promise((resolve) => setTimeout(resolve, 1500)); // no retry after a refusal
  check((await view(dup)).statusClass === 'refused', `${dup.label}: retried after the refusal`);
  check(dup.handshakes.length === 1, `${dup.label}: ${dup.handshakes.length} connection attempts after a refusal`);
  await waitConnected(a, A);
  for (const [page, me] of [[a, A], [b, B], [c, C]]) await waitForUsers(page, me, [A, B, C]);
  const stray = (await lines(b, 'notice')).filter((l) => l.text.startsWith(`${A} `));
  check(stray.length === 0, `page ${B}: notices about ${A}: ${JSON.stringify(stray)}`);
  const still = `${A} still here ✋`;
  await a.locator('#to').selectOption('');
  await a.locator('#input').fill(still);
  await a.locator('#input').press('Enter');
  await eventually(`page ${B}: ${A}'s message after the refused takeover`, async () => {
    const got = (await lines(b, 'message')).map((l) => `${l.from}: ${l.text}`);
    return { ok: got.includes(`${A}: ${still}`), seen: got };
  });
  check(!dup.wsReceived.some((p) => p.includes(still)), `${dup.label}: received ${A}'s message`);
  ok(`a second "${A}" is refused (status "${(await view(dup)).status}"), no retry; the first keeps the name and its messages`);
  await dup.context().close();

  // --- C closes its page: A and B see it leave.
  await c.context().close();
  for (const [page, me] of [[a, A], [b, B]]) {
    await waitForUsers(page, me, [A, B]);
    await eventually(`${page.label}: the leave notice of ${C}`, async () => {
      const notices = (await lines(page, 'notice')).map((l) => l.text);
      return { ok: notices.some((n) => n.startsWith(`${C} left`)), seen: notices };
    });
  }
  ok(`${C} closed the page: "${(await lines(a, 'notice')).at(-1).text}" in both other pages`);

  for (const [page, me] of [[a, A], [b, B]]) await checkExtensions(page, `${wsUrl}?name=${encodeURIComponent(me)}`, extensions);

  // --- The server restarts: both pages come back by themselves, with their
  // nicknames, and chat again.
  await restartServer();
  for (const [page, me] of [[a, A], [b, B]]) {
    await eventually(`${page.label}: back as ${me} after the restart`, async () => {
      const v = await view(page);
      return { ok: v.status === 'connected' && v.me === `as ${me}`, seen: { status: v.status, me: v.me } };
    }, 8000);
  }
  for (const [page, me] of [[a, A], [b, B]]) await waitForUsers(page, me, [A, B]);
  const again = '又见面了 👋';
  await b.locator('#input').fill(again);
  await b.locator('#send').click();
  for (const page of [a, b]) {
    await eventually(`${page.label}: a room message after the restart`, async () => {
      const got = (await lines(page, 'message')).map((l) => `${l.from}: ${l.text}`);
      return { ok: got.includes(`${B}: ${again}`), seen: got };
    });
  }
  ok('after a server restart both pages reconnected by themselves with their nicknames and chat again');
});
