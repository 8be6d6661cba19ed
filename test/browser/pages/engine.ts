// Test page: exposes the engine worker to the browser tests as window.hob.
import { startEngineWorker } from '../../../src/worker/client.js';

const { api } = startEngineWorker();
(window as unknown as { hob: typeof api; crossOriginIsolatedPage: boolean }).hob = api;
document.title = 'ready';
