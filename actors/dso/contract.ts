// The DSO's market contract (PROTOCOL §5 setup): deploy it once with the ticket signer and d, then always attach.
import { getAddress, type Provider, type Signer } from "ethers";
import { attachMarket, deployMarket, type MarketHandle } from "../../contracts/client/index.ts";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { MarketContractError } from "./errors.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";

/** Settings key under which the deployment is remembered, so that a restarted DSO attaches. */
export const CONTRACT_SETTING = "market.contract";

type StoredDeployment = { address: string; chainId: number; dimension: number };

export type DeployOrAttachArgs = {
  db: DsoDatabase;
  signer: Signer;
  provider: Provider;
  dimension: number;
  /** `--contract`: attach to this deployment instead of the recorded one or a new one. */
  contractAddress?: string | undefined;
};

/** The deployment transaction, when this start deployed (for the setup span: hash, block, gas). */
export type Deployment = { txHash: string; blockNumber: number; gasUsed: bigint };

export type DeployOrAttachResult = { market: MarketHandle; chainId: number; deployed: boolean; deployment?: Deployment | undefined };

/** Finds the creation transaction of `address` in the latest block (best effort: the client hides the receipt). */
async function deploymentOf(provider: Provider, address: string): Promise<Deployment | undefined> {
  try {
    const block = await provider.getBlock("latest", true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      if (tx.to !== null) continue;
      const receipt = await provider.getTransactionReceipt(tx.hash);
      if (receipt?.contractAddress && getAddress(receipt.contractAddress) === getAddress(address))
        return { txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
    }
  } catch {
    // Only telemetry depends on it.
  }
  return undefined;
}

function storedDeployment(db: DsoDatabase): StoredDeployment | undefined {
  const value = db.getSetting(CONTRACT_SETTING);
  if (value === undefined) return undefined;
  const record = value as Partial<StoredDeployment>;
  if (typeof record.address !== "string" || typeof record.chainId !== "number" || typeof record.dimension !== "number") {
    throw new MarketContractError({ reason: "malformedSetting", setting: value });
  }
  return { address: record.address, chainId: record.chainId, dimension: record.dimension };
}

/** Checks that an attached contract is the market this DSO runs: same d, and this DSO signs its tickets. */
async function checkAttached(market: MarketHandle, dimension: number, ticketSigner: string): Promise<void> {
  if (market.dim !== dimension) {
    throw new ChainMismatchError({ party: "dso", reason: "otherDimension", address: market.address, contractDimension: market.dim, marketDimension: dimension });
  }
  const signer = getAddress(await market.contract.ticketSigner());
  if (signer !== getAddress(ticketSigner)) {
    throw new MarketContractError({ reason: "otherTicketSigner", contract: market.address, ticketSigner: signer, dso: getAddress(ticketSigner) });
  }
}

/**
 * Attaches to `contractAddress`, else to the deployment recorded in the database (same chain), else deploys a new
 * market with this DSO as ticket signer. The result is recorded, so the next start attaches.
 */
export async function deployOrAttach(args: DeployOrAttachArgs): Promise<DeployOrAttachResult> {
  const chainId = Number((await args.provider.getNetwork()).chainId);
  const dsoAddress = await args.signer.getAddress();
  const stored = storedDeployment(args.db);
  const target = args.contractAddress ?? (stored && stored.chainId === chainId ? stored.address : undefined);
  if (args.contractAddress === undefined && stored && stored.chainId !== chainId) {
    throw new MarketContractError({ reason: "recordedOnOtherChain", recorded: stored, rpcChainId: chainId });
  }
  if (target !== undefined) {
    const code = await args.provider.getCode(target);
    if (code === "0x") {
      throw new ChainMismatchError({ party: "dso", reason: "noContract", address: target, chainId });
    }
    const market = await attachMarket(target, args.signer);
    await checkAttached(market, args.dimension, dsoAddress);
    args.db.setSetting(CONTRACT_SETTING, { address: getAddress(target), chainId, dimension: args.dimension } satisfies StoredDeployment);
    return { market, chainId, deployed: false };
  }
  const market = await deployMarket(args.signer, { dim: args.dimension, ticketSigner: dsoAddress });
  args.db.setSetting(CONTRACT_SETTING, { address: getAddress(market.address), chainId, dimension: args.dimension } satisfies StoredDeployment);
  return { market, chainId, deployed: true, deployment: await deploymentOf(args.provider, market.address) };
}
