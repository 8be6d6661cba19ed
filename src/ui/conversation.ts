// The conversation <hob-chat> shows: its entries (what the user wrote, what
// the model answered, with the numbers of each answer). Shared by the
// element (hob-chat.ts) and its markup (view.ts).
import type { FinishReason } from '../shared/types.js';

export interface MessageStats {
  completionTokens: number;
  promptTokens: number;
  /** Prompt tokens the engine reused from its cache. */
  cachedTokens: number;
  tokensPerSecond: number;
  finishReason: FinishReason;
}

export interface ChatEntry {
  role: 'user' | 'assistant';
  content: string;
  stats?: MessageStats;
  /** Set when generation failed; the message then holds what streamed before. */
  error?: string;
}

/** detail of the 'token' event. */
export interface TokenEventDetail {
  delta: string;
  content: string;
}
