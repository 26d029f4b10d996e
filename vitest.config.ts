// Test runner configuration: real pairings, real chains and real nats-server are slow, so timeouts are generous.
// Two tests run a whole market of processes and time it (test/infra/faults.test.ts kills parties at given moments and
// waits for the market to become quiet; test/infra/containers.test.ts builds images and runs the market on podman):
// each is a project of its own that runs alone, after every other test file, so that the pairing-heavy suites neither
// starve them nor are slowed down by them.
import { configDefaults, defineConfig } from "vitest/config";

const FAULTS_TEST = "test/infra/faults.test.ts";
const CONTAINERS_TEST = "test/infra/containers.test.ts";

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
    projects: [
      { extends: true, test: { name: "suite", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, FAULTS_TEST, CONTAINERS_TEST], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "faults", include: [FAULTS_TEST], sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: "containers", include: [CONTAINERS_TEST], sequence: { groupOrder: 2 } } },
    ],
  },
});
