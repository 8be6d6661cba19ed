// Where <hob-chat> gets its engine: the public API's createEngine by default;
// a host may inject its own factory (a worker it built, a remote engine, a test double).
import { createEngine } from '../api/index.js';
import type { CreateEngineOptions, HobEngine } from '../shared/types.js';

export type EngineFactory = (options: CreateEngineOptions) => Promise<HobEngine>;

export const defaultEngineFactory: EngineFactory = createEngine;
