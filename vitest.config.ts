// Test runner configuration: real pairings, real chains and real nats-server are slow, so timeouts are generous.
// The container market (test/infra/containers.test.ts: image builds and a whole market on podman, minutes on two
// cores) is a project of its own that runs alone, after every other test file, so neither slows the other down.
import { configDefaults, defineConfig } from "vitest/config";

const CONTAINERS_TEST = "test/infra/containers.test.ts";

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
    projects: [
      { extends: true, test: { name: "suite", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, CONTAINERS_TEST], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "containers", include: [CONTAINERS_TEST], sequence: { groupOrder: 1 } } },
    ],
  },
});
