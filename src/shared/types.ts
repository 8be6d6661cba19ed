// The public API's types: what a page (or a Node script) sees of the engine.
// The shape follows OpenAI's chat/completions API, so code written against
// the OpenAI SDK or WebLLM reads the same; sampler fields beyond OpenAI's use
// llama.cpp's server names (snake_case), the names KoboldCPP users know.

/** Where a model comes from: a URL (downloaded once into the model store),
 * a Hugging Face model by name (`hf:OWNER/REPO`, `hf:OWNER/REPO:Q4_K_M`,
 * `hf:OWNER/REPO/FILE.gguf`; see docs/models.md), the id of a model already
 * in the store, a File/Blob the user picked, or raw bytes. A plain string is
 * a URL when it parses as one (absolute or relative to the page), otherwise
 * a stored model id. */
export type ModelInput = string | Blob | { url: string } | { storeId: string } | { bytes: Uint8Array };

/** How far a long task is: bytes (downloads, loads) or tokens (prompts). */
export interface Progress {
  loaded: number;
  total: number;
}

export interface LoadProgressEvent extends Progress {
  /** 'download' while a URL is fetched into the store, 'load' while the engine reads the model. */
  phase: 'download' | 'load';
  /** Bytes per second over the recent past (download phase). */
  bytesPerSecond?: number;
  /** Seconds left at the current rate, when it is known. */
  etaSeconds?: number;
  /** 'projector' while the vision projector (CreateEngineOptions.projector) is
   *  downloaded and read, after the model; absent for the model's own events. */
  file?: 'projector';
}

/** llama.cpp's context shift: when the next token would not fit, keep the
 * first `nKeep` tokens and evict `nDiscard` after them. */
export interface ContextShiftOptions {
  /** Tokens at the start never evicted (default: the BOS token, if any). */
  nKeep?: number;
  /** Tokens evicted per shift (default: half of those after nKeep). */
  nDiscard?: number;
}

export interface CreateEngineOptions {
  model: ModelInput;
  /** A vision projector (llama.cpp's mmproj GGUF) for the model: with it,
   *  chat messages may hold images (EngineInfo.images). Loaded like the
   *  model (URL through the store, stored id, File/Blob, bytes); `true`
   *  takes the one the Hub lists next to an hf: model (a HubError
   *  'hub/file-not-found' if its repository has none). */
  projector?: ModelInput | true;
  /** Transformer blocks on the GPU, counted from the last; 'auto' fits as many as the adapter allows. Default 0. */
  gpuLayers?: number | 'auto';
  /** Context window in tokens (default: min(training context, 4096)). */
  contextSize?: number;
  /** CPU threads, the worker's own included (default: min(hardwareConcurrency, 8); 1 without cross-origin isolation).
   *  More than the hardware's concurrency is capped at it; EngineInfo.threads says what is used. */
  threads?: number;
  /** Context shift on overflow; false makes a full context a ContextFullError. */
  contextShift?: ContextShiftOptions | false;
  onProgress?: (p: LoadProgressEvent) => void;
  /** Cancels loading (download included); createEngine then rejects with AbortError. */
  signal?: AbortSignal;
  /** A worker you created (e.g. for a CSP that needs its own URL); by default the library starts its own. */
  worker?: Worker;
  /** What the model may use of this device (see checkFit); the defaults come from the device. */
  budget?: MemoryBudget;
  /** Check that the model fits before downloading or loading it (checkFit's verdict; a misfit is
   *  a ModelTooLargeError). Default true; false loads whatever it costs. */
  fitCheck?: boolean;
  /** The Hugging Face Hub that hf: models come from (default https://huggingface.co; HF_ENDPOINT in Node). */
  hubEndpoint?: string;
  /** One engine for every tab of this origin that opens the same model
   * (browser): the first tab hosts it, the others get a proxy with this same
   * interface, and another tab takes over when the host closes (requests in
   * flight then fail with EngineMovedError: send them again). The model must
   * be a URL or a stored model's id. See docs/sessions.md. */
  shared?: boolean;
}

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/** A message of the conversation, as OpenAI's chat API takes it. */
export interface ChatMessage {
  role: Role;
  /** The text; null (or absent) for an assistant turn that only calls tools. */
  content: string | null;
  /** An assistant turn's tool calls, as a reply gave them. */
  tool_calls?: ToolCall[];
  /** A 'tool' message: the id of the call it answers. */
  tool_call_id?: string;
  /** A 'tool' message: the name of the function that ran (optional, as in OpenAI's API). */
  name?: string;
  /** An assistant turn's reasoning (the text of its <think> block), passed back to templates that render it. */
  reasoning_content?: string;
}

