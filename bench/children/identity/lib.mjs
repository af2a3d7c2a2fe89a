// A local module a stage imports a helper from (for linear-identity.mjs).
export const OFFSET = 1;
export function offset(x) {
  return x + OFFSET - 1;
}
