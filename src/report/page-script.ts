/**
 * The report page's one script, inline (the page loads nothing). The table of tasks: clicking
 * a column's header (or Enter on it) sorts it by that column, again to reverse; numbers sort as
 * numbers (from each cell's `data-v`), a missing value last. A table of more than PAGE_ROWS
 * rows is shown a page at a time (laying out 10,000 rows takes a browser seconds): the page's
 * CSS shows the first page until this script runs, which then keeps the other rows out of the
 * document. Plain ES5 as the browser reads it.
 */

/** Rows of the table of tasks shown at a time. */
export const PAGE_ROWS = 500;

export const PAGE_SCRIPT = `
(function () {
  "use strict";
  var PAGE = ${PAGE_ROWS};
  var table = document.querySelector("table.tasks");
  if (!table) return;
  var body = table.tBodies[0];
  var heads = table.querySelectorAll("th[data-col]");
  var rows = Array.prototype.slice.call(body.rows);
  var page = 0;
  var pager = document.querySelector(".pager");
  var shown = pager && pager.querySelector(".shown");
  function render() {
    var from = rows.length > PAGE ? page * PAGE : 0;
    var to = rows.length > PAGE ? Math.min(rows.length, from + PAGE) : rows.length;
    // Out of the document while rows move: one layout, not one per row.
    var next = body.nextSibling;
    table.removeChild(body);
    while (body.firstChild) body.removeChild(body.firstChild);
    for (var r = from; r < to; r++) body.appendChild(rows[r]);
    table.insertBefore(body, next);
    table.removeAttribute("data-paged");
    if (shown) shown.textContent = "rows " + (from + 1) + "\\u2013" + to + " of " + rows.length;
  }
  function key(row, col, numeric) {
    var v = row.cells[col].getAttribute("data-v");
    if (v === null) return null;
    return numeric ? Number(v) : v;
  }
  function sortBy(th) {
    var col = Number(th.getAttribute("data-col"));
    var numeric = th.getAttribute("data-kind") === "num";
    var up = th.getAttribute("aria-sort") !== "ascending";
    var keyed = rows.map(function (row, i) { return { row: row, k: key(row, col, numeric), i: i }; });
    keyed.sort(function (a, b) {
      if (a.k === null || b.k === null) return a.k === b.k ? a.i - b.i : a.k === null ? 1 : -1;
      var c = numeric ? a.k - b.k : a.k < b.k ? -1 : a.k > b.k ? 1 : 0;
      return (up ? c : -c) || a.i - b.i;
    });
    for (var h = 0; h < heads.length; h++) heads[h].setAttribute("aria-sort", "none");
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    rows = keyed.map(function (x) { return x.row; });
    page = 0;
    render();
  }
  for (var i = 0; i < heads.length; i++) {
    heads[i].addEventListener("click", function (e) { sortBy(e.currentTarget); });
    heads[i].addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(e.currentTarget); }
    });
  }
  if (pager && rows.length > PAGE) {
    pager.hidden = false;
    pager.addEventListener("click", function (e) {
      var step = Number(e.target.getAttribute && e.target.getAttribute("data-step"));
      if (!step) return;
      var last = Math.ceil(rows.length / PAGE) - 1;
      page = Math.max(0, Math.min(last, page + step));
      render();
    });
    render();
  }
})();
`;
