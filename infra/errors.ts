// Errors of the deployment tooling (infra/market.ts), built from their facts (protocol/base/errors.ts).
import { errorClass, GridveilError } from "../protocol/base/errors.ts";

/** A step of `gridveil market up` failed; everything started so far was stopped again. */
export class MarketStartError extends errorClass(
  GridveilError,
  (facts: { step: string; detail: string; log?: string | undefined; hint?: string }) => [
    `market up: ${facts.step}: ${facts.detail}`,
    { value: facts.log, hint: facts.hint ?? (facts.log ? `see ${facts.log}` : undefined) },
  ],
) {}

/** `gridveil market down` (or a reader) found no market started from this directory. */
export class MarketNotRunningError extends errorClass(GridveilError, (facts: { dir: string; cause: unknown }) => [
  "no market was started from this directory",
  { value: facts.dir, hint: "gridveil market up --dir DIR starts one", cause: facts.cause },
]) {}
