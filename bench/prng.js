'use strict';

/**
 * Deterministic pseudo-random integers (xorshift32) for the benches, so every run builds the
 * same records: `prng(seed)(n)` is in 0..n-1.
 */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

module.exports = { prng };
