// The largest size that still fits, found by trying sizes: gallop up from an estimate, then bisect. Both designs'
// largest batches are measured this way (bench/gas.ts, bench/gasV2.ts), each size tried by sending it.

/** The largest n ≥ 0 with `fits(n)`, assuming fits is monotone; starts at `estimate` (at least 1). */
export async function largestFitting(estimate: number, fits: (size: number) => Promise<boolean>): Promise<number> {
  let fitting = 0;
  let failing = Math.max(1, Math.floor(estimate));
  if (await fits(failing)) {
    fitting = failing;
    let step = 1;
    while (await fits(fitting + step)) {
      fitting += step;
      step *= 2;
    }
    failing = fitting + step;
  }
  while (failing - fitting > 1) {
    const middle = Math.floor((fitting + failing) / 2);
    if (await fits(middle)) fitting = middle;
    else failing = middle;
  }
  return fitting;
}
