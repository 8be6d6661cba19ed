// Models by name on Hugging Face: `hf:OWNER/REPO[@REVISION][:QUANT]` or
// `hf:OWNER/REPO[@REVISION]/PATH.gguf`, as llama.cpp's -hf and
// node-llama-cpp's hf: URIs name them. The repository's files are listed
// through the Hub API (with their sizes), the quant is picked
// (hub-quants.ts), split parts are gathered and a vision projector is
// reported; the result names the URLs the store downloads as it would any
// URL. The Hub's address is an option (and HF_ENDPOINT in Node, as
// huggingface_hub reads it), so tests and mirrors can stand in for it.
import { HobError, HubError, NetworkError } from '../shared/errors.js';
import { chooseProjector, chooseQuant, groupChoices, isModelFile, SPLIT_NAME, type QuantChoice, type RepoFile } from './hub-quants.js';
import { DEFAULT_IDLE_TIMEOUT_MS, fetchWithIdleTimeout } from './net.js';
import { parseHubRef, type HubRef } from './hub-ref.js';

export { hubNameOf, isHubRef, parseHubRef, type HubRef } from './hub-ref.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** Pages of a repository listing read at most (the Hub sends 1000 files a page). */
const MAX_LISTING_PAGES = 50;
/** Bytes of one listing page read at most: a page of 1000 entries is about 300 kB. */
const MAX_LISTING_BYTES = 16 << 20;

export interface HubOptions {
  /** The Hub's address (default https://huggingface.co, or HF_ENDPOINT in Node). */
  endpoint?: string;
  signal?: AbortSignal;
  /** A request that receives nothing for this long fails with 'network/timeout' (default 30 s). */
  idleTimeoutMs?: number;
}

export interface HubFile {
  path: string;
  sizeBytes: number;
  /** Where the store downloads it from. */
  url: string;
}

/** A model choice of a repository, for a picker: `ref` selects exactly it. */
export interface HubChoice extends QuantChoice {
  ref: string;
}

/** An hf: reference resolved to files. */
export interface HubModel {
  /** The reference that names this file exactly (hf:OWNER/REPO/PATH.gguf, the first part's path). */
  ref: string;
  repo: string;
  revision: string;
  /** The quant its name says, when it says one. */
  quant?: string;
  /** The model's file, or its parts in order. */
  parts: HubFile[];
  sizeBytes: number;
  /** Whether Hob runs its tensor types, judged from its name. */
  runs: boolean;
  /** The vision projector (mmproj) next to it, when the repository has one. */
  projector?: HubFile;
  /** Every model choice the repository holds, smallest first. */
  choices: HubChoice[];
}

