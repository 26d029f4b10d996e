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

/** infra/compose.yaml (or a file it names) says something the podman run of infra/containers/ cannot translate. */
export class ComposeFileError extends errorClass(GridveilError, (facts: { where: string; detail: string }) => [
  `compose file: ${facts.where}: ${facts.detail}`,
  { hint: "infra/containers/compose.ts translates a subset of Compose; extend it with the new key, or keep to that subset" },
]) {}

/** A step of `infra/containers.sh` failed: what it was doing, why, and the log that says more. */
export class ContainersStepError extends errorClass(
  GridveilError,
  (facts: { step: string; detail: string; log?: string | undefined; hint?: string | undefined }) => [
    `containers: ${facts.step}: ${facts.detail}`,
    { value: facts.log, hint: facts.hint ?? (facts.log ? `read ${facts.log}` : undefined) },
  ],
) {}

/** The containers' market ran but its outcome is wrong: a check of the DSO's ledger or of the chain failed. */
export class ContainersCheckError extends errorClass(GridveilError, (facts: { check: string; detail: string; logs: string }) => [
  `containers check: ${facts.check}: ${facts.detail}`,
  { value: facts.logs, hint: `the containers' logs are in ${facts.logs}` },
]) {}
