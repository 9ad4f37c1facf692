// Public pages (guides, catalogue, glossary): a resident who opened one can read it again with
// no network, without installing anything. The site's one service worker (/sw.js) keeps the
// pages read; when it shows a saved copy it marks <html data-saved="…">, and this says so.

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {
    /* no worker (private window, old browser): the page still works online */
  });
}

const note = document.getElementById("saved-copy");
const saved = document.documentElement.dataset.saved;
if (note && saved !== undefined) {
  const when = new Date(saved);
  if (Number.isNaN(when.getTime())) {
    note.textContent = note.dataset.undated;
  } else {
    // In Vietnam's time, as people write it: 14:05, 3/12/2026.
    const zone = { timeZone: "Asia/Ho_Chi_Minh" };
    const lang = document.documentElement.lang === "vi" ? "vi-VN" : "en-GB";
    const time = when.toLocaleTimeString(lang, { ...zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const day = when.toLocaleDateString(lang, { ...zone, day: "numeric", month: "numeric", year: "numeric" });
    note.textContent = note.dataset.text.replace("{time}", `${time}, ${day}`);
  }
  note.hidden = false;
}