/** The Hub's address: the option, else HF_ENDPOINT (Node), else huggingface.co; no trailing slash. */
export function hubEndpoint(endpoint?: string): string {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.HF_ENDPOINT;
  return (endpoint || env || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** The download URL of a file of a repository. */
export function hubFileUrl(endpoint: string, repo: string, revision: string, path: string): string {
  return `${hubEndpoint(endpoint)}/${encodePath(repo)}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;
}

function refOf(repo: string, revision: string, path: string): string {
  return `hf:${repo}${revision === 'main' ? '' : `@${revision}`}/${path}`;
}

interface TreeEntry {
  type?: string;
  path?: string;
  size?: number;
  lfs?: { size?: number };
}

/** The next page of a listing, from its Link header. */
function nextPage(link: string | null): string | undefined {
  const m = link && /<([^>]+)>\s*;\s*rel="?next"?/i.exec(link);
  return m ? m[1] : undefined;
}

async function readJson(body: AsyncIterable<Uint8Array>, url: string): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.byteLength;
    if (n > MAX_LISTING_BYTES) throw new NetworkError('network/http-status', `${url} sent more than ${MAX_LISTING_BYTES} bytes for one listing page`, { url, status: 200 });
    chunks.push(c);
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder().decode(all));
  } catch {
    throw new NetworkError('network/http-status', `${url} did not answer with JSON: is this a Hugging Face Hub?`, { url, status: 200 });
  }
}

/** Every file of a repository at a revision, with its size (the Hub's tree API, all pages). */
export async function listHubFiles(repo: string, revision = 'main', opts: HubOptions = {}): Promise<RepoFile[]> {
  const endpoint = hubEndpoint(opts.endpoint);
  let url: string | undefined = `${endpoint}/api/models/${encodePath(repo)}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const files: RepoFile[] = [];
  for (let page = 0; url; page++) {
    if (page >= MAX_LISTING_PAGES) {
      throw new HobError('argument/invalid', `${repo} lists more than ${MAX_LISTING_PAGES} pages of files; name the file: hf:${repo}/FILE.gguf`, { repo });
    }
    const res = await fetchWithIdleTimeout(url, { signal: opts.signal, headers: { Accept: 'application/json' } }, opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    const status = res.response.status;
    if (status === 401 || status === 403 || status === 404) {
      res.cancel();
      throw new HubError(
        'hub/repo-not-found',
        `${repo}${revision === 'main' ? '' : `@${revision}`} was not found on ${endpoint} (a private or gated repository needs a token, which Hob does not send)`,
        { repo, revision, status },
      );
    }
    if (!res.response.ok) {
      res.cancel();
      throw new NetworkError('network/http-status', `listing ${repo} on ${endpoint} answered HTTP ${status}`, { url, status });
    }
    const entries = await readJson(res.body, url);
    if (!Array.isArray(entries)) throw new NetworkError('network/http-status', `${url} did not answer with a file list`, { url, status });
    for (const e of entries as TreeEntry[]) {
      if (e?.type !== 'file' || typeof e.path !== 'string') continue;
      const size = Number(e.lfs?.size ?? e.size);
      files.push({ path: e.path, sizeBytes: Number.isSafeInteger(size) && size >= 0 ? size : 0 });
    }
    const next = nextPage(res.response.headers.get('link'));
    url = next ? new URL(next, endpoint).href : undefined;
  }
  return files;
}

/**
 * Picks the model a reference names among a repository's files: the file
 * named, or the quant asked for, or by default Q4_K_M, else the nearest
 * quant Hob runs (hub-quants.ts). Throws HubError 'hub/no-gguf',
 * 'hub/quant-not-found' or 'hub/file-not-found' with what the repository has.
 */
export function pickHubModel(ref: HubRef, files: readonly RepoFile[], endpoint?: string): HubModel {
  const ep = hubEndpoint(endpoint);
  const file = (path: string): HubFile => ({ path, sizeBytes: files.find((f) => f.path === path)?.sizeBytes ?? 0, url: hubFileUrl(ep, ref.repo, ref.revision, path) });
  const choices: HubChoice[] = groupChoices(files).map((c) => ({ ...c, ref: refOf(ref.repo, ref.revision, c.paths[0]) }));
  const where = `${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}`;
  const available = choices.map((c) => c.quant ?? c.paths[0]).join(', ');
  let chosen: HubChoice | undefined;
  if (ref.file) {
    const wanted = ref.file.replace(SPLIT_NAME, '-00001-of-$2.gguf');
    chosen = choices.find((c) => c.paths[0] === wanted) ?? choices.find((c) => c.paths[0].endsWith(`/${wanted}`));
    if (!chosen) {
      const exists = files.some((f) => f.path === ref.file);
      throw new HubError(
        'hub/file-not-found',
        exists && !isModelFile(ref.file)
          ? `${ref.file} in ${where} is not a model's weights (a projector or other side file)`
          : `${where} has no model file ${ref.file}${choices.length ? `; it has ${choices.map((c) => c.paths[0]).join(', ')}` : ''}`,
        { repo: ref.repo, file: ref.file, available: choices.map((c) => c.paths[0]).join(', ') },
      );
    }
  } else {
    if (choices.length === 0) {
      throw new HubError('hub/no-gguf', `${where} holds no GGUF model file${files.length ? ` (${files.length} other files)` : ''}`, { repo: ref.repo, nFiles: files.length });
    }
    chosen = chooseQuant(choices, ref.quant) as HubChoice | undefined;
    if (!chosen) {
      throw new HubError('hub/quant-not-found', `${where} has no ${ref.quant!.toUpperCase()} file; it has ${available}`, {
        repo: ref.repo,
        quant: ref.quant!.toUpperCase(),
        available,
      });
    }
  }
  const projector = chooseProjector(files, chosen.paths[0]);
  return {
    ref: chosen.ref,
    repo: ref.repo,
    revision: ref.revision,
    ...(chosen.quant ? { quant: chosen.quant } : {}),
    parts: chosen.paths.map(file),
    sizeBytes: chosen.sizeBytes,
    runs: chosen.runs,
    ...(projector ? { projector: file(projector.path) } : {}),
    choices,
  };
}

/**
 * The URL of the vision projector the Hub lists next to an hf: model, for
 * createEngine's `projector: true` and the CLI's `--mmproj auto`:
 * 'argument/invalid' when the model is not an hf: name, HubError
 * 'hub/file-not-found' when its repository has no mmproj file.
 */
export function hubProjectorUrl(name: string | undefined, model: HubModel | undefined): string {
  if (name === undefined || model === undefined) {
    throw new HobError('argument/invalid', "the Hub's projector (projector: true, --mmproj auto) needs an hf: model; name the projector's file or URL instead", { option: 'projector' });
  }
  if (!model.projector) {
    throw new HubError('hub/file-not-found', `${model.repo} has no vision projector (an mmproj*.gguf file) next to ${model.parts[0].path}`, { repo: model.repo, file: 'mmproj' });
  }
  return model.projector.url;
}

/** Lists the repository and picks the model an hf: reference names (see pickHubModel). */
export async function resolveHubModel(ref: string | HubRef, opts: HubOptions = {}): Promise<HubModel> {
  const r = typeof ref === 'string' ? parseHubRef(ref) : ref;
  return pickHubModel(r, await listHubFiles(r.repo, r.revision, opts), opts.endpoint);
}

/**
 * The files of a repository among stored downloads (URLs and sizes), for
 * resolving a reference without the network: the same pick, over what is
 * already here.
 */
export function storedHubFiles(ref: HubRef, stored: readonly { url: string; sizeBytes: number }[], endpoint?: string): RepoFile[] {
  const prefix = hubFileUrl(hubEndpoint(endpoint), ref.repo, ref.revision, '');
  const out: RepoFile[] = [];
  for (const s of stored) {
    if (!s.url.startsWith(prefix)) continue;
    try {
      out.push({ path: s.url.slice(prefix.length).split('/').map(decodeURIComponent).join('/'), sizeBytes: s.sizeBytes });
    } catch {
      // A URL that does not decode is not one of ours.
    }
  }
  return out;
}
