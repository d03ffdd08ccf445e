import { describe, expect, it } from "vitest";
import { openWindow, type SocketLimits, SocketMeter } from "../../src/core/socket-meter";

const LIMITS: SocketLimits = {
  framesPerSec: 10,
  bytesPerSec: 100,
  tokenFramesPerSec: 15,
  objectFramesPerSec: 25,
  maxStrikes: 3,
};

describe("SocketMeter", () => {
  it("allows a socket its frames a second, refuses the rest, and starts again the next second", () => {
    const meter = new SocketMeter(LIMITS);
    const w = openWindow(0);
    const verdicts = Array.from({ length: 12 }, () => meter.admit(w, "t", 1, 500));
    expect(verdicts.filter((v) => v === null)).toHaveLength(10);
    expect(verdicts[10]).toContain("10 frames a second");
    expect(meter.admit(w, "t", 1, 1000)).toBeNull();
  });

  it("refuses past the bytes a second of one socket", () => {
    const meter = new SocketMeter(LIMITS);
    const w = openWindow(0);
    expect(meter.admit(w, "t", 60, 0)).toBeNull();
    expect(meter.admit(w, "t", 60, 1)).toContain("100 bytes a second");
    expect(meter.admit(w, "t", 60, 1001)).toBeNull();
  });

  it("bounds a token's sockets together, and the object's sockets together", () => {
    const meter = new SocketMeter(LIMITS);
    const sockets = Array.from({ length: 4 }, () => openWindow(0));
    const refusedOf = (token: string, s: number) =>
      Array.from({ length: 10 }, () => meter.admit(sockets[s]!, token, 1, 0)).filter((v) => v !== null);
    expect(refusedOf("a", 0)).toHaveLength(0);
    const overToken = refusedOf("a", 1); // the token's bucket (15) had 5 left
    expect(overToken).toHaveLength(5);
    expect(overToken[0]).toContain("token");
    expect(refusedOf("b", 2)).toHaveLength(0); // the object's bucket (25) had 10 left
    const overObject = refusedOf("c", 3);
    expect(overObject).toHaveLength(10);
    expect(overObject[0]).toContain("object");
  });

  it("closes after maxStrikes refused frames", () => {
    const meter = new SocketMeter(LIMITS);
    const w = openWindow(0);
    expect([meter.strike(w), meter.strike(w), meter.strike(w)]).toEqual([false, false, true]);
  });
});
