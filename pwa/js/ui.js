// Small DOM helpers: build elements with text (never innerHTML for what people typed).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const ICONS = "/static/vendor/lucide/icons.svg";
const SVG = "http://www.w3.org/2000/svg";

// An icon from the vendored Lucide sprite, always beside a word (screen readers skip it).
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `${ICONS}#${name}`);
  svg.append(use);
  return svg;
}

export function mount(root, ...children) {
  root.replaceChildren(...children.flat(Infinity).filter(Boolean));
}

let toastTimer = null;

export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 4000);
}

// A group of toggle buttons that behave like radio buttons (big touch targets).
export function chips(name, options, selected, onPick, { multiple = false, label } = {}) {
  const group = h("div", { class: "chips", role: "group", "aria-label": label });
  for (const [value, text] of options) {
    const on = multiple ? selected.includes(value) : selected === value;
    group.append(
      h("button", {
        type: "button",
        class: "chip",
        "aria-pressed": on ? "true" : "false",
        dataset: { name, value: String(value) },
        onclick: () => onPick(value),
      }, text),
    );
  }
  return group;
}

export function field(id, label, input, { error, hint } = {}) {
  input.id = id;
  const describedBy = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean);
  if (describedBy.length) input.setAttribute("aria-describedby", describedBy.join(" "));
  if (error) input.setAttribute("aria-invalid", "true");
  return h("div", { class: `field${error ? " has-error" : ""}` },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    input,
    error ? h("p", { class: "error", id: `${id}-error` }, error) : null,
  );
}

export function todayISO(date = new Date()) {
  // The date in Vietnam (UTC+7), as YYYY-MM-DD.
  return new Date(date.getTime() + 7 * 3600 * 1000).toISOString().slice(0, 10);
}

export function addDays(iso, days) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
