/**
 * Pages of lists that span objects (tasks and nodes across region shards, elections at the
 * coordinator), bounded by count and by bytes. Pure: the objects measure and the edge merges.
 *
 * Every item has a key (task id, node id, election name) that orders the list the same way in every
 * object, and the cursor is the key of a page's last item. An object answers the items after the
 * cursor in list order, as many as fit both the count and the byte budget, and says whether it had
 * more. The edge merges those answers into one page that holds no gap: an item is kept only when
 * every object that stopped early has answered past it.
 */

/** Bytes a reply may add around its items (`{"tasks":[`, the cursor, and the like): kept out of the items' budget. */
export const PAGE_WRAPPER_BYTES = 512;

/** The most bytes any object puts in one answer, whatever it is asked: far below the 32 MiB a Durable Object call carries. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** The order of a list: by key, descending (tasks: newest first) or ascending (nodes, elections). */
export type ListOrder = "asc" | "desc";

/** An item with its key and its size in the reply (UTF-8 bytes of its JSON, the comma after it included). */
export interface SizedItem {
  key: string;
  bytes: number;
}

/** One object's answer: items in list order, and whether it holds more after the last one. */
export interface ObjectPage<T extends SizedItem> {
  items: T[];
  more: boolean;
}

/** UTF-8 bytes of a string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      bytes += 1;
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4; // a surrogate pair is one 4-byte character
        i++;
      } else {
        bytes += 3; // a lone surrogate is written as U+FFFD
      }
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

/** Bytes left for items when a reply may hold `budget` bytes in all. */
export function itemBudget(budget: number): number {
  return Math.max(1, Math.min(budget, MAX_ANSWER_BYTES) - PAGE_WRAPPER_BYTES);
}

/**
 * The longest prefix of `items` (in list order) of at most `limit` items whose bytes fit `budget`;
 * the first item is always taken, so a page always moves on. `more` when anything was left.
 */
export function takeWithinBudget<T extends { bytes: number }>(
  items: readonly T[],
  limit: number,
  budget: number,
): { items: T[]; more: boolean } {
  const taken: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (taken.length >= limit || (taken.length > 0 && bytes + item.bytes > budget)) {
      break;
    }
    taken.push(item);
    bytes += item.bytes;
  }
  return { items: taken, more: taken.length < items.length };
}

/** Whether `a` comes before `b` in list order. */
function before(a: string, b: string, order: ListOrder): boolean {
  return order === "asc" ? a < b : a > b;
}

/**
 * One page from the answers of several objects: their items merged in list order, cut at the first
 * item that an object which stopped early has not answered past (it may hold an item before that
 * one), then at `limit` items and `budget` bytes. `more` is true when anything was cut or any object
 * stopped early; the next page starts after the last item's key.
 *
 * An object that stopped early must have answered at least one item (the objects always answer
 * their first item, stripped to fit when it must be), so the merged page always moves on.
 */
export function mergePages<T extends SizedItem>(
  pages: readonly ObjectPage<T>[],
  order: ListOrder,
  limit: number,
  budget: number,
): { items: T[]; more: boolean } {
  let frontier: string | null = null;
  for (const page of pages) {
    const last = page.items[page.items.length - 1];
    if (!page.more) {
      continue;
    }
    if (last === undefined) {
      throw new Error("an object that stopped early answered no item");
    }
    // The frontier is the least advanced of the objects that stopped early.
    if (frontier === null || before(last.key, frontier, order)) {
      frontier = last.key;
    }
  }
  const merged = pages
    .flatMap((p) => p.items)
    .sort((a, b) => (a.key === b.key ? 0 : before(a.key, b.key, order) ? -1 : 1));
  const safe = frontier === null ? merged : merged.filter((item) => !before(frontier, item.key, order));
  const page = takeWithinBudget(safe, limit, budget);
  return { items: page.items, more: page.more || safe.length < merged.length || frontier !== null };
}
