// Images in <hob-chat>, in headless Chromium on a fake engine (no model
// runs: the engine says whether it takes images and records each request).
// Attaching by the file picker, by paste and by drop (synthetic events with a
// PNG made in the page); the request's parts (the image's own bytes as a
// data: URL of its type, then the text); the transcript's thumbnail and what
// the conversation saves (a downscaled JPEG, never the full image); the size
// cap and a file that is no image; removing before sending; a restored
// conversation's images; the controls hidden for a text-only engine; the
// catalog's vision model loading with its projector.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

import { MODEL_CATALOG } from '../../src/ui/catalog.js';
import { launchBrowser, startServer } from './harness.js';

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
type Sent = { role: string; content: string | Part[] | null };
type SavedImage = { id: string; url: string; name: string; width: number; height: number };
type Msg = { role: string; content: string; images?: SavedImage[] };

async function openChat(context: BrowserContext, base: string, query: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // The page has no favicon.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  await page.goto(`${base}/test/browser/pages/chat-fake.html?model=/fake.gguf&${query}`);
  await page.waitForFunction(() => (window as any).chat?.hasAttribute('ready'), null, { timeout: 30_000 });
  return { page, errors };
}

const requests = (page: Page): Promise<{ messages: Sent[] }[]> => page.evaluate(() => (window as any).requests);
const messages = (page: Page): Promise<Msg[]> => page.evaluate(() => (window as any).chat.messages);
const trayNames = (page: Page): Promise<string[]> =>
  page.evaluate(() => [...(window as any).chat.shadowRoot.querySelectorAll('.attachments img')].map((i: HTMLImageElement) => i.alt));
const waitTray = (page: Page, n: number) =>
  page.waitForFunction((n) => (window as any).chat.shadowRoot.querySelectorAll('.attachments img').length === n, n, { timeout: 10_000 });

/** Waits until `n` answers have finished. */
async function answered(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    (n) => !(window as any).chat.busy && (window as any).events.filter((e: { type: string }) => e.type === 'message').length >= n,
    n,
    { timeout: 10_000 },
  );
}

/** A PNG made in the page (red left half, blue right half), as bytes. */
async function pngBytes(page: Page, w: number, h: number): Promise<Buffer> {
  const bytes = await page.evaluate(async ([w, h]) => [...new Uint8Array(await ((await (window as any).makePng(w, h)) as Blob).arrayBuffer())], [w, h]);
  return Buffer.from(bytes);
}

/** Dispatches a paste or a drop (dragover first) of files made in the page;
 *  returns whether the chat took the events (defaultPrevented). */
function dispatchFiles(
  page: Page,
  how: 'paste' | 'drop',
  files: { name: string; png?: [number, number]; text?: string; type?: string }[],
  withText?: string,
): Promise<{ over?: boolean; taken: boolean }> {
  return page.evaluate(
    async ({ how, files, withText }) => {
      const w = window as any;
      const dt = new DataTransfer();
      for (const f of files) {
        const blob: Blob = f.png ? await w.makePng(f.png[0], f.png[1]) : new Blob([f.text ?? ''], { type: f.type ?? 'text/plain' });
        dt.items.add(new File([blob], f.name, { type: f.type ?? blob.type }));
      }
      if (withText) dt.setData('text/plain', withText);
      const root = w.chat.shadowRoot as ShadowRoot;
      const init = { bubbles: true, cancelable: true, composed: true };
      if (how === 'paste') {
        const paste = new ClipboardEvent('paste', { ...init, clipboardData: dt });
        root.querySelector('#input')!.dispatchEvent(paste);
        return { taken: paste.defaultPrevented };
      }
      const zone = root.querySelector('form.composer')!;
      const over = new DragEvent('dragover', { ...init, dataTransfer: dt });
      zone.dispatchEvent(over);
      const drop = new DragEvent('drop', { ...init, dataTransfer: dt });
      zone.dispatchEvent(drop);
      return { over: over.defaultPrevented, taken: drop.defaultPrevented };
    },
    { how, files, withText },
  );
}

const dataUrlBytes = (url: string): Buffer => Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');

