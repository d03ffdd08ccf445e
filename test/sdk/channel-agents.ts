import { afterEach, expect } from "vitest";
import { Agent, type AgentOptions } from "../../src/sdk/index.ts";
import type { FakeMeridian } from "./fake-meridian.ts";

/**
 * Agents on their default transport, the node channel, against the fake shard of fake-channel.ts,
 * on the fake's virtual clock. Each test file that imports this stops its agents after each test
 * and checks every frame they sent was one the shard accepts.
 */
const agents: { agent: Agent; fake: FakeMeridian }[] = [];

export function startAgent(fake: FakeMeridian, options: Partial<AgentOptions> = {}): Agent {
  const agent = new Agent({
    url: "http://meridian.test",
    token: "node-token",
    region: "eu-west-1",
    handlers: {},
    fetch: fake.fetch,
    webSocket: fake.webSocket,
    clock: fake.clock,
    logger: false,
    handleSignals: false,
    random: () => 0.5,
    ...options,
  });
  agents.push({ agent, fake });
  void agent.start().catch(() => {});
  return agent;
}

afterEach(async () => {
  for (const { agent, fake } of agents.splice(0)) {
    await fake.clock.run(agent.stop({ drain: false }));
    expect(fake.channels.invalid).toEqual([]); // every frame the agent sent was one the shard accepts
  }
});
