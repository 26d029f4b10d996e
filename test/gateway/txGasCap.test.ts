// Integration (real nats-server, a real EDR chain with Osaka's rules, real FHIPE pairings): on a node that caps a
// transaction's gas (EIP-7825, 2^24 on a 60 M gas block, as `npx hardhat node` does by default), the gateway asks
// for no more than the cap and its batches are placed; a --gas-limit above the cap is refused before anything is sent.
import { JsonRpcProvider } from "ethers";
import { describe, expect, it } from "vitest";
import { EIP7825_TX_GAS_CAP, readTxGasCap } from "../../actors/chain/txGasCap.ts";
import { startLocalChain } from "../../actors/chain/localChain.ts";
import { InvalidSettingError } from "../../protocol/base/errors.ts";
import { getBidCount } from "../../contracts/client/index.ts";
import type { BatchMinedEvent } from "../../actors/gateway/submitter.ts";
import { createMarket, environmentPerFile, until, type Environment } from "./fixture.ts";

let env: Environment;
environmentPerFile((started) => (env = started), { network: "osaka" });

describe("per-transaction gas cap (EIP-7825)", () => {
  it("is read from the node: the cap where it has one, the block gas limit where it has none", async () => {
    const block = (await env.provider.getBlock("latest"))!;
    expect(block.gasLimit).toBe(60_000_000n);
    expect(await readTxGasCap(env.provider, block.gasLimit)).toBe(EIP7825_TX_GAS_CAP);

    const uncapped = await startLocalChain();
    const provider = new JsonRpcProvider(uncapped.rpcUrl, undefined, { staticNetwork: true });
    try {
      const limit = (await provider.getBlock("latest"))!.gasLimit;
      expect(await readTxGasCap(provider, limit)).toBe(limit);
    } finally {
      provider.destroy();
      await uncapped.stop();
    }
  });

  it("bounds every transaction of the gateway by the cap, so its batches are placed and match", async () => {
    const m = await createMarket(env, "cap");
    const made = await Promise.all(
      [
        [1, 2],
        [1, 3],
        [0, 0],
        [0, 1],
        [0, 3],
      ].map(([side, priceLevel]) => m.makeBid({ side: side as 0 | 1, priceLevel: priceLevel as number })),
    );
    for (const bid of made) await m.publish(bid.submission);
    const gateway = await m.startGateway(await m.dataDir());
    const batches: BatchMinedEvent[] = [];
    gateway.events.on("batch", (batch) => batches.push(batch));
    try {
      await until(async () => (await getBidCount(m.market)) === 5n, 60_000, "five placements");
      await until(() => batches.reduce((sum, batch) => sum + batch.placed, 0) === 5, 10_000, "the batch reports");
      const txs = await Promise.all(batches.map((batch) => env.provider.getTransaction(batch.txHash)));
      for (const tx of txs) expect(tx!.gasLimit).toBeLessThanOrEqual(EIP7825_TX_GAS_CAP);
    } finally {
      await gateway.stop();
      await m.cleanup();
    }
  });

  it("refuses a --gas-limit above the node's cap before it sends anything", async () => {
    const m = await createMarket(env, "capflag");
    try {
      await expect(m.startGateway(await m.dataDir(), { gasLimit: EIP7825_TX_GAS_CAP + 1n })).rejects.toThrow(InvalidSettingError);
      await expect(m.startGateway(await m.dataDir(), { gasLimit: EIP7825_TX_GAS_CAP + 1n })).rejects.toThrow(/per-transaction cap of 16777216/);
    } finally {
      await m.cleanup();
    }
  });
});
