// The chain writer against a stand-in JSON-RPC node that records when each transaction arrives: pipelined
// transactions leave one by one as they are signed, in nonce order, not once the whole wave is signed.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Contract, JsonRpcProvider, Transaction, Wallet, type TransactionLike, type TransactionRequest } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { createChainWriter } from "../../actors/gateway/chainWriter.ts";
import { getMarketInterface, type GridveilMarketContract, type MarketHandle, type SignedBid } from "../../contracts/client/index.ts";

const CHAIN_ID = 31337;
/** How long the stand-in node "executes" a transaction before answering, as an automining node does. */
const EXECUTION_MS = 40;

type FakeNode = { url: string; arrivals: { at: number; nonce: number }[]; close(): Promise<void> };

async function startFakeNode(): Promise<FakeNode> {
  const arrivals: FakeNode["arrivals"] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const call = JSON.parse(Buffer.concat(chunks).toString()) as { id: number; method: string; params: unknown[] };
      const reply = (result: unknown) => response.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, result }));
      switch (call.method) {
        case "eth_chainId":
          return reply(`0x${CHAIN_ID.toString(16)}`);
        case "eth_getTransactionCount":
          return reply("0x0");
        case "eth_gasPrice":
        case "eth_maxPriorityFeePerGas":
          return reply("0x1");
        case "eth_getBlockByNumber":
          return reply({
            number: "0x1",
            hash: `0x${"11".repeat(32)}`,
            parentHash: `0x${"22".repeat(32)}`,
            nonce: "0x0000000000000000",
            difficulty: "0x0",
            gasLimit: "0x1c9c380",
            gasUsed: "0x0",
            miner: `0x${"00".repeat(20)}`,
            extraData: "0x",
            baseFeePerGas: "0x1",
            timestamp: "0x1",
            transactions: [],
          });
        case "eth_sendRawTransaction": {
          const tx = Transaction.from(call.params[0] as string);
          arrivals.push({ at: performance.now(), nonce: tx.nonce });
          setTimeout(() => reply(tx.hash), EXECUTION_MS);
          return;
        }
        default:
          // Receipts are not the point here: the calls fail afterwards, as a lost receipt would.
          response.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, error: { code: -32601, message: `not served: ${call.method}` } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A wallet that notes when each signature is done. */
class RecordingWallet extends Wallet {
  readonly signedAt: number[] = [];
  override async signTransaction(tx: TransactionRequest): Promise<string> {
    const signed = await super.signTransaction(tx as TransactionLike<string>);
    this.signedAt.push(performance.now());
    return signed;
  }
}

function bid(i: number): SignedBid {
  const word = (k: number) => BigInt(i * 1_000 + k + 1);
  return {
    bidder: Wallet.createRandom().address as `0x${string}`,
    side: 0,
    notAfter: 1_000n,
    commitment: `0x${"ab".repeat(32)}`,
    // A ciphertext's size at 10 levels: signing and encoding cost what they cost for real.
    left: Array.from({ length: 22 }, (_, k) => word(k)),
    right: Array.from({ length: 44 }, (_, k) => word(100 + k)),
    ticketSignature: `0x${"01".repeat(65)}`,
    bidderSignature: `0x${"02".repeat(65)}`,
  };
}

let node: FakeNode | undefined;
afterEach(async () => {
  await node?.close();
  node = undefined;
});

describe("chain writer", () => {
  it("hands each transaction of a wave to the node as soon as it is signed, in nonce order", async () => {
    node = await startFakeNode();
    const provider = new JsonRpcProvider(node.url, CHAIN_ID, { staticNetwork: true, batchMaxCount: 1 });
    const wallet = new RecordingWallet(Wallet.createRandom().privateKey, provider);
    const address = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const market: MarketHandle = {
      contract: new Contract(address, getMarketInterface(), provider) as unknown as GridveilMarketContract,
      address,
      dim: 11,
      domain: { name: "GridveilMarket", version: "1", chainId: BigInt(CHAIN_ID), verifyingContract: address },
    };
    const writer = createChainWriter({ market, wallet, provider, gasLimit: 30_000_000n, receiptTimeoutMs: 10_000 });
    try {
      // The first transaction opens the writer's one keep-alive connection (as the gateway's first one does).
      await expect(writer.placeBatch([bid(99)])).rejects.toThrow();
      node.arrivals.length = 0;
      wallet.signedAt.length = 0;
      const wave = 6;
      // Four bids per transaction, like the benchmark's chunks at 10 levels.
      const outcomes = await Promise.allSettled(
        Array.from({ length: wave }, (_, i) => writer.placeBatch([0, 1, 2, 3].map((k) => bid(4 * i + k)))),
      );
      expect(outcomes.every((outcome) => outcome.status === "rejected")).toBe(true);
      expect(node.arrivals.map((arrival) => arrival.nonce)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(wallet.signedAt).toHaveLength(wave);
      // The first transaction reached the node before the third one was signed (it used to wait for all six).
      expect(node.arrivals[0]!.at).toBeLessThan(wallet.signedAt[2]!);
    } finally {
      writer.close();
      provider.destroy();
    }
  });
});
