/**
 * An indexed binary min-heap of keys ordered by load ratio, so "who is least loaded and still has
 * room?" is O(1) and every load change is O(log n), with no scan over all keys.
 */

/** Load ratio for the heap order: capacity <= 0 can take nothing, so it sorts last. */
function ratio(inFlight: number, capacity: number): number {
  const r = capacity > 0 ? inFlight / capacity : Number.POSITIVE_INFINITY;
  // A NaN would break the heap order for every key; a key with a garbage load sorts last instead.
  return Number.isNaN(r) ? Number.POSITIVE_INFINITY : r;
}

/**
 * Keys ordered by inFlight / capacity (capacity 0 => Infinity), ties by insertion sequence
 * (earlier first; updating a key keeps its sequence number).
 *
 * Layout: each key owns a slot; per-slot data lives in parallel number arrays (no object per key,
 * no allocation on update) and `heap` holds slot numbers. Deleted slots are reused.
 */
export class LeastLoadedIndex<K> {
  private readonly slotOf = new Map<K, number>();
  private readonly keys: (K | undefined)[] = [];
  private readonly ratios: number[] = [];
  private readonly inFlights: number[] = [];
  private readonly capacities: number[] = [];
  private readonly seqs: number[] = [];
  /** heapPos[slot] = index of the slot in `heap`. */
  private readonly heapPos: number[] = [];
  private readonly heap: number[] = [];
  private readonly freeSlots: number[] = [];
  private nextSeq = 0;

  /** Insert or update; O(log n). */
  set(key: K, inFlight: number, capacity: number): void {
    const r = ratio(inFlight, capacity);
    const existing = this.slotOf.get(key);
    if (existing !== undefined) {
      const old = this.ratios[existing] as number;
      this.ratios[existing] = r;
      this.inFlights[existing] = inFlight;
      this.capacities[existing] = capacity;
      const pos = this.heapPos[existing] as number;
      if (r < old) {
        this.siftUp(pos);
      } else if (r > old) {
        this.siftDown(pos);
      }
      return;
    }
    const slot = this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.keys.length;
    this.keys[slot] = key;
    this.ratios[slot] = r;
    this.inFlights[slot] = inFlight;
    this.capacities[slot] = capacity;
    this.seqs[slot] = this.nextSeq++;
    const pos = this.heap.length;
    this.heap.push(slot);
    this.heapPos[slot] = pos;
    this.slotOf.set(key, slot);
    this.siftUp(pos);
  }

  /** Remove a key; O(log n). Returns whether it was present. */
  delete(key: K): boolean {
    const slot = this.slotOf.get(key);
    if (slot === undefined) {
      return false;
    }
    this.slotOf.delete(key);
    const pos = this.heapPos[slot] as number;
    const last = this.heap.pop() as number;
    if (last !== slot) {
      this.heap[pos] = last;
      this.heapPos[last] = pos;
      // The moved slot may belong above or below `pos`; at most one of these moves it.
      this.siftUp(pos);
      this.siftDown(this.heapPos[last] as number);
    }
    this.keys[slot] = undefined;
    this.freeSlots.push(slot);
    return true;
  }

  /** Whether the key is in the index. */
  has(key: K): boolean {
    return this.slotOf.has(key);
  }

  /** Number of keys. */
  get size(): number {
    return this.heap.length;
  }

  /**
   * Least-loaded key that has room (inFlight < capacity), or undefined. O(1): every other key has a
   * ratio >= the top's, so if the top is full (ratio >= 1) every key is full.
   */
  peek(): K | undefined {
    if (this.heap.length === 0) {
      return undefined;
    }
    const top = this.heap[0] as number;
    return (this.inFlights[top] as number) < (this.capacities[top] as number) ? this.keys[top] : undefined;
  }

  /** Least-loaded key whether or not it has room, or undefined when empty. O(1). */
  peekAny(): K | undefined {
    const top = this.heap[0];
    return top === undefined ? undefined : this.keys[top];
  }

  /** The load ratio of a key (Infinity when its capacity is 0), or undefined. */
  ratioOf(key: K): number | undefined {
    const slot = this.slotOf.get(key);
    return slot === undefined ? undefined : this.ratios[slot];
  }

  /** Heap order: smaller ratio first, then earlier insertion. */
  private less(a: number, b: number): boolean {
    const ra = this.ratios[a] as number;
    const rb = this.ratios[b] as number;
    return ra < rb || (ra === rb && (this.seqs[a] as number) < (this.seqs[b] as number));
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    const slot = heap[start] as number;
    let pos = start;
    while (pos > 0) {
      const parentPos = (pos - 1) >> 1;
      const parent = heap[parentPos] as number;
      if (!this.less(slot, parent)) {
        break;
      }
      heap[pos] = parent;
      this.heapPos[parent] = pos;
      pos = parentPos;
    }
    heap[pos] = slot;
    this.heapPos[slot] = pos;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    const slot = heap[start] as number;
    let pos = start;
    for (;;) {
      const left = 2 * pos + 1;
      if (left >= n) {
        break;
      }
      const right = left + 1;
      let child = left;
      if (right < n && this.less(heap[right] as number, heap[left] as number)) {
        child = right;
      }
      const childSlot = heap[child] as number;
      if (!this.less(childSlot, slot)) {
        break;
      }
      heap[pos] = childSlot;
      this.heapPos[childSlot] = pos;
      pos = child;
    }
    heap[pos] = slot;
    this.heapPos[slot] = pos;
  }
}
