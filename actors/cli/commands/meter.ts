// `gridveil meter`: runs one smart meter as its own process (flags or environment), stopping gracefully on SIGTERM.
// Its flags, variables and defaults are actors/config/meter.ts.
import type { Command } from "commander";
import { z } from "zod";
import { plannedBidSchema, type PlannedBid } from "../../../machines/meter.ts";
import { InvalidSettingError, MissingSettingError } from "../../../protocol/base/errors.ts";
import { meterSettings } from "../../config/meter.ts";
import { startMeterRuntime, type MeterRuntime } from "../../meter/runtime.ts";
import { registerPartyCommand, loadMachineConfig, runParty, privateKeyOf, readJsonFile, type KeyFlags, type PartyFlags } from "../partyProcess.ts";

type MeterFlags = PartyFlags &
  KeyFlags & {
    meterId?: string;
    inbox?: string;
    name?: string;
    dsoAddress?: string;
    plan?: string;
    bid: PlannedBid[];
    deliveryRatio: number;
    neverOpen?: boolean;
    forgeOpening?: boolean;
    exitWhenDone?: boolean;
  };

/** `--plan FILE`: a JSON array of planned bids (the profile format; extra fields such as `round` are ignored). */
export function loadPlanFile(path: string): PlannedBid[] {
  const parsed = z.array(plannedBidSchema).max(10_000).safeParse(readJsonFile("--plan", path, 'a JSON array of { "planId", "side", "priceLevel", "quantityWh" }'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidSettingError({
      setting: "the --plan file",
      expected: "a list of planned bids",
      value: issue ? `${issue.path.join(".")}: ${issue.message}` : path,
      hint: 'each entry: { "planId": "r0", "side": "sell", "priceLevel": 2, "quantityWh": 1200 }',
    });
  }
  return parsed.data;
}

export function registerMeterCommand(program: Command): Command {
  const description = "run a smart meter: enrol with the DSO, bid its plan with one-time ids, open, verify, deliver and settle";
  return registerPartyCommand<MeterFlags>(program, "meter", description, meterSettings, runMeter);
}

async function runMeter(flags: MeterFlags): Promise<void> {
  // Everything that can be wrong with the flags fails here, before anything starts.
  if (flags.meterId === undefined) throw new MissingSettingError({ who: "the meter", setting: "its permanent id", hint: "--meter-id ID or GRIDVEIL_METER_ID" });
  const id = flags.meterId;
  const meterPrivateKey = privateKeyOf(flags, {
    party: "meter",
    key: "its long-term private key (its address is provisioned with the DSO)",
    hint: "--key-file FILE, or GRIDVEIL_METER_KEY=0x… (or --key 0x…)",
  });
  const config = loadMachineConfig(flags.config);
  const plan = [...(flags.plan === undefined ? [] : loadPlanFile(flags.plan)), ...flags.bid];
  const planIds = new Set<string>();
  for (const bid of plan) {
    if (planIds.has(bid.planId)) throw new InvalidSettingError({ setting: "plan ids", expected: "unique", value: bid.planId });
    planIds.add(bid.planId);
  }
  // Levels are checked against the market's own count once enrolled (the machine records a refused bid).
  return runParty<MeterRuntime>({
    actor: "meter",
    flags,
    dataDirName: `meter-${id}`,
    // The reason is a signal, or "done" (--exit-when-done); the last line reports it with the counters.
    reasonField: "reason",
    start: (basics) =>
      startMeterRuntime({
        ...basics,
        meterId: id,
        ...(flags.inbox === undefined ? {} : { inboxId: flags.inbox }),
        meterPrivateKey,
        name: flags.name ?? id,
        plan,
        faults: { neverOpen: flags.neverOpen === true, forgeOpening: flags.forgeOpening === true },
        ...(flags.deliveryRatio === undefined ? {} : { deliveryRatio: flags.deliveryRatio }),
        ...(flags.dsoAddress === undefined ? {} : { dsoAddress: flags.dsoAddress }),
        config,
      }),
    started: (runtime, shutdown) => {
      process.stdout.write(`${JSON.stringify({ meter: id, address: runtime.address, market: flags.market })}\n`);
      void runtime.enrolled.then(
        ({ inboxId }) => process.stdout.write(`${JSON.stringify({ meter: id, enrolled: true, inbox: inboxId })}\n`),
        () => undefined,
      );
      if (flags.exitWhenDone) {
        void runtime.enrolled.then(
          () => runtime.whenIdle().then(() => shutdown.begin("done")),
          () => undefined,
        );
      }
    },
    stopped: (runtime, reason) => {
      const { filledWh: _energy, ...counters } = runtime.counters();
      process.stdout.write(`${JSON.stringify({ meter: id, stopped: reason, ...counters })}\n`);
    },
  });
}
