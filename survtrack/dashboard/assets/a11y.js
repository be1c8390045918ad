// Dash 4's dropdown puts a hidden stand-in <input> (aria-hidden, yet in the tab order) before
// its button and names the button by its value alone (aria-labelledby = the value's id), so a
// screen reader hears "Any" without the field's name, and axe-core reports a focusable
// aria-hidden element. Here the button itself takes the focus and is named by its <label>
// and its value. On a phone a wide table scrolls inside its box (style.css): one that does
// takes the focus too, so the keyboard can scroll it. Run again whenever the page changes
// (Dash re-renders pages from the URL) or the window's width does.
(function () {
  var pending = false;

  function fix() {
    pending = false;
    document.querySelectorAll(".dash-dropdown-focus-target").forEach(function (stand_in) {
      if (stand_in.tabIndex !== -1) stand_in.tabIndex = -1;
    });
    document.querySelectorAll("button.dash-dropdown[id]").forEach(function (button) {
      if (!button.disabled && button.tabIndex !== 0) button.tabIndex = 0;
      var label = document.querySelector('label[for="' + CSS.escape(button.id) + '"]');
      if (!label) return;
      if (!label.id) label.id = button.id + "-label";
      var wanted = label.id + " " + button.id + "-value";
      if (button.getAttribute("aria-labelledby") !== wanted) {
        button.setAttribute("aria-labelledby", wanted);
      }
    });
    document.querySelectorAll(".page table").forEach(function (table) {
      var scrolls = table.scrollWidth > table.clientWidth + 1;
      if (scrolls && table.tabIndex !== 0) table.tabIndex = 0;
      if (!scrolls && table.hasAttribute("tabindex")) table.removeAttribute("tabindex");
    });
  }

  function later() {
    if (!pending) { pending = true; requestAnimationFrame(fix); }
  }

  // the filter control last used: a change re-renders the page from the URL, and app.py
  // gives the focus back to it (a dropdown's search box counts as its dropdown); focus
  // anywhere else forgets it
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (!target.closest || !target.closest(".filters-panel")) {
      window.survtrackFilterFocus = null;
      return;
    }
    var wrapper = target.closest(".dash-dropdown-wrapper");
    var control = wrapper ? wrapper.querySelector("button.dash-dropdown[id]")
                          : target.closest(".filters-panel [id]");
    if (control && control.id !== "filters-panel") window.survtrackFilterFocus = control.id;
  });

  window.addEventListener("resize", later);
  new MutationObserver(later).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true,
    attributeFilter: ["tabindex", "aria-labelledby"]});
})();
