// The settings panel of <hob-chat>: model (catalog, stored models with size
// and delete, a URL, a Hugging Face repository's files with their sizes, a
// local file), engine options, samplers with presets and the saved sessions
// with their size and delete.
// It edits a copy of ChatSettings and hands it back on Apply; it never loads
// a model itself.
import type { HobEngine, SamplingParams } from '../shared/types.js';
import { resolveHubModel } from '../store/hub.js';
import { openModelStore, type ModelStore } from '../store/index.js';
import { MODEL_CATALOG, formatBytes } from './catalog.js';
import { SAMPLER_PRESETS, findPreset } from './presets.js';
import { renderSavedSessions } from './saved-sessions.js';

export interface ChatSettings {
  /** A URL, or '' for none. */
  model: string;
  /** The vision projector's URL (an mmproj GGUF) loaded with the model, if any:
   *  a catalog model's own, kept while the model stays the same. */
  projector?: string;
  /** A stored model's id, used instead of `model` when set. */
  storeId?: string;
  gpuLayers: number | 'auto';
  contextSize: number;
  systemPrompt: string;
  preset: string;
  sampling: SamplingParams;
  /** Tokens per answer at most; 0 = until the model stops. */
  maxTokens: number;
}

export interface SettingsResult {
  settings: ChatSettings;
  /** A file the user picked, loaded instead of the model URL. */
  file?: File;
  /** Whether the model or the engine options changed (a reload is needed). */
  reload: boolean;
}

/** Sampler fields the panel shows; presets may set others too. */
const SAMPLER_FIELDS: { key: keyof SamplingParams; label: string; step: string }[] = [
  { key: 'temperature', label: 'Temperature', step: '0.05' },
  { key: 'top_k', label: 'Top-K', step: '1' },
  { key: 'top_p', label: 'Top-P', step: '0.01' },
  { key: 'min_p', label: 'Min-P', step: '0.01' },
  { key: 'repeat_penalty', label: 'Repetition penalty', step: '0.01' },
  { key: 'repeat_last_n', label: 'Penalty range', step: '1' },
];

const FORM = `
<form method="dialog" aria-labelledby="settings-title">
  <h2 id="settings-title">Settings</h2>
  <fieldset>
    <legend>Model</legend>
    <label for="model-select">Model</label>
    <select id="model-select" name="model-select"></select>
    <label for="model-url">Or a GGUF URL</label>
    <input id="model-url" name="model-url" type="url" placeholder="https://huggingface.co/…/model.gguf" autocomplete="off">
    <label for="model-hub">Or a Hugging Face repository</label>
    <div class="hub-row"><input id="model-hub" name="model-hub" placeholder="OWNER/REPO" autocomplete="off"><button type="button" class="hub-list">List files</button></div>
    <select id="model-hub-file" name="model-hub-file" aria-label="File of the repository" hidden></select>
    <p class="hub-status" role="status"></p>
    <label for="model-file">Or a file on this device</label>
    <input id="model-file" name="model-file" type="file" accept=".gguf">
    <div class="stored" role="group" aria-label="Stored models"></div>
  </fieldset>
  <fieldset>
    <legend>Engine</legend>
    <div class="grid">
      <label>GPU layers<input name="gpu-layers" placeholder="auto" autocomplete="off"></label>
      <label>Context size<input name="context-size" type="number" min="16" step="1"></label>
      <label>Max tokens (0 = no limit)<input name="max-tokens" type="number" min="0" step="1"></label>
    </div>
  </fieldset>
  <fieldset>
    <legend>Sampling</legend>
    <label for="preset">Preset</label>
    <select id="preset" name="preset"></select>
    <div class="grid samplers"></div>
  </fieldset>
  <fieldset>
    <legend>Saved sessions</legend>
    <div class="sessions" role="group" aria-label="Saved sessions"></div>
  </fieldset>
  <label for="system-prompt">System prompt</label>
  <textarea id="system-prompt" name="system-prompt" rows="3"></textarea>
  <div class="dialog-buttons">
    <button type="button" value="cancel" class="cancel">Cancel</button>
    <button type="submit" value="apply" class="primary apply">Apply</button>
  </div>
</form>`;

export class SettingsPanel {
  private readonly form: HTMLFormElement;
  private current!: ChatSettings;
  private store?: ModelStore;

