// The local development chain (real EDR over JSON-RPC): funded accounts, and a base fee that full blocks cannot raise.
import { JsonRpcProvider, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";

/** Init code whose one MLOAD at 4 MiB costs more memory gas than any block has: it uses its whole gas limit at once. */
const BURN_ALL_GAS = "0x623fffff51";
const NEAR_FULL_BLOCK = 28_000_000;

let chain: LocalChain;
let provider: JsonRpcProvider;

beforeAll(async () => {
  chain = await startLocalChain();
  provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
});
afterAll(async () => {
  provider?.destroy();
  await chain?.stop();
});

describe("local chain", () => {
  it("starts the base fee at 0, so full blocks (the gateway's batches) raise it from 1 wei, not from 1 gwei", async () => {
    const sender = new Wallet(chain.accountKeys[7] as string, provider);
    let nonce = await provider.getTransactionCount(sender.address);
    for (let i = 0; i < 3; i += 1) {
      await sender.sendTransaction({ data: BURN_ALL_GAS, gasLimit: NEAR_FULL_BLOCK, nonce }).catch(() => undefined);
      nonce += 1;
    }
    const latest = await provider.getBlock("latest");
    expect(latest?.gasUsed).toBe(BigInt(NEAR_FULL_BLOCK));
    // EIP-1559 adds at least 1 wei per block above the target and then ~10 % per block: from 0 that stays negligible
    // for hundreds of full blocks, where the default 1 gwei would drain a development account in about a hundred.
    expect(latest?.baseFeePerGas).toBeLessThan(10n);
  });
});
