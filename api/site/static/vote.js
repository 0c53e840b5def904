// Progressive enhancement for the vote forms: post in the background, then swap in the updated
// parts of the page (marked data-refresh) and announce the result. Without this file, or on any
// failure, the form posts normally and the server answers with the whole updated page.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-vote")) return;
  if (form.dataset.native === "1" || !window.fetch || !window.DOMParser) return;
  event.preventDefault();
  const button = event.submitter;
  const blockId = form.closest("[data-refresh][id]").id;
  const body = new URLSearchParams(new FormData(form, button));
  form.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "same-origin", headers: { Accept: "text/html" },
    });
    if (!response.ok) throw new Error(String(response.status));
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const fresh of page.querySelectorAll("[data-refresh][id]")) {
      const old = document.getElementById(fresh.id);
      if (old) old.replaceWith(document.importNode(fresh, true));
    }
    const url = new URL(response.url);
    history.replaceState(null, "", `${url.pathname}${url.search}#${blockId}`);
    const block = document.getElementById(blockId);
    const status = block && block.querySelector(".status");
    const announcer = document.getElementById("vote-announcer");
    if (announcer && status) announcer.textContent = status.textContent.trim();
    const again = block && block.querySelector(`button[value="${button ? button.value : ""}"]`);
    const focus = again || (block && block.querySelector("button"));
    if (focus) focus.focus();
  } catch (error) {
    form.dataset.native = "1";
    form.removeAttribute("aria-busy");
    form.requestSubmit(button);
  }
});
