// The composer's images in <hob-chat>: the Attach button and its file
// picker, paste and drag and drop, the pending images as thumbnails with a
// remove button each, and the message that says why a file was refused.
// Everything here is shown only while the engine takes images; the images
// leave the composer when the message is sent (take()).
import { MAX_IMAGES_PER_MESSAGE, checkImageFile, readImage, type AttachedImage } from './images.js';
import { button } from './view.js';

export interface AttachmentElements {
  /** Opens the file picker (a real button: keyboard and screen readers reach it). */
  button: HTMLButtonElement;
  /** The picker itself: <input type=file accept="image/*" multiple>, never shown. */
  input: HTMLInputElement;
  /** Where the pending images' thumbnails go. */
  tray: HTMLElement;
  /** Why the last file was refused (role=alert). */
  error: HTMLElement;
  /** Takes pasted images. */
  textarea: HTMLTextAreaElement;
  /** Takes dropped files. */
  dropZone: HTMLElement;
}

export class ImageAttachments {
  private pending: AttachedImage[] = [];
  private reading = new Set<Promise<void>>();
  /** Why files were refused since the user last added some (reads still running report here too). */
  private errors: string[] = [];
  private on = false;

  constructor(
    private readonly el: AttachmentElements,
    /** Bytes of one file at most, read at each add (the element's maxImageBytes). */
    private readonly maxBytes: () => number,
    /** Where the keyboard goes once the last thumbnail is removed. */
    private readonly refocus: () => void,
  ) {
    el.button.addEventListener('click', () => el.input.click());
    el.input.addEventListener('change', () => {
      const files = [...(el.input.files ?? [])];
      // The same file picked twice in a row must fire change again.
      el.input.value = '';
      void this.add(files);
    });
    el.textarea.addEventListener('paste', (e) => this.onPaste(e));
    el.dropZone.addEventListener('dragover', (e) => this.onDragOver(e));
    el.dropZone.addEventListener('dragleave', (e) => {
      if (!el.dropZone.contains(e.relatedTarget as Node | null)) el.dropZone.classList.remove('dropping');
    });
    el.dropZone.addEventListener('drop', (e) => this.onDrop(e));
    this.render();
  }

  /** Whether images may be attached (the engine's info().images); off drops the pending ones. */
  get enabled(): boolean {
    return this.on;
  }

  set enabled(on: boolean) {
    this.on = on;
    this.el.button.hidden = !on;
    if (!on) this.clear();
  }

  /** Images waiting to be sent, read or still being read. */
  get count(): number {
    return this.pending.length + this.reading.size;
  }

  /** Reads files into the tray; a refused one (not an image, too large, one
   *  too many) is left out and the error line says why. */
  async add(files: Iterable<Blob>): Promise<void> {
    if (!this.on) return;
    this.errors = [];
    const jobs: Promise<void>[] = [];
    for (const file of files) {
      // Refusals that need no reading come first, so a refused file takes no place.
      const refused = checkImageFile(file, this.maxBytes());
      if (refused) {
        this.errors.push(refused.message);
        continue;
      }
      if (this.count >= MAX_IMAGES_PER_MESSAGE) {
        this.errors.push(`A message can carry ${MAX_IMAGES_PER_MESSAGE} images at most.`);
        break;
      }
      const job: Promise<void> = readImage(file, { maxBytes: this.maxBytes() }).then(
        (img) => {
          if (this.on && this.reading.has(job)) this.pending.push(img);
        },
        (e: unknown) => void this.errors.push(e instanceof Error ? e.message : String(e)),
      );
      this.reading.add(job);
      jobs.push(job.finally(() => this.reading.delete(job)));
    }
    this.showErrors();
    await Promise.all(jobs);
    this.showErrors();
    this.render();
  }

  /** The pending images, once every file being read is read; the tray empties. */
  async take(): Promise<AttachedImage[]> {
    while (this.reading.size) await Promise.all(this.reading);
    const taken = this.pending;
    this.pending = [];
    this.errors = [];
    this.showErrors();
    this.render();
    return taken;
  }

  clear(): void {
    this.pending = [];
    this.reading.clear();
    this.errors = [];
    this.showErrors();
    this.render();
  }

  private remove(id: string): void {
    const at = this.pending.findIndex((p) => p.image.id === id);
    if (at < 0) return;
    this.pending.splice(at, 1);
    this.render();
    // The keyboard stays in the tray while it has images, then goes back to the message.
    const next = this.el.tray.querySelectorAll<HTMLButtonElement>('button.remove')[Math.min(at, this.pending.length - 1)];
    if (next) next.focus();
    else this.refocus();
  }

  private render(): void {
    const { tray } = this.el;
    tray.hidden = !this.pending.length;
    tray.replaceChildren(
      ...this.pending.map(({ image }) => {
        const item = document.createElement('div');
        item.className = 'attachment';
        item.setAttribute('role', 'listitem');
        const img = document.createElement('img');
        img.src = image.url;
        img.alt = image.name;
        img.className = 'thumb';
        const remove = button('×', 'remove', `Remove ${image.name}`);
        remove.addEventListener('click', () => this.remove(image.id));
        item.append(img, remove);
        return item;
      }),
    );
  }

  private showErrors(): void {
    this.el.error.textContent = this.errors.join(' ');
    this.el.error.hidden = !this.errors.length;
  }

  private onPaste(e: ClipboardEvent): void {
    if (!this.on || !e.clipboardData) return;
    const items = [...e.clipboardData.items];
    const files = items.filter((i) => i.kind === 'file' && i.type.startsWith('image/')).map((i) => i.getAsFile()).filter((f): f is File => !!f);
    if (!files.length) return;
    // An image copied from a page comes with its HTML, which a textarea would not show anyway; text still pastes.
    if (!items.some((i) => i.kind === 'string' && i.type === 'text/plain')) e.preventDefault();
    void this.add(files);
  }

  private onDragOver(e: DragEvent): void {
    if (!this.on || !e.dataTransfer?.types.includes('Files')) return;
    // Accepting the drag here also keeps a dropped file from replacing the page.
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    this.el.dropZone.classList.add('dropping');
  }

  private onDrop(e: DragEvent): void {
    this.el.dropZone.classList.remove('dropping');
    if (!this.on || !e.dataTransfer?.files.length) return;
    e.preventDefault();
    void this.add([...e.dataTransfer.files]);
  }
}
