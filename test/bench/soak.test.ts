// `gridveil bench soak` (bench/soak.ts) runs the fault test's cycle and checks (infra/faults.ts, exercised for real by
// test/infra/faults.test.ts) for minutes; here: its report names every defect a run shows and only those.
import { describe, expect, it } from "vitest";
import { renderSoakTable } from "../../actors/cli/commands/benchSoak.ts";
import type { SoakRow } from "../../bench/soak.ts";

const clean = (run: SoakRow["run"]): SoakRow => ({
  run,
  meters: 4,
  minutes: 2,
  cycles: run === "faults" ? 3 : 0,
  submitted: 40,
  placed: 39,
  rejected: 1,
  lost: 0,
  placedTwice: 0,
  matches: 18,
  matchesNotEnded: 0,
  settled: 16,
  failedOfKilledMeters: 2,
  failedOfLiveMeters: 0,
  ledgerBalanced: true,
  placedPerMin: 19.5,
});

describe("bench soak report", () => {
  it("says a clean pair of runs is clean, and names the run of each defect", () => {
    expect(renderSoakTable([clean("baseline"), clean("faults")])).toContain("Nothing lost, nothing placed twice");
    for (const defect of [{ lost: 1 }, { placedTwice: 1 }, { matchesNotEnded: 1 }, { failedOfLiveMeters: 1 }, { ledgerBalanced: false }]) {
      const report = renderSoakTable([clean("baseline"), { ...clean("faults"), ...defect }]);
      expect(report, JSON.stringify(defect)).toContain("DEFECTS in: faults");
      expect(report).not.toContain("Nothing lost");
    }
  });
});
