import { describe, expect, it } from "vitest";
import { handlersOf, parseCli } from "../../src/sdk/cli.ts";

describe("meridian-agent command line", () => {
  it("reads flags, with the environment as fallback", () => {
    const config = parseCli(
      ["--region", "eu-west-1", "--capacity", "4", "--label", "zone=b", "--campaign", "leader:eu", "h.js"],
      { MERIDIAN_URL: "http://m.test", MERIDIAN_TOKEN: "secret" },
    );
    expect(config).toMatchObject({
      module: "h.js",
      options: {
        url: "http://m.test",
        token: "secret",
        region: "eu-west-1",
        capacity: 4,
        labels: { zone: "b" },
        campaign: ["leader:eu"],
        transport: "channel",
        handleSignals: true,
      },
    });
  });

  it("takes the transport: the node channel by default, or HTTP", () => {
    const base = ["--url", "u", "--token", "t", "--region", "r"];
    expect(parseCli([...base, "--transport", "http", "h.js"], {})).toMatchObject({
      options: { transport: "http" },
    });
    expect(parseCli([...base, "h.js"], { MERIDIAN_TRANSPORT: "http" })).toMatchObject({
      options: { transport: "http" },
    });
    expect(() => parseCli([...base, "--transport", "carrier-pigeon", "h.js"], {})).toThrow(
      /--transport carrier-pigeon: expected channel or http/,
    );
  });

  it("refuses what it cannot run", () => {
    expect(() => parseCli(["h.js"], {})).toThrow(/missing --url, --token, --region/);
    expect(() => parseCli(["--url", "u", "--token", "t", "--region", "r"], {})).toThrow(
      /one handlers module/,
    );
    expect(() =>
      parseCli(["--url", "u", "--token", "t", "--region", "r", "--capacity", "two", "h.js"], {}),
    ).toThrow(/--capacity two/);
    expect(() =>
      parseCli(["--url", "u", "--token", "t", "--region", "r", "--label", "x", "h.js"], {}),
    ).toThrow(/KEY=VALUE/);
  });

  it("takes handlers from the default export or an export named handlers", () => {
    const fn = async () => 1;
    expect(handlersOf({ default: { a: fn } }, "m.js")).toEqual({ a: fn });
    expect(handlersOf({ handlers: { b: fn } }, "m.js")).toEqual({ b: fn });
    expect(() => handlersOf({}, "m.js")).toThrow(/exports no handlers/);
    expect(() => handlersOf({ default: { a: 1 } }, "m.js")).toThrow(/not a function/);
  });
});
