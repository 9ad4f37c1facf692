// Scan a household card's QR code with the camera, where the browser has BarcodeDetector.

import { _ } from "../i18n.js";
import { h } from "../ui.js";

export async function scanCode() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    alert(_("The camera is not available. Type the card code instead."));
    return null;
  }
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  const video = h("video", { playsinline: true, muted: true, "aria-label": _("Camera") });
  video.srcObject = stream;
  const dialog = h("dialog", { class: "scan" }, video,
    h("button", { type: "button", onclick: () => dialog.close() }, _("Cancel")));
  document.body.append(dialog);
  dialog.showModal();
  await video.play();
  const code = await new Promise((resolve) => {
    const timer = setInterval(async () => {
      try {
        const found = await detector.detect(video);
        if (found.length) {
          clearInterval(timer);
          resolve(found[0].rawValue.trim());
        }
      } catch {
        // keep looking
      }
    }, 300);
    dialog.addEventListener("close", () => {
      clearInterval(timer);
      resolve(null);
    });
  });
  stream.getTracks().forEach((t) => t.stop());
  if (dialog.open) dialog.close();
  dialog.remove();
  return code;
}
