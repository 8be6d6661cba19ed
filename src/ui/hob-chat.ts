// <hob-chat>: a chat with a local model in one tag, built only on the public
// API (createEngine and HobEngine). The element owns the page side: its
// attributes, the model's loading, the DOM and its events, the settings
// panel. The conversation (conversation.ts) owns the entries, the requests,
// the streaming and the tool loop; the engine owns the tokens and the cache,
// so an edit or a regenerate re-evaluates only what changed (prefix reuse).
// With a `session` attribute the engine also keeps that cache in a saved
// session (saved in the background after each reply, restored after a
// reload), so the next question after a reload evaluates only its own tokens.
// With `shared`, every tab of the origin uses one engine (the first tab's).
// With an engine that takes images (a projector loaded: the `projector`
// attribute, or a catalog model's own), the composer attaches them
// (attachments.ts).
import { HobError } from '../shared/errors.js';
import type { EngineInfo, FinishReason, HobEngine, LoadProgressEvent, ModelInput, SamplingParams, SessionEvent, ShiftEvent } from '../shared/types.js';
import { ImageAttachments } from './attachments.js';
import { catalogProjector, formatBytes, formatSeconds } from './catalog.js';
import {
  Conversation,
  DEFAULT_MAX_TOOL_ROUNDS,
  copyEntry,
  errorText,
  type ChatEntry,
  type ChatTool,
  type RequestSettings,
  type StreamUpdate,
  type TokenEventDetail,
} from './conversation.js';
import { defaultEngineFactory, type EngineFactory } from './engine-factory.js';
import { DEFAULT_MAX_IMAGE_BYTES, MAX_IMAGES_PER_MESSAGE, readImage } from './images.js';
import { findPreset } from './presets.js';
import { SettingsPanel, type ChatSettings, type SettingsResult } from './settings.js';
import { isHubRef } from '../store/hub.js';
import { CHAT_CSS } from './styles.js';
import { TEMPLATE, button, renderMessage, updateStreaming } from './view.js';

export class HobChat extends HTMLElement {
  static observedAttributes = ['model', 'projector', 'gpu-layers', 'context-size', 'system-prompt', 'max-tokens', 'preset', 'session'];

  /** The engine factory; defaults to the public API's createEngine. */
  createEngine: EngineFactory = defaultEngineFactory;
  /** Sampling for every request; the settings panel and the preset attribute set it. */
  sampling: SamplingParams = { ...(findPreset('Default')?.params ?? {}) };
  /** Functions the model may call, and what runs when it does: with tools
   *  set, requests offer them (tool_choice 'auto') and an answer that calls
   *  them gets their results and goes on, up to `maxToolRounds` rounds. */
  tools: ChatTool[] = [];
  /** Rounds of tool calls one answer may run; then the chat stops and says so. */
  maxToolRounds = DEFAULT_MAX_TOOL_ROUNDS;
  /** Bytes of one attached image at most; a larger file is refused with a message saying so. */
  maxImageBytes = DEFAULT_MAX_IMAGE_BYTES;

