// Where a contract's history starts on chain, for the followers of its logs (the gateway's, the DSO's).
import type { JsonRpcProvider } from "ethers";

/**
 * The block the contract was deployed in (binary search on `eth_getCode`): where to follow from when no cursor is
 * stored, without scanning the chain from genesis. Nodes without historical state make the search fail: then 0.
 */
export async function findDeploymentBlock(provider: JsonRpcProvider, address: string): Promise<number> {
  try {
    const head = await provider.getBlockNumber();
    if ((await provider.getCode(address, head)) === "0x") return head;
    let low = 0;
    let high = head;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if ((await provider.getCode(address, middle)) === "0x") low = middle + 1;
      else high = middle;
    }
    return low;
  } catch {
    return 0;
  }
}
