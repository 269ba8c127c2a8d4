// Voila's page set-up (voila/templates/base/voila_setup.macro.html.j2, "voila_setup_helper_functions",
// and the calls the "lab" template makes inline), as a file of this template: the page carries no
// inline script, so the Content-Security-Policy allows scripts from this server only.
// Loaded in <body> before the cells; shows the cells once they have all arrived and Voila's theme
// is loaded (whichever comes last), and counts the cells on the loading text meanwhile.
(function () {
  window.voila_heartbeat = function () {};
  window.update_loading_text = function (cellIndex, cellCount, text) {
    var el = document.getElementById("loading_text");
    if (el) {
      el.textContent = text || ("Executing " + cellIndex + " of " + cellCount);
    }
  };
  window.display_cells = function () {
    if (!window.themeLoaded) {
      window.cellLoaded = true;  // Voila's theme plugin calls display_cells again when it is ready
      return;
    }
    var el = document.getElementById("loading");
    if (el) { el.parentNode.removeChild(el); }
    el = document.getElementById("rendered_cells");
    if (el) { el.style.display = ""; }
  };
  window.voila_process = window.update_loading_text;
  window.voila_finish = window.display_cells;

  var cells = document.getElementById("rendered_cells");
  var total = cells ? Number(cells.getAttribute("data-cell-count")) || 0 : 0;
  var observer = cells ? new MutationObserver(function () {
    var n = cells.querySelectorAll("div[cell-index]").length;
    if (n) { window.voila_process(n, total); }
  }) : null;
  if (observer) { observer.observe(cells, { childList: true, subtree: true }); }
  document.addEventListener("DOMContentLoaded", function () {
    if (observer) { observer.disconnect(); }
    window.voila_finish();
  });
})();
