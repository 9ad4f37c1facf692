// Guides in the app: the catalogue from bootstrap, searched on the phone without diacritics
// (the same fold as the server), and "save all guides" to read them with no network.

import { _, currentLocale, formatNumber } from "../i18n.js";
import { fold, matches } from "../text.js";
import { field, h, icon, mount } from "../ui.js";
import { store } from "../store.js";

const CACHE = "guides"; // the service worker's guide cache

function title(g) {
  return currentLocale() === "en" ? g.title_en || g.title : g.title;
}

function summary(g) {
  return currentLocale() === "en" ? g.summary_en || g.summary : g.summary;
}

function url(g) {
  return `/${currentLocale()}/guides/${g.slug}`;
}

// Rank like the server: title before summary.
export function searchGuides(guides, query) {
  if (!query.trim()) return guides;
  const scored = [];
  for (const g of guides) {
    const inTitle = matches(query, fold(`${g.title} ${g.title_en || ""}`));
    const inSummary = matches(query, fold(`${g.title} ${g.summary} ${g.title_en || ""} ${g.summary_en || ""}`));
    if (inTitle || inSummary) scored.push([inTitle ? 0 : 1, g]);
  }
  return scored.sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}

async function savedSlugs() {
  if (!("caches" in window)) return new Set();
  const keys = await (await caches.open(CACHE)).keys();
  // The cache also keeps the catalogue and the glossary a reader opened: count only guides.
  const guides = keys.map((r) => new URL(r.url).pathname).filter((p) => /^\/(vi|en)\/guides\/[^/]+$/.test(p));
  return new Set(guides.map((p) => p.split("/").pop()));
}

export async function render(main) {
  const guides = store.boot.guides || [];
  const saved = await savedSlugs();
  const list = h("ul", { class: "pick-list", id: "guide-results" });
  const fill = (query) => {
    const found = searchGuides(guides, query);
    list.replaceChildren(...found.map((g) => h("li", {},
      h("a", { class: "pick", href: url(g) }, title(g),
        saved.has(g.slug) ? h("small", { class: "tag" }, ` ${_("on this phone")}`) : null))));
    if (!found.length) list.append(h("li", {}, _("No guide matches your search. Try fewer words.")));
  };
  const input = h("input", { type: "search", autocomplete: "off", oninput: (ev) => fill(ev.target.value) });
  const progress = h("p", { id: "save-progress", role: "status", "aria-live": "polite" });
  fill("");
  mount(main,
    h("h1", {}, _("Guides")),
    field("guide-search", _("Search guides"), input, { hint: _("You can type without accents, for example: dang ky khai sinh") }),
    list,
    h("h2", {}, _("Read with no network")),
    h("p", {}, _("%(saved)s of %(total)s guides are saved on this phone.", { saved: formatNumber(saved.size), total: formatNumber(guides.length) })),
    h("button", { type: "button", id: "save-guides", onclick: () => saveAll(guides, progress, main) }, icon("download"), _("Save all guides")),
    progress);
}

// The step pictures of a saved guide, at the small width: the service worker gives it for any
// width while there is no network.
async function savePictures(page) {
  const media = await caches.open("media");
  let bytes = 0;
  for (const src of new Set(page.match(/\/media\/[0-9a-f]+-360\.webp/g) || [])) {
    if (await media.match(src)) continue;
    const response = await fetch(src);
    if (response.ok) {
      bytes += (await response.clone().arrayBuffer()).byteLength;
      await media.put(src, response);
    }
  }
  return bytes;
}

async function saveAll(guides, progress, main) {
  const cache = await caches.open(CACHE);
  let bytes = 0;
  let done = 0;
  for (const g of guides) {
    progress.textContent = _("Saving %(done)s of %(total)s…", { done: done + 1, total: guides.length });
    try {
      const response = await fetch(url(g));
      if (response.ok) {
        const page = await response.clone().text();
        bytes += new Blob([page]).size;
        await cache.put(url(g), response);
        bytes += await savePictures(page);
        done += 1;
      }
    } catch {
      progress.textContent = _("No network: %(done)s of %(total)s guides saved.", { done, total: guides.length });
      return;
    }
  }
  await render(main);
  document.getElementById("save-progress").textContent = _("%(done)s guides saved, %(size)s KB on this phone.", {
    done, size: formatNumber(Math.round(bytes / 1024)),
  });
}
