// Guide pages: remember ticked steps, read the current step aloud, share, print.
// The page is complete without this module; every control it needs starts `hidden`.
// Its few words come from the page's data- attributes, already translated by the server.

const article = document.querySelector("article.guide");
const status = document.querySelector(".guide-status");

function say(text) {
  if (status) status.textContent = text;
}

// localStorage can be missing or full (private windows): then ticks last for this visit only.
function load(key, fallback) {
  try {
    const value = localStorage.getItem(key);
    return value === null ? fallback : JSON.parse(value);
  } catch {
    return fallback;
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* nothing to do: see above */
  }
}

function rememberSteps(guide) {
  // The version is part of the key: when a guide changes, its old ticks no longer fit.
  const key = `langso:guide:${guide.dataset.slug}:${guide.dataset.version}`;
  const boxes = [...guide.querySelectorAll(".steps input[type=checkbox]")];
  const done = new Set(load(key, []).map(String));
  for (const box of boxes) {
    box.checked = done.has(box.value);
    box.closest("li").classList.toggle("done", box.checked);
    box.addEventListener("change", () => {
      box.closest("li").classList.toggle("done", box.checked);
      store(
        key,
        boxes.filter((b) => b.checked).map((b) => b.value),
      );
    });
  }
}

function vietnameseVoice() {
  return speechSynthesis
    .getVoices()
    .find((v) => (v.lang || "").toLowerCase().replace("_", "-").startsWith("vi"));
}

// A step's words, and the explanation of a word the reader opened under it (in the steps' own
// language: an English page's explanations carry lang="en").
function spoken(step) {
  const parts = [step.querySelector(".step-text").textContent];
  for (const p of step.querySelectorAll("details.gloss[open]:not([lang]) > p")) {
    parts.push([...p.childNodes].filter((n) => n.nodeName !== "A").map((n) => n.textContent).join(""));
  }
  return parts.map((t) => t.trim()).join(" ");
}

function readAloud(guide) {
  const button = guide.querySelector("[data-action=read]");
  const noVoice = guide.querySelector(".no-voice");
  if (!button) return;
  if (!("speechSynthesis" in window)) {
    if (noVoice) noVoice.hidden = false;
    return;
  }
  // Shown only when the phone can speak Vietnamese; voices may arrive after the page loads,
  // so the hint that says how to add one waits a moment before it shows.
  let waited = false;
  const update = () => {
    const voice = vietnameseVoice();
    button.hidden = !voice;
    if (noVoice) noVoice.hidden = Boolean(voice) || !waited;
  };
  update();
  speechSynthesis.addEventListener("voiceschanged", update);
  setTimeout(() => {
    waited = true;
    update();
  }, 1500);

  let speaking = false;
  const finished = () => {
    speaking = false;
    button.querySelector("span").textContent = guide.dataset.read;
  };
  button.addEventListener("click", () => {
    if (speaking) {
      speechSynthesis.cancel();
      finished();
      return;
    }
    const steps = [...guide.querySelectorAll(".steps > li")];
    const current = steps.find((li) => !li.querySelector("input").checked);
    if (!current) {
      say(guide.dataset.allDone);
      return;
    }
    for (const li of steps) li.classList.toggle("current", li === current);
    current.scrollIntoView({ block: "center" });
    const voice = vietnameseVoice();
    const utterance = new SpeechSynthesisUtterance(spoken(current));
    utterance.lang = voice ? voice.lang : "vi-VN";
    if (voice instanceof SpeechSynthesisVoice) utterance.voice = voice;
    utterance.addEventListener("end", finished);
    utterance.addEventListener("error", finished);
    speaking = true;
    button.querySelector("span").textContent = guide.dataset.stop;
    speechSynthesis.cancel();
    speechSynthesis.speak(utterance);
  });
}

function share(guide) {
  const button = guide.querySelector("[data-action=share]");
  if (!button || !(navigator.share || navigator.clipboard)) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const url = guide.dataset.url;
    if (navigator.share) {
      try {
        await navigator.share({ title: guide.dataset.title, text: guide.dataset.summary, url });
        return;
      } catch (error) {
        if (error.name === "AbortError") return; // the person closed the share sheet
      }
    }
    try {
      await navigator.clipboard.writeText(url);
      say(guide.dataset.copied);
    } catch {
      say(`${guide.dataset.copyFailed} ${url}`);
    }
  });
}

function feedback(slug) {
  const section = document.getElementById("feedback");
  if (!section) return;
  const key = `langso:helpful:${slug}`;
  const answers = section.querySelector(".answers");
  const thanks = section.querySelector(".thanks");
  if (!thanks.hidden) {
    store(key, true);
  } else if (load(key, false)) {
    answers.hidden = true;
    thanks.hidden = false;
  }
  for (const form of section.querySelectorAll("form")) {
    form.addEventListener("submit", () => store(key, true));
  }
}

for (const button of document.querySelectorAll("[data-action=print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

if (article) {
  rememberSteps(article);
  readAloud(article);
  share(article);
  feedback(article.dataset.slug);
}
