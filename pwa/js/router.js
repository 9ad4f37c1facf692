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
// alone while its form has unsaved input (the volunteer's half-filled form wins). A redraw is
// drawn off-screen and put in place only if nobody typed meanwhile: reading 3,000 households
// takes long enough for the volunteer to start typing in the screen being replaced.
export async function route({ redraw = false } = {}) {
  const live = document.getElementById("screen");
  if (redraw && live.dataset.dirty === "true") return;
  const main = redraw ? live.cloneNode(false) : live;
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
      if (redraw) {
        // Outdated (another drawing started since) or typed into meanwhile: drop this one.
        if (ticket !== started || live.dataset.dirty === "true" || !live.isConnected) return;
        live.replaceWith(main);
      } else if (ticket < shown) {
        // Screens draw after reading IndexedDB: an older call can finish after a newer one
        // (the volunteer tapped "add a household") and cover it.
        return route();
      }
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
