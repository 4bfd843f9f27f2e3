// Storefront's only script: the cart drawer, keeping the badge fresh across tabs, one rule for
// an order page's live stream, and the product page's quantity steps.
// The shop works without it; htmx does the requests. No inline scripts (CSP script-src 'self').
(function () {
  "use strict";

  function drawer() {
    return document.getElementById("cart-drawer");
  }

  function openDrawer() {
    const dialog = drawer();
    if (dialog && !dialog.open && typeof dialog.showModal === "function") {
      dialog.showModal();
    }
  }

  // The badge opens the drawer when scripts run; without them it is a link to the cart page.
  document.addEventListener("click", function (event) {
    const opener = event.target.closest && event.target.closest("[data-drawer-opener]");
    if (opener && drawer() && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      openDrawer();
    }
  });

  // A click on the backdrop (outside the drawer's box) closes it, like Escape does.
  document.addEventListener("click", function (event) {
    const dialog = drawer();
    if (dialog && dialog.open && event.target === dialog) {
      const box = dialog.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) dialog.close();
    }
  });

  // A drawer swapped in by htmx replaces the old element: reopen it when the server says so.
  document.addEventListener("htmx:load", function (event) {
    const element = event.detail && event.detail.elt;
    if (element && element.id === "cart-drawer" && element.dataset.open === "true") {
      openDrawer();
    }
  });

  // A drawer swapped while open (an edit inside it, a refresh) is replaced by a closed <dialog>:
  // reopen the new one.
  let wasOpen = false;
  function rememberOpenDrawer(event) {
    const target = event.detail && event.detail.target;
    if (target && target.id === "cart-drawer" && target.open) wasOpen = true;
  }
  document.addEventListener("htmx:beforeSwap", rememberOpenDrawer);
  document.addEventListener("htmx:oobBeforeSwap", rememberOpenDrawer);
  document.addEventListener("htmx:afterSettle", function () {
    if (wasOpen) {
      wasOpen = false;
      openDrawer();
    }
  });

  // Another tab may have changed the cart: refresh the badge and the drawer (on the cart page,
  // which has no drawer, the page's contents) when this one is shown again.
  function refreshCart() {
    const live = drawer() || document.getElementById("cart-contents");
    if (!live || !window.htmx) return;
    window.htmx.ajax("GET", "/cart/drawer", { target: "#" + live.id, swap: "outerHTML" });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refreshCart();
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) refreshCart();
  });

  // A message reaches an order page twice when this tab posted it: in the post's answer and on
  // the page's live stream (htmx's SSE extension), in either order. Whichever comes second is
  // skipped: a stream message whose id is on the page, or that id in the post's answer.
  const MESSAGE_ID = /id="(message-\d+)"/;
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    const message = event.detail;
    if (!message || message.type !== "message" || typeof message.data !== "string") return;
    const found = MESSAGE_ID.exec(message.data);
    if (found && document.getElementById(found[1])) event.preventDefault();
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    const detail = event.detail;
    if (!detail.target || detail.target.id !== "order-messages" || typeof detail.serverResponse !== "string") return;
    const found = MESSAGE_ID.exec(detail.serverResponse);
    if (!found || !document.getElementById(found[1])) return;
    const answer = document.createElement("template");
    answer.innerHTML = detail.serverResponse;
    const copy = answer.content.getElementById(found[1]);
    if (copy) copy.remove();
    detail.serverResponse = answer.innerHTML; // the emptied box and the toast still swap in
  });

  // The product page's quantity steps (−/+): without scripts each is a link that reloads the page
  // with the quantity in the address; here it changes the field in place, within its min and max.
  document.addEventListener("click", function (event) {
    const step = event.target.closest && event.target.closest(".stepper [data-step]");
    const field = step && step.parentElement.querySelector("input[type=number]");
    if (!field) return;
    event.preventDefault();
    const low = Number(field.min) || 1;
    const high = Number(field.max) || Infinity;
    const next = Math.min(high, Math.max(low, (Number(field.value) || low) + Number(step.dataset.step)));
    field.value = String(next);
    field.dispatchEvent(new Event("change", { bubbles: true }));
    step.parentElement.querySelectorAll("[data-step]").forEach(function (each) {
      if (Number(each.dataset.step) < 0 ? next <= low : next >= high) {
        each.setAttribute("aria-disabled", "true");
      } else {
        each.removeAttribute("aria-disabled");
      }
    });
  });
})();
