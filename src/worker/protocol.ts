// The engine worker's protocol: what the caller's side (src/api) sends and
// gets back over comlink, as one small file both sides import. The worker
// implements EngineWorkerApi (service.ts); the caller holds it as a proxy.
// Types only: nothing here runs.
import type { ReplyRequest } from '../runtime/request.js';
import type {
  AssistantMessage, ChatMessage, ContextShiftOptions, EngineInfo, FinishReason, LoadProgressEvent, RestoredSession, SavedSession, SessionEvent,
  ShiftEvent, TokenLogprob, Usage,
} from '../shared/types.js';

/** Where the worker finds a model (the public ModelInput, resolved on the
 * caller's side so it can cross to the worker): a URL (downloaded once into
 * the model store, then read from there), a model already in the store, a
 * File/Blob, bytes, a file path (Node), or a name that is a stored model's
 * id if the store has it and otherwise the URL given with it. */
export type ModelLocation =
  | { url: string }
  | { storeId: string }
  | { blob: Blob }
  | { bytes: Uint8Array }
  | { path: string }
  | { ref: string; url: string };

export interface OpenOptions {
  location: ModelLocation;
  threads?: number;
  /** A vision projector (mmproj GGUF) loaded with the model: requests may then hold images. */
  projector?: ModelLocation;
  /** Blocks to offload to the GPU from the last, or 'auto' (see src/runtime/load.ts). */
  gpuLayers?: number | 'auto';
  /** The GPU budget of 'auto' (createEngine's budget.gpuBytes; default by user agent). */
  gpuBudgetBytes?: number;
  contextSize?: number;
  contextShift?: ContextShiftOptions | false;
  /** Shared memory the caller writes a request's id into to stop it: seen
   * during a token's evaluation, without waiting for a message. */
  stopFlag?: Int32Array;
  /** Node: the folder saved sessions are files in (default: the file
   * cache's folder + /sessions). */
  sessionDir?: string;
}

/** What the worker posts on the events port of open(). */
export type WorkerEvent =
  | { kind: 'progress'; event: LoadProgressEvent }
  | { kind: 'shift'; event: ShiftEvent }
  | { kind: 'session'; event: SessionEvent }
  /** The load's last progress event was posted (ports are not ordered with each other). */
  | { kind: 'loaded' };

/** One request of the public API, as the worker receives it: the chat or
 * text completion request without what cannot cross (the signal) or only
 * matters on the caller's side (stream, failIfBusy). */
export interface GenerateRequest extends ReplyRequest {
  max_tokens?: number;
  /** The saved session the conversation lives in (SessionParams). */
  session?: string;
  /** Keep generating past end-of-generation tokens (for comparisons). */
  ignore_eos?: boolean;
}

export interface GenerateResult {
  /** The generated text as it came (a completion's text; a chat reply before parsing). */
  text: string;
  ids: number[];
  finishReason: FinishReason;
  usage: Usage;
  /** A chat reply: content, reasoning and tool calls. */
  message?: AssistantMessage;
  /** With logprobs asked for: an entry per token of the reply. */
  logprobs?: TokenLogprob[];
  /** Messages posted on `deltas`: the caller waits for them all before
   * ending a stream (they travel on their own port). */
  nDeltas: number;
}

/** embeddings.create as the worker takes it: the inputs as an array, no signal. */
export interface EmbedRequest {
  input: string[];
  pooling?: 'mean' | 'cls' | 'last';
  dimensions?: number;
  normalize?: boolean;
}

export interface EmbedResult {
  /** One vector per input, in order. */
  vectors: Float32Array[];
  promptTokens: number;
}

export interface TokenEmbedResult {
  /** Each input's token ids and one vector per token. */
  tokens: number[][];
  vectors: Float32Array[][];
  promptTokens: number;
}

export interface RerankScores {
  /** Each document's score, in request order. */
  scores: number[];
  promptTokens: number;
}

/** The worker's side of the engine: one model, one session, one request at a time. */
export interface EngineWorkerApi {
  /** Starts the engine (fetches and compiles the wasm) without a model; open
   * does it too. The wasm build and thread count it got. */
  init(opts?: { threads?: number }): Promise<{ variant: 'mt' | 'st'; threads: number }>;
  /** Starts the engine if needed, loads the model and makes its session.
   * Progress and shifts are posted on `events` (WorkerEvent). */
  open(opts: OpenOptions, events?: MessagePort): Promise<EngineInfo>;
  /** Cancels a load in progress (download included). */
  cancelLoad(): void;
  tokenize(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
  detokenize(ids: number[]): string;
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt?: boolean): string;
  info(): EngineInfo;
  contextUsed(): number;
  resetContext(): Promise<void>;
  /** One chat or text completion; what it adds to the reply is posted on
   * `deltas` as ReplyDelta objects (content, reasoning_content, whole tool
   * calls, log-probabilities) as it becomes final. */
  generate(id: number, req: GenerateRequest, deltas?: MessagePort): Promise<GenerateResult>;
  /** Pooled (and normalized) embeddings of the inputs; the cache is emptied. */
  embed(id: number, req: EmbedRequest): Promise<EmbedResult>;
  /** One vector per token of each input; the cache is emptied. */
  embedTokens(id: number, req: { input: string[]; normalize?: boolean }): Promise<TokenEmbedResult>;
  /** The reranker's score of each document against the query; the cache is emptied. */
  rerank(id: number, req: { query: string; documents: string[] }): Promise<RerankScores>;
  /** Stops request `id` between two tokens; without an id, whatever runs. */
  stop(id?: number): void;
  /** Saves the cache as `name` (the store's write included). */
  saveSession(name: string, meta?: string): Promise<SavedSession>;
  /** Replaces the cache by the saved session `name`. */
  restoreSession(name: string): Promise<RestoredSession>;
  listSessions(): Promise<SavedSession[]>;
  deleteSession(name: string): Promise<boolean>;
  /** Writes what sessions are waiting to be saved, then frees the session,
   * the model, the GPU device and the engine's threads. */
  unload(): Promise<void>;
}
