// A development chain kept on the market's clock (actors/chain/chainClock.ts): the contract judges gate closures by
// block time, so in compressed time the driver mines at the clock's time whenever the chain falls behind.
import { JsonRpcProvider, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driveChainClock } from "../../actors/chain/chainClock.ts";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { compressedClock } from "../../actors/runtime/clock.ts";

/** The latest block's time, read raw (ethers reuses an identical request's answer for 250 ms). */
const latestTime = async (provider: JsonRpcProvider) => Number(((await provider.send("eth_getBlockByNumber", ["latest", false])) as { timestamp: string }).timestamp);

describe("chain clock driver (real EDR chain)", () => {
  let chain: LocalChain;
  let provider: JsonRpcProvider;
  beforeAll(async () => {
    chain = await startLocalChain();
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true });
  });
  afterAll(async () => {
    provider?.destroy();
    await chain?.stop();
  });

  it("moves the chain to the clock, never back, and transactions then carry the clock's time", async () => {
    const start = (await latestTime(provider)) + 86_400;
    const clock = compressedClock({ start, speed: 1_000 });
    const driver = driveChainClock(provider, clock, { intervalMs: 50 });
    try {
      await driver.sync();
      expect(await latestTime(provider)).toBe(start);
      clock.run();
      await new Promise((resolve) => setTimeout(resolve, 600));
      await driver.sync();
      const moved = await latestTime(provider);
      expect(moved).toBeGreaterThanOrEqual(start + 400);
      expect(moved).toBeLessThanOrEqual(Math.ceil(clock.now()) + 1);
      const wallet = new Wallet(chain.accountKeys[0]!, provider);
      const receipt = await (await wallet.sendTransaction({ to: wallet.address, value: 1 })).wait();
      const mined = (await provider.getBlock(receipt!.blockNumber))!.timestamp;
      expect(mined).toBeGreaterThanOrEqual(moved);
      expect(Math.abs(mined - clock.now())).toBeLessThan(400);
    } finally {
      await driver.stop();
    }
  });
});
