// The browser's copy of server/text.py and server/privacy.py: search keys and masking.
// Keep the two in step: tests/browser check that both fold the same names the same way.

const D_MAP = { "đ": "d", "Đ": "d", "Ð": "d", "Ɖ": "d", "ɖ": "d" };

// A half emoji (a lone surrogate, left by a cut at maxlength) becomes U+FFFD: the server
// refuses text it cannot store.
export function nfc(value) {
  const text = value || "";
  return (text.toWellFormed ? text.toWellFormed() : text).normalize("NFC").replace(/\s+/g, " ").trim();
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

// The masking of server/privacy.py, rule for rule (tests/mask_cases.json checks both): national
// ID numbers (9 or 12 digits, however grouped) and codes after words like "OTP" become "•••"
// before a record is queued; the server masks again. The patterns read a key of the text:
// compatibility-normalised, every decimal digit as 0-9, every dash as "-", format characters
// (zero-width spaces, joiners, soft hyphens) dropped, letters folded.
const W = String.raw`[\p{L}\p{N}_]`;
const LETTER = String.raw`\p{L}`;
const SEP = String.raw`(?: ?[.\-] ?| {1,2})?`;
const DIGIT_RUN = new RegExp(
  String.raw`(?<![\p{L}\p{N}_+])(?<!${W}[./\-])\+?[0-9](?:${SEP}[0-9])*(?![./\-]?${W})`,
  "gu",
);
const ID_GLUED = new RegExp(
  String.raw`(?<!${LETTER})(?:cccd|cmnd|cmt|cc|cancuoc|ddcn|dinhdanh)[:#]?([0-9](?:${SEP}[0-9])*)(?![./\-]?${W})`,
  "gud",
);
const PAIRS = new RegExp(
  String.raw`(?<![\p{L}\p{N}_+.,/\-])[0-9]{1,2}(?: [0-9]{1,2}){2,5}(?![\p{L}\p{N}_/\-]|[.,][0-9])`,
  "gu",
);
const ID_LENGTHS = [12, 9];
const CURRENCY_AFTER = new RegExp(String.raw`^\s*(?:d|dong|vnd)(?!${W})`, "u");
const WORD_END = String.raw`(?!${LETTER})`;
const LINK = String.raw`(?:(?:otp|pin|xac thuc|xac nhan|kich hoat|dang nhap|vneid|moi|cu|la|cua ${W}+)${WORD_END}|[:=\-])`;
const CODE_WORDS =
  "otp|ma xac thuc|ma xac nhan|ma kich hoat|ma pin|ma|code|pin|passcode|mat khau|mk|password";
const CODE = new RegExp(
  String.raw`(?<!${W})(?:${CODE_WORDS})${WORD_END}(?:\s*${LINK})*\s*[:=]?\s*([0-9](?:${SEP}[0-9]){3,7})(?!${SEP}[0-9]|[./\-]?${W})`,
  "gud",
);
const PASSWORD = new RegExp(
  String.raw`(?<!${W})(?:mat khau|mk|password|pass)${WORD_END}(?:\s*${LINK})*\s*[:=]?\s*(\S{4,40})`,
  "gud",
);
const TRAILING = ".,;:!?)]}\"'";

// A decimal digit's value is its place in its block of ten (Unicode keeps each block 0-9 in order).
function digitValue(ch) {
  const code = ch.codePointAt(0);
  let before = 0;
  while (/\p{Nd}/u.test(String.fromCodePoint(code - before - 1))) before += 1;
  return String(before % 10);
}

function keyChar(ch) {
  if (/\p{Cf}/u.test(ch)) return ""; // zero-width space, joiners, direction marks, soft hyphen
  if (/\p{Nd}/u.test(ch)) return /[0-9]/.test(ch) ? ch : digitValue(ch); // ０, ٣, ৫ … as 0-9
  if (/\p{Pd}/u.test(ch)) return "-";
  if (/\s/u.test(ch)) return " ";
  const k = fold(ch.normalize("NFKC"));
  return k ? k[0] : " ";
}

// The key and, for each of its characters, where its character starts and ends in `text`.
function keyOf(text) {
  let key = "";
  const from = [];
  const to = [];
  let i = 0;
  for (const ch of text) {
    const k = keyChar(ch);
    if (k) {
      key += k;
      from.push(i);
      to.push(i + ch.length);
    }
    i += ch.length;
  }
  return { key, from, to };
}

function countDigits(run) {
  return (run.match(/[0-9]/g) || []).length;
}

function isPhone(run) {
  const digits = run.replace(/[^0-9]/g, "");
  return digits.length === 10 && digits.startsWith("0");
}

function idSpans(key) {
  const spans = [];
  for (const m of key.matchAll(DIGIT_RUN)) {
    const end = m.index + m[0].length;
    if (m[0].startsWith("+") || CURRENCY_AFTER.test(key.slice(end))) continue;
    // Chunks split at spaces: "0912345678 001122334455" is a phone and an ID number.
    const chunks = Array.from(m[0].matchAll(/\S+/g), (c) => [
      c.index + m.index,
      c.index + m.index + c[0].length,
    ]);
    const digits = chunks.map(([a, b]) => countDigits(key.slice(a, b)));
    const total = digits.reduce((x, y) => x + y, 0);
    if (ID_LENGTHS.includes(total)) {
      spans.push([m.index, end]);
      continue;
    }
    if (isPhone(m[0])) continue;
    let i = 0;
    while (i < chunks.length) {
      let found = false;
      for (const n of ID_LENGTHS) {
        let count = 0;
        let j = i;
        while (j < chunks.length && count < n) count += digits[j++];
        if (count === n) {
          spans.push([chunks[i][0], chunks[j - 1][1]]);
          i = j;
          found = true;
          break;
        }
      }
      if (!found) i += 1;
    }
  }
  for (const m of key.matchAll(ID_GLUED)) {
    if (ID_LENGTHS.includes(countDigits(m[1]))) spans.push(m.indices[1]);
  }
  for (const m of key.matchAll(PAIRS)) {
    const end = m.index + m[0].length;
    if (countDigits(m[0]) === 6 && !CURRENCY_AFTER.test(key.slice(end))) spans.push([m.index, end]);
  }
  return spans;
}

function codeSpans(key) {
  const spans = Array.from(key.matchAll(CODE), (m) => m.indices[1]);
  for (const m of key.matchAll(PASSWORD)) {
    let [start, end] = m.indices[1];
    while (end > start && TRAILING.includes(key[end - 1])) end -= 1;
    if (end - start >= 4 && /[0-9]/.test(key.slice(start, end))) spans.push([start, end]);
  }
  return spans;
}

export function maskSecrets(text) {
  if (!text) return text;
  text = text.normalize("NFC");
  if (!/\p{N}/u.test(text)) return text; // every secret we mask has a digit in it
  const { key, from, to } = keyOf(text);
  const spans = idSpans(key)
    .concat(codeSpans(key))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged = []; // overlapping matches become one mask
  for (const [keyStart, keyEnd] of spans) {
    const start = from[keyStart];
    const end = to[keyEnd - 1];
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  let out = "";
  let pos = 0;
  for (const [start, end] of merged) {
    out += text.slice(pos, start) + "•••";
    pos = end;
  }
  return out + text.slice(pos);
}
