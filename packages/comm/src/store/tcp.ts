// TCPStore: the rendezvous store process backends use to find each other (like torch's
// TCPStore). Rank 0 serves it on MASTER_ADDR:MASTER_PORT; every rank (rank 0 included) is a
// client. The protocol is newline-delimited JSON over node:net; values travel as base64.
import net from 'node:net';
import { StoreTimeoutError } from '../errors.js';
import type { Store } from '../types.js';
import { DEFAULT_STORE_TIMEOUT_MS, KVState, toBytes } from './memory.js';

interface Request {
  id: number;
  op: 'set' | 'get' | 'add' | 'wait' | 'delete' | 'cas' | 'numKeys';
  key?: string;
  keys?: string[];
  value?: string;
  expected?: string;
  amount?: number;
  timeoutMs?: number;
}
interface Response {
  id: number;
  value?: string;
  num?: number;
  error?: { name: string; message: string; missingKeys?: string[] };
}

const b64 = (v: Uint8Array): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** Split a socket's byte stream into lines and hand each parsed JSON object to `onMessage`. */
function lines<T>(socket: net.Socket, onMessage: (m: T) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line) onMessage(JSON.parse(line) as T);
    }
  });
}

/** The server half (rank 0). */
export class TCPStoreServer {
  readonly state = new KVState();
  #server: net.Server;
  #sockets = new Set<net.Socket>();
  port = 0;

  private constructor() {
    this.#server = net.createServer((socket) => this.#serve(socket));
  }

