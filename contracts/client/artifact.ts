// Loads the compiled market (ABI and bytecode) from Hardhat's artifacts directory at run time.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Interface, type InterfaceAbi } from "ethers";
import { ArtifactMissingError } from "./errors.ts";

export type ContractArtifact = { contractName: string; abi: InterfaceAbi; bytecode: string };

/** Artifact paths under artifacts/, by contract name. */
const ARTIFACT_PATHS = {
  GridveilMarket: "contracts/src/GridveilMarket.sol/GridveilMarket.json",
  GridveilMarketGasProbe: "contracts/src/test/GridveilMarketGasProbe.sol/GridveilMarketGasProbe.json",
  PlaintextMarket: "contracts/src/bench/PlaintextMarket.sol/PlaintextMarket.json",
  SlotMarket: "contracts/src/v2/SlotMarket.sol/SlotMarket.json",
  SlotMarketGasProbe: "contracts/src/test/SlotMarketGasProbe.sol/SlotMarketGasProbe.json",
} as const;

export type ArtifactName = keyof typeof ARTIFACT_PATHS;
/** The contracts `deployMarket` deploys (the bench's plaintext market has its own deploy, contracts/client/bench/). */
export type MarketContractName = Exclude<ArtifactName, "PlaintextMarket" | "SlotMarket" | "SlotMarketGasProbe">;

const cache = new Map<ArtifactName, ContractArtifact>();

export function loadArtifact(name: ArtifactName): ContractArtifact {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const path = fileURLToPath(new URL(`../../artifacts/${ARTIFACT_PATHS[name]}`, import.meta.url));
  let parsed: { contractName: string; abi: InterfaceAbi; bytecode: string };
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as typeof parsed;
  } catch (cause) {
    throw new ArtifactMissingError({ contractName: name, path, cause });
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
