// Rendezvous plumbing: the key/value store Gloo meets through, and this rank's address.
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import os from 'node:os';

/**
 * The store operations the gloo backend uses. @ds/comm's `Store` (its TCPStore) fits, and so
 * does this package's TcpStoreClient. `get` waits for the key to exist.
 */
export interface StoreLike {
  set(key: string, value: Uint8Array): Promise<void>;
  get(key: string, timeoutMs?: number): Promise<Uint8Array>;
  /** Resolves when every key exists (optional: without it `get` does the waiting). */
  wait?(keys: readonly string[], timeoutMs?: number): Promise<void>;
}

/** Adapts a store to the callback the binding calls from its comm thread during rendezvous. */
export function storeHandler(store: StoreLike) {
  return async (op: 'set' | 'get' | 'wait', key: string | string[], value: Uint8Array | null, timeoutMs: number): Promise<Uint8Array | void> => {
    switch (op) {
      case 'set':
        await store.set(key as string, value ?? new Uint8Array(0));
        return;
      case 'get':
        if (store.wait) await store.wait([key as string], timeoutMs);
        return store.get(key as string, timeoutMs);
      case 'wait': {
        const keys = key as string[];
        if (store.wait) await store.wait(keys, timeoutMs);
        else for (const k of keys) await store.get(k, timeoutMs);
        return;
      }
    }
  };
}

function isLoopback(addr: string): boolean {
  return addr === 'localhost' || addr === '::1' || addr.startsWith('127.');
}

/**
 * The local address peers can reach this rank on: the address of the interface that routes to
 * `masterAddr` (found with a connected UDP socket, which sends nothing), or 127.0.0.1 when the
 * master is this machine's loopback.
 */
export async function localAddressFor(masterAddr: string, masterPort: number): Promise<string> {
  if (isLoopback(masterAddr)) return '127.0.0.1';
  let target = masterAddr;
  if (net.isIP(masterAddr) === 0) {
    try {
      target = (await dns.lookup(masterAddr)).address;
    } catch (err) {
      throw new Error(`gloo: cannot resolve MASTER_ADDR '${masterAddr}': ${(err as Error).message}`);
    }
    if (isLoopback(target)) {
      // The master's host name maps to a loopback address here (Debian's /etc/hosts does that
      // for the machine's own name). Fine when every rank is on this host; across hosts peers
      // need a real address, so take this host's first external one.
      const local = Number(process.env.LOCAL_WORLD_SIZE);
      const world = Number(process.env.WORLD_SIZE);
      if (!(local > 0 && world > local)) return '127.0.0.1';
      const external = Object.values(os.networkInterfaces())
        .flat()
        .find((a) => a && !a.internal && a.family === 'IPv4');
      if (!external) throw new Error(`gloo: MASTER_ADDR '${masterAddr}' is this host but resolves to ${target} and no external address was found; set DS_GLOO_IFADDR`);
      return external.address;
    }
  }
  const family = net.isIPv6(target) ? 'udp6' : 'udp4';
  const socket = dgram.createSocket(family);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(masterPort || 9, target, () => resolve());
    });
    return socket.address().address;
  } catch (err) {
    throw new Error(
      `gloo: no route from this host to MASTER_ADDR ${masterAddr} (${(err as Error).message}); ` +
        'set DS_GLOO_IFADDR to this rank\'s reachable address or DS_GLOO_IFNAME to its interface',
    );
  } finally {
    socket.close();
  }
}
