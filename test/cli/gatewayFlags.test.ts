// `gridveil gateway --tx-max-bids`: parsed, taken from GRIDVEIL_GATEWAY_TX_MAX_BIDS, and refused out of range.
import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { registerGatewayCommand } from "../../actors/cli/commands/gateway.ts";

afterEach(() => vi.unstubAllEnvs());

/** The gateway command's parsed flags, without running it. */
function gatewayFlags(args: string[]): Record<string, unknown> {
  const program = new Command().exitOverride();
  const command = registerGatewayCommand(program).exitOverride().configureOutput({ writeErr: () => undefined });
  command.action(() => undefined);
  program.parse(["node", "gridveil", "gateway", ...args]);
  return command.opts();
}

describe("gridveil gateway --tx-max-bids", () => {
  it("is unset by default (one transaction per batch), and taken from the flag or the environment", () => {
    expect(gatewayFlags([]).txMaxBids).toBeUndefined();
    expect(gatewayFlags(["--tx-max-bids", "4"]).txMaxBids).toBe(4);
    vi.stubEnv("GRIDVEIL_GATEWAY_TX_MAX_BIDS", "8");
    expect(gatewayFlags([]).txMaxBids).toBe(8);
    expect(gatewayFlags(["--tx-max-bids", "2"]).txMaxBids).toBe(2);
  });

  it("refuses 0, more than 256 and non-numbers, naming the flag", () => {
    for (const bad of ["0", "257", "four", "1.5"]) {
      expect(() => gatewayFlags(["--tx-max-bids", bad]), bad).toThrow(/--tx-max-bids/);
    }
  });
});
