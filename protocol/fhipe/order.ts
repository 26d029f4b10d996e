// The BN254 group order and base field modulus (PROTOCOL §2), without the curve library, so that schemas can
// check scalars without loading mcl-wasm.

/** Order r of G1, G2 and GT: scalars live in F_r. */
export const FR_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** Base field modulus p: point coordinates live in F_p (G2: F_p^2). */
export const FP_ORDER = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
