// The offline page: list the pages kept on this phone (the guides cache), so a reader can go on.

const list = document.getElementById("saved-pages");
if (list && "caches" in window) {
  caches.open("guides").then(async (cache) => {
    const lang = list.dataset.lang; // a resident's offline page lists the guides in its language
    for (const request of await cache.keys()) {
      const url = new URL(request.url);
      if (!/^\/(vi|en)\/guides\/[^/]+$/.test(url.pathname)) continue;
      if (lang && !url.pathname.startsWith(`/${lang}/`)) continue;
      const response = await cache.match(request);
      const html = await response.text();
      const title = new DOMParser().parseFromString(html, "text/html").querySelector("h1")?.textContent || url.pathname;
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = url.pathname;
      link.textContent = title.trim();
      item.append(link);
      list.append(item);
    }
  });
}
