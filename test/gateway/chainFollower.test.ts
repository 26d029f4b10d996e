// Chain follower wake-ups (a fake node): after the gateway mines, the follower reads at once, not at its next poll.
import { describe, expect, it } from "vitest";
import type { JsonRpcProvider, Log } from "ethers";
import { chainFollower, createWakeUps } from "../../actors/gateway/chainFollower.ts";
import type { FollowerEvent } from "../../machines/gateway.ts";

/** A node whose head the test moves; `getBlockNumber` can be held to simulate a read in progress. */
function fakeNode(head: number) {
  const node = {
    head,
    hold: null as Promise<void> | null,
    reads: 0,
    provider: {
      getBlockNumber: async () => {
        node.reads += 1;
        const observed = node.head;
        if (node.hold) await node.hold;
        return observed;
      },
      getLogs: async (): Promise<Log[]> => [],
    } as unknown as JsonRpcProvider,
  };
  return node;
}

const POLL_MS = 60_000;
const CONTRACT = "0x000000000000000000000000000000000000c0de";

function follow(node: ReturnType<typeof fakeNode>, wakeUps: ReturnType<typeof createWakeUps>) {
  const ranges: { fromBlock: number; toBlock: number }[] = [];
  const stop = chainFollower({ provider: node.provider, contractAddress: CONTRACT, pollIntervalMs: POLL_MS, maxBlockRange: 1_000, wakeUps })(
    { fromBlock: 1 },
    (event: FollowerEvent) => {
      if (event.type === "CHAIN.EVENTS.RECEIVED") ranges.push({ fromBlock: event.fromBlock, toBlock: event.toBlock });
    },
  );
  return { ranges, stop };
}

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("chainFollower wake-ups", () => {
  it("reads a newly mined block at once when woken, long before its next poll", async () => {
    const node = fakeNode(5);
    const wakeUps = createWakeUps();
    const { ranges, stop } = follow(node, wakeUps);
    try {
      await until(() => ranges.length === 1);
      expect(ranges[0]).toEqual({ fromBlock: 1, toBlock: 5 });
      node.head = 6;
      wakeUps.wake();
      await until(() => ranges.length === 2, 1_000);
      expect(ranges[1]).toEqual({ fromBlock: 6, toBlock: 6 });
    } finally {
      stop();
    }
  });

  it("reads again right after a read that a wake-up interrupted (the block may be newer than its head)", async () => {
    const node = fakeNode(5);
    const wakeUps = createWakeUps();
    const { ranges, stop } = follow(node, wakeUps);
    try {
      await until(() => ranges.length === 1);
      let release!: () => void;
      node.hold = new Promise((resolve) => (release = resolve));
      wakeUps.wake();
      await until(() => node.reads === 2);
      // Mined while that read was in flight: its getBlockNumber saw 5, and the nudge must not be lost.
      node.head = 6;
      wakeUps.wake();
      node.hold = null;
      release();
      await until(() => ranges.length === 2, 1_000);
      expect(ranges[1]).toEqual({ fromBlock: 6, toBlock: 6 });
    } finally {
      stop();
    }
  });

  it("stops listening when stopped", async () => {
    const node = fakeNode(5);
    const wakeUps = createWakeUps();
    const { ranges, stop } = follow(node, wakeUps);
    await until(() => ranges.length === 1);
    stop();
    const reads = node.reads;
    node.head = 6;
    wakeUps.wake();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(node.reads).toBe(reads);
  });
});
