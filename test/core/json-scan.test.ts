import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { scanJson } from "../../src/core/json-scan";

describe("scanJson", () => {
  it.each([
    ['{"a":1}', null],
    ['{"a":9007199254740991}', null],
    ['{"a":-9007199254740991}', null],
    ['{"a":9007199254740993}', "9007199254740993"],
    ['{"a":9007199254740992}', null],
    ['{"a":10000000000000000000000}', null],
    ['{"a":12345678901234567891}', "12345678901234567891"],
    ["[1, -12345678901234567891]", "-12345678901234567891"],
    ['{"a":1e400}', "1e400"],
    ['{"a":-1E+400}', "-1E+400"],
    ['{"a":1e20, "b": 0.1234567890123456789, "c": 1e-400}', null],
    ['{"a":"12345678901234567891", "b":"1e400 \\" 99999999999999999999"}', null],
    ["[[[1]]]", null],
  ])("%s → %s", (text, inexact) => {
    expect(scanJson(text).inexactNumber).toBe(inexact);
  });

  it("measures nesting outside strings", () => {
    expect(scanJson('[[{"a":"[[[["}]]').depth).toBe(3);
  });

  it("flags a number exactly when a JSON round trip would change it", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(scanJson(text).inexactNumber).toBeNull();
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), (n) => {
        const text = `{"n":${n}}`;
        const changed = JSON.stringify(JSON.parse(text)) !== text;
        expect(scanJson(text).inexactNumber !== null).toBe(changed);
      }),
    );
  });
});