describe('<hob-chat> images', () => {
  let browser: Browser;
  let context: BrowserContext;
  let server: { server: ViteDevServer; url: string };

  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startServer(false)]);
    context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  });
  after(async () => {
    await browser?.close();
    await server?.server.close();
  });

  test('the Attach button picks a file: a thumbnail in the composer, then a request of the PNG (its own bytes) and the text; the transcript and the saved entry keep a 512-pixel JPEG', async () => {
    const { page, errors } = await openChat(context, server.url, 'images=1');
    const png = await pngBytes(page, 1024, 512);
    // The button is a real, named button, next in tab order after the message box.
    await page.locator('hob-chat #input').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => (window as any).chat.shadowRoot.activeElement?.textContent), 'Attach image');
    const choosing = page.waitForEvent('filechooser');
    // A round trip first: the picker is intercepted only once that request has reached the browser.
    await page.evaluate(() => 0);
    await page.keyboard.press('Enter');
    const chooser = await choosing;
    assert.equal(chooser.isMultiple(), true);
    assert.equal(await page.locator('hob-chat .file-input').getAttribute('accept'), 'image/*');
    await chooser.setFiles({ name: 'halves.png', mimeType: 'image/png', buffer: png });
    await waitTray(page, 1);
    assert.deepEqual(await trayNames(page), ['halves.png']);
    assert.equal(await page.locator('hob-chat .attachments button.remove').getAttribute('aria-label'), 'Remove halves.png');

    await page.locator('hob-chat #input').fill('What is this?');
    await page.locator('hob-chat #input').press('Enter');
    await answered(page, 1);
    const [req] = await requests(page);
    const parts = req.messages[0].content as Part[];
    assert.deepEqual(parts.map((p) => p.type), ['image_url', 'text']);
    assert.deepEqual(parts[1], { type: 'text', text: 'What is this?' });
    const url = (parts[0] as Extract<Part, { type: 'image_url' }>).image_url.url;
    assert.match(url, /^data:image\/png;base64,/);
    assert.ok(dataUrlBytes(url).equals(png), 'the request carries the file as it was');

    // The composer emptied; the transcript shows the downscaled copy with its alt text.
    assert.equal(await page.locator('hob-chat .attachments').isHidden(), true);
    const shown = await page.evaluate(async () => {
      const img = (window as any).chat.shadowRoot.querySelector('article.user img.thumb') as HTMLImageElement;
      await img.decode();
      return { alt: img.alt, src: img.src.slice(0, 22), w: img.naturalWidth, h: img.naturalHeight, px: (() => {
        const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight).getContext('2d')!;
        c.drawImage(img, 0, 0);
        return [...c.getImageData(10, 10, 1, 1).data.slice(0, 3), ...c.getImageData(img.naturalWidth - 10, 10, 1, 1).data.slice(0, 3)];
      })() };
    });
    assert.deepEqual({ ...shown, px: undefined }, { alt: 'halves.png', src: 'data:image/jpeg;base64', w: 512, h: 256, px: undefined });
    // Red on the left, blue on the right, give or take JPEG.
    assert.ok(shown.px[0] > 230 && shown.px[2] < 30 && shown.px[3] < 30 && shown.px[5] > 230, `pixels ${shown.px}`);

    // What a host saves: the text, and the image as that copy with its original size; never the PNG.
    const [user, answer] = await messages(page);
    assert.equal(user.content, 'What is this?');
    assert.equal(user.images?.length, 1);
    const saved = user.images![0];
    assert.deepEqual({ name: saved.name, width: saved.width, height: saved.height }, { name: 'halves.png', width: 1024, height: 512 });
    assert.match(saved.url, /^data:image\/jpeg;base64,/);
    assert.ok(!JSON.stringify(await messages(page)).includes('image/png'), 'the full image is not in the saved conversation');
    assert.equal(answer.content, 'I see an image.');

    // A follow-up sends the full image again (the same bytes: the engine's cache keys images by their pixels).
    await page.locator('hob-chat #input').fill('And its colours?');
    await page.locator('hob-chat #input').press('Enter');
    await answered(page, 2);
    const again = (await requests(page))[1].messages;
    assert.deepEqual(again.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal((again[0].content as Extract<Part, { type: 'image_url' }>[])[0].image_url.url, url);
    assert.equal(again[2].content, 'And its colours?');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('paste and drop attach images, remove takes one back before sending, and a file over the cap or not an image is refused with a message', async () => {
    const { page, errors } = await openChat(context, server.url, 'images=1');
    const pasted = await dispatchFiles(page, 'paste', [{ name: 'image.png', png: [64, 48] }]);
    assert.equal(pasted.taken, true);
    await waitTray(page, 1);
    // A paste with text in it still pastes the text (the default is left alone), and attaches the image.
    const mixed = await dispatchFiles(page, 'paste', [{ name: 'second.png', png: [32, 32] }], 'some text');
    assert.equal(mixed.taken, false);
    await waitTray(page, 2);
    const dropped = await dispatchFiles(page, 'drop', [{ name: 'dropped.png', png: [80, 60] }]);
    assert.deepEqual(dropped, { over: true, taken: true });
    await waitTray(page, 3);
    assert.deepEqual((await trayNames(page)).sort(), ['dropped.png', 'image.png', 'second.png']);

    // Remove: the image leaves the tray and the keyboard stays on the next remove button.
    await page.locator('hob-chat .attachments button[aria-label="Remove second.png"]').click();
    await waitTray(page, 2);
    assert.match(await page.evaluate(() => (window as any).chat.shadowRoot.activeElement?.getAttribute('aria-label')), /^Remove /);

    // The cap: a larger file is refused and said so; the tray keeps what it had.
    await page.evaluate(() => ((window as any).chat.maxImageBytes = 1000));
    // A small one dropped just before: its read ending later must not hide why the others were refused.
    await dispatchFiles(page, 'drop', [{ name: 'small.png', png: [8, 8] }]);
    await dispatchFiles(page, 'drop', [{ name: 'big.png', png: [400, 400] }, { name: 'notes.txt', text: 'hello' }]);
    await waitTray(page, 3);
    const alert = page.locator('hob-chat .attach-error');
    await alert.waitFor({ state: 'visible' });
    assert.equal(await alert.getAttribute('role'), 'alert');
    const said = (await alert.textContent()) ?? '';
    assert.match(said, /big\.png is [\d.]+ kB: images up to 1\.0 kB can be attached\./);
    assert.match(said, /notes\.txt is not an image\./);
    await page.locator('hob-chat .attachments button[aria-label="Remove small.png"]').click();
    assert.equal((await trayNames(page)).length, 2);

    await page.locator('hob-chat #input').fill('Compare them');
    await page.locator('hob-chat .send').click();
    await answered(page, 1);
    const parts = (await requests(page))[0].messages[0].content as Part[];
    assert.deepEqual(parts.map((p) => p.type), ['image_url', 'image_url', 'text']);
    for (const p of parts.slice(0, 2)) assert.match((p as Extract<Part, { type: 'image_url' }>).image_url.url, /^data:image\/png;base64,/);
    // Sending clears the refusal too.
    assert.equal(await alert.isHidden(), true);
    assert.deepEqual((await messages(page))[0].images?.map((i) => i.name).sort(), ['dropped.png', 'image.png']);
    assert.equal(await page.locator('hob-chat article.user img.thumb').count(), 2);

    // An image alone is a message too; a fifth image is one too many.
    await page.evaluate(() => ((window as any).chat.maxImageBytes = 10e6));
    await dispatchFiles(page, 'drop', [1, 2, 3, 4, 5].map((i) => ({ name: `n${i}.png`, png: [8, 8] as [number, number] })));
    await waitTray(page, 4);
    assert.match((await alert.textContent()) ?? '', /A message can carry 4 images at most\./);
    await page.locator('hob-chat .send').click();
    await answered(page, 2);
    const alone = (await requests(page))[1].messages.at(-1)!.content as Part[];
    assert.deepEqual(alone.map((p) => p.type), ['image_url', 'image_url', 'image_url', 'image_url']);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a text-only engine: no Attach button, paste and drop are left to the page, and send() with an image is refused', async () => {
    const { page, errors } = await openChat(context, server.url, 'images=0');
    assert.equal(await page.locator('hob-chat .attach').isHidden(), true);
    const pasted = await dispatchFiles(page, 'paste', [{ name: 'image.png', png: [16, 16] }]);
    const dropped = await dispatchFiles(page, 'drop', [{ name: 'dropped.png', png: [16, 16] }]);
    assert.deepEqual([pasted.taken, dropped.over, dropped.taken], [false, false, false]);
    await page.waitForTimeout(200);
    assert.equal(await page.locator('hob-chat .attachments').isHidden(), true);
    const refused = await page.evaluate(async () => {
      const w = window as any;
      return w.chat.send('Look', [await w.makePng(8, 8)]).then(
        () => null,
        (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
      );
    });
    assert.equal(refused?.code, 'argument/invalid');
    assert.match(refused!.message, /takes no images/);
    await page.locator('hob-chat #input').fill('Just text');
    await page.locator('hob-chat #input').press('Enter');
    await answered(page, 1);
    assert.deepEqual((await requests(page))[0].messages, [{ role: 'user', content: 'Just text' }]);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a restored conversation shows its saved images and sends them; an image that is not a data: URL is dropped; an edit keeps the images', async () => {
    const { page, errors } = await openChat(context, server.url, 'images=1');
    const saved = await page.evaluate(async () => {
      const blob: Blob = await (window as any).makePng(20, 10);
      const url = await new Promise<string>((r) => {
        const f = new FileReader();
        f.onload = () => r(f.result as string);
        f.readAsDataURL(blob);
      });
      return url;
    });
    const list = [
      {
        role: 'user',
        content: 'What is it?',
        images: [
          { id: 'old-1', url: saved, name: 'restored.png', width: 20, height: 10 },
          { id: 'old-2', url: 'https://example.com/tracker.png', name: 'remote.png', width: 1, height: 1 },
        ],
      },
      { role: 'assistant', content: 'Two colours.' },
    ];
    await page.evaluate((list) => ((window as any).chat.messages = list), list);
    const restored = await messages(page);
    assert.deepEqual(restored[0].images, [list[0].images![0]]);
    assert.equal(await page.locator('hob-chat article.user img').count(), 1);
    assert.equal(await page.locator('hob-chat article.user img').getAttribute('alt'), 'restored.png');

    // Its full image is gone with the page that attached it: the saved copy goes instead.
    await page.locator('hob-chat #input').fill('Which ones?');
    await page.locator('hob-chat #input').press('Enter');
    await answered(page, 1);
    const sent = (await requests(page))[0].messages;
    assert.deepEqual(sent[0].content, [
      { type: 'image_url', image_url: { url: saved } },
      { type: 'text', text: 'What is it?' },
    ]);

    await page.locator('hob-chat article[data-index="0"] button.edit').click();
    const editor = page.locator('hob-chat article[data-index="0"] textarea');
    await editor.fill('What colours?');
    await editor.press('Enter');
    await answered(page, 2);
    const edited = (await requests(page))[1].messages;
    assert.equal(edited.length, 1);
    assert.deepEqual(edited[0].content, [
      { type: 'image_url', image_url: { url: saved } },
      { type: 'text', text: 'What colours?' },
    ]);
    assert.equal(await page.locator('hob-chat article.user img').count(), 1);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the catalog vision model loads with its projector (Settings shows both sizes); another model loads without; the projector attribute wins', async () => {
    const vision = MODEL_CATALOG.find((m) => m.projector)!;
    const plain = MODEL_CATALOG.find((m) => !m.projector)!;
    assert.match(vision.projector!.url, /\/mmproj-[^/]+\.gguf$/);
    const { page, errors } = await openChat(context, server.url, 'images=1');
    const options = (): Promise<{ model: { url: string }; projector?: string }[]> => page.evaluate(() => (window as any).engineOptions);
    const loads = (n: number) => page.waitForFunction((n) => (window as any).engineOptions.length === n && (window as any).chat.hasAttribute('ready'), n, { timeout: 10_000 });
    assert.equal((await options())[0].projector, undefined);

    const pick = async (url: string) => {
      await page.locator('hob-chat .settings-button').click();
      await page.locator('hob-chat select[name="model-select"]').selectOption(`url:${url}`);
      await page.locator('hob-chat button.apply').click();
    };
    await page.locator('hob-chat .settings-button').click();
    const label = await page.locator(`hob-chat select[name="model-select"] option[value="url:${vision.url}"]`).textContent();
    assert.match(label ?? '', /^SmolVLM 256M Instruct \(images\) Q8_0 \(about 279 MB with its vision projector\)$/);
    await page.locator('hob-chat button.cancel').click();
    await pick(vision.url);
    await loads(2);
    assert.deepEqual((await options())[1], { model: { url: vision.url }, projector: vision.projector!.url });
    assert.equal(await page.evaluate(() => (window as any).chat.settings.projector), vision.projector!.url);
    assert.equal(await page.evaluate(() => (window as any).chat.getAttribute('projector')), vision.projector!.url);

    // Applying again without changing the model keeps the projector and loads nothing.
    await page.locator('hob-chat .settings-button').click();
    await page.locator('hob-chat button.apply').click();
    await page.waitForTimeout(200);
    assert.equal((await options()).length, 2);

    await pick(plain.url);
    await loads(3);
    assert.deepEqual((await options())[2], { model: { url: plain.url } });
    assert.equal(await page.evaluate(() => (window as any).chat.hasAttribute('projector')), false);

    // Without the attribute, a catalog model named by the model attribute still brings its projector; the attribute wins.
    await page.evaluate((url) => (window as any).chat.setAttribute('model', url), vision.url);
    await loads(4);
    assert.equal((await options())[3].projector, vision.projector!.url);
    await page.evaluate(() => (window as any).chat.setAttribute('projector', '/models/my-mmproj.gguf'));
    await loads(5);
    assert.equal((await options())[4].projector, `${server.url}/models/my-mmproj.gguf`);
    // The PWA restores its saved settings through the settings property: the projector comes back with them.
    await page.evaluate(([model, projector]) => {
      const chat = (window as any).chat;
      chat.settings = { ...chat.settings, model, projector };
    }, [plain.url, '/saved/mmproj.gguf']);
    await loads(6);
    assert.deepEqual((await options())[5], { model: { url: plain.url }, projector: `${server.url}/saved/mmproj.gguf` });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
