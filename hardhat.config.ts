// Hardhat 3 configuration: compiles offline with the solc npm package (no compiler download).
import { createRequire } from "node:module";
import type { HardhatUserConfig } from "hardhat/config";

const require = createRequire(import.meta.url);
const solcVersion: string = require("solc/package.json").version;

const config: HardhatUserConfig = {
  paths: { sources: "./contracts" },
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
