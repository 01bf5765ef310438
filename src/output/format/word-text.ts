/**
 * A constant byte string (char codes 0..255) as little-endian 32-bit words, the last one padded:
 * written four bytes per store. The encoders' fixed text (JSON keys, protobuf key heads) went
 * byte by byte at a third of their cost. The padding lands past the string's end, where the next
 * write goes, so it never survives; writers keep 3 bytes of room for it.
 */
export interface WordText {
  readonly words: Uint32Array;
  readonly length: number;
}

export function wordText(s: string): WordText {
  const words = new Uint32Array(Math.ceil(s.length / 4));
  for (let i = 0; i < s.length; i++) words[i >> 2] |= s.charCodeAt(i) << (8 * (i & 3));
  return { words, length: s.length };
}

/** Writes `text` at `p` (plus up to 3 bytes of padding after it, which the caller has room for); returns its end. */
export function putWords(view: DataView, p: number, text: WordText): number {
  const w = text.words;
  for (let i = 0; i < w.length; i++) view.setUint32(p + 4 * i, w[i], true);
  return p + text.length;
}
