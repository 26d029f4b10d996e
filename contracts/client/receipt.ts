// Waits for a market transaction's receipt (ethers returns null only when asked for zero confirmations).
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { UnexpectedReceiptError } from "./errors.ts";

export async function waitForReceipt(tx: ContractTransactionResponse): Promise<ContractTransactionReceipt> {
  const receipt = await tx.wait();
  if (receipt === null) throw new UnexpectedReceiptError({ reason: "noReceipt", value: tx.hash });
  return receipt;
}