/** Decoded pixels: width x height, 3 bytes (R, G, B) a pixel, row by row. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** An image of a message: a `data:` URL (PNG, JPEG, binary PPM), an http(s)
 *  URL (fetched), a Blob/File or ImageBitmap (browser), or decoded pixels. */
export type ImageInput = string | Blob | ImageBitmap | RgbImage;

/** A part of a message's content, as OpenAI's chat API takes it. */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: ImageInput; detail?: string } };

/** A message of a request: its content a string or text and image parts
 *  (an engine with a projector; see CreateEngineOptions.projector). */
export interface ChatMessageInput extends Omit<ChatMessage, 'content'> {
  content: string | null | ContentPart[];
}

/** A JSON Schema (draft 2020-12 / OpenAPI subset): what structured output and tool parameters are checked against. */
export type JsonSchema = boolean | { [keyword: string]: unknown };

/** A function the model may call (OpenAI's `tools` entry). */
export interface ToolDefinition {
  type: 'function';
  function: {
    name: string;
    description?: string;
    /** The arguments' JSON Schema; the generated arguments always validate against it. */
    parameters?: JsonSchema;
    strict?: boolean;
  };
}

/** A call the model made: `arguments` is a JSON object as a string. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A piece of a tool call in a stream (OpenAI's delta.tool_calls entry): the
 * first piece of call `index` has its id, type and name; arguments arrive in
 * pieces that concatenate to the JSON string. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** Whether and which tools the model must call. */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** Constrains the reply: any JSON object, or JSON that validates against a schema. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object'; schema?: JsonSchema }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: JsonSchema; strict?: boolean } };

/** A token's log-probability: the log-softmax of the model's logits at
 * that step, before any sampler changed them (OpenAI's logprobs entry). */
export interface TopLogprob {
  /** The token's id in the model's vocabulary (as llama.cpp's server gives it). */
  id: number;
  /** The token's text as it appears in the reply (control tokens are empty,
   *  as in llama.cpp's server); its bytes decoded as UTF-8, so a token that
   *  ends inside a character shows U+FFFD. */
  token: string;
  logprob: number;
  /** The token's bytes. */
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  /** The most likely tokens at this step, most likely first (top_logprobs of them). */
  top_logprobs: TopLogprob[];
}

/** A choice's log-probabilities: one entry per generated token. */
export interface ChoiceLogprobs {
  content: TokenLogprob[];
}

/** Log-probabilities of the generated tokens, in chat and text completions. */
export interface LogprobParams {
  /** Return each generated token's log-probability. */
  logprobs?: boolean;
  /** With logprobs, also the most likely tokens at each step (0 to 20). */
  top_logprobs?: number;
}

/** Output constraints shared by chat and text completions. */
export interface ConstraintParams {
  /** JSON output: any object, or one that validates against a schema. */
  response_format?: ResponseFormat;
  /** A GBNF grammar (llama.cpp's format) the output must match. Not with response_format. */
  grammar?: string;
}

/** Samplers, in llama.cpp's names and defaults. Unset fields take
 * llama.cpp's defaults; a neutral value turns a sampler off. */