  private readonly root: ShadowRoot;
  private readonly $: <T extends Element>(sel: string) => T;
  private readonly conversation: Conversation;
  private readonly attachments: ImageAttachments;
  private engine?: HobEngine;
  private info?: EngineInfo;
  private loading?: AbortController;
  private modelOverride?: ModelInput;
  private storeId?: string;
  private shifts = 0;
  private lastShift?: ShiftEvent;
  private offShift?: () => void;
  private offSession?: () => void;
  private renderQueued = false;
  private reloadQueued = false;
  private readonly panel: SettingsPanel;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = CHAT_CSS;
    const wrap = document.createElement('template');
    wrap.innerHTML = TEMPLATE;
    this.root.append(style, wrap.content);
    this.$ = <T extends Element>(sel: string) => this.root.querySelector(sel) as T;
    this.attachments = new ImageAttachments(
      {
        button: this.$('.attach'),
        input: this.$('.file-input'),
        tray: this.$('.attachments'),
        error: this.$('.attach-error'),
        textarea: this.$('#input'),
        dropZone: this.$('.chat'),
      },
      () => this.maxImageBytes,
      () => this.$<HTMLElement>('#input').focus(),
    );
    this.panel = new SettingsPanel(this.$('dialog'), (r) => this.applySettings(r), () => this.engine, () => this.getAttribute('hub-endpoint') ?? undefined);
    this.conversation = new Conversation({
      engine: () => this.engine,
      settings: () => this.requestSettings(),
      render: () => this.renderMessages(),
      streamed: (entry, update) => this.onStreamed(entry, update),
      changed: () => this.changed(),
      busy: (busy) => {
        this.setBusy(busy);
        // Idle again: the entries get their actions back.
        if (!busy) this.renderMessages();
      },
      answered: (entry, finish) => this.onAnswered(entry, finish),
      failed: (e) => this.emit('error', errorDetail(e, 'generate')),
      noEngine: () => this.status('Load a model first (Settings).'),
    });
    this.wire();
    this.renderMessages();
    this.setBusy(false);
  }

  connectedCallback(): void {
    if (!this.engine && !this.loading && this.hasModel()) this.queueReload();
  }

  disconnectedCallback(): void {
    // Moving the element within the page keeps the engine; only a removal that lasts frees it.
    queueMicrotask(() => {
      if (!this.isConnected) void this.unload();
    });
  }

  attributeChangedCallback(name: string, oldValue: string | null, value: string | null): void {
    if (oldValue === value) return;
    if (name === 'preset') {
      const p = findPreset(value);
      if (p) this.sampling = { ...p.params };
    }
    if (['model', 'projector', 'gpu-layers', 'context-size'].includes(name) && this.isConnected) {
      if (name === 'model') (this.modelOverride = undefined), (this.storeId = undefined);
      if (this.hasModel()) this.queueReload();
    }
  }

  // ---- the host's API -------------------------------------------------------

  /** The conversation, oldest first (copies). */
  get messages(): ChatEntry[] {
    return this.conversation.entries.map(copyEntry);
  }

  /** Replaces the conversation (e.g. one restored from storage, saved by an older version too). */
  set messages(list: ChatEntry[]) {
    this.conversation.replace(list);
  }

  /** The loaded engine, for the host's own calls (undefined before 'load'). */
  get currentEngine(): HobEngine | undefined {
    return this.engine;
  }

  /** What the settings panel edits: model, engine options, samplers, system prompt. */
  get settings(): ChatSettings {
    return this.currentSettings();
  }

  /** Applies settings as the panel's Apply does (a changed model or engine option reloads). */
  set settings(s: ChatSettings) {
    const prev = this.currentSettings();
    const reload =
      s.model !== prev.model || s.projector !== prev.projector || s.storeId !== prev.storeId || s.gpuLayers !== prev.gpuLayers || s.contextSize !== prev.contextSize;
    this.applySettings({ settings: s, reload: reload && this.isConnected });
  }

  get busy(): boolean {
    return this.conversation.busy;
  }

  /** Loads a model (by default the `model` attribute), replacing the current one. */
  async load(model?: ModelInput): Promise<EngineInfo | undefined> {
    if (model !== undefined) this.modelOverride = model;
    const input = this.modelInput();
    if (input === undefined) throw new Error('hob-chat: no model to load (set the model attribute or pick one in Settings)');
    const factory = this.createEngine;
    if (!factory) throw new Error('hob-chat: no engine factory (set element.createEngine)');
    this.loading?.abort();
    this.stop();
    await this.unload();
    const ctrl = new AbortController();
    this.loading = ctrl;
    const label = describeModel(input);
    const projector = this.projectorUrl(input);
    this.$('.title').textContent = label;
    this.showProgress({ phase: 'load', loaded: 0, total: 0 });
    this.setBusy(false);
    try {
      const engine = await factory({
        model: input,
        ...(projector ? { projector } : {}),
        gpuLayers: this.gpuLayers(),
        contextSize: this.contextSize(),
        contextShift: {},
        ...(this.getAttribute('hub-endpoint') ? { hubEndpoint: this.getAttribute('hub-endpoint')! } : {}),
        // One engine for every tab of the page's origin that opens this model.
        ...(this.hasAttribute('shared') ? { shared: true } : {}),
        signal: ctrl.signal,
        onProgress: (p) => {
          if (this.loading === ctrl) this.showProgress(p);
          this.emit('progress', p);
        },
      });
      if (this.loading !== ctrl) {
        await engine.unload();
        return undefined;
      }
      this.engine = engine;
      this.info = await engine.info();
      this.attachments.enabled = !!this.info.images;
      this.shifts = 0;
      this.lastShift = undefined;
      this.offShift = engine.on('shift', (e) => {
        this.shifts++;
        this.lastShift = e;
        void this.updateContext();
      });
      // The `session` attribute's saves and restores (done by the engine, in the background).
      this.offSession = engine.on('session', (e) => this.emit<SessionEvent>('session', e));
      this.$('.title').textContent = this.info.model.name || label;
      const { load, variant, threads, contextSize } = this.info;
      this.status(
        `${formatBytes(this.info.model.fileBytes)} · ${variant === 'mt' ? `${threads} threads` : '1 thread'}` +
          ` · ${load.gpuLayers} GPU layers · context ${contextSize}`,
      );
      await this.updateContext();
      this.emit('load', this.info);
      return this.info;
    } catch (e) {
      if (this.loading === ctrl) {
        this.$('.title').textContent = 'No model';
        this.status(ctrl.signal.aborted ? 'Loading cancelled' : `Could not load ${label}: ${errorText(e)}`);
        if (!ctrl.signal.aborted) this.emit('error', errorDetail(e, 'load'));
      }
      if (!ctrl.signal.aborted) throw e;
      return undefined;
    } finally {
      if (this.loading === ctrl) {
        this.loading = undefined;
        this.$<HTMLElement>('.progress').hidden = true;
        this.setBusy(false);
      }
    }
  }

  /** Adds a user message (with images, for an engine that takes them) and
   *  streams the answer (running the tools it calls). An image that is not
   *  one, or over maxImageBytes, rejects with an 'argument/invalid' HobError. */
  async send(text: string, images: readonly Blob[] = []): Promise<void> {
    if (images.length && !this.info?.images) throw new HobError('argument/invalid', 'hob-chat: the loaded model takes no images (load it with a projector)');
    if (images.length > MAX_IMAGES_PER_MESSAGE) {
      throw new HobError('argument/invalid', `hob-chat: a message can carry ${MAX_IMAGES_PER_MESSAGE} images at most`, { count: images.length });
    }
    const read = await Promise.all(images.map((b) => readImage(b, { maxBytes: this.maxImageBytes })));
    return this.conversation.send(text, read);
  }

  /** Stops the answer being generated and its tool loop (what streamed so far stays). */
  stop(): void {
    this.conversation.stop();
  }

  /** Generates the last answer again. */
  regenerate(): Promise<void> {
    return this.conversation.regenerate();
  }

  /** Replaces message `index` (a user message), drops what followed and answers again. */
  edit(index: number, content: string): Promise<void> {
    return this.conversation.edit(index, content);
  }

  /** Empties the conversation. */
  clear(): void {
    this.conversation.clear();
  }

  /** Frees the engine (wasm memory, GPU buffers, the worker). */
  async unload(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    this.info = undefined;
    this.attachments.enabled = false;
    this.offShift?.();
    this.offShift = undefined;
    this.offSession?.();
    this.offSession = undefined;
    if (engine) await engine.unload();
  }

  /** Opens the settings panel. */
  openSettings(): Promise<void> {
    return this.panel.open(this.currentSettings());
  }

  // ---- what the conversation reports ------------------------------------------

  private requestSettings(): RequestSettings {
    return {
      sampling: this.sampling,
      maxTokens: this.maxTokens(),
      systemPrompt: this.getAttribute('system-prompt') ?? '',
      tools: this.tools ?? [],
      maxToolRounds: this.maxToolRounds,
      session: this.getAttribute('session') || undefined,
    };
  }

  private onStreamed(entry: ChatEntry, u: StreamUpdate): void {
    this.$('.speed').textContent = `${(u.nChunks / Math.max(u.elapsedMs / 1000, 1e-3)).toFixed(1)} tokens/s`;
    if (u.kind === 'content') this.emit<TokenEventDetail>('token', { delta: u.delta, content: entry.content });
    this.queueStreamRender();
  }

  private async onAnswered(entry: ChatEntry, finish: FinishReason): Promise<void> {
    if (entry.stats) this.$('.speed').textContent = `${entry.stats.tokensPerSecond.toFixed(1)} tokens/s`;
    this.renderMessages();
    await this.updateContext();
    this.changed();
    this.emit('message', { ...copyEntry(entry), finishReason: entry.stats?.finishReason ?? finish });
  }

  private async updateContext(): Promise<void> {
    const engine = this.engine;
    if (!engine || !this.info) {
      this.$('.context').textContent = '';
      return;
    }
    const used = await engine.contextUsed();
    const shifts = this.shifts
      ? ` · ${this.shifts} shift${this.shifts > 1 ? 's' : ''} (last evicted ${this.lastShift?.evicted} tokens)`
      : '';
    const ctx = this.$<HTMLElement>('.context');
    ctx.textContent = `Context ${used} / ${this.info.contextSize} tokens${shifts}`;
    ctx.dataset.used = String(used);
    ctx.dataset.shifts = String(this.shifts);
  }

  // ---- rendering --------------------------------------------------------------

  private wire(): void {
    const form = this.$<HTMLFormElement>('form.composer');
    const input = this.$<HTMLTextAreaElement>('#input');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.busy || (!input.value.trim() && !this.attachments.count)) return;
      const text = input.value;
      input.value = '';
      // The images leave the composer with the text (once the files being read are read).
      void this.attachments
        .take()
        .then((images) => this.conversation.send(text, images))
        .catch(() => {});
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    this.root.addEventListener('keydown', (e) => {
      const ke = e as KeyboardEvent;
      if (ke.key === 'Escape' && this.busy) {
        ke.preventDefault();
        this.stop();
      }
    });
    this.$('.stop').addEventListener('click', () => this.stop());
    this.$('.clear').addEventListener('click', () => this.clear());
    this.$('.settings-button').addEventListener('click', () => void this.openSettings());
    this.$('.cancel-load').addEventListener('click', () => this.loading?.abort());
    this.$('.messages').addEventListener('click', (e) => this.onMessageClick(e));
  }

  private onMessageClick(e: Event): void {
    const button = (e.target as Element).closest('button');
    if (!button) return;
    if (button.classList.contains('copy')) {
      const code = button.parentElement?.querySelector('pre')?.textContent ?? '';
      void navigator.clipboard?.writeText(code).then(
        () => (button.textContent = 'Copied'),
        () => (button.textContent = 'Copy failed'),
      );
      return;
    }
    const article = button.closest('article');
    const index = Number(article?.getAttribute('data-index'));
    if (!article || !Number.isInteger(index)) return;
    if (button.classList.contains('regenerate')) void this.regenerate().catch(() => {});
    if (button.classList.contains('edit')) this.startEdit(article as HTMLElement, index);
  }

  private startEdit(article: HTMLElement, index: number): void {
    const content = article.querySelector('.content') as HTMLElement;
    const area = document.createElement('textarea');
    area.value = this.conversation.entries[index].content;
    area.setAttribute('aria-label', 'Edit message');
    const save = button('Save and answer again', 'save primary');
    const cancel = button('Cancel', 'cancel');
    const actions = article.querySelector('.actions') as HTMLElement;
    content.replaceWith(area);
    actions.replaceChildren(save, cancel);
    const commit = () => void this.edit(index, area.value).catch(() => {});
    save.addEventListener('click', commit);
    cancel.addEventListener('click', () => this.renderMessages());
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        commit();
      } else if (e.key === 'Escape') {
        e.stopPropagation();
        this.renderMessages();
        (this.root.querySelector(`article[data-index="${index}"] .edit`) as HTMLElement | null)?.focus();
      }
    });
    area.focus();
  }

  private renderMessages(): void {
    const box = this.$<HTMLElement>('.messages');
    const entries = this.conversation.entries;
    if (!entries.length) {
      const empty = document.createElement('p');
      empty.className = 'empty';
      empty.textContent = this.engine ? 'Ask anything. The model runs on this device.' : 'Pick a model in Settings to start.';
      box.replaceChildren(empty);
      return;
    }
    const last = entries.length - 1;
    const generating = this.busy;
    box.replaceChildren(
      ...entries.map((m, i) =>
        renderMessage(m, i, {
          streaming: generating && i === last,
          actions: !generating,
          // The answer to the last question, tool calls included, can be asked for again.
          regenerate: i === last && m.role !== 'user',
        }),
      ),
    );
    box.scrollTop = box.scrollHeight;
  }

  /** While streaming, re-renders only the last message, once per frame. */
  private queueStreamRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      const box = this.$<HTMLElement>('.messages');
      const last = box.querySelector('article:last-of-type');
      const m = this.conversation.entries.at(-1);
      if (!last || !m || m.role !== 'assistant') return;
      const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
      updateStreaming(last, m);
      if (stick) box.scrollTop = box.scrollHeight;
    });
  }

  private setBusy(busy: boolean): void {
    const active = this.root.activeElement;
    this.$<HTMLButtonElement>('.send').hidden = busy;
    this.$<HTMLButtonElement>('.stop').hidden = !busy;
    this.$<HTMLButtonElement>('.send').disabled = !this.engine;
    this.$<HTMLButtonElement>('.clear').disabled = busy;
    this.toggleAttribute('busy', busy);
    this.toggleAttribute('ready', !!this.engine);
    // Keep the keyboard where it was: on Stop while generating, back on the input after.
    if (busy && (active === this.$('#input') || active === this.$('.send'))) this.$<HTMLElement>('.stop').focus();
    if (!busy && active === this.$('.stop')) this.$<HTMLElement>('#input').focus();
  }

  private showProgress(p: LoadProgressEvent): void {
    const box = this.$<HTMLElement>('.progress');
    box.hidden = false;
    const bar = this.$<HTMLProgressElement>('progress');
    if (p.total > 0) bar.value = p.loaded / p.total;
    else bar.removeAttribute('value');
    let text = (p.phase === 'download' ? 'Downloading' : 'Loading') + (p.file === 'projector' ? ' the image projector' : '');
    if (p.total > 0) text += ` ${formatBytes(p.loaded)} / ${formatBytes(p.total)}`;
    if (p.bytesPerSecond) text += ` · ${formatBytes(p.bytesPerSecond)}/s`;
    if (p.etaSeconds !== undefined && p.phase === 'download') text += ` · about ${formatSeconds(p.etaSeconds)} left`;
    this.$('.progress-text').textContent = text;
  }

  private status(text: string): void {
    this.$('.status').textContent = text;
  }

  // ---- settings ---------------------------------------------------------------

  private currentSettings(): ChatSettings {
    return {
      model: this.getAttribute('model') ?? '',
      ...(this.getAttribute('projector') ? { projector: this.getAttribute('projector')! } : {}),
      storeId: this.storeId,
      gpuLayers: this.gpuLayers(),
      contextSize: this.contextSize(),
      systemPrompt: this.getAttribute('system-prompt') ?? '',
      preset: this.getAttribute('preset') ?? 'Default',
      sampling: { ...this.sampling },
      maxTokens: this.maxTokens(),
    };
  }

  private applySettings({ settings: s, file, reload }: SettingsResult): void {
    // Attributes reflect the settings; the reload below is the only one (attributeChangedCallback is told to wait).
    this.reloadQueued = true;
    this.setAttribute('preset', s.preset);
    this.sampling = { ...s.sampling };
    this.setAttribute('gpu-layers', String(s.gpuLayers));
    this.setAttribute('context-size', String(s.contextSize));
    this.setAttribute('max-tokens', String(s.maxTokens));
    if (s.systemPrompt) this.setAttribute('system-prompt', s.systemPrompt);
    else this.removeAttribute('system-prompt');
    if (s.model) this.setAttribute('model', s.model);
    if (s.projector) this.setAttribute('projector', s.projector);
    else this.removeAttribute('projector');
    this.storeId = s.storeId;
    this.modelOverride = file ?? (s.storeId ? { storeId: s.storeId } : undefined);
    this.reloadQueued = false;
    this.emit('settings', s);
    if (reload && this.hasModel()) void this.load().catch(() => {});
  }

  private queueReload(): void {
    if (this.reloadQueued) return;
    this.reloadQueued = true;
    queueMicrotask(() => {
      this.reloadQueued = false;
      if (this.isConnected && this.hasModel()) void this.load().catch(() => {});
    });
  }

  private hasModel(): boolean {
    return this.modelInput() !== undefined;
  }

  private modelInput(): ModelInput | undefined {
    if (this.modelOverride !== undefined) return this.modelOverride;
    const url = this.getAttribute('model');
    // hf:OWNER/REPO… is a name createEngine resolves on the Hub, not a URL of this page.
    return url ? (isHubRef(url) ? url : { url: new URL(url, document.baseURI).href }) : undefined;
  }

  /** The projector to load with `model`: the `projector` attribute, else
   *  the catalog's for that model (a URL relative to the page resolved). */
  private projectorUrl(model: ModelInput): string | undefined {
    const attr = this.getAttribute('projector');
    if (attr) return isHubRef(attr) ? attr : new URL(attr, document.baseURI).href;
    return typeof model === 'object' && 'url' in model ? catalogProjector(model.url)?.url : undefined;
  }

  private gpuLayers(): number | 'auto' {
    const v = this.getAttribute('gpu-layers');
    if (v === null || v === '' || v === 'auto') return v === 'auto' ? 'auto' : 0;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? n : 0;
  }

  private contextSize(): number {
    const n = Number(this.getAttribute('context-size') ?? 4096);
    return Number.isInteger(n) && n > 0 ? n : 4096;
  }

  private maxTokens(): number {
    const n = Number(this.getAttribute('max-tokens') ?? 0);
    return Number.isInteger(n) && n > 0 ? n : 0;
  }

  private changed(): void {
    this.emit('change', { messages: this.messages });
  }

  private emit<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail }));
  }
}


function describeModel(m: ModelInput): string {
  if (typeof m === 'string') return m.split('/').pop() || m;
  if (m instanceof Blob) return (m as File).name ?? 'local file';
  if ('url' in m) return m.url.split('/').pop()?.split('?')[0] || m.url;
  if ('storeId' in m) return m.storeId;
  return 'model';
}

function errorDetail(e: unknown, during: 'load' | 'generate') {
  const err = e as { message?: string; code?: string; details?: unknown };
  return { during, code: err?.code, message: String(err?.message ?? e), error: e };
}
