// How much gas one transaction may ask of a node: its block gas limit, or less where the node caps transactions
// (EIP-7825: from Osaka on, 2^24 gas; Hardhat's `node` network, for one, enforces it).
import type { JsonRpcProvider } from "ethers";

/** EIP-7825's per-transaction gas cap. */
export const EIP7825_TX_GAS_CAP = 2n ** 24n;

/**
 * Reads the node's per-transaction gas cap by asking it to run a call with the whole block's gas: a node that caps
 * transactions refuses, and says its cap ("transaction gas limit (…) is greater than the cap (16777216)"); one that
 * does not answers. A refusal that names no number is taken as EIP-7825's cap.
 */
export async function readTxGasCap(provider: JsonRpcProvider, blockGasLimit: bigint): Promise<bigint> {
  try {
    await provider.send("eth_call", [{ to: "0x0000000000000000000000000000000000000001", gas: `0x${blockGasLimit.toString(16)}` }, "latest"]);
    return blockGasLimit;
  } catch (error) {
    const text = describeRpcError(error);
    const named = /\bcap\b\D*\((\d+)\)/i.exec(text) ?? /\bcap(?:\s+of|\s+is)?\s+(\d+)/i.exec(text);
    if (named) return BigInt(named[1] as string);
    if (/gas limit.*(cap|too high|exceeds)/i.test(text)) return EIP7825_TX_GAS_CAP < blockGasLimit ? EIP7825_TX_GAS_CAP : blockGasLimit;
    throw error;
  }
}

/** The node's own words inside an ethers error (ethers wraps them as `info.error`), and ethers' message. */
function describeRpcError(error: unknown): string {
  const info = (error as { info?: { error?: { message?: unknown } } } | null)?.info?.error?.message;
  const message = error instanceof Error ? error.message : String(error);
  return typeof info === "string" ? `${info} ${message}` : message;
}