export interface SamplingParams {
  /** Default 0.8; 0 is greedy. */
  temperature?: number;
  /** Default 40; 0 = off. */
  top_k?: number;
  /** Default 0.95; 1 = off. */
  top_p?: number;
  /** Default 0.05; 0 = off. */
  min_p?: number;
  /** Locally typical sampling; default 1 = off. */
  typical_p?: number;
  /** Tail-free sampling z; default 1 = off. */
  tfs_z?: number;
  /** Top-A (KoboldCPP); default 0 = off. */
  top_a?: number;
  /** Default 1 = off. */
  repeat_penalty?: number;
  /** Tokens the repetition penalty looks back over (its range); default 64, -1 = the whole context. */
  repeat_last_n?: number;
  /** KoboldCPP's rep_pen_slope: how the penalty ramps across the range; default 1 (flat). */
  repeat_penalty_slope?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  /** DRY (don't repeat yourself); multiplier 0 = off. */
  dry_multiplier?: number;
  dry_base?: number;
  dry_allowed_length?: number;
  dry_penalty_last_n?: number;
  dry_sequence_breakers?: string[];
  /** XTC (exclude top choices); probability 0 = off. */
  xtc_probability?: number;
  xtc_threshold?: number;
  /** 0 = off, 1 = mirostat, 2 = mirostat v2. */
  mirostat?: 0 | 1 | 2;
  mirostat_tau?: number;
  mirostat_eta?: number;
  /** Token id (as a string, as OpenAI sends it) to a bias added to its logit; -Infinity bans it. */
  logit_bias?: Record<string, number>;
  banned_tokens?: number[];
  /** Strings that must never appear in the output (the engine backs off and resamples). */
  banned_strings?: string[];
  /** Generation stops before any of these; partial matches are held back, never streamed. */
  stop?: string | string[];
  /** Same seed, same prompt, same settings: same tokens. */
  seed?: number;
  /** The order of the samplers that reshape the distribution. */
  sampler_order?: SamplerName[];
}

export type SamplerName =
  | 'penalties'
  | 'dry'
  | 'top_k'
  | 'typical_p'
  | 'top_p'
  | 'min_p'
  | 'tfs_z'
  | 'top_a'
  | 'xtc'
  | 'temperature';

export interface RequestOptions {
  /** Stops the request between two tokens; the result's finish_reason is 'abort'. */
  signal?: AbortSignal;
  /** Fail at once with BusyError instead of waiting when another request runs. */
  failIfBusy?: boolean;
  /** Keep generating past end-of-generation tokens (llama.cpp's ignore_eos; for comparisons). */
  ignore_eos?: boolean;
}

/** Keeping a conversation's cache across reloads and tabs (see docs/sessions.md). */
export interface SessionParams {
  /** The saved session this conversation lives in. Before the prompt is
   * evaluated, the engine restores it when it holds more of the prompt than
   * the cache does (after a reload, or when another conversation ran in
   * between); after the reply the session is saved again, in the
   * background. A session that cannot be restored is reported as a
   * 'session' event and the prompt is evaluated as usual. */
  session?: string;
}

export interface ChatCompletionRequest extends SamplingParams, ConstraintParams, LogprobParams, SessionParams, RequestOptions {
  messages: ChatMessageInput[];
  stream?: boolean;
  /** Tokens to generate at most (default: until end of generation or the context is used up). */
  max_tokens?: number;
  /** Functions the model may call; the reply's message.tool_calls holds the calls it makes. */
  tools?: ToolDefinition[];
  /** Default 'auto' when tools are given. */
  tool_choice?: ToolChoice;
  /** Whether one reply may hold several calls (default true). */
  parallel_tool_calls?: boolean;
  /** Passed to chat templates that read it (Qwen 3, SmolLM3): false asks the model to answer without thinking. */
  enable_thinking?: boolean;
  /** Tokens of reasoning (<think> ... </think>) at most: the thought is then closed and the answer follows. */
  max_reasoning_tokens?: number;
}

export interface CompletionRequest extends SamplingParams, ConstraintParams, LogprobParams, SessionParams, RequestOptions {
  prompt: string;
  stream?: boolean;
  max_tokens?: number;
}

