// Progress of a long command on stderr: a bar on a terminal; elsewhere (CI logs, redirected stderr) one line per
// phase change, so a log shows where the run is without a line per step.
import cliProgress from "cli-progress";

import type { BenchProgress } from "../../bench/progress.ts";

export type Progress = { update: (progress: BenchProgress) => void; stop: () => void };

/** Starts the progress display of `label` (e.g. "bench gas"). */
export function startProgress(label: string): Progress {
  if (!process.stderr.isTTY) {
    let lastPhase = "";
    return {
      update: ({ phase, completed, total }) => {
        if (phase === lastPhase) return;
        lastPhase = phase;
        process.stderr.write(`${label}: ${phase} (${Math.floor((100 * completed) / total)}%)\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {phase} | ETA {eta_formatted}`, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: ({ completed, total, phase }) => {
      if (!started) {
        bar.start(total, 0, { phase });
        started = true;
      }
      bar.update(completed, { phase });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/** Runs `work` with the progress display of `label`, stopped however the work ends. */
export async function withProgress<T>(label: string, work: (onProgress: Progress["update"]) => Promise<T>): Promise<T> {
  const progress = startProgress(label);
  try {
    return await work(progress.update);
  } finally {
    progress.stop();
  }
}
