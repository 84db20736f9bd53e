/* Engineering panel behaviour: dialogs, confirmations, dismissable messages.
   Every page reads fine without it; the dialogs' links lead to plain pages then.
   It holds no words: every text it shows comes from the page (data-* attributes written by
   the server in the operator's language), so there is no JavaScript catalogue to translate. */
(function () {
  "use strict";

  function clearErrors(scope) {
    scope.querySelectorAll(".form-error").forEach(function (el) { el.remove(); });
  }

  function open(dialog) {
    if (!dialog || dialog.open) return;
    clearErrors(dialog);
    dialog.showModal();
    var focus = dialog.querySelector("input:not([type=hidden]), [autofocus]");
    if (focus) { focus.focus(); if (focus.select) focus.select(); }
  }

  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-dialog-open]");
    if (el) {
      var dialog = document.getElementById(el.getAttribute("data-dialog-open"));
      if (dialog) { event.preventDefault(); open(dialog); }
      return;
    }
    el = event.target.closest("[data-cancel-job]");
    if (el) {
      var cancel = document.getElementById("dialog-cancel");
      if (!cancel) return;
      event.preventDefault();
      // One dialog serves every row: it is told which job, and asks about its site in words
      // the server wrote in the operator's language.
      cancel.querySelector("input[name=job]").value = el.getAttribute("data-cancel-job");
      cancel.querySelector("[data-cancel-question]").textContent = el.getAttribute("data-cancel-question");
      open(cancel);
      return;
    }
    el = event.target.closest("[data-approve-job]");
    if (el) {
      var approve = document.getElementById("dialog-approve");
      if (!approve) return;  // the row's own form posts it, unconfirmed
      event.preventDefault();
      // One dialog serves every held job: it is told which job and what to ask.
      approve.querySelector("input[name=job]").value = el.getAttribute("data-approve-job");
      approve.querySelector("[data-approve-question]").textContent = el.getAttribute("data-approve-question");
      open(approve);
      return;
    }
    el = event.target.closest("[data-rollout-control]");
    if (el) {
      var control = document.getElementById("dialog-rollout-control");
      if (!control || !window.htmx) return;  // the card's own form posts it, unconfirmed
      event.preventDefault();
      // One dialog serves every control of the rollout card: it is told which URL and words.
      var form = control.querySelector("form");
      var url = el.form.getAttribute("action");
      form.setAttribute("action", url);
      form.setAttribute("hx-post", url);
      window.htmx.process(form);
      control.querySelector("[data-control-title]").textContent = el.getAttribute("data-control-title");
      var question = form.querySelector("[data-control-question]");
      question.textContent = el.getAttribute("data-control-question");
      var submit = form.querySelector("[data-control-submit]");
      submit.textContent = el.getAttribute("data-control-button");
      submit.className = "btn " + (el.hasAttribute("data-control-danger") ? "btn-danger" : "btn-primary");
      question.hidden = submit.hidden = false;
      open(control);
      return;
    }
    el = event.target.closest("[data-menu-toggle]");
    if (el) {
      // Phones: the header's navigation folds into a menu.
      var bar = el.closest(".topbar");
      var opened = bar.classList.toggle("menu-open");
      el.setAttribute("aria-expanded", opened ? "true" : "false");
      return;
    }
    el = event.target.closest("[data-dialog-close]");
    if (el) {
      var owner = el.closest("dialog");
      if (owner) { event.preventDefault(); owner.close(); }
      return;
    }
    el = event.target.closest("[data-confirm-ok]");
    if (el) {
      var confirmDialog = el.closest("dialog");
      var form = confirmDialog && confirmDialog.pendingForm;
      confirmDialog.close();
      if (form) { form.dataset.confirmed = "yes"; form.requestSubmit(); }
      return;
    }
    el = event.target.closest("[data-dismiss]");
    if (el) {
      var flash = el.closest(".flash");
      if (flash) flash.remove();
    }
  });

  // A click on the backdrop (outside the dialog box) closes it, as Escape does.
  document.addEventListener("mousedown", function (event) {
    if (event.target.tagName === "DIALOG" && event.target.open) {
      var box = event.target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
                   event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) event.target.close();
    }
  });

  // Forms marked data-confirm ask first, in the page's own dialog rather than window.confirm.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-confirm]")) return;
    if (form.dataset.confirmed === "yes") { delete form.dataset.confirmed; return; }
    var dialog = document.getElementById("dialog-confirm");
    if (!dialog) return;
    event.preventDefault();
    // The defaults are the dialog's own words, in the page's language: no text lives here.
    dialog.querySelector("[data-confirm-title]").textContent =
      form.getAttribute("data-confirm-title") || dialog.getAttribute("data-default-title");
    dialog.querySelector("[data-confirm-text]").textContent = form.getAttribute("data-confirm");
    dialog.querySelector("[data-confirm-ok]").textContent =
      form.getAttribute("data-confirm-button") || dialog.getAttribute("data-default-button");
    dialog.pendingForm = form;
    dialog.showModal();
  });

  // Sent by the server (HX-Trigger) once an action in a dialog succeeded.
  document.body.addEventListener("dialogs-close", function () {
    document.querySelectorAll("dialog[open]").forEach(function (dialog) { dialog.close(); });
  });

  document.documentElement.classList.add("js");
})();
