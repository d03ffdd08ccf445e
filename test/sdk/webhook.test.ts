import { describe, expect, it } from "vitest";
import { signWebhook } from "../../src/core/webhook-signature.ts";
import { verifyWebhook, WebhookVerificationError } from "../../src/sdk/index.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW = 1_800_000_000_000;
const task = {
  id: "t-1-eu",
  type: "resize",
  payload: { w: 64 },
  attempt: 2,
  leaseToken: "l_1",
  leaseExpiresAt: NOW,
};

/** A delivery as the shard signs it. */
async function delivery(body = JSON.stringify({ task }), at = NOW / 1000, secret = SECRET) {
  const id = `${task.id}:${task.attempt}`;
  return {
    body,
    headers: {
      "webhook-id": id,
      "webhook-timestamp": String(at),
      "webhook-signature": await signWebhook(secret, id, at, body),
    },
  };
}

const clock = { now: () => NOW };

describe("verifyWebhook (SDK)", () => {
  it("answers the task of a delivery signed with the secret, from Node's headers or a Headers, a string or bytes", async () => {
    const d = await delivery();
    expect(await verifyWebhook(SECRET, d.headers, d.body, clock)).toEqual(task);
    expect(
      await verifyWebhook(SECRET, new Headers(d.headers), new TextEncoder().encode(d.body), clock),
    ).toEqual(task);
  });

  it("throws WebhookVerificationError for another secret, a changed body, an old timestamp, no headers, or a body that is not a task", async () => {
    const d = await delivery();
    const refused = (promise: Promise<unknown>) =>
      expect(promise).rejects.toBeInstanceOf(WebhookVerificationError);
    await refused(verifyWebhook("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", d.headers, d.body, clock));
    await refused(verifyWebhook(SECRET, d.headers, d.body.replace("64", "65"), clock));
    const old = await delivery(undefined, NOW / 1000 - 301);
    await refused(verifyWebhook(SECRET, old.headers, old.body, clock));
    expect(await verifyWebhook(SECRET, old.headers, old.body, { ...clock, toleranceSec: 600 })).toEqual(task);
    await refused(verifyWebhook(SECRET, {}, d.body, clock));
    const notTask = await delivery('{"hello":1}');
    await refused(verifyWebhook(SECRET, notTask.headers, notTask.body, clock));
    await refused(verifyWebhook("not base64 !", d.headers, d.body, clock));
  });
});
