// Rendezvous stores: the TCP store with several clients on 127.0.0.1 (random free port) and
// the in-memory store, against the same contract.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, StoreTimeoutError, TCPStore, rendezvous, type Store } from '../src/index.js';

const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const open: Store[] = [];
afterEach(async () => {
  // clients first, the server-owning store last
  for (const s of open.splice(0).reverse()) await s.close();
});

async function tcpStores(clients: number, timeoutMs = 5000): Promise<Store[]> {
  const server = await TCPStore.create({ host: '127.0.0.1', port: 0, isServer: true, listenHost: '127.0.0.1', timeoutMs });
  open.push(server);
  const out: Store[] = [server];
  for (let i = 1; i < clients; i++) {
    const c = await TCPStore.create({ host: '127.0.0.1', port: server.port, timeoutMs });
    open.push(c);
    out.push(c);
  }
  return out;
}

function contract(name: string, make: (n: number, timeoutMs?: number) => Promise<Store[]>): void {
  describe(name, () => {
    it('set/get across clients, get waits for a later set', async () => {
      const [a, b, c] = await make(3);
      await a!.set('k', 'v1');
      expect(dec(await b!.get('k'))).toBe('v1');
      const later = c!.get('late');
      await new Promise((r) => setTimeout(r, 30));
      await b!.set('late', new Uint8Array([1, 2, 3]));
      expect(Array.from(await later)).toEqual([1, 2, 3]);
    });
    it('add is atomic across clients', async () => {
      const stores = await make(4);
      const results = await Promise.all(stores.flatMap((s) => [s.add('ctr', 1), s.add('ctr', 2)]));
      expect(results.sort((x, y) => x - y).at(-1)).toBe(12);
      expect(new Set(results).size).toBe(8);
      expect(dec(await stores[0]!.get('ctr'))).toBe('12');
    });
    it('wait(keys) resolves when all exist and times out naming the missing ones', async () => {
      const [a, b] = await make(2);
      const w = a!.wait(['x', 'y']);
      await b!.set('x', '1');
      await b!.set('y', '2');
      await w;
      const err = await a!.wait(['x', 'nope', 'never'], 100).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreTimeoutError);
      expect((err as StoreTimeoutError).missingKeys).toEqual(['nope', 'never']);
      expect((err as Error).message).toMatch(/missing keys: "nope", "never"/);
    });
    it('delete, compareSet and numKeys', async () => {
      const [a, b] = await make(2);
      await a!.set('d', '1');
      expect(await b!.delete('d')).toBe(true);
      expect(await b!.delete('d')).toBe(false);
      expect(dec(await a!.compareSet('cas', '', 'first'))).toBe('first');
      expect(dec(await b!.compareSet('cas', 'wrong', 'second'))).toBe('first');
      expect(dec(await b!.compareSet('cas', 'first', 'second'))).toBe('second');
      expect(await a!.numKeys()).toBe(1);
    });
    it('rendezvous: every rank joins, or the error names the ranks that did not', async () => {
      const stores = await make(3);
      await Promise.all(stores.map((s, rank) => rendezvous(s, { rank, worldSize: 3, localRank: rank, localWorldSize: 3 }, 2000)));
      const err = await rendezvous(stores[0]!, { rank: 0, worldSize: 4, localRank: 0, localWorldSize: 4 }, 100, 'other').catch((e: Error) => e);
      expect((err as Error).message).toBe('initDistributed: rank(s) 1, 2, 3 of 4 did not join within 100 ms');
    });
  });
}

contract('TCPStore (127.0.0.1, random port)', (n, t) => tcpStores(n, t));
contract('MemoryStore', async (n) => {
  const s = new MemoryStore({ timeoutMs: 5000 });
  return Array.from({ length: n }, () => s);
});

describe('TCPStore connection errors', () => {
  it('a client with no server gives up after its timeout naming the address', async () => {
    const probe = await TCPStore.create({ host: '127.0.0.1', port: 0, isServer: true, listenHost: '127.0.0.1' });
    const port = probe.port;
    await probe.close();
    await expect(TCPStore.create({ host: '127.0.0.1', port, timeoutMs: 200 })).rejects.toThrow(
      new RegExp(`could not connect to 127\\.0\\.0\\.1:${port} within 200 ms`),
    );
  });
  it('a client sees a clear error when the server goes away', async () => {
    const [server, client] = await tcpStores(2);
    const pending = client!.get('never-set');
    await server!.close();
    await expect(pending).rejects.toThrow(/connection lost/);
  });
});
