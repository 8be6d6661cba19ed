// The chat component's entry: importing it defines <hob-chat> (once).
import { HobChat } from './hob-chat.js';

export { HobChat } from './hob-chat.js';
export type { ChatEntry, ChatTool, MessageStats, TokenEventDetail } from './conversation.js';
export type { EngineFactory } from './engine-factory.js';
export type { ChatImage } from './images.js';
export type { ChatSettings } from './settings.js';
export { MODEL_CATALOG, type CatalogModel } from './catalog.js';
export { SAMPLER_PRESETS, type SamplerPreset } from './presets.js';
export { renderMarkdownHtml } from './markdown.js';

if (typeof customElements !== 'undefined' && !customElements.get('hob-chat')) customElements.define('hob-chat', HobChat);

declare global {
  interface HTMLElementTagNameMap {
    'hob-chat': HobChat;
  }
}
