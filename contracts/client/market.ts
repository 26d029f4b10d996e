// Deploys or attaches to a market and returns the typed handle every other client function takes.
import { Contract, ContractFactory, type ContractRunner, type Signer } from "ethers";
import { InvalidMarketDimensionError } from "./errors.ts";
import { loadArtifact, type MarketContractName } from "./artifact.ts";
import { readMarketDomain } from "./eip712.ts";
import type { GridveilMarketContract, MarketDomain } from "./types.ts";
import { type Hex } from "../../protocol/base/hex.ts";

/** A market contract with what signing and decoding need: its dimension and EIP-712 domain. */
export type MarketHandle = {
  contract: GridveilMarketContract;
  address: Hex;
  /** FHIPE dimension d = price levels + 1. */
  dim: number;
  domain: MarketDomain;
};

export type DeployMarketOptions = {
  /** FHIPE dimension d = levels + 1 (1..127). */
  dim: number;
  /** The DSO's ticket-signing address. */
  ticketSigner: string;
  /** Deploy the bench's probe subclass instead of the market itself. */
  contractName?: MarketContractName;
};

/** Deploys a market (PROTOCOL §5 Setup: the DSO deploys it with its ticket signer and d). */
export async function deployMarket(signer: Signer, options: DeployMarketOptions): Promise<MarketHandle> {
  if (!Number.isInteger(options.dim) || options.dim < 1 || options.dim > 127) {
    throw new InvalidMarketDimensionError({ dim: options.dim });
  }
  const artifact = loadArtifact(options.contractName ?? "GridveilMarket");
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, signer);
  const deployed = await factory.deploy(options.dim, options.ticketSigner);
  await deployed.waitForDeployment();
  return attachMarket(await deployed.getAddress(), signer, options.contractName);
}

/** Attaches to a deployed market; reads d and the EIP-712 domain from the contract. */
export async function attachMarket(address: string, runner: ContractRunner, contractName: MarketContractName = "GridveilMarket"): Promise<MarketHandle> {
  const contract = new Contract(address, loadArtifact(contractName).abi, runner) as unknown as GridveilMarketContract;
  const [dim, domain] = await Promise.all([contract.dim(), readMarketDomain(contract)]);
  return { contract, address: address as Hex, dim: Number(dim), domain };
}

/** The same market seen through another signer or provider (e.g. the gateway's account). */
export function withRunner(market: MarketHandle, runner: ContractRunner): MarketHandle {
  return { ...market, contract: market.contract.connect(runner) as GridveilMarketContract };
}