  /** Listen on host:port (port 0 picks a free one; read `.port`). */
  static listen(port: number, host = '0.0.0.0'): Promise<TCPStoreServer> {
    const s = new TCPStoreServer();
    return new Promise((resolve, reject) => {
      s.#server.once('error', (e: NodeJS.ErrnoException) => {
        reject(new Error(`TCPStore: cannot listen on ${host}:${port} (${e.code ?? e.message}); is another job using MASTER_PORT=${port}?`, { cause: e }));
      });
      s.#server.listen(port, host, () => {
        s.port = (s.#server.address() as net.AddressInfo).port;
        resolve(s);
      });
    });
  }

  #serve(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    lines<Request>(socket, (req) => {
      void this.#handle(req).then((res) => {
        if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`);
      });
    });
  }

  async #handle(req: Request): Promise<Response> {
    const st = this.state;
    try {
      switch (req.op) {
        case 'set':
          st.set(req.key!, unb64(req.value!));
          return { id: req.id };
        case 'get':
          await st.waitFor([req.key!], req.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS);
          return { id: req.id, value: b64(st.data.get(req.key!)!) };
        case 'add':
          return { id: req.id, num: st.add(req.key!, req.amount ?? 0) };
        case 'wait':
          await st.waitFor(req.keys ?? [], req.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS);
          return { id: req.id };
        case 'delete':
          return { id: req.id, num: st.delete(req.key!) ? 1 : 0 };
        case 'cas':
          return { id: req.id, value: b64(st.compareSet(req.key!, unb64(req.expected!), unb64(req.value!))) };
        case 'numKeys':
          return { id: req.id, num: st.data.size };
        default:
          return { id: req.id, error: { name: 'Error', message: `unknown store op ${JSON.stringify((req as { op: unknown }).op)}` } };
      }
    } catch (e) {
      const err = e as Error & { missingKeys?: string[] };
      return { id: req.id, error: { name: err.name, message: err.message, missingKeys: err.missingKeys } };
    }
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export interface TCPStoreOptions {
  host: string;
  port: number;
  /** Start the server here (rank 0). With port 0 a free port is picked; read `store.port`. */
  isServer?: boolean;
  /** Interface the server listens on (default 0.0.0.0). */
  listenHost?: string;
  /** Timeout for connecting and for get/wait (default 5 minutes). */
  timeoutMs?: number;
}

/** A client of a TCPStoreServer (owning the server when created with isServer). */
export class TCPStore implements Store {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  #socket: net.Socket;
  #server: TCPStoreServer | null;
  #next = 1;
  #pending = new Map<number, { resolve: (r: Response) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #closed = false;

  private constructor(socket: net.Socket, host: string, port: number, timeoutMs: number, server: TCPStoreServer | null) {
    this.#socket = socket;
    this.host = host;
    this.port = port;
    this.timeoutMs = timeoutMs;
    this.#server = server;
    lines<Response>(socket, (res) => {
      const p = this.#pending.get(res.id);
      if (!p) return;
      this.#pending.delete(res.id);
      clearTimeout(p.timer);
      p.resolve(res);
    });
    const lost = (why: string): void => {
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`TCPStore ${host}:${port}: connection lost (${why})`));
      }
      this.#pending.clear();
    };
    socket.on('error', (e) => lost(e.message));
    socket.on('close', () => lost(this.#closed ? 'closed' : 'the server went away'));
  }

  /** Connect (retrying while the server starts) — and serve first when `isServer`. */
  static async create(opts: TCPStoreOptions): Promise<TCPStore> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
    const server = opts.isServer ? await TCPStoreServer.listen(opts.port, opts.listenHost) : null;
    const port = server ? server.port : opts.port;
    const host = opts.host;
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host, port }, () => resolve(s));
          s.once('error', reject);
        });
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        return new TCPStore(socket, host, port, timeoutMs, server);
      } catch (e) {
        lastError = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      }
      if (Date.now() + delay > deadline) {
        await server?.close();
        throw new Error(`TCPStore: could not connect to ${host}:${port} within ${timeoutMs} ms (${lastError}); is rank 0 running and MASTER_ADDR/MASTER_PORT the same on every rank?`);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  #request(req: Omit<Request, 'id'>, waitMs?: number): Promise<Response> {
    if (this.#closed) return Promise.reject(new Error('TCPStore: the store is closed'));
    const id = this.#next++;
    return new Promise<Response>((resolve, reject) => {
      const limit = (waitMs ?? this.timeoutMs) + 5000; // the server times waits out itself; this is a backstop
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`TCPStore ${this.host}:${this.port}: no answer to ${req.op} within ${limit} ms`));
      }, limit);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.write(`${JSON.stringify({ ...req, id })}\n`);
    }).then((res) => {
      if (res.error) {
        if (res.error.name === 'StoreTimeoutError') throw new StoreTimeoutError(res.error.message, res.error.missingKeys ?? []);
        throw new Error(res.error.message);
      }
      return res;
    });
  }

  async set(key: string, value: Uint8Array | string): Promise<void> {
    await this.#request({ op: 'set', key, value: b64(toBytes(value)) });
  }
  async get(key: string): Promise<Uint8Array> {
    return unb64((await this.#request({ op: 'get', key, timeoutMs: this.timeoutMs })).value!);
  }
  async add(key: string, amount: number): Promise<number> {
    return (await this.#request({ op: 'add', key, amount })).num!;
  }
  async wait(keys: readonly string[], timeoutMs = this.timeoutMs): Promise<void> {
    await this.#request({ op: 'wait', keys: [...keys], timeoutMs }, timeoutMs);
  }
  async delete(key: string): Promise<boolean> {
    return (await this.#request({ op: 'delete', key })).num === 1;
  }
  async compareSet(key: string, expected: Uint8Array | string, desired: Uint8Array | string): Promise<Uint8Array> {
    return unb64((await this.#request({ op: 'cas', key, expected: b64(toBytes(expected)), value: b64(toBytes(desired)) })).value!);
  }
  async numKeys(): Promise<number> {
    return (await this.#request({ op: 'numKeys' })).num!;
  }
  /** Close this client (and the server, when this client owns it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.end();
    this.#socket.destroy();
    await this.#server?.close();
  }
}
