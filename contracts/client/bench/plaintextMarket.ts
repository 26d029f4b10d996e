// Bench only (`gridveil bench throughput`): deploys the plaintext market and builds its clear-price bids, signed
// and ticketed exactly like encrypted ones, so the real gateway places them unchanged.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Contract, ContractFactory, getAddress, type ContractRunner, type InterfaceAbi, type Signer } from "ethers";
import { GridveilError } from "../../../protocol/base/errors.ts";
import { computeCommitment, randomSalt } from "../../../protocol/commitment.ts";
import { ciphertextHash } from "../buildBid.ts";
import { BID_TYPES, readMarketDomain } from "../eip712.ts";
import type { MarketHandle } from "../market.ts";
import type { GridveilMarketContract, MarketDomain, SignedBid, Ticket } from "../types.ts";
import { type Hex } from "../../../protocol/base/hex.ts";
import { type SideCode } from "../../../protocol/domain.ts";

/** The plaintext market's "ciphertext" is one-dimensional: `left = [level, 0]`, `right = [0, 0, 0, 0]`. */
export const PLAINTEXT_DIM = 1;

const ARTIFACT_PATH = "contracts/src/bench/PlaintextMarket.sol/PlaintextMarket.json";

export class PlaintextMarketError extends GridveilError {
  override name = "PlaintextMarketError";
}

type Artifact = { abi: InterfaceAbi; bytecode: string };
let artifact: Artifact | undefined;

function loadPlaintextArtifact(): Artifact {
  if (artifact !== undefined) return artifact;
  const path = fileURLToPath(new URL(`../../../artifacts/${ARTIFACT_PATH}`, import.meta.url));
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as Artifact;
    artifact = { abi: parsed.abi, bytecode: parsed.bytecode };
  } catch (cause) {
    throw new PlaintextMarketError("no compiled artifact for PlaintextMarket", { value: path, hint: "run `npx hardhat build`", cause });
  }
  return artifact;
}

/**
 * Deploys a plaintext market with `levels` price levels and the DSO's ticket signer. The handle is typed as the
 * encrypted market's: both implement IGridveilMarket (its `dim` is 1).
 */
export async function deployPlaintextMarket(signer: Signer, options: { levels: number; ticketSigner: string }): Promise<MarketHandle> {
  const { abi, bytecode } = loadPlaintextArtifact();
  const deployed = await new ContractFactory(abi, bytecode, signer).deploy(options.levels, options.ticketSigner);
  await deployed.waitForDeployment();
  return attachPlaintextMarket(await deployed.getAddress(), signer);
}

export async function attachPlaintextMarket(address: string, runner: ContractRunner): Promise<MarketHandle> {
  const contract = new Contract(address, loadPlaintextArtifact().abi, runner) as unknown as GridveilMarketContract;
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
  const bidder = getAddress(await params.oneTimeKey.getAddress()) as Hex;
  if (getAddress(params.ticket.bidder) !== bidder) {
    throw new PlaintextMarketError("the ticket was issued for another bidder", { value: { ticket: params.ticket.bidder, bidder } });
  }
  const left = [BigInt(params.priceLevel), 0n];
  const right = [0n, 0n, 0n, 0n];
  const commitment = computeCommitment({
    bidder,
    side: params.side,
    priceLevel: params.priceLevel,
    quantityWh: params.quantityWh,
    salt: randomSalt(),
  }) as Hex;
  const bidderSignature = (await params.oneTimeKey.signTypedData(params.domain, BID_TYPES, {
    side: params.side,
    ciphertextHash: ciphertextHash(left, right),
    commitment,
  })) as Hex;
  return {
    bidder,
    side: params.side,
    notAfter: params.ticket.notAfter,
    commitment,
    left,
    right,
    ticketSignature: params.ticket.signature,
    bidderSignature,
  };
}
