/**
 * The report page's one script, inline (the page loads nothing): clicking a column's header
 * (or Enter on it) sorts the table of tasks by it, again to reverse; numbers sort as numbers
 * (from each cell's `data-v`), a missing value last. Plain ES2017 as the browser reads it.
 */
export const PAGE_SCRIPT = `
(function () {
  "use strict";
  var table = document.querySelector("table.tasks");
  if (!table) return;
  var body = table.tBodies[0];
  var heads = table.querySelectorAll("th[data-col]");
  function key(row, col, numeric) {
    var v = row.cells[col].getAttribute("data-v");
    if (v === null) return null;
    return numeric ? Number(v) : v;
  }
  function sortBy(th) {
    var col = Number(th.getAttribute("data-col"));
    var numeric = th.getAttribute("data-kind") === "num";
    var up = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) { return { row: row, k: key(row, col, numeric), i: i }; });
    keyed.sort(function (a, b) {
      if (a.k === null || b.k === null) return a.k === b.k ? a.i - b.i : a.k === null ? 1 : -1;
      var c = numeric ? a.k - b.k : String(a.k).localeCompare(String(b.k));
      return (up ? c : -c) || a.i - b.i;
    });
    for (var h = 0; h < heads.length; h++) heads[h].setAttribute("aria-sort", "none");
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (x) { fragment.appendChild(x.row); });
    body.appendChild(fragment);
  }
  for (var i = 0; i < heads.length; i++) {
    heads[i].addEventListener("click", function (e) { sortBy(e.currentTarget); });
    heads[i].addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(e.currentTarget); }
    });
  }
})();
`;
