// `gridveil demo`: a day of version 2 by default, its flags parsed and refused by name, and a day that cannot be cut
// into slots refused before anything starts.
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerDemoCommand } from "../../actors/cli/commands/demo.ts";
import { checkDayOptions } from "../../actors/demo/runDay.ts";
import { dayDemoDefaults } from "../../actors/config/tools.ts";

/** The demo command's parsed flags, without running it. */
function demoFlags(args: string[]): Record<string, unknown> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
  registerDemoCommand(program);
  const command = program.commands.find((candidate) => candidate.name() === "demo")!;
  command.exitOverride().configureOutput({ writeErr: () => undefined });
  command.action(() => undefined);
  program.parse(["node", "gridveil", "demo", ...args]);
  return command.opts();
}

describe("gridveil demo flags", () => {
  it("default to a day of version 2: 96 slots, 1,024 levels (left to the design), w = 1, encrypted at the DSO", () => {
    expect(demoFlags([])).toMatchObject({ design: "v2", slots: 96, width: 1, encryptAt: "dso", meters: dayDemoDefaults.meters, daySeconds: dayDemoDefaults.daySeconds });
    expect(demoFlags([]).levels).toBeUndefined();
    expect(demoFlags(["--encrypt-at", "meter", "--slots", "24", "--levels", "512", "--width", "2"])).toMatchObject({ encryptAt: "meter", slots: 24, levels: 512, width: 2 });
    expect(demoFlags(["--design", "v1", "--rounds", "3"])).toMatchObject({ design: "v1", rounds: 3 });
  });

  it("refuses bad values naming the flag", () => {
    for (const [flag, bad] of [["--design", "v3"], ["--encrypt-at", "gateway"], ["--slots", "0"], ["--levels", "1025"], ["--width", "9"], ["--day-seconds", "1"]] as const) {
      expect(() => demoFlags([flag, bad]), `${flag} ${bad}`).toThrow(new RegExp(flag));
    }
  });

  it("refuses slots that do not cut the day into whole seconds longer than the gate-closure lead", () => {
    expect(() => checkDayOptions({ slots: 7 })).toThrow(/--slots/);
    expect(() => checkDayOptions({ slots: 288 })).toThrow(/--slots/);
    expect(checkDayOptions({ slots: 144 })).toEqual({ slotSeconds: 600 });
    expect(checkDayOptions({ slots: 96 })).toEqual({ slotSeconds: 900 });
    expect(() => checkDayOptions({ slots: 24, daySeconds: 0 })).toThrow(/daySeconds/);
  });
});
