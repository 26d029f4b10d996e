// Errors of the FHIPE / encoding / serialization core: one class per rejected condition, all GridveilErrors.
import { GridveilError } from "../base/errors.ts";

/** A vector, ciphertext or matrix has the wrong length for the key or the other operand. */
export class DimensionMismatchError extends GridveilError {
  override name = "DimensionMismatchError";
}

/** A price level index outside [0, levels), or a level count that cannot be encoded. */
export class PriceLevelOutOfRangeError extends GridveilError {
  override name = "PriceLevelOutOfRangeError";
}

/** A scalar that must be a non-zero element of F_r (randomizer, matrix entry) is not. */
export class ScalarOutOfRangeError extends GridveilError {
  override name = "ScalarOutOfRangeError";
}

/** Coordinates that are not field elements, or do not satisfy the curve equation. */
export class PointNotOnCurveError extends GridveilError {
  override name = "PointNotOnCurveError";
}

/** A G2 point on the twist curve but outside the order-r subgroup (G2 has a cofactor; G1 does not). */
export class PointNotInSubgroupError extends GridveilError {
  override name = "PointNotInSubgroupError";
}

/** A matrix with determinant 0 mod r where an invertible one is required. */
export class SingularMatrixError extends GridveilError {
  override name = "SingularMatrixError";
}

/** A binary message shorter than its header says. */
export class TruncatedBufferError extends GridveilError {
  override name = "TruncatedBufferError";
}

/** A binary message with the wrong magic, kind or version, or with bytes after its end. */
export class BinaryFormatError extends GridveilError {
  override name = "BinaryFormatError";
}

/** Decrypt found no z in [0, maxValue] with D1^z = D2. */
export class DiscreteLogNotFoundError extends GridveilError {
  override name = "DiscreteLogNotFoundError";
}

/** A curve operation ran before `initCurve()` resolved. */
export class CurveNotInitializedError extends GridveilError {
  override name = "CurveNotInitializedError";
}

/** An encryption worker thread failed, exited, or the pool was already closed. */
export class EncryptionPoolError extends GridveilError {
  override name = "EncryptionPoolError";
}
