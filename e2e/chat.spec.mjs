// Chat page acceptance tests against a running edge chat (EDGE_CHAT_URL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, chatURL, altChatURLs, enterChat, say, bubbles, uniq } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const T = 30000; // generous waits: a loaded 2-core machine

test('two visitors in one room see each other with nicknames; reload keeps history', { timeout: 120000 }, async () => {
  const room = uniq('e2e');
  const a = await enterChat(browser, room);
  const b = await enterChat(browser, room);
  try {
    assert.ok(a.nickname.trim(), 'visitor A has a nickname');
    assert.ok(b.nickname.trim(), 'visitor B has a nickname');

    // Both are counted online.
    for (const p of [a.page, b.page]) {
      await p.locator('#online').filter({ hasText: '2' }).waitFor({ timeout: T });
    }

    const hello = 'hello from A ' + uniq('m');
    await say(a.page, hello);
    const onB = b.page.locator('#msgs .msg', { hasText: hello });
    await onB.waitFor({ timeout: T });
    assert.equal((await onB.locator('.nick').textContent()).trim(), a.nickname.trim(), 'B sees A\'s nickname');
    assert.equal(await onB.evaluate((li) => li.classList.contains('mine')), false, 'not mine on B');
    const onA = a.page.locator('#msgs .msg', { hasText: hello });
    assert.equal(await onA.evaluate((li) => li.classList.contains('mine')), true, 'own message marked mine');
    // Own messages sit on the right, others' on the left.
    const boxA = await onA.locator('.bubble').boundingBox();
    const boxB = await onB.locator('.bubble').boundingBox();
    const vw = a.page.viewportSize().width;
    assert.ok(boxA.x + boxA.width > vw * 0.6, 'own bubble is right-aligned');
    assert.ok(boxB.x < vw * 0.4, 'other bubble is left-aligned');
    // Each message has an avatar (image or fallback circle).
    assert.equal(await onB.locator('.av').count(), 1);

    const reply = 'reply from B ' + uniq('m');
    await say(b.page, reply);
    await a.page.locator('#msgs .msg', { hasText: reply }).waitFor({ timeout: T });

    // Multi-line: Shift+Enter is a newline, Enter sends.
    await a.page.locator('#input').fill('line one');
    await a.page.locator('#input').press('Shift+Enter');
    await a.page.locator('#input').pressSequentially('line two');
    await a.page.locator('#input').press('Enter');
    await b.page.locator('#msgs .bubble', { hasText: 'line two' }).waitFor({ timeout: T });
    assert.ok((await bubbles(b.page)).includes('line one\nline two'), 'newline kept');

    // Reload: the visitor is back in with the same nickname and the history.
    await a.page.reload();
    await a.page.locator('#msgs .msg', { hasText: reply }).waitFor({ timeout: T });
    assert.equal((await a.page.locator('#me .nick').textContent()).trim(), a.nickname.trim(), 'same nickname after reload');
    const texts = await bubbles(a.page);
    assert.deepEqual(texts.filter((t) => t === hello || t === reply), [hello, reply], 'history in order, once each');
    assert.equal(await a.page.locator('#msgs .msg.mine', { hasText: hello }).count(), 1, 'still mine after reload');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('markup in a message is shown as text and never runs', { timeout: 120000 }, async () => {
  const room = uniq('e2e-xss');
  const a = await enterChat(browser, room);
  const b = await enterChat(browser, room);
  try {
    const evil = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script>', '"><svg onload=alert(3)>'];
    for (const m of evil) await say(a.page, m);
    await b.page.locator('#msgs .bubble', { hasText: evil[2] }).waitFor({ timeout: T });
    // Reload B too: history goes through the same rendering path.
    await b.page.reload();
    await b.page.locator('#msgs .bubble', { hasText: evil[2] }).waitFor({ timeout: T });
    for (const p of [a.page, b.page]) {
      const texts = await bubbles(p);
      for (const m of evil) assert.ok(texts.includes(m), `shown literally: ${m}`);
      assert.equal(await p.locator('#msgs .bubble img, #msgs .bubble script, #msgs .bubble svg').count(), 0, 'no element was created');
    }
    // Give any injected handler a moment to have fired (it would have on insert).
    await b.page.waitForTimeout(500);
    assert.deepEqual(a.dialogs, [], 'no dialog on A');
    assert.deepEqual(b.dialogs, [], 'no dialog on B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a dropped connection resumes with no gap and no duplicate', { timeout: 120000 }, async () => {
  const room = uniq('e2e-resume');
  // Fault injection on the client only: record sockets, and optionally point new ones at a dead path.
  const a = await (async () => {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      const Native = window.WebSocket;
      const sockets = [];
      Object.defineProperty(window, '__e2e', { value: { sockets, block: false } });
      window.WebSocket = class extends Native {
        constructor(url, protocols) {
          super(window.__e2e.block ? String(url).replace('/ws?', '/ws-blocked?') : url, protocols);
          sockets.push(this);
        }
      };
    });
    const page = await context.newPage();
    await page.goto(chatURL() + '?room=' + room);
    await page.locator('#enter-btn:not([disabled])').click();
    await page.locator('#input').waitFor();
    return { context, page };
  })();
  const b = await enterChat(browser, room);
  try {
    const before1 = 'before drop ' + uniq('m');
    await say(b.page, before1);
    await a.page.locator('#msgs .bubble', { hasText: before1 }).waitFor({ timeout: T });

    // Drop A and keep it from reconnecting while B talks.
    await a.page.evaluate(() => { window.__e2e.block = true; for (const s of window.__e2e.sockets) s.close(); });
    await a.page.locator('#status:not([hidden])').waitFor({ timeout: T });
    const missed = [1, 2, 3].map((i) => `missed ${i} ` + uniq('m'));
    for (const m of missed) await say(b.page, m);

    // Let A back in: it must join with after=<last id> and get exactly the missed ones.
    await a.page.evaluate(() => { window.__e2e.block = false; });
    await a.page.locator('#msgs .bubble', { hasText: missed[2] }).waitFor({ timeout: 60000 });
    await a.page.locator('#status').waitFor({ state: 'hidden', timeout: T });
    const texts = await bubbles(a.page);
    for (const m of [before1, ...missed]) assert.equal(texts.filter((t) => t === m).length, 1, `exactly once: ${m}`);
    const ids = await a.page.locator('#msgs .msg').evaluateAll((lis) => lis.map((li) => li.dataset.id));
    assert.equal(new Set(ids).size, ids.length, 'no duplicate ids in view');
    const order = ids.map((id) => BigInt(id));
    assert.deepEqual(order, [...order].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)), 'ids ascending');

    // And A can still send after the resume.
    const after1 = 'after resume ' + uniq('m');
    await say(a.page, after1);
    await b.page.locator('#msgs .bubble', { hasText: after1 }).waitFor({ timeout: T });
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('scrolling up loads older history in order', { timeout: 180000 }, async () => {
  const room = uniq('e2e-scroll');
  // Two writers, so each stays inside the server's per-connection burst (40 frames by default).
  const a = await enterChat(browser, room);
  const b = await enterChat(browser, room);
  const N = 80; // more than one join's history (50 by default), so scrolling back must page
  const tag = uniq('s');
  try {
    for (let i = 0; i < N; i++) await say((i < N / 2 ? a : b).page, `${tag} #${String(i).padStart(3, '0')}`);
  } finally {
    await a.context.close();
    await b.context.close();
  }
  const c = await enterChat(browser, room, { viewport: { width: 400, height: 500 } });
  try {
    const want = Array.from({ length: N }, (_, i) => `${tag} #${String(i).padStart(3, '0')}`);
    await c.page.locator('#msgs .bubble', { hasText: want[N - 1] }).waitFor({ timeout: T });
    const initial = (await bubbles(c.page)).length;
    const pages = [];
    c.page.on('request', (r) => { if (r.url().includes('/messages?before=')) pages.push(r.url()); });
    for (const end = Date.now() + 90000; Date.now() < end && (await bubbles(c.page)).length < N;) {
      await c.page.locator('#log').evaluate((l) => { l.scrollTop = 0; });
      await c.page.waitForTimeout(250);
    }
    await c.page.locator('#msgs .bubble', { hasText: want[0] }).waitFor({ timeout: T });
    assert.deepEqual(await bubbles(c.page), want, 'every message once, oldest first');
    if (initial < N) assert.ok(pages.length > 0, 'older pages came from the REST endpoint');
    await c.page.locator('#older', { hasText: /\S/ }).waitFor({ timeout: T }); // "start of the conversation"
  } finally {
    await c.context.close();
  }
});

test('UI language follows the server locale', { timeout: 60000 }, async () => {
  const want = { ko: { enter: '입장하기', send: '보내기' }, en: { enter: 'Enter', send: 'Send' } };
  for (const base of [chatURL(), ...altChatURLs()]) {
    const cfg = await (await fetch(base + 'api/config')).json();
    assert.ok(cfg.locale === 'ko' || cfg.locale === 'en', `${base}api/config has a locale`);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(base + '?room=' + uniq('e2e-lang'));
      const btn = page.locator('#enter-btn:not([disabled])');
      await btn.waitFor();
      assert.equal((await btn.textContent()).trim(), want[cfg.locale].enter, `${base}: enter button`);
      assert.equal(await page.evaluate(() => document.documentElement.lang), cfg.locale);
      await btn.click();
      await page.locator('#input').waitFor();
      assert.equal((await page.locator('#send').textContent()).trim(), want[cfg.locale].send, `${base}: send button`);
    } finally {
      await context.close();
    }
  }
});

test('phone-sized page fits', { timeout: 60000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true });
  try {
    const page = await context.newPage();
    await page.goto(chatURL() + '?room=' + uniq('e2e-phone'));
    await page.locator('#enter-btn:not([disabled])').click();
    await page.locator('#input').waitFor();
    await say(page, 'small screen '.repeat(20) + 'x'.repeat(120));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
    const box = await page.locator('#send').boundingBox();
    assert.ok(box && box.x + box.width <= 360 && box.y + box.height <= 640, 'send button on screen');
  } finally {
    await context.close();
  }
});
