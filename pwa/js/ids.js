// Record and op ids made on the phone: UUIDv7 (RFC 9562), the Unix time in milliseconds in the
// first 48 bits, then the version (7), 12 random bits, the variant (10) and 62 random bits.
// Ids made one after another sort together, so the server's indexes grow at their end instead
// of at a random page each. The time only orders ids; the server decides nothing by it (phone
// clocks can be wrong), and ids made before this (v4) stay valid.

export function uuid7(now = Date.now()) {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = Math.max(0, Math.floor(now));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256; // 48 bits do not fit the 32 of JavaScript's bit operators
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
