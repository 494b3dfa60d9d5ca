// The control block of an in-process world: one SharedArrayBuffer of Int32 words that every
// rank (worker thread) maps. It holds rank liveness, the per-group arrival counters and call
// records (what each rank called at each sequence number), zone reader counts and the
// point-to-point message rings. No data moves through it, only synchronisation.
//
// Layout (word indices):
//   header            [0, 64)
//   rank status       RANK_BASE + r * RANK_STRIDE: state, text length, 256 bytes of text
//   zone readers      ZONE_BASE + (r * ZONES + z) * LINE: peers still reading rank r's zone z
//   group table       GROUP_TABLE + g: word offset of group g's block (0 = none)
//   p2p rings         ringBase + (src * world + dst) * ringStride
//   arena             group blocks, bump-allocated (Atomics.add on H_ARENA_TOP)

export const MAGIC = 0x44534331; // "DSC1"
export const LINE = 16; // words per cache line (64 bytes)
export const ZONES = 4; // two small double-buffered zones, one large zone and the shared-tensor arena per rank
export const TEXT_BYTES = 256;
const TEXT_WORDS = TEXT_BYTES / 4;

const H_MAGIC = 0;
const H_WORLD = 1;
const H_ARENA_TOP = 2;
const H_ARENA_END = 3;
const H_GROUP_COUNT = 4;
const H_MAX_GROUPS = 5;
const H_RING_CAP = 6;
const H_RING_BASE = 7;

export const RANK_BASE = 64;
const RANK_STRIDE = LINE + TEXT_WORDS;

/** Rank states in the status word. */
export const RANK_RUNNING = 0;
export const RANK_FINISHED = 1;
export const RANK_FAILED = 2;

// p2p ring: header line then `cap` entries of ENTRY words
export const ENTRY = 8;
export const E_STATE = 0; // 0 empty, 1 posted, 2 consumed
export const E_TAG = 1;
export const E_OFFSET = 2; // byte offset in the sender's heap (uint32)
export const E_BYTES = 3;
export const E_DTYPE = 4;
export const E_NUMEL = 5;
export const E_INDEX = 6; // absolute message index on this ring
export const R_HEAD = 0; // messages posted so far (sender)

// group block
const G_SIZE = 0;
const G_ABORTED = 1;
const G_ABORT_LEN = 2;
const G_ID = 3;
const G_ABORT_KIND = 4; // 1: a peer timed out, 2: any other failure
const G_TEXT = LINE; // abort text
const G_MEMBERS = LINE + TEXT_WORDS;

// record (two per member, by seq parity)
export const REC_SEQ = 0;
export const REC_HASH = 1;
export const REC_ZONE = 2;
export const REC_PARAM = 3;
export const REC_TEXT_LEN = 4;
export const REC_SPLITS = LINE; // inputSplits[n], outputSplits[n], then text

export interface ControlOptions {
  worldSize: number;
  maxGroups?: number;
  ringCapacity?: number;
  arenaWords?: number;
}

const pad = (w: number): number => Math.ceil(w / LINE) * LINE;