/** 'stop': end of generation or a stop string; 'length': max_tokens; 'tool_calls': the reply calls tools; 'abort': stopped by its signal. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'abort';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens served from the cache (prefix reuse / context shift). */
  cached_tokens: number;
  prefill_tokens_per_second: number;
  decode_tokens_per_second: number;
  /** Of completion_tokens, those a thinking model spent thinking (chat replies of templates with <think>). */
  completion_tokens_details?: { reasoning_tokens: number };
  /** Of prompt_tokens, the embedding rows of images (requests with images). */
  prompt_tokens_details?: { image_tokens: number };
}

/** A reply: its text (null when it only calls tools), its reasoning when the model thought first, its tool calls. */
export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCall[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: AssistantMessage; finish_reason: FinishReason; logprobs?: ChoiceLogprobs | null }];
  usage: Usage;
}

/** What a chunk adds to the reply: text, reasoning or pieces of tool calls. */
export interface ChatCompletionDelta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  tool_calls?: ToolCallDelta[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [{ index: 0; delta: ChatCompletionDelta; finish_reason: FinishReason | null; logprobs?: ChoiceLogprobs | null }];
  /** Present on the last chunk only. */
  usage?: Usage;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason; logprobs?: ChoiceLogprobs | null }];
  usage: Usage;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason | null; logprobs?: ChoiceLogprobs | null }];
  usage?: Usage;
}

/** A context shift the engine made, with its numbers. */
export interface ShiftEvent {
  /** 'overflow': the context was full during generation; 'prompt-edit': a
   * new prompt dropped a span of the cached one (KoboldCPP's ContextShift). */
  kind: 'overflow' | 'prompt-edit';
  /** First evicted position. */
  position: number;
  /** Tokens evicted. */
  evicted: number;
  /** Tokens in the cache after the shift. */
  nPast: number;
  /** Kept tokens evaluated again from a recurrent-state checkpoint, where
   *  the model's state cannot drop the evicted span (see ContextShiftMode);
   *  absent when the cache shifted in place. */
  reevaluated?: number;
}

/** What an overflow or prompt-edit shift does with a model's cache:
 *  - 'rotate': the evicted tokens' cells go and the later keys are
 *    re-rotated to their new positions, in place (attention-only models;
 *    llama.cpp's context shift).
 *  - 'rotate-keep-conv-state': the same for the attention blocks, while
 *    the short-convolution blocks keep their state, which holds only the
 *    last conv_kernel - 1 tokens' inputs, none of them evicted (LFM2;
 *    llama.cpp does the same). A shift that would evict one of those
 *    tokens, and any truncation, go the way of the next mode.
 *  - 'reevaluate-from-checkpoint': the recurrent state remembers every
 *    token, so nothing can be evicted from it: the state and cache go back
 *    to the latest checkpoint at or before the first changed token (or to
 *    the start) and the tokens kept after it are evaluated again (Qwen 3.5).
 *    The result equals a fresh evaluation of the tokens that remain. */
export type ContextShiftMode = 'rotate' | 'rotate-keep-conv-state' | 'reevaluate-from-checkpoint';

export interface EngineInfo {
  model: {
    name: string;
    architecture: string;
    nParams?: number;
    nLayer: number;
    nVocab: number;
    nCtxTrain: number;
    fileBytes: number;
    /** The GGUF's chat template, if it has one. */
    chatTemplate?: string;
    /** Width of the model's hidden states, and of its embeddings. */
    nEmbd: number;
    /** The pooling its file asks for: 'none' for a generative model, 'rank' for a reranker. */
    pooling: EmbeddingPooling;
    /** False for embedding and reranking models: they give vectors or scores, never text. */
    generates: boolean;
  };
  contextSize: number;
  threads: number;
  /** Whether chat messages may hold images: a projector is loaded. */
  images: boolean;
  /** The projector's type (clip.projector_type: 'idefics3', ...), when one is loaded. */
  projector?: string;
  /** 'mt' (SIMD + threads) or 'st' (SIMD, one thread: the page is not cross-origin isolated). */
  variant: 'mt' | 'st';
  /** What context shifts and prompt edits do with this model's cache, and
   *  the recurrent-state checkpoints kept for them (hybrid models: taken at
   *  the kept head and a few tokens before the end of each prompt). */
  shift: { mode: ContextShiftMode; checkpoints: number };
  /** The build's SIMD: 'relaxed' (relaxed SIMD's 8-bit dot products, where
   * the runtime has them: Chromium, Node 22+) or 'simd128' (the fallback,
   * same results bit for bit). */
  simd: 'relaxed' | 'simd128';
  /** How the layers were split, and why (gpuLayers 'auto' explains its choice). */
  load: {
    gpuLayers: number;
    reason?: string;
    cpuBytes: number;
    gpuBytes: number;
    /** The wasm memory's size (it grows in steps and never shrinks). */
    wasmHeapBytes: number;
    /** The end of the engine's heap: the most wasm memory it has used. */
    wasmHeapUsedBytes: number;
    /** What the fit check estimated for these settings, when it ran. */
    estimate?: FitEstimate;
  };
}

