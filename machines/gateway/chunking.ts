// How a batch becomes transactions (PROTOCOL §5 bidding: "a batch entry point places several bids in one
// transaction"): chunks of at most `cap` bids, sent as one wave; a chunk that runs out of gas is sent again in smaller
// chunks; the cap the gas limit allowed carries over to the next batch. Pure: the gateway runtime sends the chunks.

/** What became of one chunk's transaction. */
export type ChunkResult =
  | { kind: "placed" }
  /** `BatchEntryOutOfGas(fits)`: the entries before index `fits` fitted the transaction's gas limit. */
  | { kind: "outOfGas"; fits: number }
  | { kind: "failed"; error: unknown };

/** The queue as one wave of chunks of at most `cap` bids (the last one shorter). */
export function chunksOf<T>(queue: readonly T[], cap: number): T[][] {
  const size = Math.max(1, Math.floor(cap));
  const chunks: T[][] = [];
  for (let start = 0; start < queue.length; start += size) chunks.push(queue.slice(start, start + size));
  return chunks;
}

export type WaveOutcome<T> = {
  /** The cap for the next wave and the next batch. */
  cap: number;
  /** Bids of chunks that ran out of gas: sent again in the next wave, in chunks of the new cap. */
  retry: T[];
  /** The first bid that fits no transaction at all (its chunk ran out of gas before its first entry). */
  unfit: T | undefined;
  /** The first transient failure: the whole batch is retried (bids other chunks placed come back as duplicates). */
  failure: { error: unknown } | undefined;
};

/**
 * After a wave: a chunk that ran out of gas lowers the cap to what fitted and goes again; a full chunk that went
 * through allows one more bid next time (the book, hence the gas per bid, keeps changing), up to `txMaxBids`.
 */
export function afterWave<T>(wave: { chunks: readonly (readonly T[])[]; cap: number }, results: readonly ChunkResult[], txMaxBids: number): WaveOutcome<T> {
  let cap = wave.cap;
  const retry: T[] = [];
  let unfit: T | undefined;
  let failure: { error: unknown } | undefined;
  results.forEach((result, index) => {
    const chunk = wave.chunks[index] ?? [];
    switch (result.kind) {
      case "placed":
        if (chunk.length === wave.cap && cap === wave.cap) cap = Math.min(txMaxBids, wave.cap + 1);
        return;
      case "outOfGas":
        if (result.fits > 0 && result.fits < chunk.length) {
          cap = Math.min(cap, result.fits);
          retry.push(...chunk);
        } else {
          unfit ??= chunk[0];
        }
        return;
      case "failed":
        failure ??= { error: result.error };
        return;
    }
  });
  return { cap, retry, unfit, failure };
}
