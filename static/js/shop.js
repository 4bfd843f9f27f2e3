// Storefront's only script: the cart drawer and where focus goes around it, messages that go by
// themselves, keeping the badge fresh across tabs, one rule for an order page's live stream, and
// the product page's quantity steps.
// The shop works without it; htmx does the requests. No inline scripts (CSP script-src 'self').
(function () {
  "use strict";

  function drawer() {
    return document.getElementById("cart-drawer");
  }

  // The stylesheet lets messages fade by themselves without scripts; with them, this file does it.
  document.documentElement.classList.add("scripted");

  // What had the focus when the drawer opened (the badge, an add button): it gets it back on close.
  // A drawer swapped while open is a new <dialog>, which would hand the focus back to nothing.
  let opener = null;
  let openerId = "";
  let focusBeforeRequest = null;
  document.addEventListener("htmx:beforeRequest", function () {
    focusBeforeRequest = document.activeElement;
  });

  function openDrawer(reopening) {
    const dialog = drawer();
    if (!dialog || dialog.open || typeof dialog.showModal !== "function") return;
    if (!reopening) {
      const active = document.activeElement;
      opener = active && active !== document.body ? active : focusBeforeRequest;
      openerId = opener && opener.id ? opener.id : "";
    }
    dialog.showModal();
  }

  document.addEventListener("close", function (event) {
    if (!event.target || event.target.id !== "cart-drawer") return;
    const back = opener && opener.isConnected ? opener : document.getElementById(openerId) || document.getElementById("cart-badge");
    if (back) back.focus();
  }, true);

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
  // After an edit in the drawer or on the cart page, the focus stays on the control that was used
  // (found again by its id in the new HTML), or, when its line went, moves to the line now in its
  // place (the next, or the last), or to the heading when the cart is empty.
  let focusPlan = null;
  function planFocus(event) {
    const target = event.detail && event.detail.target;
    if (!target || (target.id !== "cart-drawer" && target.id !== "cart-contents")) return;
    // A button disabled while its request is in flight has lost the focus to <body>: it is the
    // control that was used all the same.
    const current = document.activeElement;
    const active = current && current !== document.body ? current : focusBeforeRequest;
    const inside = active && target.contains(active);
    const line = inside ? active.closest(".cart-line") : null;
    const lines = Array.prototype.slice.call(target.querySelectorAll(".cart-line"));
    focusPlan = { region: target.id, id: inside ? active.id : "", index: line ? lines.indexOf(line) : -1, inside: inside };
  }
  document.addEventListener("htmx:beforeSwap", planFocus);

  function restoreFocus(plan) {
    const region = document.getElementById(plan.region);
    if (!region || !plan.inside) return;
    const same = plan.id && document.getElementById(plan.id);
    if (same && region.contains(same)) return same.focus();
    const lines = region.querySelectorAll(".cart-line");
    if (lines.length && plan.index >= 0) {
      const field = lines[Math.min(plan.index, lines.length - 1)].querySelector("input[name=quantity]");
      if (field) return field.focus();
    }
    const heading = plan.region === "cart-drawer" ? document.getElementById("cart-drawer-title") : document.getElementById("cart-heading");
    if (heading) heading.focus();
  }

  document.addEventListener("htmx:afterSettle", function () {
    if (wasOpen) {
      wasOpen = false;
      openDrawer(true);
    }
    if (focusPlan) {
      const plan = focusPlan;
      focusPlan = null;
      restoreFocus(plan);
    }
  });

  // Forms sent by htmx say they are busy while their request is in flight (their button is
  // disabled by hx-disabled-elt, so a double click sends once).
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail && event.detail.elt) event.detail.elt.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail && event.detail.elt) event.detail.elt.removeAttribute("aria-busy");
  });

  // Messages (templates/partials/alert.html): each gets a close button; all but errors go after
  // six seconds, a wait that stops while the pointer or the focus is on the message.
  const MESSAGE_SECONDS = 6;
  function dismiss(alert) {
    if (alert.contains(document.activeElement)) {
      // The focus was on it (its close button): give it to the main content, not to <body>.
      const main = document.getElementById("main");
      if (main) {
        main.setAttribute("tabindex", "-1");
        main.focus();
      }
    }
    alert.classList.add("leaving");
    window.setTimeout(function () { alert.remove(); }, 200);
  }
  function arm(alert) {
    if (alert.dataset.armed) return;
    alert.dataset.armed = "true";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "alert-close";
    close.setAttribute("aria-label", "Dismiss this message");
    close.textContent = "×";
    close.addEventListener("click", function () { dismiss(alert); });
    alert.appendChild(close);
    if (alert.dataset.level === "error") return;
    let timer = null;
    function hold() { window.clearTimeout(timer); }
    function wait() {
      hold();
      // Not while the pointer or the focus is still on it (leaving one of the two is not leaving).
      if (alert.matches(":hover") || alert.contains(document.activeElement)) return;
      timer = window.setTimeout(function () { dismiss(alert); }, MESSAGE_SECONDS * 1000);
    }
    alert.addEventListener("mouseenter", hold);
    alert.addEventListener("focusin", hold);
    alert.addEventListener("mouseleave", wait);
    alert.addEventListener("focusout", wait);
    wait();
  }
  function armWithin(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.classList && root.classList.contains("alert")) arm(root);
    root.querySelectorAll(".alert").forEach(arm);
  }
  document.addEventListener("htmx:load", function (event) { armWithin(event.detail && event.detail.elt); });
  armWithin(document);

  // A form sent back with errors (a page, or a form swapped by htmx): the focus goes to the first
  // field in error, so its label and its message (aria-describedby) are read out.
  function focusFirstError(root) {
    if (!root || !root.querySelector) return;
    const field = root.querySelector("[aria-invalid='true']") ||
      (root.querySelector("#form-error") && root.querySelector("[aria-describedby~='form-error']"));
    if (field && !root.querySelector("[autofocus]")) field.focus();
  }
  focusFirstError(document.getElementById("main"));
  document.addEventListener("htmx:afterSettle", function (event) {
    const root = event.detail && event.detail.elt;
    if (root && root.closest && root.closest("#main")) focusFirstError(root);
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
