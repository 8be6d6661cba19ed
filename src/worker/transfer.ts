// Errors across the worker boundary: comlink's default handler keeps only
// message, name and stack. This one also carries HobError's `code` and
// `details` and rebuilds the typed error on the receiving side. Both sides
// install it before any call.
import * as Comlink from 'comlink';

import { fromSerializedError, HobError, type SerializedError } from '../shared/errors.js';

type Thrown = { value: unknown };
type Wire = { isError: true; value: SerializedError | { message: string; name: string; stack?: string } } | { isError: false; value: unknown };

export function installErrorTransfer(): void {
  const base = Comlink.transferHandlers.get('throw') as Comlink.TransferHandler<Thrown, Wire>;
  Comlink.transferHandlers.set('throw', {
    canHandle: base.canHandle,
    serialize({ value }: Thrown): [Wire, Transferable[]] {
      if (value instanceof HobError) {
        return [{ isError: true, value: { hob: true, code: value.code, name: value.name, message: value.message, details: value.details } }, []];
      }
      if (value instanceof Error) return [{ isError: true, value: { message: value.message, name: value.name, stack: value.stack } }, []];
      return [{ isError: false, value }, []];
    },
    deserialize(wire: Wire): never {
      if (wire.isError && 'hob' in wire.value) throw fromSerializedError(wire.value);
      if (wire.isError) throw Object.assign(new Error(wire.value.message), wire.value);
      throw wire.value;
    },
  } as Comlink.TransferHandler<unknown, unknown>);
}
