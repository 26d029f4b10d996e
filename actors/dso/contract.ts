// The DSO's market contract (PROTOCOL §5 setup): deploy it once with the ticket signer and d (version 2: the slot
// market with its encoding and calendar), then always attach.
import { getAddress, type Provider, type Signer } from "ethers";
import { attachMarket, deployMarket, type MarketHandle } from "../../contracts/client/index.ts";
import { attachSlotMarket, deploySlotMarket, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { EpochCalendar } from "../../protocol/epochs.ts";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { MarketContractError } from "./errors.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";

/** Settings key under which the deployment is remembered, so that a restarted DSO attaches. */
export const CONTRACT_SETTING = "market.contract";

/**
 * What a deployment is recorded as. Version 2 adds its design and what is fixed with it: the encoding's token count,
 * the calendar the contract holds, and the slots per epoch (epoch numbers, and so the keys, follow from it).
 */
type StoredDeployment = {
  address: string;
  chainId: number;
  dimension: number;
  design?: "v2";
  tokens?: number;
  slotSeconds?: number;
  gateClosureSeconds?: number;
  slotsPerEpoch?: number;
};

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
  if (record.design === undefined) return { address: record.address, chainId: record.chainId, dimension: record.dimension };
  if (record.design !== "v2" || [record.tokens, record.slotSeconds, record.gateClosureSeconds, record.slotsPerEpoch].some((field) => typeof field !== "number")) {
    throw new MarketContractError({ reason: "malformedSetting", setting: value });
  }
  return record as StoredDeployment;
}

function designOf(stored: StoredDeployment): "v1" | "v2" {
  return stored.design ?? "v1";
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
  if (stored && designOf(stored) !== "v1") throw new MarketContractError({ reason: "otherDesign", recorded: designOf(stored), configured: "v1" });
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

export type DeployOrAttachSlotMarketArgs = {
  db: DsoDatabase;
  signer: Signer;
  provider: Provider;
  params: BlockParams;
  calendar: EpochCalendar;
  /** `--contract`: attach to this deployment instead of the recorded one or a new one. */
  contractAddress?: string | undefined;
};

export type DeployOrAttachSlotMarketResult = { market: SlotMarketHandle; chainId: number; deployed: boolean; deployment?: Deployment | undefined };

/** What this DSO's settings fix at deployment, as recorded and as the contract holds it. */
function slotParametersOf(params: BlockParams, calendar: EpochCalendar) {
  return { dimension: params.dim, tokens: params.tokens, slotSeconds: calendar.slotSeconds, gateClosureSeconds: calendar.gateClosureSeconds, slotsPerEpoch: calendar.slotsPerEpoch };
}

function differs(found: Record<string, number>, configured: Record<string, number>): boolean {
  return Object.keys(found).some((key) => found[key] !== configured[key]);
}

/** Checks that an attached slot market is the one this DSO runs: its encoding, its calendar, and this DSO's tickets. */
async function checkAttachedSlotMarket(market: SlotMarketHandle, params: BlockParams, calendar: EpochCalendar, ticketSigner: string): Promise<void> {
  const contract = market.contract;
  const [dim, tokens, slotSeconds, gateClosureSeconds, signer] = await Promise.all([
    contract.getFunction("dim")(),
    contract.getFunction("tokens")(),
    contract.getFunction("slotSeconds")(),
    contract.getFunction("gateClosureSeconds")(),
    contract.getFunction("ticketSigner")(),
  ]);
  const found = { dimension: Number(dim), tokens: Number(tokens), slotSeconds: Number(slotSeconds), gateClosureSeconds: Number(gateClosureSeconds) };
  const { slotsPerEpoch: _epochs, ...configured } = slotParametersOf(params, calendar);
  if (found.dimension !== configured.dimension) {
    throw new ChainMismatchError({ party: "dso", reason: "otherDimension", address: market.address, contractDimension: found.dimension, marketDimension: configured.dimension });
  }
  if (differs(found, configured)) throw new MarketContractError({ reason: "otherParameters", contract: market.address, found, configured });
  if (getAddress(String(signer)) !== getAddress(ticketSigner)) {
    throw new MarketContractError({ reason: "otherTicketSigner", contract: market.address, ticketSigner: getAddress(String(signer)), dso: getAddress(ticketSigner) });
  }
}

/**
 * Version 2 (PROTOCOL §5 v2 setup): attaches to `contractAddress`, else to the slot market recorded in the database
 * (same chain), else deploys one with this DSO as ticket signer, the encoding's dimension and tokens, and the slot
 * calendar. A data directory of a version 1 market, or one recorded with other parameters, is refused by name.
 */
export async function deployOrAttachSlotMarket(args: DeployOrAttachSlotMarketArgs): Promise<DeployOrAttachSlotMarketResult> {
  const chainId = Number((await args.provider.getNetwork()).chainId);
  const dsoAddress = await args.signer.getAddress();
  const stored = storedDeployment(args.db);
  const parameters = slotParametersOf(args.params, args.calendar);
  if (stored && designOf(stored) !== "v2") throw new MarketContractError({ reason: "otherDesign", recorded: designOf(stored), configured: "v2" });
  if (stored) {
    const recorded = { dimension: stored.dimension, tokens: stored.tokens!, slotSeconds: stored.slotSeconds!, gateClosureSeconds: stored.gateClosureSeconds!, slotsPerEpoch: stored.slotsPerEpoch! };
    if (differs(recorded, parameters)) throw new MarketContractError({ reason: "otherParameters", contract: stored.address, found: recorded, configured: parameters });
  }
  if (args.contractAddress === undefined && stored && stored.chainId !== chainId) {
    throw new MarketContractError({ reason: "recordedOnOtherChain", recorded: stored, rpcChainId: chainId });
  }
  const record = (address: string) => args.db.setSetting(CONTRACT_SETTING, { address: getAddress(address), chainId, design: "v2", ...parameters } satisfies StoredDeployment);
  const target = args.contractAddress ?? stored?.address;
  if (target !== undefined) {
    if ((await args.provider.getCode(target)) === "0x") throw new ChainMismatchError({ party: "dso", reason: "noContract", address: target, chainId });
    const market = await attachSlotMarket(target, args.signer, args.params, args.calendar);
    await checkAttachedSlotMarket(market, args.params, args.calendar, dsoAddress);
    record(target);
    return { market, chainId, deployed: false };
  }
  const market = await deploySlotMarket(args.signer, { ticketSigner: dsoAddress, params: args.params, calendar: args.calendar });
  record(market.address);
  return { market, chainId, deployed: true, deployment: await deploymentOf(args.provider, market.address) };
}