  constructor(
    readonly dialog: HTMLDialogElement,
    private readonly onApply: (r: SettingsResult) => void,
    private readonly engine: () => HobEngine | undefined = () => undefined,
    /** The Hub that repositories are listed on (undefined: huggingface.co). */
    private readonly hubEndpoint: () => string | undefined = () => undefined,
  ) {
    dialog.innerHTML = FORM;
    dialog.setAttribute('part', 'settings');
    this.form = dialog.querySelector('form') as HTMLFormElement;
    const presets = this.field<HTMLSelectElement>('preset');
    for (const p of SAMPLER_PRESETS) presets.add(new Option(`${p.name}: ${p.description}`, p.name));
    presets.add(new Option('Custom', 'custom'));
    const grid = dialog.querySelector('.samplers') as HTMLElement;
    for (const f of SAMPLER_FIELDS) {
      const label = document.createElement('label');
      label.textContent = f.label;
      const input = document.createElement('input');
      Object.assign(input, { type: 'number', name: f.key, step: f.step });
      label.append(input);
      grid.append(label);
    }
    presets.addEventListener('change', () => {
      const p = findPreset(presets.value);
      if (p) for (const f of SAMPLER_FIELDS) this.field<HTMLInputElement>(f.key).value = p.params[f.key] === undefined ? '' : String(p.params[f.key]);
    });
    grid.addEventListener('input', () => (presets.value = 'custom'));
    dialog.querySelector('.cancel')?.addEventListener('click', () => dialog.close());
    dialog.querySelector('.hub-list')?.addEventListener('click', () => void this.listHub());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.apply();
    });
  }

  async open(current: ChatSettings): Promise<void> {
    this.current = current;
    this.field<HTMLInputElement>('model-url').value = '';
    this.field<HTMLInputElement>('model-file').value = '';
    this.field<HTMLInputElement>('model-hub').value = '';
    this.field<HTMLSelectElement>('model-hub-file').hidden = true;
    this.field<HTMLSelectElement>('model-hub-file').replaceChildren();
    (this.dialog.querySelector('.hub-status') as HTMLElement).textContent = '';
    this.field<HTMLInputElement>('gpu-layers').value = String(current.gpuLayers);
    this.field<HTMLInputElement>('context-size').value = String(current.contextSize);
    this.field<HTMLInputElement>('max-tokens').value = String(current.maxTokens);
    this.field<HTMLTextAreaElement>('system-prompt').value = current.systemPrompt;
    this.field<HTMLSelectElement>('preset').value = findPreset(current.preset)?.name ?? 'custom';
    for (const f of SAMPLER_FIELDS) {
      const v = current.sampling[f.key];
      this.field<HTMLInputElement>(f.key).value = v === undefined ? '' : String(v);
    }
    this.fillModels([]);
    this.dialog.showModal();
    await Promise.all([this.refreshStored(), renderSavedSessions(this.dialog.querySelector('.sessions') as HTMLElement, this.engine())]);
  }

  private field<T extends HTMLElement>(name: string): T {
    return this.form.elements.namedItem(name) as T;
  }

  /** Lists the repository's model files (each quant with its size), the default pick selected. */
  private async listHub(): Promise<void> {
    const repo = this.field<HTMLInputElement>('model-hub').value.trim().replace(/^hf:/i, '');
    const select = this.field<HTMLSelectElement>('model-hub-file');
    const status = this.dialog.querySelector('.hub-status') as HTMLElement;
    if (!repo) return;
    status.textContent = `Listing ${repo}…`;
    select.hidden = true;
    try {
      const m = await resolveHubModel(`hf:${repo}`, { endpoint: this.hubEndpoint() });
      select.replaceChildren(
        ...m.choices.map((c) => new Option(`${c.quant ?? c.paths[0]}: ${formatBytes(c.sizeBytes)}${c.paths.length > 1 ? ` in ${c.paths.length} parts` : ''}${c.runs ? '' : ' (not supported)'}`, c.ref)),
      );
      select.value = m.ref;
      select.hidden = false;
      status.textContent = `${m.choices.length} model file${m.choices.length === 1 ? '' : 's'}${m.projector ? '; a vision projector too' : ''}`;
    } catch (e) {
      status.textContent = e instanceof Error ? e.message : String(e);
    }
  }

  /** The model select: catalog entries, then stored models, then the current URL if it is neither. */
  private fillModels(stored: { id: string; label: string }[]): void {
    const select = this.field<HTMLSelectElement>('model-select');
    select.replaceChildren(new Option('(none)', ''));
    const catalog = document.createElement('optgroup');
    catalog.label = 'Catalog (downloaded once, then offline)';
    for (const m of MODEL_CATALOG) {
      const size = m.projector ? `about ${formatBytes(m.approxBytes + m.projector.approxBytes)} with its vision projector` : `about ${formatBytes(m.approxBytes)}`;
      catalog.append(new Option(`${m.name} ${m.quant} (${size})`, `url:${m.url}`));
    }
    select.append(catalog);
    if (stored.length) {
      const group = document.createElement('optgroup');
      group.label = 'Stored on this device';
      for (const s of stored) group.append(new Option(s.label, `store:${s.id}`));
      select.append(group);
    }
    const { model, storeId } = this.current;
    if (model && !MODEL_CATALOG.some((m) => m.url === model)) select.append(new Option(model, `url:${model}`));
    select.value = storeId ? `store:${storeId}` : model ? `url:${model}` : '';
  }

  private async refreshStored(): Promise<void> {
    const box = this.dialog.querySelector('.stored') as HTMLElement;
    box.replaceChildren();
    let models;
    try {
      this.store ??= openModelStore();
      models = await this.store.list();
    } catch {
      box.textContent = 'The model store is not available in this browser.';
      return;
    }
    const usage = await this.store.usage().catch(() => undefined);
    const heading = document.createElement('div');
    heading.textContent = models.length
      ? `Stored models${usage ? ` (${formatBytes(usage.storedBytes)} in all)` : ''}:`
      : 'No models stored yet.';
    box.append(heading);
    const entries: { id: string; label: string }[] = [];
    for (const m of models) {
      const label = `${m.gguf?.name || m.id} (${formatBytes(m.sizeBytes)}${m.state === 'partial' ? `, ${Math.floor((100 * m.storedBytes) / Math.max(1, m.sizeBytes))}% downloaded` : ''})`;
      if (m.state === 'complete') entries.push({ id: m.id, label });
      const row = document.createElement('div');
      row.className = 'row';
      const name = document.createElement('span');
      name.textContent = label;
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'danger';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete ${m.gguf?.name || m.id}`);
      del.addEventListener('click', async () => {
        del.disabled = true;
        await this.store?.delete(m.id);
        await this.refreshStored();
      });
      row.append(name, del);
      box.append(row);
    }
    this.fillModels(entries);
  }

  private apply(): void {
    const prev = this.current;
    const num = (name: string, fallback: number): number => {
      const v = Number(this.field<HTMLInputElement>(name).value);
      return this.field<HTMLInputElement>(name).value.trim() === '' || !Number.isFinite(v) ? fallback : v;
    };
    const gpuText = this.field<HTMLInputElement>('gpu-layers').value.trim();
    const sampling: SamplingParams = { ...(findPreset(this.field<HTMLSelectElement>('preset').value)?.params ?? prev.sampling) };
    for (const f of SAMPLER_FIELDS) {
      const raw = this.field<HTMLInputElement>(f.key).value.trim();
      if (raw === '') delete sampling[f.key];
      else (sampling as Record<string, number>)[f.key] = Number(raw);
    }
    const choice = this.field<HTMLSelectElement>('model-select').value;
    const hubSelect = this.field<HTMLSelectElement>('model-hub-file');
    const url = this.field<HTMLInputElement>('model-url').value.trim() || (hubSelect.hidden ? '' : hubSelect.value);
    const file = this.field<HTMLInputElement>('model-file').files?.[0];
    const model = url || (choice.startsWith('url:') ? choice.slice(4) : '');
    const storeId = !url && choice.startsWith('store:') ? choice.slice(6) : undefined;
    const catalogEntry = !url && !file ? MODEL_CATALOG.find((m) => m.url === model) : undefined;
    // A catalog model brings its projector; any other keeps the one it had only while it stays the model.
    const projector = catalogEntry ? catalogEntry.projector?.url : !file && model === prev.model && storeId === prev.storeId ? prev.projector : undefined;
    const settings: ChatSettings = {
      model,
      ...(projector ? { projector } : {}),
      storeId,
      gpuLayers: gpuText === '' || gpuText === 'auto' ? 'auto' : Math.max(0, Math.floor(Number(gpuText)) || 0),
      contextSize: Math.max(16, Math.floor(num('context-size', prev.contextSize))),
      maxTokens: Math.max(0, Math.floor(num('max-tokens', prev.maxTokens))),
      systemPrompt: this.field<HTMLTextAreaElement>('system-prompt').value,
      preset: this.field<HTMLSelectElement>('preset').value,
      sampling,
    };
    const reload =
      !!file ||
      settings.model !== prev.model ||
      settings.projector !== prev.projector ||
      settings.storeId !== prev.storeId ||
      settings.gpuLayers !== prev.gpuLayers ||
      settings.contextSize !== prev.contextSize;
    this.dialog.close();
    this.onApply({ settings, file, reload });
  }
}
