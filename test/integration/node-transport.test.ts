import { describe, expect, it } from "vitest";
import { openChannel } from "./channel-client";
import { harness } from "./harness";

describe("GET /v1/nodes says how each node is connected", () => {
  it("channel while its socket is open, http for a node that never opened one", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const reader = await h.token("reader");
    const onChannel = await h.node(node, "eu-west", 2);
    const onHttp = await h.node(node, "eu-west", 2);
    const transports = async () =>
      Object.fromEntries(
        (await h.get("/v1/nodes?region=eu-west", reader)).body.nodes.map(
          (n: { id: string; transport: string }) => [n.id, n.transport],
        ),
      );
    expect(await transports()).toEqual({ [onChannel]: "http", [onHttp]: "http" });

    const { status, channel } = await openChannel(h, onChannel, node);
    expect(status).toBe(101);
    await channel!.next(); // welcome
    expect(await transports()).toEqual({ [onChannel]: "channel", [onHttp]: "http" });
    channel!.ws.close(1000, "test done");
  });
});
