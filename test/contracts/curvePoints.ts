import { FP_ORDER } from "../../protocol/fhipe/order.ts";
// Test-only BN254 helpers: a G2 twist point outside the order-r subgroup (what the precompile must reject).

const P = FP_ORDER;
type Fp2 = readonly [re: bigint, im: bigint];

const mod = (a: bigint): bigint => ((a % P) + P) % P;
const add = (a: Fp2, b: Fp2): Fp2 => [mod(a[0] + b[0]), mod(a[1] + b[1])];
const mul = (a: Fp2, b: Fp2): Fp2 => [mod(a[0] * b[0] - a[1] * b[1]), mod(a[0] * b[1] + a[1] * b[0])];
const eq = (a: Fp2, b: Fp2): boolean => a[0] === b[0] && a[1] === b[1];

function powFp(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}

function pow(base: Fp2, exponent: bigint): Fp2 {
  let result: Fp2 = [1n, 0n];
  let b = base;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = mul(result, b);
    b = mul(b, b);
  }
  return result;
}

function inverse(a: Fp2): Fp2 {
  const norm = mod(a[0] * a[0] + a[1] * a[1]);
  const normInverse = powFp(norm, P - 2n);
  return [mod(a[0] * normInverse), mod(-a[1] * normInverse)];
}

/** Square root in F_p2 = F_p[u]/(u² + 1) for p ≡ 3 (mod 4) (Adj and Rodríguez-Henríquez, Algorithm 9). */
function sqrt(a: Fp2): Fp2 | undefined {
  const minusOne: Fp2 = [P - 1n, 0n];
  const a1 = pow(a, (P - 3n) / 4n);
  const alpha = mul(mul(a1, a1), a);
  const conjugate: Fp2 = [alpha[0], mod(-alpha[1])];
  if (eq(mul(conjugate, alpha), minusOne)) return undefined;
  const x0 = mul(a1, a);
  if (eq(alpha, minusOne)) return mul([0n, 1n], x0);
  return mul(pow(add([1n, 0n], alpha), (P - 1n) / 2n), x0);
}

/** b' = 3 / (9 + u): the twist is y² = x³ + b'. */
const TWIST_B = mul([3n, 0n], inverse([9n, 1n]));

/**
 * A point on the twist curve that is (with overwhelming probability: the cofactor is ~2^254) not in G2, as EIP-197
 * words (x_im, x_re, y_im, y_re).
 */
export function twistPointOutsideSubgroup(seed = 5n): [bigint, bigint, bigint, bigint] {
  for (let re = seed; ; re++) {
    const x: Fp2 = [re, 1n];
    const y = sqrt(add(mul(mul(x, x), x), TWIST_B));
    if (y !== undefined && eq(mul(y, y), add(mul(mul(x, x), x), TWIST_B))) return [x[1], x[0], y[1], y[0]];
  }
}
