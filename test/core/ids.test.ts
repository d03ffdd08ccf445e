import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatNodeId,
  formatTaskId,
  ID_ALPHABET,
  nextIdChars,
  regionOfNodeId,
  regionOfTaskId,
} from "../../src/core/ids";

const arbRegion = fc.stringMatching(/^[a-z0-9][a-z0-9._:-]{0,127}$/);
const arbRandom = fc.stringMatching(/^[0-9a-hjkmnp-tv-z]{12}$/);
const IDENTIFIER = /^[a-z0-9][a-z0-9._:-]{0,127}$/;

describe("ids that name their shard", () => {
  it("reads back the region of every task and node id, whatever the region's characters", () => {
    fc.assert(
      fc.property(arbRegion, arbRandom, fc.integer({ min: 0, max: 2 ** 45 - 1 }), (region, random, now) => {
        expect(regionOfTaskId(formatTaskId(region, now, random))).toBe(region);
        expect(regionOfNodeId(formatNodeId(region, random))).toBe(region);
        // A task id is not a node id, and the other way round.
        expect(regionOfNodeId(formatTaskId(region, now, random))).toBeNull();
        expect(regionOfTaskId(formatNodeId(region, random))).toBeNull();
      }),
    );
  });

  it("task ids sort by time; node ids are valid candidate names for regions up to 110 characters", () => {
    fc.assert(
      fc.property(
        arbRegion,
        arbRandom,
        arbRandom,
        fc.nat(2 ** 44),
        fc.nat(2 ** 44),
        (region, r1, r2, a, b) => {
          fc.pre(a !== b);
          const [x, y] = [formatTaskId(region, a, r1), formatTaskId(region, b, r2)];
          expect(x < y).toBe(a < b);
          const node = formatNodeId(region, r1);
          expect(IDENTIFIER.test(node)).toBe(region.length <= 110);
        },
      ),
    );
  });

  it("refuses what Meridian did not mint: v1 ids, other prefixes, bad regions, wrong lengths", () => {
    for (const id of [
      "t-1jd5v2q8hm7x9k2c4f0ab",
      "node-8f3k2m9q1z7x4c5v",
      "t-1jd5v2q8hm7x9k2c4f0ab-",
      "t-1jd5v2q8hm7x9k2c4f0a-eu",
      "t-1JD5V2Q8HM7X9K2C4F0AB-eu",
      "x-1jd5v2q8hm7x9k2c4f0ab-eu",
      "t-1jd5v2q8hm7x9k2c4f0ab-EU",
      "t-1jd5v2q8hm7x9k2c4f0ab-_eu",
      "t-1jd5v2q8hm7x9k2c4f0iu-eu", // i and u are not in the alphabet
    ]) {
      expect([id, regionOfTaskId(id)]).toEqual([id, null]);
    }
    expect(regionOfNodeId("node-8f3k2m9q1z7x-eu-west")).toBe("eu-west");
    expect(regionOfNodeId("node-8f3k2m9q1z7x4c5v")).toBeNull();
  });

  it("the next id characters are one more in base 32, and wrap only after the last", () => {
    expect(nextIdChars("000")).toBe("001");
    expect(nextIdChars("00z")).toBe("010");
    expect(nextIdChars("zzz")).toBe("000");
    fc.assert(
      fc.property(arbRandom, (chars) => {
        const next = nextIdChars(chars);
        expect(next.length).toBe(chars.length);
        expect([...next].every((c) => ID_ALPHABET.includes(c))).toBe(true);
        expect(next > chars || /^z+$/.test(chars)).toBe(true);
      }),
    );
  });
});
