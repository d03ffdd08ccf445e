import { describe, expect, it } from "vitest";
import {
  constantTimeEqual,
  newWebhookSecret,
  signatureRefusal,
  signWebhook,
  webhookId,
} from "../../src/core/webhook-signature";

// The Standard Webhooks reference implementations' published test vector.
const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

const headers = (signature: string, timestamp = String(VECTOR.timestamp), id: string | null = VECTOR.id) => ({
  id,
  timestamp,
  signature,
});

describe("Standard Webhooks signing (src/core/webhook-signature.ts)", () => {
  it("reproduces the standard's test vector, with or without the whsec_ prefix", async () => {
    expect(await signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    expect(await signWebhook(VECTOR.secret.slice(6), VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(
      VECTOR.signature,
    );
  });

  it("verifies the vector within the tolerance, and any one of several signatures", async () => {
    expect(
      await signatureRefusal(VECTOR.secret, headers(VECTOR.signature), VECTOR.body, VECTOR.timestamp),
    ).toBe(null);
    expect(
      await signatureRefusal(
        VECTOR.secret,
        headers(`v1,bm9wZQ== ${VECTOR.signature}`),
        VECTOR.body,
        VECTOR.timestamp + 299,
      ),
    ).toBe(null);
  });

  it("refuses a changed body, another secret, a stale or future timestamp and missing headers", async () => {
    const at = VECTOR.timestamp;
    expect(await signatureRefusal(VECTOR.secret, headers(VECTOR.signature), '{"test": 1}', at)).toMatch(
      /no signature/,
    );
    const other = newWebhookSecret((b) => b.fill(7));
    expect(await signatureRefusal(other, headers(VECTOR.signature), VECTOR.body, at)).toMatch(/no signature/);
    expect(await signatureRefusal(VECTOR.secret, headers(VECTOR.signature), VECTOR.body, at + 301)).toMatch(
      /timestamp/,
    );
    expect(await signatureRefusal(VECTOR.secret, headers(VECTOR.signature), VECTOR.body, at - 301)).toMatch(
      /timestamp/,
    );
    expect(await signatureRefusal(VECTOR.secret, headers(VECTOR.signature, "soon"), VECTOR.body, at)).toMatch(
      /unix seconds/,
    );
    expect(
      await signatureRefusal(VECTOR.secret, headers(VECTOR.signature, undefined, null), VECTOR.body, at),
    ).toMatch(/missing/);
    // The id is signed: the same signature under another id does not verify.
    expect(
      await signatureRefusal(
        VECTOR.secret,
        headers(VECTOR.signature, undefined, "msg_other"),
        VECTOR.body,
        at,
      ),
    ).toMatch(/no signature/);
  });

  it("mints whsec_ secrets of 24 random bytes, and one webhook id per attempt", () => {
    const secret = newWebhookSecret((b) => b.fill(255));
    expect(secret).toBe(`whsec_${"/".repeat(32)}`);
    expect(webhookId("t-1-eu", 2)).not.toBe(webhookId("t-1-eu", 3));
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
  });
});
