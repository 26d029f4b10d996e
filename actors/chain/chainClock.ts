// The local chain on the market's clock (the demo's compressed time): the contract judges gate closures and expiries by
// `block.timestamp`, so a driver mines an empty block at the clock's time whenever the chain falls behind it. Only for
// a development chain (Hardhat's and anvil's `evm_mine` with a timestamp); a real chain keeps its own time.
import type { JsonRpcProvider } from "ethers";
import type { Clock } from "../runtime/clock.ts";

export type ChainClockDriver = {
  /** Brings the chain to the clock now (awaitable; the driver also does it every `intervalMs`). */
  sync(): Promise<void>;
  stop(): Promise<void>;
};

export function driveChainClock(provider: JsonRpcProvider, clock: Clock, options: { intervalMs: number; onError?: (error: unknown) => void }): ChainClockDriver {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  // Raw JSON-RPC: ethers reuses the answer of an identical request made within the last 250 ms, which would be stale here.
  const latestTimestamp = async (): Promise<number> => Number(((await provider.send("eth_getBlockByNumber", ["latest", false])) as { timestamp: string }).timestamp);
  const syncOnce = async () => {
    const target = Math.floor(clock.now());
    if ((await latestTimestamp()) >= target) return;
    try {
      await provider.send("evm_mine", [target]);
    } catch (error) {
      // A transaction mined a block in between at a later time: the chain is ahead of `target` anyway.
      if ((await latestTimestamp()) < target) throw error;
    }
  };
  const sync = () => {
    running = running.then(syncOnce, syncOnce).catch((error: unknown) => options.onError?.(error));
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void sync();
  }, options.intervalMs);
  timer.unref();
  return {
    sync,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
