// Writes docs/chat.png (the chat page with a short conversation) and docs/widget.png (the sample
// blog page on another origin with the widget open), against a running edge chat (EDGE_CHAT_URL).
// usage: EDGE_CHAT_URL=http://127.0.0.1:8080/chat/ node screenshots.mjs [outdir]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, chatURL, serveBlog, enterChat, say, uniq } from './lib.mjs';

const out = process.argv[2] || path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs');
const room = uniq('post');
const browser = await launch();
const blog = await serveBlog();
try {
  const cfg = await (await fetch(chatURL() + 'api/config')).json();
  const lines = cfg.locale === 'ko'
    ? ['안녕하세요! 글 잘 읽었어요', 'green으로 전환할 때 헬스 체크는 몇 번 통과해야 하나요?', 'rise 값만큼이요. 기본은 2번이에요.', '오 감사합니다. 배포 때 503이 사라졌네요']
    : ['Hi! Great post', 'How many health checks must green pass before the switch?', '`rise` of them — 2 by default.', 'Thanks, no more 503s during deploys'];
  const a = await enterChat(browser, room, { viewport: { width: 420, height: 640 }, deviceScaleFactor: 2 });
  const b = await enterChat(browser, room, { viewport: { width: 420, height: 640 } });
  const c = await enterChat(browser, room, { viewport: { width: 420, height: 640 } });
  await say(b.page, lines[0]);
  await say(a.page, lines[1]);
  await say(c.page, lines[2]);
  await say(a.page, lines[3]);
  await a.page.locator('#msgs .msg', { hasText: lines[3] }).waitFor();
  await a.page.locator('#online').filter({ hasText: '3' }).waitFor();
  await a.page.locator('#input').fill(cfg.locale === 'ko' ? '다음 글도 기대할게요' : 'Looking forward to the next one');
  await a.page.screenshot({ path: path.join(out, 'chat.png') });

  const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await ctx.newPage();
  await page.goto(blog.url(room));
  await page.locator('[data-edge-chat] button').click();
  const frame = page.frameLocator('[data-edge-chat] iframe');
  await frame.locator('#enter-btn:not([disabled])').click();
  await frame.locator('#msgs .msg', { hasText: lines[3] }).waitFor();
  await page.waitForFunction(() => getComputedStyle(document.querySelector('[data-edge-chat]').shadowRoot.querySelector('.panel')).opacity === '1');
  await page.screenshot({ path: path.join(out, 'widget.png') });
  for (const x of [a, b, c]) await x.context.close();
  await ctx.close();
  console.log('wrote', path.join(out, 'chat.png'), path.join(out, 'widget.png'));
} finally {
  await browser.close();
  await blog.close();
}
