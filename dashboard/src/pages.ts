/**
 * Reading a paged list to its end, within a cap: the API pages nodes and elections by count and
 * bytes, and the dashboard wants every live node and the elections it can show. Pure but for the
 * `next` callback it is given.
 */

/** One page of a list: its items and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  cursor: string | null;
}

/**
 * The items of `first` and of every page after it, until the last page or until `maxItems` are
 * held; `complete` is false when the cap stopped the walk (the view then says some are not shown).
 */
export async function collectPages<T>(
  first: Page<T>,
  next: (cursor: string) => Promise<Page<T>>,
  maxItems: number,
): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let page: Page<T> | null = first;
  let complete = true;
  while (page !== null) {
    const room = maxItems - items.length;
    if (page.items.length > room) {
      items.push(...page.items.slice(0, room));
      complete = false;
      break;
    }
    items.push(...page.items);
    const cursor: string | null = page.cursor;
    if (cursor === null || page.items.length === 0) {
      break; // the last page (or one that moves nowhere, which would loop for ever)
    }
    if (items.length >= maxItems) {
      complete = false;
      break;
    }
    page = await next(cursor);
  }
  return { items, complete };
}
