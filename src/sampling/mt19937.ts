// The random stream of seeded sampling.

/** The Mersenne Twister mt19937 (as std::mt19937), so a seed means the same stream everywhere. */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * prev + i, in 32 bits.
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** A copy in the same state: its numbers are this one's next ones. */
  clone(): Mt19937 {
    const c = new Mt19937(0);
    c.mt.set(this.mt);
    c.index = this.index;
    return c;
  }

  nextU32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) from two outputs, as libstdc++'s generate_canonical<double> builds it. */
  nextDouble(): number {
    const lo = this.nextU32();
    const hi = this.nextU32();
    const u = (lo + hi * 4294967296) / 18446744073709551616;
    return u < 1 ? u : 1 - 2 ** -53;
  }

  /** A float in [0, 1) from one output (generate_canonical<float>). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
      let v = mt[(i + 397) % 624] ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }
}
