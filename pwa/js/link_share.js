// A link to pass on (the invitation page): copy it, or share it through the phone's share sheet
// (Zalo, Messenger, SMS…). The link stays readable and selectable without JavaScript.

const box = document.querySelector("[data-share-link]");
if (box) {
  const input = document.getElementById(box.dataset.shareLink);
  const status = box.querySelector("[role=status]");
  const say = (text) => { status.textContent = text; };
  const copy = box.querySelector("[data-action=copy]");
  copy.hidden = false;
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      // Not a secure page (a commune's server on plain http): the older way still copies.
      input.select();
      if (!document.execCommand("copy")) return say(box.dataset.copyFailed);
    }
    say(box.dataset.copied);
  });
  const share = box.querySelector("[data-action=share]");
  if (navigator.share) {
    share.hidden = false;
    share.addEventListener("click", async () => {
      try {
        await navigator.share({ title: box.dataset.title, text: box.dataset.text, url: input.value });
      } catch (error) {
        if (error.name !== "AbortError") say(box.dataset.copyFailed);
      }
    });
  }
}
