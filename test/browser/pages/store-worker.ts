// Worker side of the store test page: the same store API in a worker.
import { openModelStore, type ModelStoreOptions } from '../../../src/store/index.js';

self.onmessage = async (e: MessageEvent<{ options: ModelStoreOptions; id: string }>) => {
  const store = openModelStore(e.data.options);
  const ids = (await store.list()).map((m) => m.id);
  const src = await store.openModelSource(e.data.id);
  const head = [...(await src.read(0, 8))];
  let error: { code: string; name: string } | undefined;
  try {
    await store.openModelSource('no-such-model');
  } catch (err) {
    error = { code: (err as { code: string }).code, name: (err as Error).name };
  }
  postMessage({ ids, sizeBytes: src.sizeBytes, head, error });
};
