// The router: hash routes to screens, and the "saved" step after a screen's save. Screens import
// go/saved from here; app.js registers the routes, so nothing imports app.js.

import { _ } from "./i18n.js";
import { publish, requestSync } from "./store.js";
import { h, mount, toast } from "./ui.js";

let ROUTES = [];
const rendered = new WeakSet(); // a screen whose form the volunteer has started to fill
let started = 0; // route() calls so far
let shown = 0; // the newest call whose screen is drawn

export function setRoutes(routes) {
  ROUTES = routes;
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// Draw the screen of the current hash. `redraw` keeps the scroll position and leaves a screen
// alone while its form has unsaved input (the volunteer's half-filled form wins). Every screen is
// drawn off-screen and put in place when it is ready: screens draw after reading IndexedDB
// (3,000 households take a while), so an older drawing can finish after a newer one and must not
// cover it, nor wipe what the volunteer has started typing meanwhile.
export async function route({ redraw = false } = {}) {
  const current = document.getElementById("screen");
  if (redraw && current.dataset.dirty === "true") return;
  const main = current.cloneNode(false);
  const ticket = ++started;
  const scroll = window.scrollY;
  for (const [pattern, render] of ROUTES) {
    const match = location.hash.match(pattern);
    if (match) {
      try {
        await render(main, ...match.slice(1));
      } catch (error) {
        mount(main, h("p", { class: "alert", role: "alert" }, _("Something went wrong. Please reload the app.")));
        console.error(error);
      }
      const live = document.getElementById("screen");
      // A newer screen is already shown: this one is outdated.
      if (ticket < shown) return;
      // A redraw gives way to any drawing started since, and to a screen typed into meanwhile.
      if (redraw && (ticket !== started || live.dataset.dirty === "true")) return;
      live.replaceWith(main);
      shown = ticket;
      main.dataset.dirty = "false";
      if (!rendered.has(main)) {
        rendered.add(main);
        main.addEventListener("input", () => { main.dataset.dirty = "true"; });
        main.addEventListener("click", (event) => {
          // A chip or toggle in a form (the form may redraw itself before the event gets here).
          const path = event.composedPath();
          const button = path.find((n) => n.tagName === "BUTTON");
          if (button && button.type !== "submit" && path.some((n) => n.tagName === "FORM")) main.dataset.dirty = "true";
        });
      }
      highlightTab();
      if (redraw) window.scrollTo(0, scroll);
      else {
        window.scrollTo(0, 0); // a new screen opens at its top (Today after a long form)
        main.focus({ preventScroll: true });
      }
      return;
    }
  }
  go("#/");
}

function highlightTab() {
  const current = location.hash.split("/")[1] || "";
  for (const link of document.querySelectorAll(".tabs a")) {
    const tab = link.getAttribute("href").split("/")[1] || "";
    if (tab === current || (tab === "households" && current === "household")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

export async function saved() {
  toast(_("Saved on this phone"));
  if (navigator.storage?.persist) navigator.storage.persist();
  publish("outbox");
  requestSync();
}
