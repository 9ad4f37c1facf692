// The browser's copy of server/text.py and server/privacy.py: search keys and masking.
// Keep the two in step: tests/browser check that both fold the same names the same way.

const D_MAP = { "đ": "d", "Đ": "d", "Ð": "d", "Ɖ": "d", "ɖ": "d" };

export function nfc(value) {
  return (value || "").normalize("NFC").replace(/\s+/g, " ").trim();
}

export function fold(value) {
  return (value || "")
    .replace(/[đĐÐƉɖ]/g, (c) => D_MAP[c])
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

export function matches(query, key) {
  return fold(query).split(" ").every((word) => key.includes(word));
}

// National ID numbers (9 or 12 digits, maybe grouped) and codes after words like "OTP" are
// masked before they are stored; the server masks again.
const ID_NUMBER = /(?<![\d+])(?:\d[ .-]?){11}\d(?!\d)|(?<![\d+])(?:\d[ .-]?){8}\d(?!\d)/g;
const CODE_WORDS = "otp|ma xac thuc|ma xac nhan|mat khau|password|pin|code|mk|ma";
const SECRET_CODE = new RegExp(`\\b(${CODE_WORDS})\\b([^\\d\\n]{0,12})(\\d{4,8})(?!\\d)`, "gi");

// fold() one UTF-16 unit at a time, so that positions in the result match the original.
function foldInPlace(text) {
  let out = "";
  for (const c of text.split("")) {
    const f = fold(c);
    out += f.length === 1 ? f : c;
  }
  return out;
}

export function maskSecrets(text) {
  if (!text) return text;
  const original = text.normalize("NFC").replace(ID_NUMBER, (m) => {
    const digits = m.replace(/\D/g, "");
    return digits.length === 9 || digits.length === 12 ? "•••" : m;
  });
  let result = "";
  let last = 0;
  for (const m of foldInPlace(original).matchAll(SECRET_CODE)) {
    const start = m.index + m[1].length + m[2].length;
    result += original.slice(last, start) + "•••";
    last = start + m[3].length;
  }
  return result + original.slice(last);
}
