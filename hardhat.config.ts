// Hardhat 3 configuration: compiles offline with the solc npm package (no compiler download).
import { createRequire } from "node:module";
import type { HardhatUserConfig } from "hardhat/config";

const require = createRequire(import.meta.url);
const solcVersion: string = require("solc/package.json").version;

/** The market's development chain, served in process by the tests and the demo and by `npx hardhat node`. */
const marketChain = { type: "edr-simulated", hardfork: "prague", blockGasLimit: 30_000_000, initialBaseFeePerGas: 0 } as const;

const config: HardhatUserConfig = {
  paths: { sources: "./contracts" },
  // The in-process chain models our private market chain: a 30 M gas block (the paper's target) and Prague rules.
  // Osaka's per-transaction cap (EIP-7825, 2^24 gas) is deliberately not used: a match at 50 levels in a book of
  // 100 bids needs ~17 M gas (see docs/contract.md and `gridveil bench gas`).
  // The base fee starts at 0, as on a private chain: EIP-1559 raises it ~10 % per block more than half full, and the
  // gateway's batches fill blocks; from the default 1 gwei about 100 full blocks drain a funded development account,
  // from 0 (+1 wei, then ~10 % per block) it stays negligible for a few hundred.
  // `node` is what `npx hardhat node` serves (infra/entrypoint.sh chain, docs/deploy.md): the same chain as the
  // tests'. `osaka` is Hardhat's own `node` chain (60 M block gas, Osaka's 2^24 per-transaction cap), for the tests
  // that show every transaction stays within a node's cap.
  networks: {
    default: marketChain,
    node: marketChain,
    osaka: { type: "edr-simulated", hardfork: "osaka", blockGasLimit: 60_000_000, initialBaseFeePerGas: 0 },
  },
  solidity: {
    version: solcVersion,
    path: require.resolve("solc/soljson.js"),
    settings: {
      evmVersion: "cancun",
      optimizer: { enabled: true, runs: 200 },
      viaIR: false,
    },
  },
};

export default config;
