// Copies between the offloaded blocks' KV caches and the host, for saving
// and restoring a session: rows of the first cells of every block's K and V
// buffers (f16, (n_ctx, kv_dim), the layout of the wasm cache), read back
// through one staging buffer made for the copy and destroyed after it, or
// written with queue writes. Nothing here runs a kernel.
import type { KvLayer } from '../core/kv-state.js';
import { HobError } from '../shared/errors.js';

/** Reads `values` f16 values from the start of each K and V buffer. */
export async function readKvThroughStaging(device: GPUDevice, k: readonly GPUBuffer[], v: readonly GPUBuffer[], values: number): Promise<KvLayer[]> {
  const out: KvLayer[] = [];
  if (k.length === 0) return out;
  const bytes = values * 2;
  if (bytes === 0) return k.map(() => ({ k: new Uint16Array(0), v: new Uint16Array(0) }));
  // One cache's rows at a time: a buffer no larger than the caches themselves.
  const staging = device.createBuffer({ label: 'kv readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const read = async (src: GPUBuffer): Promise<Uint16Array> => {
      const enc = device.createCommandEncoder({ label: 'kv readback' });
      enc.copyBufferToBuffer(src, 0, staging, 0, bytes);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const rows = new Uint16Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      return rows;
    };
    for (let i = 0; i < k.length; i++) out.push({ k: await read(k[i]), v: await read(v[i]) });
    return out;
  } finally {
    staging.destroy();
  }
}

/** Throws unless there are `blocks` layers of `values` K and V values each. */
export function checkKvRows(blocks: number, layers: readonly KvLayer[], values: number): void {
  if (layers.length !== blocks) {
    throw new HobError('argument/invalid', `${layers.length} layers of KV rows for ${blocks} offloaded blocks`, { layers: layers.length, blocks });
  }
  layers.forEach((l, i) => {
    if (l.k.length !== values || l.v.length !== values) {
      throw new HobError('argument/invalid', `layer ${i}'s KV rows hold ${l.k.length} and ${l.v.length} values, not ${values}`, { layer: i, values });
    }
  });
}

/** Writes each layer's `values` K and V values to the start of its buffers. */
export function writeKvRows(device: GPUDevice, k: readonly GPUBuffer[], v: readonly GPUBuffer[], layers: readonly KvLayer[], values: number): void {
  checkKvRows(k.length, layers, values);
  if (values === 0) return;
  layers.forEach((l, i) => {
    device.queue.writeBuffer(k[i], 0, l.k.buffer, l.k.byteOffset, values * 2);
    device.queue.writeBuffer(v[i], 0, l.v.buffer, l.v.byteOffset, values * 2);
  });
}
