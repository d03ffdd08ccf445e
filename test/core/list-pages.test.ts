import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ListOrder,
  mergePages,
  type ObjectPage,
  type SizedItem,
  takeWithinBudget,
  utf8Length,
} from "../../src/core/list-pages";

/** An object's answer as the shards and the coordinator give it: items after the cursor, within count and bytes. */
function objectPage(
  items: SizedItem[],
  order: ListOrder,
  after: string | null,
  limit: number,
  budget: number,
): ObjectPage<SizedItem> {
  const sorted = [...items].sort((a, b) => (a.key < b.key ? -1 : 1));
  if (order === "desc") {
    sorted.reverse();
  }
  const rest =
    after === null ? sorted : sorted.filter((i) => (order === "asc" ? i.key > after : i.key < after));
  return takeWithinBudget(rest, limit, budget);
}

/** Walks every page of the merged list; the pages. */
function walk(objects: SizedItem[][], order: ListOrder, limit: number, budget: number): SizedItem[][] {
  const pages: SizedItem[][] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = mergePages(
      objects.map((items) => objectPage(items, order, cursor, limit, budget)),
      order,
      limit,
      budget,
    );
    pages.push(page.items);
    const last = page.items[page.items.length - 1];
    if (!page.more || last === undefined) {
      return pages;
    }
    cursor = last.key;
    if (pages.length > 10_000) {
      throw new Error("the walk does not end");
    }
  }
}

/** Objects holding distinct keys (as task ids, node ids and election names are), with sizes. */
const objectsArb = fc
  .uniqueArray(
    fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 120 }), fc.nat(3)),
    {
      selector: ([key]) => key,
      maxLength: 60,
    },
  )
  .map((rows) => {
    const objects: SizedItem[][] = [[], [], [], []];
    for (const [key, bytes, object] of rows) {
      objects[object]!.push({ key, bytes });
    }
    return objects;
  });

describe("pages merged across objects", () => {
  it("concatenated, they are the whole list in order: no duplicate, no gap; each within count and budget", () => {
    fc.assert(
      fc.property(
        objectsArb,
        fc.constantFrom<ListOrder>("asc", "desc"),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 400 }),
        (objects, order, limit, budget) => {
          const pages = walk(objects, order, limit, budget);
          const expected = objects.flat().sort((a, b) => (a.key < b.key ? -1 : 1));
          if (order === "desc") {
            expected.reverse();
          }
          expect(pages.flat().map((i) => i.key)).toEqual(expected.map((i) => i.key));
          for (const page of pages) {
            expect(page.length).toBeLessThanOrEqual(limit);
            // Over the budget only as a lone item larger than the budget itself.
            const bytes = page.reduce((sum, i) => sum + i.bytes, 0);
            expect(bytes <= budget || page.length === 1).toBe(true);
            if (expected.length > 0) {
              expect(page.length).toBeGreaterThan(0);
            }
          }
        },
      ),
      { seed: 20261130, numRuns: 500 },
    );
  });

  it("cuts at the least advanced object that stopped early", () => {
    const a = { items: [{ key: "z", bytes: 1 }], more: true };
    const b = {
      items: [
        { key: "y", bytes: 1 },
        { key: "x", bytes: 1 },
        { key: "w", bytes: 1 },
      ],
      more: false,
    };
    // Object a may hold "y"..."a" items after "z": nothing of b below "z" may be listed yet.
    expect(mergePages([a, b], "desc", 10, 100)).toEqual({ items: [{ key: "z", bytes: 1 }], more: true });
  });

  it("measures UTF-8 bytes as TextEncoder does", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (text) => {
        expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
      }),
      { seed: 20261130, numRuns: 300 },
    );
    expect(utf8Length("\ud800x")).toBe(new TextEncoder().encode("\ud800x").length);
  });
});
