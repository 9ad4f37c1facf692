// Translations for the browser, from pwa/i18n/<locale>.json (built from the .po files).
// The plural rule is the .po file's own expression, evaluated by a tiny parser (no eval:
// the Content-Security-Policy forbids it, and Intl.PluralRules may disagree with the .po).

const LOCALES = ["vi", "en"];
let catalogue = { locale: "vi", nplurals: 1, plural: "0", messages: {} };
let pluralFn = () => 0;

export function currentLocale() {
  return catalogue.locale;
}

export function pickLocale() {
  const saved = localStorage.getItem("langso.locale");
  if (LOCALES.includes(saved)) return saved;
  const docLang = document.documentElement.lang;
  return LOCALES.includes(docLang) ? docLang : "vi";
}

export async function loadCatalogue(locale) {
  const url = `/static/i18n/${locale}.json`;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    // Not yet under the service worker's control and offline: read its cache directly.
    response = "caches" in window ? await caches.match(url, { ignoreSearch: true, ignoreVary: true }) : null;
    if (!response) throw error;
  }
  catalogue = await response.json();
  pluralFn = compilePlural(catalogue.plural);
  document.documentElement.lang = catalogue.locale;
  localStorage.setItem("langso.locale", catalogue.locale);
}

function interpolate(text, vars) {
  return vars ? text.replace(/%\((\w+)\)s/g, (_m, k) => String(vars[k] ?? "")) : text;
}

// gettext: _("Saved") or _("Hello %(name)s", {name})
export function _(message, vars) {
  const found = catalogue.messages[message];
  return interpolate(typeof found === "string" && found ? found : message, vars);
}

// ngettext: plural forms chosen by the .po rule; %(num)s is the count.
export function ngettext(singular, plural, n, vars) {
  const forms = catalogue.messages[singular];
  let text;
  if (Array.isArray(forms) && forms.length) {
    text = forms[Math.min(pluralFn(n), forms.length - 1)];
  } else {
    text = n === 1 ? singular : plural;
  }
  return interpolate(text, { num: n, ...vars });
}

// --- A parser for C plural expressions: n, integers, ! % * / + - < > <= >= == != && || ?: ( )
export function compilePlural(source) {
  const tokens = source.match(/\d+|n|&&|\|\||[=!<>]=|[-+*/%<>!?:()]/g) || ["0"];
  let i = 0;
  const peek = () => tokens[i];
  const take = () => tokens[i++];
  const binary = (next, ops) => () => {
    let left = next();
    while (ops.includes(peek())) {
      const op = take();
      const right = next();
      const l = left;
      left = (n) => apply(op, l(n), right(n));
    }
    return left;
  };
  function apply(op, a, b) {
    switch (op) {
      case "*": return a * b;
      case "/": return Math.trunc(a / b);
      case "%": return a % b;
      case "+": return a + b;
      case "-": return a - b;
      case "<": return +(a < b);
      case ">": return +(a > b);
      case "<=": return +(a <= b);
      case ">=": return +(a >= b);
      case "==": return +(a === b);
      case "!=": return +(a !== b);
      case "&&": return +(a && b);
      case "||": return +(a || b);
    }
    return 0;
  }
  function primary() {
    const t = take();
    if (t === "(") {
      const e = ternary();
      take(); // ")"
      return e;
    }
    if (t === "!") {
      const e = primary();
      return (n) => +!e(n);
    }
    if (t === "n") return (n) => n;
    const value = Number(t) || 0;
    return () => value;
  }
  const mul = binary(primary, ["*", "/", "%"]);
  const add = binary(mul, ["+", "-"]);
  const rel = binary(add, ["<", ">", "<=", ">="]);
  const eq = binary(rel, ["==", "!="]);
  const and = binary(eq, ["&&"]);
  const or = binary(and, ["||"]);
  function ternary() {
    const cond = or();
    if (peek() !== "?") return cond;
    take();
    const yes = ternary();
    take(); // ":"
    const no = ternary();
    return (n) => (cond(n) ? yes(n) : no(n));
  }
  const fn = ternary();
  return (n) => Number(fn(n)) || 0;
}

// Dates and numbers the way people write them: 9/3/2026, 1.234.567 (vi).
export function formatDate(value) {
  const d = value instanceof Date ? value : new Date(value);
  return d.toLocaleDateString(currentLocale(), { day: "numeric", month: "numeric", year: "numeric", timeZone: "Asia/Ho_Chi_Minh" });
}

export function formatTime(value) {
  const d = value instanceof Date ? value : new Date(value);
  return d.toLocaleTimeString(currentLocale(), { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Ho_Chi_Minh" });
}

export function formatNumber(n) {
  return new Intl.NumberFormat(currentLocale()).format(n);
}

export function formatRelative(value) {
  const seconds = Math.round((new Date(value).getTime() - Date.now()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(currentLocale(), { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}
