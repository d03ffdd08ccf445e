import { describe, expect, it } from "vitest";
import { collectPages, type Page } from "../../dashboard/src/pages";

/** A list of `n` numbers served `per` a page, the cursor being the last number served. */
function pager(n: number, per: number) {
  const calls: string[] = [];
  const page = (after: number): Page<number> => {
    const items = Array.from({ length: n }, (_, i) => i)
      .filter((i) => i > after)
      .slice(0, per);
    const last = items[items.length - 1];
    return { items, cursor: last !== undefined && last < n - 1 ? String(last) : null };
  };
  const next = async (cursor: string) => {
    calls.push(cursor);
    return page(Number(cursor));
  };
  return { first: page(-1), next, calls };
}

describe("the dashboard reads paged lists to their end, within a cap", () => {
  it("follows the cursor to the last page", async () => {
    const { first, next, calls } = pager(12, 5);
    expect(await collectPages(first, next, 100)).toEqual({
      items: Array.from({ length: 12 }, (_, i) => i),
      complete: true,
    });
    expect(calls).toEqual(["4", "9"]);
  });

  it("stops at the cap and says the list is not complete", async () => {
    const { first, next } = pager(12, 5);
    expect(await collectPages(first, next, 7)).toEqual({ items: [0, 1, 2, 3, 4, 5, 6], complete: false });
    const exact = pager(10, 5);
    expect(await collectPages(exact.first, exact.next, 5)).toEqual({
      items: [0, 1, 2, 3, 4],
      complete: false,
    });
  });

  it("takes an unpaged answer (an older server: no cursor) as the whole list", async () => {
    expect(
      await collectPages({ items: [1, 2], cursor: null }, async () => ({ items: [9], cursor: null }), 5),
    ).toEqual({
      items: [1, 2],
      complete: true,
    });
  });
});
