// The settings panel's list of saved sessions (the caches <hob-chat>'s
// `session` attribute keeps): the storage they use, and a delete button for
// each. Only the engine knows where they are stored (IndexedDB, files), so
// the list is asked of the loaded engine.
import type { HobEngine } from '../shared/types.js';
import { formatBytes } from './catalog.js';

/** Fills `box` with the engine's saved sessions; without an engine, says so. */
export async function renderSavedSessions(box: HTMLElement, engine: HobEngine | undefined): Promise<void> {
  box.replaceChildren();
  if (!engine) {
    box.textContent = 'Load a model to see its saved sessions.';
    return;
  }
  let sessions;
  try {
    sessions = await engine.listSessions();
  } catch (e) {
    box.textContent = `Saved sessions are not available: ${e instanceof Error ? e.message : String(e)}`;
    return;
  }
  const total = sessions.reduce((n, s) => n + s.sizeBytes, 0);
  const heading = document.createElement('div');
  heading.className = 'sessions-total';
  heading.textContent = sessions.length
    ? `Saved sessions (${formatBytes(total)} in all), restored after a reload instead of evaluating the conversation again:`
    : 'No saved sessions.';
  box.append(heading);
  for (const s of sessions) {
    const row = document.createElement('div');
    row.className = 'row';
    row.dataset.session = s.name;
    const label = document.createElement('span');
    label.textContent = `${s.name} (${s.nTokens} tokens, ${formatBytes(s.sizeBytes)}, ${new Date(s.savedAtMs).toLocaleString()})`;
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'danger';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete saved session ${s.name}`);
    del.addEventListener('click', async () => {
      del.disabled = true;
      await engine.deleteSession(s.name).catch(() => false);
      await renderSavedSessions(box, engine);
    });
    row.append(label, del);
    box.append(row);
  }
}
