// Làng Số service worker. Served from /sw.js (scope: the whole site), rendered by the server
// with VERSION = a hash of the shell's files, so any change to them installs a new worker.
const VERSION = "{{ version }}";
const SHELL_CACHE = `shell-${VERSION}`;
const GUIDE_CACHE = "guides";
const GUIDE_LIMIT = 200; // guide pages kept offline (a few KB each; 27 guides in two languages now): the oldest go first
const MEDIA_CACHE = "media";
const MEDIA_LIMIT = 240; // step pictures kept offline (about 20 KB each at 360 px)
const SHELL = {{ shell }};
const READER = {{ reader }}; // what a resident's phone keeps, who reads guides without the app
const PUBLIC_PAGE = /^\/(vi|en)\/(guides\/[^/]+(\/poster)?|glossary)?$/;
const MEDIA_FILE = /^\/media\/([0-9a-f]+)-\d+\.webp$/;
const NETWORK_WAIT = 4000; // ms a public page waits for the network before its saved copy

// install: cache what this phone needs before this version can take over (await addAll): the
// app's whole shell where the app is used, else only the few files of a resident's pages.
self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll((await usesApp()) ? SHELL : READER);
    await keepOpenPages();
  })());
});

async function windows() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true });
}

// The app is open now, or this phone kept an older shell of it.
async function usesApp() {
  if (await caches.match("/app")) return true;
  return (await windows()).some((client) => new URL(client.url).pathname === "/app");
}

// The app opened on a resident's phone (a volunteer who first read a poster's guide): bring its
// shell, so that it too opens with no network.
async function keepShell() {
  const cache = await caches.open(SHELL_CACHE);
  if (!(await cache.match("/app"))) await cache.addAll(SHELL);
}

// The public pages open while this worker installs were fetched before it: keep them, and the
// catalogue in their language, so that the page just read from a poster reads offline.
async function keepOpenPages() {
  const cache = await caches.open(GUIDE_CACHE);
  for (const client of await windows()) {
    const url = new URL(client.url);
    if (!PUBLIC_PAGE.test(url.pathname)) continue;
    for (const path of new Set([url.pathname, `/${url.pathname.split("/")[1]}/`])) {
      if (!(await cache.match(path))) await cache.add(path).catch(() => null);
    }
  }
}

// activate: drop the caches of older versions, then control open pages.
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("shell-") && key !== SHELL_CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data === "skipWaiting") self.skipWaiting();
});

// Background Sync (where the browser has it): ask an open app to send its outbox.
self.addEventListener("sync", (event) => {
  if (event.tag === "outbox") {
    event.waitUntil(self.clients.matchAll({ type: "window" }).then((clients) => {
      for (const client of clients) client.postMessage("flush");
    }));
  }
});

// Web push: show the message; a tap opens the page it points to.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: "Làng Số", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(self.registration.showNotification(data.title || "Làng Số", {
    body: data.body || "",
    icon: "/static/icons/icon-192.png",
    lang: "vi",
    data: { url: data.url || "/app" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data?.url || "/app";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((clients) => {
    for (const client of clients) {
      if (new URL(client.url).pathname === new URL(url, self.location.origin).pathname) {
        client.navigate(url);
        return client.focus();
      }
    }
    return self.clients.openWindow(url);
  }));
});

async function trim(cache, limit) {
  const keys = await cache.keys();
  for (const request of keys.slice(0, Math.max(0, keys.length - limit))) {
    await cache.delete(request);
  }
}

// Guides fetched by a script (the app's "save all guides"): stale-while-revalidate in their own
// capped cache.
async function guide(event) {
  const cache = await caches.open(GUIDE_CACHE);
  const cached = await cache.match(event.request, { ignoreVary: true });
  const fresh = fetch(event.request).then(async (response) => {
    if (response.ok) {
      await cache.put(event.request, response.clone());
      await trim(cache, GUIDE_LIMIT);
    }
    return response;
  });
  if (cached) {
    event.waitUntil(fresh.catch(() => null));
    return cached;
  }
  try {
    return await fresh;
  } catch {
    return (await caches.match("/offline")) || Response.error();
  }
}

// Step pictures: their names never change, so cache first. Offline, another width of the same
// picture (the app saves the 360 px one) is better than none.
async function media(request) {
  const cache = await caches.open(MEDIA_CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.put(request, response.clone());
      await trim(cache, MEDIA_LIMIT);
    }
    return response;
  } catch {
    const picture = `/media/${MEDIA_FILE.exec(new URL(request.url).pathname)[1]}-`;
    for (const key of await cache.keys()) {
      if (new URL(key.url).pathname.startsWith(picture)) return cache.match(key);
    }
    return Response.error();
  }
}

// A saved copy says so, and from when (pwa/js/reader.js shows it): the time it was fetched.
async function markSaved(response) {
  const when = new Date(response.headers.get("date") || NaN);
  const stamp = Number.isNaN(when.getTime()) ? "" : when.toISOString();
  const html = (await response.text()).replace("<html ", `<html data-saved="${stamp}" `);
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  headers.delete("content-encoding");
  return new Response(html, { status: response.status, statusText: response.statusText, headers });
}

// Public pages opened in the browser (a resident from a poster, a volunteer from the app):
// network first, each page kept in the guides cache; after NETWORK_WAIT or with no network, the
// saved copy, marked; a page never opened gets the offline page in its language.
async function publicPage(event) {
  const url = new URL(event.request.url);
  const cache = await caches.open(GUIDE_CACHE);
  const fresh = fetch(event.request).then(async (response) => {
    if (response.ok && !url.search) { // ?q= and ?feedback=thanks are not pages of their own
      await cache.put(url.pathname, response.clone());
      await trim(cache, GUIDE_LIMIT);
    }
    return response;
  });
  event.waitUntil(fresh.catch(() => null));
  const saved = () => cache.match(url.pathname, { ignoreVary: true });
  try {
    const first = await Promise.race([fresh, new Promise((done) => setTimeout(done, NETWORK_WAIT))]);
    if (first) return first;
    const copy = await saved(); // slow network: the saved copy now, the fresh one next time
    return copy ? markSaved(copy) : await fresh;
  } catch {
    const copy = await saved();
    if (copy) return markSaved(copy);
    const offline = `/${url.pathname.split("/")[1]}/offline`;
    return (await caches.match(offline, { ignoreVary: true })) || Response.error();
  }
}

// Other pages: network first, then the cached copy, then the offline page.
async function page(event) {
  const request = event.request;
  if (new URL(request.url).pathname === "/app") event.waitUntil(keepShell().catch(() => null));
  try {
    return await fetch(request);
  } catch {
    const url = new URL(request.url);
    const fallback = url.pathname === "/app" ? "/app" : "/offline";
    const options = { ignoreSearch: true, ignoreVary: true };
    return (await caches.match(request, options)) || (await caches.match(fallback, options));
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // never touch writes
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (PUBLIC_PAGE.test(url.pathname)) {
    event.respondWith(request.mode === "navigate" ? publicPage(event) : guide(event));
  } else if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (MEDIA_FILE.test(url.pathname)) {
    event.respondWith(media(request));
  } else if (url.pathname.startsWith("/static/")) {
    // Shell files: from the versioned cache, else the network.
    event.respondWith(caches.match(request, { ignoreSearch: true, ignoreVary: true }).then((hit) => hit || fetch(request)));
  }
});
