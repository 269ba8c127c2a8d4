// The dashboards' page script (template rbm, footer): served from this server, never inline, so the
// Content-Security-Policy needs no 'unsafe-inline' for scripts (rbm_utils/serve/headers.py).
// A tab left hidden for RELEASE_AFTER_MS gives its kernel back (the same shutdown Voila sends when the
// tab closes); the page stays readable, its filters stop, and a note says to reload.
// docs/dashboards.md ("Many readers at once").
(function () {
  var RELEASE_AFTER_MS = 300000;
  var timer = null;
  var released = false;
  function release() {
    if (released) { return; }
    var el = document.getElementById("jupyter-config-data");
    if (!el) { return; }
    var cfg = JSON.parse(el.textContent);
    var m = document.cookie.match(/\b_xsrf=([^;]*)\b/);
    var form = new FormData();
    form.append("_xsrf", m ? m[1] : "");
    released = true;
    navigator.sendBeacon(cfg.baseUrl + "voila/api/shutdown/" + cfg.kernelId, form);
    var note = document.createElement("div");
    note.className = "rbm-released";
    note.setAttribute("role", "status");
    note.textContent = "This tab was in the background, so its filters were paused to free the server for other readers. The figures shown are still valid; reload the page to use the filters again.";
    document.body.appendChild(note);
  }
  window.rbmReleaseKernel = release;

  // Sortable, filterable tables (the landing page's units): in the page, no kernel call.
  function sortTable(button) {
    var th = button.closest("th"), table = button.closest("table");
    var col = Number(button.dataset.col), numeric = button.dataset.kind === "number";
    var asc = th.getAttribute("aria-sort") !== (numeric ? "descending" : "ascending");
    if (numeric) { asc = !asc; }  // numbers: largest (worst) first on the first click
    var dir = asc ? "ascending" : "descending";
    table.querySelectorAll("thead th").forEach(function (h) { h.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filterTable(id) {
    var table = document.getElementById(id);
    if (!table) { return; }
    var text = document.querySelector('.rbm-filter[data-table="' + id + '"]');
    var kind = document.querySelector('.rbm-filter-type[data-table="' + id + '"]');
    var words = text ? text.value.trim().toLowerCase() : "";
    var type = kind ? kind.value : "";
    var shown = 0, rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var ok = (!words || rows[i].textContent.toLowerCase().indexOf(words) >= 0) &&
               (!type || rows[i].dataset.type === type);
      rows[i].hidden = !ok;
      if (ok) { shown++; }
    }
    var count = document.querySelector(".rbm-filter-count");
    if (count) { count.textContent = shown + " of " + rows.length + " units shown"; }
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button.rbm-sort");
    if (b) { sortTable(b); }
  });
  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches(".rbm-filter, .rbm-filter-type")) { filterTable(e.target.dataset.table); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches(".rbm-filter-type")) { filterTable(e.target.dataset.table); }
  });
  // A table wider than its output scrolls sideways: its output takes the keyboard's focus so the
  // arrow keys scroll it (the output's HTML stays as the notebook's).
  function focusableScrollers() {
    document.querySelectorAll(".jp-RenderedHTMLCommon").forEach(function (e) {
      if (!e.hasAttribute("tabindex") && e.querySelector("table") && e.scrollWidth > e.clientWidth) {
        e.setAttribute("tabindex", "0");
        e.setAttribute("role", "group");
        e.setAttribute("aria-label", "Table: scroll sideways with the arrow keys");
      }
    });
  }
  // A chart the page leaves for later (a "Show the chart" button, rbm_utils/serve/grouped.py) is
  // drawn when the reader scrolls to it, as if the button were pressed: the page opens with only
  // what the first screen shows drawn, and the reader never has to ask. The button stays for the
  // keyboard. Without IntersectionObserver (old browsers) the buttons are pressed by hand.
  // Only once the reader scrolls: at first paint, before the charts above take their height, a
  // button further down may be in view for a moment and is not the reader's choice.
  var readerScrolled = false;
  var chartsInView = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    if (!readerScrolled) { return; }
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        chartsInView.unobserve(entry.target);
        entry.target.click();
      }
    });
  }, { rootMargin: "0px 0px 150px 0px" }) : null;
  document.addEventListener("scroll", function () {
    if (readerScrolled || !chartsInView) { return; }
    readerScrolled = true;
    document.querySelectorAll("button.rbm-show-chart[data-rbm-watched]").forEach(function (b) {
      chartsInView.unobserve(b);
      chartsInView.observe(b);  // reports at once whether it is in view now
    });
  }, true);
  function watchChartButtons() {
    if (!chartsInView) { return; }
    document.querySelectorAll("button.rbm-show-chart:not([data-rbm-watched])").forEach(function (b) {
      b.setAttribute("data-rbm-watched", "1");
      chartsInView.observe(b);
    });
  }
  // Once per frame at most: each check reads the layout, and a page's widgets and charts make
  // hundreds of changes while they draw (checked on every change, style and layout took about
  // twice as long on a busy machine: docs/performance.md).
  var scrollersPending = false;
  function scheduleScrollers() {
    if (scrollersPending) { return; }
    scrollersPending = true;
    window.requestAnimationFrame(function () { scrollersPending = false; focusableScrollers(); watchChartButtons(); });
  }
  new MutationObserver(scheduleScrollers).observe(document.body, { childList: true, subtree: true });
  window.addEventListener("resize", scheduleScrollers);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      if (timer === null) { timer = setTimeout(release, RELEASE_AFTER_MS); }
    } else if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  });
})();