// ---------------------------------------------------------------------------
// Embeddings and reranking

/** How per-token states become one vector, as llama.cpp's pooling_type: the
 * mean, the first token (CLS), the last token, every token ('none'), or a
 * reranker's classifier score ('rank'). */
export type EmbeddingPooling = 'none' | 'mean' | 'cls' | 'last' | 'rank';

/** How an embeddings or rerank call waits its turn and stops. */
export interface VectorRequestOptions {
  /** Rejects with AbortError ('request/aborted'): before the call runs, or between its batches. */
  signal?: AbortSignal;
  /** Fail at once with BusyError instead of waiting when another request runs. */
  failIfBusy?: boolean;
}

/** OpenAI's embeddings request. Each input attends to itself only; inputs
 * are evaluated together in batches that fit the context. */
export interface EmbeddingCreateRequest extends VectorRequestOptions {
  input: string | string[];
  /** Keep the first `dimensions` values (Matryoshka models), normalized again. */
  dimensions?: number;
  /** 'float' (default): arrays of numbers; 'base64': little-endian float32 bytes, as OpenAI encodes them. */
  encoding_format?: 'float' | 'base64';
  /** Replaces the model's pooling: how a generative model (which names none) gives embeddings. */
  pooling?: 'mean' | 'cls' | 'last';
  /** L2-normalize each vector (default true, as llama.cpp's server does). */
  normalize?: boolean;
  /** Accepted for OpenAI compatibility; the loaded model answers. */
  model?: string;
}

export interface Embedding {
  object: 'embedding';
  index: number;
  /** The vector, or its float32 bytes in base64 with encoding_format 'base64'. */
  embedding: number[] | string;
}

