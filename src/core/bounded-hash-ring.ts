/**
 * Consistent hashing with virtual nodes and bounded loads (Mirrokni, Thorup, Zadimoghaddam,
 * "Consistent Hashing with Bounded Loads", SODA 2018): a key goes to the first node clockwise from
 * its hash whose load is below ceil(c * m / n), so no node ever holds more than c times the average.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Scratch buffer for UTF-8 bytes; grown on demand and reused, so hashing does not allocate. */
let utf8Scratch = new Uint8Array(256);

/** Writes the UTF-8 bytes of `s` into utf8Scratch (lone surrogates as U+FFFD, like TextEncoder). */
function encodeUtf8(s: string): number {
  const len = s.length;
  if (utf8Scratch.length < len * 3) {
    let size = utf8Scratch.length;
    while (size < len * 3) {
      size *= 2;
    }
    utf8Scratch = new Uint8Array(size);
  }
  const out = utf8Scratch;
  let p = 0;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
    } else if ((c & 0xfc00) === 0xd800 && i + 1 < len && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[p++] = 0xf0 | (cp >> 18);
      out[p++] = 0x80 | ((cp >> 12) & 0x3f);
      out[p++] = 0x80 | ((cp >> 6) & 0x3f);
      out[p++] = 0x80 | (cp & 0x3f);
    } else {
      if ((c & 0xf800) === 0xd800) {
        c = 0xfffd;
      }
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

/**
 * MurmurHash3 x86_32 (seed 0) of the UTF-8 bytes of `s`, as an unsigned 32-bit integer. Matches the
 * reference implementation (and e.g. Python's `mmh3.hash(s, 0, signed=False)`), so other languages
 * can place keys on the same ring.
 */
export function hash32(s: string): number {
  const len = encodeUtf8(s);
  const bytes = utf8Scratch;
  let h = 0;
  const blocksEnd = len & ~3;
  for (let i = 0; i < blocksEnd; i += 4) {
    let k =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) {
      k ^= (bytes[blocksEnd + 2] as number) << 16;
    }
    if (tail >= 2) {
      k ^= (bytes[blocksEnd + 1] as number) << 8;
    }
    k ^= bytes[blocksEnd] as number;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Default virtual nodes per node: 160, as in libketama. Each node's share of the ring then has a
 * relative standard deviation of about 1/sqrt(160) ~ 8%, and a ring of 300 nodes is 48k points
 * (192 KB of Uint32), a cheap build.
 */
export const DEFAULT_VNODES = 160;

/** Default load bound factor c: no node holds more than ceil(1.25 x average) keys. */
export const DEFAULT_LOAD_FACTOR = 1.25;

/** vnodes: virtual nodes per node (integer >= 1); c: load bound factor (>= 1). */
export interface RingOptions {
  vnodes?: number;
  c?: number;
}

/** hash * n + rank must stay an exact double (< 2^53), so at most 2^21 distinct nodes. */
const MAX_NODES = 2 ** 21;

/**
 * An immutable ring. Point i is (points[i], nodes[owners[i]]), sorted by hash and then by node name,
 * so the ring depends only on the set of node names, not on their order, and adding a node only
 * inserts its own points.
 */
export class BoundedHashRing {
  /** The distinct node names, in first-seen order. */
  readonly nodes: readonly string[];
  /** Virtual nodes per node. */
  readonly vnodes: number;
  /** Load bound factor. */
  readonly c: number;
  private readonly points: Uint32Array;
  private readonly owners: Uint32Array;
  /** fullStamp[node] === epoch: node already found full during the current ownerWithLoads walk. */
  private readonly fullStamp: Uint32Array;
  private epoch = 0;

  /** Builds the ring in O(V log V) for V = nodes x vnodes. Duplicate node names are ignored. */
  constructor(nodes: readonly string[], options: RingOptions = {}) {
    const vnodes = options.vnodes ?? DEFAULT_VNODES;
    const c = options.c ?? DEFAULT_LOAD_FACTOR;
    if (!Number.isInteger(vnodes) || vnodes < 1) {
      throw new RangeError(`vnodes must be an integer >= 1, got ${vnodes}`);
    }
    if (!(c >= 1) || !Number.isFinite(c)) {
      throw new RangeError(`c must be a finite number >= 1, got ${c}`);
    }
    const distinct = [...new Set(nodes)];
    if (distinct.length > MAX_NODES) {
      throw new RangeError(`at most ${MAX_NODES} nodes, got ${distinct.length}`);
    }
    this.nodes = Object.freeze(distinct);
    this.vnodes = vnodes;
    this.c = c;
    const n = distinct.length;
    const byName = distinct.map((_, i) => i).sort((a, b) => compareStrings(distinct[a], distinct[b]));
    const rankToNode = Uint32Array.from(byName);
    // Sort (hash, rank) pairs packed into one exact double: a numeric typed-array sort, no objects.
    const packed = new Float64Array(n * vnodes);
    let p = 0;
    for (let rank = 0; rank < n; rank++) {
      const name = distinct[rankToNode[rank] as number] as string;
      for (let v = 0; v < vnodes; v++) {
        packed[p++] = hash32(`${name}#${v}`) * n + rank;
      }
    }
    packed.sort();
    this.points = new Uint32Array(packed.length);
    this.owners = new Uint32Array(packed.length);
    for (let i = 0; i < packed.length; i++) {
      const key = packed[i] as number;
      const rank = key % n;
      this.points[i] = (key - rank) / n;
      this.owners[i] = rankToNode[rank] as number;
    }
    this.fullStamp = new Uint32Array(n);
  }

  /** ceil(c * m / n): the most keys a node may hold once m keys are placed (0 for an empty ring). */
  capacityFor(m: number): number {
    const n = this.nodes.length;
    return n === 0 ? 0 : Math.ceil((this.c * m) / n);
  }

  /** Plain consistent hashing: first vnode clockwise from hash32(key). undefined if empty. O(log V). */
  ownerOf(key: string): string | undefined {
    if (this.points.length === 0) {
      return undefined;
    }
    return this.nodes[this.owners[this.firstPointAtOrAfter(hash32(key))] as number];
  }

  /**
   * Bounded loads: walk clockwise from hash32(key), skipping nodes whose load >= capacityFor(totalLoad + 1).
   * undefined if empty. Calls loadOf at most once per distinct node. When the loads are consistent
   * (they sum to totalLoad) some node always has room; if none does, falls back to ownerOf(key).
   */
  ownerWithLoads(key: string, loadOf: (node: string) => number, totalLoad: number): string | undefined {
    const total = this.points.length;
    if (total === 0) {
      return undefined;
    }
    const n = this.nodes.length;
    const cap = this.capacityFor(totalLoad + 1);
    const start = this.firstPointAtOrAfter(hash32(key));
    this.epoch = (this.epoch + 1) >>> 0;
    if (this.epoch === 0) {
      this.fullStamp.fill(0);
      this.epoch = 1;
    }
    // A local copy: a reentrant call from loadOf bumps this.epoch, which only costs extra loadOf calls.
    const epoch = this.epoch;
    let full = 0;
    let i = start;
    for (let step = 0; step < total && full < n; step++) {
      const node = this.owners[i] as number;
      if (this.fullStamp[node] !== epoch) {
        const name = this.nodes[node] as string;
        if (loadOf(name) < cap) {
          return name;
        }
        this.fullStamp[node] = epoch;
        full++;
      }
      i = i + 1 === total ? 0 : i + 1;
    }
    return this.nodes[this.owners[start] as number];
  }

  /**
   * Assign keys in order with bounded loads (each key's load is 1); returns key -> node.
   * A repeated key keeps its first assignment and adds no load.
   */
  assign(keys: Iterable<string>): Map<string, string> {
    const result = new Map<string, string>();
    const total = this.points.length;
    if (total === 0) {
      return result;
    }
    const nodes = this.nodes;
    const owners = this.owners;
    const loads = new Uint32Array(nodes.length);
    let placed = 0;
    for (const key of keys) {
      if (result.has(key)) {
        continue;
      }
      const cap = this.capacityFor(placed + 1);
      const start = this.firstPointAtOrAfter(hash32(key));
      let i = start;
      let owner = owners[i] as number;
      // Terminates within one lap: n * cap >= c * (placed + 1) > placed, so some node is below cap.
      for (let step = 0; (loads[owner] as number) >= cap && step < total; step++) {
        i = i + 1 === total ? 0 : i + 1;
        owner = owners[i] as number;
      }
      loads[owner] = (loads[owner] as number) + 1;
      placed++;
      result.set(key, nodes[owner] as string);
    }
    return result;
  }

  /** Index of the first point >= h, wrapping to 0 past the end (the ring must be non-empty). */
  private firstPointAtOrAfter(h: number): number {
    const points = this.points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo === points.length ? 0 : lo;
  }
}

/** Code-unit order, independent of locale. */
function compareStrings(a: string | undefined, b: string | undefined): number {
  const x = a ?? "";
  const y = b ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}