/** Typed access to a control block (created once by the launcher, mapped by every rank). */
export class Control {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly worldSize: number;
  readonly ringCap: number;
  readonly ringBase: number;
  readonly ringStride: number;
  readonly maxGroups: number;
  readonly groupTable: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
    if (this.i32[H_MAGIC] !== MAGIC) throw new Error('in-process control block: bad magic (not created by createControl)');
    this.worldSize = this.i32[H_WORLD]!;
    this.maxGroups = this.i32[H_MAX_GROUPS]!;
    this.ringCap = this.i32[H_RING_CAP]!;
    this.ringBase = this.i32[H_RING_BASE]!;
    this.ringStride = LINE + this.ringCap * ENTRY;
    this.groupTable = RANK_BASE + this.worldSize * RANK_STRIDE + pad(this.worldSize * ZONES * LINE);
  }

  // ---- ranks --------------------------------------------------------------------------------
  rankState(r: number): number {
    return Atomics.load(this.i32, RANK_BASE + r * RANK_STRIDE);
  }
  rankText(r: number): string {
    const base = RANK_BASE + r * RANK_STRIDE;
    return this.readText((base + LINE) * 4, this.i32[base + 1]!);
  }
  /** Mark a rank finished or failed (first writer wins) and wake everyone waiting on anything. */
  setRankState(r: number, state: number, text: string): boolean {
    const base = RANK_BASE + r * RANK_STRIDE;
    if (Atomics.load(this.i32, base) !== RANK_RUNNING) return false;
    this.i32[base + 1] = this.writeText((base + LINE) * 4, text);
    const won = Atomics.compareExchange(this.i32, base, RANK_RUNNING, state) === RANK_RUNNING;
    this.wakeAll();
    return won;
  }

  // ---- zones --------------------------------------------------------------------------------
  zoneWord(r: number, zone: number): number {
    return RANK_BASE + this.worldSize * RANK_STRIDE + (r * ZONES + zone) * LINE;
  }

  // ---- groups -------------------------------------------------------------------------------
  /** Allocate and initialise a group block; returns its id. */
  createGroup(members: readonly number[]): number {
    const id = Atomics.add(this.i32, H_GROUP_COUNT, 1);
    if (id >= this.maxGroups) {
      throw new Error(`in-process backend: more than ${this.maxGroups} process groups; pass a larger maxGroups to launchInProcess`);
    }
    const n = members.length;
    const words = pad(G_MEMBERS + n) + n * LINE + 2 * n * this.recordWords(n);
    const base = Atomics.add(this.i32, H_ARENA_TOP, words);
    if (base + words > this.i32[H_ARENA_END]!) {
      throw new Error(`in-process backend: the control block has no room for another group of ${n} ranks (too many process groups were created)`);
    }
    this.i32.fill(0, base, base + words);
    this.i32[base + G_SIZE] = n;
    this.i32[base + G_ID] = id;
    for (let i = 0; i < n; i++) this.i32[base + G_MEMBERS + i] = members[i]!;
    Atomics.store(this.i32, this.groupTable + id, base);
    return id;
  }

  groupBase(id: number): number {
    const base = Atomics.load(this.i32, this.groupTable + id);
    if (!base) throw new Error(`in-process backend: unknown group id ${id}`);
    return base;
  }
  recordWords(n: number): number {
    return pad(REC_SPLITS + 2 * n + TEXT_WORDS);
  }
  groupMembers(base: number): number[] {
    const n = this.i32[base + G_SIZE]!;
    return Array.from(this.i32.subarray(base + G_MEMBERS, base + G_MEMBERS + n));
  }
  counterWord(base: number, n: number, m: number): number {
    return base + pad(G_MEMBERS + n) + m * LINE;
  }
  recordBase(base: number, n: number, m: number, parity: number): number {
    return base + pad(G_MEMBERS + n) + n * LINE + (2 * m + parity) * this.recordWords(n);
  }
  /** Mark a group aborted with a reason (first writer wins) and wake its waiters. */
  abortGroup(base: number, reason: string, kind: 'timeout' | 'error' = 'error'): void {
    if (Atomics.compareExchange(this.i32, base + G_ABORTED, 0, 2) !== 0) return;
    this.i32[base + G_ABORT_LEN] = this.writeText((base + G_TEXT) * 4, reason);
    this.i32[base + G_ABORT_KIND] = kind === 'timeout' ? 1 : 2;
    Atomics.store(this.i32, base + G_ABORTED, 1);
    const n = this.i32[base + G_SIZE]!;
    for (let m = 0; m < n; m++) Atomics.notify(this.i32, this.counterWord(base, n, m));
  }
  /** Whether the group was aborted because a rank timed out waiting in it. */
  abortedByTimeout(base: number): boolean {
    return Atomics.load(this.i32, base + G_ABORTED) === 1 && this.i32[base + G_ABORT_KIND] === 1;
  }
  /** The abort reason, or null while the group is healthy. */
  abortReason(base: number): string | null {
    const s = Atomics.load(this.i32, base + G_ABORTED);
    if (s === 0) return null;
    if (s === 2) return 'aborted by a peer';
    return this.readText((base + G_TEXT) * 4, this.i32[base + G_ABORT_LEN]!);
  }

  // ---- p2p rings ----------------------------------------------------------------------------
  ringWord(src: number, dst: number): number {
    return this.ringBase + (src * this.worldSize + dst) * this.ringStride;
  }
  entryWord(ring: number, index: number): number {
    return ring + LINE + (index % this.ringCap) * ENTRY;
  }

  /** Wake every waiter (used when a rank dies so that nobody sleeps through it). */
  wakeAll(): void {
    const count = Math.min(Atomics.load(this.i32, H_GROUP_COUNT), this.maxGroups);
    for (let g = 0; g < count; g++) {
      const base = Atomics.load(this.i32, this.groupTable + g);
      if (!base) continue;
      const n = this.i32[base + G_SIZE]!;
      for (let m = 0; m < n; m++) Atomics.notify(this.i32, this.counterWord(base, n, m));
    }
    for (let r = 0; r < this.worldSize; r++) for (let z = 0; z < ZONES; z++) Atomics.notify(this.i32, this.zoneWord(r, z));
    for (let s = 0; s < this.worldSize; s++) {
      for (let d = 0; d < this.worldSize; d++) {
        const ring = this.ringWord(s, d);
        Atomics.notify(this.i32, ring + R_HEAD);
        for (let e = 0; e < this.ringCap; e++) Atomics.notify(this.i32, ring + LINE + e * ENTRY + E_STATE);
      }
    }
  }

  // ---- text ---------------------------------------------------------------------------------
  writeText(byteOffset: number, text: string, max = TEXT_BYTES): number {
    const { written } = encoder.encodeInto(text, this.u8.subarray(byteOffset, byteOffset + max));
    return written;
  }
  readText(byteOffset: number, len: number): string {
    return decoder.decode(this.u8.slice(byteOffset, byteOffset + Math.min(len, TEXT_BYTES)));
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Allocate a control block for a world of `worldSize` ranks (the world group is group 0). */
export function createControl(opts: ControlOptions): Control {
  const n = opts.worldSize;
  const maxGroups = opts.maxGroups ?? 1024;
  const ringCap = opts.ringCapacity ?? 64;
  const groupTable = RANK_BASE + n * RANK_STRIDE + pad(n * ZONES * LINE);
  const ringBase = pad(groupTable + maxGroups);
  const ringWords = n * n * (LINE + ringCap * ENTRY);
  const arenaBase = ringBase + ringWords;
  // room for 64 world-sized groups plus many small ones
  const worldGroupWords = pad(G_MEMBERS + n) + n * LINE + 2 * n * pad(REC_SPLITS + 2 * n + TEXT_WORDS);
  const arenaWords = opts.arenaWords ?? (1 << 18) + 64 * worldGroupWords;
  const sab = new SharedArrayBuffer((arenaBase + arenaWords) * 4);
  const i32 = new Int32Array(sab);
  i32[H_WORLD] = n;
  i32[H_ARENA_TOP] = arenaBase;
  i32[H_ARENA_END] = arenaBase + arenaWords;
  i32[H_MAX_GROUPS] = maxGroups;
  i32[H_RING_CAP] = ringCap;
  i32[H_RING_BASE] = ringBase;
  i32[H_MAGIC] = MAGIC;
  const control = new Control(sab);
  control.createGroup(Array.from({ length: n }, (_, i) => i));
  return control;
}