export interface EmbeddingList {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Per-token vectors (pooling none): each input's tokens and one vector per token. */
export interface TokenEmbeddingRequest extends VectorRequestOptions {
  input: string | string[];
  /** L2-normalize each token's vector (default false: llama.cpp leaves them as they are). */
  normalize?: boolean;
}

export interface TokenEmbeddingList {
  object: 'list';
  data: { object: 'token_embeddings'; index: number; tokens: number[]; embeddings: number[][] }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface Embeddings {
  create(req: EmbeddingCreateRequest): Promise<EmbeddingList>;
  /** One vector per token: the last blocks' states after the final norm (llama.cpp's pooling none). */
  tokens(req: TokenEmbeddingRequest): Promise<TokenEmbeddingList>;
}

/** llama.cpp's /rerank (Jina's API): each document's relevance to the query. */
export interface RerankRequest extends VectorRequestOptions {
  query: string;
  documents: string[];
  /** Results kept, best first (default: all). */
  top_n?: number;
  /** Each result carries its document's text. */
  return_documents?: boolean;
  model?: string;
}

export interface RerankResult {
  /** The document's index in the request. */
  index: number;
  /** The classifier's score as llama.cpp's server reports it: a logit for
   * BERT rerankers (bge-reranker), the probability of "yes" for Qwen3-Reranker. */
  relevance_score: number;
  document?: { text: string };
}

export interface RerankResponse {
  object: 'list';
  model: string;
  /** Sorted by relevance_score, highest first. */
  results: RerankResult[];
  usage: { prompt_tokens: number; total_tokens: number };
}

/** A conversation's cache saved by name: its token ids and the KV cells
 * that hold them, in the origin's storage (IndexedDB; files in Node). */
export interface SavedSession {
  name: string;
  /** Tokens the cache held. */
  nTokens: number;
  /** Bytes it takes in storage. */
  sizeBytes: number;
  savedAtMs: number;
  /** The model it belongs to, and the context size it was saved with: it
   * restores only into an engine with the same. */
  model: { name: string; sizeBytes: number; fingerprint: string };
  contextSize: number;
  /** Text the caller saved with it (saveSession's `meta`). */
  meta?: string;
}

export interface RestoredSession extends SavedSession {
  elapsedMs: number;
}

/** A session saved or restored by a request's `session` (or the failure,
 * with the error's code: the conversation's text is never touched). */
export interface SessionEvent {
  kind: 'saved' | 'restored' | 'failed';
  name: string;
  nTokens: number;
  elapsedMs: number;
  sizeBytes?: number;
  code?: string;
  message?: string;
}

/** Which tab hosts a shared engine (createEngine's `shared`): told when the
 * engine starts and whenever another tab takes over. */
export interface HostEvent {
  /** True when this tab runs the engine. */
  self: boolean;
  /** The hosting tab's id (random, per page load). */
  hostId: string;
  /** This tab's id. */
  tabId: string;
}

export interface EngineEvents {
  shift: ShiftEvent;
  progress: LoadProgressEvent;
  session: SessionEvent;
  host: HostEvent;
}

export interface ChatCompletions {
  create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(req: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
}

export interface Completions {
  create(req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
  create(req: CompletionRequest & { stream?: false }): Promise<Completion>;
}

/** What createEngine returns: every call runs in the engine's worker. */
export interface HobEngine {
  readonly chat: { completions: ChatCompletions };
  readonly completions: Completions;
  /** Vectors of texts (embedding models, or any model with a pooling); they
   * share the context with chat: a call empties the cache. */
  readonly embeddings: Embeddings;
  /** Documents scored against a query by a reranker (bge-reranker, Qwen3-Reranker). */
  rerank(req: RerankRequest): Promise<RerankResponse>;
  tokenize(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean }): Promise<number[]>;
  detokenize(ids: number[]): Promise<string>;
  /** The chat template applied to messages, as the model would see it. */
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): Promise<string>;
  info(): Promise<EngineInfo>;
  /** Tokens in the context cache now. */
  contextUsed(): Promise<number>;
  /** Empties the context cache (the next request evaluates its whole prompt). */
  resetContext(): Promise<void>;
  /** Saves the context cache (its tokens and KV cells, only those in use)
   * under `name` (default 'default'), replacing an earlier save only once
   * the new one is complete. `meta` is any text to keep with it. */
  saveSession(name?: string, opts?: { meta?: string }): Promise<SavedSession>;
  /** Replaces the context cache by a saved session: the next request
   * evaluates only what follows its tokens. A session of another model,
   * context size or cache type is a SessionError ('session/mismatch')
   * naming the difference; damaged storage is 'store/corrupt'; neither
   * changes the cache. */
  restoreSession(name?: string): Promise<RestoredSession>;
  /** The saved sessions, newest first. */
  listSessions(): Promise<SavedSession[]>;
  /** Deletes a saved session; false when there was none. */
  deleteSession(name: string): Promise<boolean>;
  on<K extends keyof EngineEvents>(event: K, listener: (e: EngineEvents[K]) => void): () => void;
  /** Frees wasm memory and GPU buffers and ends the worker; the engine is unusable afterwards. */
  unload(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Will it fit? checkFit's answer, before a byte of weights is downloaded.

/** What a model may use of this device. Unset fields take defaults from the device (docs/models.md). */
export interface MemoryBudget {
  /** Bytes of wasm memory (the CPU blocks, their cache, scratch); on a phone, GPU memory too (it is
   *  the same memory). Default: 1 GiB on mobile user agents; else half of navigator.deviceMemory
   *  (half of the total memory in Node); else 4 GiB, the wasm ceiling. */
  memoryBytes?: number;
  /** Bytes of GPU memory for offloaded blocks (weights, their cache, activations). Default 2 GiB,
   *  1 GiB on mobile user agents (WebGPU does not say how much a GPU has). */
  gpuBytes?: number;
}

export interface CheckFitOptions {
  /** As createEngine takes it (default min(training context, 4096), shortened to fit). */
  contextSize?: number;
  /** As createEngine takes it (default 0). */
  gpuLayers?: number | 'auto';
  budget?: MemoryBudget;
  /** Engine threads: each has its own stack in wasm memory (default as createEngine's). */
  threads?: number;
  /** The Hugging Face Hub of hf: models (default https://huggingface.co; HF_ENDPOINT in Node). */
  hubEndpoint?: string;
  signal?: AbortSignal;
}

/** Which limit a setting runs into. */
export type FitLimit = 'wasm-heap' | 'memory-budget' | 'gpu-budget' | 'gpu-buffer' | 'gpu-type' | 'gpu-unavailable' | 'storage';

export interface FitProblem {
  limit: FitLimit;
  neededBytes: number;
  limitBytes: number;
  message: string;
}

export interface FitSettings {
  gpuLayers: number;
  contextSize: number;
}

/** Memory of a model with one split and context, estimated from its header. */
export interface FitEstimate {
  gpuLayers: number;
  contextSize: number;
  wasm: {
    /** The engine and its threads' stacks. */
    baseBytes: number;
    /** The parsed header and the vocabulary. */
    headerBytes: number;
    /** Weights of the blocks on the CPU (with the embedding, and the head unless every block is offloaded). */
    weightBytes: number;
    kvBytes: number;
    /** Workspace, logits and the scratch of a batch. */
    scratchBytes: number;
    /** Held only while loading (the header's copy, the staging buffer of the reads). */
    loadingBytes: number;
    /** The heap's end: base + header + weights + the larger of loading's buffers and
     *  kv + scratch (they reuse the space loading frees). */
    totalBytes: number;
  };
  gpu: {
    weightBytes: number;
    kvBytes: number;
    scratchBytes: number;
    /** The largest single GPU buffer (it must fit maxBufferSize and maxStorageBufferBindingSize). */
    largestBufferBytes: number;
    totalBytes: number;
    /** A tensor whose type the GPU kernels lack. */
    unsupported?: string;
    /** An untied model's token embeddings, uploaded for decoding ahead on
     *  the GPU because the budget has room (counted in weightBytes). */
    embedBytes?: number;
  };
}

/**
 * checkFit's verdict. 'fits': `settings` work (gpuLayers 'auto' and an unset
 * contextSize resolved to numbers). 'fits-with-changes': the asked settings
 * do not fit (`problems` says why, in bytes) but `settings` do: more or
 * fewer GPU layers, or a shorter context. 'does-not-fit': nothing does.
 */
export interface FitReport {
  verdict: 'fits' | 'fits-with-changes' | 'does-not-fit';
  asked: { gpuLayers: number | 'auto'; contextSize: number };
  /** The settings to load with; absent when nothing fits. */
  settings?: FitSettings;
  /** For `settings`, or for the asked settings when nothing fits. */
  estimate: FitEstimate;
  /** Why the asked settings do not fit (empty when they do). */
  problems: FitProblem[];
  /** The numbers compared against. */
  limits: {
    wasmMaxBytes: number;
    memoryBudgetBytes: number;
    memoryBudgetSource: string;
    unifiedMemory: boolean;
    gpuBudgetBytes?: number;
    gpuMaxBufferBytes?: number;
    /** The adapter judged against, when it names itself. */
    gpuName?: string;
    /** Why there is no GPU, when GPU layers were asked for and none was found. */
    noGpu?: string;
    storageFreeBytes?: number;
  };
  /** One line for people. */
  reason: string;
}
