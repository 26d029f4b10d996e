// The NATS credentials every party command takes (--nats-user/--nats-password, NATS_USER/NATS_PASSWORD as in
// infra/provision/*.env), and the meter's provisioned inbox id (--inbox, GRIDVEIL_METER_INBOX).
import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { registerDsoCommand } from "../../actors/cli/commands/dso.ts";
import { registerGatewayCommand } from "../../actors/cli/commands/gateway.ts";
import { registerMeterCommand } from "../../actors/cli/commands/meter.ts";
import { natsCredentialsOf } from "../../actors/cli/partyProcess.ts";
import { partySettings } from "../../actors/config/common.ts";
import { optionOf } from "../../actors/config/settings.ts";
import { ConfigError } from "../../protocol/base/errors.ts";

afterEach(() => vi.unstubAllEnvs());

function parsedFlags(args: string[]): Record<string, unknown> {
  const program = new Command().exitOverride();
  program.command("try").addOption(optionOf(partySettings.natsUser)).addOption(optionOf(partySettings.natsPassword)).action(() => undefined);
  program.parse(["node", "gridveil", "try", ...args]);
  return program.commands[0]!.opts();
}

describe("NATS credentials of a party", () => {
  it("come from the flags or from NATS_USER / NATS_PASSWORD, the flags first", () => {
    expect(natsCredentialsOf(parsedFlags(["--nats-user", "dso", "--nats-password", "pw"]))).toEqual({ natsUser: "dso", natsPassword: "pw" });
    vi.stubEnv("NATS_USER", "gateway");
    vi.stubEnv("NATS_PASSWORD", "secret");
    expect(natsCredentialsOf(parsedFlags([]))).toEqual({ natsUser: "gateway", natsPassword: "secret" });
    expect(natsCredentialsOf(parsedFlags(["--nats-user", "dso"]))).toEqual({ natsUser: "dso", natsPassword: "secret" });
  });

  it("are absent without a user, and a password alone is refused", () => {
    expect(natsCredentialsOf({})).toEqual({});
    expect(natsCredentialsOf({ natsUser: "watch" })).toEqual({ natsUser: "watch", natsPassword: "" });
    expect(() => natsCredentialsOf({ natsPassword: "pw" })).toThrow(ConfigError);
    expect(() => natsCredentialsOf({ natsPassword: "pw" })).toThrow(/needs its user/);
  });

  it("are options of gridveil dso, gateway and meter; the meter also takes its provisioned inbox id", () => {
    const program = new Command();
    for (const register of [registerDsoCommand, registerGatewayCommand, registerMeterCommand]) register(program);
    for (const command of program.commands) {
      const flags = command.options.map((option) => option.long);
      expect(flags, command.name()).toEqual(expect.arrayContaining(["--nats-user", "--nats-password"]));
      expect(command.options.find((option) => option.long === "--nats-user")?.envVar).toBe("NATS_USER");
      expect(command.options.find((option) => option.long === "--nats-password")?.envVar).toBe("NATS_PASSWORD");
    }
    const meter = program.commands.find((command) => command.name() === "meter")!;
    expect(meter.options.find((option) => option.long === "--inbox")?.envVar).toBe("GRIDVEIL_METER_INBOX");
  });
});
