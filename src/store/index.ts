// The model store's public surface: one import for pages and workers.
export { openModelStore, ModelStore, splitPartUrls } from './store.js';
export type { DownloadOptions, FileDownloadOptions, ImportOptions, ModelStoreOptions, StoreUsage, VerifyResult } from './store.js';
export type { ModelManifest, ModelPart, StoredModel } from './manifest.js';
export type { DownloadProgress } from './progress.js';
export type { GgufSummary } from './gguf-summary.js';
export { readGgufSummary } from './gguf-summary.js';
export { readSourceBytes } from './chunk-source.js';
export { openSessionStore, IdbSessionStore, type SessionInfo, type SessionStore } from './sessions.js';
