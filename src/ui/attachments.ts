// Images attached to the next message of <hob-chat>: picked with the attach
// button, pasted into the message box, or dropped on the composer; shown as
// thumbnails (each with a remove button) until the message is sent. Offered
// only while the engine takes images (EngineInfo.images).

/** The most images one message carries. */
export const MAX_ATTACHMENTS = 8;

const urls = new WeakMap<Blob, string>();

/** An object URL for a Blob, made once per Blob (thumbnails of the same image share it). */
export function thumbnailUrl(b: Blob): string {
  let u = urls.get(b);
  if (!u) urls.set(b, (u = URL.createObjectURL(b)));
  return u;
}

/** A thumbnail of an attached image. */
export function thumbnail(b: Blob, alt: string): HTMLImageElement {
  const img = document.createElement('img');
  img.className = 'thumb';
  img.setAttribute('part', 'thumbnail');
  img.src = thumbnailUrl(b);
  img.alt = alt;
  return img;
}

const isImage = (f: Blob) => f.type.startsWith('image/');

export class Attachments {
  private pending: Blob[] = [];
  private enabled = false;

  constructor(
    private readonly button: HTMLButtonElement,
    private readonly picker: HTMLInputElement,
    private readonly strip: HTMLElement,
    composer: HTMLElement,
    input: HTMLTextAreaElement,
  ) {
    button.addEventListener('click', () => picker.click());
    picker.addEventListener('change', () => {
      this.add([...(picker.files ?? [])]);
      picker.value = '';
    });
    input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])].filter(isImage);
      if (!this.enabled || files.length === 0) return;
      e.preventDefault();
      this.add(files);
    });
    composer.addEventListener('dragover', (e) => {
      if (this.enabled && e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    composer.addEventListener('drop', (e) => {
      const files = [...(e.dataTransfer?.files ?? [])].filter(isImage);
      if (!this.enabled || files.length === 0) return;
      e.preventDefault();
      this.add(files);
    });
  }

  /** Offers attaching (or not: what was attached goes). */
  enable(on: boolean): void {
    this.enabled = on;
    this.button.hidden = !on;
    if (!on) this.take();
  }

  get count(): number {
    return this.pending.length;
  }

  add(files: Blob[]): void {
    if (!this.enabled) return;
    for (const f of files.filter(isImage)) if (this.pending.length < MAX_ATTACHMENTS) this.pending.push(f);
    this.render();
  }

  /** The attached images, for the message being sent; the strip empties. */
  take(): Blob[] {
    const out = this.pending;
    this.pending = [];
    this.render();
    return out;
  }

  private render(): void {
    this.strip.replaceChildren();
    this.strip.hidden = this.pending.length === 0;
    for (const [i, b] of this.pending.entries()) {
      const item = document.createElement('span');
      item.className = 'attachment';
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'remove-attachment';
      remove.textContent = '×';
      remove.setAttribute('aria-label', `Remove image ${i + 1}`);
      remove.addEventListener('click', () => {
        this.pending.splice(i, 1);
        this.render();
      });
      item.append(thumbnail(b, `Attached image ${i + 1}`), remove);
      this.strip.append(item);
    }
  }
}
