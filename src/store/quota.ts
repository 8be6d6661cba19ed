// The origin's storage budget: the estimate checked before a download, the
// persistence request that keeps the browser from evicting models, and the
// typed error a full disk becomes. The numbers are the browser's estimates.
import { QuotaExceededError } from '../shared/errors.js';

export interface StorageEstimateBytes {
  quotaBytes?: number;
  usageBytes?: number;
  /** quota − usage, when the browser tells both. */
  freeBytes?: number;
}

export async function estimateStorage(): Promise<StorageEstimateBytes> {
  const e = await globalThis.navigator?.storage?.estimate?.().catch(() => undefined);
  if (!e || e.quota === undefined || e.usage === undefined) return {};
  return { quotaBytes: e.quota, usageBytes: e.usage, freeBytes: Math.max(0, e.quota - e.usage) };
}

export function quotaError(what: string, neededBytes: number, freeBytes: number): QuotaExceededError {
  const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return new QuotaExceededError(
    'store/quota-exceeded',
    `storing ${what} needs ${mb(neededBytes)} (${neededBytes} bytes) more, but this site has only ${mb(freeBytes)} (${freeBytes} bytes) of storage left`,
    { neededBytes, freeBytes },
  );
}

/** Throws QuotaExceededError when the estimate says `neededBytes` will not fit. */
export async function checkQuota(what: string, neededBytes: number): Promise<void> {
  const { freeBytes } = await estimateStorage();
  if (freeBytes !== undefined && neededBytes > freeBytes) throw quotaError(what, neededBytes, freeBytes);
}

/** IndexedDB's own quota failure (a DOMException) as our typed error. */
export async function asQuotaError(e: unknown, what: string, neededBytes: number): Promise<unknown> {
  const name = (e as { name?: string } | null)?.name;
  if (name !== 'QuotaExceededError') return e;
  return quotaError(what, neededBytes, (await estimateStorage()).freeBytes ?? 0);
}

/**
 * Asks the browser to keep this origin's storage under pressure (granted or
 * not by its own rules). Only a window can ask; in a worker this is a no-op.
 */
export async function requestPersistence(): Promise<boolean> {
  const s = globalThis.navigator?.storage;
  try {
    if (!s?.persisted) return false;
    if (await s.persisted()) return true;
    return typeof s.persist === 'function' ? await s.persist() : false;
  } catch {
    return false;
  }
}

export async function isPersisted(): Promise<boolean> {
  return (await globalThis.navigator?.storage?.persisted?.().catch(() => false)) ?? false;
}
