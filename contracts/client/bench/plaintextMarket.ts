// Bench only (`gridveil bench throughput`): deploys the plaintext market and builds its clear-price bids, signed
// and ticketed exactly like encrypted ones, so the real gateway places them unchanged.
import { Contract, ContractFactory, type ContractRunner, type Signer } from "ethers";
import { computeCommitment, randomSalt } from "../../../protocol/commitment.ts";
import { loadArtifact } from "../artifact.ts";
import { signBid, ticketedBidder } from "../buildBid.ts";
import { readMarketDomain } from "../eip712.ts";
import type { MarketHandle } from "../market.ts";
import type { GridveilMarketContract, MarketDomain, SignedBid, Ticket } from "../types.ts";
import { type Hex } from "../../../protocol/base/hex.ts";
import { type SideCode } from "../../../protocol/domain.ts";

/** The plaintext market's "ciphertext" is one-dimensional: `left = [level, 0]`, `right = [0, 0, 0, 0]`. */
export const PLAINTEXT_DIM = 1;

/**
 * Deploys a plaintext market with `levels` price levels and the DSO's ticket signer. The handle is typed as the
 * encrypted market's: both implement IGridveilMarket (its `dim` is 1).
 */
export async function deployPlaintextMarket(signer: Signer, options: { levels: number; ticketSigner: string }): Promise<MarketHandle> {
  const { abi, bytecode } = loadArtifact("PlaintextMarket");
  const deployed = await new ContractFactory(abi, bytecode, signer).deploy(options.levels, options.ticketSigner);
  await deployed.waitForDeployment();
  return attachPlaintextMarket(await deployed.getAddress(), signer);
}

export async function attachPlaintextMarket(address: string, runner: ContractRunner): Promise<MarketHandle> {
  const contract = new Contract(address, loadArtifact("PlaintextMarket").abi, runner) as unknown as GridveilMarketContract;
  const [dim, domain] = await Promise.all([contract.dim(), readMarketDomain(contract)]);
  return { contract, address: address as Hex, dim: Number(dim), domain };
}

export type PlaintextBidParams = {
  side: SideCode;
  priceLevel: number;
  quantityWh: number;
  /** The bid's one-time key. */
  oneTimeKey: Signer;
  ticket: Ticket;
  domain: MarketDomain;
};

/** The clear level in the vectors the contract reads, the commitment and the one-time key's EIP-712 signature. */
export async function buildPlaintextBid(params: PlaintextBidParams): Promise<SignedBid> {
  const bidder = await ticketedBidder(params.oneTimeKey, params.ticket);
  const commitment = computeCommitment({ bidder, side: params.side, priceLevel: params.priceLevel, quantityWh: params.quantityWh, salt: randomSalt() }) as Hex;
  return signBid({ ...params, bidder, left: [BigInt(params.priceLevel), 0n], right: [0n, 0n, 0n, 0n], commitment });
}
