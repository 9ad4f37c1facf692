// Làng Số service worker. Served from /sw.js (scope: the whole site), rendered by the server
// with VERSION = a hash of the shell's files, so any change to them installs a new worker.
const VERSION = "{{ version }}";
const SHELL_CACHE = `shell-${VERSION}`;
const GUIDE_CACHE = "guides";
const GUIDE_LIMIT = 60; // guide pages kept offline; the oldest go first
const MEDIA_CACHE = "media";
const MEDIA_LIMIT = 240; // step pictures kept offline (about 20 KB each at 360 px)
const SHELL = {{ shell }};
const GUIDE_PAGE = /^\/(vi|en)\/(guides\/[^/]+(\/poster)?)?$/;
const MEDIA_FILE = /^\/media\/([0-9a-f]+)-\d+\.webp$/;

// install: cache the whole shell before this version can take over (await addAll).
self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)));
});

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

// Guides: stale-while-revalidate in their own capped cache.
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

// Pages: network first, then the cached copy, then the offline page.
async function page(request) {
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
  if (GUIDE_PAGE.test(url.pathname)) {
    event.respondWith(guide(event));
  } else if (request.mode === "navigate") {
    event.respondWith(page(request));
  } else if (MEDIA_FILE.test(url.pathname)) {
    event.respondWith(media(request));
  } else if (url.pathname.startsWith("/static/")) {
    // Shell files: from the versioned cache, else the network.
    event.respondWith(caches.match(request, { ignoreSearch: true, ignoreVary: true }).then((hit) => hit || fetch(request)));
  }
});
