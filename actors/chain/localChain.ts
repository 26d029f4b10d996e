// A local development chain for the demo and tests: Hardhat's in-process EDR node served over JSON-RPC on loopback.
import { ethers } from "ethers";
import { ChainUnavailableError } from "./errors.ts";

export type LocalChain = {
  rpcUrl: string;
  chainId: bigint;
  /** Private keys of the node's funded development accounts (index 0 = DSO, 1 = gateway by convention). */
  accountKeys: readonly string[];
  stop(): Promise<void>;
};

/** Hardhat's well-known development mnemonic: the accounts the EDR node funds at genesis. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** The chains of hardhat.config.ts: `default` (= `node`, what `npx hardhat node` serves), `osaka` (2^24 gas per tx). */
export type LocalChainNetwork = "default" | "node" | "osaka";

export async function startLocalChain(options: { network?: LocalChainNetwork } = {}): Promise<LocalChain> {
  const { default: hre } = await import("hardhat");
  const server = await hre.network.createServer(options.network ?? "default", "127.0.0.1", 0);
  const { address, port } = await server.listen();
  const rpcUrl = `http://${address}:${port}`;
  const provider = new ethers.JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
  const { chainId } = await provider.getNetwork();
  provider.destroy();
  return { rpcUrl, chainId, accountKeys: devAccountKeys(20), stop: () => server.close() };
}

export function devAccountKeys(count: number): string[] {
  const root = ethers.HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0");
  return Array.from({ length: count }, (_, i) => root.deriveChild(i).privateKey);
}

/**
 * A JSON-RPC provider tuned for a local node: fast polling so event followers react within ~100 ms, and one request
 * per HTTP call (ethers' default batching holds every call 10 ms, a multiple of what a local node takes to answer).
 */
export async function connectRpc(rpcUrl: string, pollingIntervalMs = 100): Promise<ethers.JsonRpcProvider> {
  const provider = new ethers.JsonRpcProvider(rpcUrl, undefined, { pollingInterval: pollingIntervalMs, batchMaxCount: 1 });
  try {
    await provider.getBlockNumber();
  } catch (cause) {
    provider.destroy();
    throw new ChainUnavailableError({ rpcUrl, cause });
  }
  return provider;
}
