// Widget acceptance tests: a blog page on a different origin embeds widget.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, chatURL, serveBlog, uniq } from './lib.mjs';

let browser, blog;
before(async () => { browser = await launch(); blog = await serveBlog(); });
after(async () => { await browser?.close(); await blog?.close(); });

const T = 30000;
const button = (page) => page.locator('[data-edge-chat] button');
const panelOpen = (page) => page.locator('[data-edge-chat]').evaluate((h) => {
  const p = h.shadowRoot.querySelector('.panel');
  const s = getComputedStyle(p);
  return s.visibility === 'visible' && Number(s.opacity) > 0.99;
});

test('widget on another origin opens the chat iframe and chats', { timeout: 120000 }, async () => {
  const room = uniq('e2e-widget');
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  try {
    await page.goto(blog.url(room));
    assert.notEqual(new URL(page.url()).origin, new URL(chatURL()).origin, 'different origins');
    const btn = button(page);
    await btn.waitFor({ timeout: T });
    // bottom-right on wide screens
    const bb = await btn.boundingBox();
    assert.ok(bb.x > 1200 - 120 && bb.y > 800 - 120, `button bottom-right, got ${JSON.stringify(bb)}`);
    // The host page's `button{background:hotpink!important}` must not reach the widget.
    const bg = await btn.evaluate((b) => getComputedStyle(b).backgroundColor);
    assert.notEqual(bg, 'rgb(255, 105, 180)', 'page CSS does not leak into the widget');
    assert.equal(await page.locator('[data-edge-chat] iframe').count(), 0, 'chat not loaded before first open');

    await btn.click();
    const iframe = page.locator('[data-edge-chat] iframe');
    await iframe.waitFor({ timeout: T });
    const src = new URL(await iframe.getAttribute('src'));
    assert.equal(src.origin + src.pathname, chatURL(), 'iframe points at the chat mount of the script origin');
    assert.equal(src.searchParams.get('room'), room);
    await page.waitForFunction(() => {
      const p = document.querySelector('[data-edge-chat]').shadowRoot.querySelector('.panel');
      return getComputedStyle(p).opacity === '1';
    }, null, { timeout: T });
    assert.equal(await btn.getAttribute('aria-expanded'), 'true');

    // The chat really runs inside the cross-origin frame (embedding allowed by the chat server).
    const frame = page.frameLocator('[data-edge-chat] iframe');
    await frame.locator('#enter-btn:not([disabled])').click({ timeout: T }).catch((e) => {
      throw new Error(`the chat did not load inside the iframe on ${blog.origin}; is that origin in chat.origins ` +
        `(frame-ancestors)? ${e.message}`);
    });
    await frame.locator('#input').waitFor({ timeout: T });
    const text = 'hi from the blog ' + uniq('m');
    await frame.locator('#input').fill(text);
    await frame.locator('#input').press('Enter');
    await frame.locator('#msgs .msg.mine:not(.pending)', { hasText: text }).waitFor({ timeout: T });

    // Escape inside the frame closes it (postMessage to the widget) ...
    await frame.locator('#input').press('Escape');
    await page.waitForFunction(() => {
      const root = document.querySelector('[data-edge-chat]').shadowRoot;
      return root.querySelector('button').getAttribute('aria-expanded') === 'false' &&
        getComputedStyle(root.querySelector('.panel')).visibility === 'hidden';
    }, null, { timeout: T });
    // ... a second click on the button too, and Escape on the page.
    await btn.click();
    await page.waitForFunction(() => getComputedStyle(document.querySelector('[data-edge-chat]').shadowRoot.querySelector('.panel')).opacity === '1', null, { timeout: T });
    assert.equal(await panelOpen(page), true);
    await btn.click();
    assert.equal(await btn.getAttribute('aria-expanded'), 'false');
    await btn.click();
    assert.equal(await btn.getAttribute('aria-expanded'), 'true');
    await btn.focus(); // opening moved focus into the frame; Escape on the host page
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.querySelector('[data-edge-chat]').shadowRoot.querySelector('button')
      .getAttribute('aria-expanded') === 'false', null, { timeout: T });
    assert.equal(await page.locator('[data-edge-chat] iframe').count(), 1, 'the frame is kept, not reloaded');
    assert.deepEqual(dialogs, []);
  } finally {
    await context.close();
  }
});

test('widget adds no globals and sits bottom-left on a phone', { timeout: 60000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  try {
    await page.goto(blog.url('lobby', '/plain'));
    const baseline = await page.evaluate(() => Object.keys(window));
    await page.goto(blog.url('lobby'));
    await button(page).waitFor({ timeout: T });
    const withWidget = await page.evaluate(() => Object.keys(window));
    assert.deepEqual(withWidget.filter((k) => !baseline.includes(k)), [], 'no new window properties');

    const bb = await button(page).boundingBox();
    assert.ok(bb.x < 100 && bb.y > 640 - 120, `button bottom-left on a phone, got ${JSON.stringify(bb)}`);
    await button(page).tap();
    await page.locator('[data-edge-chat] iframe').waitFor({ timeout: T });
    await page.waitForFunction(() => getComputedStyle(document.querySelector('[data-edge-chat]').shadowRoot.querySelector('.panel')).opacity === '1', null, { timeout: T });
    const pb = await page.locator('[data-edge-chat] .panel').boundingBox();
    assert.ok(pb.x >= 0 && pb.x + pb.width <= 360 && pb.y >= 0, `panel inside the screen, got ${JSON.stringify(pb)}`);
    const frame = page.frameLocator('[data-edge-chat] iframe');
    await frame.locator('#enter-btn:not([disabled])').waitFor({ timeout: T });
    const overflow = await frame.locator('body').evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, 'chat fits the phone-sized frame');
  } finally {
    await context.close();
  }
});
