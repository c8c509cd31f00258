// Database outage: a message sent while the chat's database is down shows "retrying", is resent
// with the same client_id, and appears exactly once when the database is back.
// Needs EDGE_DB_CONTROL_URL: GET {url}/stop and {url}/start stop and start the chat's database
// (chat/web/browser_test.go provides it; scripts/browser-test.sh runs this file only then).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, enterChat, say, uniq } from './lib.mjs';

const control = process.env.EDGE_DB_CONTROL_URL;
let browser;
before(async () => {
  if (!control) throw new Error('EDGE_DB_CONTROL_URL is not set');
  browser = await launch();
});
after(async () => { await browser?.close(); });

async function db(verb) {
  const res = await fetch(`${control}/${verb}`);
  assert.equal(res.status, 200, `${verb} the database`);
}

test('a send during a database outage is retried and lands once', { timeout: 180000 }, async () => {
  const room = uniq('e2e-outage');
  const a = await enterChat(browser, room);
  const b = await enterChat(browser, room);
  let stopped = false;
  try {
    await say(a.page, 'before the outage');
    await db('stop');
    stopped = true;
    const text = 'during the outage ' + uniq('m');
    await a.page.locator('#input').fill(text);
    await a.page.locator('#input').press('Enter');
    const mine = a.page.locator('#msgs .msg', { hasText: text });
    // The server answers "unavailable"; the page keeps it pending and says it is retrying.
    await mine.locator('.state', { hasText: /바빠|busy/ }).waitFor({ timeout: 60000 });
    assert.equal(await mine.evaluate((li) => li.classList.contains('pending')), true);
    assert.equal(await a.page.locator('#status').isHidden(), true, 'the connection itself stays up');
    await db('start');
    stopped = false;
    await a.page.waitForFunction(() => !document.querySelector('#msgs .msg.pending, #msgs .msg.failed'), null, { timeout: 120000 });
    await b.page.locator('#msgs .bubble', { hasText: text }).waitFor({ timeout: 30000 });
    for (const p of [a.page, b.page]) {
      assert.equal(await p.locator('#msgs .bubble', { hasText: text }).count(), 1, 'exactly once');
    }
    await a.page.reload();
    await a.page.locator('#msgs .bubble', { hasText: text }).waitFor({ timeout: 30000 });
    assert.equal(await a.page.locator('#msgs .bubble', { hasText: text }).count(), 1, 'stored once');
  } finally {
    if (stopped) await db('start').catch(() => {});
    await a.context.close();
    await b.context.close();
  }
});
