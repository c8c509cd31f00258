// Moderation as members see it (EDGE_ADMIN_SOCKET: the running edge's admin unix socket).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { launch, enterChat, say, uniq } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const T = 30000;

// admin calls the moderation API over the admin socket, as `edge chat` does.
function admin(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : '';
    const req = http.request({ socketPath: process.env.EDGE_ADMIN_SOCKET, method, path, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let out = '';
      res.on('data', (c) => { out += c; });
      res.on('end', () => { try { resolve({ status: res.statusCode, body: JSON.parse(out) }); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.end(data);
  });
}

test('a deleted message turns into a placeholder for every member at once, and after a reload', { timeout: 120000 }, async () => {
  const room = uniq('mod');
  const a = await enterChat(browser, room);
  const b = await enterChat(browser, room);
  try {
    const spam = 'BUY CHEAP PILLS ' + uniq('s');
    const fine = 'a normal message ' + uniq('f');
    await say(a.page, spam);
    await say(a.page, fine);
    const onB = b.page.locator('#msgs .msg', { hasText: spam });
    await onB.waitFor({ timeout: T });
    const id = Number(await onB.getAttribute('data-id'));
    assert.ok(id > 0, 'the message has an id');

    const start = Date.now();
    const res = await admin('POST', '/chat/delete', { ids: [id] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (const p of [a.page, b.page]) {
      await p.locator(`#msgs .msg.deleted[data-id="${id}"]`).waitFor({ timeout: 1000 });
    }
    const took = Date.now() - start;
    console.log(`placeholder on both pages ${took} ms after the delete request`);
    assert.ok(took < 1000, `placeholder within 1 s (took ${took} ms)`);
    for (const p of [a.page, b.page]) {
      assert.equal(await p.locator('#msgs .msg', { hasText: 'PILLS' }).count(), 0, 'the spam text is gone');
      await p.locator('#msgs .msg', { hasText: fine }).waitFor({ timeout: T });
    }
    await b.page.reload();
    await b.page.locator('#msgs .msg', { hasText: fine }).waitFor({ timeout: T });
    await b.page.locator(`#msgs .msg.deleted[data-id="${id}"]`).waitFor({ timeout: T });
    assert.equal(await b.page.locator('#msgs .msg', { hasText: 'PILLS' }).count(), 0, 'reload serves the placeholder');

    // A ban closes the member's socket; the page says so and does not reconnect.
    const me = await a.page.evaluate(() => JSON.parse(localStorage.getItem('edge-chat:session')).user.id);
    const ban = await admin('POST', '/chat/ban', { user: me, reason: 'spam', for: '10m' });
    assert.equal(ban.status, 200, JSON.stringify(ban.body));
    await a.page.locator('#status.err').waitFor({ timeout: T });
    const text = await a.page.locator('#status').textContent();
    assert.ok(/banned|차단/.test(text), `banned notice shown: ${text}`);
    const unban = await admin('POST', '/chat/unban', { user: me });
    assert.equal(unban.status, 200, JSON.stringify(unban.body));
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
