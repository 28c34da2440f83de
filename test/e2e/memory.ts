/** Test helper: a TransportMemory of its own (the SDK's default one is shared by the process). */
import type { TransportMemory } from '../../src/client/index.ts';

export function freshMemory(): TransportMemory & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: (k) => map.get(k), set: (k, v) => void map.set(k, v), delete: (k) => void map.delete(k) };
}
