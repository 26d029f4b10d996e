// Loads the compiled market (ABI and bytecode) from Hardhat's artifacts directory at run time.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Interface, type InterfaceAbi } from "ethers";
import { GridveilError } from "../../protocol/base/errors.ts";

export type ContractArtifact = { contractName: string; abi: InterfaceAbi; bytecode: string };

export class ArtifactMissingError extends GridveilError {
  override name = "ArtifactMissingError";
}

/** Artifact paths under artifacts/, by contract name. */
const ARTIFACT_PATHS = {
  GridveilMarket: "contracts/src/GridveilMarket.sol/GridveilMarket.json",
  GridveilMarketGasProbe: "contracts/src/test/GridveilMarketGasProbe.sol/GridveilMarketGasProbe.json",
} as const;

export type MarketContractName = keyof typeof ARTIFACT_PATHS;

const cache = new Map<MarketContractName, ContractArtifact>();

export function loadArtifact(name: MarketContractName): ContractArtifact {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const path = fileURLToPath(new URL(`../../artifacts/${ARTIFACT_PATHS[name]}`, import.meta.url));
  let parsed: { contractName: string; abi: InterfaceAbi; bytecode: string };
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as typeof parsed;
  } catch (cause) {
    throw new ArtifactMissingError(`no compiled artifact for ${name}`, { value: path, hint: "run `npx hardhat build`", cause });
  }
  const artifact = { contractName: parsed.contractName, abi: parsed.abi, bytecode: parsed.bytecode };
  cache.set(name, artifact);
  return artifact;
}

let marketInterface: Interface | undefined;

/** The market's ABI as an ethers Interface (shared by the event and error decoders). */
export function getMarketInterface(): Interface {
  marketInterface ??= new Interface(loadArtifact("GridveilMarket").abi);
  return marketInterface;
}
